#!/usr/bin/python3
"""Independent generator of Intel TDX quotes (PROTOCOL.md section 5).

Built only on python3-cryptography, so the C verifier is tested against
quotes it had no part in making.  A quote carries a TD report body, an
ECDSA P-256 quote signature by a fresh attestation key, and certification
data type 6: a QE report whose report_data binds the attestation key
(sha256(attestation key || QE auth data) || 32 zero bytes), the QE report
signed by a PCK leaf, and the PEM chain PCK leaf -> platform CA -> root.

The test chain is generated once per process (a second, unrelated one for
mode "other_root"), so every TdxAuthority in a process pins the same root.

    a = TdxAuthority()
    a.root_pem() -> bytes;  a.write_root(path)
    a.quote(report_data, mode="ok", version=4, mrtd=None, rtmr=None,
            debug=False, body_type=None) -> bytes
        mode: "ok" | "bad_signature" | "bad_qe_signature" | "other_root"
        version 5 carries a TD 1.5 body (type 3, 648 bytes) unless
        body_type=2 (TD 1.0, 584 bytes)
    report_data_nonce(nonce) -> nonce || 32 zero bytes
    report_data_address_nonce(address_hex, nonce)
        -> address || 12 zero bytes || nonce

Defaults that callers may pin: DEFAULT_MRTD, DEFAULT_RTMR, DEFAULT_FMSPC,
TD_ATTRIBUTES.

Run as a program it writes the root and one quote (hex) for a nonce:

    tdx_quote.py ROOT.pem QUOTE.hex [NONCE_HEX [VERSION]]
"""

import datetime
import hashlib
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature
from cryptography.x509.oid import NameOID

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
ATT_KEY_TYPE_ECDSA_P256 = 2
TEE_TYPE_TDX = 0x81

DEFAULT_MRTD = hashlib.sha384(b"mrtd").digest()
DEFAULT_RTMR = [hashlib.sha384(b"rtmr%d" % i).digest() for i in range(4)]
DEFAULT_FMSPC = bytes.fromhex("00806f050000")
TD_ATTRIBUTES = bytes.fromhex("0000001000000000")   # SEPT_VE_DISABLE only
QE_AUTH_DATA = bytes(range(32))

TD10_BODY_LEN = 584
TD15_BODY_LEN = 648
QE_REPORT_LEN = 384

SGX_EXT_OID = "1.2.840.113741.1.13.1"

_NOT_BEFORE = datetime.datetime(2024, 1, 1)
_NOT_AFTER = datetime.datetime(2049, 12, 31, 23, 59, 59)

MODES = ("ok", "bad_signature", "bad_qe_signature", "other_root")


# --- a little DER for the SGX extension ------------------------------------

def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _der_oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7f]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7f))
            a >>= 7
        out += bytes(reversed(chunk))
    return _der(0x06, out)


def sgx_extension(fmspc=DEFAULT_FMSPC):
    """SEQUENCE OF SEQUENCE {OID, value}: PPID, FMSPC, PCE-ID, as in a
    real PCK certificate (TCB and the rest left out)."""
    items = [
        (SGX_EXT_OID + ".1", _der(0x04, _fill(b"ppid", 16))),
        (SGX_EXT_OID + ".4", _der(0x04, fmspc)),
        (SGX_EXT_OID + ".3", _der(0x04, b"\x00\x00")),
    ]
    return _der(0x30, b"".join(_der(0x30, _der_oid(o) + v)
                               for o, v in items))


# --- the certificate chain ------------------------------------------------

def _name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "attest test"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])


def _cert(subject, subject_key, issuer, issuer_key, ca, pathlen=None,
          extra=()):
    pub = subject_key.public_key()
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer)
         .public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(_NOT_BEFORE)
         .not_valid_after(_NOT_AFTER)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen),
                        critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=not ca, content_commitment=not ca,
             key_encipherment=False, data_encipherment=False,
             key_agreement=False, key_cert_sign=ca, crl_sign=ca,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub),
                        critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             issuer_key.public_key()), critical=False))
    for ext in extra:
        b = b.add_extension(ext, critical=False)
    return b.sign(issuer_key, hashes.SHA256())


class _Chain:
    """root -> platform CA -> PCK leaf, all P-256 / ecdsa-with-SHA256."""

    def __init__(self, label):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())

        root_name = _name("%s SGX Root CA" % label)
        ca_name = _name("%s SGX PCK Platform CA" % label)

        self.root = _cert(root_name, self.root_key, root_name, self.root_key,
                          True, None)
        self.ca = _cert(ca_name, self.ca_key, root_name, self.root_key,
                        True, 0)
        self.leaf = _cert(_name("%s SGX PCK Certificate" % label),
                          self.leaf_key, ca_name, self.ca_key, False,
                          extra=[x509.UnrecognizedExtension(
                              x509.ObjectIdentifier(SGX_EXT_OID),
                              sgx_extension())])

    def pem(self):
        return b"".join(c.public_bytes(serialization.Encoding.PEM)
                        for c in (self.leaf, self.ca, self.root))


_CHAINS = {}


def _chain(which):
    if which not in _CHAINS:
        _CHAINS[which] = _Chain("Test" if which == "main" else "Other")
    return _CHAINS[which]


# --- quote pieces ---------------------------------------------------------

def _sign_raw(key, msg):
    """ECDSA P-256 / SHA-256, raw r || s (32 bytes each, big-endian)."""
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_pub(key):
    """X || Y of a P-256 public key."""
    return key.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)[1:]


def _fill(tag, n):
    return hashlib.shake_256(tag).digest(n)


def td_body(report_data, mrtd, rtmr, debug, td15):
    attrs = bytearray(TD_ATTRIBUTES)
    if debug:
        attrs[0] |= 0x01
    body = (_fill(b"tee_tcb_svn", 16)
            + _fill(b"mrseam", 48)
            + bytes(48)                          # MRSIGNERSEAM (Intel: 0)
            + bytes(8)                           # SEAMATTRIBUTES
            + bytes(attrs)
            + bytes.fromhex("e702060000000000")  # XFAM
            + mrtd
            + bytes(48 * 3)                      # MRCONFIGID, MROWNER, ...
            + b"".join(rtmr)
            + report_data)
    assert len(body) == TD10_BODY_LEN
    if td15:
        body += _fill(b"tee_tcb_svn2", 16) + _fill(b"mrservicetd", 48)
        assert len(body) == TD15_BODY_LEN
    return body


def qe_report(report_data):
    """SGX report body of the quoting enclave; report_data at 320."""
    rep = (_fill(b"cpusvn", 16)
           + struct.pack("<I", 0)               # MISCSELECT
           + bytes(28)
           + _fill(b"attributes", 16)
           + _fill(b"mrenclave", 32)
           + bytes(32)
           + _fill(b"mrsigner", 32)
           + bytes(96)
           + struct.pack("<HH", 2, 4)           # ISVPRODID, ISVSVN
           + bytes(60)
           + report_data)
    assert len(rep) == QE_REPORT_LEN
    return rep


def report_data_nonce(nonce):
    """io.net layout: nonce (32 bytes or hex) || 32 zero bytes."""
    nonce = _bytes(nonce)
    assert len(nonce) == 32
    return nonce + bytes(32)


def report_data_address_nonce(address_hex, nonce):
    """vLLM-proxy layout: address (20) || 12 zero bytes || nonce (32)."""
    addr = _bytes(address_hex)
    nonce = _bytes(nonce)
    assert len(addr) == 20 and len(nonce) == 32
    return addr + bytes(12) + nonce


def _bytes(v):
    if isinstance(v, str):
        v = v[2:] if v[:2] in ("0x", "0X") else v
        return bytes.fromhex(v)
    return bytes(v)


class TdxAuthority:
    """Issues TDX quotes under a test root, with one attestation key."""

    def __init__(self):
        self._chain = _chain("main")
        self._att_key = ec.generate_private_key(ec.SECP256R1())

    def root_pem(self):
        return self._chain.root.public_bytes(serialization.Encoding.PEM)

    def write_root(self, path):
        with open(path, "wb") as f:
            f.write(self.root_pem())

    def quote(self, report_data, mode="ok", version=4, mrtd=None, rtmr=None,
              debug=False, body_type=None):
        report_data = _bytes(report_data)
        if len(report_data) != 64:
            raise ValueError("report_data must be 64 bytes")
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        if version not in (4, 5):
            raise ValueError("version must be 4 or 5")
        if body_type is None:
            body_type = 3 if version == 5 else 2
        if version == 4 and body_type != 2:
            raise ValueError("version 4 carries a TD 1.0 body only")

        mrtd = DEFAULT_MRTD if mrtd is None else _bytes(mrtd)
        rtmr = DEFAULT_RTMR if rtmr is None else [_bytes(r) for r in rtmr]
        assert len(mrtd) == 48 and len(rtmr) == 4
        assert all(len(r) == 48 for r in rtmr)

        chain = _chain("other" if mode == "other_root" else "main")

        body = td_body(report_data, mrtd, rtmr, debug, body_type == 3)
        header = (struct.pack("<HHI", version, ATT_KEY_TYPE_ECDSA_P256,
                              TEE_TYPE_TDX)
                  + bytes(4)
                  + INTEL_QE_VENDOR_ID
                  + _fill(b"user data", 20))
        signed = header
        if version == 5:
            signed += struct.pack("<HI", body_type, len(body))
        signed += body

        # a well-formed signature over other bytes: only the math fails
        sig = _sign_raw(self._att_key,
                        signed + b"!" if mode == "bad_signature" else signed)

        att_pub = _raw_pub(self._att_key)
        binding = hashlib.sha256(att_pub + QE_AUTH_DATA).digest()
        rep = qe_report(binding + bytes(32))
        qe_sig = _sign_raw(chain.leaf_key,
                           rep + b"!" if mode == "bad_qe_signature" else rep)

        # real quotes end the PEM with a NUL byte
        pem = chain.pem() + b"\x00"
        cert5 = struct.pack("<HI", 5, len(pem)) + pem
        cert6 = (rep + qe_sig + struct.pack("<H", len(QE_AUTH_DATA))
                 + QE_AUTH_DATA + cert5)
        sig_data = (sig + att_pub + struct.pack("<HI", 6, len(cert6))
                    + cert6)

        return signed + struct.pack("<I", len(sig_data)) + sig_data


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    nonce = bytes.fromhex(argv[3]) if len(argv) > 3 else bytes(32)
    version = int(argv[4]) if len(argv) > 4 else 4
    a = TdxAuthority()
    a.write_root(argv[1])
    q = a.quote(report_data_nonce(nonce.ljust(32, b"\0")), version=version)
    with open(argv[2], "w") as f:
        f.write(q.hex() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
