#!/usr/bin/python3
"""Vectors for attest_sse: signed event streams as the agent emits them.

Writes OUT/sse.txt, one stream a line, tab-separated:

    name  hex(wire bytes)  stream hash  hex(signature JSON) or "-"
    data lines  DONE lines  signature events

Each stream starts as vLLM's upstream, a list of read chunks.  The agent's
behaviour is replayed: chunks go out as they come, except the one holding
"data: [DONE]", which is held back until the signature event has been
sent.  The expected hash is iohash.stream_hash() of the UPSTREAM chunks
(the agent never hashes its own signature event), so the C accumulator,
fed the wire bytes, must skip the signature event and keep hashing data
lines that arrive after it.  The signature inside the event is random
bytes: these vectors test hashing and framing, not ECDSA.
"""

import hashlib
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "t", "upstream"))
import iohash  # noqa: E402

MODEL = "meta-llama/Llama-3.3-70B-Instruct"


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.id = "chatcmpl-%032x" % self.rng.getrandbits(128)
        self.created = self.rng.randrange(1700000000, 1800000000)

    def chunk(self, delta, finish=None, usage=None, choices=True):
        """One chat.completion.chunk as vLLM writes it (pydantic: compact,
        raw UTF-8)."""
        obj = {"id": self.id, "object": "chat.completion.chunk",
               "created": self.created, "model": MODEL}
        if choices:
            obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None,
                               "finish_reason": finish}]
        else:
            obj["choices"] = []
        if usage is not None:
            obj["usage"] = usage
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    def content_events(self, texts, eol="\n"):
        ev = [self.chunk({"role": "assistant", "content": ""})]
        ev += [self.chunk({"content": t}) for t in texts]
        ev.append(self.chunk({"content": ""}, finish="stop"))
        return ["data: " + e + eol + eol for e in ev]


def agent_wire(upstream, sig_eol="\n", sig_field="event: signature",
               data_field="data: ", signed=True):
    """What the agent sends for upstream; returns (wire, hash, sig json)."""
    h = iohash.stream_hash(upstream)
    rng = random.Random(h)
    wire = []
    held = None
    for c in upstream:
        # the agent decodes each read on its own, which would fail on a
        # read that splits a code point; bytes give its answer otherwise
        if b"data: [DONE]" in c:
            held = c
        else:
            wire.append(c)
    sig = None
    if signed:
        req = hashlib.sha256(b"request").hexdigest()
        ev = {"text": "%s:%s" % (req, h),
              "signature": bytes(rng.getrandbits(8) for _ in range(64)).hex()
              + "1b",
              "signing_address": "0x" + "%040x" % rng.getrandbits(160),
              "signing_algo": "ecdsa",
              "image_digest": "sha256:" + "%064x" % rng.getrandbits(256),
              "vllm": {"image_digest": "sha256:" + "ab" * 32,
                       "model_id": MODEL, "model_owned_by": "vllm"}}
        sig = json.dumps(ev)
        wire.append((sig_field + sig_eol + data_field + sig + sig_eol
                     + sig_eol).encode())
    if held is not None:
        wire.append(held)
    return upstream, b"".join(wire), h, sig


def b(*parts):
    return [p.encode("utf-8") for p in parts]


def streams():
    out = []

    g = Gen(1)
    up = b(*g.content_events(["Hello", ",", " world", "!"]))
    up += b("data: [DONE]\n\n")
    out.append(("basic", agent_wire(up)))

    g = Gen(2)
    texts = ["caf\u00e9 ", "\u4e2d\u6587 ", "\u0420\u0443\u0441 ",
             "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f1e9\U0001f1ea",
             " \u2028\u2029\ufeff\uffff\U0010ffff",
             'quote " back \\ slash', "new\nline\ttab", "\x7f\x1f\x00",
             "", "  spaced, out: ok  "]
    up = b(*g.content_events(texts)) + b("data: [DONE]\n\n")
    out.append(("unicode", agent_wire(up)))

    g = Gen(3)
    up = b(*g.content_events(["crlf", " lines", " \u00e9\U0001f600"],
                             eol="\r\n"))
    up += b("data: [DONE]\r\n\r\n")
    out.append(("crlf", agent_wire(up)))

    g = Gen(4)
    up = b(*g.content_events(["crlf", " everywhere"], eol="\r\n"))
    up += b("data: [DONE]\r\n\r\n")
    out.append(("crlf_sig", agent_wire(up, sig_eol="\r\n")))

    g = Gen(5)
    up = b(*g.content_events(["a"]))
    up += b("data: {\"x\":\"raw\rcarriage\"}\rdata: not a line\n\n",
            "data: raw\tcontrols\x01\x1f\x7f\x08\x0c and \"q\" \\ \n\n",
            "data: [DONE]\n\n")
    out.append(("cr_inside", agent_wire(up)))

    g = Gen(6)
    up = b(": keepalive comment\n\n",
           "id: 7\nretry: 3000\nevent: message\n",
           *g.content_events(["x"]))
    up += b(":\n", "data:nospace is not hashed\n\n", "data\n\n",
            "data: \n\n", "event: ping\ndata: {\"ping\": 1}\n\n",
            "id\n", "data: [DONE]\n\n")
    out.append(("fields", agent_wire(up)))

    # the last read holds more data lines than [DONE]: they reach the
    # client after the signature event and are part of the signed hash
    g = Gen(7)
    ev = g.content_events(["held", " back"])
    usage = {"prompt_tokens": 12, "total_tokens": 15, "completion_tokens": 3}
    up = b(*ev[:-2])
    up += b(ev[-2] + ev[-1]
            + "data: " + g.chunk(None, usage=usage, choices=False) + "\n\n"
            + "data: [DONE]\n\n")
    out.append(("held", agent_wire(up)))

    up = b("data: [DONE]\n\n")
    out.append(("empty", agent_wire(up)))

    g = Gen(9)
    up = b(*g.content_events(["no", " signature"])) + b("data: [DONE]\n\n")
    out.append(("unsigned", agent_wire(up, signed=False)))

    g = Gen(10)
    up = b(*g.content_events(["field", " without", " space"]))
    up += b("data: [DONE]\n\n")
    out.append(("nospace_sig", agent_wire(up, sig_field="event:signature",
                                          data_field="data:")))

    g = Gen(11)
    rng = random.Random(11)
    alphabet = "ab \u00e9\u4e2d\U0001f600\"\\\n,:"
    long_text = "".join(rng.choice(alphabet) for _ in range(700))
    up = b(*g.content_events([long_text, "tail"])) + b("data: [DONE]\n\n")
    out.append(("long", agent_wire(up)))

    # one read split in the middle of a code point: the agent joins reads
    # before decoding, so the split must not matter
    g = Gen(12)
    whole = "".join(g.content_events(["\U0001f600\u00e9\u4e2d"])).encode()
    cut = whole.index("\U0001f600".encode()) + 2
    up = [whole[:cut], whole[cut:]] + b("data: [DONE]\n\n")
    out.append(("split_read", agent_wire(up)))

    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/vectors"
    os.makedirs(out, exist_ok=True)

    lines = []
    for name, (upstream, wire, h, sig) in streams():
        text = wire.decode("utf-8").split("\n")
        n_data = len(iohash.stream_chunks(upstream))
        n_done = sum(1 for t in text if t.startswith("data: [DONE]"))
        n_sig = sum(1 for t in text
                    if t.rstrip("\r") in ("event: signature",
                                          "event:signature"))
        lines.append("\t".join([
            name, wire.hex(), h,
            sig.encode().hex() if sig is not None else "-",
            str(n_data), str(n_done), str(n_sig)]) + "\n")

    with open(os.path.join(out, "sse.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
