#!/usr/bin/perl
# The attestation side: a report that fails verification (nonce, image
# digest policy, garbage, size, upstream errors) keeps prompts from
# leaving the gateway in enforce mode, and marks responses in report mode.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(verdict);

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 70;

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
my $digest = $agent->info->{image_digest};
my $chat = {model => 'm', messages => [{role => 'user', content => 'hi'}]};

my %ngx;
for my $mode (qw(enforce report)) {
    $ngx{$mode} = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        mode => $mode, loc_extra => "attest_image_digest $digest;"));
}

my $seq = 0;

sub ask {
    my ($ngx, %h) = @_;
    $h{'X-Model-Id'} //= 'k' . ++$seq;    # a fresh cache key: a fresh fetch
    return post_json($ngx->url('/v1/chat/completions'), $chat, \%h);
}

my %cases = (
    'attest:wrong_nonce'        => 'nonce_mismatch',
    'attest:replay'             => 'nonce_mismatch',
    'attest:other_image_digest' => 'image_digest_not_allowed',
    'attest:no_image_digest'    => 'image_digest_not_allowed',
    'attest:attest_garbage'     => 'attestation_invalid',
    'attest:attest_500'         => 'attestation_unavailable',
    'attest:attest_oversize'    => 'attestation_unavailable',
);

for my $m (sort keys %cases) {
    my $reason = $cases{$m};

    $agent->reset_stats;
    my $r = ask($ngx{enforce}, 'X-Test-Mode' => $m);
    is($r->{status}, 502, "enforce: $m answers 502");
    is(verdict($r), "failed; reason=$reason", "enforce: $m -> $reason");
    is(eval { decode_json($r->{content})->{error}{code} }, $reason,
       "enforce: $m error body names $reason");
    is($agent->stats->{attestation}, 1, "enforce: $m the report was fetched");
    is($agent->stats->{completion}, 0,
       "enforce: $m no prompt reached the upstream");

    $agent->reset_stats;
    $r = ask($ngx{report}, 'X-Test-Mode' => $m);
    is($r->{status}, 200, "report: $m is proxied");
    is(verdict($r), "failed; reason=$reason", "report: $m -> $reason");
    is($agent->stats->{completion}, 1, "report: $m the prompt went on");
}

# an attested report but a completion signed by another key

{
    my $r = ask($ngx{enforce}, 'X-Test-Mode' => 'attest:other_signer');
    is(verdict($r), 'failed; reason=signer_not_attested',
       'report names another signer: signer_not_attested');
}

# the error log says why, with the key

like($ngx{enforce}->error_log,
     qr/\[error\].*attestation for key "k\d+" rejected: nonce_mismatch: report nonce/,
     'error log: rejected report with key and reason');
like($ngx{enforce}->error_log,
     qr/attestation report for key "k\d+" .*subrequest_output_buffer_size/,
     'error log: an oversize report names subrequest_output_buffer_size');
like($ngx{enforce}->error_log,
     qr/attestation fetch for key "k\d+" via "\/_attestation" failed: status 500/,
     'error log: a failed fetch names its status');

# a fetch buffer too small for a real-sized report

{
    my $small = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        fetch_buffer => '4k'));
    my $r = ask($small);
    is($r->{status}, 502, 'a report larger than the fetch buffer: 502');
    is(verdict($r), 'failed; reason=attestation_unavailable',
       '... attestation_unavailable');
    like($small->error_log,
         qr/does not fit subrequest_output_buffer_size \(4096\)|larger than subrequest_output_buffer_size \(4096\)/,
         '... and the error log names subrequest_output_buffer_size');
}

# a report cap below the report's size: attestation_invalid

{
    my $capped = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        loc_extra => 'attest_report_max 2k;'));
    my $r = ask($capped);
    is(verdict($r), 'failed; reason=attestation_invalid',
       'attest_report_max: an oversize report is attestation_invalid');
    like($capped->error_log, qr/oversize/, '... logged as oversize');
}

# a slow attestation upstream with a short timeout

{
    my $slow = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        server_extra => 'proxy_read_timeout 1s;'));
    $agent->reset_stats;
    my $r = ask($slow, 'X-Test-Mode' => 'attest:attest_slow',
                'X-Test-Sleep' => 3);
    is($r->{status}, 502, 'a fetch that times out: 502');
    is(verdict($r), 'failed; reason=attestation_unavailable',
       '... attestation_unavailable');
    is($agent->stats->{completion}, 0, '... and no prompt went on');
}

# the nonce: fresh from a CSPRNG every fetch, echoed in $attest_nonce

{
    my %seen;
    for (1 .. 5) {
        ask($ngx{enforce});
        $seen{ $agent->stats->{last_attestation_request}{nonce} // '' }++;
    }
    is(scalar(grep { /^[0-9a-f]{64}$/ } keys %seen), 5,
       'five fetches, five distinct 32-byte nonces');
}

unlike($ngx{enforce}->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');
