/*
 * A fetched report, verified once: everything a response later relies on
 * is decided here, so the per-response path only compares a signer.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "attest_codec.h"
#include "attest_verify.h"


static int
attest_in_list(const attest_str_t *list, size_t n, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (list[i].len == len && strncasecmp(list[i].data, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
attest_in_measurements(const uint8_t *list, size_t n, const uint8_t *m)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (memcmp(list + 48 * i, m, 48) == 0) {
            return 1;
        }
    }

    return 0;
}


static attest_reason_t
attest_verify_gpu(const attest_policy_t *p, const attest_report_t *r,
    const uint8_t nonce[32], attest_result_t *res, attest_err_t *err)
{
    char               detail[ATTEST_DETAIL_LEN];
    size_t             i;
    attest_gpu_info_t  info;
    attest_reason_t    rc;

    if (p->gpu == ATTEST_EVIDENCE_OFF) {
        res->gpu = ATTEST_EV_OFF;
        return ATTEST_OK;
    }

    if (!r->gpu_present) {
        if (p->gpu == ATTEST_EVIDENCE_REQUIRED) {
            return attest_fail(err, ATTEST_GPU_EVIDENCE_MISSING,
                               "report carries no GPU evidence");
        }

        res->gpu = ATTEST_EV_ABSENT;
        return ATTEST_OK;
    }

    if (r->gpu_count == 0) {
        return attest_fail(err, ATTEST_GPU_EVIDENCE_INVALID,
                           "gpu.evidence_list is empty");
    }

    for (i = 0; i < r->gpu_count; i++) {
        memset(&info, 0, sizeof(info));

        rc = attest_gpu_verify_entry(p->gpu_root, nonce, r->gpu[i].evidence,
                                     r->gpu[i].evidence_len,
                                     r->gpu[i].certificate,
                                     r->gpu[i].certificate_len, &info, err);
        if (rc != ATTEST_OK) {
            /* with 8 GPUs, which one failed matters */
            if (err != NULL) {
                snprintf(detail, sizeof(detail), "gpu entry %zu: %.150s", i,
                         err->detail);
                memcpy(err->detail, detail, sizeof(detail));
            }

            return rc;
        }

        if (p->n_gpu_drivers
            && !attest_in_list(p->gpu_drivers, p->n_gpu_drivers,
                               info.driver, strlen(info.driver)))
        {
            return attest_fail(err, ATTEST_GPU_VERSION_NOT_ALLOWED,
                               "gpu entry %zu: driver %s not allowed", i,
                               info.driver);
        }

        if (p->n_gpu_vbios
            && !attest_in_list(p->gpu_vbios, p->n_gpu_vbios,
                               info.vbios, strlen(info.vbios)))
        {
            return attest_fail(err, ATTEST_GPU_VERSION_NOT_ALLOWED,
                               "gpu entry %zu: vbios %s not allowed", i,
                               info.vbios);
        }

        if (i == 0) {
            memcpy(res->gpu_driver, info.driver, sizeof(res->gpu_driver));
            memcpy(res->gpu_vbios, info.vbios, sizeof(res->gpu_vbios));
        }
    }

    res->gpu = ATTEST_EV_VERIFIED;
    res->gpu_count = (unsigned) r->gpu_count;

    return ATTEST_OK;
}


static attest_reason_t
attest_verify_cpu(const attest_policy_t *p, const attest_report_t *r,
    const uint8_t nonce[32], time_t now, attest_result_t *res,
    attest_err_t *err)
{
    int                i;
    char               hex[97];
    attest_tdx_info_t  info;
    attest_reason_t    rc;

    if (p->cpu == ATTEST_EVIDENCE_OFF) {
        res->cpu = ATTEST_EV_OFF;
        return ATTEST_OK;
    }

    if (!r->cpu_present) {
        if (p->cpu == ATTEST_EVIDENCE_REQUIRED) {
            return attest_fail(err, ATTEST_CPU_QUOTE_MISSING,
                               "report carries no CPU quote");
        }

        res->cpu = ATTEST_EV_ABSENT;
        return ATTEST_OK;
    }

    memset(&info, 0, sizeof(info));

    rc = attest_tdx_verify(p->cpu_root, r->cpu_quote, r->cpu_quote_len, now,
                           &info, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    rc = attest_tdx_check_report_data(&info, p->report_data, nonce,
                                      r->signing_address, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    if (info.debug && !p->allow_debug) {
        return attest_fail(err, ATTEST_DEBUG_TD,
                           "TD attributes have the DEBUG bit set");
    }

    if (p->n_mrtd && !attest_in_measurements(p->mrtd, p->n_mrtd, info.mrtd)) {
        attest_hex_encode(info.mrtd, 48, hex);
        return attest_fail(err, ATTEST_MEASUREMENT_NOT_ALLOWED,
                           "MRTD %s not allowed", hex);
    }

    for (i = 0; i < 4; i++) {
        if (p->n_rtmr[i]
            && !attest_in_measurements(p->rtmr[i], p->n_rtmr[i],
                                       info.rtmr[i]))
        {
            attest_hex_encode(info.rtmr[i], 48, hex);
            return attest_fail(err, ATTEST_MEASUREMENT_NOT_ALLOWED,
                               "RTMR%d %s not allowed", i, hex);
        }
    }

    res->cpu = ATTEST_EV_VERIFIED;
    memcpy(res->mrtd, info.mrtd, 48);
    res->cpu_debug = info.debug;
    res->bound = (p->report_data == ATTEST_TDX_RD_ADDRESS_NONCE);

    return ATTEST_OK;
}


attest_reason_t
attest_verify_report(const attest_policy_t *p, const uint8_t *json,
    size_t len, const uint8_t nonce[32], time_t now, attest_result_t *res,
    attest_err_t *err)
{
    attest_report_t  r;
    attest_reason_t  rc;

    memset(res, 0, sizeof(*res));

    rc = attest_report_parse(json, len, p->report_max, &r, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    rc = attest_report_check_nonce(&r, nonce, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    if (p->n_image_digests) {
        if (!r.has_image_digest) {
            rc = attest_fail(err, ATTEST_IMAGE_DIGEST_NOT_ALLOWED,
                             "report names no image_digest");
            goto done;
        }

        if (!attest_in_list(p->image_digests, p->n_image_digests,
                            r.image_digest, r.image_digest_len))
        {
            rc = attest_fail(err, ATTEST_IMAGE_DIGEST_NOT_ALLOWED,
                             "image_digest %s not allowed", r.image_digest);
            goto done;
        }
    }

    rc = attest_verify_gpu(p, &r, nonce, res, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    rc = attest_verify_cpu(p, &r, nonce, now, res, err);
    if (rc != ATTEST_OK) {
        goto done;
    }

    memcpy(res->signing_address, r.signing_address, 20);
    res->has_image_digest = r.has_image_digest;
    memcpy(res->image_digest, r.image_digest, sizeof(res->image_digest));
    res->image_digest_len = r.image_digest_len;

done:

    attest_report_free(&r);

    return rc;
}


static const char *
attest_ev_state_name(attest_ev_state_e s)
{
    return s == ATTEST_EV_OFF ? "off" : "absent";
}


void
attest_result_gpu_text(const attest_result_t *r, char *buf, size_t size)
{
    if (r->gpu != ATTEST_EV_VERIFIED) {
        snprintf(buf, size, "%s", attest_ev_state_name(r->gpu));
        return;
    }

    snprintf(buf, size, "verified gpus=%u driver=%s vbios=%s", r->gpu_count,
             r->gpu_driver[0] ? r->gpu_driver : "-",
             r->gpu_vbios[0] ? r->gpu_vbios : "-");
}


void
attest_result_cpu_text(const attest_result_t *r, char *buf, size_t size)
{
    char  hex[97];

    if (r->cpu != ATTEST_EV_VERIFIED) {
        snprintf(buf, size, "%s", attest_ev_state_name(r->cpu));
        return;
    }

    attest_hex_encode(r->mrtd, 48, hex);
    snprintf(buf, size, "verified mrtd=%.16s...%s", hex,
             r->cpu_debug ? " debug" : "");
}
