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
plan tests => 11;

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
my $signer = $agent->info->{signing_address};
my $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent));

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
