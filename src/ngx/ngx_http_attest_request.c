/*
 * Request binding (attest_bind_request): the signed text is
 * request_hash:response_hash, and the request half names the request the
 * machine answered.  Before the attestation fetch the whole client body
 * is read (in memory or in a temp file, whatever proxy_request_buffering
 * says: the proxy finds it read and sends it as is), canonicalized the
 * way io.net's agent does (attest_reqhash in the core) and hashed; each
 * signed answer's request half must then equal that hash.  A rewritten
 * prompt or an answer replayed from another request fails with
 * request_mismatch; a signed answer to a body the canonicalizer refuses
 * fails with request_invalid (the body is forwarded all the same: the
 * agent most likely refuses it too, and a 4xx passes unverified).
 */

#include "ngx_http_attest_module.h"

#include "attest_codec.h"
#include "attest_reqhash.h"
#include "attest_sig.h"


/* how much of a temp-file body is read at a time (straight in place) */
#define NGX_HTTP_ATTEST_READ_CHUNK  (1024 * 1024)

/*
 * a worker keeps its canonicalizer's buffers (the body, the arena) for
 * the next request while they take at most this: no allocation, and no
 * fresh pages to fault in, per request
 */
#define NGX_HTTP_ATTEST_REQHASH_KEEP  (4 * 1024 * 1024)


static void ngx_http_attest_request_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_attest_request_hash(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_request_feed(ngx_http_request_t *r,
    attest_reqhash_t *rh);
static ngx_int_t ngx_http_attest_request_model(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, attest_reqhash_t *rh);


/* this worker's canonicalizer, one request at a time */
static attest_reqhash_t  *ngx_http_attest_reqhash;


/*
 * The precontent handler calls this first.  NGX_OK: the body is read and
 * hashed (or binding is off); NGX_DONE: reading, the phases run again when
 * it is in; otherwise a status to finalize with.
 */
ngx_int_t
ngx_http_attest_request_read(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->body_done) {
        return ctx->body_rc;
    }

    if (ctx->body_reading) {
        return NGX_DONE;
    }

    if (!alcf->bind_request) {
        ctx->body_done = 1;
        ctx->body_rc = NGX_OK;
        return NGX_OK;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: reading the request body to bind it");

    ctx->body_reading = 1;

    /*
     * as the mirror module does: the post handler may run before this
     * returns (the body was already in), and runs the phases again
     */
    rc = ngx_http_read_client_request_body(r,
                                       ngx_http_attest_request_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_attest_request_body_handler(ngx_http_request_t *r)
{
    ngx_http_attest_ctx_t  *ctx;

    ctx = ngx_http_attest_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->body_reading = 0;
    ctx->body_done = 1;
    ctx->bind = 1;

    ctx->body_rc = ngx_http_attest_request_hash(r, ctx);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* the body as the proxy will send it, canonicalized and hashed */
static ngx_int_t
ngx_http_attest_request_hash(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    size_t                     max;
    ngx_int_t                  rc;
    attest_reqhash_t          *rh;
    attest_req_err_t           err;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the body cannot be larger anyway; 0: nginx's "unlimited" */
    max = clcf->client_max_body_size ? (size_t) clcf->client_max_body_size
                                     : (size_t) -1;

    rh = ngx_http_attest_reqhash;

    if (rh == NULL) {
        rh = attest_reqhash_new(max);
        if (rh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_attest_reqhash = rh;

    } else {
        attest_reqhash_reset(rh, max, NGX_HTTP_ATTEST_REQHASH_KEEP);
    }

    rc = ngx_http_attest_request_feed(r, rh);

    err = rc == NGX_OK ? attest_reqhash_final(rh, ctx->request_hash)
                       : ATTEST_REQ_NOMEM;

    if (err == ATTEST_REQ_NOMEM) {
        attest_reqhash_reset(rh, 0, 0);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (err != ATTEST_REQ_OK) {
        /* forwarded all the same: the agent answers it, most likely 4xx */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "attest: request body cannot be bound: %s: %s",
                      attest_reqhash_errname(err),
                      attest_reqhash_error(rh));

        attest_reqhash_reset(rh, 0, NGX_HTTP_ATTEST_REQHASH_KEEP);
        return NGX_OK;
    }

    ctx->request_bound = 1;

    rc = ngx_http_attest_request_model(r, ctx, rh);

    /* the body is not kept past its request; big buffers are freed */
    attest_reqhash_reset(rh, 0, NGX_HTTP_ATTEST_REQHASH_KEEP);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: request bound, model \"%V\"",
                   &ctx->request_model);

    return NGX_OK;
}


/*
 * every buffer of the read body, copied (in memory) or read (temp-file
 * parts, in large chunks) straight into the canonicalizer's buffer
 */
static ngx_int_t
ngx_http_attest_request_feed(ngx_http_request_t *r, attest_reqhash_t *rh)
{
    off_t         pos;
    size_t        n, total;
    ssize_t       got;
    u_char       *dst;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    total = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            total += b->last - b->pos;

        } else if (b->in_file) {
            total += (size_t) (b->file_last - b->file_pos);
        }
    }

    dst = attest_reqhash_space(rh, total);

    if (dst == NULL) {
        /* too large: final says so; out of memory: an error */
        return attest_reqhash_commit(rh, 0) == ATTEST_REQ_NOMEM
               ? NGX_ERROR : NGX_OK;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            dst = ngx_cpymem(dst, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file) {
            continue;
        }

        for (pos = b->file_pos; pos < b->file_last; pos += got) {
            n = (size_t) ngx_min(b->file_last - pos,
                                 NGX_HTTP_ATTEST_READ_CHUNK);

            got = ngx_read_file(b->file, dst, n, pos);

            if (got != (ssize_t) n) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "attest: short read of the request body "
                              "in \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            dst += n;
        }
    }

    return attest_reqhash_commit(rh, total) == ATTEST_REQ_NOMEM
           ? NGX_ERROR : NGX_OK;
}


/* a worker's exit: the canonicalizer's buffers go with it */
void
ngx_http_attest_request_exit(void)
{
    attest_reqhash_free(ngx_http_attest_reqhash);
    ngx_http_attest_reqhash = NULL;
}


/* $attest_request_model: the "model" field, its escapes decoded */
static ngx_int_t
ngx_http_attest_request_model(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, attest_reqhash_t *rh)
{
    size_t       len, n;
    const char  *model;

    model = attest_reqhash_model(rh, &len);
    if (model == NULL) {
        return NGX_OK;
    }

    ctx->request_model.data = ngx_pnalloc(r->pool, len + 1);
    if (ctx->request_model.data == NULL) {
        return NGX_ERROR;
    }

    n = attest_json_unescape(model, len, ctx->request_model.data);

    if (n == (size_t) -1) {
        /* cannot happen: the canonical form is json.dumps output */
        ngx_str_null(&ctx->request_model);
        return NGX_OK;
    }

    ctx->request_model.len = n;

    return NGX_OK;
}


/*
 * The request half of a validly signed text against the body's hash:
 * ATTEST_OK when it matches or binding is off for this request.
 */
attest_reason_t
ngx_http_attest_request_check(ngx_http_attest_ctx_t *ctx,
    const attest_text_t *text, attest_err_t *err)
{
    if (!ctx->bind) {
        return ATTEST_OK;
    }

    if (!ctx->request_bound) {
        return attest_fail(err, ATTEST_REQUEST_INVALID,
                           "signed answer to a request body that cannot "
                           "be canonicalized");
    }

    return attest_sig_check_request(text, ctx->request_hash, err);
}


/* the same for a stream, whose text is in its signature event */
attest_reason_t
ngx_http_attest_request_check_sse(ngx_http_attest_ctx_t *ctx,
    attest_err_t *err)
{
    void                 *tree;
    size_t                len;
    const uint8_t        *json;
    attest_text_t         text;
    attest_reason_t       rc;
    attest_sig_fields_t   fields;

    if (!ctx->bind) {
        return ATTEST_OK;
    }

    /* called once attest_sse_finish() verified this very event */
    json = attest_sse_signature(ctx->sse, &len);
    if (json == NULL) {
        return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                           "no signature event");
    }

    rc = attest_sig_json_parse(json, len, &fields, &tree, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    rc = attest_text_parse(fields.text.data, fields.text.len, &text, err);

    attest_sig_json_free(tree);

    if (rc != ATTEST_OK) {
        return rc;
    }

    return ngx_http_attest_request_check(ctx, &text, err);
}
