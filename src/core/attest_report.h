/*
 * The attestation report document (PROTOCOL.md section 1), parsed with
 * yajl into plain C: the nonce echo, signer, image digest, the decoded CPU
 * quote and the decoded GPU evidence list.  The agent's "error" shapes for
 * absent hardware parse as absent, never as evidence.
 */

#ifndef ATTEST_REPORT_H
#define ATTEST_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "attest_reason.h"


#define ATTEST_REPORT_MAX_DEPTH   16
#define ATTEST_DIGEST_MAX         128

typedef struct {
    uint8_t   *evidence;          /* raw SPDM bytes */
    size_t     evidence_len;
    uint8_t   *certificate;       /* PEM text */
    size_t     certificate_len;
} attest_gpu_entry_t;

typedef struct {
    uint8_t             nonce[32];
    uint8_t             signing_address[20];

    int                 has_image_digest;
    char                image_digest[ATTEST_DIGEST_MAX + 1];
    size_t              image_digest_len;

    int                 cpu_present;       /* 0: absent or error shape */
    uint8_t            *cpu_quote;
    size_t              cpu_quote_len;

    int                 gpu_present;       /* 0: absent or error shape */
    uint8_t             gpu_nonce[32];
    int                 has_gpu_nonce;
    char                gpu_arch[32];
    attest_gpu_entry_t *gpu;
    size_t              gpu_count;
} attest_report_t;


/*
 * Parses len bytes of JSON (max_len caps len: larger is
 * ATTEST_ATTESTATION_INVALID "oversize").  On success the report owns heap
 * memory: release it with attest_report_free(), also after a failure.
 */
attest_reason_t attest_report_parse(const uint8_t *json, size_t len,
    size_t max_len, attest_report_t *r, attest_err_t *err);

void attest_report_free(attest_report_t *r);

/* ATTEST_OK or ATTEST_NONCE_MISMATCH */
attest_reason_t attest_report_check_nonce(const attest_report_t *r,
    const uint8_t nonce[32], attest_err_t *err);

/* digest syntax: "sha256:" + 64 hex; returns 0 or -1 */
int attest_digest_valid(const char *s, size_t len);

#endif /* ATTEST_REPORT_H */
