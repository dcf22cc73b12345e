/*
 * One vocabulary of verdicts for every check in the module.
 *
 * Every failure anywhere in the core ends in exactly one of these reasons;
 * the nginx layer, the command-line tool and the tests all speak it.  An
 * attest_err_t carries the reason plus a short free-form detail naming the
 * check that failed (for error logs and the CLI), never secret material.
 */

#ifndef ATTEST_REASON_H
#define ATTEST_REASON_H

#include <stddef.h>
#include <stdint.h>


typedef enum {
    ATTEST_OK = 0,

    /* attestation (issue 2/3) */
    ATTEST_ATTESTATION_UNAVAILABLE,
    ATTEST_ATTESTATION_INVALID,
    ATTEST_NONCE_MISMATCH,
    ATTEST_IMAGE_DIGEST_NOT_ALLOWED,

    /* response signature */
    ATTEST_SIGNATURE_MISSING,
    ATTEST_SIGNING_ALGO_UNSUPPORTED,
    ATTEST_SIGNATURE_MALFORMED,
    ATTEST_SIGNATURE_INVALID,
    ATTEST_SIGNER_NOT_ATTESTED,
    ATTEST_IMAGE_DIGEST_MISMATCH,
    ATTEST_TEXT_MALFORMED,
    ATTEST_BODY_MISMATCH,
    ATTEST_BODY_TOO_LARGE,

    /* gateway */
    ATTEST_UPSTREAM_STATUS,
    ATTEST_BODY_ENCODED,
    ATTEST_UPSTREAM_STATUS_UNEXPECTED,
    ATTEST_UPSTREAM_HTTP09,
    ATTEST_INTERNAL_REDIRECT,
    ATTEST_KEY_TOO_LONG,
    ATTEST_CLIENT_CLOSED,

    /* request binding */
    ATTEST_REQUEST_MISMATCH,
    ATTEST_REQUEST_INVALID,

    /* streaming */
    ATTEST_STREAM_UNSIGNED,
    ATTEST_STREAM_TRUNCATED,
    ATTEST_STREAM_BARE_CR,
    ATTEST_STREAM_BOM,
    ATTEST_STREAM_FIELD,
    ATTEST_STREAM_LINE_TOO_LONG,

    /* GPU evidence */
    ATTEST_GPU_EVIDENCE_MISSING,
    ATTEST_GPU_EVIDENCE_INVALID,
    ATTEST_GPU_VERSION_NOT_ALLOWED,

    /* CPU evidence */
    ATTEST_CPU_QUOTE_MISSING,
    ATTEST_CPU_QUOTE_INVALID,
    ATTEST_REPORT_DATA_MISMATCH,
    ATTEST_MEASUREMENT_NOT_ALLOWED,
    ATTEST_DEBUG_TD,

    ATTEST_REASON_MAX
} attest_reason_t;


#define ATTEST_DETAIL_LEN  192

typedef struct {
    attest_reason_t  reason;
    char             detail[ATTEST_DETAIL_LEN];
} attest_err_t;


/* "signature_invalid"; "ok" for ATTEST_OK; "unknown" out of range */
const char *attest_reason_name(attest_reason_t reason);

/* one human sentence for error bodies and the CLI */
const char *attest_reason_text(attest_reason_t reason);

/* ATTEST_REASON_MAX when the name is unknown */
attest_reason_t attest_reason_from_name(const char *name, size_t len);

/*
 * Records reason and a printf-style detail in err (err may be NULL) and
 * returns reason, so checks read "return attest_fail(err, R, "...")".
 */
attest_reason_t attest_fail(attest_err_t *err, attest_reason_t reason,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

void attest_err_clear(attest_err_t *err);

#endif /* ATTEST_REASON_H */
