/*
 * Shared bits of the libFuzzer targets: reading the real test data the
 * verifiers are pinned to, and a crash on a broken invariant that names
 * it (libFuzzer saves the input that got there).
 */

#ifndef ATTEST_FUZZ_H
#define ATTEST_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_gpu.h"
#include "attest_tdx.h"


#ifndef FUZZ_TESTDATA
#define FUZZ_TESTDATA  "tests/testdata"
#endif


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define fuzz_assert(cond)                                                    \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", #cond,     \
                    __FILE__, __LINE__);                                      \
            abort();                                                          \
        }                                                                     \
    } while (0)


/* a whole file of $ATTEST_TESTDATA (or FUZZ_TESTDATA); exits on failure */
static inline uint8_t *
fuzz_testdata(const char *name, size_t *len)
{
    char         path[1024];
    long         n;
    FILE        *f;
    uint8_t     *buf;
    const char  *dir;

    dir = getenv("ATTEST_TESTDATA");
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : FUZZ_TESTDATA, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        perror(path);
        exit(2);
    }

    fclose(f);
    buf[n] = '\0';
    *len = (size_t) n;

    return buf;
}


/* an exact-size heap copy, so ASan sees a read past its end */
static inline uint8_t *
fuzz_dup(const uint8_t *p, size_t len)
{
    uint8_t  *d;

    d = malloc(len ? len : 1);
    if (d == NULL) {
        abort();
    }

    if (len) {
        memcpy(d, p, len);
    }

    return d;
}


/* reads every byte, so ASan checks the whole range is addressable */
static inline unsigned
fuzz_touch(const uint8_t *p, size_t len)
{
    size_t             i;
    volatile unsigned  sum;

    sum = 0;

    for (i = 0; i < len; i++) {
        sum += p[i];
    }

    return sum;
}

/* the real H100 sample's nonce (request bytes 4..36), so it can verify */
static const uint8_t  fuzz_sample_nonce[32] = {
    0x93, 0x1d, 0x8d, 0xd0, 0xad, 0xd2, 0x03, 0xac, 0x3d, 0x8b, 0x4f, 0xbd,
    0xe7, 0x5e, 0x11, 0x52, 0x78, 0xee, 0xfc, 0xdc, 0xea, 0xc5, 0xb8, 0x76,
    0x71, 0xa7, 0x48, 0xf3, 0x23, 0x64, 0xdf, 0xcb
};


/* the pinned NVIDIA and Intel roots of the test data; exit on failure */
static inline attest_gpu_root_t *
fuzz_gpu_root(void)
{
    size_t              len;
    uint8_t            *pem;
    attest_err_t        err;
    attest_gpu_root_t  *root;

    pem = fuzz_testdata("nvidia/nvidia_device_identity_root.pem", &len);
    root = attest_gpu_root_load(pem, len, &err);
    free(pem);

    if (root == NULL) {
        fprintf(stderr, "cannot load the GPU root: %s\n", err.detail);
        exit(2);
    }

    return root;
}


static inline attest_tdx_root_t *
fuzz_tdx_root(void)
{
    size_t              len;
    uint8_t            *pem;
    attest_err_t        err;
    attest_tdx_root_t  *root;

    pem = fuzz_testdata("intel/intel_sgx_root_ca.pem", &len);
    root = attest_tdx_root_load(pem, len, &err);
    free(pem);

    if (root == NULL) {
        fprintf(stderr, "cannot load the TDX root: %s\n", err.detail);
        exit(2);
    }

    return root;
}

#endif /* ATTEST_FUZZ_H */
