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
    test_vectors();

    return tap_done();
}
