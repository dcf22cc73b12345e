#!/usr/bin/perl
# The shared-memory cache of verified attestations: one fetch serves many
# requests, the TTL expires, workers share entries, a reload keeps them,
# a full zone evicts the least recently used key, and failures are never
# cached.

use strict;
use warnings;
use Test::More;
use POSIX ();

use lib 't/lib';
use AttestTest qw(:all);
use AttestConf;

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 35;

# this file's nginx config, as every gateway here runs it;
# AttestConf::fill puts in the agent's port and the %%NAMES%% a test
# varies (defaults: zone ionet:1m, ttl 5m, buffering off, fetch buffer
# 512k, mode enforce, no extra lines)
my $CONF = <<'NGINX';
    log_format attest '$status $attest_status $attest_reason '
                      'key=$attest_key signer=$attest_signing_address '
                      'digest=$attest_image_digest age=$attest_age '
                      'gpu="$attest_gpu" cpu="$attest_cpu" '
                      'binding=$attest_binding';
    access_log %%TMP%%/logs/attest.log attest;

    attest_zone zone=%%ZONE%%;
    upstream backend { server 127.0.0.1:%%AGENT%%; keepalive 8; }
    %%HTTP_EXTRA%%

    server {
        listen 127.0.0.1:%%PORT%%;
        %%SERVER_EXTRA%%

        location /v1/ {
            attest zone=%%ZONE_NAME%%%%MODE%%;
            attest_key $http_x_model_id;
            attest_fetch /_attestation;
            attest_ttl %%TTL%%;
            %%LOC_EXTRA%%

            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_buffering %%BUFFERING%%;
        }

        location /plain/ {
            proxy_pass http://backend/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location = /_attestation {
            internal;
            subrequest_output_buffer_size %%FETCH_BUFFER%%;
            proxy_pass http://backend/attestation;
            proxy_method POST;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{"model_id":"$attest_key","nonce":"$attest_nonce"}';
        }
    }
NGINX

my $agent = AttestTest::Agent->start();
my $chat = {model => 'm', messages => [{role => 'user', content => 'hi'}]};

sub fetches { $agent->stats->{attestation} }

sub ask {
    my ($ngx, %h) = @_;
    return post_json($ngx->url('/v1/chat/completions'), $chat, \%h);
}

# one fetch for 50 sequential requests within the TTL

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent));
    $agent->reset_stats;

    my $ok = 0;
    for (1 .. 50) {
        my $r = ask($ngx);
        $ok++ if ($r->{headers}{'x-attestation-status'} // '') eq 'verified';
    }

    is($ok, 50, '50 requests verified');
    is(fetches(), 1, 'one attestation fetch for 50 requests');
    is($agent->stats->{completion}, 50, 'all 50 reached the upstream');

    # another key is another entry
    my $r = ask($ngx, 'X-Model-Id' => 'model-b');
    is($r->{headers}{'x-attestation-status'}, 'verified', 'second key');
    is(fetches(), 2, 'a second key fetches its own attestation');

    is($agent->stats->{last_attestation_request}{model_id}, 'model-b',
       '$attest_key reaches the fetch');
    like($agent->stats->{last_nonce} // '', qr/^[0-9a-f]{64}$/,
         'a 32-byte nonce is sent');
}

# a 1 s TTL expires

{
    my $ngx = AttestTest::Nginx->start(
        http => AttestConf::fill($CONF, $agent, ttl => '1s'));
    $agent->reset_stats;

    ask($ngx) for 1 .. 3;
    is(fetches(), 1, 'one fetch within a 1 s TTL');

    my $nonce1 = $agent->stats->{last_nonce};

    select(undef, undef, undef, 1.3);
    my $r = ask($ngx);
    is($r->{headers}{'x-attestation-status'}, 'verified',
       'verified after the TTL expired');
    is(fetches(), 2, 'a new fetch after the TTL expired');
    isnt($agent->stats->{last_nonce}, $nonce1, 'with a fresh nonce');
}

# two workers share entries; a reload keeps them

{
    my $http = AttestConf::fill($CONF, $agent,
        server_extra => 'add_header X-Worker $pid always;');
    $http =~ s/listen 127\.0\.0\.1:%%PORT%%;/listen 127.0.0.1:%%PORT%% reuseport;/;

    my $ngx = AttestTest::Nginx->start(http => $http, workers => 2);
    $agent->reset_stats;

    my %pids;
    for (1 .. 60) {
        my $r = ask($ngx);
        $pids{$r->{headers}{'x-worker'} // '?'}++;
        last if keys %pids >= 2 && $_ >= 10;
    }

    is(scalar(keys %pids), 2, 'requests were served by both workers')
        or diag(explain(\%pids));
    is(fetches(), 1, 'both workers used the one cached attestation');

    my @old = sort keys %pids;
    ok($ngx->reload, 'reload');
    ok(wait_for(sub {
        my %live = map { $_ => 1 } $ngx->worker_pids;
        !grep { $live{$_} } @old;
    }, 10), 'the old workers are gone');

    my %new;
    for (1 .. 20) {
        my $r = ask($ngx);
        is($r->{headers}{'x-attestation-status'}, 'verified',
           'verified after reload') if $_ == 1;
        $new{$r->{headers}{'x-worker'} // '?'}++;
    }

    ok(!(grep { $new{$_} } @old), 'served by new workers after reload');
    is(fetches(), 1, 'the zone kept its entry across the reload');
    unlike($ngx->error_log, qr/holds another layout/,
           'the reload found the zone in the same layout');
}

# a full zone evicts the least recently used entry

{
    my $ngx = AttestTest::Nginx->start(
        http => AttestConf::fill($CONF, $agent, zone => 'tiny:32k'));
    $agent->reset_stats;

    my $ok = 0;
    for my $i (1 .. 150) {
        my $r = ask($ngx, 'X-Model-Id' => "model-$i-" . ('x' x 100));
        $ok++ if ($r->{headers}{'x-attestation-status'} // '') eq 'verified';
    }

    is($ok, 150, '150 keys verified in a 32k zone');
    like($ngx->error_log, qr/\[warn\].*zone "tiny" is full, evicting the least recently used key "[0-9a-f]{32}:model-1-/,
         'eviction logged at warn, oldest key first');

    my $before = fetches();
    ask($ngx, 'X-Model-Id' => 'model-150-' . ('x' x 100));
    is(fetches(), $before, 'the most recent key is still cached');
    ask($ngx, 'X-Model-Id' => 'model-1-' . ('x' x 100));
    is(fetches(), $before + 1, 'the evicted key is fetched again');

    unlike($ngx->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');
}

# failures are not cached

{
    my $ngx = AttestTest::Nginx->start(http => AttestConf::fill($CONF, $agent));
    $agent->reset_stats;

    my $r = ask($ngx, 'X-Model-Id' => 'flaky', 'X-Test-Mode' => 'attest:wrong_nonce');
    is($r->{status}, 502, 'a bad report is refused');

    $r = ask($ngx, 'X-Model-Id' => 'flaky');
    is($r->{headers}{'x-attestation-status'}, 'verified',
       'the next request fetches a good report');
    is(fetches(), 2, 'the failure was not cached');

    $r = ask($ngx, 'X-Model-Id' => 'flaky');
    is(fetches(), 2, 'the good report is cached');
    like($r->{headers}{'x-attestation-status'}, qr/^verified/, 'still verified');
}

# a burst on a cold key costs the upstream one attestation, across
# workers: the others wait for that fetch

sub burst {
    my ($ngx, $n, %h) = @_;
    my @kids;
    for my $i (1 .. $n) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            my $r = ask($ngx, %h);
            print $wr "$r->{status} "
                      . ($r->{headers}{'x-attestation-status'} // '-');
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    my %seen;
    for my $k (@kids) {
        my $fh = $k->[1];
        local $/;
        my $line = <$fh> // 'none';
        waitpid($k->[0], 0);
        $seen{$line}++;
    }
    return \%seen;
}

{
    my $http = AttestConf::fill($CONF, $agent);
    $http =~ s/listen 127\.0\.0\.1:%%PORT%%;/listen 127.0.0.1:%%PORT%% reuseport;/;
    my $ngx = AttestTest::Nginx->start(http => $http, workers => 2);
    $agent->reset_stats;

    my $seen = burst($ngx, 20, 'X-Model-Id' => 'burst',
                     'X-Test-Mode' => 'attest:attest_slow',
                     'X-Test-Sleep' => 1);
    is_deeply($seen, {'200 verified' => 20},
              'a burst of 20 on a cold key: all verified')
        or diag(explain($seen));
    is(fetches(), 1, '... with one attestation fetch');

    $agent->reset_stats;
    $seen = burst($ngx, 10, 'X-Model-Id' => 'burst-bad',
                  'X-Test-Mode' => 'attest:attest_slow,attest:wrong_nonce',
                  'X-Test-Sleep' => 1);
    is_deeply($seen, {'502 failed; reason=nonce_mismatch' => 10},
              'a burst on a key whose report fails: all refused')
        or diag(explain($seen));
    is(fetches(), 1, '... with one attestation fetch');

    my $r = ask($ngx, 'X-Model-Id' => 'burst-bad');
    is($r->{headers}{'x-attestation-status'}, 'verified',
       'a later request fetches again (failures are not cached)');
    is(fetches(), 2, '... with a new fetch');
}
