/*
 * Keccak-256 as Ethereum uses it: the original Keccak submission's padding
 * (domain byte 0x01), not FIPS 202 SHA3-256 (0x06).  OpenSSL 3.0 has no
 * such digest, so the core carries its own small implementation.
 */

#ifndef ATTEST_KECCAK_H
#define ATTEST_KECCAK_H

#include <stddef.h>
#include <stdint.h>


#define ATTEST_KECCAK256_RATE  136

typedef struct {
    uint64_t  state[25];
    size_t    pos;            /* bytes absorbed into the current block */
} attest_keccak_t;


void attest_keccak256_init(attest_keccak_t *k);
void attest_keccak256_update(attest_keccak_t *k, const uint8_t *in,
    size_t len);
void attest_keccak256_final(attest_keccak_t *k, uint8_t out[32]);

void attest_keccak256(const uint8_t *in, size_t len, uint8_t out[32]);

#endif /* ATTEST_KECCAK_H */
