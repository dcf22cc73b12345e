/*
 * The commonName of a PEM file's first certificate (see attest_pem.h).
 */

#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest_pem.h"


int
attest_pem_first_cn(const uint8_t *pem, size_t len, char *buf, size_t size)
{
    int    n;
    BIO   *bio;
    X509  *cert;

    if (size == 0 || len > INT_MAX) {
        return -1;
    }

    buf[0] = '\0';

    /* the errors of a failed parse are ours to drop, not the caller's */
    ERR_set_mark();

    cert = NULL;
    n = -1;

    bio = BIO_new_mem_buf(pem, (int) len);

    if (bio != NULL) {
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    if (cert != NULL) {
        n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
                                      NID_commonName, buf, (int) size);
        X509_free(cert);
    }

    ERR_pop_to_mark();

    if (n < 0) {
        buf[0] = '\0';
        return -1;
    }

    return 0;
}
