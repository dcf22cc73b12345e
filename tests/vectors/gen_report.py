#!/usr/bin/python3
"""Attestation report documents for tests/unit/test_report.c.

Built with Python's json module, independently of the C parser, from the
real evidence in the shared test data:

  report_full.json    the agent's shape with cpu.quote = hex of the TDX
                      quote and 8 GPU entries (an 8 x H100 machine), each
                      the real Hopper evidence and its PEM chain, base64
  report_small.json   about 1 KB, compact separators, for truncation tests
  report_error.json   the agent's shape when the hardware is missing
  hopper_evidence.bin the Hopper evidence bytes, decoded here from hex

The constants below are repeated in test_report.c.
"""

import base64
import hashlib
import json
import os
import sys

NONCE = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DIGEST = "sha256:" + hashlib.sha256(b"attest-test-image").hexdigest()
GPUS = 8


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    data = os.environ.get("ATTEST_TESTDATA",
                          os.path.join(repo, "tests", "testdata"))

    with open(os.path.join(data, "nvidia", "hopper_report.hex")) as f:
        evidence = bytes.fromhex(f.read().strip())
    with open(os.path.join(data, "nvidia", "hopper_cert_chain.pem"),
              "rb") as f:
        pem = f.read()
    with open(os.path.join(data, "intel", "tdx_quote_v4.bin"), "rb") as f:
        quote = f.read()

    os.makedirs(out, exist_ok=True)

    entry = {
        "evidence": base64.b64encode(evidence).decode(),
        "certificate": base64.b64encode(pem).decode(),
    }

    full = {
        "nonce": NONCE,
        "cpu": {"quote": quote.hex()},
        "gpu": {
            "nonce": NONCE,
            "arch": "HOPPER",
            "evidence_list": [dict(entry) for _ in range(GPUS)],
            "claims_version": "3.0",
        },
        "signing_address": ADDRESS,
        "image_digest": DIGEST,
    }

    small = {
        "nonce": NONCE,
        "cpu": {"quote": quote[:200].hex()},
        "gpu": {
            "nonce": NONCE,
            "arch": "HOPPER",
            "evidence_list": [{
                "evidence": base64.b64encode(evidence[:120]).decode(),
                "certificate": base64.b64encode(pem[:100]).decode(),
            }],
            "claims_version": "3.0",
        },
        "signing_address": ADDRESS,
        "image_digest": DIGEST,
    }

    error = {
        "nonce": NONCE,
        "cpu": {"quote": "Failed to get TDX quote: "
                         "/dev/tdx_guest: No such file or directory"},
        "gpu": {"error": "NVML Shared Library Not Found"},
        "signing_address": ADDRESS,
    }

    docs = {
        "report_full.json": json.dumps(full).encode(),
        "report_small.json": json.dumps(small, separators=(",", ":")).encode(),
        "report_error.json": json.dumps(error).encode(),
        "hopper_evidence.bin": evidence,
    }

    for name, blob in docs.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
