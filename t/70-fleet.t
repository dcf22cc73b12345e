#!/usr/bin/perl
# A fleet, not a machine (issue 10): the agent double plays M machines
# behind one router (t/upstream/agent.py --fleet M), each with its own
# signing key, and the router sends every attestation and every completion
# to one of them.  Two workers, enforce mode, JSON and streams: three
# machines round-robin and at random, a key rotation mid-run, a rogue
# signer, a machine with bad evidence, 50 concurrent requests on a cold
# key, refresh ahead, and a worker killed while it holds a fetch.  What main does not do yet
# sits in TODO blocks; what must hold today (an answer is verified or
# blocked as signer_not_attested, never anything else) is asserted.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(stream_request);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

plan skip_all => 'module not built (make)' unless module_built();

my $CHAT = encode_json({model => 'm',
                        messages => [{role => 'user', content => 'hi'}]});

sub verdict { $_[0]{headers}{'x-attestation-status'} // '(none)' }

sub fleet_gateway {
    my ($agent, %o) = @_;
    return AttestTest::Nginx->start(workers => 2,
        http => AttestConf::gateway($agent,
            loc_extra => AttestConf::evidence($agent)
                       . ($o{loc_extra} // '')));
}

sub ask {
    my ($ngx, $key, %h) = @_;
    return post_json($ngx->url('/v1/chat/completions'), $CHAT,
                     {'X-Model-Id' => $key, %h});
}

# a stream's verdict: its ": attest" comment, or the error event's code
sub ask_stream {
    my ($ngx, $key, %h) = @_;
    my $r = parse_response(raw_http($ngx->port, stream_request(
        '/v1/chat/completions', 'X-Model-Id' => $key, %h), 10));
    return 'verified' if $r->{body} =~ /^: attest status=verified /m;
    return "failed; reason=$1"
        if $r->{body} =~ /^: attest status=failed reason=(\w+)/m
        || $r->{body} =~ /"code":"(\w+)"/;
    return '(none)';
}

# runs $n requests (every $stream_every-th a stream) through $ngx for
# $key; $before->($i) runs before request $i; returns {verdict => count}
sub run_mix {
    my ($ngx, $key, $n, $stream_every, $before) = @_;
    my %count;
    for my $i (1 .. $n) {
        $before->($i) if $before;
        my $v = $stream_every && $i % $stream_every == 0
            ? ask_stream($ngx, $key) : verdict(ask($ngx, $key));
        $count{$v}++;
    }
    return \%count;
}

sub summary {
    my ($c) = @_;
    return join ', ', map { "$_: $c->{$_}" } sort keys %$c;
}

sub only_known {
    my ($c, $label) = @_;
    my @odd = grep { $_ ne 'verified'
                     && $_ ne 'failed; reason=signer_not_attested' } keys %$c;
    is("@odd", '', "$label: every answer verified or signer_not_attested")
        or diag summary($c);
}

# ---------------------------------------------------------------------
# 3 machines round-robin, 300 requests (one in five a stream); then a key
# rotation mid-run

{
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 3]);
    my $ngx = fleet_gateway($agent);
    my $c = run_mix($ngx, 'rr', 300, 5);
    my $fetches = $agent->stats->{attestation};
    diag("3 machines round-robin, 300 requests: " . summary($c)
         . "; $fetches fetches");
    only_known($c, 'round-robin');
    ok($fetches >= 1 && $fetches <= 12,
       "round-robin: $fetches fetches, near the number of machines");
    is($c->{verified} // 0, 300, 'round-robin: 300 verified, 0 blocked');

    $agent->reset_stats;
    $c = run_mix($ngx, 'rotate', 100, 5, sub {
        $agent->fleet_control('restart', machine => 1) if $_[0] == 50 });
    diag('key rotation mid-run: ' . summary($c) . '; '
         . $agent->stats->{attestation} . ' fetches');
    only_known($c, 'rotation');
    is($agent->fleet->[1]{restarts}, 1, 'rotation: machine 1 restarted');
    is($c->{verified} // 0, 100, 'rotation: 100 verified, 0 blocked');
}

# the router at random

{
    my $agent = AttestTest::Agent->start(
        extra => ['--fleet', 3, '--route', 'random']);
    my $ngx = fleet_gateway($agent);
    my $c = run_mix($ngx, 'random', 60, 4);
    my $served = join '/', map { $_->{completions} } @{ $agent->fleet };
    diag('3 machines at random, 60 requests: ' . summary($c)
         . "; completions per machine $served");
    only_known($c, 'random');
    is(scalar(grep { $_->{completions} > 0 } @{ $agent->fleet }), 3,
       'random: every machine served');
    TODO: {
        local $TODO = 'issue 10: a set of attested machines per entry';
        is($c->{verified} // 0, 60, 'random: 60 verified, 0 blocked');
    }
}

# ---------------------------------------------------------------------
# a rogue signer: never attested

{
    my $agent = AttestTest::Agent->start(
        extra => ['--fleet', 2, '--fleet-rogue', 1]);
    my $ngx = fleet_gateway($agent);
    my $r = ask($ngx, 'rogue', 'X-Test-Machine' => 0,
                'X-Test-Attest-Machine' => 0);
    is(verdict($r), 'verified', 'rogue: machine 0 verifies');
    my $f0 = $agent->stats->{attestation};
    $r = ask($ngx, 'rogue', 'X-Test-Machine' => 2);
    is($r->{status}, 502, 'rogue: its answer is blocked');
    is(verdict($r), 'failed; reason=signer_not_attested',
       'rogue: signer_not_attested');
    my $f1 = $agent->stats->{attestation};
    is($f1 - $f0, 4, 'rogue: exactly attest_discover fetches');
    my $blocked = 0;
    for (1 .. 100) {
        my $x = ask($ngx, 'rogue', 'X-Test-Machine' => 2);
        $blocked++ if verdict($x) eq 'failed; reason=signer_not_attested';
    }
    is($blocked, 100, 'rogue: 100 more answers blocked');
    is($agent->stats->{attestation} - $f1, 0,
       'rogue: ... and they cause no more fetches while it is remembered');
    is($agent->fleet->[2]{attestations}, 0,
       'rogue: the router never sent it an attestation');
}

# ---------------------------------------------------------------------
# a machine whose evidence fails verification

{
    my $agent = AttestTest::Agent->start(
        extra => ['--fleet', 3, '--fleet-bad', 2]);
    my $ngx = fleet_gateway($agent);
    my $r = ask($ngx, 'bad', 'X-Test-Machine' => 0,
                'X-Test-Attest-Machine' => 0);
    is(verdict($r), 'verified', 'bad evidence: machine 0 verifies');
    my (%ok, %total);
    for my $i (1 .. 30) {
        my $m = $i % 3;
        my $x = ask($ngx, 'bad', 'X-Test-Machine' => $m);
        $total{$m}++;
        $ok{$m}++ if verdict($x) eq 'verified';
    }
    is($ok{0} // 0, $total{0}, 'bad evidence: machine 0 always verified');
    is($ok{2} // 0, 0, 'bad evidence: machine 2 always blocked');
    is($ok{1} // 0, $total{1}, 'bad evidence: machine 1 verified too');

    # a report from the bad machine is rejected, and says why
    my $c = ask($ngx, 'bad-only', 'X-Test-Machine' => 2,
                'X-Test-Attest-Machine' => 2);
    is($c->{status}, 502, 'bad evidence: its own attestation fails');
    like(AttestConf::rejection($ngx, 'bad-only'), qr/evidence|quote/i,
         'bad evidence: the error log says why');
}

# ---------------------------------------------------------------------
# 50 concurrent requests on a cold key

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
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 3]);
    my $ngx = fleet_gateway($agent);
    my @s = map { open_request($ngx->port, 'X-Model-Id' => 'cold') } 1 .. 50;
    my @r = map { read_all($_, 20) } @s;
    my %c;
    $c{verdict($_)}++ for @r;
    my $fetches = $agent->stats->{attestation};
    diag("50 concurrent on a cold key: " . summary(\%c)
         . "; $fetches fetches");
    only_known(\%c, '50 concurrent');
    ok($fetches >= 1 && $fetches <= 8, "50 concurrent: $fetches fetches, "
       . 'bounded');
    TODO: {
        # the router's one round-robin counter interleaves these
        # completions with the discovery fetches, so that 4 fetches miss
        # a machine about one run in three: its signer is then
        # remembered as unattested for a minute
        local $TODO = 'issue 10: discovery budget vs. the router';
        is($c{verified} // 0, 50, '50 concurrent: all verified');
    }
}

# ---------------------------------------------------------------------
# refresh ahead: attest_ttl 4s, attest_refresh 2s, a fetch path 1 s slow,
# one request every 250 ms for 14 s

{
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 1]);
    my $http = AttestConf::gateway($agent, ttl => '4s',
                                   loc_extra => 'attest_refresh 2s;');
    my ($rc, $out) = nginx_test($http);
    is($rc, 0, 'attest_refresh 2s: nginx -t accepts it') or diag $out;
    SKIP: {
        skip 'attest_refresh not there yet', 3 if $rc;
        my $ngx = AttestTest::Nginx->start(workers => 2, http => $http);
        $agent->fleet_control('set', machine => 0, slow => 1);
        my ($ok, $n, $worst) = (0, 0, 0);
        my $end = time + 14;
        while (time < $end) {
            my $t0 = time;
            my $r = ask($ngx, 'refresh');
            my $dt = time - $t0;
            $worst = $dt if $n && $dt > $worst;
            $n++;
            $ok++ if verdict($r) eq 'verified';
            sleep 0.25;
        }
        diag(sprintf 'refresh ahead: %d requests, worst %.3f s after the '
             . 'first; %d fetches', $n, $worst,
             $agent->stats->{attestation});
        is($ok, $n, 'refresh ahead: every request verified');
        cmp_ok($worst, '<', 0.5, 'refresh ahead: none takes 0.5 s after '
               . 'the first');
        cmp_ok($agent->stats->{attestation}, '>=', 3,
               'refresh ahead: it did refresh');
    }
}

# ---------------------------------------------------------------------
# a worker killed (SIGKILL) while it holds a fetch

# the nginx worker with an established connection to $port
sub worker_talking_to {
    my ($ngx, $port) = @_;
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        for (split /\n/, AttestTest::slurp($f)) {
            my @x = split ' ';
            next unless @x > 9 && $x[3] eq '01';
            my ($rport) = $x[2] =~ /:([0-9A-F]{4})$/;
            $inode{$x[9]} = 1 if $rport && hex($rport) == $port;
        }
    }
    for my $pid ($ngx->worker_pids) {
        opendir my $d, "/proc/$pid/fd" or next;
        for my $fd (readdir $d) {
            my $l = readlink("/proc/$pid/fd/$fd") // '';
            return $pid if $l =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
    }
    return undef;
}

{
    my $agent = AttestTest::Agent->start(extra => ['--fleet', 1]);
    my $ngx = fleet_gateway($agent);
    $agent->fleet_control('set', machine => 0, slow => 20);
    my $first = open_request($ngx->port, 'X-Model-Id' => 'killed');
    my $holder = wait_for(sub { worker_talking_to($ngx, $agent->port) }, 5);
    ok($holder, 'kill: found the worker that holds the fetch');
    SKIP: {
        skip 'no fetching worker found', 2 unless $holder;
        kill 'KILL', $holder;
        close $first;
        $agent->fleet_control('set', machine => 0, slow => 0);
        wait_for(sub { grep({ $_ != $holder } $ngx->worker_pids) >= 2 }, 5);
        my $t0 = time;
        my $r = post_json($ngx->url('/v1/chat/completions'), $CHAT,
                          {'X-Model-Id' => 'killed'}, timeout => 8);
        my $dt = time - $t0;
        diag(sprintf 'kill: the next request took %.2f s: %s', $dt,
             verdict($r));
        is(verdict($r), 'verified', 'kill: the key verifies after');
        cmp_ok($dt, '<', 3, 'kill: within a few seconds');
    }
}

done_testing();
