/*
 * Attestation report parsing and the nonce check.
 *
 * The large documents come from tests/vectors/gen_report.py (Python's
 * json and base64, from the real evidence in the shared test data); the
 * expected bytes are the test data files themselves, or decoded by Python.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_report.h"
#include "tap.h"


/* the same constants as gen_report.py */
#define NONCE_HEX                                                            \
    "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
#define NONCE_UPPER                                                          \
    "0X931D8DD0ADD203AC3D8B4FBDE75E115278EEFCDCEAC5B87671A748F32364DFCB"
#define OTHER_HEX                                                            \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ADDRESS     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
#define DIGEST                                                               \
    "sha256:c003e28451514cb012ab7db6de19f17228120dab9a9a3f0d78e1a9ddb037aa25"
#define DIGEST_UPPER                                                         \
    "sha256:C003E28451514CB012AB7DB6DE19F17228120DAB9A9A3F0D78E1A9DDB037AA25"
#define GPUS        8

#define F_NONCE     "\"nonce\":\"" NONCE_HEX "\""
#define F_ADDR      "\"signing_address\":\"" ADDRESS "\""
#define F_BASE      F_NONCE "," F_ADDR

/* "AQID" = 01 02 03; "LS0t" = "---" */
#define ENTRY       "{\"evidence\":\"AQID\",\"certificate\":\"LS0t\"}"

#define MAX_LEN     (1024 * 1024)


static const uint8_t  nonce_bytes[32] = {
    0x93, 0x1d, 0x8d, 0xd0, 0xad, 0xd2, 0x03, 0xac, 0x3d, 0x8b, 0x4f, 0xbd,
    0xe7, 0x5e, 0x11, 0x52, 0x78, 0xee, 0xfc, 0xdc, 0xea, 0xc5, 0xb8, 0x76,
    0x71, 0xa7, 0x48, 0xf3, 0x23, 0x64, 0xdf, 0xcb
};

static const uint8_t  address_bytes[20] = {
    0x5a, 0xae, 0xb6, 0x05, 0x3f, 0x3e, 0x94, 0xc9, 0xb9, 0xa0, 0x9f, 0x33,
    0x66, 0x94, 0x35, 0xe7, 0xef, 0x1b, 0xea, 0xed
};


static attest_reason_t
parse(const char *json, attest_report_t *r, attest_err_t *err)
{
    attest_err_clear(err);

    return attest_report_parse((const uint8_t *) json, strlen(json), MAX_LEN,
                               r, err);
}


static unsigned char *
slurp(const char *dir, const char *name, size_t *len)
{
    char            path[512];
    unsigned char  *buf;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    buf = tap_slurp(path, len);
    if (buf == NULL) {
        tap_diag("cannot read %s", path);
    }

    return buf;
}


/* the parse fails as malformed, with detail containing want */
static void
invalid(const char *json, size_t len, const char *want, const char *name)
{
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;

    attest_err_clear(&err);

    rc = attest_report_parse((const uint8_t *) json, len, MAX_LEN, &r, &err);

    if (!ok(rc == ATTEST_ATTESTATION_INVALID
            && strstr(err.detail, want) != NULL,
            "%s: attestation_invalid, detail has '%s'", name, want))
    {
        tap_diag("  got %s '%s'", attest_reason_name(rc), err.detail);
    }

    attest_report_free(&r);
}


/* the test name is the document, printable bytes only, for TAP */
static void
invalid_str(const char *json, const char *want)
{
    size_t  i;
    char    name[160];

    for (i = 0; json[i] != '\0' && i < sizeof(name) - 1; i++) {
        name[i] = ((unsigned char) json[i] < 0x20
                   || (unsigned char) json[i] > 0x7e) ? '?' : json[i];
    }

    name[i] = '\0';

    invalid(json, strlen(json), want, name);
}


static void
test_good_small(void)
{
    attest_err_t     err;
    attest_report_t  r;
    attest_reason_t  rc;

    rc = parse("{" F_BASE ",\"image_digest\":\"" DIGEST "\","
               "\"cpu\":{\"quote\":\"0x0400aBcD\"},"
               "\"gpu\":{\"nonce\":\"" OTHER_HEX "\",\"arch\":\"HOPPER\","
               "\"evidence_list\":[" ENTRY "," ENTRY "],"
               "\"claims_version\":\"3.0\"},"
               "\"unknown\":{\"x\":[1,2.5,true,false,null]}}", &r, &err);

    is_int(rc, ATTEST_OK, "small report parses");
    ok(memcmp(r.nonce, nonce_bytes, 32) == 0, "nonce bytes");
    ok(memcmp(r.signing_address, address_bytes, 20) == 0,
       "signing address bytes");
    is_int(r.has_image_digest, 1, "has image digest");
    is_str(r.image_digest, DIGEST, "image digest string");
    is_int(r.image_digest_len, 71, "image digest length");

    is_int(r.cpu_present, 1, "cpu present");
    is_int(r.cpu_quote_len, 4, "cpu quote length");
    ok(r.cpu_quote != NULL
       && memcmp(r.cpu_quote, "\x04\x00\xab\xcd", 4) == 0,
       "cpu quote bytes, 0x prefix and mixed case");

    is_int(r.gpu_present, 1, "gpu present");
    is_int(r.has_gpu_nonce, 1, "gpu nonce present");
    ok(r.gpu_nonce[0] == 0x00 && r.gpu_nonce[1] == 0x11
       && r.gpu_nonce[31] == 0xff, "gpu nonce bytes");
    is_str(r.gpu_arch, "HOPPER", "gpu arch");
    is_int(r.gpu_count, 2, "two gpu entries");
    ok(r.gpu != NULL && r.gpu[1].evidence_len == 3
       && memcmp(r.gpu[1].evidence, "\x01\x02\x03", 3) == 0,
       "gpu[1] evidence decoded");
    ok(r.gpu != NULL && r.gpu[1].certificate_len == 3
       && memcmp(r.gpu[1].certificate, "---", 3) == 0,
       "gpu[1] certificate decoded");

    is_int(attest_report_check_nonce(&r, nonce_bytes, &err), ATTEST_OK,
           "nonce check: exact match");

    attest_report_free(&r);
    ok(r.cpu_quote == NULL && r.gpu == NULL && r.gpu_count == 0,
       "free clears pointers");
    attest_report_free(&r);
    ok(1, "second free is harmless");
}


static void
test_full_vector(void)
{
    size_t            i, len, ev_len, pem_len, quote_len;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;
    unsigned char    *json, *ev, *pem, *quote;
    int               same;
    char              dir[512];

    json = slurp(tap_vectors(), "report_full.json", &len);
    ev = slurp(tap_vectors(), "hopper_evidence.bin", &ev_len);
    snprintf(dir, sizeof(dir), "%s/nvidia", tap_testdata());
    pem = slurp(dir, "hopper_cert_chain.pem", &pem_len);
    snprintf(dir, sizeof(dir), "%s/intel", tap_testdata());
    quote = slurp(dir, "tdx_quote_v4.bin", &quote_len);

    if (!ok(json && ev && pem && quote, "full report vector and test data"
            " (run make vectors)"))
    {
        goto done;
    }

    is_int(ev_len, 4117, "hopper evidence is 4117 bytes");

    attest_err_clear(&err);
    rc = attest_report_parse(json, len, MAX_LEN, &r, &err);

    if (!ok(rc == ATTEST_OK, "full report (%zu bytes) parses", len)) {
        tap_diag("  %s", err.detail);
    }

    ok(memcmp(r.nonce, nonce_bytes, 32) == 0, "full: nonce");
    ok(memcmp(r.signing_address, address_bytes, 20) == 0, "full: address");
    is_str(r.image_digest, DIGEST, "full: image digest");

    is_int(r.cpu_present, 1, "full: cpu present");
    ok(r.cpu_quote_len == quote_len
       && memcmp(r.cpu_quote, quote, quote_len) == 0,
       "full: cpu quote equals tdx_quote_v4.bin (%zu bytes)", quote_len);

    is_int(r.gpu_present, 1, "full: gpu present");
    is_str(r.gpu_arch, "HOPPER", "full: arch");
    ok(r.has_gpu_nonce && memcmp(r.gpu_nonce, nonce_bytes, 32) == 0,
       "full: gpu nonce");
    is_int(r.gpu_count, GPUS, "full: %d gpu entries", GPUS);

    same = r.gpu_count == GPUS;

    for (i = 0; same && i < r.gpu_count; i++) {
        same = r.gpu[i].evidence_len == ev_len
               && memcmp(r.gpu[i].evidence, ev, ev_len) == 0
               && r.gpu[i].certificate_len == pem_len
               && memcmp(r.gpu[i].certificate, pem, pem_len) == 0;
    }

    ok(same, "full: every entry's evidence and PEM chain equal the files");

    is_int(attest_report_check_nonce(&r, nonce_bytes, &err), ATTEST_OK,
           "full: nonce check");

    attest_report_free(&r);

    /* the cap is inclusive */
    rc = attest_report_parse(json, len, len, &r, &err);
    is_int(rc, ATTEST_OK, "full: len == max_len parses");
    attest_report_free(&r);

    invalid((const char *) json, len - 1, "invalid JSON",
            "full report minus its last byte");

done:

    free(json);
    free(ev);
    free(pem);
    free(quote);
}


static void
test_error_shapes(void)
{
    size_t            i, len;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;
    unsigned char    *json;

    static const char  *absent[] = {
        "{" F_BASE "}",
        "{" F_BASE ",\"cpu\":null,\"gpu\":null,\"image_digest\":null}",
        "{" F_BASE ",\"cpu\":{\"error\":\"no TDX\"},"
        "\"gpu\":{\"error\":\"no GPU\"}}",
        "{" F_BASE ",\"cpu\":{\"quote\":\"Failed to get quote: "
        "ENOENT\"}}",
        "{" F_BASE ",\"cpu\":{\"quote\":\"deadbeef not a quote\"}}",
        "{" F_BASE ",\"cpu\":{\"quote\":\"\"}}",
        "{" F_BASE ",\"cpu\":{\"quote\":\"0x\"}}",
        "{" F_BASE ",\"cpu\":{\"quote\":null}}",
        "{" F_BASE ",\"cpu\":{}}",
        "{" F_BASE ",\"cpu\":{\"quote\":\"0400\",\"error\":\"x\"}}",
        "{" F_BASE ",\"gpu\":{\"error\":\"x\",\"evidence_list\":["
        ENTRY "]}}",
        "{" F_BASE ",\"gpu\":{\"error\":null}}",
    };

    for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        rc = parse(absent[i], &r, &err);

        ok(rc == ATTEST_OK && r.cpu_present == 0 && r.cpu_quote == NULL
           && r.gpu_present == 0 && r.gpu == NULL && r.gpu_count == 0
           && r.has_image_digest == 0,
           "no evidence, not an error: %s", absent[i]);

        if (rc != ATTEST_OK) {
            tap_diag("  %s", err.detail);
        }

        attest_report_free(&r);
    }

    json = slurp(tap_vectors(), "report_error.json", &len);

    if (ok(json != NULL, "agent error-shape vector")) {
        rc = attest_report_parse(json, len, MAX_LEN, &r, &err);
        ok(rc == ATTEST_OK && r.cpu_present == 0 && r.gpu_present == 0
           && memcmp(r.nonce, nonce_bytes, 32) == 0,
           "agent error shape: parses, cpu and gpu absent");
        attest_report_free(&r);
    }

    free(json);

    /* an empty list is present: the GPU verifier judges it */
    rc = parse("{" F_BASE ",\"gpu\":{\"evidence_list\":[]}}", &r, &err);
    ok(rc == ATTEST_OK && r.gpu_present == 1 && r.gpu_count == 0
       && r.has_gpu_nonce == 0 && r.gpu_arch[0] == '\0',
       "empty evidence_list: gpu present, no entries");
    attest_report_free(&r);
}


static void
test_malformed_fields(void)
{
    size_t  i;

    static const struct {
        const char  *json;
        const char  *detail;
    } cases[] = {
        { "{" F_ADDR "}", "missing field nonce" },
        { "{" F_NONCE "}", "missing field signing_address" },
        { "{}", "missing field nonce" },
        { "{\"nonce\":1," F_ADDR "}", "field nonce: not a string" },
        { "{\"nonce\":null," F_ADDR "}", "field nonce: not a string" },
        { "{\"nonce\":[\"" NONCE_HEX "\"]," F_ADDR "}",
          "field nonce: not a string" },
        { "{\"nonce\":\"" NONCE_HEX "0\"," F_ADDR "}", "nonce: not 64 hex" },
        { "{\"nonce\":\"" NONCE_HEX "00\"," F_ADDR "}", "nonce: not 64 hex" },
        { "{\"nonce\":\"931d\"," F_ADDR "}", "nonce: not 64 hex" },
        { "{\"nonce\":\"\"," F_ADDR "}", "nonce: not 64 hex" },
        { "{\"nonce\":\"g31d8dd0add203ac3d8b4fbde75e115278eefcdceac5b876"
          "71a748f32364dfcb\"," F_ADDR "}", "nonce: not 64 hex" },
        { "{\"nonce\":\" 31d8dd0add203ac3d8b4fbde75e115278eefcdceac5b876"
          "71a748f32364dfcb\"," F_ADDR "}", "nonce: not 64 hex" },

        { "{" F_NONCE ",\"signing_address\":[]}",
          "field signing_address: not a string" },
        { "{" F_NONCE ",\"signing_address\":1234}",
          "field signing_address: not a string" },
        { "{" F_NONCE ",\"signing_address\":"
          "\"005aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"}",
          "signing_address: not 0x + 40 hex" },
        { "{" F_NONCE ",\"signing_address\":"
          "\"5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"}",
          "signing_address: not 0x + 40 hex" },
        { "{" F_NONCE ",\"signing_address\":"
          "\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe\"}",
          "signing_address: not 0x + 40 hex" },
        { "{" F_NONCE ",\"signing_address\":"
          "\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd\"}",
          "signing_address: not 0x + 40 hex" },
        { "{" F_NONCE ",\"signing_address\":"
          "\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeZ\"}",
          "signing_address: not 0x + 40 hex" },

        { "{" F_BASE ",\"image_digest\":5}",
          "field image_digest: not a string" },
        { "{" F_BASE ",\"image_digest\":{}}",
          "field image_digest: not a string" },
        { "{" F_BASE ",\"image_digest\":\"sha256:abc\"}",
          "image_digest: not sha256:<64 hex>" },
        { "{" F_BASE ",\"image_digest\":\"" DIGEST "0\"}",
          "image_digest: not sha256:<64 hex>" },
        { "{" F_BASE ",\"image_digest\":\"SHA256:c003e28451514cb012ab7db6"
          "de19f17228120dab9a9a3f0d78e1a9ddb037aa25\"}",
          "image_digest: not sha256:<64 hex>" },
        { "{" F_BASE ",\"image_digest\":\"sha256:x003e28451514cb012ab7db6"
          "de19f17228120dab9a9a3f0d78e1a9ddb037aa25\"}",
          "image_digest: not sha256:<64 hex>" },
        { "{" F_BASE ",\"image_digest\":\"\"}",
          "image_digest: not sha256:<64 hex>" },

        { "{" F_BASE ",\"cpu\":[]}", "field cpu: not an object" },
        { "{" F_BASE ",\"cpu\":\"no TDX\"}", "field cpu: not an object" },
        { "{" F_BASE ",\"cpu\":false}", "field cpu: not an object" },
        { "{" F_BASE ",\"cpu\":{\"quote\":5}}",
          "field cpu.quote: not a string" },
        { "{" F_BASE ",\"cpu\":{\"quote\":[\"0400\"]}}",
          "field cpu.quote: not a string" },
        { "{" F_BASE ",\"cpu\":{\"quote\":\"abc\"}}", "cpu.quote: bad hex" },
        { "{" F_BASE ",\"cpu\":{\"quote\":\"0x0400a\"}}",
          "cpu.quote: bad hex" },

        { "{" F_BASE ",\"gpu\":\"x\"}", "field gpu: not an object" },
        { "{" F_BASE ",\"gpu\":[" ENTRY "]}", "field gpu: not an object" },
        { "{" F_BASE ",\"gpu\":{}}", "missing field gpu.evidence_list" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":null}}",
          "field gpu.evidence_list: not an array" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":" ENTRY "}}",
          "field gpu.evidence_list: not an array" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[1]}}",
          "gpu.evidence_list[0]: not an object" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[" ENTRY ",[]]}}",
          "gpu.evidence_list[1]: not an object" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[" ENTRY "," ENTRY ","
          "{\"certificate\":\"LS0t\"}]}}",
          "missing field gpu.evidence_list[2].evidence" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[{\"evidence\":\"AQID\"}]}}",
          "missing field gpu.evidence_list[0].certificate" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[{\"evidence\":7,"
          "\"certificate\":\"LS0t\"}]}}",
          "field gpu.evidence_list[0].evidence: not a string" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[{\"evidence\":\"AQID\","
          "\"certificate\":{}}]}}",
          "field gpu.evidence_list[0].certificate: not a string" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[" ENTRY "," ENTRY ","
          "{\"evidence\":\"AQ*D\",\"certificate\":\"LS0t\"}]}}",
          "gpu.evidence_list[2].evidence: bad base64" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[{\"evidence\":\"AQID\","
          "\"certificate\":\"LS0tL\"}]}}",
          "gpu.evidence_list[0].certificate: bad base64" },
        { "{" F_BASE ",\"gpu\":{\"evidence_list\":[{\"evidence\":\"AQ==AQ\","
          "\"certificate\":\"LS0t\"}]}}",
          "gpu.evidence_list[0].evidence: bad base64" },
        { "{" F_BASE ",\"gpu\":{\"nonce\":5,\"evidence_list\":[]}}",
          "field gpu.nonce: not a string" },
        { "{" F_BASE ",\"gpu\":{\"nonce\":\"abcd\",\"evidence_list\":[]}}",
          "gpu.nonce: not 64 hex" },
        { "{" F_BASE ",\"gpu\":{\"arch\":9,\"evidence_list\":[]}}",
          "field gpu.arch: not a string" },

        { "[]", "top level is not an object" },
        { "[{" F_BASE "}]", "top level is not an object" },
        { "\"" NONCE_HEX "\"", "top level is not an object" },
        { "42", "top level is not an object" },
        { "null", "top level is not an object" },
        { "true", "top level is not an object" },

        { "", "empty report" },
        { " ", "invalid JSON" },
        { "{", "invalid JSON" },
        { "{" F_BASE "}}", "invalid JSON" },
        { "{" F_BASE "} {}", "invalid JSON" },
        { "{" F_BASE "}x", "invalid JSON" },
        { "{" F_BASE ",}", "invalid JSON" },
        { "{/* c */" F_BASE "}", "invalid JSON" },
        { "{" F_BASE "} // c", "invalid JSON" },
        { "{'nonce':'" NONCE_HEX "'}", "invalid JSON" },
        { "{" F_BASE ",\"x\":\"\xff\xfe\"}", "invalid JSON" },
        { "{" F_BASE ",\"x\":\"\x80\"}", "invalid JSON" },
        { "{" F_BASE ",\"x\":\"\xe2\x82\"}", "invalid JSON" },
        { "{" F_BASE ",\"x\":\"tab\there\"}", "invalid JSON" },
        { "{" F_BASE ",\"x\":NaN}", "invalid JSON" },
        { "\xef\xbb\xbf{" F_BASE "}", "invalid JSON" },

        /* yajl_tree would cut these strings at the NUL */
        { "{\"nonce\":\"" NONCE_HEX "\\u0000zz\"," F_ADDR "}", "\\u0000" },
        { "{" F_BASE ",\"nonce\\u0000x\":\"a\"}", "\\u0000" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        invalid_str(cases[i].json, cases[i].detail);
    }
}


static void
test_nul_bytes(void)
{
    size_t  len;
    char    doc[] = "{" F_BASE "}";

    len = sizeof(doc) - 1;

    doc[10] = '\0';
    invalid(doc, len, "NUL byte at offset 10", "raw NUL inside a string");

    memcpy(doc, "{" F_BASE "}", len);
    doc[len - 1] = '\0';
    invalid(doc, len, "NUL byte at offset", "raw NUL for the closing brace");

    memcpy(doc, "{" F_BASE "}", len);
    doc[0] = '\0';
    invalid(doc, len, "NUL byte at offset 0", "raw NUL first");
}


static void
test_oversize(void)
{
    size_t            len;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;
    char              want[64];
    const char       *doc = "{" F_BASE "}";

    len = strlen(doc);

    rc = attest_report_parse((const uint8_t *) doc, len, len - 1, &r, &err);
    snprintf(want, sizeof(want), "oversize report (%zu > %zu bytes)",
             len, len - 1);
    is_int(rc, ATTEST_ATTESTATION_INVALID, "one byte over the cap");
    is_str(err.detail, want, "oversize detail");
    attest_report_free(&r);

    rc = attest_report_parse((const uint8_t *) doc, len, 0, &r, &err);
    is_int(rc, ATTEST_ATTESTATION_INVALID, "cap 0");
    attest_report_free(&r);

    /* the cap applies before anything reads the bytes */
    rc = attest_report_parse((const uint8_t *) doc, (size_t) -1, 4096, &r,
                             &err);
    ok(rc == ATTEST_ATTESTATION_INVALID
       && strstr(err.detail, "oversize") != NULL,
       "huge len is refused without reading");
    attest_report_free(&r);

    rc = attest_report_parse((const uint8_t *) doc, len, len, &r, &err);
    is_int(rc, ATTEST_OK, "len == cap parses");
    attest_report_free(&r);
}


/* {F_BASE,"x": + (depth - 1) arrays + } */
static char *
nested(int depth, int closed, size_t *len)
{
    char    *p, *doc;
    size_t   n, k;

    n = sizeof("{" F_BASE ",\"x\":") - 1;
    k = (size_t) depth - 1;

    doc = malloc(n + 2 * k + 2);
    if (doc == NULL) {
        return NULL;
    }

    memcpy(doc, "{" F_BASE ",\"x\":", n);
    p = doc + n;

    memset(p, '[', k);
    p += k;

    if (closed) {
        memset(p, ']', k);
        p += k;
        *p++ = '}';
    }

    *len = p - doc;

    return doc;
}


static void
test_depth(void)
{
    size_t            i, len;
    char             *doc;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;

    doc = nested(ATTEST_REPORT_MAX_DEPTH, 1, &len);
    rc = attest_report_parse((const uint8_t *) doc, len, MAX_LEN, &r, &err);
    is_int(rc, ATTEST_OK, "nesting depth 16 parses");
    attest_report_free(&r);
    free(doc);

    doc = nested(ATTEST_REPORT_MAX_DEPTH + 1, 1, &len);
    invalid(doc, len, "nesting deeper than 16", "nesting depth 17");
    free(doc);

    doc = nested(100000, 0, &len);
    invalid(doc, len, "nesting deeper than 16", "100000 unclosed '['");
    free(doc);

    doc = nested(100000, 1, &len);
    invalid(doc, len, "nesting deeper than 16", "100000 closed '[' pairs");
    free(doc);

    /* objects count as well as arrays */
    len = 100000 * 5;
    doc = malloc(len);
    for (i = 0; i < len; i += 5) {
        memcpy(doc + i, "{\"a\":", 5);
    }
    invalid(doc, len, "nesting deeper than 16", "100000 nested objects");
    free(doc);

    /* brackets inside strings are text */
    rc = parse("{" F_BASE ",\"x\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{\","
               "\"[[[[[[[[[[[[[[[[[[[[\":1}", &r, &err);
    is_int(rc, ATTEST_OK, "brackets inside strings do not count");
    attest_report_free(&r);
}


static void
test_truncation(void)
{
    size_t            i, len, bad;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;
    unsigned char    *json;

    json = slurp(tap_vectors(), "report_small.json", &len);

    if (!ok(json != NULL && len > 900, "small report vector (~1 KB)")) {
        free(json);
        return;
    }

    rc = attest_report_parse(json, len, MAX_LEN, &r, &err);
    ok(rc == ATTEST_OK && r.cpu_quote_len == 200 && r.gpu_count == 1
       && r.gpu[0].evidence_len == 120 && r.gpu[0].certificate_len == 100,
       "small report parses whole");
    attest_report_free(&r);

    bad = len;

    for (i = 0; i < len; i++) {
        attest_err_clear(&err);
        rc = attest_report_parse(json, i, MAX_LEN, &r, &err);

        if (rc != ATTEST_ATTESTATION_INVALID || err.detail[0] == '\0'
            || r.cpu_quote != NULL || r.gpu != NULL)
        {
            if (bad == len) {
                bad = i;
                tap_diag("  length %zu: %s '%s'", i, attest_reason_name(rc),
                         err.detail);
            }
        }

        attest_report_free(&r);
    }

    ok(bad == len, "every truncation (0..%zu bytes) is attestation_invalid",
       len - 1);

    free(json);
}


static uint32_t  rng = 0x2545f491;

static uint32_t
next_rand(void)
{
    /* xorshift32: reproducible, no libc state */
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;

    return rng;
}


static void
test_garbage(void)
{
    size_t            i, j, len, n, bad, okays;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;
    unsigned char    *json, *buf;

    static const char  alphabet[] = "{}[]\":,0123456789abcdef-+.eEtrufalsn"
                                    "\\u \n";

    buf = malloc(4096);
    bad = 0;

    for (i = 0; i < 3000; i++) {
        n = next_rand() % 600;

        for (j = 0; j < n; j++) {
            /* half raw bytes, half JSON-ish characters */
            buf[j] = (i & 1) ? (unsigned char) next_rand()
                             : alphabet[next_rand() % (sizeof(alphabet) - 1)];
        }

        rc = attest_report_parse(buf, n, MAX_LEN, &r, &err);
        if (rc != ATTEST_ATTESTATION_INVALID) {
            bad++;
        }

        attest_report_free(&r);
    }

    is_int(bad, 0, "3000 garbage buffers: all attestation_invalid");

    json = slurp(tap_vectors(), "report_small.json", &len);

    if (json == NULL || len > 4096) {
        ok(0, "small report vector for mutations");
        free(json);
        free(buf);
        return;
    }

    bad = 0;
    okays = 0;

    for (i = 0; i < 3000; i++) {
        memcpy(buf, json, len);

        for (j = 0; j < 1 + i % 3; j++) {
            buf[next_rand() % len] = (unsigned char) next_rand();
        }

        rc = attest_report_parse(buf, len, MAX_LEN, &r, &err);

        if (rc == ATTEST_OK) {
            okays++;

        } else if (rc != ATTEST_ATTESTATION_INVALID) {
            bad++;
        }

        attest_report_free(&r);
    }

    is_int(bad, 0, "3000 mutated reports: ok or attestation_invalid only");
    tap_diag("  %zu of the mutations still parse", okays);

    free(json);
    free(buf);
}


static void
test_duplicates_and_case(void)
{
    attest_err_t     err;
    attest_report_t  r;
    attest_reason_t  rc;
    uint8_t          other[32];

    /* last wins, as with Python's json module */
    rc = parse("{\"nonce\":\"" OTHER_HEX "\"," F_ADDR ","
               "\"nonce\":\"" NONCE_HEX "\"}", &r, &err);
    ok(rc == ATTEST_OK && memcmp(r.nonce, nonce_bytes, 32) == 0,
       "duplicate nonce: the last one wins");
    attest_report_free(&r);

    rc = parse("{\"nonce\":5," F_ADDR ",\"nonce\":\"" NONCE_HEX "\"}",
               &r, &err);
    is_int(rc, ATTEST_OK, "duplicate nonce: an invalid first one is ignored");
    attest_report_free(&r);

    rc = parse("{" F_BASE ",\"nonce\":\"xyz\"}", &r, &err);
    is_int(rc, ATTEST_ATTESTATION_INVALID,
           "duplicate nonce: an invalid last one fails");
    attest_report_free(&r);

    rc = parse("{\"nonce\":\"" NONCE_UPPER "\",\"signing_address\":"
               "\"0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED\","
               "\"image_digest\":\"" DIGEST_UPPER "\"}", &r, &err);
    is_int(rc, ATTEST_OK, "upper-case hex and 0X prefixes parse");
    ok(memcmp(r.signing_address, address_bytes, 20) == 0,
       "upper-case address bytes");
    is_str(r.image_digest, DIGEST_UPPER, "image digest kept as sent");
    is_int(attest_report_check_nonce(&r, nonce_bytes, &err), ATTEST_OK,
           "nonce check: upper-case report nonce matches");
    attest_report_free(&r);

    rc = parse("{\"nonce\":\"0x" NONCE_HEX "\"," F_ADDR "}", &r, &err);
    ok(rc == ATTEST_OK && memcmp(r.nonce, nonce_bytes, 32) == 0,
       "0x-prefixed nonce");
    attest_report_free(&r);

    rc = parse("{" F_BASE ",\"gpu\":{\"arch\":"
               "\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\","
               "\"evidence_list\":[]}}", &r, &err);
    ok(rc == ATTEST_OK && strcmp(r.gpu_arch,
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234") == 0,
       "long gpu arch is truncated to 31 characters");
    attest_report_free(&r);

    /* escapes are decoded before the checks */
    rc = parse("{\"nonce\":\"\\u0039" "31d8dd0add203ac3d8b4fbde75e115278eef"
               "cdceac5b87671a748f32364dfcb\"," F_ADDR "}", &r, &err);
    ok(rc == ATTEST_OK && memcmp(r.nonce, nonce_bytes, 32) == 0,
       "JSON escapes in the nonce are decoded first");
    attest_report_free(&r);

    rc = parse("{" F_BASE "}", &r, &err);
    memcpy(other, nonce_bytes, 32);

    other[0] ^= 0x01;
    rc = attest_report_check_nonce(&r, other, &err);
    ok(rc == ATTEST_NONCE_MISMATCH
       && strstr(err.detail, "report nonce 931d8dd0add203ac") != NULL
       && strstr(err.detail, "!= sent 921d8dd0add203ac") != NULL,
       "nonce check: first byte differs (%s)", err.detail);

    memcpy(other, nonce_bytes, 32);
    other[15] ^= 0x80;
    is_int(attest_report_check_nonce(&r, other, &err), ATTEST_NONCE_MISMATCH,
           "nonce check: middle byte differs");

    memcpy(other, nonce_bytes, 32);
    other[31] ^= 0xff;
    is_int(attest_report_check_nonce(&r, other, &err), ATTEST_NONCE_MISMATCH,
           "nonce check: last byte differs");

    memset(other, 0, 32);
    is_int(attest_report_check_nonce(&r, other, &err), ATTEST_NONCE_MISMATCH,
           "nonce check: zero nonce");

    attest_report_free(&r);
}


static void
test_gpu_cap(void)
{
    size_t            i, n;
    char             *doc, *p;
    attest_err_t      err;
    attest_report_t   r;
    attest_reason_t   rc;

    n = sizeof("{" F_BASE ",\"gpu\":{\"evidence_list\":[") - 1;
    doc = malloc(n + 65 * (sizeof(ENTRY)) + 8);
    memcpy(doc, "{" F_BASE ",\"gpu\":{\"evidence_list\":[", n);

    p = doc + n;

    for (i = 0; i < 64; i++) {
        if (i) {
            *p++ = ',';
        }

        memcpy(p, ENTRY, sizeof(ENTRY) - 1);
        p += sizeof(ENTRY) - 1;
    }

    strcpy(p, "]}}");

    rc = parse(doc, &r, &err);
    ok(rc == ATTEST_OK && r.gpu_count == 64 && r.gpu[63].evidence_len == 3,
       "64 gpu entries parse");
    attest_report_free(&r);

    *p++ = ',';
    memcpy(p, ENTRY, sizeof(ENTRY) - 1);
    p += sizeof(ENTRY) - 1;
    strcpy(p, "]}}");

    invalid_str(doc, "gpu.evidence_list: 65 entries > 64");

    free(doc);
}


static void
test_free_and_reuse(void)
{
    attest_err_t     err;
    attest_report_t  r;
    attest_reason_t  rc;

    memset(&r, 0, sizeof(r));
    attest_report_free(&r);
    attest_report_free(NULL);
    ok(1, "free of a zeroed struct and of NULL");

    /* parse zeroes whatever it is given */
    memset(&r, 0xa5, sizeof(r));
    rc = parse("{" F_BASE "}", &r, &err);
    ok(rc == ATTEST_OK && r.cpu_quote == NULL && r.gpu == NULL
       && r.gpu_count == 0 && r.has_gpu_nonce == 0,
       "parse into a garbage-filled struct starts clean");
    attest_report_free(&r);

    memset(&r, 0xa5, sizeof(r));
    rc = parse("[", &r, &err);
    ok(rc == ATTEST_ATTESTATION_INVALID && r.cpu_quote == NULL
       && r.gpu == NULL, "failed parse leaves a clean struct");
    attest_report_free(&r);

    /* a failure after allocations: nothing may leak (valgrind) */
    rc = parse("{" F_BASE ",\"cpu\":{\"quote\":\"0400\"},"
               "\"gpu\":{\"evidence_list\":[" ENTRY ",{\"evidence\":\"AQID\","
               "\"certificate\":\"!\"}]}}", &r, &err);
    ok(rc == ATTEST_ATTESTATION_INVALID && r.cpu_quote == NULL
       && r.gpu == NULL && r.gpu_count == 0,
       "failure after allocations is released by parse itself");
    attest_report_free(&r);
    attest_report_free(&r);
}


static void
test_digest_valid(void)
{
    is_int(attest_digest_valid(DIGEST, strlen(DIGEST)), 0, "digest: valid");
    is_int(attest_digest_valid(DIGEST_UPPER, strlen(DIGEST_UPPER)), 0,
           "digest: upper-case hex valid");
    is_int(attest_digest_valid(DIGEST, strlen(DIGEST) - 1), -1,
           "digest: 63 hex");
    is_int(attest_digest_valid(DIGEST "a", strlen(DIGEST) + 1), -1,
           "digest: 65 hex");
    is_int(attest_digest_valid("sha256-c003e28451514cb012ab7db6de19f1722812"
                               "0dab9a9a3f0d78e1a9ddb037aa25", 71), -1,
           "digest: no colon");
    is_int(attest_digest_valid("sha384:c003e28451514cb012ab7db6de19f1722812"
                               "0dab9a9a3f0d78e1a9ddb037aa25", 71), -1,
           "digest: other algorithm");
    is_int(attest_digest_valid("sha256:c003e28451514cb012ab7db6de19f1722812"
                               "0dab9a9a3f0d78e1a9ddb037aa2g", 71), -1,
           "digest: non-hex last character");
    is_int(attest_digest_valid("sha256:", 7), -1, "digest: prefix only");
    is_int(attest_digest_valid(NULL, 0), -1, "digest: NULL");
    is_int(attest_digest_valid("", 0), -1, "digest: empty");
}


int
main(void)
{
    test_good_small();
    test_full_vector();
    test_error_shapes();
    test_malformed_fields();
    test_nul_bytes();
    test_oversize();
    test_depth();
    test_truncation();
    test_garbage();
    test_duplicates_and_case();
    test_gpu_cap();
    test_free_and_reuse();
    test_digest_valid();

    return tap_done();
}
