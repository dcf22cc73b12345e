#!/usr/bin/perl
# The Python reference of the request hash (t/upstream/reqhash.py, which
# wrote the vectors the C unit test checks) against a real pydantic v2,
# when the machine's python3 has it: every hash the same, every refusal
# of what the agent refuses refused by pydantic too.  Skipped without
# pydantic v2 (PyPI is not a dependency).

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);

my $vec = repo() . '/build/vectors/reqhash.txt';
plan skip_all => 'no request vectors (make vectors)' unless -f $vec;

my ($py) = grep { -x } map { "$_/python3" } split /:/, $ENV{PATH} // '';
plan skip_all => 'no python3 on PATH' unless $py;

my ($rc, $out) = AttestTest::run_cmd(
    [$py, repo() . '/tests/vectors/check_pydantic.py', $vec], timeout => 300);
plan skip_all => "python3 has no pydantic v2: $out" if $rc == 77;
plan tests => 2;

is($rc, 0, 'reference and pydantic agree on every vector') or diag($out);
like($out, qr/pydantic 2\.\S+: \d{4,} agree, 0 disagree/, 'counts')
    and note($out);
