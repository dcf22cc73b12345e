/*
 * Intel TDX quote verification: a real v4 quote (Phala dcap-qvl sample)
 * against the real Intel SGX Root CA, quotes made by t/upstream/tdx_quote.py
 * (python3-cryptography, via tests/vectors/gen_tdx.py), and mutations of
 * both.
 */

#include <time.h>

#include "attest_codec.h"
#include "attest_tdx.h"
#include "tap.h"


/* known facts of the real quote, from shared/testdata/README.md */
#define REAL_LEN   4936
#define REAL_RD    "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1" \
                   "211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51e" \
                   "c39b7e518fadb92c2b523f20"
#define REAL_MRTD  "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520" \
                   "c942a604a407de03ae6dc5f87f27428b2538873118b7"
#define REAL_RTMR0 "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492" \
                   "f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0"
#define REAL_ATTR  "0000001000000000"
/* FMSPC of the real PCK leaf, read with python3-cryptography */
#define REAL_FMSPC "b0c06f000000"

/* 2026-01-01, inside the leaf's validity, for results that must not age */
#define T_2026     1767225600
/* 2032-02-07 00:00:00 UTC, after the leaf's notAfter (2032-02-06) */
#define T_2032     1959724800
/* 2025-02-06 00:00:00 UTC, before the leaf's notBefore (23:25:51) */
#define T_2025     1738800000


static uint8_t *
load(const char *dir, const char *name, size_t *len)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    return tap_slurp(path, len);
}


static attest_tdx_root_t *
load_root(const char *dir, const char *name)
{
    size_t              len;
    uint8_t            *pem;
    attest_err_t        err;
    attest_tdx_root_t  *root;

    pem = load(dir, name, &len);
    if (pem == NULL) {
        tap_diag("cannot read %s/%s", dir, name);
        return NULL;
    }

    root = attest_tdx_root_load(pem, len, &err);
    if (root == NULL) {
        tap_diag("root %s: %s", name, err.detail);
    }

    free(pem);

    return root;
}


static int
hex_eq(const uint8_t *got, size_t n, const char *want)
{
    char  buf[257];

    attest_hex_encode(got, n, buf);

    if (strcmp(buf, want) != 0) {
        tap_diag("  got  %s", buf);
        tap_diag("  want %s", want);
        return 0;
    }

    return 1;
}


/* NAME HEX line of tdx.txt as hex text; NULL if absent */
static const char *
vec_hex(const char *txt, const char *name, char *out, size_t size)
{
    size_t       n;
    const char  *p, *e;

    n = strlen(name);

    for (p = txt; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            p += n + 1;
            e = strchr(p, '\n');
            n = e ? (size_t) (e - p) : strlen(p);

            if (n >= size) {
                return NULL;
            }

            memcpy(out, p, n);
            out[n] = '\0';
            return out;
        }
    }

    tap_diag("tdx.txt has no %s", name);

    return NULL;
}


static int
vec_bytes(const char *txt, const char *name, uint8_t *out, size_t n)
{
    char  hex[257];

    if (vec_hex(txt, name, hex, sizeof(hex)) == NULL
        || strlen(hex) != 2 * n
        || attest_hex_decode(hex, 2 * n, out) != 0)
    {
        return -1;
    }

    return 0;
}


/* the verdict is cpu_quote_invalid and the detail names the check */
static int
failed_with(attest_reason_t rc, const attest_err_t *err, const char *want)
{
    if (rc != ATTEST_CPU_QUOTE_INVALID) {
        tap_diag("  reason %s", attest_reason_name(rc));
        return 0;
    }

    if (want != NULL && strstr(err->detail, want) == NULL) {
        tap_diag("  detail '%s', want '%s'", err->detail, want);
        return 0;
    }

    return 1;
}


static void
test_root_load(void)
{
    size_t              len;
    uint8_t            *pem;
    attest_err_t        err;
    attest_tdx_root_t  *root;

    root = attest_tdx_root_load((const uint8_t *) "hello", 5, &err);
    ok(root == NULL && err.reason == ATTEST_CPU_QUOTE_INVALID,
       "root: text without a certificate is refused (%s)", err.detail);
    attest_tdx_root_free(root);

    root = attest_tdx_root_load(NULL, 0, &err);
    ok(root == NULL, "root: empty input is refused");

    pem = load(tap_testdata(), "intel/intel_sgx_root_ca.pem", &len);
    if (!ok(pem != NULL, "Intel SGX Root CA PEM readable")) {
        return;
    }

    /* a PEM cut in its base64 must not pin a half certificate */
    root = attest_tdx_root_load(pem, len / 2, &err);
    ok(root == NULL, "root: truncated PEM is refused (%s)", err.detail);
    attest_tdx_root_free(root);

    root = attest_tdx_root_load(pem, len, &err);
    ok(root != NULL, "root: Intel SGX Root CA loads");
    attest_tdx_root_free(root);

    free(pem);

    /* the quote's own chain as "root": its leaf is no anchor */
    pem = load(tap_testdata(), "intel/tdx_quote_v4.bin", &len);
    if (pem != NULL) {
        root = attest_tdx_root_load(pem, len, &err);
        ok(root == NULL && strstr(err.detail, "not a self-signed CA"),
           "root: a PCK leaf is refused as an anchor (%s)", err.detail);
        attest_tdx_root_free(root);
    }

    attest_tdx_root_free(NULL);
    free(pem);
}


static size_t
find(const uint8_t *buf, size_t len, size_t from, const char *s)
{
    size_t  n = strlen(s);

    for ( /* void */ ; from + n <= len; from++) {
        if (memcmp(buf + from, s, n) == 0) {
            return from;
        }
    }

    return len;
}


static void
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}


/*
 * Another base64 character, so the PEM stays decodable and the damage
 * reaches the DER: the top bit of a 6-bit group is never a padding bit.
 */
static uint8_t
b64_other(uint8_t c)
{
    static const char  a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                             "qrstuvwxyz0123456789+/";
    const char        *p;

    p = (c == '\0') ? NULL : strchr(a, c);
    if (p == NULL) {
        return c ^ 0xff;
    }

    return (uint8_t) a[(p - a) ^ 0x20];
}


static void
test_real_flips(const attest_tdx_root_t *root, const uint8_t *real)
{
    size_t              i, j, npos, b[3], e[3];
    uint8_t            *q;
    attest_err_t        err;
    attest_reason_t     rc;
    attest_tdx_info_t   info;

    static const struct {
        size_t       pos;
        const char  *want;
    } flips[] = {
        /* header */
        { 0, "version" }, { 2, "attestation key type" },
        { 4, "TEE type not TDX" }, { 7, "TEE type not TDX" },
        { 8, "quote signature" }, { 12, "QE vendor id" },
        { 27, "QE vendor id" }, { 28, "quote signature" },
        { 47, "quote signature" },
        /* TD report body: TEE_TCB_SVN, MRSEAM, TD attributes, MRTD,
         * RTMR0, RTMR3, REPORTDATA */
        { 48, "quote signature" }, { 100, "quote signature" },
        { 168, "quote signature" }, { 184, "quote signature" },
        { 231, "quote signature" }, { 376, "quote signature" },
        { 567, "quote signature" }, { 568, "quote signature" },
        { 631, "quote signature" },
        /* signature data length */
        { 632, NULL }, { 635, "truncated in signature data" },
        /* quote signature r || s */
        { 636, "quote signature" }, { 670, "quote signature" },
        { 699, "quote signature" },
        /* attestation key */
        { 700, "attestation key not bound" },
        { 763, "attestation key not bound" },
        /* certification data type and size */
        { 764, "certification data type" },
        { 766, "certification data size" },
        /* QE report: body, report data hash, report data tail */
        { 770, "QE report signature" }, { 900, "QE report signature" },
        { 1089, "QE report signature" },
        { 1090, "attestation key not bound" },
        { 1121, "attestation key not bound" },
        { 1122, "report data tail not zero" },
        /* QE report signature */
        { 1154, "QE report signature" }, { 1217, "QE report signature" },
        /* QE auth data size and data */
        { 1218, NULL }, { 1220, "attestation key not bound" },
        { 1251, "attestation key not bound" },
        /* nested certification data type and size */
        { 1252, "nested certification data type" },
        { 1254, "PCK chain size" },
        /* PEM: BEGIN marker, the trailing NUL */
        { 1258, "PCK chain: junk" }, { REAL_LEN - 1, "PCK chain: junk" },
    };

    npos = sizeof(flips) / sizeof(flips[0]);

    q = malloc(REAL_LEN);
    if (q == NULL) {
        return;
    }

    for (i = 0; i < npos; i++) {
        memcpy(q, real, REAL_LEN);
        q[flips[i].pos] ^= 0xff;

        rc = attest_tdx_verify(root, q, REAL_LEN, T_2026, &info, &err);
        ok(failed_with(rc, &err, flips[i].want),
           "real quote, byte %zu flipped: fails (%s)", flips[i].pos,
           err.detail);
    }

    /*
     * Certificates: three places in each of the three PEM blocks, changed
     * to another base64 character so that the damage reaches the DER.
     */
    b[0] = find(real, REAL_LEN, 0, "-----BEGIN");
    e[0] = find(real, REAL_LEN, b[0], "-----END");

    for (i = 1; i < 3; i++) {
        b[i] = find(real, REAL_LEN, e[i - 1], "-----BEGIN");
        e[i] = find(real, REAL_LEN, b[i], "-----END");
    }

    if (!ok(e[2] < REAL_LEN, "real quote carries three PEM blocks")) {
        free(q);
        return;
    }

    for (i = 0; i < 3; i++) {
        size_t  pos[3] = { b[i] + 80, (b[i] + e[i]) / 2, e[i] - 40 };

        for (j = 0; j < 3; j++) {
            if (real[pos[j]] == '\n') {
                pos[j]++;
            }

            memcpy(q, real, REAL_LEN);
            q[pos[j]] = b64_other(q[pos[j]]);

            rc = attest_tdx_verify(root, q, REAL_LEN, T_2026, &info, &err);
            ok(rc == ATTEST_CPU_QUOTE_INVALID
               && (strncmp(err.detail, "PCK", 3) == 0
                   || strstr(err.detail, "QE report signature") != NULL),
               "real quote, certificate %zu byte %zu changed: fails (%s)",
               i, pos[j], err.detail);
        }
    }

    free(q);
}


/*
 * The PEM chain is outside both signatures, so the tests may rebuild it:
 * real quote up to the chain, then pem, with the three enclosing sizes
 * (signature data, certification data 6, nested 5) patched.
 */
#define REAL_PEM_OFF  1258
#define REAL_PEM_LEN  (REAL_LEN - REAL_PEM_OFF)

static uint8_t *
with_chain(const uint8_t *real, const char *pem, size_t *len)
{
    size_t    n;
    uint8_t  *q;

    n = strlen(pem);
    *len = REAL_PEM_OFF + n;

    q = malloc(*len);
    if (q == NULL) {
        return NULL;
    }

    memcpy(q, real, REAL_PEM_OFF);
    memcpy(q + REAL_PEM_OFF, pem, n);

    put_u32(q + 632, (uint32_t) (4300 - REAL_PEM_LEN + n));
    put_u32(q + 766, (uint32_t) (4166 - REAL_PEM_LEN + n));
    put_u32(q + 1254, (uint32_t) n);

    return q;
}


static void
test_real_chains(const attest_tdx_root_t *intel, const uint8_t *real)
{
    int                 i, k;
    char               *cert[3], *pem;
    size_t              b, e, n, len;
    uint8_t            *q;
    attest_err_t        err;
    attest_reason_t     rc;
    attest_tdx_info_t   info;

    static const struct {
        const char  *order;         /* certificates by index, '.' = junk */
        const char  *want;          /* NULL: verifies */
        const char  *name;
    } cases[] = {
        { "012", NULL, "leaf, CA, root as sent" },
        { "01", NULL, "leaf and CA only: the pinned root completes it" },
        { "0", "unable to get local issuer", "leaf only" },
        { "021", "certificate 1 is not on the verified path",
          "root before CA (order is leaf first, root last)" },
        { "102", "QE report signature", "CA first is taken as the leaf" },
        { "0121", "certificate 3 is not on the verified path",
          "an extra certificate" },
        { "0.12", "PCK chain: junk", "text between certificates" },
        { "", "PCK chain: no certificate", "empty chain" },
    };

    e = 0;

    for (i = 0; i < 3; i++) {
        b = find(real, REAL_LEN, e, "-----BEGIN");
        e = find(real, REAL_LEN, b, "-----END");
        e = find(real, REAL_LEN, e, "\n") + 1;
        n = e - b;

        cert[i] = (e <= REAL_LEN) ? malloc(n + 1) : NULL;
        if (cert[i] == NULL) {
            ok(0, "real chain split");
            while (--i >= 0) {
                free(cert[i]);
            }
            return;
        }

        memcpy(cert[i], real + b, n);
        cert[i][n] = '\0';
    }

    pem = malloc(4 * REAL_PEM_LEN);

    for (k = 0; pem != NULL && k < (int) (sizeof(cases) / sizeof(cases[0]));
         k++)
    {
        pem[0] = '\0';

        for (i = 0; cases[k].order[i]; i++) {
            strcat(pem, cases[k].order[i] == '.'
                        ? "junk\n" : cert[cases[k].order[i] - '0']);
        }

        q = with_chain(real, pem, &len);
        if (q == NULL) {
            break;
        }

        rc = attest_tdx_verify(intel, q, len, T_2026, &info, &err);

        if (cases[k].want == NULL) {
            ok(rc == ATTEST_OK, "chain %s: verifies (%s)", cases[k].name,
               rc == ATTEST_OK ? "ok" : err.detail);

        } else {
            ok(failed_with(rc, &err, cases[k].want), "chain %s: fails (%s)",
               cases[k].name, err.detail);
        }

        free(q);
    }

    /* CRLF line ends and no trailing NUL are fine too */
    if (pem != NULL) {
        n = 0;

        for (i = 0; i < 3; i++) {
            for (b = 0; cert[i][b]; b++) {
                if (cert[i][b] == '\n') {
                    pem[n++] = '\r';
                }

                pem[n++] = cert[i][b];
            }
        }

        pem[n] = '\0';

        q = with_chain(real, pem, &len);
        if (q != NULL) {
            rc = attest_tdx_verify(intel, q, len, T_2026, &info, &err);
            is_int(rc, ATTEST_OK, "chain with CRLF line ends verifies");
            free(q);
        }
    }

    free(pem);

    for (i = 0; i < 3; i++) {
        free(cert[i]);
    }
}


static void
test_real(const attest_tdx_root_t *intel, const attest_tdx_root_t *other)
{
    size_t              len, n, bad, first_bad;
    uint8_t            *real, *q;
    attest_err_t        err;
    attest_reason_t     rc;
    attest_tdx_info_t   info;

    real = load(tap_testdata(), "intel/tdx_quote_v4.bin", &len);
    if (!ok(real != NULL && len == REAL_LEN + 70,
            "real quote readable, 4936 + 70 bytes"))
    {
        free(real);
        return;
    }

    rc = attest_tdx_verify(intel, real, len, time(NULL), &info, &err);
    ok(rc == ATTEST_OK, "real quote verifies now, with its padding (%s)",
       rc == ATTEST_OK ? "ok" : err.detail);

    rc = attest_tdx_verify(intel, real, len, T_2026, &info, &err);
    is_int(rc, ATTEST_OK, "real quote verifies at 2026-01-01");
    is_int(info.version, 4, "version 4");
    ok(hex_eq(info.report_data, 64, REAL_RD), "report_data");
    ok(hex_eq(info.mrtd, 48, REAL_MRTD), "MRTD");
    ok(hex_eq(info.rtmr[0], 48, REAL_RTMR0), "RTMR0");
    ok(hex_eq(info.td_attributes, 8, REAL_ATTR), "TD attributes");
    is_int(info.debug, 0, "not a debug TD");
    is_int(info.has_fmspc, 1, "FMSPC found in the PCK leaf");
    ok(hex_eq(info.fmspc, 6, REAL_FMSPC), "FMSPC");

    rc = attest_tdx_verify(intel, real, REAL_LEN, T_2026, &info, &err);
    is_int(rc, ATTEST_OK, "real quote verifies without padding");

    /* trailing bytes are not ours to judge: text instead of zeros */
    q = malloc(len);
    if (q != NULL) {
        memcpy(q, real, len);
        memset(q + REAL_LEN, 'x', len - REAL_LEN);
        rc = attest_tdx_verify(intel, q, len, T_2026, &info, &err);
        is_int(rc, ATTEST_OK, "real quote with trailing text verifies");
        free(q);
    }

    rc = attest_tdx_verify(other, real, len, T_2026, &info, &err);
    ok(failed_with(rc, &err, "PCK chain: "),
       "real quote against another root fails (%s)", err.detail);
    is_int(info.version, 0, "info is cleared on failure");

    rc = attest_tdx_verify(intel, real, len, T_2032, &info, &err);
    ok(failed_with(rc, &err, "expired"),
       "real quote at 2032-02-07 fails (%s)", err.detail);

    rc = attest_tdx_verify(intel, real, len, T_2025, &info, &err);
    ok(failed_with(rc, &err, "not yet valid"),
       "real quote at 2025-02-06 00:00 fails (%s)", err.detail);

    rc = attest_tdx_verify(NULL, real, len, T_2026, &info, &err);
    ok(failed_with(rc, &err, "root"), "no root: fails");

    rc = attest_tdx_verify(intel, real, len, T_2026, NULL, &err);
    is_int(rc, ATTEST_OK, "info may be NULL");

    /* every cut of the quote fails on structure, before any crypto */
    bad = 0;
    first_bad = 0;

    for (n = 0; n < REAL_LEN; n++) {
        rc = attest_tdx_verify(intel, real, n, T_2026, &info, &err);

        if (rc != ATTEST_CPU_QUOTE_INVALID
            || strstr(err.detail, "truncated") == NULL)
        {
            if (bad++ == 0) {
                first_bad = n;
            }
        }
    }

    ok(bad == 0, "real quote truncated at each length 0..4935 fails as "
       "truncated (first bad %zu)", first_bad);

    /* the length fields decide, not the end of the buffer */
    q = malloc(REAL_LEN);
    if (q != NULL) {
        memcpy(q, real, REAL_LEN);
        q[0] = 3;
        rc = attest_tdx_verify(intel, q, REAL_LEN, T_2026, &info, &err);
        ok(failed_with(rc, &err, "version 3 unsupported"),
           "version 3: %s", err.detail);

        q[0] = 5;
        rc = attest_tdx_verify(intel, q, REAL_LEN, T_2026, &info, &err);
        ok(failed_with(rc, &err, "body type"),
           "v4 quote relabelled v5: %s", err.detail);

        memcpy(q, real, REAL_LEN);
        q[4] = 0;
        rc = attest_tdx_verify(intel, q, REAL_LEN, T_2026, &info, &err);
        ok(failed_with(rc, &err, "TEE type not TDX"),
           "SGX TEE type: %s", err.detail);

        /* inner sizes must fill their containers exactly */
        memcpy(q, real, REAL_LEN);
        q[766]--;
        rc = attest_tdx_verify(intel, q, REAL_LEN, T_2026, &info, &err);
        ok(failed_with(rc, &err, "certification data size 4165"),
           "certification data one byte short: %s", err.detail);

        memcpy(q, real, REAL_LEN);
        q[1254]--;
        rc = attest_tdx_verify(intel, q, REAL_LEN, T_2026, &info, &err);
        ok(failed_with(rc, &err, "PCK chain size 3677"),
           "PCK chain one byte short: %s", err.detail);

        free(q);
    }

    test_real_flips(intel, real);
    test_real_chains(intel, real);

    free(real);
}


static void
test_report_data(void)
{
    int                 i;
    uint8_t             nonce[32], addr[20];
    attest_err_t        err;
    attest_tdx_info_t   info;

    for (i = 0; i < 32; i++) {
        nonce[i] = (uint8_t) (0xa0 + i);
    }

    for (i = 0; i < 20; i++) {
        addr[i] = (uint8_t) (0x10 + i);
    }

    memset(&info, 0, sizeof(info));
    memcpy(info.report_data, nonce, 32);

    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE, nonce,
                                        NULL, &err),
           ATTEST_OK, "nonce layout: nonce || zeros matches");

    nonce[31] ^= 1;
    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE, nonce,
                                        NULL, &err),
           ATTEST_REPORT_DATA_MISMATCH, "nonce layout: other nonce (%s)",
           err.detail);
    nonce[31] ^= 1;

    info.report_data[63] = 1;
    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE, nonce,
                                        NULL, &err),
           ATTEST_REPORT_DATA_MISMATCH, "nonce layout: non-zero tail (%s)",
           err.detail);

    memset(&info, 0, sizeof(info));
    memcpy(info.report_data, addr, 20);
    memcpy(info.report_data + 32, nonce, 32);

    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_ADDRESS_NONCE,
                                        nonce, addr, &err),
           ATTEST_OK, "address layout: address || zeros || nonce matches");

    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE, nonce,
                                        addr, &err),
           ATTEST_REPORT_DATA_MISMATCH, "address layout read as nonce "
           "layout fails");

    addr[0] ^= 1;
    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_ADDRESS_NONCE,
                                        nonce, addr, &err),
           ATTEST_REPORT_DATA_MISMATCH, "address layout: other address (%s)",
           err.detail);
    addr[0] ^= 1;

    nonce[0] ^= 1;
    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_ADDRESS_NONCE,
                                        nonce, addr, &err),
           ATTEST_REPORT_DATA_MISMATCH, "address layout: other nonce (%s)",
           err.detail);
    nonce[0] ^= 1;

    info.report_data[25] = 1;
    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_ADDRESS_NONCE,
                                        nonce, addr, &err),
           ATTEST_REPORT_DATA_MISMATCH, "address layout: non-zero padding "
           "(%s)", err.detail);
    info.report_data[25] = 0;

    is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_ADDRESS_NONCE,
                                        nonce, NULL, &err),
           ATTEST_REPORT_DATA_MISMATCH, "address layout without an address");

    is_int(attest_tdx_check_report_data(&info, (attest_tdx_rd_layout_e) 7,
                                        nonce, addr, &err),
           ATTEST_REPORT_DATA_MISMATCH, "unknown layout");
}


/* quote from tdx_quote.py: verify and compare the fields it put in */
static void
test_generated_fields(const attest_tdx_root_t *root, const char *txt,
    const char *name, int version, const char *mrtd, const char *rtmr,
    int debug)
{
    int                 i;
    char                key[32];
    size_t              len;
    uint8_t            *q, want[48], nonce[32], attr[8];
    attest_err_t        err;
    attest_reason_t     rc;
    attest_tdx_info_t   info;

    q = load(tap_vectors(), name, &len);
    if (!ok(q != NULL, "%s readable", name)) {
        return;
    }

    rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
    ok(rc == ATTEST_OK, "%s verifies (%s)", name,
       rc == ATTEST_OK ? "ok" : err.detail);

    is_int(info.version, version, "%s: version %d", name, version);

    ok(vec_bytes(txt, mrtd, want, 48) == 0
       && memcmp(info.mrtd, want, 48) == 0, "%s: MRTD", name);

    for (i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "%s%d", rtmr, i);
        ok(vec_bytes(txt, key, want, 48) == 0
           && memcmp(info.rtmr[i], want, 48) == 0, "%s: RTMR%d", name, i);
    }

    ok(vec_bytes(txt, "nonce", nonce, 32) == 0
       && attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE, nonce,
                                       NULL, &err) == ATTEST_OK,
       "%s: report_data = nonce || zeros", name);

    is_int(info.debug, debug, "%s: debug %d", name, debug);

    if (vec_bytes(txt, "td_attributes", attr, 8) == 0) {
        attr[0] |= (uint8_t) debug;
        ok(memcmp(info.td_attributes, attr, 8) == 0, "%s: TD attributes",
           name);

    } else {
        ok(0, "%s: TD attributes in tdx.txt", name);
    }

    ok(info.has_fmspc && vec_bytes(txt, "fmspc", want, 6) == 0
       && memcmp(info.fmspc, want, 6) == 0, "%s: FMSPC", name);

    free(q);
}


static void
test_generated(const attest_tdx_root_t *intel)
{
    size_t              len, n, bad, first_bad;
    char               *txt;
    uint8_t            *q, nonce[32], addr[20];
    attest_err_t        err;
    attest_reason_t     rc;
    attest_tdx_info_t   info;
    attest_tdx_root_t  *root, *other;

    txt = (char *) load(tap_vectors(), "tdx.txt", &len);
    root = load_root(tap_vectors(), "tdx_root.pem");
    other = load_root(tap_vectors(), "tdx_other_root.pem");

    if (!ok(txt != NULL && root != NULL && other != NULL,
            "generated vectors present (make vectors)"))
    {
        goto done;
    }

    test_generated_fields(root, txt, "tdx_v4.bin", 4, "mrtd", "rtmr", 0);
    test_generated_fields(root, txt, "tdx_v4_debug.bin", 4, "mrtd", "rtmr",
                          1);
    test_generated_fields(root, txt, "tdx_v5.bin", 5, "v5_mrtd", "v5_rtmr",
                          0);
    test_generated_fields(root, txt, "tdx_v5_td10.bin", 5, "mrtd", "rtmr",
                          0);

    q = load(tap_vectors(), "tdx_v4.bin", &len);
    if (q != NULL) {
        rc = attest_tdx_verify(intel, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "PCK chain"),
           "generated v4 against the Intel root fails (%s)", err.detail);

        rc = attest_tdx_verify(other, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "PCK chain"),
           "generated v4 against the other root fails (%s)", err.detail);

        vec_bytes(txt, "nonce", nonce, 32);
        nonce[5] ^= 0x40;
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        is_int(rc, ATTEST_OK, "generated v4 verifies");
        is_int(attest_tdx_check_report_data(&info, ATTEST_TDX_RD_NONCE,
                                            nonce, NULL, &err),
               ATTEST_REPORT_DATA_MISMATCH,
               "generated v4 with another nonce: report_data_mismatch");
        free(q);
    }

    q = load(tap_vectors(), "tdx_v4_addr.bin", &len);
    if (q != NULL) {
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        is_int(rc, ATTEST_OK, "generated v4 (address layout) verifies");

        ok(vec_bytes(txt, "nonce", nonce, 32) == 0
           && vec_bytes(txt, "address", addr, 20) == 0
           && attest_tdx_check_report_data(&info,
                                           ATTEST_TDX_RD_ADDRESS_NONCE,
                                           nonce, addr, &err) == ATTEST_OK,
           "address layout report_data matches");

        addr[19] ^= 1;
        is_int(attest_tdx_check_report_data(&info,
                                            ATTEST_TDX_RD_ADDRESS_NONCE,
                                            nonce, addr, &err),
               ATTEST_REPORT_DATA_MISMATCH,
               "address layout with another address: mismatch");
        free(q);
    }

    q = load(tap_vectors(), "tdx_v4_bad_sig.bin", &len);
    if (q != NULL) {
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "quote signature"),
           "mode bad_signature fails (%s)", err.detail);
        free(q);
    }

    q = load(tap_vectors(), "tdx_v4_bad_qe.bin", &len);
    if (q != NULL) {
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "QE report signature"),
           "mode bad_qe_signature fails (%s)", err.detail);
        free(q);
    }

    q = load(tap_vectors(), "tdx_v4_other.bin", &len);
    if (q != NULL) {
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "PCK chain"),
           "mode other_root fails (%s)", err.detail);

        /* the same quote is sound under its own root */
        rc = attest_tdx_verify(other, q, len, time(NULL), &info, &err);
        is_int(rc, ATTEST_OK, "mode other_root verifies under the other "
               "root");
        free(q);
    }

    q = load(tap_vectors(), "tdx_v5.bin", &len);
    if (q != NULL && len > 54 + 648) {
        /* descriptor: body type 3 at 48, size 648 at 50 */
        q[48] = 2;
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "body size 648"),
           "v5: body type 2 with size 648 fails (%s)", err.detail);

        q[48] = 1;
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "body type 1 unsupported"),
           "v5: body type 1 (SGX) fails (%s)", err.detail);
        q[48] = 3;

        q[50] ^= 0x01;
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "body size"),
           "v5: body size changed fails (%s)", err.detail);
        q[50] ^= 0x01;

        /* MRSERVICETD, in the TD 1.5 part only: still signed */
        q[54 + 640] ^= 0x01;
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "quote signature"),
           "v5: TD 1.5 extension is signed (%s)", err.detail);
        q[54 + 640] ^= 0x01;

        q[49] ^= 0x80;
        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        ok(failed_with(rc, &err, "body type"),
           "v5: descriptor high byte fails (%s)", err.detail);
        q[49] ^= 0x80;

        rc = attest_tdx_verify(root, q, len, time(NULL), &info, &err);
        is_int(rc, ATTEST_OK, "v5 restored verifies");

        bad = 0;
        first_bad = 0;

        for (n = 0; n < len; n++) {
            rc = attest_tdx_verify(root, q, n, time(NULL), &info, &err);

            if (rc != ATTEST_CPU_QUOTE_INVALID
                || strstr(err.detail, "truncated") == NULL)
            {
                if (bad++ == 0) {
                    first_bad = n;
                }
            }
        }

        ok(bad == 0, "v5 truncated at each length 0..%zu fails as "
           "truncated (first bad %zu)", len - 1, first_bad);
    }

    free(q);

done:

    free(txt);
    attest_tdx_root_free(root);
    attest_tdx_root_free(other);
}


/* two roots in one PEM: both pinned */
static void
test_two_roots(void)
{
    size_t              l1, l2, l3;
    uint8_t            *a, *b, *both, *q;
    attest_err_t        err;
    attest_tdx_info_t   info;
    attest_tdx_root_t  *root;

    a = load(tap_testdata(), "intel/intel_sgx_root_ca.pem", &l1);
    b = load(tap_vectors(), "tdx_root.pem", &l2);
    q = load(tap_vectors(), "tdx_v4.bin", &l3);
    both = (a && b) ? malloc(l1 + l2) : NULL;

    if (both != NULL && q != NULL) {
        memcpy(both, a, l1);
        memcpy(both + l1, b, l2);

        root = attest_tdx_root_load(both, l1 + l2, &err);
        ok(root != NULL, "root: two certificates load");

        is_int(attest_tdx_verify(root, q, l3, time(NULL), &info, &err),
               ATTEST_OK, "two roots: generated quote verifies");

        attest_tdx_root_free(root);

        /* a damaged second certificate refuses the whole file */
        both[l1 + 100] = '*';
        root = attest_tdx_root_load(both, l1 + l2, &err);
        ok(root == NULL, "root: damaged second certificate refused (%s)",
           err.detail);
        attest_tdx_root_free(root);

    } else {
        ok(0, "two roots: inputs readable");
    }

    free(a);
    free(b);
    free(q);
    free(both);
}


int
main(void)
{
    attest_tdx_root_t  *intel, *other;

    test_root_load();
    test_report_data();

    intel = load_root(tap_testdata(), "intel/intel_sgx_root_ca.pem");
    other = load_root(tap_vectors(), "tdx_other_root.pem");

    if (ok(intel != NULL && other != NULL, "roots loaded")) {
        test_real(intel, other);
        test_generated(intel);
        test_two_roots();
    }

    attest_tdx_root_free(intel);
    attest_tdx_root_free(other);

    return tap_done();
}
