#!/usr/bin/perl

# The benchmarks behind "make bench" (bench/run.sh runs this; see
# bench/README.md).  One nginx (worker_processes 1) serves the same
# upstreams through plain proxy_pass locations and through attested ones;
# every measurement runs both, interleaved, and reports module/plain.
#
#   perl bench/bench.pl --loadgen build/bench/loadgen [--out FILE]
#       [--reps 7] [--events 200] [--chunk-delay 0.005]
#       [--rps-reps 2] [--duration 2] [--conns 8]
#       [--mem-big-events 800] [--mem-event-size 65536]
#       [--mem-small-events 50] [--mem-small-event-size 1024]
#       [--e-reps 5] [--e-duration 1.5] [--e-events 500] [--e-pace 0.002]
#       [--cli-runs 11] [--bench-core build/bench/bench_core]
#       [--attest-verify build/attest-verify]
#       [--sections abcde] [--raw FILE] [--quick]
#
# Upstreams:
#   agent   the agent double (t/upstream/agent.py); Python, it signs every
#           response, so it is the bottleneck of any throughput figure,
#           and its streams drift from run to run;
#   replay  a second nginx serving completions recorded from the agent
#           with their signature headers: fast, so the module's own cost
#           shows;
#   sse     bench/sse_replay.pl, a stream recorded from the agent replayed
#           on an absolute schedule, so two runs can be compared event by
#           event.
# The module verifies all three (a replayed completion is still validly
# signed by the attested key, and for the very request body the client
# sends: attest_bind_request checks that).  Core Perl and t/lib only.

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../t/lib";

use AttestTest qw(:all);
use Getopt::Long qw(GetOptions);
use POSIX qw(strftime);
use POSIX ();
use Time::HiRes qw(time sleep);

my %o = (reps => 7, events => 200, 'chunk-delay' => 0.005,
         'rps-reps' => 2, duration => 2, conns => 8,
         'mem-big-events' => 800, 'mem-event-size' => 65536,
         'mem-small-events' => 50, 'mem-small-event-size' => 1024,
         'e-reps' => 5, 'e-duration' => 1.5, 'e-events' => 500,
         'e-pace' => 0.002, 'cli-runs' => 11,
         'bench-core' => "$Bin/../build/bench/bench_core",
         'attest-verify' => "$Bin/../build/attest-verify",
         out => undef, raw => undef, loadgen => undef, quick => 0,
         sections => 'abcde');
GetOptions(\%o, 'reps=i', 'events=i', 'chunk-delay=f', 'rps-reps=i',
           'duration=f', 'conns=i', 'mem-big-events=i', 'mem-event-size=i',
           'mem-small-events=i', 'mem-small-event-size=i', 'e-reps=i',
           'e-duration=f', 'e-events=i', 'e-pace=f', 'cli-runs=i',
           'bench-core=s', 'attest-verify=s', 'out=s',
           'loadgen=s', 'quick', 'sections=s', 'raw=s')
    or die "usage: see the head of $0\n";
if ($o{quick}) {
    @o{qw(reps rps-reps duration mem-big-events)} = (2, 1, 0.5, 160);
    @o{qw(e-reps e-duration e-pace cli-runs)} = (2, 0.3, 0.001, 3);
}
my $LOADGEN = $o{loadgen} or die "bench: --loadgen is required\n";
-x $LOADGEN or die "bench: $LOADGEN is not executable\n";
die "bench: module not built: " . module_path() . " (make module)\n"
    unless module_built();

my $T0 = time;
my @OUT;
my %RAW;        # every loadgen result, for --raw
my $LOAD0 = (split ' ', slurp('/proc/loadavg'))[0];

sub say_ {
    my ($line) = @_;
    print "$line\n";
    push @OUT, $line;
}

sub note_ { print STDERR "bench: @_\n" }

# --- statistics -----------------------------------------------------------

sub pct {
    my ($p, @v) = @_;
    return undef unless @v;
    @v = sort { $a <=> $b } @v;
    return $v[int($p * $#v + 0.5)];
}

sub median { pct(0.5, @_) }

sub ratio {
    my ($m, $p) = @_;
    return 'n/a' unless defined $m && defined $p && $p > 0;
    return sprintf('%.3f', $m / $p);
}

sub fmt {
    my ($v, $f) = @_;
    return defined $v ? sprintf($f // '%.2f', $v) : 'n/a';
}

# --- processes ------------------------------------------------------------

my $tmp = AttestTest::tmpdir();
my $agent = AttestTest::Agent->start(gpus => 1);
my $ap = $agent->port;

# The request bodies the client sends (loadgen -b): the non-streamed and
# streamed chat, and (d) prompts of 4 KiB and 100 KiB.
my $MSG = '"messages":[{"role":"user","content":"Count to two hundred."}]';
my %BODY = (complete => qq({"model":"bench",$MSG}),
            stream => qq({"model":"bench",$MSG,"stream":true}));
for my $kb (4, 100) {
    # prose with the escapes a prompt carries: quotes, newlines, unicode
    my $unit = 'The quick brown fox \"jumps\" over the lazy dog.\n'
             . 'caf\u00e9 na\u00efve 42 ';
    my $head = qq({"model":"bench","messages":[{"role":"system","content":)
             . qq("Be brief."},{"role":"user","content":");
    my $tail = qq("}],"temperature":0.7,"max_tokens":256});
    my $fill = 1024 * $kb - length($head) - length($tail);
    my $text = substr($unit x (1 + int($fill / length $unit)), 0, $fill);
    $text =~ s/\\[^"\\]*\z//;
    $BODY{"prompt$kb"} = $head . $text . (' ' x ($fill - length $text))
                       . $tail;
}
my %BODY_FILE;
for my $k (sort keys %BODY) {
    $BODY_FILE{$k} = "$tmp/body-$k.json";
    open my $fh, '>:raw', $BODY_FILE{$k} or die "bench: $k: $!";
    print $fh $BODY{$k};
    close $fh;
}

my $SIGNER;     # the agent's signing address, from a recorded completion

# Records a signed completion of $size bytes from the agent, answering the
# request body $BODY{$req}: the replay upstream serves it again and again
# (the module checks that the body matches its signature, that the signer
# is the attested key and, attest_bind_request, that it answers this very
# request body; nothing ties it to a time, so a replay of it verifies).
sub record {
    my ($name, $size, $req) = @_;
    my $r = post_json($agent->url('/v1/chat/completions'),
                      $BODY{$req // 'complete'},
                      {'X-Test-Body-Size' => $size});
    die "bench: recording $name: $r->{status}\n" unless $r->{status} == 200;
    open my $fh, '>:raw', "$tmp/www/$name.json" or die "$name: $!";
    print $fh $r->{content};
    close $fh;
    my $h = '';
    # the same headers as "name: value" lines, for attest-verify (e)
    my $hf = "Content-Type: application/json\n";
    for my $k (qw(text signature signing_address signing_algo
                  image_digest)) {
        next unless defined $r->{headers}{$k};
        $h .= "            add_header $k \"$r->{headers}{$k}\";\n";
        $hf .= "$k: $r->{headers}{$k}\n";
    }
    open $fh, '>:raw', "$tmp/$name.headers" or die "$name: $!";
    print $fh $hf;
    close $fh;
    $SIGNER = $r->{headers}{signing_address};
    return <<"EOF";
        location = /$name.json {
            default_type application/json;
            # the static handler refuses POST; answer it as a GET
            error_page 405 =200 \$uri;
$h        }
EOF
}

mkdir "$tmp/www" or die "bench: $tmp/www: $!";
my $replay_locs = record('small', 1024) . record('large', 65536)
                . record('prompt4', 1024, 'prompt4')
                . record('prompt100', 1024, 'prompt100');
# (e): bodies of 1 KiB to 1 MiB, each answering $BODY{complete}
my @E_SIZES = (['1 KiB', 'e1k', 1024], ['4 KiB', 'e4k', 4096],
               ['64 KiB', 'e64k', 65536], ['1 MiB', 'e1m', 1048576]);
if ($o{sections} =~ /e/) {
    $replay_locs .= record($_->[1], $_->[2]) for @E_SIZES;
}

my $replay = AttestTest::Nginx->start(no_module => 1, log_level => 'warn',
                                      http => <<"EOF");
server {
    listen 127.0.0.1:%%PORT%%;
    access_log off;
    root $tmp/www;
    keepalive_requests 100000;
$replay_locs}
EOF
my $rp = $replay->port;

# The paced SSE upstream (bench/sse_replay.pl) and the signed stream it
# replays, recorded from the agent.
mkdir "$tmp/streams" or die "bench: $tmp/streams: $!";
sub record_stream {
    my ($n) = @_;
    my $body = $BODY{stream};
    my $raw = raw_http($ap, "POST /v1/chat/completions HTTP/1.1\r\n"
        . "Host: agent\r\nContent-Type: application/json\r\n"
        . "X-Test-Stream-Events: $n\r\nX-Test-Chunk-Delay: 0\r\n"
        . "Content-Length: " . length($body) . "\r\n"
        . "Connection: close\r\n\r\n$body", 60);
    my $p = parse_response($raw);
    die "bench: recording a stream: " . ($p->{status} // 'no answer') . "\n"
        unless ($p->{status} // 0) == 200 && $p->{complete}
               && $p->{body} =~ /event: signature\n.*data: \[DONE\]\n\n\z/s;
    open my $fh, '>:raw', "$tmp/streams/s$n.sse" or die "bench: $!";
    print $fh $p->{body};
    close $fh;
}
record_stream($o{events});
record_stream($o{'e-events'})
    if $o{sections} =~ /e/ && $o{'e-events'} != $o{events};

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
        or die "bench: sse_replay.pl did not start\n";
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

# The nginx under test; the same text for the fresh ones of the memory
# measurements.
my $HTTP = <<"EOF";
attest_zone zone=ionet:1m;
upstream agent  { server 127.0.0.1:$ap; keepalive 32; }
upstream replay { server 127.0.0.1:$rp; keepalive 32; }
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

    # the agent serves streams too: buffering off, as for any SSE proxy
    location /v1/ {
        attest zone=ionet;
        proxy_pass http://agent;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering off;
    }

    location /plain/ {
        proxy_pass http://agent/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering off;
    }

    # non-streaming only: nginx's default buffering on both sides (with
    # it off, a plain proxy relays a 64 KB body in proxy_buffer_size
    # pieces and loses to the module, which holds the body until it is
    # verified anyway)
    location /replay/ {
        attest zone=ionet;
        proxy_pass http://replay/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering on;
    }

    # (d) the same without request binding
    location /replay-nobind/ {
        attest zone=ionet;
        attest_bind_request off;
        proxy_pass http://replay/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering on;
    }

    location /replay-plain/ {
        proxy_pass http://replay/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering on;
    }

    # (e): bodies up to 1 MiB held in memory on both sides (nginx's
    # default buffers would spill a plain 1 MiB answer to a temp file)
    location /e/ {
        attest zone=ionet;
        proxy_pass http://replay/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering on;
        proxy_buffers 32 64k;
    }

    location /e-plain/ {
        proxy_pass http://replay/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering on;
        proxy_buffers 32 64k;
    }

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

    # HTTP/1.1 here too: the agent closes an HTTP/1.0 connection without
    # saying so, and the keepalive pool would reuse it
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

sub start_nginx {
    return AttestTest::Nginx->start(http => $HTTP, workers => 1,
                                    log_level => 'warn');
}

my $ngx = start_nginx();
my $port = $ngx->port;

# The worker's CPU time so far, in seconds: user + system, from
# /proc/PID/schedstat (nanoseconds) where the kernel keeps it, else
# utime + stime from /proc/PID/stat (clock ticks).
my $CLK_TCK = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
sub worker_cpu {
    my ($pid) = @_;
    if (open my $fh, '<', "/proc/$pid/schedstat") {
        my ($ns) = split ' ', scalar(<$fh>) // '';
        return $ns / 1e9 if defined $ns && $ns =~ /^\d+\z/;
    }
    my $st = slurp("/proc/$pid/stat");
    $st =~ s/^.*\) //s;
    my @f = split ' ', $st;
    # fields 14 and 15 of the line; the 12th and 13th after "(comm) "
    return ($f[11] + $f[12]) / $CLK_TCK;
}

my ($EW) = $ngx->worker_pids;
die "bench: no worker process\n" unless $EW;


# --- client ---------------------------------------------------------------

my $STREAM_BODY = $BODY_FILE{stream};

sub loadgen {
    my (@argv) = @_;
    my ($rc, $out) = AttestTest::run_cmd([$LOADGEN, @argv], timeout => 120);
    my ($line) = grep { /^\{/ } split /\n/, $out;
    my $r = $line ? eval { decode_json($line) } : undef;
    die "bench: loadgen @argv: exit $rc\n$out\n" unless $r;
    return $r;
}

sub stream {
    my ($p, $path, %h) = @_;
    return loadgen('stream', '-p', $p, '-u', $path, '-b', $STREAM_BODY,
                   '-t', 30, map { ('-H', "$_: $h{$_}") } sort keys %h);
}

# a -Body header picks the request body (%BODY; default "complete")
sub rps {
    my ($path, $conns, %h) = @_;
    my $body = $BODY_FILE{delete $h{-Body} // 'complete'};
    return loadgen('rps', '-p', $port, '-u', $path, '-b', $body,
                   '-c', $conns, '-d', $o{duration},
                   map { ('-H', "$_: $h{$_}") } sort keys %h);
}

# --- sanity: the module location really verifies -------------------------

{
    my %small = ('X-Test-Body-Size' => 1024);
    for my $c (['/v1/chat/completions', \%small],
               ['/replay/small.json', {}], ['/replay/large.json', {}],
               ['/replay/prompt4.json', {}, 'prompt4'],
               ['/replay/prompt100.json', {}, 'prompt100']) {
        my $r = post_json("http://127.0.0.1:$port$c->[0]",
                          $BODY{$c->[2] // 'complete'}, $c->[1]);
        my $st = $r->{headers}{'x-attestation-status'} // '';
        die "bench: $c->[0] is not verified: $r->{status} $st\n"
            . $ngx->error_log unless $r->{status} == 200
                                     && $st =~ /^verified/;
    }
    my $s = stream($port, '/v1/chat/completions',
                   'X-Test-Stream-Events' => 20, 'X-Test-Chunk-Delay' => 0);
    die "bench: a stream through the module is not verified: "
        . encode_json($s) . "\n" . $ngx->error_log
        unless $s->{complete} && $s->{attest} eq 'verified'
               && $s->{events} == 20;
}

say_("ngx_http_attest_module benchmark, "
     . strftime('%Y-%m-%d %H:%M:%S UTC', gmtime));
{
    my $cpu = slurp('/proc/cpuinfo');
    say_(sprintf('nginx %s, 1 worker; %d CPUs (%s); client, upstreams and '
                 . 'nginx on the same machine',
                 (`/usr/sbin/nginx -v 2>&1` =~ m{nginx/(\S+)})[0] // '?',
                 scalar(() = $cpu =~ /^processor/mg),
                 ($cpu =~ /model name\s*:\s*(.*)/)[0] // 'unknown CPU'));
    say_("load average before the run: $LOAD0 (anything else running "
         . "skews the numbers)");
}
say_('');

# --- (a) streaming --------------------------------------------------------

goto SECTION_B unless $o{sections} =~ /a/;

my $N = $o{events};
my $PACE = $o{'chunk-delay'};

# Streams one location pair $reps times each, interleaved, $n events a
# stream; returns {plain => [results], module => [results]}, each with
# cpu_s, the worker's CPU time during that stream.
sub stream_pair {
    my ($label, $plain, $mod, $n, $reps, %h) = @_;
    my %st = (plain => [], module => []);
    # a warm-up stream each: connections to the upstream, its first fork
    stream($port, $_, %h) for $plain, $mod;
    for my $rep (1 .. $reps) {
        # alternate the order so that drift favours neither
        my @order = $rep % 2 ? ([plain => $plain], [module => $mod])
                             : ([module => $mod], [plain => $plain]);
        for my $w (@order) {
            # one stream at a time: the worker's CPU meanwhile is its own
            my $c0 = worker_cpu($EW);
            my $r = stream($port, $w->[1], %h);
            $r->{cpu_s} = worker_cpu($EW) - $c0;
            die "bench: $label $w->[0] stream: "
                . encode_json({%$r, times_ms => []}) . "\n"
                unless $r->{complete} && $r->{status} == 200
                       && $r->{events} == $n && !$r->{error_event};
            die "bench: $label module stream not verified\n"
                if $w->[0] eq 'module' && $r->{attest} ne 'verified';
            push @{ $st{$w->[0]} }, $r;
        }
    }
    return \%st;
}

# event i through the module minus event i through plain, same run pair,
# for every pair: (the per-event delays, the [DONE] delays)
sub stream_delays {
    my ($st, $n) = @_;
    my (@delta, @done);
    for my $i (0 .. $#{ $st->{plain} }) {
        my ($p, $m) = ($st->{plain}[$i], $st->{module}[$i]);
        push @delta, map { $m->{times_ms}[$_] - $p->{times_ms}[$_] }
            0 .. $n - 1;
        push @done, $m->{done_ms} - $p->{done_ms};
    }
    return (\@delta, \@done);
}

sub stream_report {
    my ($label, $st, $n) = @_;
    my $col = sub {
        my ($w, $k) = @_;
        return map { $_->{$k} } @{ $st->{$w} };
    };
    for my $row (['time to first byte', 'ttfb_ms'],
                 ['time to last chunk', 'total_ms']) {
        my @p = $col->('plain', $row->[1]);
        my @m = $col->('module', $row->[1]);
        say_(sprintf('    %-7s %-20s %10s %10s %10s %10s %7s', $label,
                     $row->[0], fmt(median(@p)), fmt(pct(0.9, @p)),
                     fmt(median(@m)), fmt(pct(0.9, @m)),
                     ratio(median(@m), median(@p))));
        $label = '';
    }
    # event i through the module against event i through plain, same run
    # pair; [DONE] apart: the module holds it until the signature checks
    my ($d, $dn) = stream_delays($st, $n);
    my @delta = @$d;
    my @done = @$dn;
    say_(sprintf('    %-7s %-20s median %s, p90 %s, p99 %s ms '
                 . '(%d events)', '', 'per-event delay',
                 fmt(median(@delta), '%+.3f'), fmt(pct(0.9, @delta), '%+.3f'),
                 fmt(pct(0.99, @delta), '%+.3f'), scalar @delta));
    say_(sprintf('    %-7s %-20s median %s, p90 %s ms', '',
                 'data: [DONE] delay', fmt(median(@done), '%+.3f'),
                 fmt(pct(0.9, @done), '%+.3f')));
}

note_("streaming: 2 upstreams x $o{reps} x 2 streams of $N events, "
      . "${PACE} s apart");
my $st_replay = stream_pair('replay', "/sse-plain/s$N", "/sse/s$N", $N,
                            $o{reps}, 'X-Bench-Interval-Ms' => $PACE * 1000);
my $st_agent = stream_pair('agent', '/plain/v1/chat/completions',
                           '/v1/chat/completions', $N, $o{reps},
                           'X-Test-Stream-Events' => $N,
                           'X-Test-Chunk-Delay' => $PACE);
$RAW{streaming} = {sse => $st_replay, agent => $st_agent};

say_("(a) streaming: $N events ${\ ($PACE * 1000)} ms apart, $o{reps} runs "
     . "per location, interleaved (ms)");
say_(sprintf('    %-7s %-20s %10s %10s %10s %10s %7s', 'source', '',
             'plain p50', 'plain p90', 'module p50', 'module p90', 'ratio'));
stream_report('replay', $st_replay, $N);
stream_report('agent', $st_agent, $N);
say_('    (delays: module minus plain, event by event; "replay" paces on an '
     . 'absolute');
say_('    schedule and is the precise one, the agent drifts between runs)');
say_('');

# --- (b) non-streaming ----------------------------------------------------

SECTION_B:
goto SECTION_D unless $o{sections} =~ /b/;

note_("non-streaming: $o{'rps-reps'} rounds of $o{duration} s runs");
my @cases = (
    ['replay', '1 KB',  '/replay-plain/small.json', '/replay/small.json', {}],
    ['replay', '64 KB', '/replay-plain/large.json', '/replay/large.json', {}],
    ['agent',  '1 KB',  '/plain/v1/chat/completions', '/v1/chat/completions',
     {'X-Test-Body-Size' => 1024}],
    ['agent',  '64 KB', '/plain/v1/chat/completions', '/v1/chat/completions',
     {'X-Test-Body-Size' => 65536}],
);
my %res;
for my $rep (1 .. $o{'rps-reps'}) {
    for my $c (@cases) {
        my ($up, $size, $plain, $mod, $h) = @$c;
        my @order = $rep % 2 ? ([plain => $plain], [module => $mod])
                             : ([module => $mod], [plain => $plain]);
        for my $conns ($o{conns}, 1) {
            for my $w (@order) {
                my $r = rps($w->[1], $conns, %$h);
                die "bench: $up $size $w->[0]: errors: "
                    . encode_json($r) . "\n" if $r->{errors}
                                                || !$r->{requests};
                push @{ $res{"$up $size"}{$w->[0]}{$conns} }, $r;
            }
        }
    }
}

$RAW{non_streaming} = \%res;
say_("(b) non-streaming: requests/s with $o{conns} connections, latency "
     . "with 1 (ms); medians of $o{'rps-reps'} runs of $o{duration} s");
say_(sprintf('    %-15s %9s %9s %6s %9s %9s %9s %9s %6s', 'upstream body',
             'rps plain', 'rps mod', 'ratio', 'p50 plain', 'p50 mod',
             'p90 plain', 'p90 mod', 'ratio'));
for my $c (@cases) {
    my $k = "$c->[0] $c->[1]";
    my $g = sub {
        my ($w, $conns, $f) = @_;
        return median(map { $_->{$f} } @{ $res{$k}{$w}{$conns} });
    };
    my ($rp_, $rm) = ($g->('plain', $o{conns}, 'rps'),
                      $g->('module', $o{conns}, 'rps'));
    my ($lp, $lm) = ($g->('plain', 1, 'p50_ms'), $g->('module', 1, 'p50_ms'));
    say_(sprintf('    %-15s %9s %9s %6s %9s %9s %9s %9s %6s', $k,
                 fmt($rp_, '%.0f'), fmt($rm, '%.0f'), ratio($rm, $rp_),
                 fmt($lp, '%.3f'), fmt($lm, '%.3f'),
                 fmt($g->('plain', 1, 'p90_ms'), '%.3f'),
                 fmt($g->('module', 1, 'p90_ms'), '%.3f'),
                 ratio($lm, $lp)));
}
say_('    (rps ratio module/plain: 1.0 = no cost, lower is slower; latency '
     . 'ratio: higher is slower)');
say_('');

# --- (d) request binding -------------------------------------------------

SECTION_D:
goto SECTION_E unless $o{sections} =~ /d/;

# The added cost of attest_bind_request per request: the same replayed
# 1 KB answer to a 4 KiB and a 100 KiB prompt, through plain proxy_pass,
# the module with binding off and with it on (the default), interleaved.
note_("request binding: $o{'rps-reps'} rounds of $o{duration} s runs");
my @bind = (['4 KiB', 'prompt4'], ['100 KiB', 'prompt100']);
my @bind_locs = (['plain', '/replay-plain/'], ['off', '/replay-nobind/'],
                 ['on', '/replay/']);
my %bres;
for my $rep (1 .. $o{'rps-reps'}) {
    for my $c (@bind) {
        my ($label, $body) = @$c;
        my @order = $rep % 2 ? @bind_locs : reverse @bind_locs;
        for my $conns ($o{conns}, 1) {
            for my $w (@order) {
                my $r = rps("$w->[1]$body.json", $conns, -Body => $body);
                die "bench: binding $label $w->[0]: errors: "
                    . encode_json($r) . "\n" if $r->{errors}
                                                || !$r->{requests};
                push @{ $bres{$label}{$w->[0]}{$conns} }, $r;
            }
        }
    }
}
$RAW{request_binding} = \%bres;

say_("(d) request binding (attest_bind_request): a 1 KB replayed answer to "
     . "a prompt of");
say_("    4 KiB (in memory) and 100 KiB (a temp file beyond "
     . "client_body_buffer_size);");
say_("    requests/s with $o{conns} connections, p50 latency with 1 (ms); "
     . "medians of $o{'rps-reps'} runs");
say_(sprintf('    %-8s %9s %9s %9s %8s %8s %8s %10s %10s', 'prompt',
             'rps plain', 'rps off', 'rps on', 'p50 pl', 'p50 off',
             'p50 on', 'cpu us/req', 'wait us'));
for my $c (@bind) {
    my $k = $c->[0];
    my $g = sub {
        my ($w, $conns, $f) = @_;
        return median(map { $_->{$f} } @{ $bres{$k}{$w}{$conns} });
    };
    my %rps = map { ($_ => $g->($_, $o{conns}, 'rps')) } qw(plain off on);
    my %p50 = map { ($_ => $g->($_, 1, 'p50_ms')) } qw(plain off on);
    # the worker is saturated with $o{conns} connections: the difference
    # of the time per request is the CPU binding adds
    my $cpu = $rps{on} && $rps{off}
            ? 1e6 / $rps{on} - 1e6 / $rps{off} : undef;
    say_(sprintf('    %-8s %9s %9s %9s %8s %8s %8s %10s %10s', $k,
                 fmt($rps{plain}, '%.0f'), fmt($rps{off}, '%.0f'),
                 fmt($rps{on}, '%.0f'), fmt($p50{plain}, '%.3f'),
                 fmt($p50{off}, '%.3f'), fmt($p50{on}, '%.3f'),
                 fmt($cpu, '%+.1f'),
                 fmt(defined $p50{on} && defined $p50{off}
                     ? 1000 * ($p50{on} - $p50{off}) : undef, '%+.1f')));
}
say_('    (cpu us/req: 1e6/rps(on) - 1e6/rps(off), what binding costs the '
     . 'worker;');
say_('    wait us: p50(on) - p50(off), what one request waits longer)');
say_('');

# --- (e) the goals of issue 16 --------------------------------------------

SECTION_E:
goto SECTION_C unless $o{sections} =~ /e/;

# rps() with the worker's CPU time read before and after: cpu_us is the
# worker's CPU per request (or per $per of something else a request
# carries: the events of a stream); a -Body header picks the request body
sub cpu_rps {
    my ($path, $conns, $dur, $per, %h) = @_;
    my $body = $BODY_FILE{delete $h{-Body} // 'complete'};
    my $c0 = worker_cpu($EW);
    my $r = loadgen('rps', '-p', $port, '-u', $path, '-b', $body,
                    '-c', $conns, '-d', $dur,
                    map { ('-H', "$_: $h{$_}") } sort keys %h);
    my $c1 = worker_cpu($EW);
    die "bench: $path: errors: " . encode_json($r) . "\n"
        if $r->{errors} || !$r->{requests};
    $r->{cpu_us} = 1e6 * ($c1 - $c0) / ($r->{requests} * ($per // 1));
    return $r;
}

# median (min..max); $f, or without decimals from 1000 up
sub spread {
    my ($f, @v) = @_;
    return 'n/a' unless @v;
    @v = sort { $a <=> $b } @v;
    $f =~ s/\.\d+f/.0f/ if abs(median(@v)) >= 1000;
    return sprintf("$f ($f..$f)", median(@v), $v[0], $v[-1]);
}

sub num { my ($v) = @_; sprintf(abs($v) >= 1000 ? '%.0f' : '%.1f', $v) }

my ($ER, $ED, $EN) = @o{qw(e-reps e-duration e-events)};
my %E;

# the verify floor: one signer recovery, timed by bench_core in this run
if (-x $o{'bench-core'}) {
    my ($rc, $out) = AttestTest::run_cmd([$o{'bench-core'}, '-r'],
                                         timeout => 60);
    ($E{floor}, $E{floor_lo}, $E{floor_hi})
        = $out =~ /^recover_us (\S+) (\S+) (\S+)/m;
    note_("bench_core -r: $out") unless defined $E{floor};
} else {
    note_("$o{'bench-core'} missing (make $o{'bench-core'}): no floor");
}

# sanity: every size verified through /e/, and of its exact size
for my $s (@E_SIZES) {
    my $r = post_json("http://127.0.0.1:$port/e/$s->[1].json",
                      $BODY{complete});
    my $st = $r->{headers}{'x-attestation-status'} // '';
    die "bench: /e/$s->[1].json is not verified: $r->{status} $st\n"
        . $ngx->error_log unless $r->{status} == 200 && $st =~ /^verified/
                                 && length($r->{content}) == $s->[2];
}
{
    my $s = stream($port, "/sse/s$EN", 'X-Bench-Interval-Ms' => 0);
    die "bench: the $EN-event stream is not verified: "
        . encode_json({%$s, times_ms => []}) . "\n" . $ngx->error_log
        unless $s->{complete} && $s->{attest} eq 'verified'
               && $s->{events} == $EN;
}

note_("(e) non-streaming: $ER rounds of 4 sizes x 2 runs of $ED s");
# a warm-up run each
cpu_rps("/e$_/e1m.json", $o{conns}, 0.2) for '-plain', '';
for my $rep (1 .. $ER) {
    for my $s (@E_SIZES) {
        my @order = $rep % 2 ? ('plain', 'module') : ('module', 'plain');
        for my $w (@order) {
            my $path = ($w eq 'plain' ? '/e-plain/' : '/e/')
                     . "$s->[1].json";
            my $r = cpu_rps($path, $o{conns}, $ED);
            die "bench: $path: $r->{bytes} bytes in $r->{requests} "
                . "answers\n" if $r->{bytes} != $r->{requests} * $s->[2];
            push @{ $E{ns}{$s->[0]}{$w} }, $r;
        }
    }
}

note_("(e) streams: $ER rounds of 2 x $ED s of $EN-event streams at full "
      . "speed, then of 2 paced ones");
my %fast = ('X-Bench-Interval-Ms' => 0, -Body => 'stream');
cpu_rps("/sse$_/s$EN", $o{conns}, 0.2, $EN, %fast) for '-plain', '';
for my $rep (1 .. $ER) {
    my @order = $rep % 2 ? ('plain', 'module') : ('module', 'plain');
    for my $w (@order) {
        my $path = ($w eq 'plain' ? '/sse-plain/' : '/sse/') . "s$EN";
        push @{ $E{sse}{$w} }, cpu_rps($path, $o{conns}, $ED, $EN, %fast);
    }
}
$E{paced} = stream_pair('replay', "/sse-plain/s$EN", "/sse/s$EN", $EN, $ER,
                        'X-Bench-Interval-Ms' => $o{'e-pace'} * 1000);

note_("(e) attest-verify response: $o{'cli-runs'} runs on 1 MiB");
if (-x $o{'attest-verify'}) {
    my @cmd = ($o{'attest-verify'}, 'response', '--signer', $SIGNER,
               '--headers', "$tmp/e1m.headers", '--body', "$tmp/www/e1m.json");
    my ($rc, $out) = AttestTest::run_cmd([@cmd]);
    die "bench: attest-verify does not verify the 1 MiB body: $out\n" if $rc;
    $E{cli} = loadgen('time', '-r', $o{'cli-runs'}, '--', @cmd);
    die "bench: attest-verify failed in the timed runs\n"
        if $E{cli}{failed};
    # the process alone, for the reader: start, libcrypto, exit
    $E{cli_start} = loadgen('time', '-r', $o{'cli-runs'}, '--',
                            $o{'attest-verify'}, '--version');
} else {
    note_("$o{'attest-verify'} missing (make): no CLI figure");
}
$RAW{goals} = \%E;

# --- the table

say_("(e) issue 16: worker CPU added per verified response and per "
     . "streamed event");
say_(sprintf('    verify floor: attest_eth_recover %s us (bench_core -r, '
             . 'median (min..max))',
             defined $E{floor} ? sprintf('%.1f (%.1f..%.1f)', $E{floor},
                                         $E{floor_lo}, $E{floor_hi})
                               : 'n/a'));
say_("    non-streaming, $o{conns} connections, $ER runs of $ED s per "
     . "location, alternating;");
say_('    added us = module - plain per run pair: median (min..max); '
     . 'rps: 1e6/E - 1e6/P;');
say_('    cpu: the worker\'s own CPU time per request (/proc), module - '
     . 'plain');
say_(sprintf('    %-6s %6s %6s %25s %7s %7s %25s %6s', 'body', 'rps pl',
             'rps md', 'added us (rps)', 'cpu pl', 'cpu md',
             'added us (cpu)', '/floor'));
my %added;      # size => {rps => median, cpu => median}
for my $s (@E_SIZES) {
    my $k = $s->[0];
    my ($P, $M) = @{ $E{ns}{$k} }{qw(plain module)};
    my @ar = map { 1e6 / $M->[$_]{rps} - 1e6 / $P->[$_]{rps} } 0 .. $#$P;
    my @ac = map { $M->[$_]{cpu_us} - $P->[$_]{cpu_us} } 0 .. $#$P;
    $added{$k} = {rps => median(@ar), cpu => median(@ac)};
    say_(sprintf('    %-6s %6.0f %6.0f %25s %7s %7s %25s %6s', $k,
                 median(map { $_->{rps} } @$P), median(map { $_->{rps} } @$M),
                 spread('%+.1f', @ar), num(median(map { $_->{cpu_us} } @$P)),
                 num(median(map { $_->{cpu_us} } @$M)), spread('%+.1f', @ac),
                 $E{floor} ? sprintf('%.2f', $added{$k}{cpu} / $E{floor})
                           : 'n/a'));
}

my ($SP, $SM) = @{ $E{sse} }{qw(plain module)};
my @ev = map { $SM->[$_]{cpu_us} - $SP->[$_]{cpu_us} } 0 .. $#$SP;
my ($dl, $dn) = stream_delays($E{paced}, $EN);
my @tp = map { $_->{ttfb_ms} } @{ $E{paced}{plain} };
my @tm = map { $_->{ttfb_ms} } @{ $E{paced}{module} };
my @td = map { $tm[$_] - $tp[$_] } 0 .. $#tp;
# the paced streams one at a time: the worker's CPU per event, by pair
my @pcp = map { 1e6 * $_->{cpu_s} / $EN } @{ $E{paced}{plain} };
my @pcm = map { 1e6 * $_->{cpu_s} / $EN } @{ $E{paced}{module} };
my @pev = map { $pcm[$_] - $pcp[$_] } 0 .. $#pcp;
say_("    streams of $EN events: worker CPU per event at full speed, "
     . "$o{conns} connections,");
say_(sprintf('      %d runs of %s s: plain %.2f, module %.2f us/event; '
             . 'module - plain %s us', $ER, $ED,
             median(map { $_->{cpu_us} } @$SP),
             median(map { $_->{cpu_us} } @$SM), spread('%+.2f', @ev)));
say_(sprintf('      paced, %s ms apart, one stream at a time, %d each: '
             . 'plain %.2f, module %.2f us/event;', $o{'e-pace'} * 1000, $ER,
             median(@pcp), median(@pcm)));
say_(sprintf('      module - plain %s us/event; time to first byte plain '
             . '%.3f, module %.3f ms', spread('%+.2f', @pev), median(@tp),
             median(@tm)));
say_(sprintf('      module - plain: ttfb %s ms; per-event delay median '
             . '%+.3f, p90 %+.3f ms;', spread('%+.3f', @td), median(@$dl),
             pct(0.9, @$dl)));
say_(sprintf('      data: [DONE] delay median %+.3f ms (it waits for the '
             . 'signature check)', median(@$dn)));

my ($cli_ms, $cli_mbs);
if ($E{cli}) {
    my @ms = @{ $E{cli}{ms} };
    $cli_ms = median(@ms);
    $cli_mbs = 1048576 / ($cli_ms / 1000) / 1e6;
    say_(sprintf('    attest-verify response, 1 MiB body and its headers, '
                 . '%d runs: %s ms', scalar @ms, spread('%.2f', @ms)));
    say_(sprintf('      = %.0f MB/s end to end (the process start alone, '
                 . 'attest-verify --version: %.2f ms)', $cli_mbs,
                 median(@{ $E{cli_start}{ms} })));
}

# the goals of issue 16 next to the figures
sub goal {
    my ($what, $target, $v, $ok, $f) = @_;
    say_(sprintf('    %-42s %12s %12s  %s', $what, $target,
                 defined $v ? sprintf($f, $v) : 'n/a',
                 !defined $v ? '-' : $ok ? 'PASS' : 'MISS'));
}
my $lim64 = defined $E{floor} ? $E{floor} + 45 : undef;
my $ev_med = median(@ev);
my $dl_med = median(@$dl);
my $td_med = median(@td);
say_('  goals (issue 16)');
say_(sprintf('    %-42s %12s %12s  %s', 'goal', 'target', 'measured',
             'verdict'));
for my $m (['cpu', 'worker cpu'], ['rps', '1e6/E - 1e6/P']) {
    my $v = $added{'4 KiB'}{$m->[0]};
    goal("added per 4 KiB response ($m->[1])", '<= 40 us', $v,
         $v <= 40, '%+.1f us');
}
for my $m (['cpu', 'worker cpu'], ['rps', '1e6/E - 1e6/P']) {
    my $v = $added{'64 KiB'}{$m->[0]};
    goal("added per 64 KiB response ($m->[1])",
         defined $lim64 ? sprintf('<= %.1f us', $lim64) : 'floor + 45',
         defined $lim64 ? $v : undef, defined $lim64 && $v <= $lim64,
         '%+.1f us');
}
goal('stream: cpu per event beyond plain (fast)', '<= 1 us', $ev_med,
     $ev_med <= 1, '%+.2f us');
my $pev_med = median(@pev);
goal('stream: cpu per event beyond plain (paced)', '<= 1 us', $pev_med,
     $pev_med <= 1, '%+.2f us');
goal('stream: per-event delay (median)', '<= 0.5 ms', $dl_med,
     abs($dl_med) <= 0.5, '%+.3f ms');
goal('stream: time to first byte (median diff)', '<= 0.5 ms', $td_med,
     abs($td_med) <= 0.5, '%+.3f ms');
goal('attest-verify response, 1 MiB', '>= 1000 MB/s', $cli_mbs,
     defined $cli_mbs && $cli_mbs >= 1000, '%.0f MB/s');
say_('    (64 KiB target: the floor above + 45 us. The rps figures count '
     . 'what the worker');
say_('    waits for too, the cpu ones only its CPU; both grow on a busy '
     . 'machine)');
say_('');

# --- (c) memory -----------------------------------------------------------

SECTION_C:
$ngx->stop;
goto DONE unless $o{sections} =~ /c/;

sub status_kb {
    my ($pid, $field) = @_;
    my ($kb) = slurp("/proc/$pid/status") =~ /^$field:\s+(\d+)\s+kB/m;
    return $kb;
}

# One fresh nginx per measurement: VmHWM is the peak of the worker's
# whole life.
sub memory {
    my ($path, $events, $size) = @_;
    my $n = start_nginx();
    my ($w) = $n->worker_pids;
    my $r;
    if (defined $path) {
        $r = stream($n->port, $path, 'X-Test-Stream-Events' => $events,
                    'X-Test-Event-Size' => $size,
                    'X-Test-Chunk-Delay' => 0);
        die "bench: memory run $path: " . encode_json({%$r, times_ms => []})
            . "\n" . $n->error_log unless $r->{complete}
                                         && $r->{events} == $events;
    }
    my $hwm = status_kb($w, 'VmHWM');
    my $rss = status_kb($w, 'VmRSS');
    $n->stop;
    return {hwm => $hwm, rss => $rss, bytes => $r ? $r->{bytes} : 0,
            ms => $r ? $r->{total_ms} : 0, ttfb => $r ? $r->{ttfb_ms} : 0,
            attest => $r ? $r->{attest} : ''};
}

note_('memory: fresh nginx per run');
my ($bn, $bs) = ($o{'mem-big-events'}, $o{'mem-event-size'});
my ($sn, $ss) = ($o{'mem-small-events'}, $o{'mem-small-event-size'});
my @mem = (
    ['idle worker, no request', undef],
    ['plain, small stream', '/plain/v1/chat/completions', $sn, $ss],
    ['plain, big stream', '/plain/v1/chat/completions', $bn, $bs],
    ['module, small stream', '/v1/chat/completions', $sn, $ss],
    ['module, big stream', '/v1/chat/completions', $bn, $bs],
);
my %mem;
for my $m (@mem) {
    $mem{$m->[0]} = memory(@$m[1 .. 3]);
}
$RAW{memory} = \%mem;

say_('(c) memory: nginx worker peak RSS (VmHWM), a fresh nginx per run, '
     . 'client reading at full speed');
say_(sprintf('    %-24s %12s %9s %9s %8s %8s %9s', '', 'stream bytes',
             'VmHWM kB', 'VmRSS kB', 'ttfb ms', 'total ms', 'verdict'));
for my $m (@mem) {
    my $r = $mem{$m->[0]};
    say_(sprintf('    %-24s %12d %9d %9d %8.1f %8.0f %9s', $m->[0],
                 $r->{bytes}, $r->{hwm}, $r->{rss}, $r->{ttfb}, $r->{ms},
                 $r->{attest} || '-'));
}
say_('    (the first request of a fresh nginx: through the module it waits '
     . 'for the');
say_('    attestation fetch and its verification, hence its ttfb)');
my $growth = $mem{'module, big stream'}{hwm}
           - $mem{'module, small stream'}{hwm};
say_(sprintf('    module, big - small stream: %+d kB peak RSS for %.1f MB '
             . 'more stream', $growth,
             ($mem{'module, big stream'}{bytes}
              - $mem{'module, small stream'}{bytes}) / 1048576));
say_('');

DONE:
say_(sprintf('total time %.0f s, load average after: %s; command: make '
             . 'bench (bench/run.sh%s)', time - $T0,
             (split ' ', slurp('/proc/loadavg'))[0],
             $o{quick} ? ' --quick' : ''));

if ($o{out}) {
    open my $fh, '>', $o{out} or die "bench: $o{out}: $!\n";
    print $fh join("\n", @OUT), "\n";
    close $fh;
    note_("results written to $o{out}");
}

if ($o{raw}) {
    open my $fh, '>', $o{raw} or die "bench: $o{raw}: $!\n";
    print $fh encode_json({options => \%o, %RAW}), "\n";
    close $fh;
    note_("raw results written to $o{raw}");
}
