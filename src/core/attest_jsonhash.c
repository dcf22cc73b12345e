/*
 * The non-streaming response hash (PROTOCOL.md section 2).
 *
 * The agent hashes json.dumps(obj, separators=(",", ":")) but sends
 * json.dumps(obj): the same bytes with one space after every "," and ":"
 * that stands outside a string.  Dropping exactly that one space while
 * hashing gives the agent's input back without parsing or keeping the
 * body.  Anything else (a second space, a newline, raw non-ASCII) is
 * hashed unchanged: such a body did not come from Python's json.dumps and
 * must not match.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest_jsonhash.h"


struct attest_jsonhash_s {
    EVP_MD_CTX  *md;
    unsigned     in_string:1;
    unsigned     escape:1;     /* the previous string byte was a backslash */
    unsigned     after_sep:1;  /* the previous byte was a "," or ":" outside */
    unsigned     failed:1;     /* an EVP call failed: final yields zeros */
    unsigned     done:1;
};


attest_jsonhash_t *
attest_jsonhash_new(void)
{
    attest_jsonhash_t  *h;

    h = calloc(1, sizeof(attest_jsonhash_t));
    if (h == NULL) {
        return NULL;
    }

    h->md = EVP_MD_CTX_new();
    if (h->md == NULL) {
        free(h);
        return NULL;
    }

    if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }

    return h;
}


static void
attest_jsonhash_put(attest_jsonhash_t *h, const uint8_t *p, size_t len)
{
    if (len && EVP_DigestUpdate(h->md, p, len) != 1) {
        h->failed = 1;
    }
}


void
attest_jsonhash_update(attest_jsonhash_t *h, const uint8_t *p, size_t len)
{
    size_t   i, start;
    uint8_t  c;

    if (h == NULL || h->done || h->failed) {
        return;
    }

    /* bytes are hashed in runs; a run ends only at a dropped space */
    start = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (h->in_string) {
            if (h->escape) {
                h->escape = 0;

            } else if (c == '\\') {
                h->escape = 1;

            } else if (c == '"') {
                h->in_string = 0;
            }

            continue;
        }

        if (h->after_sep) {
            h->after_sep = 0;

            if (c == ' ') {
                attest_jsonhash_put(h, p + start, i - start);
                start = i + 1;
                continue;
            }
        }

        if (c == '"') {
            h->in_string = 1;

        } else if (c == ',' || c == ':') {
            h->after_sep = 1;
        }
    }

    attest_jsonhash_put(h, p + start, len - start);
}


void
attest_jsonhash_final(attest_jsonhash_t *h, uint8_t out[32])
{
    unsigned int  n;

    if (h == NULL || h->done || h->failed) {
        /* cannot report here; an all-zero digest matches no response */
        memset(out, 0, 32);

    } else if (EVP_DigestFinal_ex(h->md, out, &n) != 1 || n != 32) {
        h->failed = 1;
        memset(out, 0, 32);
    }

    if (h != NULL) {
        h->done = 1;
    }
}


void
attest_jsonhash_free(attest_jsonhash_t *h)
{
    if (h == NULL) {
        return;
    }

    EVP_MD_CTX_free(h->md);
    free(h);
}


int
attest_jsonhash(const uint8_t *p, size_t len, uint8_t out[32])
{
    int                 rc;
    attest_jsonhash_t  *h;

    h = attest_jsonhash_new();
    if (h == NULL) {
        memset(out, 0, 32);
        return -1;
    }

    attest_jsonhash_update(h, p, len);
    attest_jsonhash_final(h, out);

    rc = h->failed ? -1 : 0;

    attest_jsonhash_free(h);

    return rc;
}
