/*
 * Hex and base64 decoding over pointer + length, with strict validation;
 * JSON string escapes.
 */

#ifndef ATTEST_CODEC_H
#define ATTEST_CODEC_H

#include <stddef.h>
#include <stdint.h>


/*
 * Decodes exactly len hex characters (any case, no prefix, even length)
 * into out, which must hold len / 2 bytes.  Returns 0, or -1 on bad input.
 */
int attest_hex_decode(const char *in, size_t len, uint8_t *out);

/* lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated) */
void attest_hex_encode(const uint8_t *in, size_t n, char *out);

/* skips a leading "0x" or "0X" */
void attest_hex_strip_prefix(const char **in, size_t *len);

/* upper bound of decoded bytes for len base64 characters */
size_t attest_base64_decoded_max(size_t len);

/*
 * Standard base64 (RFC 4648, "+/", "=" padding, also accepts unpadded
 * input); whitespace (space, \t, \r, \n) is skipped.  out must hold
 * attest_base64_decoded_max(len) bytes.  Returns 0 and sets *out_len,
 * or -1 on any other character or bad padding.
 */
int attest_base64_decode(const char *in, size_t len, uint8_t *out,
    size_t *out_len);

/*
 * The content of a JSON string for len bytes: '"', '\\' and the control
 * characters escaped (\n, \r, \t, \b, \f, else \u00XX), every other byte
 * (UTF-8 included) copied, so that the result can sit between two quotes
 * and carry nothing else.  Returns the length; out NULL: only that.
 */
size_t attest_json_escape(const uint8_t *in, size_t len, char *out);

/*
 * The reverse, for a string's content as json.dumps writes it: escapes
 * decoded, \uXXXX to UTF-8 (a surrogate pair to one code point, a lone
 * surrogate to its three-byte form).  out holds at least len bytes.
 * Returns the length, or (size_t) -1 on a malformed escape.
 */
size_t attest_json_unescape(const char *in, size_t len, uint8_t *out);

#endif /* ATTEST_CODEC_H */
