/*
 * One signed response, checked field by field.  The order of the checks is
 * the order of the reasons in attest_sig.h: the first failing check names
 * the verdict.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "attest_codec.h"
#include "attest_eth.h"
#include "attest_sig.h"


/* bounds the nesting depth yajl recurses through; see json_parse */
#define ATTEST_SIG_JSON_MAX  65536


attest_reason_t
attest_text_parse(const char *in, size_t len, attest_text_t *t,
    attest_err_t *err)
{
    if (len != 129 || in[64] != ':') {
        return attest_fail(err, ATTEST_TEXT_MALFORMED,
                           "text is not <64 hex>:<64 hex> (%zu bytes)", len);
    }

    if (attest_hex_decode(in, 64, t->request_hash) != 0
        || attest_hex_decode(in + 65, 64, t->response_hash) != 0)
    {
        return attest_fail(err, ATTEST_TEXT_MALFORMED,
                           "text holds a non-hex character");
    }

    return ATTEST_OK;
}


static int
attest_str_eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t  i;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        if (tolower((unsigned char) a[i]) != tolower((unsigned char) b[i])) {
            return 0;
        }
    }

    return 1;
}


attest_reason_t
attest_sig_verify(const attest_sig_fields_t *f, const attest_signer_t *signer,
    attest_text_t *t, attest_err_t *err)
{
    uint8_t          sig[ATTEST_ETH_SIG_LEN], digest[32];
    uint8_t          claimed[ATTEST_ETH_ADDR_LEN];
    uint8_t          recovered[ATTEST_ETH_ADDR_LEN];
    char             a[43], b[43];
    attest_reason_t  rc;
    attest_signer_t  picked;

    if (f->text.data == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MISSING, "no text");
    }

    if (f->signature.data == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MISSING, "no signature");
    }

    if (f->signing_address.data == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MISSING,
                           "no signing_address");
    }

    if (f->signing_algo.data == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MISSING, "no signing_algo");
    }

    if (!attest_str_eq_nocase(f->signing_algo.data, f->signing_algo.len,
                              "ecdsa", 5))
    {
        return attest_fail(err, ATTEST_SIGNING_ALGO_UNSUPPORTED,
                           "signing_algo \"%.*s\"",
                           (int) (f->signing_algo.len > 32
                                  ? 32 : f->signing_algo.len),
                           f->signing_algo.data);
    }

    rc = attest_text_parse(f->text.data, f->text.len, t, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    rc = attest_eth_parse_signature(f->signature.data, f->signature.len,
                                    sig, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    if (attest_eth_parse_address(f->signing_address.data,
                                 f->signing_address.len, claimed) != 0)
    {
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "signing_address is not 0x + 40 hex");
    }

    attest_eth_personal_digest((const uint8_t *) f->text.data, f->text.len,
                               digest);

    rc = attest_eth_recover(digest, sig, recovered, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    if (memcmp(recovered, claimed, ATTEST_ETH_ADDR_LEN) != 0) {
        attest_eth_format_address(recovered, a);
        attest_eth_format_address(claimed, b);
        return attest_fail(err, ATTEST_SIGNATURE_INVALID,
                           "signature recovers to %s, not %s", a, b);
    }

    if (signer->find) {
        picked = *signer;

        if (picked.find(&picked, claimed) != 0) {
            attest_eth_format_address(claimed, a);
            return attest_fail(err, ATTEST_SIGNER_NOT_ATTESTED,
                               "signed by %s, not an attested signer", a);
        }

        signer = &picked;
    }

    if (memcmp(claimed, signer->address, ATTEST_ETH_ADDR_LEN) != 0) {
        attest_eth_format_address(claimed, a);
        attest_eth_format_address(signer->address, b);
        return attest_fail(err, ATTEST_SIGNER_NOT_ATTESTED,
                           "signed by %s, attested signer is %s", a, b);
    }

    if (f->image_digest.data != NULL && signer->image_digest != NULL
        && !attest_str_eq_nocase(f->image_digest.data, f->image_digest.len,
                                 signer->image_digest,
                                 signer->image_digest_len))
    {
        return attest_fail(err, ATTEST_IMAGE_DIGEST_MISMATCH,
                           "response image_digest %.*s, attested %.*s",
                           (int) (f->image_digest.len > 80
                                  ? 80 : f->image_digest.len),
                           f->image_digest.data,
                           (int) signer->image_digest_len,
                           signer->image_digest);
    }

    return ATTEST_OK;
}


attest_reason_t
attest_sig_check_body(const attest_text_t *t, const uint8_t body_hash[32],
    attest_err_t *err)
{
    char  want[65], got[65];

    if (memcmp(t->response_hash, body_hash, 32) != 0) {
        attest_hex_encode(t->response_hash, 32, want);
        attest_hex_encode(body_hash, 32, got);
        return attest_fail(err, ATTEST_BODY_MISMATCH,
                           "signed response hash %.16s..., body hashes to "
                           "%.16s...", want, got);
    }

    return ATTEST_OK;
}


attest_reason_t
attest_sig_check_request(const attest_text_t *t,
    const uint8_t request_hash[32], attest_err_t *err)
{
    char  want[65], got[65];

    if (memcmp(t->request_hash, request_hash, 32) != 0) {
        attest_hex_encode(t->request_hash, 32, want);
        attest_hex_encode(request_hash, 32, got);
        return attest_fail(err, ATTEST_REQUEST_MISMATCH,
                           "signed request hash %.16s..., the request "
                           "hashes to %.16s...", want, got);
    }

    return ATTEST_OK;
}


/*
 * The last of duplicated keys, as Python's json module and the report
 * parser take it (yajl_tree_get() would take the first); a value that is
 * no string leaves the field absent.
 */
static void
attest_sig_json_field(yajl_val root, const char *name, attest_str_t *s)
{
    size_t    i;
    yajl_val  v;

    s->data = NULL;
    s->len = 0;

    for (i = root->u.object.len; i > 0; i--) {
        if (strcmp(root->u.object.keys[i - 1], name) != 0) {
            continue;
        }

        v = root->u.object.values[i - 1];

        if (YAJL_IS_STRING(v)) {
            s->data = YAJL_GET_STRING(v);
            s->len = strlen(s->data);
        }

        return;
    }
}


attest_reason_t
attest_sig_json_parse(const uint8_t *json, size_t len,
    attest_sig_fields_t *f, void **tree, attest_err_t *err)
{
    char      *copy, msg[128];
    yajl_val   root;

    *tree = NULL;
    memset(f, 0, sizeof(*f));

    /*
     * yajl nests a C stack frame per array or object level (it frees the
     * tree recursively), so a few hundred KB of "[" overflow the stack;
     * a bounded length bounds the depth.  Real events are under 1 KB.
     */
    if (len > ATTEST_SIG_JSON_MAX) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature event larger than %d bytes",
                           ATTEST_SIG_JSON_MAX);
    }

    if (json == NULL || len == 0) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "empty signature event");
    }

    if (memchr(json, '\0', len) != NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature event holds a NUL byte");
    }

    /* yajl_tree_parse wants a NUL-terminated string */
    copy = malloc(len + 1);
    if (copy == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED, "out of memory");
    }

    memcpy(copy, json, len);
    copy[len] = '\0';

    msg[0] = '\0';
    root = yajl_tree_parse(copy, msg, sizeof(msg));
    free(copy);

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        if (root) {
            yajl_tree_free(root);
        }

        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "signature event is not a JSON object");
    }

    attest_sig_json_field(root, "text", &f->text);
    attest_sig_json_field(root, "signature", &f->signature);
    attest_sig_json_field(root, "signing_address", &f->signing_address);
    attest_sig_json_field(root, "signing_algo", &f->signing_algo);
    attest_sig_json_field(root, "image_digest", &f->image_digest);

    *tree = root;

    return ATTEST_OK;
}


void
attest_sig_json_free(void *tree)
{
    if (tree != NULL) {
        yajl_tree_free(tree);
    }
}
