#!/usr/bin/python3
"""Seed corpora for the libFuzzer targets, made from the real evidence in
the vendored tests/testdata (and, when present, the generated unit-test
vectors in build/vectors).  Python's json, base64 and
t/upstream/ethsign.py write them, never the C code under test.

    make_seeds.py OUTDIR

writes OUTDIR/<target>/<name> for the targets report, gpu, tdx, sse,
jsonhash, sig and reqhash.
"""

import base64
import glob
import hashlib
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "t", "upstream"))

import ethsign  # noqa: E402

TESTDATA = os.environ.get("ATTEST_TESTDATA",
                          os.path.join(TOP, "tests", "testdata"))
VECTORS = os.environ.get("ATTEST_VECTORS", os.path.join(TOP, "build",
                                                         "vectors"))

NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"


def read(*path):
    with open(os.path.join(TESTDATA, *path), "rb") as f:
        return f.read()


def put(outdir, target, name, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def sig_key():
    # the same derivation as gen_sig.py's rng_key() with its default seed
    import random
    rng = random.Random(20240607)
    while True:
        k = rng.getrandbits(256)
        if 0 < k < ethsign.N:
            return k.to_bytes(32, "big")


def main():
    out = sys.argv[1]

    evidence = bytes.fromhex(read("nvidia", "hopper_report.hex")
                             .decode().strip())
    chain = read("nvidia", "hopper_cert_chain.pem")
    quote = read("intel", "tdx_quote_v4.bin")
    address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    digest = "sha256:" + hashlib.sha256(b"attest-test-image").hexdigest()

    # --- gpu, tdx: the raw evidence --------------------------------------
    put(out, "gpu", "hopper", evidence)
    put(out, "gpu", "hopper_trailing", evidence + b"\0\0\0")
    put(out, "tdx", "quote_v4_padded", quote)
    put(out, "tdx", "quote_v4", quote[:4936])

    # --- report: the agent's shapes around the real evidence -------------
    entry = {"evidence": base64.b64encode(evidence).decode(),
             "certificate": base64.b64encode(chain).decode()}
    gpu = {"nonce": NONCE, "arch": "HOPPER", "evidence_list": [entry],
           "claims_version": "3.0"}
    reports = {
        "full": {"nonce": NONCE, "cpu": {"quote": quote.hex()}, "gpu": gpu,
                 "signing_address": address, "image_digest": digest},
        "gpu_only": {"nonce": NONCE, "gpu": gpu,
                     "signing_address": address},
        "cpu_only": {"nonce": "0x" + NONCE,
                     "cpu": {"quote": quote[:4936].hex()},
                     "signing_address": address, "image_digest": None},
        "error": {"nonce": NONCE,
                  "cpu": {"quote": "TDX is not available"},
                  "gpu": {"error": "no GPU"},
                  "signing_address": address},
        "small": {"nonce": NONCE, "cpu": None, "gpu": {"evidence_list": [
            {"evidence": "AQID", "certificate": "LS0t"}]},
            "signing_address": address, "image_digest": digest},
    }
    for name, obj in reports.items():
        put(out, "report", name, json.dumps(obj))
    put(out, "report", "small_compact",
        json.dumps(reports["small"], separators=(",", ":")))

    # --- jsonhash: bodies as the agent sends them ------------------------
    body = {"id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{"index": 0, "message": {
                "role": "assistant",
                "content": "h\u00e9llo \"x\": [1, 2], {a: b} \\ \U0001f600"},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    put(out, "jsonhash", "body", json.dumps(body))
    put(out, "jsonhash", "body_compact",
        json.dumps(body, separators=(",", ":")))
    put(out, "jsonhash", "report_small", json.dumps(reports["small"]))

    # --- sig: fields split at "\n", a signature event, raw pieces --------
    key = sig_key()
    signer = ethsign.address(key)
    text = "%s:%s" % (hashlib.sha256(b"req").hexdigest(),
                      hashlib.sha256(b"resp").hexdigest())
    sig = ethsign.sign_personal(key, text)
    sig0 = ethsign.sign_personal(key, text, v_base=0, prefix="")
    event = {"text": text, "signature": sig, "signing_address": signer,
             "signing_algo": "ecdsa", "image_digest": digest,
             "vllm": {"model_id": "m"}}
    put(out, "sig", "fields",
        "\n".join([text, sig, signer, "ecdsa", digest]))
    put(out, "sig", "fields_v0", "\n".join([text, sig0, signer, "ecdsa"]))
    put(out, "sig", "event", json.dumps(event))
    put(out, "sig", "signature", sig)
    put(out, "sig", "text", text)
    put(out, "sig", "address", signer)

    # --- sse: [max_line selector][split seed] + the agent's stream -------
    chunks = ["data: " + json.dumps({"choices": [{"delta": {
        "content": c}}]}, ensure_ascii=False, separators=(",", ":")) + "\n\n"
        for c in ("Hel", "l\u00f6 \U0001f600", "\"q\"\\\t")]
    stream = ("".join(chunks) + "event: signature\ndata: "
              + json.dumps(event) + "\n\n" + ": comment\r\n"
              + "data: [DONE]\n\n")
    for sel in (200, 8, 64):
        put(out, "sse", "stream_%d" % sel,
            bytes([sel, 7]) + stream.encode("utf-8"))
    put(out, "sse", "crlf", bytes([100, 3])
        + stream.replace("\n", "\r\n").encode("utf-8"))

    # what SSE clients read otherwise than the agent hashed (issues 13, 15)
    bent = {
        "bom": "\ufeff" + stream,
        "bare_cr": chunks[0] + ": x\rdata: {}\n\n" + stream,
        "spoof": ": attest status=verified signer=0x00\n\n" + stream,
        "fields": "event: x\nid: 7\nretry: 9\nfoo\n" + stream,
        "event_sig": chunks[0][:-1] + "event: signature\n\n" + stream,
    }
    for name, text in sorted(bent.items()):
        put(out, "sse", name, bytes([200, 5]) + text.encode("utf-8"))

    # the unit tests' generated vectors, when built
    for pattern, target in (("verify_*.json", "report"),
                            ("report_*.json", "report"),
                            ("sig_body.json", "jsonhash"),
                            ("tdx_v*.bin", "tdx"),
                            ("gpu_ok.bin", "gpu")):
        for path in glob.glob(os.path.join(VECTORS, pattern)):
            if os.path.getsize(path) <= 65536:
                d = os.path.join(out, target)
                os.makedirs(d, exist_ok=True)
                shutil.copy(path, os.path.join(d, "vec_" +
                                               os.path.basename(path)))

    # request bodies: the rules of PROTOCOL.md section 2, then the unit
    # tests' generated ones
    m = '"messages":[{"role":"user","content":"hi","name":null}]'
    for i, body in enumerate([
            '{"model":"m",%s,"temperature":1,"max_tokens":5,"seed":7}' % m,
            '{"logprobs":"off","n":2.0,"stop":null,"top_p":-0,%s,'
            '"presence_penalty":1E2,"frequency_penalty":true,'
            '"stream":"yes"}' % m,
            '{"a":1,"b":2,"a":{"c":null,"c":[1e-5,1e16,-0.0,1e400]},'
            '"stream":null}',
            '{"big":18446744073709551621,"f":0.30000000000000004,'
            '"g":NaN,"h":-Infinity,"i":5e-324,"j":-0}',
            '\ufeff {"s":"\\ud83d\\udc4b \\ud800 \\/ \\u001f \x7f '
            '\u00e9\U0001f44b"}',
            '{"\\ud800":1}', '{"max_tokens":20.5}', '[1]',
            '{"k":{"\\ud83d\\udc4b":1,"\ud83d\udc4b":2}}']):
        put(out, "reqhash", "rule_%d" % i,
            body.encode("utf-8", "surrogatepass"))

    req = os.path.join(VECTORS, "reqhash.txt")
    if os.path.exists(req):
        with open(req) as f:
            n = 0
            for line in f:
                cols = line.split("\t")
                if len(cols[0]) <= 2 * 16384:
                    put(out, "reqhash", "vec_%d" % n, bytes.fromhex(cols[0]))
                    n += 1
                if n >= 300:
                    break

    sse = os.path.join(VECTORS, "sse.txt")
    if os.path.exists(sse):
        with open(sse) as f:
            for i, line in enumerate(f):
                cols = line.rstrip("\n").split("\t")
                if len(cols) > 1:
                    put(out, "sse", "vec_%d" % i,
                        bytes([200, i & 0xff]) + bytes.fromhex(cols[1]))
                if i >= 40:
                    break


if __name__ == "__main__":
    main()
