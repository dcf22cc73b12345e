#!/usr/bin/perl
# The adversarial suite, non-streamed answers (issues 13 and 15): a man in
# the middle (t/upstream/mitm.py) between nginx and the agent double bends
# real, honestly signed answers, and every case asserts what the client
# received: status, body, the verdict and how many verdicts.  Enforce and
# report mode, HTTP/1.1 (raw sockets) and HTTP/2 (curl, h2c), and the
# OpenAI Node SDK, which must raise on every bypass.
#
# Cases that main does not handle yet sit in TODO blocks naming their
# issue; the fixer removes the markers.  Streams: t/61-adversary-sse.t;
# the cache, the fetch and the zone: t/62-adversary-cache.t.
#
# proxy_cache hits (re-verified) and error_page are here too.
# Already covered elsewhere and not repeated here: gzip (t/10-gateway.t,
# body_encoded), chunked and one write per N bytes (t/10-gateway.t),
# spoofed X-Attestation-Status headers (t/10-gateway.t), attestation
# 500/garbage/oversize/cut (t/13-attestation.t), HTTP/2 streams
# (t/20-stream.t).

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(log_size log_line);
use AttestMitm;
use File::Spec;

plan skip_all => 'module not built (make)' unless module_built();

my $agent = AttestTest::Agent->start();
my $mitm = AttestMitm->start($agent);
my $signer = $agent->info->{signing_address};

my %ngx;
for my $mode (qw(enforce report)) {
    $ngx{$mode} = AttestTest::Nginx->start(
        http => AttestMitm::gateway($agent, $mitm, mode => $mode));
}

my $CHAT = encode_json({model => 'm',
                        messages => [{role => 'user', content => 'hi'}]});

# one raw HTTP/1.1 request; returns parse_response's fields plus {raw}
# and {log} (the attest access log line of the request)
sub ask {
    my ($ngx, %o) = @_;
    my $body = $o{body} // $CHAT;
    my $method = $o{method} // 'POST';
    my %h = ('X-Model-Id' => $o{key} // 'k', %{ $o{headers} || {} });
    $h{'X-Mitm'} = $o{mitm} if $o{mitm};
    my $req = "$method /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    my $off = log_size($ngx);
    my $raw = raw_http($ngx->port, "$req\r\n$body", 10);
    my $r = parse_response($raw);
    $r->{raw} = $raw;
    $r->{log} = log_line($ngx, $off);
    return $r;
}

sub verdict_list { join ' | ', AttestMitm::verdicts($_[0]) }

sub error_code {
    my ($r) = @_;
    my $e = eval { decode_json($r->{body}) } // {};
    return ref $e eq 'HASH' && ref $e->{error} eq 'HASH'
        ? $e->{error}{code} // '' : '';
}

# the enforce-mode answer to a bypass: the 502 error with $reason, one
# verdict saying so, nothing of the bent answer
sub is_refused {
    my ($r, $reason, $label) = @_;
    is($r->{status}, 502, "$label: 502");
    is(verdict_list($r), "failed; reason=$reason",
       "$label: exactly one verdict, failed $reason");
    is(error_code($r), $reason, "$label: the error body names $reason");
    unlike($r->{raw}, qr/ALTERED|FORGED|UNATTESTED|chat\.completion|"nonce"/,
           "$label: nothing of the upstream's answer reaches the client");
    like($r->{log}, qr/^502 failed \Q$reason\E /,
         "$label: the access log says $reason");
}

# what must hold today too: never a verified verdict on bent content
sub never_verified_bent {
    my ($r, $label) = @_;
    ok(!($r->{raw} =~ /ALTERED|FORGED|UNATTESTED/
         && $r->{raw} =~ /X-Attestation-Status: verified/i),
       "$label: bent content never goes out as verified");
}

# ---------------------------------------------------------------------
# the honest path through the mitm

for my $mode (qw(enforce report)) {
    my $r = ask($ngx{$mode});
    is($r->{status}, 200, "$mode: passthrough 200");
    is(verdict_list($r), 'verified', "$mode: passthrough: one verdict, "
       . 'verified');
    like($r->{body}, qr/"chat\.completion"/, "$mode: the completion");
    like($r->{log}, qr/^200 verified - key=k signer=\Q$signer\E$/i,
         "$mode: access log");
    my $b = ask($ngx{$mode}, mitm => 'alter');
    is($b->{status}, $mode eq 'enforce' ? 502 : 200,
       "$mode: altered body: status");
    is(verdict_list($b), 'failed; reason=body_mismatch',
       "$mode: altered body: one verdict, body_mismatch");
}

# ---------------------------------------------------------------------
# issue 13 items 1 and 2: another 2xx or a 3xx with an altered body; 206
# to a client's Range

my @STATUS = (
    ['status=201,alter', {}],
    ['status=203,alter', {}],
    ['status=299,alter', {}],
    ['status=206,alter,hdr=Content-Range: bytes 0-99/600',
     {Range => 'bytes=0-99'}],
    ['status=307,location=http://127.0.0.1:1/evil,alter', {}],
    ['status=302,location=/v1/models,alter', {}],
);

for my $c (@STATUS) {
    my ($bend, $h) = @$c;
    (my $code) = $bend =~ /status=(\d+)/;
    my $r = ask($ngx{enforce}, mitm => $bend, headers => $h);
    never_verified_bent($r, "enforce: $code");
    {
        is_refused($r, 'upstream_status_unexpected', "enforce: $code");
    }
    my $p = ask($ngx{report}, mitm => $bend, headers => $h);
    is($p->{status}, $code, "report: $code passes");
    is(verdict_list($p), 'unverified; reason=upstream_status',
       "report: $code: one verdict, unverified upstream_status");
}

# 4xx and 5xx carry the upstream's error, not output: they pass, marked

for my $mode (qw(enforce report)) {
    for my $code (404, 503) {
        my $r = ask($ngx{$mode}, mitm => "status=$code");
        is($r->{status}, $code, "$mode: $code passes");
        is(verdict_list($r), 'unverified; reason=upstream_status',
           "$mode: $code: one verdict, unverified upstream_status");
    }
}

# ---------------------------------------------------------------------
# issue 15 item 1: a 1xx status, with and without a whole response
# smuggled as its body

for my $code (100, 102, 103) {
    for my $bend ("status=$code,smuggle", "status=$code,alter") {
        my $r = ask($ngx{enforce}, mitm => $bend);
        if ($bend =~ /smuggle/) {
            {
                never_verified_bent($r, "enforce: $bend");
            }
        } else {
            never_verified_bent($r, "enforce: $bend");
        }
        {
            is_refused($r, 'upstream_status_unexpected', "enforce: $bend");
            unlike($r->{raw}, qr/^HTTP\/1\.1 1\d\d/,
                   "enforce: $bend: no 1xx status line to the client");
        }
        my $p = ask($ngx{report}, mitm => $bend);
        unlike($p->{raw}, qr/X-Attestation-Status: verified/i,
               "report: $bend: no forged verified verdict")
            if $bend !~ /smuggle/;
        {
            unlike($p->{raw}, qr/X-Attestation-Status: verified/i,
                   "report: $bend: no forged verified verdict")
                if $bend =~ /smuggle/;
            unlike($p->{raw}, qr/\AHTTP\/1\.1 1\d\d .*?\r\n\r\n./s,
                   "report: $bend: no 1xx with a body to the client");
        }
    }
}

# ---------------------------------------------------------------------
# issue 15 item 2: nginx's HTTP/0.9 fallback sends the upstream's bytes
# verbatim, with no status line of ours

for my $mode (qw(enforce report)) {
    for my $bend ('http09=crlf,alter,hdr=X-Attestation-Status: verified',
                  'http09=tab,alter', 'http09=nostatus,alter') {
        my ($how) = $bend =~ /http09=(\w+)/;
        my $r = ask($ngx{$mode}, mitm => $bend);
        {
            unlike($r->{raw}, qr/ALTERED|X-Attestation-Status: verified/i,
                   "$mode: http09 $how: not one byte of it sent");
            ok($r->{raw} eq '' || $r->{raw} =~ /^HTTP\/1\.1 5\d\d /,
               "$mode: http09 $how: nothing, or an error status line");
            like($r->{log}, qr/ failed upstream_http09 /,
                 "$mode: http09 $how: access log upstream_http09");
        }
    }
}

# ---------------------------------------------------------------------
# issue 13 item 3: X-Accel-Redirect out of the attested location

for my $target ('/unattested/x', '/v1/models', '/_attestation') {
    my $r = ask($ngx{enforce}, mitm => "accel=$target");
    {
        is_refused($r, 'internal_redirect', "enforce: accel $target");
    }
    my $p = ask($ngx{report}, mitm => "accel=$target");
    {
        is(verdict_list($p), 'failed; reason=internal_redirect',
           "report: accel $target: one verdict, internal_redirect");
    }
}

# the other X-Accel-* headers change how, not what: still verified, intact

for my $h ('X-Accel-Buffering: no', 'X-Accel-Limit-Rate: 1000000',
           'X-Accel-Expires: 0', 'X-Accel-Charset: koi8-r') {
    my $r = ask($ngx{enforce}, mitm => "hdr=$h");
    is($r->{status}, 200, "enforce: $h: 200");
    is(verdict_list($r), 'verified', "enforce: $h: verified");
    like($r->{body}, qr/Gr\\u00fc\\u00dfe/, "enforce: $h: content intact");
    my $b = ask($ngx{enforce}, mitm => "hdr=$h,alter");
    is_refused($b, 'body_mismatch', "enforce: $h, altered");
}

# ---------------------------------------------------------------------
# issue 13 item 6: every Content-Encoding header is checked

for my $mode (qw(enforce report)) {
    my $r = ask($ngx{$mode}, mitm => 'dup_ce');
    is($r->{status}, $mode eq 'enforce' ? 502 : 200,
       "$mode: gzip then identity: status");
    isnt(verdict_list($r), 'verified', "$mode: gzip then identity: not "
         . 'verified');
    {
        is(verdict_list($r), 'failed; reason=body_encoded',
           "$mode: gzip then identity: body_encoded");
    }
}

# issue 13 item 6: attest_key values over 256 bytes

{
    my $before = $agent->stats->{attestation};
    my $r = ask($ngx{enforce}, key => 'K' x 300);
    my $fetched = $agent->stats->{attestation} - $before;
    {
        is_refused($r, 'key_too_long', 'enforce: a 300-byte key');
        is($fetched, 0, 'enforce: a 300-byte key: no fetch');
    }
    my $ok = ask($ngx{enforce}, key => 'L' x 256);
    is(verdict_list($ok), 'verified', 'enforce: a 256-byte key verifies');
}

# ---------------------------------------------------------------------
# request binding: an answer signed for another prompt

for my $mode (qw(enforce report)) {
    my $r = ask($ngx{$mode}, mitm => 'rewrite_prompt');
    my $seen = (grep { $_->{kind} eq 'completion' } @{ $mitm->requests })[-1];
    ok($seen && grep({ $_ eq 'rewrite_prompt' } @{ $seen->{bends} }),
       "$mode: the mitm rewrote the prompt");
    is(verdict_list($r), 'failed; reason=request_mismatch',
       "$mode: rewritten prompt: request_mismatch");
    is($r->{status}, 502, "$mode: rewritten prompt: 502")
        if $mode eq 'enforce';
    is($r->{status}, 200, "$mode: rewritten prompt: passes")
        if $mode eq 'report';

    ask($ngx{$mode}, body => encode_json({model => 'm', messages =>
        [{role => 'user', content => 'first prompt'}]}));
    my $p = ask($ngx{$mode}, mitm => 'replay', body => encode_json(
        {model => 'm', messages => [{role => 'user',
                                     content => 'second prompt'}]}));
    is(verdict_list($p), 'failed; reason=request_mismatch',
       "$mode: replayed answer: request_mismatch");
}

# ---------------------------------------------------------------------
# what must stay correct (issue 13's list; the rest is in the files
# named at the top)

{
    my $e = $ngx{enforce};

    # HEAD: the agent has no HEAD route (501): passes, unverified
    my $r = ask($e, method => 'HEAD');
    isnt($r->{status}, 200, 'HEAD: not a 200');
    isnt(verdict_list($r), 'verified', 'HEAD: not verified');
    is($r->{body}, '', 'HEAD: no body');

    # Range with an upstream 200: the whole verified answer
    $r = ask($e, headers => {Range => 'bytes=0-9'});
    is($r->{status}, 200, 'Range, upstream 200: 200');
    is(verdict_list($r), 'verified', 'Range, upstream 200: verified');
    like($r->{body}, qr/^\{.*\}\z/s, 'Range, upstream 200: whole body');

    # a conditional request: nginx's 304 carries no content
    for my $bend ('hdr=ETag: "e1",hdr=Last-Modified: Thu, 01 Jan 2026 '
                  . '00:00:00 GMT', 'hdr=ETag: "e1",alter') {
        $r = ask($e, mitm => $bend, headers => {'If-None-Match' => '"e1"'});
        ok(($r->{status} == 304 && $r->{body} eq '')
           || ($r->{status} == 200 && verdict_list($r) eq 'verified'
               && $r->{body} !~ /ALTERED/)
           || ($r->{status} == 502 && $bend =~ /alter/),
           "If-None-Match, $bend: 304 without a body, or the verdict")
            or diag "status $r->{status}: " . verdict_list($r);
    }

    # duplicate signature headers: the first is checked
    $r = ask($e, mitm => 'dup_sig');
    is(verdict_list($r), 'verified', 'two Signature headers, real first: '
       . 'verified');
    $r = ask($e, mitm => 'dup_sig_rev');
    is($r->{status}, 502, 'two Signature headers, bogus first: 502');
    like(verdict_list($r), qr/^failed; reason=signature_(invalid|malformed)$/,
         'two Signature headers, bogus first: one verdict, signature');

    # mixed-case header names
    $r = ask($e, mitm => 'mixed_case');
    is(verdict_list($r), 'verified', 'mixed-case header names: verified');
    $r = ask($e, mitm => 'mixed_case,alter');
    is(verdict_list($r), 'failed; reason=body_mismatch',
       'mixed-case header names, altered: body_mismatch');

    # chunked with trailers
    $r = ask($e, mitm => 'chunked,trailers');
    is($r->{status}, 200, 'chunked with trailers: 200');
    is(verdict_list($r), 'verified', 'chunked with trailers: verified');
    $r = ask($e, mitm => 'chunked,trailers,alter');
    is_refused($r, 'body_mismatch', 'chunked with trailers, altered');

    # Content-Length too long (the upstream closes early) or too short
    $r = ask($e, mitm => 'cl_long');
    isnt(verdict_list($r), 'verified', 'Content-Length too long: not '
         . 'verified');
    ok(($r->{status} // 0) != 200 || !$r->{complete},
       'Content-Length too long: no complete 200');
    $r = ask($e, mitm => 'cl_short');
    is($r->{status}, 502, 'Content-Length too short: 502');
    is(verdict_list($r), 'failed; reason=body_mismatch',
       'Content-Length too short: body_mismatch');

    # an empty body
    $r = ask($e, mitm => 'empty');
    is($r->{status}, 502, 'empty body: 502');
    like(verdict_list($r), qr/^failed; reason=\w+$/, 'empty body: one '
         . 'failed verdict');

    # one byte per write
    $r = ask($e, mitm => 'bytewise');
    is(verdict_list($r), 'verified', 'one byte per write: verified');
    $r = ask($e, mitm => 'bytewise,alter');
    is_refused($r, 'body_mismatch', 'one byte per write, altered');
}

# proxy_cache hits are verified again; error_page never brings the
# answer back

{
    my $c = AttestTest::Nginx->start(http => AttestMitm::gateway(
        $agent, $mitm, buffering => 'on',
        http_extra => 'proxy_cache_path %%TMP%%/cache keys_zone=c:1m;',
        loc_extra => 'proxy_cache c; proxy_cache_valid 200 10m; '
                   . 'proxy_cache_methods POST; '
                   . 'proxy_cache_key "$request_body$http_x_mitm"; '
                   . 'add_header X-Cache $upstream_cache_status always; '
                   . 'error_page 502 /oops;',
        server_extra => 'location = /oops { internal; '
                      . 'return 503 \'{"error":"oops"}\'; }'));
    for my $bend ('', 'alter') {
        my $label = 'proxy_cache' . ($bend ? ", $bend" : '');
        my $want = $bend ? 'failed; reason=body_mismatch' : 'verified';
        my @r = map { ask($c, mitm => $bend) } 1 .. 2;
        is($r[1]{headers}{'x-cache'} // '', 'HIT', "$label: a cache hit");
        for my $i (0, 1) {
            is(verdict_list($r[$i]), $want, "$label: request $i: $want");
            unlike($r[$i]{body}, qr/ALTERED/,
                   "$label: request $i: nothing altered goes out");
        }
        if ($bend) {
            isnt($r[1]{status}, 200, "$label: error_page: no 200");
            unlike($r[1]{body}, qr/chat\.completion/,
                   "$label: error_page: no completion");
        }
    }
}

# ---------------------------------------------------------------------
# HTTP/2 (h2c, curl --http2-prior-knowledge)

SKIP: {
    my $v = `curl --version 2>/dev/null` // '';
    skip 'curl without HTTP/2', 1 unless $v =~ /\bHTTP2\b/;

    my %h2;
    for my $mode (qw(enforce report)) {
        $h2{$mode} = AttestTest::Nginx->start(http => AttestMitm::gateway(
            $agent, $mitm, mode => $mode, http2 => 1));
    }

    my $h2ask = sub {
        my ($ngx, $bend) = @_;
        my $url = $ngx->url('/v1/chat/completions');
        my $out = `curl -s -i --max-time 10 --http2-prior-knowledge \\
            -X POST '$url' -H 'X-Model-Id: k' -H 'X-Mitm: $bend' \\
            -H 'Content-Type: application/json' -d '$CHAT' 2>&1`;
        my ($status) = $out =~ /^HTTP\/2 (\d+)/m;
        my @v = $out =~ /^x-attestation-status: ([^\r\n]*)/mgi;
        return {out => $out, status => $status // 0, verdicts => "@v"};
    };

    for my $mode (qw(enforce report)) {
        my $r = $h2ask->($h2{$mode}, '');
        is($r->{status}, 200, "h2 $mode: passthrough 200");
        is($r->{verdicts}, 'verified', "h2 $mode: one verdict, verified");
        $r = $h2ask->($h2{$mode}, 'alter');
        is($r->{verdicts}, 'failed; reason=body_mismatch',
           "h2 $mode: altered: body_mismatch");
    }

    for my $bend ('status=203,alter', 'status=103,smuggle',
                  'http09=crlf,alter', 'accel=/unattested/x') {
        my $r = $h2ask->($h2{enforce}, $bend);
        my $clean = sub {
            unlike($r->{out}, qr/ALTERED|FORGED|UNATTESTED|chat\.completion/,
                   "h2 enforce: $bend: nothing of the answer reaches the "
                   . 'client');
        };
        # HTTP/2 frames cannot carry a 1xx body: nothing goes out today
        $clean->() if $bend =~ /smuggle/;
        {
            is($r->{status}, 502, "h2 enforce: $bend: 502");
            $clean->() unless $bend =~ /smuggle/;
            like($r->{verdicts}, qr/^failed; reason=\w+$/,
                 "h2 enforce: $bend: one failed verdict");
        }
    }
}

# printable ASCII of a string, for diag
sub ascii { my ($s) = @_; $s =~ s/[^\x20-\x7e]/?/g; return $s }

# ---------------------------------------------------------------------
# the OpenAI Node SDK raises on every bypass (t/node/chat.mjs)

my $NODE = $ENV{NODE} || (grep { -x } map { File::Spec->catfile($_, 'node') }
                          File::Spec->path())[0];
SKIP: {
    skip 'node or the OpenAI SDK is missing (make node-deps)', 1
        unless $NODE && -x $NODE
            && -f repo() . '/t/node/node_modules/openai/package.json';

    my $base = 'http://127.0.0.1:' . $ngx{enforce}->port . '/v1';
    my $sdk = sub {
        my ($bend, @h) = @_;
        my $o = ref $h[-1] eq 'HASH' ? pop @h : {};
        my @args = ($NODE, repo() . '/t/node/chat.mjs', $base, 'complete',
                    '--header', 'X-Model-Id: k');
        push @args, '--header', "X-Mitm: $bend" if $bend;
        push @args, '--header', $_ for @h;
        push @args, '--retries', $o->{retries} if $o->{retries};
        my ($rc, $out) = AttestTest::run_cmd(\@args, timeout => 30);
        my ($line) = grep { /^\{/ } reverse split /\n/, $out;
        return ($line && eval { decode_json($line) })
            || {ok => 0, error => {name => "exit $rc"}, content => ''};
    };

    my $r = $sdk->('');
    ok($r->{ok}, 'SDK: passthrough: no error');
    like($r->{attestation} // '', qr/^verified/, 'SDK: passthrough: '
         . 'verified');

    # raise today
    for my $bend ('alter', 'dup_sig_rev', 'cl_short') {
        my $r = $sdk->($bend);
        ok(!$r->{ok}, "SDK: $bend: raises");
    }

    my @BYPASS = ('status=201,alter', 'status=203,alter', 'status=299,alter',
                  'status=307,location=http://127.0.0.1:1/evil,alter',
                  'status=100,smuggle', 'status=103,smuggle',
                  'status=103,alter',
                  'http09=crlf,alter,hdr=X-Attestation-Status: verified',
                  'http09=tab,alter', 'accel=/unattested/x',
                  'accel=/v1/models', 'accel=/_attestation',
                  'rewrite_prompt', 'dup_ce');
    for my $bend (@BYPASS) {
        my $r = $sdk->($bend);
        my $raises = sub {
            ok(!$r->{ok} && $r->{error}{api_error},
               "SDK: $bend: raises an APIError")
                or diag "SDK: $bend: " . ($r->{ok} ? "content "
                    . ascii(substr($r->{content} // "", 0, 40))
                    : "error $r->{error}{name}");
        };
        $raises->();
        ok(!($r->{ok} && ($r->{content} // '') =~ /ALTERED|FORGED/
             && ($r->{attestation} // '') =~ /^verified/),
           "SDK: $bend: never altered content marked verified");
    }

    # issue 14 item 4: our 502 says x-should-retry: false, so an SDK that
    # retries (maxRetries 2) asks the upstream once; an upstream's 503
    # (no such header) is retried, which shows the count can tell
    my $completions = sub {
        scalar grep { $_->{kind} eq 'completion' } @{ $mitm->requests };
    };
    for my $c (['alter', 1], ['status=503', 3]) {
        my ($bend, $want) = @$c;
        $mitm->reset;
        my $r = $sdk->($bend, {retries => 2});
        ok(!$r->{ok}, "SDK, 2 retries: $bend: raises");
        is($completions->(), $want, "SDK, 2 retries: $bend: $want upstream "
           . 'completion' . ($want > 1 ? 's' : ''));
    }
    $r = $sdk->('status=206,alter,hdr=Content-Range: bytes 0-99/600',
                'Range: bytes=0-99');
    {
        ok(!$r->{ok} && $r->{error}{api_error},
           'SDK: 206 to a Range: raises an APIError');
    }
}

unlike($ngx{enforce}->error_log, qr/\[(alert|crit|emerg)\]|signal \d+/,
       'enforce: no alert or crash in the error log');
unlike($ngx{report}->error_log, qr/\[(alert|crit|emerg)\]|signal \d+/,
       'report: no alert or crash in the error log');

done_testing();
