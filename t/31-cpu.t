#!/usr/bin/perl
# CPU (Intel TDX) evidence at the gateway: good quotes (v4 and v5), the two
# report_data layouts and the binding they give, absent quotes, every way
# the agent double can spoil a quote, debug TDs, MRTD and RTMR pins, one
# verification per fetched report, and the configuration checks of
# nginx -t.  The cases run with attest_cpu required and optional, in
# enforce and in report mode.

use strict;
use warnings;
use Test::More;

use File::Temp qw(tempdir);

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf qw(verdict ask_key check_case rejection
                  fresh_key emerg_line evidence_case);

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 600;

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

# attest_gpu is off here (AttestConf::evidence still names the GPU root)
my $agent = AttestTest::Agent->start();
my $info = $agent->info;

my $MRTD = $info->{tdx_default_mrtd};
my @RTMR = @{ $info->{tdx_default_rtmr} || [] };
my $OTHER_MRTD = '5a' x 48;         # what cpu_other_mrtd puts in the quote
my $UNKNOWN = 'c3' x 48;            # in no quote at all

like($MRTD // '', qr/^[0-9a-f]{96}$/, 'agent: default MRTD');
is(scalar @RTMR, 4, 'agent: four default RTMRs');
like($_, qr/^[0-9a-f]{96}$/, 'agent: default RTMR') for @RTMR;

my $CPU_OK = 'verified mrtd=' . substr($MRTD, 0, 16) . '...';

sub gateway {
    my ($mode, $extra) = @_;
    return AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        mode => $mode, loc_extra => $extra));
}

sub evidence {
    my ($cpu) = @_;
    return AttestConf::evidence($agent, gpu => 'off', cpu => $cpu);
}

sub completions { $agent->stats->{completion} }
sub fetches     { $agent->stats->{attestation} }

# One case (AttestConf::evidence_case); when verified, $cpu_text and
# $binding are the expected $attest_cpu and $attest_binding.  Returns the
# cache key used.
sub check {
    my ($ngx, $mode, $label, $test_mode, $want, $cpu_text, $binding) = @_;
    return evidence_case(kind => 'cpu', agent => $agent, ngx => $ngx,
                         mode => $mode, label => $label,
                         test_mode => $test_mode, want => $want,
                         text => $cpu_text, binding => $binding);
}

# Test modes that fail with either setting, their reason and the check
# the error log must name.
my %failing = (
    cpu_bad_signature     => ['cpu_quote_invalid', qr/\bquote signature/],
    cpu_bad_qe_signature  => ['cpu_quote_invalid', qr/QE report signature/],
    cpu_other_root        => ['cpu_quote_invalid', qr/PCK chain: /],
    cpu_wrong_report_data => ['report_data_mismatch',
                              qr/report_data does not start with the nonce/],
    cpu_address_nonce     => ['report_data_mismatch',
                              qr/report_data does not start with the nonce/],
    cpu_debug             => ['debug_td', qr/DEBUG bit set/],
);

# every case, attest_cpu required and optional, both modes

for my $cpu (qw(required optional)) {
    for my $mode (qw(enforce report)) {
        my $ngx = gateway($mode, evidence($cpu));
        my $t = "$cpu/$mode";

        check($ngx, $mode, "$t: good quote", '', 'verified', $CPU_OK);
        check($ngx, $mode, "$t: cpu_v5", 'cpu_v5', 'verified', $CPU_OK);
        # nothing pinned: any MRTD passes, and the variable shows it
        check($ngx, $mode, "$t: cpu_other_mrtd, nothing pinned",
              'cpu_other_mrtd', 'verified',
              'verified mrtd=' . substr($OTHER_MRTD, 0, 16) . '...');

        if ($cpu eq 'required') {
            my $key = check($ngx, $mode, "$t: cpu_absent", 'cpu_absent',
                            'cpu_quote_missing');
            like(rejection($ngx, $key),
                 qr/rejected: cpu_quote_missing: .*no CPU quote/,
                 "$t: cpu_absent: error log says why");
        } else {
            check($ngx, $mode, "$t: cpu_absent", 'cpu_absent', 'verified',
                  'absent');
        }

        for my $m (sort keys %failing) {
            my ($reason, $why) = @{ $failing{$m} };
            my $key = check($ngx, $mode, "$t: $m", $m, $reason);
            like(rejection($ngx, $key), qr/rejected: $reason: .*$why/,
                 "$t: $m: error log names the check");
        }

        unlike($ngx->error_log, qr/\[(alert|crit|emerg)\]/,
               "$t: no alerts");
    }
}

# attest_cpu off: the quote is not looked at

for my $mode (qw(enforce report)) {
    my $ngx = gateway($mode, evidence('off'));
    for my $m ('', qw(cpu_bad_signature cpu_absent cpu_debug
                      cpu_wrong_report_data)) {
        check($ngx, $mode, "off/$mode: " . ($m || 'good quote'), $m,
              'verified', 'off');
    }
}

# Configurations beyond the defaults, each in both modes: [name, extra
# configuration, [test mode, want, $attest_cpu or error log check,
# binding]...]
my @configs = (
    ['attest_cpu_report_data address_nonce',
     'attest_cpu_report_data address_nonce;',
     ['cpu_address_nonce', 'verified', $CPU_OK, 'quote'],
     ['', 'report_data_mismatch',
      qr/report_data does not start with the signing address/],
     ['cpu_address_nonce,cpu_wrong_report_data', 'report_data_mismatch',
      qr/report_data does not end with the nonce/]],
    ['attest_cpu_report_data nonce', 'attest_cpu_report_data nonce;',
     ['', 'verified', $CPU_OK, 'report'],
     ['cpu_address_nonce', 'report_data_mismatch',
      qr/report_data does not start with the nonce/]],
    ['attest_tdx_debug on', 'attest_tdx_debug on;',
     ['cpu_debug', 'verified', "$CPU_OK debug"],
     ['', 'verified', $CPU_OK]],
    ['attest_tdx_debug off', 'attest_tdx_debug off;',
     ['cpu_debug', 'debug_td', qr/DEBUG bit/]],
    ['attest_tdx_mrtd default', "attest_tdx_mrtd $MRTD;",
     ['', 'verified', $CPU_OK],
     ['cpu_v5', 'verified', $CPU_OK],
     ['cpu_other_mrtd', 'measurement_not_allowed',
      qr/MRTD $OTHER_MRTD not allowed/]],
    ['attest_tdx_mrtd other', "attest_tdx_mrtd $UNKNOWN;",
     ['', 'measurement_not_allowed', qr/MRTD $MRTD not allowed/]],
    ['attest_tdx_mrtd list', "attest_tdx_mrtd $UNKNOWN $MRTD;",
     ['', 'verified', $CPU_OK],
     ['cpu_other_mrtd', 'measurement_not_allowed', qr/MRTD/]],
    ['attest_tdx_mrtd twice', "attest_tdx_mrtd $UNKNOWN; "
                              . "attest_tdx_mrtd $OTHER_MRTD;",
     ['cpu_other_mrtd', 'verified',
      'verified mrtd=' . substr($OTHER_MRTD, 0, 16) . '...'],
     ['', 'measurement_not_allowed', qr/MRTD/]],
    ['attest_tdx_rtmr 0 default', "attest_tdx_rtmr 0 $RTMR[0];",
     ['', 'verified', $CPU_OK]],
    ['attest_tdx_rtmr 0 other', "attest_tdx_rtmr 0 $UNKNOWN;",
     ['', 'measurement_not_allowed', qr/RTMR0 $RTMR[0] not allowed/]],
    ['attest_tdx_rtmr 3 list', "attest_tdx_rtmr 3 $UNKNOWN $RTMR[3];",
     ['', 'verified', $CPU_OK]],
    ['attest_tdx_rtmr 2 wrong index', "attest_tdx_rtmr 2 $RTMR[1];",
     ['', 'measurement_not_allowed', qr/RTMR2 $RTMR[2] not allowed/]],
    ['all pins', "attest_tdx_mrtd $MRTD; "
                 . join(' ', map { "attest_tdx_rtmr $_ $RTMR[$_];" } 0 .. 3),
     ['', 'verified', $CPU_OK],
     ['cpu_v5', 'verified', $CPU_OK]],
);

for my $c (@configs) {
    my ($name, $extra, @cases) = @$c;
    for my $mode (qw(enforce report)) {
        my $ngx = gateway($mode, evidence('required') . $extra);
        for my $case (@cases) {
            my ($m, $want, $x, $binding) = @$case;
            my $label = "$name/$mode: " . ($m || 'good quote');
            if ($want eq 'verified') {
                check($ngx, $mode, $label, $m, $want, $x, $binding);
                next;
            }
            my $key = check($ngx, $mode, $label, $m, $want);
            like(rejection($ngx, $key), qr/rejected: $want: .*$x/,
                 "$label: error log names the check");
        }
    }
}

# server-level pins reach the location; the location's own replace them

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        server_extra => evidence('required') . "attest_tdx_mrtd $UNKNOWN;"
                        . ' attest_cpu_report_data address_nonce;'));
    my $key = check($ngx, 'enforce', 'inherited pin: good quote',
                    'cpu_address_nonce', 'measurement_not_allowed');
    like(rejection($ngx, $key), qr/MRTD $MRTD not allowed/,
         'inherited pin: the server-level MRTD applies');

    $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent,
        server_extra => evidence('required') . "attest_tdx_mrtd $UNKNOWN;"
                        . ' attest_cpu_report_data address_nonce;',
        loc_extra => "attest_tdx_mrtd $MRTD;"));
    check($ngx, 'enforce', 'location pin over server pin',
          'cpu_address_nonce', 'verified', $CPU_OK, 'quote');
}

# one verification per fetched report

{
    my $ngx = gateway('enforce', evidence('required')
                      . "attest_tdx_mrtd $MRTD;");

    my $key = fresh_key('cpu', 'cached');
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
    is(scalar(grep { /cpu="\Q$CPU_OK\E" binding=report$/ } @lines), 5,
       'cache: the cached result still carries $attest_cpu');
    my $verified = () = $ngx->error_log
        =~ /attestation for key "\Q$key\E" verified/g;
    is($verified, 1, 'cache: the quote was verified once');

    $key = fresh_key('cpu', 'cached-bad');
    $f0 = fetches();
    ask_key($ngx, $key, 'cpu_bad_signature') for 1 .. 3;
    is(fetches() - $f0, 3, 'cache: a refused quote is fetched again');
}

# nginx -t

my $dir = tempdir('attest-cpu-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub conf_test {
    my ($extra) = @_;
    return nginx_test(AttestConf::fill($CONF, $agent, loc_extra => $extra));
}

# a configuration nginx -t must refuse, naming the directive's line
sub refused {
    my ($label, $lines, $msg, $directive) = @_;
    my ($rc, $out) = conf_test(join("\n            ", @$lines));
    isnt($rc, 0, "nginx -t: $label fails");
    like($out, qr/\[emerg\] \d+#\d+: $msg/, "nginx -t: $label: message")
        or diag($out);
    like(emerg_line($out), qr/^\s*\Q$directive\E\b/,
         "nginx -t: $label: points at $directive") if $directive;
}

for my $cpu (qw(required optional)) {
    refused("attest_cpu $cpu without a root", ["attest_cpu $cpu;"],
            qr/"attest_cpu" is not off but no "attest_cpu_root" is set/);
}

{
    my ($rc, $out) = conf_test('attest_cpu off;');
    is($rc, 0, 'nginx -t: attest_cpu off needs no root') or diag($out);

    ($rc, $out) = conf_test(evidence('required')
        . "attest_tdx_mrtd $MRTD\n                $UNKNOWN;"
        . " attest_tdx_rtmr 0 $RTMR[0]; attest_tdx_rtmr 3 $RTMR[3];"
        . ' attest_cpu_report_data address_nonce; attest_tdx_debug on;');
    is($rc, 0, 'nginx -t: every CPU directive with good values')
        or diag($out);
}

my $root = 'attest_cpu required; attest_cpu_root ' . $agent->cpu_root . ';';

for my $bad (['too short', substr($MRTD, 2)],
             ['too long', $MRTD . '00'],
             ['not hex', 'zz' . substr($MRTD, 2)],
             ['0x prefix', '0x' . substr($MRTD, 2)],
             ['empty', '""']) {
    my ($what, $hex) = @$bad;
    refused("attest_tdx_mrtd $what", [$root, "attest_tdx_mrtd $hex;"],
            qr/invalid measurement/, 'attest_tdx_mrtd');
}

refused('attest_tdx_mrtd: one bad value among good ones',
        [$root, "attest_tdx_mrtd $MRTD $UNKNOWN 1234;"],
        qr/invalid measurement "1234"/, 'attest_tdx_mrtd');

for my $idx (qw(4 -1 x 00 10)) {
    refused("attest_tdx_rtmr index $idx",
            [$root, "attest_tdx_rtmr $idx $RTMR[0];"],
            qr/invalid RTMR index "\Q$idx\E"/, 'attest_tdx_rtmr');
}

refused('attest_tdx_rtmr with a bad value',
        [$root, 'attest_tdx_rtmr 1 ' . substr($RTMR[1], 1) . ';'],
        qr/invalid measurement/, 'attest_tdx_rtmr');

refused('attest_tdx_rtmr without a value', [$root, 'attest_tdx_rtmr 1;'],
        qr/invalid number of arguments in "attest_tdx_rtmr"/,
        'attest_tdx_rtmr');

refused('attest_cpu_report_data other',
        [$root, 'attest_cpu_report_data address;'],
        qr/invalid value "address" in "attest_cpu_report_data"/,
        'attest_cpu_report_data');

{
    my %bad = (
        'empty.pem' => '',
        'text.pem'  => "this is not a certificate\n",
    );
    for my $f (sort keys %bad) {
        open my $fh, '>', "$dir/$f" or die "$dir/$f: $!";
        print $fh $bad{$f};
        close $fh;
        refused("a CPU root file $f",
                ['attest_cpu required;', "attest_cpu_root $dir/$f;"],
                qr/"\Q$dir\E\/\Q$f\E" holds no usable root certificate/,
                'attest_cpu_root');
    }
}

# the Intel root shipped with the configuration examples

SKIP: {
    my $pem = repo() . '/conf-examples/intel_sgx_root_ca.pem';
    skip 'conf-examples/intel_sgx_root_ca.pem is not there', 3
        unless -f $pem;

    is(slurp($pem), slurp(testdata() . '/intel/intel_sgx_root_ca.pem'),
       'the shipped Intel root is the pinned SGX Root CA');
    my ($rc, $out) = conf_test("attest_cpu required; attest_cpu_root $pem;");
    is($rc, 0, 'nginx -t: the shipped Intel root loads') or diag($out);
    like($out, qr/test is successful/, 'nginx -t: successful');
}
