#!/usr/bin/perl

# End to end with the official OpenAI Node SDK (t/node/chat.mjs): a client
# written against OpenAI's API, pointed at nginx, streams and completes
# through the attest module unchanged, and the module's enforce-mode
# failures reach it as APIErrors carrying our reason code, both for a 502
# and for the "event: error" that ends a failed stream.
#
# Needs node on PATH (or NODE=/path/to/node) and t/node/node_modules
# (make node-deps; make test does it).

use strict;
use warnings;

use File::Spec;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);

my $NODE = $ENV{NODE} || (grep { -x } map { File::Spec->catfile($_, 'node') }
                          File::Spec->path())[0];
plan skip_all => 'node is not installed (the OpenAI SDK test needs it)'
    unless $NODE && -x $NODE;

my $SCRIPT = repo() . '/t/node/chat.mjs';
unless (-f repo() . '/t/node/node_modules/openai/package.json') {
    fail('the OpenAI SDK is installed in t/node/node_modules');
    diag('t/node/node_modules/openai is missing: run "make node-deps" '
         . '(npm ci --prefix t/node); "make test" does it for you');
    done_testing();
    exit;
}
plan tests => 10;


my $EVENTS = 12;

my $agent = AttestTest::Agent->start();
my $ap = $agent->port;

# The attestation fetch speaks HTTP/1.1 like the completions: with HTTP/1.0
# the agent closes the connection after answering, without saying so, and
# the keepalive pool would hand that dead connection to the completion.
my $ngx = AttestTest::Nginx->start(http => <<"EOF");
attest_zone zone=ionet:1m;
upstream backend { server 127.0.0.1:$ap; keepalive 16; }

server {
    listen 127.0.0.1:%%PORT%%;

    location /v1/ {
        attest zone=ionet;
        attest_key \$http_x_model_id;
        attest_fetch /_attestation;
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Accept-Encoding "";
        proxy_buffering off;
    }

    location /plain/ {
        proxy_pass http://backend/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
    }

    location = /_attestation {
        internal;
        subrequest_output_buffer_size 512k;
        proxy_pass http://backend/attestation;
        proxy_method POST;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_set_header Content-Type application/json;
        proxy_set_body '{"model_id":"\$attest_key","nonce":"\$attest_nonce"}';
    }
}
EOF

my $MODULE = 'http://127.0.0.1:' . $ngx->port . '/v1';
my $PLAIN  = 'http://127.0.0.1:' . $ngx->port . '/plain/v1';
my $DIRECT = $agent->url('/v1');

# Runs chat.mjs; returns its JSON summary (or a failed stand-in).
sub chat {
    my ($base, $mode, @opt) = @_;
    my ($rc, $out) = AttestTest::run_cmd([$NODE, $SCRIPT, $base, $mode, @opt],
                                         timeout => 60);
    my ($line) = grep { /^\{/ } reverse split /\n/, $out;
    my $r = $rc == 0 && $line ? eval { decode_json($line) } : undef;
    unless ($r) {
        diag("chat.mjs @opt: exit $rc\n$out");
        return {ok => 0, chunks => -1, content => '', error => {}};
    }
    return $r;
}

# Content of the agent's stream, straight from the agent: the reference.
my $ref = chat($DIRECT, 'stream', '--events', $EVENTS);
ok($ref->{ok}, 'direct to the agent: the SDK streams');
is($ref->{chunks} - $ref->{foreign}, $EVENTS,
   "direct: $EVENTS completion chunks");
is($ref->{foreign}, 1, 'direct: the signature event leaks in as a chunk');
my $CONTENT = $ref->{content};
cmp_ok(length $CONTENT, '>', 20, 'reference content');

subtest 'verified stream' => sub {
    my $r = chat($MODULE, 'stream', '--events', $EVENTS,
                 '--header', 'X-Model-Id: good');
    ok($r->{ok}, 'no error') or diag explain $r->{error};
    is($r->{status}, 200, 'status 200');
    is($r->{chunks}, $EVENTS, "every one of the $EVENTS chunks");
    is($r->{foreign}, 0, 'nothing but completion chunks (signature '
       . 'event stripped)');
    is($r->{content}, $CONTENT, 'content intact');
    is($r->{finish_reason}, 'stop', 'finish_reason');
    is($r->{error}, undef, 'error null');

    $r = chat($MODULE, 'stream', '--events', 200, '--event-size', 2048,
              '--header', 'X-Model-Id: good');
    ok($r->{ok} && $r->{chunks} == 200 && $r->{foreign} == 0,
       '200 chunks of 2 KB') or diag explain $r;

    $r = chat($PLAIN, 'stream', '--events', $EVENTS);
    ok($r->{ok} && $r->{content} eq $CONTENT, 'plain location: same content');
};

subtest 'tampered stream, enforce' => sub {
    my $r = chat($MODULE, 'stream', '--events', $EVENTS,
                 '--test-mode', 'stream_tamper',
                 '--header', 'X-Model-Id: good');
    ok(!$r->{ok}, 'the SDK raises');
    my $e = $r->{error} || {};
    ok($e->{api_error}, 'an OpenAI.APIError') or diag explain $e;
    is($e->{name}, 'APIError', 'raised from the stream (event: error)');
    is($e->{code}, 'body_mismatch', 'code body_mismatch');
    is($e->{type}, 'attestation_error', 'type attestation_error');
    like($e->{message}, qr/does not match its signed hash/, 'message');
    is($r->{status}, 200, 'after a 200 header');
    cmp_ok($r->{chunks}, '<=', $EVENTS, 'no chunk beyond the upstream\'s');
    is($r->{foreign}, 0, 'no signature event leaked');
};

subtest 'stream signed by another key' => sub {
    my $r = chat($MODULE, 'stream', '--test-mode', 'stream_other_signer',
                 '--header', 'X-Model-Id: good');
    ok(!$r->{ok} && ($r->{error}{api_error} // 0), 'APIError');
    is($r->{error}{code}, 'signer_not_attested', 'code signer_not_attested');
};

subtest 'attestation fails before the stream' => sub {
    my $r = chat($MODULE, 'stream', '--test-mode', 'attest:wrong_nonce',
                 '--header', 'X-Model-Id: bad-nonce');
    ok(!$r->{ok} && ($r->{error}{api_error} // 0), 'APIError');
    is($r->{error}{status}, 502, 'status 502');
    is($r->{error}{code}, 'nonce_mismatch', 'code nonce_mismatch');
    is($r->{chunks}, 0, 'no chunk');
};

subtest 'non-streaming' => sub {
    my $r = chat($MODULE, 'complete', '--header', 'X-Model-Id: good');
    ok($r->{ok}, 'verified: no error') or diag explain $r->{error};
    is($r->{content}, $CONTENT, 'content');
    like($r->{attestation} // '', qr/^verified\b/, 'X-Attestation-Status');

    $r = chat($MODULE, 'complete', '--test-mode', 'tamper_body',
              '--header', 'X-Model-Id: good');
    ok(!$r->{ok}, 'tamper_body: the SDK raises');
    my $e = $r->{error} || {};
    ok($e->{api_error}, 'an OpenAI.APIError') or diag explain $e;
    is($e->{status}, 502, 'status 502');
    is($e->{code}, 'body_mismatch', 'code body_mismatch');
    is($e->{type}, 'attestation_error', 'type attestation_error');
    is($e->{name}, 'InternalServerError', 'the SDK\'s 5xx class');
};

# The SDKs retry a 502 twice by default unless it says x-should-retry:
# false: a refused answer is not asked for again, an attestation that
# could not be fetched (transient, and no prompt left) is.
subtest 'retries with the SDK default of 2' => sub {
    my $r = post_json("$MODULE/chat/completions",
                      {model => 'm', messages => [{role => 'user',
                                                   content => 'hi'}]},
                      {'X-Model-Id' => 'good', 'X-Test-Mode' => 'tamper_body'});
    is($r->{status}, 502, 'a refused answer: 502');
    is($r->{headers}{'x-should-retry'}, 'false',
       '... with x-should-retry: false');

    $agent->reset_stats;
    $r = chat($MODULE, 'complete', '--retries', 2, '--test-mode',
              'tamper_body', '--header', 'X-Model-Id: good');
    is($r->{error}{code}, 'body_mismatch', 'the SDK raises body_mismatch');
    is($agent->stats->{completion}, 1,
       'one upstream completion: the SDK did not retry');

    $r = post_json("$MODULE/chat/completions",
                   {model => 'm', messages => [{role => 'user',
                                                content => 'hi'}]},
                   {'X-Model-Id' => 'down-1', 'X-Test-Mode' => 'attest_500'});
    is($r->{json} && $r->{json}{error}{code}, 'attestation_unavailable',
       'no attestation: attestation_unavailable');
    is($r->{headers}{'x-should-retry'}, undef,
       '... without x-should-retry');

    $agent->reset_stats;
    $r = chat($MODULE, 'complete', '--retries', 2, '--test-mode',
              'attest_500', '--header', 'X-Model-Id: down-2');
    is($r->{error}{code}, 'attestation_unavailable',
       'the SDK raises attestation_unavailable');
    my $s = $agent->stats;
    is($s->{attestation}, 3, 'the SDK retried: three fetches');
    is($s->{completion}, 0, '... and no prompt reached the upstream');
};
