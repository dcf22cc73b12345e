#!/usr/bin/python3
"""GPU evidence vectors for tests/unit/test_gpu.c, made by the Python test
double (t/upstream/gpu_evidence.py), never by the C code under test.

    gen_gpu.py OUTDIR

writes into OUTDIR:
  gpu_nonce.hex                    the nonce every entry was made for
  gpu_root.pem                     the test double's root
  gpu_<mode>.bin / .pem            SPDM bytes / PEM chain, for each mode of
                                   gpu_evidence.MODES
  gpu_ok.fwid, gpu_ok.driver,      what the "ok" entry must report
  gpu_ok.vbios
  gpu_multi<i>.bin / .pem          two GPUs of one report (i = 0, 1)
  gpu_dice_critical{.bin,.pem,_root.pem}
                                   leaf with a critical DICE extension
  gpu_unknown_critical{.bin,.pem,_root.pem}
                                   leaf with a critical unknown extension
  gpu_fake_nvidia_root.pem         a self-signed P-384 root with the NVIDIA
                                   root's subject and key identifier but
                                   another key
"""

import base64
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "t", "upstream"))

import gpu_evidence  # noqa: E402

# the same place as tap_testdata() in tests/unit/tap.h
TESTDATA = os.environ.get("ATTEST_TESTDATA",
                          os.path.join(TOP, "tests", "testdata"))
NVIDIA_ROOT = os.path.join(TESTDATA, "nvidia",
                           "nvidia_device_identity_root.pem")


def put(outdir, name, data):
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


def entry(outdir, name, e):
    # through the JSON form, as the report carries it
    put(outdir, name + ".bin", base64.b64decode(e["evidence"]))
    put(outdir, name + ".pem", base64.b64decode(e["certificate"]))


def fake_nvidia_root(path):
    real = x509.load_pem_x509_certificate(open(path, "rb").read())
    key = ec.generate_private_key(ec.SECP384R1())
    ski = real.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value
    b = x509.CertificateBuilder()
    b = b.subject_name(real.subject).issuer_name(real.subject)
    b = b.public_key(key.public_key())
    b = b.serial_number(x509.random_serial_number())
    b = b.not_valid_before(datetime.datetime(2021, 1, 1))
    b = b.not_valid_after(datetime.datetime(9999, 12, 31, 23, 59, 59))
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                        critical=True)
    b = b.add_extension(ski, critical=False)
    cert = b.sign(key, hashes.SHA384())
    return cert.public_bytes(serialization.Encoding.PEM)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)

    nonce = os.urandom(32)
    put(outdir, "gpu_nonce.hex", nonce.hex().encode() + b"\n")

    auth = gpu_evidence.GpuAuthority()
    put(outdir, "gpu_root.pem", auth.root_pem())

    for mode in gpu_evidence.MODES:
        entry(outdir, "gpu_" + mode, auth.evidence_list(nonce, mode)[0])

    put(outdir, "gpu_ok.fwid", auth.fwid(0).hex().encode() + b"\n")
    put(outdir, "gpu_ok.driver", gpu_evidence.DRIVER + b"\n")
    put(outdir, "gpu_ok.vbios", b"96.00.9f.00.01\n")

    for i, e in enumerate(auth.evidence_list(nonce, "ok", gpus=2)):
        entry(outdir, "gpu_multi%d" % i, e)

    for name, opts in (("dice_critical", {"dice_critical": True}),
                       ("unknown_critical", {"unknown_critical": True})):
        a = gpu_evidence.GpuAuthority(**opts)
        put(outdir, "gpu_%s_root.pem" % name, a.root_pem())
        entry(outdir, "gpu_" + name, a.evidence_list(nonce)[0])

    put(outdir, "gpu_fake_nvidia_root.pem", fake_nvidia_root(NVIDIA_ROOT))


if __name__ == "__main__":
    main()
