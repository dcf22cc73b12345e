/*
 * Hex and base64 decoding, and JSON string escapes.  Table-free and
 * branch-light on purpose: these run on attacker-supplied input and must
 * never read past len.
 */

#include <string.h>

#include "attest_codec.h"


static int
attest_hex_nibble(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
attest_hex_decode(const char *in, size_t len, uint8_t *out)
{
    size_t  i;
    int     hi, lo;

    if (len % 2) {
        return -1;
    }

    for (i = 0; i < len; i += 2) {
        hi = attest_hex_nibble((unsigned char) in[i]);
        lo = attest_hex_nibble((unsigned char) in[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i / 2] = (uint8_t) (hi << 4 | lo);
    }

    return 0;
}


void
attest_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char  digits[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }

    out[2 * n] = '\0';
}


void
attest_hex_strip_prefix(const char **in, size_t *len)
{
    if (*len >= 2 && (*in)[0] == '0' && ((*in)[1] == 'x' || (*in)[1] == 'X')) {
        *in += 2;
        *len -= 2;
    }
}


size_t
attest_base64_decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}


static int
attest_base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


int
attest_base64_decode(const char *in, size_t len, uint8_t *out,
    size_t *out_len)
{
    size_t         i, n, pad;
    uint32_t       acc;
    int            v, bits;
    unsigned char  c;

    n = 0;
    acc = 0;
    bits = 0;
    pad = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }

        if (c == '=') {
            pad++;
            continue;
        }

        if (pad) {
            /* data after padding */
            return -1;
        }

        v = attest_base64_value(c);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* 6 leftover bits can never form a valid tail; padding is 0..2 */
    if (bits == 6 || pad > 2) {
        return -1;
    }

    if (pad && ((size_t) bits / 2 != pad)) {
        return -1;
    }

    *out_len = n;

    return 0;
}


/* the two-character escapes json.dumps writes: "\\n" for a newline ... */
static const char  attest_json_shorts[] = "\"\"\\\\\nn\rr\tt\bb\ff";


/* the letter after the backslash for c, or 0 */
static char
attest_json_short(uint8_t c)
{
    const char  *p;

    for (p = attest_json_shorts; *p; p += 2) {
        if ((uint8_t) p[0] == c) {
            return p[1];
        }
    }

    return 0;
}


/* the byte an escape letter stands for ("/" too), or 0 */
static char
attest_json_unshort(char e)
{
    const char  *p;

    if (e == '/') {
        return '/';
    }

    for (p = attest_json_shorts; *p; p += 2) {
        if (p[1] == e) {
            return p[0];
        }
    }

    return 0;
}


size_t
attest_json_escape(const uint8_t *in, size_t len, char *out)
{
    static const char  digits[] = "0123456789abcdef";
    size_t             i, n;
    uint8_t            c;
    char               e;

    n = 0;

    for (i = 0; i < len; i++) {
        c = in[i];

        e = attest_json_short(c);

        if (e) {
            if (out) {
                out[n] = '\\';
                out[n + 1] = e;
            }

            n += 2;
            continue;
        }

        if (c < 0x20) {
            if (out) {
                memcpy(out + n, "\\u00", 4);
                out[n + 4] = digits[c >> 4];
                out[n + 5] = digits[c & 0x0f];
            }

            n += 6;
            continue;
        }

        if (out) {
            out[n] = (char) c;
        }

        n++;
    }

    return n;
}


static int
attest_json_hex4(const char *p, unsigned *u)
{
    int       i, d;
    unsigned  v;

    v = 0;

    for (i = 0; i < 4; i++) {
        d = attest_hex_nibble((unsigned char) p[i]);
        if (d < 0) {
            return -1;
        }

        v = (v << 4) | (unsigned) d;
    }

    *u = v;

    return 0;
}


static size_t
attest_utf8_put(unsigned u, uint8_t *out)
{
    if (u < 0x80) {
        out[0] = (uint8_t) u;
        return 1;
    }

    if (u < 0x800) {
        out[0] = (uint8_t) (0xc0 | (u >> 6));
        out[1] = (uint8_t) (0x80 | (u & 0x3f));
        return 2;
    }

    if (u < 0x10000) {
        out[0] = (uint8_t) (0xe0 | (u >> 12));
        out[1] = (uint8_t) (0x80 | ((u >> 6) & 0x3f));
        out[2] = (uint8_t) (0x80 | (u & 0x3f));
        return 3;
    }

    out[0] = (uint8_t) (0xf0 | (u >> 18));
    out[1] = (uint8_t) (0x80 | ((u >> 12) & 0x3f));
    out[2] = (uint8_t) (0x80 | ((u >> 6) & 0x3f));
    out[3] = (uint8_t) (0x80 | (u & 0x3f));
    return 4;
}


size_t
attest_json_unescape(const char *in, size_t len, uint8_t *out)
{
    size_t    i, n;
    unsigned  u, lo;
    char      c, e;

    n = 0;

    for (i = 0; i < len; i++) {
        if (in[i] != '\\') {
            out[n++] = (uint8_t) in[i];
            continue;
        }

        if (++i == len) {
            return (size_t) -1;
        }

        c = in[i];

        if (c != 'u') {
            e = attest_json_unshort(c);
            if (e == 0) {
                return (size_t) -1;
            }

            out[n++] = (uint8_t) e;
            continue;
        }

        if (len - i < 5 || attest_json_hex4(in + i + 1, &u) != 0) {
            return (size_t) -1;
        }

        i += 4;

        /* a high surrogate followed by a low one: one code point */
        if (u >= 0xd800 && u < 0xdc00 && len - i >= 7
            && in[i + 1] == '\\' && in[i + 2] == 'u'
            && attest_json_hex4(in + i + 3, &lo) == 0
            && lo >= 0xdc00 && lo < 0xe000)
        {
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
        }

        n += attest_utf8_put(u, out + n);
    }

    return n;
}
