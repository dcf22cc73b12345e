/*
 * NVIDIA Hopper GPU evidence, verified offline (PROTOCOL.md section 4).
 *
 * The order of the checks is chosen for cost, not for meaning: every check
 * must pass anyway.  The SPDM bytes and the opaque TLVs are parsed first
 * (cheap, and where truncated or garbled input fails), then the leaf key
 * and the SPDM signature (one ECDSA verification), then the certificate
 * path to the pinned root (several), then the nonce and the FWID.  A
 * nonce mismatch thus means "a genuine report, but not for this request".
 */

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest_gpu.h"


#define ATTEST_GPU_REQ_LEN       37
#define ATTEST_GPU_RSP_HDR_LEN   8
#define ATTEST_GPU_NONCE_LEN     32
#define ATTEST_GPU_SIG_LEN       96
#define ATTEST_GPU_COORD_LEN     48
#define ATTEST_GPU_FWID_LEN      48
#define ATTEST_GPU_VBIOS_LEN     8

#define ATTEST_GPU_SPDM_VERSION  0x11
#define ATTEST_GPU_GET_MEAS      0xe0
#define ATTEST_GPU_MEAS          0x60

#define ATTEST_GPU_TLV_DRIVER    3
#define ATTEST_GPU_TLV_VBIOS     6
#define ATTEST_GPU_TLV_FWID      20

/* a real chain has 5; more is not a chain we need to build */
#define ATTEST_GPU_MAX_CERTS     16

/* TCG DICE TcbInfo: its value ends with the FWID of the GPU firmware */
#define ATTEST_GPU_DICE_TCBINFO  "2.23.133.5.4.1"


struct attest_gpu_root_s {
    X509_STORE  *store;
};


typedef struct {
    const uint8_t  *req;            /* ATTEST_GPU_REQ_LEN bytes */
    const uint8_t  *record;
    size_t          record_len;
    const uint8_t  *opaque;
    size_t          opaque_len;
    const uint8_t  *sig;            /* ATTEST_GPU_SIG_LEN bytes */
    size_t          signed_len;     /* from req to sig */
} attest_gpu_spdm_t;


static attest_reason_t attest_gpu_spdm_parse(const uint8_t *p, size_t len,
    attest_gpu_spdm_t *spdm, attest_err_t *err);
static attest_reason_t attest_gpu_record_walk(const uint8_t *p, size_t len,
    unsigned nblocks, attest_err_t *err);
static attest_reason_t attest_gpu_opaque_parse(const uint8_t *p, size_t len,
    attest_gpu_info_t *info, attest_err_t *err);
static attest_reason_t attest_gpu_certs_parse(const uint8_t *pem,
    size_t len, const char *what, STACK_OF(X509) **out, attest_err_t *err);
static attest_reason_t attest_gpu_leaf_key(X509 *leaf, EVP_PKEY **pkey,
    attest_err_t *err);
static attest_reason_t attest_gpu_sig_verify(EVP_PKEY *pkey,
    const attest_gpu_spdm_t *spdm, attest_err_t *err);
static attest_reason_t attest_gpu_chain_verify(const attest_gpu_root_t *root,
    STACK_OF(X509) *certs, attest_err_t *err);
static int attest_gpu_verify_cb(int ok, X509_STORE_CTX *ctx);
static attest_reason_t attest_gpu_fwid_check(X509 *leaf,
    const attest_gpu_info_t *info, attest_err_t *err);


attest_gpu_root_t *
attest_gpu_root_load(const uint8_t *pem, size_t len, attest_err_t *err)
{
    int                 i, n;
    STACK_OF(X509)     *certs;
    attest_gpu_root_t  *root;

    ERR_set_mark();

    root = NULL;
    certs = NULL;

    if (attest_gpu_certs_parse(pem, len, "root", &certs, err) != ATTEST_OK) {
        goto done;
    }

    root = OPENSSL_zalloc(sizeof(attest_gpu_root_t));
    if (root == NULL) {
        attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID, "root: out of memory");
        goto done;
    }

    root->store = X509_STORE_new();
    if (root->store == NULL) {
        attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID, "root: out of memory");
        goto failed;
    }

    n = sk_X509_num(certs);

    for (i = 0; i < n; i++) {
        /* the store takes its own reference */
        if (X509_STORE_add_cert(root->store, sk_X509_value(certs, i)) != 1) {
            attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                        "root: cannot add certificate %d", i);
            goto failed;
        }
    }

    goto done;

failed:

    attest_gpu_root_free(root);
    root = NULL;

done:

    sk_X509_pop_free(certs, X509_free);
    ERR_pop_to_mark();

    return root;
}


void
attest_gpu_root_free(attest_gpu_root_t *root)
{
    if (root == NULL) {
        return;
    }

    X509_STORE_free(root->store);
    OPENSSL_free(root);
}


attest_reason_t
attest_gpu_verify_entry(const attest_gpu_root_t *root,
    const uint8_t nonce[32], const uint8_t *evidence, size_t evidence_len,
    const uint8_t *certs, size_t certs_len, attest_gpu_info_t *info,
    attest_err_t *err)
{
    X509               *leaf;
    EVP_PKEY           *pkey;
    attest_reason_t     rc;
    STACK_OF(X509)     *chain;
    attest_gpu_info_t   local;
    attest_gpu_spdm_t   spdm;

    if (info == NULL) {
        info = &local;
    }

    memset(info, 0, sizeof(attest_gpu_info_t));

    /* the compiler cannot tell that a failed parse leaves spdm unused */
    memset(&spdm, 0, sizeof(attest_gpu_spdm_t));

    if (root == NULL || nonce == NULL) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "no pinned root or nonce");
    }

    if (evidence == NULL) {
        evidence_len = 0;
    }

    rc = attest_gpu_spdm_parse(evidence, evidence_len, &spdm, err);

    if (rc == ATTEST_OK) {
        rc = attest_gpu_opaque_parse(spdm.opaque, spdm.opaque_len, info,
                                     err);
    }

    if (rc != ATTEST_OK) {
        memset(info, 0, sizeof(attest_gpu_info_t));
        return rc;
    }

    ERR_set_mark();

    chain = NULL;
    pkey = NULL;

    rc = attest_gpu_certs_parse(certs, certs ? certs_len : 0,
                                "certificate chain", &chain, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    leaf = sk_X509_value(chain, 0);

    rc = attest_gpu_leaf_key(leaf, &pkey, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    rc = attest_gpu_sig_verify(pkey, &spdm, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    rc = attest_gpu_chain_verify(root, chain, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    if (CRYPTO_memcmp(spdm.req + 4, nonce, ATTEST_GPU_NONCE_LEN) != 0) {
        rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                         "nonce mismatch: SPDM request does not carry "
                         "our nonce");
        goto done;
    }

    rc = attest_gpu_fwid_check(leaf, info, err);

done:

    sk_X509_pop_free(chain, X509_free);
    ERR_pop_to_mark();

    if (rc != ATTEST_OK) {
        /* versions from a report that did not verify must not be used */
        memset(info, 0, sizeof(attest_gpu_info_t));
    }

    return rc;
}


static uint32_t
attest_gpu_le16(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8;
}


static attest_reason_t
attest_gpu_spdm_parse(const uint8_t *p, size_t len, attest_gpu_spdm_t *spdm,
    attest_err_t *err)
{
    size_t           left;
    unsigned         nblocks;
    const uint8_t   *rsp, *q;
    attest_reason_t  rc;

    /*
     * Every length below comes from the evidence itself: each one is
     * checked against what is left before it is used, so that no
     * arithmetic can overflow and nothing is read past len.
     */

    if (len < ATTEST_GPU_REQ_LEN) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM request truncated (%zu bytes)", len);
    }

    if (p[0] != ATTEST_GPU_SPDM_VERSION) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM request: bad version 0x%02x", p[0]);
    }

    if (p[1] != ATTEST_GPU_GET_MEAS) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM request: not GET_MEASUREMENTS (0x%02x)",
                           p[1]);
    }

    spdm->req = p;
    rsp = p + ATTEST_GPU_REQ_LEN;
    left = len - ATTEST_GPU_REQ_LEN;

    if (left < ATTEST_GPU_RSP_HDR_LEN) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "response truncated at header");
    }

    if (rsp[0] != ATTEST_GPU_SPDM_VERSION) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM response: bad version 0x%02x", rsp[0]);
    }

    if (rsp[1] != ATTEST_GPU_MEAS) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM response: not MEASUREMENTS (0x%02x)",
                           rsp[1]);
    }

    nblocks = rsp[4];
    spdm->record_len = (size_t) rsp[5] | (size_t) rsp[6] << 8
                       | (size_t) rsp[7] << 16;

    q = rsp + ATTEST_GPU_RSP_HDR_LEN;
    left -= ATTEST_GPU_RSP_HDR_LEN;

    if (left < spdm->record_len) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "response truncated at measurement record "
                           "(%zu of %zu bytes)", left, spdm->record_len);
    }

    spdm->record = q;
    q += spdm->record_len;
    left -= spdm->record_len;

    rc = attest_gpu_record_walk(spdm->record, spdm->record_len, nblocks, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    /* the responder's nonce is the GPU's own: nothing to compare it with */

    if (left < ATTEST_GPU_NONCE_LEN) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "response truncated at responder nonce");
    }

    q += ATTEST_GPU_NONCE_LEN;
    left -= ATTEST_GPU_NONCE_LEN;

    if (left < 2) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "response truncated at opaque data length");
    }

    spdm->opaque_len = attest_gpu_le16(q);
    q += 2;
    left -= 2;

    if (left < spdm->opaque_len) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "response truncated at opaque data "
                           "(%zu of %zu bytes)", left, spdm->opaque_len);
    }

    spdm->opaque = q;
    q += spdm->opaque_len;
    left -= spdm->opaque_len;

    if (left < ATTEST_GPU_SIG_LEN) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "response truncated at signature "
                           "(%zu of %d bytes)", left, ATTEST_GPU_SIG_LEN);
    }

    /* bytes after the signature occur in real reports: not signed, unused */

    spdm->sig = q;
    spdm->signed_len = (size_t) (q - p);

    return ATTEST_OK;
}


static attest_reason_t
attest_gpu_record_walk(const uint8_t *p, size_t len, unsigned nblocks,
    attest_err_t *err)
{
    size_t    off, size;
    unsigned  n;

    /* block: index u8, measurement spec u8, size u16, then size bytes */

    off = 0;

    for (n = 0; off < len; n++) {
        if (len - off < 4) {
            return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                               "measurement record: block %u header "
                               "truncated", n);
        }

        size = attest_gpu_le16(p + off + 2);
        off += 4;

        if (len - off < size) {
            return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                               "measurement record: block %u truncated", n);
        }

        off += size;
    }

    if (n != nblocks) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "measurement record: %u blocks, header says %u",
                           n, nblocks);
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_gpu_opaque_parse(const uint8_t *p, size_t len, attest_gpu_info_t *info,
    attest_err_t *err)
{
    int             seen_driver, seen_vbios;
    size_t          off, vlen, i;
    uint32_t        type;
    const uint8_t  *v;

    seen_driver = 0;
    seen_vbios = 0;
    off = 0;

    while (off < len) {
        if (len - off < 4) {
            return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                               "opaque data: TLV header truncated");
        }

        type = attest_gpu_le16(p + off);
        vlen = attest_gpu_le16(p + off + 2);
        off += 4;

        if (len - off < vlen) {
            return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                               "opaque data: TLV type %u truncated", type);
        }

        v = p + off;
        off += vlen;

        /* a second copy of a checked field would make the report ambiguous */

        switch (type) {

        case ATTEST_GPU_TLV_DRIVER:
            if (seen_driver++) {
                return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                                   "opaque data: duplicate driver version");
            }

            /* ASCII up to the NUL terminator */
            for (i = 0; i < vlen && v[i] != '\0'; i++) {
                if (v[i] < 0x20 || v[i] > 0x7e
                    || i == sizeof(info->driver) - 1)
                {
                    return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                                       "opaque data: bad driver version");
                }

                info->driver[i] = (char) v[i];
            }

            info->driver[i] = '\0';
            break;

        case ATTEST_GPU_TLV_VBIOS:
            if (seen_vbios++) {
                return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                                   "opaque data: duplicate VBIOS version");
            }

            if (vlen != ATTEST_GPU_VBIOS_LEN) {
                return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                                   "opaque data: VBIOS version is %zu "
                                   "bytes, not 8", vlen);
            }

            /*
             * As NVIDIA's verifier prints it: bytes 0..3 are a
             * little-endian word printed most significant byte first,
             * then byte 4; bytes 5..7 are not shown.  The sample's
             * 00 9f 00 96 01 00 00 00 reads "96.00.9f.00.01".
             */
            snprintf(info->vbios, sizeof(info->vbios),
                     "%02x.%02x.%02x.%02x.%02x", v[3], v[2], v[1], v[0],
                     v[4]);
            break;

        case ATTEST_GPU_TLV_FWID:
            if (info->has_fwid) {
                return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                                   "opaque data: duplicate FWID");
            }

            if (vlen != ATTEST_GPU_FWID_LEN) {
                return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                                   "opaque data: FWID is %zu bytes, not 48",
                                   vlen);
            }

            memcpy(info->fwid, v, ATTEST_GPU_FWID_LEN);
            info->has_fwid = 1;
            break;

        default:
            /* SKU, project, measurement counters: not checked here */
            break;
        }
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_gpu_certs_parse(const uint8_t *pem, size_t len, const char *what,
    STACK_OF(X509) **out, attest_err_t *err)
{
    int                   n;
    BIO                  *bio;
    X509                 *x;
    long                  dlen;
    char                 *name, *header;
    unsigned char        *data;
    unsigned long         e;
    attest_reason_t       rc;
    const unsigned char  *d;
    STACK_OF(X509)       *certs;

    *out = NULL;

    if (pem == NULL || len == 0) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "%s: no certificate", what);
    }

    if (len > INT_MAX) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "%s: text too large", what);
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    certs = sk_X509_new_null();

    if (bio == NULL || certs == NULL) {
        BIO_free(bio);
        sk_X509_free(certs);
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "%s: out of memory", what);
    }

    for (n = 0; /* void */; n++) {
        name = NULL;
        header = NULL;
        data = NULL;

        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            /*
             * The end of the text shows as "no start line"; anything else
             * (bad base64, a missing end line) is a damaged certificate
             * and must not silently shorten the chain.
             */
            e = ERR_peek_last_error();

            if (ERR_GET_LIB(e) == ERR_LIB_PEM
                && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            {
                break;
            }

            rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                             "%s: PEM block %d does not decode", what, n);
            goto failed;
        }

        x = NULL;

        if (strcmp(name, PEM_STRING_X509) == 0) {
            d = data;
            x = d2i_X509(NULL, &d, dlen);

            /* trailing bytes inside the DER would go unsigned and unseen */
            if (x != NULL && d != data + dlen) {
                X509_free(x);
                x = NULL;
            }
        }

        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);

        if (x == NULL) {
            rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                             "%s: certificate %d does not parse", what, n);
            goto failed;
        }

        if (n == ATTEST_GPU_MAX_CERTS || !sk_X509_push(certs, x)) {
            X509_free(x);
            rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                             "%s: too many certificates", what);
            goto failed;
        }
    }

    BIO_free(bio);

    if (n == 0) {
        sk_X509_free(certs);
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "%s: no certificate", what);
    }

    *out = certs;

    return ATTEST_OK;

failed:

    BIO_free(bio);
    sk_X509_pop_free(certs, X509_free);

    return rc;
}


static attest_reason_t
attest_gpu_leaf_key(X509 *leaf, EVP_PKEY **pkey, attest_err_t *err)
{
    char  group[32];

    *pkey = X509_get0_pubkey(leaf);

    if (*pkey == NULL || !EVP_PKEY_is_a(*pkey, "EC")
        || EVP_PKEY_get_group_name(*pkey, group, sizeof(group), NULL) != 1
        || strcmp(group, SN_secp384r1) != 0)
    {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "leaf key is not P-384");
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_gpu_sig_verify(EVP_PKEY *pkey, const attest_gpu_spdm_t *spdm,
    attest_err_t *err)
{
    int             ok, derlen;
    BIGNUM         *r, *s;
    EVP_MD_CTX     *md;
    ECDSA_SIG      *sig;
    unsigned char  *der;

    /* SPDM carries r || s as fixed-size big-endian; EVP wants DER */

    der = NULL;
    derlen = 0;
    md = NULL;

    r = BN_bin2bn(spdm->sig, ATTEST_GPU_COORD_LEN, NULL);
    s = BN_bin2bn(spdm->sig + ATTEST_GPU_COORD_LEN, ATTEST_GPU_COORD_LEN,
                  NULL);
    sig = ECDSA_SIG_new();

    if (r == NULL || s == NULL || sig == NULL) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM signature: out of memory");
    }

    /* sig owns r and s from here */
    ECDSA_SIG_set0(sig, r, s);

    derlen = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);

    ok = 0;

    if (derlen > 0) {
        md = EVP_MD_CTX_new();

        ok = md != NULL
             && EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pkey) == 1
             && EVP_DigestVerify(md, der, (size_t) derlen, spdm->req,
                                 spdm->signed_len) == 1;
    }

    EVP_MD_CTX_free(md);
    OPENSSL_free(der);

    if (!ok) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "SPDM signature does not verify with the leaf "
                           "key");
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_gpu_chain_verify(const attest_gpu_root_t *root, STACK_OF(X509) *certs,
    attest_err_t *err)
{
    int              i, j, n, rc, found;
    X509            *x;
    STACK_OF(X509)  *untrusted, *path;
    X509_STORE_CTX  *ctx;

    /*
     * The store holds only the pinned roots, and there is no partial-chain
     * flag: the path must end at a pinned root.  The chain's own copy of
     * the root is passed as untrusted like the rest, so it can never act
     * as an anchor.
     */

    untrusted = sk_X509_new_null();
    ctx = X509_STORE_CTX_new();

    if (untrusted == NULL || ctx == NULL) {
        sk_X509_free(untrusted);
        X509_STORE_CTX_free(ctx);
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "certificate chain: out of memory");
    }

    n = sk_X509_num(certs);

    for (i = 1; i < n; i++) {
        if (!sk_X509_push(untrusted, sk_X509_value(certs, i))) {
            rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                             "certificate chain: out of memory");
            goto done;
        }
    }

    if (X509_STORE_CTX_init(ctx, root->store, sk_X509_value(certs, 0),
                            untrusted)
        != 1)
    {
        rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                         "certificate chain: cannot set up verification");
        goto done;
    }

    X509_STORE_CTX_set_verify_cb(ctx, attest_gpu_verify_cb);

    if (X509_verify_cert(ctx) != 1) {
        i = X509_STORE_CTX_get_error(ctx);
        rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                         "certificate chain: %s at depth %d",
                         X509_verify_cert_error_string(i),
                         X509_STORE_CTX_get_error_depth(ctx));
        goto done;
    }

    /*
     * Every certificate sent must be on the verified path.  Without this
     * a damaged or foreign extra certificate (say, a corrupted copy of the
     * root, which is never needed since the pinned root is used) would go
     * unnoticed.
     */

    path = X509_STORE_CTX_get0_chain(ctx);

    for (i = 0; i < n; i++) {
        x = sk_X509_value(certs, i);
        found = 0;

        for (j = 0; j < sk_X509_num(path); j++) {
            if (X509_cmp(x, sk_X509_value(path, j)) == 0) {
                found = 1;
                break;
            }
        }

        if (!found) {
            rc = attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                             "certificate chain: certificate %d is not on "
                             "the path to the pinned root", i);
            goto done;
        }
    }

    rc = ATTEST_OK;

done:

    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);

    return rc;
}


static int
attest_gpu_verify_cb(int ok, X509_STORE_CTX *ctx)
{
    int                   i, n, len;
    X509                 *x;
    ASN1_OBJECT          *obj;
    X509_EXTENSION       *ext;
    const unsigned char  *der;

    /* TCG DICE arc 2.23.133.5.4, as OID content octets */
    static const unsigned char  dice[] = { 0x67, 0x81, 0x05, 0x05, 0x04 };

    /*
     * NVIDIA's device certificates may mark TCG DICE extensions (TcbInfo,
     * UEID, ...) critical; OpenSSL knows none of them and would reject the
     * certificate.  They describe the device's firmware, constrain nothing
     * about the path, and the one that matters (TcbInfo's FWID) is checked
     * against the signed report separately.  So accept the error only when
     * every critical extension OpenSSL does not know is under the DICE arc;
     * any other unknown critical extension still fails.
     */

    if (ok
        || X509_STORE_CTX_get_error(ctx)
           != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION)
    {
        return ok;
    }

    x = X509_STORE_CTX_get_current_cert(ctx);
    if (x == NULL) {
        return 0;
    }

    n = X509_get_ext_count(x);

    for (i = 0; i < n; i++) {
        ext = X509_get_ext(x, i);

        if (!X509_EXTENSION_get_critical(ext)
            || X509_supported_extension(ext))
        {
            continue;
        }

        obj = X509_EXTENSION_get_object(ext);
        der = OBJ_get0_data(obj);
        len = (int) OBJ_length(obj);

        if (der == NULL || len <= (int) sizeof(dice)
            || memcmp(der, dice, sizeof(dice)) != 0)
        {
            return 0;
        }
    }

    X509_STORE_CTX_set_error(ctx, X509_V_OK);

    return 1;
}


static attest_reason_t
attest_gpu_fwid_check(X509 *leaf, const attest_gpu_info_t *info,
    attest_err_t *err)
{
    int                   i, len;
    ASN1_OBJECT          *obj;
    X509_EXTENSION       *ext;
    ASN1_OCTET_STRING    *val;
    const unsigned char  *v;

    if (!info->has_fwid) {
        /* older drivers report no FWID: nothing to bind */
        return ATTEST_OK;
    }

    obj = OBJ_txt2obj(ATTEST_GPU_DICE_TCBINFO, 1);
    if (obj == NULL) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "FWID: out of memory");
    }

    i = X509_get_ext_by_OBJ(leaf, obj, -1);
    ASN1_OBJECT_free(obj);

    if (i < 0) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "FWID present but the leaf has no DICE "
                           "extension");
    }

    ext = X509_get_ext(leaf, i);
    val = X509_EXTENSION_get_data(ext);
    v = ASN1_STRING_get0_data(val);
    len = ASN1_STRING_length(val);

    /* the extension ends with the FWID digest, its last field */

    if (v == NULL || len < ATTEST_GPU_FWID_LEN
        || memcmp(v + len - ATTEST_GPU_FWID_LEN, info->fwid,
                  ATTEST_GPU_FWID_LEN) != 0)
    {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "FWID != leaf DICE extension");
    }

    return ATTEST_OK;
}
