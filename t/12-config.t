#!/usr/bin/perl
# Configuration mistakes fail at nginx -t with a message that names the
# directive (the shipped example configurations: t/14-examples.t).

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 80;

my $ex = repo() . '/conf-examples';
my $nv = "$ex/nvidia_device_identity_root.pem";
my $intel = "$ex/intel_sgx_root_ca.pem";

sub conf {
    my ($loc, %o) = @_;
    my $zone = $o{zone} // 'attest_zone zone=z:1m;';
    my $fetch = exists $o{fetch} ? $o{fetch} : 'attest_fetch /_a;';
    return <<"EOT";
    $zone
    @{[ $o{http_extra} // '' ]}
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            attest zone=z;
            $fetch
            $loc
            proxy_pass http://127.0.0.1:9;
        }
        location = /_a { internal; proxy_pass http://127.0.0.1:9; }
    }
EOT
}

sub fails_like {
    my ($http, $re, $name) = @_;
    my ($rc, $out) = nginx_test($http);
    isnt($rc, 0, "nginx -t fails: $name");
    like($out, $re, "... naming the directive: $name") or diag($out);
}

{
    my ($rc, $out) = nginx_test(conf(''));
    is($rc, 0, 'a minimal configuration passes') or diag($out);
    like($out, qr/"attest" without "attest_image_digest": the image digest is not enforced/,
         'an unenforced image digest is said at startup');

    ($rc, $out) = nginx_test(conf(
        'attest_image_digest sha256:' . ('ab' x 32) . ';'
        . 'attest_image_digest SHA256:' . ('CD' x 32) . ';'));
    isnt($rc, 0, 'digest prefix is case-sensitive "sha256:"');

    ($rc, $out) = nginx_test(conf(
        'attest_image_digest sha256:' . ('ab' x 32) . ' sha256:' . ('cd' x 32)
        . '; attest_gpu required; attest_gpu_root ' . $nv
        . '; attest_gpu_driver 550.90.07; attest_gpu_vbios 96.00.9f.00.01'
        . '; attest_cpu optional; attest_cpu_root ' . $intel
        . '; attest_cpu_report_data address_nonce'
        . '; attest_tdx_mrtd ' . ('00' x 48)
        . '; attest_tdx_rtmr 3 ' . ('11' x 48) . ' ' . ('22' x 48)
        . '; attest_tdx_debug off; attest_ttl 30s; attest_body_max 2m'
        . '; attest_report_max 256k; attest_status_header X-Verdict'
        . '; attest_sse_signature pass; attest_key $http_x_model_id;'));
    is($rc, 0, 'every directive with good values passes') or diag($out);
    unlike($out, qr/image digest is not enforced/, 'no notice with digests');
}

fails_like(conf('', zone => ''),
           qr/"attest" uses zone "z" but no "attest_zone" defines it/,
           'attest without a defined zone');

fails_like(conf('', fetch => ''),
           qr/"attest" is on but no "attest_fetch" location is set/,
           'attest without attest_fetch');

fails_like(conf('', zone => 'attest_zone zone=z:1m; attest_zone zone=z:1m;'),
           qr/"attest_zone" "z" is already defined/, 'a zone defined twice');

fails_like(conf('', zone => 'attest_zone zone=z;'),
           qr/invalid zone "zone=z"/, 'a zone without a size');

fails_like(conf('', zone => 'attest_zone zone=z:1k;'),
           qr/zone "zone=z:1k" is too small/, 'a zone too small');

fails_like(conf('', zone => 'attest_zone z:1m;'),
           qr/invalid parameter "z:1m"/, 'attest_zone without zone=');

fails_like(conf('attest_image_digest sha256:abc;'),
           qr/invalid image digest "sha256:abc"/, 'a malformed digest');

fails_like(conf('attest_image_digest md5:' . ('ab' x 32) . ';'),
           qr/invalid image digest "md5:/, 'a digest of another algorithm');

{
    my $http = conf('');
    $http =~ s/attest zone=z;/attest zone=z sometimes;/;
    fails_like($http, qr/invalid parameter "sometimes"/, 'a bad attest mode');

    $http = conf('');
    $http =~ s/attest zone=z;/attest ionet;/;
    fails_like($http, qr/invalid parameter "ionet", expected "zone=<name>"/,
               'attest without zone=');
}

fails_like(conf('attest_gpu required;'),
           qr/"attest_gpu" is not off but no "attest_gpu_root" is set/,
           'attest_gpu without a root');

fails_like(conf('attest_cpu optional;'),
           qr/"attest_cpu" is not off but no "attest_cpu_root" is set/,
           'attest_cpu without a root');

fails_like(conf('attest_gpu required; attest_gpu_root /nonexistent.pem;'),
           qr/open\(\) "\/nonexistent.pem" failed/, 'a missing root file');

{
    my $bad = AttestTest::tmpdir() . '/not-a-cert.pem';
    open my $fh, '>', $bad or die;
    print $fh "hello\n";
    close $fh;

    fails_like(conf("attest_gpu required; attest_gpu_root $bad;"),
               qr/holds no usable root certificate/,
               'a GPU root file without a certificate');
    fails_like(conf("attest_cpu required; attest_cpu_root $bad;"),
               qr/holds no usable root certificate/,
               'a CPU root file without a certificate');
}

fails_like(conf('attest_gpu sometimes;'),
           qr/invalid value "sometimes" in "attest_gpu"/, 'a bad attest_gpu');

fails_like(conf('attest_cpu_report_data address;'),
           qr/invalid value "address" in "attest_cpu_report_data"/,
           'a bad attest_cpu_report_data');

fails_like(conf('attest_tdx_mrtd abcd;'),
           qr/invalid measurement "abcd", expected 96 hex digits/,
           'a short MRTD');

fails_like(conf('attest_tdx_rtmr 4 ' . ('00' x 48) . ';'),
           qr/invalid RTMR index "4"/, 'an RTMR index out of range');

fails_like(conf('attest_tdx_rtmr 1 ' . ('zz' x 48) . ';'),
           qr/invalid measurement/, 'a non-hex RTMR');

fails_like(conf('attest_sse_signature keep;'),
           qr/invalid value "keep" in "attest_sse_signature"/,
           'a bad attest_sse_signature');

fails_like(conf('attest_status_header "X Bad";'),
           qr/invalid header name "X Bad"/, 'a bad status header name');

fails_like(conf('attest_fetch _a;', fetch => ''),
           qr/"attest_fetch" must name a location URI/,
           'attest_fetch without a leading slash');

fails_like(conf('attest_body_max lots;'),
           qr/"attest_body_max" directive invalid value/, 'a bad size');

fails_like(conf('attest_ttl forever;'),
           qr/"attest_ttl" directive invalid value/, 'a bad time');

# attest off needs nothing else

{
    my ($rc, $out) = nginx_test(<<'EOT');
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { attest off; proxy_pass http://127.0.0.1:9; }
    }
EOT
    is($rc, 0, '"attest off" needs no zone or fetch') or diag($out);
}

# errors found after the block (merge, postconfiguration) name the file
# and line of the "attest" at fault, not the end of "http"

# (exit code, output, the conf's path and the line of "attest zone=")
sub where_test {
    my ($http) = @_;
    my ($rc, $out) = nginx_test($http);
    my ($conf) = $out =~ /configuration file (\S+nginx\.conf)/;
    my $line = 0;
    if ($conf) {
        my @l = split /\n/, slurp($conf);
        ($line) = grep { $l[$_ - 1] =~ /^\s*attest zone=z;/ } 1 .. @l;
    }
    return ($rc, $out, $conf // '?', $line // 0);
}

for my $case (
    ['no attest_fetch', conf('', fetch => ''),
     qr/"attest" is on but no "attest_fetch" location is set in (\S+):(\d+)/],
    ['a GPU check without its root', conf('attest_gpu required;'),
     qr/"attest_gpu" is not off but no "attest_gpu_root" is set for the "attest" in (\S+):(\d+)/],
    ['a CPU check without its root', conf('attest_cpu optional;'),
     qr/"attest_cpu" is not off but no "attest_cpu_root" is set for the "attest" in (\S+):(\d+)/],
    ['no attest_zone', conf('', zone => ''),
     qr/no "attest_zone" defines it in (\S+):(\d+)/],
) {
    my ($name, $http, $re) = @$case;
    my ($rc, $out, $conf, $line) = where_test($http);
    isnt($rc, 0, "$name: nginx -t fails");
    my ($file, $at) = $out =~ $re;
    ok(defined $at && $file eq $conf && $at == $line && $line > 0,
       "$name: names $conf:$line, the \"attest\"")
        or diag("want $conf:$line\n$out");
}

{
    my ($rc, $out, $conf, $line) = where_test(conf(''));
    my ($file, $at) = $out =~ /the image digest is not enforced in (\S+):(\d+)/;
    ok(defined $at && $file eq $conf && $at == $line,
       "the image digest notice names $conf:$line, the \"attest\"")
        or diag("want $conf:$line\n$out");
}

# weak configurations pass, loudly

{
    my ($rc, $out) = nginx_test(conf(''));
    is($rc, 0, 'no hardware evidence: passes');
    like($out, qr/\[warn\] .*"attest" in \S+:\d+ verifies no hardware evidence: "attest_gpu" and "attest_cpu" are off/,
         'no hardware evidence: a warning');

    ($rc, $out) = nginx_test(conf("attest_gpu_root $nv; attest_cpu required;"
                                  . " attest_cpu_root $intel;"));
    is($rc, 0, 'a GPU root without its check: passes');
    like($out, qr/\[warn\] .*"attest_gpu_root" is set but "attest_gpu" is off for the "attest" in \S+:\d+: the GPU evidence is not checked/,
         'a GPU root without its check: a warning');
    unlike($out, qr/verifies no hardware evidence/,
           '... the CPU check counts as evidence');

    ($rc, $out) = nginx_test(conf("attest_cpu_root $intel; attest_gpu optional;"
                                  . " attest_gpu_root $nv;"));
    like($out, qr/\[warn\] .*"attest_cpu_root" is set but "attest_cpu" is off/,
         'a CPU root without its check: a warning');

    ($rc, $out) = nginx_test(conf("attest_gpu required; attest_gpu_root $nv;"
                                  . " attest_cpu required;"
                                  . " attest_cpu_root $intel;"));
    is($rc, 0, 'both checks with the vendors\' roots: passes');
    unlike($out, qr/\[warn\]/, '... without a warning') or diag($out);

    # the two roots swapped: each loads, each is named
    ($rc, $out) = nginx_test(conf("attest_gpu required;"
                                  . " attest_gpu_root $intel;"
                                  . " attest_cpu required;"
                                  . " attest_cpu_root $nv;"));
    is($rc, 0, 'the roots swapped: nginx -t passes');
    like($out, qr/\[warn\] .*"attest_gpu_root" "\S*intel_sgx_root_ca\.pem" is not the vendor's root: its certificate is "CN=Intel SGX Root CA", expected "CN=NVIDIA Device Identity CA" in \S+:\d+/,
         'the roots swapped: the GPU root is named, at its line');
    like($out, qr/\[warn\] .*"attest_cpu_root" "\S*nvidia_device_identity_root\.pem" is not the vendor's root: its certificate is "CN=NVIDIA Device Identity CA", expected "CN=Intel SGX Root CA"/,
         'the roots swapped: the CPU root is named');
}

# a server-level "attest" whose locations add the checks is not weak:
# only blocks that forward requests speak, once per "attest"
{
    my $http = <<"EOT";
    attest_zone zone=z:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        attest zone=z;
        attest_fetch /_a;
        location /v1/ {
            attest_gpu required; attest_gpu_root $nv;
            attest_image_digest sha256:@{[ "ab" x 32 ]};
            proxy_pass http://127.0.0.1:9;
        }
        location /v2/ {
            attest_cpu required; attest_cpu_root $intel;
            attest_image_digest sha256:@{[ "ab" x 32 ]};
            proxy_pass http://127.0.0.1:9;
        }
        location = /_a { internal; attest off; proxy_pass http://127.0.0.1:9; }
    }
EOT
    my ($rc, $out) = nginx_test($http);
    is($rc, 0, 'server-level attest, checks per location: passes')
        or diag($out);
    unlike($out, qr/verifies no hardware evidence|image digest is not enforced/,
           '... no weak-configuration warning') or diag($out);

    # the same with one location that adds nothing: it alone is weak
    $http =~ s{(location = /_a)}{location /v3/ { proxy_pass http://127.0.0.1:9; }\n        $1};
    ($rc, $out) = nginx_test($http);
    my @w = $out =~ /(verifies no hardware evidence)/g;
    is(scalar @w, 1, '... a location without checks: one warning') or diag($out);
}

# the module says which build runs, at start-up and at each reload
{
    my $ngx = AttestTest::Nginx->start(http => conf(''));
    like($ngx->error_log,
         qr/\[notice\] .*ngx_http_attest_module\/\d+\.\d+\.\d+ \(built for nginx\/1\.\d+\.\d+\)/,
         'start-up logs the module\'s version');
    $ngx->stop;
}

# the shipped examples: t/14-examples.t
