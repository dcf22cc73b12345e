#!/usr/bin/perl
# The gateway, non-streaming: verified responses, every response-side
# failure reason in both modes, the enforce-mode error body, non-200
# pass-through, spoofed verdict headers, and body sizes from one byte to
# proxy temp files.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(verdict);

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 189;

# this file's nginx config, as every gateway here runs it;
# AttestConf::fill puts in the agent's port and the %%NAMES%% a test
# varies (defaults: zone ionet:1m, ttl 5m, buffering off, fetch buffer
# 512k, mode enforce, no extra lines)
my $CONF = <<'NGINX';
    log_format attest '$status $attest_status $attest_reason '
                      'key=$attest_key signer=$attest_signing_address '
                      'digest=$attest_image_digest age=$attest_age '
                      'gpu="$attest_gpu" cpu="$attest_cpu" '
                      'binding=$attest_binding';
    access_log %%TMP%%/logs/attest.log attest;

    attest_zone zone=%%ZONE%%;
    upstream backend { server 127.0.0.1:%%AGENT%%; keepalive 8; }
    %%HTTP_EXTRA%%

    server {
        listen 127.0.0.1:%%PORT%%;
        %%SERVER_EXTRA%%

        location /v1/ {
            attest zone=%%ZONE_NAME%%%%MODE%%;
            attest_key $http_x_model_id;
            attest_fetch /_attestation;
            attest_ttl %%TTL%%;
            %%LOC_EXTRA%%

            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering %%BUFFERING%%;
        }

        location /plain/ {
            proxy_pass http://backend/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location = /_attestation {
            internal;
            subrequest_output_buffer_size %%FETCH_BUFFER%%;
            proxy_pass http://backend/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"$attest_key","nonce":"$attest_nonce"}';
        }
    }
NGINX

my $agent = AttestTest::Agent->start();

my %ngx;
for my $mode (qw(enforce report)) {
    $ngx{$mode} = AttestTest::Nginx->start(
        http => AttestConf::fill($CONF, $agent, mode => $mode));
}

my $chat = {model => 'm', messages => [{role => 'user', content => 'hi'}]};

sub ask {
    my ($mode, %h) = @_;
    my $body = delete $h{body} // $chat;
    return post_json($ngx{$mode}->url('/v1/chat/completions'), $body, \%h);
}

# verified, both modes

for my $mode (qw(enforce report)) {
    my $r = ask($mode);
    is($r->{status}, 200, "$mode: verified response passes");
    is(verdict($r), 'verified', "$mode: verdict header says verified");
    like($r->{content}, qr/\\u00fc/, "$mode: body unchanged (ensure_ascii)");
    ok($r->{headers}{signature}, "$mode: signature header passes on");
}

# v and prefix variants of a good signature

for my $m (qw(sig_v01 sig_no_0x)) {
    my $r = ask('enforce', 'X-Test-Mode' => $m);
    is(verdict($r), 'verified', "enforce: $m verifies");
}

# every response-side failure, both modes

my %reasons = (
    tamper_body                   => 'body_mismatch',
    other_signer                  => 'signer_not_attested',
    sign_other_key_claim_attested => 'signature_invalid',
    other_image_digest            => 'image_digest_mismatch',
    missing_text                  => 'signature_missing',
    missing_signature             => 'signature_missing',
    missing_signing_address       => 'signature_missing',
    missing_signing_algo          => 'signature_missing',
    algo_eddsa                    => 'signing_algo_unsupported',
    malformed_signature           => 'signature_malformed',
    text_malformed                => 'text_malformed',
    gzip                          => 'body_encoded',
);

for my $m (sort keys %reasons) {
    my $reason = $reasons{$m};

    my $r = ask('enforce', 'X-Test-Mode' => $m);
    is($r->{status}, 502, "enforce: $m answers 502");
    is(verdict($r), "failed; reason=$reason", "enforce: $m -> $reason");
    is($r->{headers}{'content-type'}, 'application/json',
       "enforce: $m error is JSON");
    my $e = eval { decode_json($r->{content}) } // {};
    is($e->{error}{code}, $reason, "enforce: $m error code");
    is($e->{error}{type}, 'attestation_error', "enforce: $m error type");
    ok(exists $e->{error}{param} && !defined $e->{error}{param},
       "enforce: $m error param is null");
    like($e->{error}{message} // '', qr/^[A-Z].*\.$/,
         "enforce: $m error message is a sentence");
    unlike($r->{content}, qr/chat\.completion|choices/,
           "enforce: $m upstream body never reaches the client");
    ok(!exists $r->{headers}{signature},
       "enforce: $m upstream headers are dropped");

    my $p = ask('report', 'X-Test-Mode' => $m);
    is($p->{status}, 200, "report: $m passes through");
    is(verdict($p), "failed; reason=$reason", "report: $m -> $reason");
    isnt($p->{content}, '', "report: $m body passes") unless $m eq 'gzip';
}

# non-200 responses are not signed: unchanged, both modes

for my $mode (qw(enforce report)) {
    for my $m (qw(status_500 status_400)) {
        my $r = ask($mode, 'X-Test-Mode' => $m);
        (my $code = $m) =~ s/status_//;
        is($r->{status}, $code, "$mode: $m passes through");
        is(verdict($r), 'unverified; reason=upstream_status',
           "$mode: $m is unverified");
    }
}

# the upstream cannot speak for us

for my $mode (qw(enforce report)) {
    my $r = ask($mode, 'X-Test-Mode' => 'spoof_status,tamper_body');
    is(verdict($r), 'failed; reason=body_mismatch',
       "$mode: spoofed status header removed");
    my $n = () = ($r->{headers}{'x-attestation-status'} // '') =~ /,/g;
    is($n, 0, "$mode: exactly one status header");
}

# attest_status_header: another name, or off (and the upstream's default-
# named header still goes)

{
    my $named = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        loc_extra => 'attest_status_header X-Verdict;'));
    my $r = post_json($named->url('/v1/chat/completions'), $chat,
                      {'X-Test-Mode' => 'tamper_body'});
    is($r->{headers}{'x-verdict'}, 'failed; reason=body_mismatch',
       'attest_status_header names the verdict header');
    ok(!exists $r->{headers}{'x-attestation-status'},
       '... and the default name is not used');

    my $off = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        loc_extra => 'attest_status_header off;'));
    $r = post_json($off->url('/v1/chat/completions'), $chat,
                   {'X-Test-Mode' => 'spoof_status'});
    is($r->{status}, 200, 'attest_status_header off: verified passes');
    ok(!exists $r->{headers}{'x-attestation-status'},
       '... with no verdict header, the upstream\'s spoof removed too');

    $r = post_json($off->url('/v1/chat/completions'), $chat,
                   {'X-Test-Mode' => 'tamper_body'});
    is($r->{status}, 502, 'attest_status_header off: enforce still 502');
}

# body sizes

{
    my $r = ask('enforce', 'X-Test-Body-Size' => 1);
    is($r->{status}, 200, 'a 1-byte body');
    is($r->{content}, '1', 'the 1-byte body arrives');
    is(verdict($r), 'verified', 'a 1-byte body verifies');

    $r = ask('enforce', 'X-Test-Body-Size' => 65536, 'X-Test-Writes' => 40);
    is(verdict($r), 'verified', '64 KB in 40 writes verifies');
    cmp_ok(length $r->{content}, '>=', 65000, '64 KB body arrives whole');

    $r = ask('enforce', 'X-Test-Body-Size' => 65536,
             'X-Test-Mode' => 'chunked');
    is(verdict($r), 'verified', '64 KB chunked verifies');
}

# through proxy temp files, and over attest_body_max

my $big = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
    buffering => 'on',
    # proxy_store makes the pipe spool every byte to a temp file and
    # hand the body on as file buffers, whatever the client's pace
    loc_extra => 'proxy_buffers 3 4k; proxy_buffer_size 4k; '
               . 'proxy_busy_buffers_size 4k; attest_body_max 1m; '
               . 'proxy_store %%TMP%%/store/completion; '
               . 'proxy_temp_path %%TMP%%/ptemp;'));
mkdir $big->prefix . '/store';
chmod 0777, $big->prefix . '/store';

{
    my $r = post_json($big->url('/v1/chat/completions'), $chat,
                      {'X-Test-Body-Size' => 900 * 1024});
    is($r->{status}, 200, '900 KB through temp files');
    is(verdict($r), 'verified', '900 KB through temp files verifies');
    cmp_ok(length $r->{content}, '>=', 900 * 1024 - 100,
           '900 KB body arrives whole');
    ok((-s $big->prefix . '/store/completion' // 0) >= 900 * 1024,
       'the body did go through a temp file (stored by proxy_store)');

    $r = post_json($big->url('/v1/chat/completions'), $chat,
                   {'X-Test-Body-Size' => 1200 * 1024});
    is($r->{status}, 502, 'over attest_body_max: 502');
    is(verdict($r), 'failed; reason=body_too_large',
       'over attest_body_max: body_too_large');
}

my $small = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
    mode => 'report', loc_extra => 'attest_body_max 10k;'));

{
    my $r = post_json($small->url('/v1/chat/completions'), $chat,
                      {'X-Test-Body-Size' => 50000, 'X-Test-Writes' => 10,
                       'X-Test-Mode' => 'chunked'});
    is($r->{status}, 200, 'report: over attest_body_max passes');
    is(verdict($r), 'failed; reason=body_too_large',
       'report: chunked body over the max is body_too_large');
    cmp_ok(length $r->{content}, '>=', 49000,
           'report: the whole body still arrives');
}

# the access log holds the verdict and the variables

{
    my @l = AttestConf::log_lines($ngx{enforce});
    ok((grep { /^200 verified - key=\S* signer=0x[0-9a-fA-F]{40} digest=sha256:/ }
        @l), 'access log: verified with signer and digest');
    ok((grep { /^502 failed body_mismatch / } @l),
       'access log: failure with its reason');
}

unlike($ngx{enforce}->error_log, qr/\[(alert|crit|emerg)\]/,
       'no alerts in the error log');
like($ngx{enforce}->error_log, qr/failed: body_mismatch: signed response hash/,
     'error log names the failed check');
