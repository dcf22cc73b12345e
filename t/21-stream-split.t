#!/usr/bin/perl
# A small verified stream (two events, the signature event, [DONE]) split
# into two TCP writes at every byte boundary, one request per boundary:
# every split must verify and deliver the same bytes as the unsplit
# stream, with the signature event stripped.  The boundaries fall inside
# "data: ", inside multi-byte UTF-8, between "\n" and "\n", inside
# "event: signature" and inside "[DONE]".

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(stream_request log_size log_line normalize);

plan skip_all => 'module not built (make)' unless module_built();

my $agent = AttestTest::Agent->start();
my $signer = $agent->info->{signing_address};
my $ngx = AttestTest::Nginx->start(http => AttestConf::gateway($agent));

sub stream {
    my ($path, %h) = @_;
    my $n = log_size($ngx);
    my $r = parse_response(raw_http($ngx->port, stream_request($path, %h),
                                    10));
    $r->{log} = log_line($ngx, $n) if $path =~ m{^/v1/};
    return $r;
}

# the agent's split counts the bytes it sends, signature event included
my $plain = stream('/plain/chat/completions');
my $len = length $plain->{body};
like($plain->{body}, qr/^event: signature\n/m,
     'upstream stream has a signature event');
cmp_ok($len, '>', 500, "upstream stream is $len bytes");

my $ref = stream('/v1/chat/completions');
my $want = normalize($ref->{body});
like($ref->{log}, qr/^200 verified /, 'the unsplit stream verifies');
my $verdict = qr/: attest status=verified signer=\Q$signer\E\n\n/;
like($want, qr/\n\n${verdict}data: \[DONE\]\n\n\z/,
     'and ends with the verdict and [DONE]');
unlike($want, qr/event: signature/, 'and has no signature event');
{
    (my $up = normalize($plain->{body})) =~ s/event: signature\n[^\n]*\n\n//;
    (my $got = $want) =~ s/^: attest [^\n]*\n\n//m;
    is($got, $up, 'and is the upstream stream otherwise');
}

my (@bad_verdict, @bad_body, @bad_log);
my $tried = 0;

# a small pause between the two writes so that nginx reads them apart
for my $k (1 .. $len - 1) {
    my $r = stream('/v1/chat/completions', 'X-Test-Split-At' => $k,
                   'X-Test-Write-Delay' => 0.002);
    $tried++;
    push @bad_verdict, $k
        unless $r->{body} =~ /\n\n: attest status=verified signer=/;
    push @bad_body, $k unless $r->{complete} && normalize($r->{body}) eq $want;
    push @bad_log, $k unless $r->{log} =~ /^200 verified - /;
}

is($tried, $len - 1, "split at each of the ${\ ($len - 1)} boundaries");
is("@bad_verdict", '', 'verified at every split');
is("@bad_body", '', 'the same bytes delivered at every split');
is("@bad_log", '', 'the access log says verified at every split');

unlike($ngx->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');

done_testing();
