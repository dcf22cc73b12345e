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

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gpu_root = fuzz_gpu_root();
    tdx_root = fuzz_tdx_root();

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

        attest_report_check_nonce(&r, fuzz_sample_nonce, &err);
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
    rc = attest_verify_report(&p, data, size, fuzz_sample_nonce, FUZZ_NOW,
                              &res, &err);

    fuzz_assert(rc == ATTEST_OK || err.reason == rc);

    attest_result_gpu_text(&res, text, sizeof(text));
    attest_result_cpu_text(&res, text, sizeof(text));

    return 0;
}
