/*
 * attest_pem_first_cn() on the vendors' real roots (tests/testdata), a
 * leaf-first chain, a cut buffer and text that holds no certificate.
 * Inputs are copied into buffers of exactly their length, so that
 * valgrind sees a read past the end.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_pem.h"
#include "tap.h"


static uint8_t *
load(const char *rel, size_t *len)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", tap_testdata(), rel);

    return tap_slurp(path, len);
}


static void
cn_is(const char *rel, const char *want)
{
    char      cn[128];
    size_t    len;
    uint8_t  *pem;

    pem = load(rel, &len);
    ok(pem != NULL, "%s read", rel);

    if (pem == NULL) {
        return;
    }

    ok(attest_pem_first_cn(pem, len, cn, sizeof(cn)) == 0, "%s: a CN", rel);
    is_str(cn, want, "%s: CN", rel);

    free(pem);
}


int
main(void)
{
    char      cn[8];
    size_t    len;
    uint8_t  *pem, *copy;

    cn_is("nvidia/nvidia_device_identity_root.pem", ATTEST_NVIDIA_ROOT_CN);
    cn_is("intel/intel_sgx_root_ca.pem", ATTEST_INTEL_ROOT_CN);

    /* a chain, leaf first: the first certificate is the leaf */
    pem = load("nvidia/hopper_cert_chain.pem", &len);
    ok(pem != NULL, "the H100 chain read");

    if (pem != NULL) {
        char  big[128];

        ok(attest_pem_first_cn(pem, len, big, sizeof(big)) == 0
           && strcmp(big, ATTEST_NVIDIA_ROOT_CN) != 0,
           "a chain: the leaf's CN, not the root's (%s)", big);

        /* a buffer too small: cut, still terminated */
        ok(attest_pem_first_cn(pem, len, cn, sizeof(cn)) == 0
           && strlen(cn) == sizeof(cn) - 1, "a small buffer: cut to %d",
           (int) sizeof(cn) - 1);

        /* the PEM cut in the middle of its first certificate's base64 */
        copy = malloc(300);
        memcpy(copy, pem, 300);
        ok(attest_pem_first_cn(copy, 300, cn, sizeof(cn)) == -1
           && cn[0] == '\0', "a cut PEM: -1, empty");
        free(copy);

        ok(attest_pem_first_cn(pem, len, cn, 0) == -1, "size 0: -1");

        free(pem);
    }

    copy = malloc(11);
    memcpy(copy, "no PEM here", 11);
    ok(attest_pem_first_cn(copy, 11, cn, sizeof(cn)) == -1 && cn[0] == '\0',
       "text without a certificate: -1");
    free(copy);

    return tap_done();
}
