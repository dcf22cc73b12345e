/*
 * Hex and base64 decoding.  Table-free and branch-light on purpose: these
 * run on attacker-supplied reports and must never read past len.
 */

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
