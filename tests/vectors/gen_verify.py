#!/usr/bin/python3
"""Attestation reports for tests/unit/test_verify.c (attest_verify_report),
made by the Python test doubles, never by the C code under test:
t/upstream/gpu_evidence.py (GPU evidence), t/upstream/tdx_quote.py (TDX
quotes), t/upstream/ethsign.py (the signing address), and the real
evidence in the vendored tests/testdata.

    gen_verify.py OUTDIR

writes into OUTDIR:
  verify.txt            NAME VALUE lines: nonce, other_nonce (64 hex),
                        address, other_address (0x + 40 hex, EIP-55),
                        digest, other_digest (sha256:<hex>), mrtd,
                        rtmr0..3 (the quotes' defaults, 96 hex),
                        real_gpu_nonce, real_tdx_nonce (64 hex)
  verify_gpu_root.pem   the GPU test double's root
  verify_tdx_root.pem   the TDX test double's root
  verify_<case>.json    one report each, json.dumps with default
                        separators, PROTOCOL.md section 1:
    ok                  2 GPUs + TDX quote (report_data = nonce || 0),
                        image digest
    ok_v5               as ok, a version 5 quote
    no_digest           as ok, without image_digest
    digest_upper        as ok, the digest's hex in uppercase
    echo_other          everything made for other_nonce
    gpu_bad_all         2 GPUs, both with a flipped signature byte
    gpu_second_bad      2 GPUs, the second with a flipped signature byte
    gpu_wrong_nonce     the GPU request carries another nonce
    gpu_other_root      the GPU chain leads to another root
    gpu_empty_list      gpu.evidence_list is []
    absent_error        the agent's shapes without hardware: cpu.quote an
                        error sentence, gpu {"error": ...}
    absent_keys         no cpu, no gpu
    absent_null         cpu and gpu null
    cpu_error_gpu_ok    cpu {"error": ...}, 2 good GPUs
    cpu_wrong_rd        report_data made for other_nonce
    cpu_addr            report_data = address || 0 || nonce
    cpu_addr_other      report_data = other_address || 0 || nonce
    cpu_debug           a debug TD
    cpu_bad_sig         a quote signature over other bytes
    cpu_other_root      the PCK chain leads to another root
    both_bad            GPU signature and quote signature both bad
    garbage             not JSON
    real_gpu            the real H100 evidence and chain (nonce
                        real_gpu_nonce), no cpu
    real_tdx            the real TDX quote with its padding (nonce
                        real_tdx_nonce = its report_data's first half),
                        no gpu
"""

import base64
import hashlib
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "t", "upstream"))

import ethsign  # noqa: E402
import gpu_evidence  # noqa: E402
import tdx_quote  # noqa: E402

SEED = int(os.environ.get("ATTEST_VECTOR_SEED", "20240607"))

# the same place as tap_testdata() in tests/unit/tap.h
TESTDATA = os.environ.get("ATTEST_TESTDATA",
                          os.path.join(TOP, "tests", "testdata"))

REAL_GPU_NONCE = ("931d8dd0add203ac3d8b4fbde75e1152"
                  "78eefcdceac5b87671a748f32364dfcb")


def read(*path):
    with open(os.path.join(TESTDATA, *path), "rb") as f:
        return f.read()


def put(outdir, name, data):
    if isinstance(data, str):
        data = data.encode("ascii")
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)

    def rand(n):
        return bytes(rng.getrandbits(8) for _ in range(n))

    nonce = rand(32)
    other_nonce = rand(32)
    address = ethsign.address(rand(31) + b"\x01")
    other_address = ethsign.address(rand(31) + b"\x02")
    digest = "sha256:" + hashlib.sha256(b"attest-verify-image").hexdigest()
    other_digest = "sha256:" + hashlib.sha256(b"another").hexdigest()

    gpu = gpu_evidence.GpuAuthority()
    tdx = tdx_quote.TdxAuthority()

    def gpus(n_ok=2, mode="ok", n=None, for_nonce=nonce):
        """n entries: the first n_ok good, the rest in mode."""
        n = n_ok if n is None else n
        lst = []
        for i in range(n):
            m = "ok" if i < n_ok else mode
            ev, pem = gpu.entry_raw(for_nonce, m, i)
            lst.append({"evidence": base64.b64encode(ev).decode(),
                        "certificate": base64.b64encode(pem).decode()})
        return {"nonce": for_nonce.hex(), "arch": "HOPPER",
                "evidence_list": lst, "claims_version": "3.0"}

    def cpu(rd=None, **kw):
        rd = tdx_quote.report_data_nonce(nonce) if rd is None else rd
        return {"quote": tdx.quote(rd, **kw).hex()}

    def report(cpu_part="default", gpu_part="default", echo=nonce,
               addr=address, dg=digest, drop=()):
        r = {"nonce": echo.hex(),
             "cpu": cpu() if cpu_part == "default" else cpu_part,
             "gpu": gpus() if gpu_part == "default" else gpu_part,
             "signing_address": addr}
        if dg is not None:
            r["image_digest"] = dg
        for k in drop:
            del r[k]
        return json.dumps(r)

    reports = {
        "ok": report(),
        "ok_v5": report(cpu_part=cpu(version=5)),
        "no_digest": report(dg=None),
        "digest_upper": report(dg="sha256:" + digest[7:].upper()),
        "echo_other": report(
            cpu_part={"quote": tdx.quote(
                tdx_quote.report_data_nonce(other_nonce)).hex()},
            gpu_part=gpus(for_nonce=other_nonce), echo=other_nonce),
        "gpu_bad_all": report(gpu_part=gpus(0, "bad_signature", 2)),
        "gpu_second_bad": report(gpu_part=gpus(1, "bad_signature", 2)),
        "gpu_wrong_nonce": report(gpu_part=gpus(0, "wrong_nonce", 1)),
        "gpu_other_root": report(gpu_part=gpus(0, "other_root", 1)),
        "gpu_empty_list": report(gpu_part=dict(gpus(), evidence_list=[])),
        "absent_error": report(
            cpu_part={"quote": "TDX attestation is not available: "
                               "/dev/tdx_guest: No such file or directory"},
            gpu_part={"error": "NVML error: no NVIDIA GPU found"}),
        "absent_keys": report(drop=("cpu", "gpu")),
        "absent_null": report(cpu_part=None, gpu_part=None),
        "cpu_error_gpu_ok": report(cpu_part={"error": "no TDX"}),
        "cpu_wrong_rd": report(cpu_part=cpu(
            tdx_quote.report_data_nonce(other_nonce))),
        "cpu_addr": report(cpu_part=cpu(
            tdx_quote.report_data_address_nonce(address, nonce))),
        "cpu_addr_other": report(cpu_part=cpu(
            tdx_quote.report_data_address_nonce(other_address, nonce))),
        "cpu_debug": report(cpu_part=cpu(debug=True)),
        "cpu_bad_sig": report(cpu_part=cpu(mode="bad_signature")),
        "cpu_other_root": report(cpu_part=cpu(mode="other_root")),
        "both_bad": report(cpu_part=cpu(mode="bad_signature"),
                           gpu_part=gpus(0, "bad_signature", 1)),
        "garbage": '{"nonce": "' + nonce.hex() + '", "cpu": ',
    }

    absent = json.loads(reports["absent_null"])
    assert absent["cpu"] is None and absent["gpu"] is None
    assert "cpu" not in json.loads(reports["absent_keys"])
    assert bytes.fromhex(json.loads(reports["cpu_addr"])["cpu"]["quote"])[
        568:588] == bytes.fromhex(address[2:])

    # the real evidence, in the agent's report shape
    hopper = bytes.fromhex(read("nvidia", "hopper_report.hex")
                           .decode().strip())
    assert hopper[4:36].hex() == REAL_GPU_NONCE
    chain = read("nvidia", "hopper_cert_chain.pem")
    reports["real_gpu"] = json.dumps({
        "nonce": REAL_GPU_NONCE,
        "gpu": {"nonce": REAL_GPU_NONCE, "arch": "HOPPER",
                "evidence_list": [{
                    "evidence": base64.b64encode(hopper).decode(),
                    "certificate": base64.b64encode(chain).decode()}],
                "claims_version": "3.0"},
        "signing_address": address,
    })

    quote = read("intel", "tdx_quote_v4.bin")
    real_tdx_nonce = quote[568:600]
    reports["real_tdx"] = json.dumps({
        "nonce": real_tdx_nonce.hex(),
        "cpu": {"quote": quote.hex()},
        "signing_address": address,
    })

    for name, text in reports.items():
        put(out, "verify_%s.json" % name, text)

    put(out, "verify_gpu_root.pem", gpu.root_pem())
    put(out, "verify_tdx_root.pem", tdx.root_pem())

    lines = [("nonce", nonce.hex()), ("other_nonce", other_nonce.hex()),
             ("address", address), ("other_address", other_address),
             ("digest", digest), ("other_digest", other_digest),
             ("mrtd", tdx_quote.DEFAULT_MRTD.hex())]
    lines += [("rtmr%d" % i, r.hex())
              for i, r in enumerate(tdx_quote.DEFAULT_RTMR)]
    lines += [("real_gpu_nonce", REAL_GPU_NONCE),
              ("real_tdx_nonce", real_tdx_nonce.hex())]
    put(out, "verify.txt", "".join("%s %s\n" % kv for kv in lines))

    print("gen_verify: seed %d, %d reports" % (SEED, len(reports)))


if __name__ == "__main__":
    main()
