/*
 * The reference of a hashed SSE payload's escape: the byte-at-a-time
 * loop attest_sse.c used before it scanned spans (issue 16), kept here,
 * for the fuzz target and the unit tests only, to compare the fast one
 * against.  json.dumps(ensure_ascii=True) of the payload decoded as
 * UTF-8 (as strictly as Python's decoder), the quotes included; a byte
 * that is not UTF-8 goes in raw.
 */

#ifndef ATTEST_SSE_REF_H
#define ATTEST_SSE_REF_H

#include <stddef.h>
#include <stdint.h>


/* the bytes out must hold for a payload of len bytes */
#define SSE_REF_MAX(len)  (6 * (len) + 2)


static size_t
sse_ref_utf8(const uint8_t *p, size_t len, uint32_t *cp)
{
    size_t    n, i;
    uint8_t   c, lo, hi;
    uint32_t  v;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
        lo = (c == 0xe0) ? 0xa0 : lo;
        hi = (c == 0xed) ? 0x9f : hi;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
        lo = (c == 0xf0) ? 0x90 : lo;
        hi = (c == 0xf4) ? 0x8f : hi;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi) {
            return 0;
        }

        v = v << 6 | (p[i] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }

    *cp = v;

    return n;
}


static size_t
sse_ref_u16(uint8_t *out, uint32_t u)
{
    static const char  digits[] = "0123456789abcdef";

    out[0] = '\\';
    out[1] = 'u';
    out[2] = digits[u >> 12 & 0xf];
    out[3] = digits[u >> 8 & 0xf];
    out[4] = digits[u >> 4 & 0xf];
    out[5] = digits[u & 0xf];

    return 6;
}


/* "payload", escaped, into out (SSE_REF_MAX(len) bytes); returns its length */
static size_t
sse_ref_escape(const uint8_t *p, size_t len, uint8_t *out)
{
    size_t    i, n, o;
    uint8_t   c, e;
    uint32_t  cp;

    o = 0;
    out[o++] = '"';

    for (i = 0; i < len; i += n) {
        c = p[i];
        n = 1;

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = c;
            continue;
        }

        if (c < 0x80) {
            switch (c) {
            case '"':
            case '\\':
                e = c;
                break;
            case '\n':
                e = 'n';
                break;
            case '\r':
                e = 'r';
                break;
            case '\t':
                e = 't';
                break;
            case '\b':
                e = 'b';
                break;
            case '\f':
                e = 'f';
                break;
            default:
                e = 0;
            }

            if (e) {
                out[o++] = '\\';
                out[o++] = e;

            } else {
                o += sse_ref_u16(out + o, c);
            }

            continue;
        }

        n = sse_ref_utf8(p + i, len - i, &cp);

        if (n == 0) {
            n = 1;
            out[o++] = c;

        } else if (cp < 0x10000) {
            o += sse_ref_u16(out + o, cp);

        } else {
            cp -= 0x10000;
            o += sse_ref_u16(out + o, 0xd800 | cp >> 10);
            o += sse_ref_u16(out + o, 0xdc00 | (cp & 0x3ff));
        }
    }

    out[o++] = '"';

    return o;
}

#endif /* ATTEST_SSE_REF_H */
