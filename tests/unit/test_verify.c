/*
 * The attestation policy end to end (attest_verify.c): reports made by the
 * Python test doubles (tests/vectors/gen_verify.py: gpu_evidence.py,
 * tdx_quote.py, ethsign.py, run by "make vectors") and reports built
 * around the real NVIDIA and Intel evidence, checked under policies set
 * here, down to the verdict, the detail and the compact result.
 *
 * Every report and every allowlist entry is copied into a buffer of
 * exactly its length, so that valgrind sees any read past the end.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_codec.h"
#include "attest_verify.h"
#include "tap.h"


/* 2026-01-01: inside every test certificate's and the real PCK's validity */
#define NOW        1767225600

#define MAX_REPORT (4 * 1024 * 1024)

#define GPU_TEXT_2 "verified gpus=2 driver=550.90.07 vbios=96.00.9f.00.01"
#define GPU_TEXT_1 "verified gpus=1 driver=550.90.07 vbios=96.00.9f.00.01"


typedef struct {
    char                 *txt;          /* verify.txt */
    uint8_t               nonce[32];
    uint8_t               other_nonce[32];
    uint8_t               real_gpu_nonce[32];
    uint8_t               real_tdx_nonce[32];
    uint8_t               address[20];
    char                  address_text[43];
    char                  digest[80];
    char                  other_digest[80];
    uint8_t               mrtd[48];
    uint8_t               rtmr[4][48];
    char                  mrtd_hex[97];
    attest_gpu_root_t    *gpu_root;
    attest_tdx_root_t    *tdx_root;
    attest_gpu_root_t    *nvidia_root;
    attest_tdx_root_t    *intel_root;
} vec_t;


/* allowlists of exact-length copies */
typedef struct {
    attest_str_t  s[4];
    size_t        n;
} list_t;


static vec_t  v;


static void *
mem_dup(const void *p, size_t len)
{
    void  *d;

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


static uint8_t *
load(const char *dir, const char *name, size_t *len)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    return tap_slurp(path, len);
}


/* NAME VALUE line of verify.txt; 0 or -1 */
static int
vec_str(const char *name, char *out, size_t size)
{
    size_t       n;
    const char  *p, *e;

    n = strlen(name);

    for (p = v.txt; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
    {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            p += n + 1;
            e = strchr(p, '\n');
            n = e ? (size_t) (e - p) : strlen(p);

            if (n >= size) {
                break;
            }

            memcpy(out, p, n);
            out[n] = '\0';
            return 0;
        }
    }

    tap_diag("verify.txt has no %s", name);

    return -1;
}


static int
vec_bytes(const char *name, uint8_t *out, size_t n)
{
    char  hex[257];

    if (vec_str(name, hex, sizeof(hex)) != 0 || strlen(hex) != 2 * n
        || attest_hex_decode(hex, 2 * n, out) != 0)
    {
        return -1;
    }

    return 0;
}


static int
vectors_load(void)
{
    int           i, rc;
    char          name[16];
    size_t        len;
    uint8_t      *pem;
    attest_err_t  err;

    v.txt = (char *) load(tap_vectors(), "verify.txt", &len);
    if (!ok(v.txt != NULL, "read %s/verify.txt", tap_vectors())) {
        tap_diag("  run make vectors first");
        return -1;
    }

    rc = vec_bytes("nonce", v.nonce, 32)
         | vec_bytes("other_nonce", v.other_nonce, 32)
         | vec_bytes("real_gpu_nonce", v.real_gpu_nonce, 32)
         | vec_bytes("real_tdx_nonce", v.real_tdx_nonce, 32)
         | vec_bytes("mrtd", v.mrtd, 48)
         | vec_str("mrtd", v.mrtd_hex, sizeof(v.mrtd_hex))
         | vec_str("address", v.address_text, sizeof(v.address_text))
         | vec_str("digest", v.digest, sizeof(v.digest))
         | vec_str("other_digest", v.other_digest, sizeof(v.other_digest));

    for (i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "rtmr%d", i);
        rc |= vec_bytes(name, v.rtmr[i], 48);
    }

    rc |= attest_hex_decode(v.address_text + 2, 40, v.address);

    if (!ok(rc == 0, "verify.txt holds every value")) {
        return -1;
    }

    pem = load(tap_vectors(), "verify_gpu_root.pem", &len);
    v.gpu_root = pem ? attest_gpu_root_load(pem, len, &err) : NULL;
    free(pem);

    pem = load(tap_vectors(), "verify_tdx_root.pem", &len);
    v.tdx_root = pem ? attest_tdx_root_load(pem, len, &err) : NULL;
    free(pem);

    pem = load(tap_testdata(), "nvidia/nvidia_device_identity_root.pem",
               &len);
    v.nvidia_root = pem ? attest_gpu_root_load(pem, len, &err) : NULL;
    free(pem);

    pem = load(tap_testdata(), "intel/intel_sgx_root_ca.pem", &len);
    v.intel_root = pem ? attest_tdx_root_load(pem, len, &err) : NULL;
    free(pem);

    if (!ok(v.gpu_root && v.tdx_root && v.nvidia_root && v.intel_root,
            "the four roots load"))
    {
        return -1;
    }

    return 0;
}


static void
vectors_free(void)
{
    attest_gpu_root_free(v.gpu_root);
    attest_tdx_root_free(v.tdx_root);
    attest_gpu_root_free(v.nvidia_root);
    attest_tdx_root_free(v.intel_root);
    free(v.txt);
}


static void
list_add(list_t *l, const char *s)
{
    l->s[l->n].data = mem_dup(s, strlen(s));
    l->s[l->n].len = strlen(s);
    l->n++;
}


static void
list_free(list_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        free((void *) l->s[i].data);
    }

    l->n = 0;
}


/* the strictest policy over the test doubles' roots */
static void
policy_init(attest_policy_t *p)
{
    memset(p, 0, sizeof(*p));

    p->report_max = MAX_REPORT;
    p->gpu = ATTEST_EVIDENCE_REQUIRED;
    p->gpu_root = v.gpu_root;
    p->cpu = ATTEST_EVIDENCE_REQUIRED;
    p->cpu_root = v.tdx_root;
    p->report_data = ATTEST_TDX_RD_NONCE;
}


/* verify_<name>.json under p for nonce */
static attest_reason_t
run(const attest_policy_t *p, const char *name, const uint8_t *nonce,
    attest_result_t *res, attest_err_t *err)
{
    char             file[128];
    size_t           len;
    uint8_t         *json, *copy;
    attest_reason_t  rc;

    snprintf(file, sizeof(file), "verify_%s.json", name);

    json = load(tap_vectors(), file, &len);
    if (json == NULL) {
        tap_diag("cannot read %s", file);
        return ATTEST_REASON_MAX;
    }

    copy = mem_dup(json, len);
    free(json);

    memset(res, 0x5a, sizeof(*res));
    attest_err_clear(err);
    rc = attest_verify_report(p, copy, len, nonce, NOW, res, err);
    free(copy);

    return rc;
}


/* reason as expected, and the detail holds want (NULL: anything) */
static int
verdict(attest_reason_t rc, const attest_err_t *err, attest_reason_t want,
    const char *detail)
{
    if (rc != want) {
        tap_diag("  got %s (%s), want %s", attest_reason_name(rc),
                 err->detail, attest_reason_name(want));
        return 0;
    }

    if (rc != ATTEST_OK && err->reason != rc) {
        tap_diag("  err->reason %s", attest_reason_name(err->reason));
        return 0;
    }

    if (rc == ATTEST_OK && err->detail[0] != '\0') {
        tap_diag("  success left a detail: %s", err->detail);
        return 0;
    }

    if (detail != NULL && strstr(err->detail, detail) == NULL) {
        tap_diag("  detail '%s', want '%s'", err->detail, detail);
        return 0;
    }

    return 1;
}


static int
expect(const attest_policy_t *p, const char *name, const uint8_t *nonce,
    attest_reason_t want, const char *detail, attest_result_t *res)
{
    attest_err_t     err;
    attest_reason_t  rc;

    rc = run(p, name, nonce, res, &err);

    return verdict(rc, &err, want, detail);
}


static int
texts_are(const attest_result_t *r, const char *gpu, const char *cpu)
{
    char  g[128], c[128];

    attest_result_gpu_text(r, g, sizeof(g));
    attest_result_cpu_text(r, c, sizeof(c));

    if (strcmp(g, gpu) != 0 || strcmp(c, cpu) != 0) {
        tap_diag("  gpu '%s', want '%s'", g, gpu);
        tap_diag("  cpu '%s', want '%s'", c, cpu);
        return 0;
    }

    return 1;
}


static void
test_ok(void)
{
    char             cpu_text[128];
    size_t           len;
    uint8_t         *json;
    attest_policy_t  p;
    attest_result_t  r;
    attest_reason_t  rc;

    snprintf(cpu_text, sizeof(cpu_text), "verified mrtd=%.16s...",
             v.mrtd_hex);

    policy_init(&p);
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "ok: 2 GPUs and a TDX quote, both required");
    ok(r.gpu == ATTEST_EV_VERIFIED && r.gpu_count == 2,
       "ok: GPU evidence verified, 2 GPUs");
    is_str(r.gpu_driver, "550.90.07", "ok: driver version");
    is_str(r.gpu_vbios, "96.00.9f.00.01", "ok: VBIOS version");
    ok(r.cpu == ATTEST_EV_VERIFIED && !r.cpu_debug && !r.bound,
       "ok: CPU quote verified, not debug, signer not bound");
    ok(memcmp(r.mrtd, v.mrtd, 48) == 0, "ok: MRTD of the quote");
    ok(memcmp(r.signing_address, v.address, 20) == 0,
       "ok: the report's signing address");
    ok(r.has_image_digest && r.image_digest_len == strlen(v.digest)
       && strcmp(r.image_digest, v.digest) == 0, "ok: the image digest");
    ok(texts_are(&r, GPU_TEXT_2, cpu_text), "ok: result texts");

    p.gpu = ATTEST_EVIDENCE_OPTIONAL;
    p.cpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r)
       && r.gpu == ATTEST_EV_VERIFIED && r.cpu == ATTEST_EV_VERIFIED,
       "ok: optional evidence present is verified");

    p.gpu = ATTEST_EVIDENCE_OFF;
    p.cpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r)
       && r.gpu == ATTEST_EV_OFF && r.cpu == ATTEST_EV_OFF
       && texts_are(&r, "off", "off"), "ok: both off, texts 'off'");
    ok(memcmp(r.signing_address, v.address, 20) == 0,
       "ok: both off still yields the signer");

    /* roots are not needed when their evidence is off */
    p.gpu_root = NULL;
    p.cpu_root = NULL;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "ok: both off, no roots");

    policy_init(&p);
    ok(expect(&p, "ok_v5", v.nonce, ATTEST_OK, NULL, &r)
       && memcmp(r.mrtd, v.mrtd, 48) == 0, "ok: a version 5 quote");

    policy_init(&p);
    p.report_data = ATTEST_TDX_RD_ADDRESS_NONCE;
    ok(expect(&p, "ok", v.nonce, ATTEST_REPORT_DATA_MISMATCH, "address",
              &r), "ok report under the address layout: mismatch");

    /* a failure: err may be NULL, and the verdict is the same */
    json = load(tap_vectors(), "verify_ok.json", &len);
    if (json != NULL) {
        rc = attest_verify_report(&p, json, len, v.nonce, NOW, &r, NULL);
        is_int(rc, ATTEST_REPORT_DATA_MISMATCH, "err may be NULL");
        free(json);
    }
}


static void
test_gpu(void)
{
    attest_policy_t  p;
    attest_result_t  r;
    attest_err_t     err;

    policy_init(&p);

    ok(expect(&p, "gpu_bad_all", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "gpu entry 0: SPDM signature", &r),
       "gpu: bad signatures are gpu_evidence_invalid, entry 0 named");

    p.gpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "gpu_bad_all", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "gpu entry 0", &r),
       "gpu: optional but present evidence must verify");

    p.gpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "gpu_bad_all", v.nonce, ATTEST_OK, NULL, &r)
       && r.gpu == ATTEST_EV_OFF && r.cpu == ATTEST_EV_VERIFIED,
       "gpu: off ignores bad GPU evidence");

    policy_init(&p);
    ok(expect(&p, "gpu_second_bad", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "gpu entry 1: SPDM signature", &r),
       "gpu: the second of two entries bad names gpu entry 1");

    run(&p, "gpu_second_bad", v.nonce, &r, &err);
    ok(strncmp(err.detail, "gpu entry 1: ", 13) == 0,
       "gpu: the entry index leads the detail (%s)", err.detail);

    ok(expect(&p, "gpu_wrong_nonce", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "nonce", &r), "gpu: evidence for another nonce");

    ok(expect(&p, "gpu_other_root", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "certificate chain", &r), "gpu: a chain to another root");

    ok(expect(&p, "gpu_empty_list", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "empty", &r), "gpu: an empty evidence_list is no evidence");

    p.gpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "gpu_empty_list", v.nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "empty", &r), "gpu: an empty evidence_list, optional");

    /* the real H100 sample with its nonce, against NVIDIA's root */
    policy_init(&p);
    p.gpu_root = v.nvidia_root;
    p.cpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "real_gpu", v.real_gpu_nonce, ATTEST_OK, NULL, &r)
       && texts_are(&r, GPU_TEXT_1, "absent"),
       "gpu: the real H100 report verifies, no cpu");

    ok(expect(&p, "real_gpu", v.nonce, ATTEST_NONCE_MISMATCH, NULL, &r),
       "gpu: the real report for another nonce");

    p.gpu_root = v.gpu_root;
    ok(expect(&p, "real_gpu", v.real_gpu_nonce, ATTEST_GPU_EVIDENCE_INVALID,
              "gpu entry 0: certificate chain", &r),
       "gpu: the real report against the test root");

    p.gpu_root = v.nvidia_root;
    p.cpu = ATTEST_EVIDENCE_REQUIRED;
    ok(expect(&p, "real_gpu", v.real_gpu_nonce, ATTEST_CPU_QUOTE_MISSING,
              NULL, &r), "gpu: the real report has no cpu quote");
}


static void
test_gpu_versions(void)
{
    list_t           drv, vb;
    attest_policy_t  p;
    attest_result_t  r;

    memset(&drv, 0, sizeof(drv));
    memset(&vb, 0, sizeof(vb));

    policy_init(&p);
    p.gpu_drivers = drv.s;
    p.gpu_vbios = vb.s;

    list_add(&drv, "550.90.07");
    p.n_gpu_drivers = drv.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "versions: driver allowed");
    list_free(&drv);

    list_add(&drv, "535.104.05");
    p.n_gpu_drivers = drv.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_GPU_VERSION_NOT_ALLOWED,
              "gpu entry 0: driver 550.90.07", &r),
       "versions: driver not in the list");

    list_add(&drv, "550.90.07");
    p.n_gpu_drivers = drv.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "versions: driver second in the list");
    list_free(&drv);

    list_add(&drv, "550.90.0");
    list_add(&drv, "550.90.071");
    list_add(&drv, "");
    p.n_gpu_drivers = drv.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_GPU_VERSION_NOT_ALLOWED, "driver",
              &r), "versions: a prefix or extension of the driver is not it");
    list_free(&drv);
    p.n_gpu_drivers = 0;

    list_add(&vb, "96.00.9F.00.01");
    p.n_gpu_vbios = vb.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "versions: VBIOS allowed, any case");
    list_free(&vb);

    list_add(&vb, "96.00.9f.00.02");
    p.n_gpu_vbios = vb.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_GPU_VERSION_NOT_ALLOWED,
              "vbios 96.00.9f.00.01", &r), "versions: VBIOS not in the list");

    /* the driver is fine, the VBIOS is not */
    list_add(&drv, "550.90.07");
    p.n_gpu_drivers = drv.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_GPU_VERSION_NOT_ALLOWED, "vbios",
              &r), "versions: driver allowed, VBIOS not");

    /* versions are GPU facts: off means not checked */
    p.gpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "versions: not checked with gpu off");

    /* no GPU evidence at all, optional: nothing to pin */
    p.gpu = ATTEST_EVIDENCE_OPTIONAL;
    p.cpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "absent_keys", v.nonce, ATTEST_OK, NULL, &r),
       "versions: not checked when the evidence is absent");

    list_free(&drv);
    list_free(&vb);
}


static void
test_absent(void)
{
    int              i;
    attest_policy_t  p;
    attest_result_t  r;

    static const char  *shapes[] = { "absent_error", "absent_keys",
                                     "absent_null" };

    for (i = 0; i < 3; i++) {
        policy_init(&p);
        p.gpu = ATTEST_EVIDENCE_OPTIONAL;
        p.cpu = ATTEST_EVIDENCE_OPTIONAL;
        ok(expect(&p, shapes[i], v.nonce, ATTEST_OK, NULL, &r)
           && r.gpu == ATTEST_EV_ABSENT && r.cpu == ATTEST_EV_ABSENT
           && texts_are(&r, "absent", "absent"),
           "%s: optional and absent is ok, ATTEST_EV_ABSENT", shapes[i]);
        ok(memcmp(r.signing_address, v.address, 20) == 0,
           "%s: the signer is still known", shapes[i]);

        p.gpu = ATTEST_EVIDENCE_REQUIRED;
        ok(expect(&p, shapes[i], v.nonce, ATTEST_GPU_EVIDENCE_MISSING, NULL,
                  &r), "%s: gpu required is gpu_evidence_missing",
           shapes[i]);

        p.gpu = ATTEST_EVIDENCE_OPTIONAL;
        p.cpu = ATTEST_EVIDENCE_REQUIRED;
        ok(expect(&p, shapes[i], v.nonce, ATTEST_CPU_QUOTE_MISSING, NULL,
                  &r), "%s: cpu required is cpu_quote_missing", shapes[i]);

        /* GPU is checked first */
        p.gpu = ATTEST_EVIDENCE_REQUIRED;
        ok(expect(&p, shapes[i], v.nonce, ATTEST_GPU_EVIDENCE_MISSING, NULL,
                  &r), "%s: both required names the GPU first", shapes[i]);

        p.gpu = ATTEST_EVIDENCE_OFF;
        p.cpu = ATTEST_EVIDENCE_OFF;
        ok(expect(&p, shapes[i], v.nonce, ATTEST_OK, NULL, &r)
           && texts_are(&r, "off", "off"), "%s: both off", shapes[i]);
    }

    policy_init(&p);
    p.cpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "cpu_error_gpu_ok", v.nonce, ATTEST_OK, NULL, &r)
       && r.gpu == ATTEST_EV_VERIFIED && r.cpu == ATTEST_EV_ABSENT
       && texts_are(&r, GPU_TEXT_2, "absent"),
       "cpu {error}: absent, the GPUs verified");

    p.cpu = ATTEST_EVIDENCE_REQUIRED;
    ok(expect(&p, "cpu_error_gpu_ok", v.nonce, ATTEST_CPU_QUOTE_MISSING,
              NULL, &r), "cpu {error}: required is cpu_quote_missing");
}


static void
test_cpu(void)
{
    char             cpu_text[128];
    attest_policy_t  p;
    attest_result_t  r;

    policy_init(&p);

    ok(expect(&p, "cpu_wrong_rd", v.nonce, ATTEST_REPORT_DATA_MISMATCH,
              "nonce", &r), "cpu: report_data for another nonce");

    ok(expect(&p, "cpu_addr", v.nonce, ATTEST_REPORT_DATA_MISMATCH, NULL,
              &r), "cpu: address layout quote under the nonce layout");

    p.report_data = ATTEST_TDX_RD_ADDRESS_NONCE;
    ok(expect(&p, "cpu_addr", v.nonce, ATTEST_OK, NULL, &r) && r.bound == 1
       && r.cpu == ATTEST_EV_VERIFIED, "cpu: address layout binds the signer");

    ok(expect(&p, "cpu_addr_other", v.nonce, ATTEST_REPORT_DATA_MISMATCH,
              "signing address", &r),
       "cpu: address layout with another address");

    ok(expect(&p, "cpu_wrong_rd", v.nonce, ATTEST_REPORT_DATA_MISMATCH,
              NULL, &r), "cpu: address layout, report_data of another kind");

    policy_init(&p);
    ok(expect(&p, "cpu_debug", v.nonce, ATTEST_DEBUG_TD, "DEBUG", &r),
       "cpu: a debug TD is debug_td");

    snprintf(cpu_text, sizeof(cpu_text), "verified mrtd=%.16s... debug",
             v.mrtd_hex);
    p.allow_debug = 1;
    ok(expect(&p, "cpu_debug", v.nonce, ATTEST_OK, NULL, &r)
       && r.cpu_debug == 1 && texts_are(&r, GPU_TEXT_2, cpu_text),
       "cpu: a debug TD with allow_debug, the text says debug");

    p.allow_debug = 0;
    ok(expect(&p, "cpu_bad_sig", v.nonce, ATTEST_CPU_QUOTE_INVALID, NULL,
              &r), "cpu: a bad quote signature");

    ok(expect(&p, "cpu_other_root", v.nonce, ATTEST_CPU_QUOTE_INVALID, NULL,
              &r), "cpu: a PCK chain to another root");

    p.cpu = ATTEST_EVIDENCE_OPTIONAL;
    ok(expect(&p, "cpu_bad_sig", v.nonce, ATTEST_CPU_QUOTE_INVALID, NULL,
              &r), "cpu: optional but present must verify");

    p.cpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "cpu_bad_sig", v.nonce, ATTEST_OK, NULL, &r)
       && r.cpu == ATTEST_EV_OFF && r.gpu == ATTEST_EV_VERIFIED,
       "cpu: off ignores a bad quote");

    policy_init(&p);
    ok(expect(&p, "both_bad", v.nonce, ATTEST_GPU_EVIDENCE_INVALID, NULL,
              &r), "both bad: the GPU is checked first");

    p.gpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "both_bad", v.nonce, ATTEST_CPU_QUOTE_INVALID, NULL, &r),
       "both bad, gpu off: the CPU quote");

    /* the real quote: verifies, but its report_data is not io.net's */
    policy_init(&p);
    p.gpu = ATTEST_EVIDENCE_OPTIONAL;
    p.cpu_root = v.intel_root;
    ok(expect(&p, "real_tdx", v.real_tdx_nonce, ATTEST_REPORT_DATA_MISMATCH,
              "32..64", &r),
       "real TDX quote: verifies up to report_data (nonce || 0 layout)");

    p.report_data = ATTEST_TDX_RD_ADDRESS_NONCE;
    ok(expect(&p, "real_tdx", v.real_tdx_nonce, ATTEST_REPORT_DATA_MISMATCH,
              NULL, &r), "real TDX quote: address layout mismatch");

    p.cpu_root = v.tdx_root;
    ok(expect(&p, "real_tdx", v.real_tdx_nonce, ATTEST_CPU_QUOTE_INVALID,
              NULL, &r), "real TDX quote against the test root");

    p.cpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "real_tdx", v.real_tdx_nonce, ATTEST_OK, NULL, &r)
       && r.gpu == ATTEST_EV_ABSENT && r.cpu == ATTEST_EV_OFF,
       "real TDX quote, cpu off");
}


static void
test_measurements(void)
{
    int              i, k;
    char             want[8];
    uint8_t          mrtd[2 * 48], rtmr[4][2 * 48];
    attest_policy_t  p;
    attest_result_t  r;

    policy_init(&p);

    /* another value first, the quote's second */
    memset(mrtd, 0x11, 48);
    memcpy(mrtd + 48, v.mrtd, 48);

    p.mrtd = mrtd;
    p.n_mrtd = 2;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "MRTD: the quote's is second in the list");

    p.n_mrtd = 1;
    ok(expect(&p, "ok", v.nonce, ATTEST_MEASUREMENT_NOT_ALLOWED,
              v.mrtd_hex, &r), "MRTD: not in the list, named in the detail");

    /* the list off by one bit in the last byte */
    memcpy(mrtd, v.mrtd, 48);
    mrtd[47] ^= 0x01;
    ok(expect(&p, "ok", v.nonce, ATTEST_MEASUREMENT_NOT_ALLOWED, "MRTD", &r),
       "MRTD: one bit off is not allowed");
    p.n_mrtd = 0;

    for (i = 0; i < 4; i++) {
        memcpy(rtmr[i], v.rtmr[i], 48);
        p.rtmr[i] = rtmr[i];
        p.n_rtmr[i] = 1;
    }

    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "RTMR: all four pinned to the quote's");

    for (i = 0; i < 4; i++) {
        /* RTMR i pinned to RTMR (i + 1) % 4's value: index mix-ups fail */
        k = (i + 1) % 4;
        memcpy(rtmr[i], v.rtmr[k], 48);
        snprintf(want, sizeof(want), "RTMR%d", i);
        ok(expect(&p, "ok", v.nonce, ATTEST_MEASUREMENT_NOT_ALLOWED, want,
                  &r), "RTMR%d: another register's value is not allowed", i);

        /* a list of two, the right one last */
        memcpy(rtmr[i] + 48, v.rtmr[i], 48);
        p.n_rtmr[i] = 2;
        ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
           "RTMR%d: second of two allowed", i);

        memcpy(rtmr[i], v.rtmr[i], 48);
        p.n_rtmr[i] = 1;
    }

    /* MRTD is checked before the RTMRs */
    memset(mrtd, 0x22, 48);
    p.mrtd = mrtd;
    p.n_mrtd = 1;
    memset(rtmr[0], 0x22, 48);
    ok(expect(&p, "ok", v.nonce, ATTEST_MEASUREMENT_NOT_ALLOWED, "MRTD", &r),
       "measurements: MRTD named before RTMR0");

    /* the debug bit is checked before measurements */
    ok(expect(&p, "cpu_debug", v.nonce, ATTEST_DEBUG_TD, NULL, &r),
       "measurements: debug_td before measurement_not_allowed");

    /* measurements are CPU facts: off means not checked */
    p.cpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "measurements: not checked with cpu off");
}


static void
test_image_digest(void)
{
    char             upper[96];
    size_t           i;
    list_t           l;
    attest_policy_t  p;
    attest_result_t  r;

    memset(&l, 0, sizeof(l));

    snprintf(upper, sizeof(upper), "%s", v.digest);
    for (i = 7; upper[i]; i++) {
        if (upper[i] >= 'a' && upper[i] <= 'f') {
            upper[i] = (char) (upper[i] - 'a' + 'A');
        }
    }

    policy_init(&p);
    p.image_digests = l.s;

    list_add(&l, v.digest);
    p.n_image_digests = l.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "digest: allowed");

    ok(expect(&p, "no_digest", v.nonce, ATTEST_IMAGE_DIGEST_NOT_ALLOWED,
              "no image_digest", &r),
       "digest: a report without one, under a list");

    ok(expect(&p, "digest_upper", v.nonce, ATTEST_OK, NULL, &r)
       && strcmp(r.image_digest, upper) == 0,
       "digest: uppercase in the report matches, kept as sent");
    list_free(&l);

    list_add(&l, upper);
    p.n_image_digests = l.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "digest: uppercase in the list matches");
    list_free(&l);

    list_add(&l, v.other_digest);
    p.n_image_digests = l.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_IMAGE_DIGEST_NOT_ALLOWED, v.digest,
              &r), "digest: not in the list, named in the detail");

    list_add(&l, v.digest);
    p.n_image_digests = l.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_OK, NULL, &r),
       "digest: second in the list");
    list_free(&l);

    /* the digest without its last digit, and with one more */
    upper[strlen(upper) - 1] = '\0';
    list_add(&l, upper);
    snprintf(upper, sizeof(upper), "%s0", v.digest);
    list_add(&l, upper);
    p.n_image_digests = l.n;
    ok(expect(&p, "ok", v.nonce, ATTEST_IMAGE_DIGEST_NOT_ALLOWED, NULL, &r),
       "digest: a prefix or extension is not it");

    /* checked before the evidence: bad GPUs do not matter */
    ok(expect(&p, "both_bad", v.nonce, ATTEST_IMAGE_DIGEST_NOT_ALLOWED, NULL,
              &r), "digest: checked before the GPU evidence");

    /* and after the nonce */
    ok(expect(&p, "ok", v.other_nonce, ATTEST_NONCE_MISMATCH, NULL, &r),
       "digest: the nonce is checked first");
    list_free(&l);

    /* no list: any digest or none */
    p.n_image_digests = 0;
    ok(expect(&p, "no_digest", v.nonce, ATTEST_OK, NULL, &r)
       && r.has_image_digest == 0 && r.image_digest_len == 0,
       "digest: no list, no digest");
}


static void
test_nonce_and_size(void)
{
    size_t           len;
    uint8_t         *json;
    attest_err_t     err;
    attest_policy_t  p;
    attest_result_t  r;
    attest_reason_t  rc;

    policy_init(&p);

    ok(expect(&p, "ok", v.other_nonce, ATTEST_NONCE_MISMATCH, NULL, &r),
       "nonce: the report echoes another nonce");

    ok(expect(&p, "echo_other", v.other_nonce, ATTEST_OK, NULL, &r),
       "nonce: a report made for other_nonce verifies for it");

    ok(expect(&p, "echo_other", v.nonce, ATTEST_NONCE_MISMATCH, NULL, &r),
       "nonce: but not for ours");

    p.gpu = ATTEST_EVIDENCE_OFF;
    p.cpu = ATTEST_EVIDENCE_OFF;
    ok(expect(&p, "ok", v.other_nonce, ATTEST_NONCE_MISMATCH, NULL, &r),
       "nonce: checked with all evidence off");

    policy_init(&p);
    ok(expect(&p, "garbage", v.nonce, ATTEST_ATTESTATION_INVALID, NULL, &r)
       && r.gpu == ATTEST_EV_OFF && r.cpu == ATTEST_EV_OFF,
       "garbage: attestation_invalid, result cleared");

    json = load(tap_vectors(), "verify_ok.json", &len);
    if (!ok(json != NULL, "read verify_ok.json")) {
        return;
    }

    p.report_max = len - 1;
    attest_err_clear(&err);
    rc = attest_verify_report(&p, json, len, v.nonce, NOW, &r, &err);
    ok(verdict(rc, &err, ATTEST_ATTESTATION_INVALID, "oversize"),
       "size: one byte over report_max is oversize");

    p.report_max = len;
    attest_err_clear(&err);
    rc = attest_verify_report(&p, json, len, v.nonce, NOW, &r, &err);
    ok(verdict(rc, &err, ATTEST_OK, NULL),
       "size: exactly report_max verifies");

    /* the report cut short by one byte */
    attest_err_clear(&err);
    rc = attest_verify_report(&p, json, len - 1, v.nonce, NOW, &r, &err);
    is_int(rc, ATTEST_ATTESTATION_INVALID, "size: one byte short (%s)",
           err.detail);

    free(json);
}


static void
test_texts(void)
{
    char             buf[128];
    attest_result_t  r;

    memset(&r, 0, sizeof(r));

    r.gpu = ATTEST_EV_OFF;
    r.cpu = ATTEST_EV_ABSENT;
    ok(texts_are(&r, "off", "absent"), "texts: off, absent");

    r.gpu = ATTEST_EV_VERIFIED;
    r.gpu_count = 8;
    ok(texts_are(&r, "verified gpus=8 driver=- vbios=-", "absent"),
       "texts: a GPU without versions prints -");

    snprintf(r.gpu_driver, sizeof(r.gpu_driver), "%s", "550.90.07");
    snprintf(r.gpu_vbios, sizeof(r.gpu_vbios), "%s", "96.00.9f.00.01");
    r.cpu = ATTEST_EV_VERIFIED;
    memset(r.mrtd, 0xab, sizeof(r.mrtd));
    r.mrtd[8] = 0xcd;
    ok(texts_are(&r, "verified gpus=8 driver=550.90.07 vbios=96.00.9f.00.01",
                 "verified mrtd=abababababababab..."),
       "texts: 8 GPUs, the first 8 MRTD bytes");

    r.cpu_debug = 1;
    ok(texts_are(&r, "verified gpus=8 driver=550.90.07 vbios=96.00.9f.00.01",
                 "verified mrtd=abababababababab... debug"),
       "texts: a debug TD says so");

    /* a small buffer: cut, NUL-terminated, nothing written past it */
    memset(buf, 'x', sizeof(buf));
    attest_result_gpu_text(&r, buf, 10);
    ok(strcmp(buf, "verified ") == 0 && buf[10] == 'x',
       "texts: the GPU text is cut to the buffer");

    memset(buf, 'x', sizeof(buf));
    attest_result_cpu_text(&r, buf, 4);
    ok(strcmp(buf, "ver") == 0 && buf[4] == 'x',
       "texts: the CPU text is cut to the buffer");

    memset(buf, 'x', sizeof(buf));
    attest_result_cpu_text(&r, buf, 0);
    ok(buf[0] == 'x', "texts: a zero-size buffer is not written");
}


int
main(void)
{
    if (vectors_load() == 0) {
        test_ok();
        test_gpu();
        test_gpu_versions();
        test_absent();
        test_cpu();
        test_measurements();
        test_image_digest();
        test_nonce_and_size();
    }

    test_texts();

    vectors_free();

    return tap_done();
}
