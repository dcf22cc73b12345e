#!/usr/bin/python3
"""Vectors for tests/unit/test_sig.c: signed responses made by the
independent signer t/upstream/ethsign.py (python3-ecdsa, pycryptodome's
Keccak) and hashed by t/upstream/iohash.py, never by the C code.

    gen_sig.py OUTDIR

writes into OUTDIR:
  sig_cases.txt   one attest_sig_verify() case a line, TAB-separated:
                    name, expected reason, detail substring,
                    text, signature, signing_address, signing_algo,
                    image_digest, attested address (40 hex),
                    attested image digest, request hash, response hash
                  A field is "-" when absent (NULL) and "=" + value when
                  present, so "=" alone is an empty string.  The hashes
                  are the lowercase hex the verifier must return (ok
                  cases only).
  sig_events.txt  one attest_sig_json_parse() case a line, TAB-separated:
                    name, expected parse reason, mask of the fields found
                    (1 text, 2 signature, 4 signing_address,
                    8 signing_algo, 16 image_digest), expected verify
                    reason, verify detail substring, attested address,
                    attested image digest, hex of the event's JSON bytes
  sig_body.json   a completion body as the agent sends it (Python's
                  default separators, ensure_ascii); case "body_ok" signs
                  its response hash

The RNG is seeded, so the files are the same on every run (RFC 6979
signatures are deterministic); ATTEST_VECTOR_SEED overrides the seed.
"""

import hashlib
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "t", "upstream"))

import ethsign  # noqa: E402
import iohash  # noqa: E402

SEED = int(os.environ.get("ATTEST_VECTOR_SEED", "20240607"))

P = 2 ** 256 - 2 ** 32 - 977        # secp256k1's field prime
N = ethsign.N

ABSENT = None


def rng_key(rng):
    while True:
        k = rng.getrandbits(256)
        if 0 < k < N:
            return k.to_bytes(32, "big")


def hex_text(rng):
    return "%064x:%064x" % (rng.getrandbits(256), rng.getrandbits(256))


def digest_of(tag):
    return "sha256:" + hashlib.sha256(tag).hexdigest()


def sig_with(sig_hex, r=None, s=None, v=None):
    """The signature with r, s or v replaced (raw integers)."""
    b = bytearray(bytes.fromhex(sig_hex[2:]))
    if r is not None:
        b[0:32] = r.to_bytes(32, "big")
    if s is not None:
        b[32:64] = s.to_bytes(32, "big")
    if v is not None:
        b[64] = v
    return "0x" + b.hex()


def r_without_point():
    """Smallest r whose x^3 + 7 is no square mod p: nothing recovers."""
    r = 1
    while pow((r ** 3 + 7) % P, (P - 1) // 2, P) == 1:
        r += 1
    return r


def field(v):
    return "-" if v is None else "=" + v


def check_line(values):
    for v in values:
        if v is not None and ("\t" in v or "\n" in v):
            raise ValueError("TAB or newline in a vector field: %r" % v)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)

    key = rng_key(rng)
    key2 = rng_key(rng)
    addr = ethsign.address(key)
    addr2 = ethsign.address(key2)
    attested = addr[2:].lower()
    digest = digest_of(b"attest-sig-image")
    digest2 = digest_of(b"another image")

    text = hex_text(rng)
    sig = ethsign.sign_personal(key, text)
    assert ethsign.recover_personal(text, sig) == addr

    cases = []

    def case(name, expect, detail, t, sg, a, algo, dg,
             signer=attested, signer_digest=digest):
        hashes = ("-", "-")
        if expect == "ok":
            hashes = (t[:64].lower(), t[65:].lower())
        cases.append((name, expect, detail, t, sg, a, algo, dg, signer,
                      signer_digest) + hashes)

    def signed(t, k=key, **kw):
        return ethsign.sign_personal(k, t, **kw)

    # --- accepted ---------------------------------------------------------
    case("ok", "ok", None, text, sig, addr, "ecdsa", digest)
    for v_base in (0, 27):
        for prefix in ("", "0x"):
            case("ok_v%d_%s" % (v_base, prefix or "noprefix"), "ok", None,
                 text, signed(text, v_base=v_base, prefix=prefix), addr,
                 "ecdsa", digest)
    case("ok_sig_upper_hex", "ok", None, text, "0x" + sig[2:].upper(), addr,
         "ecdsa", digest)
    t_upper = hex_text(rng).upper()
    case("ok_text_upper", "ok", None, t_upper, signed(t_upper), addr,
         "ecdsa", digest)
    case("ok_addr_lower", "ok", None, text, sig, addr.lower(), "ecdsa",
         digest)
    case("ok_addr_upper", "ok", None, text, sig, "0x" + addr[2:].upper(),
         "ecdsa", digest)
    case("ok_algo_upper", "ok", None, text, sig, addr, "ECDSA", digest)
    case("ok_no_digest_field", "ok", None, text, sig, addr, "ecdsa",
         ABSENT)
    case("ok_no_attested_digest", "ok", None, text, sig, addr, "ecdsa",
         digest, signer_digest=ABSENT)
    case("ok_no_digest_at_all", "ok", None, text, sig, addr, "ecdsa",
         ABSENT, signer_digest=ABSENT)
    case("ok_digest_case", "ok", None, text, sig, addr, "ecdsa",
         "sha256:" + digest[7:].upper())
    # high s is valid ECDSA: recovery with the flipped id gives the key
    s = int(sig[66:130], 16)
    hs = sig_with(sig, s=N - s, v=27 + ((int(sig[130:], 16) - 27) ^ 1))
    assert ethsign.recover_personal(text, hs) == addr
    case("ok_high_s", "ok", None, text, hs, addr, "ecdsa", digest)

    # --- signature_missing, in field order --------------------------------
    case("missing_text", "signature_missing", "no text", ABSENT, sig, addr,
         "ecdsa", digest)
    case("missing_signature", "signature_missing", "no signature", text,
         ABSENT, addr, "ecdsa", digest)
    case("missing_address", "signature_missing", "no signing_address",
         text, sig, ABSENT, "ecdsa", digest)
    case("missing_algo", "signature_missing", "no signing_algo", text, sig,
         addr, ABSENT, digest)
    case("missing_all", "signature_missing", "no text", ABSENT, ABSENT,
         ABSENT, ABSENT, ABSENT)
    case("missing_algo_bad_text", "signature_missing", "no signing_algo",
         "nonsense", "0x00", "nope", ABSENT, digest2)
    # an empty string is present, not missing
    case("empty_text", "text_malformed", "0 bytes", "", sig, addr, "ecdsa",
         digest)

    # --- signing_algo_unsupported -----------------------------------------
    for i, algo in enumerate(("secp256k1", "", "ecdsa ", " ecdsa", "ecdsb",
                              "ecds", "ed25519", "ecdsa-p256")):
        case("algo_%d" % i, "signing_algo_unsupported", "signing_algo",
             text, sig, addr, algo, digest)
    case("algo_before_text", "signing_algo_unsupported", "signing_algo",
         "nonsense", "0x00", "nope", "rsa", digest2)

    # --- text_malformed, each validly signed so only the syntax fails -----
    bad_texts = [
        ("text_128", text[:128], "128 bytes"),
        ("text_130", text + "0", "130 bytes"),
        ("text_no_colon", text[:64] + "0" + text[65:], "not <64 hex>"),
        ("text_two_colons", text[:10] + ":" + text[11:], "non-hex"),
        ("text_colon_moved", text[:63] + ":" + text[63] + text[65:],
         "not <64 hex>"),
        ("text_nonhex_left", "g" + text[1:], "non-hex"),
        ("text_nonhex_right", text[:128] + "z", "non-hex"),
        ("text_prefix", "0x" + text[2:], "non-hex"),
        ("text_trailing_cr", text + "\r", "130 bytes"),
        ("text_space", text[:64] + " " + text[65:], "not <64 hex>"),
        ("text_semicolon", text[:64] + ";" + text[65:], "not <64 hex>"),
    ]
    for name, t, detail in bad_texts:
        case(name, "text_malformed", detail, t, signed(t), addr, "ecdsa",
             digest)
    case("text_before_sig", "text_malformed", None, text[:100], "0x00",
         "nope", "ecdsa", digest2)

    # --- signature_malformed ----------------------------------------------
    body = sig[2:]
    bad_sigs = [
        ("sig_empty", "", "0 hex digits"),
        ("sig_prefix_only", "0x", "0 hex digits"),
        ("sig_64_bytes", "0x" + body[:128], "128 hex digits"),
        ("sig_66_bytes", sig + "00", "132 hex digits"),
        ("sig_odd", sig[:-1], "129 hex digits"),
        ("sig_nonhex", "0x" + body[:40] + "zz" + body[42:], "not hex"),
        ("sig_double_prefix", "0x" + sig, "132 hex digits"),
        ("sig_v2", sig_with(sig, v=2), "v is 2"),
        ("sig_v26", sig_with(sig, v=26), "v is 26"),
        ("sig_v29", sig_with(sig, v=29), "v is 29"),
        ("sig_v255", sig_with(sig, v=255), "v is 255"),
        ("sig_r0", sig_with(sig, r=0), "r is not"),
        ("sig_s0", sig_with(sig, s=0), "s is not"),
        ("sig_rn", sig_with(sig, r=N), "r is not"),
        ("sig_sn", sig_with(sig, s=N), "s is not"),
        ("sig_rmax", sig_with(sig, r=2 ** 256 - 1), "r is not"),
    ]
    for name, sg, detail in bad_sigs:
        case(name, "signature_malformed", detail, text, sg, addr, "ecdsa",
             digest)
    case("sig_before_addr", "signature_malformed", None, text, "0x00",
         "nope", "ecdsa", digest2)

    # --- signature_invalid ------------------------------------------------
    bad_addrs = [
        ("addr_empty", ""),
        ("addr_no_prefix", addr[2:]),
        ("addr_39", addr[:-1]),
        ("addr_41", addr + "0"),
        ("addr_nonhex", addr[:-1] + "g"),
        ("addr_space", " " + addr[:-1]),
        ("addr_1x", "1x" + addr[2:]),
    ]
    for name, a in bad_addrs:
        case(name, "signature_invalid", "signing_address is not", text, sig,
             a, "ecdsa", digest)
    case("addr_bad_before_signer", "signature_invalid",
         "signing_address is not", text, signed(text, key2), "0xnope",
         "ecdsa", digest2)
    # a valid signature by key2 that claims to be by key
    case("recovers_other", "signature_invalid",
         "recovers to %s, not %s" % (addr2, addr), text, signed(text, key2),
         addr, "ecdsa", digest)
    # a valid signature over another text
    other = hex_text(rng)
    case("other_text", "signature_invalid", "not " + addr, text,
         signed(other), addr, "ecdsa", digest)
    # v flipped: the other candidate key
    v = int(sig[130:], 16)
    case("v_flipped", "signature_invalid", "recovers to", text,
         sig_with(sig, v=55 - v), addr, "ecdsa", digest)
    # r with no curve point: no key at all
    case("no_point", "signature_invalid", "no public key recovers", text,
         sig_with(sig, r=r_without_point(), s=1, v=27), addr, "ecdsa",
         digest)
    for i in range(4):
        # one bit of r, s flipped: another or no key, never ours
        b = bytearray(bytes.fromhex(body))
        b[8 + 16 * i] ^= 0x10
        case("bitflip_%d" % i, "signature_invalid", None, text,
             "0x" + b.hex(), addr, "ecdsa", digest)

    # --- signer_not_attested ----------------------------------------------
    case("signer_other", "signer_not_attested",
         "signed by %s, attested signer is %s" % (addr2, addr), text,
         signed(text, key2), addr2, "ecdsa", digest)
    # the attested address one bit away, in its first or last byte
    for pos in (0, 19):
        near = bytearray(bytes.fromhex(attested))
        near[pos] ^= 0x01
        case("signer_byte_%d" % pos, "signer_not_attested",
             "attested signer is 0x", text, sig, addr, "ecdsa", digest,
             signer=near.hex())
    case("signer_before_digest", "signer_not_attested", None, text,
         signed(text, key2), addr2.lower(), "ecdsa", digest2)

    # --- image_digest_mismatch --------------------------------------------
    case("digest_other", "image_digest_mismatch",
         "response image_digest %s, attested %s" % (digest2, digest), text,
         sig, addr, "ecdsa", digest2)
    case("digest_empty", "image_digest_mismatch", None, text, sig, addr,
         "ecdsa", "")
    case("digest_short", "image_digest_mismatch", None, text, sig, addr,
         "ecdsa", digest[:-1])
    case("digest_long", "image_digest_mismatch", None, text, sig, addr,
         "ecdsa", digest + "0")
    case("digest_long_text", "image_digest_mismatch", None, text, sig, addr,
         "ecdsa", "x" * 300)

    # --- a real body: response hash = iohash's compact sha256 -------------
    obj = {
        "id": "chatcmpl-%032x" % rng.getrandbits(128),
        "object": "chat.completion",
        "created": 1717000000,
        "model": "meta-llama/Llama-3.3-70B-Instruct",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant",
                        "content": "h\u00e9llo, \u2603 \U0001f600: "
                                   "a \"quoted\" {brace}, [x]: 1, 2"},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9,
                  "total_tokens": 21},
    }
    body_text = iohash.body(obj)
    assert ", " in body_text and ": " in body_text
    btext = "%064x:%s" % (rng.getrandbits(256), iohash.response_hash(obj))
    case("body_ok", "ok", None, btext, signed(btext), addr, "ecdsa", digest)
    with open(os.path.join(out, "sig_body.json"), "wb") as f:
        f.write(body_text.encode("ascii"))

    with open(os.path.join(out, "sig_cases.txt"), "w") as f:
        for c in cases:
            name, expect, detail = c[:3]
            check_line(c[3:10])
            f.write("\t".join([name, expect, field(detail)]
                              + [field(x) for x in c[3:8]]
                              + [c[8], field(c[9]), c[10], c[11]]) + "\n")

    # --- signature events (the JSON of a stream's signature event) --------
    events = []

    def event(name, parse, mask, verify, detail, data,
              signer=attested, signer_digest=digest):
        if isinstance(data, str):
            data = data.encode("utf-8")
        events.append((name, parse, mask, verify, detail, signer,
                       signer_digest, data))

    full = {
        "text": text,
        "signature": sig,
        "signing_address": addr,
        "signing_algo": "ecdsa",
        "image_digest": digest,
        "vllm": {"image_digest": digest_of(b"vllm"),
                 "model_id": "meta-llama/Llama-3.3-70B-Instruct"},
    }
    event("ev_ok", "ok", 31, "ok", None, json.dumps(full))
    event("ev_ok_compact", "ok", 31, "ok", None,
          json.dumps(full, separators=(",", ":")))
    event("ev_ok_pretty", "ok", 31, "ok", None,
          json.dumps(dict(reversed(list(full.items()))), indent=2))
    nod = dict(full)
    del nod["image_digest"]
    event("ev_no_digest", "ok", 15, "ok", None, json.dumps(nod))
    event("ev_digest_other", "ok", 31, "image_digest_mismatch", digest2,
          json.dumps(dict(full, image_digest=digest2)))
    event("ev_signer_other", "ok", 31, "signer_not_attested", None,
          json.dumps(full), signer=addr2[2:].lower())
    for bit, key_name in ((1, "text"), (2, "signature"),
                          (4, "signing_address"), (8, "signing_algo")):
        d = dict(full)
        del d[key_name]
        event("ev_missing_" + key_name, "ok", 31 & ~bit,
              "signature_missing", "no " + key_name, json.dumps(d))
    # values that are no strings count as absent
    event("ev_nonstring", "ok", 0, "signature_missing", "no text",
          json.dumps({"text": 5, "signature": None,
                      "signing_address": [addr], "signing_algo": {"a": 1},
                      "image_digest": True}))
    event("ev_empty_object", "ok", 0, "signature_missing", "no text", "{}")
    # a nested object's keys are not the event's fields
    event("ev_nested_only", "ok", 0, "signature_missing", "no text",
          json.dumps({"vllm": full}))
    # JSON escapes are decoded: "\u0065cdsa" is "ecdsa"
    esc = json.dumps(full).replace('"ecdsa"', '"\\u0065cds\\u0061"')
    assert esc != json.dumps(full)
    event("ev_escaped_algo", "ok", 31, "ok", None, esc)
    # duplicate keys: the last wins, as with Python's json module
    dup = ('{"text": "0000", "signing_algo": "rsa", '
           + json.dumps(full)[1:])
    assert json.loads(dup)["text"] == text
    event("ev_duplicate_keys", "ok", 31, "ok", None, dup)
    dup2 = json.dumps(full)[:-1] + ', "text": "%s"}' % other
    assert json.loads(dup2)["text"] == other
    event("ev_duplicate_last_bad", "ok", 31, "signature_invalid", None,
          dup2)
    # deep but valid nesting beside the fields
    deep = json.dumps(full)[:-1] + ', "x": ' + "[" * 3000 + "]" * 3000 + "}"
    event("ev_deep", "ok", 31, "ok", None, deep)

    for name, data in (
            ("ev_array", "[]"),
            ("ev_array_of_object", "[" + json.dumps(full) + "]"),
            ("ev_string", '"text"'),
            ("ev_number", "5"),
            ("ev_null", "null"),
            ("ev_true", "true"),
            ("ev_empty", ""),
            ("ev_spaces", "  \n"),
            ("ev_open", "{"),
            ("ev_truncated", json.dumps(full)[:-1]),
            ("ev_no_value", '{"text": }'),
            ("ev_trailing_comma", '{"text": "a",}'),
            ("ev_single_quotes", "{'text': 'a'}"),
            ("ev_two_objects", "{} {}"),
            ("ev_trailing_garbage", json.dumps(full) + "x"),
            ("ev_not_json", "not json at all"),
            ("ev_bad_escape", '{"text": "\\x41"}')):
        event(name, "signature_malformed", 0, "-", None, data)
    event("ev_bad_utf8", "signature_malformed", 0, "-", None,
          b'{"text": "\xff\xfe"}')
    event("ev_nul_end", "signature_malformed", 0, "-", "NUL",
          json.dumps(full).encode() + b"\0")
    event("ev_nul_inside", "signature_malformed", 0, "-", "NUL",
          b'{"text"\0: "a"}')
    event("ev_nul_first", "signature_malformed", 0, "-", "NUL", b"\0{}")

    with open(os.path.join(out, "sig_events.txt"), "w") as f:
        for (name, parse, mask, verify, detail, signer, sdig,
             data) in events:
            f.write("\t".join([name, parse, str(mask), verify,
                               field(detail), signer, field(sdig),
                               data.hex() or "="]) + "\n")

    print("gen_sig: seed %d, %d cases, %d events"
          % (SEED, len(cases), len(events)))


if __name__ == "__main__":
    main()
