#!/usr/bin/perl

# How fast `attest-verify response` checks a large completion, end to end
# (bench/cli_speed.sh runs this; see bench/README.md).  The agent double
# signs a 1 KiB and a 1 MiB completion (same request, same key); the tool
# verifies each, as saved by curl -D, N times, interleaved.  Reported per
# size: the fastest and the median run, in CPU (user + sys of the
# process) and wall time.  A run includes starting the process, loading
# libcrypto and the signature recovery, which cost the same for both
# sizes: the difference between the two sizes is what the body costs
# (reading it and hashing it), and 1 MiB over that difference is the
# throughput on the body.
#
#   perl bench/cli_speed.pl --tool build/attest-verify [--runs 60]
#       [--size 1048576]

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../t/lib";

use AttestTest qw(:all);
use Getopt::Long qw(GetOptions);

my %o = (tool => undef, runs => 60, size => 1048576);
GetOptions(\%o, 'tool=s', 'runs=i', 'size=i')
    or die "usage: see the head of $0\n";
my $TOOL = $o{tool} or die "cli_speed: --tool is required\n";
-x $TOOL or die "cli_speed: $TOOL is not executable\n";

my $tmp = AttestTest::tmpdir();
my $agent = AttestTest::Agent->start();
my $signer = $agent->info->{signing_address};

my %files;
for my $size (1024, $o{size}) {
    my $r = post_json($agent->url('/v1/chat/completions'),
                      {model => 'm', messages => [{role => 'user',
                                                   content => 'hi'}]},
                      {'X-Test-Body-Size' => $size});
    die "cli_speed: recording $size bytes: $r->{status}\n"
        unless $r->{status} == 200;
    my $head = '';
    for my $k (sort keys %{ $r->{headers} }) {
        my $v = $r->{headers}{$k};
        $head .= "$k: $_\n" for ref $v ? @$v : ($v);
    }
    my %f = (headers => "$tmp/h$size.txt", body => "$tmp/b$size.json");
    for my $k (keys %f) {
        open my $fh, '>:raw', $f{$k} or die "cli_speed: $f{$k}: $!";
        print $fh $k eq 'body' ? $r->{content} : $head;
        close $fh;
    }
    $files{$size} = \%f;
}

# the runs, timed by Python: core Perl has no getrusage(), and times()
# counts in clock ticks of 10 ms
my $PY = <<'PY';
import resource, subprocess, sys, time
tool, signer, runs, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), []
for a in sys.argv[4:]:
    size, h, b = a.split(",")
    sizes.append((int(size), h, b))
t = {s[0]: ([], []) for s in sizes}
for i in range(runs):
    for size, h, b in (sizes if i % 2 == 0 else sizes[::-1]):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([tool, "response", "--signer", signer,
                            "--headers", h, "--body", b],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            sys.exit("cli_speed: %d bytes not verified" % size)
        t[size][0].append(r1.ru_utime + r1.ru_stime
                          - r0.ru_utime - r0.ru_stime)
        t[size][1].append(wall)
for size, (cpu, wall) in t.items():
    cpu.sort()
    wall.sort()
    print(size, cpu[0], cpu[len(cpu) // 2], wall[0], wall[len(wall) // 2])
PY

my ($rc, $out) = AttestTest::run_cmd(
    ['/usr/bin/python3', '-c', $PY, $TOOL, $signer, $o{runs},
     map { "$_,$files{$_}{headers},$files{$_}{body}" }
         sort { $a <=> $b } keys %files], timeout => 600);
die "cli_speed: $out" if $rc;

my %s;
printf "attest-verify response, %d runs each, interleaved (ms; cpu: user "
     . "+ sys of the process)\n", $o{runs};
for my $line (split /\n/, $out) {
    my ($size, $cmin, $cmed, $wmin, $wmed) = split ' ', $line;
    $s{$size} = {cmin => $cmin, wmin => $wmin};
    printf "  %8d B  cpu min %7.2f med %7.2f   wall min %7.2f med %7.2f\n",
           $size, $cmin * 1e3, $cmed * 1e3, $wmin * 1e3, $wmed * 1e3;
}
for my $k (qw(cmin wmin)) {
    my $d = $s{$o{size}}{$k} - $s{1024}{$k};
    printf "  %s: the body of %d B costs %.2f ms more than 1 KiB: %.2f "
         . "GB/s; the whole run %.2f GB/s\n",
         $k eq 'cmin' ? 'cpu ' : 'wall', $o{size}, $d * 1e3,
         $d > 0 ? $o{size} / $d / 1e9 : 0,
         $o{size} / $s{$o{size}}{$k} / 1e9;
}
