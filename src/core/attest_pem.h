/*
 * What a pinned root file holds: the commonName of its first certificate,
 * so that the gateway can say when a root is not the vendor's (the NVIDIA
 * and Intel files swapped, or a test root) while still using it.
 */

#ifndef ATTEST_PEM_H
#define ATTEST_PEM_H

#include <stddef.h>
#include <stdint.h>


#define ATTEST_NVIDIA_ROOT_CN  "NVIDIA Device Identity CA"
#define ATTEST_INTEL_ROOT_CN   "Intel SGX Root CA"


/*
 * The commonName of the first certificate of len bytes of PEM text into
 * buf (NUL-terminated, cut to size - 1 bytes); 0, or -1 when there is no
 * certificate or it has no commonName.
 */
int attest_pem_first_cn(const uint8_t *pem, size_t len, char *buf,
    size_t size);

#endif /* ATTEST_PEM_H */
