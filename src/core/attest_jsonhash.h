/*
 * The io.net response hash (PROTOCOL.md section 2): SHA-256 of the body with
 * Python's default separators ", " and ": " compacted to "," and ":".  The
 * body is fed in arbitrary pieces; state is a few flags, the body is never
 * kept.  Exactly one space after a "," or ":" outside a string is dropped;
 * every other byte is hashed as is, so a body Python's json.dumps did not
 * write (two spaces, newlines, raw UTF-8) does not match.
 */

#ifndef ATTEST_JSONHASH_H
#define ATTEST_JSONHASH_H

#include <stddef.h>
#include <stdint.h>


typedef struct attest_jsonhash_s  attest_jsonhash_t;

/* NULL on allocation failure */
attest_jsonhash_t *attest_jsonhash_new(void);
void attest_jsonhash_update(attest_jsonhash_t *h, const uint8_t *p,
    size_t len);
/*
 * writes the digest; h may be updated no more, only freed.  An OpenSSL
 * failure (or a second call) writes 32 zero bytes, which match nothing.
 */
void attest_jsonhash_final(attest_jsonhash_t *h, uint8_t out[32]);
void attest_jsonhash_free(attest_jsonhash_t *h);

/* one-shot: 0, or -1 (out zeroed) when OpenSSL fails */
int attest_jsonhash(const uint8_t *p, size_t len, uint8_t out[32]);

#endif /* ATTEST_JSONHASH_H */
