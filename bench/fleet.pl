#!/usr/bin/perl
# The fleet benchmark (issue 10): requests/s and p99 through an attested
# location in front of 4 machines against one in front of 1 machine, in
# the same run.  Each location has its own agent double (--fleet 4,
# round-robin, and --fleet 1) and its own key; a warm-up makes every
# machine known (discovery) before anything is measured, so the figures
# show the steady state: the set of machines is looked up, not fetched.
# Runs alternate 1, 4, 4, 1, ... so that drift in the machine's load
# favours neither side.
#
#   perl bench/fleet.pl --loadgen build/bench/loadgen [--duration S]
#       [--rounds N] [--conns C] [--out FILE]

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../t/lib";

use AttestTest qw(:all);
use AttestConf;
use Getopt::Long qw(GetOptions);

my %o = (duration => 5, rounds => 3, conns => 8, out => undef,
         loadgen => undef);
GetOptions(\%o, 'duration=i', 'rounds=i', 'conns=i', 'out=s', 'loadgen=s')
    or die "usage: $0 --loadgen PATH [--duration S] [--rounds N]\n";
my $LOADGEN = $o{loadgen} or die "fleet: --loadgen is required\n";

my $four = AttestTest::Agent->start(extra => ['--fleet', 4]);
my $one = AttestTest::Agent->start(extra => ['--fleet', 1]);

my $ev4 = AttestConf::evidence($four);
my $ev1 = AttestConf::evidence($one);
my ($p4, $p1) = ($four->port, $one->port);

my $fetch = sub {
    my ($name, $port) = @_;
    return <<"EOT";
        location = $name {
            internal;
            subrequest_output_buffer_size 512k;
            proxy_pass http://127.0.0.1:$port/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_pass_request_headers off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';
        }
EOT
};

my $loc = sub {
    my ($path, $name, $port, $ev) = @_;
    return <<"EOT";
        location $path {
            attest zone=fleet;
            attest_key $name;
            attest_fetch /_att_$name;
            attest_ttl 1h;
            $ev
            proxy_pass http://127.0.0.1:$port/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering off;
        }
EOT
};

my $ngx = AttestTest::Nginx->start(workers => 2, log_level => 'warn',
    http => "attest_zone zone=fleet:1m;\naccess_log off;\n"
          . "server {\n    listen 127.0.0.1:%%PORT%%;\n"
          . $loc->('/f4/', 'four', $p4, $ev4)
          . $loc->('/f1/', 'one', $p1, $ev1)
          . $fetch->('/_att_four', $p4) . $fetch->('/_att_one', $p1)
          . "}\n");

my $body = $ngx->prefix . "/complete.json";
{
    open my $fh, '>', $body or die "fleet: $body: $!\n";
    print $fh '{"model":"bench","messages":[{"role":"user",'
            . '"content":"hi"}]}';
    close $fh;
}

sub rps {
    my ($path) = @_;
    my ($rc, $out) = AttestTest::run_cmd([$LOADGEN, 'rps', '-p', $ngx->port,
        '-u', $path, '-b', $body, '-c', $o{conns}, '-d', $o{duration}],
        timeout => $o{duration} + 60);
    my ($line) = grep { /^\{/ } split /\n/, $out;
    my $r = $line ? eval { decode_json($line) } : undef;
    die "fleet: loadgen $path: exit $rc\n$out\n" unless $r;
    return $r;
}

# warm-up: every machine of the four known (and the one)
my %warm;
for my $i (1 .. 40) {
    for my $path ('/f4/chat/completions', '/f1/chat/completions') {
        my $r = post_json($ngx->url($path), '{"model":"bench","messages":[]}');
        $warm{$path}{$r->{headers}{'x-attestation-status'} // '(none)'}++;
    }
}
my $fetches4 = $four->stats->{attestation};
my $fetches1 = $one->stats->{attestation};

my (%rps, %p99, %err);
for my $round (1 .. $o{rounds}) {
    for my $side ($round % 2 ? ('1', '4') : ('4', '1')) {
        my $r = rps("/f$side/chat/completions");
        push @{ $rps{$side} }, $r->{rps};
        push @{ $p99{$side} }, $r->{p99_ms};
        $err{$side} += $r->{errors};
    }
}

sub median {
    my @s = sort { $a <=> $b } @_;
    return $s[int($#s / 2)];
}

my @out;
push @out, sprintf('fleet benchmark: %d rounds of %d s, %d connections, '
                   . '2 workers', $o{rounds}, $o{duration}, $o{conns});
push @out, sprintf('warm-up: 4 machines %s (%d fetches), 1 machine %s '
                   . '(%d fetches)',
                   join(' ', map { "$_=$warm{'/f4/chat/completions'}{$_}" }
                        sort keys %{ $warm{'/f4/chat/completions'} }),
                   $fetches4,
                   join(' ', map { "$_=$warm{'/f1/chat/completions'}{$_}" }
                        sort keys %{ $warm{'/f1/chat/completions'} }),
                   $fetches1);
for my $side ('1', '4') {
    push @out, sprintf('%s machine%s: %.1f req/s, p99 %.2f ms (median of '
                       . 'rounds), %d non-200', $side, $side eq '1' ? ' '
                       : 's', median(@{ $rps{$side} }),
                       median(@{ $p99{$side} }), $err{$side});
}
push @out, sprintf('ratio 4/1: requests/s %.3f, p99 %.3f',
                   median(@{ $rps{4} }) / median(@{ $rps{1} }),
                   median(@{ $p99{4} }) / median(@{ $p99{1} }));
push @out, sprintf('fetches during the measurement: 4 machines %d, 1 '
                   . 'machine %d', $four->stats->{attestation} - $fetches4,
                   $one->stats->{attestation} - $fetches1);

print "$_\n" for @out;

if ($o{out}) {
    open my $fh, '>', $o{out} or die "fleet: $o{out}: $!\n";
    print $fh "$_\n" for @out;
    close $fh;
}
