#!/usr/bin/python3
"""Vectors for test_keccak and test_eth, from implementations independent
of the C core: pycryptodome's Keccak and t/upstream/ethsign.py (ecdsa).

    gen_eth.py OUTDIR

writes into OUTDIR:
    keccak.txt        input_hex TAB keccak256_hex
    eth_personal.txt  text_hex TAB personal_digest_hex
    eth_sigs.txt      address TAB sig_hex TAB text_hex

The RNG is seeded, so the files are the same on every run (a failure can
be reproduced); ATTEST_VECTOR_SEED overrides the seed.
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "t", "upstream"))

import ethsign  # noqa: E402

SEED = int(os.environ.get("ATTEST_VECTOR_SEED", "20240519"))
PREFIX_LEN = len(b"\x19Ethereum Signed Message:\n")


def keccak_inputs(rng):
    yield b""
    yield b"abc"
    # every length across the first two 136-byte block boundaries
    pattern = bytes(i % 256 for i in range(300))
    for n in range(0, 301):
        yield pattern[:n]
    for n in (135, 136, 137, 271, 272, 273, 1000):
        yield b"a" * n
    for n in (1000, 4096, 10000):
        yield bytes(rng.getrandbits(8) for _ in range(n))


def personal_texts(rng):
    # lengths with 1 to 6 decimal digits, and the ones that put the end of
    # prefix + decimal + text right at a 136-byte block boundary
    for n in (0, 1, 9, 10, 99, 100, 106, 107, 108, 242, 243, 244, 999,
              1000, 10000, 100000):
        yield bytes(rng.getrandbits(8) for _ in range(n))
    yield "I♥SF".encode()
    yield b"Hello World"


def printable(rng, n):
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789 .,:;!?-_{}[]\"'")
    return "".join(rng.choice(alphabet) for _ in range(n)).encode()


def sig_texts(rng):
    """The texts to sign, bytes; >= 150 of them."""
    texts = [
        b"",
        "I♥SF".encode(),
        b"Hello World",
        "h\u00e9llo w\u00f6rld, \u00e7a va? \u00df\u00e6\u00f8".encode(),
        "\u4f60\u597d\u4e16\u754c".encode(),
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440".encode(),
        "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644"
        "\u0645".encode(),
        "\U0001f510\U0001f916\u2705 attested \U0001f680".encode(),
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\U0001f3f3\ufe0f\u200d"
        "\U0001f308".encode(),
        b"\x00",
        b"\n",
        b"line one\nline two\r\n\ttab",
        printable(rng, 10240),
        bytes(rng.getrandbits(8) for _ in range(10240)),
    ]

    # io.net's text header: request_hash:response_hash
    for _ in range(40):
        texts.append(("%064x:%064x" % (rng.getrandbits(256),
                                       rng.getrandbits(256))).encode())

    # prefix + decimal + text on and around a block boundary
    for n in list(range(104, 111)) + list(range(240, 247)):
        texts.append(printable(rng, n))

    # random printable, random UTF-8, random bytes
    for _ in range(30):
        texts.append(printable(rng, rng.randint(1, 600)))
    for _ in range(30):
        texts.append("".join(chr(rng.choice([rng.randint(0x20, 0x7e),
                                             rng.randint(0xa0, 0x7ff),
                                             rng.randint(0x800, 0xd7ff),
                                             rng.randint(0x10000, 0x1f9ff)]))
                             for _ in range(rng.randint(1, 120)))
                     .encode())
    for _ in range(30):
        texts.append(bytes(rng.getrandbits(8)
                           for _ in range(rng.randint(1, 300))))

    return texts


def rng_key(rng):
    while True:
        k = rng.getrandbits(256)
        if 0 < k < ethsign.N:
            return k.to_bytes(32, "big")


def high_s(sig_hex):
    """The same signature with s -> n - s and the recovery id flipped:
    still valid ECDSA, which the verifier must not reject."""
    body = bytes.fromhex(sig_hex[2:] if sig_hex.startswith("0x") else sig_hex)
    s = ethsign.N - int.from_bytes(body[32:64], "big")
    v = 27 + ((body[64] - 27) ^ 1)
    return "0x" + (body[:32] + s.to_bytes(32, "big") + bytes([v])).hex()


def main():
    out = sys.argv[1]
    rng = random.Random(SEED)
    os.makedirs(out, exist_ok=True)

    with open(os.path.join(out, "keccak.txt"), "w") as f:
        for data in keccak_inputs(rng):
            f.write("%s\t%s\n" % (data.hex(), ethsign.keccak256(data).hex()))

    with open(os.path.join(out, "eth_personal.txt"), "w") as f:
        for text in personal_texts(rng):
            f.write("%s\t%s\n" % (text.hex(),
                                  ethsign.personal_digest(text).hex()))

    keys = [rng_key(rng) for _ in range(16)]
    lines = []

    for i, text in enumerate(sig_texts(rng)):
        key = keys[i % len(keys)]
        addr = ethsign.address(key)
        # cycle through the four encodings the wire may carry
        v_base = 27 if (i // 2) % 2 == 0 else 0
        prefix = "0x" if i % 2 == 0 else ""
        sig = ethsign.sign_personal(key, text, v_base=v_base, prefix=prefix)

        assert ethsign.recover_personal(text, sig) == addr
        lines.append((addr, sig, text))

        if i % 10 == 3:
            # uppercase hex digits are hex too
            lines.append((addr, prefix + sig[len(prefix):].upper(), text))

        if i % 12 == 5:
            hs = high_s(ethsign.sign_personal(key, text))
            assert ethsign.recover_personal(text, hs) == addr
            lines.append((addr, hs, text))

    assert len(lines) >= 150

    with open(os.path.join(out, "eth_sigs.txt"), "w") as f:
        for addr, sig, text in lines:
            f.write("%s\t%s\t%s\n" % (addr, sig, text.hex()))

    print("gen_eth: seed %d, %d signatures" % (SEED, len(lines)))


if __name__ == "__main__":
    main()
