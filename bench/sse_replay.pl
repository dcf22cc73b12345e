#!/usr/bin/perl

# A paced SSE upstream for bench/bench.pl: replays a stream recorded from
# the agent double (signed, so the module verifies it), one event per
# interval on an absolute schedule: event i leaves at t0 + i * interval,
# t0 being the moment the request was read.  The agent double sleeps a
# fixed time between events, so its streams drift by tens of
# milliseconds from one run to the next; here they do not, and the
# arrival times of two streams can be compared event by event.
#
#   bench/sse_replay.pl --dir DIR [--port 0]
#
# Prints "PORT n" on stdout once listening.  POST /NAME (any body) answers
# DIR/NAME.sse, events separated by a blank line, chunked, keep-alive;
# X-Bench-Interval-Ms sets the pace (default 5).  Exits when stdin closes
# (the parent is gone) or on SIGTERM.  Core Perl only.

use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

my %o = (port => 0, dir => undef);
GetOptions(\%o, 'port=i', 'dir=s') && $o{dir}
    or die "usage: $0 --dir DIR [--port N]\n";

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                LocalPort => $o{port}, Listen => 128,
                                ReuseAddr => 1, Proto => 'tcp')
    or die "sse_replay: listen: $!\n";

$SIG{PIPE} = 'IGNORE';
$SIG{CHLD} = 'IGNORE';
my $parent = $$;

# the server takes its connection children along
sub bye {
    if ($$ == $parent) {
        $SIG{TERM} = 'IGNORE';
        kill 'TERM', -$$;
    }
    exit 0;
}
$SIG{TERM} = \&bye;

# a process group of our own, so that TERM reaches the connection children
setpgrp(0, 0);

$| = 1;
print "PORT ", $srv->sockport, "\n";

my %streams;

sub events {
    my ($name) = @_;
    return $streams{$name} if $streams{$name};
    return undef unless $name =~ /^[\w.-]+$/;
    open my $fh, '<:raw', "$o{dir}/$name.sse" or return undef;
    local $/;
    my $all = <$fh>;
    close $fh;
    my @ev;
    push @ev, $1 while $all =~ /\G(.*?\n\n)/gcs;
    return $streams{$name} = \@ev;
}

sub write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

sub serve {
    my ($s) = @_;
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    my $in = '';
    while (1) {
        # the request head, then its body
        my $i;
        while (($i = index($in, "\r\n\r\n")) < 0) {
            my $n = sysread($s, $in, 65536, length $in);
            return unless $n;
        }
        my $head = substr($in, 0, $i + 4, '');
        my $t0 = time;
        my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
        $len //= 0;
        while (length $in < $len) {
            my $n = sysread($s, $in, 65536, length $in);
            return unless $n;
        }
        substr($in, 0, $len, '');

        my ($name) = $head =~ m{^\w+ /([^ ?]*)};
        my ($ms) = $head =~ /^X-Bench-Interval-Ms:\s*([\d.]+)/mi;
        my $step = ($ms // 5) / 1000;
        my $ev = events($name // '');
        unless ($ev) {
            my $body = "no stream \"$name\"\n";
            write_all($s, "HTTP/1.1 404 Not Found\r\nContent-Length: "
                          . length($body) . "\r\n\r\n$body") or return;
            next;
        }

        my $out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                . "Cache-Control: no-cache\r\n"
                . "Transfer-Encoding: chunked\r\n\r\n";
        for my $k (0 .. $#$ev) {
            my $wait = $t0 + $k * $step - time;
            sleep $wait if $wait > 0;
            $out .= sprintf("%x\r\n%s\r\n", length $ev->[$k], $ev->[$k]);
            write_all($s, $out) or return;
            $out = '';
        }
        write_all($s, "0\r\n\r\n") or return;
    }
}

my $sel = IO::Select->new($srv, \*STDIN);
while (1) {
    for my $fh ($sel->can_read) {
        if ($fh != $srv) {
            # the parent closed our stdin: it is gone
            my $n = sysread(STDIN, my $buf, 4096);
            bye() unless $n;
            next;
        }
        my $c = $srv->accept or next;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            close $srv;
            serve($c);
            exit 0;
        }
        close $c;
    }
}
