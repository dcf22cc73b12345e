#!/usr/bin/perl
# Reads the memcheck logs that ATTEST_VALGRIND=DIR leaves (make
# test-valgrind: nginx's master and workers under valgrind, one log per
# process) and fails on any invalid read, write or free, and on any error
# or definite leak whose stack passes through the module (ngx_http_attest_
# or the core's attest_ functions).
#
#   scripts/valgrind-check.pl DIR
#
# Prints one line per finding and a summary; exits 1 on a finding, 2 when
# DIR holds no log.  Core Perl only.

use strict;
use warnings;

my $dir = shift or die "usage: $0 DIR\n";
my @logs = sort glob("$dir/nginx-*.log");
unless (@logs) {
    print "valgrind-check: no logs in $dir\n";
    exit 2;
}

my ($bad, $errors, $ours, $leaks) = (0, 0, 0, 0);

for my $log (@logs) {
    open my $fh, '<', $log or die "$log: $!\n";
    local $/ = undef;
    my $text = <$fh>;
    close $fh;

    # records are separated by lines of the bare "==PID== " prefix
    for my $rec (split /^==\d+==\s*$/m, $text) {
        my ($head) = $rec =~ /^==\d+== (\S.*)$/m or next;
        my $module = $rec =~ /\b(?:ngx_http_attest_|attest_)\w+/;
        if ($head =~ /definitely lost/) {
            next unless $module;
            $leaks++;
        } elsif ($head =~ /^(Invalid (?:read|write|free)|Mismatched free)/) {
            $errors++;
        } elsif ($head =~ /^(Conditional jump|Use of uninitialised
                              |Syscall\ param|Source\ and\ destination)/x)
        {
            next unless $module;
            $ours++;
        } else {
            next;
        }
        $bad++;
        (my $short = $rec) =~ s/^==\d+== ?//mg;
        print "$log:\n$short\n";
    }
}

printf "valgrind-check: %d process logs; %d invalid accesses, %d other "
     . "errors in the module, %d definite leaks in the module\n",
     scalar @logs, $errors, $ours, $leaks;

exit($bad ? 1 : 0);
