#!/usr/bin/perl
# Self-test of the harness and the agent double, without the module: the
# agent's wire formats (PROTOCOL.md sections 1-3) checked by code written
# here in Perl (hashes, JSON compaction, SSE framing, evidence offsets),
# its signatures recovered by an inline python3-ecdsa script that shares
# nothing with t/upstream/ethsign.py, and nginx start/reload/stop plus the
# process clean-up with a plain proxy_pass config.

use strict;
use warnings;

use lib 't/lib';
use AttestTest qw(:all);
use AttestProto qw(compact stream_hash);
use Digest::SHA qw(sha256_hex);
use Encode qw(decode_utf8);
use File::Path qw(remove_tree);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use MIME::Base64 qw(decode_base64);
use Test::More;
plan tests => 20;
use Time::HiRes qw(sleep time);

my $JSON = JSON::PP->new->utf8->canonical;

# the plain nginx (no module) of the harness's own tests; %%AGENT%% is
# the agent double's port, the harness fills in the rest
my $CONF = <<'NGINX';
server {
    listen 127.0.0.1:%%PORT%%;
    location / {
        proxy_pass http://127.0.0.1:%%AGENT%%;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
    }
}
server {
    listen 127.0.0.1:%%PORT2%%;
    location / { return 204; }
    location /tmp { return 200 "%%TMP%%"; }
}
NGINX

# --- independent reimplementations --------------------------------------

my @RECOVER;    # [text, signature, expected address, name]

# Recovers personal_sign signers with python3-ecdsa and pycryptodome
# directly, not through ethsign.py.
my $RECOVER_PY = <<'PY';
import json, sys
from ecdsa import SECP256k1, VerifyingKey
from ecdsa.util import sigdecode_string
from Cryptodome.Hash import keccak

def k(b):
    return keccak.new(digest_bits=256, data=b).digest()

G, n = SECP256k1.generator, SECP256k1.order
out = []
for text, sig in json.load(sys.stdin):
    raw = bytes.fromhex(sig[2:] if sig.startswith("0x") else sig)
    recid = raw[64] - 27 if raw[64] >= 27 else raw[64]
    msg = text.encode()
    d = k(b"\x19Ethereum Signed Message:\n" + str(len(msg)).encode() + msg)
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    e = int.from_bytes(d, "big")
    found = None
    for vk in VerifyingKey.from_public_key_recovery_with_digest(
            raw[:64], d, SECP256k1, sigdecode=sigdecode_string):
        w = pow(s, -1, n)
        big_r = G * (e * w % n) + vk.pubkey.point * (r * w % n)
        if big_r.y() % 2 == recid:
            found = "0x" + k(vk.to_string())[-20:].hex()
    out.append(found)
print(json.dumps(out))
PY

sub random_hex {
    my ($n) = @_;
    open my $fh, '<:raw', '/dev/urandom' or die;
    read($fh, my $bytes, $n) == $n or die "urandom: $!";
    return unpack 'H*', $bytes;
}

sub resp_hash { (split /:/, $_[0] // '')[1] // '' }
sub req_hash  { (split /:/, $_[0] // '')[0] // '' }

# --- agent ---------------------------------------------------------------

my $agent = AttestTest::Agent->start;
ok($agent->port > 0, 'agent listens on port ' . $agent->port);
my $info = $agent->info;
my $ADDR = $info->{signing_address};
like($ADDR, qr/^0x[0-9a-fA-F]{40}$/, 'signing address');
like($ADDR, qr/[A-F]/, 'address is EIP-55 mixed case');
is($info->{image_digest}, 'sha256:' . sha256_hex('ionet-test-image'),
   'default image digest');
like(slurp($agent->gpu_root), qr/BEGIN CERTIFICATE/, 'GPU root written');
like(slurp($agent->cpu_root), qr/BEGIN CERTIFICATE/, 'CPU root written');
is($info->{gpu_root}, $agent->gpu_root, 'info names the GPU root');

sub attest {
    my ($body, $h) = @_;
    return post_json($agent->url('/attestation'), $body, $h);
}

sub pems {
    my ($text) = @_;
    return [ $text =~ /(-----BEGIN\ CERTIFICATE-----.*?
                        -----END\ CERTIFICATE-----)/gsx ];
}

sub norm_pem { (my $p = $_[0]) =~ s/\s+//g; $p }

sub quote_of { pack 'H*', $_[0]{cpu}{quote} }

sub ev_of {
    my ($rep, $i) = @_;
    return decode_base64($rep->{gpu}{evidence_list}[$i // 0]{evidence});
}

subtest 'attestation report' => sub {
    my $nonce = random_hex(32);
    my $r = attest({model_id => 'm', nonce => $nonce});
    is($r->{status}, 200, 'status');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'type');
    like($r->{content}, qr/^\{"nonce": "/, 'default separators');
    my $j = $r->{json};
    is($j->{nonce}, $nonce, 'nonce echoed');
    is($j->{signing_address}, $ADDR, 'signing address');
    is($j->{image_digest}, $info->{image_digest}, 'image digest');
    is($j->{gpu}{nonce}, $nonce, 'gpu nonce');
    is($j->{gpu}{arch}, 'HOPPER', 'arch');
    is($j->{gpu}{claims_version}, '3.0', 'claims version');
    is(scalar @{ $j->{gpu}{evidence_list} }, 1, 'one GPU');
    my $ev = ev_of($j);
    is(unpack('H*', substr($ev, 4, 32)), $nonce, 'SPDM request nonce');
    is(unpack('H2', substr($ev, 0, 1)) . unpack('H2', substr($ev, 1, 1)),
       '11e0', 'SPDM GET_MEASUREMENTS');
    my $chain = pems(decode_base64($j->{gpu}{evidence_list}[0]{certificate}));
    cmp_ok(scalar @$chain, '>=', 3, 'a certificate chain');
    is(norm_pem($chain->[-1]), norm_pem(slurp($agent->gpu_root)),
       'chain ends in the written root');
    like($j->{cpu}{quote}, qr/^[0-9a-f]+$/, 'quote is hex');
    my $q = quote_of($j);
    is(unpack('v', $q), 4, 'quote version 4');
    is(unpack('V', substr($q, 4, 4)), 0x81, 'TEE type TDX');
    is(unpack('H*', substr($q, 568, 64)), $nonce . '00' x 32,
       'report_data = nonce || zeros');
    is(ord(substr($q, 168, 1)) & 1, 0, 'not a debug TD');
    is(unpack('H*', substr($q, 184, 48)), $info->{tdx_default_mrtd},
       'default MRTD');
    my $qpem = pems($q);
    is(norm_pem($qpem->[-1]), norm_pem(slurp($agent->cpu_root)),
       'PCK chain ends in the written root');
    is($agent->stats->{last_nonce}, $nonce, 'stats: last nonce');
};

subtest 'nonce handling' => sub {
    my $r = attest({nonce => '0xABcd'});
    is($r->{json}{nonce}, 'abcd' . '00' x 30, 'short nonce right-padded');
    is(unpack('H*', substr(ev_of($r->{json}), 4, 32)), 'abcd' . '00' x 30,
       'padded nonce in the evidence');
    my @n = map { attest({model_id => 'm'})->{json}{nonce} } 1 .. 2;
    like($n[0], qr/^[0-9a-f]{64}$/, 'no nonce: random one');
    isnt($n[0], $n[1], 'random nonces differ');
    is(attest('')->{status}, 200, 'empty body: random nonce');
    for my $bad ('zz', 'abc', random_hex(33), '0x' . random_hex(33), 5,
                 'ab cd') {
        is(attest({nonce => $bad})->{status}, 400, "nonce '$bad': 400");
    }
    is(attest('{not json')->{status}, 400, 'not JSON: 400');
    is(attest({nonce => random_hex(32)}, {'X-Test-Mode' => 'attest_500'})
       ->{status}, 500, 'attest_500');
};

subtest 'attestation modes' => sub {
    my $nonce = random_hex(32);
    my $m = sub { attest({nonce => $nonce}, {'X-Test-Mode' => $_[0]}) };
    my $j;

    $j = $m->('wrong_nonce')->{json};
    isnt($j->{nonce}, $nonce, 'wrong_nonce: echo differs');
    is(unpack('H*', substr(ev_of($j), 4, 32)), $nonce,
       'wrong_nonce: evidence still on our nonce');

    $j = $m->('replay')->{json};
    isnt($j->{nonce}, $nonce, 'replay: another nonce');
    is(unpack('H*', substr(quote_of($j), 568, 32)), $j->{nonce},
       'replay: consistent report');

    $j = $m->('other_signer')->{json};
    is($j->{signing_address}, $info->{attest_other_signing_address},
       'other_signer');
    isnt(lc $j->{signing_address}, lc $ADDR, 'other_signer: not ours');
    isnt(lc $j->{signing_address}, lc $info->{other_signing_address},
         'other_signer: not the completion other signer either');

    $j = $m->('other_image_digest')->{json};
    is($j->{image_digest}, $info->{other_image_digest_attestation},
       'other_image_digest');
    ok(!exists $m->('no_image_digest')->{json}{image_digest},
       'no_image_digest');

    $j = $m->('gpu_absent')->{json};
    ok($j->{gpu}{error} && !$j->{gpu}{evidence_list}, 'gpu_absent');
    $j = $m->('cpu_absent')->{json};
    unlike($j->{cpu}{quote}, qr/^[0-9a-f]*$/, 'cpu_absent: a sentence');

    $j = $m->('gpu_wrong_nonce')->{json};
    isnt(unpack('H*', substr(ev_of($j), 4, 32)), $nonce, 'gpu_wrong_nonce');
    is($j->{gpu}{nonce}, $nonce, 'gpu_wrong_nonce: gpu.nonce unchanged');
    $j = $m->('gpu_other_root')->{json};
    isnt(norm_pem(pems(decode_base64(
        $j->{gpu}{evidence_list}[0]{certificate}))->[-1]),
         norm_pem(slurp($agent->gpu_root)), 'gpu_other_root');
    is($m->('gpu_bad_signature')->{status}, 200, 'gpu_bad_signature');

    my $q = quote_of($m->('cpu_debug')->{json});
    is(ord(substr($q, 168, 1)) & 1, 1, 'cpu_debug');
    $q = quote_of($m->('cpu_wrong_report_data')->{json});
    isnt(unpack('H*', substr($q, 568, 64)), $nonce . '00' x 32,
         'cpu_wrong_report_data');
    $q = quote_of($m->('cpu_address_nonce')->{json});
    (my $a = lc $ADDR) =~ s/^0x//;
    is(unpack('H*', substr($q, 568, 64)), $a . '00' x 12 . $nonce,
       'cpu_address_nonce: address || zeros || nonce');
    $q = quote_of($m->('cpu_other_root')->{json});
    isnt(norm_pem(pems($q)->[-1]), norm_pem(slurp($agent->cpu_root)),
         'cpu_other_root');
    $q = quote_of($m->('cpu_other_mrtd')->{json});
    isnt(unpack('H*', substr($q, 184, 48)), $info->{tdx_default_mrtd},
         'cpu_other_mrtd');
    is(unpack('v', quote_of($m->('cpu_v5')->{json})), 5, 'cpu_v5');
    is($m->('cpu_bad_signature')->{status}, 200, 'cpu_bad_signature');

    my $r = $m->('attest_garbage');
    ok($r->{status} == 200 && !$r->{json}, 'attest_garbage');
    $r = $m->('attest_oversize');
    ok(length($r->{content}) > 3_000_000, 'attest_oversize: > 3 MB');
    is($r->{json}{nonce}, $nonce, 'attest_oversize: still a report');

    my $t = time;
    $r = attest({nonce => $nonce}, {'X-Test-Mode' => 'attest_slow',
                                     'X-Test-Sleep' => '0.4'});
    ok(time - $t >= 0.4 && $r->{status} == 200, 'attest_slow');

    $j = $m->('wrong_nonce, gpu_absent')->{json};
    ok($j->{nonce} ne $nonce && $j->{gpu}{error}, 'two modes at once');
    $j = $m->('completion:wrong_nonce,attest:gpu_absent')->{json};
    ok($j->{nonce} eq $nonce && $j->{gpu}{error}, 'scoped modes');
};

subtest 'persistent modes (/_control)' => sub {
    my $nonce = random_hex(32);
    my $c = $agent->control(['wrong_nonce']);
    is_deeply($c->{modes}, ['wrong_nonce'], 'control answers the modes');
    isnt(attest({nonce => $nonce})->{json}{nonce}, $nonce, 'mode applied');
    my $j = attest({nonce => $nonce}, {'X-Test-Mode' => 'gpu_absent'})
        ->{json};
    ok($j->{nonce} ne $nonce && $j->{gpu}{error},
       'header modes add to persistent ones');
    $agent->control(['attest_slow'], {sleep => 0.3});
    my $t = time;
    attest({nonce => $nonce});
    ok(time - $t >= 0.3, 'persistent knob (X-Test-Sleep)');
    $agent->control([]);
    is(attest({nonce => $nonce})->{json}{nonce}, $nonce, 'cleared');
    is(post_json($agent->url('/_control'), '{"modes": "x"}')->{status},
       400, 'bad control body: 400');
};

my $REQ = '{"model":"m","messages":[{"role":"user","content":"hi"}],'
        . '"temperature":1,"max_tokens":5,"seed":7}';
my $REQ_COMPACT = '{"messages":[{"role":"user","content":"hi"}],'
        . '"model":"m","temperature":1.0,"max_tokens":5,"stream":false,'
        . '"seed":7}';

sub complete {
    my ($h, $body, $path) = @_;
    return post_json($agent->url($path // '/completion'), $body // $REQ,
                     $h);
}

subtest 'signed completion' => sub {
    my $r = complete();
    is($r->{status}, 200, 'status');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'type');
    my $h = $r->{headers};
    like($h->{text}, qr/^[0-9a-f]{64}:[0-9a-f]{64}$/, 'text format');
    is(req_hash($h->{text}), sha256_hex($REQ_COMPACT),
       'request_hash: declared fields, floats, stream default, extras');
    is(resp_hash($h->{text}), sha256_hex(compact($r->{content})),
       'response_hash = sha256(compacted body)');
    isnt(compact($r->{content}), $r->{content}, 'body is not compact');
    like($h->{signature}, qr/^0x[0-9a-f]{128}(1b|1c)$/, 'signature, v 27/28');
    is($h->{signing_address}, $ADDR, 'signing_address');
    is($h->{signing_algo}, 'ecdsa', 'signing_algo');
    is($h->{image_digest}, $info->{image_digest}, 'image_digest');
    unlike($r->{content}, qr/[^\x00-\x7f]/, 'body is ASCII (ensure_ascii)');
    like($r->{content}, qr/\\ud83d\\udc4b/, 'emoji as a surrogate pair');
    my $c = $r->{json}{choices}[0]{message}{content};
    like($c, qr/Gr\x{fc}\x{df}e \x{1F44B} \x{2014} \x{65e5}\x{672c}/,
         'content with non-ASCII and emoji');
    is($r->{json}{object}, 'chat.completion', 'object');
    push @RECOVER, [$h->{text}, $h->{signature}, $ADDR, 'default'];

    my $floats = '{"messages":[],"top_p":0.00001,"temperature":2.5e-1,'
               . '"n":2.0,"stream":false,"logprobs":false,'
               . '"presence_penalty":1e16,"stop":null}';
    $r = complete(undef, $floats);
    is(req_hash($r->{headers}{text}), sha256_hex(
        '{"messages":[],"temperature":0.25,"stream":false,"top_p":1e-05,'
        . '"presence_penalty":1e+16,"n":2,"logprobs":false}'),
       'request_hash: float repr, ints, nulls dropped');
    is(complete(undef, '{"messages":[],"temperature":"hot"}')->{status},
       422, 'uncoercible field: 422');
    is(complete(undef, '{"model":"m"}')->{status}, 422, 'no messages: 422');

    for my $p ('/v1/private/completions', '/v1/chat/completions') {
        $r = complete(undef, undef, $p);
        ok($r->{status} == 200 && $r->{headers}{signature}, "path $p");
    }
};

subtest 'completion modes' => sub {
    my $m = sub { complete({'X-Test-Mode' => $_[0], %{ $_[1] || {} }}) };
    my $r;
    for my $f (qw(text signature signing_address signing_algo)) {
        my $h = $m->("missing_$f")->{headers};
        ok(!exists $h->{$f} && exists $h->{signature} || $f eq 'signature'
           && !exists $h->{signature} && exists $h->{text},
           "missing_$f");
    }
    is($m->('algo_eddsa')->{headers}{signing_algo}, 'eddsa', 'algo_eddsa');
    like($m->('malformed_signature')->{headers}{signature},
         qr/^0x[0-9a-f]{128}$/, 'malformed_signature: 64 bytes');
    $r = $m->('sig_no_0x');
    like($r->{headers}{signature}, qr/^[0-9a-f]{130}$/, 'sig_no_0x');
    push @RECOVER, [$r->{headers}{text}, $r->{headers}{signature}, $ADDR,
                    'sig_no_0x'];
    $r = $m->('sig_v01');
    like($r->{headers}{signature}, qr/^0x[0-9a-f]{128}0[01]$/, 'sig_v01');
    push @RECOVER, [$r->{headers}{text}, $r->{headers}{signature}, $ADDR,
                    'sig_v01'];
    like($m->('text_malformed')->{headers}{text}, qr/^[0-9a-f]{128}$/,
         'text_malformed: no colon');

    $r = $m->('other_signer');
    is($r->{headers}{signing_address}, $info->{other_signing_address},
       'other_signer: its address');
    push @RECOVER, [$r->{headers}{text}, $r->{headers}{signature},
                    $info->{other_signing_address}, 'other_signer'];
    $r = $m->('sign_other_key_claim_attested');
    is($r->{headers}{signing_address}, $ADDR,
       'sign_other_key_claim_attested: claims ours');
    push @RECOVER, [$r->{headers}{text}, $r->{headers}{signature},
                    $info->{other_signing_address}, 'claim_attested'];
    is($m->('other_image_digest')->{headers}{image_digest},
       $info->{other_image_digest_header}, 'other_image_digest');
    is($m->('attest:other_image_digest')->{headers}{image_digest},
       $info->{image_digest}, 'attest: scope skips completions');
    is($m->('completion:algo_eddsa')->{headers}{signing_algo}, 'eddsa',
       'completion: scope');

    $r = $m->('tamper_body');
    isnt(resp_hash($r->{headers}{text}), sha256_hex(compact($r->{content})),
         'tamper_body: hash no longer matches');
    ok($r->{json}{choices}, 'tamper_body: still JSON');

    my $t = time;
    $r = $m->('slow', {'X-Test-Sleep' => 0.3});
    ok(time - $t >= 0.3 && $r->{status} == 200, 'slow');

    $r = $m->('status_500');
    ok($r->{status} == 500 && !$r->{headers}{signature} && $r->{json},
       'status_500: unsigned JSON error');
    is($m->('status_400')->{status}, 400, 'status_400');
    $r = $m->('garbage_body');
    ok($r->{status} == 200 && !$r->{json} && !$r->{headers}{text},
       'garbage_body');
    is($m->('spoof_status')->{headers}{'x-attestation-status'}, 'verified',
       'spoof_status');

    $r = $m->('gzip');
    is($r->{headers}{'content-encoding'}, 'gzip', 'gzip: encoded');
    my $plain;
    gunzip(\$r->{content} => \$plain) or diag $GunzipError;
    is(resp_hash($r->{headers}{text}), sha256_hex(compact($plain // '')),
       'gzip: signed over the decoded body');

    my $raw = raw_http($agent->port, "POST /completion HTTP/1.1\r\n"
        . "Host: x\r\nX-Test-Mode: chunked\r\nConnection: close\r\n"
        . "Content-Length: " . length($REQ) . "\r\n\r\n$REQ");
    my $p = parse_response($raw);
    ok($p->{chunked} && $p->{complete}, 'chunked: Transfer-Encoding');
    cmp_ok(scalar @{ $p->{chunks} }, '>', 10, 'chunked: many chunks');
    is(resp_hash($p->{headers}{text}), sha256_hex(compact($p->{body})),
       'chunked: body intact');

    $r = complete({'X-Test-Body-Size' => 1});
    is($r->{content}, '1', 'body size 1: the JSON number 1');
    is(resp_hash($r->{headers}{text}), sha256_hex('1'), 'and signed');
    $r = complete({'X-Test-Body-Size' => 5000});
    is(length $r->{content}, 5000, 'body size 5000');
    is(resp_hash($r->{headers}{text}), sha256_hex(compact($r->{content})),
       'padded body signed');
    $r = complete({'X-Test-Writes' => 9});
    is(resp_hash($r->{headers}{text}), sha256_hex(compact($r->{content})),
       'body in 9 writes');

    $raw = raw_http($agent->port, "POST /completion HTTP/1.0\r\n"
        . "Content-Length: " . length($REQ) . "\r\n\r\n$REQ");
    $p = parse_response($raw);
    ok($p->{status} == 200 && $p->{complete} && $p->{headers}{signature},
       'HTTP/1.0 client');

    my $one = "POST /completion HTTP/1.1\r\nHost: x\r\nContent-Length: "
            . length($REQ) . "\r\n";
    $raw = raw_http($agent->port, "$one\r\n$REQ$one"
                    . "Connection: close\r\n\r\n$REQ");
    my @st = $raw =~ m{HTTP/1\.1 (\d+) }g;
    is("@st", '200 200', 'keep-alive: two responses on one connection');
};

sub stream_req {
    my (%h) = @_;
    my $body = '{"model":"m","messages":[{"role":"user","content":"hi"}],'
             . '"stream":true}';
    my $hdr = join '', map { "$_: $h{$_}\r\n" } sort keys %h;
    return "POST /completion HTTP/1.1\r\nHost: x\r\n$hdr"
         . "Content-Length: " . length($body) . "\r\n"
         . "Connection: close\r\n\r\n$body";
}

my $STREAM_REQ_COMPACT = '{"messages":[{"role":"user","content":"hi"}],'
                       . '"model":"m","stream":true}';

sub stream {
    my $p = parse_response(raw_http($agent->port, stream_req(@_), 15));
    $p->{events} = parse_sse($p->{body});
    my $i = index($p->{body}, "event: signature");
    $p->{upstream} = $i < 0 ? $p->{body} : substr($p->{body}, 0, $i);
    my ($sig) = grep { ($_->{event} // '') eq 'signature' }
        @{ $p->{events} };
    $p->{sig} = $sig ? $JSON->decode($sig->{data}) : undef;
    $p->{kinds} = join ' ', map {
        ($_->{event} // '') eq 'signature' ? 'S'
            : ($_->{data} // '') eq '[DONE]' ? 'D' : 'd'
    } @{ $p->{events} };
    return $p;
}

subtest 'signed stream' => sub {
    my $p = stream();
    is($p->{status}, 200, 'status');
    like($p->{headers}{'content-type'}, qr{^text/event-stream}, 'type');
    ok($p->{chunked} && $p->{complete}, 'chunked and complete');
    is($p->{kinds}, 'd d d d d S D', '5 data events, signature, [DONE]');
    like($p->{body}, qr/data: \[DONE\]\n\n\z/, '[DONE] last');
    like($p->{body}, qr/^event: signature\ndata: \{"text": "/m,
         'signature event, default separators');
    my $s = $p->{sig};
    is_deeply([sort keys %$s], [sort qw(text signature signing_address
        signing_algo image_digest vllm)], 'signature event fields');
    is($s->{signing_address}, $ADDR, 'signing address');
    is(req_hash($s->{text}), sha256_hex($STREAM_REQ_COMPACT),
       'request_hash with stream true');
    is(resp_hash($s->{text}), stream_hash($p->{upstream}),
       'response_hash over the data lines');
    like($p->{body}, qr/\x{f0}\x{9f}\x{91}\x{8b}/, 'data lines raw UTF-8');
    my $d = $JSON->decode($p->{events}[0]{data});
    is($d->{object}, 'chat.completion.chunk', 'chunk object');
    is($d->{choices}[0]{delta}{role}, 'assistant', 'role first');
    push @RECOVER, [$s->{text}, $s->{signature}, $ADDR, 'stream'];

    $p = stream('X-Test-Stream-Events' => 3, 'X-Test-Event-Size' => 1000);
    is($p->{kinds}, 'd d d S D', 'X-Test-Stream-Events: 3');
    cmp_ok(length $p->{events}[0]{data}, '>=', 990, 'X-Test-Event-Size');
    is(resp_hash($p->{sig}{text}), stream_hash($p->{upstream}),
       'padded stream signed');

    $p = stream('X-Test-Mode' => 'crlf');
    ok($p->{body} =~ /\r\n\r\n/ && $p->{body} !~ /[^\r]\n/, 'crlf');
    is($p->{kinds}, 'd d d d d S D', 'crlf: events');
    is(resp_hash($p->{sig}{text}), stream_hash($p->{upstream}),
       'crlf: hash keeps the \r');

    $p = stream('X-Test-Mode' => 'sig_before_data');
    is($p->{kinds}, 'd d d S d d D', 'sig_before_data');
    is(resp_hash($p->{sig}{text}), stream_hash($p->{upstream}),
       'sig_before_data: signs only what precedes it');

    is(stream('X-Test-Mode' => 'stream_no_signature')->{kinds},
       'd d d d d D', 'stream_no_signature');
    $p = stream('X-Test-Mode' => 'stream_tamper');
    isnt(resp_hash($p->{sig}{text}), stream_hash($p->{upstream}),
         'stream_tamper');
    $p = stream('X-Test-Mode' => 'stream_cut');
    ok(!$p->{complete} && $p->{kinds} eq 'd d', 'stream_cut: no last chunk');
    is(stream('X-Test-Mode' => 'data_after_done')->{kinds},
       'd d d d d S D d', 'data_after_done');
    $p = stream('X-Test-Mode' => 'stream_other_signer');
    is($p->{sig}{signing_address}, $info->{other_signing_address},
       'stream_other_signer');
    push @RECOVER, [$p->{sig}{text}, $p->{sig}{signature},
                    $info->{other_signing_address}, 'stream_other_signer'];
    like(stream('X-Test-Mode' => 'stream_malformed_signature')
         ->{sig}{signature}, qr/^0x[0-9a-f]{128}$/,
         'stream_malformed_signature');
    ok(!exists stream('X-Test-Mode' => 'missing_signature')->{sig}{signature},
       'completion modes apply to the signature event');

    my $whole = stream()->{body};
    $p = stream('X-Test-Split-At' => 100);
    is_deeply([$p->{chunks}[0], scalar @{ $p->{chunks} }], [100, 2],
              'split_at 100: two chunks');
    is(length $p->{body}, length $whole, 'split_at: same stream');
    $p = stream('X-Test-Split-At' => 'all', 'X-Test-Stream-Events' => 1);
    ok(!grep({ $_ != 1 } @{ $p->{chunks} }) && $p->{kinds} eq 'd S D',
       'split_at all: one byte per chunk');

    my $raw = raw_http($agent->port, "POST /completion HTTP/1.0\r\n"
        . "Content-Length: 30\r\n\r\n" . '{"messages":[],"stream":true} ');
    $p = parse_response($raw);
    ok(!$p->{chunked} && $p->{body} =~ /data: \[DONE\]\n\n\z/,
       'HTTP/1.0: stream without chunking');
};

subtest 'gate' => sub {
    my $released;
    my $st = sse_read($agent->port, stream_req('X-Test-Gate' => 'g1'), undef,
        on_event => sub {
            my ($ev, $st) = @_;
            return if $released++;
            sleep 0.5;
            $agent->release('g1');
        });
    ok($st->{complete}, 'complete');
    is(scalar @{ $st->{events} }, 7, 'all events');
    cmp_ok($st->{times}[1] - $st->{times}[0], '>=', 0.45,
           'held until released');
    cmp_ok($st->{elapsed}, '<', 5, 'released, not timed out');
    my $n = 0;
    $st = sse_read($agent->port, stream_req(), sub { $n++ });
    ok($n >= 1 && $st->{complete} && @{ $st->{events} } == 7,
       'sse_read without a gate');
};

subtest 'robustness and stats' => sub {
    # a client that goes away mid-stream, and one mid-request
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $agent->port);
    print $s stream_req('X-Test-Gate' => 'g2');
    sysread($s, my $buf, 100);
    close $s;
    $agent->release('g2');
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => $agent->port);
    print $s "POST /completion HTTP/1.1\r\nContent-Length: 100\r\n\r\n{";
    close $s;
    sleep 0.2;
    is(http_get($agent->url('/_info'))->{status}, 200, 'agent survives');
    is(http_get($agent->url('/nope'))->{status}, 404, 'unknown path: 404');

    $agent->reset_stats;
    my $st = $agent->stats;
    is_deeply([@$st{qw(attestation completion stream)}], [0, 0, 0],
              'reset');
    my $nonce = random_hex(32);
    attest({nonce => $nonce}, {Authorization => 'Bearer k1'});
    complete();
    stream();
    $st = $agent->stats;
    is_deeply([@$st{qw(attestation completion stream)}], [1, 1, 1],
              'counted');
    is($st->{last_nonce}, $nonce, 'last nonce');
    is($st->{signing_address}, $ADDR, 'signing address');
    is_deeply([@{ $st->{requests} }[0 .. 2]],
              [qw(/attestation /completion /completion)], 'paths');
    is($st->{log}[0]{headers}{authorization}, 'Bearer k1',
       'request headers logged');
    complete() for 1 .. 21;
    is(scalar @{ $agent->stats->{requests} }, 20, 'last 20 kept');
};

subtest 'signatures recover to the claimed signer' => sub {
    my $in = $JSON->encode([map { [$_->[0], $_->[1]] } @RECOVER]);
    my $file = AttestTest::tmpdir() . '/recover.json';
    open my $fh, '>', $file or die;
    print $fh $in;
    close $fh;
    my $py = AttestTest::tmpdir() . '/recover.py';
    open $fh, '>', $py or die;
    print $fh $RECOVER_PY;
    close $fh;
    my $out = `/usr/bin/python3 $py < $file 2>&1`;
    my $got = eval { $JSON->decode($out) }
        or return fail("recovery script: $out");
    for my $i (0 .. $#RECOVER) {
        is(lc($got->[$i] // ''), lc $RECOVER[$i][2], "$RECOVER[$i][3]");
    }
};

subtest 'agent options' => sub {
    my $a2 = AttestTest::Agent->start(gpus => 0, no_cpu => 1,
                                      no_image_digest => 1);
    my $j = post_json($a2->url('/attestation'), {nonce => 'aa'})->{json};
    ok($j->{gpu}{error} && !exists $j->{gpu}{evidence_list},
       'gpus 0: gpu error shape');
    unlike($j->{cpu}{quote}, qr/^[0-9a-f]+$/, 'no_cpu: error sentence');
    ok(!exists $j->{image_digest}, 'no image digest');
    ok(!exists post_json($a2->url('/completion'), $REQ)->{headers}
       {image_digest}, 'no image_digest header');
    isnt($a2->info->{signing_address}, $ADDR, 'a fresh key per agent');
    my $pid = $a2->pid;
    $a2->stop;
    ok(!kill(0, $pid), 'stop ends the process');

    my $d = 'sha256:' . 'ab' x 32;
    my $a3 = AttestTest::Agent->start(gpus => 2, image_digest => $d,
                                      report_data => 'address_nonce');
    my $nonce = random_hex(32);
    $j = post_json($a3->url('/attestation'), {nonce => $nonce})->{json};
    is(scalar @{ $j->{gpu}{evidence_list} }, 2, 'gpus 2');
    is($j->{image_digest}, $d, 'image digest option');
    (my $a = lc $j->{signing_address}) =~ s/^0x//;
    is(unpack('H*', substr(quote_of($j), 568, 64)), $a . '00' x 12 . $nonce,
       'report_data address_nonce');
};

# --- nginx ---------------------------------------------------------------

(my $HTTP = $CONF) =~ s/%%AGENT%%/$agent->port/e;

subtest 'nginx' => sub {
    my $ngx = AttestTest::Nginx->start(no_module => 1, workers => 2,
                                       http => $HTTP);
    isnt($ngx->port, $ngx->port(2), 'two ports');
    like($ngx->conf, qr/worker_processes 2;/, 'workers');
    unlike($ngx->conf, qr/load_module/, 'no_module');
    my $r = post_json($ngx->url('/completion'), $REQ);
    ok($r->{status} == 200 && $r->{headers}{signature}, 'proxied');
    is(resp_hash($r->{headers}{text}), sha256_hex(compact($r->{content})),
       'body intact through nginx');
    is(http_get("http://127.0.0.1:" . $ngx->port(2) . "/")->{status}, 204,
       '%%PORT2%%');
    is(http_get("http://127.0.0.1:" . $ngx->port(2) . "/tmp")->{content},
       $ngx->prefix, '%%TMP%%');
    like($ngx->access_log, qr{"POST /completion HTTP/1\.1" 200}, 'access log');
    like($ngx->error_log, qr/start worker process/, 'error log');
    my @w = $ngx->worker_pids;
    is(scalar @w, 2, 'two workers');

    my $released;
    my $st = sse_read($ngx->port, stream_req('X-Test-Gate' => 'g3'), undef,
        on_event => sub {
            return if $released++;
            $agent->release('g3');
        });
    ok($st->{complete} && @{ $st->{events} } == 7,
       'stream through nginx, first event before the release');

    ok($ngx->reload, 'reload');
    my %old = map { $_ => 1 } @w;
    ok(scalar(grep { !$old{$_} } $ngx->worker_pids) >= 2, 'new workers');
    ok(!$ngx->reload(http => "bogus_directive on;\n$HTTP", timeout => 5),
       'reload with a broken config fails');
    is(post_json($ngx->url('/completion'), $REQ)->{status}, 200,
       'old config still serves');
    ok($ngx->reload(http => $HTTP), 'reload back');

    my $m = $ngx->master_pid;
    @w = $ngx->worker_pids;
    $ngx->stop;
    ok(!AttestTest::_alive($m) && !grep({ AttestTest::_alive($_) } @w),
       'stop: master and workers gone');
    ok(!AttestTest::port_open($ngx->port), 'port closed');

    my ($rc, $out) = nginx_test($HTTP, no_module => 1);
    is($rc, 0, 'nginx -t: ok config') or diag $out;
    ($rc, $out) = nginx_test("bogus_directive on;", no_module => 1);
    isnt($rc, 0, 'nginx -t: broken config');
    like($out, qr/unknown directive "bogus_directive"/, 'nginx -t output');
    ok(!eval { AttestTest::Nginx->start(no_module => 1,
                                        http => "bogus_directive on;") },
       'start with a broken config dies');
    like($@, qr/unknown directive/, 'with the reason');
  SKIP: {
        skip 'module not built', 1 unless module_built();
        my ($rc2, $out2) = nginx_test($HTTP);
        is($rc2, 0, 'nginx -t with the module loaded') or diag $out2;
    }
};

subtest 'nothing left behind' => sub {
    my $script = <<'EOF';
use lib 't/lib';
use Test::More;
use AttestTest;
my $a = AttestTest::Agent->start(gpus => 0, no_cpu => 1);
my $n = AttestTest::Nginx->start(no_module => 1,
    http => "server { listen 127.0.0.1:%%PORT%%; return 204; }");
$| = 1;
print join(' ', 'PIDS', AttestTest::tmpdir(), $a->pid, $n->master_pid,
           $n->worker_pids), "\n";
kill 'KILL', $$ if $ARGV[0] eq 'kill';
die "deliberate\n";
EOF
    for my $how (qw(die kill)) {
        my $pid = open(my $fh, '-|') // die "fork: $!";
        if (!$pid) {
            open STDERR, '>', '/dev/null';
            { exec $^X, '-e', $script, $how }
            POSIX::_exit(127);
        }
        my $line = <$fh> // '';
        close $fh;
        my ($tmp, @pids) = $line =~ /^PIDS (\S+) (.*)$/ ? ($1, split ' ', $2)
                                                         : ();
        is(scalar @pids, 3, "$how: agent, master, worker started");
        ok(wait_for(sub { !grep { AttestTest::_alive($_) } @pids }, 15),
           "$how: all gone");
        remove_tree($tmp) if $tmp && $how eq 'kill';
    }
};
