/*
 * Keccak-256: the Keccak-f[1600] permutation in a sponge of rate 136 bytes
 * (capacity 512 bits), written from the Keccak reference specification.
 * Lanes are 64-bit words, lane (x, y) at state[x + 5 * y], bytes absorbed
 * little-endian into lanes; byte-wise absorption keeps it independent of
 * host endianness and alignment.  Inputs here are small (signed texts of
 * ~130 bytes, 40-character addresses), so clarity beats speed.
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

/* rho rotation offsets r[x, y], indexed x + 5 * y */
static const unsigned  attest_keccak_rho[25] = {
     0,  1, 62, 28, 27,
    36, 44,  6, 55, 20,
     3, 10, 43, 25, 39,
    41, 45, 15, 21,  8,
    18,  2, 61, 56, 14
};


static uint64_t
attest_rotl64(uint64_t v, unsigned n)
{
    /* the mask keeps n == 0 free of an undefined shift by 64 */
    return (v << n) | (v >> ((64 - n) & 63));
}


static void
attest_keccak_f1600(uint64_t a[25])
{
    uint64_t  b[25], c[5], d[5];
    unsigned  round, x, y;

    for (round = 0; round < ATTEST_KECCAK_ROUNDS; round++) {

        /* theta: mix each column's parity into its neighbours */
        for (x = 0; x < 5; x++) {
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        }

        for (x = 0; x < 5; x++) {
            d[x] = c[(x + 4) % 5] ^ attest_rotl64(c[(x + 1) % 5], 1);
        }

        for (y = 0; y < 25; y += 5) {
            for (x = 0; x < 5; x++) {
                a[y + x] ^= d[x];
            }
        }

        /* rho and pi: B[y, 2x + 3y] = rot(A[x, y], r[x, y]) */
        for (y = 0; y < 5; y++) {
            for (x = 0; x < 5; x++) {
                b[y + 5 * ((2 * x + 3 * y) % 5)] =
                    attest_rotl64(a[x + 5 * y], attest_keccak_rho[x + 5 * y]);
            }
        }

        /* chi: the only non-linear step, row by row */
        for (y = 0; y < 25; y += 5) {
            for (x = 0; x < 5; x++) {
                a[y + x] = b[y + x]
                           ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
            }
        }

        /* iota: break the symmetry between rounds */
        a[0] ^= attest_keccak_rc[round];
    }
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


void
attest_keccak256_update(attest_keccak_t *k, const uint8_t *in, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        attest_keccak_xor_byte(k, k->pos, in[i]);

        if (++k->pos == ATTEST_KECCAK256_RATE) {
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
