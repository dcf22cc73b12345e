#!/usr/bin/python3
"""Vectors for test_tdx: TDX quotes made by t/upstream/tdx_quote.py
(python3-cryptography), independent of the C core.

    gen_tdx.py OUTDIR

writes into OUTDIR:
    tdx_root.pem          the test authority's root
    tdx_other_root.pem    an unrelated self-signed P-256 root
    tdx_v4.bin            v4, report_data = nonce || zeros
    tdx_v4_addr.bin       v4, report_data = address || zeros || nonce
    tdx_v4_debug.bin      v4, DEBUG bit set
    tdx_v4_bad_sig.bin    v4, quote signature over other bytes
    tdx_v4_bad_qe.bin     v4, QE report signature over other bytes
    tdx_v4_other.bin      v4, chain under another root
    tdx_v5.bin            v5, TD 1.5 body (type 3), own MRTD / RTMRs
    tdx_v5_td10.bin       v5, TD 1.0 body (type 2)
    tdx.txt               NAME HEX lines: nonce, address, mrtd, rtmr0..3
                          (defaults), v5_mrtd, v5_rtmr0..3, fmspc,
                          td_attributes

Keys are fresh on every run (the verifier must not care); the nonce,
address and measurements come from a seeded RNG.
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "t", "upstream"))

import tdx_quote  # noqa: E402

SEED = int(os.environ.get("ATTEST_VECTOR_SEED", "20240519"))


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)

    def rand(n):
        return bytes(rng.getrandbits(8) for _ in range(n))

    nonce = rand(32)
    address = rand(20)
    v5_mrtd = rand(48)
    v5_rtmr = [rand(48) for _ in range(4)]

    a = tdx_quote.TdxAuthority()
    rd = tdx_quote.report_data_nonce(nonce)
    rd_addr = tdx_quote.report_data_address_nonce("0x" + address.hex(),
                                                  nonce)

    files = {
        "tdx_v4.bin": a.quote(rd),
        "tdx_v4_addr.bin": a.quote(rd_addr),
        "tdx_v4_debug.bin": a.quote(rd, debug=True),
        "tdx_v4_bad_sig.bin": a.quote(rd, mode="bad_signature"),
        "tdx_v4_bad_qe.bin": a.quote(rd, mode="bad_qe_signature"),
        "tdx_v4_other.bin": a.quote(rd, mode="other_root"),
        "tdx_v5.bin": a.quote(rd, version=5, mrtd=v5_mrtd, rtmr=v5_rtmr),
        "tdx_v5_td10.bin": a.quote(rd, version=5, body_type=2),
    }

    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    a.write_root(os.path.join(out, "tdx_root.pem"))

    other = tdx_quote._chain("other").root
    with open(os.path.join(out, "tdx_other_root.pem"), "wb") as f:
        f.write(other.public_bytes(tdx_quote.serialization.Encoding.PEM))

    lines = [("nonce", nonce), ("address", address),
             ("mrtd", tdx_quote.DEFAULT_MRTD)]
    lines += [("rtmr%d" % i, r) for i, r in enumerate(tdx_quote.DEFAULT_RTMR)]
    lines += [("v5_mrtd", v5_mrtd)]
    lines += [("v5_rtmr%d" % i, r) for i, r in enumerate(v5_rtmr)]
    lines += [("fmspc", tdx_quote.DEFAULT_FMSPC),
              ("td_attributes", tdx_quote.TD_ATTRIBUTES)]

    with open(os.path.join(out, "tdx.txt"), "w") as f:
        for name, value in lines:
            f.write("%s %s\n" % (name, value.hex()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: gen_tdx.py OUTDIR\n")
        sys.exit(2)
    main(sys.argv[1])
