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

static const uint8_t  nonce[32] = {
    0x93, 0x1d, 0x8d, 0xd0, 0xad, 0xd2, 0x03, 0xac, 0x3d, 0x8b, 0x4f, 0xbd,
    0xe7, 0x5e, 0x11, 0x52, 0x78, 0xee, 0xfc, 0xdc, 0xea, 0xc5, 0xb8, 0x76,
    0x71, 0xa7, 0x48, 0xf3, 0x23, 0x64, 0xdf, 0xcb
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t        len;
    uint8_t      *pem;
    attest_err_t  err;

    pem = fuzz_testdata("nvidia/nvidia_device_identity_root.pem", &len);
    root = attest_gpu_root_load(pem, len, &err);
    free(pem);

    chain = fuzz_testdata("nvidia/hopper_cert_chain.pem", &chain_len);

    if (root == NULL) {
        fprintf(stderr, "cannot load the root: %s\n", err.detail);
        exit(2);
    }

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

    rc = attest_gpu_verify_entry(root, nonce, data, size, chain, chain_len,
                                 &info, &err);

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
