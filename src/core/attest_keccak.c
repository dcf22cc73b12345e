/*
 * Keccak-256: the Keccak-f[1600] permutation in a sponge of rate 136 bytes
 * (capacity 512 bits), written from the Keccak reference specification.
 * Lanes are 64-bit words, lane (x, y) at state[x + 5 * y], bytes absorbed
 * little-endian into lanes (assembled byte by byte, so independent of
 * host endianness and alignment).
 *
 * Every verified response costs three permutations (two for the EIP-191
 * digest, one for the signer's address), so the permutation is unrolled:
 * the 25 lanes live in local variables, two rounds a pass, and 8 lanes
 * stay complemented inside it, which saves chi 19 of its 25 NOTs a round
 * (scripts/gen-keccak-round.py writes the round and explains the set).
 * About 0.3 us a permutation on a 2.1 GHz EPYC, near OpenSSL's assembly
 * SHA3-256 (bench/bench_core.c; bench/RESULTS.md).
 */

#include <string.h>

#include "attest_keccak.h"


#define ATTEST_KECCAK_ROUNDS  24


/* round constants of the iota step */
static const uint64_t  attest_keccak_rc[ATTEST_KECCAK_ROUNDS] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
    0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL
};

/* rotation by a constant 1..63 (rho never rotates by 0 here) */
#define ATTEST_ROTL(v, n)  (((v) << (n)) | ((v) >> (64 - (n))))

/*
 * One round, unrolled, from the 25 lanes i##xy (lane x, y) into o##xy,
 * written by scripts/gen-keccak-round.py.  theta: c = column parities,
 * d[x] = c[x-1] ^ rot(c[x+1], 1); rho and pi: B[y, 2x + 3y] =
 * rot(A[x, y] ^ d[x], r[x, y]), so output row Y takes its b0..b4 from the
 * lanes (x, y) with y = X and x = 3 (Y - 3X) mod 5; chi row by row, on the
 * complemented lanes by De Morgan: ~b1 & b2 is b1 & b2 when b1 arrives
 * complemented, ~(b1 | b2) when b2 does; iota.
 */
#define ATTEST_KECCAK_ROUND(i, o, rc)                                         \
    do {                                                                      \
        c0 = i##00 ^ i##01 ^ i##02 ^ i##03 ^ i##04;                           \
        c1 = i##10 ^ i##11 ^ i##12 ^ i##13 ^ i##14;                           \
        c2 = i##20 ^ i##21 ^ i##22 ^ i##23 ^ i##24;                           \
        c3 = i##30 ^ i##31 ^ i##32 ^ i##33 ^ i##34;                           \
        c4 = i##40 ^ i##41 ^ i##42 ^ i##43 ^ i##44;                           \
        d0 = c4 ^ ATTEST_ROTL(c1, 1);                                         \
        d1 = c0 ^ ATTEST_ROTL(c2, 1);                                         \
        d2 = c1 ^ ATTEST_ROTL(c3, 1);                                         \
        d3 = c2 ^ ATTEST_ROTL(c4, 1);                                         \
        d4 = c3 ^ ATTEST_ROTL(c0, 1);                                         \
        b0 = i##00 ^ d0;                                                      \
        b1 = ATTEST_ROTL(i##11 ^ d1, 44);                                     \
        b2 = ATTEST_ROTL(i##22 ^ d2, 43);                                     \
        b3 = ATTEST_ROTL(i##33 ^ d3, 21);                                     \
        b4 = ATTEST_ROTL(i##44 ^ d4, 14);                                     \
        o##00 = b0 ^ (b1 | b2);                                               \
        o##10 = b1 ^ (b2 & b3);                                               \
        o##20 = b2 ^ (b3 | b4);                                               \
        o##30 = b3 ^ (b4 & b0);                                               \
        o##40 = b4 ^ (~b0 & b1);                                              \
        b0 = ATTEST_ROTL(i##30 ^ d3, 28);                                     \
        b1 = ATTEST_ROTL(i##41 ^ d4, 20);                                     \
        b2 = ATTEST_ROTL(i##02 ^ d0, 3);                                      \
        b3 = ATTEST_ROTL(i##13 ^ d1, 45);                                     \
        b4 = ATTEST_ROTL(i##24 ^ d2, 61);                                     \
        o##01 = b0 ^ (b1 | b2);                                               \
        o##11 = b1 ^ (b2 & b3);                                               \
        o##21 = b2 ^ (b3 | b4);                                               \
        o##31 = b3 ^ (~b4 | b0);                                              \
        o##41 = b4 ^ (b0 & b1);                                               \
        b0 = ATTEST_ROTL(i##10 ^ d1, 1);                                      \
        b1 = ATTEST_ROTL(i##21 ^ d2, 6);                                      \
        b2 = ATTEST_ROTL(i##32 ^ d3, 25);                                     \
        b3 = ATTEST_ROTL(i##43 ^ d4, 8);                                      \
        b4 = ATTEST_ROTL(i##04 ^ d0, 18);                                     \
        o##02 = b0 ^ (b1 & b2);                                               \
        o##12 = b1 ^ (b2 | b3);                                               \
        o##22 = b2 ^ (b3 & b4);                                               \
        o##32 = b3 ^ (~b4 & b0);                                              \
        o##42 = b4 ^ (b0 | b1);                                               \
        b0 = ATTEST_ROTL(i##40 ^ d4, 27);                                     \
        b1 = ATTEST_ROTL(i##01 ^ d0, 36);                                     \
        b2 = ATTEST_ROTL(i##12 ^ d1, 10);                                     \
        b3 = ATTEST_ROTL(i##23 ^ d2, 15);                                     \
        b4 = ATTEST_ROTL(i##34 ^ d3, 56);                                     \
        o##03 = b0 ^ (b1 & b2);                                               \
        o##13 = b1 ^ (b2 | b3);                                               \
        o##23 = b2 ^ (b3 & ~b4);                                              \
        o##33 = b3 ^ (b4 & b0);                                               \
        o##43 = b4 ^ (b0 | b1);                                               \
        b0 = ATTEST_ROTL(i##20 ^ d2, 62);                                     \
        b1 = ATTEST_ROTL(i##31 ^ d3, 55);                                     \
        b2 = ATTEST_ROTL(i##42 ^ d4, 39);                                     \
        b3 = ATTEST_ROTL(i##03 ^ d0, 41);                                     \
        b4 = ATTEST_ROTL(i##14 ^ d1, 2);                                      \
        o##04 = b0 ^ (~b1 & b2);                                              \
        o##14 = ~(b1 ^ (b2 | b3));                                            \
        o##24 = b2 ^ (b3 & b4);                                               \
        o##34 = b3 ^ (b4 | b0);                                               \
        o##44 = b4 ^ (b0 & b1);                                               \
        o##00 ^= (rc);                                                        \
    } while (0)


/* lanes 0, 4, 8, 9, 13, 14, 18, 20: complemented while the rounds run */
#define ATTEST_KECCAK_COMPLEMENT()                                            \
    do {                                                                      \
        a00 = ~a00; a40 = ~a40; a31 = ~a31; a41 = ~a41;                       \
        a32 = ~a32; a42 = ~a42; a33 = ~a33; a04 = ~a04;                       \
    } while (0)


static void
attest_keccak_f1600(uint64_t s[25])
{
    unsigned  r;
    uint64_t  a00, a10, a20, a30, a40, a01, a11, a21, a31, a41,
              a02, a12, a22, a32, a42, a03, a13, a23, a33, a43,
              a04, a14, a24, a34, a44;
    uint64_t  e00, e10, e20, e30, e40, e01, e11, e21, e31, e41,
              e02, e12, e22, e32, e42, e03, e13, e23, e33, e43,
              e04, e14, e24, e34, e44;
    uint64_t  b0, b1, b2, b3, b4, c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;

    a00 = s[0];  a10 = s[1];  a20 = s[2];  a30 = s[3];  a40 = s[4];
    a01 = s[5];  a11 = s[6];  a21 = s[7];  a31 = s[8];  a41 = s[9];
    a02 = s[10]; a12 = s[11]; a22 = s[12]; a32 = s[13]; a42 = s[14];
    a03 = s[15]; a13 = s[16]; a23 = s[17]; a33 = s[18]; a43 = s[19];
    a04 = s[20]; a14 = s[21]; a24 = s[22]; a34 = s[23]; a44 = s[24];

    ATTEST_KECCAK_COMPLEMENT();

    /* two rounds a pass, a -> e -> a: no lane copies between rounds */
    for (r = 0; r < ATTEST_KECCAK_ROUNDS; r += 2) {
        ATTEST_KECCAK_ROUND(a, e, attest_keccak_rc[r]);
        ATTEST_KECCAK_ROUND(e, a, attest_keccak_rc[r + 1]);
    }

    ATTEST_KECCAK_COMPLEMENT();

    s[0] = a00;  s[1] = a10;  s[2] = a20;  s[3] = a30;  s[4] = a40;
    s[5] = a01;  s[6] = a11;  s[7] = a21;  s[8] = a31;  s[9] = a41;
    s[10] = a02; s[11] = a12; s[12] = a22; s[13] = a32; s[14] = a42;
    s[15] = a03; s[16] = a13; s[17] = a23; s[18] = a33; s[19] = a43;
    s[20] = a04; s[21] = a14; s[22] = a24; s[23] = a34; s[24] = a44;
}


static void
attest_keccak_xor_byte(attest_keccak_t *k, size_t pos, uint8_t byte)
{
    k->state[pos / 8] ^= (uint64_t) byte << (8 * (pos % 8));
}


void
attest_keccak256_init(attest_keccak_t *k)
{
    memset(k, 0, sizeof(attest_keccak_t));
}


/* 8 bytes as a little-endian lane: one load on x86 and ARM */
static uint64_t
attest_keccak_load64(const uint8_t *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


void
attest_keccak256_update(attest_keccak_t *k, const uint8_t *in, size_t len)
{
    size_t  i;

    while (len != 0) {

        if (k->pos == 0 && len >= ATTEST_KECCAK256_RATE) {
            /* a whole block, a lane at a time */
            for (i = 0; i < ATTEST_KECCAK256_RATE / 8; i++) {
                k->state[i] ^= attest_keccak_load64(in + 8 * i);
            }

            k->pos = ATTEST_KECCAK256_RATE;
            in += ATTEST_KECCAK256_RATE;
            len -= ATTEST_KECCAK256_RATE;

        } else if (k->pos % 8 == 0 && len >= 8) {
            /* a lane of a partial block */
            k->state[k->pos / 8] ^= attest_keccak_load64(in);
            k->pos += 8;
            in += 8;
            len -= 8;

        } else {
            attest_keccak_xor_byte(k, k->pos++, *in++);
            len--;
        }

        if (k->pos == ATTEST_KECCAK256_RATE) {
            attest_keccak_f1600(k->state);
            k->pos = 0;
        }
    }
}


void
attest_keccak256_final(attest_keccak_t *k, uint8_t out[32])
{
    size_t  i;

    /*
     * pad10*1 with Keccak's original domain byte 0x01 (SHA3-256 would use
     * 0x06); when pos == RATE - 1 both bits land in the same byte (0x81).
     * pos is always < RATE here: update permutes as soon as a block fills.
     */
    attest_keccak_xor_byte(k, k->pos, 0x01);
    attest_keccak_xor_byte(k, ATTEST_KECCAK256_RATE - 1, 0x80);
    attest_keccak_f1600(k->state);

    for (i = 0; i < 32; i++) {
        out[i] = (uint8_t) (k->state[i / 8] >> (8 * (i % 8)));
    }

    /* a finished context is left as a freshly initialized one */
    memset(k, 0, sizeof(attest_keccak_t));
}


void
attest_keccak256(const uint8_t *in, size_t len, uint8_t out[32])
{
    attest_keccak_t  k;

    attest_keccak256_init(&k);
    attest_keccak256_update(&k, in, len);
    attest_keccak256_final(&k, out);
}
