/*
 * Verified streaming: a signed SSE completion is checked on the fly.
 *
 * Every event goes to the client as soon as its last line is complete;
 * only the current partial line is held (inside the core's accumulator),
 * and output buffers are recycled, so memory stays constant whatever the
 * stream's length.  The verdict is decided at "data: [DONE]" (or at the
 * end of the stream) from the signature event and the running hash: a
 * comment line before [DONE] when verified or in report mode, an
 * OpenAI-shaped error event and no [DONE] when enforcing a failure.
 *
 * The core's accumulator keeps the protocol's state and gives the verdict
 * (attest_sse_finish); here each line is only passed, dropped or
 * answered, and the chain to send is handed back to the filter.
 */

#include "ngx_http_attest_module.h"

#include "attest_eth.h"


#define NGX_HTTP_ATTEST_SSE_BUF  4096


typedef struct {
    ngx_chain_t   *out;
    ngx_chain_t  **last;
    ngx_buf_t     *buf;
} ngx_http_attest_sse_out_t;


static ngx_int_t ngx_http_attest_sse_newbuf(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o);
static ngx_int_t ngx_http_attest_sse_emit(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    const u_char *data, size_t len);
static ngx_int_t ngx_http_attest_sse_verdict(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    attest_reason_t reason, const char *detail);
static ngx_int_t ngx_http_attest_sse_end(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o);
static ngx_int_t ngx_http_attest_sse_buf(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o, ngx_buf_t *b);
static ngx_int_t ngx_http_attest_sse_overlong(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    attest_sse_line_t *line, u_char *start, ngx_buf_t *b);
static ngx_int_t ngx_http_attest_sse_line(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    attest_sse_line_t *line);
static ngx_int_t ngx_http_attest_sse_close(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    ngx_uint_t last, ngx_uint_t flush);


static ngx_int_t
ngx_http_attest_client_wants_trailers(ngx_http_request_t *r)
{
    ngx_table_elt_t  *te;

    if (r->http_version == NGX_HTTP_VERSION_20) {
        return 1;
    }

    te = r->headers_in.te;

    if (te == NULL || r->http_version < NGX_HTTP_VERSION_11) {
        return 0;
    }

    return ngx_strlcasestrn(te->value.data, te->value.data + te->value.len,
                            (u_char *) "trailers", 8 - 1)
           != NULL;
}


/* a signed stream begins: the filter sends the header this prepares */
ngx_int_t
ngx_http_attest_sse_header(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_table_elt_t             *h;
    ngx_http_attest_loc_conf_t  *alcf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: stream header");

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    ctx->sse = attest_sse_new(alcf->body_max);
    if (ctx->sse == NULL || ngx_http_attest_add_cleanup(r, ctx) != NGX_OK) {
        if (ctx->sse) {
            attest_sse_free(ctx->sse);
            ctx->sse = NULL;
        }

        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_ATTEST_STATE_STREAM;
    ctx->header_sent = 1;

    /* we strip and add lines: the upstream's length no longer holds */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    r->allow_ranges = 0;
    r->filter_need_in_memory = 1;

    if (alcf->status_header.len && ngx_http_attest_client_wants_trailers(r)) {
        ctx->sse_trailer = 1;
        r->expect_trailers = 1;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Trailer");
        h->value = alcf->status_header;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    return NGX_OK;
}


/* a recycled (or new) output buffer, appended to o */
static ngx_int_t
ngx_http_attest_sse_newbuf(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o)
{
    u_char       *start, *end;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    start = b->start;
    end = b->end;

    if (start == NULL) {
        start = ngx_palloc(r->pool, NGX_HTTP_ATTEST_SSE_BUF);
        if (start == NULL) {
            return NGX_ERROR;
        }

        end = start + NGX_HTTP_ATTEST_SSE_BUF;
    }

    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = start;
    b->end = end;
    b->pos = start;
    b->last = start;
    b->temporary = 1;
    b->tag = (ngx_buf_tag_t) &ngx_http_attest_module;

    *o->last = cl;
    o->last = &cl->next;
    o->buf = b;

    return NGX_OK;
}


/* copies bytes into recycled output buffers */
static ngx_int_t
ngx_http_attest_sse_emit(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o, const u_char *data, size_t len)
{
    size_t      n;
    ngx_buf_t  *b;

    while (len) {
        b = o->buf;

        if (b == NULL || b->last == b->end) {
            if (ngx_http_attest_sse_newbuf(r, ctx, o) != NGX_OK) {
                return NGX_ERROR;
            }

            b = o->buf;
        }

        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, data, n);
        data += n;
        len -= n;
    }

    return NGX_OK;
}


/* the final verdict of a stream; its text goes out through o */
static ngx_int_t
ngx_http_attest_sse_verdict(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o, attest_reason_t reason, const char *detail)
{
    u_char                      *p, line[256];
    char                         addr[43];
    ngx_buf_t                   *b;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    ctx->sse_verdict_sent = 1;

    if (reason == ATTEST_OK) {
        ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_VERIFIED,
                                    ATTEST_OK);

        attest_eth_format_address(ctx->entry.result.signing_address, addr);
        p = ngx_snprintf(line, sizeof(line),
                         ": attest status=verified signer=%s\n\n", addr);

        return ngx_http_attest_sse_emit(r, ctx, o, line, p - line);
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "attest: stream for key \"%V\" failed: %s: %s",
                  &ctx->key, attest_reason_name(reason), detail);

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_FAILED,
                                reason);

    if (alcf->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
        p = ngx_snprintf(line, sizeof(line),
                         ": attest status=failed reason=%s\n\n",
                         attest_reason_name(reason));

        return ngx_http_attest_sse_emit(r, ctx, o, line, p - line);
    }

    /* enforce: an error event the OpenAI SDKs raise, and nothing more */
    if (ngx_http_attest_error_body(r, reason, &b) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_attest_sse_emit(r, ctx, o, (u_char *) "event: error\ndata: ",
                                 sizeof("event: error\ndata: ") - 1)
        != NGX_OK
        || ngx_http_attest_sse_emit(r, ctx, o, b->pos, b->last - b->pos)
           != NGX_OK
        || ngx_http_attest_sse_emit(r, ctx, o, (u_char *) "\n\n", 2)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_ATTEST_STATE_DISCARD;

    return NGX_OK;
}


/* the end of the stream, at [DONE] or where the upstream stopped */
static ngx_int_t
ngx_http_attest_sse_end(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o)
{
    attest_err_t     err;
    attest_reason_t  reason;
    attest_signer_t  signer;

    if (ctx->verdict == NGX_HTTP_ATTEST_VERDICT_FAILED) {
        /* report mode already saw a failure mid-stream: it stands */
        return ngx_http_attest_sse_verdict(r, ctx, o, ctx->verdict_reason,
                                           "failed earlier in the stream");
    }

    signer.address = ctx->entry.result.signing_address;
    signer.image_digest = ctx->entry.result.has_image_digest
                          ? ctx->entry.result.image_digest : NULL;
    signer.image_digest_len = ctx->entry.result.image_digest_len;

    attest_err_clear(&err);

    reason = attest_sse_finish(ctx->sse, &signer, &err);

    return ngx_http_attest_sse_verdict(r, ctx, o, reason, err.detail);
}


/*
 * The upstream's buffers become the chain *out to send (NULL: nothing to
 * send yet); the filter sends it and recycles its buffers.
 */
ngx_int_t
ngx_http_attest_sse_body(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in, ngx_chain_t **out)
{
    ngx_uint_t                 last, flush;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_attest_sse_out_t  o;

    o.out = NULL;
    o.last = &o.out;
    o.buf = NULL;

    last = 0;
    flush = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        /* the write filter takes recycled (proxy_buffering) bufs as flushes */
        if (b->flush || b->recycled) {
            flush = 1;
        }

        if (ngx_http_attest_sse_buf(r, ctx, &o, b) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_attest_sse_close(r, ctx, &o, last, flush) != NGX_OK) {
        return NGX_ERROR;
    }

    *out = o.out;

    return NGX_OK;
}


/* the lines of one upstream buffer, each passed, dropped or answered */
static ngx_int_t
ngx_http_attest_sse_buf(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o, ngx_buf_t *b)
{
    size_t             n;
    u_char            *start;
    attest_sse_line_t  line;

    while (ngx_buf_in_memory(b) && b->pos < b->last) {

        if (ctx->state != NGX_HTTP_ATTEST_STATE_STREAM) {
            b->pos = b->last;
            break;
        }

        start = b->pos;
        n = attest_sse_feed(ctx->sse, b->pos, b->last - b->pos, &line);
        b->pos += n;

        if (line.type == ATTEST_SSE_NONE) {
            break;
        }

        if (line.type == ATTEST_SSE_ERROR) {
            /* the error is sticky: every later buffer comes here too */
            return ngx_http_attest_sse_overlong(r, ctx, o, &line, start, b);
        }

        if (ngx_http_attest_sse_line(r, ctx, o, &line) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a line longer than attest_body_max: the feed took the whole buffer */
static ngx_int_t
ngx_http_attest_sse_overlong(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    attest_sse_line_t *line, u_char *start, ngx_buf_t *b)
{
    attest_err_t  err;

    if (attest_sse_done(ctx->sse)) {
        /* after [DONE]: dropped like any other line */
        return NGX_OK;
    }

    if (!ctx->sse_verdict_sent) {
        attest_err_clear(&err);
        attest_fail(&err, ATTEST_BODY_TOO_LARGE,
                    "stream line longer than attest_body_max");

        if (ngx_http_attest_sse_verdict(r, ctx, o, ATTEST_BODY_TOO_LARGE,
                                        err.detail)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->state != NGX_HTTP_ATTEST_STATE_STREAM) {
            /* enforce: the error event was the last word */
            return NGX_OK;
        }
    }

    /*
     * report mode: the rest goes on verbatim and unverified, still through
     * here so that the trailer follows; forward the head of the line held
     * from earlier buffers, then this buffer from where the line's bytes
     * in it begin
     */
    if ((line->len
         && ngx_http_attest_sse_emit(r, ctx, o, line->data, line->len)
            != NGX_OK)
        || ngx_http_attest_sse_emit(r, ctx, o, start, b->last - start)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one complete line: strip the signature per policy, decide at [DONE] */
static ngx_int_t
ngx_http_attest_sse_line(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o, attest_sse_line_t *line)
{
    ngx_uint_t                   drop;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    if (attest_sse_done(ctx->sse) && ctx->sse_verdict_sent) {
        /* after [DONE] and its verdict only the blank line ending it goes */
        if (line->type == ATTEST_SSE_BLANK && !ctx->sse_tail_sent) {
            ctx->sse_tail_sent = 1;
            return ngx_http_attest_sse_emit(r, ctx, o, line->data,
                                            line->len);
        }

        return NGX_OK;
    }

    drop = line->in_sig && alcf->sse_signature == NGX_HTTP_ATTEST_SSE_STRIP;

    switch (line->type) {

    case ATTEST_SSE_DONE:
        if (ngx_http_attest_sse_end(r, ctx, o) != NGX_OK) {
            return NGX_ERROR;
        }

        /* an enforced failure ends the stream without [DONE] */
        drop = (ctx->state != NGX_HTTP_ATTEST_STATE_STREAM);
        break;

    case ATTEST_SSE_OTHER:
        /*
         * "data:x" or a bare "data" is data to an SSE client but outside
         * the agent's hash: never let it through unsigned
         */
        if (line->in_sig || line->len < 4
            || ngx_strncmp(line->data, "data", 4) != 0)
        {
            break;
        }

        if (alcf->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
            ngx_http_attest_set_verdict(r, ctx,
                                        NGX_HTTP_ATTEST_VERDICT_FAILED,
                                        ATTEST_BODY_MISMATCH);
            break;
        }

        return ngx_http_attest_sse_verdict(r, ctx, o, ATTEST_BODY_MISMATCH,
                                           "data line outside the signed "
                                           "hash");

    default:
        break;
    }

    if (drop) {
        return NGX_OK;
    }

    return ngx_http_attest_sse_emit(r, ctx, o, line->data, line->len);
}


/* the end of this call's output: the verdict when the stream is over */
static ngx_int_t
ngx_http_attest_sse_close(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o, ngx_uint_t last, ngx_uint_t flush)
{
    if (last && !attest_sse_done(ctx->sse) && !ctx->sse_verdict_sent
        && ctx->state == NGX_HTTP_ATTEST_STATE_STREAM)
    {
        if (ngx_http_attest_sse_end(r, ctx, o) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ctx->state == NGX_HTTP_ATTEST_STATE_DISCARD && !ctx->sse_closed) {
        /* an enforced failure: end the response now */
        last = 1;
    }

    if (last) {
        ctx->sse_closed = 1;
        ctx->state = NGX_HTTP_ATTEST_STATE_DISCARD;

        if (ctx->sse_trailer
            && ngx_http_attest_add_trailer(r, ctx) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /*
     * a flush must go on even with no complete line to send: the upstream
     * module flushes the response head this way before any body arrives
     */
    if (o->out == NULL && !last && !flush) {
        return NGX_OK;
    }

    if (o->buf == NULL) {
        /* nothing to say but the end */
        if (ngx_http_attest_sse_newbuf(r, ctx, o) != NGX_OK) {
            return NGX_ERROR;
        }

        /* an empty special buffer: in memory it would be a zero size buf */
        o->buf->temporary = 0;
    }

    if (last) {
        o->buf->last_buf = 1;

    } else {
        o->buf->flush = 1;
    }

    return NGX_OK;
}
