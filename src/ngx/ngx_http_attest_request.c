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


/* how much of a temp-file body is read at a time */
#define NGX_HTTP_ATTEST_READ_CHUNK  (64 * 1024)


static void ngx_http_attest_request_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_attest_request_hash(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_request_feed(ngx_http_request_t *r,
    attest_reqhash_t *rh);
static ngx_int_t ngx_http_attest_request_model(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, attest_reqhash_t *rh);


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

    rh = attest_reqhash_new(max);
    if (rh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_attest_request_feed(r, rh);
    if (rc != NGX_OK) {
        attest_reqhash_free(rh);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err = attest_reqhash_final(rh, ctx->request_hash);

    if (err == ATTEST_REQ_NOMEM) {
        attest_reqhash_free(rh);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (err != ATTEST_REQ_OK) {
        /* forwarded all the same: the agent answers it, most likely 4xx */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "attest: request body cannot be bound: %s: %s",
                      attest_reqhash_errname(err),
                      attest_reqhash_error(rh));

        attest_reqhash_free(rh);
        return NGX_OK;
    }

    ctx->request_bound = 1;

    rc = ngx_http_attest_request_model(r, ctx, rh);

    attest_reqhash_free(rh);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: request bound, model \"%V\"",
                   &ctx->request_model);

    return NGX_OK;
}


/* every buffer of the read body, temp-file parts in chunks */
static ngx_int_t
ngx_http_attest_request_feed(ngx_http_request_t *r, attest_reqhash_t *rh)
{
    off_t         pos;
    size_t        n;
    ssize_t       got;
    u_char       *chunk;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    chunk = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            if (attest_reqhash_update(rh, b->pos, b->last - b->pos)
                == ATTEST_REQ_NOMEM)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (!b->in_file) {
            continue;
        }

        if (chunk == NULL) {
            chunk = ngx_palloc(r->pool, NGX_HTTP_ATTEST_READ_CHUNK);
            if (chunk == NULL) {
                return NGX_ERROR;
            }
        }

        for (pos = b->file_pos; pos < b->file_last; pos += got) {
            n = (size_t) ngx_min(b->file_last - pos,
                                 NGX_HTTP_ATTEST_READ_CHUNK);

            got = ngx_read_file(b->file, chunk, n, pos);

            if (got != (ssize_t) n) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "attest: short read of the request body "
                              "in \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            if (attest_reqhash_update(rh, chunk, n) == ATTEST_REQ_NOMEM) {
                return NGX_ERROR;
            }
        }
    }

    if (chunk) {
        ngx_pfree(r->pool, chunk);
    }

    return NGX_OK;
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
