/*
 * The response filters: the only owner of the next-filter pointers.  They
 * guard the size of the fetch subrequest's response (fetch.c decides),
 * pass a stream's lines as the stream unit (sse.c) hands them back, and
 * verify signed non-streaming completions themselves:
 *
 * A 200 response's headers are held, its body buffered (up to
 * attest_body_max) and hashed as it arrives; only when the signature, the
 * signer and the body hash have all been checked do headers and body go
 * on.  Enforce mode replaces a failed response with a 502 whose JSON body
 * has the OpenAI error shape, so SDKs surface the reason; report mode
 * passes it unchanged with the verdict header.
 */

#include "ngx_http_attest_module.h"

#include "attest_sig.h"


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t ngx_http_attest_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_attest_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_attest_signed_header(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx,
    attest_sig_fields_t *f);
static ngx_int_t ngx_http_attest_status(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_redirected(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_unverified(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_fail(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, attest_reason_t reason, const char *detail);
static ngx_int_t ngx_http_attest_refuse(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, attest_reason_t reason, const char *detail);
static ngx_int_t ngx_http_attest_replace_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_replace_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static void ngx_http_attest_consume(ngx_chain_t *in);
static ngx_int_t ngx_http_attest_buffer(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_attest_verify_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_send_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
static ngx_int_t ngx_http_attest_too_large(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t *cl);
static ngx_int_t ngx_http_attest_stream(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_attest_discovered(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, attest_err_t *err);


ngx_int_t
ngx_http_attest_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_attest_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_attest_body_filter;

    return NGX_OK;
}


/* the signature headers of a completion, and where each goes */
static struct {
    ngx_str_t  name;
    size_t     offset;
} ngx_http_attest_sig_headers[] = {
    { ngx_string("text"), offsetof(attest_sig_fields_t, text) },
    { ngx_string("signature"), offsetof(attest_sig_fields_t, signature) },
    { ngx_string("signing_address"),
      offsetof(attest_sig_fields_t, signing_address) },
    { ngx_string("signing_algo"),
      offsetof(attest_sig_fields_t, signing_algo) },
    { ngx_string("image_digest"),
      offsetof(attest_sig_fields_t, image_digest) }
};


/*
 * One pass over the upstream's headers (issue 16: each looked at once).
 * The upstream must not be able to speak for us: its verdict header goes,
 * under the configured name or, with "attest_status_header off", under
 * the default one that clients may still look for.  With f: the first
 * header of each signature field (absent: NULL), and *encoded, whether a
 * Content-Encoding header says anything but "identity".
 */
static void
ngx_http_attest_scan_headers(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, attest_sig_fields_t *f,
    ngx_uint_t *encoded)
{
    ngx_str_t         name = ngx_string("X-Attestation-Status");
    ngx_uint_t        i, k;
    attest_str_t     *s;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (alcf->status_header.len) {
        name = alcf->status_header;
    }

    if (f) {
        ngx_memzero(f, sizeof(attest_sig_fields_t));
        *encoded = 0;
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        if (h[i].key.len == name.len
            && ngx_strncasecmp(h[i].key.data, name.data, name.len) == 0)
        {
            h[i].hash = 0;
            continue;
        }

        if (f == NULL) {
            continue;
        }

        if (h[i].key.len == sizeof("Content-Encoding") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Encoding",
                               sizeof("Content-Encoding") - 1) == 0)
        {
            if (!(h[i].value.len == 8
                  && ngx_strncasecmp(h[i].value.data, (u_char *) "identity",
                                     8) == 0))
            {
                *encoded = 1;
            }

            continue;
        }

        for (k = 0; k < sizeof(ngx_http_attest_sig_headers)
                        / sizeof(ngx_http_attest_sig_headers[0]); k++)
        {
            if (h[i].key.len != ngx_http_attest_sig_headers[k].name.len
                || ngx_strncasecmp(h[i].key.data,
                                   ngx_http_attest_sig_headers[k].name.data,
                                   h[i].key.len) != 0)
            {
                continue;
            }

            s = (attest_str_t *) ((u_char *) f
                                  + ngx_http_attest_sig_headers[k].offset);

            if (s->data == NULL) {
                s->data = (char *) h[i].value.data;
                s->len = h[i].value.len;
            }

            break;
        }
    }
}


static ngx_int_t
ngx_http_attest_is_sse(ngx_http_request_t *r)
{
    ngx_str_t  *ct;

    ct = &r->headers_out.content_type;

    return ct->len >= sizeof("text/event-stream") - 1
           && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                              sizeof("text/event-stream") - 1) == 0;
}


static ngx_int_t
ngx_http_attest_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_uint_t                   encoded;
    ngx_http_attest_ctx_t       *ctx;
    attest_sig_fields_t          f;
    ngx_http_attest_loc_conf_t  *alcf;

    if (r != r->main) {
        ctx = ngx_http_get_module_ctx(r->main, ngx_http_attest_module);

        if (ctx && ctx->fetch_sr == r) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "attest: fetch header filter, status %ui",
                           r->headers_out.status);

            ngx_http_attest_fetch_header(r, ctx);
        }

        return ngx_http_next_header_filter(r);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    ctx = ngx_http_attest_find_ctx(r);

    if (ctx && ctx->redirected && ctx->mode != NGX_HTTP_ATTEST_MODE_OFF) {
        /* wherever a redirect took it, an attested request stays one */
        ngx_http_attest_scan_headers(r, alcf, NULL, NULL);
        return ngx_http_attest_redirected(r, ctx);
    }

    if (alcf->mode == NGX_HTTP_ATTEST_MODE_OFF) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_attest_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: header filter, status %ui, state %ui, "
                   "attested %ud", r->headers_out.status, ctx->state,
                   ctx->attested);

    if (ctx->mode == NGX_HTTP_ATTEST_MODE_OFF) {
        ctx->mode = alcf->mode;
    }

    ngx_http_attest_scan_headers(r, alcf, &f, &encoded);

    if (ctx->state == NGX_HTTP_ATTEST_STATE_REPLACE) {
        /* denied before proxying */
        return ngx_http_attest_replace_header(r, ctx);
    }

    if (ctx->header_sent) {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status != NGX_HTTP_OK
        || r->http_version == NGX_HTTP_VERSION_9)
    {
        return ngx_http_attest_status(r, ctx);
    }

    if (!ctx->attested) {
        return ngx_http_attest_fail(r, ctx, ctx->attestation_reason,
                                    "no verified attestation");
    }

    if (encoded) {
        return ngx_http_attest_fail(r, ctx, ATTEST_BODY_ENCODED,
                                    "upstream sent Content-Encoding");
    }

    if (ngx_http_attest_is_sse(r)) {
        rc = ngx_http_attest_sse_header(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_next_header_filter(r);
    }

    return ngx_http_attest_signed_header(r, alcf, ctx, &f);
}


/*
 * nginx answers the client as HTTP/0.9 when the upstream's status line
 * does not parse ("upstream sent no valid HTTP/1.0 header"): the proxy
 * sets r->http_version to 0.9 and leaves the upstream's status unset, and
 * the upstream's bytes would go out verbatim, with no status line of
 * ours.  The client's own version is restored so that our 502 can go out.
 */
static ngx_int_t
ngx_http_attest_http09(ngx_http_request_t *r)
{
    if (r->http_version != NGX_HTTP_VERSION_9 || r->upstream == NULL) {
        return 0;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        r->http_version = NGX_HTTP_VERSION_20;
        return 1;
    }
#endif

    if (r->http_protocol.len) {
        /* a client of HTTP/1.0 or later */
        r->http_version = r->http_major * 1000 + r->http_minor;
        return 1;
    }

    /* an HTTP/0.9 client: only an upstream without a status line */
    return r->upstream->headers_in.status_n == 0;
}


/*
 * Only a verified 200 carries content.  1xx (which clients take as
 * informational, reading what follows as the response) and HTTP/0.9 are
 * framing no verdict can travel with: refused in either mode.  Another
 * 2xx or a 3xx is refused in enforce mode and marked in report mode; a
 * 4xx or 5xx carries the upstream's error, not output, and passes marked.
 */
static ngx_int_t
ngx_http_attest_status(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_uint_t  status;

    if (ngx_http_attest_http09(r)) {
        return ngx_http_attest_refuse(r, ctx, ATTEST_UPSTREAM_HTTP09,
                                      "upstream sent no valid HTTP/1.0 "
                                      "header");
    }

    status = r->headers_out.status;

    if (status < NGX_HTTP_OK) {
        if (r->upstream) {
            /* a 101 would turn the connection into a raw tunnel */
            r->upstream->upgrade = 0;
        }

        return ngx_http_attest_refuse(r, ctx,
                                      ATTEST_UPSTREAM_STATUS_UNEXPECTED,
                                      "upstream sent a 1xx status");
    }

    if (status < NGX_HTTP_BAD_REQUEST
        && ctx->mode == NGX_HTTP_ATTEST_MODE_ENFORCE)
    {
        return ngx_http_attest_fail(r, ctx,
                                    ATTEST_UPSTREAM_STATUS_UNEXPECTED,
                                    "only a verified 200 carries content");
    }

    return ngx_http_attest_unverified(r, ctx);
}


/* an answer that is no inference output, marked as such */
static ngx_int_t
ngx_http_attest_unverified(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_UNVERIFIED,
                                ATTEST_UPSTREAM_STATUS);

    ctx->header_sent = 1;

    if (ngx_http_attest_add_status_header(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * A request that entered an attested location and was redirected
 * internally (X-Accel-Redirect, error_page, try_files): only an error
 * status may end it; anything else is refused, or marked in report mode.
 */
static ngx_int_t
ngx_http_attest_redirected(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    if (ctx->state == NGX_HTTP_ATTEST_STATE_REPLACE) {
        return ngx_http_attest_replace_header(r, ctx);
    }

    if (ctx->header_sent) {
        return ngx_http_next_header_filter(r);
    }

    ngx_http_attest_http09(r);

    if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST) {
        return ngx_http_attest_unverified(r, ctx);
    }

    return ngx_http_attest_fail(r, ctx, ATTEST_INTERNAL_REDIRECT,
                                "internal redirect out of an attested "
                                "location");
}


/* a signed completion: check its signature headers, then hold it */
static ngx_int_t
ngx_http_attest_signed_header(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx,
    attest_sig_fields_t *f)
{
    attest_err_t                 err;
    attest_reason_t              rc;
    attest_signer_t              signer;

    ctx->fields = *f;

    ngx_http_attest_signer(ctx, &signer);

    attest_err_clear(&err);

    rc = attest_sig_verify(&ctx->fields, &signer, &ctx->text, &err);

    if (rc == ATTEST_SIGNER_NOT_ATTESTED && alcf->discover) {
        /* held as usual; at its end discovery looks for the signer */
        ctx->discovering = 1;

    } else if (rc != ATTEST_OK) {
        return ngx_http_attest_fail(r, ctx, rc, err.detail);
    }

    /* signed by the attested machine, but for this request? */
    rc = ngx_http_attest_request_check(ctx, &ctx->text, &err);
    if (rc != ATTEST_OK) {
        return ngx_http_attest_fail(r, ctx, rc, err.detail);
    }

    if (r->headers_out.content_length_n > (off_t) alcf->body_max) {
        return ngx_http_attest_fail(r, ctx, ATTEST_BODY_TOO_LARGE,
                                    "Content-Length over attest_body_max");
    }

    /* the context's pool cleanup frees it */
    ctx->hash = attest_jsonhash_new();
    if (ctx->hash == NULL) {
        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_ATTEST_STATE_BUFFER;
    ctx->body_last = &ctx->body;

    r->filter_need_in_memory = 1;
    r->allow_ranges = 0;

    if (r->header_only) {
        /* nothing will follow: the body cannot be checked */
        return ngx_http_attest_fail(r, ctx, ATTEST_BODY_MISMATCH,
                                    "no body (HEAD request)");
    }

    /* headers are held until the body has been verified */
    return NGX_OK;
}


/* a failure known before the body: replace or mark, per mode */
static ngx_int_t
ngx_http_attest_fail(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    attest_reason_t reason, const char *detail)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "attest: response for key \"%V\" failed: %s: %s",
                  &ctx->key, attest_reason_name(reason), detail);

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_FAILED, reason);

    if (ctx->mode != NGX_HTTP_ATTEST_MODE_REPORT) {
        ctx->state = NGX_HTTP_ATTEST_STATE_REPLACE;
        return ngx_http_attest_replace_header(r, ctx);
    }

    ctx->state = NGX_HTTP_ATTEST_STATE_PASS;
    ctx->header_sent = 1;

    if (ngx_http_attest_add_status_header(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/* a failure no mode may pass on: framing that carries no verdict */
static ngx_int_t
ngx_http_attest_refuse(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    attest_reason_t reason, const char *detail)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "attest: response for key \"%V\" refused: %s: %s",
                  &ctx->key, attest_reason_name(reason), detail);

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_FAILED, reason);

    ctx->state = NGX_HTTP_ATTEST_STATE_REPLACE;

    return ngx_http_attest_replace_header(r, ctx);
}


static ngx_int_t
ngx_http_attest_replace_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    ngx_buf_t  *b;

    if (ngx_http_attest_error_body(r, ctx->verdict_reason, &b) != NGX_OK) {
        return NGX_ERROR;
    }

    /* nothing the upstream said survives: a fresh 502 of our own */
    ngx_http_clean_header(r);

    r->headers_out.status = NGX_HTTP_BAD_GATEWAY;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    r->headers_out.content_length_n = b->last - b->pos;
    r->allow_ranges = 0;

    /* what was held goes nowhere: buffers held as they were, released */
    ngx_http_attest_consume(ctx->body);
    ctx->body = NULL;
    ctx->body_buf = b;
    ctx->header_sent = 1;

    if (ngx_http_attest_add_status_header(r, ctx) != NGX_OK
        || ngx_http_attest_add_no_retry(r, ctx->verdict_reason) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_attest_replace_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    ctx->state = NGX_HTTP_ATTEST_STATE_DISCARD;

    if (r->header_only) {
        return NGX_OK;
    }

    b = ctx->body_buf;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static void
ngx_http_attest_consume(ngx_chain_t *in)
{
    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;
        in->buf->file_pos = in->buf->file_last;
    }
}


static ngx_int_t
ngx_http_attest_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_attest_ctx_t  *ctx;

    if (r != r->main) {
        ctx = ngx_http_get_module_ctx(r->main, ngx_http_attest_module);

        if (ctx && ctx->fetch_sr == r
            && ngx_http_attest_fetch_body(r, ctx, in) == NGX_DECLINED)
        {
            return NGX_OK;
        }

        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_attest_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: body filter, state %ui, in %p", ctx->state, in);

    switch (ctx->state) {

    case NGX_HTTP_ATTEST_STATE_BUFFER:
        return ngx_http_attest_buffer(r, ctx, in);

    case NGX_HTTP_ATTEST_STATE_STREAM:
        return ngx_http_attest_stream(r, ctx, in);

    case NGX_HTTP_ATTEST_STATE_REPLACE:
        ngx_http_attest_consume(in);
        return ngx_http_attest_replace_body(r, ctx);

    case NGX_HTTP_ATTEST_STATE_DISCARD:
        ngx_http_attest_consume(in);
        return NGX_OK;

    default: /* NGX_HTTP_ATTEST_STATE_PASS */
        return ngx_http_next_body_filter(r, in);
    }
}


/* the body bytes a buffer brings, in memory or in a file */
static off_t
ngx_http_attest_buf_size(ngx_buf_t *b)
{
    if (ngx_buf_in_memory(b)) {
        return b->last - b->pos;
    }

    return b->in_file ? b->file_last - b->file_pos : 0;
}


/* a buffer that can be held as it is, rather than copied */
static ngx_uint_t
ngx_http_attest_keepable(ngx_buf_t *b)
{
    return ngx_buf_in_memory(b) && b->last > b->pos
           && !b->last_buf && !b->last_in_chain;
}


/*
 * Copies n bytes of buffer in (from memory, or read from its file), and
 * hashes them: into one buffer the size of what Content-Length says is
 * left when that fits in NGX_HTTP_ATTEST_CHUNK, else into the worker's
 * reused chunks (a larger buffer would be fresh memory, a page fault a
 * page, each time).
 */
static ngx_int_t
ngx_http_attest_append(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_buf_t *in, size_t n)
{
    off_t         left;
    size_t        size, chunk;
    ssize_t       got;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    while (n) {
        b = ctx->body_buf;

        if (b == NULL || b->last == b->end) {
            left = r->headers_out.content_length_n - (off_t) ctx->body_size;

            if (r->headers_out.content_length_n > 0 && left > 0
                && left <= NGX_HTTP_ATTEST_CHUNK)
            {
                size = ngx_max((size_t) left, n);
                b = ngx_create_temp_buf(r->pool, size);

            } else {
                b = ngx_http_attest_chunk_get(r, ctx);
            }

            if (b == NULL) {
                return NGX_ERROR;
            }

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            cl->next = NULL;
            *ctx->body_last = cl;
            ctx->body_last = &cl->next;
            ctx->body_buf = b;
        }

        chunk = ngx_min(n, (size_t) (b->end - b->last));

        if (ngx_buf_in_memory(in)) {
            b->last = ngx_cpymem(b->last, in->pos, chunk);
            in->pos += chunk;

        } else {
            got = ngx_read_file(in->file, b->last, chunk, in->file_pos);
            if (got != (ssize_t) chunk) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "attest: short read of buffered body");
                return NGX_ERROR;
            }

            b->last += chunk;
            in->file_pos += chunk;
        }

        attest_jsonhash_update(ctx->hash, b->last - chunk, chunk);
        ctx->body_size += chunk;
        n -= chunk;
    }

    return NGX_OK;
}


/* holds buffer b as it is, on link cl, and hashes it where it lies */
static void
ngx_http_attest_keep(ngx_http_attest_ctx_t *ctx, ngx_buf_t *b,
    ngx_chain_t *cl)
{
    size_t  n;

    n = b->last - b->pos;

    attest_jsonhash_update(ctx->hash, b->pos, n);
    ctx->body_size += n;

    cl->buf = b;
    cl->next = NULL;
    *ctx->body_last = cl;
    ctx->body_last = &cl->next;

    /* a copy after it goes to a buffer of its own, after it */
    ctx->body_buf = NULL;
}


/*
 * The links for the buffers of in that are held as they are, or NULL
 * (none: every byte is copied).  The bytes nginx holds are copied, and
 * so released at once, while more is to come: held, the upstream's
 * buffers could not be reused, and its event pipe would spill to a
 * temporary file, or an unbuffered upstream whose one buffer is full
 * would wait for us as we wait for it.  Once in completes the body (its
 * last buffer, or the Content-Length reached) nothing is read into them
 * any more, and they are held until the verdict, not copied: a body that
 * arrives in one piece is never copied.  Only behind a buffered upstream:
 * an unbuffered one ends only once its buffer has gone out.  One
 * allocation for all links.
 */
static ngx_chain_t *
ngx_http_attest_keep_links(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in, ngx_uint_t *error)
{
    off_t         size;
    ngx_uint_t    last, n;
    ngx_chain_t  *cl, *links;

    if (r->upstream == NULL || !r->upstream->buffering) {
        return NULL;
    }

    size = 0;
    last = 0;
    n = 0;

    for (cl = in; cl; cl = cl->next) {
        size += ngx_http_attest_buf_size(cl->buf);
        last |= cl->buf->last_buf;
        n += ngx_http_attest_keepable(cl->buf);
    }

    if (n == 0
        || !(last || (r->headers_out.content_length_n > 0
                      && (off_t) ctx->body_size + size
                         == r->headers_out.content_length_n)))
    {
        return NULL;
    }

    links = ngx_palloc(r->pool, n * sizeof(ngx_chain_t));
    if (links == NULL) {
        *error = 1;
    }

    return links;
}


/* collects the body; at its end, verifies it and sends what is due */
static ngx_int_t
ngx_http_attest_buffer(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in)
{
    off_t                        n;
    ngx_uint_t                   last, error;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl, *links;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    error = 0;
    links = ngx_http_attest_keep_links(r, ctx, in, &error);

    if (error) {
        return NGX_ERROR;
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        n = ngx_http_attest_buf_size(b);

        if (ctx->body_size + n > alcf->body_max) {
            return ngx_http_attest_too_large(r, ctx, in, cl);
        }

        if (links && ngx_http_attest_keepable(b)) {
            ngx_http_attest_keep(ctx, b, links++);

        } else if (n
                   && ngx_http_attest_append(r, ctx, b, (size_t) n) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last && !ctx->resp_done) {
        return NGX_OK;
    }

    ctx->resp_done = 1;

    return ngx_http_attest_verify_body(r, ctx);
}


/* the whole body is held: its hash decides */
static ngx_int_t
ngx_http_attest_verify_body(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_int_t        rc;
    attest_err_t     err;
    attest_reason_t  reason;
    uint8_t          digest[32];

    attest_err_clear(&err);

    if (ctx->discovering) {
        rc = ngx_http_attest_discovered(r, ctx, &err);

        if (rc == NGX_AGAIN || rc == NGX_ERROR) {
            return rc == NGX_AGAIN ? NGX_OK : NGX_ERROR;
        }
    }

    if (err.reason != ATTEST_OK) {
        reason = err.reason;

    } else {
        attest_jsonhash_final(ctx->hash, digest);
        reason = attest_sig_check_body(&ctx->text, digest, &err);
    }

    if (reason != ATTEST_OK) {
        rc = ngx_http_attest_fail(r, ctx, reason, err.detail);

        if (rc == NGX_ERROR || rc > NGX_OK) {
            return rc;
        }

        if (ctx->state == NGX_HTTP_ATTEST_STATE_REPLACE) {
            return ngx_http_attest_replace_body(r, ctx);
        }

        /* report mode: the body as received */
        return ngx_http_attest_send_body(r, ctx);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: response of %uz bytes verified", ctx->body_size);

    ngx_http_attest_seen(r, ctx);

    ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_VERIFIED,
                                ATTEST_OK);

    ctx->state = NGX_HTTP_ATTEST_STATE_PASS;
    ctx->header_sent = 1;

    if (ngx_http_attest_add_status_header(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_attest_send_body(r, ctx);
}


/* the held body, ended by a last buffer */
static ngx_int_t
ngx_http_attest_send_body(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ctx->state = NGX_HTTP_ATTEST_STATE_PASS;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *ctx->body_last = cl;

    return ngx_http_next_body_filter(r, ctx->body);
}


/* over attest_body_max at link cl of in: replace, or pass on unverified */
static ngx_int_t
ngx_http_attest_too_large(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in, ngx_chain_t *cl)
{
    ngx_int_t     rc;
    ngx_chain_t  *out, **ll;

    rc = ngx_http_attest_fail(r, ctx, ATTEST_BODY_TOO_LARGE,
                              "body over attest_body_max");

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ctx->state == NGX_HTTP_ATTEST_STATE_REPLACE) {
        ngx_http_attest_consume(in);
        return ngx_http_attest_replace_body(r, ctx);
    }

    /* report mode: what was held, then the rest as it comes */
    out = ctx->body;
    ll = ctx->body_last;

    for ( /* void */ ; cl; cl = cl->next) {
        *ll = ngx_alloc_chain_link(r->pool);
        if (*ll == NULL) {
            return NGX_ERROR;
        }

        (*ll)->buf = cl->buf;
        ll = &(*ll)->next;
    }

    *ll = NULL;

    return ngx_http_next_body_filter(r, out);
}


/*
 * A response held for discovery: NGX_AGAIN while it waits (r->buffered
 * keeps the request open; the writer comes back here), else NGX_OK with
 * the signature checked again against the set discovery left, its
 * outcome in err->reason.
 */
static ngx_int_t
ngx_http_attest_discovered(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    attest_err_t *err)
{
    ngx_int_t        rc;
    attest_signer_t  signer;

    rc = ngx_http_attest_discover(r, ctx);

    if (rc == NGX_AGAIN) {
        r->buffered |= NGX_HTTP_ATTEST_BUFFERED;
        return NGX_AGAIN;
    }

    r->buffered &= ~NGX_HTTP_ATTEST_BUFFERED;
    ctx->discovering = 0;
    ctx->disc_done = 1;

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_http_attest_signer(ctx, &signer);

    err->reason = attest_sig_verify(&ctx->fields, &signer, &ctx->text, err);

    return NGX_OK;
}


/*
 * A stream: what the stream unit hands back goes on, its buffers reused.
 * A stream signed by an unknown signer holds its end (the verdict and
 * [DONE]) until discovery decides.
 */
static ngx_int_t
ngx_http_attest_stream(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_chain_t  *out, **ll;

    out = NULL;

    if (!(ctx->discovering && ctx->sse_last)) {
        if (ngx_http_attest_sse_body(r, ctx, in, &out) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ctx->discovering && ctx->sse_last) {
        rc = ngx_http_attest_discover(r, ctx);

        if (rc == NGX_AGAIN) {
            r->buffered |= NGX_HTTP_ATTEST_BUFFERED;

        } else {
            r->buffered &= ~NGX_HTTP_ATTEST_BUFFERED;
            ctx->discovering = 0;
            ctx->disc_done = 1;

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            for (ll = &out; *ll; ll = &(*ll)->next) { /* void */ }

            if (ngx_http_attest_sse_resume(r, ctx, ll) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    if (ctx->verdict == NGX_HTTP_ATTEST_VERDICT_VERIFIED) {
        ngx_http_attest_seen(r, ctx);
    }

    if (out == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_next_body_filter(r, out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_attest_module);

    return rc;
}
