/*
 * NVIDIA Hopper GPU evidence (PROTOCOL.md section 4), verified offline:
 * SPDM GET_MEASUREMENTS request + response, signed with ECDSA P-384 by the
 * leaf of a certificate chain that must lead to a pinned root.
 */

#ifndef ATTEST_GPU_H
#define ATTEST_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "attest_reason.h"


typedef struct attest_gpu_root_s  attest_gpu_root_t;

typedef struct {
    char      driver[64];         /* "550.90.07" */
    char      vbios[32];          /* "96.00.9f.00.01" */
    int       has_fwid;
    uint8_t   fwid[48];
} attest_gpu_info_t;


/* PEM text of the root(s) to pin; NULL with err set on failure */
attest_gpu_root_t *attest_gpu_root_load(const uint8_t *pem, size_t len,
    attest_err_t *err);
void attest_gpu_root_free(attest_gpu_root_t *root);

/*
 * Verifies one evidence_list entry: evidence is the raw SPDM bytes, certs
 * the PEM chain (leaf first).  Returns ATTEST_OK or
 * ATTEST_GPU_EVIDENCE_INVALID with the failed check in err->detail.
 * info (may be NULL) is filled on ATTEST_OK and zeroed otherwise; empty
 * driver / vbios strings mean the report carries none.
 */
attest_reason_t attest_gpu_verify_entry(const attest_gpu_root_t *root,
    const uint8_t nonce[32], const uint8_t *evidence, size_t evidence_len,
    const uint8_t *certs, size_t certs_len, attest_gpu_info_t *info,
    attest_err_t *err);

#endif /* ATTEST_GPU_H */
