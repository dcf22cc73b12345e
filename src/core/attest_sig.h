/*
 * Verification of one signed response: the io.net signature fields
 * (headers of a completion, or the JSON of a stream's signature event)
 * checked against the attested signer, and the signed response hash
 * against the hash of the bytes actually received.
 */

#ifndef ATTEST_SIG_H
#define ATTEST_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "attest_reason.h"
#include "attest_str.h"


typedef struct {
    attest_str_t  text;
    attest_str_t  signature;
    attest_str_t  signing_address;
    attest_str_t  signing_algo;
    attest_str_t  image_digest;
} attest_sig_fields_t;

typedef struct {
    uint8_t  request_hash[32];
    uint8_t  response_hash[32];
} attest_text_t;

typedef struct attest_signer_s  attest_signer_t;

struct attest_signer_s {
    const uint8_t  *address;        /* 20 bytes: the attested signer */
    const char     *image_digest;   /* NULL: none attested */
    size_t          image_digest_len;

    /*
     * A set of attested signers (NULL: the one above): given the address
     * a valid signature recovered to, fills address and image digest of
     * its member and returns 0, or returns -1 (signer_not_attested).
     */
    int           (*find)(attest_signer_t *s, const uint8_t claimed[20]);
    void           *data;
};


/* "<64 hex>:<64 hex>", nothing else: ATTEST_OK or ATTEST_TEXT_MALFORMED */
attest_reason_t attest_text_parse(const char *in, size_t len,
    attest_text_t *t, attest_err_t *err);

/*
 * Checks, in this order: every field present (signature_missing), algo
 * "ecdsa" (signing_algo_unsupported), text syntax (text_malformed),
 * signature syntax (signature_malformed), signing_address syntax and
 * recovery to it (signature_invalid), signer equal to the attested one
 * (signer_not_attested), image digest equal to the attested one when both
 * exist (image_digest_mismatch).  On success t holds the signed hashes.
 */
attest_reason_t attest_sig_verify(const attest_sig_fields_t *f,
    const attest_signer_t *signer, attest_text_t *t, attest_err_t *err);

/* signed response hash vs the hash of the received body: body_mismatch */
attest_reason_t attest_sig_check_body(const attest_text_t *t,
    const uint8_t body_hash[32], attest_err_t *err);

/*
 * signed request hash vs the hash of the request as forwarded (the
 * canonical form, attest_reqhash.h): request_mismatch
 */
attest_reason_t attest_sig_check_request(const attest_text_t *t,
    const uint8_t request_hash[32], attest_err_t *err);

/*
 * Parses a stream's signature event JSON into fields.  The strings point
 * into *tree, which the caller releases with attest_sig_json_free().
 * Returns ATTEST_OK or ATTEST_SIGNATURE_MALFORMED.
 */
attest_reason_t attest_sig_json_parse(const uint8_t *json, size_t len,
    attest_sig_fields_t *f, void **tree, attest_err_t *err);
void attest_sig_json_free(void *tree);

#endif /* ATTEST_SIG_H */
