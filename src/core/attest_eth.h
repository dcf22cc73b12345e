/*
 * Ethereum personal_sign (EIP-191 version 0x45) verification: signature and
 * address parsing, the message digest, and secp256k1 public-key recovery to
 * a 20-byte address (libsecp256k1's recovery module).
 */

#ifndef ATTEST_ETH_H
#define ATTEST_ETH_H

#include <stddef.h>
#include <stdint.h>

#include "attest_reason.h"


#define ATTEST_ETH_ADDR_LEN  20
#define ATTEST_ETH_SIG_LEN   65

/*
 * Hex, optional 0x, exactly 65 bytes r || s || v, v in {0, 1, 27, 28},
 * 0 < r, s < n.  Normalizes v to 0/1 in sig[64].  Returns ATTEST_OK or
 * ATTEST_SIGNATURE_MALFORMED (detail says why).
 */
attest_reason_t attest_eth_parse_signature(const char *in, size_t len,
    uint8_t sig[ATTEST_ETH_SIG_LEN], attest_err_t *err);

/*
 * "0x" + 40 hex digits, any case (the EIP-55 checksum is not enforced:
 * comparisons are case-insensitive).  Returns 0 or -1.
 */
int attest_eth_parse_address(const char *in, size_t len,
    uint8_t addr[ATTEST_ETH_ADDR_LEN]);

/* "0x" + EIP-55 mixed-case hex, NUL-terminated: out holds 43 bytes */
void attest_eth_format_address(const uint8_t addr[ATTEST_ETH_ADDR_LEN],
    char out[43]);

/* keccak256("\x19Ethereum Signed Message:\n" + decimal(len) + msg) */
void attest_eth_personal_digest(const uint8_t *msg, size_t len,
    uint8_t digest[32]);

/*
 * Recovers the signer of digest from a parsed signature.  Returns
 * ATTEST_OK or ATTEST_SIGNATURE_INVALID (no key recovers).
 */
attest_reason_t attest_eth_recover(const uint8_t digest[32],
    const uint8_t sig[ATTEST_ETH_SIG_LEN], uint8_t addr[ATTEST_ETH_ADDR_LEN],
    attest_err_t *err);

/* address of a 64-byte uncompressed public key X || Y */
void attest_eth_pubkey_address(const uint8_t pub[64],
    uint8_t addr[ATTEST_ETH_ADDR_LEN]);

/*
 * Frees the process's recovery context (made on first use).  For a
 * process that unloads the core before it exits (an nginx worker unloads
 * its modules): the context would be lost with the static pointer.
 */
void attest_eth_cleanup(void);

#endif /* ATTEST_ETH_H */
