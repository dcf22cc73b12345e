#!/usr/bin/perl
# build/attest-verify, the verification core on the command line: signed
# responses (plain and streamed) fetched from the agent double, its
# attestation reports with and without evidence roots, and the real
# NVIDIA and Intel evidence of ../shared/testdata.  Exit 0 "verified",
# exit 1 "failed: <reason>", exit 2 on usage errors.

use strict;
use warnings;
use Test::More;

use File::Temp qw(tempdir);
use MIME::Base64 qw(decode_base64);

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf ();

my $CLI = repo() . '/build/attest-verify';
plan skip_all => 'build/attest-verify not built (make tool)' unless -x $CLI;
plan tests => 301;

my $agent = AttestTest::Agent->start();
my $info = $agent->info;
my $SIGNER = $info->{signing_address};

my $dir = tempdir('attest-cli-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $files = 0;

# writes $data to a new file in $dir and returns its path
sub spew {
    my ($name, $data) = @_;
    my $path = sprintf '%s/%02d-%s', $dir, ++$files, $name;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $data;
    close $fh;
    return $path;
}

# runs the tool: (exit code, stdout and stderr)
sub cli {
    my ($rc, $out) = AttestTest::run_cmd([$CLI, @_], timeout => 30);
    return ($rc, $out);
}

# one run, its exit code and a pattern its output must match
sub run_is {
    my ($label, $args, $want_rc, $want_out) = @_;
    my ($rc, $out) = cli(@$args);
    my $ok = is($rc, $want_rc, "$label: exit $want_rc");
    $ok = like($out, $want_out, "$label: output") && $ok if $want_out;
    diag("output:\n$out") unless $ok;
    return $out;
}

my $chat = {model => 'm', messages => [{role => 'user', content => 'hi'}]};

# A completion straight from the agent, as curl -D would save it: the raw
# head (status line and CRLF header lines) and the de-chunked body.
sub fetch_raw {
    my ($body, %h) = @_;
    my $json = encode_json($body);
    my $req = "POST /v1/chat/completions HTTP/1.1\r\n"
            . "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
            . 'Content-Length: ' . length($json) . "\r\n"
            . "Connection: close\r\n\r\n$json";
    my $raw = raw_http($agent->port, $req, 20);
    my $r = parse_response($raw);
    my $i = index($raw, "\r\n\r\n");
    return ($i < 0 ? '' : substr($raw, 0, $i + 4), $r);
}

# The same through HTTP::Tiny, headers written as "name: value" lines.
sub fetch_tiny {
    my ($body, %h) = @_;
    my $r = post_json($agent->url('/v1/chat/completions'), $body, \%h);
    my $head = '';
    for my $k (sort keys %{ $r->{headers} }) {
        my $v = $r->{headers}{$k};
        $head .= "$k: $_\n" for ref $v ? @$v : ($v);
    }
    return ($head, $r->{content}, $r);
}

# --- response: non-streamed -------------------------------------------

{
    my ($head, $r) = fetch_raw($chat);
    is($r->{status}, 200, 'agent: a signed completion');
    like($head, qr/^signature: 0x[0-9a-f]{130}\r$/m,
         'agent: it carries a signature header');
    my $h = spew('headers.txt', $head);
    my $b = spew('body.json', $r->{body});

    my $out = run_is('response, curl -D headers',
        ['response', '--signer', $SIGNER, '--headers', $h, '--body', $b],
        0, qr/^verified$/m);
    like($out, qr/signer is \Q$SIGNER\E/, 'response: names the signer');

    run_is('response, signer in lower case',
        ['response', '--signer', lc $SIGNER, '--headers', $h, '--body', $b],
        0, qr/^verified$/m);

    run_is('response, the attested image digest',
        ['response', '--signer', $SIGNER, '--headers', $h, '--body', $b,
         '--image-digest', $info->{default_image_digest}],
        0, qr/^verified$/m);

    run_is('response, another image digest',
        ['response', '--signer', $SIGNER, '--headers', $h, '--body', $b,
         '--image-digest', $info->{other_image_digest_attestation}],
        1, qr/^failed: image_digest_mismatch$/m);

    # one character of the content changed
    (my $tampered = $r->{body}) =~ s/done\./dune./ or die 'no "done."';
    run_is('response, tampered body',
        ['response', '--signer', $SIGNER, '--headers', $h,
         '--body', spew('tampered.json', $tampered)],
        1, qr/^failed: body_mismatch$/m);

    # the same object serialized compactly hashes the same
    (my $compact = $r->{body}) =~ s/", "/","/;
    isnt($compact, $r->{body}, 'a re-spaced body differs in bytes');
    run_is('response, re-spaced body',
        ['response', '--signer', $SIGNER, '--headers', $h,
         '--body', spew('respaced.json', $compact)],
        0, qr/^verified$/m);

    run_is('response, another signer',
        ['response', '--signer', $info->{other_signing_address},
         '--headers', $h, '--body', $b],
        1, qr/^failed: signer_not_attested$/m);

    # a signed text that the signature does not cover
    (my $bad_text = $head) =~ s/^(text: )([0-9a-f])/$1 . ($2 eq '0' ? '1' : '0')/me
        or die 'no text header';
    run_is('response, altered text header',
        ['response', '--signer', $SIGNER,
         '--headers', spew('bad-text.txt', $bad_text), '--body', $b],
        1, qr/^failed: signature_invalid$/m);

    (my $no_sig = $head) =~ s/^signature: .*\n//m or die 'no signature';
    run_is('response, no signature header',
        ['response', '--signer', $SIGNER,
         '--headers', spew('no-sig.txt', $no_sig), '--body', $b],
        1, qr/^failed: signature_missing$/m);
}

{
    my ($head, $body) = fetch_tiny($chat);
    unlike($head, qr/\r|HTTP\//, 'HTTP::Tiny headers: bare name: value lines');
    run_is('response, HTTP::Tiny headers',
        ['response', '--signer', $SIGNER,
         '--headers', spew('tiny-headers.txt', $head),
         '--body', spew('tiny-body.json', $body)],
        0, qr/^verified$/m);
}

# the agent misbehaving
for my $case (['tamper_body', 'body_mismatch'],
              ['other_signer', 'signer_not_attested'],
              ['sign_other_key_claim_attested', 'signature_invalid'],
              ['missing_signing_algo', 'signature_missing'],
              ['algo_eddsa', 'signing_algo_unsupported'],
              ['malformed_signature', 'signature_malformed'],
              ['sig_v01', undef],
              ['sig_no_0x', undef]) {
    my ($m, $reason) = @$case;
    my ($head, $r) = fetch_raw($chat, 'X-Test-Mode' => $m);
    my @args = ('response', '--signer', $SIGNER,
                '--headers', spew("$m.txt", $head),
                '--body', spew("$m.json", $r->{body}));
    if ($reason) {
        run_is("response, agent $m", \@args, 1, qr/^failed: $reason$/m);
    } else {
        run_is("response, agent $m", \@args, 0, qr/^verified$/m);
    }
}

# --- response: streamed -------------------------------------------------

{
    my $stream = {%$chat, stream => JSON::PP::true()};

    my ($head, $r) = fetch_raw($stream);
    like($head, qr/^Content-Type: text\/event-stream\r$/mi,
         'agent: a stream is text/event-stream');
    like($r->{body}, qr/^event: signature\ndata: \{/m,
         'agent: the stream carries a signature event');
    unlike($head, qr/^signature:/mi, 'agent: no signature header');
    my $h = spew('sse-headers.txt', $head);
    my $b = spew('sse-body.txt', $r->{body});

    run_is('response, stream',
        ['response', '--signer', $SIGNER, '--headers', $h, '--body', $b],
        0, qr/^verified$/m);

    run_is('response, stream, another signer',
        ['response', '--signer', $info->{other_signing_address},
         '--headers', $h, '--body', $b],
        1, qr/^failed: signer_not_attested$/m);

    # without a Content-Type the body's "data:" gives the stream away
    (my $no_ct = $head) =~ s/^Content-Type: .*\n//mi;
    run_is('response, stream without Content-Type',
        ['response', '--signer', $SIGNER,
         '--headers', spew('sse-no-ct.txt', $no_ct), '--body', $b],
        0, qr/^verified$/m);

    # one content character of the first chunk changed
    (my $tampered = $r->{body}) =~ s/"content":"G/"content":"X/
        or die 'no first chunk';
    run_is('response, tampered stream',
        ['response', '--signer', $SIGNER, '--headers', $h,
         '--body', spew('sse-tampered.txt', $tampered)],
        1, qr/^failed: body_mismatch$/m);

    # the stream cut before its end
    (my $cut = $r->{body}) =~ s/data: \[DONE\]\n\n\z//
        or die 'no [DONE] at the end';
    run_is('response, stream without [DONE]',
        ['response', '--signer', $SIGNER, '--headers', $h,
         '--body', spew('sse-cut.txt', $cut)],
        1, qr/^failed: stream_truncated$/m);

    # the core's verdict, as the module gives it: a second signature
    # event is no signature at all, and a stream cut inside a line with
    # none yet was cut, not unsigned
    (my $twice = $r->{body})
        =~ s/(event: signature\ndata: [^\n]*\n\n)/$1$1/ or die 'no sig';
    run_is('response, stream with the signature event twice',
        ['response', '--signer', $SIGNER, '--headers', $h,
         '--body', spew('sse-twice.txt', $twice)],
        1, qr/^failed: signature_malformed$/m);
    (my $mid = $r->{body}) =~ s/event: signature\n.*\z//s or die 'no sig';
    $mid =~ s/\n\n\z/\n\ndata: {"id"/;
    run_is('response, stream cut inside a line before its signature',
        ['response', '--signer', $SIGNER, '--headers', $h,
         '--body', spew('sse-mid.txt', $mid)],
        1, qr/^failed: stream_truncated$/m);

    for my $case (['stream_tamper', 'body_mismatch'],
                  ['stream_no_signature', 'stream_unsigned'],
                  ['stream_other_signer', 'signer_not_attested'],
                  ['sig_before_data', 'body_mismatch'],
                  ['crlf', undef]) {
        my ($m, $reason) = @$case;
        my ($sh, $sr) = fetch_raw($stream, 'X-Test-Mode' => $m,
                                  'X-Test-Stream-Events' => 7);
        my @args = ('response', '--signer', $SIGNER,
                    '--headers', spew("sse-$m.txt", $sh),
                    '--body', spew("sse-$m.body", $sr->{body}));
        if ($reason) {
            run_is("response, stream $m", \@args, 1,
                   qr/^failed: $reason$/m);
        } else {
            run_is("response, stream $m", \@args, 0, qr/^verified$/m);
        }
    }
}

# --- usage errors -------------------------------------------------------

{
    my ($head, $r) = fetch_raw($chat);
    my $h = spew('u-headers.txt', $head);
    my $b = spew('u-body.json', $r->{body});

    for my $case (
        ['no arguments', []],
        ['unknown command', ['verify']],
        ['response without --body',
         ['response', '--signer', $SIGNER, '--headers', $h]],
        ['response without --signer',
         ['response', '--headers', $h, '--body', $b]],
        ['response, --signer not an address',
         ['response', '--signer', '0x1234', '--headers', $h, '--body', $b]],
        ['response, an unknown option',
         ['response', '--signer', $SIGNER, '--headers', $h, '--body', $b,
          '--frobnicate', 'x']],
        ['response, a missing file',
         ['response', '--signer', $SIGNER, '--headers', "$dir/none",
          '--body', $b]],
        ['report without --nonce', ['report', $b]],
        ['report, a short nonce', ['report', '--nonce', 'abcd', $b]],
        ['gpu without --root',
         ['gpu', '--nonce', '00' x 32, $b, $b]],
        ['tdx without a quote',
         ['tdx', '--root', testdata() . '/intel/intel_sgx_root_ca.pem']],
        ['tdx, --mrtd not 48 bytes',
         ['tdx', '--root', testdata() . '/intel/intel_sgx_root_ca.pem',
          '--mrtd', 'abcd', testdata() . '/intel/tdx_quote_v4.bin']],
    ) {
        my ($label, $args) = @$case;
        my ($rc, $out) = cli(@$args);
        is($rc, 2, "usage: $label: exit 2") or diag($out);
        unlike($out, qr/^(verified|failed:)/m,
               "usage: $label: no verdict");
    }

    my ($rc, $out) = cli();
    like($out, qr/usage: .*response\|report\|pin\|gpu\|tdx/,
         'usage: the commands are listed');
    like($out, qr/attest-verify --help/, 'usage: points at --help');
}

# --- --help and --version -------------------------------------------------

# (exit code, stdout only, stderr only)
sub cli_split {
    my @q = map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } ($CLI, @_);
    my ($rc, $out) = AttestTest::run_cmd(['sh', '-c', "@q 2>/dev/null"]);
    my (undef, $err) = AttestTest::run_cmd(['sh', '-c', "@q 2>&1 >/dev/null"]);
    return ($rc, $out, $err);
}

for my $args (['--help'], ['-h'], ['help'], ['report', '--help'],
              ['pin', '--help']) {
    my ($rc, $out, $err) = cli_split(@$args);
    is($rc, 0, "@$args: exit 0");
    is($err, '', "@$args: nothing on stderr");
    like($out, qr/^commands:$/m, "@$args: the help on stdout");
    for my $cmd (qw(response report pin gpu tdx request)) {
        like($out, qr/^  $cmd /m, "@$args: documents $cmd");
    }
    like($out, qr/^input formats:$/m, "@$args: documents the input formats");
    like($out, qr/curl -D FILE/, "@$args: --headers as curl -D saves them");
    like($out, qr/event: signature/, "@$args: what a stream body holds");
    like($out, qr/POST \/v1\/private\/attestation/,
         "@$args: what a report file is");
}

{
    my ($ver) = slurp(repo() . '/src/core/attest_version.h')
        =~ /#define ATTEST_VERSION\s+"([^"]+)"/;
    like($ver, qr/^\d+\.\d+\.\d+$/, "the version is $ver");
    my ($rc, $out, $err) = cli_split('--version');
    is($rc, 0, '--version: exit 0');
    is($out, "attest-verify $ver (ngx_http_attest_module)\n",
       '--version: the version of attest_version.h, on stdout');
    like(slurp(repo() . '/CHANGELOG.md'), qr/^## (Unreleased|\Q$ver\E)/m,
         'CHANGELOG.md has an entry for it');

    ($rc, $out, $err) = cli_split('frobnicate');
    is($rc, 2, 'an unknown command: exit 2');
    is($out, '', 'an unknown command: nothing on stdout');
    like($err, qr/^usage: /, 'an unknown command: usage on stderr');
}

# --- report -------------------------------------------------------------

# an attestation report straight from the agent, for our nonce
sub fetch_report {
    my ($nonce, %h) = @_;
    my $r = post_json($agent->url('/attestation'),
                      {model_id => 'cli', nonce => $nonce}, \%h);
    die "attestation: $r->{status}\n" unless $r->{status} == 200;
    return $r;
}

my $NONCE = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
(my $OTHER = $NONCE) =~ s/^(.)/$1 eq 'f' ? 'e' : 'f'/e;
my $GPU_ROOT = $agent->gpu_root;
my $CPU_ROOT = $agent->cpu_root;
my $MRTD16 = substr($info->{tdx_default_mrtd}, 0, 16);

{
    my $r = fetch_report($NONCE);
    is($r->{json}{nonce}, $NONCE, 'agent: the report echoes our nonce');
    my $rep = spew('report.json', $r->{content});

    my $out = run_is('report', ['report', '--nonce', $NONCE, $rep],
                     0, qr/^verified$/m);
    like($out, qr/^signing_address: \Q$SIGNER\E$/m,
         'report: prints the signing address');
    like($out, qr/^image_digest: \Q$info->{default_image_digest}\E /m,
         'report: prints the image digest');
    like($out, qr/^gpu: off$/m, 'report: no --gpu-root, gpu off');
    like($out, qr/^cpu: off$/m, 'report: no --cpu-root, cpu off');

    run_is('report, 0x nonce', ['report', '--nonce', "0x$NONCE", $rep],
           0, qr/^verified$/m);

    run_is('report, another nonce', ['report', '--nonce', $OTHER, $rep],
           1, qr/^failed: nonce_mismatch$/m);

    $out = run_is('report with both roots',
        ['report', '--nonce', $NONCE, '--gpu-root', $GPU_ROOT,
         '--cpu-root', $CPU_ROOT, $rep],
        0, qr/^verified$/m);
    like($out,
         qr/^gpu: verified gpus=1 driver=550\.90\.07 vbios=96\.00\.9f\.00\.01$/m,
         'report: gpu verified');
    like($out, qr/^cpu: verified mrtd=\Q$MRTD16\E\.\.\.$/m,
         'report: cpu verified');
    like($out, qr/^mrtd: \Q$info->{tdx_default_mrtd}\E$/m,
         'report: the whole MRTD');
    for my $i (0 .. 3) {
        like($out, qr/^rtmr$i: \Q$info->{tdx_default_rtmr}[$i]\E$/m,
             "report: the whole RTMR$i");
    }
    like($out, qr/^binding: report$/m, 'report: bound by the report');

    $out = run_is('report with the GPU root only',
        ['report', '--nonce', $NONCE, '--gpu-root', $GPU_ROOT, $rep],
        0, qr/^gpu: verified gpus=1 /m);
    like($out, qr/^cpu: off$/m, 'report with the GPU root only: cpu off');

    run_is('report, the roots swapped',
        ['report', '--nonce', $NONCE, '--gpu-root', $CPU_ROOT, $rep],
        1, qr/^failed: gpu_evidence_invalid$/m);

    run_is('report, the real Intel root',
        ['report', '--nonce', $NONCE, '--cpu-root',
         testdata() . '/intel/intel_sgx_root_ca.pem', $rep],
        1, qr/^failed: cpu_quote_invalid$/m);

    run_is('report, address_nonce layout against a nonce quote',
        ['report', '--nonce', $NONCE, '--cpu-root', $CPU_ROOT,
         '--report-data', 'address_nonce', $rep],
        1, qr/^failed: report_data_mismatch$/m);

    run_is('report, the allowed image digest',
        ['report', '--nonce', $NONCE, '--image-digest',
         $info->{other_image_digest_header}, '--image-digest',
         $info->{default_image_digest}, $rep],
        0, qr/^image_digest: \Q$info->{default_image_digest}\E \(allowed\)$/m);

    run_is('report, another image digest',
        ['report', '--nonce', $NONCE, '--image-digest',
         $info->{other_image_digest_header}, $rep],
        1, qr/^failed: image_digest_not_allowed$/m);

    # a report that is not JSON
    run_is('report, not JSON',
        ['report', '--nonce', $NONCE, spew('garbage.json', "<html>\n")],
        1, qr/^failed: attestation_invalid$/m);

    # the GPU entry of the report, through the gpu command
    my $e = $r->{json}{gpu}{evidence_list}[0];
    run_is('gpu, an entry of the agent\'s report',
        ['gpu', '--nonce', $NONCE, '--root', $GPU_ROOT,
         spew('ev.b64', $e->{evidence}), spew('certs.b64', $e->{certificate})],
        0, qr/^driver: 550\.90\.07$/m);
    run_is('gpu, the entry as raw bytes and PEM',
        ['gpu', '--nonce', $NONCE, '--root', $GPU_ROOT,
         spew('ev.bin', decode_base64($e->{evidence})),
         spew('certs.pem', decode_base64($e->{certificate}))],
        0, qr/^verified$/m);

    # and its quote, through the tdx command
    my $q = spew('quote.hex', $r->{json}{cpu}{quote});
    $out = run_is('tdx, the quote of the agent\'s report',
        ['tdx', '--root', $CPU_ROOT, '--report-data', $NONCE, $q],
        0, qr/^mrtd: \Q$info->{tdx_default_mrtd}\E$/m);
    like($out, qr/^report_data: $NONCE(00){32}$/m,
         'tdx: report_data is the nonce and zeros');
    run_is('tdx, the agent\'s quote, another nonce',
        ['tdx', '--root', $CPU_ROOT, '--report-data', $OTHER, $q],
        1, qr/^failed: report_data_mismatch$/m);
}

# evidence spoiled by the agent, checked with the roots
for my $case (['gpu_bad_signature', 'gpu_evidence_invalid'],
              ['gpu_absent', 'gpu_evidence_missing'],
              ['cpu_bad_qe_signature', 'cpu_quote_invalid'],
              ['cpu_absent', 'cpu_quote_missing'],
              ['cpu_debug', 'debug_td'],
              ['cpu_wrong_report_data', 'report_data_mismatch']) {
    my ($m, $reason) = @$case;
    my $r = fetch_report($NONCE, 'X-Test-Mode' => $m);
    run_is("report, agent $m",
        ['report', '--nonce', $NONCE, '--gpu-root', $GPU_ROOT,
         '--cpu-root', $CPU_ROOT, spew("report-$m.json", $r->{content})],
        1, qr/^failed: $reason$/m);
}

{
    my $r = fetch_report($NONCE, 'X-Test-Mode' => 'cpu_address_nonce');
    my $rep = spew('report-an.json', $r->{content});
    my $out = run_is('report, address_nonce layout',
        ['report', '--nonce', $NONCE, '--cpu-root', $CPU_ROOT,
         '--report-data', 'address_nonce', $rep],
        0, qr/^verified$/m);
    like($out, qr/^binding: quote$/m, 'report: bound by the quote');
    run_is('report, nonce layout against an address_nonce quote',
        ['report', '--nonce', $NONCE, '--cpu-root', $CPU_ROOT, $rep],
        1, qr/^failed: report_data_mismatch$/m);
}

# --- pin -------------------------------------------------------------------

# the directives of pin's output: {name => [values]}, "attest_tdx_rtmr N"
# as the name of register N
sub pins {
    my ($out) = @_;
    my %p;
    (my $text = $out) =~ s/#.*$//mg;
    while ($text =~ /^(attest_\w+(?: \d)?)\s+([^;]*);/mg) {
        my ($name, $v) = ($1, $2);
        $p{$name} = [split ' ', $v];
    }
    return \%p;
}

my %PIN_REPORTS;

{
    my $r = fetch_report($NONCE);
    my $rep = spew('pin-report.json', $r->{content});
    $PIN_REPORTS{default} = $rep;
    my @roots = ('--gpu-root', $GPU_ROOT, '--cpu-root', $CPU_ROOT);

    my $out = run_is('pin, both roots',
        ['pin', '--nonce', $NONCE, @roots, $rep], 0, qr/^attest_/m);
    my $p = pins($out);
    is_deeply($p, {
        attest_image_digest => [$info->{default_image_digest}],
        attest_gpu_driver => ['550.90.07'],
        attest_gpu_vbios => ['96.00.9f.00.01'],
        attest_tdx_mrtd => [$info->{tdx_default_mrtd}],
        map { ("attest_tdx_rtmr $_" => [$info->{tdx_default_rtmr}[$_]]) }
            0 .. 3,
    }, 'pin: one line per directive, the verified values') or diag($out);
    like($out, qr/^#\s+signer \Q$SIGNER\E /m, 'pin: names the signer');
    like($out, qr/^# binding: report/m, 'pin: says the signer is not bound');
    unlike($out, qr/freshness was not checked/, 'pin: --nonce was checked');
    $PIN_REPORTS{out} = $out;

    $out = run_is('pin, the report\'s own nonce', ['pin', @roots, $rep],
                  0, qr/freshness was not checked/);
    is_deeply(pins($out), $p, 'pin: the same values without --nonce');

    $out = run_is('pin, no roots', ['pin', $rep], 0, qr/^attest_image_digest /m);
    is_deeply([sort keys %{ pins($out) }], ['attest_image_digest'],
              'pin, no roots: only the image digest') or diag($out);
    like($out, qr/^# GPU: no --gpu-root/m, 'pin, no roots: says why (GPU)');
    like($out, qr/^# TDX: no --cpu-root/m, 'pin, no roots: says why (TDX)');

    $out = run_is('pin, another nonce',
        ['pin', '--nonce', $OTHER, @roots, $rep], 1,
        qr/^failed: nonce_mismatch$/m);
    is_deeply(pins($out), {}, 'pin, another nonce: no directive printed');

    my $bad = fetch_report($NONCE, 'X-Test-Mode' => 'gpu_bad_signature');
    $out = run_is('pin, forged GPU evidence',
        ['pin', @roots, spew('pin-bad.json', $bad->{content})], 1,
        qr/^failed: gpu_evidence_invalid$/m);
    is_deeply(pins($out), {}, 'pin, forged evidence: no directive printed');

    # a fleet: two machines with different MRTDs give both values
    my $other = fetch_report($NONCE, 'X-Test-Mode' => 'cpu_other_mrtd');
    my $orep = spew('pin-other.json', $other->{content});
    $PIN_REPORTS{other} = $orep;
    $out = run_is('pin, two reports', ['pin', @roots, $rep, $orep], 0,
                  qr/^attest_tdx_mrtd$/m);
    is_deeply(pins($out)->{attest_tdx_mrtd},
              [$info->{tdx_default_mrtd}, '5a' x 48],
              'pin, two reports: both MRTDs, one per line') or diag($out);

    run_is('pin, --nonce with two reports',
           ['pin', '--nonce', $NONCE, @roots, $rep, $orep], 2, undef);
    run_is('pin, no report', ['pin', @roots], 2, undef);
    run_is('pin, an unknown option', ['pin', '--frob', 'x', $rep], 2, undef);
}

# the lines pin printed, pasted into a gateway: nginx -t takes them, the
# pinned machine verifies, the other MRTD does not
{
    my $pinned = join '', grep { !/^#/ } split /^/, $PIN_REPORTS{out};
    my $http = AttestConf::gateway($agent, loc_extra =>
        AttestConf::evidence($agent) . $pinned);
    my ($rc, $out) = nginx_test($http);
    is($rc, 0, 'pin\'s lines pass nginx -t') or diag("$out\n$pinned");

    my $ngx = AttestTest::Nginx->start(http => $http);
    my $r = AttestConf::ask_key($ngx, 'pinned');
    is($r->{status}, 200, 'pinned: the machine pin read verifies');
    is(AttestConf::verdict($r), 'verified', 'pinned: verified');
    $r = AttestConf::ask_key($ngx, 'pinned-other', 'cpu_other_mrtd');
    is($r->{status}, 502, 'pinned: another MRTD is rejected');
    is($r->{json} && $r->{json}{error}{code}, 'measurement_not_allowed',
       'pinned: measurement_not_allowed');
    $ngx->stop;
}

# --- gpu: the real H100 sample ---------------------------------------------

my $TD = testdata();
my $NV_NONCE =
    '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';
my $NV_ROOT = "$TD/nvidia/nvidia_device_identity_root.pem";
my $NV_EV = "$TD/nvidia/hopper_report.hex";
my $NV_CERTS = "$TD/nvidia/hopper_cert_chain.pem";

{
    my $out = run_is('gpu, the real H100 sample',
        ['gpu', '--nonce', $NV_NONCE, '--root', $NV_ROOT, $NV_EV, $NV_CERTS],
        0, qr/^verified$/m);
    like($out, qr/^driver: 550\.90\.07$/m, 'gpu: driver 550.90.07');
    like($out, qr/^vbios: 96\.00\.9f\.00\.01$/m, 'gpu: vbios 96.00.9f.00.01');
    like($out, qr/^fwid: [0-9a-f]{96}$/m, 'gpu: the sample has an FWID');

    (my $other = $NV_NONCE) =~ tr/0-9a-f/1-9a-f0/;
    $out = run_is('gpu, the real sample, another nonce',
        ['gpu', '--nonce', $other, '--root', $NV_ROOT, $NV_EV, $NV_CERTS],
        1, qr/^failed: gpu_evidence_invalid$/m);
    like($out, qr/^check: .*nonce/mi, 'gpu: another nonce: names the nonce');

    run_is('gpu, the real sample, pinned versions',
        ['gpu', '--nonce', $NV_NONCE, '--root', $NV_ROOT, '--driver',
         '550.90.07', '--vbios', '96.00.9f.00.01', $NV_EV, $NV_CERTS],
        0, qr/^verified$/m);
    run_is('gpu, the real sample, another driver pinned',
        ['gpu', '--nonce', $NV_NONCE, '--root', $NV_ROOT, '--driver',
         '535.104.05', $NV_EV, $NV_CERTS],
        1, qr/^failed: gpu_version_not_allowed$/m);

    run_is('gpu, the real sample, the Intel root',
        ['gpu', '--nonce', $NV_NONCE, '--root',
         "$TD/intel/intel_sgx_root_ca.pem", $NV_EV, $NV_CERTS],
        1, qr/^failed: gpu_evidence_invalid$/m);

    # the same bytes, raw instead of hex
    (my $hex = slurp($NV_EV)) =~ s/\s+//g;
    my $raw = pack 'H*', $hex;
    is(length $raw, 4117, 'the sample is 4117 bytes');
    run_is('gpu, the real sample as raw bytes',
        ['gpu', '--nonce', $NV_NONCE, '--root', $NV_ROOT,
         spew('hopper.bin', $raw), $NV_CERTS],
        0, qr/^verified$/m);

    # one byte of the measurement record changed (inside the signed range)
    my $bad = $raw;
    substr($bad, 37 + 8 + 10, 1) = chr(ord(substr($bad, 37 + 8 + 10, 1)) ^ 1);
    run_is('gpu, the real sample with a flipped byte',
        ['gpu', '--nonce', $NV_NONCE, '--root', $NV_ROOT,
         spew('hopper-bad.bin', $bad), $NV_CERTS],
        1, qr/^failed: gpu_evidence_invalid$/m);
}

# --- tdx: the real quote --------------------------------------------------

my $INTEL_ROOT = "$TD/intel/intel_sgx_root_ca.pem";
my $QUOTE = "$TD/intel/tdx_quote_v4.bin";
my $REAL_MRTD = '91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942'
              . 'a604a407de03ae6dc5f87f27428b2538873118b7';
my $REAL_RD = '9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d'
            . '35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e51'
            . '8fadb92c2b523f20';

{
    my $out = run_is('tdx, the real quote',
        ['tdx', '--root', $INTEL_ROOT, $QUOTE], 0, qr/^verified$/m);
    like($out, qr/^mrtd: 91eb2b44d1/m, 'tdx: mrtd 91eb2b44d1...');
    like($out, qr/^mrtd: $REAL_MRTD$/m, 'tdx: the whole MRTD');
    like($out, qr/^version: 4$/m, 'tdx: version 4');
    like($out, qr/^debug: no$/m, 'tdx: not a debug TD');
    like($out, qr/^report_data: $REAL_RD$/m, 'tdx: report_data');

    run_is('tdx, the real quote, its MRTD pinned',
        ['tdx', '--root', $INTEL_ROOT, '--mrtd', $REAL_MRTD, $QUOTE],
        0, qr/^verified$/m);

    (my $other = $REAL_MRTD) =~ s/^91/92/;
    run_is('tdx, the real quote, another MRTD',
        ['tdx', '--root', $INTEL_ROOT, '--mrtd', $other, $QUOTE],
        1, qr/^failed: measurement_not_allowed$/m);

    run_is('tdx, the real quote, its report_data',
        ['tdx', '--root', $INTEL_ROOT, '--report-data', $REAL_RD, $QUOTE],
        0, qr/^verified$/m);
    (my $other_rd = $REAL_RD) =~ s/^9a/9b/;
    run_is('tdx, the real quote, another report_data',
        ['tdx', '--root', $INTEL_ROOT, '--report-data', $other_rd, $QUOTE],
        1, qr/^failed: report_data_mismatch$/m);

    run_is('tdx, the real quote, the NVIDIA root',
        ['tdx', '--root', $NV_ROOT, $QUOTE],
        1, qr/^failed: cpu_quote_invalid$/m);

    # 2023-11-14: before the PCK leaf's notBefore (2025-02-06)
    run_is('tdx, the real quote, before its PCK leaf was valid',
        ['tdx', '--root', $INTEL_ROOT, '--time', 1700000000, $QUOTE],
        1, qr/^failed: cpu_quote_invalid$/m);

    my $bin = slurp($QUOTE);
    run_is('tdx, the real quote as hex',
        ['tdx', '--root', $INTEL_ROOT,
         spew('quote.hex', unpack('H*', $bin) . "\n")],
        0, qr/^mrtd: 91eb2b44d1/m);

    # one byte of the MRTD changed (signed by the quote signature)
    my $bad = $bin;
    substr($bad, 184, 1) = chr(ord(substr($bad, 184, 1)) ^ 1);
    run_is('tdx, the real quote with a flipped MRTD byte',
        ['tdx', '--root', $INTEL_ROOT, spew('quote-bad.bin', $bad)],
        1, qr/^failed: cpu_quote_invalid$/m);
}
