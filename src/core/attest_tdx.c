/*
 * Intel TDX quotes v4 and v5, verified offline: structure by the length
 * fields, the quote signature with the attestation key, the QE report
 * signature with the PCK leaf, the binding of the attestation key into the
 * QE report, and the PCK chain up to a pinned Intel SGX Root CA.
 *
 * All parsing is done over (pointer, length) before any cryptography, so a
 * truncated or mangled quote is rejected cheaply.  TCB status, revocation
 * and QE identity need Intel's collateral (network) and are not checked.
 */

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "attest_codec.h"
#include "attest_tdx.h"


#define ATTEST_TDX_HEADER_LEN     48
#define ATTEST_TDX_DESC_LEN       6
#define ATTEST_TDX_BODY10_LEN     584
#define ATTEST_TDX_BODY15_LEN     648
#define ATTEST_TDX_SIG_LEN        64
#define ATTEST_TDX_KEY_LEN        64
#define ATTEST_TDX_QE_REPORT_LEN  384
#define ATTEST_TDX_QE_RD_OFF      320
#define ATTEST_TDX_MAX_CERTS      8

/* offsets inside the TD report body (TD 1.0 and 1.5 share them) */
#define ATTEST_TDX_TD_ATTR_OFF    120
#define ATTEST_TDX_MRTD_OFF       136
#define ATTEST_TDX_RTMR_OFF       328
#define ATTEST_TDX_RD_OFF         520

#define ATTEST_TDX_PEM_BEGIN      "-----BEGIN CERTIFICATE-----"
#define ATTEST_TDX_PEM_END        "-----END CERTIFICATE-----"


struct attest_tdx_root_s {
    X509_STORE  *store;
};


/* the pieces of a quote, all pointing into the caller's buffer */
typedef struct {
    int             version;
    const uint8_t  *signed_data;    /* header (+ descriptor) + body */
    size_t          signed_len;
    const uint8_t  *body;
    const uint8_t  *sig;            /* r || s */
    const uint8_t  *att_key;        /* X || Y */
    const uint8_t  *qe_report;
    const uint8_t  *qe_sig;         /* r || s */
    const uint8_t  *auth;
    size_t          auth_len;
    const uint8_t  *pem;
    size_t          pem_len;
} attest_tdx_quote_t;


static const uint8_t  attest_tdx_intel_qe_vendor[16] = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
    0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07
};

/* DER contents of 1.2.840.113741.1.13.1 (SGX extension) and its .4 */
static const uint8_t  attest_tdx_oid_sgx_ext[] = {
    0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01
};

static const uint8_t  attest_tdx_oid_fmspc[] = {
    0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04
};


static uint32_t
attest_tdx_u16(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8;
}


static uint32_t
attest_tdx_u32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


/* the header and the TD report body; *offp: where signature data starts */
static attest_reason_t
attest_tdx_parse_body(const uint8_t *quote, size_t len, attest_tdx_quote_t *q,
    size_t *offp, attest_err_t *err)
{
    size_t    off, body_len;
    uint32_t  v, type, size;

    memset(q, 0, sizeof(attest_tdx_quote_t));

    if (len < ATTEST_TDX_HEADER_LEN) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "quote truncated in header (%zu bytes)", len);
    }

    v = attest_tdx_u16(quote);
    if (v != 4 && v != 5) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "version %u unsupported", (unsigned) v);
    }

    q->version = (int) v;

    v = attest_tdx_u16(quote + 2);
    if (v != 2) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "attestation key type %u, not ECDSA P-256 (2)",
                           (unsigned) v);
    }

    v = attest_tdx_u32(quote + 4);
    if (v != 0x81) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "TEE type not TDX (0x%x)", (unsigned) v);
    }

    if (memcmp(quote + 12, attest_tdx_intel_qe_vendor, 16) != 0) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "QE vendor id is not Intel's");
    }

    off = ATTEST_TDX_HEADER_LEN;
    body_len = ATTEST_TDX_BODY10_LEN;

    if (q->version == 5) {
        if (len - off < ATTEST_TDX_DESC_LEN) {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "quote truncated in body descriptor");
        }

        type = attest_tdx_u16(quote + off);
        size = attest_tdx_u32(quote + off + 2);

        if (type == 2) {
            body_len = ATTEST_TDX_BODY10_LEN;

        } else if (type == 3) {
            body_len = ATTEST_TDX_BODY15_LEN;

        } else {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "body type %u unsupported", (unsigned) type);
        }

        if (size != body_len) {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "body size %u, body type %u needs %zu",
                               (unsigned) size, (unsigned) type, body_len);
        }

        off += ATTEST_TDX_DESC_LEN;
    }

    if (len - off < body_len) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "quote truncated in TD report body");
    }

    q->body = quote + off;
    off += body_len;

    q->signed_data = quote;
    q->signed_len = off;

    *offp = off;

    return ATTEST_OK;
}


/* the signature data: QE report, its auth data and the PCK chain */
static attest_reason_t
attest_tdx_parse(const uint8_t *quote, size_t len, attest_tdx_quote_t *q,
    attest_err_t *err)
{
    size_t           off, end, cd_end;
    uint32_t         type, size;
    attest_reason_t  rc;

    off = 0;

    rc = attest_tdx_parse_body(quote, len, q, &off, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    if (len - off < 4) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "quote truncated in signature data length");
    }

    size = attest_tdx_u32(quote + off);
    off += 4;

    /* bytes after the signature data (padding) are ignored */
    if (size > len - off) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "quote truncated in signature data (%u bytes "
                           "declared, %zu present)", (unsigned) size,
                           len - off);
    }

    end = off + size;

    if (end - off < ATTEST_TDX_SIG_LEN + ATTEST_TDX_KEY_LEN + 6) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "signature data truncated");
    }

    q->sig = quote + off;
    q->att_key = quote + off + ATTEST_TDX_SIG_LEN;
    off += ATTEST_TDX_SIG_LEN + ATTEST_TDX_KEY_LEN;

    type = attest_tdx_u16(quote + off);
    size = attest_tdx_u32(quote + off + 2);
    off += 6;

    if (type != 6) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "certification data type %u, not QE report (6)",
                           (unsigned) type);
    }

    if (size != end - off) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "certification data size %u, signature data "
                           "holds %zu", (unsigned) size, end - off);
    }

    cd_end = end;

    if (cd_end - off < ATTEST_TDX_QE_REPORT_LEN + ATTEST_TDX_SIG_LEN + 2) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "QE report certification data truncated");
    }

    q->qe_report = quote + off;
    q->qe_sig = quote + off + ATTEST_TDX_QE_REPORT_LEN;
    off += ATTEST_TDX_QE_REPORT_LEN + ATTEST_TDX_SIG_LEN;

    q->auth_len = attest_tdx_u16(quote + off);
    off += 2;

    if (cd_end - off < q->auth_len) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "QE auth data truncated");
    }

    q->auth = quote + off;
    off += q->auth_len;

    if (cd_end - off < 6) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "nested certification data truncated");
    }

    type = attest_tdx_u16(quote + off);
    size = attest_tdx_u32(quote + off + 2);
    off += 6;

    if (type != 5) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "nested certification data type %u, not PCK "
                           "chain (5)", (unsigned) type);
    }

    if (size != cd_end - off) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "PCK chain size %u, certification data holds %zu",
                           (unsigned) size, cd_end - off);
    }

    q->pem = quote + off;
    q->pem_len = size;

    return ATTEST_OK;
}


static attest_reason_t
attest_tdx_check_binding(const attest_tdx_quote_t *q, attest_err_t *err)
{
    static const uint8_t  zero[32];
    uint8_t               md[EVP_MAX_MD_SIZE];
    unsigned int          md_len;
    EVP_MD_CTX           *ctx;
    int                   ok;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "attestation key binding: out of memory");
    }

    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(ctx, q->att_key, ATTEST_TDX_KEY_LEN) == 1
         && EVP_DigestUpdate(ctx, q->auth, q->auth_len) == 1
         && EVP_DigestFinal_ex(ctx, md, &md_len) == 1
         && md_len == 32;

    EVP_MD_CTX_free(ctx);

    if (!ok) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "attestation key binding: SHA-256 failed");
    }

    if (memcmp(q->qe_report + ATTEST_TDX_QE_RD_OFF, md, 32) != 0) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "attestation key not bound to QE report");
    }

    /* Intel's layout: the hash is followed by 32 zero bytes */
    if (memcmp(q->qe_report + ATTEST_TDX_QE_RD_OFF + 32, zero, 32) != 0) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "attestation key not bound to QE report "
                           "(report data tail not zero)");
    }

    return ATTEST_OK;
}


/* raw X || Y of a P-256 point; NULL unless it is a point on the curve */
static EVP_PKEY *
attest_tdx_p256_key(const uint8_t xy[64])
{
    char           group[] = "prime256v1";
    uint8_t        pub[65];
    EVP_PKEY      *pkey;
    OSSL_PARAM     params[3];
    EVP_PKEY_CTX  *ctx;

    pub[0] = 0x04;
    memcpy(pub + 1, xy, 64);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  pub, sizeof(pub));
    params[2] = OSSL_PARAM_construct_end();

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) {
        return NULL;
    }

    pkey = NULL;

    if (EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);

    return pkey;
}


/* 1 when rs (raw r || s, 32 bytes each) signs msg under key */
static int
attest_tdx_ecdsa_verify(EVP_PKEY *key, const uint8_t rs[64],
    const uint8_t *msg, size_t len)
{
    int            ok, der_len;
    BIGNUM        *r, *s;
    uint8_t       *der;
    ECDSA_SIG     *sig;
    EVP_MD_CTX    *ctx;

    sig = ECDSA_SIG_new();
    r = BN_bin2bn(rs, 32, NULL);
    s = BN_bin2bn(rs + 32, 32, NULL);

    if (sig == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(sig, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return 0;
    }

    /* OpenSSL verifies DER signatures only */
    der = NULL;
    der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);

    if (der_len <= 0) {
        return 0;
    }

    ok = 0;

    ctx = EVP_MD_CTX_new();

    if (ctx != NULL
        && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(ctx, der, (size_t) der_len, msg, len) == 1)
    {
        ok = 1;
    }

    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);

    return ok;
}


static attest_reason_t
attest_tdx_check_quote_sig(const attest_tdx_quote_t *q, attest_err_t *err)
{
    int        ok;
    EVP_PKEY  *key;

    key = attest_tdx_p256_key(q->att_key);
    if (key == NULL) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "attestation key is not a P-256 point");
    }

    ok = attest_tdx_ecdsa_verify(key, q->sig, q->signed_data, q->signed_len);

    EVP_PKEY_free(key);

    if (!ok) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "quote signature");
    }

    return ATTEST_OK;
}


static int
attest_tdx_is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* offset of needle in hay[0..len), or len when absent */
static size_t
attest_tdx_find(const uint8_t *hay, size_t len, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    for (i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return i;
        }
    }

    return len;
}


/*
 * The embedded chain is attacker input, so it is read strictly: PEM
 * certificates separated by whitespace only, optionally followed by NUL
 * bytes, each one exact DER.  Every byte of the chain thus either belongs
 * to a certificate or is checked to be filler.
 */
static attest_reason_t
attest_tdx_parse_chain(const uint8_t *pem, size_t len, STACK_OF(X509) *certs,
    attest_err_t *err)
{
    size_t          off, i, n, der_len, blen, elen;
    X509           *x;
    uint8_t        *der;
    const uint8_t  *p;

    blen = sizeof(ATTEST_TDX_PEM_BEGIN) - 1;
    elen = sizeof(ATTEST_TDX_PEM_END) - 1;
    off = 0;

    for ( ;; ) {
        while (off < len && attest_tdx_is_space(pem[off])) {
            off++;
        }

        for (i = off; i < len && pem[i] == '\0'; i++) {
            /* void */
        }

        if (i == len) {
            break;
        }

        if (len - off < blen
            || memcmp(pem + off, ATTEST_TDX_PEM_BEGIN, blen) != 0)
        {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: junk at byte %zu of the PEM", off);
        }

        if (sk_X509_num(certs) == ATTEST_TDX_MAX_CERTS) {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: more than %d certificates",
                               ATTEST_TDX_MAX_CERTS);
        }

        off += blen;
        n = attest_tdx_find(pem + off, len - off, ATTEST_TDX_PEM_END);

        if (n == len - off) {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: certificate %d has no end line",
                               sk_X509_num(certs));
        }

        der = OPENSSL_malloc(attest_base64_decoded_max(n));
        if (der == NULL) {
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: out of memory");
        }

        if (attest_base64_decode((const char *) pem + off, n, der, &der_len)
            != 0 || der_len == 0 || der_len > 0x7fffffff)
        {
            OPENSSL_free(der);
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: certificate %d is not base64",
                               sk_X509_num(certs));
        }

        p = der;
        x = d2i_X509(NULL, &p, (long) der_len);

        if (x == NULL || p != der + der_len) {
            X509_free(x);
            OPENSSL_free(der);
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: certificate %d is not DER X.509",
                               sk_X509_num(certs));
        }

        OPENSSL_free(der);

        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                               "PCK chain: out of memory");
        }

        off += n + elen;
    }

    if (sk_X509_num(certs) == 0) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "PCK chain: no certificate");
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_tdx_check_qe_sig(const attest_tdx_quote_t *q, X509 *leaf,
    attest_err_t *err)
{
    EVP_PKEY  *key;

    key = X509_get0_pubkey(leaf);

    if (key == NULL || !EVP_PKEY_is_a(key, "EC")
        || EVP_PKEY_get_bits(key) != 256)
    {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "PCK leaf key is not ECDSA P-256");
    }

    if (!attest_tdx_ecdsa_verify(key, q->qe_sig, q->qe_report,
                                 ATTEST_TDX_QE_REPORT_LEN))
    {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "QE report signature");
    }

    return ATTEST_OK;
}


static attest_reason_t
attest_tdx_check_chain(const attest_tdx_root_t *root, STACK_OF(X509) *certs,
    time_t now, attest_err_t *err)
{
    int                 i, n, depth, rc;
    X509               *x;
    STACK_OF(X509)     *chain;
    X509_STORE_CTX     *ctx;
    attest_reason_t     reason;
    X509_VERIFY_PARAM  *param;

    ctx = X509_STORE_CTX_new();
    if (ctx == NULL) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "PCK chain: out of memory");
    }

    /* only the pinned root is trusted; the quote's certs are candidates */
    if (X509_STORE_CTX_init(ctx, root->store, sk_X509_value(certs, 0), certs)
        != 1)
    {
        X509_STORE_CTX_free(ctx);
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "PCK chain: cannot set up verification");
    }

    param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, now);

    /* Intel's chains are strict RFC 5280; anything odd is refused */
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);

    if (X509_verify_cert(ctx) != 1) {
        rc = X509_STORE_CTX_get_error(ctx);
        depth = X509_STORE_CTX_get_error_depth(ctx);
        X509_STORE_CTX_free(ctx);
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                           "PCK chain: %s at depth %d",
                           X509_verify_cert_error_string(rc), depth);
    }

    /*
     * Every certificate the quote carries must be the one at its depth on
     * the verified path: no unused extras, and an embedded root must be
     * the pinned one byte for byte.
     */
    reason = ATTEST_OK;
    chain = X509_STORE_CTX_get0_chain(ctx);
    n = sk_X509_num(certs);

    for (i = 0; i < n; i++) {
        x = (chain != NULL && i < sk_X509_num(chain))
            ? sk_X509_value(chain, i) : NULL;

        if (x == NULL || X509_cmp(x, sk_X509_value(certs, i)) != 0) {
            reason = attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                                 "PCK chain: certificate %d is not on the "
                                 "verified path", i);
            break;
        }
    }

    X509_STORE_CTX_free(ctx);

    return reason;
}


static int
attest_tdx_oid_is(const ASN1_OBJECT *obj, const uint8_t *der, size_t len)
{
    return obj != NULL && OBJ_length(obj) == len
           && memcmp(OBJ_get0_data(obj), der, len) == 0;
}


/*
 * FMSPC from the PCK leaf's SGX extension: SEQUENCE OF SEQUENCE { OID,
 * value }, FMSPC being an OCTET STRING of 6 bytes.  Best effort: absent
 * or odd encodings leave has_fmspc 0.
 */
static void
attest_tdx_get_fmspc(X509 *leaf, attest_tdx_info_t *info)
{
    int                        i, j, n;
    long                       len;
    ASN1_TYPE                 *item, *oid, *val;
    X509_EXTENSION            *ext;
    const uint8_t             *p;
    ASN1_OCTET_STRING         *data;
    STACK_OF(ASN1_TYPE)       *seq, *pair;

    ext = NULL;
    n = X509_get_ext_count(leaf);

    for (i = 0; i < n; i++) {
        ext = X509_get_ext(leaf, i);

        if (attest_tdx_oid_is(X509_EXTENSION_get_object(ext),
                              attest_tdx_oid_sgx_ext,
                              sizeof(attest_tdx_oid_sgx_ext)))
        {
            break;
        }
    }

    if (ext == NULL || i == n) {
        return;
    }

    data = X509_EXTENSION_get_data(ext);
    p = ASN1_STRING_get0_data(data);
    len = ASN1_STRING_length(data);

    seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    if (seq == NULL) {
        ERR_clear_error();
        return;
    }

    for (i = 0; i < sk_ASN1_TYPE_num(seq) && !info->has_fmspc; i++) {
        item = sk_ASN1_TYPE_value(seq, i);

        if (item->type != V_ASN1_SEQUENCE) {
            continue;
        }

        p = ASN1_STRING_get0_data(item->value.sequence);
        len = ASN1_STRING_length(item->value.sequence);

        pair = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
        if (pair == NULL) {
            ERR_clear_error();
            continue;
        }

        if (sk_ASN1_TYPE_num(pair) == 2) {
            oid = sk_ASN1_TYPE_value(pair, 0);
            val = sk_ASN1_TYPE_value(pair, 1);

            if (oid->type == V_ASN1_OBJECT
                && attest_tdx_oid_is(oid->value.object, attest_tdx_oid_fmspc,
                                     sizeof(attest_tdx_oid_fmspc))
                && val->type == V_ASN1_OCTET_STRING
                && ASN1_STRING_length(val->value.octet_string) == 6)
            {
                p = ASN1_STRING_get0_data(val->value.octet_string);

                for (j = 0; j < 6; j++) {
                    info->fmspc[j] = p[j];
                }

                info->has_fmspc = 1;
            }
        }

        sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
    }

    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}


attest_tdx_root_t *
attest_tdx_root_load(const uint8_t *pem, size_t len, attest_err_t *err)
{
    int                 n;
    BIO                *bio;
    X509               *x;
    unsigned long       e;
    attest_tdx_root_t  *root;

    if (pem == NULL || len == 0 || len > 0x7fffffff) {
        attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "root: empty PEM");
        return NULL;
    }

    root = OPENSSL_zalloc(sizeof(attest_tdx_root_t));
    if (root == NULL) {
        attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "root: out of memory");
        return NULL;
    }

    root->store = X509_STORE_new();
    bio = BIO_new_mem_buf(pem, (int) len);

    if (root->store == NULL || bio == NULL) {
        BIO_free(bio);
        attest_tdx_root_free(root);
        attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "root: out of memory");
        return NULL;
    }

    /* configuration, not attacker input: OpenSSL's lenient PEM reader */
    for (n = 0; (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL; n++)
    {
        /* an anchor must be a root: a self-signed CA */
        if (!(X509_get_extension_flags(x) & EXFLAG_SS)
            || X509_check_ca(x) == 0
            || X509_verify(x, X509_get0_pubkey(x)) != 1)
        {
            X509_free(x);
            BIO_free(bio);
            attest_tdx_root_free(root);
            ERR_clear_error();
            attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                        "root: certificate %d is not a self-signed CA", n);
            return NULL;
        }

        if (X509_STORE_add_cert(root->store, x) != 1) {
            X509_free(x);
            BIO_free(bio);
            attest_tdx_root_free(root);
            ERR_clear_error();
            attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                        "root: cannot add certificate %d", n);
            return NULL;
        }

        X509_free(x);
    }

    BIO_free(bio);

    /* the loop ends on "no start line" or on a broken certificate */
    e = ERR_peek_last_error();

    if (n == 0 || ERR_GET_LIB(e) != ERR_LIB_PEM
        || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
    {
        ERR_clear_error();
        attest_tdx_root_free(root);
        attest_fail(err, ATTEST_CPU_QUOTE_INVALID,
                    n == 0 ? "root: no certificate in PEM"
                           : "root: certificate %d is malformed", n);
        return NULL;
    }

    ERR_clear_error();

    return root;
}


void
attest_tdx_root_free(attest_tdx_root_t *root)
{
    if (root == NULL) {
        return;
    }

    X509_STORE_free(root->store);
    OPENSSL_free(root);
}


attest_reason_t
attest_tdx_verify(const attest_tdx_root_t *root, const uint8_t *quote,
    size_t len, time_t now, attest_tdx_info_t *info, attest_err_t *err)
{
    int                  i;
    STACK_OF(X509)      *certs;
    attest_reason_t      rc;
    attest_tdx_info_t    local;
    attest_tdx_quote_t   q;

    if (info == NULL) {
        info = &local;
    }

    memset(info, 0, sizeof(attest_tdx_info_t));

    if (root == NULL || root->store == NULL) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "no root to pin");
    }

    if (quote == NULL) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "no quote");
    }

    rc = attest_tdx_parse(quote, len, &q, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    rc = attest_tdx_check_binding(&q, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    certs = sk_X509_new_null();
    if (certs == NULL) {
        return attest_fail(err, ATTEST_CPU_QUOTE_INVALID, "out of memory");
    }

    rc = attest_tdx_check_quote_sig(&q, err);

    if (rc == ATTEST_OK) {
        rc = attest_tdx_parse_chain(q.pem, q.pem_len, certs, err);
    }

    if (rc == ATTEST_OK) {
        rc = attest_tdx_check_qe_sig(&q, sk_X509_value(certs, 0), err);
    }

    if (rc == ATTEST_OK) {
        rc = attest_tdx_check_chain(root, certs, now, err);
    }

    if (rc == ATTEST_OK) {
        info->version = q.version;
        memcpy(info->td_attributes, q.body + ATTEST_TDX_TD_ATTR_OFF, 8);
        info->debug = info->td_attributes[0] & 0x01;
        memcpy(info->mrtd, q.body + ATTEST_TDX_MRTD_OFF, 48);

        for (i = 0; i < 4; i++) {
            memcpy(info->rtmr[i], q.body + ATTEST_TDX_RTMR_OFF + 48 * i, 48);
        }

        memcpy(info->report_data, q.body + ATTEST_TDX_RD_OFF, 64);

        attest_tdx_get_fmspc(sk_X509_value(certs, 0), info);
    }

    sk_X509_pop_free(certs, X509_free);

    /* leave no stale OpenSSL errors for the caller's logs */
    ERR_clear_error();

    return rc;
}


attest_reason_t
attest_tdx_check_report_data(const attest_tdx_info_t *info,
    attest_tdx_rd_layout_e layout, const uint8_t nonce[32],
    const uint8_t address[20], attest_err_t *err)
{
    static const uint8_t  zero[32];
    const uint8_t        *rd;

    rd = info->report_data;

    if (nonce == NULL) {
        return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH, "no nonce");
    }

    switch (layout) {

    case ATTEST_TDX_RD_NONCE:
        if (memcmp(rd, nonce, 32) != 0) {
            return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                               "report_data does not start with the nonce");
        }

        if (memcmp(rd + 32, zero, 32) != 0) {
            return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                               "report_data bytes 32..64 are not zero");
        }

        return ATTEST_OK;

    case ATTEST_TDX_RD_ADDRESS_NONCE:
        if (address == NULL) {
            return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                               "no signing address to compare");
        }

        if (memcmp(rd, address, 20) != 0) {
            return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                               "report_data does not start with the "
                               "signing address");
        }

        if (memcmp(rd + 20, zero, 12) != 0) {
            return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                               "report_data bytes 20..32 are not zero");
        }

        if (memcmp(rd + 32, nonce, 32) != 0) {
            return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                               "report_data does not end with the nonce");
        }

        return ATTEST_OK;
    }

    return attest_fail(err, ATTEST_REPORT_DATA_MISMATCH,
                       "unknown report_data layout %d", (int) layout);
}
