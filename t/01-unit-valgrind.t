#!/usr/bin/perl
# The core's unit tests once more under valgrind: any invalid read or
# write, use of uninitialised memory, or leak fails the suite.  prove runs
# the same binaries plainly too (make test), so this one only counts
# memory errors.

use strict;
use warnings;
use Test::More;

my @bins = sort grep { -f && -x } glob('build/tests/test_*');
mkdir 'build/valgrind';
plan skip_all => 'unit tests not built (make unit)' unless @bins;

my ($vg) = grep { -x "$_/valgrind" } split /:/, $ENV{PATH} // '';
BAIL_OUT('valgrind is missing: run make deps') unless $vg;

# two checks per unit test binary
plan tests => 2 * @bins;

for my $bin (@bins) {
    (my $name = $bin) =~ s{.*/}{};
    my $log = "build/valgrind/$name.log";
    my $out = "build/valgrind/$name.out";
    my $rc = system("valgrind --quiet --error-exitcode=99 --leak-check=full "
                    . "--errors-for-leak-kinds=definite,indirect "
                    . "--show-leak-kinds=definite,indirect "
                    . "--track-origins=yes --log-file=$log $bin "
                    . ">$out 2>&1");
    my $code = $rc >> 8;

    ok($code != 99, "$bin: no memory error or leak under valgrind")
        or diag(do { local (@ARGV, $/) = ($log); <> });
    is($code, 0, "$bin: passes under valgrind")
        or diag("see $out");
}
