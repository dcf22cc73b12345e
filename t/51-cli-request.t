#!/usr/bin/perl
# build/attest-verify request: the canonical form and hash of a request
# body, checked against the agent double, which hashes the same bytes in
# Python (json.loads, its pydantic-like model, json.dumps) and signs
# request_hash:response_hash.  Exit 0 with the hash, exit 1 "failed:
# request_invalid" with the canonicalizer's reason, exit 2 on usage.

use strict;
use warnings;
use Test::More;

use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);

use lib 't/lib';
use AttestTest qw(:all);

my $CLI = repo() . '/build/attest-verify';
plan skip_all => 'build/attest-verify not built (make tool)' unless -x $CLI;
plan tests => 81;

my $agent = AttestTest::Agent->start();

my $dir = tempdir('attest-cli-req-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $files = 0;

sub spew {
    my ($data) = @_;
    my $path = sprintf '%s/%02d.json', $dir, ++$files;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $data;
    close $fh;
    return $path;
}

sub cli {
    my ($rc, $out) = AttestTest::run_cmd([$CLI, @_], timeout => 60);
    return ($rc, $out);
}

# the request half of the text the agent signed for these body bytes
sub agent_hash {
    my ($body) = @_;
    my $r = post_json($agent->url('/v1/chat/completions'), $body);
    return ($r->{status}, (split /:/, $r->{headers}{text} // '')[0] // '');
}

my $M = '"messages":[{"role":"user","content":"hi"}]';
my @bodies = (
    [qq({"model":"m",$M,"temperature":1,"max_tokens":5,"seed":7}),
     qq({$M,"model":"m","temperature":1.0,"max_tokens":5,"stream":false,)
     . qq("seed":7})],
    [qq({"logprobs":"off","n":2.0,"stop":null,"top_p":-0,$M,)
     . qq("presence_penalty":1E2,"frequency_penalty":true}),
     qq({$M,"stream":false,"top_p":0.0,"frequency_penalty":1.0,)
     . qq("presence_penalty":100.0,"n":2,"logprobs":false})],
    [qq({"x":1,"y":null,"x":{"a":null,"a":[1e-5,1e16,-0.0,1e400]},$M}),
     qq({$M,"stream":false,"x":{"a":[1e-05,1e+16,-0.0,Infinity]}})],
    [qq({$M,"big":18446744073709551621,"f":0.30000000000000004,)
     . qq("g":123456789.125,"h":1.0,"i":5e-324}),
     qq({$M,"stream":false,"big":18446744073709551621,)
     . qq("f":0.30000000000000004,"g":123456789.125,"h":1.0,"i":5e-324})],
    [qq({"messages":[{"role":"user","content":"Gr\xc3\xbc\xc3\x9fe )
     . qq(\xf0\x9f\x91\x8b \\ud83d\\udc4b \\ud800 \\/ \\u001f \x7f",)
     . qq("name":null}]}),
     qq({"messages":[{"role":"user","content":"Gr\\u00fc\\u00dfe )
     . qq(\\ud83d\\udc4b \\ud83d\\udc4b \\ud800 / \\u001f \\u007f",)
     . qq("name":null}],"stream":false})],
    [qq(\xef\xbb\xbf {"\\u006dodel" : "a", "model":"b",\n$M}\r\n),
     qq({$M,"model":"b","stream":false})],
);

for my $i (0 .. $#bodies) {
    my ($body, $want) = @{ $bodies[$i] };
    my ($rc, $out) = cli('request', spew($body));
    is($rc, 0, "body $i: exit 0") or diag($out);
    my ($hash) = $out =~ /^request_hash: ([0-9a-f]{64})$/m;
    my ($canon) = $out =~ /^canonical: (.*)$/m;
    is($canon, $want, "body $i: canonical form");
    is($hash, sha256_hex($canon // ''), "body $i: hash of the canonical form");
    my ($status, $signed) = agent_hash($body);
    is($status, 200, "body $i: the agent answers");
    is($hash, $signed, "body $i: the hash the agent signed");
}

{
    my $body = qq({"model":"io\\u00e9","stream":"yes",$M});
    my ($rc, $out) = cli('request', spew($body));
    is($rc, 0, 'stream "yes": exit 0');
    like($out, qr/^model: io\\u00e9$/m, 'model printed as in the canonical');
    like($out, qr/^stream: true$/m, 'stream "yes" is true');
}

{
    # a 1 MB prompt, read in 64 KiB pieces
    my $body = qq({"messages":[{"role":"user","content":") . ('x' x (1 << 20))
             . qq(\\u00e9"}],"model":"m"});
    my ($rc, $out) = cli('request', spew($body));
    is($rc, 0, '1 MB prompt: exit 0');
    my ($hash) = $out =~ /^request_hash: ([0-9a-f]{64})$/m;
    my ($status, $signed) = agent_hash($body);
    is($hash, $signed, '1 MB prompt: the hash the agent signed');

    ($rc, $out) = cli('request', '--max-size', 1 << 20, spew($body));
    is($rc, 1, '1 MB prompt over --max-size: exit 1');
    like($out, qr/^failed: request_invalid$/m, 'request_invalid');
    like($out, qr/^check: too_large: body over 1048576 bytes$/m,
         'too_large named');
}

# refused by the agent (422) and by the canonicalizer, which names why
for my $case (['{"n":1.5,' . $M . '}', 'field_type', qr/n: integer expected/],
              ['{"model":5,' . $M . '}', 'field_type', qr/model: string/],
              ['{"stream":2,' . $M . '}', 'field_type', qr/stream: boolean/],
              ['{"temperature":"hot",' . $M . '}', 'field_form',
               qr/temperature/],
              ['{' . $M . ',"\\udc00":1}', 'key_surrogate', qr/surrogate/],
              ['[{' . $M . '}]', 'not_object', qr/not a JSON object/],
              ['{' . $M . ',}', 'syntax', qr/expecting property name/])
{
    my ($body, $code, $why) = @$case;
    my ($rc, $out) = cli('request', spew($body));
    is($rc, 1, "$code: exit 1");
    like($out, qr/^failed: request_invalid$/m, "$code: request_invalid");
    like($out, qr/^check: \Q$code\E: /m, "$code: named");
    like($out, $why, "$code: says why");
    my ($status) = agent_hash($body);
    ok($status >= 400 && $status < 500, "$code: the agent refuses it too")
        or diag("status $status");
}

{
    # standard input
    my $in = spew(qq({$M}));
    my ($rc, $out) = AttestTest::run_cmd(
        ['/bin/sh', '-c', "$CLI request - < $in"], timeout => 30);
    is($rc, 0, 'stdin: exit 0');
    like($out, qr/^canonical: \Q{$M,"stream":false}\E$/m, 'stdin: canonical');
}

for my $args ([], ['a', 'b'], ['--max-size', '0', 'a'], ['--max-size'],
              ['--nope', 'a'], ["$dir/missing.json"])
{
    my ($rc, $out) = cli('request', @$args);
    is($rc, 2, "usage: request @$args: exit 2");
}
