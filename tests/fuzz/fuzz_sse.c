/*
 * The SSE accumulator fed the same stream twice: in one piece and in
 * splits the input chooses.  Both must see the same lines (type, reason,
 * spoof and in_sig flags, bytes), the same error, the same response hash
 * and the same signature JSON; every line must lie in memory the
 * accumulator may hand out.  The response hash must also equal the one
 * made here from the DATA lines the accumulator reported, each escaped by
 * the reference byte loop (sse_ref.h) and hashed with EVP directly.  A
 * signature JSON found goes on to attest_sig_json_parse().
 *
 * Input: [max_line selector][split seed][stream bytes...]
 */

#include <openssl/evp.h>

#include "attest_sig.h"
#include "attest_sse.h"
#include "fuzz.h"
#include "sse_ref.h"


typedef struct {
    uint64_t   lines_hash;    /* FNV-1a over every line's type and bytes */
    size_t     lines;
    int        error;
    uint8_t    hash[32];
    uint8_t   *sig;
    size_t     sig_len;
    int        has_sig;
    EVP_MD_CTX  *ref;         /* {"chunks":[ and the reference chunks */
    size_t       ref_chunks;
} run_t;


/* a DATA line's payload, escaped by the reference, into r->ref */
static void
ref_chunk(run_t *r, const uint8_t *line, size_t len)
{
    size_t    n;
    uint8_t  *out;

    /* "data: " and the payload up to the "\n" */
    out = malloc(SSE_REF_MAX(len - 7) + 1);
    fuzz_assert(out != NULL);

    n = 0;
    if (r->ref_chunks++) {
        out[n++] = ',';
    }

    n += sse_ref_escape(line + 6, len - 7, out + n);
    fuzz_assert(EVP_DigestUpdate(r->ref, out, n) == 1);
    free(out);
}


static void
fnv(uint64_t *h, const uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        *h ^= p[i];
        *h *= 0x100000001b3ull;
    }
}


static void
feed(attest_sse_t *s, const uint8_t *p, size_t len, run_t *r)
{
    size_t             n;
    uint8_t            t;
    attest_sse_line_t  line;

    while (len > 0 && !r->error) {
        n = attest_sse_feed(s, p, len, &line);

        fuzz_assert(n > 0 && n <= len);

        if (line.type == ATTEST_SSE_NONE) {
            fuzz_assert(n == len && line.len == 0);

        } else if (line.type == ATTEST_SSE_ERROR) {
            r->error = 1;

        } else {
            /* a whole line, ending in "\n", with no other "\n" */
            fuzz_assert(line.data != NULL && line.len > 0);
            fuzz_assert(line.data[line.len - 1] == '\n');
            fuzz_assert(memchr(line.data, '\n', line.len) ==
                        line.data + line.len - 1);
            fuzz_touch(line.data, line.len);

            /* a line's own verdict is part of what must not depend on
               the splits, and a spoofed verdict is only ever a comment */
            fuzz_assert(line.reason < ATTEST_REASON_MAX);
            fuzz_assert(!line.spoof || line.type == ATTEST_SSE_COMMENT);

            t = (uint8_t) line.type;
            fnv(&r->lines_hash, &t, 1);
            t = (uint8_t) line.reason;
            fnv(&r->lines_hash, &t, 1);
            t = (uint8_t) (line.spoof << 1 | line.in_sig);
            fnv(&r->lines_hash, &t, 1);
            fnv(&r->lines_hash, line.data, line.len);
            r->lines++;

            if (line.type == ATTEST_SSE_DATA) {
                fuzz_assert(line.len >= 7
                            && memcmp(line.data, "data: ", 6) == 0);
                ref_chunk(r, line.data, line.len);
            }
        }

        p += n;
        len -= n;
    }
}


static void
finish(attest_sse_t *s, run_t *r)
{
    uint8_t         ref[32];
    unsigned int    n;
    const uint8_t  *sig;

    attest_sse_hash(s, r->hash);

    /* the fast escape against the reference, error or not */
    fuzz_assert(EVP_DigestUpdate(r->ref, "]}", 2) == 1
                && EVP_DigestFinal_ex(r->ref, ref, &n) == 1);
    fuzz_assert(memcmp(r->hash, ref, 32) == 0);

    sig = attest_sse_signature(s, &r->sig_len);
    r->has_sig = (sig != NULL);

    if (sig != NULL) {
        fuzz_assert(r->sig_len <= ATTEST_SSE_SIG_MAX);
        fuzz_assert(attest_sse_signature(s, NULL) == sig);
        r->sig = fuzz_dup(sig, r->sig_len);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                *tree;
    size_t               max_line, off, step, k;
    uint8_t              seed, hash2[32], *piece;
    run_t                a, b;
    attest_err_t         err;
    attest_sse_t        *s1, *s2;
    attest_sig_fields_t  f;

    if (size < 2) {
        return 0;
    }

    /* short lines often, up to a few KB sometimes, 0 once in a while */
    max_line = (data[0] < 16) ? data[0] : (size_t) data[0] * 17;
    seed = data[1];
    data += 2;
    size -= 2;

    s1 = attest_sse_new(max_line);
    s2 = attest_sse_new(max_line);
    fuzz_assert(s1 != NULL && s2 != NULL);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));

    a.ref = EVP_MD_CTX_new();
    b.ref = EVP_MD_CTX_new();
    fuzz_assert(a.ref != NULL && b.ref != NULL
                && EVP_DigestInit_ex(a.ref, EVP_sha256(), NULL) == 1
                && EVP_DigestInit_ex(b.ref, EVP_sha256(), NULL) == 1
                && EVP_DigestUpdate(a.ref, "{\"chunks\":[", 11) == 1
                && EVP_DigestUpdate(b.ref, "{\"chunks\":[", 11) == 1);

    /* whole: libFuzzer's buffer ends exactly where the input does */
    feed(s1, data, size, &a);
    finish(s1, &a);

    /* in pieces, each in its own exact-size buffer */
    off = 0;
    k = seed;

    while (off < size && !b.error) {
        k = k * 1103515245 + 12345;
        step = 1 + (k >> 16) % 23;
        if (step > size - off) {
            step = size - off;
        }

        piece = fuzz_dup(data + off, step);
        feed(s2, piece, step, &b);
        free(piece);

        off += step;
    }

    finish(s2, &b);

    fuzz_assert(a.error == b.error);

    if (!a.error) {
        fuzz_assert(a.lines == b.lines && a.lines_hash == b.lines_hash);
        fuzz_assert(memcmp(a.hash, b.hash, 32) == 0);
        fuzz_assert(a.has_sig == b.has_sig);
        fuzz_assert(!a.has_sig || (a.sig_len == b.sig_len
                                   && memcmp(a.sig, b.sig, a.sig_len) == 0));
        fuzz_assert(attest_sse_pending(s1) == attest_sse_pending(s2));
    }

    /* the hash may be taken again: it does not end the running hash */
    attest_sse_hash(s1, hash2);
    fuzz_assert(memcmp(a.hash, hash2, 32) == 0);

    if (a.has_sig) {
        attest_err_clear(&err);
        if (attest_sig_json_parse(a.sig, a.sig_len, &f, &tree, &err)
            == ATTEST_OK)
        {
            fuzz_touch((const uint8_t *) f.text.data, f.text.len);
            fuzz_touch((const uint8_t *) f.signature.data, f.signature.len);
        }

        attest_sig_json_free(tree);
    }

    free(a.sig);
    free(b.sig);
    EVP_MD_CTX_free(a.ref);
    EVP_MD_CTX_free(b.ref);
    attest_sse_free(s1);
    attest_sse_free(s2);

    return 0;
}
