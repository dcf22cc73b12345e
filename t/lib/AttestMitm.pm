package AttestMitm;

# The adversarial suite's harness: t/upstream/mitm.py (a man in the middle
# that bends the agent double's real signed answers, one bend per request
# by "X-Mitm: ..."), a gateway whose completions go through it, and the
# checks every case makes on what the client received.
#
#   my $agent = AttestTest::Agent->start();
#   my $mitm  = AttestMitm->start($agent);
#   my $ngx   = AttestTest::Nginx->start(
#       http => AttestMitm::gateway($agent, $mitm, mode => 'enforce'));
#
# Core Perl only.

use strict;
use warnings;

use IO::Select;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use AttestTest qw(post_json http_get decode_json encode_json);

my $N = 0;

# AttestMitm->start($agent, max_headers => N)
sub start {
    my ($class, $agent, %a) = @_;
    my $dir = AttestTest::tmpdir();
    my $n = ++$N;
    my $self = bless {owner => $$, n => $n, log => "$dir/mitm$n.log"},
        $class;
    my @argv = ($AttestTest::PYTHON, "$AttestTest::REPO/t/upstream/mitm.py",
                '--upstream', $agent->port, '--exit-on-stdin-eof');
    push @argv, '--max-headers', $a{max_headers} if $a{max_headers};
    pipe(my $out_r, my $out_w) or die "pipe: $!";
    pipe(my $in_r, my $in_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<&', $in_r or POSIX::_exit(126);
        open STDOUT, '>&', $out_w or POSIX::_exit(126);
        open STDERR, '>>', $self->{log} or POSIX::_exit(126);
        { exec { $argv[0] } @argv }
        POSIX::_exit(127);
    }
    close $out_w;
    close $in_r;
    @$self{qw(pid stdin stdout)} = ($pid, $in_w, $out_r);
    AttestTest::_register($self, "mitm $n", $self->{log});
    my $sel = IO::Select->new($out_r);
    my ($line, $end) = ('', time + 30);
    while ($line !~ /\n/ && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($out_r, my $buf, 256);
        last unless $r;
        $line .= $buf;
    }
    unless ($line =~ /^PORT (\d+)$/m) {
        $self->stop;
        die "mitm did not start:\n" . AttestTest::slurp($self->{log});
    }
    $self->{port} = $1;
    return $self;
}

sub port { $_[0]{port} }

sub url { "http://127.0.0.1:$_[0]{port}" . ($_[1] // '') }

# the requests it saw: [{path, kind, bends, headers => [[k, v]...]}]
sub requests {
    my ($self) = @_;
    my $r = http_get($self->url('/_mitm/log'));
    return $r->{json} || [];
}

sub reset { post_json($_[0]->url('/_mitm/reset'), '{}') }

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{owner};
    AttestTest::_mark_stopped($self);
    my $pid = delete $self->{pid};
    close $self->{stdin} if $self->{stdin};
    close $self->{stdout} if $self->{stdout};
    kill 'TERM', $pid;
    my $end = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $end) { kill 'KILL', $pid; waitpid($pid, 0); last }
        sleep 0.01;
    }
    AttestTest::_unregister($self);
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop;
}

# The gateway of the adversarial suite: /v1/ attested, its completions
# through the mitm; the attestation fetch straight to the agent (the
# mitm's attest: bends go through /_attestation_mitm when fetch => 'mitm');
# /v1/models and /unattested/ are unattested locations an X-Accel-Redirect
# may aim at.  Options: mode (enforce|report), http2 => 1, loc_extra,
# server_extra, http_extra, key, zone, fetch ('agent'|'mitm'),
# buffering.
sub gateway {
    my ($agent, $mitm, %o) = @_;
    my $ap = $agent->port;
    my $mp = $mitm->port;
    my $mode = ($o{mode} // 'enforce') eq 'report' ? ' report' : '';
    my $zone = $o{zone} // 'ionet:1m';
    (my $zname = $zone) =~ s/:.*//;
    my $key = $o{key} // '$http_x_model_id';
    my $h2 = $o{http2} ? ' http2' : '';
    my $buffering = $o{buffering} // 'off';
    my $loc_extra = $o{loc_extra} // '';
    $o{$_} //= "" for qw(http_extra server_extra);
    my $fetch_up = ($o{fetch} // 'agent') eq 'mitm' ? 'mitm' : 'agent';
    return <<"EOT";
    log_format attest '\$status \$attest_status \$attest_reason '
                      'key=\$attest_key signer=\$attest_signing_address';
    access_log %%TMP%%/logs/attest.log attest;

    attest_zone zone=$zone;
    upstream agent { server 127.0.0.1:$ap; keepalive 8; }
    upstream mitm { server 127.0.0.1:$mp; }
    $o{http_extra}

    server {
        listen 127.0.0.1:%%PORT%%$h2;
        $o{server_extra}

        location /v1/ {
            attest zone=$zname$mode;
            attest_key $key;
            attest_fetch /_attestation;
            $loc_extra

            proxy_pass http://mitm;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering $buffering;
        }

        location = /v1/models {
            default_type application/json;
            return 200 '{"object":"list","data":[{"id":"UNATTESTED"}],"choices":[{"index":0,"message":{"role":"assistant","content":"UNATTESTED"},"finish_reason":"stop"}]}';
        }

        location /unattested/ {
            internal;
            default_type application/json;
            return 200 '{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"UNATTESTED"},"finish_reason":"stop"}]}';
        }

        location = /_attestation {
            internal;
            subrequest_output_buffer_size 512k;
            proxy_pass http://$fetch_up/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';

            # no client header reaches the attestation endpoint, only the
            # knobs of the test doubles, passed on purpose
            proxy_pass_request_headers off;
            proxy_set_header X-Mitm \$http_x_mitm;
            proxy_set_header X-Test-Mode \$http_x_test_mode;
            proxy_set_header X-Test-Sleep \$http_x_test_sleep;
            proxy_set_header X-Test-Attest-Machine \$http_x_test_attest_machine;
        }
    }
EOT
}

# the verdicts a raw response carries: header values, trailer values and
# ": attest" comments of its body
sub verdicts {
    my ($r) = @_;
    my @v = map { $_->[1] }
        grep { lc $_->[0] eq 'x-attestation-status' } @{ $r->{header_list} };
    push @v, $r->{trailers}{'x-attestation-status'}
        if exists $r->{trailers}{'x-attestation-status'};
    push @v, $1 while ($r->{body} // '') =~ /^: attest (status=[^\r\n]*)/mg;
    return @v;
}

1;
