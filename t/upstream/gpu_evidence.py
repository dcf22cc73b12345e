#!/usr/bin/python3
"""NVIDIA Hopper GPU evidence for the test double (PROTOCOL.md section 4).

An independent Python implementation of what a Hopper GPU hands out: a
P-384 certificate hierarchy (root CA -> intermediate -> one leaf per GPU,
the leaf carrying a TCG DICE TcbInfo extension 2.23.133.5.4.1 that ends
with the firmware's 48-byte FWID) and SPDM GET_MEASUREMENTS request +
MEASUREMENTS response bytes signed by the leaf with ECDSA P-384 / SHA-384,
raw r || s.

    auth = GpuAuthority()
    auth.write_root("/tmp/root.pem")
    entries = auth.evidence_list(nonce, mode="ok", gpus=1)
    # [{"evidence": base64 of SPDM bytes, "certificate": base64 of PEM}]

Modes: "ok", "wrong_nonce" (the request carries another nonce),
"bad_signature" (one signature byte flipped), "other_root" (a valid report
whose chain leads to another root), "bad_fwid" (a validly signed report
whose FWID differs from the leaf's DICE extension).

Key material is generated once per process and per set of options.

Run as a program, it writes a root and one evidence entry for manual
testing of `attest-verify gpu`.
"""

import argparse
import base64
import datetime
import os
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

DICE_TCBINFO = x509.ObjectIdentifier("2.23.133.5.4.1")
# an extension OID nobody knows, to make a leaf no verifier may accept
UNKNOWN_EXT = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")

DRIVER = b"550.90.07"
# formats as NVIDIA prints it: "96.00.9f.00.01"
VBIOS = bytes.fromhex("009f009601000000")

MODES = ("ok", "wrong_nonce", "bad_signature", "other_root", "bad_fwid")

SHA384_OID_DER = bytes.fromhex("0609608648016503040202")

_cache = {}


def _der(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + body


def dice_tcbinfo(public_key, fwid):
    """The extension value as on NVIDIA's leaves: SEQUENCE { INTEGER 1,
    SubjectPublicKeyInfo, SEQUENCE { sha384, OCTET STRING fwid } }."""
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.
                                   SubjectPublicKeyInfo)
    fw = _der(0x30, SHA384_OID_DER + _der(0x04, fwid))
    return _der(0x30, _der(0x02, b"\x01") + spki + fw)


def _name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test GPU Vendor"),
    ])


def _cert(subject, subject_key, issuer, issuer_key, ca, extra=()):
    b = x509.CertificateBuilder()
    b = b.subject_name(subject).issuer_name(issuer)
    b = b.public_key(subject_key.public_key())
    b = b.serial_number(x509.random_serial_number())
    b = b.not_valid_before(datetime.datetime(2021, 1, 1))
    b = b.not_valid_after(datetime.datetime(9999, 12, 31, 23, 59, 59))
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                            critical=True)
        b = b.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
    b = b.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()),
        critical=False)
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()),
        critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA384())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class _Hierarchy:
    """root -> intermediate -> leaves (one per GPU, made on demand)."""

    def __init__(self, tag, dice_critical, unknown_critical):
        self.tag = tag
        self.dice_critical = dice_critical
        self.unknown_critical = unknown_critical
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _cert(_name("Test GPU Root CA " + tag), self.root_key,
                          _name("Test GPU Root CA " + tag), self.root_key,
                          True)
        self.ica_key = ec.generate_private_key(ec.SECP384R1())
        self.ica = _cert(_name("Test GPU Provisioner ICA " + tag),
                         self.ica_key, self.root.subject, self.root_key, True)
        self.leaves = []

    def leaf(self, i):
        while len(self.leaves) <= i:
            key = ec.generate_private_key(ec.SECP384R1())
            fwid = os.urandom(48)
            extra = [(x509.UnrecognizedExtension(
                DICE_TCBINFO, dice_tcbinfo(key.public_key(), fwid)),
                self.dice_critical)]
            if self.unknown_critical:
                extra.append((x509.UnrecognizedExtension(UNKNOWN_EXT,
                                                         b"\x05\x00"), True))
            cert = _cert(_name("Test GPU FMC LF %d" % len(self.leaves)), key,
                         self.ica.subject, self.ica_key, False, extra)
            self.leaves.append((key, cert, fwid))
        return self.leaves[i]

    def chain_pem(self, i):
        # leaf first, the root's own copy last, as NVIDIA sends it
        return _pem(self.leaf(i)[1]) + _pem(self.ica) + _pem(self.root)


def _hierarchy(tag, dice_critical=False, unknown_critical=False):
    k = (tag, dice_critical, unknown_critical)
    if k not in _cache:
        _cache[k] = _Hierarchy(tag, dice_critical, unknown_critical)
    return _cache[k]


def _tlv(t, v):
    return struct.pack("<HH", t, len(v)) + v


def spdm_evidence(key, nonce, fwid, slot=0):
    """GET_MEASUREMENTS request (37 bytes) || signed MEASUREMENTS response."""
    req = bytes([0x11, 0xE0, 0x01, 0xFF]) + nonce + bytes([slot])

    record = b""
    for i in range(1, 65):
        digest = os.urandom(48) if i % 5 else bytes(48)
        # DMTF measurement: type, size u16, value
        value = bytes([0x01]) + struct.pack("<H", len(digest)) + digest
        record += struct.pack("<BBH", i, 0x01, len(value)) + value

    opaque = (_tlv(6, VBIOS)
              + _tlv(15, b"882\0")
              + _tlv(17, b"1010\0")
              + _tlv(18, b"0200\0")
              + _tlv(3, DRIVER + b"\0")
              + _tlv(11, b"\x55"))
    if fwid is not None:
        opaque += _tlv(20, fwid)

    rsp = (bytes([0x11, 0x60, 0x00, 0x00, 64])
           + len(record).to_bytes(3, "little") + record
           + os.urandom(32)
           + struct.pack("<H", len(opaque)) + opaque)

    der = key.sign(req + rsp, ec.ECDSA(hashes.SHA384()))
    r, s = utils.decode_dss_signature(der)
    return req + rsp + r.to_bytes(48, "big") + s.to_bytes(48, "big")


def _pad_nonce(nonce):
    if isinstance(nonce, str):
        nonce = bytes.fromhex(nonce[2:] if nonce.startswith("0x") else nonce)
    if len(nonce) > 32:
        raise ValueError("nonce longer than 32 bytes")
    # the agent right-pads short nonces with zeros
    return bytes(nonce) + bytes(32 - len(nonce))


class GpuAuthority:
    """The GPU side of the test double: a pinned root and its evidence.

    dice_critical marks the leaf's DICE extension critical (as some NVIDIA
    leaves do); unknown_critical adds a critical extension of an unknown
    OID (a verifier must reject that leaf).
    """

    def __init__(self, dice_critical=False, unknown_critical=False):
        self._h = _hierarchy("A", dice_critical, unknown_critical)

    def root_pem(self):
        return _pem(self._h.root)

    def write_root(self, path):
        with open(path, "wb") as f:
            f.write(self.root_pem())

    def fwid(self, gpu=0):
        return self._h.leaf(gpu)[2]

    def entry_raw(self, nonce, mode="ok", gpu=0):
        """(SPDM bytes, PEM chain bytes) of one GPU."""
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        nonce = _pad_nonce(nonce)
        h = self._h
        if mode == "other_root":
            h = _hierarchy("B", h.dice_critical, h.unknown_critical)
        key, _, fwid = h.leaf(gpu)
        if mode == "wrong_nonce":
            nonce = bytes([nonce[0] ^ 0x01]) + nonce[1:]
        if mode == "bad_fwid":
            fwid = bytes([fwid[0] ^ 0x01]) + fwid[1:]
        ev = spdm_evidence(key, nonce, fwid)
        if mode == "bad_signature":
            ev = ev[:-30] + bytes([ev[-30] ^ 0x01]) + ev[-29:]
        return ev, h.chain_pem(gpu)

    def evidence_list(self, nonce, mode="ok", gpus=1):
        out = []
        for i in range(gpus):
            ev, pem = self.entry_raw(nonce, mode, i)
            out.append({
                "evidence": base64.b64encode(ev).decode(),
                "certificate": base64.b64encode(pem).decode(),
            })
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="write a test GPU root and one evidence entry")
    ap.add_argument("outdir")
    ap.add_argument("--nonce", help="hex, default: 32 random bytes")
    ap.add_argument("--mode", default="ok", choices=MODES)
    a = ap.parse_args(argv)

    nonce = _pad_nonce(a.nonce) if a.nonce else os.urandom(32)
    auth = GpuAuthority()
    e = auth.evidence_list(nonce, a.mode)[0]

    os.makedirs(a.outdir, exist_ok=True)
    paths = {}
    for name, data in (("gpu_root.pem", auth.root_pem()),
                       ("gpu_evidence.b64", e["evidence"].encode() + b"\n"),
                       ("gpu_certs.b64", e["certificate"].encode() + b"\n"),
                       ("gpu_nonce.hex", nonce.hex().encode() + b"\n")):
        paths[name] = os.path.join(a.outdir, name)
        with open(paths[name], "wb") as f:
            f.write(data)

    print("attest-verify gpu --nonce %s --root %s %s %s"
          % (nonce.hex(), paths["gpu_root.pem"], paths["gpu_evidence.b64"],
             paths["gpu_certs.b64"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
