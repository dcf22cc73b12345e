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
 * The core's accumulator keeps the protocol's state, judges each line as
 * an SSE client would read it, and gives the verdict (attest_sse_finish);
 * here each line is only passed, dropped or answered, and the chain to
 * send is handed back to the filter.  A line the core finds a client
 * would read otherwise (a bare CR, a BOM, a field outside the protocol,
 * data outside the hash) fails the stream in enforce mode and marks it in
 * report mode; an upstream comment in the form of our verdict is dropped.
 *
 * With attest_stream_hold, the output is held (up to attest_body_max)
 * until the verdict, then sent at once; an enforced failure drops it and
 * sends the error event alone.
 *
 * Memory per stream: the core's partial line (up to the smaller of
 * attest_sse_line_max and attest_body_max) and signature JSON (8 KB), the
 * output buffers in flight (4 KB each), and with attest_stream_hold the
 * held output (up to attest_body_max).
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
static ngx_int_t ngx_http_attest_sse_error(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o,
    attest_reason_t reason);
static ngx_uint_t ngx_http_attest_sse_holding(ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_sse_hold(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o);
static ngx_int_t ngx_http_attest_sse_cut(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_http_attest_sse_out_t *o);
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
static ngx_int_t ngx_http_attest_sse_keep(ngx_http_request_t *r,
    ngx_str_t *s, attest_sse_line_t *line);
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
    size_t                       max;
    ngx_table_elt_t             *h;
    ngx_http_attest_loc_conf_t  *alcf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: stream header");

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    /* one line is bounded by both; the smaller one names the failure */
    ctx->sse_line_max = (alcf->sse_line_max <= alcf->body_max);
    max = ctx->sse_line_max ? alcf->sse_line_max : alcf->body_max;

    /* the context's pool cleanup frees it */
    ctx->sse = attest_sse_new(max);
    if (ctx->sse == NULL) {
        return NGX_ERROR;
    }

    ctx->sse_hold = alcf->stream_hold;

    /* looked up once here rather than for every line */
    ctx->sse_strip = (alcf->sse_signature == NGX_HTTP_ATTEST_SSE_STRIP);

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

    if (ctx->sse_hold && !ctx->sse_verdict_sent) {
        ctx->held_size += len;
    }

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
    u_char  *p, line[256];
    char     addr[43];

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

    if (ctx->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
        p = ngx_snprintf(line, sizeof(line),
                         ": attest status=failed reason=%s\n\n",
                         attest_reason_name(reason));

        return ngx_http_attest_sse_emit(r, ctx, o, line, p - line);
    }

    if (ctx->sse_hold) {
        /* nothing held goes out: the client sees the error alone */
        o->out = NULL;
        o->last = &o->out;
        o->buf = NULL;
    }

    /* enforce: an error event the OpenAI SDKs raise, and nothing more */
    return ngx_http_attest_sse_error(r, ctx, o, reason);
}


/* the error event the OpenAI SDKs raise; the stream ends after it */
static ngx_int_t
ngx_http_attest_sse_error(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o, attest_reason_t reason)
{
    ngx_buf_t  *b;

    if (ngx_http_attest_error_body(r, reason, &b) != NGX_OK) {
        return NGX_ERROR;
    }

    /* an event the client has begun must not take the error's data */
    if (ctx->sse_open
        && ngx_http_attest_sse_emit(r, ctx, o, (u_char *) "\n", 1) != NGX_OK)
    {
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
    attest_err_t                 err;
    attest_reason_t              reason;
    attest_signer_t              signer;
    ngx_http_attest_loc_conf_t  *alcf;

    if (ctx->verdict == NGX_HTTP_ATTEST_VERDICT_FAILED) {
        /* report mode already saw a failure mid-stream: it stands */
        return ngx_http_attest_sse_verdict(r, ctx, o, ctx->verdict_reason,
                                           "failed earlier in the stream");
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    ngx_http_attest_signer(ctx, &signer);

    attest_err_clear(&err);

    reason = attest_sse_finish(ctx->sse, &signer, &err);

    if (reason == ATTEST_SIGNER_NOT_ATTESTED && alcf->discover
        && !ctx->disc_done)
    {
        /* the end waits: discovery looks for the signer */
        ctx->discovering = 1;
        ctx->sse_held = 1;
        return NGX_OK;
    }

    if (reason == ATTEST_OK) {
        /* signed by the attested machine, but for this request? */
        reason = ngx_http_attest_request_check_sse(ctx, &err);
    }

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

    if (ngx_http_attest_sse_holding(ctx) && ctx->held) {
        o.out = ctx->held;
        o.last = ctx->held_last;
        o.buf = ctx->held_buf;
    }

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

    if (!last && flush && ngx_http_attest_sse_cut(r, ctx, &o) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_attest_sse_holding(ctx)
        && ngx_http_attest_sse_hold(r, ctx, &o) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_attest_sse_holding(ctx) && !last) {
        /* held: only a flush goes on, the upstream's head needs it */
        ctx->held = o.out;
        ctx->held_last = o.last;
        ctx->held_buf = o.buf;

        o.out = NULL;
        o.last = &o.out;
        o.buf = NULL;
    }

    if (ngx_http_attest_sse_close(r, ctx, &o, last, flush) != NGX_OK) {
        return NGX_ERROR;
    }

    *out = o.out;

    return NGX_OK;
}


/* attest_stream_hold on, and no verdict yet */
static ngx_uint_t
ngx_http_attest_sse_holding(ngx_http_attest_ctx_t *ctx)
{
    return ctx->sse_hold && !ctx->sse_verdict_sent
           && ctx->state == NGX_HTTP_ATTEST_STATE_STREAM;
}


/* the held output over attest_body_max: fail, or (report) stop holding */
static ngx_int_t
ngx_http_attest_sse_hold(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o)
{
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    if (ctx->held_size <= alcf->body_max) {
        return NGX_OK;
    }

    if (ctx->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
        /* marked, and what was held goes out now */
        if (ctx->verdict != NGX_HTTP_ATTEST_VERDICT_FAILED) {
            ngx_http_attest_set_verdict(r, ctx,
                                        NGX_HTTP_ATTEST_VERDICT_FAILED,
                                        ATTEST_BODY_TOO_LARGE);
        }

        ctx->sse_hold = 0;
        return NGX_OK;
    }

    return ngx_http_attest_sse_verdict(r, ctx, o, ATTEST_BODY_TOO_LARGE,
                                       "held stream over attest_body_max");
}


/*
 * The upstream went away before the stream's end (cut, timed out): nginx
 * flushes what it has before it closes the client's connection, so the
 * client still learns why, as an error event, where the connection
 * allows.  The flush that tells is the one after the upstream connection
 * was closed.
 */
static ngx_int_t
ngx_http_attest_sse_cut(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o)
{
    u_char  *p, line[128];

    if (r->upstream == NULL || r->upstream->peer.connection != NULL
        || r->connection->error || ctx->sse_verdict_sent
        || ctx->state != NGX_HTTP_ATTEST_STATE_STREAM)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "attest: stream for key \"%V\" failed: %s: the upstream "
                  "closed before the end of the stream", &ctx->key,
                  attest_reason_name(ATTEST_STREAM_TRUNCATED));

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_FAILED,
                                ATTEST_STREAM_TRUNCATED);

    ctx->sse_verdict_sent = 1;
    ctx->sse_closed = 1;     /* no last buffer: the response was cut */

    if (ctx->sse_hold) {
        o->out = NULL;
        o->last = &o->out;
        o->buf = NULL;
    }

    if (ctx->mode == NGX_HTTP_ATTEST_MODE_REPORT) {
        p = ngx_snprintf(line, sizeof(line),
                         ": attest status=failed reason=%s\n\n",
                         attest_reason_name(ATTEST_STREAM_TRUNCATED));

        if (ngx_http_attest_sse_emit(r, ctx, o, line, p - line) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_attest_sse_error(r, ctx, o, ATTEST_STREAM_TRUNCATED);
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
    attest_reason_t  reason;

    if (attest_sse_done(ctx->sse)) {
        /* after [DONE]: dropped like any other line */
        return NGX_OK;
    }

    if (!ctx->sse_verdict_sent) {
        reason = ctx->sse_line_max ? ATTEST_STREAM_LINE_TOO_LONG
                                   : ATTEST_BODY_TOO_LARGE;

        if (ngx_http_attest_sse_verdict(r, ctx, o, reason,
                                        ctx->sse_line_max
                                        ? "stream line longer than "
                                          "attest_sse_line_max"
                                        : "stream line longer than "
                                          "attest_body_max")
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
    ngx_uint_t  drop;

    if (line->spoof) {
        /* the only verdict comment a client sees is ours */
        return NGX_OK;
    }

    if (ctx->sse_held) {
        /* after a held [DONE]: only the blank line ending it, held too */
        if (line->type == ATTEST_SSE_BLANK && !ctx->sse_tail_held) {
            ctx->sse_tail_held = 1;
            return ngx_http_attest_sse_keep(r, &ctx->sse_tail_line, line);
        }

        return NGX_OK;
    }

    if (ctx->sse_verdict_sent && attest_sse_done(ctx->sse)) {
        /* after [DONE] and its verdict only the blank line ending it goes */
        if (line->type == ATTEST_SSE_BLANK && !ctx->sse_tail_sent) {
            ctx->sse_tail_sent = 1;
            return ngx_http_attest_sse_emit(r, ctx, o, line->data,
                                            line->len);
        }

        return NGX_OK;
    }

    if (line->reason != ATTEST_OK) {
        /* a client would read this line otherwise than the agent signed */
        if (ctx->mode != NGX_HTTP_ATTEST_MODE_REPORT) {
            return ngx_http_attest_sse_verdict(r, ctx, o, line->reason,
                                               "a line an SSE client reads "
                                               "outside the signed stream");
        }

        if (ctx->verdict != NGX_HTTP_ATTEST_VERDICT_FAILED) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "attest: stream for key \"%V\" failed: %s: a "
                          "line an SSE client reads outside the signed "
                          "stream", &ctx->key,
                          attest_reason_name(line->reason));

            ngx_http_attest_set_verdict(r, ctx,
                                        NGX_HTTP_ATTEST_VERDICT_FAILED,
                                        line->reason);
        }
    }

    drop = line->in_sig && ctx->sse_strip;

    if (line->type == ATTEST_SSE_DONE) {
        if (ngx_http_attest_sse_end(r, ctx, o) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->sse_held) {
            return ngx_http_attest_sse_keep(r, &ctx->sse_done_line, line);
        }

        /* an enforced failure ends the stream without [DONE] */
        drop = (ctx->state != NGX_HTTP_ATTEST_STATE_STREAM);
    }

    if (drop) {
        return NGX_OK;
    }

    if (line->type != ATTEST_SSE_COMMENT) {
        ctx->sse_open = (line->type != ATTEST_SSE_BLANK);
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

    if (last && ctx->sse_held) {
        /* the end waits for discovery: see ngx_http_attest_sse_resume() */
        ctx->sse_last = 1;
        last = 0;
        flush = 1;
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


/* a copy of a held line: the pool outlives the upstream's buffers */
static ngx_int_t
ngx_http_attest_sse_keep(ngx_http_request_t *r, ngx_str_t *s,
    attest_sse_line_t *line)
{
    s->data = ngx_pnalloc(r->pool, line->len);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->data, line->data, line->len);
    s->len = line->len;

    return NGX_OK;
}


/*
 * Discovery is over for a stream whose end was held: its verdict now
 * (against the set discovery left), then [DONE] and its blank line when
 * it stands, and the end of the response, as the chain *out.
 */
ngx_int_t
ngx_http_attest_sse_resume(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t **out)
{
    ngx_http_attest_sse_out_t  o;

    o.out = NULL;
    o.last = &o.out;
    o.buf = NULL;

    ctx->sse_held = 0;

    if (ngx_http_attest_sse_end(r, ctx, &o) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->state == NGX_HTTP_ATTEST_STATE_STREAM) {
        if (ctx->sse_done_line.len
            && ngx_http_attest_sse_emit(r, ctx, &o, ctx->sse_done_line.data,
                                        ctx->sse_done_line.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->sse_tail_held) {
            ctx->sse_tail_sent = 1;

            if (ngx_http_attest_sse_emit(r, ctx, &o, ctx->sse_tail_line.data,
                                         ctx->sse_tail_line.len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ngx_http_attest_sse_close(r, ctx, &o, 1, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    *out = o.out;

    return NGX_OK;
}
