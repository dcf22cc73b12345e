/*
 * The attestation fetches: through an in-memory subrequest to the
 * attest_fetch location, each with a fresh nonce and full verification,
 * one in flight per key across workers (the zone's lease).
 *
 * - Before a request is proxied (the pre-content handler), once its body
 *   is read and hashed (request.c): make sure the key has attested
 *   machines, fetching when it has none.  Without one, enforce mode
 *   answers 502 here and the request never reaches upstream.
 * - A refresh: a request that finds a machine older than attest_refresh
 *   goes on at once and starts a background fetch (as mirror does).
 * - Discovery: a response signed by a signer outside the set waits for
 *   fetches until that signer appears, at most attest_discover of them
 *   (the filters hold its verdict meanwhile).
 */

#include <openssl/rand.h>

#include "ngx_http_attest_module.h"

#include "attest_codec.h"


/* how often a request waiting on another's fetch looks again (ms) */
#define NGX_HTTP_ATTEST_POLL  20

/* what a fetch is for */
#define NGX_HTTP_ATTEST_FETCH_FIRST     0
#define NGX_HTTP_ATTEST_FETCH_DISCOVER  1
#define NGX_HTTP_ATTEST_FETCH_REFRESH   2


static ngx_int_t ngx_http_attest_fetch_begin(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_fetch_lookup(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_fetch_start(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx,
    ngx_uint_t kind);
static ngx_int_t ngx_http_attest_fetch_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_attest_fetch_later_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static attest_reason_t ngx_http_attest_fetch_check(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_entry_t *entry);
static void ngx_http_attest_fetch_verify(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_deny(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_redirect_check(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_wait(ngx_http_request_t *r);
static void ngx_http_attest_wait_handler(ngx_http_request_t *r);
static void ngx_http_attest_discover_timer(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static void ngx_http_attest_discover_wake(ngx_event_t *ev);
static void ngx_http_attest_fetch_cleanup(void *data);


ngx_int_t
ngx_http_attest_precontent_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
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

    if (ctx->fetching && ctx->fetch_kind == NGX_HTTP_ATTEST_FETCH_FIRST) {
        return NGX_AGAIN;
    }

    if (!ctx->started) {
        rc = ngx_http_attest_fetch_begin(r, alcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->fetched && !ctx->decided) {
        ngx_http_attest_fetch_verify(r, alcf, ctx);
    }

    if (!ctx->decided) {
        rc = ngx_http_attest_fetch_lookup(r, alcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* the fetch is over */

    if (ctx->attested || alcf->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
        return NGX_DECLINED;
    }

    return ngx_http_attest_deny(r, ctx);
}


/* the request's key in the zone: scope and attest_key */
static ngx_int_t
ngx_http_attest_fetch_begin(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    ctx->started = 1;

    if (alcf->key) {
        if (ngx_http_complex_value(r, alcf->key, &ctx->key) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->key.len > NGX_HTTP_ATTEST_KEY_MAX) {
        /* before any fetch or zone write: a client may choose keys */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "attest: attest_key value of %uz bytes refused, "
                      "more than %d", ctx->key.len, NGX_HTTP_ATTEST_KEY_MAX);

        ctx->key.len = 0;
        ctx->decided = 1;
        ctx->attestation_reason = ATTEST_KEY_TOO_LONG;
    }

    /* entries are per scope: see ngx_http_attest_scope() */
    ctx->zr.key.data = ngx_pnalloc(r->pool, alcf->scope.len + ctx->key.len);
    if (ctx->zr.key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->zr.key.len = ngx_sprintf(ctx->zr.key.data, "%V%V", &alcf->scope,
                                  &ctx->key)
                      - ctx->zr.key.data;

    ctx->zr.max = alcf->signers;
    ctx->zr.refresh = alcf->refresh;
    ctx->zr.discover = alcf->discover;
    ctx->zr.since = ngx_http_attest_now();
    ctx->shm_zone = alcf->shm_zone;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_attest_fetch_cleanup;
    cln->data = ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: lookup key \"%V\" in zone \"%V\"",
                   &ctx->key, &alcf->shm_zone->shm.name);

    return NGX_OK;
}


/*
 * The request ends: a lease it still holds goes (its fetch was cut, its
 * client went away), so that a waiter takes the fetch over, and so does
 * its discovery timer.
 */
static void
ngx_http_attest_fetch_cleanup(void *data)
{
    ngx_http_attest_ctx_t *ctx = data;

    if (ctx->disc_timer.timer_set) {
        ngx_del_timer(&ctx->disc_timer);
    }

    if (ctx->zr.lease) {
        ngx_http_attest_zone_release(ctx->shm_zone, &ctx->zr);
    }
}


/* NGX_OK: decided; else the handler's return */
static ngx_int_t
ngx_http_attest_fetch_lookup(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_attest_zone_lookup(alcf->shm_zone, &ctx->zr, r->pool,
                                     r->connection->log);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ctx->looked_up) {
        ctx->looked_up = 1;
        ngx_http_attest_zone_count_lookup(alcf->shm_zone, rc);
    }

    switch (rc) {

    case NGX_HTTP_ATTEST_ZONE_FRESH:
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "attest: %ui cached signers for key \"%V\"",
                       ctx->zr.nmachines, &ctx->key);

        ctx->decided = 1;
        ctx->attested = 1;
        ctx->attestation_reason = ATTEST_OK;

        /* until a response names its signer, the most recent one */
        ctx->entry = ctx->zr.machines[ctx->zr.nmachines - 1];

        if (ctx->zr.refresh_due
            && ngx_http_attest_fetch_start(r, alcf, ctx,
                                           NGX_HTTP_ATTEST_FETCH_REFRESH)
               != NGX_AGAIN)
        {
            ngx_http_attest_zone_release(alcf->shm_zone, &ctx->zr);
        }

        return NGX_OK;

    case NGX_HTTP_ATTEST_ZONE_LOST:
        /* the fetch this request waited on failed: so does it */
        ctx->decided = 1;
        ctx->attestation_reason = ctx->zr.reason;
        return NGX_OK;

    case NGX_HTTP_ATTEST_ZONE_WAIT:
        /* as long as the fetch's owner lives: see the zone's lease */
        return ngx_http_attest_wait(r);

    default: /* NGX_HTTP_ATTEST_ZONE_MISS */
        rc = ngx_http_attest_fetch_start(r, alcf, ctx,
                                         NGX_HTTP_ATTEST_FETCH_FIRST);

        if (rc != NGX_AGAIN) {
            ngx_http_attest_zone_release(alcf->shm_zone, &ctx->zr);
        }

        return rc;
    }
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


/*
 * A fetch; the caller holds the key's lease.  The first one is waited
 * for (the pre-content phase resumes when it ends), a discovery fetch
 * wakes the held response, a refresh runs in the background.
 */
static ngx_int_t
ngx_http_attest_fetch_start(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx,
    ngx_uint_t kind)
{
    char                         hex[65];
    ngx_uint_t                   flags;
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

    ps->data = ctx;
    flags = NGX_HTTP_SUBREQUEST_IN_MEMORY;

    if (kind == NGX_HTTP_ATTEST_FETCH_FIRST) {
        ps->handler = ngx_http_attest_fetch_done;
        flags |= NGX_HTTP_SUBREQUEST_WAITED;

    } else {
        ps->handler = ngx_http_attest_fetch_later_done;

        if (kind == NGX_HTTP_ATTEST_FETCH_REFRESH) {
            flags |= NGX_HTTP_SUBREQUEST_BACKGROUND;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: fetching attestation (%ui) for key \"%V\" "
                   "from \"%V\"", kind, &ctx->key, &alcf->fetch);

    if (ngx_http_subrequest(r, &alcf->fetch, NULL, &sr, ps, flags)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the subrequest's body is our report, never the client's */
    sr->header_only = 0;

    ctx->fetch_sr = sr;
    ctx->fetch_kind = kind;
    ctx->fetching = 1;
    ctx->fetch_too_big = 0;
    ctx->fetch_size = 0;
    ctx->fetch_start = ngx_current_msec;

    return NGX_AGAIN;
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


/*
 * A discovery or refresh fetch is over: its report is verified here and
 * joins the key's set.  A discovery's response then looks again (the
 * parent is posted when a subrequest ends); a refresh only logs.
 */
static ngx_int_t
ngx_http_attest_fetch_later_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_attest_ctx_t *ctx = data;

    ngx_uint_t                   result;
    attest_reason_t              reason;
    ngx_http_attest_entry_t      entry;
    ngx_http_attest_counters_t  *c;
    ngx_http_attest_loc_conf_t  *alcf;

    if (!ctx->fetching) {
        return rc;
    }

    ctx->fetching = 0;
    ctx->fetch_rc = rc;

    alcf = ngx_http_get_module_loc_conf(r->main, ngx_http_attest_module);

    reason = ngx_http_attest_fetch_check(r->main, alcf, ctx, &entry);

    result = (reason == ATTEST_OK) ? NGX_HTTP_ATTEST_RESULT_VERIFIED
                                   : NGX_HTTP_ATTEST_RESULT_FAILED;

    c = ngx_http_attest_zone_counters(alcf->shm_zone);

    if (ctx->fetch_kind == NGX_HTTP_ATTEST_FETCH_REFRESH) {
        ngx_http_attest_count(c->refreshes[result]);

        if (reason != ATTEST_OK) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "attest: refresh of key \"%V\" failed: %s; its "
                          "machines stay until they expire", &ctx->key,
                          attest_reason_name(reason));
        }

    } else {
        ngx_http_attest_count(c->discoveries[result]);
    }

    return rc;
}


/*
 * The report a fetch brought (r: the main request): a verified machine
 * joins the key's set in the zone, or the failure is kept for the
 * requests that waited on it.  A fetch that ended because the client went
 * away says nothing of the attestation: nothing is stored, the lease goes
 * and a waiter fetches.
 */
static attest_reason_t
ngx_http_attest_fetch_check(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_entry_t *entry)
{
    ngx_buf_t                 *b;
    attest_err_t               err;
    attest_reason_t            reason;
    ngx_http_request_t        *sr;
    ngx_http_core_loc_conf_t  *clcf;

    sr = ctx->fetch_sr;
    b = sr->out ? sr->out->buf : NULL;

    if (ctx->fetch_rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || r->connection->error)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "attest: attestation fetch for key \"%V\" ended with "
                      "its client", &ctx->key);

        ngx_http_attest_zone_release(alcf->shm_zone, &ctx->zr);

        return ATTEST_CLIENT_CLOSED;
    }

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

        reason = ATTEST_ATTESTATION_UNAVAILABLE;
        goto failed;
    }

    attest_err_clear(&err);

    ngx_memzero(entry, sizeof(ngx_http_attest_entry_t));

    reason = attest_verify_report(alcf->policy, b->pos, b->last - b->pos,
                                  ctx->nonce, ngx_time(), &entry->result,
                                  &err);

    if (reason != ATTEST_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "attest: attestation for key \"%V\" rejected: %s: %s",
                      &ctx->key, attest_reason_name(reason), err.detail);
        goto failed;
    }

    entry->verified_at = ngx_http_attest_now();
    entry->expires_at = entry->verified_at + alcf->ttl;
    entry->seen_at = entry->verified_at;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "attest: attestation for key \"%V\" verified",
                  &ctx->key);

    ngx_http_attest_zone_store(alcf->shm_zone, &ctx->zr, entry, ATTEST_OK,
                               r->connection->log);
    ngx_http_attest_zone_count_fetch(alcf->shm_zone, ATTEST_OK,
                                     ngx_current_msec - ctx->fetch_start);

    return ATTEST_OK;

failed:

    /* waiters on this fetch learn why it failed */
    ngx_http_attest_zone_store(alcf->shm_zone, &ctx->zr, NULL, reason,
                               r->connection->log);
    ngx_http_attest_zone_count_fetch(alcf->shm_zone, reason,
                                     ngx_current_msec - ctx->fetch_start);

    return reason;
}


/* the first fetch's report decides the request; r: the main request */
static void
ngx_http_attest_fetch_verify(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    attest_reason_t  reason;

    reason = ngx_http_attest_fetch_check(r, alcf, ctx, &ctx->entry);

    if (reason == ATTEST_CLIENT_CLOSED) {
        /* nobody is left to answer: this request ends with its client */
        ctx->decided = 1;
        ctx->attestation_reason = reason;
        return;
    }

    ctx->decided = 1;
    ctx->attestation_reason = reason;

    if (reason != ATTEST_OK) {
        return;
    }

    ctx->attested = 1;

    /* the set this request knows: at least the machine it attested */
    ctx->zr.machines = &ctx->entry;
    ctx->zr.nmachines = 1;
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


/*
 * Discovery, one step, for a response whose signer (ctx->claimed) is
 * outside the set the request knows.  NGX_OK: the signer is attested
 * now, it joined the request's set; NGX_DECLINED: it is not attested
 * (discovery gave up on it, now or a while ago); NGX_AGAIN: the verdict
 * waits, and the response's writer runs again when a fetch of this key
 * ends (this request's own: its end posts the request; another's: a
 * timer looks again).
 */
ngx_int_t
ngx_http_attest_discover(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_attest_entry_t      entry, *m;
    ngx_http_attest_loc_conf_t  *alcf;

    if (ctx->disc_timer.timer_set) {
        return NGX_AGAIN;
    }

    if (ctx->fetching) {
        if (ctx->fetch_kind == NGX_HTTP_ATTEST_FETCH_REFRESH) {
            /* its end wakes nobody: look again after it */
            ngx_http_attest_discover_timer(r, ctx);
        }

        return NGX_AGAIN;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    if (alcf->discover == 0 || ctx->zr.key.len == 0) {
        return NGX_DECLINED;
    }

    rc = ngx_http_attest_zone_discover(alcf->shm_zone, &ctx->zr, ctx->claimed,
                                       &entry, r->connection->log);

    switch (rc) {

    case NGX_HTTP_ATTEST_ZONE_FOUND:
        m = ngx_palloc(r->pool, (ctx->zr.nmachines + 1)
                                * sizeof(ngx_http_attest_entry_t));
        if (m == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(m, ctx->zr.machines,
                   ctx->zr.nmachines * sizeof(ngx_http_attest_entry_t));
        m[ctx->zr.nmachines++] = entry;
        ctx->zr.machines = m;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "attest: discovery found the signer of key \"%V\" "
                       "after %ui fetches", &ctx->key, ctx->zr.discovered);

        return NGX_OK;

    case NGX_HTTP_ATTEST_ZONE_UNATTESTED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "attest: discovery did not find the signer of key "
                      "\"%V\" (%ui fetches)", &ctx->key,
                      ctx->zr.discovered);
        return NGX_DECLINED;

    case NGX_HTTP_ATTEST_ZONE_WAIT:
        ngx_http_attest_discover_timer(r, ctx);
        return NGX_AGAIN;

    default: /* NGX_HTTP_ATTEST_ZONE_FETCH */
        if (ngx_http_attest_fetch_start(r, alcf, ctx,
                                        NGX_HTTP_ATTEST_FETCH_DISCOVER)
            != NGX_AGAIN)
        {
            ngx_http_attest_zone_release(alcf->shm_zone, &ctx->zr);
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }
}


static void
ngx_http_attest_discover_timer(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    if (ctx->disc_timer.handler == NULL) {
        ctx->disc_timer.handler = ngx_http_attest_discover_wake;
        ctx->disc_timer.data = r;
        ctx->disc_timer.log = r->connection->log;
    }

    ngx_add_timer(&ctx->disc_timer, NGX_HTTP_ATTEST_POLL);
}


/* look again: the held response's writer runs the filters once more */
static void
ngx_http_attest_discover_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    if (c->error) {
        /* the request is being terminated: that path ends it */
        return;
    }

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "attest: discovery looks again");

    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
}


/* a response of a machine of the set verified: the set's LRU */
void
ngx_http_attest_seen(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    if (ctx->shm_zone == NULL || ctx->zr.key.len == 0
        || ngx_http_attest_now() - ctx->entry.seen_at < 1000)
    {
        return;
    }

    ctx->entry.seen_at = ngx_http_attest_now();

    ngx_http_attest_zone_touch(ctx->shm_zone, &ctx->zr,
                               ctx->entry.result.signing_address);
}
