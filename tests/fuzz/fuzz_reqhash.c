/*
 * The request hash canonicalizer: the body fed whole and fed in splits the
 * input chooses must give the same verdict, reason, hash and canonical
 * form.  A canonical form is printable ASCII, a JSON object whose SHA-256
 * is the hash, and it canonicalizes again to itself, but for a
 * "stream":false that an explicit null had dropped (and unless surrogate
 * escapes, which can join on the second reading, are in it); a limit one
 * byte short of the body refuses it as too large.
 */

#define _GNU_SOURCE

#include <openssl/evp.h>

#include "attest_reqhash.h"
#include "fuzz.h"


typedef struct {
    attest_req_err_t  rc;
    uint8_t           hash[32];
    uint8_t          *canon;
    size_t            len;
    char              err[200];
} fuzz_req_t;


static void
run(const uint8_t *data, size_t size, size_t max, const uint8_t *split,
    size_t nsplit, fuzz_req_t *out)
{
    attest_reqhash_t  *r;
    const uint8_t     *c;
    size_t             off, step, k;

    r = attest_reqhash_new(max);
    fuzz_assert(r != NULL);

    out->rc = ATTEST_REQ_OK;
    off = 0;
    k = 0;

    while (off < size && out->rc == ATTEST_REQ_OK) {
        step = split ? split[k++ % nsplit] % 19 : size;

        if (step == 0) {
            /* an empty piece changes nothing, and the loop moves on */
            out->rc = attest_reqhash_update(r, data + off, 0);
            step = 1;
        }

        if (step > size - off) {
            step = size - off;
        }

        if (out->rc == ATTEST_REQ_OK) {
            out->rc = attest_reqhash_update(r, data + off, step);
        }

        off += step;
    }

    if (out->rc == ATTEST_REQ_OK) {
        out->rc = attest_reqhash_final(r, out->hash);

    } else {
        fuzz_assert(attest_reqhash_final(r, out->hash) == out->rc);
    }

    snprintf(out->err, sizeof(out->err), "%s", attest_reqhash_error(r));
    fuzz_assert(out->err[0] != '\0');
    fuzz_assert(strcmp(attest_reqhash_errname(out->rc), "unknown") != 0);

    c = attest_reqhash_canonical(r, &out->len);
    out->canon = NULL;

    if (out->rc == ATTEST_REQ_OK) {
        fuzz_assert(c != NULL && out->len >= 2);
        out->canon = fuzz_dup(c, out->len);

    } else {
        uint8_t  zero[32] = { 0 };

        fuzz_assert(c == NULL);
        fuzz_assert(memcmp(out->hash, zero, 32) == 0);
    }

    attest_reqhash_free(r);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_req_t    one, split, again, small;
    uint8_t       h[32];
    unsigned int  n;
    size_t        i;

    run(data, size, 1 << 20, NULL, 0, &one);
    run(data, size, 1 << 20, data, size ? size : 1, &split);

    fuzz_assert(one.rc == split.rc);
    fuzz_assert(strcmp(one.err, split.err) == 0);
    fuzz_assert(memcmp(one.hash, split.hash, 32) == 0);
    fuzz_assert(one.len == split.len);
    fuzz_assert(one.len == 0 || memcmp(one.canon, split.canon, one.len) == 0);

    if (size > 0) {
        run(data, size, size - 1, NULL, 0, &small);
        fuzz_assert(small.rc == ATTEST_REQ_TOO_LARGE);
    }

    if (one.rc == ATTEST_REQ_OK) {
        fuzz_assert(one.canon[0] == '{' && one.canon[one.len - 1] == '}');

        for (i = 0; i < one.len; i++) {
            fuzz_assert(one.canon[i] >= 0x20 && one.canon[i] < 0x7f);
        }

        fuzz_assert(EVP_Digest(one.canon, one.len, h, &n, EVP_sha256(),
                               NULL) == 1);
        fuzz_assert(memcmp(h, one.hash, 32) == 0);

        /* the canonical form is a body the agent takes */
        run(one.canon, one.len, 1 << 23, NULL, 0, &again);
        fuzz_assert(again.rc == ATTEST_REQ_OK);

        if (memmem(one.canon, one.len, "\\ud", 3) == NULL) {
            if (again.len == one.len) {
                fuzz_assert(memcmp(again.canon, one.canon, one.len) == 0);

            } else {
                fuzz_assert(again.len == one.len + 14
                            || again.len == one.len + 15);
                fuzz_assert(memmem(again.canon, again.len,
                                   "\"stream\":false", 14) != NULL);
            }
        }

        free(again.canon);
    }

    free(one.canon);
    free(split.canon);

    return 0;
}
