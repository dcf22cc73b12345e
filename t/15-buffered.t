#!/usr/bin/perl
# The gateway behind a buffered upstream (proxy_buffering on, nginx's
# default): once a body is complete, the module holds the upstream's own
# buffers until the verdict instead of copying them (issue 16), and
# copies what comes before.  Whatever the split, the client must get
# exactly the bytes the agent signed: each verified body here is hashed
# again in Perl (AttestProto::compact) and compared with the signed
# response hash; an altered one never goes out in enforce mode and goes
# out unchanged in report mode.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(verdict);
use AttestProto qw(compact);
use Digest::SHA qw(sha256_hex);

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 51;

my $agent = AttestTest::Agent->start();

my %ngx;
for my $mode (qw(enforce report)) {
    $ngx{$mode} = AttestTest::Nginx->start(http => AttestConf::gateway(
        $agent, mode => $mode, buffering => 'on',
        loc_extra => 'attest_body_max 400k;'));
}

my $chat = {model => 'm', messages => [{role => 'user', content => 'hi'}]};

sub ask {
    my ($mode, %h) = @_;
    return post_json($ngx{$mode}->url('/v1/chat/completions'), $chat,
                     {'X-Model-Id' => 'k', %h});
}

# the signed response hash of the text header
sub signed_hash {
    my ($r) = @_;
    my ($h) = ($r->{headers}{text} // '') =~ /:([0-9a-f]{64})$/;
    return $h // '(none)';
}

# sizes around the upstream's buffers (proxy_buffer_size and 8 of 4k or
# 8k): in the header buffer, over a few, over all of them (the pipe
# spills the rest to a temp file); whole, in many writes, chunked
my @CASES = (
    [1, {}], [1024, {}], [4096, {}], [4096, {'X-Test-Writes' => 7}],
    [30000, {}], [65536, {}], [65536, {'X-Test-Writes' => 40}],
    [65536, {'X-Test-Mode' => 'chunked'}],
);

for my $c (@CASES) {
    my ($size, $h) = @$c;
    my $label = "$size bytes" . join('', map { ", $_ $h->{$_}" } sort keys %$h);
    my $r = ask('enforce', 'X-Test-Body-Size' => $size, %$h);
    is($r->{status}, 200, "$label: 200");
    is(verdict($r), 'verified', "$label: verified");
    is(length $r->{content}, $size, "$label: the whole body arrives");
    is(sha256_hex(compact($r->{content})), signed_hash($r),
       "$label: the client got exactly the bytes that were signed");
}

# an altered body: refused whole in enforce mode, passed as it came in
# report mode
for my $size (1024, 65536) {
    my $r = ask('enforce', 'X-Test-Body-Size' => $size,
                'X-Test-Mode' => 'tamper_body');
    is($r->{status}, 502, "$size bytes altered, enforce: 502");
    is(verdict($r), 'failed; reason=body_mismatch',
       "$size bytes altered, enforce: body_mismatch");
    unlike($r->{content}, qr/chat\.completion/,
           "$size bytes altered, enforce: nothing of the body goes out");

    $r = ask('report', 'X-Test-Body-Size' => $size,
             'X-Test-Mode' => 'tamper_body');
    is($r->{status}, 200, "$size bytes altered, report: 200");
    is(verdict($r), 'failed; reason=body_mismatch',
       "$size bytes altered, report: body_mismatch");
    is(length $r->{content}, $size,
       "$size bytes altered, report: the body as it came");
    isnt(sha256_hex(compact($r->{content})), signed_hash($r),
         "$size bytes altered, report: not the signed bytes");
}

# report mode over attest_body_max: what was held, then the rest
{
    my $r = ask('report', 'X-Test-Body-Size' => 450000,
                'X-Test-Writes' => 10);
    is($r->{status}, 200, 'report, over attest_body_max: 200');
    is(verdict($r), 'failed; reason=body_too_large',
       'report, over attest_body_max: body_too_large');
    is(length $r->{content}, 450000,
       'report, over attest_body_max: the whole body arrives');
}

# over 64 KiB, a body is copied into the worker's reused 64 KiB chunks:
# one answer after another, each gets exactly its own bytes
{
    my $ok = 0;
    for my $i (1 .. 4) {
        my $size = 300000 + 7919 * $i;
        my $r = ask($i % 2 ? 'enforce' : 'report', 'X-Test-Body-Size' => $size,
                    'X-Test-Writes' => 1 + 5 * $i);
        $ok++ if verdict($r) eq 'verified' && length $r->{content} == $size
                 && sha256_hex(compact($r->{content})) eq signed_hash($r);
    }
    is($ok, 4, 'four answers of about 300 KB in a row: each verified and '
       . 'exactly as signed');
}

# one upstream connection after another (keepalive): a held buffer is
# never overwritten by the next answer
{
    my $ok = 0;
    for my $i (1 .. 10) {
        my $r = ask('enforce', 'X-Test-Body-Size' => 2048 + $i);
        $ok++ if verdict($r) eq 'verified' && length $r->{content} == 2048 + $i
                 && sha256_hex(compact($r->{content})) eq signed_hash($r);
    }
    is($ok, 10, 'ten answers in a row over keepalive: each verified and '
       . 'exactly as signed');
}
