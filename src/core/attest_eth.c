/*
 * Ethereum personal_sign verification: what a signature and an address look
 * like on the wire, the EIP-191 digest, and public-key recovery through
 * libsecp256k1's recovery module.  Nothing here trusts its input: every
 * parser checks length and alphabet before decoding.
 */

#include <string.h>

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "attest_codec.h"
#include "attest_keccak.h"
#include "attest_eth.h"


#define ATTEST_ETH_PREFIX      "\x19" "Ethereum Signed Message:\n"
#define ATTEST_ETH_PREFIX_LEN  (sizeof(ATTEST_ETH_PREFIX) - 1)


/* the order n of secp256k1's group, big-endian */
static const uint8_t  attest_secp256k1_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
    0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41
};

/*
 * One context for the process lifetime, made on first use: creation is
 * the only costly step and recovery never modifies it.  The VERIFY flag
 * is what libsecp256k1 before 0.2 needs for recovery; 0.2 and later treat
 * it as SECP256K1_CONTEXT_NONE.  Not thread-safe on first use; nginx
 * workers and the CLI are single-threaded.
 */
static secp256k1_context  *attest_secp256k1_ctx;


static secp256k1_context *
attest_eth_ctx(void)
{
    if (attest_secp256k1_ctx == NULL) {
        attest_secp256k1_ctx =
            secp256k1_context_create(SECP256K1_CONTEXT_VERIFY);
    }

    return attest_secp256k1_ctx;
}


void
attest_eth_cleanup(void)
{
    if (attest_secp256k1_ctx) {
        secp256k1_context_destroy(attest_secp256k1_ctx);
        attest_secp256k1_ctx = NULL;
    }
}


/* 0 < v < n for a 32-byte big-endian scalar */
static int
attest_eth_scalar_in_range(const uint8_t v[32])
{
    size_t   i;
    uint8_t  any;

    any = 0;

    for (i = 0; i < 32; i++) {
        any |= v[i];
    }

    if (any == 0) {
        return 0;
    }

    /* big-endian compare: the first differing byte decides */
    for (i = 0; i < 32; i++) {
        if (v[i] != attest_secp256k1_n[i]) {
            return v[i] < attest_secp256k1_n[i];
        }
    }

    return 0;
}


attest_reason_t
attest_eth_parse_signature(const char *in, size_t len,
    uint8_t sig[ATTEST_ETH_SIG_LEN], attest_err_t *err)
{
    uint8_t  v;

    attest_hex_strip_prefix(&in, &len);

    if (len != 2 * ATTEST_ETH_SIG_LEN) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature: %zu hex digits, want %d",
                           len, 2 * ATTEST_ETH_SIG_LEN);
    }

    if (attest_hex_decode(in, len, sig) != 0) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature: not hex");
    }

    /* legacy 27/28 (eth_account, io.net's agent) or raw 0/1 */
    v = sig[64];

    if (v == 27 || v == 28) {
        v -= 27;

    } else if (v != 0 && v != 1) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature: v is %u, want 0, 1, 27 or 28",
                           (unsigned) v);
    }

    sig[64] = v;

    /* high s is accepted: ECDSA itself is indifferent to it */
    if (!attest_eth_scalar_in_range(sig)) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature: r is not in [1, n - 1]");
    }

    if (!attest_eth_scalar_in_range(sig + 32)) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature: s is not in [1, n - 1]");
    }

    return ATTEST_OK;
}


int
attest_eth_parse_address(const char *in, size_t len,
    uint8_t addr[ATTEST_ETH_ADDR_LEN])
{
    if (len != 2 + 2 * ATTEST_ETH_ADDR_LEN || in[0] != '0' || in[1] != 'x') {
        return -1;
    }

    return attest_hex_decode(in + 2, 2 * ATTEST_ETH_ADDR_LEN, addr);
}


void
attest_eth_format_address(const uint8_t addr[ATTEST_ETH_ADDR_LEN],
    char out[43])
{
    size_t   i;
    uint8_t  hash[32], nibble;
    char    *hex;

    out[0] = '0';
    out[1] = 'x';
    hex = out + 2;

    attest_hex_encode(addr, ATTEST_ETH_ADDR_LEN, hex);

    /* EIP-55: a letter is uppercase when its nibble of keccak(hex) >= 8 */
    attest_keccak256((const uint8_t *) hex, 2 * ATTEST_ETH_ADDR_LEN, hash);

    for (i = 0; i < 2 * ATTEST_ETH_ADDR_LEN; i++) {
        nibble = (i % 2) ? (hash[i / 2] & 0x0f) : (hash[i / 2] >> 4);

        if (hex[i] >= 'a' && hex[i] <= 'f' && nibble >= 8) {
            hex[i] = (char) (hex[i] - 'a' + 'A');
        }
    }
}


void
attest_eth_personal_digest(const uint8_t *msg, size_t len,
    uint8_t digest[32])
{
    char             dec[24];
    size_t           n, v;
    attest_keccak_t  k;

    /* decimal length, most significant digit first */
    n = sizeof(dec);
    v = len;

    do {
        dec[--n] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    attest_keccak256_init(&k);
    attest_keccak256_update(&k, (const uint8_t *) ATTEST_ETH_PREFIX,
                            ATTEST_ETH_PREFIX_LEN);
    attest_keccak256_update(&k, (const uint8_t *) dec + n, sizeof(dec) - n);
    attest_keccak256_update(&k, msg, len);
    attest_keccak256_final(&k, digest);
}


attest_reason_t
attest_eth_recover(const uint8_t digest[32],
    const uint8_t sig[ATTEST_ETH_SIG_LEN], uint8_t addr[ATTEST_ETH_ADDR_LEN],
    attest_err_t *err)
{
    size_t                                 publen;
    uint8_t                                pub[65];
    secp256k1_pubkey                       pubkey;
    secp256k1_context                     *ctx;
    secp256k1_ecdsa_recoverable_signature  rsig;

    /*
     * Only parsed signatures come here, but libsecp256k1 aborts the process
     * on a recovery id above 3, so check rather than trust.
     */
    if (sig[64] > 1) {
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "signature: recovery id %u is not 0 or 1",
                           (unsigned) sig[64]);
    }

    ctx = attest_eth_ctx();
    if (ctx == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "secp256k1: context creation failed");
    }

    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rsig,
                                                             sig, sig[64]))
    {
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "signature: r or s out of range");
    }

    if (!secp256k1_ecdsa_recover(ctx, &pubkey, &rsig, digest)) {
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "signature: no public key recovers from it");
    }

    publen = sizeof(pub);

    if (!secp256k1_ec_pubkey_serialize(ctx, pub, &publen, &pubkey,
                                       SECP256K1_EC_UNCOMPRESSED)
        || publen != sizeof(pub))
    {
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "secp256k1: public key serialization failed");
    }

    /* pub[0] is the 0x04 "uncompressed" tag, not part of the key */
    attest_eth_pubkey_address(pub + 1, addr);

    return ATTEST_OK;
}


void
attest_eth_pubkey_address(const uint8_t pub[64],
    uint8_t addr[ATTEST_ETH_ADDR_LEN])
{
    uint8_t  hash[32];

    attest_keccak256(pub, 64, hash);
    memcpy(addr, hash + 32 - ATTEST_ETH_ADDR_LEN, ATTEST_ETH_ADDR_LEN);
}
