#!/usr/bin/perl
# GPU evidence at the gateway: good evidence from two GPUs, absent
# evidence, every way the agent double can spoil it, attest_gpu off, the
# driver and VBIOS allowlists, one verification per fetched report, and
# the configuration checks of nginx -t.  Each case runs with attest_gpu
# required and optional, in enforce and in report mode.

use strict;
use warnings;
use Test::More;

use File::Temp qw(tempdir);

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(verdict ask_key check_case rejection
                  fresh_key emerg_line evidence_case);

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 323;

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

my $agent = AttestTest::Agent->start(gpus => 2);

my $GPU_OK = 'verified gpus=2 driver=550.90.07 vbios=96.00.9f.00.01';

my $chat = {model => 'm', messages => [{role => 'user', content => 'hi'}]};
sub gateway {
    my ($mode, $extra) = @_;
    return AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        mode => $mode, loc_extra => $extra));
}

sub evidence {
    my ($gpu) = @_;
    return AttestConf::evidence($agent, gpu => $gpu, cpu => 'off');
}

sub completions { $agent->stats->{completion} }
sub fetches     { $agent->stats->{attestation} }

# One case (AttestConf::evidence_case); $gpu_text is the expected
# $attest_gpu when verified.  Returns the cache key used.
sub check {
    my ($ngx, $mode, $label, $test_mode, $want, $gpu_text) = @_;
    return evidence_case(kind => 'gpu', agent => $agent, ngx => $ngx,
                         mode => $mode, label => $label,
                         test_mode => $test_mode, want => $want,
                         text => $gpu_text);
}

# the failed check each spoiled-evidence mode must be named by
my %invalid = (
    gpu_wrong_nonce   => qr/nonce mismatch: SPDM request/,
    gpu_bad_signature => qr/SPDM signature does not verify/,
    gpu_other_root    => qr/certificate chain: /,
    gpu_bad_fwid      => qr/FWID != leaf DICE extension/,
);

# every case, attest_gpu required and optional, both modes

for my $gpu (qw(required optional)) {
    for my $mode (qw(enforce report)) {
        my $ngx = gateway($mode, evidence($gpu));
        my $t = "$gpu/$mode";

        check($ngx, $mode, "$t: good evidence", '', 'verified', $GPU_OK);

        if ($gpu eq 'required') {
            my $key = check($ngx, $mode, "$t: gpu_absent", 'gpu_absent',
                            'gpu_evidence_missing');
            like(rejection($ngx, $key),
                 qr/rejected: gpu_evidence_missing: .*no GPU evidence/,
                 "$t: gpu_absent: error log says why");
        } else {
            check($ngx, $mode, "$t: gpu_absent", 'gpu_absent', 'verified',
                  'absent');
        }

        for my $m (sort keys %invalid) {
            my $key = check($ngx, $mode, "$t: $m", $m,
                            'gpu_evidence_invalid');
            my $l = rejection($ngx, $key);
            like($l, qr/rejected: gpu_evidence_invalid: gpu entry 0: /,
                 "$t: $m: error log names the entry");
            like($l, $invalid{$m}, "$t: $m: error log names the check")
                or diag($l);
        }

        unlike($ngx->error_log, qr/\[(alert|crit|emerg)\]/,
               "$t: no alerts");
    }
}

# attest_gpu off: the evidence is not looked at

for my $mode (qw(enforce report)) {
    my $ngx = gateway($mode, evidence('off'));
    check($ngx, $mode, "off/$mode: good evidence", '', 'verified', 'off');
    for my $m (qw(gpu_bad_signature gpu_absent gpu_other_root)) {
        check($ngx, $mode, "off/$mode: $m", $m, 'verified', 'off');
    }
}

# driver and VBIOS allowlists

{
    my %allow = (
        driver_listed   => ['attest_gpu_driver 535.104.05 550.90.07;',
                            'verified'],
        driver_other    => ['attest_gpu_driver 535.104.05;',
                            'gpu_version_not_allowed', qr/driver 550\.90\.07/],
        vbios_listed    => ['attest_gpu_vbios 96.00.9f.00.01;', 'verified'],
        vbios_other     => ['attest_gpu_vbios 96.00.74.00.1c;',
                            'gpu_version_not_allowed',
                            qr/vbios 96\.00\.9f\.00\.01/],
        both_listed     => ['attest_gpu_driver 550.90.07; '
                            . 'attest_gpu_vbios 96.00.74.00.1c '
                            . '96.00.9f.00.01;', 'verified'],
        driver_ok_vbios_other => ['attest_gpu_driver 550.90.07; '
                                  . 'attest_gpu_vbios 96.00.74.00.1c;',
                                  'gpu_version_not_allowed', qr/vbios/],
    );

    for my $name (sort keys %allow) {
        my ($conf, $want, $why) = @{ $allow{$name} };
        for my $mode (qw(enforce report)) {
            my $ngx = gateway($mode, evidence('required') . $conf);
            my $key = check($ngx, $mode, "allowlist $name/$mode", '', $want,
                            $GPU_OK);
            if ($why) {
                my $l = rejection($ngx, $key);
                like($l, qr/gpu_version_not_allowed: gpu entry 0: /,
                     "allowlist $name/$mode: error log names the entry");
                like($l, $why,
                     "allowlist $name/$mode: error log names the version");
            }
        }
    }

    # absent evidence has no versions to refuse
    my $ngx = gateway('enforce', evidence('optional')
                      . 'attest_gpu_driver 535.104.05;');
    check($ngx, 'enforce', 'allowlist with optional, gpu_absent',
          'gpu_absent', 'verified', 'absent');
}

# one verification per fetched report

{
    my $ngx = gateway('enforce', evidence('required'));

    my $key = fresh_key('gpu', 'cached');
    my $f0 = fetches();
    my $c0 = completions();
    my $n = 0;
    for (1 .. 5) {
        $n++ if verdict(ask_key($ngx, $key)) eq 'verified';
    }
    is($n, 5, 'cache: 5 requests verified');
    is(fetches() - $f0, 1, 'cache: one attestation fetch for 5 requests');
    is(completions() - $c0, 5, 'cache: 5 completions');
    my @lines = grep { / key=\Q$key\E / } AttestConf::log_lines($ngx);
    is(scalar(grep { /gpu="\Q$GPU_OK\E"/ } @lines), 5,
       'cache: the cached result still carries $attest_gpu');

    my $verified = () = $ngx->error_log
        =~ /attestation for key "\Q$key\E" verified/g;
    is($verified, 1, 'cache: the evidence was verified once');

    # optional and absent is a success, and cached like one
    my $opt = gateway('enforce', evidence('optional'));
    $key = fresh_key('gpu', 'cached-absent');
    $f0 = fetches();
    $n = 0;
    for (1 .. 4) {
        $n++ if verdict(ask_key($opt, $key, 'gpu_absent')) eq 'verified';
    }
    is($n, 4, 'cache: optional, absent: 4 requests verified');
    is(fetches() - $f0, 1, 'cache: optional, absent: one fetch');

    # a refused report is not cached: each request fetches again
    $key = fresh_key('gpu', 'cached-bad');
    $f0 = fetches();
    for (1 .. 3) {
        ask_key($ngx, $key, 'gpu_bad_signature');
    }
    is(fetches() - $f0, 3, 'cache: refused evidence is fetched again');
}

# server-level settings reach the location; the location can override

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        server_extra => evidence('required')));
    check($ngx, 'enforce', 'inherited required: good evidence', '',
          'verified', $GPU_OK);
    check($ngx, 'enforce', 'inherited required: gpu_absent', 'gpu_absent',
          'gpu_evidence_missing');

    $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        server_extra => evidence('required'),
        loc_extra => 'attest_gpu off;'));
    check($ngx, 'enforce', 'location off over server required',
          'gpu_bad_signature', 'verified', 'off');
}

# Two locations share one zone and one key but not one policy: a report
# accepted where attest_gpu is off must not count as verified where it is
# required.

{
    my $strict = <<"EOT";
        location /strict/ {
            attest zone=ionet;
            attest_key \$http_x_model_id;
            attest_fetch /_attestation;
            ${\ evidence('required') }
            proxy_pass http://backend/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
EOT
    my $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        server_extra => $strict, loc_extra => evidence('off')));

    my $key = fresh_key('gpu', 'shared-zone');
    my %h = ('X-Model-Id' => $key, 'X-Test-Mode' => 'gpu_absent');
    my $r = post_json($ngx->url('/v1/chat/completions'), $chat, \%h);
    is(verdict($r), 'verified', 'shared zone: attest_gpu off accepts');

    $r = post_json($ngx->url('/strict/chat/completions'), $chat, \%h);
    is(verdict($r), 'failed; reason=gpu_evidence_missing',
       'shared zone: attest_gpu required does not take the verdict of a '
       . 'location where it is off');
}

# nginx -t

my $dir = tempdir('attest-gpu-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub conf_test {
    my ($extra) = @_;
    return nginx_test(AttestConf::fill($CONF, $agent, loc_extra => $extra));
}

for my $gpu (qw(required optional)) {
    my ($rc, $out) = conf_test("attest_gpu $gpu;");
    isnt($rc, 0, "nginx -t: attest_gpu $gpu without a root fails");
    my $msg = '"attest_gpu" is not off but no "attest_gpu_root" is set';
    like($out, qr/\[emerg\] \d+#\d+: \Q$msg\E/,
         "nginx -t: attest_gpu $gpu without a root names the directives");
}

{
    my ($rc, $out) = conf_test('attest_gpu off;');
    is($rc, 0, 'nginx -t: attest_gpu off needs no root') or diag($out);

    ($rc, $out) = conf_test(evidence('required'));
    is($rc, 0, "nginx -t: the agent's test root loads") or diag($out);
}

{
    my %bad = (
        'empty.pem' => '',
        'text.pem'  => "this is not a certificate\n",
        'junk.pem'  => "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                       . "-----END CERTIFICATE-----\n",
    );
    my ($krc, $key) = AttestTest::run_cmd(['openssl', 'ecparam', '-name',
        'secp384r1', '-genkey', '-noout']);
    $bad{'key.pem'} = $key if $krc == 0 && $key =~ /PRIVATE KEY/;

    for my $f (sort keys %bad) {
        open my $fh, '>', "$dir/$f" or die "$dir/$f: $!";
        print $fh $bad{$f};
        close $fh;

        my ($rc, $out) = conf_test("attest_gpu required;\n"
                                   . "            attest_gpu_root $dir/$f;");
        isnt($rc, 0, "nginx -t: a root file $f fails");
        my $msg = "\"$dir/$f\" holds no usable root certificate";
        like($out, qr/\[emerg\] \d+#\d+: \Q$msg\E/,
             "nginx -t: a root file $f is named");
        like(emerg_line($out), qr/^\s*attest_gpu_root\b/,
             "nginx -t: a root file $f: the error points at "
             . "attest_gpu_root") or diag($out);
    }

    my ($rc, $out) = conf_test("attest_gpu required; "
                               . "attest_gpu_root $dir/missing.pem;");
    isnt($rc, 0, 'nginx -t: a missing root file fails');
    like($out, qr/\Q$dir\E\/missing\.pem/,
         'nginx -t: the missing file is named');
}

# the NVIDIA root shipped with the configuration examples

SKIP: {
    my $pem = repo() . '/conf-examples/nvidia_device_identity_root.pem';
    skip 'conf-examples/nvidia_device_identity_root.pem is not there', 3
        unless -f $pem;

    is(slurp($pem),
       slurp(testdata() . '/nvidia/nvidia_device_identity_root.pem'),
       'the shipped NVIDIA root is the pinned Device Identity CA');
    my ($rc, $out) = conf_test("attest_gpu required; "
                               . "attest_gpu_root $pem;");
    is($rc, 0, 'nginx -t: the shipped NVIDIA root loads') or diag($out);
    like($out, qr/test is successful/, 'nginx -t: successful');
}
