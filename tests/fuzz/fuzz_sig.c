/*
 * The response signature's parsers and the whole field check on arbitrary
 * bytes: attest_eth_parse_signature(), attest_eth_parse_address() and
 * attest_text_parse() on the input as is, attest_sig_json_parse() on it
 * as a signature event, and attest_sig_verify() on it split at "\n" into
 * text, signature, signing_address, signing_algo, image_digest (a field
 * that is missing from the split is absent).  Every field sits in its own
 * exact-size buffer.
 */

#include "attest_eth.h"
#include "attest_sig.h"
#include "fuzz.h"


/* 0x624c860cBCBC100A079C41F5c9BF97fFE13Ab38A, gen_sig.py's first key */
static const uint8_t  attested[20] = {
    0x62, 0x4c, 0x86, 0x0c, 0xbc, 0xbc, 0x10, 0x0a, 0x07, 0x9c, 0x41, 0xf5,
    0xc9, 0xbf, 0x97, 0xff, 0xe1, 0x3a, 0xb3, 0x8a
};

static const char  digest[] = "sha256:"
    "e111b230be4a77a1e71da1bf82b670eef96f7eefb5c2c54b9c17bf0c0943922f";


static void
check(attest_reason_t rc, const attest_err_t *err)
{
    fuzz_assert(rc < ATTEST_REASON_MAX);
    fuzz_assert(rc == ATTEST_OK || err->reason == rc);
    fuzz_assert(memchr(err->detail, '\0', sizeof(err->detail)) != NULL);
}


static void
verify(const attest_sig_fields_t *f)
{
    attest_err_t     err;
    attest_text_t    t;
    attest_signer_t  signer;
    attest_reason_t  rc, rc2;

    signer.address = attested;

    signer.find = NULL;
    signer.image_digest = digest;
    signer.image_digest_len = sizeof(digest) - 1;

    attest_err_clear(&err);
    rc = attest_sig_verify(f, &signer, &t, &err);
    check(rc, &err);

    signer.image_digest = NULL;
    signer.image_digest_len = 0;
    rc2 = attest_sig_verify(f, &signer, &t, NULL);

    /* the attested digest only ever adds image_digest_mismatch */
    fuzz_assert(rc2 == rc || rc == ATTEST_IMAGE_DIGEST_MISMATCH);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  i;
    void                *tree;
    size_t               off, len;
    uint8_t              sig[ATTEST_ETH_SIG_LEN], addr[ATTEST_ETH_ADDR_LEN];
    uint8_t             *copy[5];
    const uint8_t       *nl;
    attest_err_t         err;
    attest_str_t        *fields[5];
    attest_text_t        t;
    attest_reason_t      rc;
    attest_sig_fields_t  f;

    attest_err_clear(&err);
    rc = attest_eth_parse_signature((const char *) data, size, sig, &err);
    check(rc, &err);
    fuzz_assert(rc == ATTEST_OK || rc == ATTEST_SIGNATURE_MALFORMED);
    fuzz_assert(rc != ATTEST_OK || sig[64] <= 1);

    attest_eth_parse_address((const char *) data, size, addr);

    attest_err_clear(&err);
    rc = attest_text_parse((const char *) data, size, &t, &err);
    check(rc, &err);
    fuzz_assert(rc == ATTEST_OK || rc == ATTEST_TEXT_MALFORMED);
    fuzz_assert(rc != ATTEST_OK || size == 129);

    /* the input as a signature event */
    attest_err_clear(&err);
    rc = attest_sig_json_parse(data, size, &f, &tree, &err);
    check(rc, &err);
    fuzz_assert(rc == ATTEST_OK || rc == ATTEST_SIGNATURE_MALFORMED);
    fuzz_assert(rc == ATTEST_OK || tree == NULL);

    if (rc == ATTEST_OK) {
        verify(&f);
    }

    attest_sig_json_free(tree);

    /* the input as five "\n"-separated fields */
    memset(&f, 0, sizeof(f));
    fields[0] = &f.text;
    fields[1] = &f.signature;
    fields[2] = &f.signing_address;
    fields[3] = &f.signing_algo;
    fields[4] = &f.image_digest;

    off = 0;

    for (i = 0; i < 5; i++) {
        copy[i] = NULL;

        if (off > size) {
            continue;
        }

        nl = memchr(data + off, '\n', size - off);
        len = nl ? (size_t) (nl - (data + off)) : size - off;

        copy[i] = fuzz_dup(data + off, len);
        fields[i]->data = (const char *) copy[i];
        fields[i]->len = len;

        off += len + 1;
    }

    verify(&f);

    for (i = 0; i < 5; i++) {
        free(copy[i]);
    }

    return 0;
}
