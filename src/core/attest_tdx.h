/*
 * Intel TDX quotes v4 and v5 (PROTOCOL.md section 5), verified offline
 * against a pinned Intel SGX Root CA.
 */

#ifndef ATTEST_TDX_H
#define ATTEST_TDX_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest_reason.h"


typedef struct attest_tdx_root_s  attest_tdx_root_t;

typedef enum {
    ATTEST_TDX_RD_NONCE = 0,        /* nonce || 32 zero bytes (io.net) */
    ATTEST_TDX_RD_ADDRESS_NONCE     /* address zero-padded to 32 || nonce */
} attest_tdx_rd_layout_e;

typedef struct {
    int       version;              /* 4 or 5 */
    uint8_t   mrtd[48];
    uint8_t   rtmr[4][48];
    uint8_t   report_data[64];
    uint8_t   td_attributes[8];
    int       debug;                /* TD attributes bit 0 */
    int       has_fmspc;
    uint8_t   fmspc[6];
} attest_tdx_info_t;


/* PEM text of the root to pin; NULL with err set on failure */
attest_tdx_root_t *attest_tdx_root_load(const uint8_t *pem, size_t len,
    attest_err_t *err);
void attest_tdx_root_free(attest_tdx_root_t *root);

/*
 * Parses and verifies a quote: structure, signatures, attestation key
 * binding, PCK chain to root at time now.  Fills info.  Returns ATTEST_OK
 * or ATTEST_CPU_QUOTE_INVALID with the failed check in err->detail.
 */
attest_reason_t attest_tdx_verify(const attest_tdx_root_t *root,
    const uint8_t *quote, size_t len, time_t now, attest_tdx_info_t *info,
    attest_err_t *err);

/* ATTEST_OK or ATTEST_REPORT_DATA_MISMATCH */
attest_reason_t attest_tdx_check_report_data(const attest_tdx_info_t *info,
    attest_tdx_rd_layout_e layout, const uint8_t nonce[32],
    const uint8_t address[20], attest_err_t *err);

#endif /* ATTEST_TDX_H */
