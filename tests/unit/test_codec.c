/*
 * Hex and base64 (attest_codec.c) and the verdict vocabulary
 * (attest_reason.c).
 *
 * The base64 encodings below were computed by Python's base64 module, not
 * by this code.  Every input is copied into a buffer of exactly its
 * length and every output buffer is exactly the documented size, so that
 * valgrind sees a read or write past either end.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_codec.h"
#include "attest_reason.h"
#include "tap.h"


static const uint8_t  b64_data[64] = {
    0xfb, 0xff, 0xbf, 0x0d, 0xb4, 0x5b, 0x02, 0xa9, 0x50, 0xf7, 0x9e, 0x45,
    0xec, 0x93, 0x3a, 0xe1, 0x88, 0x2f, 0xd6, 0x7d, 0x24, 0xcb, 0x72, 0x19,
    0xc0, 0x67, 0x0e, 0xb5, 0x5c, 0x03, 0xaa, 0x51, 0xf8, 0x9f, 0x46, 0xed,
    0x94, 0x3b, 0xe2, 0x89, 0x30, 0xd7, 0x7e, 0x25, 0xcc, 0x73, 0x1a, 0xc1,
    0x68, 0x0f, 0xb6, 0x5d, 0x04, 0xab, 0x52, 0xf9, 0xa0, 0x47, 0xee, 0x95,
    0x3c, 0xe3, 0x8a, 0x31
};

/* base64.b64encode(b64_data[:n]) for n = 0 .. 64, by Python */
static const char  *b64_known[65] = {
    "",
    "+w==",
    "+/8=",
    "+/+/",
    "+/+/DQ==",
    "+/+/DbQ=",
    "+/+/DbRb",
    "+/+/DbRbAg==",
    "+/+/DbRbAqk=",
    "+/+/DbRbAqlQ",
    "+/+/DbRbAqlQ9w==",
    "+/+/DbRbAqlQ954=",
    "+/+/DbRbAqlQ955F",
    "+/+/DbRbAqlQ955F7A==",
    "+/+/DbRbAqlQ955F7JM=",
    "+/+/DbRbAqlQ955F7JM6",
    "+/+/DbRbAqlQ955F7JM64Q==",
    "+/+/DbRbAqlQ955F7JM64Yg=",
    "+/+/DbRbAqlQ955F7JM64Ygv",
    "+/+/DbRbAqlQ955F7JM64Ygv1g==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0k",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0kyw==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3I=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZ",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwA==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGc=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcO",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtQ==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVw=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwD",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqg==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlE=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4nw==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0Y=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0bt",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlA==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDs=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDvi",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiQ==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTA=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDX",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfg==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiU=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXM",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcw==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxo=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA8=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQ==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQQ=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSr",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUg==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvk=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmg",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgRw==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgR+4=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgR+6V",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgR+6VPA==",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgR+6VPOM=",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgR+6VPOOK",
    "+/+/DbRbAqlQ955F7JM64Ygv1n0ky3IZwGcOtVwDqlH4n0btlDviiTDXfiXMcxrB"
    "aA+2XQSrUvmgR+6VPOOKMQ=="
};


static char *
mem_dup(const void *p, size_t len)
{
    char  *d;

    /* malloc(0) may return NULL; keep a valid pointer for len 0 */
    d = malloc(len ? len : 1);
    if (d == NULL) {
        perror("malloc");
        exit(2);
    }

    if (len) {
        memcpy(d, p, len);
    }

    return d;
}


/* decodes in[0..len) from an exact copy into an exact-size buffer */
static int
hex_decode(const char *in, size_t len, uint8_t *out)
{
    int       rc;
    char     *c;
    uint8_t  *o;

    c = mem_dup(in, len);
    o = (uint8_t *) mem_dup("", len / 2);

    rc = attest_hex_decode(c, len, o);
    if (rc == 0 && out != NULL) {
        memcpy(out, o, len / 2);
    }

    free(o);
    free(c);

    return rc;
}


/* base64 from an exact copy into a buffer of decoded_max bytes */
static int
b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    int       rc;
    char     *c;
    size_t    max, n;
    uint8_t  *o;

    max = attest_base64_decoded_max(len);
    c = mem_dup(in, len);
    o = (uint8_t *) mem_dup("", max);

    n = (size_t) -1;
    rc = attest_base64_decode(c, len, o, &n);

    if (rc == 0) {
        if (n > max) {
            tap_diag("  out_len %zu > decoded_max %zu", n, max);
            rc = -2;

        } else if (out != NULL) {
            memcpy(out, o, n);
        }

        *out_len = n;
    }

    free(o);
    free(c);

    return rc;
}


static int
is_hex_char(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


static int
is_b64_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/';
}


static void
test_hex_decode(void)
{
    int      c, all, want;
    char     in[3], buf[513];
    uint8_t  out[256], canary[4];

    static const uint8_t  known[] = { 0x00, 0xff, 0x7f, 0xa9, 0x10, 0xcd };

    ok(hex_decode("", 0, out) == 0, "hex: empty input decodes");

    memset(out, 0, sizeof(out));
    ok(hex_decode("00ff7fa910cd", 12, out) == 0
       && memcmp(out, known, 6) == 0, "hex: lowercase");

    memset(out, 0, sizeof(out));
    ok(hex_decode("00FF7FA910CD", 12, out) == 0
       && memcmp(out, known, 6) == 0, "hex: uppercase");

    memset(out, 0, sizeof(out));
    ok(hex_decode("00fF7Fa910Cd", 12, out) == 0
       && memcmp(out, known, 6) == 0, "hex: mixed case");

    ok(hex_decode("abc", 3, out) == -1, "hex: odd length is refused");
    ok(hex_decode("a", 1, out) == -1, "hex: one digit is refused");
    ok(hex_decode("0x12", 4, out) == -1, "hex: a 0x prefix is not hex");
    ok(hex_decode(" 12", 3, out) == -1 && hex_decode("12 ", 3, out) == -1
       && hex_decode("1 2 ", 4, out) == -1, "hex: spaces are refused");

    /* only len is read: what follows may be anything */
    ok(hex_decode("abzz", 2, out) == 0 && out[0] == 0xab,
       "hex: bytes after len are not read");

    /* each of the 256 byte values, as the high and as the low digit */
    all = 1;
    for (c = 0; c < 256; c++) {
        want = is_hex_char(c) ? 0 : -1;

        in[0] = (char) c;
        in[1] = '5';
        if (hex_decode(in, 2, NULL) != want) {
            tap_diag("  high digit 0x%02x", c);
            all = 0;
        }

        in[0] = '5';
        in[1] = (char) c;
        if (hex_decode(in, 2, NULL) != want) {
            tap_diag("  low digit 0x%02x", c);
            all = 0;
        }
    }
    ok(all, "hex: exactly 0-9 a-f A-F are digits, as high and low nibble");

    /* every byte value from libc's printf, round trip */
    for (c = 0; c < 256; c++) {
        snprintf(buf + 2 * c, 3, "%02x", c);
    }

    memset(out, 0, sizeof(out));
    all = hex_decode(buf, 512, out) == 0;
    for (c = 0; c < 256 && all; c++) {
        all = out[c] == c;
    }
    ok(all, "hex: all 256 byte values decode");

    /* a bad digit late in the input fails the whole input */
    buf[511] = 'g';
    ok(hex_decode(buf, 512, out) == -1, "hex: a bad last digit is refused");

    /* decoding writes len / 2 bytes, not one more */
    memset(canary, 0xee, sizeof(canary));
    memset(out, 0xee, sizeof(out));
    attest_hex_decode("0102", 4, out);
    ok(out[0] == 1 && out[1] == 2 && memcmp(out + 2, canary, 4) == 0,
       "hex: writes exactly len / 2 bytes");
}


static void
test_hex_encode(void)
{
    int      c, all;
    char     want[513], *out;
    uint8_t  in[256];

    static const uint8_t  known[] = { 0x00, 0xff, 0x7f, 0xa9, 0x10, 0xcd };

    out = mem_dup("xx", 1);
    attest_hex_encode(known, 0, out);
    ok(out[0] == '\0', "hex encode: 0 bytes is the empty string");
    free(out);

    out = mem_dup("", 13);
    attest_hex_encode(known, 6, out);
    is_str(out, "00ff7fa910cd", "hex encode: lowercase digits");
    free(out);

    for (c = 0; c < 256; c++) {
        in[c] = (uint8_t) c;
        snprintf(want + 2 * c, 3, "%02x", c);
    }

    out = mem_dup("", 513);
    attest_hex_encode(in, 256, out);
    is_str(out, want, "hex encode: all 256 byte values, like printf %%02x");

    memset(in, 0, sizeof(in));
    all = attest_hex_decode(out, 512, in) == 0;
    for (c = 0; c < 256 && all; c++) {
        all = in[c] == c;
    }
    ok(all, "hex: encode then decode is the identity");
    free(out);
}


/* strips from an exact copy; returns the offset skipped, and len */
static size_t
strip(const char *s, size_t len, size_t *out_len)
{
    char        *c;
    size_t       off;
    const char  *p;

    c = mem_dup(s, len);
    p = c;
    attest_hex_strip_prefix(&p, &len);
    off = (size_t) (p - c);
    free(c);

    *out_len = len;

    return off;
}


static void
test_hex_strip(void)
{
    size_t  len;

    ok(strip("0x12", 4, &len) == 2 && len == 2, "strip: 0x");
    ok(strip("0X12", 4, &len) == 2 && len == 2, "strip: 0X");
    ok(strip("0x", 2, &len) == 2 && len == 0, "strip: 0x alone");
    ok(strip("0x0x12", 6, &len) == 2 && len == 4, "strip: only once");
    ok(strip("x12", 3, &len) == 0 && len == 3, "strip: x alone stays");
    ok(strip("00x1", 4, &len) == 0 && len == 4, "strip: 00x stays");
    ok(strip("1x12", 4, &len) == 0 && len == 4, "strip: 1x stays");
    ok(strip("0", 1, &len) == 0 && len == 1, "strip: 0 alone stays");
    ok(strip("", 0, &len) == 0 && len == 0, "strip: empty stays");

    /* "0x" of which only the "0" is inside len */
    ok(strip("0x12", 1, &len) == 0 && len == 1,
       "strip: a prefix beyond len is not seen");
}


static void
test_b64_known(void)
{
    int      n, k, all, all_np, all_ws, all_max;
    char     buf[512], *e;
    size_t   len, out_len, i, m;
    uint8_t  out[128];

    all = all_np = all_ws = all_max = 1;

    for (n = 0; n <= 64; n++) {
        e = (char *) b64_known[n];
        len = strlen(e);

        /* as Python wrote it */
        memset(out, 0, sizeof(out));
        if (b64_decode(e, len, out, &out_len) != 0
            || out_len != (size_t) n || memcmp(out, b64_data, n) != 0)
        {
            tap_diag("  length %d: '%s'", n, e);
            all = 0;
        }

        /* unpadded */
        m = len;
        while (m > 0 && e[m - 1] == '=') {
            m--;
        }

        memset(out, 0, sizeof(out));
        if (b64_decode(e, m, out, &out_len) != 0
            || out_len != (size_t) n || memcmp(out, b64_data, n) != 0)
        {
            tap_diag("  length %d unpadded", n);
            all_np = 0;
        }

        /* a whitespace byte after every character, and leading */
        m = 0;
        buf[m++] = '\n';
        for (i = 0; i < len; i++) {
            buf[m++] = e[i];
            buf[m++] = " \t\r\n"[i % 4];
        }

        memset(out, 0, sizeof(out));
        if (b64_decode(buf, m, out, &out_len) != 0
            || out_len != (size_t) n || memcmp(out, b64_data, n) != 0)
        {
            tap_diag("  length %d with whitespace", n);
            all_ws = 0;
        }

        /* the bound holds for every prefix of the encoding */
        for (k = 0; k <= (int) len; k++) {
            if (b64_decode(e, k, NULL, &out_len) == -2) {
                all_max = 0;
            }
        }
    }

    ok(all, "base64: Python's encodings of 0..64 bytes decode");
    ok(all_np, "base64: the same without padding decode");
    ok(all_ws, "base64: the same with whitespace everywhere decode");
    ok(all_max, "base64: decoded_max bounds every prefix's output");

    all = 1;
    for (m = 0; m < 400; m++) {
        if (attest_base64_decoded_max(m) < m * 3 / 4) {
            all = 0;
        }
    }
    ok(all, "base64: decoded_max(len) >= 3 * len / 4 for len < 400");
}


/* C-escaped copy of a short string, for test names */
static const char *
visible(const char *s, char *buf, size_t size)
{
    size_t       n;
    const char  *p;

    static const char  ctl[] = "\n\r\t\v\f";
    static const char  esc[] = "nrtvf";

    for (n = 0; *s && n + 3 < size; s++) {
        p = strchr(ctl, *s);

        if (p != NULL) {
            buf[n++] = '\\';
            buf[n++] = esc[p - ctl];

        } else {
            buf[n++] = *s;
        }
    }

    buf[n] = '\0';

    return buf;
}


static void
test_b64_padding(void)
{
    char     vis[64];
    size_t   i, out_len;
    uint8_t  out[16];

    static const struct {
        const char  *in;
        int          rc;
        const char  *out;
    } cases[] = {
        { "", 0, "" },
        { " \r\n\t", 0, "" },
        { "QQ==", 0, "A" },
        { "QUI=", 0, "AB" },
        { "QUJD", 0, "ABC" },
        { "QQ", 0, "A" },
        { "QUI", 0, "AB" },
        { "QUJDRA", 0, "ABCD" },
        { "QQ==\n", 0, "A" },
        { "QQ= =", 0, "A" },
        { "QUJDRA==", 0, "ABCD" },

        { "Q", -1, NULL },
        { "QUJDR", -1, NULL },
        { "Q===", -1, NULL },
        { "QQ=", -1, NULL },
        { "QQ===", -1, NULL },
        { "QUI==", -1, NULL },
        { "QUJD=", -1, NULL },
        { "=", -1, NULL },
        { "==", -1, NULL },
        { "====", -1, NULL },
        { "=QQ=", -1, NULL },
        { "QQ==QQ==", -1, NULL },
        { "QQ=A", -1, NULL },
        { "QUI=QQ", -1, NULL },
        { "QQ==x", -1, NULL },
        { "QU-D", -1, NULL },
        { "QU_D", -1, NULL },
        { "QU.D", -1, NULL },
        { "QUJD\v", -1, NULL },
        { "QUJD\f", -1, NULL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 0, sizeof(out));
        out_len = 99;

        if (cases[i].rc == 0) {
            ok(b64_decode(cases[i].in, strlen(cases[i].in), out, &out_len)
               == 0 && out_len == strlen(cases[i].out)
               && memcmp(out, cases[i].out, out_len) == 0,
               "base64: '%s' decodes to '%s'",
               visible(cases[i].in, vis, sizeof(vis)), cases[i].out);

        } else {
            ok(b64_decode(cases[i].in, strlen(cases[i].in), out, &out_len)
               == -1, "base64: '%s' is refused",
               visible(cases[i].in, vis, sizeof(vis)));
        }
    }

    /* a NUL inside */
    ok(b64_decode("QU\0D", 4, out, &out_len) == -1,
       "base64: a NUL byte is refused");

    /* only len is read */
    ok(b64_decode("QUJD!!!", 4, out, &out_len) == 0 && out_len == 3,
       "base64: bytes after len are not read");
    ok(b64_decode("QQ==", 2, out, &out_len) == 0 && out_len == 1
       && out[0] == 'A', "base64: padding beyond len is not needed");
}


static void
test_b64_alphabet(void)
{
    int      c, all, want, rc;
    char     in[4];
    size_t   out_len;
    uint8_t  out[8];

    /* "QUJ" + c: 3 characters and one more of each of the 256 values */
    all = 1;
    for (c = 0; c < 256; c++) {
        want = (is_b64_char(c) || c == '=' || c == ' ' || c == '\t'
                || c == '\r' || c == '\n') ? 0 : -1;

        memcpy(in, "QUJ", 3);
        in[3] = (char) c;
        rc = b64_decode(in, 4, out, &out_len);

        if (rc != want) {
            tap_diag("  byte 0x%02x: %d, want %d", c, rc, want);
            all = 0;
        }

        /* the same byte first */
        in[0] = (char) c;
        memcpy(in + 1, "QUJ", 3);
        rc = b64_decode(in, 4, out, &out_len);

        if (c != '=' && rc != want) {
            tap_diag("  byte 0x%02x first: %d, want %d", c, rc, want);
            all = 0;
        }
    }
    ok(all, "base64: only A-Z a-z 0-9 + / = and space, tab, CR, LF pass");

    /* each of the 64 symbols decodes to its value */
    all = 1;
    for (c = 0; c < 256; c++) {
        if (!is_b64_char(c)) {
            continue;
        }

        /* c followed by "A": the top 6 bits of one byte */
        in[0] = (char) c;
        in[1] = 'A';
        if (b64_decode(in, 2, out, &out_len) != 0 || out_len != 1) {
            all = 0;
            continue;
        }

        want = (c >= 'A' && c <= 'Z') ? c - 'A'
               : (c >= 'a' && c <= 'z') ? c - 'a' + 26
               : (c >= '0' && c <= '9') ? c - '0' + 52
               : (c == '+') ? 62 : 63;

        if (out[0] != (uint8_t) (want << 2)) {
            tap_diag("  '%c' decodes to %02x", c, out[0]);
            all = 0;
        }
    }
    ok(all, "base64: each symbol has its RFC 4648 value");
}


static void
test_reason(void)
{
    int              i, all, names;
    const char      *n;
    attest_err_t     err;
    attest_reason_t  r;
    char             longer[400];

    is_str(attest_reason_name(ATTEST_OK), "ok", "reason: ATTEST_OK is ok");
    is_str(attest_reason_name(ATTEST_SIGNATURE_INVALID), "signature_invalid",
           "reason: a name");
    is_str(attest_reason_name(ATTEST_DEBUG_TD), "debug_td",
           "reason: the last name");
    is_str(attest_reason_name(ATTEST_REASON_MAX), "unknown",
           "reason: out of range is unknown");
    is_str(attest_reason_name((attest_reason_t) -1), "unknown",
           "reason: negative is unknown");
    ok(attest_reason_text(ATTEST_REASON_MAX) != NULL
       && attest_reason_text((attest_reason_t) 1000) != NULL,
       "reason: out of range has a sentence");

    /* every reason has a distinct name that maps back to it */
    all = 1;
    names = 0;
    for (i = 0; i < ATTEST_REASON_MAX; i++) {
        n = attest_reason_name((attest_reason_t) i);

        if (n == NULL || strcmp(n, "unknown") == 0
            || attest_reason_text((attest_reason_t) i) == NULL
            || attest_reason_text((attest_reason_t) i)[0] == '\0')
        {
            tap_diag("  reason %d has no name or sentence", i);
            all = 0;
            continue;
        }

        r = attest_reason_from_name(n, strlen(n));
        if (r != (attest_reason_t) i) {
            tap_diag("  %s maps back to %d", n, (int) r);
            all = 0;
        }

        names++;
    }
    ok(all && names == ATTEST_REASON_MAX,
       "reason: %d names, each maps back to its reason", names);

    is_int(attest_reason_from_name("nonce_mismatch", 14),
           ATTEST_NONCE_MISMATCH, "reason: from name");
    is_int(attest_reason_from_name("nonce_mismatchX", 14),
           ATTEST_NONCE_MISMATCH, "reason: from name reads only len");
    is_int(attest_reason_from_name("nonce_mismatch", 13), ATTEST_REASON_MAX,
           "reason: a prefix is no name");
    is_int(attest_reason_from_name("NONCE_MISMATCH", 14), ATTEST_REASON_MAX,
           "reason: names are lowercase");
    is_int(attest_reason_from_name("", 0), ATTEST_REASON_MAX,
           "reason: empty is no name");
    is_int(attest_reason_from_name("unknown", 7), ATTEST_REASON_MAX,
           "reason: unknown is no name");

    attest_err_clear(&err);
    r = attest_fail(&err, ATTEST_BODY_MISMATCH, "x=%d y=%s", 5, "z");
    ok(r == ATTEST_BODY_MISMATCH && err.reason == r
       && strcmp(err.detail, "x=5 y=z") == 0,
       "fail: records reason and formatted detail");

    is_int(attest_fail(NULL, ATTEST_DEBUG_TD, "%s", "no err"),
           ATTEST_DEBUG_TD, "fail: err may be NULL");

    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    attest_fail(&err, ATTEST_STREAM_TRUNCATED, "%s", longer);
    is_int(strlen(err.detail), ATTEST_DETAIL_LEN - 1,
           "fail: a long detail is cut to fit");

    attest_err_clear(&err);
    ok(err.reason == ATTEST_OK && err.detail[0] == '\0',
       "clear: ok and empty detail");
}



/* attest_json_escape / _unescape: the fetch body and $attest_request_model */
static void
test_json_escape(void)
{
    size_t       i, n;
    char         out[256];
    uint8_t      back[256];
    const char  *in = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xc3\xa9";
    const char  *want = "a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/"
                        "\xc3\xa9";

    static const struct {
        const char  *in;
        const char  *out;
        size_t       out_len;
    } un[] = {
        { "plain", "plain", 5 },
        { "\\\"\\\\\\/\\n\\r\\t\\b\\f", "\"\\/\n\r\t\b\f", 8 },
        { "\\u0041\\u00e9\\u20ac", "A\xc3\xa9\xe2\x82\xac", 6 },
        { "\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4 },
        { "\\uD83D\\uDE00!", "\xf0\x9f\x98\x80!", 5 },
        /* lone surrogates keep their three-byte form */
        { "\\ud800x", "\xed\xa0\x80x", 4 },
        { "\\udc00\\ud800", "\xed\xb0\x80\xed\xa0\x80", 6 },
        { "\\u0000", "\0", 1 },
    };

    static const char  *bad[] = {
        "\\", "\\x", "\\u12", "\\u12g4", "a\\", "\\u00"
    };

    n = attest_json_escape((const uint8_t *) in, strlen(in), NULL);
    is_int((long) n, (long) strlen(want), "json_escape: length only");

    n = attest_json_escape((const uint8_t *) in, strlen(in), out);
    ok(n == strlen(want) && memcmp(out, want, n) == 0,
       "json_escape: quotes, backslashes, controls; UTF-8 and / kept");

    n = attest_json_unescape(out, n, back);
    ok(n == strlen(in) && memcmp(back, in, n) == 0,
       "json_unescape: the escape's inverse");

    for (i = 0; i < sizeof(un) / sizeof(un[0]); i++) {
        n = attest_json_unescape(un[i].in, strlen(un[i].in), back);
        ok(n == un[i].out_len && memcmp(back, un[i].out, n) == 0,
           "json_unescape \"%s\"", un[i].in);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = attest_json_unescape(bad[i], strlen(bad[i]), back);
        ok(n == (size_t) -1, "json_unescape \"%s\": refused", bad[i]);
    }
}

int
main(void)
{
    test_hex_decode();
    test_hex_encode();
    test_hex_strip();
    test_b64_known();
    test_b64_padding();
    test_b64_alphabet();
    test_reason();
    test_json_escape();

    return tap_done();
}
