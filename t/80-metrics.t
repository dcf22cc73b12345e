#!/usr/bin/perl
# attest_metrics: a known mix of traffic through nginx (2 workers), then
# every counter of the Prometheus output checked to the unit; the JSON
# view says the same; promtool accepts the text; a real Prometheus server
# scrapes it and answers a query with the same value; 10,000 requests at
# concurrency 50 lose no increment; the counters stay across a reload.

use strict;
use warnings;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(verdict stream_request);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

# promtool and the server from Debian's prometheus package: on PATH, or
# unpacked into build/bin by scripts/setup-deps.sh test
sub tool {
    my ($name) = @_;
    my @dirs = (split(/:/, $ENV{PATH} // ''),
                AttestTest::repo() . '/build/bin');
    for my $d (@dirs) {
        return "$d/$name" if length $d && -x "$d/$name";
    }
    return undef;
}

my ($PROMTOOL, $PROMETHEUS) = (tool('promtool'), tool('prometheus'));

plan skip_all => 'module not built' unless module_built();
plan skip_all => 'promtool and prometheus (Debian package prometheus) '
               . 'missing: run scripts/setup-deps.sh test'
    unless $PROMTOOL && $PROMETHEUS;

plan tests => 58;

my $agent = AttestTest::Agent->start();
my $info = $agent->info;
my ($A, $DIGEST, $MRTD) = ($agent->port, $info->{default_image_digest},
                           $info->{tdx_default_mrtd});
my ($GPU_ROOT, $CPU_ROOT) = ($agent->gpu_root, $agent->cpu_root);
my $TMP = AttestTest::tmpdir();

# One signed completion recorded from the agent, replayed by the third
# server below for the 10,000-request run (the agent double signs in
# Python: too slow to be the upstream of that many).
my $LOAD_BODY = '{"model":"load","messages":[{"role":"user","content":"hi"}]}';
my $REPLAY = record_completion();

my $FETCH = <<'EOF';
        location = /_attestation {
            internal;
            subrequest_output_buffer_size 512k;
            proxy_pass http://agent/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"$attest_key","nonce":"$attest_nonce"}';
        }
EOF

my $ngx = AttestTest::Nginx->start(workers => 2, http => <<"EOF");
    log_format load '\$pid \$attest_status';

    attest_zone zone=ionet:1m;
    attest_zone zone=tiny:32k;

    upstream agent { server 127.0.0.1:$A; keepalive 8; }

    server {
        listen 127.0.0.1:%%PORT%%;
        error_log %%TMP%%/logs/debug.log debug;

        location /v1/ {
            attest zone=ionet;
            attest_key \$http_x_model_id;
            attest_fetch /_attestation;
            attest_image_digest $DIGEST;
            attest_gpu required;
            attest_gpu_root $GPU_ROOT;
            attest_gpu_driver 550.90.07;
            attest_cpu required;
            attest_cpu_root $CPU_ROOT;
            attest_tdx_mrtd $MRTD;
            # an answer of another signer fails at once: the mix counts
            # one fetch per key, discovery would add its own
            attest_discover 0;

            proxy_pass http://agent;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }

        # a key with what label values must escape: quote, backslash,
        # newline (and the client adds a byte that is not UTF-8)
        location /odd/ {
            attest zone=ionet;
            attest_key "q\\"b\\\\s\\n\$http_x_model_id";
            attest_fetch /_attestation;
            proxy_pass http://agent/v1/;
        }

        location /tiny/ {
            attest zone=tiny;
            attest_key \$http_x_model_id;
            attest_fetch /_attestation;
            proxy_pass http://agent/v1/;
        }

$FETCH
        location = /metrics {
            attest_metrics;
        }

        location = /metrics2 {
            attest_metrics;
            attest_metrics_keys 2;
        }
    }

    server {
        listen 127.0.0.1:%%PORT2%% reuseport;

        location = /load {
            attest zone=ionet;
            attest_key load;
            attest_fetch /_attestation;
            access_log %%TMP%%/logs/load.log load;

            proxy_pass http://127.0.0.1:%%PORT3%%/c.json;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

$FETCH
        location = /metrics {
            attest_metrics;
        }
    }

    server {
        listen 127.0.0.1:%%PORT3%%;
        access_log off;
        keepalive_requests 100000;
        root $TMP/www;

        location = /c.json {
            default_type application/json;
            # the static handler refuses POST; answer it as a GET
            error_page 405 =200 \$uri;
$REPLAY        }
    }
EOF

my $SIGNER = $info->{signing_address};
my $OTHER_SIGNER = $info->{attest_other_signing_address};

# Expected figures, as series => value, built request by request.
my %want;

sub count {
    my ($series, $n) = @_;
    $want{$series} += $n // 1;
}

sub resp_series {
    my ($zone, $verdict) = @_;
    my ($status, $reason) = $verdict =~ /^(\w+)(?:; reason=(\w+))?$/;
    return "nginx_attest_responses_total{zone=\"$zone\",status=\"$status\","
         . "reason=\"" . ($reason // '') . "\"}";
}

sub fetch_series {
    my ($zone, $reason) = @_;
    my $result = $reason eq '' ? 'verified' : 'failed';
    return "nginx_attest_fetches_total{zone=\"$zone\",result=\"$result\","
         . "reason=\"$reason\"}";
}

sub lookup_series {
    "nginx_attest_cache_lookups_total{zone=\"$_[0]\",result=\"$_[1]\"}";
}

for my $z (qw(ionet tiny)) {
    $want{resp_series($z, 'verified')} = 0;
    $want{fetch_series($z, '')} = 0;
    $want{lookup_series($z, $_)} = 0 for qw(hit miss wait);
    for my $f (qw(discoveries refreshes)) {
        $want{"nginx_attest_${f}_total{zone=\"$z\",result=\"$_\"}"} = 0
            for qw(verified failed);
    }
    $want{"nginx_attest_evictions_total{zone=\"$z\"}"} = 0;
}

my %signers;            # zone/key => signers the zone holds
my $fetches = 0;

# One request; checks what the client received and adds what it should
# count.  $fetch: undef on a cached key, else '' (a verified fetch) or
# the reason the fetch fails.
sub one {
    my (%a) = @_;
    my $zone = $a{zone} // 'ionet';
    my %h = ('X-Model-Id' => $a{key});
    $h{'X-Test-Mode'} = $a{mode} if $a{mode};
    my $got;
    if ($a{stream}) {
        my $r = parse_response(raw_http($ngx->port, stream_request(
            $a{path} // '/v1/chat/completions', %h, TE => 'trailers')));
        $got = $r->{trailers}{'x-attestation-status'}
            // $r->{headers}{'x-attestation-status'} // '(none)';
        # a stream cut by the upstream ends without a trailer: only the
        # counters (and the access log) know its verdict
        $got = $a{want} if $got eq '(none)' && $a{no_trailer}
                        && !$r->{complete};
    } else {
        $got = verdict(post_json($ngx->url($a{path}
                                           // '/v1/chat/completions'),
                                 {model => 'm', messages =>
                                  [{role => 'user', content => 'hi'}]},
                                 \%h));
    }
    push @{ $a{out} }, "$a{label}: $got" if $got ne $a{want};
    count(resp_series($zone, $a{want}));
    if (defined $a{fetch}) {
        count(lookup_series($zone, 'miss'));
        count(fetch_series($zone, $a{fetch}));
        $fetches++ if $zone eq 'ionet';
    } else {
        count(lookup_series($zone, 'hit'));
    }
}

# --- the mix -------------------------------------------------------------

my @wrong;
my @mix = (
    # verified, JSON and streams
    [json => 'a', '', 'verified', ''],
    [json => 'a', '', 'verified'],
    [json => 'a', '', 'verified'],
    [stream => 'a', '', 'verified'],
    [stream => 'a', '', 'verified'],
    # each response failure the agent double produces
    [json => 'a', 'completion:other_signer',
     'failed; reason=signer_not_attested'],
    [json => 'a', 'completion:sign_other_key_claim_attested',
     'failed; reason=signature_invalid'],
    [json => 'a', 'completion:tamper_body', 'failed; reason=body_mismatch'],
    [json => 'a', 'completion:other_image_digest',
     'failed; reason=image_digest_mismatch'],
    [json => 'a', 'completion:missing_signature',
     'failed; reason=signature_missing'],
    [json => 'a', 'completion:algo_eddsa',
     'failed; reason=signing_algo_unsupported'],
    [json => 'a', 'completion:malformed_signature',
     'failed; reason=signature_malformed'],
    [json => 'a', 'completion:text_malformed', 'failed; reason=text_malformed'],
    [json => 'a', 'completion:gzip', 'failed; reason=body_encoded'],
    [stream => 'a', 'completion:stream_no_signature',
     'failed; reason=stream_unsigned'],
    [stream => 'a', 'completion:stream_tamper', 'failed; reason=body_mismatch'],
    [stream => 'a', 'completion:stream_other_signer',
     'failed; reason=signer_not_attested'],
    [stream => 'a', 'completion:stream_malformed_signature',
     'failed; reason=signature_malformed'],
    [stream => 'a', 'completion:stream_no_done',
     'failed; reason=stream_truncated'],
    [stream => 'a', 'completion:stream_cut', 'failed; reason=stream_truncated'],
    # upstream errors
    [json => 'a', 'completion:status_500',
     'unverified; reason=upstream_status'],
    [json => 'a', 'completion:status_400',
     'unverified; reason=upstream_status'],
    [stream => 'a', 'completion:status_500',
     'unverified; reason=upstream_status'],
    # fetch failures, each on a key of its own
    [json => 'f1', 'attest:wrong_nonce', 'failed; reason=nonce_mismatch',
     'nonce_mismatch'],
    [json => 'f2', 'attest:attest_500',
     'failed; reason=attestation_unavailable', 'attestation_unavailable'],
    [json => 'f3', 'attest:attest_garbage',
     'failed; reason=attestation_invalid', 'attestation_invalid'],
    [json => 'f4', 'attest:other_image_digest',
     'failed; reason=image_digest_not_allowed', 'image_digest_not_allowed'],
    [json => 'f5', 'attest:gpu_absent', 'failed; reason=gpu_evidence_missing',
     'gpu_evidence_missing'],
    [json => 'f6', 'attest:gpu_bad_signature',
     'failed; reason=gpu_evidence_invalid', 'gpu_evidence_invalid'],
    [json => 'f7', 'attest:cpu_absent', 'failed; reason=cpu_quote_missing',
     'cpu_quote_missing'],
    [json => 'f8', 'attest:cpu_bad_signature',
     'failed; reason=cpu_quote_invalid', 'cpu_quote_invalid'],
    [json => 'f9', 'attest:cpu_wrong_report_data',
     'failed; reason=report_data_mismatch', 'report_data_mismatch'],
    [json => 'f10', 'attest:cpu_debug', 'failed; reason=debug_td', 'debug_td'],
    [json => 'f11', 'attest:cpu_other_mrtd',
     'failed; reason=measurement_not_allowed', 'measurement_not_allowed'],
    # a verified fetch of another signer: the answer's signer is not it
    [json => 'o', 'attest:other_signer', 'failed; reason=signer_not_attested',
     ''],
);

for my $m (@mix) {
    my ($kind, $key, $mode, $want, $fetch) = @$m;
    one(label => "$kind $key $mode", stream => $kind eq 'stream', key => $key,
        mode => $mode, want => $want, fetch => $fetch, out => \@wrong,
        no_trailer => scalar($mode =~ /stream_cut/));
    $signers{"ionet/$key"} = ($fetch // 'x') eq '' ? 1 : 0
        if defined $fetch;
}

is(join("\n", @wrong), '', 'the mix: every client got the verdict expected');

# cache waits: a slow fetch for key w, and three requests (either
# worker) that arrive while it holds the key
{
    my $before = $agent->stats->{attestation};
    my @socks;
    push @socks, send_chat('w', 'X-Test-Mode' => 'attest:attest_slow',
                           'X-Test-Sleep' => '1.0');
    my $seen = wait_for(sub { $agent->stats->{attestation} > $before }, 10);
    push @socks, send_chat('w') for 1 .. 3;
    my @got = map { verdict(parse_response(read_all($_))) } @socks;
    is("@got", join(' ', ('verified') x 4),
       'a slow fetch and three requests waiting on it: all verified')
        or diag("agent saw the fetch: " . ($seen ? 'yes' : 'no'));
    is($agent->stats->{attestation} - $before, 1, 'one fetch for the four');
    count(resp_series('ionet', 'verified'), 4);
    count(lookup_series('ionet', 'miss'));
    count(lookup_series('ionet', 'wait'), 3);
    count(fetch_series('ionet', ''));
    $fetches++;
    $signers{'ionet/w'} = 1;
}

# a key that needs escaping: its fetch fails (the key breaks the JSON the
# fetch location sends), the zone keeps the key
{
    my $body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
    my $r = parse_response(raw_http($ngx->port,
        "POST /odd/chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . "X-Model-Id: k\xff\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body"));
    is(verdict($r), 'failed; reason=attestation_unavailable',
       'odd key: its fetch fails');
    count(resp_series('ionet', 'failed; reason=attestation_unavailable'));
    count(lookup_series('ionet', 'miss'));
    count(fetch_series('ionet', 'attestation_unavailable'));
    $fetches++;
}

# a full zone evicts: long keys (large nodes, within the 256 bytes an
# attest_key may have) into a 32k zone; keys whose fetches fail take no
# machine's room, so it takes more of them
my $TINY = 80;
for my $i (1 .. $TINY) {
    one(label => "tiny $i", zone => 'tiny', path => '/tiny/chat/completions',
        key => "t$i-" . ('x' x 240), mode => 'attest:attest_500',
        want => 'failed; reason=attestation_unavailable',
        fetch => 'attestation_unavailable', out => \@wrong);
}
is(join("\n", @wrong), '', 'the tiny zone: every fetch failed');

# a last hit makes key a the most recently used
one(label => 'last hit', key => 'a', want => 'verified', out => \@wrong);

# --- the figures -----------------------------------------------------------

my $text = wait_for_text();
my $m = parse_prom($text);

my $evicted = () = slurp($ngx->prefix . "/logs/debug.log")
    =~ /zone "tiny" is full, evicting the least recently used/g;
ok($evicted > 0, "the tiny zone evicted ($evicted keys)");
count("nginx_attest_evictions_total{zone=\"tiny\"}", $evicted);
$want{'nginx_attest_entries{zone="ionet"}'} = keys(%signers) + 1;
$want{'nginx_attest_entries{zone="tiny"}'} = $TINY - $evicted;

my %counters = map { $_ => $m->{$_} }
    grep { /_total\{|^nginx_attest_entries/ } keys %$m;
is_deeply(\%counters, \%want, 'every counter has the value the mix gives')
    or diag(explain_diff(\%counters, \%want));

# the fetch histogram: one fetch took 1 s, every one is counted
my $h = 'nginx_attest_fetch_duration_seconds';
is($m->{"${h}_count{zone=\"ionet\"}"}, $fetches, 'histogram: count');
is($m->{"${h}_bucket{zone=\"ionet\",le=\"+Inf\"}"}, $fetches,
   'histogram: +Inf bucket');
ok($m->{"${h}_bucket{zone=\"ionet\",le=\"0.5\"}"} <= $fetches - 1,
   'histogram: the slow fetch is above 0.5 s');
ok($m->{"${h}_sum{zone=\"ionet\"}"} >= 1.0, 'histogram: sum');
is($m->{"${h}_count{zone=\"tiny\"}"}, $TINY, 'histogram: tiny zone count');
my @le = map { $m->{"${h}_bucket{zone=\"ionet\",le=\"$_\"}"} }
    qw(0.05 0.1 0.25 0.5 1 2.5 5 10 30 +Inf);
is(scalar(grep { defined } @le), 10, 'histogram: buckets 0.05 s .. 30 s');
is_deeply([sort { $a <=> $b } @le], \@le, 'histogram: cumulative');

# what the zone holds: signers per key, expiry per signer
my %got_signers;
for (grep { /^nginx_attest_signers\{zone="ionet"/ } keys %$m) {
    my ($key) = /key="((?:[^"\\]|\\.)*)"/;
    $got_signers{"ionet/$key"} = $m->{$_};
}
my $odd = 'q\\"b\\\\s\\nk' . "\xef\xbf\xbd";
is_deeply(\%got_signers, {%signers, "ionet/$odd" => 0},
          'nginx_attest_signers: every key and its signers');
my @exp = sort grep { /^nginx_attest_attestation_expiry_seconds/ } keys %$m;
my %exp = map { /key="([^"]*)".*signer="([^"]*)"/ ? ("$1 $2" => $m->{$_})
                                                  : () } @exp;
is_deeply([sort keys %exp],
          [sort("a $SIGNER", "w $SIGNER", "o $OTHER_SIGNER")],
          'expiry: one series per attested signer');
is(scalar(grep { $_ > 0 && $_ <= 300 } values %exp), 3,
   'expiry: the time left, within attest_ttl');
like($text, qr/^nginx_attest_signers\{zone="ionet",key="\Q$odd\E",/m,
     'label values escaped (quote, backslash, newline, not UTF-8)');
is(scalar(grep { /^nginx_attest_signers\{zone="tiny"/ } keys %$m),
   $TINY - $evicted, 'the tiny zone shows every key it holds');

my $m2 = parse_prom(http_get($ngx->url('/metrics2'))->{content});
my @top = sort map { /zone="ionet",key="((?:[^"\\]|\\.)*)"/ ? $1 : () }
    grep { /^nginx_attest_signers\{/ } keys %$m2;
is_deeply(\@top, [sort('a', $odd)],
          'attest_metrics_keys 2: the two most recently used keys');
is(scalar(grep { /^nginx_attest_signers\{zone="tiny"/ } keys %$m2), 2,
   'attest_metrics_keys 2: per zone');

# every series has HELP and TYPE, families are not split
my %fam;
my $split = 0;
my $cur = '';
for (split /\n/, $text) {
    if (/^# TYPE (\S+) (\S+)$/) { $split++ if $fam{$1}++; $cur = $1; next }
    next if /^#/;
    my ($n) = /^([a-z_]+)/;
    $n =~ s/_(bucket|sum|count)$// if $n =~ /^\Q$h\E/;
    $split++ if $n ne $cur;
}
is($split, 0, 'one HELP/TYPE block per family, its series together');
is(scalar(() = $text =~ /^# HELP /mg), 10, 'ten families, each with HELP');

my ($rc, $out) = promtool($text);
is($rc, 0, 'promtool check metrics accepts the output') or diag($out);

my $mh = http_get($ngx->url('/metrics'));
is($mh->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'Content-Type of the text format');

# the JSON view: the same figures
my $jr = http_get($ngx->url('/metrics?format=json'));
is($jr->{headers}{'content-type'}, 'application/json', 'JSON: Content-Type');
my $jm = json_series($jr->{json});
my %tm = map { $_ => $m->{$_} }
    grep { !/expiry_seconds|_sum\{/ } keys %$m;
delete $jm->{$_} for grep { /expiry_seconds|_sum\{/ } keys %$jm;
is_deeply($jm, \%tm, 'JSON: the same series and values as the text');

my $post = post_json($ngx->url('/metrics'), '{}');
is($post->{status}, 405, 'POST /metrics: 405');
my $head = AttestTest::_http()->request('HEAD', $ngx->url('/metrics'));
ok($head->{status} == 200 && !length($head->{content} // ''),
   'HEAD /metrics: 200, no body');

# --- a real Prometheus server scrapes once ---------------------------------

{
    my $pp = free_port();
    my $dir = "$TMP/prometheus";
    mkdir $dir;
    my $port = $ngx->port;
    # the alert rules the README gives, checked and then evaluated
    my ($rules) = slurp(AttestTest::repo() . '/README.md')
        =~ /Three alert rules.*?```yaml\n(.*?)```/s;
    open my $rf, '>', "$dir/rules.yml" or die $!;
    print $rf $rules // '';
    close $rf;
    my ($crc, $cout) = AttestTest::run_cmd([$PROMTOOL, 'check', 'rules',
                                            "$dir/rules.yml"]);
    ok($rules && $crc == 0, "promtool check rules: the README's alerts")
        or diag($cout);

    open my $fh, '>', "$dir/prometheus.yml" or die $!;
    print $fh <<"EOF";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['$dir/rules.yml']
scrape_configs:
  - job_name: attest
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
    close $fh;
    my $pid = spawn("$dir/prometheus.log", $PROMETHEUS,
                    "--config.file=$dir/prometheus.yml",
                    "--web.listen-address=127.0.0.1:$pp",
                    "--storage.tsdb.path=$dir/data", '--log.level=warn');
    my $q = 'nginx_attest_responses_total{zone="ionet",status="failed",'
          . 'reason="body_mismatch"}';
    my $val = wait_for(sub {
        my $r = http_get("http://127.0.0.1:$pp/api/v1/query?query="
                         . uri_escape($q), {}, timeout => 2);
        my $res = $r->{json} && $r->{json}{data}{result};
        return $res && @$res ? $res->[0]{value}[1] : undef;
    }, 40, 0.25);
    is($val, $want{$q}, "Prometheus scraped and its API answers $want{$q} "
                      . 'for body_mismatch')
        or diag(slurp("$dir/prometheus.log"));

    # keys without a signer (failed fetches) make the README's alert
    # pending (its "for" keeps it from firing within the test)
    my $keys = wait_for(sub {
        my $r = http_get("http://127.0.0.1:$pp/api/v1/alerts", {},
                         timeout => 2);
        my @a = grep { $_->{labels}{alertname} eq 'AttestKeyWithoutMachine' }
            @{ ($r->{json} && $r->{json}{data}{alerts}) || [] };
        return @a ? {map { ($_->{labels}{zone} . '/' . $_->{labels}{key}
                            => $_->{state}) } @a} : undef;
    }, 20, 0.25) // {};
    my @nokey = sort grep { !$signers{$_} } keys %signers;
    is_deeply([map { $keys->{$_} // '(none)' } @nokey],
              [('pending') x @nokey],
              'the README alert: keys with no attested machine are pending')
        or diag(explain($keys));
    ok(!grep({ exists $keys->{$_} } grep { $signers{$_} } keys %signers),
       'the README alert: not for keys with a signer');
    stop_pid($pid);
}

# --- 10,000 requests at concurrency 50 ---------------------------------------

{
    my $lg = loadgen();
    my $body = "$TMP/load.json";
    open my $fh, '>:raw', $body or die $!;
    print $fh $LOAD_BODY;
    close $fh;

    # the key's fetch first, so the run is all hits
    my $r = post_json("http://127.0.0.1:" . $ngx->port(2) . "/load",
                      $LOAD_BODY);
    is(verdict($r), 'verified', 'the replayed completion verifies');
    my $base = parse_prom(wait_for_text());

    my ($lrc, $lout) = AttestTest::run_cmd(
        [$lg, 'rps', '-p', $ngx->port(2), '-u', '/load', '-b', $body,
         '-c', 50, '-n', 10000], timeout => 120);
    my $res = eval { decode_json($lout) } // {};
    note("loadgen: $lout");
    is($res->{sent}, 10000, 'loadgen sent 10,000 requests')
        or diag($lout);
    is($res->{requests}, 10000, 'all 10,000 answered 200');

    my $after = parse_prom(wait_for_text());
    my $v = resp_series('ionet', 'verified');
    my $l = lookup_series('ionet', 'hit');
    is($after->{$v} - $base->{$v}, 10000, '10,000 more verified responses');
    is($after->{$l} - $base->{$l}, 10000, '10,000 more cache hits');

    my %pids;
    my $lines = 0;
    for (split /\n/, slurp($ngx->prefix . '/logs/load.log')) {
        my ($p, $s) = split / /;
        $pids{$p}++ if $s eq 'verified';
        $lines++;
    }
    is($lines, 10001, 'the access log has every request');
    is(scalar(keys %pids), 2, 'both workers served and counted: '
       . join(', ', map { "$_: $pids{$_}" } sort keys %pids));

    $want{$v} += 10001;
    $want{$l} += 10000;
    $want{lookup_series('ionet', 'miss')}++;
    $want{fetch_series('ionet', '')}++;
    $want{'nginx_attest_entries{zone="ionet"}'}++;
    my %c = map { $_ => $after->{$_} }
        grep { /_total\{|^nginx_attest_entries/ } keys %$after;
    is_deeply(\%c, \%want, 'every counter after the run')
        or diag(explain_diff(\%c, \%want));

    # the second server's endpoint shows the same shared zone
    my $other = parse_prom(http_get("http://127.0.0.1:" . $ngx->port(2)
                                    . "/metrics")->{content});
    is($other->{$v}, $after->{$v}, 'any server and worker sees the zone');
}

# --- nginx -s reload keeps them ---------------------------------------------

{
    my $before = parse_prom(wait_for_text());
    my %old = map { $_ => 1 } $ngx->worker_pids;
    my ($rrc, $rout) = AttestTest::run_cmd(
        [AttestTest::Nginx::bin(), '-p', $ngx->prefix . '/', '-c',
         $ngx->prefix . '/conf/nginx.conf', '-s', 'reload']);
    is($rrc, 0, 'nginx -s reload') or diag($rout);
    ok(wait_for(sub { !grep { $old{$_} } $ngx->worker_pids }, 15),
       'the old workers are gone');
    my $after = parse_prom(wait_for_text());
    my %b = map { $_ => $before->{$_} } grep { !/expiry/ } keys %$before;
    my %a = map { $_ => $after->{$_} } grep { !/expiry/ } keys %$after;
    is_deeply(\%a, \%b, 'every series the same after the reload')
        or diag(explain_diff(\%a, \%b));
    is(verdict(post_json($ngx->url('/v1/chat/completions'),
                         {model => 'm', messages => []},
                         {'X-Model-Id' => 'a'})), 'verified',
       'a request after the reload');
    my $m3 = parse_prom(wait_for_text());
    my $v = resp_series('ionet', 'verified');
    is($m3->{$v}, $b{$v} + 1, 'and it adds to the old count');
}

# --- debug tracing follows one request --------------------------------------

{
    my $log = slurp($ngx->prefix . '/logs/debug.log');
    my ($conn) = $log =~ /\*(\d+) attest: lookup key "f2"/;
    ok($conn, 'debug: the lookup of key f2 is traced');
    $conn //= 0;
    my @l = map { /attest: (.*)$/ ? $1 : () }
        grep { /\*$conn / } split /\n/, $log;
    my $trace = join "\n", @l;
    like($trace, qr/precontent handler/, 'debug: the handler entry');
    like($trace, qr/zone: miss/, 'debug: the zone decision');
    like($trace, qr/fetching attestation/, 'debug: the fetch');
    like($trace, qr/fetch\ done.*\n(?:.*\n)*
                    .*verdict\ failed.*attestation_unavailable/x,
         'debug: the fetch result, then the verdict');
    like($trace, qr/header filter/, 'debug: the header filter entry');
    my ($hit) = $log =~ /\*(\d+) attest: zone: hit key "[0-9a-f]+:a"/;
    ok($hit, 'debug: a zone hit');
    ok($log =~ /attest: zone: store key "[0-9a-f]+:w"/, 'debug: a store');
    ok($log =~ /attest: zone: wait key "[0-9a-f]+:w"/, 'debug: a wait');
    ok($log =~ /attest: zone: evict key/, 'debug: an eviction');
    ok($log =~ /attest: body filter/, 'debug: the body filter entry');
}

# --- helpers -----------------------------------------------------------------

sub record_completion {
    mkdir "$TMP/www" or die "$TMP/www: $!";
    my $r = post_json($agent->url('/v1/chat/completions'), $LOAD_BODY);
    die "recording: $r->{status}\n" unless $r->{status} == 200;
    open my $fh, '>:raw', "$TMP/www/c.json" or die $!;
    print $fh $r->{content};
    close $fh;
    my $h = '';
    for my $k (qw(text signature signing_address signing_algo
                  image_digest)) {
        next unless defined $r->{headers}{$k};
        $h .= "            add_header $k \"$r->{headers}{$k}\";\n";
    }
    return $h;
}

sub send_chat {
    my ($key, %h) = @_;
    my $body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ngx->port, Proto => 'tcp')
        or die "connect: $!";
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            . "Connection: close\r\nContent-Type: application/json\r\n"
            . "X-Model-Id: $key\r\n"
            . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
    syswrite($s, $req) == length($req) or die "write: $!";
    return $s;
}

sub read_all {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my ($raw, $end) = ('', time + 20);
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    return $raw;
}

# the metrics once every request so far has been counted: the log phase
# runs after the response went out, so wait until two reads agree
sub wait_for_text {
    my $prev = '';
    my $text;
    wait_for(sub {
        $text = http_get($ngx->url('/metrics'))->{content};
        (my $cmp = $text) =~ s/^nginx_attest_attestation_expiry.*\n//mg;
        my $same = $cmp eq $prev;
        $prev = $cmp;
        return $same;
    }, 10, 0.1);
    return $text;
}

sub parse_prom {
    my ($text) = @_;
    my %m;
    for (split /\n/, $text // '') {
        next if /^#/ || !length;
        my ($s, $v) = /^(.*\}|\S+) (\S+)$/ or next;
        $m{$s} = $v;
    }
    return \%m;
}

# the JSON document as the text format's series
sub json_series {
    my ($j) = @_;
    my %m;
    my $h = 'nginx_attest_fetch_duration_seconds';
    for my $zn (keys %{ $j->{zones} || {} }) {
        my $z = $j->{zones}{$zn};
        my $zl = "zone=\"$zn\"";
        $m{"nginx_attest_responses_total{$zl,status=\"$_->{status}\","
           . "reason=\"$_->{reason}\"}"} = $_->{count} for @{ $z->{responses} };
        $m{"nginx_attest_fetches_total{$zl,result=\"$_->{result}\","
           . "reason=\"$_->{reason}\"}"} = $_->{count} for @{ $z->{fetches} };
        my $fd = $z->{fetch_duration_seconds};
        $m{"${h}_bucket{$zl,le=\"$_\"}"} = $fd->{buckets}{$_}
            for keys %{ $fd->{buckets} };
        $m{"${h}_count{$zl}"} = $fd->{count};
        for my $f (qw(cache_lookups discoveries refreshes)) {
            $m{"nginx_attest_${f}_total{$zl,result=\"$_\"}"} = $z->{$f}{$_}
                for keys %{ $z->{$f} };
        }
        $m{"nginx_attest_evictions_total{$zl}"} = $z->{evictions};
        $m{"nginx_attest_entries{$zl}"} = $z->{entries};
        for my $k (@{ $z->{keys} }) {
            (my $e = $k->{key}) =~ s/(["\\])/\\$1/g;
            $e =~ s/\n/\\n/g;
            utf8::encode($e);
            $m{"nginx_attest_signers{$zl,key=\"$e\",policy=\"$k->{policy}\"}"}
                = $k->{signers};
        }
    }
    return \%m;
}

sub explain_diff {
    my ($got, $want) = @_;
    my @d;
    for (sort keys %{ { %$got, %$want } }) {
        my ($g, $w) = ($got->{$_} // '(none)', $want->{$_} // '(none)');
        push @d, "$_: got $g, want $w" if $g ne $w;
    }
    return join "\n", @d;
}

sub promtool {
    my ($text) = @_;
    my $f = "$TMP/metrics.prom";
    open my $fh, '>:raw', $f or die $!;
    print $fh $text;
    close $fh;
    return AttestTest::run_cmd(['/bin/sh', '-c',
                                "'$PROMTOOL' check metrics < '$f'"]);
}

sub uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

my @SPAWNED;

sub spawn {
    my ($log, @argv) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        { exec { $argv[0] } @argv }
        POSIX::_exit(127);
    }
    push @SPAWNED, $pid;
    return $pid;
}

sub stop_pid {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $end = time + 10;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $end) { kill 'KILL', $pid; waitpid($pid, 0); last }
        sleep 0.05;
    }
    @SPAWNED = grep { $_ != $pid } @SPAWNED;
}

END { stop_pid($_) for @SPAWNED }

# bench/loadgen.c built into the test's temp dir
sub loadgen {
    my $bin = "$TMP/loadgen";
    my ($rc, $out) = AttestTest::run_cmd(
        ['cc', '-O2', '-o', $bin, AttestTest::repo() . '/bench/loadgen.c']);
    die "loadgen: $out\n" if $rc;
    return $bin;
}
