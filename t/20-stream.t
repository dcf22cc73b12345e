#!/usr/bin/perl
# Verified SSE streaming through the gateway: the verdict comment before
# [DONE], every stream failure reason in enforce and report mode, with the
# signature event stripped and passed, with proxy_buffering off and on;
# the enforce-mode error event and no [DONE]; the first event reaching the
# client while the upstream holds the rest, and the response head before
# the first event is complete; events split into one-byte writes; CRLF
# line ends; UTF-8 delivered byte-exact; the verdict trailer; data after
# [DONE] dropped; a line over attest_body_max; an upstream cut
# mid-stream; the access log's final verdict.  Every byte boundary, one
# at a time: t/21-stream-split.t.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use AttestTest qw(:all);
use AttestProto qw(py_str stream_hash strip_sig);
use AttestConf qw(stream_request log_size log_line normalize);
use Digest::SHA qw(sha256_hex);
use Encode qw(decode_utf8);
use IO::Select;
use IO::Socket::INET;

plan skip_all => 'module not built (make)' unless module_built();
plan tests => 1188;

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
my $signer = $agent->info->{signing_address};

# the agent's CONTENT (t/upstream/agent.py): 2-, 3- and 4-byte UTF-8,
# quotes, backslashes, a newline; two events carry exactly this text
my $CONTENT = "Gr\x{fc}\x{df}e \x{1f44b} \x{2014} \x{65e5}\x{672c}: "
            . "\"quoted\", tab\there, back\\slash, path C:\\temp\\\n"
            . "new line, done.";

# one nginx per mode x attest_sse_signature x proxy_buffering; the default
# (no directive) must strip, so strip is spelt out only with buffering on
my @CONFIGS;
my %ngx;
for my $buf (qw(off on)) {
    for my $mode (qw(enforce report)) {
        for my $sig (qw(strip pass)) {
            my $name = "$mode/$sig/buffering=$buf";
            my $extra = $sig eq 'pass' ? 'attest_sse_signature pass;'
                      : $buf eq 'on' ? 'attest_sse_signature strip;' : '';
            $ngx{$name} = AttestTest::Nginx->start(
                http => AttestConf::fill($CONF, $agent, mode => $mode,
                                            buffering => $buf,
                                            loc_extra => $extra));
            push @CONFIGS, {name => $name, mode => $mode, sig => $sig,
                            buf => $buf, ngx => $ngx{$name}};
        }
    }
}

my $BODY = encode_json({model => 'm', stream => JSON::PP::true(),
                        messages => [{role => 'user', content => 'hi'}]});

# a whole streamed response through the gateway: parse_response's fields
# plus {events} and {log}
sub stream {
    my ($ngx, %h) = @_;
    my $n = log_size($ngx);
    my $r = parse_response(raw_http($ngx->port,
                                    stream_request('/v1/chat/completions', %h), 10));
    $r->{events} = parse_sse($r->{body});
    $r->{log} = log_line($ngx, $n);
    return $r;
}

sub strip_comment { my ($b) = @_; $b =~ s/^: attest [^\n]*\n\n//mg;
                    return $b }

sub data_events {
    my ($r) = @_;
    return grep { !defined $_->{event} && defined $_->{data}
                  && $_->{data} ne '[DONE]' } @{ $r->{events} };
}

# the text of the completion deltas as delivered
sub delivered_text {
    my ($r) = @_;
    return join '', map {
        my $o = eval { decode_json($_->{data}) } // {};
        $o->{choices}[0]{delta}{content} // '';
    } data_events($r);
}

sub sig_events {
    my ($r) = @_;
    return grep { ($_->{event} // '') eq 'signature' } @{ $r->{events} };
}

sub has_done {
    my ($r) = @_;
    return scalar grep { ($_->{data} // '') eq '[DONE]' } @{ $r->{events} };
}

# the upstream's own bytes for the same request, without the module
my $plain_raw = raw_http($ngx{'enforce/strip/buffering=off'}->port,
                         stream_request('/plain/chat/completions'), 10);
my $plain = parse_response($plain_raw);
my $UPSTREAM = normalize(strip_sig($plain->{body}));
like($plain->{body}, qr/^event: signature\n/m,
     'the upstream stream has a signature event');
like($UPSTREAM, qr/\n\ndata: \[DONE\]\n\n\z/, 'and ends with [DONE]');
is(scalar(() = $UPSTREAM =~ /^data: \{/mg), 2, 'and has two data events');

# verified, every configuration, with and without trailers

for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};

    for my $te (0, 1) {
        my $t = $te ? ' (TE: trailers)' : '';
        my $r = stream($ngx, $te ? (TE => 'trailers') : ());

        is($r->{status}, 200, "$name: verified stream answers 200$t");
        is($r->{headers}{'content-type'}, 'text/event-stream',
           "$name: content type$t");
        ok(!exists $r->{headers}{'x-attestation-status'},
           "$name: no verdict header in the head$t");
        ok($r->{complete}, "$name: response complete$t");
        is(delivered_text($r), $CONTENT,
           "$name: the completion text arrives intact$t");
        is(normalize(strip_comment(strip_sig($r->{body}))), $UPSTREAM,
           "$name: the upstream's bytes delivered byte-exact$t");

        my @ev = @{ $r->{events} };
        is($ev[-2]{raw} // '', ": attest status=verified signer=$signer",
           "$name: verified comment (EIP-55 signer) right before [DONE]$t");
        is($ev[-1]{data} // '', '[DONE]', "$name: [DONE] comes last$t");
        like($r->{body},
             qr/\n\n: attest status=verified [^\n]*\n\ndata: \[DONE\]\n\n\z/,
             "$name: comment and [DONE] framed as events$t");
        like($r->{log}, qr/^200 verified - key=\S* signer=\Q$signer\E /,
             "$name: access log says verified$t");

        if ($c->{sig} eq 'strip') {
            unlike($r->{body}, qr/event: signature|"signature"/,
                   "$name: signature event stripped$t");
        } else {
            my @sig = sig_events($r);
            is(scalar @sig, 1, "$name: signature event passed$t");
            like($sig[0]{raw} // '', qr/^event: signature\ndata: \{"text": "/,
                 "$name: signature event as the agent wrote it$t");
            my $f = eval { decode_json($sig[0]{data}) } // {};
            is(lc($f->{signing_address} // ''), lc $signer,
               "$name: signature event names the signer$t");
            my ($h) = ($f->{text} // '') =~ /^[0-9a-f]{64}:([0-9a-f]{64})$/;
            is($h // '', stream_hash($r->{body}),
               "$name: the signed hash is the hash of what arrived$t");
        }

        if ($te) {
            is($r->{headers}{trailer} // '', 'X-Attestation-Status',
               "$name: Trailer header announced");
            is($r->{trailers}{'x-attestation-status'} // '', 'verified',
               "$name: verdict trailer says verified");
        } else {
            ok(!exists $r->{headers}{trailer},
               "$name: no Trailer header unasked");
            is(scalar keys %{ $r->{trailers} }, 0,
               "$name: no trailers unasked");
        }
    }
}

# every failure, every configuration (trailers asked for)

my %fail = (
    stream_tamper              => 'body_mismatch',
    stream_no_signature        => 'stream_unsigned',
    sig_before_data            => 'body_mismatch',
    stream_other_signer        => 'signer_not_attested',
    stream_malformed_signature => 'signature_malformed',
    missing_signature          => 'signature_missing',
);

for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};

    for my $m (sort keys %fail) {
        my $reason = $fail{$m};
        my $r = stream($ngx, 'X-Test-Mode' => $m, TE => 'trailers');
        my @ev = @{ $r->{events} };

        is($r->{status}, 200, "$name: $m still 200 (head went first)");
        ok(!exists $r->{headers}{'x-attestation-status'},
           "$name: $m no verdict header in the head");
        ok($r->{complete}, "$name: $m response ends properly");
        is(scalar(data_events($r)), 2,
           "$name: $m both data events delivered before the verdict");
        like($r->{log}, qr/^200 failed \Q$reason\E key=/,
             "$name: $m access log says failed $reason");
        is($r->{trailers}{'x-attestation-status'} // '',
           "failed; reason=$reason", "$name: $m verdict trailer");
        unlike($r->{body}, qr/status=verified/,
               "$name: $m no verified comment");

        if ($c->{mode} eq 'enforce') {
            is($ev[-1]{event} // '', 'error',
               "$name: $m ends in an error event");
            my $e = eval { decode_json($ev[-1]{data} // '') } // {};
            is($e->{error}{code} // '', $reason, "$name: $m error code");
            is($e->{error}{type} // '', 'attestation_error',
               "$name: $m error type");
            ok(exists $e->{error}{param} && !defined $e->{error}{param},
               "$name: $m error param is null");
            like($e->{error}{message} // '', qr/^[A-Z].*\.$/,
                 "$name: $m error message is a sentence");
            ok(!has_done($r), "$name: $m no [DONE] after an enforced failure");
            like($r->{body}, qr/\n\nevent: error\ndata: \{[^\n]*\}\n\n\z/,
                 "$name: $m error event is last and framed");
        } else {
            is($ev[-2]{raw} // '', ": attest status=failed reason=$reason",
               "$name: $m failure comment before [DONE]");
            is($ev[-1]{data} // '', '[DONE]', "$name: $m [DONE] still sent");
            unlike($r->{body}, qr/^event: error/m, "$name: $m no error event");
        }

        my @sig = sig_events($r);
        if ($c->{sig} eq 'strip' || $m eq 'stream_no_signature') {
            is(scalar @sig, 0, "$name: $m client sees no signature event");
            unlike($r->{body}, qr/event: signature/,
                   "$name: $m no signature event in the bytes");
        } else {
            is(scalar @sig, 1, "$name: $m signature event passed");
            # the event as the agent wrote it: its hash matches the data
            # it followed, unless the data was tampered with afterwards
            my ($before) = $r->{body} =~ /\A(.*?)event: signature\n/s;
            my $f = eval { decode_json($sig[0]{data} // '') } // {};
            my ($h) = ($f->{text} // '') =~ /:([0-9a-f]{64})$/;
            if ($m eq 'stream_tamper') {
                isnt($h // '', stream_hash($r->{body}),
                     "$name: $m the tampered data does not hash right");
            } else {
                is($h // '', stream_hash($before // ''),
                   "$name: $m signature event unchanged");
            }
        }
    }
}

# data after [DONE]: dropped; trailers unasked

for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};
    my $r = stream($ngx, 'X-Test-Mode' => 'data_after_done');

    like($r->{log}, qr/^200 verified /, "$name: data_after_done verified");
    unlike($r->{body}, qr/late/, "$name: data after [DONE] not delivered");
    like($r->{body}, qr/\n\ndata: \[DONE\]\n\n\z/,
         "$name: the stream ends with the [DONE] event");
    ok($r->{complete}, "$name: data_after_done response complete");
    is(delivered_text($r), $CONTENT, "$name: data_after_done text intact");
}

# CRLF line ends

for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};
    my $r = stream($ngx, 'X-Test-Mode' => 'crlf');

    like($r->{log}, qr/^200 verified /, "$name: crlf verified");
    is(delivered_text($r), $CONTENT, "$name: crlf text intact");
    is(scalar(() = $r->{body} =~ /^data: \{"id"[^\n]*\}\r\n\r\n/mg), 2,
       "$name: crlf data events delivered with their CRLFs");
    my $verdict = qr/: attest status=verified signer=\Q$signer\E\n\n/;
    like($r->{body}, qr/\r\n\r\n${verdict}data: \[DONE\]\r\n\r\n\z/,
         "$name: crlf verdict comment and [DONE]");
}

# a line over attest_body_max (the first event, 2000 bytes, in one read):
# enforce ends the stream with the error; report says so at once and
# forwards the rest verbatim (the long line too), with the trailer

for my $mode (qw(enforce report)) {
    my $ngx = AttestTest::Nginx->start(
        http => AttestConf::fill($CONF, $agent, mode => $mode,
                                    loc_extra => 'attest_body_max 1k;'));
    my $name = "$mode/attest_body_max 1k";
    my $r = stream($ngx, 'X-Test-Event-Size' => 2000, TE => 'trailers');
    my @ev = @{ $r->{events} };

    ok($r->{complete}, "$name: response ends properly");
    like($r->{log}, qr/^200 failed body_too_large /,
         "$name: access log says body_too_large");
    is($r->{trailers}{'x-attestation-status'} // '',
       'failed; reason=body_too_large', "$name: verdict trailer");

    if ($mode eq 'enforce') {
        is(scalar @ev, 1, "$name: nothing but the error event");
        my $e = eval { decode_json($ev[0]{data} // '') } // {};
        is($ev[0]{event} // '', 'error', "$name: error event");
        is($e->{error}{code} // '', 'body_too_large', "$name: error code");
        ok(!has_done($r), "$name: no [DONE]");
    } else {
        is($ev[0]{raw} // '', ': attest status=failed reason=body_too_large',
           "$name: the failure comment comes first");
        my @data = data_events($r);
        is(scalar @data, 2, "$name: both data events forwarded");
        like($data[0]{data} // '', qr/^\{"id":.*"role":"assistant".*\}$/,
             "$name: the long line forwarded whole");
        cmp_ok(length($data[0]{data} // ''), '>', 1024,
               "$name: and it is over the limit");
        is($ev[-1]{data} // '', '[DONE]', "$name: [DONE] forwarded");

        # the long line split across two reads: its head, held by the
        # accumulator when the limit is crossed, is forwarded too
        $r = stream($ngx, 'X-Test-Event-Size' => 2000,
                    'X-Test-Mode' => 'split_at', 'X-Test-Split-At' => 600);
        @data = data_events($r);
        like($data[0]{data} // '', qr/^\{"id":.*"role":"assistant".*\}$/,
             "$name: a long line split across reads forwarded whole");
        is(scalar @data, 2, "$name: ... and both data events");
    }

    unlike($ngx->error_log, qr/\[(alert|crit|emerg)\]/, "$name: no alerts");
}

# an upstream cut mid-stream cuts the client too

for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};
    my $n = log_size($ngx);
    my $st = sse_read($ngx->port, stream_request('/v1/chat/completions',
                                          'X-Test-Mode' => 'stream_cut'),
                      undef, timeout => 10);

    ok($st->{eof} && !$st->{timed_out}, "$name: stream_cut closes the client");
    ok(!$st->{complete}, "$name: stream_cut no terminating chunk");
    is(scalar(grep { defined $_->{data} && $_->{data} =~ /^\{"id"/ }
              @{ $st->{events} }), 1, "$name: stream_cut first event arrived");
    unlike($st->{body}, qr/\[DONE\]|: attest status=verified/,
           "$name: stream_cut no [DONE] and no verified comment");
    # issue 13 item 4: the client learns why before the close
    my $last = $st->{events}[-1] // {};
    is($last->{event} // '', 'error', "$name: stream_cut ends in an error "
       . 'event');
    like($last->{data} // '', qr/"code":"stream_truncated"/,
         "$name: stream_cut error event names stream_truncated");
    like(log_line($ngx, $n), qr/^200 failed stream_truncated /,
         "$name: stream_cut access log says stream_truncated");
}

# the first event goes out while the upstream holds the rest: the agent
# waits at its gate (30 s) after the first event until released, and the
# client gives up after 10 s of silence, so only an unbuffered first
# event can open the gate

my $gate = 0;
for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};
    my $id = 'g' . ++$gate;
    my $released = 0;
    my @seen;   # released yet, at each event's arrival
    my $n = log_size($ngx);
    my $st = sse_read($ngx->port, stream_request('/v1/chat/completions',
                                          'X-Test-Gate' => $id,
                                          'X-Test-Gate-Timeout' => 30),
                      undef, timeout => 10, on_event => sub {
        push @seen, $released;
        unless ($released) { $agent->release($id); $released = 1 }
    });

    ok(@seen && !$seen[0], "$name: gate: first event arrived before release");
    like($st->{events}[0]{data} // '', qr/^\{"id":"chatcmpl-/,
         "$name: gate: and it is the first data event");
    ok(!$st->{timed_out} && $st->{complete},
       "$name: gate: the rest followed the release");
    is(scalar(grep { $_ } @seen[1 .. $#seen]), $#seen,
       "$name: gate: every later event after the release");
    is($st->{events}[-2]{raw} // '',
       ": attest status=verified signer=$signer",
       "$name: gate: verified");
    like(log_line($ngx, $n), qr/^200 verified /, "$name: gate: access log");
}

# the response head goes out before the first event is complete: the
# upstream sends its head and 10 bytes of the first line, then holds the
# rest at its gate; the partial line itself must wait

# reads from $s until $re matches what has arrived, EOF, or $timeout
sub read_until {
    my ($s, $re, $timeout) = @_;
    my ($got, $sel) = ('', IO::Select->new($s));
    while ($got !~ $re && $sel->can_read($timeout)) {
        sysread($s, my $buf, 65536) or last;
        $got .= $buf;
    }
    return $got;
}

for my $c (@CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};
    my $id = 'h' . ++$gate;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ngx->port, Proto => 'tcp',
                                  Timeout => 5)
        or die "connect: $!";
    syswrite $s, stream_request('/v1/chat/completions', 'X-Test-Split-At' => 10,
                         'X-Test-Gate' => $id, 'X-Test-Gate-Timeout' => 30);

    my $head = read_until($s, qr/\r\n\r\n/, 10);
    like($head, qr{^HTTP/1\.1 200 }, "$name: head sent while the upstream "
         . "holds the first line");
    like($head, qr/\r\n\r\n\z/, "$name: the partial line is held back");

    $agent->release($id);
    my $r = parse_response($head . read_until($s, qr/(?!)/, 10));
    close $s;
    ok($r->{complete}, "$name: the rest follows the release");
    like($r->{body}, qr/: attest status=verified /,
         "$name: and verifies");
}

# events split across TCP writes, one byte per write, in a configuration
# for each attest_sse_signature x proxy_buffering (every byte boundary one
# at a time is t/21-stream-split.t)

for my $c (grep { ($_->{mode} eq 'enforce') == ($_->{sig} eq 'strip') }
           @CONFIGS) {
    my ($name, $ngx) = @$c{qw(name ngx)};
    my $r = stream($ngx, 'X-Test-Split-At' => 'all');

    like($r->{log}, qr/^200 verified /, "$name: one byte per write verified");
    is(delivered_text($r), $CONTENT, "$name: one byte per write text intact");
    is(normalize(strip_comment(strip_sig($r->{body}))), $UPSTREAM,
       "$name: one byte per write byte-exact");
    is(scalar(sig_events($r)), $c->{sig} eq 'pass' ? 1 : 0,
       "$name: one byte per write signature event "
       . ($c->{sig} eq 'pass' ? 'passed' : 'stripped'));
}

{
    my $c = $CONFIGS[0];
    my $r = stream($c->{ngx}, 'X-Test-Mode' => 'crlf',
                   'X-Test-Split-At' => 'all');
    like($r->{log}, qr/^200 verified /,
         "$c->{name}: crlf one byte per write verified");
    is(delivered_text($r), $CONTENT,
       "$c->{name}: crlf one byte per write text intact");
}

# the error logs

for my $c (@CONFIGS) {
    my $log = $c->{ngx}->error_log;
    unlike($log, qr/\[(alert|crit|emerg)\]/, "$c->{name}: no alerts");
    like($log, qr/stream for key "[^"]*" failed: body_mismatch: /,
         "$c->{name}: error log names the failed stream check");
}

# a signed stream that ends cleanly without [DONE], and an unsigned
# "data:x" event (data to an SSE client, outside the agent's hash)

for my $mode (qw(enforce report)) {
    my $ngx = $ngx{"$mode/strip/buffering=off"};

    my $r = stream($ngx, 'X-Test-Mode' => 'stream_no_done', TE => 'trailers');
    like($r->{log}, qr/^200 failed stream_truncated /,
         "$mode: a signed stream without [DONE] is stream_truncated");
    is($r->{trailers}{'x-attestation-status'} // '',
       'failed; reason=stream_truncated', "$mode: ... in the trailer");
    ok(!has_done($r), "$mode: ... and no [DONE] is made up");
    if ($mode eq 'enforce') {
        is($r->{events}[-1]{event} // '', 'error', "$mode: ... error event");
    } else {
        like($r->{body}, qr/^: attest status=failed reason=stream_truncated$/m,
             "$mode: ... failure comment");
    }

    $r = stream($ngx, 'X-Test-Mode' => 'data_no_space', TE => 'trailers');
    like($r->{log}, qr/^200 failed body_mismatch /,
         "$mode: an unsigned data:x event is body_mismatch");
    if ($mode eq 'enforce') {
        unlike($r->{body}, qr/injected/,
               "$mode: ... and never reaches the client");
        is($r->{events}[-1]{event} // '', 'error', "$mode: ... error event");
        ok(!has_done($r), "$mode: ... no [DONE]");
    } else {
        like($r->{body}, qr/injected/, "$mode: ... passed (report)");
        like($r->{body}, qr/^: attest status=failed reason=body_mismatch$/m,
             "$mode: ... failure comment");
        ok(has_done($r), "$mode: ... then [DONE]");
    }
}

# HTTP/2 (h2c, curl): the verdict trailer comes in the trailing HEADERS

SKIP: {
    my $v = `curl --version 2>/dev/null` // '';
    skip 'curl without HTTP/2', 4 unless $v =~ /\bHTTP2\b/;

    my $http = AttestConf::fill($CONF, $agent);
    $http =~ s/listen 127\.0\.0\.1:%%PORT%%;/listen 127.0.0.1:%%PORT%% http2;/;
    my $ngx = AttestTest::Nginx->start(http => $http);
    my $url = $ngx->url('/v1/chat/completions');

    for my $m ('', 'stream_tamper') {
        my $out = `curl -s -i --http2-prior-knowledge -X POST '$url' \\
            -H 'X-Test-Stream-Events: 2' -H 'X-Test-Mode: $m' \\
            -d '$BODY' 2>&1`;
        my $want = $m ? 'failed; reason=body_mismatch' : 'verified';
        like($out, qr{^HTTP/2 200}m, "h2 $m: 200");
        like($out, qr/\n\s*x-attestation-status: \Q$want\E\s*\z/i,
             "h2 $m: verdict trailer after the body");
    }
}
