/*
 * Before a request is proxied: once its body is read and hashed
 * (request.c), make sure a fresh, verified attestation exists for its
 * key, fetching and verifying one through an in-memory subrequest to the
 * attest_fetch location when it does not.  Without one, enforce mode
 * answers 502 here and the request never reaches upstream.
 */

#include <openssl/rand.h>

#include "ngx_http_attest_module.h"

#include "attest_codec.h"


/* how often a request waiting on another's fetch looks again (ms) */
#define NGX_HTTP_ATTEST_POLL  20


static ngx_int_t ngx_http_attest_fetch_start(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_fetch_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_attest_fetch_verify(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_deny(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_redirect_check(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_wait(ngx_http_request_t *r);
static void ngx_http_attest_wait_handler(ngx_http_request_t *r);


ngx_int_t
ngx_http_attest_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    attest_reason_t              reason;
    ngx_http_attest_ctx_t       *ctx;
    ngx_http_attest_loc_conf_t  *alcf;

    if (r != r->main) {
        /* the fetch subrequest itself, or SSI and the like */
        return NGX_DECLINED;
    }

    ctx = ngx_http_attest_find_ctx(r);

    if (ctx && ctx->redirected && ctx->mode != NGX_HTTP_ATTEST_MODE_OFF) {
        return ngx_http_attest_redirect_check(r, ctx);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    if (alcf->mode == NGX_HTTP_ATTEST_MODE_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_attest_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mode = alcf->mode;

    /* first the body: attest_key may map $attest_request_model */
    rc = ngx_http_attest_request_read(r, alcf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: precontent handler \"%V\", started %ud, "
                   "fetching %ud, decided %ud", &r->uri, ctx->started,
                   ctx->fetching, ctx->decided);

    if (ctx->fetching) {
        return NGX_AGAIN;
    }

    if (!ctx->started) {
        ctx->started = 1;
        ctx->wait_start = ngx_http_attest_now();

        if (alcf->key) {
            if (ngx_http_complex_value(r, alcf->key, &ctx->key) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (ctx->key.len > NGX_HTTP_ATTEST_KEY_MAX) {
            /* before any fetch or zone write: a client may choose keys */
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "attest: attest_key value of %uz bytes refused, "
                          "more than %d", ctx->key.len,
                          NGX_HTTP_ATTEST_KEY_MAX);

            ctx->key.len = 0;
            ctx->decided = 1;
            ctx->attestation_reason = ATTEST_KEY_TOO_LONG;
        }

        /* entries are per policy: see ngx_http_attest_policy_id() */
        ctx->zkey.data = ngx_pnalloc(r->pool, 9 + ctx->key.len);
        if (ctx->zkey.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->zkey.len = ngx_sprintf(ctx->zkey.data, "%08xD:%V",
                                    alcf->policy_id, &ctx->key)
                        - ctx->zkey.data;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "attest: lookup key \"%V\" in zone \"%V\"",
                       &ctx->key, &alcf->shm_zone->shm.name);
    }

    if (ctx->fetched && !ctx->decided) {
        ngx_http_attest_fetch_verify(r, alcf, ctx);
    }

    if (!ctx->decided) {
        rc = ngx_http_attest_zone_lookup(alcf->shm_zone, &ctx->zkey, alcf->ttl,
                                         ctx->wait_start, &ctx->entry,
                                         &reason, r->connection->log);

        if (!ctx->looked_up) {
            ctx->looked_up = 1;
            ngx_http_attest_zone_count_lookup(alcf->shm_zone, rc);
        }

        switch (rc) {

        case NGX_HTTP_ATTEST_ZONE_FRESH:
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "attest: cached attestation for key \"%V\"",
                           &ctx->key);

            ctx->decided = 1;
            ctx->attested = 1;
            ctx->attestation_reason = ATTEST_OK;
            return NGX_DECLINED;

        case NGX_HTTP_ATTEST_ZONE_LOST:
            /* the fetch this request waited on failed: so does it */
            ctx->decided = 1;
            ctx->attestation_reason = reason;
            break;

        case NGX_HTTP_ATTEST_ZONE_WAIT:
            if (ngx_http_attest_now() - ctx->wait_start
                < NGX_HTTP_ATTEST_ZONE_LEASE)
            {
                return ngx_http_attest_wait(r);
            }

            /* the fetching request vanished: fetch without the lease */
            return ngx_http_attest_fetch_start(r, alcf, ctx);

        default: /* NGX_HTTP_ATTEST_ZONE_MISS */
            ctx->leased = 1;
            return ngx_http_attest_fetch_start(r, alcf, ctx);
        }
    }

    /* the fetch is over */

    if (ctx->attested || alcf->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
        return NGX_DECLINED;
    }

    return ngx_http_attest_deny(r, ctx);
}


/*
 * An attested request redirected internally (an upstream's
 * X-Accel-Redirect, try_files): in enforce mode it ends here with the 502,
 * before it reaches another upstream; an error page (error_page) goes on,
 * and report mode goes on to be marked by the header filter.
 */
static ngx_int_t
ngx_http_attest_redirect_check(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    if (ctx->mode == NGX_HTTP_ATTEST_MODE_REPORT
        || r->err_status >= NGX_HTTP_BAD_REQUEST
        || ctx->state == NGX_HTTP_ATTEST_STATE_REPLACE
        || ctx->header_sent)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "attest: request for key \"%V\" failed: %s: internal "
                  "redirect to \"%V\" out of an attested location",
                  &ctx->key, attest_reason_name(ATTEST_INTERNAL_REDIRECT),
                  &r->uri);

    ctx->attestation_reason = ATTEST_INTERNAL_REDIRECT;

    return ngx_http_attest_deny(r, ctx);
}


/*
 * Another request is fetching this key: look again shortly.  The request
 * sleeps on its connection's write timer, as limit_req's delay does.
 */
static ngx_int_t
ngx_http_attest_wait(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: waiting for another request's fetch");

    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else {
        if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_attest_wait_handler;

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, NGX_HTTP_ATTEST_POLL);

    return NGX_AGAIN;
}


static void
ngx_http_attest_wait_handler(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_attest_fetch_start(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    char                         hex[65];
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    if (RAND_bytes(ctx->nonce, sizeof(ctx->nonce)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "attest: RAND_bytes() failed, no nonce");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    attest_hex_encode(ctx->nonce, sizeof(ctx->nonce), hex);
    ngx_memcpy(ctx->nonce_hex, hex, 64);

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->handler = ngx_http_attest_fetch_done;
    ps->data = ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: fetching attestation for key \"%V\" from \"%V\"",
                   &ctx->key, &alcf->fetch);

    if (ngx_http_subrequest(r, &alcf->fetch, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the subrequest's body is our report, never the client's */
    sr->header_only = 0;

    ctx->fetch_sr = sr;
    ctx->fetching = 1;
    ctx->fetch_start = ngx_current_msec;

    return NGX_AGAIN;
}


/* waiters on this fetch learn why it failed; nothing is cached */
static void
ngx_http_attest_fetch_failed(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    if (ctx->leased) {
        ngx_http_attest_zone_store(alcf->shm_zone, &ctx->zkey, NULL,
                                   ctx->attestation_reason,
                                   r->connection->log);
    }
}


/*
 * Only records that the fetch is over, as auth_request_done does; the
 * handler verifies what came back when the parent runs again.
 */
static ngx_int_t
ngx_http_attest_fetch_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_attest_ctx_t *ctx = data;

    if (!ctx->fetching) {
        return rc;
    }

    ctx->fetching = 0;
    ctx->fetched = 1;
    ctx->fetch_rc = rc;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: fetch done, rc %i, status %ui", rc,
                   r->headers_out.status);

    /* wake the parent whatever happened: it decides in the handler */
    r->parent->write_event_handler = ngx_http_core_run_phases;

    return rc;
}


/* the report the fetch brought, verified and cached; r: the main request */
static void
ngx_http_attest_fetch_verify(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    ngx_buf_t                 *b;
    attest_err_t               err;
    attest_reason_t            reason;
    ngx_http_request_t        *sr;
    ngx_http_core_loc_conf_t  *clcf;

    ctx->decided = 1;

    sr = ctx->fetch_sr;
    b = sr->out ? sr->out->buf : NULL;

    if (ctx->fetch_rc != NGX_OK || sr->headers_out.status != NGX_HTTP_OK
        || b == NULL || ctx->fetch_too_big)
    {
        clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);

        if (ctx->fetch_too_big) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "attest: attestation report for key \"%V\" of "
                          "%O bytes or more does not fit "
                          "subrequest_output_buffer_size (%uz) in "
                          "location \"%V\"", &ctx->key, ctx->fetch_size,
                          clcf->subrequest_output_buffer_size,
                          &alcf->fetch);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "attest: attestation fetch for key \"%V\" via "
                          "\"%V\" failed: status %ui, rc %i", &ctx->key,
                          &alcf->fetch, sr->headers_out.status,
                          ctx->fetch_rc);
        }

        ctx->attestation_reason = ATTEST_ATTESTATION_UNAVAILABLE;
        ngx_http_attest_fetch_failed(r, alcf, ctx);
        ngx_http_attest_zone_count_fetch(alcf->shm_zone,
                                         ctx->attestation_reason,
                                         ngx_current_msec - ctx->fetch_start);

        return;
    }

    attest_err_clear(&err);

    reason = attest_verify_report(alcf->policy, b->pos, b->last - b->pos,
                                  ctx->nonce, ngx_time(), &ctx->entry.result,
                                  &err);

    if (reason != ATTEST_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "attest: attestation for key \"%V\" rejected: %s: %s",
                      &ctx->key, attest_reason_name(reason), err.detail);

        ctx->attestation_reason = reason;
        ngx_http_attest_fetch_failed(r, alcf, ctx);
        ngx_http_attest_zone_count_fetch(alcf->shm_zone, reason,
                                         ngx_current_msec - ctx->fetch_start);

        return;
    }

    ctx->entry.verified_at = ngx_http_attest_now();
    ctx->entry.expires_at = ctx->entry.verified_at + alcf->ttl;
    ctx->attested = 1;
    ctx->attestation_reason = ATTEST_OK;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "attest: attestation for key \"%V\" verified",
                  &ctx->key);

    ngx_http_attest_zone_store(alcf->shm_zone, &ctx->zkey, &ctx->entry,
                               ATTEST_OK, r->connection->log);
    ngx_http_attest_zone_count_fetch(alcf->shm_zone, ATTEST_OK,
                                     ngx_current_msec - ctx->fetch_start);
}


/*
 * The fetch subrequest's response passes our filters before nginx keeps it
 * in memory.  nginx would fail a report larger than
 * subrequest_output_buffer_size by terminating the client's request with
 * it; we swallow it instead and answer with our verdict, naming the
 * directive in the log.  The filters pass on what these leave.
 */
void
ngx_http_attest_fetch_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->headers_out.content_length_n
        > (off_t) clcf->subrequest_output_buffer_size)
    {
        ctx->fetch_too_big = 1;
        ctx->fetch_size = r->headers_out.content_length_n;
    }

    /* the in-memory buffer is sized by us, not by the upstream's claim */
    r->headers_out.content_length_n = -1;
}


/* NGX_OK: pass in on; NGX_DECLINED: swallowed, the report is too big */
ngx_int_t
ngx_http_attest_fetch_body(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in)
{
    off_t                      size;
    ngx_chain_t               *cl;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    size = 0;

    for (cl = in; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    /* counted until too big; from the header, the length it announced */
    if (!ctx->fetch_too_big) {
        ctx->fetch_size += size;

        if (ctx->fetch_size > (off_t) clcf->subrequest_output_buffer_size) {
            ctx->fetch_too_big = 1;
        }
    }

    if (ctx->fetch_too_big) {
        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* enforce mode without a verified attestation: 502 and our JSON body */
static ngx_int_t
ngx_http_attest_deny(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_int_t  rc;

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_FAILED,
                                ctx->attestation_reason);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->state = NGX_HTTP_ATTEST_STATE_REPLACE;

    r->headers_out.status = NGX_HTTP_BAD_GATEWAY;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    ngx_http_finalize_request(r, ngx_http_output_filter(r, NULL));

    return NGX_DONE;
}
