/*
 * One signed response (attest_sig.c): the text syntax, the order of the
 * checks and each verdict of attest_sig_verify(), the body hash check and
 * the signature event's JSON.
 *
 * Every signature comes from the independent Python signer
 * (t/upstream/ethsign.py, through tests/vectors/gen_sig.py, run by "make
 * vectors"); the expected verdicts are written there too.  Every string
 * handed to the code under test is copied into a buffer of exactly its
 * length, not NUL-terminated, so that valgrind sees any read past the end.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_codec.h"
#include "attest_jsonhash.h"
#include "attest_sig.h"
#include "tap.h"


#define CASE_COLS   12
#define EVENT_COLS  8

/* 64 + 1 + 64 hex: request hash 00 01 .. 1f, response hash ff fe .. e0 */
#define TEXT_LOW                                                             \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f:"      \
    "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0"
#define TEXT_UPPER                                                           \
    "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F:"      \
    "FFFEFDFCFBFAF9F8F7F6F5F4F3F2F1F0EFEEEDECEBEAE9E8E7E6E5E4E3E2E1E0"


/* pointers into the slurped vector files, plus exact copies to free */
typedef struct {
    char   *copies[8];
    int     n;
} owned_t;


static char *
mem_dup(const char *p, size_t len)
{
    char  *d;

    /* malloc(0) may return NULL; keep a valid pointer for len 0 */
    d = malloc(len ? len : 1);
    if (d == NULL) {
        perror("malloc");
        exit(2);
    }

    if (len) {
        memcpy(d, p, len);
    }

    return d;
}


static void
owned_free(owned_t *o)
{
    int  i;

    for (i = 0; i < o->n; i++) {
        free(o->copies[i]);
    }

    o->n = 0;
}


/* "-": absent; "=value": an exact copy of value */
static void
field_set(attest_str_t *s, const char *col, owned_t *o)
{
    size_t  len;

    if (col[0] != '=') {
        s->data = NULL;
        s->len = 0;
        return;
    }

    len = strlen(col + 1);
    s->data = mem_dup(col + 1, len);
    s->len = len;
    o->copies[o->n++] = (char *) s->data;
}


/* splits a line at TABs in place; returns the number of columns */
static int
split(char *line, char **cols, int max)
{
    int    n;
    char  *p;

    n = 0;
    cols[n++] = line;

    for (p = line; *p; p++) {
        if (*p == '\t') {
            *p = '\0';

            if (n == max) {
                return max + 1;
            }

            cols[n++] = p + 1;
        }
    }

    return n;
}


/* the lines of a vector file, NUL-terminated each; NULL if unreadable */
static char *
vectors_load(const char *name, char ***lines, int *n)
{
    int     cap;
    char    path[512], *p, *nl;
    size_t  len;

    snprintf(path, sizeof(path), "%s/%s", tap_vectors(), name);

    p = (char *) tap_slurp(path, &len);
    if (!ok(p != NULL, "read %s", path)) {
        tap_diag("  run make vectors first");
        return NULL;
    }

    cap = 16;
    *n = 0;
    *lines = malloc(cap * sizeof(char *));

    for (nl = p; *nl; ) {
        if (*n == cap) {
            cap *= 2;
            *lines = realloc(*lines, cap * sizeof(char *));
        }

        if (*lines == NULL) {
            perror("realloc");
            exit(2);
        }

        (*lines)[(*n)++] = nl;

        nl = strchr(nl, '\n');
        if (nl == NULL) {
            break;
        }

        *nl++ = '\0';
    }

    return p;
}


static int
hex_is(const uint8_t *got, size_t n, const char *want)
{
    char  buf[129];

    attest_hex_encode(got, n, buf);

    if (strcmp(buf, want) != 0) {
        tap_diag("  got  %s", buf);
        tap_diag("  want %s", want);
        return 0;
    }

    return 1;
}


/* reason and detail as expected; "-" detail: anything */
static int
verdict_is(attest_reason_t rc, const attest_err_t *err, const char *reason,
    const char *detail)
{
    if (strcmp(attest_reason_name(rc), reason) != 0) {
        tap_diag("  got %s (%s), want %s", attest_reason_name(rc),
                 err->detail, reason);
        return 0;
    }

    if (rc != ATTEST_OK && err->reason != rc) {
        tap_diag("  err->reason %s", attest_reason_name(err->reason));
        return 0;
    }

    if (rc == ATTEST_OK && (err->reason != ATTEST_OK || err->detail[0])) {
        tap_diag("  success left err set: %s", err->detail);
        return 0;
    }

    if (detail[0] == '=' && strstr(err->detail, detail + 1) == NULL) {
        tap_diag("  detail '%s', want '%s'", err->detail, detail + 1);
        return 0;
    }

    return 1;
}


static attest_reason_t
text_parse(const char *s, size_t len, attest_text_t *t, attest_err_t *err)
{
    char             *c;
    attest_reason_t   rc;

    c = mem_dup(s, len);
    attest_err_clear(err);
    rc = attest_text_parse(c, len, t, err);
    free(c);

    return rc;
}


static void
test_text_parse(void)
{
    int              i, all;
    char             buf[200];
    size_t           len;
    attest_err_t     err;
    attest_text_t    t;
    attest_reason_t  rc;

    static const size_t  bad_lens[] = { 0, 1, 64, 65, 127, 128, 130, 131,
                                        199 };

    rc = text_parse(TEXT_LOW, 129, &t, &err);
    is_int(rc, ATTEST_OK, "text: 129 lowercase hex with a colon parses");
    ok(hex_is(t.request_hash, 32, "000102030405060708090a0b0c0d0e0f"
                                  "101112131415161718191a1b1c1d1e1f"),
       "text: request hash");
    ok(hex_is(t.response_hash, 32, "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"
                                   "efeeedecebeae9e8e7e6e5e4e3e2e1e0"),
       "text: response hash");
    ok(err.reason == ATTEST_OK && err.detail[0] == '\0',
       "text: success leaves err untouched");

    memset(&t, 0, sizeof(t));
    rc = text_parse(TEXT_UPPER, 129, &t, &err);
    is_int(rc, ATTEST_OK, "text: uppercase hex parses");
    ok(t.request_hash[10] == 0x0a && t.response_hash[31] == 0xe0,
       "text: uppercase decodes to the same bytes");

    /* 129 bytes read from a longer buffer: the rest is never looked at */
    memcpy(buf, TEXT_LOW, 129);
    memcpy(buf + 129, "zz::", 4);
    rc = text_parse(buf, 129, &t, &err);
    is_int(rc, ATTEST_OK, "text: bytes after len are not read");

    all = 1;
    for (i = 0; i < (int) (sizeof(bad_lens) / sizeof(bad_lens[0])); i++) {
        len = bad_lens[i];
        memset(buf, 'a', sizeof(buf));
        if (len > 64) {
            buf[64] = ':';
        }

        rc = text_parse(buf, len, &t, &err);
        if (rc != ATTEST_TEXT_MALFORMED || err.reason != rc) {
            tap_diag("  length %zu: %s", len, attest_reason_name(rc));
            all = 0;
        }
    }
    ok(all, "text: every length but 129 is text_malformed");

    snprintf(buf, sizeof(buf), "%s", TEXT_LOW);
    buf[64] = '0';
    rc = text_parse(buf, 129, &t, &err);
    ok(rc == ATTEST_TEXT_MALFORMED && strstr(err.detail, "<64 hex>"),
       "text: no colon (%s)", err.detail);

    snprintf(buf, sizeof(buf), "%s", TEXT_LOW);
    buf[63] = ':';
    buf[64] = '0';
    rc = text_parse(buf, 129, &t, &err);
    is_int(rc, ATTEST_TEXT_MALFORMED, "text: colon at 63 (%s)", err.detail);

    snprintf(buf, sizeof(buf), "%s", TEXT_LOW);
    buf[100] = ':';
    rc = text_parse(buf, 129, &t, &err);
    ok(rc == ATTEST_TEXT_MALFORMED && strstr(err.detail, "non-hex"),
       "text: two colons (%s)", err.detail);

    snprintf(buf, sizeof(buf), "%s", TEXT_LOW);
    buf[0] = ':';
    rc = text_parse(buf, 129, &t, &err);
    is_int(rc, ATTEST_TEXT_MALFORMED, "text: colon first and at 64");

    /* a non-hex byte at each end of each half, and a NUL */
    all = 1;
    for (i = 0; i < 129; i++) {
        if (i != 0 && i != 63 && i != 65 && i != 128 && i != 30) {
            continue;
        }

        snprintf(buf, sizeof(buf), "%s", TEXT_LOW);
        buf[i] = (i == 30) ? '\0' : 'g';
        rc = text_parse(buf, 129, &t, &err);

        if (rc != ATTEST_TEXT_MALFORMED) {
            tap_diag("  non-hex at %d accepted", i);
            all = 0;
        }
    }
    ok(all, "text: a non-hex byte at 0, 30 (NUL), 63, 65, 128 is refused");

    snprintf(buf, sizeof(buf), "%s\n", TEXT_LOW);
    rc = text_parse(buf, 130, &t, &err);
    is_int(rc, ATTEST_TEXT_MALFORMED, "text: a trailing newline is refused");

    snprintf(buf, sizeof(buf), " %.128s", TEXT_LOW);
    rc = text_parse(buf, 129, &t, &err);
    is_int(rc, ATTEST_TEXT_MALFORMED, "text: a leading space is refused");

    rc = attest_text_parse(TEXT_LOW, 128, &t, NULL);
    is_int(rc, ATTEST_TEXT_MALFORMED, "text: err may be NULL");
}


/* a set of attested signers (attest_signer_t.find): n addresses */
typedef struct {
    const uint8_t  *addrs;
    size_t          n;
    const char     *digest;
    size_t          digest_len;
} signer_set_t;


static int
set_find(attest_signer_t *s, const uint8_t claimed[20])
{
    size_t         i;
    signer_set_t  *set = s->data;

    for (i = 0; i < set->n; i++) {
        if (memcmp(set->addrs + 20 * i, claimed, 20) == 0) {
            s->address = set->addrs + 20 * i;
            s->image_digest = set->digest;
            s->image_digest_len = set->digest_len;
            return 0;
        }
    }

    return -1;
}


/*
 * A verified case again against a set: found as the third of three (its
 * image digest checked as before), signer_not_attested without it.
 */
static int
run_set(attest_sig_fields_t *f, const uint8_t addr[20], attest_str_t *d,
    attest_text_t *t)
{
    int              pass;
    uint8_t          many[60];
    signer_set_t     set;
    attest_reason_t  rc;
    attest_signer_t  signer;

    memset(many, 0x33, 40);
    memcpy(many + 40, addr, 20);

    set.addrs = many;
    set.n = 3;
    set.digest = d->data;
    set.digest_len = d->len;

    /* the address given is not the signer's: the set decides */
    signer.address = many;
    signer.image_digest = NULL;
    signer.image_digest_len = 0;
    signer.find = set_find;
    signer.data = &set;

    pass = 1;

    rc = attest_sig_verify(f, &signer, t, NULL);
    if (rc != ATTEST_OK) {
        tap_diag("  in a set of 3: %s", attest_reason_name(rc));
        pass = 0;
    }

    set.n = 2;

    rc = attest_sig_verify(f, &signer, t, NULL);
    if (rc != ATTEST_SIGNER_NOT_ATTESTED) {
        tap_diag("  outside the set: %s", attest_reason_name(rc));
        pass = 0;
    }

    return pass;
}


/* one line of sig_cases.txt; t gets the verified text */
static int
run_case(char **c, attest_text_t *t, int with_err)
{
    int                  pass;
    owned_t              o;
    uint8_t              addr[20];
    attest_str_t         d;
    attest_err_t         err;
    attest_signer_t      signer;
    attest_reason_t      rc, rc2;
    attest_sig_fields_t  f;

    o.n = 0;

    field_set(&f.text, c[3], &o);
    field_set(&f.signature, c[4], &o);
    field_set(&f.signing_address, c[5], &o);
    field_set(&f.signing_algo, c[6], &o);
    field_set(&f.image_digest, c[7], &o);

    if (strlen(c[8]) != 40 || attest_hex_decode(c[8], 40, addr) != 0) {
        tap_diag("  bad attested address %s", c[8]);
        owned_free(&o);
        return 0;
    }

    /* the attested address too, in a buffer of exactly 20 bytes */
    signer.address = (uint8_t *) mem_dup((char *) addr, 20);
    signer.find = NULL;
    o.copies[o.n++] = (char *) signer.address;

    field_set(&d, c[9], &o);
    signer.image_digest = d.data;
    signer.image_digest_len = d.len;

    memset(t, 0, sizeof(*t));
    attest_err_clear(&err);
    rc = attest_sig_verify(&f, &signer, t, &err);

    pass = verdict_is(rc, &err, c[1], c[2]);

    if (pass && rc == ATTEST_OK) {
        pass = hex_is(t->request_hash, 32, c[10])
               && hex_is(t->response_hash, 32, c[11])
               && run_set(&f, addr, &d, t);
    }

    if (with_err) {
        /* the same verdict without an err to write to */
        rc2 = attest_sig_verify(&f, &signer, t, NULL);
        if (rc2 != rc) {
            tap_diag("  with err == NULL: %s", attest_reason_name(rc2));
            pass = 0;
        }
    }

    owned_free(&o);

    return pass;
}


static void
test_cases(void)
{
    int              i, n, ncols, counts[ATTEST_REASON_MAX];
    char            *file, **lines, *c[CASE_COLS + 1];
    size_t           k;
    attest_text_t    t;
    attest_reason_t  r;

    static const attest_reason_t  want[] = {
        ATTEST_OK, ATTEST_SIGNATURE_MISSING, ATTEST_SIGNING_ALGO_UNSUPPORTED,
        ATTEST_TEXT_MALFORMED, ATTEST_SIGNATURE_MALFORMED,
        ATTEST_SIGNATURE_INVALID, ATTEST_SIGNER_NOT_ATTESTED,
        ATTEST_IMAGE_DIGEST_MISMATCH
    };

    file = vectors_load("sig_cases.txt", &lines, &n);
    if (file == NULL) {
        return;
    }

    memset(counts, 0, sizeof(counts));

    for (i = 0; i < n; i++) {
        if (lines[i][0] == '\0') {
            continue;
        }

        ncols = split(lines[i], c, CASE_COLS);
        if (!ok(ncols == CASE_COLS, "case line %d has %d columns", i + 1,
                CASE_COLS))
        {
            continue;
        }

        ok(run_case(c, &t, 1), "sig case %s: %s", c[0], c[1]);

        r = attest_reason_from_name(c[1], strlen(c[1]));
        if (r < ATTEST_REASON_MAX) {
            counts[r]++;
        }
    }

    for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        ok(counts[want[k]] > 0, "the vectors hold %d cases of %s",
           counts[want[k]], attest_reason_name(want[k]));
    }

    free(lines);
    free(file);
}


/* finds one case by name in a fresh copy of sig_cases.txt and runs it */
static int
case_by_name(const char *name, attest_text_t *t)
{
    int    i, n, found;
    char  *file, **lines, *c[CASE_COLS + 1];

    file = vectors_load("sig_cases.txt", &lines, &n);
    if (file == NULL) {
        return 0;
    }

    found = 0;

    for (i = 0; i < n; i++) {
        if (split(lines[i], c, CASE_COLS) == CASE_COLS
            && strcmp(c[0], name) == 0)
        {
            found = run_case(c, t, 0);
            break;
        }
    }

    free(lines);
    free(file);

    return found;
}


static void
test_check_body(void)
{
    char             path[512], *p;
    size_t           len;
    uint8_t          h[32], *body, *copy;
    attest_err_t     err;
    attest_text_t    t;
    attest_reason_t  rc;

    if (!ok(case_by_name("body_ok", &t), "body: the signed text verifies")) {
        return;
    }

    snprintf(path, sizeof(path), "%s/sig_body.json", tap_vectors());
    body = tap_slurp(path, &len);
    if (!ok(body != NULL, "read %s", path)) {
        return;
    }

    copy = (uint8_t *) mem_dup((char *) body, len);
    ok(attest_jsonhash(copy, len, h) == 0, "body: hashed");

    attest_err_clear(&err);
    rc = attest_sig_check_body(&t, h, &err);
    is_int(rc, ATTEST_OK, "body: the signed hash matches the body (%s)",
           err.detail);
    ok(err.detail[0] == '\0', "body: success leaves err untouched");

    rc = attest_sig_check_body(&t, h, NULL);
    is_int(rc, ATTEST_OK, "body: err may be NULL");

    /* one character of the content changed */
    p = memchr(copy, 'h', len);
    if (ok(p != NULL, "body: has an 'h' to change")) {
        *p = 'H';
        attest_jsonhash(copy, len, h);
        rc = attest_sig_check_body(&t, h, &err);
        ok(rc == ATTEST_BODY_MISMATCH && err.reason == rc,
           "body: one byte changed is body_mismatch (%s)", err.detail);
        *p = 'h';
    }

    /* the detail names both hashes by their first 16 hex digits */
    memset(h, 0xab, sizeof(h));
    rc = attest_sig_check_body(&t, h, &err);
    ok(rc == ATTEST_BODY_MISMATCH && strstr(err.detail, "abababababababab")
       && strstr(err.detail, "signed response hash"),
       "body: detail names the body's hash (%s)", err.detail);

    /* a body hash that differs in the last byte only */
    memcpy(h, t.response_hash, 32);
    h[31] ^= 0x01;
    rc = attest_sig_check_body(&t, h, &err);
    is_int(rc, ATTEST_BODY_MISMATCH, "body: last hash byte differs");

    h[31] ^= 0x01;
    h[0] ^= 0x80;
    rc = attest_sig_check_body(&t, h, NULL);
    is_int(rc, ATTEST_BODY_MISMATCH, "body: first hash byte differs");

    free(copy);
    free(body);
}


static int
mask_of(const attest_sig_fields_t *f)
{
    return (f->text.data != NULL)
           | (f->signature.data != NULL) << 1
           | (f->signing_address.data != NULL) << 2
           | (f->signing_algo.data != NULL) << 3
           | (f->image_digest.data != NULL) << 4;
}


/* every field found is a string of its stated length */
static int
lens_ok(const attest_sig_fields_t *f)
{
    const attest_str_t  *s[5];
    int                  i;

    s[0] = &f->text;
    s[1] = &f->signature;
    s[2] = &f->signing_address;
    s[3] = &f->signing_algo;
    s[4] = &f->image_digest;

    for (i = 0; i < 5; i++) {
        if (s[i]->data == NULL ? s[i]->len != 0
                               : strlen(s[i]->data) != s[i]->len)
        {
            return 0;
        }
    }

    return 1;
}


static int
run_event(char **c)
{
    int                  pass;
    void                *tree;
    size_t               hlen, len;
    uint8_t             *json, addr[20];
    owned_t              o;
    attest_str_t         d;
    attest_err_t         err;
    attest_text_t        t;
    attest_signer_t      signer;
    attest_reason_t      rc;
    attest_sig_fields_t  f;

    o.n = 0;

    hlen = strcmp(c[7], "=") == 0 ? 0 : strlen(c[7]);
    len = hlen / 2;
    json = malloc(len ? len : 1);
    if (json == NULL || attest_hex_decode(c[7], hlen, json) != 0) {
        tap_diag("  bad hex in the vector");
        free(json);
        return 0;
    }

    memset(&f, 0x5a, sizeof(f));
    tree = &o;
    attest_err_clear(&err);
    rc = attest_sig_json_parse(json, len, &f, &tree, &err);

    /* the fields must point into the tree, not into the input */
    free(json);

    pass = verdict_is(rc, &err, c[1], rc == ATTEST_OK ? "-" : c[4]);

    if (rc != ATTEST_OK) {
        if (tree != NULL || mask_of(&f) != 0) {
            tap_diag("  a failed parse left a tree or fields");
            pass = 0;
        }

        return pass;
    }

    if (mask_of(&f) != atoi(c[2]) || !lens_ok(&f)) {
        tap_diag("  fields found %d, want %s", mask_of(&f), c[2]);
        pass = 0;
    }

    if (strcmp(c[0], "ev_escaped_algo") == 0
        && !(f.signing_algo.len == 5
             && memcmp(f.signing_algo.data, "ecdsa", 5) == 0))
    {
        tap_diag("  \\u escapes not decoded");
        pass = 0;
    }

    if (strcmp(c[3], "-") != 0) {
        attest_hex_decode(c[5], 40, addr);
        signer.address = addr;
        signer.find = NULL;
        field_set(&d, c[6], &o);
        signer.image_digest = d.data;
        signer.image_digest_len = d.len;

        attest_err_clear(&err);
        rc = attest_sig_verify(&f, &signer, &t, &err);
        pass = verdict_is(rc, &err, c[3], c[4]) && pass;
    }

    attest_sig_json_free(tree);
    owned_free(&o);

    return pass;
}


static void
test_events(void)
{
    int                  i, n, parsed, failed;
    char                *file, **lines, *c[EVENT_COLS + 1];
    void                *tree;
    attest_reason_t      rc;
    attest_sig_fields_t  f;

    file = vectors_load("sig_events.txt", &lines, &n);
    if (file == NULL) {
        return;
    }

    parsed = failed = 0;

    for (i = 0; i < n; i++) {
        if (lines[i][0] == '\0') {
            continue;
        }

        if (!ok(split(lines[i], c, EVENT_COLS) == EVENT_COLS,
                "event line %d has %d columns", i + 1, EVENT_COLS))
        {
            continue;
        }

        ok(run_event(c), "sig event %s: parse %s, verify %s", c[0], c[1],
           c[3]);

        if (strcmp(c[1], "ok") == 0) {
            parsed++;

        } else {
            failed++;
        }
    }

    ok(parsed >= 10 && failed >= 10, "%d events parse, %d do not", parsed,
       failed);

    free(lines);
    free(file);

    rc = attest_sig_json_parse((const uint8_t *) "[]", 2, &f, &tree, NULL);
    ok(rc == ATTEST_SIGNATURE_MALFORMED && tree == NULL,
       "event: err may be NULL");

    rc = attest_sig_json_parse((const uint8_t *) "{}", 2, &f, &tree, NULL);
    is_int(rc, ATTEST_OK, "event: {} parses with err NULL");
    attest_sig_json_free(tree);

    /* only len bytes are parsed: the closing brace lies beyond */
    rc = attest_sig_json_parse((const uint8_t *) "{}", 1, &f, &tree, NULL);
    ok(rc == ATTEST_SIGNATURE_MALFORMED && tree == NULL,
       "event: a length short of the closing brace is malformed");

    rc = attest_sig_json_parse(NULL, 0, &f, &tree, NULL);
    ok(rc == ATTEST_SIGNATURE_MALFORMED && tree == NULL,
       "event: NULL, 0 is malformed");

    attest_sig_json_free(NULL);
    ok(1, "event: freeing a NULL tree is harmless");
}


/* {"text": "aaa...", "x": [[..]]} of exactly len bytes, depth deep */
static uint8_t *
big_event(size_t len, size_t deep)
{
    size_t    n, i, pad;
    uint8_t  *b;

    b = malloc(len);
    if (b == NULL) {
        perror("malloc");
        exit(2);
    }

    /* {"text": " + pad + ", "x": " + 2 * deep + "}": 19 bytes fixed */
    pad = len - 19 - 2 * deep;

    n = 0;
    memcpy(b, "{\"text\": \"", 10);
    n += 10;
    memset(b + n, 'a', pad);
    n += pad;
    memcpy(b + n, "\", \"x\": ", 8);
    n += 8;

    for (i = 0; i < deep; i++) {
        b[n + i] = '[';
        b[n + deep + i] = ']';
    }

    n += 2 * deep;
    b[n++] = '}';

    if (n != len) {
        tap_diag("big_event: %zu bytes, want %zu", n, len);
    }

    return b;
}


static void
test_event_size(void)
{
    void                *tree;
    uint8_t             *b;
    attest_err_t         err;
    attest_reason_t      rc;
    attest_sig_fields_t  f;

    b = big_event(65536, 100);
    rc = attest_sig_json_parse(b, 65536, &f, &tree, &err);
    ok(rc == ATTEST_OK && f.text.len == 65536 - 19 - 200,
       "event: 64 KiB parse (%s)", rc ? err.detail : "ok");
    attest_sig_json_free(tree);
    free(b);

    b = big_event(65537, 100);
    rc = attest_sig_json_parse(b, 65537, &f, &tree, &err);
    ok(rc == ATTEST_SIGNATURE_MALFORMED && tree == NULL
       && strstr(err.detail, "larger than"),
       "event: 64 KiB + 1 is malformed (%s)", err.detail);
    free(b);

    /* as deep as fits: yajl's recursion stays on the stack */
    b = big_event(65536, 32000);
    rc = attest_sig_json_parse(b, 65536, &f, &tree, &err);
    is_int(rc, ATTEST_OK, "event: 32000 levels of nesting inside 64 KiB");
    attest_sig_json_free(tree);
    free(b);

    /* a 1 MB run of "[" is refused before yajl sees it */
    b = malloc(1 << 20);
    if (b != NULL) {
        memset(b, '[', 1 << 20);
        rc = attest_sig_json_parse(b, 1 << 20, &f, &tree, &err);
        ok(rc == ATTEST_SIGNATURE_MALFORMED && tree == NULL,
           "event: 1 MB of '[' is malformed, no crash");
        free(b);
    }
}


int
main(void)
{
    test_text_parse();
    test_cases();
    test_check_body();
    test_events();
    test_event_size();

    return tap_done();
}
