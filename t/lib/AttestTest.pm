package AttestTest;

# Test harness for the t/*.t suite: starts the io.net agent double
# (t/upstream/agent.py) and nginx with the module, in private temp dirs
# on free ports, and makes sure none of them outlive the test, even
# when it dies.  Core Perl only.
#
#   use lib 't/lib';
#   use AttestTest qw(:all);
#
#   my $agent = AttestTest::Agent->start(gpus => 2);
#   my $ngx   = AttestTest::Nginx->start(http => <<"EOF");
#   server {
#       listen 127.0.0.1:%%PORT%%;
#       location / { proxy_pass ${\ $agent->url }; }
#   }
#   EOF
#   my $r = post_json($ngx->url('/completion'), {messages => [...]});
#
# Placeholders in the http and main text: %%PORT%%, %%PORT2%%, ... (free
# ports picked here), %%TMP%% (nginx's prefix dir), %%REPO%% (the repo
# root), %%TESTDATA%% (tests/testdata).
#
# Environment: NGINX_BIN (default /usr/sbin/nginx), ATTEST_MODULE (the
# .so, default build/ngx_http_attest_module.so), ATTEST_NGINX_LOG_LEVEL
# (default info), ATTEST_KEEP=1 keeps the temp dirs and prints where.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(free_port post_json http_get raw_http parse_response
                    sse_read parse_sse nginx_test wait_for slurp
                    module_path module_built repo testdata decode_json
                    encode_json);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $REPO   = abs_path(dirname(abs_path(__FILE__)) . '/../..');
our $PYTHON = $ENV{ATTEST_PYTHON} || '/usr/bin/python3';
our $OWNER  = $$;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

my $TMP;
my %PORTS;      # ports handed out, never twice
my %LIVE;       # weak refs to running agents and nginxes
my @DIAG;       # [label, log file] of everything started, for failures
my $SEQ = 0;

# A dead peer must not kill the test with SIGPIPE, and ^C must still run
# the END block that stops the processes.
$SIG{PIPE} = 'IGNORE';
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { exit(128 + ($sig eq 'HUP' ? 1 : $sig eq 'INT'
                                   ? 2 : 15)) }
        unless $SIG{$sig};
}

sub repo { $REPO }

sub testdata {
    my $dir = "$REPO/tests/testdata";
    return abs_path($dir) // $dir;
}

sub module_path {
    $ENV{ATTEST_MODULE} || "$REPO/build/ngx_http_attest_module.so";
}

sub module_built { -f module_path() }

sub decode_json { $JSON->decode($_[0]) }

sub encode_json { $JSON->encode($_[0]) }

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $data = <$fh>;
    return defined $data ? $data : '';
}

sub tmpdir {
    return $TMP if $TMP;
    my $keep = $ENV{ATTEST_KEEP} ? 1 : 0;
    $TMP = tempdir('attest-t-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
    # nginx workers run as nobody when the tests run as root
    chmod 0755, $TMP;
    Test::More::diag("AttestTest: keeping $TMP") if $keep;
    return $TMP;
}

# $obj->{diag} = [label, log file, size of the log when it stopped]: the
# failure report shows the log as it was before the shutdown noise
# (file-scoped lexicals are destroyed, and so stopped, before END runs).
sub _register {
    my ($obj, $label, $log) = @_;
    $LIVE{"$obj"} = $obj;
    weaken($LIVE{"$obj"});
    push @DIAG, $obj->{diag} = [$label, $log, undef];
}

sub _mark_stopped {
    my ($obj) = @_;
    $obj->{diag}[2] //= -s $obj->{diag}[1] // 0 if $obj->{diag};
}

sub _unregister {
    my ($obj) = @_;
    _mark_stopped($obj);
    delete $LIVE{"$obj"};
}

# Polls $cond every $step seconds until it returns true or $timeout passes.
sub wait_for {
    my ($cond, $timeout, $step) = @_;
    $timeout //= 10;
    $step    //= 0.02;
    my $end = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $end;
        sleep $step;
    }
}

sub free_port {
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp',
                                      ReuseAddr => 1)
            or die "free_port: $!";
        my $port = $s->sockport;
        close $s;
        return $port unless $PORTS{$port}++;
    }
    die "free_port: no free port found";
}

sub port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# Runs a command with stdout and stderr into a file; returns (exit code,
# output).  Never leaves the command's pipes open behind a daemon.
sub run_cmd {
    my ($argv, %opt) = @_;
    my $out = tmpdir() . '/cmd.' . $$ . '.' . ++$SEQ . '.out';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        local %ENV = (%ENV, %{ $opt{env} || {} });
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        { exec { $argv->[0] } @$argv }
        print STDERR "exec $argv->[0]: $!\n";
        POSIX::_exit(127);
    }
    my $end = time + ($opt{timeout} // 30);
    my $rc;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $rc = $? >> 8; $rc = 128 + ($? & 127) if $? & 127;
                          last }
        if (time > $end) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = -1;
            last;
        }
        sleep 0.01;
    }
    my $text = slurp($out);
    unlink $out;
    return ($rc, $text);
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    # a daemon's zombie is not reaped by us: count it as gone
    my $stat = slurp("/proc/$pid/stat");
    return 0 if $stat =~ /^\d+ \(.*\) Z /s;
    return 1;
}

sub _children {
    my ($ppid) = @_;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = slurp("/proc/$pid/stat");
        next unless $stat =~ /^\d+ \(.*\) (\S) (\d+) /s;
        next if $1 eq 'Z';
        push @kids, $pid + 0 if $2 == $ppid;
    }
    closedir $dh;
    return sort { $a <=> $b } @kids;
}

sub _http {
    my (%opt) = @_;
    return HTTP::Tiny->new(timeout => $opt{timeout} // 30,
                           agent => 'AttestTest/1');
}

sub _add_json {
    my ($res) = @_;
    my $json = eval { $JSON->decode($res->{content}) }
        if defined $res->{content} && length $res->{content};
    $res->{json} = $json;
    return $res;
}

# POST $body (a reference is JSON-encoded, a string goes as is) and return
# HTTP::Tiny's response, plus {json} when the body parses as JSON.
sub post_json {
    my ($url, $body, $headers, %opt) = @_;
    my $content = ref $body ? $JSON->encode($body) : ($body // '');
    my %h = ('Content-Type' => 'application/json', %{ $headers || {} });
    return _add_json(_http(%opt)->request('POST', $url,
                                          {headers => \%h,
                                           content => $content}));
}

sub http_get {
    my ($url, $headers, %opt) = @_;
    return _add_json(_http(%opt)->request('GET', $url,
                                          {headers => $headers || {}}));
}

# Sends $request verbatim and returns every byte read until the peer
# closes or $timeout seconds pass (ask for "Connection: close").
sub raw_http {
    my ($port, $request, $timeout) = @_;
    $timeout //= 10;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 5)
        or die "raw_http: connect to $port: $!";
    _write_all($s, $request);
    my $sel = IO::Select->new($s);
    my $raw = '';
    my $end = time + $timeout;
    while ((my $left = $end - time) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $s;
    return $raw;
}

sub _write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        die "write: $!" unless defined $n;
        $off += $n;
    }
}

# Splits a raw HTTP/1.x response: {status, reason, headers (lowercase
# names; repeated ones joined with ", "), header_list ([name, value]...),
# body (de-chunked), chunked, chunks (sizes), trailers, complete (the last
# chunk arrived, or the whole Content-Length)}.
sub parse_response {
    my ($raw) = @_;
    my $r = {headers => {}, header_list => [], trailers => {}, chunks => [],
             body => '', complete => 0, chunked => 0};
    my $i = index($raw, "\r\n\r\n");
    return $r if $i < 0;
    my ($status_line, @lines) = split /\r\n/, substr($raw, 0, $i);
    @$r{qw(status reason)} = $status_line =~ m{^HTTP/\d\.\d (\d+) ?(.*)$};
    for (@lines) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $r->{header_list} }, [$k, $v];
        $k = lc $k;
        $r->{headers}{$k} = exists $r->{headers}{$k}
            ? "$r->{headers}{$k}, $v" : $v;
    }
    my $rest = substr($raw, $i + 4);
    if (($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        $r->{chunked} = 1;
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $size = hex $1;
            if ($size == 0) {
                while ($rest =~ s/^([^\r\n]+)\r\n//) {
                    my ($k, $v) = $1 =~ /^([^:]+):\s*(.*)$/ or next;
                    $r->{trailers}{lc $k} = $v;
                }
                $r->{complete} = $rest =~ /^\r\n/ ? 1 : 0;
                last;
            }
            last if length $rest < $size + 2;
            push @{ $r->{chunks} }, $size;
            $r->{body} .= substr($rest, 0, $size);
            $rest = substr($rest, $size + 2);
        }
        $r->{extra} = $rest unless $r->{complete};
    } else {
        $r->{body} = $rest;
        my $cl = $r->{headers}{'content-length'};
        $r->{complete} = defined $cl ? length($rest) >= $cl : 1;
    }
    return $r;
}

# Server-sent events of a body: [{event, data, raw}], complete events only
# (blank-line terminated; "\n" or "\r\n" line ends).
sub parse_sse {
    my ($body) = @_;
    my @events;
    while ($body =~ /\G(.*?)(?:\r?\n){2}/gcs) {
        my $raw = $1;
        my %ev = (raw => $raw);
        my @data;
        for my $line (split /\r?\n/, $raw) {
            if ($line =~ /^event: ?(.*)$/) { $ev{event} = $1 }
            elsif ($line =~ /^data: ?(.*)$/s) { push @data, $1 }
        }
        $ev{data} = join "\n", @data if @data;
        push @events, \%ev;
    }
    return \@events;
}

# Reads a streamed response incrementally from a raw socket.
#
#   sse_read($port, $request, $on_chunk, timeout => 20, on_event => sub)
#
# $on_chunk->($bytes, $state) runs for every piece of de-chunked body as
# it arrives, on_event->($event, $state) for every complete SSE event
# ({event, data, raw}); either may set $state->{stop} = 1 to hang up.
# Returns $state: {status, headers, body, events, times (arrival time of
# each event, from the start), complete (last chunk seen), eof,
# timed_out}.  timeout is the longest silence tolerated.
sub sse_read {
    my ($port, $request, $on_chunk, %opt) = @_;
    my $timeout = $opt{timeout} // 20;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp',
                                  Timeout => 5)
        or die "sse_read: connect to $port: $!";
    _write_all($s, $request);
    my $sel = IO::Select->new($s);
    my $t0 = time;
    my $st = {body => '', events => [], times => [], complete => 0, eof => 0,
              timed_out => 0, headers => {}, t0 => $t0};
    my ($in, $head_done, $chunked, $need, $crlf, $evbuf) =
        ('', 0, 0, undef, 0, '');
    my $deliver = sub {
        my ($bytes) = @_;
        return unless length $bytes;
        $st->{body} .= $bytes;
        $on_chunk->($bytes, $st) if $on_chunk;
        $evbuf .= $bytes;
        while ($evbuf =~ s/^(.*?)(?:\r?\n){2}//s) {
            my $ev = parse_sse("$1\n\n")->[0];
            push @{ $st->{events} }, $ev;
            push @{ $st->{times} }, time - $t0;
            $opt{on_event}->($ev, $st) if $opt{on_event};
        }
    };
    while (!$st->{stop}) {
        unless ($sel->can_read($timeout)) { $st->{timed_out} = 1; last }
        my $n = sysread($s, my $buf, 65536);
        unless ($n) { $st->{eof} = 1; last }
        $in .= $buf;
        if (!$head_done) {
            my $i = index($in, "\r\n\r\n");
            next if $i < 0;
            my $head = parse_response(substr($in, 0, $i + 4));
            @$st{qw(status headers)} = @$head{qw(status headers)};
            $chunked = $head->{chunked};
            $in = substr($in, $i + 4);
            $head_done = 1;
        }
        if (!$chunked) { $deliver->($in); $in = ''; next }
        # de-chunk what has arrived; a chunk may span reads
        my $out = '';
        while (1) {
            if ($crlf) {
                last if length $in < 2;
                substr($in, 0, 2, '');
                $crlf = 0;
            }
            if (!defined $need) {
                last unless $in =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//;
                $need = hex $1;
                if ($need == 0) { $st->{complete} = 1; last }
            }
            last unless length $in;
            my $take = substr($in, 0, $need, '');
            $out .= $take;
            $need -= length $take;
            last if $need;
            ($need, $crlf) = (undef, 1);
        }
        $deliver->($out);
        last if $st->{complete};
    }
    close $s;
    $st->{elapsed} = time - $t0;
    return $st;
}

# nginx -t on a config built like AttestTest::Nginx->start's: returns
# (exit code, output).
sub nginx_test {
    my ($http, %opt) = @_;
    my $cfg = AttestTest::Nginx->_prepare(%opt, http => $http);
    return run_cmd([AttestTest::Nginx::bin(), '-t', '-p', "$cfg->{prefix}/",
                    '-c', "$cfg->{prefix}/conf/nginx.conf"],
                   env => $opt{env});
}

sub _tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text;
    splice @l, 0, @l - $n if @l > $n;
    return join "\n", @l;
}

sub _cleanup {
    my ($failed) = @_;
    if ($failed) {
        for my $d (@DIAG) {
            my $text = slurp($d->[1]);
            $text = substr($text, 0, $d->[2]) if defined $d->[2];
            next unless length $text;
            Test::More::diag("---- $d->[0]: tail of $d->[1] ----\n"
                             . _tail($text, 40));
        }
    }
    for my $obj (grep { defined } values %LIVE) {
        eval { $obj->stop };
    }
}

END {
    if ($$ == $OWNER) {
        my $status = $?;
        local $?;
        my $tb = eval { Test::More->builder };
        my $failed = $status != 0 || ($tb && !$tb->is_passing);
        _cleanup($failed);
    }
}


package AttestTest::Agent;

use strict;
use warnings;

use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $AGENTS = 0;

# AttestTest::Agent->start(image_digest => 'sha256:..', no_image_digest => 1,
#     gpus => N, no_cpu => 1, report_data => 'address_nonce',
#     modes => [...], extra => [...more argv...])
sub start {
    my ($class, %args) = @_;
    my $dir = AttestTest::tmpdir();
    my $n = ++$AGENTS;
    my $self = bless {owner => $$, n => $n,
                      gpu_root => "$dir/agent$n-gpu-root.pem",
                      cpu_root => "$dir/agent$n-cpu-root.pem",
                      log => "$dir/agent$n.log",
                      pid_file => "$dir/agent$n.pid"}, $class;
    my @argv = ($AttestTest::PYTHON, "$AttestTest::REPO/t/upstream/agent.py",
                '--port', $args{port} // 0,
                '--gpu-root-out', $self->{gpu_root},
                '--cpu-root-out', $self->{cpu_root},
                '--pid-file', $self->{pid_file}, '--exit-on-stdin-eof');
    push @argv, '--image-digest', $args{image_digest}
        if defined $args{image_digest};
    push @argv, '--no-image-digest' if $args{no_image_digest};
    push @argv, '--gpus', $args{gpus} if defined $args{gpus};
    push @argv, '--no-cpu' if $args{no_cpu};
    push @argv, '--report-data', $args{report_data}
        if defined $args{report_data};
    push @argv, '--modes', join(',', @{ $args{modes} }) if $args{modes};
    push @argv, @{ $args{extra} } if $args{extra};

    pipe(my $out_r, my $out_w) or die "pipe: $!";
    pipe(my $in_r, my $in_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<&', $in_r or POSIX::_exit(126);
        open STDOUT, '>&', $out_w or POSIX::_exit(126);
        open STDERR, '>>', $self->{log} or POSIX::_exit(126);
        { exec { $argv[0] } @argv }
        print STDERR "exec $argv[0]: $!\n";
        POSIX::_exit(127);
    }
    close $out_w;
    close $in_r;
    @$self{qw(pid stdin stdout)} = ($pid, $in_w, $out_r);
    AttestTest::_register($self, "agent $n", $self->{log});

    my $sel = IO::Select->new($out_r);
    my ($line, $end) = ('', time + 60);
    while ($line !~ /\n/ && time < $end) {
        last unless $sel->can_read($end - time);
        my $r = sysread($out_r, my $buf, 256);
        last unless $r;
        $line .= $buf;
    }
    unless ($line =~ /^PORT (\d+)$/m) {
        $self->stop;
        die "agent did not start:\n" . AttestTest::slurp($self->{log});
    }
    $self->{port} = $1;
    return $self;
}

sub port     { $_[0]{port} }
sub pid      { $_[0]{pid} }
sub gpu_root { $_[0]{gpu_root} }
sub cpu_root { $_[0]{cpu_root} }
sub log      { AttestTest::slurp($_[0]{log}) }

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}" . ($path // '');
}

sub _json {
    my ($self, $res, $what) = @_;
    die "agent $what: $res->{status} $res->{content}\n"
        unless $res->{success} && $res->{json};
    return $res->{json};
}

sub stats {
    my ($self) = @_;
    return $self->_json(AttestTest::http_get($self->url('/_stats')),
                        'stats');
}

sub reset_stats {
    my ($self) = @_;
    return $self->_json(AttestTest::post_json($self->url('/_stats/reset'),
                                              '{}'), 'reset');
}

sub info {
    my ($self) = @_;
    return $self->{info} //= $self->_json(
        AttestTest::http_get($self->url('/_info')), 'info');
}

# control([modes], {knob => value}): replaces the persistent modes and
# knobs (X-Test-<knob> defaults); control([]) clears them.
sub control {
    my ($self, $modes, $params) = @_;
    $modes = [$modes] if defined $modes && !ref $modes;
    return $self->_json(AttestTest::post_json(
        $self->url('/_control'),
        {modes => $modes || [], params => $params || {}}), 'control');
}

sub release {
    my ($self, $id) = @_;
    return $self->_json(AttestTest::http_get(
        $self->url("/_release?id=$id")), 'release');
}

# fleet mode (extra => ['--fleet', M]): the machines, and their controls:
# fleet_control('restart', machine => 1), fleet_control('set', machine =>
# 2, bad => 1), fleet_control('add', rogue => 1)
sub fleet {
    my ($self) = @_;
    return $self->_json(AttestTest::http_get($self->url('/_fleet')),
                        'fleet')->{fleet};
}

sub fleet_control {
    my ($self, $what, %q) = @_;
    my $q = join '&', map { "$_=$q{$_}" } sort keys %q;
    return $self->_json(AttestTest::post_json(
        $self->url("/_fleet/$what?$q"), '{}'), "fleet $what")->{fleet};
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{owner};
    AttestTest::_mark_stopped($self);
    my $pid = delete $self->{pid};
    close $self->{stdin} if $self->{stdin};
    close $self->{stdout} if $self->{stdout};
    kill 'TERM', $pid;
    my $end = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $end) { kill 'KILL', $pid; waitpid($pid, 0); last }
        sleep 0.01;
    }
    AttestTest::_unregister($self);
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop;
}


package AttestTest::Nginx;

use strict;
use warnings;

use File::Path qw(make_path);
use POSIX ();
use Time::HiRes qw(sleep time);

my $NGINXES = 0;

sub bin { $ENV{NGINX_BIN} || '/usr/sbin/nginx' }

# ATTEST_VALGRIND=DIR (make test-valgrind): nginx, its master and workers,
# run under valgrind's memcheck, one log per process in DIR
# (nginx-PID.log); the harness waits longer for them
sub valgrind {
    my $dir = $ENV{ATTEST_VALGRIND} or return ();
    make_path($dir);
    return ('valgrind', '--quiet', '--leak-check=full',
            '--show-leak-kinds=definite', '--keep-debuginfo=yes',
            '--num-callers=30',
            "--log-file=$dir/nginx-%p.log");
}

sub _slow { $ENV{ATTEST_VALGRIND} ? 6 : 1 }

# Builds a prefix dir and its conf/nginx.conf; returns the settings.
sub _prepare {
    my ($class, %a) = @_;
    my $n = ++$NGINXES;
    my $prefix = $a{prefix} // AttestTest::tmpdir() . "/nginx$n";
    make_path("$prefix/logs", "$prefix/conf", "$prefix/tmp");
    chmod 0755, $prefix;
    my $cfg = {%a, n => $n, prefix => $prefix, ports => {}};
    $cfg->{workers} //= 1;
    _write_conf($cfg);
    return $cfg;
}

sub _subst {
    my ($cfg, $text) = @_;
    $text //= '';
    $text =~ s{%%PORT(\d*)%%}{
        my $k = $1 eq '' ? 1 : $1;
        $cfg->{ports}{$k} //= AttestTest::free_port();
    }ge;
    $text =~ s/%%TMP%%/$cfg->{prefix}/g;
    $text =~ s/%%REPO%%/$AttestTest::REPO/g;
    my $td = AttestTest::testdata();
    $text =~ s/%%TESTDATA%%/$td/g;
    return $text;
}

sub _write_conf {
    my ($cfg) = @_;
    my $p = $cfg->{prefix};
    my $level = $cfg->{log_level} // $ENV{ATTEST_NGINX_LOG_LEVEL} // 'info';
    my $conf = "# written by AttestTest for $0\n";
    unless ($cfg->{no_module}) {
        my $so = AttestTest::module_path();
        die "module not built: $so (make module)\n" unless -f $so;
        $conf .= "load_module $so;\n";
    }
    $conf .= "daemon on;\nmaster_process on;\n"
           . "worker_processes $cfg->{workers};\n"
           . "error_log $p/logs/error.log $level;\n"
           . "pid $p/logs/nginx.pid;\n";
    $conf .= "user $cfg->{user};\n" if $cfg->{user};
    $conf .= "env $_;\n" for sort keys %{ $cfg->{env} || {} };
    $conf .= _subst($cfg, $cfg->{main}) . "\n";
    my $wc = $cfg->{worker_connections} // 256;
    $conf .= "events {\n    worker_connections $wc;\n"
           . _subst($cfg, $cfg->{events}) . "\n}\n\n";
    $conf .= "http {\n"
           . "    access_log $p/logs/access.log;\n"
           . "    client_body_temp_path $p/tmp/client_body;\n"
           . "    proxy_temp_path $p/tmp/proxy;\n"
           . "    fastcgi_temp_path $p/tmp/fastcgi;\n"
           . "    uwsgi_temp_path $p/tmp/uwsgi;\n"
           . "    scgi_temp_path $p/tmp/scgi;\n\n"
           . _subst($cfg, $cfg->{http}) . "\n}\n";
    open my $fh, '>', "$p/conf/nginx.conf" or die "$p/conf/nginx.conf: $!";
    print $fh $conf;
    close $fh;
    $cfg->{conf} = $conf;
}

# AttestTest::Nginx->start(http => $text, workers => 1, main => $text,
#     events => $text, worker_connections => 256, env => {VAR => value},
#     no_module => 1, log_level => 'debug', user => 'root')
sub start {
    my ($class, %a) = @_;
    my $tries = 0;
    while (1) {
        my $cfg = $class->_prepare(%a);
        my $self = bless {%$cfg, owner => $$}, $class;
        AttestTest::_register($self, "nginx $cfg->{n}",
                              "$cfg->{prefix}/logs/error.log");
        my ($rc, $out) = AttestTest::run_cmd(
            [valgrind(), bin(), '-p', "$self->{prefix}/", '-c',
             "$self->{prefix}/conf/nginx.conf"], env => $a{env});
        my $err = $self->error_log;
        if ($rc != 0) {
            AttestTest::_unregister($self);
            next if "$out$err" =~ /Address already in use/ && ++$tries < 3;
            die "nginx did not start (exit $rc):\n$out\n"
              . AttestTest::_tail($err, 30) . "\n";
        }
        my $pid = AttestTest::wait_for(sub {
            AttestTest::slurp("$self->{prefix}/logs/nginx.pid") =~ /(\d+)/
                ? $1 : undef }, 10 * _slow());
        die "nginx wrote no pid file\n" . AttestTest::_tail($err, 30)
            unless $pid;
        $self->{master} = $pid;
        $self->_watchdog;
        # wait for the ports nginx listens on (others may be placeholders
        # for closed upstreams)
        my @ports = grep { $self->{conf} =~ /\blisten\s+(?:[\d.]+:)?$_\b/ }
            values %{ $self->{ports} };
        my $up = AttestTest::wait_for(sub {
            !AttestTest::_alive($pid) || !grep { !AttestTest::port_open($_) }
                @ports }, 10 * _slow());
        if (!$up || !AttestTest::_alive($pid)) {
            $err = $self->error_log;
            $self->stop;
            next if $err =~ /Address already in use/ && ++$tries < 3;
            die "nginx is not listening:\n" . AttestTest::_tail($err, 30)
              . "\n";
        }
        AttestTest::wait_for(sub {
            $self->worker_pids >= $self->{workers} }, 10 * _slow());
        return $self;
    }
}

# A forked guard that stops nginx if this test process disappears without
# running its END block (SIGKILL): it waits for EOF on a pipe.
sub _watchdog {
    my ($self) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{$_} = 'IGNORE' for qw(INT TERM HUP PIPE);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        my $keep = fileno $r;
        POSIX::close($_) for grep { $_ != $keep } 3 .. 255;
        my ($got, $buf) = ('');
        while (sysread($r, $buf, 64)) { $got .= $buf }
        if ($got !~ /disarm/) {
            my $m = $self->{master};
            my @w = AttestTest::_children($m);
            kill 'TERM', $m;
            my $end = time + 5;
            sleep 0.05 while AttestTest::_alive($m) && time < $end;
            kill 'KILL', $m, @w;
        }
        POSIX::_exit(0);
    }
    close $r;
    @$self{qw(wd_pid wd_pipe)} = ($pid, $w);
}

sub port {
    my ($self, $k) = @_;
    return $self->{ports}{$k // 1};
}

sub ports {
    my ($self) = @_;
    my $p = $self->{ports};
    return map { $p->{$_} } sort { $a <=> $b } keys %$p;
}

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:" . $self->port . ($path // '/');
}

sub prefix     { $_[0]{prefix} }
sub master_pid { $_[0]{master} }
sub conf       { $_[0]{conf} }
sub error_log  { AttestTest::slurp("$_[0]{prefix}/logs/error.log") }
sub access_log { AttestTest::slurp("$_[0]{prefix}/logs/access.log") }

# Worker processes (also ones shutting down after a reload).
sub worker_pids {
    my ($self) = @_;
    return () unless $self->{master};
    my @kids = AttestTest::_children($self->{master});
    # under valgrind the title nginx sets is not in /proc/PID/cmdline
    return @kids if $ENV{ATTEST_VALGRIND};
    return grep {
        AttestTest::slurp("/proc/$_/cmdline") =~ /worker process/
    } @kids;
}

# Reloads (SIGHUP to the master, as nginx -s reload does), optionally
# with new http/main text first; waits for a new generation of workers.
# Returns true when it came up, false when nginx refused the new config
# (then the error is in error_log) or nothing happened within $timeout.
sub reload {
    my ($self, %a) = @_;
    for my $k (qw(http main events)) {
        $self->{$k} = $a{$k} if exists $a{$k};
    }
    _write_conf($self) if grep { exists $a{$_} } qw(http main events);
    my %old = map { $_ => 1 } $self->worker_pids;
    my $log_size = -s "$self->{prefix}/logs/error.log" // 0;
    kill 'HUP', $self->{master} or return 0;
    my $ok = AttestTest::wait_for(sub {
        my $log = $self->error_log;
        return -1 if length($log) > $log_size
            && substr($log, $log_size) =~ /\[emerg\]/;
        my @new = grep { !$old{$_} } $self->worker_pids;
        return @new >= $self->{workers} ? 1 : 0;
    }, $a{timeout} // 10);
    return $ok && $ok > 0 ? 1 : 0;
}

# Graceful quit, then TERM, then KILL; workers too.
sub stop {
    my ($self, %a) = @_;
    return unless $$ == ($self->{owner} // 0);
    AttestTest::_mark_stopped($self) if $self->{master};
    my $m = delete $self->{master};
    if ($m) {
        my @w = $self->_kids($m);
        kill($a{fast} ? 'TERM' : 'QUIT', $m);
        my $gone = AttestTest::wait_for(sub { !AttestTest::_alive($m) },
                                        ($a{timeout} // 5) * _slow());
        unless ($gone) {
            kill 'TERM', $m;
            $gone = AttestTest::wait_for(sub { !AttestTest::_alive($m) }, 5);
            kill 'KILL', $m unless $gone;
        }
        AttestTest::wait_for(sub { !grep { AttestTest::_alive($_) } @w },
                             5 * _slow()) or kill 'KILL', @w;
    }
    if (my $w = delete $self->{wd_pipe}) {
        syswrite $w, "disarm";
        close $w;
        waitpid(delete $self->{wd_pid}, 0);
    }
    AttestTest::_unregister($self);
}

sub _kids {
    my ($self, $m) = @_;
    return AttestTest::_children($m);
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop;
}

1;
