#!/usr/bin/perl
# The adversarial suite, more ways out of an attested location (issue 13
# items 1 and 3): an upstream's X-Accel-Redirect to a named location, a
# 101 that would turn the connection into a raw tunnel, and error_page,
# which must keep working for error statuses and must not bring a 200
# from elsewhere.  The man in the middle (t/upstream/mitm.py) bends the
# agent double's real answers; every case asserts what the client got.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(log_size log_line);
use AttestMitm;

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 32;

my $agent = AttestTest::Agent->start();
my $mitm = AttestMitm->start($agent);

my $SERVER = <<'EOT';
        location @named {
            default_type application/json;
            return 200 '{"choices":[{"message":{"content":"UNATTESTED"}}]}';
        }

        location = /oops {
            internal;
            default_type application/json;
            return 503 '{"error":"oops"}';
        }

        location = /fine {
            internal;
            default_type application/json;
            return 200 '{"choices":[{"message":{"content":"UNATTESTED"}}]}';
        }
EOT

my $LOC = 'proxy_intercept_errors on; error_page 404 /oops; '
        . 'error_page 409 =200 /fine;';

my %ngx;
for my $mode (qw(enforce report)) {
    $ngx{$mode} = AttestTest::Nginx->start(http => AttestMitm::gateway(
        $agent, $mitm, mode => $mode, server_extra => $SERVER,
        loc_extra => $LOC));
}

my $CHAT = encode_json({model => 'm',
                        messages => [{role => 'user', content => 'hi'}]});

# one raw HTTP/1.1 request: parse_response's fields, {raw}, {log}
sub ask {
    my ($ngx, $bend, %h) = @_;
    my $req = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($CHAT) . "\r\n"
            . "X-Model-Id: k\r\nX-Mitm: $bend\r\n";
    $h{Connection} //= 'close';
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    my $off = log_size($ngx);
    my $raw = raw_http($ngx->port, "$req\r\n$CHAT", 10);
    my $r = parse_response($raw);
    $r->{raw} = $raw;
    $r->{log} = log_line($ngx, $off);
    return $r;
}

sub verdicts { join ' | ', AttestMitm::verdicts($_[0]) }

# an X-Accel-Redirect to a named location: nginx does not mark such a
# request internal, the module must still know where it came from

{
    my $r = ask($ngx{enforce}, 'accel=@named');
    is($r->{status}, 502, 'enforce: accel @named: 502');
    is(verdicts($r), 'failed; reason=internal_redirect',
       'enforce: accel @named: one verdict, internal_redirect');
    unlike($r->{raw}, qr/UNATTESTED/, 'enforce: accel @named: nothing of '
           . 'the named location');
    like($r->{log}, qr/^502 failed internal_redirect /,
         'enforce: accel @named: access log');
    is($r->{headers}{'x-should-retry'} // '', 'false',
       'enforce: accel @named: x-should-retry: false');

    my $p = ask($ngx{report}, 'accel=@named');
    is($p->{status}, 200, 'report: accel @named: passes');
    is(verdicts($p), 'failed; reason=internal_redirect',
       'report: accel @named: marked internal_redirect');
}

# a 101 to a client that asked for an upgrade: nginx would tunnel the
# upstream's bytes raw after our header

for my $mode (qw(enforce report)) {
    my $r = ask($ngx{$mode}, 'status=101,smuggle', Connection => 'upgrade',
                Upgrade => 'websocket');
    is($r->{status}, 502, "$mode: 101 to an upgrade: 502");
    is(verdicts($r), 'failed; reason=upstream_status_unexpected',
       "$mode: 101 to an upgrade: upstream_status_unexpected");
    unlike($r->{raw}, qr/FORGED|HTTP\/1\.1 101/,
           "$mode: 101 to an upgrade: no tunnel, nothing smuggled");
}

# error_page keeps working for an error status: /oops goes out with the
# upstream's 404 (error_page without "="), marked unverified, in either
# mode

for my $mode (qw(enforce report)) {
    my $r = ask($ngx{$mode}, 'status=404');
    is($r->{status}, 404, "$mode: error_page 404 /oops: 404");
    is($r->{body}, '{"error":"oops"}', "$mode: error_page: the error page");
    is(verdicts($r), 'unverified; reason=upstream_status',
       "$mode: error_page: one verdict, unverified upstream_status");
    like($r->{log}, qr/^404 unverified upstream_status /,
         "$mode: error_page: access log");
}

# error_page with "=200" brings a 200 from an unattested location: that
# is an internal redirect to content

{
    my $r = ask($ngx{enforce}, 'status=409');
    is($r->{status}, 502, 'enforce: error_page 409 =200: 502');
    is(verdicts($r), 'failed; reason=internal_redirect',
       'enforce: error_page 409 =200: internal_redirect');
    unlike($r->{raw}, qr/UNATTESTED/,
           'enforce: error_page 409 =200: nothing of /fine');
    my $p = ask($ngx{report}, 'status=409');
    is($p->{status}, 200, 'report: error_page 409 =200: passes');
    is(verdicts($p), 'failed; reason=internal_redirect',
       'report: error_page 409 =200: marked internal_redirect');
}

# a request that is never redirected is not touched by any of this

for my $mode (qw(enforce report)) {
    my $r = ask($ngx{$mode}, '');
    is($r->{status}, 200, "$mode: passthrough: 200");
    is(verdicts($r), 'verified', "$mode: passthrough: verified");
}

for my $mode (qw(enforce report)) {
    unlike($ngx{$mode}->error_log, qr/\[(alert|crit|emerg)\]|signal \d+/,
           "$mode: no alert or crash in the error log");
}
