/*
 * Server-sent-events accumulator for signed streaming completions
 * (PROTOCOL.md section 3).
 *
 * Fed the upstream bytes in arbitrary splits, it cuts them into lines,
 * classifies each line, and hashes the compact serialization of
 * {"chunks":[L1,L2,...]} on the fly, where Li is the payload of the i-th
 * "data: " line (except "data: [DONE]" and the signature event's data),
 * JSON-escaped the way Python's json.dumps (ensure_ascii) escapes it.
 *
 * Memory is constant: the accumulator keeps at most the current partial
 * line (up to max_line bytes) and the signature event's JSON (up to
 * ATTEST_SSE_SIG_MAX bytes).
 *
 * Lines end at "\n" only, as the agent splits them.  A "\r" before the
 * "\n" is part of a data payload (hashed, escaped as \r) but a line ending
 * for every other test: blank lines, field values, the signature JSON.
 *
 * Classification, first match wins:
 *   "\n" or "\r\n"                        BLANK: ends the current event
 *   ":..."                                COMMENT
 *   a "data" field in a signature event   SIG_DATA, not hashed
 *   "data: [DONE]"                        DONE, not hashed
 *   "data: ..."                           DATA, hashed
 *   "event: signature", "event:signature" SIG_EVENT, when it opens an event
 *                                         (another "event" field ends the
 *                                         signature event)
 *   anything else                         OTHER, not hashed
 *
 * SSE clients split lines differently: at CRLF, LF or a lone CR, and they
 * drop a BOM that starts the stream.  So every line also gets a verdict
 * of its own, line->reason, ATTEST_OK for a line a client reads as the
 * agent hashed it, otherwise the first that applies:
 *   a BOM starts the stream                      stream_bom
 *   a "\r" not right before the "\n"             stream_bare_cr
 *   data a client reads that the hash does not
 *   cover ("data:x", "data", "data: [DONE]x")    body_mismatch
 *   any field but data and the signature event
 *   ("event: x", an "event: signature" after
 *   other fields of its event, "id", "retry",
 *   unknown names)                               stream_field
 * Only data lines, blank lines, comments and the signature event pass.
 * A comment that reads like the module's own verdict (": attest ...")
 * has line->spoof set: the caller must not forward it.
 *
 * The agent hashes vLLM's stream and holds back the read holding
 * "data: [DONE]", so data lines read together with [DONE] reach us after
 * the signature event: take the hash at [DONE], not at the signature.
 *
 * Bytes of a payload that are not UTF-8 (the agent's decoder would have
 * failed on them) are hashed raw: Python's output is pure ASCII, so such a
 * stream can never match, and cannot alias a "\u00XX" escape.
 *
 * ATTEST_SSE_ERROR is sticky: a line ("\n" included) longer than max_line,
 * reported as soon as the partial line reaches max_line bytes, or no
 * memory for the line buffer (which grows on demand up to max_line).  The
 * line buffer is freed on the next call after the error.
 */

#ifndef ATTEST_SSE_H
#define ATTEST_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "attest_reason.h"
#include "attest_sig.h"


#define ATTEST_SSE_SIG_MAX  8192

typedef enum {
    ATTEST_SSE_NONE = 0,      /* no complete line: input exhausted */
    ATTEST_SSE_DATA,          /* "data: ..." of an ordinary event, hashed */
    ATTEST_SSE_DONE,          /* "data: [DONE]" */
    ATTEST_SSE_SIG_EVENT,     /* "event: signature" */
    ATTEST_SSE_SIG_DATA,      /* the data line of the signature event */
    ATTEST_SSE_BLANK,         /* empty line: end of an event */
    ATTEST_SSE_COMMENT,       /* ":..." */
    ATTEST_SSE_OTHER,         /* other fields, other events */
    ATTEST_SSE_ERROR          /* line longer than max_line, sticky: the
                                 input is consumed whole, and the first
                                 time data/len hold the head of the line
                                 kept from earlier calls */
} attest_sse_line_e;

typedef struct {
    attest_sse_line_e  type;
    /*
     * The whole line including its "\n" (and "\r" when present).  Points
     * into the caller's input when the line was complete in it, otherwise
     * into the accumulator's own buffer; valid until the next feed call.
     */
    const uint8_t     *data;
    size_t             len;
    /*
     * The line belongs to a signature event: from its "event: signature"
     * (or its data line) up to and including the blank line ending it.
     * A proxy that strips the signature drops exactly these lines.
     */
    unsigned           in_sig:1;
    /* a comment starting ": attest" or ":attest", as our verdict does */
    unsigned           spoof:1;
    /* ATTEST_OK, or why an SSE client would read this line otherwise */
    attest_reason_t    reason;
} attest_sse_line_t;

typedef struct attest_sse_s  attest_sse_t;


/* max_line bounds a single line; NULL on allocation failure */
attest_sse_t *attest_sse_new(size_t max_line);
void attest_sse_free(attest_sse_t *s);

/*
 * Consumes input up to and including the end of the next complete line
 * and describes it in *line; returns the number of bytes consumed.  When
 * the input holds no complete line, it keeps the partial line, sets
 * line->type to ATTEST_SSE_NONE and returns len.  Call in a loop until
 * the input is used up.
 */
size_t attest_sse_feed(attest_sse_t *s, const uint8_t *p, size_t len,
    attest_sse_line_t *line);

/* bytes of the current partial line held inside the accumulator */
size_t attest_sse_pending(const attest_sse_t *s);

/*
 * The response hash of every data line seen so far (may be called once
 * the signature event has been seen, and again later: it does not end
 * the running hash).
 */
void attest_sse_hash(attest_sse_t *s, uint8_t out[32]);

/*
 * The signature event's JSON payload: its data line after "data:" and one
 * optional space, without the line ending.  NULL when none was seen yet,
 * and also when it was longer than ATTEST_SSE_SIG_MAX or when a second
 * SIG_DATA line came (two data lines, or a second signature event): after
 * a SIG_DATA line, NULL means signature_malformed.  len may be NULL.
 */
const uint8_t *attest_sse_signature(const attest_sse_t *s, size_t *len);

/* "data: [DONE]" has been seen */
int attest_sse_done(const attest_sse_t *s);

/*
 * The stream's one verdict, once its end is known (at "data: [DONE]" or
 * where the input stopped).  ATTEST_OK: exactly one signature event,
 * valid for the attested signer, signs the hash of every data line, and
 * [DONE] came.  Otherwise, the first that applies:
 *   repeated     a second signature data line      signature_malformed
 *   oversize     over ATTEST_SSE_SIG_MAX bytes     signature_malformed
 *   truncated    none, and the input stopped       stream_truncated
 *                inside a line
 *   none         no signature event                stream_unsigned
 *   seen         the failure of parsing and checking the event
 *                (attest_sig_json_parse, attest_sig_verify,
 *                attest_sig_check_body)
 *   truncated    all of that held but [DONE] never came: stream_truncated
 * err gets the detail.  May be called more than once.
 */
attest_reason_t attest_sse_finish(attest_sse_t *s,
    const attest_signer_t *signer, attest_err_t *err);

#endif /* ATTEST_SSE_H */
