/*
 * attest_tdx_verify() on arbitrary quote bytes against the pinned Intel
 * SGX Root CA; the seed is the real v4 quote.  A quote that verifies also
 * goes through both report_data layouts.
 */

#include "attest_tdx.h"
#include "fuzz.h"


#define FUZZ_NOW  1767225600        /* 2026-01-01, inside the PCK validity */

static attest_tdx_root_t  *root;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    root = fuzz_tdx_root();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t            nonce[32], addr[20];
    attest_err_t       err;
    attest_reason_t    rc;
    attest_tdx_info_t  info;

    memset(&info, 0, sizeof(info));
    attest_err_clear(&err);

    rc = attest_tdx_verify(root, data, size, FUZZ_NOW, &info, &err);

    fuzz_assert(rc == ATTEST_OK || rc == ATTEST_CPU_QUOTE_INVALID);
    fuzz_assert(rc == ATTEST_OK || err.reason == rc);

    if (rc == ATTEST_OK) {
        fuzz_assert(info.version == 4 || info.version == 5);
        fuzz_assert(info.debug == (info.td_attributes[0] & 1));

        memcpy(nonce, info.report_data, 32);
        rc = attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE, nonce,
                                          NULL, &err);
        fuzz_assert(rc == ATTEST_OK || rc == ATTEST_REPORT_DATA_MISMATCH);

        memcpy(addr, info.report_data, 20);
        memcpy(nonce, info.report_data + 32, 32);
        rc = attest_tdx_check_report_data(&info, ATTEST_TDX_RD_ADDRESS_NONCE,
                                          nonce, addr, &err);
        fuzz_assert(rc == ATTEST_OK || rc == ATTEST_REPORT_DATA_MISMATCH);
    }

    return 0;
}
