#!/usr/bin/perl
# Request binding (issue 12, attest_bind_request): the signed text is
# request_hash:response_hash, and the module hashes the body it forwards
# the way io.net's agent does.  The agent double computes its hash in
# Python (t/upstream/reqhash.py) from the bytes it receives and signs it,
# so every verified answer below is also a C/Python agreement.
#
#   - a rewritten prompt and a replayed answer (t/upstream/mitm.py),
#     JSON and streams, enforce and report: request_mismatch;
#   - attest_bind_request off: today's behaviour (both verified);
#   - a body the canonicalizer refuses: forwarded; the agent's 4xx passes
#     as unverified upstream_status, a 200 to it fails request_invalid;
#   - 200+ generated bodies (tests/vectors/gen_reqhash.py's generator)
#     through nginx, streamed and not, $attest_request_hash against the
#     Python hash;
#   - a 1 MB prompt (a temp-file body), with proxy_request_buffering off;
#   - $attest_request_model in a map, and $attest_key_json carrying
#     quotes, backslashes and control characters into the fetch body.
# The JSON cases of the mitm are also in t/60-adversary.t.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(log_size log_line);
use AttestMitm;
use JSON::PP ();

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 160;

my $agent = AttestTest::Agent->start();
my $mitm = AttestMitm->start($agent);
my $A = $agent->port;
my $M = $mitm->port;

my $CONF = <<'EOF';
    log_format bind '$status $attest_status $attest_reason '
                    'key=$attest_key req=$attest_request_hash '
                    'model=$attest_request_model';
    access_log %%TMP%%/logs/attest.log bind;

    attest_zone zone=bind:1m;
    upstream agent { server 127.0.0.1:%%AGENT%%; keepalive 8; }
    upstream mitm { server 127.0.0.1:%%MITM%%; }

    map $attest_request_model $bind_model {
        default    $attest_request_model;
        gpt-4o     io-net/model-one;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 4m;

        location /v1/ {
            attest zone=bind%%MODE%%;
            attest_key $http_x_model_id;
            attest_fetch /_attestation;

            proxy_pass http://mitm;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering off;
        }

        # the body is read before proxying all the same
        location /nobuf/ {
            attest zone=bind%%MODE%%;
            attest_key $http_x_model_id;
            attest_fetch /_attestation;
            proxy_request_buffering off;

            proxy_pass http://agent/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }

        location /off/ {
            attest zone=bind%%MODE%%;
            attest_key $http_x_model_id;
            attest_fetch /_attestation;
            attest_bind_request off;

            proxy_pass http://mitm/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }

        # the attestation key is the model the client asked for, mapped
        location /model/ {
            attest zone=bind%%MODE%%;
            attest_key $bind_model;
            attest_fetch /_attestation;

            proxy_pass http://agent/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location = /_attestation {
            internal;
            subrequest_output_buffer_size 512k;
            proxy_pass http://agent/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"$attest_key_json","nonce":"$attest_nonce"}';
        }
    }
EOF

my %ngx;
for my $mode (qw(enforce report)) {
    $ngx{$mode} = AttestTest::Nginx->start(http => AttestConf::fill(
        $CONF, $agent, mode => $mode, mitm => $M));
}
my $E = $ngx{enforce};

sub chat {
    my (%o) = @_;
    my %b = (model => 'm', messages => [{role => 'user',
                                         content => $o{prompt} // 'hi'}]);
    $b{stream} = JSON::PP::true() if $o{stream};
    return encode_json(\%b);
}

# one raw request; parse_response's fields plus {raw}, {log}, {events}
# (parse_sse of the body), {verdicts} (": attest" comments)
sub ask {
    my ($ngx, %o) = @_;
    my $body = $o{body} // chat(%o);
    my %h = ('X-Model-Id' => $o{key} // 'k', 'X-Test-Stream-Events' => 2,
             %{ $o{headers} || {} });
    $h{'X-Mitm'} = $o{mitm} if $o{mitm};
    my $path = $o{path} // '/v1/chat/completions';
    my $req = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    my $off = log_size($ngx);
    my $raw = raw_http($ngx->port, "$req\r\n$body", 30);
    my $r = parse_response($raw);
    $r->{raw} = $raw;
    $r->{log} = log_line($ngx, $off);
    $r->{events} = parse_sse($r->{body} // '');
    $r->{verdicts} = [$r->{body} =~ /^: attest (status=[^\n]*)$/mg];
    return $r;
}

sub verdict { $_[0]{headers}{'x-attestation-status'} // '(none)' }

sub has_done {
    scalar grep { ($_->{data} // '') eq '[DONE]' } @{ $_[0]{events} };
}

sub error_event {
    my ($r) = @_;
    my $ev = $r->{events}[-1] // {};
    return '' unless ($ev->{event} // '') eq 'error';
    my $e = eval { decode_json($ev->{data}) } // {};
    return ref $e->{error} eq 'HASH' ? $e->{error}{code} // '' : '';
}

sub json_code {
    my $e = eval { decode_json($_[0]{body}) } // {};
    return ref $e eq 'HASH' && ref $e->{error} eq 'HASH'
        ? $e->{error}{code} // '' : '';
}

# a failed answer as the mode shows it
sub is_failed {
    my ($r, $mode, $stream, $reason, $label) = @_;
    if (!$stream) {
        is($r->{status}, $mode eq 'enforce' ? 502 : 200, "$label: status");
        is(verdict($r), "failed; reason=$reason", "$label: $reason");
        is(json_code($r), $reason, "$label: the error body names it")
            if $mode eq 'enforce';
    } elsif ($mode eq 'enforce') {
        is(error_event($r), $reason, "$label: event: error, $reason");
        ok(!has_done($r), "$label: no [DONE]");
    } else {
        is(join(' | ', @{ $r->{verdicts} }),
           "status=failed reason=$reason", "$label: one verdict, $reason");
        ok(has_done($r), "$label: [DONE]");
    }
    like($r->{log}, qr/^\d+ failed \Q$reason\E /, "$label: access log");
}

sub is_verified {
    my ($r, $stream, $label) = @_;
    is($r->{status}, 200, "$label: 200");
    if ($stream) {
        like(join(' | ', @{ $r->{verdicts} }), qr/^status=verified /,
             "$label: verified");
        ok(has_done($r), "$label: [DONE]");
    } else {
        is(verdict($r), 'verified', "$label: verified");
    }
}

# ---------------------------------------------------------------------
# the mitm: a rewritten prompt, a replayed answer

for my $mode (qw(enforce report)) {
    my $n = $ngx{$mode};
    for my $stream (0, 1) {
        my $kind = $stream ? 'stream' : 'JSON';
        my $r = ask($n, stream => $stream);
        is_verified($r, $stream, "$mode $kind: honest");
        like($r->{log}, qr/ req=[0-9a-f]{64} model=m$/,
             "$mode $kind: \$attest_request_hash and _model logged");

        $r = ask($n, stream => $stream, mitm => 'rewrite_prompt');
        is_failed($r, $mode, $stream, 'request_mismatch',
                  "$mode $kind: rewritten prompt");
        unlike($r->{raw}, qr/status=verified|X-Attestation-Status: verified/i,
               "$mode $kind: rewritten prompt: never verified");

        ask($n, stream => $stream, prompt => 'first prompt');
        $r = ask($n, stream => $stream, prompt => 'second prompt',
                 mitm => 'replay');
        is_failed($r, $mode, $stream, 'request_mismatch',
                  "$mode $kind: replayed answer");

        # the same prompt again: a replay cannot be told from a repeat
        $r = ask($n, stream => $stream, prompt => 'second prompt');
        $r = ask($n, stream => $stream, prompt => 'second prompt',
                 mitm => 'replay');
        is_verified($r, $stream, "$mode $kind: replay of the same prompt");

        # attest_bind_request off: today's behaviour
        for my $bend ('rewrite_prompt', 'replay') {
            $r = ask($n, stream => $stream, mitm => $bend,
                     path => '/off/v1/chat/completions',
                     prompt => "off $bend");
            is_verified($r, $stream, "$mode $kind: bind off: $bend passes");
            like($r->{log}, qr/ req=- model=-$/,
                 "$mode $kind: bind off: no request hash");
        }
    }
}

# ---------------------------------------------------------------------
# bodies the canonicalizer refuses

{
    # the agent refuses them too: its 4xx passes unverified
    for my $body ('not json', '[1,2]', '{"model":"m","temperature":"x",'
                  . '"messages":[]}', '') {
        my $r = ask($E, body => $body);
        like($r->{status}, qr/^4\d\d$/, "refused body '$body': the agent's "
             . '4xx');
        is(verdict($r), 'unverified; reason=upstream_status',
           "refused body '$body': unverified upstream_status");
        like($r->{log}, qr/ req=- /, "refused body '$body': no hash");
    }

    # json.loads takes UTF-16 and 300 levels of nesting, the
    # canonicalizer does not: the agent answers 200, signed for its hash
    my $utf16 = "\xff\xfe" . join('', map { "$_\0" } split //, chat());
    my $deep = '{"model":"m","messages":[{"role":"user","content":"hi"}],'
             . '"x":' . ('[' x 300) . (']' x 300) . '}';
    for my $c (['UTF-16', $utf16], ['300 levels', $deep]) {
        my ($name, $body) = @$c;
        for my $stream (0, 1) {
            my $b = $body;
            $b =~ s/"model":"m"/"model":"m","stream":true/ if $stream;
            $b = "\xff\xfe" . join('', map { "$_\0" } split //,
                                   chat(stream => 1))
                if $stream && $name eq 'UTF-16';
            for my $mode (qw(enforce report)) {
                my $r = ask($ngx{$mode}, body => $b);
                is_failed($r, $mode, $stream, 'request_invalid',
                          "$mode: $name body, "
                          . ($stream ? 'stream' : 'JSON')
                          . ': a 200 to it');
            }
        }
    }
    like($E->error_log, qr/request body cannot be bound: encoding: /,
         'the error log names the canonicalizer\'s reason');
}

# ---------------------------------------------------------------------
# generated bodies end to end: the C hash against the Python one

{
    my ($rc, $out) = AttestTest::run_cmd(
        [$AttestTest::PYTHON, repo() . '/t/upstream/reqbodies.py', 220,
         20261203], timeout => 120);
    my @cases = map { [split /\t/] } grep { /\t/ } split /\n/, $out;
    is($rc, 0, 'reqbodies.py ran');
    cmp_ok(scalar @cases, '>=', 220, '220 generated bodies');

    my (%n, @bad);
    for my $c (@cases) {
        my ($hex, $expect, $stream) = @$c;
        my $body = pack 'H*', $hex;
        my $r = ask($E, body => $body, path => '/nobuf/v1/chat/completions');
        my ($hash) = $r->{log} =~ / req=(\S+) /;
        my $ok;
        if ($expect =~ /^ok:(\w+)$/) {
            $ok = $r->{status} == 200 && ($hash // '') eq $1
                && ($stream ? (grep { /^status=verified / }
                                    @{ $r->{verdicts} }) == 1
                                && has_done($r)
                            : verdict($r) eq 'verified');
            $n{$stream ? 'stream' : 'json'}++ if $ok;
        } else {
            $ok = $r->{status} =~ /^4/ && ($hash // '') eq '-'
                && verdict($r) eq 'unverified; reason=upstream_status';
            $n{refused}++ if $ok;
        }
        push @bad, "$expect stream=$stream: $r->{log}" unless $ok;
    }
    is(scalar @bad, 0, 'every generated body: the C hash is the agent\'s')
        or diag join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)];
    cmp_ok($n{json} // 0, '>=', 100, 'non-streamed bodies verified');
    cmp_ok($n{stream} // 0, '>=', 50, 'streamed bodies verified');
    cmp_ok($n{refused} // 0, '>=', 10, 'refused bodies unverified');
}

# ---------------------------------------------------------------------
# a 1 MB prompt: a temp-file body, read in chunks

for my $stream (0, 1) {
    my $kind = $stream ? 'stream' : 'JSON';
    my $prompt = join '', map { chr(32 + $_ % 90) } 1 .. 1024 * 1024;
    $prompt =~ s/\\/\//g;
    my $body = chat(stream => $stream, prompt => $prompt
                    . "\x{e9}\x{1f600}\"\\\n");
    for my $path ('/v1/chat/completions', '/nobuf/v1/chat/completions') {
        my $r = ask($E, body => $body, path => $path);
        is_verified($r, $stream, "1 MB prompt, $kind, $path");
        like($r->{log}, qr/ req=[0-9a-f]{64} /, "1 MB prompt, $kind: hash");
        $r = ask($E, body => $body, path => $path, mitm => 'rewrite_prompt')
            if $path =~ m{^/v1/};
        is_failed($r, 'enforce', $stream, 'request_mismatch',
                  "1 MB prompt, $kind: rewritten") if $path =~ m{^/v1/};
    }
}
like($E->error_log, qr/client request body is buffered to a temporary file/,
     'the 1 MB body went through a temp file');

# ---------------------------------------------------------------------
# $attest_request_model in a map; $attest_key_json in the fetch body

{
    my $r = ask($E, body => encode_json({model => 'gpt-4o', messages =>
        [{role => 'user', content => 'hi'}]}), path => '/model/v1/'
        . 'chat/completions');
    is_verified($r, 0, 'model mapped');
    like($r->{log}, qr/ key=io-net\/model-one .* model=gpt-4o$/,
         'the map turned gpt-4o into the io.net id');
    is($agent->stats->{last_attestation_request}{model_id},
       'io-net/model-one', 'the fetch asked for the io.net id');

    my $name = "q\"uo\\te\\\"},\"x\":\"\x01\x1f\n\t\r\x7f/\x{e9}\x{1f600}";
    $r = ask($E, body => encode_json({model => $name, messages =>
        [{role => 'user', content => 'hi'}]}), path => '/model/v1/'
        . 'chat/completions');
    is_verified($r, 0, 'a hostile model name: verified');
    my $req = $agent->stats->{last_attestation_request};
    is(ref $req, 'HASH', 'the fetch body is JSON');
    is($req->{model_id}, $name,
       'the model name arrives intact through $attest_key_json');
    is_deeply([sort keys %$req], [qw(model_id nonce)],
              'nothing injected into the fetch body');
}

for my $mode (qw(enforce report)) {
    unlike($ngx{$mode}->error_log, qr/\[(alert|crit|emerg)\]|signal \d+/,
           "$mode: no alert or crash in the error log");
}

