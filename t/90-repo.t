#!/usr/bin/perl
# Rules of the repository that a reader relies on:
#   - README.md documents every directive and variable the module defines,
#     and gives every reason of src/core/attest_reason.c a troubleshooting
#     row; its table of contents points at headings that exist;
#   - no build, test or demo script starts, stops, enables or disables a
#     system service, or signals an nginx it did not start (-s without -p).

use strict;
use warnings;
use Test::More;

use File::Find qw(find);

use lib 't/lib';
use AttestTest qw(repo slurp);

my $TOP = repo();
my $readme = slurp("$TOP/README.md");

# --- README covers the code ----------------------------------------------

my %names;
find({no_chdir => 1, wanted => sub {
    return unless /\.[ch]\z/;
    $names{$_} = 1 for slurp($_) =~ /ngx_string\("(attest[a-z0-9_]*)"\)/g;
}}, "$TOP/src");
ok(scalar(keys %names) > 20,
   'src/ defines the attest directives and variables');
for my $n (sort keys %names) {
    like($readme, qr/\Q$n\E\b/, "README.md documents $n");
}

my @reasons = slurp("$TOP/src/core/attest_reason.c")
    =~ /\[ATTEST_\w+\]\s*=\s*\{\s*"([a-z0-9_]+)"/g;
ok(scalar(@reasons) > 30, 'attest_reason.c names the reasons');
my ($trouble) = $readme =~ /^### Troubleshooting\n(.*?)^#/ms;
ok(defined $trouble, 'README.md has a Troubleshooting section');
$trouble //= '';
for my $r (grep { $_ ne 'ok' } @reasons) {
    like($trouble, qr/^\| `\Q$r\E` \| [^|]+ \| [^|]+ \|$/m,
         "troubleshooting: $r has a cause and a fix");
}

# GitHub's anchors: lower case, punctuation dropped, spaces to dashes
my %anchors;
for my $h ($readme =~ /^#{2,4} (.+)$/mg) {
    (my $a = lc $h) =~ s/[^a-z0-9 _-]//g;
    $a =~ s/ /-/g;
    $anchors{$a} = 1;
}
my @links = $readme =~ /\]\(#([^)]+)\)/g;
ok(@links >= 9, 'README.md has a table of contents');
for my $l (@links) {
    ok($anchors{$l}, "README.md link #$l has its heading");
}
for my $f ($readme =~ /\]\(((?!#|https?:)[^)]+)\)/g) {
    ok(-e "$TOP/$f", "README.md links to $f, which exists");
}

# --- no script touches a system service -----------------------------------

my @scripts = ("$TOP/Makefile", "$TOP/.ci/run", "$TOP/Dockerfile");
find({no_chdir => 1, wanted => sub {
    $File::Find::prune = 1 if m{/node_modules\z};
    push @scripts, $_ if -f $_ && /\.(sh|pl|pm|py|t|mjs)\z/
                         && $_ ne "$TOP/t/90-repo.t";
}}, map { "$TOP/$_" } qw(scripts bench t tests));
ok(scalar(@scripts) > 30, scalar(@scripts) . ' scripts to check');

my $service = qr{\bsystemctl\b
                 |\bservice\s+[\w.@-]+\s+(?:start|stop|restart|reload)
                 |\binvoke-rc\.d\b|\bupdate-rc\.d\b|\bdeb-systemd-invoke\b
                 |/etc/init\.d/|\bpolicy-rc\.d\b|\bstart-stop-daemon\b}x;
my @hits;
for my $f (@scripts) {
    my $n = 0;
    for my $line (split /\n/, slurp($f)) {
        $n++;
        next if $line =~ m{^\s*(?:#|//|\*)};      # a comment
        push @hits, "$f:$n: $line" if $line =~ $service;
        # a shell "nginx -s" must name its own instance with -p or -c
        # (the Perl harness passes -p in its argument lists)
        push @hits, "$f:$n: $line"
            if $f =~ m{(\.sh|/Makefile|/\.ci/run|/Dockerfile)\z}
               && $line =~ /\bnginx\b[^#]*\s-s\s/ && $line !~ /\s-[pc]\s/;
    }
}
is_deeply(\@hits, [], 'no script starts, stops or disables a service')
    or diag(join "\n", @hits);

done_testing();
