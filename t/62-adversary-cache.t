#!/usr/bin/perl
# The adversarial suite, trust boundaries of the cache, the fetch and the
# zone (issue 15 items 3, 6, 7, 8 and issue 13 item 6): an entry borrowed
# across fetch locations, two policies whose CRC32 ids collide, a client
# that resets a cold fetch with waiters, junk client headers at the
# attestation endpoint, a flood of failing keys, a 7 KB key, and 200
# streams holding long lines with the worker's RSS measured; the size of
# a report over the fetch buffer, logged once.  TODO blocks
# name what main does not do yet.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(stream_request);
use AttestMitm;
use Compress::Zlib ();
use IO::Select;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);

plan skip_all => 'module not built (make)' unless module_built();

my $agent = AttestTest::Agent->start();
my $ap = $agent->port;
my $CHAT = encode_json({model => 'm',
                        messages => [{role => 'user', content => 'hi'}]});

sub fetches { $agent->stats->{attestation} }

sub verdict { $_[0]{headers}{'x-attestation-status'} // '(none)' }

sub ask {
    my ($ngx, $path, %h) = @_;
    return post_json($ngx->url($path), $CHAT, \%h);
}

sub fetch_location {
    my ($name, $port) = @_;
    return <<"EOT";
        location = $name {
            internal;
            subrequest_output_buffer_size 512k;
            proxy_pass http://127.0.0.1:$port/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';
        }
EOT
}

sub attested_location {
    my ($path, $fetch, $port, $extra) = @_;
    $extra //= '';
    return <<"EOT";
        location $path {
            attest zone=ionet;
            attest_key \$http_x_model_id;
            attest_fetch $fetch;
            $extra
            proxy_pass http://127.0.0.1:$port/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
        }
EOT
}

# ---------------------------------------------------------------------
# issue 15 item 3: two locations, same policy and key, different fetch
# locations: /b/'s fetch fails (nothing listens), its upstream is a relay
# to the machine /a/ attested

{
    my $dead = free_port();
    my $ngx = AttestTest::Nginx->start(http => "attest_zone zone=ionet:1m;\n"
        . "server {\n    listen 127.0.0.1:%%PORT%%;\n"
        . attested_location('/a/', '/_att_a', $ap)
        . attested_location('/b/', '/_att_b', $ap)
        . fetch_location('/_att_a', $ap)
        . fetch_location('/_att_b', $dead) . "}\n");

    my $r = ask($ngx, '/b/chat/completions', 'X-Model-Id' => 'k0');
    is($r->{status}, 502, 'cache borrowing: /b/ alone: its fetch fails, 502');
    is(verdict($r), 'failed; reason=attestation_unavailable',
       'cache borrowing: /b/ alone: attestation_unavailable');

    $r = ask($ngx, '/a/chat/completions', 'X-Model-Id' => 'k');
    is(verdict($r), 'verified', 'cache borrowing: /a/ verifies key k');
    $r = ask($ngx, '/b/chat/completions', 'X-Model-Id' => 'k');
    is($r->{status}, 502, 'cache borrowing: /b/ after /a/: 502');
    is(verdict($r), 'failed; reason=attestation_unavailable',
       'cache borrowing: /b/ does not borrow /a/\'s entry');
}

# ---------------------------------------------------------------------
# issue 15 item 7: two attest_tdx_mrtd pins whose CRC32s collide (the
# policy id of main).  The CRC of equal-length messages is affine in
# their bits, so the pin that collides with the machine's MRTD is the
# MRTD with its first byte changed and 4 bytes solved over GF(2).

sub crc_collision {
    my ($m) = @_;
    my $crc = sub { Compress::Zlib::crc32($_[0]) };
    my $base = $crc->($m);
    my $lin = sub {            # the linear part: L(d) = crc(m^d) ^ crc(m)
        my ($d) = @_;
        return $crc->($m ^ $d) ^ $base;
    };
    my $len = length $m;
    my $d0 = "\x5a" . ("\0" x ($len - 1));
    my $target = $lin->($d0);
    # columns: L of each bit of the last 4 bytes
    my @col;
    for my $bit (0 .. 31) {
        my $d = "\0" x $len;
        substr($d, $len - 4 + ($bit >> 3), 1) = chr(1 << ($bit & 7));
        push @col, $lin->($d);
    }
    # solve sum(x_i col_i) = target: eliminate over the 32 rows
    my @rows;                  # [mask of columns, rhs bit] per output bit
    for my $o (0 .. 31) {
        my $mask = 0;
        for my $i (0 .. 31) { $mask |= 1 << $i if ($col[$i] >> $o) & 1 }
        push @rows, [$mask, ($target >> $o) & 1];
    }
    my @pivot;
    my $r = 0;
    for my $c (0 .. 31) {
        my ($p) = grep { ($rows[$_][0] >> $c) & 1 } $r .. 31;
        next unless defined $p;
        @rows[$r, $p] = @rows[$p, $r];
        for my $k (0 .. 31) {
            next if $k == $r || !(($rows[$k][0] >> $c) & 1);
            $rows[$k][0] ^= $rows[$r][0];
            $rows[$k][1] ^= $rows[$r][1];
        }
        $pivot[$r++] = $c;
    }
    my $x = 0;
    for my $k (0 .. $r - 1) { $x |= $rows[$k][1] << $pivot[$k] }
    my $d = $d0;
    for my $bit (0 .. 31) {
        next unless ($x >> $bit) & 1;
        my $pos = $len - 4 + ($bit >> 3);
        substr($d, $pos, 1) = chr(ord(substr($d, $pos, 1)) ^ (1 << ($bit & 7)));
    }
    return $m ^ $d;
}

{
    my $real = pack 'H*', $agent->info->{tdx_default_mrtd};
    my $forged = crc_collision($real);
    isnt(unpack('H*', $forged), unpack('H*', $real),
         'CRC32: the forged pin differs from the machine\'s MRTD');
    is(Compress::Zlib::crc32($forged), Compress::Zlib::crc32($real),
       'CRC32: ... and has its CRC32');
    my $other = "\x5a" x 48;

    my $ev = AttestConf::evidence($agent);
    my $pin = sub { $ev . 'attest_tdx_mrtd ' . unpack('H*', $_[0]) . ';' };
    my $ngx = AttestTest::Nginx->start(http => "attest_zone zone=ionet:1m;\n"
        . "server {\n    listen 127.0.0.1:%%PORT%%;\n"
        . attested_location('/loose/', '/_att', $ap, $pin->($real))
        . attested_location('/strict/', '/_att', $ap, $pin->($forged))
        . attested_location('/other/', '/_att', $ap, $pin->($other))
        . fetch_location('/_att', $ap) . "}\n");

    my $r = ask($ngx, '/strict/chat/completions', 'X-Model-Id' => 'cold');
    is(verdict($r), 'failed; reason=measurement_not_allowed',
       'CRC32: the strict pin alone: measurement_not_allowed');
    $r = ask($ngx, '/loose/chat/completions', 'X-Model-Id' => 'k');
    is(verdict($r), 'verified', 'CRC32: the loose pin verifies key k');
    $r = ask($ngx, '/other/chat/completions', 'X-Model-Id' => 'k');
    is(verdict($r), 'failed; reason=measurement_not_allowed',
       'CRC32: another pin, no collision: its own verdict');
    $r = ask($ngx, '/strict/chat/completions', 'X-Model-Id' => 'k');
    is($r->{status}, 502, 'CRC32: the colliding pin after the loose '
       . 'one: 502');
    is(verdict($r), 'failed; reason=measurement_not_allowed',
       'CRC32: the colliding pin trusts no entry of the loose one');
}

# ---------------------------------------------------------------------
# issue 15 item 4: a client that resets a cold fetch, with waiters

sub open_request {
    my ($port, $req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    syswrite $s, $req;
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

sub chat_request {
    my (%h) = @_;
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($CHAT) . "\r\n"
            . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    return "$req\r\n$CHAT";
}

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::gateway($agent));
    my %slow = ('X-Model-Id' => 'reset', 'X-Test-Mode' => 'attest:attest_slow',
                'X-Test-Sleep' => '1.5');
    my $first = open_request($ngx->port, chat_request(%slow));
    sleep 0.3;
    my @waiters = map { open_request($ngx->port, chat_request(%slow)) } 1 .. 3;
    sleep 0.3;
    setsockopt($first, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $first;
    my @r = map { read_all($_, 12) } @waiters;
    my $ok = grep { verdict($_) eq 'verified' } @r;
    is($ok, 3, 'client reset during a cold fetch: the 3 waiters verify');
    my $after = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => 'reset');
    is(verdict($after), 'verified', 'client reset: the key verifies after');
}

# ---------------------------------------------------------------------
# issue 15 item 4: the fetch carries no client header; an attestation
# endpoint with a header limit (the mitm, 100 lines) is not spoiled by a
# client's 120 junk headers

{
    my $mitm = AttestMitm->start($agent, max_headers => 100);
    my $ngx = AttestTest::Nginx->start(http => AttestMitm::gateway(
        $agent, $mitm, fetch => 'mitm'));
    my %junk = map { sprintf('X-Junk-%03d', $_) => "junk$_" } 1 .. 120;
    my $r = post_json($ngx->url('/v1/chat/completions'), $CHAT,
                      {'X-Model-Id' => 'junk', %junk});
    my ($att) = grep { $_->{kind} eq 'attestation' } @{ $mitm->requests };
    ok($att, 'junk headers: the attestation request reached the endpoint');
    my @seen = grep { $_->[0] =~ /^x-junk-/i } @{ $att ? $att->{headers} : [] };
    is(scalar @seen, 0, 'junk headers: none reaches the attestation '
       . 'endpoint');
    TODO: {
        # the completion itself still carries them (proxy_pass_request_
        # headers on in the attested location), and the mitm refuses it
        local $TODO = 'the completion request carries the client headers';
        is(verdict($r), 'verified', 'junk headers: the request verifies');
    }
    my $next = post_json($ngx->url('/v1/chat/completions'), $CHAT,
                         {'X-Model-Id' => 'junk'});
    is(verdict($next), 'verified', 'junk headers: the next honest request '
       . 'verifies');
}

# ---------------------------------------------------------------------
# issue 15 item 6: failing keys never evict a verified one; issue 13 item
# 6: a 7 KB key evicts nothing

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::gateway($agent,
        zone => 'ionet:32k'));
    my $r = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => 'good');
    is(verdict($r), 'verified', 'flood: the good key verifies');
    my $n = fetches();
    my $failed = 0;
    for my $i (1 .. 120) {
        my $f = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => "bad$i",
                    'X-Test-Mode' => 'attest:wrong_nonce');
        $failed++ if verdict($f) eq 'failed; reason=nonce_mismatch';
    }
    is($failed, 120, 'flood: 120 failing keys fail');
    my $m = fetches();
    $r = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => 'good');
    is(verdict($r), 'verified', 'flood: the good key still verifies');
    is(fetches() - $m, 0, 'flood: the good key\'s entry was not evicted');
    my $evicted = () = $ngx->error_log =~ /evicting/g;
    diag("flood: $evicted eviction log lines, " . ($m - $n)
         . ' fetches for 120 failing keys');

    # 7 KB key: 15 verified keys (a 32k zone holds about 20 of a
    # machine each) stay
    my $z = AttestTest::Nginx->start(http => AttestConf::gateway($agent,
        zone => 'ionet:32k'));
    for my $i (1 .. 15) {
        ask($z, '/v1/chat/completions', 'X-Model-Id' => "k$i");
    }
    my $before = fetches();
    my $big = ask($z, '/v1/chat/completions', 'X-Model-Id' => 'K' x 7000);
    my $mid = fetches();
    my $again = 0;
    for my $i (1 .. 15) {
        my $x = ask($z, '/v1/chat/completions', 'X-Model-Id' => "k$i");
        $again++ if verdict($x) eq 'verified';
    }
    is($again, 15, "7 KB key: the 15 keys still verify");
    {
        is(verdict($big), 'failed; reason=key_too_long',
           '7 KB key: key_too_long');
        is($mid - $before, 0, '7 KB key: no fetch');
        is(fetches() - $mid, 0, '7 KB key: no entry of the 15 was evicted');
    }
}

# ---------------------------------------------------------------------
# issue 13 item 6: the "does not fit" log line gives the report's size
# once, not twice

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::gateway($agent,
        fetch_buffer => '4k'));
    my $r = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => 'big');
    is($r->{status}, 502, 'report over the fetch buffer: 502');
    my @l = grep { /does not fit subrequest_output_buffer_size/ }
        split /\n/, $ngx->error_log;
    is(scalar @l, 1, 'report over the fetch buffer: one log line');
    my ($logged) = ($l[0] // '') =~ /of (\d+) bytes/;
    my $real = length(post_json($agent->url('/attestation'),
        {nonce => '00' x 32})->{content} // '');
    cmp_ok($real, '>', 4096, "the report is $real bytes");
    {
        cmp_ok($logged // 0, '<=', $real + 64,
               'report over the fetch buffer: the size logged is the '
               . "report's, not twice it");
    }
}

# ---------------------------------------------------------------------
# issue 15 item 8: 200 streams each holding a long unterminated line; the
# agent sends 400 KB of the first line and waits at a gate

sub rss_kb {
    my ($pid) = @_;
    return (AttestTest::slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m)[0]
        // 0;
}

{
    my $N = 200;
    my $ngx = AttestTest::Nginx->start(http => AttestConf::gateway($agent),
        events => '', worker_connections => 1024);
    my ($worker) = $ngx->worker_pids;
    my $warm = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => 'rss');
    is(verdict($warm), 'verified', 'RSS: the key verifies');
    my $rss0 = rss_kb($worker);
    $agent->reset_stats;
    my @s;
    for my $i (1 .. $N) {
        push @s, open_request($ngx->port, stream_request(
            '/v1/chat/completions', 'X-Model-Id' => 'rss',
            'X-Test-Stream-Events' => 1, 'X-Test-Event-Size' => 450000,
            'X-Test-Split-At' => 400000, 'X-Test-Gate' => 'rss',
            'X-Test-Gate-Timeout' => 60));
    }
    my $started = wait_for(sub { $agent->stats->{stream} >= $N }, 60);
    ok($started, "RSS: $N streams reached the agent");
    # let the first pieces arrive and settle
    my ($peak, $last) = (0, -1);
    for (1 .. 40) {
        sleep 0.25;
        my $now = rss_kb($worker);
        $peak = $now if $now > $peak;
        last if $now == $last;
        $last = $now;
    }
    my $grew = int(($peak - $rss0) / 1024);
    diag("RSS: worker $rss0 kB idle, $peak kB with $N held lines "
         . "(+$grew MB)");
    {
        cmp_ok($grew, '<', 48, "RSS: $N held lines grow the worker by less "
               . 'than 48 MB');
    }
    $agent->release('rss');
    close $_ for @s;
    ok(kill(0, $worker), 'RSS: the worker survived');
    my $after = ask($ngx, '/v1/chat/completions', 'X-Model-Id' => 'rss');
    is(verdict($after), 'verified', 'RSS: the next request verifies');
}

done_testing();
