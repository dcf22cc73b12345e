/*
 * Keccak-256: published known answers, answers computed independently with
 * pycryptodome (hardcoded here and regenerated into build/vectors by
 * tests/vectors/gen_eth.py), and incremental == one-shot for every split.
 */

#include <stdint.h>

#include "attest_codec.h"
#include "attest_keccak.h"
#include "tap.h"


static void
hex32(const uint8_t d[32], char out[65])
{
    attest_hex_encode(d, 32, out);
}


/* keccak256 of len bytes, each c, from an exact-size heap buffer */
static void
keccak_repeat(uint8_t c, size_t len, char out[65])
{
    uint8_t  *buf, d[32];

    buf = malloc(len ? len : 1);
    memset(buf, c, len);
    attest_keccak256(buf, len, d);
    free(buf);
    hex32(d, out);
}


static void
test_known_answers(void)
{
    char     hex[65];
    uint8_t  d[32];

    /*
     * keccak256("") is Ethereum's empty code hash, quoted in EIP-1052
     * (EXTCODEHASH of an account without code).
     */
    attest_keccak256((const uint8_t *) "", 0, d);
    hex32(d, hex);
    is_str(hex,
           "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
           "keccak256(\"\") (EIP-1052)");

    /*
     * keccak256("abc"): the web3.py documentation's example
     * soliditySha3(['uint8', 'uint8', 'uint8'], [97, 98, 99]).
     */
    attest_keccak256((const uint8_t *) "abc", 3, d);
    hex32(d, hex);
    is_str(hex,
           "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
           "keccak256(\"abc\") (web3.py docs)");

    /* not SHA3-256, whose "" digest is a7ffc6f8...f8434a (FIPS 202) */
    attest_keccak256((const uint8_t *) "", 0, d);
    ok(d[0] != 0xa7 || d[1] != 0xff, "Keccak padding 0x01, not SHA-3's 0x06");

    /*
     * Around the 136-byte rate: 135 bytes (padding fits in the block:
     * the 0x01 and 0x80 bits share the last byte), 136 (a whole block of
     * padding follows), 137, and 1000.  Inputs are repeated 'a'; expected
     * values computed with pycryptodome's Cryptodome.Hash.keccak
     * (digest_bits=256), an implementation independent of this one.
     */
    keccak_repeat('a', 135, hex);
    is_str(hex,
           "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446",
           "keccak256('a' x 135)");

    keccak_repeat('a', 136, hex);
    is_str(hex,
           "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e",
           "keccak256('a' x 136)");

    keccak_repeat('a', 137, hex);
    is_str(hex,
           "d869f639c7046b4929fc92a4d988a8b22c55fbadb802c0c66ebcd484f1915f39",
           "keccak256('a' x 137)");

    keccak_repeat('a', 1000, hex);
    is_str(hex,
           "b6a4ac1f51884d71f30fa397a5e155de3099e11fc0edef5d08b646e621e19de9",
           "keccak256('a' x 1000)");
}


static void
test_incremental(void)
{
    size_t           i, j, bad;
    uint8_t          in[300], *buf, want[32], got[32];
    char             hex[65];
    attest_keccak_t  k;

    /* bytes 0, 1, ..., 255, 0, 1, ...: pycryptodome gives a679e749... */
    for (i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t) i;
    }

    attest_keccak256(in, sizeof(in), want);
    hex32(want, hex);
    is_str(hex,
           "a679e749a6af300c36e7ff2255d220864eab27b382f9cfdc5aa4d13563ba36ff",
           "keccak256(bytes i mod 256, 300 bytes) (pycryptodome)");

    /* every two-way split, from exact-size heap copies for valgrind */
    bad = 0;

    for (i = 0; i <= sizeof(in); i++) {
        attest_keccak256_init(&k);

        buf = malloc(i ? i : 1);
        memcpy(buf, in, i);
        attest_keccak256_update(&k, buf, i);
        free(buf);

        buf = malloc(sizeof(in) - i ? sizeof(in) - i : 1);
        memcpy(buf, in + i, sizeof(in) - i);
        attest_keccak256_update(&k, buf, sizeof(in) - i);
        free(buf);

        attest_keccak256_final(&k, got);

        if (memcmp(got, want, 32) != 0) {
            tap_diag("  split at %zu differs", i);
            bad++;
        }
    }

    is_int(bad, 0, "all 301 two-way splits of 300 bytes equal one-shot");

    /* byte at a time, and empty updates in between */
    attest_keccak256_init(&k);

    for (i = 0; i < sizeof(in); i++) {
        attest_keccak256_update(&k, in + i, 1);
        attest_keccak256_update(&k, in, 0);
    }

    attest_keccak256_final(&k, got);
    ok(memcmp(got, want, 32) == 0, "byte-at-a-time equals one-shot");

    /* three-way splits across both block boundaries */
    bad = 0;

    for (i = 0; i <= sizeof(in); i += 7) {
        for (j = i; j <= sizeof(in); j += 5) {
            attest_keccak256_init(&k);
            attest_keccak256_update(&k, in, i);
            attest_keccak256_update(&k, in + i, j - i);
            attest_keccak256_update(&k, in + j, sizeof(in) - j);
            attest_keccak256_final(&k, got);

            if (memcmp(got, want, 32) != 0) {
                bad++;
            }
        }
    }

    is_int(bad, 0, "three-way splits equal one-shot");

    /* final leaves a fresh context behind */
    attest_keccak256_update(&k, (const uint8_t *) "abc", 3);
    attest_keccak256_final(&k, got);
    hex32(got, hex);
    is_str(hex,
           "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
           "a finished context hashes afresh");
}


/*
 * A second public source: the Keccak team's own known answers for
 * Keccak-256 (r = 1088, c = 512, the original padding), files
 * ShortMsgKAT_256.txt and LongMsgKAT_256.txt of "Keccak: Known-answer and
 * Monte Carlo test results", version 3.0, KeccakKAT-3.zip (2011; now at
 * https://keccak.team/obsolete/KeccakKAT-3.zip).  The 244- and 256-byte
 * messages cross the 136-byte rate boundary.
 */
static const char  *keccak_kat[][2] = {
    /* ShortMsgKAT_256, Len = 0: 0 bytes */
    { "",
      "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470" },
    /* ShortMsgKAT_256, Len = 8: 1 byte */
    { "cc",
      "eead6dbfc7340a56caedc044696a168870549a6a7f6f56961e84a54bd9970b8a" },
    /* ShortMsgKAT_256, Len = 920: 115 bytes */
    { "b55c10eae0ec684c16d13463f29291bf26c82e2fa0422a99c71db4af14dd9c7f33eda5"
      "2fd73d017cc0f2dbe734d831f0d820d06d5f89dacc485739144f8cfd4799223b1aff90"
      "31a105cb6a029ba71e6e5867d85a554991c38df3c9ef8c1e1e9a7630be61caabca6928"
      "0c399c1fb7a12d12aefc",
      "0347901965d3635005e75a1095695cca050bc9ed2d440c0372a31b348514a889" },
    /* ShortMsgKAT_256, Len = 1952: 244 bytes */
    { "2edc282ffb90b97118dd03aaa03b145f363905e3cbd2d50ecd692b37bf000185c651d3"
      "e9726c690d3773ec1e48510e42b17742b0b0377e7de6b8f55e00a8a4db4740cee6db08"
      "30529dd19617501dc1e9359aa3bcf147e0a76b3ab70c4984c13e339e6806bb35e683af"
      "8527093670859f3d8a0fc7d493bcba6bb12b5f65e71e705ca5d6c948d66ed3d730b26d"
      "b395b3447737c26fad089aa0ad0e306cb28bf0acf106f89af3745f0ec72d534968cca5"
      "43cd2ca50c94b1456743254e358c1317c07a07bf2b0eca438a709367fafc89a5723902"
      "8fc5fecfd53b8ef958ef10ee0608b7f5cb9923ad97058ec067700cc746c127a61ee3",
      "dd1d2a92b3f3f3902f064365838e1f5f3468730c343e2974e7a9ecfcd84aa6db" },
    /* LongMsgKAT_256, Len = 2048: 256 bytes */
    { "724627916c50338643e6996f07877eafd96bdf01da7e991d4155b9be1295ea7d21c939"
      "1f4c4a41c75f77e5d27389253393725f1427f57914b273ab862b9e31dabce506e55872"
      "0520d33352d119f699e784f9e548ff91bc35ca147042128709820d69a8287ea3257857"
      "615eb0321270e94b84f446942765ce882b191faee7e1c87e0f0bd4e0cd8a927703524b"
      "559b769ca4ece1f6dbf313fdcf67c572ec4185c1a88e86ec11b6454b371980020f1963"
      "3b6b95bd280e4fbcb0161e1a82470320cec6ecfa25ac73d09f1536f286d3f9dacafb2c"
      "d1d0ce72d64d197f5c7520b3ccb2fd74eb72664ba93853ef41eabf52f015dd591500d0"
      "18dd162815cc993595b195",
      "ea0e416c0f7b4f11e3f00479fddf954f2539e5e557753bd546f69ee375a5de29" },
};


static void
test_second_source(void)
{
    char             hex[65];
    size_t           i, j, n, len;
    uint8_t         *in, d[32];
    attest_keccak_t  k;

    for (i = 0; i < sizeof(keccak_kat) / sizeof(keccak_kat[0]); i++) {
        len = strlen(keccak_kat[i][0]);
        n = len / 2;
        in = malloc(n ? n : 1);

        if (attest_hex_decode(keccak_kat[i][0], len, in) != 0) {
            ok(0, "KAT %zu: bad hex", i);
            free(in);
            continue;
        }

        attest_keccak256(in, n, d);
        hex32(d, hex);
        is_str(hex, keccak_kat[i][1], "Keccak team KAT, %zu bytes", n);

        /* and a byte at a time */
        attest_keccak256_init(&k);

        for (j = 0; j < n; j++) {
            attest_keccak256_update(&k, in + j, 1);
        }

        attest_keccak256_final(&k, d);
        hex32(d, hex);
        is_str(hex, keccak_kat[i][1], "Keccak team KAT, %zu bytes, bytewise",
               n);

        free(in);
    }

    /*
     * Ethereum's ERC-20 event topics (EIP-20): every Transfer and Approval
     * log on chain carries keccak256 of the event signature as topic 0,
     * and the function selector of transfer() is its hash's first 4 bytes.
     */
    attest_keccak256((const uint8_t *) "Transfer(address,address,uint256)",
                     33, d);
    hex32(d, hex);
    is_str(hex,
           "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
           "ERC-20 Transfer event topic");

    attest_keccak256((const uint8_t *) "Approval(address,address,uint256)",
                     33, d);
    hex32(d, hex);
    is_str(hex,
           "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
           "ERC-20 Approval event topic");

    attest_keccak256((const uint8_t *) "transfer(address,uint256)", 25, d);
    hex32(d, hex);
    hex[8] = '\0';
    is_str(hex, "a9059cbb", "ERC-20 transfer() selector 0xa9059cbb");
}


/* build/vectors/keccak.txt: input_hex TAB digest_hex, from pycryptodome */
static void
test_vectors(void)
{
    char             hex[65], *line, *tab, *nl, *end;
    size_t           len, n, lines, bad, half;
    uint8_t         *in, d[32];
    unsigned char   *file;
    attest_keccak_t  k;

    file = tap_vector_file("keccak.txt", &len);
    if (file == NULL) {
        return;
    }

    lines = 0;
    bad = 0;
    line = (char *) file;
    end = (char *) file + len;

    while (line < end) {
        nl = memchr(line, '\n', end - line);
        if (nl == NULL) {
            nl = end;
        }

        tab = memchr(line, '\t', nl - line);
        if (tab == NULL || nl - tab - 1 != 64) {
            tap_diag("  malformed line %zu", lines + 1);
            bad++;
            break;
        }

        n = (size_t) (tab - line) / 2;
        in = malloc(n ? n : 1);

        if (attest_hex_decode(line, tab - line, in) != 0) {
            bad++;

        } else {
            attest_keccak256(in, n, d);
            hex32(d, hex);

            if (memcmp(hex, tab + 1, 64) != 0) {
                tap_diag("  %zu-byte input differs", n);
                bad++;
            }

            /* and the same input in two halves */
            half = n / 2;

            attest_keccak256_init(&k);
            attest_keccak256_update(&k, in, half);
            attest_keccak256_update(&k, in + half, n - half);
            attest_keccak256_final(&k, d);
            hex32(d, hex);

            if (memcmp(hex, tab + 1, 64) != 0) {
                tap_diag("  %zu-byte input in halves differs", n);
                bad++;
            }
        }

        free(in);
        lines++;
        line = nl + 1;
    }

    free(file);

    ok(lines >= 300, "keccak.txt has %zu vectors", lines);
    is_int(bad, 0, "every keccak.txt vector matches pycryptodome");
}


int
main(void)
{
    test_known_answers();
    test_incremental();
    test_second_source();
    test_vectors();

    return tap_done();
}
