#!/usr/bin/python3
"""A man in the middle between nginx and the agent double (t/upstream/agent.py).

It forwards each request to the agent, reads the agent's real, honestly
signed answer, and sends nginx a bent copy of it: the attacker of
t/60-adversary.t and t/61-adversary-sse.t, who sits between the gateway
and the machine and has no signing key.

    mitm.py --upstream PORT [--port 0] [--pid-file F] [--exit-on-stdin-eof]
            [--max-headers N]

The bends are chosen per request by the header "X-Mitm: b1,b2,..." (nginx
forwards the client's headers; the header itself is not passed on to the
agent).  A bend applies to completions only; written "attest:b" it applies
to attestation requests only.  A bend with an argument is written
"name=value"; values cannot hold commas.  No X-Mitm: the answer passes
untouched (byte for byte, but always re-framed by us).

status line and framing:
  status=N          another status (201, 203, 206, 299, 307, 100, 103...);
                    1xx answers are framed with Content-Length
  location=URL      add a Location header
  smuggle           the body becomes a whole "HTTP/1.1 200 OK" response
                    with "X-Attestation-Status: verified" and forged
                    content, framed by Content-Length (use with status=1xx)
  http09=crlf       "\\r\\n" before the status line (nginx: no valid header)
  http09=tab        "HTTP/1.1 200\\tOK"
  http09=nostatus   the body alone, no status line or headers
  chunked           re-frame a JSON answer as chunked; trailers adds a
                    trailer part
  cl_long / cl_short  Content-Length 10 bytes too big (then close) / small
  empty             an empty body (Content-Length: 0)
  bytewise          one byte per write
  cut=N             a stream: the first N events, then the connection is
                    closed without the last chunk
  delay=S           a stream: S seconds between events (default 0.005)

headers:
  accel=PATH        X-Accel-Redirect: PATH
  hdr=Name:Value    one more header (repeatable)
  dup_ce            gzip body; "Content-Encoding: gzip" then
                    "Content-Encoding: identity"
  dup_sig           the signature header twice: the real one first, then a
                    bogus one; dup_sig_rev: bogus first
  mixed_case        header names in mixed case

body:
  alter             the content's first character becomes "ALTERED"
                    (JSON: the message; stream: the first data line's)
  replay            send the last answer of the same kind (stream or not)
                    this proxy passed, instead of the agent's new one
  rewrite_prompt    change the prompt on the way up (the agent signs the
                    rewritten request)

stream (SSE) only:
  bare_cr           insert ": x\\rdata: {INJECTED}\\n\\n" after the first event
  bom               a UTF-8 BOM and "data: {INJECTED}\\n\\n" before the
                    first line
  spoof_verdict     insert ": attest status=verified signer=0x..." comments
  event_type        "event: thread.message.delta" before the first data line
  event_sig         "event: signature" after the first data line (before
                    its blank line)
  field=TEXT        insert the line TEXT into the first data event
                    (e.g. field=id: 7, field=retry: 1000, field=foo: bar)
  sig_early         the signature event moves before the last data event
                    (the honest case: vLLM's last chunk and [DONE] together)
  two_sig           the signature event twice
  long_comment=N    a comment line of N bytes after the first event

GET /_mitm/log returns the recent requests ({path, kind, bends, headers});
POST /_mitm/reset clears it.  These two paths are answered here.
With --max-headers N, a request with more than N header lines gets 431, as
a real server with a header limit would answer.
"""

import argparse
import gzip
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

ATTEST_PATHS = ("/attestation", "/v1/private/attestation")

REASONS = {100: "Continue", 101: "Switching Protocols", 102: "Processing",
           103: "Early Hints", 200: "OK", 201: "Created", 202: "Accepted",
           203: "Non-Authoritative Information", 204: "No Content",
           206: "Partial Content", 299: "Whatever", 301: "Moved",
           302: "Found", 304: "Not Modified", 307: "Temporary Redirect",
           400: "Bad Request", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 502: "Bad Gateway"}

INJECTED = json.dumps({
    "id": "chatcmpl-injected", "object": "chat.completion.chunk",
    "created": 0, "model": "m",
    "choices": [{"index": 0, "delta": {"content": "INJECTED"},
                 "logprobs": None, "finish_reason": None}]},
    separators=(",", ":")).encode()

FORGED = json.dumps({
    "id": "chatcmpl-forged", "object": "chat.completion", "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant",
                                         "content": "FORGED"},
                 "finish_reason": "stop"}]}).encode()

KEEP = 50


class Bends:
    def __init__(self, raw):
        self.names = set()
        self.args = {}
        self.multi = {}
        for item in raw:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not name:
                continue
            self.names.add(name)
            if sep:
                self.args[name] = value
                self.multi.setdefault(name, []).append(value)

    def __contains__(self, name):
        return name in self.names

    def get(self, name, default=None):
        return self.args.get(name, default)

    def all(self, name):
        return self.multi.get(name, [])

    def __bool__(self):
        return bool(self.names)


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log = []
        self.last = {}      # "stream" / "json" -> (status, headers, body)

    def record(self, entry):
        with self.lock:
            self.log.append(entry)
            del self.log[:-KEEP]


def read_head(rfile):
    """Request or response head: (first line, [(name, value)]) or None."""
    line = rfile.readline(65537)
    if not line:
        return None
    first = line.rstrip(b"\r\n").decode("latin-1")
    headers = []
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("eof in head")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return first, headers


def header(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def read_body(rfile, headers, until_close=False):
    te = (header(headers, "transfer-encoding") or "").lower()
    if "chunked" in te:
        parts = []
        while True:
            line = rfile.readline(65537)
            if not line:
                raise ConnectionError("eof in chunked body")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(rfile.read(size))
            rfile.readline(65537)
    length = header(headers, "content-length")
    if length is not None:
        n = int(length)
        return rfile.read(n) if n > 0 else b""
    if until_close:
        return rfile.read()
    return b""


def events_of(body):
    """SSE events with their own blank line, exact bytes; a rest last."""
    out = []
    pos = 0
    for m in re.finditer(rb"(?:\r\n|\n)(?:\r\n|\n)", body):
        out.append(body[pos:m.end()])
        pos = m.end()
    if pos < len(body):
        out.append(body[pos:])
    return out


def is_sig_event(ev):
    return ev.startswith(b"event: signature")


def is_done(ev):
    return ev.startswith(b"data: [DONE]")


def alter_bytes(body, marker):
    """The first character after marker replaced by "ALTERED"."""
    i = body.find(marker)
    if i < 0:
        return body[:-2] + bytes([body[-2] ^ 1]) + body[-1:] \
            if len(body) > 2 else body
    i += len(marker)
    return body[:i] + b"ALTERED" + body[i + 1:]


class Handler(socketserver.StreamRequestHandler):
    state = None

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle(self):
        try:
            while self.one():
                pass
        except (ConnectionError, socket.timeout, TimeoutError, OSError):
            pass

    # one request from nginx; False ends the connection
    def one(self):
        head = read_head(self.rfile)
        if head is None:
            return False
        first, headers = head
        method, path, _version = (first.split(" ") + ["", ""])[:3]
        body = read_body(self.rfile, headers)
        st = self.state
        kind = "attestation" if path.split("?")[0] in ATTEST_PATHS \
            else "completion"
        raw = []
        for k, v in headers:
            if k.lower() == "x-mitm":
                raw += [m.strip() for m in v.split(",")]
        scope = "attest" if kind == "attestation" else "completion"
        mine = []
        for m in raw:
            prefix, sep, rest = m.partition(":")
            if sep and prefix in ("attest", "completion") \
                    and "=" not in prefix:
                if prefix == scope:
                    mine.append(rest)
            elif kind == "completion":
                mine.append(m)
        bends = Bends(mine)

        if path.startswith("/_mitm/"):
            return self.control(method, path)

        st.record({"path": path, "method": method, "kind": kind,
                   "bends": sorted(bends.names),
                   "headers": [[k, v] for k, v in headers],
                   "time": time.time()})

        limit = st.args.max_headers
        if limit and len(headers) > limit:
            self.send_raw(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: 31\r\nConnection: close\r\n\r\n"
                          b'{"detail":"too many headers!!"}')
            return False

        up_headers = [(k, v) for k, v in headers
                      if k.lower() not in ("x-mitm", "connection",
                                           "keep-alive", "content-length",
                                           "transfer-encoding")]
        if "rewrite_prompt" in bends:
            body = self.rewrite(body)
        status, rheaders, rbody = self.forward(method, path, up_headers,
                                               body)
        ctype = header(rheaders, "content-type") or ""
        stream = "event-stream" in ctype
        slot = "stream" if stream else "json"
        if "replay" in bends and slot in st.last:
            status, rheaders, rbody = st.last[slot]
        elif kind == "completion" and status == 200:
            with st.lock:
                st.last[slot] = (status, rheaders, rbody)
        self.bend_and_send(bends, status, rheaders, rbody, stream)
        return False

    def control(self, method, path):
        st = self.state
        if path == "/_mitm/log":
            with st.lock:
                out = json.dumps(st.log).encode()
        elif path == "/_mitm/reset":
            with st.lock:
                st.log = []
                st.last = {}
            out = b'{"ok":true}'
        else:
            out = b'{"detail":"Not Found"}'
        self.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
                      b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(out) + out)
        return False

    def rewrite(self, body):
        try:
            req = json.loads(body)
            req["messages"][-1]["content"] = "REWRITTEN " + str(
                req["messages"][-1].get("content"))
            return json.dumps(req).encode()
        except (ValueError, KeyError, IndexError, TypeError):
            return body

    def forward(self, method, path, headers, body):
        s = socket.create_connection(("127.0.0.1", self.state.args.upstream),
                                     timeout=120)
        try:
            req = ["%s %s HTTP/1.1" % (method, path)]
            req += ["%s: %s" % (k, v) for k, v in headers]
            req.append("Content-Length: %d" % len(body))
            req.append("Connection: close")
            s.sendall(("\r\n".join(req) + "\r\n\r\n").encode("latin-1")
                      + body)
            f = s.makefile("rb")
            first, rheaders = read_head(f)
            status = int(first.split(" ")[1])
            rbody = read_body(f, rheaders, until_close=True)
            return status, rheaders, rbody
        finally:
            s.close()

    def send_raw(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def bend_and_send(self, b, status, headers, body, stream):
        headers = [(k, v) for k, v in headers
                   if k.lower() not in ("content-length", "transfer-encoding",
                                        "connection", "date", "server")]
        if "status" in b:
            status = int(b.get("status"))
        if "location" in b:
            headers.append(("Location", b.get("location")))
        if "accel" in b:
            headers.append(("X-Accel-Redirect", b.get("accel")))
        for h in b.all("hdr"):
            name, _, value = h.partition(":")
            headers.append((name.strip(), value.strip()))
        if "dup_sig" in b or "dup_sig_rev" in b:
            real = header(headers, "signature")
            bogus = "0x" + "11" * 65
            headers = [(k, v) for k, v in headers
                       if k.lower() != "signature"]
            pair = [("Signature", real), ("Signature", bogus)]
            if "dup_sig_rev" in b:
                pair.reverse()
            headers += pair
        if "mixed_case" in b:
            headers = [("".join(c.upper() if i % 2 else c.lower()
                                for i, c in enumerate(k)), v)
                       for k, v in headers]

        if "alter" in b:
            body = alter_bytes(body, b'"content": "' if not stream
                               else b'"content":"')

        pieces = None
        if stream:
            pieces = self.bend_stream(b, events_of(body))
            body = b"".join(pieces)

        if "smuggle" in b:
            inner = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"X-Attestation-Status: verified\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(FORGED)) + FORGED
            body = inner
            pieces = None
        if "empty" in b:
            body = b""
            pieces = None
        if "dup_ce" in b:
            body = gzip.compress(body, mtime=0)
            pieces = None
            headers += [("Content-Encoding", "gzip"),
                        ("Content-Encoding", "identity")]

        line = b"HTTP/1.1 %d %s" % (status,
                                   REASONS.get(status, "Status").encode())
        mode09 = b.get("http09")
        if mode09 == "crlf":
            line = b"\r\n" + line
        elif mode09 == "tab":
            line = b"HTTP/1.1 %d\t%s" % (status,
                                         REASONS.get(status, "OK").encode())
        head = line + b"\r\n" + b"".join(
            b"%s: %s\r\n" % (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in headers)

        chunked = (stream or "chunked" in b) and status >= 200 \
            and "smuggle" not in b and "cl_long" not in b \
            and "cl_short" not in b and "empty" not in b
        if mode09 == "nostatus":
            out = [body]
        elif chunked:
            head += b"Transfer-Encoding: chunked\r\nConnection: close\r\n"
            if "trailers" in b:
                head += b"Trailer: X-Mitm-Trailer\r\n"
            frames = []
            for p in (pieces if pieces is not None else [body]):
                if p:
                    frames.append(b"%x\r\n%s\r\n" % (len(p), p))
            cut = b.get("cut")
            if cut is not None:
                frames = frames[:int(cut)]
            elif "trailers" in b:
                frames.append(b"0\r\nX-Mitm-Trailer: 1\r\n\r\n")
            else:
                frames.append(b"0\r\n\r\n")
            out = [head + b"\r\n"] + frames
        else:
            n = len(body)
            if "cl_long" in b:
                n += 10
            elif "cl_short" in b:
                n = max(0, n - 10)
            head += b"Content-Length: %d\r\nConnection: close\r\n" % n
            out = [head + b"\r\n", body]

        if "bytewise" in b:
            whole = b"".join(out)
            out = [whole[i:i + 1] for i in range(len(whole))]
            delay = 0.0005
        else:
            delay = float(b.get("delay", 0.005)) if stream else 0
        for i, piece in enumerate(out):
            if i and delay:
                time.sleep(delay)
            self.wfile.write(piece)
            self.wfile.flush()
        if "cut" in b or "cl_long" in b:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def bend_stream(self, b, evs):
        data = [i for i, e in enumerate(evs)
                if e.startswith(b"data: {")]
        first = data[0] if data else 0
        eol = b"\r\n" if evs and evs[0].endswith(b"\r\n\r\n") else b"\n"

        if "sig_early" in b:
            sig = [i for i, e in enumerate(evs) if is_sig_event(e)]
            if sig and data:
                ev = evs.pop(sig[0])
                last = [i for i, e in enumerate(evs)
                        if e.startswith(b"data: {")][-1]
                evs.insert(last, ev)
        if "two_sig" in b:
            sig = [i for i, e in enumerate(evs) if is_sig_event(e)]
            if sig:
                evs.insert(sig[0] + 1, evs[sig[0]])
        if "field" in b and data:
            ev = evs[first]
            for f in b.all("field"):
                ev = f.encode() + eol + ev
            evs[first] = ev
        if "event_type" in b and data:
            evs[first] = b"event: thread.message.delta" + eol + evs[first]
        if "event_sig" in b and data:
            ev = evs[first]
            cut = len(ev) - 2 * len(eol)
            evs[first] = ev[:cut] + eol + b"event: signature" + eol \
                + ev[cut + len(eol):]
        if "bare_cr" in b:
            evs.insert(first + 1, b": x\rdata: " + INJECTED + b"\n\n")
        if "spoof_verdict" in b:
            spoof = (b": attest status=verified signer=0x"
                     + b"ab" * 20 + eol + eol)
            done = [i for i, e in enumerate(evs) if is_done(e)]
            evs.insert(done[0] if done else len(evs), spoof)
            evs.insert(first + 1, spoof)
        if "long_comment" in b:
            n = int(b.get("long_comment"))
            evs.insert(first + 1, b": " + b"c" * max(0, n - 2) + eol + eol)
        if "bom" in b:
            evs.insert(0, b"\xef\xbb\xbfdata: " + INJECTED + b"\n\n")
        return evs


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main(argv):
    p = argparse.ArgumentParser(description="man in the middle in front of "
                                "the agent double")
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--pid-file")
    p.add_argument("--max-headers", type=int, default=0)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args(argv)

    Handler.state = State(args)
    server = Server(("127.0.0.1", args.port), Handler)

    def bye(*_):
        if args.pid_file:
            try:
                os.unlink(args.pid_file)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    if args.exit_on_stdin_eof:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            bye()
        threading.Thread(target=watch, daemon=True).start()
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
