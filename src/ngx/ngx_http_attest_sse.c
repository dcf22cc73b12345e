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
 */

#include "ngx_http_attest_module.h"

#include "attest_eth.h"
#include "attest_sig.h"


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


ngx_int_t
ngx_http_attest_sse_header(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_table_elt_t             *h;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    ctx->sse = attest_sse_new(alcf->body_max);
    if (ctx->sse == NULL || ngx_http_attest_add_cleanup(r, ctx) != NGX_OK) {
        if (ctx->sse) {
            attest_sse_free(ctx->sse);
            ctx->sse = NULL;
        }

        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_ATTEST_STREAM;
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

    return ngx_http_attest_next_header_filter(r);
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

    ctx->sse_ended = 1;

    if (reason == ATTEST_OK) {
        ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERIFIED,
                                    ATTEST_OK);

        attest_eth_format_address(ctx->entry.result.signing_address, addr);
        p = ngx_snprintf(line, sizeof(line),
                         ": attest status=verified signer=%s\n\n", addr);

        return ngx_http_attest_sse_emit(r, ctx, o, line, p - line);
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "attest: stream for key \"%V\" failed: %s: %s",
                  &ctx->key, attest_reason_name(reason), detail);

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_FAILED, reason);

    if (alcf->mode == NGX_HTTP_ATTEST_REPORT) {
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

    ctx->state = NGX_HTTP_ATTEST_DISCARD;

    return NGX_OK;
}


/* the verdict from the signature event and the hash of all data so far */
static attest_reason_t
ngx_http_attest_sse_check(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    attest_err_t *err)
{
    void                 *tree;
    size_t                len;
    uint8_t               digest[32];
    const uint8_t        *json;
    attest_reason_t       rc;
    attest_signer_t       signer;
    attest_sig_fields_t   fields;

    json = attest_sse_signature(ctx->sse, &len);

    if (json == NULL) {
        if (ctx->sse_sig_seen) {
            return attest_fail(err, ATTEST_SIGNATURE_MALFORMED,
                               "signature event repeated or over %d bytes",
                               ATTEST_SSE_SIG_MAX);
        }

        return attest_fail(err, ATTEST_STREAM_UNSIGNED,
                           "no signature event in the stream");
    }

    rc = attest_sig_json_parse(json, len, &fields, &tree, err);
    if (rc != ATTEST_OK) {
        return rc;
    }

    signer.address = ctx->entry.result.signing_address;
    signer.image_digest = ctx->entry.result.has_image_digest
                          ? ctx->entry.result.image_digest : NULL;
    signer.image_digest_len = ctx->entry.result.image_digest_len;

    rc = attest_sig_verify(&fields, &signer, &ctx->text, err);

    attest_sig_json_free(tree);

    if (rc != ATTEST_OK) {
        return rc;
    }

    attest_sse_hash(ctx->sse, digest);

    return attest_sig_check_body(&ctx->text, digest, err);
}


static ngx_int_t
ngx_http_attest_sse_end(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_http_attest_sse_out_t *o)
{
    attest_err_t     err;
    attest_reason_t  reason;

    attest_err_clear(&err);

    if (ctx->verdict == NGX_HTTP_ATTEST_FAILED) {
        /* report mode already saw a failure mid-stream: it stands */
        return ngx_http_attest_sse_verdict(r, ctx, o, ctx->reason,
                                           "failed earlier in the stream");
    }

    reason = ngx_http_attest_sse_check(r, ctx, &err);

    if (reason == ATTEST_STREAM_UNSIGNED && !ctx->sse_done
        && attest_sse_signature(ctx->sse, NULL) == NULL
        && attest_sse_pending(ctx->sse))
    {
        /* ended inside a line: cut off, not merely unsigned */
        reason = attest_fail(&err, ATTEST_STREAM_TRUNCATED,
                             "stream ended inside a line");

    } else if (reason == ATTEST_OK && !ctx->sse_done) {
        reason = attest_fail(&err, ATTEST_STREAM_TRUNCATED,
                             "stream ended without [DONE]");
    }

    return ngx_http_attest_sse_verdict(r, ctx, o, reason, err.detail);
}


ngx_int_t
ngx_http_attest_sse_body(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in)
{
    size_t                       n;
    u_char                      *start;
    ngx_int_t                    rc;
    ngx_uint_t                   last, flush, drop;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    attest_err_t                 err;
    attest_sse_line_t            line;
    ngx_http_attest_sse_out_t    o;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

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

        while (ngx_buf_in_memory(b) && b->pos < b->last) {

            if (ctx->state != NGX_HTTP_ATTEST_STREAM) {
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

                if (ctx->sse_done) {
                    /* after [DONE]: dropped like any other line */
                    break;
                }

                if (!ctx->sse_ended) {
                    attest_err_clear(&err);
                    attest_fail(&err, ATTEST_BODY_TOO_LARGE,
                                "stream line longer than attest_body_max");

                    if (ngx_http_attest_sse_verdict(r, ctx, &o,
                                                    ATTEST_BODY_TOO_LARGE,
                                                    err.detail)
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }

                    if (ctx->state != NGX_HTTP_ATTEST_STREAM) {
                        /* enforce: the error event was the last word */
                        break;
                    }
                }

                /*
                 * report mode: the rest goes on verbatim and unverified,
                 * still through here so that the trailer follows; the
                 * feed took the whole buffer: forward the head of the
                 * line it held from earlier buffers, then this buffer
                 * from where the line's bytes in it begin
                 */
                if ((line.len
                     && ngx_http_attest_sse_emit(r, ctx, &o, line.data,
                                                 line.len)
                        != NGX_OK)
                    || ngx_http_attest_sse_emit(r, ctx, &o, start,
                                                b->last - start)
                       != NGX_OK)
                {
                    return NGX_ERROR;
                }

                break;
            }

            if (ctx->sse_done) {
                /* after [DONE] only the blank line ending it goes on */
                if (line.type == ATTEST_SSE_BLANK && !ctx->sse_ended) {
                    ctx->sse_ended = 1;
                    if (ngx_http_attest_sse_emit(r, ctx, &o, line.data,
                                                 line.len)
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }
                }

                continue;
            }

            drop = 0;

            switch (line.type) {

            case ATTEST_SSE_SIG_DATA:
                ctx->sse_sig_seen = 1;
                /* fall through */

            case ATTEST_SSE_SIG_EVENT:
                ctx->sse_in_sig = 1;
                drop = (alcf->sse_signature == NGX_HTTP_ATTEST_SSE_STRIP);
                break;

            case ATTEST_SSE_BLANK:
                if (ctx->sse_in_sig) {
                    ctx->sse_in_sig = 0;
                    drop = (alcf->sse_signature == NGX_HTTP_ATTEST_SSE_STRIP);
                }
                break;

            case ATTEST_SSE_DONE:
                ctx->sse_done = 1;

                if (ngx_http_attest_sse_end(r, ctx, &o) != NGX_OK) {
                    return NGX_ERROR;
                }

                ctx->sse_ended = 0;

                /* an enforced failure ends the stream without [DONE] */
                drop = (ctx->state != NGX_HTTP_ATTEST_STREAM);
                break;

            case ATTEST_SSE_OTHER:
                if (line.len >= 4 && ngx_strncmp(line.data, "data", 4) == 0
                    && !ctx->sse_in_sig)
                {
                    /*
                     * "data:x" or a bare "data" is data to an SSE client
                     * but outside the agent's hash: never let it through
                     * unsigned
                     */
                    if (alcf->mode == NGX_HTTP_ATTEST_REPORT) {
                        ngx_http_attest_set_verdict(r, ctx,
                                                    NGX_HTTP_ATTEST_FAILED,
                                                    ATTEST_BODY_MISMATCH);

                    } else {
                        if (ngx_http_attest_sse_verdict(r, ctx, &o,
                                                   ATTEST_BODY_MISMATCH,
                                                   "data line outside the "
                                                   "signed hash")
                            != NGX_OK)
                        {
                            return NGX_ERROR;
                        }

                        drop = 1;
                        break;
                    }
                }

                /* fall through */

            default:
                if (ctx->sse_in_sig
                    && alcf->sse_signature == NGX_HTTP_ATTEST_SSE_STRIP)
                {
                    drop = 1;
                }

                break;
            }

            if (!drop
                && ngx_http_attest_sse_emit(r, ctx, &o, line.data, line.len)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (last && !ctx->sse_done && !ctx->sse_ended
        && ctx->state == NGX_HTTP_ATTEST_STREAM)
    {
        if (ngx_http_attest_sse_end(r, ctx, &o) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ctx->state == NGX_HTTP_ATTEST_DISCARD && !ctx->sse_closed) {
        /* an enforced failure: end the response now */
        last = 1;
    }

    if (last) {
        ctx->sse_closed = 1;
        ctx->state = NGX_HTTP_ATTEST_DISCARD;

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
    if (o.out == NULL && !last && !flush) {
        return NGX_OK;
    }

    if (o.buf == NULL) {
        /* nothing to say but the end */
        if (ngx_http_attest_sse_newbuf(r, ctx, &o) != NGX_OK) {
            return NGX_ERROR;
        }

        /* an empty special buffer: in memory it would be a zero size buf */
        o.buf->temporary = 0;
    }

    if (last) {
        o.buf->last_buf = 1;

    } else {
        o.buf->flush = 1;
    }

    rc = ngx_http_attest_next_body_filter(r, o.out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &o.out,
                            (ngx_buf_tag_t) &ngx_http_attest_module);

    return rc;
}
