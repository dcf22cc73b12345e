package AttestConf;

# The gateway configuration most tests start from: one attested location
# in front of the agent double, and its fetch location.  Options change
# the parts a test is about; anything else goes in as raw text.
#
#   my $http = AttestConf::gateway($agent,
#       mode      => 'report',            # enforce (default) | report
#       loc_extra => 'attest_gpu required; ...',
#       http_extra => '...', server_extra => '...',
#       zone      => 'ionet:1m', ttl => '5m', key => '$http_x_model_id',
#       buffering => 'off', fetch_buffer => '512k',
#       log_format => 1);                  # access log with the variables

use strict;
use warnings;

use Exporter 'import';
use JSON::PP ();
use Test::More;
use AttestTest qw(post_json wait_for decode_json);

our @EXPORT_OK = qw(verdict ask_key key_log_line stream_request log_size
                    log_line normalize check_case rejection fill
                    fresh_key emerg_line evidence_case);

my $CHAT = {model => 'm', messages => [{role => 'user', content => 'hi'}]};

# the verdict header of a response
sub verdict { $_[0]{headers}{'x-attestation-status'} // '(none)' }

# a completion through the gateway for cache key $key (a fresh key is a
# fresh fetch), with the agent's X-Test-Mode when given
sub ask_key {
    my ($ngx, $key, $test_mode) = @_;
    my %h = ('X-Model-Id' => $key);
    $h{'X-Test-Mode'} = $test_mode if $test_mode;
    return post_json($ngx->url('/v1/chat/completions'), $CHAT, \%h);
}

# the attest access log line of a key (written after the response)
sub key_log_line {
    my ($ngx, $key) = @_;
    return wait_for(sub {
        (grep { / key=\Q$key\E / } log_lines($ngx))[-1] }, 5)
        // '(no log line)';
}

# Fills in a test's literal nginx config (the heredoc at the top of each
# .t): %%AGENT%% is the agent double's port, %%MODE%% " report" or
# nothing, and any other %%NAME%% the option name, else its default as
# in gateway() below.  nginx's own ports and paths (%%PORT%%, %%TMP%%,
# %%TESTDATA%%) are left to AttestTest::Nginx.
my %DEFAULTS = (zone => 'ionet:1m', ttl => '5m', key => '$http_x_model_id',
                buffering => 'off', fetch_buffer => '512k', loc_extra => '',
                http_extra => '', server_extra => '');

sub fill {
    my ($text, $agent, %o) = @_;
    my %v = (%DEFAULTS, %o);
    $v{agent} = $agent->port;
    $v{mode} = ($o{mode} // 'enforce') eq 'report' ? ' report' : '';
    ($v{zone_name} = $v{zone}) =~ s/:.*//;
    $text =~ s{%%([A-Z_]+)%%}{
        my $n = $1;
        exists $v{lc $n} ? $v{lc $n}
            : $n =~ /^(?:PORT|TMP|REPO|TESTDATA)$/ ? "%%$n%%"
            : die "AttestConf::fill: no value for %%$n%%\n";
    }ge;
    return $text;
}

# The same gateway as a template, for quick experiments and new tests
# that have not written theirs out yet.
sub gateway {
    my ($agent, %o) = @_;

    my $port = $agent->port;
    my $mode = ($o{mode} // 'enforce') eq 'report' ? ' report' : '';
    my $zone = $o{zone} // 'ionet:1m';
    (my $zname = $zone) =~ s/:.*//;
    my $ttl = $o{ttl} // '5m';
    my $key = $o{key} // '$http_x_model_id';
    my $buffering = $o{buffering} // 'off';
    my $fetch_buffer = $o{fetch_buffer} // '512k';
    my $loc_extra = $o{loc_extra} // '';
    my $http_extra = $o{http_extra} // '';
    my $server_extra = $o{server_extra} // '';

    my $log = '';
    if ($o{log_format} // 1) {
        $log = <<'EOT';
    log_format attest '$status $attest_status $attest_reason '
                      'key=$attest_key signer=$attest_signing_address '
                      'digest=$attest_image_digest age=$attest_age '
                      'gpu="$attest_gpu" cpu="$attest_cpu" '
                      'binding=$attest_binding';
    access_log %%TMP%%/logs/attest.log attest;
EOT
    }

    return <<"EOT";
$log
    attest_zone zone=$zone;
    upstream backend { server 127.0.0.1:$port; keepalive 8; }
    $http_extra

    server {
        listen 127.0.0.1:%%PORT%%;
        $server_extra

        location /v1/ {
            attest zone=$zname$mode;
            attest_key $key;
            attest_fetch /_attestation;
            attest_ttl $ttl;
            $loc_extra

            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering $buffering;
        }

        location /plain/ {
            proxy_pass http://backend/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location = /_attestation {
            internal;
            subrequest_output_buffer_size $fetch_buffer;
            proxy_pass http://backend/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';

            # no client header reaches the attestation endpoint, only the
            # test double's knobs, passed on purpose
            proxy_pass_request_headers off;
            proxy_set_header X-Test-Mode \$http_x_test_mode;
            proxy_set_header X-Test-Sleep \$http_x_test_sleep;
            proxy_set_header X-Test-Writes \$http_x_test_writes;
            proxy_set_header X-Test-Write-Delay \$http_x_test_write_delay;
            proxy_set_header X-Test-Body-Size \$http_x_test_body_size;
            proxy_set_header X-Test-Attest-Machine \$http_x_test_attest_machine;
        }
    }
EOT
}

# GPU and CPU evidence checks against the agent double's test roots
sub evidence {
    my ($agent, %o) = @_;
    my $gpu = $o{gpu} // 'required';
    my $cpu = $o{cpu} // 'required';

    return "attest_gpu $gpu; attest_gpu_root " . $agent->gpu_root . ";\n"
         . "            attest_cpu $cpu; attest_cpu_root "
         . $agent->cpu_root . ";\n";
}

# The lines of the attest access log
sub log_lines {
    my ($ngx) = @_;
    my $f = $ngx->prefix . '/logs/attest.log';
    open my $fh, '<', $f or return ();
    my @l = <$fh>;
    chomp @l;
    return @l;
}

# a raw streaming chat request (Connection: close) for raw_http or
# sse_read; X-Test-Stream-Events defaults to 2 (small)
my $STREAM_BODY = AttestTest::encode_json({model => 'm',
    stream => JSON::PP::true(),
    messages => [{role => 'user', content => 'hi'}]});

sub stream_request {
    my ($path, %h) = @_;
    $h{'X-Test-Stream-Events'} //= 2;
    my $req = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($STREAM_BODY) . "\r\n"
            . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    return "$req\r\n$STREAM_BODY";
}

# the attest access log read from a byte offset: the size before a
# request, then its line, which nginx writes when the connection closes
# (so wait for it)
sub log_size { (-s $_[0]->prefix . '/logs/attest.log') // 0 }

sub log_line {
    my ($ngx, $off) = @_;
    my $line;
    wait_for(sub {
        open my $fh, '<', $ngx->prefix . '/logs/attest.log' or return 0;
        seek $fh, $off, 0;
        $line = <$fh>;
        return defined $line && $line =~ s/\n\z//;
    }, 5);
    return $line // '(no log line)';
}

# ids and timestamps differ between requests; everything else must not
sub normalize {
    my ($body) = @_;
    $body =~ s/chatcmpl-[0-9a-f]{32}/chatcmpl-ID/g;
    $body =~ s/"created":\d+/"created":0/g;
    return $body;
}

# One request for a fresh cache key; checks the verdict in the response,
# the error body, the access log line and whether the completion reached
# the upstream.  want is 'verified' or a failure reason; ok_log matches
# the verified log line (ok_name names that check), fail_tail the end of
# a failed one.
sub check_case {
    my (%a) = @_;
    my ($agent, $ngx, $label, $key, $want) = @a{qw(agent ngx label key want)};

    my $before = $agent->stats->{completion};
    my $r = ask_key($ngx, $key, $a{test_mode});
    my $line = key_log_line($ngx, $key);
    my $reached = $agent->stats->{completion} - $before;

    if ($want eq 'verified') {
        is($r->{status}, 200, "$label: 200");
        is(verdict($r), 'verified', "$label: verified");
        like($r->{content}, qr/"chat\.completion"/,
             "$label: the completion arrives");
        is($reached, 1, "$label: the completion reached the upstream");
        like($line, $a{ok_log}, "$label: $a{ok_name}");
        return;
    }

    is(verdict($r), "failed; reason=$want", "$label: $want");

    if ($a{mode} eq 'enforce') {
        is($r->{status}, 502, "$label: 502");
        my $e = eval { decode_json($r->{content}) } // {};
        is($e->{error}{code}, $want, "$label: error code $want");
        is($reached, 0, "$label: the completion never reached the upstream");
        like($line, qr/^502 failed $want key=\Q$key\E .* $a{fail_tail}/,
             "$label: access log");
    } else {
        is($r->{status}, 200, "$label: proxied");
        like($r->{content}, qr/"chat\.completion"/,
             "$label: the completion arrives");
        is($reached, 1, "$label: the completion reached the upstream");
        like($line, qr/^200 failed $want key=\Q$key\E .* $a{fail_tail}/,
             "$label: access log");
    }
}

# a fresh attest_key per case, so that no cached verdict answers for it
my $SEQ = 0;
sub fresh_key { return sprintf '%s-%03d-%s', $_[0], ++$SEQ, $_[1] }

# the conf line an nginx -t [emerg] points at
sub emerg_line {
    my ($out) = @_;
    my ($file, $n) = $out =~ /\[emerg\].* in (\S+):(\d+)/ or return '';
    open my $fh, '<', $file or return '';
    my @l = <$fh>;
    return $l[$n - 1] // '';
}

# One evidence case of the GPU (kind gpu, text the expected $attest_gpu)
# or CPU suite (kind cpu, text $attest_cpu, binding $attest_binding) for a
# fresh key; see check_case.  Returns the key.
sub evidence_case {
    my (%a) = @_;
    my $kind = $a{kind};
    my $key = fresh_key($kind, $a{test_mode} || 'ok');
    my $text = $a{text} // '';
    my ($ok_log, $ok_name, $fail_tail);

    if ($kind eq 'gpu') {
        $ok_log = qr/^200 verified - key=\Q$key\E .* gpu="\Q$text\E" cpu="off" /;
        $ok_name = "\$attest_gpu is \"$text\"";
        $fail_tail = 'gpu="-"';
    } else {
        my $binding = $a{binding} // 'report';
        my $vars = "gpu=\"off\" cpu=\"$text\" binding=$binding";
        $ok_log = qr/^200 verified - key=\Q$key\E .* \Q$vars\E$/;
        $ok_name = "\$attest_cpu is \"$text\", binding $binding";
        $fail_tail = 'cpu="-" binding=-$';
    }

    check_case(agent => $a{agent}, ngx => $a{ngx}, mode => $a{mode},
               label => $a{label}, key => $key, test_mode => $a{test_mode},
               want => $a{want}, ok_log => $ok_log, ok_name => $ok_name,
               fail_tail => $fail_tail);
    return $key;
}

# the error log line that rejected a key's attestation
sub rejection {
    my ($ngx, $key) = @_;
    my ($l) = grep { /attestation for key "\Q$key\E" rejected/ }
        split /\n/, $ngx->error_log;
    return $l // '(no rejection logged)';
}

1;
