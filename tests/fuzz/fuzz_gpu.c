/*
 * attest_gpu_verify_entry() on arbitrary SPDM bytes, with the real H100
 * sample's certificate chain, its nonce and the pinned NVIDIA root: the
 * seed is the real evidence, so mutations explore the parser and reach
 * the signature check.
 */

#include "attest_gpu.h"
#include "fuzz.h"


static attest_gpu_root_t  *root;
static uint8_t            *chain;
static size_t              chain_len;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    root = fuzz_gpu_root();
    chain = fuzz_testdata("nvidia/hopper_cert_chain.pem", &chain_len);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attest_err_t       err;
    attest_reason_t    rc;
    attest_gpu_info_t  info;

    memset(&info, 0x5a, sizeof(info));
    attest_err_clear(&err);

    rc = attest_gpu_verify_entry(root, fuzz_sample_nonce, data, size, chain,
                                 chain_len, &info, &err);

    fuzz_assert(rc == ATTEST_OK || rc == ATTEST_GPU_EVIDENCE_INVALID);
    fuzz_assert(rc == ATTEST_OK || err.reason == rc);
    fuzz_assert(memchr(info.driver, '\0', sizeof(info.driver)) != NULL);
    fuzz_assert(memchr(info.vbios, '\0', sizeof(info.vbios)) != NULL);

    if (rc != ATTEST_OK) {
        /* the header promises zeroed info on failure */
        fuzz_assert(info.driver[0] == '\0' && info.vbios[0] == '\0'
                    && !info.has_fwid);
    }

    return 0;
}
