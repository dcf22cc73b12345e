/*
 * The attestation report document (PROTOCOL.md section 1).
 *
 * Two passes over the same bytes.  The first is yajl's callback parser in
 * its strict default mode: it bounds nesting (yajl_tree frees recursively,
 * so deep input must never reach it), rejects strings and keys that decode
 * to a NUL character (yajl_tree keeps strings NUL-terminated, so those
 * would be silently cut) and yields yajl's own error message.  Only input
 * that passed it is given to yajl_tree_parse, whose lax comment mode then
 * has nothing to be lax about.
 *
 * Duplicate keys: the last one wins, as with Python's json module, which
 * both the agent and the other verifiers of this family use.
 */

#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "attest_codec.h"
#include "attest_report.h"


#define ATTEST_REPORT_MAX_GPUS  64


typedef struct {
    int          depth;
    int          too_deep;
    const char  *why;            /* set when a callback cancels */
} attest_scan_t;


static int attest_scan_open(void *ctx);
static int attest_scan_close(void *ctx);
static int attest_scan_string(void *ctx, const unsigned char *s,
    size_t len);
static attest_reason_t attest_report_scan(const uint8_t *json, size_t len,
    attest_err_t *err);
static yajl_val attest_json_get(yajl_val obj, const char *key);
static int attest_hex32(const char *s, uint8_t out[32]);
static attest_reason_t attest_report_fields(yajl_val root,
    attest_report_t *r, attest_err_t *err);
static attest_reason_t attest_report_cpu(yajl_val cpu, attest_report_t *r,
    attest_err_t *err);
static attest_reason_t attest_report_gpu(yajl_val gpu, attest_report_t *r,
    attest_err_t *err);
static attest_reason_t attest_report_b64(yajl_val item, size_t i,
    const char *key, uint8_t **out, size_t *out_len, attest_err_t *err);


static const yajl_callbacks  attest_scan_callbacks = {
    NULL,                        /* null */
    NULL,                        /* boolean */
    NULL,                        /* integer */
    NULL,                        /* double */
    NULL,                        /* number */
    attest_scan_string,          /* string */
    attest_scan_open,            /* start_map */
    attest_scan_string,          /* map_key */
    attest_scan_close,           /* end_map */
    attest_scan_open,            /* start_array */
    attest_scan_close            /* end_array */
};


attest_reason_t
attest_report_parse(const uint8_t *json, size_t len, size_t max_len,
    attest_report_t *r, attest_err_t *err)
{
    char             *buf, *nl;
    char              msg[128];
    yajl_val          root;
    const uint8_t    *nul;
    attest_reason_t   rc;

    memset(r, 0, sizeof(attest_report_t));

    if (len > max_len) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "oversize report (%zu > %zu bytes)", len, max_len);
    }

    if (len == 0 || json == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID, "empty report");
    }

    /* JSON has no raw NUL; saying so beats yajl's "invalid char" */
    nul = memchr(json, '\0', len);
    if (nul != NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "invalid JSON: NUL byte at offset %zu",
                           (size_t) (nul - json));
    }

    rc = attest_report_scan(json, len, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    /* yajl_tree_parse wants a C string */
    buf = malloc(len + 1);
    if (buf == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_UNAVAILABLE,
                           "out of memory for a %zu-byte report", len);
    }

    memcpy(buf, json, len);
    buf[len] = '\0';

    msg[0] = '\0';
    root = yajl_tree_parse(buf, msg, sizeof(msg));
    free(buf);

    if (root == NULL) {
        /* the scan passed, so only memory can be short here */
        nl = strchr(msg, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        return attest_fail(err, ATTEST_ATTESTATION_UNAVAILABLE,
                           "report tree: %s", msg);
    }

    if (!YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "top level is not an object");
    }

    rc = attest_report_fields(root, r, err);

    yajl_tree_free(root);

    if (rc != ATTEST_OK) {
        /* no half-filled report escapes, even if the caller forgets */
        attest_report_free(r);
    }

    return rc;
}


void
attest_report_free(attest_report_t *r)
{
    size_t  i;

    if (r == NULL) {
        return;
    }

    free(r->cpu_quote);

    if (r->gpu != NULL) {
        for (i = 0; i < r->gpu_count; i++) {
            free(r->gpu[i].evidence);
            free(r->gpu[i].certificate);
        }

        free(r->gpu);
    }

    /* NULL pointers and zero counts: a second call is a no-op */
    memset(r, 0, sizeof(attest_report_t));
}


attest_reason_t
attest_report_check_nonce(const attest_report_t *r, const uint8_t nonce[32],
    attest_err_t *err)
{
    size_t   i;
    uint8_t  diff;
    char     got[17], sent[17];

    /* no early exit: the time taken says nothing about where they differ */
    diff = 0;

    for (i = 0; i < 32; i++) {
        diff |= r->nonce[i] ^ nonce[i];
    }

    if (diff == 0) {
        return ATTEST_OK;
    }

    attest_hex_encode(r->nonce, 8, got);
    attest_hex_encode(nonce, 8, sent);

    return attest_fail(err, ATTEST_NONCE_MISMATCH,
                       "report nonce %s... != sent %s...", got, sent);
}


int
attest_digest_valid(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (s == NULL || len != sizeof("sha256:") - 1 + 64
        || memcmp(s, "sha256:", sizeof("sha256:") - 1) != 0)
    {
        return -1;
    }

    for (i = sizeof("sha256:") - 1; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= '0' && c <= '9')
              || (c >= 'a' && c <= 'f')
              || (c >= 'A' && c <= 'F')))
        {
            return -1;
        }
    }

    return 0;
}


static int
attest_scan_open(void *ctx)
{
    attest_scan_t  *scan = ctx;

    if (++scan->depth > ATTEST_REPORT_MAX_DEPTH) {
        scan->too_deep = 1;
        return 0;
    }

    return 1;
}


static int
attest_scan_close(void *ctx)
{
    attest_scan_t  *scan = ctx;

    scan->depth--;

    return 1;
}


static int
attest_scan_string(void *ctx, const unsigned char *s, size_t len)
{
    attest_scan_t  *scan = ctx;

    /* a "\u0000" escape would cut the string in yajl_tree */
    if (memchr(s, '\0', len) != NULL) {
        scan->why = "string or key with a \\u0000 character";
        return 0;
    }

    return 1;
}


static attest_reason_t
attest_report_scan(const uint8_t *json, size_t len, attest_err_t *err)
{
    size_t          n;
    yajl_handle     h;
    yajl_status     st;
    attest_scan_t   scan;
    unsigned char  *msg;

    scan.depth = 0;
    scan.too_deep = 0;
    scan.why = NULL;

    h = yajl_alloc(&attest_scan_callbacks, NULL, &scan);
    if (h == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_UNAVAILABLE,
                           "out of memory for the JSON parser");
    }

    st = yajl_parse(h, json, len);

    if (st == yajl_status_ok) {
        /* a document cut short is only detected here */
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok) {
        yajl_free(h);
        return ATTEST_OK;
    }

    if (scan.too_deep) {
        yajl_free(h);
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "nesting deeper than %d", ATTEST_REPORT_MAX_DEPTH);
    }

    if (scan.why != NULL) {
        yajl_free(h);
        return attest_fail(err, ATTEST_ATTESTATION_INVALID, "%s", scan.why);
    }

    /* non-verbose: one line, no excerpt of the attacker's bytes */
    msg = yajl_get_error(h, 0, NULL, 0);

    if (msg == NULL) {
        yajl_free(h);
        return attest_fail(err, ATTEST_ATTESTATION_INVALID, "invalid JSON");
    }

    n = strcspn((char *) msg, "\n");

    attest_fail(err, ATTEST_ATTESTATION_INVALID, "invalid JSON: %.*s",
                (int) n, (char *) msg);

    yajl_free_error(h, msg);
    yajl_free(h);

    return ATTEST_ATTESTATION_INVALID;
}


/* NULL when absent; the last of duplicated keys, as Python's json does */
static yajl_val
attest_json_get(yajl_val obj, const char *key)
{
    size_t  i;

    for (i = obj->u.object.len; i > 0; i--) {
        if (strcmp(obj->u.object.keys[i - 1], key) == 0) {
            return obj->u.object.values[i - 1];
        }
    }

    return NULL;
}


/* 64 hex characters, optional "0x", into 32 bytes; 0 or -1 */
static int
attest_hex32(const char *s, uint8_t out[32])
{
    size_t  len;

    len = strlen(s);
    attest_hex_strip_prefix(&s, &len);

    if (len != 64 || attest_hex_decode(s, len, out) != 0) {
        return -1;
    }

    return 0;
}


static attest_reason_t
attest_report_fields(yajl_val root, attest_report_t *r, attest_err_t *err)
{
    size_t           len;
    yajl_val         v;
    const char      *s;
    attest_reason_t  rc;

    v = attest_json_get(root, "nonce");

    if (v == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "missing field nonce");
    }

    if (!YAJL_IS_STRING(v)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field nonce: not a string");
    }

    if (attest_hex32(v->u.string, r->nonce) != 0) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "nonce: not 64 hex");
    }

    v = attest_json_get(root, "signing_address");

    if (v == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "missing field signing_address");
    }

    if (!YAJL_IS_STRING(v)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field signing_address: not a string");
    }

    /* the EIP-55 case checksum is not checked: addresses compare as bytes */
    s = v->u.string;
    len = strlen(s);

    if (len != 2 + 40 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')
        || attest_hex_decode(s + 2, 40, r->signing_address) != 0)
    {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "signing_address: not 0x + 40 hex");
    }

    v = attest_json_get(root, "image_digest");

    if (v != NULL && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_STRING(v)) {
            return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                               "field image_digest: not a string");
        }

        s = v->u.string;
        len = strlen(s);

        if (len > ATTEST_DIGEST_MAX || attest_digest_valid(s, len) != 0) {
            return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                               "image_digest: not sha256:<64 hex>");
        }

        /* kept as sent; policy compares it case-insensitively or not */
        memcpy(r->image_digest, s, len);
        r->image_digest[len] = '\0';
        r->image_digest_len = len;
        r->has_image_digest = 1;
    }

    rc = attest_report_cpu(attest_json_get(root, "cpu"), r, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    return attest_report_gpu(attest_json_get(root, "gpu"), r, err);
}


/*
 * cpu.quote: all hex, even and non-empty length (after an optional "0x")
 * is evidence; all hex but odd is malformed; anything else is the agent's
 * error sentence, i.e. no evidence.  {"error": ...} is no evidence either.
 */
static attest_reason_t
attest_report_cpu(yajl_val cpu, attest_report_t *r, attest_err_t *err)
{
    size_t       len, i;
    yajl_val     v;
    const char  *s;

    if (cpu == NULL || YAJL_IS_NULL(cpu)) {
        return ATTEST_OK;
    }

    if (!YAJL_IS_OBJECT(cpu)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field cpu: not an object");
    }

    if (attest_json_get(cpu, "error") != NULL) {
        return ATTEST_OK;
    }

    v = attest_json_get(cpu, "quote");

    if (v == NULL || YAJL_IS_NULL(v)) {
        return ATTEST_OK;
    }

    if (!YAJL_IS_STRING(v)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field cpu.quote: not a string");
    }

    s = v->u.string;
    len = strlen(s);
    attest_hex_strip_prefix(&s, &len);

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9')
              || (s[i] >= 'a' && s[i] <= 'f')
              || (s[i] >= 'A' && s[i] <= 'F')))
        {
            /* an error sentence, not a quote */
            return ATTEST_OK;
        }
    }

    if (len == 0) {
        return ATTEST_OK;
    }

    if (len % 2) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "cpu.quote: bad hex (odd length %zu)", len);
    }

    r->cpu_quote = malloc(len / 2);
    if (r->cpu_quote == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_UNAVAILABLE,
                           "out of memory for cpu.quote");
    }

    if (attest_hex_decode(s, len, r->cpu_quote) != 0) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "cpu.quote: bad hex");
    }

    r->cpu_quote_len = len / 2;
    r->cpu_present = 1;

    return ATTEST_OK;
}


/*
 * gpu: absent, null or {"error": ...} is no evidence.  Otherwise an
 * evidence_list is required; an empty one still counts as present, for
 * the GPU verifier to judge.
 */
static attest_reason_t
attest_report_gpu(yajl_val gpu, attest_report_t *r, attest_err_t *err)
{
    size_t           i, n;
    yajl_val         v, list, item;
    attest_reason_t  rc;

    if (gpu == NULL || YAJL_IS_NULL(gpu)) {
        return ATTEST_OK;
    }

    if (!YAJL_IS_OBJECT(gpu)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field gpu: not an object");
    }

    if (attest_json_get(gpu, "error") != NULL) {
        return ATTEST_OK;
    }

    v = attest_json_get(gpu, "nonce");

    if (v != NULL && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_STRING(v)) {
            return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                               "field gpu.nonce: not a string");
        }

        if (attest_hex32(v->u.string, r->gpu_nonce) != 0) {
            return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                               "gpu.nonce: not 64 hex");
        }

        r->has_gpu_nonce = 1;
    }

    v = attest_json_get(gpu, "arch");

    if (v != NULL && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_STRING(v)) {
            return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                               "field gpu.arch: not a string");
        }

        /* informational only, so truncating is harmless */
        n = strlen(v->u.string);
        if (n > sizeof(r->gpu_arch) - 1) {
            n = sizeof(r->gpu_arch) - 1;
        }

        memcpy(r->gpu_arch, v->u.string, n);
        r->gpu_arch[n] = '\0';
    }

    list = attest_json_get(gpu, "evidence_list");

    if (list == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "missing field gpu.evidence_list");
    }

    if (!YAJL_IS_ARRAY(list)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field gpu.evidence_list: not an array");
    }

    n = list->u.array.len;

    if (n > ATTEST_REPORT_MAX_GPUS) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "gpu.evidence_list: %zu entries > %d", n,
                           ATTEST_REPORT_MAX_GPUS);
    }

    r->gpu_present = 1;

    if (n == 0) {
        return ATTEST_OK;
    }

    /* zeroed entries with the count set: a partial fill frees cleanly */
    r->gpu = calloc(n, sizeof(attest_gpu_entry_t));
    if (r->gpu == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_UNAVAILABLE,
                           "out of memory for gpu.evidence_list");
    }

    r->gpu_count = n;

    for (i = 0; i < n; i++) {
        item = list->u.array.values[i];

        if (!YAJL_IS_OBJECT(item)) {
            return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                               "gpu.evidence_list[%zu]: not an object", i);
        }

        rc = attest_report_b64(item, i, "evidence", &r->gpu[i].evidence,
                               &r->gpu[i].evidence_len, err);
        if (rc != ATTEST_OK) {
            return rc;
        }

        rc = attest_report_b64(item, i, "certificate",
                               &r->gpu[i].certificate,
                               &r->gpu[i].certificate_len, err);
        if (rc != ATTEST_OK) {
            return rc;
        }
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_report_b64(yajl_val item, size_t i, const char *key, uint8_t **out,
    size_t *out_len, attest_err_t *err)
{
    size_t    len;
    yajl_val  v;

    v = attest_json_get(item, key);

    if (v == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "missing field gpu.evidence_list[%zu].%s", i, key);
    }

    if (!YAJL_IS_STRING(v)) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "field gpu.evidence_list[%zu].%s: not a string",
                           i, key);
    }

    len = strlen(v->u.string);

    *out = malloc(attest_base64_decoded_max(len));
    if (*out == NULL) {
        return attest_fail(err, ATTEST_ATTESTATION_UNAVAILABLE,
                           "out of memory for gpu.evidence_list[%zu].%s",
                           i, key);
    }

    if (attest_base64_decode(v->u.string, len, *out, out_len) != 0) {
        return attest_fail(err, ATTEST_ATTESTATION_INVALID,
                           "gpu.evidence_list[%zu].%s: bad base64", i, key);
    }

    return ATTEST_OK;
}
