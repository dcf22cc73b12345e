/*
 * Ethereum personal_sign verification: published examples (web3.py,
 * web3.js, EIP-55), strict parsing, and build/vectors/eth_sigs.txt, signed
 * by t/upstream/ethsign.py (python-ecdsa + pycryptodome), each of which
 * must recover to its address and stop doing so after a one-bit change.
 */

#include <stdint.h>

#include "attest_codec.h"
#include "attest_eth.h"
#include "tap.h"


/* web3.py docs, "Sign a Message": eth_account signs "I♥SF" (UTF-8) */
#define W3PY_TEXT  "I\xe2\x99\xa5SF"
#define W3PY_ADDR  "0x5ce9454909639D2D17A3F753ce7d93fa0b9aB12E"
#define W3PY_HASH                                                             \
    "1476abb745d423bf09273f1afd887d951181d25adc66c4834a70491911b7f750"
#define W3PY_SIG                                                              \
    "0xe6ca9bba58c88611fad66a6ce8f996908195593807c4b38bd528d2cff09d4eb3"     \
    "3e5bfbbf4d3e39b1a2fd816a7680c19ebebaf3a141b239934ad43cb33fcec8ce1c"

/*
 * web3.js docs, web3.eth.accounts.sign('Some data', '0x4c0883a6...'); the
 * address of that key is the one web3.js / eth_account docs show for it.
 */
#define W3JS_TEXT  "Some data"
#define W3JS_ADDR  "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
#define W3JS_HASH                                                             \
    "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655"
#define W3JS_SIG                                                              \
    "0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd"     \
    "6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c"

/* the order n of secp256k1 (SEC 2), hex */
#define SECP_N                                                                \
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
#define SECP_N_MINUS_1                                                        \
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"
#define SECP_N_PLUS_1                                                         \
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142"
#define HIGH_S                                                                \
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364000"
#define ALL_FF32                                                              \
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define ONE32                                                                 \
    "0000000000000000000000000000000000000000000000000000000000000001"
#define FIVE32                                                                \
    "0000000000000000000000000000000000000000000000000000000000000005"
#define ZERO32                                                                \
    "0000000000000000000000000000000000000000000000000000000000000000"


static void
hex32(const uint8_t d[32], char out[65])
{
    attest_hex_encode(d, 32, out);
}


/* parse, digest and recover text signed by sig; "" on any failure */
static attest_reason_t
recover_text(const char *text, size_t tlen, const char *sig, char out[43])
{
    uint8_t          s[ATTEST_ETH_SIG_LEN], d[32], a[ATTEST_ETH_ADDR_LEN];
    attest_err_t     err;
    attest_reason_t  rc;

    out[0] = '\0';

    rc = attest_eth_parse_signature(sig, strlen(sig), s, &err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    attest_eth_personal_digest((const uint8_t *) text, tlen, d);

    rc = attest_eth_recover(d, s, a, &err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    attest_eth_format_address(a, out);

    return ATTEST_OK;
}


static void
test_format_address(void)
{
    /*
     * The EIP-55 specification's test cases: all caps, all lower, and
     * mixed-case addresses, each already in checksum form.
     */
    static const char  *eip55[] = {
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        NULL
    };

    char         lower[43], out[43];
    size_t       i;
    uint8_t      addr[ATTEST_ETH_ADDR_LEN];
    const char **p;

    for (p = eip55; *p != NULL; p++) {
        /* start from all-lowercase so the case must come from keccak */
        for (i = 0; i < 42; i++) {
            lower[i] = (char) ((*p)[i] >= 'A' && (*p)[i] <= 'F'
                               ? (*p)[i] - 'A' + 'a' : (*p)[i]);
        }
        lower[42] = '\0';

        is_int(attest_eth_parse_address(lower, 42, addr), 0,
               "parse %s", lower);

        memset(out, 'Z', sizeof(out));
        attest_eth_format_address(addr, out);
        is_str(out, *p, "EIP-55 checksum of %s", lower);
    }

}


static void
test_pubkey_address(void)
{
    /* secp256k1's generator G (SEC 2), the public key of private key 1 */
    static const char  gx_gy[] =
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";

    char     out[43];
    uint8_t  pub[64], addr[ATTEST_ETH_ADDR_LEN];

    ok(attest_hex_decode(gx_gy, 128, pub) == 0, "decode G");
    attest_eth_pubkey_address(pub, addr);
    attest_eth_format_address(addr, out);

    /* the widely published address of private key 1 */
    is_str(out, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
           "address of the public key G (private key 1)");
}


static void
test_parse_address(void)
{
    static const struct {
        const char  *in;
        const char  *why;
    } bad[] = {
        { "", "empty" },
        { "0x", "0x alone" },
        { "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "no 0x" },
        { "005aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "00 in place of 0x" },
        { "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0X" },
        { "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "39 hex digits" },
        { "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0", "41 hex digits" },
        { "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", "non-hex digit g" },
        { "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe ", "trailing space" },
        { " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "leading space" },
        { "0x0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "0x twice" },
        { NULL, NULL }
    };

    char     buf[64];
    size_t   i;
    uint8_t  a[ATTEST_ETH_ADDR_LEN], b[ATTEST_ETH_ADDR_LEN];

    for (i = 0; bad[i].in != NULL; i++) {
        is_int(attest_eth_parse_address(bad[i].in, strlen(bad[i].in), a), -1,
               "address rejected: %s", bad[i].why);
    }

    /* case does not matter, and bytes come out right */
    is_int(attest_eth_parse_address(
               "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", 42, a), 0,
           "all-caps address parses");
    is_int(attest_eth_parse_address(
               "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", 42, b), 0,
           "all-lowercase address parses");
    ok(memcmp(a, b, sizeof(a)) == 0, "case-insensitive");
    ok(a[0] == 0x5a && a[1] == 0xae && a[19] == 0xed, "address bytes");

    /* only len is read: a valid address followed by junk */
    memcpy(buf, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedXYZ", 46);
    is_int(attest_eth_parse_address(buf, 42, a), 0,
           "parses exactly len bytes");
    is_int(attest_eth_parse_address(buf, 41, a), -1, "shorter len fails");
}


/* a signature hex string r || s || v from parts */
static void
make_sig(char *out, const char *r, const char *s, const char *v)
{
    strcpy(out, r);
    strcat(out, s);
    strcat(out, v);
}


static void
test_parse_signature(void)
{
    static const struct {
        const char  *in;
        const char  *why;
    } bad[] = {
        { "", "empty" },
        { "0x", "0x alone" },
        { "0x0", "one digit" },
        { NULL, NULL }
    };

    static const char  *bad_v[] = { "02", "1a", "1d", "ff", "80", NULL };

    static const struct {
        const char  *v;
        uint8_t      want;
    } good_v[] = {
        { "00", 0 }, { "01", 1 }, { "1b", 0 }, { "1c", 1 },
        { "1B", 0 }, { "1C", 1 }, { NULL, 0 }
    };

    char             sig[200], *heap;
    size_t           i;
    uint8_t          s[ATTEST_ETH_SIG_LEN];
    const char      *good;
    attest_err_t     err;
    attest_reason_t  rc;

    good = W3PY_SIG;

    for (i = 0; bad[i].in != NULL; i++) {
        is_int(attest_eth_parse_signature(bad[i].in, strlen(bad[i].in), s,
                                          &err),
               ATTEST_SIGNATURE_MALFORMED, "signature rejected: %s",
               bad[i].why);
    }

    /* odd length: 129 digits */
    is_int(attest_eth_parse_signature(good, 131, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: 129 hex digits");

    /* 64 bytes, then 66 bytes */
    is_int(attest_eth_parse_signature(good, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: 64 bytes");
    ok(err.reason == ATTEST_SIGNATURE_MALFORMED && err.detail[0] != '\0',
       "err carries reason and detail (%s)", err.detail);

    snprintf(sig, sizeof(sig), "%s00", good);
    is_int(attest_eth_parse_signature(sig, strlen(sig), s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: 66 bytes");

    /* a non-hex digit, in r and in v */
    strcpy(sig, good);
    sig[10] = 'g';
    is_int(attest_eth_parse_signature(sig, strlen(sig), s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: 'g' in r");
    strcpy(sig, good);
    sig[131] = ' ';
    is_int(attest_eth_parse_signature(sig, strlen(sig), s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: space in v");

    /* 0x twice */
    snprintf(sig, sizeof(sig), "0x%s", good);
    is_int(attest_eth_parse_signature(sig, strlen(sig), s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: 0x0x");

    /* v outside {0, 1, 27, 28} */
    for (i = 0; bad_v[i] != NULL; i++) {
        strcpy(sig, good);
        memcpy(sig + 130, bad_v[i], 2);
        is_int(attest_eth_parse_signature(sig, strlen(sig), s, &err),
               ATTEST_SIGNATURE_MALFORMED,
               "signature rejected: v = 0x%s", bad_v[i]);
    }

    /* v in {0, 1, 27, 28}, normalized to 0/1 */
    for (i = 0; good_v[i].v != NULL; i++) {
        strcpy(sig, good);
        memcpy(sig + 130, good_v[i].v, 2);
        s[64] = 0xee;
        rc = attest_eth_parse_signature(sig, strlen(sig), s, &err);
        ok(rc == ATTEST_OK && s[64] == good_v[i].want,
           "v = 0x%s parses to %u", good_v[i].v, (unsigned) good_v[i].want);
    }

    /* r and s bounds: 0 and >= n fail, 1 and n - 1 pass */
    make_sig(sig, ZERO32, ONE32, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: r = 0");
    make_sig(sig, ONE32, ZERO32, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: s = 0");
    make_sig(sig, SECP_N, ONE32, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: r = n");
    make_sig(sig, ONE32, SECP_N, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: s = n");
    make_sig(sig, SECP_N_PLUS_1, ONE32, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: r = n + 1");
    make_sig(sig, ONE32, ALL_FF32, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "signature rejected: s = 2^256 - 1");
    make_sig(sig, SECP_N_MINUS_1, SECP_N_MINUS_1, "1c");
    is_int(attest_eth_parse_signature(sig, 130, s, &err), ATTEST_OK,
           "r = s = n - 1 parse");
    make_sig(sig, ONE32, ONE32, "00");
    is_int(attest_eth_parse_signature(sig, 130, s, &err), ATTEST_OK,
           "r = s = 1 parse");

    /* high s (above n / 2) is in range: not rejected */
    make_sig(sig, ONE32, HIGH_S, "1c");
    is_int(attest_eth_parse_signature(sig, 130, s, &err), ATTEST_OK,
           "high s parses");

    /* exactly len bytes are read, from an exact-size heap copy */
    heap = malloc(130);
    memcpy(heap, good + 2, 130);
    is_int(attest_eth_parse_signature(heap, 130, s, &err), ATTEST_OK,
           "unprefixed signature in an exact-size buffer");
    is_int(attest_eth_parse_signature(heap, 128, s, &err),
           ATTEST_SIGNATURE_MALFORMED, "len is honoured");
    free(heap);

    /* the err argument may be NULL */
    is_int(attest_eth_parse_signature("", 0, s, NULL),
           ATTEST_SIGNATURE_MALFORMED, "NULL err is allowed");
}


static void
test_public_examples(void)
{
    char             out[43], hex[65], sig[200];
    uint8_t          d[32];
    attest_reason_t  rc;

    /* EIP-191 digests: web3.js docs hashMessage("Hello World") */
    attest_eth_personal_digest((const uint8_t *) "Hello World", 11, d);
    hex32(d, hex);
    is_str(hex,
           "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2",
           "personal digest of \"Hello World\" (web3.js docs)");

    attest_eth_personal_digest((const uint8_t *) W3PY_TEXT,
                               sizeof(W3PY_TEXT) - 1, d);
    hex32(d, hex);
    is_str(hex, W3PY_HASH, "personal digest of I-heart-SF (web3.py docs)");

    attest_eth_personal_digest((const uint8_t *) W3JS_TEXT,
                               sizeof(W3JS_TEXT) - 1, d);
    hex32(d, hex);
    is_str(hex, W3JS_HASH, "personal digest of \"Some data\" (web3.js docs)");

    /* recovery of the published signatures */
    rc = recover_text(W3PY_TEXT, sizeof(W3PY_TEXT) - 1, W3PY_SIG, out);
    is_int(rc, ATTEST_OK, "web3.py example recovers");
    is_str(out, W3PY_ADDR, "web3.py example: signer address");

    rc = recover_text(W3JS_TEXT, sizeof(W3JS_TEXT) - 1, W3JS_SIG, out);
    is_int(rc, ATTEST_OK, "web3.js example recovers");
    is_str(out, W3JS_ADDR, "web3.js example: signer address");

    /* the context freed (as an nginx worker does at exit) is made again */
    attest_eth_cleanup();
    attest_eth_cleanup();
    rc = recover_text(W3JS_TEXT, sizeof(W3JS_TEXT) - 1, W3JS_SIG, out);
    ok(rc == ATTEST_OK && strcmp(out, W3JS_ADDR) == 0,
       "recovery after attest_eth_cleanup()");

    /* the same without 0x and with v = 1 instead of 28 */
    strcpy(sig, W3PY_SIG + 2);
    memcpy(sig + 128, "01", 2);
    rc = recover_text(W3PY_TEXT, sizeof(W3PY_TEXT) - 1, sig, out);
    ok(rc == ATTEST_OK && strcmp(out, W3PY_ADDR) == 0,
       "web3.py example with v = 1, no 0x");

    /* the other recovery id yields another key */
    strcpy(sig, W3PY_SIG);
    memcpy(sig + 130, "1b", 2);
    rc = recover_text(W3PY_TEXT, sizeof(W3PY_TEXT) - 1, sig, out);
    ok(rc != ATTEST_OK || strcmp(out, W3PY_ADDR) != 0,
       "web3.py example with v flipped: not the signer");

    /* another text under the same signature */
    rc = recover_text("I<3SF", 5, W3PY_SIG, out);
    ok(rc != ATTEST_OK || strcmp(out, W3PY_ADDR) != 0,
       "web3.py signature over another text: not the signer");

    /* a length-prefix mix-up must not verify: text without its last byte */
    rc = recover_text(W3PY_TEXT, sizeof(W3PY_TEXT) - 2, W3PY_SIG, out);
    ok(rc != ATTEST_OK || strcmp(out, W3PY_ADDR) != 0,
       "web3.py signature over a truncated text: not the signer");
}


static void
test_recover_failures(void)
{
    char             sig[200];
    uint8_t          s[ATTEST_ETH_SIG_LEN], d[32], a[ATTEST_ETH_ADDR_LEN];
    attest_err_t     err;

    attest_eth_personal_digest((const uint8_t *) "x", 1, d);

    /* x = 5: 5^3 + 7 is not a square mod p, so no point R exists */
    make_sig(sig, FIVE32, ONE32, "1b");
    is_int(attest_eth_parse_signature(sig, 130, s, &err), ATTEST_OK,
           "r = 5 is in range");
    attest_err_clear(&err);
    is_int(attest_eth_recover(d, s, a, &err), ATTEST_SIGNATURE_INVALID,
           "r = 5: no point, signature invalid");
    ok(err.reason == ATTEST_SIGNATURE_INVALID && err.detail[0] != '\0',
       "err filled (%s)", err.detail);

    /* unparsed input: recovery ids 2, 27 and s = 0 must not abort */
    ok(attest_eth_parse_signature(W3PY_SIG, strlen(W3PY_SIG), s, &err)
       == ATTEST_OK, "parse web3.py signature");
    s[64] = 2;
    is_int(attest_eth_recover(d, s, a, &err), ATTEST_SIGNATURE_INVALID,
           "recovery id 2 refused");
    s[64] = 27;
    is_int(attest_eth_recover(d, s, a, NULL), ATTEST_SIGNATURE_INVALID,
           "recovery id 27 refused (NULL err)");
    s[64] = 1;
    memset(s + 32, 0, 32);
    is_int(attest_eth_recover(d, s, a, &err), ATTEST_SIGNATURE_INVALID,
           "s = 0 refused");
    memset(s + 32, 0xff, 32);
    is_int(attest_eth_recover(d, s, a, &err), ATTEST_SIGNATURE_INVALID,
           "s >= n refused");
}


/* build/vectors/eth_personal.txt: text_hex TAB digest_hex */
static void
test_personal_vectors(void)
{
    char            hex[65], *line, *tab, *nl, *end;
    size_t          len, n, lines, bad;
    uint8_t        *text, d[32];
    unsigned char  *file;

    file = tap_vector_file("eth_personal.txt", &len);
    if (file == NULL) {
        return;
    }

    lines = 0;
    bad = 0;
    line = (char *) file;
    end = (char *) file + len;

    while (line < end) {
        nl = memchr(line, '\n', end - line);
        if (nl == NULL) {
            nl = end;
        }

        tab = memchr(line, '\t', nl - line);
        if (tab == NULL || nl - tab - 1 != 64) {
            bad++;
            break;
        }

        n = (size_t) (tab - line) / 2;
        text = malloc(n ? n : 1);

        if (attest_hex_decode(line, tab - line, text) != 0) {
            bad++;

        } else {
            attest_eth_personal_digest(text, n, d);
            hex32(d, hex);

            if (memcmp(hex, tab + 1, 64) != 0) {
                tap_diag("  %zu-byte text: digest differs", n);
                bad++;
            }
        }

        free(text);
        lines++;
        line = nl + 1;
    }

    free(file);

    ok(lines >= 16, "eth_personal.txt has %zu vectors", lines);
    is_int(bad, 0, "every personal digest matches (lengths 0 to 100000)");
}


/*
 * One vector line: the signature must recover to the address, and every
 * one-bit change (text, r, s, v) must not.
 */
static void
check_sig_line(size_t no, const char *addr_s, size_t addr_len,
    const char *sig_s, size_t sig_len, const uint8_t *text, size_t tlen)
{
    char             fmt[43];
    size_t           bit, n;
    uint8_t          addr[ATTEST_ETH_ADDR_LEN], got[ATTEST_ETH_ADDR_LEN];
    uint8_t          sig[ATTEST_ETH_SIG_LEN], bad_sig[ATTEST_ETH_SIG_LEN];
    uint8_t          d[32], *t2;
    const char      *which;
    attest_err_t     err;
    attest_reason_t  rc;

    if (attest_eth_parse_address(addr_s, addr_len, addr) != 0) {
        ok(0, "line %zu: address parses", no);
        return;
    }

    attest_eth_format_address(addr, fmt);
    ok(addr_len == 42 && memcmp(fmt, addr_s, 42) == 0,
       "line %zu: EIP-55 form equals python's", no);

    rc = attest_eth_parse_signature(sig_s, sig_len, sig, &err);
    if (rc != ATTEST_OK) {
        ok(0, "line %zu: signature parses (%s)", no, err.detail);
        return;
    }

    attest_eth_personal_digest(text, tlen, d);
    rc = attest_eth_recover(d, sig, got, &err);

    if (!ok(rc == ATTEST_OK && memcmp(got, addr, sizeof(addr)) == 0,
            "line %zu: %zu-byte text recovers to %.42s", no, tlen, addr_s))
    {
        tap_diag("  reason %s: %s", attest_reason_name(rc),
                 rc ? err.detail : "another address");
    }

    which = NULL;

    /* a bit of the text (the empty text gets one byte added instead) */
    n = tlen ? tlen : 1;
    t2 = malloc(n);
    if (tlen) {
        memcpy(t2, text, tlen);
        bit = (no * 131 + 7) % (8 * tlen);
        t2[bit / 8] ^= (uint8_t) (1 << (bit % 8));

    } else {
        t2[0] = 0;
    }

    attest_eth_personal_digest(t2, n, d);
    free(t2);

    if (attest_eth_recover(d, sig, got, &err) == ATTEST_OK
        && memcmp(got, addr, sizeof(addr)) == 0)
    {
        which = "text";
    }

    attest_eth_personal_digest(text, tlen, d);

    /* a bit of r, of s, then the recovery id */
    memcpy(bad_sig, sig, sizeof(sig));
    bit = (no * 37) % 256;
    bad_sig[bit / 8] ^= (uint8_t) (0x80 >> (bit % 8));

    if (attest_eth_recover(d, bad_sig, got, &err) == ATTEST_OK
        && memcmp(got, addr, sizeof(addr)) == 0)
    {
        which = "r";
    }

    memcpy(bad_sig, sig, sizeof(sig));
    bit = (no * 53 + 11) % 256;
    bad_sig[32 + bit / 8] ^= (uint8_t) (0x80 >> (bit % 8));

    if (attest_eth_recover(d, bad_sig, got, &err) == ATTEST_OK
        && memcmp(got, addr, sizeof(addr)) == 0)
    {
        which = "s";
    }

    memcpy(bad_sig, sig, sizeof(sig));
    bad_sig[64] ^= 1;

    if (attest_eth_recover(d, bad_sig, got, &err) == ATTEST_OK
        && memcmp(got, addr, sizeof(addr)) == 0)
    {
        which = "v";
    }

    if (!ok(which == NULL, "line %zu: one flipped bit no longer verifies",
            no))
    {
        tap_diag("  still the signer after flipping a bit of %s", which);
    }
}


/* build/vectors/eth_sigs.txt: address TAB sig_hex TAB text_hex */
static void
test_sig_vectors(void)
{
    char            *line, *tab1, *tab2, *nl, *end;
    size_t          len, n, lines;
    uint8_t        *text;
    unsigned char  *file;
    int             v27, v0, pfx, nopfx;

    file = tap_vector_file("eth_sigs.txt", &len);
    if (file == NULL) {
        return;
    }

    lines = 0;
    v27 = v0 = pfx = nopfx = 0;
    line = (char *) file;
    end = (char *) file + len;

    while (line < end) {
        nl = memchr(line, '\n', end - line);
        if (nl == NULL) {
            nl = end;
        }

        lines++;

        tab1 = memchr(line, '\t', nl - line);
        tab2 = tab1 ? memchr(tab1 + 1, '\t', nl - tab1 - 1) : NULL;

        if (tab2 == NULL) {
            ok(0, "line %zu: three fields", lines);
            break;
        }

        n = (size_t) (nl - tab2 - 1) / 2;
        text = malloc(n ? n : 1);

        if (attest_hex_decode(tab2 + 1, nl - tab2 - 1, text) != 0) {
            ok(0, "line %zu: text is hex", lines);
            free(text);
            break;
        }

        /* tally the encodings, to be sure all of them were exercised */
        if (tab2 - tab1 > 3 && tab1[1] == '0' && tab1[2] == 'x') {
            pfx++;

        } else {
            nopfx++;
        }

        if (tab2[-2] == '1') {
            v27++;

        } else {
            v0++;
        }

        check_sig_line(lines, line, tab1 - line, tab1 + 1, tab2 - tab1 - 1,
                       text, n);

        free(text);
        line = nl + 1;
    }

    free(file);

    ok(lines >= 150, "eth_sigs.txt has %zu signatures", lines);
    ok(pfx > 0 && nopfx > 0 && v27 > 0 && v0 > 0,
       "vectors cover 0x / no prefix (%d/%d), v 27-28 / 0-1 (%d/%d)",
       pfx, nopfx, v27, v0);
}


int
main(void)
{
    test_format_address();
    test_pubkey_address();
    test_parse_address();
    test_parse_signature();
    test_public_examples();
    test_recover_failures();
    test_personal_vectors();
    test_sig_vectors();

    return tap_done();
}
