/*
 * The io.net request hash (PROTOCOL.md section 2): SHA-256 of
 * json.dumps(payload.model_dump(exclude_none=True), separators=(",", ":"))
 * where payload is the agent's pydantic v2 request model parsed from the
 * client's body by json.loads.  The canonicalizer rebuilds those bytes from
 * the body the gateway forwards, so that the request half of the signed
 * text can be checked.
 *
 * The body is fed in pieces of any size (nginx buffers, a temp file read in
 * chunks) and kept, up to the limit given to attest_reqhash_new(): the
 * canonical form puts declared fields first and lets a later duplicate key
 * override an earlier one, so nothing can be hashed before the end.  Memory
 * is the body plus about five times its size at most (the body's buffer
 * takes the canonical form once it is parsed).
 *
 * A body the agent would refuse (not JSON as json.loads reads it, not an
 * object, a typed field pydantic refuses) is refused with a named reason,
 * and so is the little the canonicalizer does not reproduce (see the
 * reasons below): such a body never yields a hash.
 */

#ifndef ATTEST_REQHASH_H
#define ATTEST_REQHASH_H

#include <stddef.h>
#include <stdint.h>


typedef enum {
    ATTEST_REQ_OK = 0,
    ATTEST_REQ_NOMEM,        /* allocation or OpenSSL failure */
    ATTEST_REQ_TOO_LARGE,    /* body over the limit given to _new() */
    ATTEST_REQ_ENCODING,     /* UTF-16/32 (json.loads would decode it) */
    ATTEST_REQ_UTF8,         /* not valid UTF-8 (surrogates allowed) */
    ATTEST_REQ_SYNTAX,       /* not JSON as Python's json.loads reads it */
    ATTEST_REQ_TOO_DEEP,     /* over ATTEST_REQ_MAX_DEPTH nested values */
    ATTEST_REQ_INT_DIGITS,   /* an integer over 4300 digits (Python's cap) */
    ATTEST_REQ_NOT_OBJECT,   /* the body is not a JSON object */
    ATTEST_REQ_FIELD_TYPE,   /* a declared field pydantic refuses */
    ATTEST_REQ_FIELD_FORM,   /* a string in a number field, in a form not
                                reproduced (whitespace, "_", "20.0" ...) */
    ATTEST_REQ_KEY_SURROGATE, /* an extra field's name holds a lone
                                surrogate (pydantic: string_unicode) */
    ATTEST_REQ_STATE         /* update after final, final twice */
} attest_req_err_t;

/* containers nested deeper than this are refused (json.loads stops ~1000) */
#define ATTEST_REQ_MAX_DEPTH  256

typedef struct attest_reqhash_s  attest_reqhash_t;


/* max_body: the largest body accepted, in bytes; NULL on allocation failure */
attest_reqhash_t *attest_reqhash_new(size_t max_body);

/* appends a piece of the body; ATTEST_REQ_OK or the (sticky) error */
attest_req_err_t attest_reqhash_update(attest_reqhash_t *r, const uint8_t *p,
    size_t len);

/*
 * the same without a copy: room for len more bytes of the body, written
 * there by the caller (a file read straight in), then appended with
 * attest_reqhash_commit(r, n), n <= len.  NULL on the errors of
 * attest_reqhash_update() (sticky, attest_reqhash_error() says which).
 */
uint8_t *attest_reqhash_space(attest_reqhash_t *r, size_t len);
attest_req_err_t attest_reqhash_commit(attest_reqhash_t *r, size_t len);

/*
 * canonicalizes the whole body and writes the SHA-256 of the canonical
 * form; on failure hash is zeroed and attest_reqhash_error() says why
 */
attest_req_err_t attest_reqhash_final(attest_reqhash_t *r,
    uint8_t hash[32]);

/* after a successful final: the canonical bytes (ASCII), owned by r */
const uint8_t *attest_reqhash_canonical(attest_reqhash_t *r, size_t *len);

/*
 * after a successful final: the "model" field as it appears in the
 * canonical form, without the quotes (so ASCII, JSON-escaped); NULL when
 * absent or null
 */
const char *attest_reqhash_model(attest_reqhash_t *r, size_t *len);

/* after a successful final: 1 if the model's stream is true */
int attest_reqhash_stream(attest_reqhash_t *r);

/* a sentence naming the last error ("temperature: float expected"...) */
const char *attest_reqhash_error(attest_reqhash_t *r);

/* the short name of an error: "syntax", "field_type" ... */
const char *attest_reqhash_errname(attest_req_err_t err);

/*
 * makes r new again (max_body as in _new()), keeping its buffers while
 * together they take at most keep bytes: a worker that canonicalizes each
 * request with the same r allocates, and faults in, no memory per request
 */
void attest_reqhash_reset(attest_reqhash_t *r, size_t max_body,
    size_t keep);

void attest_reqhash_free(attest_reqhash_t *r);

/*
 * Python's repr() of a double, as json.dumps prints it (NaN, Infinity,
 * -Infinity for the others); buf holds at least 32 bytes; returns length
 */
size_t attest_reqhash_float_repr(double x, char *buf);

#endif /* ATTEST_REQHASH_H */
