/*
 * Names and sentences of the verdict vocabulary.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attest_reason.h"


static const struct {
    const char  *name;
    const char  *text;
} attest_reasons[ATTEST_REASON_MAX] = {
    [ATTEST_OK] = { "ok", "The response was verified." },

    [ATTEST_ATTESTATION_UNAVAILABLE] = { "attestation_unavailable",
      "No verified attestation report is available for the upstream." },
    [ATTEST_ATTESTATION_INVALID] = { "attestation_invalid",
      "The upstream's attestation report is malformed." },
    [ATTEST_NONCE_MISMATCH] = { "nonce_mismatch",
      "The attestation report does not echo the nonce the gateway sent." },
    [ATTEST_IMAGE_DIGEST_NOT_ALLOWED] = { "image_digest_not_allowed",
      "The attested container image digest is not in the allowed set." },

    [ATTEST_SIGNATURE_MISSING] = { "signature_missing",
      "The upstream response carries no signature." },
    [ATTEST_SIGNING_ALGO_UNSUPPORTED] = { "signing_algo_unsupported",
      "The upstream response is signed with an unsupported algorithm." },
    [ATTEST_SIGNATURE_MALFORMED] = { "signature_malformed",
      "The upstream response signature is malformed." },
    [ATTEST_SIGNATURE_INVALID] = { "signature_invalid",
      "The upstream response signature does not match its signing address." },
    [ATTEST_SIGNER_NOT_ATTESTED] = { "signer_not_attested",
      "The upstream response was signed by a key that is not the attested "
      "one." },
    [ATTEST_IMAGE_DIGEST_MISMATCH] = { "image_digest_mismatch",
      "The upstream response names another image digest than the attested "
      "one." },
    [ATTEST_TEXT_MALFORMED] = { "text_malformed",
      "The upstream response's signed text is malformed." },
    [ATTEST_BODY_MISMATCH] = { "body_mismatch",
      "The upstream response body does not match its signed hash." },
    [ATTEST_BODY_TOO_LARGE] = { "body_too_large",
      "The upstream response is too large to be verified." },

    [ATTEST_UPSTREAM_STATUS] = { "upstream_status",
      "The upstream answered with a status that carries no signed output." },
    [ATTEST_BODY_ENCODED] = { "body_encoded",
      "The upstream response is content-encoded and cannot be verified." },
    [ATTEST_UPSTREAM_STATUS_UNEXPECTED] = { "upstream_status_unexpected",
      "The upstream answered with a status that an attested location does "
      "not pass on." },
    [ATTEST_UPSTREAM_HTTP09] = { "upstream_http09",
      "The upstream's response has no valid HTTP status line." },
    [ATTEST_INTERNAL_REDIRECT] = { "internal_redirect",
      "The upstream asked for an internal redirect out of an attested "
      "location." },
    [ATTEST_KEY_TOO_LONG] = { "key_too_long",
      "The attestation key of this request is too long." },
    [ATTEST_CLIENT_CLOSED] = { "client_closed",
      "The client closed the connection before the response ended." },

    [ATTEST_REQUEST_MISMATCH] = { "request_mismatch",
      "The upstream response is signed for another request than the one "
      "sent." },
    [ATTEST_REQUEST_INVALID] = { "request_invalid",
      "The request body cannot be bound to the signed response." },

    [ATTEST_STREAM_UNSIGNED] = { "stream_unsigned",
      "The upstream stream ended without a signature." },
    [ATTEST_STREAM_TRUNCATED] = { "stream_truncated",
      "The upstream stream was cut off before it ended." },
    [ATTEST_STREAM_BARE_CR] = { "stream_bare_cr",
      "The upstream stream holds a carriage return that ends no line the "
      "signature covers." },
    [ATTEST_STREAM_BOM] = { "stream_bom",
      "The upstream stream starts with a byte order mark." },
    [ATTEST_STREAM_FIELD] = { "stream_field",
      "The upstream stream holds an SSE field the signature does not "
      "cover." },
    [ATTEST_STREAM_LINE_TOO_LONG] = { "stream_line_too_long",
      "The upstream stream holds a line longer than the gateway holds." },

    [ATTEST_GPU_EVIDENCE_MISSING] = { "gpu_evidence_missing",
      "The attestation report carries no GPU evidence." },
    [ATTEST_GPU_EVIDENCE_INVALID] = { "gpu_evidence_invalid",
      "The attestation report's GPU evidence does not verify." },
    [ATTEST_GPU_VERSION_NOT_ALLOWED] = { "gpu_version_not_allowed",
      "The attested GPU driver or VBIOS version is not allowed." },

    [ATTEST_CPU_QUOTE_MISSING] = { "cpu_quote_missing",
      "The attestation report carries no CPU quote." },
    [ATTEST_CPU_QUOTE_INVALID] = { "cpu_quote_invalid",
      "The attestation report's CPU quote does not verify." },
    [ATTEST_REPORT_DATA_MISMATCH] = { "report_data_mismatch",
      "The CPU quote is not bound to this attestation request." },
    [ATTEST_MEASUREMENT_NOT_ALLOWED] = { "measurement_not_allowed",
      "The attested TD measurements are not in the allowed set." },
    [ATTEST_DEBUG_TD] = { "debug_td",
      "The attested TD runs in debug mode." },
};


const char *
attest_reason_name(attest_reason_t reason)
{
    if ((unsigned) reason >= ATTEST_REASON_MAX) {
        return "unknown";
    }

    return attest_reasons[reason].name;
}


const char *
attest_reason_text(attest_reason_t reason)
{
    if ((unsigned) reason >= ATTEST_REASON_MAX) {
        return "The response could not be verified.";
    }

    return attest_reasons[reason].text;
}


attest_reason_t
attest_reason_from_name(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < ATTEST_REASON_MAX; i++) {
        if (strlen(attest_reasons[i].name) == len
            && memcmp(attest_reasons[i].name, name, len) == 0)
        {
            return (attest_reason_t) i;
        }
    }

    return ATTEST_REASON_MAX;
}


attest_reason_t
attest_fail(attest_err_t *err, attest_reason_t reason, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return reason;
    }

    err->reason = reason;

    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);

    return reason;
}


void
attest_err_clear(attest_err_t *err)
{
    err->reason = ATTEST_OK;
    err->detail[0] = '\0';
}
