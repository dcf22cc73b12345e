/*
 * attest_report_parse() on arbitrary bytes, then the whole policy
 * (attest_verify_report) with the real NVIDIA and Intel roots pinned, so
 * evidence that survives parsing reaches the GPU and TDX verifiers.
 */

#include "attest_report.h"
#include "attest_verify.h"
#include "fuzz.h"


#define FUZZ_NOW  1767225600        /* 2026-01-01 */

static attest_gpu_root_t  *gpu_root;
static attest_tdx_root_t  *tdx_root;

/* the real H100 sample's nonce, so its evidence can verify */
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
    gpu_root = attest_gpu_root_load(pem, len, &err);
    free(pem);

    pem = fuzz_testdata("intel/intel_sgx_root_ca.pem", &len);
    tdx_root = attest_tdx_root_load(pem, len, &err);
    free(pem);

    if (gpu_root == NULL || tdx_root == NULL) {
        fprintf(stderr, "cannot load the roots\n");
        exit(2);
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           i;
    char             text[128];
    attest_err_t     err;
    attest_policy_t  p;
    attest_report_t  r;
    attest_result_t  res;
    attest_reason_t  rc;

    static const char    digest[] = "sha256:"
        "c003e28451514cb012ab7db6de19f17228120dab9a9a3f0d78e1a9ddb037aa25";
    static attest_str_t  digests[1] = { { digest, sizeof(digest) - 1 } };

    attest_err_clear(&err);
    rc = attest_report_parse(data, size, 1 << 20, &r, &err);

    fuzz_assert(rc == ATTEST_OK || err.reason == rc);
    fuzz_assert(memchr(err.detail, '\0', sizeof(err.detail)) != NULL);

    if (rc == ATTEST_OK) {
        fuzz_touch(r.cpu_quote, r.cpu_quote_len);
        fuzz_assert(r.cpu_present == (r.cpu_quote != NULL));
        fuzz_assert(r.gpu_count == 0 || r.gpu_present);
        fuzz_assert(!r.has_image_digest
                    || (r.image_digest_len <= ATTEST_DIGEST_MAX
                        && strlen(r.image_digest) == r.image_digest_len));
        fuzz_assert(memchr(r.gpu_arch, '\0', sizeof(r.gpu_arch)) != NULL);

        for (i = 0; i < r.gpu_count; i++) {
            fuzz_touch(r.gpu[i].evidence, r.gpu[i].evidence_len);
            fuzz_touch(r.gpu[i].certificate, r.gpu[i].certificate_len);
        }

        attest_report_check_nonce(&r, nonce, &err);
    }

    attest_report_free(&r);
    attest_report_free(&r);

    memset(&p, 0, sizeof(p));
    p.report_max = 1 << 20;
    p.gpu = ATTEST_EVIDENCE_OPTIONAL;
    p.gpu_root = gpu_root;
    p.cpu = ATTEST_EVIDENCE_OPTIONAL;
    p.cpu_root = tdx_root;
    p.report_data = (size && (data[0] & 1)) ? ATTEST_TDX_RD_ADDRESS_NONCE
                                            : ATTEST_TDX_RD_NONCE;

    if (size && (data[size - 1] & 1)) {
        p.image_digests = digests;
        p.n_image_digests = 1;
    }

    attest_err_clear(&err);
    rc = attest_verify_report(&p, data, size, nonce, FUZZ_NOW, &res, &err);

    fuzz_assert(rc == ATTEST_OK || err.reason == rc);

    attest_result_gpu_text(&res, text, sizeof(text));
    attest_result_cpu_text(&res, text, sizeof(text));

    return 0;
}
