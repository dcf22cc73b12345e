#!/usr/bin/python3
"""Independent Ethereum personal_sign (EIP-191 version 0x45) signer.

Built only on python3-ecdsa (secp256k1 arithmetic, RFC 6979 nonces) and
pycryptodome's Keccak, so that the C core's verifier is tested against
signatures it had no part in making.  Behaves like eth_account's
encode_defunct(text=...) + sign_message(): RFC 6979 nonce with SHA-256,
low-s normalization, v = 27 + recovery id.

    new_key() -> bytes
    address(priv) -> "0x" + EIP-55 checksummed hex
    sign_personal(priv, text, v_base=27, prefix="0x") -> hex r || s || v
    keccak256(b) -> bytes
    personal_digest(text) -> bytes
    recover_personal(text, sig_hex) -> checksummed address or None
"""

import hashlib
import secrets

from Cryptodome.Hash import keccak as _keccak
from ecdsa import SECP256k1, SigningKey
from ecdsa.ellipticcurve import INFINITY, Point
from ecdsa.util import sigencode_strings

N = SECP256k1.order
_CURVE = SECP256k1.curve
_G = SECP256k1.generator


def keccak256(b):
    """Keccak-256 with the original 0x01 padding (not SHA3-256)."""
    return _keccak.new(digest_bits=256, data=bytes(b)).digest()


def _to_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def personal_digest(text):
    """keccak256("\\x19Ethereum Signed Message:\\n" + len + text)."""
    msg = _to_bytes(text)
    prefix = b"\x19Ethereum Signed Message:\n" + str(len(msg)).encode()
    return keccak256(prefix + msg)


def checksum(addr20):
    """EIP-55: uppercase hex letter i when nibble i of keccak(hex) >= 8."""
    low = addr20.hex()
    h = keccak256(low.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(h[i], 16) >= 8 else c
                          for i, c in enumerate(low))


def pubkey_address(pub64):
    """Address of a 64-byte uncompressed public key X || Y."""
    return checksum(keccak256(pub64)[-20:])


def new_key():
    """A random private key, 32 bytes, in [1, n - 1]."""
    while True:
        k = secrets.token_bytes(32)
        if 0 < int.from_bytes(k, "big") < N:
            return k


def _signing_key(priv):
    if len(priv) != 32:
        raise ValueError("private key must be 32 bytes")
    return SigningKey.from_string(bytes(priv), curve=SECP256k1)


def public_key(priv):
    """64-byte uncompressed public key X || Y."""
    return _signing_key(priv).get_verifying_key().to_string()


def address(priv):
    return pubkey_address(public_key(priv))


def _recover_point(digest, r, s, recid):
    """Q = r^-1 (s R - e G) with R the point of x = r and y parity recid.

    Returns None when no such point exists.  Only recid 0 and 1 are used:
    x = r + n (recid 2, 3) has probability ~2^-128 and eth_account never
    produces it either.
    """
    p = _CURVE.p()
    x = r
    alpha = (pow(x, 3, p) + _CURVE.a() * x + _CURVE.b()) % p
    y = pow(alpha, (p + 1) // 4, p)
    if y * y % p != alpha:
        return None
    if y % 2 != recid % 2:
        y = p - y
    big_r = Point(_CURVE, x, y, N)
    e = int.from_bytes(digest, "big") % N
    r_inv = pow(r, -1, N)
    q = (big_r * s + _G * ((-e) % N)) * r_inv
    if q == INFINITY or q.x() is None:
        return None
    return q.x().to_bytes(32, "big") + q.y().to_bytes(32, "big")


def sign_digest(priv, digest):
    """(r, s, recid) for a 32-byte digest: RFC 6979, low s."""
    sk = _signing_key(priv)
    pub = sk.get_verifying_key().to_string()
    rb, sb = sk.sign_digest_deterministic(digest, hashfunc=hashlib.sha256,
                                          sigencode=sigencode_strings)
    r = int.from_bytes(rb, "big")
    s = int.from_bytes(sb, "big")
    if s > N // 2:
        s = N - s

    # The recovery id is whichever y parity brings our own key back.
    for recid in (0, 1):
        if _recover_point(digest, r, s, recid) == pub:
            return r, s, recid

    raise RuntimeError("no recovery id reproduces the public key")


def sign_personal(priv, text, v_base=27, prefix="0x"):
    """Hex of r || s || v over personal_digest(text), like eth_account."""
    if v_base not in (0, 27):
        raise ValueError("v_base must be 0 or 27")
    r, s, recid = sign_digest(priv, personal_digest(text))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v_base
                                                                 + recid])
    return prefix + sig.hex()


def recover_personal(text, sig_hex):
    """Signer's checksummed address, or None (helper for other tests)."""
    if sig_hex[:2] in ("0x", "0X"):
        sig_hex = sig_hex[2:]
    sig = bytes.fromhex(sig_hex)
    if len(sig) != 65:
        return None
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    v = sig[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1) or not 0 < r < N or not 0 < s < N:
        return None
    pub = _recover_point(personal_digest(text), r, s, v)
    return None if pub is None else pubkey_address(pub)


if __name__ == "__main__":
    # Self-check against the public web3.py / eth_account documentation
    # example ("Sign a Message": I♥SF with this key).
    key = bytes.fromhex("b25c7db31feed9122727bf0939dc769a96564b2de4c4726d"
                        "035b36ecf1e5b364")
    assert address(key) == "0x5ce9454909639D2D17A3F753ce7d93fa0b9aB12E"
    assert sign_personal(key, "I♥SF") == (
        "0xe6ca9bba58c88611fad66a6ce8f996908195593807c4b38bd528d2cff09d4eb3"
        "3e5bfbbf4d3e39b1a2fd816a7680c19ebebaf3a141b239934ad43cb33fcec8ce1c")
    print("ok")
