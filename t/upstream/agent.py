#!/usr/bin/python3
"""Test double of io.net's attestation agent (PROTOCOL.md sections 1-3).

Serves, on 127.0.0.1 only:

    POST /attestation, /v1/private/attestation          attestation report
    POST /completion, /v1/private/completions,
         /v1/chat/completions                           signed completion
    GET  /_stats    POST /_stats/reset                  counters
    POST /_control  {"modes": [...], "params": {...}}   persistent test modes
    GET  /_info                                         keys, digests, roots
    GET  /_release?id=ID                                opens a stream gate

Misbehaviour is chosen per request with "X-Test-Mode: m1,m2" or for every
request with /_control; the two lists are merged.  A mode written
"attest:m" applies to attestation requests only, "completion:m" to
completions (streamed or not) only.  Numeric knobs come from
"X-Test-<Name>" headers or the "params" of /_control (header wins):

attestation: wrong_nonce (echo another nonce, evidence still on ours),
  replay (a whole consistent report for another nonce), other_signer,
  other_image_digest, no_image_digest, attest_slow (3 s or X-Test-Sleep),
  attest_500, attest_garbage, attest_oversize (+3 MB field), gpu_absent,
  gpu_wrong_nonce, gpu_bad_signature, gpu_other_root, gpu_bad_fwid,
  cpu_absent, cpu_wrong_report_data, cpu_bad_signature,
  cpu_bad_qe_signature, cpu_other_root, cpu_debug, cpu_address_nonce,
  cpu_other_mrtd, cpu_v5.
completion, streamed or not (the signature fields then go into the
  signature event): other_signer, sign_other_key_claim_attested,
  tamper_body, other_image_digest, missing_text, missing_signature,
  missing_signing_address, missing_signing_algo, algo_eddsa,
  malformed_signature, sig_no_0x, sig_v01, text_malformed (no colon),
  slow (2 s or X-Test-Sleep), status_500, status_400, garbage_body,
  spoof_status.
non-streamed only: gzip, chunked; knobs X-Test-Body-Size (exact body
  size; below the normal size a JSON number of that many digits),
  X-Test-Writes (body in N socket writes), X-Test-Write-Delay (0.01 s).
stream only: stream_cut, stream_no_signature, sig_before_data,
  stream_tamper, crlf, split_at (X-Test-Split-At: k|all), gate
  (X-Test-Gate: ID, implied by the header), data_after_done,
  stream_other_signer, stream_malformed_signature, stream_no_done (ends
  cleanly without [DONE]), data_no_space (an unsigned "data:x" event);
  knobs
  X-Test-Stream-Events (5), X-Test-Event-Size, X-Test-Chunk-Delay (0.01 s),
  X-Test-Gate-Timeout (10 s).

Fleet mode (--fleet M, off by default): the double plays M machines
behind one router, as io.net serves a model.  Each machine has its own
signing key and answers the attestation for the nonce it is sent with
its own address; the router sends each attestation and each completion
to a machine, round-robin (--route rr, one counter for both kinds) or at
random (--route random); "X-Test-Machine: i" pins a completion to
machine i, "X-Test-Attest-Machine: i" an attestation (nginx copies the
client's headers into its attestation subrequest).  Controls:
    POST /_fleet/restart?machine=i   machine i restarts with a new key
    POST /_fleet/set?machine=i&bad=1&rogue=1&slow=S
        bad: its evidence fails verification (bad GPU and CPU signatures);
        rogue: it signs completions but the router never sends it an
        attestation (a signer that was never attested); slow: its
        attestations answer S seconds late (0: not slow)
    POST /_fleet/add?rogue=1         one more machine
    GET  /_fleet                     machines: address, bad, rogue, slow,
                                     attestations and completions served
--fleet-rogue N adds N rogue machines at start, --fleet-bad i marks
machine i bad.  The slow attestation path of every machine is the
attest_slow mode as before.

GET /_info names the keys and values the modes use (other_signing_address,
attest_other_signing_address, other_image_digest_attestation,
other_image_digest_header) and tdx_quote's defaults (tdx_default_mrtd, ...).

The attestation's other_signer reports a third key, distinct from the key
the completion's other_signer signs with, and the two other_image_digest
values differ too: nginx subrequests inherit the client's X-Test-Mode, and a
mode applied to both sides must still produce a mismatch.
"""

import argparse
import gzip
import hashlib
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ethsign  # noqa: E402
import iohash   # noqa: E402
import reqhash  # noqa: E402


DEFAULT_IMAGE_DIGEST = ("sha256:"
                        + hashlib.sha256(b"ionet-test-image").hexdigest())
OTHER_IMAGE_DIGEST_ATTEST = ("sha256:" + hashlib.sha256(
    b"ionet-other-image-attestation").hexdigest())
OTHER_IMAGE_DIGEST_HEADER = ("sha256:" + hashlib.sha256(
    b"ionet-other-image-header").hexdigest())

ATTEST_PATHS = ("/attestation", "/v1/private/attestation")
COMPLETION_PATHS = ("/completion", "/v1/private/completions",
                    "/v1/chat/completions")

# Non-ASCII (2-, 3- and 4-byte UTF-8, so surrogate pairs in the escaped
# form), quotes, backslashes and ", " / ": " inside a string: everything a
# compactor or an escaper can get wrong.
CONTENT = ('Grüße 👋 — 日本: "quoted", tab\there, back\\slash, '
           'path C:\\temp\\\nnew line, done.')

CPU_ERROR = ("Failed to get TDX quote: /dev/tdx_guest not found; "
             "is this a TDX confidential VM?")
GPU_ERROR = ("Failed to collect GPU evidence: no NVIDIA GPU in confidential "
             "computing mode found")

STATS_KEEP = 20


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def request_model(req):
    """The agent's parsed request (reqhash.py: pydantic v2 lax mode), in
    the order it serializes it; the handler also wants a messages list."""
    try:
        model = reqhash.model(req)
    except reqhash.Refused as e:
        raise BadRequest(422, e.why)
    if not isinstance(model.get("messages"), list):
        raise BadRequest(422, "messages: list required")
    return model


def request_hash(model):
    return hashlib.sha256(reqhash.dumps(model).encode()).hexdigest()


def parse_nonce(body):
    """32 bytes from the request's nonce, PROTOCOL section 1."""
    nonce = body.get("nonce")
    if nonce is None or nonce == "":
        return secrets.token_bytes(32)
    if not isinstance(nonce, str):
        raise BadRequest(400, "nonce must be a hex string")
    if nonce[:2] in ("0x", "0X"):
        nonce = nonce[2:]
    try:
        raw = bytes.fromhex(nonce)
    except ValueError:
        raise BadRequest(400, "nonce is not valid hex")
    if any(c.isspace() for c in nonce):
        raise BadRequest(400, "nonce is not valid hex")
    if len(raw) > 32:
        raise BadRequest(400, "nonce longer than 32 bytes")
    return raw + bytes(32 - len(raw))


def flip(b):
    """Another value of the same length: first byte inverted."""
    return bytes([b[0] ^ 0xFF]) + b[1:]


class Agent:
    """State shared by all connections."""

    def __init__(self, args):
        self.args = args
        self.key = ethsign.new_key()
        self.address = ethsign.address(self.key)
        # signs completions in other_signer modes
        self.other_key = ethsign.new_key()
        self.other_address = ethsign.address(self.other_key)
        # reported by the attestation's other_signer
        self.attest_other_address = ethsign.address(ethsign.new_key())

        if args.no_image_digest:
            self.image_digest = None
        else:
            self.image_digest = args.image_digest or DEFAULT_IMAGE_DIGEST

        self.gpu = None
        self.gpu_root = None
        if args.gpus > 0:
            import gpu_evidence
            self.gpu = gpu_evidence.GpuAuthority()
            self.gpu_root = os.path.abspath(args.gpu_root_out) \
                if args.gpu_root_out else None
            if self.gpu_root:
                self.gpu.write_root(self.gpu_root)

        self.tdx = None
        self.tdx_mod = None
        self.cpu_root = None
        if not args.no_cpu:
            import tdx_quote
            self.tdx_mod = tdx_quote
            self.tdx = tdx_quote.TdxAuthority()
            self.cpu_root = os.path.abspath(args.cpu_root_out) \
                if args.cpu_root_out else None
            if self.cpu_root:
                self.tdx.write_root(self.cpu_root)

        self.lock = threading.Lock()
        self.modes = []
        self.params = {}
        self.gates = {}
        self.machines = []
        self.turn = 0
        for i in range(args.fleet):
            self.machines.append(Machine(i))
        for _ in range(args.fleet_rogue if args.fleet else 0):
            m = Machine(len(self.machines))
            m.rogue = True
            self.machines.append(m)
        for i in args.fleet_bad:
            if 0 <= i < len(self.machines):
                self.machines[i].bad = True
        self.reset_stats()

    # fleet

    def pick(self, kind, headers):
        """The machine a request goes to (fleet mode), or None."""
        if not self.machines:
            return None
        with self.lock:
            pin = headers.get("X-Test-Attest-Machine"
                              if kind == "attestation"
                              else "X-Test-Machine")
            if pin is not None and pin.strip().isdigit() \
                    and int(pin) < len(self.machines):
                m = self.machines[int(pin)]
            else:
                pool = [m for m in self.machines
                        if not (kind == "attestation" and m.rogue)]
                if self.args.route == "random":
                    m = pool[secrets.randbelow(len(pool))]
                else:
                    m = pool[self.turn % len(pool)]
                    self.turn += 1
            m.served[kind] = m.served.get(kind, 0) + 1
            return m

    def fleet(self):
        with self.lock:
            return [m.describe() for m in self.machines]

    def reset_stats(self):
        with self.lock:
            self.stats = {"attestation": 0, "completion": 0, "stream": 0,
                          "control": 0, "other": 0, "last_nonce": None,
                          "requests": [], "log": [],
                          "last_attestation_request": None,
                          "last_completion_request": None}

    def record(self, kind, method, path, headers, modes):
        with self.lock:
            if kind in self.stats:
                self.stats[kind] += 1
            reqs = self.stats["requests"]
            reqs.append(path)
            del reqs[:-STATS_KEEP]
            log = self.stats["log"]
            log.append({"method": method, "path": path, "kind": kind,
                        "modes": modes, "headers": headers,
                        "time": time.time()})
            del log[:-STATS_KEEP]

    def snapshot(self):
        with self.lock:
            out = json.loads(json.dumps(self.stats))
        out["signing_address"] = self.address
        out["modes"] = list(self.modes)
        if self.machines:
            out["fleet"] = self.fleet()
        return out

    def gate(self, gate_id):
        with self.lock:
            ev = self.gates.get(gate_id)
            if ev is None:
                ev = self.gates[gate_id] = threading.Event()
            return ev

    def drop_gate(self, gate_id):
        with self.lock:
            self.gates.pop(gate_id, None)

    def info(self):
        out = {"signing_address": self.address,
               "image_digest": self.image_digest,
               "gpu_root": self.gpu_root, "cpu_root": self.cpu_root,
               "other_signing_address": self.other_address,
               "attest_other_signing_address": self.attest_other_address,
               "other_image_digest_attestation": OTHER_IMAGE_DIGEST_ATTEST,
               "other_image_digest_header": OTHER_IMAGE_DIGEST_HEADER,
               "default_image_digest": DEFAULT_IMAGE_DIGEST,
               "gpus": self.args.gpus, "cpu": self.tdx is not None,
               "report_data": self.args.report_data, "pid": os.getpid()}
        if self.machines:
            out["fleet"] = self.fleet()
        if self.tdx_mod is not None:
            for name in dir(self.tdx_mod):
                value = getattr(self.tdx_mod, name)
                if not name.isupper():
                    continue
                if isinstance(value, bytes):
                    out["tdx_" + name.lower()] = value.hex()
                elif isinstance(value, list) and value \
                        and all(isinstance(v, bytes) for v in value):
                    out["tdx_" + name.lower()] = [v.hex() for v in value]
        return out

    # attestation

    def report_data(self, address, nonce, layout):
        if layout == "address_nonce":
            return self.tdx_mod.report_data_address_nonce(address, nonce)
        return self.tdx_mod.report_data_nonce(nonce)

    def attestation(self, nonce, modes, machine=None):
        if "replay" in modes:
            nonce = secrets.token_bytes(32)
        echo = flip(nonce) if "wrong_nonce" in modes else nonce

        address = self.address if machine is None else machine.address
        if "other_signer" in modes:
            address = self.attest_other_address

        if self.tdx is None or "cpu_absent" in modes:
            cpu = {"quote": CPU_ERROR}
        else:
            layout = self.args.report_data
            if "cpu_address_nonce" in modes:
                layout = "address_nonce"
            rd_nonce = nonce
            if "cpu_wrong_report_data" in modes:
                rd_nonce = flip(nonce)
            kw = {"mode": "ok", "debug": "cpu_debug" in modes}
            for m in ("bad_signature", "bad_qe_signature", "other_root"):
                if "cpu_" + m in modes:
                    kw["mode"] = m
            if "cpu_v5" in modes:
                kw["version"] = 5
            if "cpu_other_mrtd" in modes:
                kw["mrtd"] = bytes([0x5A]) * 48
            quote = self.tdx.quote(self.report_data(address, rd_nonce,
                                                    layout), **kw)
            cpu = {"quote": quote.hex()}

        if self.gpu is None or "gpu_absent" in modes:
            gpu = {"error": GPU_ERROR}
        else:
            mode = "ok"
            for m in ("wrong_nonce", "bad_signature", "other_root",
                      "bad_fwid"):
                if "gpu_" + m in modes:
                    mode = m
            gpu = {"nonce": nonce.hex(), "arch": "HOPPER",
                   "evidence_list": self.gpu.evidence_list(
                       nonce, mode=mode, gpus=self.args.gpus),
                   "claims_version": "3.0"}

        report = {"nonce": echo.hex(), "cpu": cpu, "gpu": gpu,
                  "signing_address": address}
        digest = self.image_digest
        if "other_image_digest" in modes:
            digest = OTHER_IMAGE_DIGEST_ATTEST
        if digest is not None and "no_image_digest" not in modes:
            report["image_digest"] = digest
        if "attest_oversize" in modes:
            report["padding"] = "A" * (3 * 1024 * 1024)
        return report

    # signatures

    def signed_fields(self, text, modes, machine=None):
        """The text/signature/... set, as headers or in the SSE event."""
        key, address = self.key, self.address
        if machine is not None:
            key, address = machine.key, machine.address
        if "other_signer" in modes or "stream_other_signer" in modes:
            key, address = self.other_key, self.other_address
        if "sign_other_key_claim_attested" in modes:
            key = self.other_key
        if "text_malformed" in modes:
            text = text.replace(":", "")
        prefix = "" if "sig_no_0x" in modes else "0x"
        sig = ethsign.sign_personal(key, text,
                                    v_base=0 if "sig_v01" in modes else 27,
                                    prefix=prefix)
        if "malformed_signature" in modes \
                or "stream_malformed_signature" in modes:
            sig = sig[:len(prefix) + 128]
        digest = self.image_digest
        if "other_image_digest" in modes:
            digest = OTHER_IMAGE_DIGEST_HEADER
        fields = {"text": text, "signature": sig, "signing_address": address,
                  "signing_algo": "eddsa" if "algo_eddsa" in modes
                  else "ecdsa",
                  "image_digest": digest}
        for name in ("text", "signature", "signing_address",
                     "signing_algo"):
            if "missing_" + name in modes:
                del fields[name]
        if fields["image_digest"] is None:
            del fields["image_digest"]
        return fields


class Machine:
    """One machine of the fleet: its own signing key."""

    def __init__(self, index):
        self.index = index
        self.key = ethsign.new_key()
        self.address = ethsign.address(self.key)
        self.bad = False
        self.rogue = False
        self.slow = 0.0
        self.restarts = 0
        self.served = {}

    def restart(self):
        self.key = ethsign.new_key()
        self.address = ethsign.address(self.key)
        self.restarts += 1

    def describe(self):
        return {"index": self.index, "address": self.address,
                "bad": self.bad, "rogue": self.rogue, "slow": self.slow,
                "restarts": self.restarts,
                "attestations": self.served.get("attestation", 0),
                "completions": self.served.get("completion", 0)}


def completion_object(model, content):
    return {
        "id": "chatcmpl-" + secrets.token_hex(16),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "reasoning_content": None,
                        "content": content, "tool_calls": []},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }],
        "usage": {"prompt_tokens": 17, "total_tokens": 42,
                  "completion_tokens": 25, "prompt_tokens_details": None},
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }


def chunk_object(cid, created, model, delta, finish):
    return {"id": cid, "object": "chat.completion.chunk", "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}


def split_text(text, n):
    """n non-empty pieces (n <= len(text))."""
    step = len(text) / n
    cuts = [round(i * step) for i in range(n + 1)]
    return [text[cuts[i]:cuts[i + 1]] for i in range(n)]


def alter(text):
    """The same text with its first character changed."""
    return ("Y" if text[:1] == "X" else "X") + text[1:]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ionet-agent-double/1.0"
    sys_version = ""
    timeout = 120

    agent = None  # set in main()
    machine = None  # the fleet machine of a completion

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    # plumbing

    def dispatch(self):
        try:
            self.route()
        except (ConnectionError, socket.timeout, TimeoutError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            sys.stderr.write("agent: error serving %s %s\n%s"
                             % (self.command, self.path,
                                traceback.format_exc()))
            sys.stderr.flush()
            if not getattr(self, "_started", False):
                try:
                    self.send_json(500, {"detail": "internal error"})
                except OSError:
                    pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def modes(self, kind):
        """Persistent and header modes; "attest:m" / "completion:m" limit
        m to one kind of request (nginx copies the client's headers into
        its attestation subrequest)."""
        raw = list(self.agent.modes)
        for value in self.headers.get_all("X-Test-Mode") or []:
            raw += [m.strip() for m in value.split(",") if m.strip()]
        scope = {"attestation": "attest", "completion": "completion"}.get(
            kind)
        modes = []
        for m in raw:
            prefix, sep, name = m.partition(":")
            if not sep:
                modes.append(m)
            elif prefix == scope:
                modes.append(name)
        if self.headers.get("X-Test-Gate"):
            modes.append("gate")
        return modes

    def param(self, name, default=None):
        value = self.headers.get("X-Test-" + name)
        if value is None:
            value = self.agent.params.get(name.lower(), default)
        return value

    def num_param(self, name, default, kind=float):
        value = self.param(name)
        if value is None:
            return default
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    def http10(self):
        return self.request_version == "HTTP/1.0"

    def start(self, status, headers):
        self._started = True
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        # like a real server: say so when this response ends the
        # connection (the client asked for close, or spoke HTTP/1.0),
        # or nginx may keep a dead connection for the next request
        if self.close_connection and not any(
                n.lower() == "connection" for n, _ in headers):
            self.send_header("Connection", "close")
        self.end_headers()

    def write_pieces(self, pieces, delay):
        for i, piece in enumerate(pieces):
            if i and delay:
                time.sleep(delay)
            self.wfile.write(piece)

    def send_body(self, status, ctype, body, headers=(), chunked=False,
                  writes=None):
        """Whole body at once or in X-Test-Writes pieces; chunked on ask."""
        headers = [("Content-Type", ctype)] + list(headers)
        if writes is None:
            writes = self.num_param("Writes", 1, int)
        writes = max(1, min(writes, max(1, len(body))))
        delay = self.num_param("Write-Delay", 0.01)
        if chunked and self.http10():
            chunked = False
            headers.append(("Connection", "close"))
            self.close_connection = True
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
            self.start(status, headers)
            size = 16
            frames = [b"%x\r\n%s\r\n" % (len(body[i:i + size]),
                                         body[i:i + size])
                      for i in range(0, len(body), size)]
            frames.append(b"0\r\n\r\n")
            self.write_pieces(frames, 0.001)
            return
        headers.append(("Content-Length", str(len(body))))
        self.start(status, headers)
        step = -(-len(body) // writes) if body else 1
        self.write_pieces([body[i:i + step]
                           for i in range(0, len(body), step)], delay)

    def send_json(self, status, obj, headers=()):
        self.send_body(status, "application/json", json.dumps(obj).encode(),
                       headers)

    def json_body(self, raw):
        try:
            # bytes, as the agent's framework: UTF-8 (surrogates allowed)
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadRequest(400, "request body is not JSON")

    def sleep_for(self, default):
        time.sleep(self.num_param("Sleep", default))

    # routes

    def route(self):
        url = urlsplit(self.path)
        path = url.path
        body = self.read_body() if self.command in ("POST", "PUT") else b""
        agent = self.agent
        if path in ATTEST_PATHS and self.command == "POST":
            kind = "attestation"
        elif path in COMPLETION_PATHS and self.command == "POST":
            kind = "completion"
        elif path.startswith("/_"):
            kind = "control"
        else:
            kind = "other"
        modes = self.modes(kind)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if kind == "control":
            # /_stats and friends must not disturb what they report
            with agent.lock:
                agent.stats["control"] += 1
        elif kind != "completion":
            agent.record(kind, self.command, path, headers, modes)

        try:
            if kind == "attestation":
                return self.attestation(body, modes)
            if kind == "completion":
                return self.completion(body, modes, path, headers)
            if path == "/_stats" and self.command == "GET":
                return self.send_json(200, agent.snapshot())
            if path == "/_stats/reset" and self.command == "POST":
                agent.reset_stats()
                return self.send_json(200, {"ok": True})
            if path == "/_info" and self.command == "GET":
                return self.send_json(200, agent.info())
            if path == "/_control" and self.command in ("POST", "PUT"):
                return self.control(body)
            if path == "/_control" and self.command == "GET":
                return self.send_json(200, {"modes": agent.modes,
                                            "params": agent.params})
            if path.startswith("/_fleet"):
                return self.fleet_control(path, parse_qs(url.query))
            if path == "/_release":
                ids = parse_qs(url.query).get("id") or []
                for gate_id in ids:
                    agent.gate(gate_id).set()
                return self.send_json(200, {"released": ids})
            return self.send_json(404, {"detail": "Not Found"})
        except BadRequest as e:
            return self.send_json(e.status, {"detail": str(e)})

    def fleet_control(self, path, query):
        agent = self.agent
        if not agent.machines and path != "/_fleet":
            raise BadRequest(400, "not in fleet mode (--fleet M)")

        def arg(name, default=None):
            v = query.get(name)
            return v[0] if v else default

        if path == "/_fleet/add" and self.command == "POST":
            with agent.lock:
                m = Machine(len(agent.machines))
                m.rogue = arg("rogue") == "1"
                agent.machines.append(m)
        elif path in ("/_fleet/restart", "/_fleet/set") \
                and self.command == "POST":
            try:
                i = int(arg("machine", ""))
                m = agent.machines[i]
            except (ValueError, IndexError):
                raise BadRequest(400, "machine: an index expected")
            with agent.lock:
                if path == "/_fleet/restart":
                    m.restart()
                else:
                    if arg("bad") is not None:
                        m.bad = arg("bad") == "1"
                    if arg("rogue") is not None:
                        m.rogue = arg("rogue") == "1"
                    if arg("slow") is not None:
                        m.slow = float(arg("slow"))
        elif path != "/_fleet":
            raise BadRequest(404, "unknown fleet control")
        return self.send_json(200, {"fleet": agent.fleet()})

    def control(self, body):
        req = self.json_body(body)
        if not isinstance(req, dict):
            raise BadRequest(400, "JSON object expected")
        modes = req.get("modes", [])
        if not isinstance(modes, list) \
                or not all(isinstance(m, str) for m in modes):
            raise BadRequest(400, "modes: list of strings expected")
        params = req.get("params", {})
        if not isinstance(params, dict):
            raise BadRequest(400, "params: object expected")
        with self.agent.lock:
            self.agent.modes = list(modes)
            self.agent.params = {
                k.lower().replace("x-test-", "", 1): str(v)
                for k, v in params.items()}
        self.send_json(200, {"modes": self.agent.modes,
                             "params": self.agent.params})

    def attestation(self, raw, modes):
        machine = self.agent.pick("attestation", self.headers)
        if machine is not None:
            if machine.slow > 0:
                time.sleep(machine.slow)
            if machine.bad:
                modes = modes + ["gpu_bad_signature", "cpu_bad_signature"]
        if "attest_slow" in modes:
            self.sleep_for(3.0)
        if "attest_500" in modes:
            return self.send_json(500, {"detail": "Internal Server Error"})
        if "attest_garbage" in modes:
            return self.send_body(200, "application/json",
                                  b"<html><body>502 Bad Gateway, or so"
                                  b"</body></html>\n")
        req = self.json_body(raw) if raw.strip() else {}
        if not isinstance(req, dict):
            raise BadRequest(400, "JSON object expected")
        nonce = parse_nonce(req)
        with self.agent.lock:
            self.agent.stats["last_nonce"] = nonce.hex()
            self.agent.stats["last_attestation_request"] = req
        self.send_json(200, self.agent.attestation(nonce, modes, machine))

    def completion(self, raw, modes, path, headers):
        agent = self.agent
        try:
            req = self.json_body(raw)
            model = request_model(req)
        except BadRequest:
            agent.record("completion", self.command, path, headers, modes)
            raise
        stream = model.get("stream") is True
        agent.record("stream" if stream else "completion", self.command,
                     path, headers, modes)
        self.machine = agent.pick("completion", self.headers)
        with agent.lock:
            agent.stats["last_completion_request"] = req

        if "slow" in modes:
            self.sleep_for(2.0)
        if "status_500" in modes:
            return self.send_json(500, {"error": {
                "message": "upstream inference failed", "type":
                "InternalServerError", "code": 500}})
        if "status_400" in modes:
            return self.send_json(400, {"error": {
                "message": "invalid request", "type": "BadRequestError",
                "code": 400}})
        if "garbage_body" in modes:
            return self.send_body(200, "application/json",
                                  b"this is not json {\"at\": all\n")

        extra = []
        if "spoof_status" in modes:
            extra.append(("X-Attestation-Status", "verified"))
        req_hash = request_hash(model)
        name = model.get("model", "test-model")
        if stream:
            return self.stream(req_hash, name, modes, extra)

        obj = completion_object(name, CONTENT)
        size = self.num_param("Body-Size", None, int)
        if size is not None:
            base = len(json.dumps(obj))
            if size >= base:
                obj["choices"][0]["message"]["content"] += "x" * (size
                                                                  - base)
            elif size > 0:
                # too small for an object: a JSON number of that many digits
                obj = int("1" * size)
        fields = agent.signed_fields(
            "%s:%s" % (req_hash, iohash.response_hash(obj)), modes,
            self.machine)
        if "tamper_body" in modes:
            if isinstance(obj, dict):
                msg = obj["choices"][0]["message"]
                msg["content"] = alter(msg["content"])
            else:
                obj += 1
        body = json.dumps(obj).encode()
        hdrs = [(k, v) for k, v in fields.items()] + extra
        if "gzip" in modes:
            body = gzip.compress(body, mtime=0)
            hdrs.append(("Content-Encoding", "gzip"))
        self.send_body(200, "application/json", body, hdrs,
                       chunked="chunked" in modes)

    def stream(self, req_hash, name, modes, extra):
        agent = self.agent
        n = max(1, self.num_param("Stream-Events", 5, int))
        pad = self.num_param("Event-Size", 0, int)
        eol = b"\r\n" if "crlf" in modes else b"\n"
        cid = "chatcmpl-" + secrets.token_hex(16)
        created = int(time.time())

        text = CONTENT * (1 + n // len(CONTENT))
        objs = []
        for i, piece in enumerate(split_text(text[:max(n, len(CONTENT))],
                                             n)):
            delta = {"role": "assistant", "content": piece} if i == 0 \
                else {"content": piece}
            objs.append(chunk_object(cid, created, name, delta,
                                     "stop" if i == n - 1 else None))
        if pad > 0:
            for obj in objs:
                size = len(json.dumps(obj, separators=(",", ":"),
                                      ensure_ascii=False).encode()) + 8
                if pad > size:
                    obj["choices"][0]["delta"]["content"] += "x" * (pad
                                                                    - size)

        def event(obj, kind=None):
            if isinstance(obj, bytes):
                data = obj
            else:
                data = json.dumps(obj, separators=(",", ":"),
                                  ensure_ascii=False).encode()
            head = b"event: " + kind.encode() + eol if kind else b""
            return head + b"data: " + data + eol + eol

        events = [event(o) for o in objs]
        signed = len(events)
        if "sig_before_data" in modes:
            signed = max(1, n - 2) if n > 1 else 0
        digest = iohash.stream_hash(b"".join(events[:signed]))
        fields = agent.signed_fields("%s:%s" % (req_hash, digest), modes,
                                     self.machine)
        fields["vllm"] = {}
        sig_event = event(json.dumps(fields).encode(), "signature")

        if "stream_tamper" in modes or "tamper_body" in modes:
            victim = objs[n // 2]
            delta = victim["choices"][0]["delta"]
            delta["content"] = alter(delta["content"])
            events[n // 2] = event(victim)

        plan = events[:signed]
        if "stream_no_signature" not in modes:
            plan.append(sig_event)
        plan += events[signed:]
        if "data_no_space" in modes:
            # "data:" without its space: data to an SSE client, but
            # outside the agent's hash
            plan.insert(1, b'data:{"injected":true}' + eol + eol)
        if "stream_no_done" not in modes:
            plan.append(event(b"[DONE]"))
        if "data_after_done" in modes:
            plan.append(event(chunk_object(cid, created, name,
                                           {"content": "late"}, None)))

        cut = None
        if "stream_cut" in modes:
            cut = max(1, n // 2)
            plan = events[:cut]

        gate_id = self.param("Gate") if "gate" in modes else None
        split = self.param("Split-At") if "split_at" in modes else None
        if split is None and self.headers.get("X-Test-Split-At"):
            split = self.headers.get("X-Test-Split-At")
        delay = self.num_param("Chunk-Delay", 0.01)
        if split is not None:
            whole = b"".join(plan)
            if split == "all":
                plan = [whole[i:i + 1] for i in range(len(whole))]
                delay = self.num_param("Write-Delay", 0.001)
            else:
                k = min(max(0, int(split)), len(whole))
                plan = [p for p in (whole[:k], whole[k:]) if p]
                delay = self.num_param("Write-Delay", 0.01)

        chunked = not self.http10()
        headers = [("Content-Type", "text/event-stream"),
                   ("Cache-Control", "no-cache")] + extra
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Connection", "close"))
            self.close_connection = True
        self.start(200, headers)

        def frame(piece):
            return b"%x\r\n%s\r\n" % (len(piece), piece) if chunked \
                else piece

        try:
            for i, piece in enumerate(plan):
                if i and delay:
                    time.sleep(delay)
                self.wfile.write(frame(piece))
                if i == 0 and gate_id:
                    timeout = self.num_param("Gate-Timeout", 10.0)
                    agent.gate(gate_id).wait(timeout)
        finally:
            if gate_id:
                agent.drop_gate(gate_id)

        if cut is not None:
            # no terminating chunk: the upstream died mid-stream
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


def parse_args(argv):
    p = argparse.ArgumentParser(description="io.net attestation agent "
                                "test double")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--image-digest", default=None)
    p.add_argument("--no-image-digest", action="store_true")
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--no-cpu", action="store_true")
    p.add_argument("--report-data", choices=("nonce", "address_nonce"),
                   default="nonce")
    p.add_argument("--gpu-root-out")
    p.add_argument("--cpu-root-out")
    p.add_argument("--pid-file")
    p.add_argument("--modes", default="",
                   help="comma list of persistent modes at start")
    p.add_argument("--fleet", type=int, default=0,
                   help="play M machines behind a router (0: one agent)")
    p.add_argument("--route", choices=("rr", "random"), default="rr")
    p.add_argument("--fleet-rogue", type=int, default=0,
                   help="machines that sign but are never attested")
    p.add_argument("--fleet-bad", type=int, action="append", default=[],
                   help="index of a machine whose evidence fails")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin closes (the parent died)")
    args = p.parse_args(argv)
    if args.image_digest is not None and not args.image_digest.startswith(
            "sha256:"):
        p.error("--image-digest must be sha256:<hex>")
    return args


def main(argv):
    args = parse_args(argv)
    agent = Agent(args)
    agent.modes = [m for m in args.modes.split(",") if m]
    Handler.agent = agent
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
