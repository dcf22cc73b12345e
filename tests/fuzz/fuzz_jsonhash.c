/*
 * The response hash: attest_jsonhash() in one piece, attest_jsonhash_*()
 * fed in splits the input itself chooses, and a plain reference of the
 * rule in attest_jsonhash.h (drop exactly one space after a "," or ":"
 * outside a string) hashed with EVP directly: all three must agree.
 */

#include <openssl/evp.h>

#include "attest_jsonhash.h"
#include "fuzz.h"


/* the rule, written out simply: the compacted bytes into out */
static size_t
reference_compact(const uint8_t *p, size_t len, uint8_t *out)
{
    int     in_string, escape, after_sep;
    size_t  i, n;

    in_string = escape = after_sep = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        if (in_string) {
            out[n++] = p[i];

            if (escape) {
                escape = 0;

            } else if (p[i] == '\\') {
                escape = 1;

            } else if (p[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        if (after_sep && p[i] == ' ') {
            after_sep = 0;
            continue;
        }

        after_sep = (p[i] == ',' || p[i] == ':');
        in_string = (p[i] == '"');
        out[n++] = p[i];
    }

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              n, off, step;
    uint8_t             one[32], split[32], ref[32], *c;
    unsigned int        len;
    attest_jsonhash_t  *h;

    if (attest_jsonhash(data, size, one) != 0) {
        return 0;
    }

    /* splits from the input's own bytes: 0-byte pieces included */
    h = attest_jsonhash_new();
    fuzz_assert(h != NULL);

    off = 0;
    n = 0;

    while (off < size) {
        step = data[n++ % size] % 17;

        if (step == 0) {
            /* an empty piece changes nothing, and the loop moves on */
            attest_jsonhash_update(h, data + off, 0);
            step = 1;
        }

        if (step > size - off) {
            step = size - off;
        }

        attest_jsonhash_update(h, data + off, step);
        off += step;
    }

    attest_jsonhash_final(h, split);
    attest_jsonhash_free(h);

    fuzz_assert(memcmp(one, split, 32) == 0);

    c = fuzz_dup(data, size);
    n = reference_compact(data, size, c);
    fuzz_assert(EVP_Digest(c, n, ref, &len, EVP_sha256(), NULL) == 1);
    free(c);

    fuzz_assert(memcmp(one, ref, 32) == 0);

    return 0;
}
