#!/usr/bin/perl
# conf-examples/ deploys: every configuration there passes nginx -t with
# the module loaded (the whole nginx.conf, the local demo's, and the
# conf.d drop-in inside Debian's own stock nginx.conf), no .conf file is
# left untested, and the io.net gateway carries OpenAI SDK traffic when it
# is pointed at the agent double instead of io.net.
#
# Test-only substitutions, and only these (no network is reachable here):
# the module's path in load_module, log and pid paths into a temporary
# directory, the resolver file written by scripts/resolver-conf.sh from a
# sample resolv.conf (nothing is resolved at nginx -t: io.net's name is
# resolved per request); for the traffic test also io.net's https address
# -> the agent double's http one, the listen port, and the pinned NVIDIA
# and Intel roots -> the double's test roots.

use strict;
use warnings;
use Test::More;

use File::Find qw(find);
use File::Path qw(make_path);
use File::Spec;

use lib 't/lib';
use AttestTest qw(:all);

plan skip_all => 'module not built (make)' unless module_built();

my $EX = repo() . '/conf-examples';
my $SO = module_path();
my $RESOLVER_CONF = repo() . '/scripts/resolver-conf.sh';

sub spew {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}

# every *.conf under conf-examples/, relative to it
my @CONFS;
find({no_chdir => 1, wanted => sub {
    push @CONFS, File::Spec->abs2rel($_, $EX) if /\.conf\z/ && -f $_;
}}, $EX);
@CONFS = sort @CONFS;

# A copy of conf-examples/ in $dir/conf with the test-only substitutions;
# returns $dir.
sub example_tree {
    my ($name) = @_;
    my $dir = AttestTest::tmpdir() . "/ex-$name";
    make_path("$dir/conf", "$dir/logs", "$dir/tmp");
    system('cp', '-RL', "$EX/.", "$dir/conf/") == 0 or die "cp: $?";
    substitute($dir, "$dir/conf");

    # scripts/resolver-conf.sh, as the README's install step runs it
    spew("$dir/resolv.conf", "# sample\nsearch example.org\n"
                             . "nameserver 192.0.2.53\n");
    my ($rc, $out) = AttestTest::run_cmd([$RESOLVER_CONF, "$dir/resolv.conf"]);
    die "resolver-conf.sh: $out" if $rc != 0;
    spew("$dir/conf/attest-resolver.conf", $out);
    return $dir;
}

# the test-only substitutions in every file under $root
sub substitute {
    my ($dir, $root) = @_;
    find({no_chdir => 1, wanted => sub {
        return unless -f $_ && !/\.pem\z/;
        my $text = slurp($_);
        my $was = $text;
        $text =~ s{load_module\s+modules/ngx_http_attest_module\.so;}
                  {load_module $SO;}g;
        $text =~ s{/var/log/nginx/}{$dir/logs/}g;
        $text =~ s{/run/nginx\.pid}{$dir/nginx.pid}g;
        spew($_, $text) if $text ne $was;
    }}, $root);
}

sub nginx_t {
    my ($dir, $conf) = @_;
    return AttestTest::run_cmd([AttestTest::Nginx::bin(), '-t', '-p', "$dir/",
                    '-e', "$dir/logs/error.log", '-c', $conf]);
}

# the files a configuration includes, followed (globs too), relative to
# conf-examples/ when they come from there
sub included {
    my ($dir, $file, $seen) = @_;
    $seen //= {};
    return () if $seen->{$file}++;
    my @out;
    for my $inc (slurp($file) =~ /^\s*include\s+(\S+?);/mg) {
        my $pat = $inc =~ m{^/} ? $inc : "$dir/conf/$inc";
        for my $f (glob $pat) {
            push @out, $f, included($dir, $f, $seen);
        }
    }
    return @out;
}

my %covered;

sub cover {
    my ($dir, @files) = @_;
    for my $f (@files) {
        my $rel = File::Spec->abs2rel($f, "$dir/conf");
        $covered{$rel} = 1 if -f "$EX/$rel";
    }
}

# --- the examples say what io.net documents ------------------------------

{
    my $gw = slurp("$EX/conf.d/attest-ionet.conf");
    like($gw, qr/^\s*set \$ionet_api api\.intelligence\.io\.net;/m,
         'io.net example: the documented host api.intelligence.io.net');
    like($gw, qr{proxy_pass https://\$ionet_api/v1/private/completions;},
         'io.net example: completions go to /v1/private/completions');
    like($gw, qr{proxy_pass https://\$ionet_api/v1/private/attestation;},
         'io.net example: reports come from /v1/private/attestation');
    unlike(join('', map { slurp("$EX/$_") } @CONFS),
           qr/^\s*resolver\s+127\.0\.0\.53/m,
           'no example names systemd-resolved\'s 127.0.0.53');
    unlike($gw, qr/attest_key\s+\$http_/,
           'io.net example: the attestation key is no raw client header');
}

# --- nginx -t on every whole configuration --------------------------------

for my $name ('ionet.conf', 'local-demo.conf') {
    my $dir = example_tree($name);
    # the demo's roots come from the agent double; any valid root will do
    system('cp', "$dir/conf/nvidia_device_identity_root.pem",
           "$dir/conf/demo-gpu-root.pem");
    system('cp', "$dir/conf/intel_sgx_root_ca.pem",
           "$dir/conf/demo-cpu-root.pem");

    my $conf = "$dir/conf/$name";
    my ($rc, $out) = nginx_t($dir, $conf);
    is($rc, 0, "conf-examples/$name passes nginx -t") or diag($out);
    like($out, qr/test is successful/, "conf-examples/$name: nginx says so");
    cover($dir, $conf, included($dir, $conf));
}

# --- the drop-in, inside Debian's stock nginx.conf -------------------------

SKIP: {
    skip 'no /etc/nginx/nginx.conf (Debian\'s nginx-common)', 4
        unless -f '/etc/nginx/nginx.conf';

    my $dir = AttestTest::tmpdir() . '/ex-debian';
    make_path("$dir/conf", "$dir/logs");
    # Debian's own files, then ours dropped in as the README says
    system('cp', '-RL', '/etc/nginx/.', "$dir/conf/") == 0 or die "cp: $?";
    make_path("$dir/conf/conf.d", "$dir/conf/modules-enabled");
    system('cp', '-RL', "$EX/.", "$dir/conf/") == 0 or die "cp: $?";
    unlink "$dir/conf/ionet.conf", "$dir/conf/local-demo.conf";
    my $stock = slurp('/etc/nginx/nginx.conf');
    $stock =~ s{/etc/nginx/}{$dir/conf/}g;
    spew("$dir/conf/nginx.conf", $stock);
    for my $f (glob("$dir/conf/sites-enabled/*")) {
        (my $t = slurp($f)) =~ s{/etc/nginx/}{$dir/conf/}g;
        spew($f, $t);
    }
    substitute($dir, "$dir/conf");
    spew("$dir/resolv.conf", "nameserver 192.0.2.53\n");
    my ($rc, $out) = AttestTest::run_cmd([$RESOLVER_CONF, "$dir/resolv.conf"]);
    spew("$dir/conf/attest-resolver.conf", $out);

    like($stock, qr{include \Q$dir\E/conf/conf\.d/\*\.conf;},
         'Debian\'s nginx.conf includes conf.d/*.conf');
    my @inc = included($dir, "$dir/conf/nginx.conf");
    ok((grep { m{/conf\.d/attest-ionet\.conf\z} } @inc)
       && (grep { m{/modules-enabled/50-mod-http-attest\.conf\z} } @inc),
       'it picks up the drop-in and the load_module file');

    ($rc, $out) = nginx_t($dir, "$dir/conf/nginx.conf");
    is($rc, 0, 'the drop-in passes nginx -t in Debian\'s stock nginx.conf')
        or diag($out);
    like($out, qr/test is successful/, 'the drop-in: nginx says so');
    cover($dir, @inc);
}

# --- nothing left out -----------------------------------------------------

for my $f (@CONFS) {
    ok($covered{$f}, "conf-examples/$f is checked by nginx -t");
}

# --- nginx -t names a missing resolver file --------------------------------

{
    my $dir = example_tree('no-resolver');
    unlink "$dir/conf/attest-resolver.conf";
    my ($rc, $out) = nginx_t($dir, "$dir/conf/ionet.conf");
    isnt($rc, 0, 'without attest-resolver.conf nginx -t fails');
    like($out, qr/attest-resolver\.conf/, '... naming the file') or diag($out);
}

# --- scripts/resolver-conf.sh ------------------------------------------------

{
    my $dir = AttestTest::tmpdir();
    spew("$dir/rc1", "# comment\nsearch example.org\nnameserver 192.0.2.1\n"
                     . "#nameserver 192.0.2.9\nnameserver 2001:db8::1\n"
                     . "nameserver fe80::1%eth0\noptions edns0\n");
    my ($rc, $out) = AttestTest::run_cmd([$RESOLVER_CONF, "$dir/rc1"]);
    is($rc, 0, 'resolver-conf.sh: exit 0');
    like($out,
         qr/^resolver\ 192\.0\.2\.1\ \[2001:db8::1\]\ \[fe80::1\]
            \ valid=300s\ ipv6=off;$/mx,
         'resolver-conf.sh: every server on one line, IPv6 in brackets')
        or diag($out);
    is(scalar(() = $out =~ /^resolver /mg), 1, 'resolver-conf.sh: one line');

    spew("$dir/rc2", "search example.org\n");
    ($rc, $out) = AttestTest::run_cmd([$RESOLVER_CONF, "$dir/rc2"]);
    is($rc, 1, 'resolver-conf.sh: no server, exit 1');
    unlike($out, qr/^resolver /m, 'resolver-conf.sh: no server, no line');
}

# --- traffic through the io.net gateway ------------------------------------

my $agent = AttestTest::Agent->start();
my $dir = example_tree('traffic');
my $port = free_port();
my $MODEL = 'meta-llama/Llama-3.3-70B-Instruct';
my $KEY = 'io-v2-REPLACE-WITH-YOUR-KEY';

{
    my $f = "$dir/conf/conf.d/attest-ionet.conf";
    my $t = slurp($f);
    $t =~ s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$port;/ or die;
    $t =~ s/(set \$ionet_api) api\.intelligence\.io\.net;/
            "$1 127.0.0.1:" . $agent->port . ';'/e or die;
    $t =~ s{https://\$ionet_api}{http://\$ionet_api}g;
    spew($f, $t);
    system('cp', $agent->gpu_root,
           "$dir/conf/nvidia_device_identity_root.pem") == 0 or die;
    system('cp', $agent->cpu_root, "$dir/conf/intel_sgx_root_ca.pem") == 0
        or die;
}

my $nginx = AttestTest::Nginx->start(
    prefix => $dir, http => 'include conf.d/attest-ionet.conf;');
ok(AttestTest::wait_for(sub { AttestTest::port_open($port) }, 10),
   'the io.net gateway listens');
my $base = "http://127.0.0.1:$port";
my $chat = {model => $MODEL, messages => [{role => 'user', content => 'hi'}]};

{
    $agent->reset_stats;
    my $r = post_json("$base/v1/private/chat/completions", $chat,
                      {'Cookie' => 'junk=1', 'X-Junk' => 'client'});
    is($r->{status}, 200, 'SDK path /v1/private/chat/completions: 200')
        or diag($r->{content});
    is($r->{headers}{'x-attestation-status'}, 'verified',
       'SDK path: verified');
    my $s = $agent->stats;
    is_deeply([grep { !m{^/_} } @{ $s->{requests} }],
              ['/v1/private/attestation', '/v1/private/completions'],
              'io.net sees its own paths');
    is($s->{last_attestation_request}{model_id},
       'REPLACE-WITH-THE-IO.NET-MODEL-ID',
       'the body\'s model, mapped in ionet-models.conf, is the io.net '
       . 'model id the attestation names');
    my ($comp) = grep { $_->{kind} eq 'completion' } @{ $s->{log} };
    is($comp->{headers}{authorization}, "Bearer $KEY",
       'the API key from ionet-secrets.conf goes to io.net');
    is($comp->{headers}{'accept-encoding'}, undef,
       'no Accept-Encoding toward io.net');
    my ($fetch) = grep { $_->{kind} eq 'attestation' } @{ $s->{log} };
    is($fetch->{headers}{authorization}, "Bearer $KEY",
       'the attestation request carries the API key');
    is_deeply([grep { /junk|cookie/ }
               sort keys %{ $fetch->{headers} }], [],
              'no client header reaches the attestation endpoint')
        or diag(join ' ', sort keys %{ $fetch->{headers} });
    is($comp->{headers}{'x-junk'}, 'client',
       '(the completion itself carries the client\'s headers)');

    $r = post_json("$base/v1/private/completions", $chat);
    is($r->{status}, 200, 'io.net path /v1/private/completions: 200');
    is($r->{headers}{'x-attestation-status'}, 'verified',
       'io.net path: verified');

    $r = post_json("$base/v1/private/chat/completions", $chat,
                   {'X-Test-Mode' => 'tamper_body'});
    is($r->{status}, 502, 'a tampered answer: 502');
    is($r->{json} && $r->{json}{error}{code}, 'body_mismatch',
       'a tampered answer: the reason in the OpenAI error shape');
}

# the model restriction: the body's model unlisted or missing -> 502
# before io.net is asked
for my $case (['no model', undef], ['an unlisted model', 'other'],
              ['JSON in the model', 'x","nonce":"00']) {
    my ($label, $model) = @$case;
    $agent->reset_stats;
    my %c = (%$chat, model => $model);
    delete $c{model} unless defined $model;
    my $r = post_json("$base/v1/private/chat/completions", \%c);
    is($r->{status}, 502, "$label: 502");
    is($r->{json} && $r->{json}{error}{code}, 'attestation_unavailable',
       "$label: attestation_unavailable, in the OpenAI error shape");
    like($r->{headers}{'content-type'}, qr{^application/json},
         "$label: JSON");
    my $s = $agent->stats;
    is($s->{attestation} + $s->{completion}, 0, "$label: io.net not asked");
}

{
    my $r = post_json("$base/v1/private/embeddings", {}, {});
    is($r->{status}, 404, 'another path: 404');
    is($r->{json} && $r->{json}{error}{code}, 'not_found',
       'another path: JSON error');
}

# the OpenAI Node SDK with baseURL .../v1/private, as README shows it
my $NODE = $ENV{NODE} || (grep { -x } map { File::Spec->catfile($_, 'node') }
                          File::Spec->path())[0];
SKIP: {
    skip 'node or t/node/node_modules/openai missing (make test-deps)', 6
        unless $NODE && -f repo() . '/t/node/node_modules/openai/package.json';

    my $sdk = sub {
        my ($mode, @opt) = @_;
        my ($rc, $out) = AttestTest::run_cmd(
            [$NODE, repo() . '/t/node/chat.mjs', "$base/v1/private", $mode,
             '--model', $MODEL, @opt], timeout => 60);
        my ($line) = $out =~ /^(\{.*\})\s*$/m;
        my $res = $line ? eval { decode_json($line) } : undef;
        diag("chat.mjs $mode @opt: exit $rc\n$out") unless $res;
        return $res || {};
    };

    my $r = $sdk->('complete');
    ok($r->{ok}, 'Node SDK, baseURL /v1/private: a completion');
    is($r->{attestation}, 'verified', 'Node SDK: verified');
    $r = $sdk->('stream');
    ok($r->{ok} && $r->{chunks} > 0, 'Node SDK: a stream');
    is($r->{foreign}, 0, 'Node SDK: no foreign chunk in the stream');
    $r = $sdk->('stream', '--test-mode', 'stream_tamper');
    ok(!$r->{ok}, 'Node SDK: a tampered stream fails');
    is($r->{error} && $r->{error}{code}, 'body_mismatch',
       'Node SDK: ... with our reason');
}

my $log = slurp("$dir/logs/attest.log");
like($log, qr/attest=verified reason=- key=REPLACE-WITH-THE-IO\.NET-MODEL-ID /,
     'the attest log format records the verdict and key');

done_testing();
