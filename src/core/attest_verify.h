/*
 * The attestation policy: one fetched report checked end to end (syntax,
 * nonce, image digest allowlist, GPU evidence, CPU quote) into a compact
 * result the gateway caches.  Shared by the nginx layer and attest-verify.
 */

#ifndef ATTEST_VERIFY_H
#define ATTEST_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest_reason.h"
#include "attest_report.h"
#include "attest_sig.h"
#include "attest_gpu.h"
#include "attest_tdx.h"


typedef enum {
    ATTEST_EVIDENCE_OFF = 0,
    ATTEST_EVIDENCE_OPTIONAL,
    ATTEST_EVIDENCE_REQUIRED
} attest_evidence_e;

typedef enum {
    ATTEST_EV_OFF = 0,              /* not checked by policy */
    ATTEST_EV_ABSENT,               /* optional and not in the report */
    ATTEST_EV_VERIFIED
} attest_ev_state_e;

typedef struct {
    size_t                     report_max;

    const attest_str_t        *image_digests;   /* none: not enforced */
    size_t                     n_image_digests;

    attest_evidence_e          gpu;
    const attest_gpu_root_t   *gpu_root;
    const attest_str_t        *gpu_drivers;     /* none: any */
    size_t                     n_gpu_drivers;
    const attest_str_t        *gpu_vbios;       /* none: any */
    size_t                     n_gpu_vbios;

    attest_evidence_e          cpu;
    const attest_tdx_root_t   *cpu_root;
    attest_tdx_rd_layout_e     report_data;
    const uint8_t             *mrtd;            /* n_mrtd * 48 bytes */
    size_t                     n_mrtd;
    const uint8_t             *rtmr[4];         /* n_rtmr[i] * 48 bytes */
    size_t                     n_rtmr[4];
    int                        allow_debug;
} attest_policy_t;

typedef struct {
    uint8_t             signing_address[20];
    int                 has_image_digest;
    char                image_digest[ATTEST_DIGEST_MAX + 1];
    size_t              image_digest_len;

    attest_ev_state_e   gpu;
    unsigned            gpu_count;
    char                gpu_driver[64];
    char                gpu_vbios[32];

    attest_ev_state_e   cpu;
    uint8_t             mrtd[48];
    int                 cpu_debug;
    int                 bound;          /* signer in the quote's report_data */
} attest_result_t;


attest_reason_t attest_verify_report(const attest_policy_t *p,
    const uint8_t *json, size_t len, const uint8_t nonce[32], time_t now,
    attest_result_t *res, attest_err_t *err);

/* "verified gpus=8 driver=550.90.07 vbios=96.00.9f.00.01", "absent", "off" */
void attest_result_gpu_text(const attest_result_t *r, char *buf, size_t size);

/* "verified mrtd=<first 16 hex>...", "absent", "off" */
void attest_result_cpu_text(const attest_result_t *r, char *buf, size_t size);

#endif /* ATTEST_VERIFY_H */
