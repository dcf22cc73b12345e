#!/usr/bin/perl
# The fleet's finer points (issue 10 items 3, 4, 5): the variables a
# discovery leaves, a refresh that fails keeps the machines it has, a
# hanging attestation endpoint keeps its single fetch (a live owner's
# lease is never taken; the fetch location's proxy timeout ends it and
# its waiters get its failure), and discovery turned off.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

plan skip_all => 'module not built (make)' unless module_built();

my $CHAT = encode_json({model => 'm',
                        messages => [{role => 'user', content => 'hi'}]});

sub verdict { $_[0]{headers}{'x-attestation-status'} // '(none)' }

sub ask {
    my ($ngx, $key, %h) = @_;
    return post_json($ngx->url('/v1/chat/completions'), $CHAT,
                     {'X-Model-Id' => $key, %h});
}

my $LOG = <<'EOT';
    log_format fleet '$attest_key $attest_status signers=$attest_signers '
                     'discovered=$attest_discovered '
                     'signer=$attest_signing_address';
    access_log %%TMP%%/logs/fleet.log fleet;
EOT

# the $n-th access log line of $key (written after the response)
sub log_of {
    my ($ngx, $key, $n) = @_;
    return wait_for(sub {
        my @l = grep { /^\Q$key\E / }
            split /\n/, AttestTest::slurp($ngx->prefix . '/logs/fleet.log');
        $l[$n - 1] }, 5) // '(no log line)';
}

# ---------------------------------------------------------------------
# $attest_signers, $attest_discovered, $attest_signing_address

{
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 2]);
    my $ngx = AttestTest::Nginx->start(workers => 2,
        http => AttestConf::gateway($agent, log_format => 0,
                                    http_extra => $LOG));
    my $fleet = $agent->fleet;

    my $r = ask($ngx, 'v1', 'X-Test-Machine' => 0,
                'X-Test-Attest-Machine' => 0);
    is(verdict($r), 'verified', 'variables: machine 0 verifies');
    like(log_of($ngx, 'v1', 1),
         qr/ signers=1 discovered=0 signer=\Q$fleet->[0]{address}\E$/i,
         'variables: one signer known, nothing discovered');

    $r = ask($ngx, 'v2', 'X-Test-Machine' => 0,
             'X-Test-Attest-Machine' => 0);
    $r = ask($ngx, 'v2', 'X-Test-Machine' => 1);
    is(verdict($r), 'verified', 'variables: machine 1 is discovered');
    my $line = log_of($ngx, 'v2', 2);
    like($line,
         qr/ signers=2 discovered=[12] signer=\Q$fleet->[1]{address}\E$/i,
         'variables: two signers, the discovery\'s fetches, the signer '
         . 'of this response');

    $r = ask($ngx, 'v2', 'X-Test-Machine' => 1);
    like(log_of($ngx, 'v2', 3), qr/ verified signers=2 discovered=0 /,
         'variables: the next answer of machine 1 needs no fetch');
}

# ---------------------------------------------------------------------
# a refresh that fails keeps the machines until they expire

{
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 1]);
    my $ngx = AttestTest::Nginx->start(workers => 2,
        http => AttestConf::gateway($agent, ttl => '4s',
            loc_extra => AttestConf::evidence($agent)
                       . 'attest_refresh 1s;'));
    my $r = ask($ngx, 'keep');
    is(verdict($r), 'verified', 'failed refresh: the key verifies');
    my $n = $agent->stats->{attestation};

    # from now on every report of the machine is rejected
    $agent->fleet_control('set', machine => 0, bad => 1);
    my $t0 = time;
    my ($ok, $asked) = (0, 0);
    while (time - $t0 < 2.5) {
        $asked++;
        $ok++ if verdict(ask($ngx, 'keep')) eq 'verified';
        sleep 0.2;
    }
    is($ok, $asked, "failed refresh: $asked answers within the TTL still "
       . 'verified');
    cmp_ok($agent->stats->{attestation} - $n, '>=', 1,
           'failed refresh: it was tried');
    like($ngx->error_log,
         qr/refresh of key "keep" failed: \w+; its machines stay/,
         'failed refresh: logged');

    sleep(4.2 - (time - $t0));
    $r = ask($ngx, 'keep');
    is($r->{status}, 502, 'failed refresh: after the TTL the key fails');
}

# ---------------------------------------------------------------------
# a hanging attestation endpoint: one fetch, ended by the fetch
# location's proxy_read_timeout (33 s, past the 30 s lease of old), its
# failure shared by every request that waited on it

sub open_request {
    my ($port, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($CHAT) . "\r\nConnection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    syswrite $s, "$req\r\n$CHAT";
    return $s;
}

sub read_all {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my ($raw, $end) = ('', time + $timeout);
    while ((my $left = $end - time) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    return parse_response($raw);
}

{
    my $agent = AttestTest::Agent->start();
    my $http = AttestConf::gateway($agent);
    my $timeout = "            proxy_read_timeout 33s;\n";
    $http =~ s/(location = \/_attestation \{\n)/$1$timeout/
        or die 'no fetch location';
    my $ngx = AttestTest::Nginx->start(workers => 2, http => $http);
    my %hang = ('X-Model-Id' => 'hang', 'X-Test-Mode' => 'attest:attest_slow',
                'X-Test-Sleep' => 60);
    my $t0 = time;
    my @s = map { sleep 0.1; open_request($ngx->port, %hang) } 1 .. 8;
    my @r = map { read_all($_, 50) } @s;
    my $dt = time - $t0;
    my %c;
    $c{verdict($_)}++ for @r;
    my $fetches = $agent->stats->{attestation};
    diag(sprintf 'hanging endpoint: %s; %d fetches, %.1f s',
         join(', ', map { "$_: $c{$_}" } sort keys %c), $fetches, $dt);
    is($c{'failed; reason=attestation_unavailable'} // 0, 8,
       'hanging endpoint: the 8 requests fail with the fetch\'s reason');
    is($fetches, 1, 'hanging endpoint: one fetch for 8 requests');
    cmp_ok($dt, '<', 45, 'hanging endpoint: bounded by proxy_read_timeout');
}

# ---------------------------------------------------------------------
# attest_discover 0: an unknown signer fails at once

{
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 2]);
    my $ngx = AttestTest::Nginx->start(
        http => AttestConf::gateway($agent, loc_extra => 'attest_discover 0;'));
    my $r = ask($ngx, 'off', 'X-Test-Machine' => 0,
                'X-Test-Attest-Machine' => 0);
    is(verdict($r), 'verified', 'discovery off: machine 0 verifies');
    my $n = $agent->stats->{attestation};
    $r = ask($ngx, 'off', 'X-Test-Machine' => 1);
    is(verdict($r), 'failed; reason=signer_not_attested',
       'discovery off: machine 1 is not attested');
    is($agent->stats->{attestation} - $n, 0, 'discovery off: no fetch');
}

done_testing();
