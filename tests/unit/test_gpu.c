/*
 * NVIDIA Hopper GPU evidence: the real H100 sample from nvtrust against the
 * pinned NVIDIA root, damaged copies of it, and evidence made by the Python
 * test double (tests/vectors/gen_gpu.py, run by "make vectors").
 *
 * Every call goes through verify(), which copies its inputs into buffers
 * of exactly their length, so that valgrind sees any read past the end.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest_codec.h"
#include "attest_gpu.h"
#include "tap.h"


#define SAMPLE_NONCE                                                         \
    "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

/* the last 48 bytes of the sample leaf's 2.23.133.5.4.1 extension */
#define SAMPLE_FWID                                                          \
    "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f72754"     \
    "94ba94bb5cdfdb3055ee051762b1f75d"

#define SAMPLE_LEN     4117
#define SAMPLE_SIGNED  (SAMPLE_LEN - 96)

#define MAX_CERTS      8


typedef struct {
    uint8_t  *data;
    size_t    len;
} buf_t;


static buf_t
buf_dup(const void *p, size_t len)
{
    buf_t  b;

    /* malloc(0) may return NULL; keep a valid pointer for len 0 */
    b.data = malloc(len ? len : 1);
    b.len = len;

    if (b.data == NULL) {
        perror("malloc");
        exit(2);
    }

    if (len) {
        memcpy(b.data, p, len);
    }

    return b;
}


static buf_t
buf_cat(const buf_t *a, const void *p, size_t len)
{
    buf_t  b;

    b.len = a->len + len;
    b.data = malloc(b.len ? b.len : 1);

    if (b.data == NULL) {
        perror("malloc");
        exit(2);
    }

    memcpy(b.data, a->data, a->len);
    memcpy(b.data + a->len, p, len);

    return b;
}


static buf_t
file_load(const char *dir, const char *name)
{
    char            path[512];
    buf_t           b;
    size_t          len;
    unsigned char  *p;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    p = tap_slurp(path, &len);
    if (p == NULL) {
        b.data = NULL;
        b.len = 0;
        return b;
    }

    b = buf_dup(p, len);
    free(p);

    return b;
}


/* hex text with whitespace -> bytes */
static buf_t
hex_load(const char *dir, const char *name)
{
    buf_t   t, b;
    size_t  i, n;

    t = file_load(dir, name);
    if (t.data == NULL) {
        return t;
    }

    for (i = 0, n = 0; i < t.len; i++) {
        if (strchr(" \t\r\n", t.data[i]) == NULL) {
            t.data[n++] = t.data[i];
        }
    }

    b.data = malloc(n / 2 + 1);
    b.len = n / 2;

    if (b.data == NULL || attest_hex_decode((char *) t.data, n, b.data) != 0)
    {
        free(b.data);
        b.data = NULL;
        b.len = 0;
    }

    free(t.data);

    return b;
}


static void
buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}


static attest_gpu_root_t *
root_load(const buf_t *pem, attest_err_t *err)
{
    buf_t               c;
    attest_gpu_root_t  *root;

    c = buf_dup(pem->data, pem->len);
    attest_err_clear(err);
    root = attest_gpu_root_load(c.data, c.len, err);
    buf_free(&c);

    return root;
}


static attest_reason_t
verify(const attest_gpu_root_t *root, const uint8_t *nonce, const buf_t *ev,
    const buf_t *pem, attest_gpu_info_t *info, attest_err_t *err)
{
    buf_t            e, c;
    attest_reason_t  rc;

    e = buf_dup(ev->data, ev->len);
    c = buf_dup(pem->data, pem->len);

    attest_err_clear(err);
    rc = attest_gpu_verify_entry(root, nonce, e.data, e.len, c.data, c.len,
                                 info, err);

    buf_free(&e);
    buf_free(&c);

    return rc;
}


/* the DER of each certificate of a PEM chain */
static int
chain_split(const buf_t *pem, buf_t *der, int max)
{
    int       n;
    BIO      *bio;
    char     *name, *header;
    long      len;
    uint8_t  *data;

    bio = BIO_new_mem_buf(pem->data, (int) pem->len);

    for (n = 0; n < max; n++) {
        if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
            break;
        }

        der[n] = buf_dup(data, (size_t) len);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }

    BIO_free(bio);
    ERR_clear_error();

    return n;
}


/* PEM text of the given DER certificates, in the given order */
static buf_t
chain_join(buf_t *der, const int *order, int n)
{
    int     i;
    BIO    *bio;
    char   *p;
    long    len;
    buf_t   out;

    bio = BIO_new(BIO_s_mem());

    for (i = 0; i < n; i++) {
        PEM_write_bio(bio, "CERTIFICATE", "", der[order[i]].data,
                      (long) der[order[i]].len);
    }

    len = BIO_get_mem_data(bio, &p);
    out = buf_dup(p, (size_t) len);
    BIO_free(bio);

    return out;
}


static int
detail_has(const attest_err_t *err, const char *s)
{
    return strstr(err->detail, s) != NULL;
}


/* the evidence with from..to trailing bytes appended verifies each time */
static int
trailing_verify(const attest_gpu_root_t *root, const uint8_t *nonce,
    const buf_t *ev, const buf_t *pem, int from, int to)
{
    int                n, all;
    buf_t              b;
    uint8_t            pad[256];
    attest_err_t       err;
    attest_gpu_info_t  info;

    all = 1;

    for (n = from; n <= to; n++) {
        /* bytes that would look like more data if they were parsed */
        memset(pad, n, (size_t) n);
        b = buf_cat(ev, pad, (size_t) n);

        if (verify(root, nonce, &b, pem, &info, &err) != ATTEST_OK) {
            tap_diag("  %d trailing bytes: %s", n, err.detail);
            all = 0;
        }

        buf_free(&b);
    }

    return all;
}


static void
test_root_load(const buf_t *nv_root)
{
    buf_t               b, junk;
    attest_err_t        err;
    attest_gpu_root_t  *root;

    static const char   garbage[] = "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                    "-----END CERTIFICATE-----\n";

    attest_err_clear(&err);
    b = buf_dup("", 0);
    root = root_load(&b, &err);
    ok(root == NULL && err.reason == ATTEST_GPU_EVIDENCE_INVALID,
       "root: empty text is refused (%s)", err.detail);
    attest_gpu_root_free(root);
    buf_free(&b);

    attest_err_clear(&err);
    b = buf_dup("no pem here\n", 12);
    root = root_load(&b, &err);
    ok(root == NULL && detail_has(&err, "no certificate"),
       "root: text without PEM is refused (%s)", err.detail);
    attest_gpu_root_free(root);
    buf_free(&b);

    attest_err_clear(&err);
    b = buf_dup(garbage, sizeof(garbage) - 1);
    root = root_load(&b, &err);
    ok(root == NULL && detail_has(&err, "does not parse"),
       "root: a PEM block that is no certificate is refused (%s)",
       err.detail);
    attest_gpu_root_free(root);
    buf_free(&b);

    /* a root followed by a damaged one: nothing is half-loaded */
    attest_err_clear(&err);
    junk = buf_cat(nv_root, "\n", 1);
    b = buf_cat(&junk, garbage, sizeof(garbage) - 1);
    root = root_load(&b, &err);
    ok(root == NULL, "root: a good root then a damaged one is refused (%s)",
       err.detail);
    attest_gpu_root_free(root);
    buf_free(&b);
    buf_free(&junk);

    attest_err_clear(&err);
    b = buf_cat(nv_root, "\0\n ", 3);
    root = root_load(&b, &err);
    ok(root != NULL, "root: trailing NUL and whitespace are tolerated");
    attest_gpu_root_free(root);
    buf_free(&b);

    attest_gpu_root_free(NULL);
}


static void
test_sample(const attest_gpu_root_t *root, const uint8_t *nonce,
    const buf_t *ev, const buf_t *pem)
{
    int                i, n, all;
    char               hex[97];
    buf_t              b, t;
    uint8_t            other[32];
    attest_err_t       err;
    attest_reason_t    rc;
    attest_gpu_info_t  info;

    is_int(ev->len, SAMPLE_LEN, "sample: %d bytes of evidence", SAMPLE_LEN);

    rc = verify(root, nonce, ev, pem, &info, &err);
    is_int(rc, ATTEST_OK, "sample verifies against the NVIDIA root (%s)",
           err.detail);
    is_str(info.driver, "550.90.07", "sample: driver version");
    is_str(info.vbios, "96.00.9f.00.01", "sample: VBIOS version");
    ok(info.has_fwid, "sample: carries an FWID");
    attest_hex_encode(info.fwid, 48, hex);
    is_str(hex, SAMPLE_FWID, "sample: FWID value");

    rc = verify(root, nonce, ev, pem, NULL, &err);
    is_int(rc, ATTEST_OK, "sample verifies with info == NULL");

    rc = attest_gpu_verify_entry(root, nonce, ev->data, ev->len, pem->data,
                                 pem->len, &info, NULL);
    is_int(rc, ATTEST_OK, "sample verifies with err == NULL");

    /* another nonce: any single bit of it */
    for (i = 0; i < 32; i += 31) {
        memcpy(other, nonce, 32);
        other[i] ^= 0x80;
        rc = verify(root, other, ev, pem, &info, &err);
        ok(rc == ATTEST_GPU_EVIDENCE_INVALID && detail_has(&err, "nonce"),
           "sample with nonce byte %d changed fails (%s)", i, err.detail);
    }

    memset(other, 0, sizeof(other));
    rc = verify(root, other, ev, pem, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID && detail_has(&err, "nonce"),
       "sample with a zero nonce fails (%s)", err.detail);
    ok(info.driver[0] == '\0' && info.vbios[0] == '\0' && !info.has_fwid,
       "a report that fails leaves info empty");

    rc = attest_gpu_verify_entry(root, nonce, ev->data, ev->len, pem->data,
                                 pem->len, &info, NULL);
    is_int(rc, ATTEST_OK, "sample still verifies (nothing cached)");

    /* the PEM chain with the NUL and whitespace some encoders leave */
    b = buf_cat(pem, "\n\0", 2);
    rc = verify(root, nonce, ev, &b, &info, &err);
    is_int(rc, ATTEST_OK, "sample chain with a trailing NUL verifies (%s)",
           err.detail);
    buf_free(&b);

    /*
     * Trailing bytes after the signature are not signed and not used.
     * Some lengths here; all of 1..100 with the test double's shorter
     * (cheaper under valgrind) chain in test_vectors().
     */
    ok(trailing_verify(root, nonce, ev, pem, 1, 100),
       "sample with 1..100 trailing bytes verifies");

    /* truncated at every length: fails during parsing, never crashes */
    all = 1;
    for (n = 0; n < (int) ev->len; n++) {
        t = buf_dup(ev->data, n);
        rc = verify(root, nonce, &t, pem, &info, &err);
        buf_free(&t);

        if (rc != ATTEST_GPU_EVIDENCE_INVALID
            || !detail_has(&err, "truncated"))
        {
            tap_diag("  truncated to %d: %d %s", n, rc, err.detail);
            all = 0;
        }
    }
    ok(all, "sample truncated at each of %zu lengths fails as truncated",
       ev->len);

    t = buf_dup(ev->data, 0);
    verify(root, nonce, &t, pem, &info, &err);
    ok(detail_has(&err, "SPDM request truncated"),
       "empty evidence: %s", err.detail);
    buf_free(&t);

    t = buf_dup(ev->data, 37 + 8 + 100);
    verify(root, nonce, &t, pem, &info, &err);
    ok(detail_has(&err, "response truncated at measurement record"),
       "truncated inside the record: %s", err.detail);
    buf_free(&t);

    t = buf_dup(ev->data, ev->len - 1);
    verify(root, nonce, &t, pem, &info, &err);
    ok(detail_has(&err, "truncated at signature"),
       "one signature byte short: %s", err.detail);
    buf_free(&t);

    rc = attest_gpu_verify_entry(root, nonce, NULL, 0, pem->data, pem->len,
                                 &info, &err);
    is_int(rc, ATTEST_GPU_EVIDENCE_INVALID, "NULL evidence fails");

    rc = attest_gpu_verify_entry(NULL, nonce, ev->data, ev->len, pem->data,
                                 pem->len, &info, &err);
    is_int(rc, ATTEST_GPU_EVIDENCE_INVALID, "NULL root fails");
}


static void
test_sample_flips(const attest_gpu_root_t *root, const uint8_t *nonce,
    const buf_t *ev, const buf_t *pem)
{
    int                i, n, sig;
    size_t             pos;
    buf_t              b;
    attest_err_t       err;
    attest_reason_t    rc;
    attest_gpu_info_t  info;

    /*
     * 50 positions spread over the signed range, first and last byte
     * included.  Header and length bytes may fail parsing instead; most
     * must be caught by the signature itself.
     */
    sig = 0;
    for (i = 0; i < 50; i++) {
        pos = (size_t) i * (SAMPLE_SIGNED - 1) / 49;

        b = buf_dup(ev->data, ev->len);
        b.data[pos] ^= 0x01;
        rc = verify(root, nonce, &b, pem, &info, &err);
        buf_free(&b);

        ok(rc == ATTEST_GPU_EVIDENCE_INVALID,
           "sample, byte %zu of the signed range flipped, fails (%s)", pos,
           err.detail);

        sig += detail_has(&err, "SPDM signature");
    }
    ok(sig >= 40, "%d of those 50 failed at the SPDM signature", sig);

    for (n = 0; n < 96; n += 5) {
        pos = SAMPLE_SIGNED + n;

        b = buf_dup(ev->data, ev->len);
        b.data[pos] ^= 0x40;
        rc = verify(root, nonce, &b, pem, &info, &err);
        buf_free(&b);

        ok(rc == ATTEST_GPU_EVIDENCE_INVALID
           && detail_has(&err, "SPDM signature"),
           "sample, signature byte %d flipped, fails (%s)", n, err.detail);
    }

    /* an all-zero signature (r = s = 0) */
    b = buf_dup(ev->data, ev->len);
    memset(b.data + SAMPLE_SIGNED, 0, 96);
    rc = verify(root, nonce, &b, pem, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID && detail_has(&err, "SPDM signature"),
       "sample with a zero signature fails (%s)", err.detail);
    buf_free(&b);
}


static void
test_sample_certs(const attest_gpu_root_t *root, const uint8_t *nonce,
    const buf_t *ev, const buf_t *pem, const buf_t *foreign_pem)
{
    int                i, k, n, nf;
    size_t             pos;
    buf_t              der[MAX_CERTS], fder[MAX_CERTS], saved, b;
    attest_err_t       err;
    attest_reason_t    rc;
    attest_gpu_info_t  info;

    static const int   order[] = { 0, 1, 2, 3, 4 };
    static const int   swapped[] = { 1, 0, 2, 3, 4 };
    static const int   no_leaf[] = { 1, 2, 3, 4 };
    static const int   no_root[] = { 0, 1, 2, 3 };
    static const int   no_ica[] = { 0, 1, 3, 4 };
    static const int   twice[] = { 0, 1, 2, 3, 4, 4 };

    n = chain_split(pem, der, MAX_CERTS);
    is_int(n, 5, "sample chain holds 5 certificates");
    if (n != 5) {
        return;
    }

    b = chain_join(der, order, 5);
    rc = verify(root, nonce, ev, &b, &info, &err);
    is_int(rc, ATTEST_OK, "sample chain re-encoded verifies (%s)",
           err.detail);
    buf_free(&b);

    /* one byte flipped in the DER of each certificate, at 4 places */
    for (i = 0; i < 5; i++) {
        for (k = 0; k < 4; k++) {
            pos = 4 + (size_t) k * (der[i].len - 5) / 3;

            saved = der[i];
            der[i] = buf_dup(saved.data, saved.len);
            der[i].data[pos] ^= 0x01;

            b = chain_join(der, order, 5);
            rc = verify(root, nonce, ev, &b, &info, &err);
            buf_free(&b);

            ok(rc == ATTEST_GPU_EVIDENCE_INVALID,
               "certificate %d, DER byte %zu of %zu flipped, fails (%s)", i,
               pos, saved.len, err.detail);

            buf_free(&der[i]);
            der[i] = saved;
        }
    }

    /* a byte after the DER inside a PEM block: parsed by nobody, refused */
    for (i = 0; i < 5; i += 4) {
        saved = der[i];
        der[i] = buf_cat(&saved, "", 1);

        b = chain_join(der, order, 5);
        rc = verify(root, nonce, ev, &b, &info, &err);
        buf_free(&b);

        ok(rc == ATTEST_GPU_EVIDENCE_INVALID
           && detail_has(&err, "does not parse"),
           "certificate %d with a byte after its DER fails (%s)", i,
           err.detail);

        buf_free(&der[i]);
        der[i] = saved;
    }

    b = chain_join(der, no_leaf, 4);
    rc = verify(root, nonce, ev, &b, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID && detail_has(&err, "signature"),
       "second certificate as the leaf fails (%s)", err.detail);
    buf_free(&b);

    b = chain_join(der, swapped, 5);
    rc = verify(root, nonce, ev, &b, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID,
       "leaf and its issuer swapped fails (%s)", err.detail);
    buf_free(&b);

    b = chain_join(der, no_ica, 4);
    rc = verify(root, nonce, ev, &b, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID
       && detail_has(&err, "certificate chain"),
       "chain without an intermediate fails (%s)", err.detail);
    buf_free(&b);

    /* the root's own copy is never needed: the pinned one anchors */
    b = chain_join(der, no_root, 4);
    rc = verify(root, nonce, ev, &b, &info, &err);
    is_int(rc, ATTEST_OK, "chain without its root copy verifies (%s)",
           err.detail);
    buf_free(&b);

    b = chain_join(der, twice, 6);
    rc = verify(root, nonce, ev, &b, &info, &err);
    is_int(rc, ATTEST_OK, "chain with the root twice verifies (%s)",
           err.detail);
    buf_free(&b);

    b = buf_dup("", 0);
    rc = verify(root, nonce, ev, &b, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID && detail_has(&err, "no certificate"),
       "empty chain fails (%s)", err.detail);
    buf_free(&b);

    /* a damaged base64 line must not quietly shorten the chain */
    b = buf_dup(pem->data, pem->len);
    for (pos = pem->len - 200; pos < pem->len; pos++) {
        if (b.data[pos] >= 'A' && b.data[pos] <= 'Z') {
            b.data[pos] = '*';
            break;
        }
    }
    rc = verify(root, nonce, ev, &b, &info, &err);
    ok(rc == ATTEST_GPU_EVIDENCE_INVALID
       && detail_has(&err, "PEM block 4 does not decode"),
       "a bad base64 character in the root copy fails (%s)", err.detail);
    buf_free(&b);

    if (foreign_pem->data != NULL) {
        nf = chain_split(foreign_pem, fder, MAX_CERTS);

        /* the test double's leaf in front of NVIDIA's intermediates */
        if (nf > 0) {
            saved = der[0];
            der[0] = fder[0];
            b = chain_join(der, order, 5);
            rc = verify(root, nonce, ev, &b, &info, &err);
            ok(rc == ATTEST_GPU_EVIDENCE_INVALID,
               "a foreign leaf with NVIDIA's intermediates fails (%s)",
               err.detail);
            buf_free(&b);
            der[0] = saved;

            /* an extra certificate that is on no path */
            b = buf_cat(pem, "\n", 1);
            saved = buf_cat(&b, foreign_pem->data, foreign_pem->len);
            buf_free(&b);
            rc = verify(root, nonce, ev, &saved, &info, &err);
            ok(rc == ATTEST_GPU_EVIDENCE_INVALID
               && detail_has(&err, "not on the path"),
               "an extra unrelated certificate fails (%s)", err.detail);
            buf_free(&saved);
        }

        for (i = 0; i < nf; i++) {
            buf_free(&fder[i]);
        }
    }

    for (i = 0; i < n; i++) {
        buf_free(&der[i]);
    }
}


static void
test_other_roots(const buf_t *nv_root, const uint8_t *nonce,
    const buf_t *ev, const buf_t *pem)
{
    buf_t               r, both, nl;
    attest_err_t        err;
    attest_reason_t     rc;
    attest_gpu_root_t  *root;
    attest_gpu_info_t   info;

    /* the test double's root, a self-signed P-384 CA */
    r = file_load(tap_vectors(), "gpu_root.pem");
    root = root_load(&r, &err);
    ok(root != NULL, "test double root loads");

    if (root != NULL) {
        rc = verify(root, nonce, ev, pem, &info, &err);
        ok(rc == ATTEST_GPU_EVIDENCE_INVALID
           && detail_has(&err, "certificate chain"),
           "sample against another root fails (%s)", err.detail);
        attest_gpu_root_free(root);
    }

    /* several pinned roots: either one anchors */
    nl = buf_cat(&r, "\n", 1);
    both = buf_cat(&nl, nv_root->data, nv_root->len);
    root = root_load(&both, &err);
    ok(root != NULL, "two roots in one PEM load");

    if (root != NULL) {
        rc = verify(root, nonce, ev, pem, &info, &err);
        is_int(rc, ATTEST_OK, "sample verifies with NVIDIA as second root "
               "(%s)", err.detail);
        attest_gpu_root_free(root);
    }

    buf_free(&both);
    buf_free(&nl);
    buf_free(&r);

    /* same subject and key identifier as NVIDIA's root, another key */
    r = file_load(tap_vectors(), "gpu_fake_nvidia_root.pem");
    root = root_load(&r, &err);
    ok(root != NULL, "look-alike NVIDIA root loads");

    if (root != NULL) {
        rc = verify(root, nonce, ev, pem, &info, &err);
        ok(rc == ATTEST_GPU_EVIDENCE_INVALID
           && detail_has(&err, "certificate chain"),
           "sample against a look-alike NVIDIA root fails (%s)", err.detail);
        attest_gpu_root_free(root);
    }

    buf_free(&r);
}


static void
test_vectors(const attest_gpu_root_t *nv_root)
{
    int                 i;
    char                name[64], hex[97];
    buf_t               r, ev, pem, n, want;
    uint8_t             nonce[32];
    attest_err_t        err;
    attest_reason_t     rc;
    attest_gpu_root_t  *root;
    attest_gpu_info_t   info;

    static const struct {
        const char  *name;
        const char  *root;
        const char  *detail;        /* NULL: verifies */
    } cases[] = {
        { "ok", "gpu_root.pem", NULL },
        { "multi0", "gpu_root.pem", NULL },
        { "multi1", "gpu_root.pem", NULL },
        { "wrong_nonce", "gpu_root.pem", "nonce mismatch" },
        { "bad_signature", "gpu_root.pem", "SPDM signature" },
        { "other_root", "gpu_root.pem", "certificate chain" },
        { "bad_fwid", "gpu_root.pem", "FWID != leaf DICE extension" },
        { "dice_critical", "gpu_dice_critical_root.pem", NULL },
        { "unknown_critical", "gpu_unknown_critical_root.pem",
          "unhandled critical extension" },
    };

    n = hex_load(tap_vectors(), "gpu_nonce.hex");
    if (!ok(n.data != NULL && n.len == 32,
            "vectors: %s/gpu_nonce.hex (run make vectors)", tap_vectors()))
    {
        buf_free(&n);
        return;
    }

    memcpy(nonce, n.data, 32);
    buf_free(&n);

    for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++) {
        r = file_load(tap_vectors(), cases[i].root);
        snprintf(name, sizeof(name), "gpu_%s.bin", cases[i].name);
        ev = file_load(tap_vectors(), name);
        snprintf(name, sizeof(name), "gpu_%s.pem", cases[i].name);
        pem = file_load(tap_vectors(), name);

        root = r.data ? root_load(&r, &err) : NULL;

        if (!ok(root != NULL && ev.data != NULL && pem.data != NULL,
                "vector %s: files load", cases[i].name))
        {
            goto next;
        }

        rc = verify(root, nonce, &ev, &pem, &info, &err);

        if (cases[i].detail == NULL) {
            is_int(rc, ATTEST_OK, "vector %s verifies (%s)", cases[i].name,
                   err.detail);
            is_str(info.driver, "550.90.07", "vector %s: driver",
                   cases[i].name);
            is_str(info.vbios, "96.00.9f.00.01", "vector %s: VBIOS",
                   cases[i].name);
            ok(info.has_fwid, "vector %s: FWID", cases[i].name);

        } else {
            ok(rc == ATTEST_GPU_EVIDENCE_INVALID
               && detail_has(&err, cases[i].detail),
               "vector %s fails at '%s' (%s)", cases[i].name,
               cases[i].detail, err.detail);
        }

        if (i == 0) {
            want = file_load(tap_vectors(), "gpu_ok.fwid");
            attest_hex_encode(info.fwid, 48, hex);
            ok(want.data != NULL && want.len >= 96
               && memcmp(want.data, hex, 96) == 0,
               "vector ok: FWID is the one the test double made");
            buf_free(&want);

            ok(trailing_verify(root, nonce, &ev, &pem, 1, 100),
               "vector ok with 1..100 trailing bytes verifies");

            /* and NVIDIA's root does not anchor the test double */
            rc = verify(nv_root, nonce, &ev, &pem, &info, &err);
            ok(rc == ATTEST_GPU_EVIDENCE_INVALID
               && detail_has(&err, "certificate chain"),
               "vector ok against the NVIDIA root fails (%s)", err.detail);
        }

    next:

        attest_gpu_root_free(root);
        buf_free(&r);
        buf_free(&ev);
        buf_free(&pem);
    }
}


int
main(void)
{
    buf_t               nv_root, ev, pem, foreign;
    uint8_t             nonce[32];
    attest_err_t        err;
    attest_gpu_root_t  *root;

    nv_root = file_load(tap_testdata(),
                        "nvidia/nvidia_device_identity_root.pem");
    ev = hex_load(tap_testdata(), "nvidia/hopper_report.hex");
    pem = file_load(tap_testdata(), "nvidia/hopper_cert_chain.pem");

    if (!ok(nv_root.data && ev.data && pem.data, "test data in %s",
            tap_testdata()))
    {
        return tap_done();
    }

    attest_hex_decode(SAMPLE_NONCE, 64, nonce);

    test_root_load(&nv_root);

    root = root_load(&nv_root, &err);
    if (!ok(root != NULL, "NVIDIA root loads (%s)", err.detail)) {
        return tap_done();
    }

    foreign = file_load(tap_vectors(), "gpu_ok.pem");

    test_sample(root, nonce, &ev, &pem);
    test_sample_flips(root, nonce, &ev, &pem);
    test_sample_certs(root, nonce, &ev, &pem, &foreign);
    test_other_roots(&nv_root, nonce, &ev, &pem);
    test_vectors(root);

    attest_gpu_root_free(root);
    buf_free(&nv_root);
    buf_free(&ev);
    buf_free(&pem);
    buf_free(&foreign);

    return tap_done();
}
