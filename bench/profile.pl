#!/usr/bin/perl

# Instructions per request of the nginx worker on the non-streaming path,
# under valgrind's callgrind (bench/profile.sh runs this; see
# bench/README.md).  The setup is bench.pl's: the agent double signs a
# ~4 KiB and a 64 KiB completion once, a second nginx (no module) replays
# them with their signature headers, and the nginx under test proxies
# them through an attested location (enforce, attestation cached) and a
# plain proxy_pass one.  The nginx under test runs as one process
# (master_process off) under callgrind; its counters are zeroed after a
# warm-up and dumped after each batch of requests, so each dump holds one
# batch and nothing else.
#
#   perl bench/profile.pl --loadgen build/bench/loadgen [--requests 3000]
#       [--out DIR] [--top 25]
#
# Prints, per body size and location, instructions per request in total
# and per group (libsecp256k1, keccak, jsonhash, SHA-256 in libcrypto,
# the module's nginx layer, nginx, libc, the rest), then the top functions
# of each attested batch.  The callgrind dumps stay in DIR for
# callgrind_annotate.  Core Perl and t/lib only.

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../t/lib";

use AttestTest qw(:all);
use Cwd ();
use File::Path qw(make_path);
use Getopt::Long qw(GetOptions);
use POSIX ();
use Time::HiRes qw(time sleep);

my %o = (requests => 3000, out => undef, loadgen => undef, top => 25,
         sizes => '4096,65536');
GetOptions(\%o, 'requests=i', 'out=s', 'loadgen=s', 'top=i', 'sizes=s')
    or die "usage: see the head of $0\n";
my $LOADGEN = $o{loadgen} or die "profile: --loadgen is required\n";
-x $LOADGEN or die "profile: $LOADGEN is not executable\n";
die "profile: module not built: " . module_path() . "\n"
    unless module_built();
system('valgrind --version >/dev/null 2>&1') == 0
    or die "profile: valgrind is not installed\n";

my $MODULE = Cwd::abs_path(module_path());
my $tmp = AttestTest::tmpdir();
my $OUT = $o{out} // "$tmp/callgrind";
make_path($OUT);

my $agent = AttestTest::Agent->start(gpus => 1);
my $ap = $agent->port;

my $REQ = '{"model":"bench","messages":[{"role":"user","content":'
        . '"Count to two hundred."}]}';
my $REQ_FILE = "$tmp/request.json";
{
    open my $fh, '>:raw', $REQ_FILE or die "profile: $REQ_FILE: $!";
    print $fh $REQ;
    close $fh;
}

# a signed completion of $size bytes, recorded once, replayed from then on
mkdir "$tmp/www" or die "profile: $tmp/www: $!";
sub record {
    my ($name, $size) = @_;
    my $r = post_json($agent->url('/v1/chat/completions'), $REQ,
                      {'X-Test-Body-Size' => $size});
    die "profile: recording $name: $r->{status}\n" unless $r->{status} == 200;
    open my $fh, '>:raw', "$tmp/www/$name.json" or die "$name: $!";
    print $fh $r->{content};
    close $fh;
    my $h = '';
    for my $k (qw(text signature signing_address signing_algo
                  image_digest)) {
        next unless defined $r->{headers}{$k};
        $h .= "            add_header $k \"$r->{headers}{$k}\";\n";
    }
    return <<"EOF";
        location = /$name.json {
            default_type application/json;
            error_page 405 =200 \$uri;
$h        }
EOF
}

my @SIZES = split /,/, $o{sizes};
my $locs = join '', map { record("b$_", $_) } @SIZES;

my $replay = AttestTest::Nginx->start(no_module => 1, log_level => 'warn',
                                      http => <<"EOF");
server {
    listen 127.0.0.1:%%PORT%%;
    access_log off;
    root $tmp/www;
    keepalive_requests 1000000;
$locs}
EOF
my $rp = $replay->port;

# the nginx under test: one process, under callgrind
my $port = AttestTest::free_port();
my $gpu_root = $agent->gpu_root;
my $cpu_root = $agent->cpu_root;
my $prefix = "$tmp/profiled";
make_path("$prefix/logs", "$prefix/tmp");
my $so = AttestTest::module_path();
my $proxy = <<'EOF';
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering on;
EOF
my $conf = <<"EOF";
load_module $so;
daemon off;
master_process off;
worker_processes 1;
error_log $prefix/logs/error.log warn;
pid $prefix/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/client_body;
    proxy_temp_path $prefix/tmp/proxy;
    attest_zone zone=ionet:1m;
    upstream agent  { server 127.0.0.1:$ap; keepalive 4; }
    upstream replay { server 127.0.0.1:$rp; keepalive 4; }
    server {
        listen 127.0.0.1:$port;
        keepalive_requests 1000000;
        attest_fetch /_attestation;
        attest_ttl 1h;
        attest_gpu required;
        attest_gpu_root $gpu_root;
        attest_cpu required;
        attest_cpu_root $cpu_root;
        location /attest/ {
            attest zone=ionet;
            proxy_pass http://replay/;
$proxy        }
        location /plain/ {
            proxy_pass http://replay/;
$proxy        }
        location = /_attestation {
            internal;
            subrequest_output_buffer_size 512k;
            proxy_pass http://agent/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body
                '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';
        }
    }
}
EOF
open my $cfh, '>', "$prefix/nginx.conf" or die "profile: $!";
print $cfh $conf;
close $cfh;

unlink glob("$OUT/callgrind.out*");
my $vg = fork // die "fork: $!";
if ($vg == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$OUT/valgrind.log" or POSIX::_exit(126);
    open STDERR, '>&', \*STDOUT;
    { exec 'valgrind', '--tool=callgrind', '--collect-atstart=yes',
         "--callgrind-out-file=$OUT/callgrind.out",
         AttestTest::Nginx::bin(), '-p', "$prefix/", '-c',
         "$prefix/nginx.conf" }
    POSIX::_exit(127);
}
END {
    if ($vg) {
        kill 'QUIT', $vg;
        waitpid($vg, 0);
    }
}
AttestTest::wait_for(sub { AttestTest::port_open($port) }, 60)
    or die "profile: nginx under callgrind did not start\n"
         . slurp("$OUT/valgrind.log") . slurp("$prefix/logs/error.log");

sub loadgen {
    my (@argv) = @_;
    my ($rc, $out) = AttestTest::run_cmd([$LOADGEN, @argv], timeout => 3600);
    my ($line) = grep { /^\{/ } split /\n/, $out;
    my $r = $line ? eval { decode_json($line) } : undef;
    die "profile: loadgen @argv: exit $rc\n$out\n" unless $r;
    return $r;
}

sub batch {
    my ($path, $n) = @_;
    my $r = loadgen('rps', '-p', $port, '-u', $path, '-b', $REQ_FILE,
                    '-c', 1, '-n', $n, '-d', 3600);
    die "profile: $path: $r->{errors} errors\n" if $r->{errors};
    return $r->{requests};
}

sub control {
    my (@args) = @_;
    my $out = `callgrind_control @args $vg 2>&1`;
    die "profile: callgrind_control @args: $out\n" if $?;
}

# warm-up: the attestation is fetched and cached, connections opened,
# and the response really verifies
for my $s (@SIZES) {
    my $r = post_json("http://127.0.0.1:$port/attest/b$s.json", $REQ);
    my $st = $r->{headers}{'x-attestation-status'} // '';
    die "profile: /attest/b$s.json is not verified: $r->{status} $st\n"
        . slurp("$prefix/logs/error.log")
        unless $r->{status} == 200 && $st =~ /^verified/;
    batch("/attest/b$s.json", 20);
    batch("/plain/b$s.json", 20);
}

my @runs;
for my $s (@SIZES) {
    for my $loc (qw(attest plain)) {
        control('-z');
        my $t0 = time;
        my $n = batch("/$loc/b$s.json", $o{requests});
        control('-d', "$loc-$s");
        push @runs, {size => $s, loc => $loc, n => $n,
                     secs => time - $t0};
    }
}
kill 'QUIT', $vg;
waitpid($vg, 0);
$vg = 0;

# the dumps, in order: callgrind.out.1, .2, ...
my @dumps = sort { ($a =~ /(\d+)$/)[0] <=> ($b =~ /(\d+)$/)[0] }
            grep { /\.\d+$/ } glob("$OUT/callgrind.out.*");
die "profile: expected " . @runs . " dumps, found " . @dumps . "\n"
    unless @dumps >= @runs;

# the module's own code (its .so, ATTEST_MODULE may name another) by
# source file, the rest by shared object
sub group {
    my ($obj, $fl) = @_;
    return 'libsecp256k1' if $obj =~ /secp256k1/;
    if ($obj eq $MODULE) {
        return 'keccak' if $fl =~ /attest_keccak\.c$/;
        return 'jsonhash' if $fl =~ /attest_jsonhash\.c$/;
        return 'reqhash' if $fl =~ /attest_reqhash\.c$/;
        return 'attest ngx' if $fl =~ m{ngx/};
        return 'attest core';
    }
    return 'libcrypto' if $obj =~ /libcrypto/;
    return 'libyajl' if $obj =~ /yajl/;
    return 'libc' if $obj =~ /libc[.-]/;
    return 'nginx' if $obj =~ m{/nginx$};
    return 'other';
}

# self cost (Ir) per function, object and source file, from callgrind's
# own file format (names compressed to "(id) name" on first use)
sub parse {
    my ($file) = @_;
    open my $fh, '<', $file or die "profile: $file: $!";
    my (%obj, %fn, %fls, %cost, $ob, $f, $fl);
    my $sub = 0;
    while (my $l = <$fh>) {
        if ($l =~ /^ob=\((\d+)\)(?: (.*))?$/) {
            $obj{$1} = $2 if defined $2;
            $ob = $obj{$1};
        } elsif ($l =~ /^fn=\((\d+)\)(?: (.*))?$/) {
            $fn{$1} = $2 if defined $2;
            $f = $fn{$1};
            $sub = 0;
        } elsif ($l =~ /^fl=\((\d+)\)(?: (.*))?$/) {
            $fls{$1} = $2 if defined $2;
            $fl = $fls{$1};
        } elsif ($l =~ /^(?:fi|fe|cfi|cfl)=\((\d+)\) (.*)$/) {
            $fls{$1} = $2;
        } elsif ($l =~ /^c(ob|fn)=\((\d+)\)(?: (.*))?$/) {
            my $k = $1 eq 'ob' ? \%obj : \%fn;
            $k->{$2} = $3 if defined $3;
        } elsif ($l =~ /^calls=/) {
            $sub = 1;        # the next cost line is inclusive: skip it
        } elsif ($l =~ /^[+-]?\d+\s+(\d+)/ || $l =~ /^\*\s+(\d+)/) {
            if ($sub) { $sub = 0; next }
            $cost{join "\0", $f, $ob // '', $fl // ''} += $1
                if defined $f;
        }
    }
    return \%cost;
}

my %res;
for my $i (0 .. $#runs) {
    my $run = $runs[$i];
    my $cost = parse($dumps[$i]);
    my (%g, $total);
    for my $k (keys %$cost) {
        my ($f, $ob, $fl) = split /\0/, $k;
        $g{group($ob, $fl)} += $cost->{$k};
        $total += $cost->{$k};
    }
    $run->{total} = $total;
    $run->{groups} = \%g;
    $run->{cost} = $cost;
    $run->{dump} = $dumps[$i];
}

my @G = ('libsecp256k1', 'keccak', 'jsonhash', 'reqhash', 'attest core',
         'attest ngx', 'libcrypto', 'libyajl', 'nginx', 'libc', 'other');
printf "callgrind, instructions per request (%d requests a batch, "
     . "1 connection, keep-alive)\n\n", $o{requests};
printf "%-13s", '';
printf " %13s", "$_->{loc} $_->{size}" for @runs;
print "\n";
for my $g ('total', @G) {
    printf "%-13s", $g;
    for my $run (@runs) {
        my $v = $g eq 'total' ? $run->{total} : $run->{groups}{$g} // 0;
        printf " %13.0f", $v / ($run->{n} || 1);
    }
    print "\n";
}
print "\n";
for my $s (@SIZES) {
    my ($a) = grep { $_->{size} == $s && $_->{loc} eq 'attest' } @runs;
    my ($p) = grep { $_->{size} == $s && $_->{loc} eq 'plain' } @runs;
    my $add = $a->{total} / $a->{n} - $p->{total} / $p->{n};
    my $ec = ($a->{groups}{libsecp256k1} // 0) / $a->{n};
    printf "%s bytes: the module adds %.0f instructions per request, "
         . "%.0f of them besides libsecp256k1\n", $s, $add, $add - $ec;
}
for my $run (grep { $_->{loc} eq 'attest' } @runs) {
    my $c = $run->{cost};
    my @top = (sort { $c->{$b} <=> $c->{$a} } keys %$c)[0 .. $o{top} - 1];
    printf "\ntop functions, attested %s bytes (self Ir per request)\n",
           $run->{size};
    for my $k (grep { defined } @top) {
        my ($f, $ob) = split /\0/, $k;
        $ob = $ob eq $MODULE ? '' : $ob =~ s{.*/}{}r;
        printf "  %9.0f  %-40s %s\n", $c->{$k} / $run->{n}, $f, $ob;
    }
}
print "\ndumps in $OUT (callgrind_annotate FILE)\n";
print "(libsecp256k1 varies by about 2% with the key and signature the "
    . "agent made for this run;\nunder valgrind OpenSSL's SHA-256 takes "
    . "its path without the SHA extensions, about\n28 instructions a "
    . "byte, where the CPU's own runs a few: libcrypto is overstated)\n";
