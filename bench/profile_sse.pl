#!/usr/bin/perl

# Instructions per streamed event (bench/profile-sse.sh runs this): one
# nginx worker under valgrind --tool=callgrind, a signed stream of
# --events events recorded from the agent double and replayed by
# bench/sse_replay.pl.  Three runs, each a fresh nginx with the same
# warm-up (the attestation fetched and cached, one stream through each
# location): the warm-up alone, then --streams streams through a plain
# proxy_pass location, then as many through an attested one (enforce).
# A run's count minus the warm-up's is its streams' alone; prints the
# instructions per event of each location and their difference, the
# module's cost per event.
#
#   perl bench/profile_sse.pl --loadgen build/bench/loadgen
#       [--events 500] [--streams 4] [--interval-ms 1] [--out DIR] [--cpu]
#
# --cpu: no valgrind; the same runs, measured in the worker's CPU time
# (/proc/PID/schedstat, nanoseconds) instead of instructions.
#
# --interval-ms paces the replay (event i leaves at t0 + i * interval):
# an upstream much faster than a worker under callgrind would hand over
# many events per read, which favours neither side evenly.  The profiles
# stay in DIR (default build/bench/callgrind) for callgrind_annotate, and
# the recorded stream in DIR/../stream-EVENTS.sse (bench_core -s reads it).
# Core Perl and t/lib only.

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../t/lib";

use AttestTest qw(:all);
use File::Path qw(make_path);
use Getopt::Long qw(GetOptions);
use POSIX ();
use Time::HiRes qw(time sleep);

my %o = (events => 500, streams => 4, 'interval-ms' => 1,
         out => "$Bin/../build/bench/callgrind", loadgen => undef, cpu => 0);
GetOptions(\%o, 'events=i', 'streams=i', 'interval-ms=f', 'out=s',
           'loadgen=s', 'cpu')
    or die "usage: see the head of $0\n";
my $LOADGEN = $o{loadgen} or die "profile: --loadgen is required\n";
-x $LOADGEN or die "profile: $LOADGEN is not executable\n";
die "profile: module not built: " . module_path() . "\n"
    unless module_built();

my $OUT = $o{out};
make_path($OUT);
unlink glob "$OUT/callgrind.out.* $OUT/valgrind-*.log";

# nginx (master and worker) under callgrind instead of memcheck; the
# harness waits longer for a valgrind'ed nginx when ATTEST_VALGRIND is set
{
    no warnings 'redefine';
    *AttestTest::Nginx::valgrind = sub {
        return () if $o{cpu};
        return ('valgrind', '--tool=callgrind', '--quiet',
                "--callgrind-out-file=$OUT/callgrind.out.%p",
                "--log-file=$OUT/valgrind-%p.log");
    };
}

my $tmp = AttestTest::tmpdir();
my $agent = AttestTest::Agent->start(gpus => 1);
my $ap = $agent->port;

my $BODY = '{"model":"bench","messages":[{"role":"user","content":'
         . '"Count to two hundred."}],"stream":true}';
my $body_file = "$tmp/body-stream.json";
spew_file($body_file, $BODY);

sub spew_file {
    my ($f, $data) = @_;
    open my $fh, '>:raw', $f or die "profile: $f: $!";
    print $fh $data;
    close $fh;
}

# the stream, recorded from the agent (signed like io.net's agent)
my $N = $o{events};
mkdir "$tmp/streams" or die "profile: $tmp/streams: $!";
{
    my $raw = raw_http($ap, "POST /v1/chat/completions HTTP/1.1\r\n"
        . "Host: agent\r\nContent-Type: application/json\r\n"
        . "X-Test-Stream-Events: $N\r\nX-Test-Chunk-Delay: 0\r\n"
        . "Content-Length: " . length($BODY) . "\r\n"
        . "Connection: close\r\n\r\n$BODY", 60);
    my $p = parse_response($raw);
    die "profile: recording a stream: " . ($p->{status} // 'no answer')
        . "\n" unless ($p->{status} // 0) == 200 && $p->{complete}
                      && $p->{body} =~ /event: signature\n.*\[DONE\]\n\n\z/s;
    spew_file("$tmp/streams/s$N.sse", $p->{body});
    # for bench_core -s (the accumulator alone on the same stream)
    spew_file("$OUT/../stream-$N.sse", $p->{body});
}

my ($sse_pid, $sse_in, $sse_port);
{
    pipe(my $out_r, my $out_w) or die "pipe: $!";
    pipe(my $in_r, my $in_w) or die "pipe: $!";
    $sse_pid = fork // die "fork: $!";
    if ($sse_pid == 0) {
        open STDIN, '<&', $in_r or POSIX::_exit(126);
        open STDOUT, '>&', $out_w or POSIX::_exit(126);
        { exec $^X, "$Bin/sse_replay.pl", '--dir', "$tmp/streams" }
        POSIX::_exit(127);
    }
    close $out_w;
    close $in_r;
    $sse_in = $in_w;
    my $line = <$out_r> // '';
    ($sse_port) = $line =~ /^PORT (\d+)/
        or die "profile: sse_replay.pl did not start\n";
}

END {
    if ($sse_pid) {
        close $sse_in;
        kill 'TERM', $sse_pid;
        waitpid($sse_pid, 0);
    }
}

my $gpu_root = $agent->gpu_root;
my $cpu_root = $agent->cpu_root;

$ENV{ATTEST_VALGRIND} = $OUT unless $o{cpu};
my $HTTP = <<"EOF";
attest_zone zone=ionet:1m;
upstream agent  { server 127.0.0.1:$ap; keepalive 4; }
upstream sse    { server 127.0.0.1:$sse_port; keepalive 8; }

server {
    listen 127.0.0.1:%%PORT%%;
    access_log off;
    keepalive_requests 100000;

    attest_fetch /_attestation;
    attest_ttl 1h;
    attest_gpu required;
    attest_gpu_root $gpu_root;
    attest_cpu required;
    attest_cpu_root $cpu_root;

    location /sse/ {
        attest zone=ionet;
        proxy_pass http://sse/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
    }

    location /sse-plain/ {
        proxy_pass http://sse/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
    }

    location = /_attestation {
        internal;
        subrequest_output_buffer_size 512k;
        proxy_pass http://agent/attestation;
        proxy_method POST;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_set_header Content-Type application/json;
        proxy_set_body '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';
    }
}
EOF

sub stream {
    my ($port, $path) = @_;
    my ($rc, $out) = AttestTest::run_cmd(
        [$LOADGEN, 'stream', '-p', $port, '-u', $path, '-b', $body_file,
         '-t', 300, '-H', "X-Bench-Interval-Ms: $o{'interval-ms'}"],
        timeout => 400);
    my ($line) = grep { /^\{/ } split /\n/, $out;
    my $r = $line ? eval { decode_json($line) } : undef;
    die "profile: loadgen $path: exit $rc\n$out\n" unless $r;
    die "profile: $path: not a whole stream: $line\n"
        unless $r->{complete} && $r->{status} == 200 && $r->{events} == $N
               && !$r->{error_event};
    die "profile: $path: not verified\n"
        if $path =~ m{^/sse/} && $r->{attest} ne 'verified';
    return $r;
}

# One nginx under callgrind: a warm-up (the attestation fetched and
# cached, connections to the upstream open, each location's first
# stream), then $o{streams} streams through $path (none without one),
# then a graceful stop; returns the worker's instruction count and its
# profile.  The runs differ only in those streams, so the difference of
# two counts is theirs alone (nginx rewrites its command line, so
# callgrind_control cannot find a worker to dump it mid-run).
sub run {
    my ($path) = @_;
    my $ngx = AttestTest::Nginx->start(
        workers => 1, log_level => 'warn', http => $HTTP,
        # the worker writes its profile into $OUT
        ($> == 0 ? (user => 'root') : ()));
    my $port = $ngx->port;
    my ($worker) = $ngx->worker_pids;
    die "profile: no worker\n" unless $worker;
    stream($port, "/sse/s$N");
    stream($port, "/sse-plain/s$N");
    my $cpu0 = cpu_ns($worker);
    if ($path) {
        stream($port, $path) for 1 .. $o{streams};
    }
    my $cpu = cpu_ns($worker) - $cpu0;
    $ngx->stop;
    return {ir => $cpu, file => "worker $worker, CPU ns"} if $o{cpu};
    my $file = "$OUT/callgrind.out.$worker";
    my $ir;
    my $end = time + 120;
    until (($ir) = slurp($file) =~ /^totals:\s*(\d+)/m) {
        die "profile: no profile in $file\n" if time > $end;
        sleep 0.2;
    }
    return {ir => $ir, file => $file};
}

# time the worker has spent on a CPU, in nanoseconds
sub cpu_ns {
    my ($pid) = @_;
    my ($ns) = slurp("/proc/$pid/schedstat") =~ /^(\d+)/
        or die "profile: no /proc/$pid/schedstat\n";
    return $ns;
}

if ($o{cpu}) {
    # the streams alone count: no warm-up run needed
    my %t = (plain => run("/sse-plain/s$N"), module => run("/sse/s$N"));
    my $ev = $o{streams} * $N;
    printf "worker CPU time, 1 worker: %d streams of %d events per "
         . "location, replayed %s ms apart\n", $o{streams}, $N,
           $o{'interval-ms'};
    printf "  %-7s %8.0f ns per event\n", $_, $t{$_}{ir} / $ev
        for qw(plain module);
    printf "  module minus plain: %.0f ns per event\n",
           ($t{module}{ir} - $t{plain}{ir}) / $ev;
    exit 0;
}

my %ir;
$ir{base} = run(undef);
$ir{plain} = run("/sse-plain/s$N");
$ir{module} = run("/sse/s$N");

my $ev = $o{streams} * $N;
printf "callgrind, 1 worker: %d streams of %d events per location, "
     . "replayed %s ms apart\n", $o{streams}, $N, $o{'interval-ms'};
for my $k (qw(plain module)) {
    my $d = $ir{$k}{ir} - $ir{base}{ir};
    printf "  %-7s %13d instructions, %7.0f per event   (%s)\n", $k, $d,
           $d / $ev, $ir{$k}{file};
}
printf "  (warm-up run alone: %d instructions, %s)\n", $ir{base}{ir},
       $ir{base}{file};
printf "  module minus plain: %.0f instructions per event "
     . "(%.0f per stream)\n",
       ($ir{module}{ir} - $ir{plain}{ir}) / $ev,
       ($ir{module}{ir} - $ir{plain}{ir}) / $o{streams};
