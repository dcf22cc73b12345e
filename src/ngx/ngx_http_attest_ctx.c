/*
 * A request's context and its verdict: one owner for what every other
 * part of the module records about a request (the attestation it got,
 * the verdict on its response and why) and for the ways the verdict is
 * shown: the status header or trailer, the OpenAI-shaped error body, the
 * text of $attest_status.  Nothing here sends anything.
 */

#include "ngx_http_attest_module.h"


static void ngx_http_attest_cleanup(void *data);
static int ngx_http_attest_find_signer(attest_signer_t *s,
    const uint8_t claimed[20]);
static ngx_int_t ngx_http_attest_push_verdict(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_list_t *list);


/* a chunk: its link in a request's list or the worker's spares, its bytes */
typedef struct ngx_http_attest_chunk_s  ngx_http_attest_chunk_t;

struct ngx_http_attest_chunk_s {
    ngx_http_attest_chunk_t  *next;
    u_char                    data[NGX_HTTP_ATTEST_CHUNK];
};

/* the worker's spare chunks: at most this many, 8 MiB */
#define NGX_HTTP_ATTEST_SPARES  128

static ngx_http_attest_chunk_t  *ngx_http_attest_spare;
static ngx_uint_t                ngx_http_attest_nspare;


static ngx_str_t  ngx_http_attest_verdicts[] = {
    ngx_null_string,
    ngx_string("verified"),
    ngx_string("failed"),
    ngx_string("unverified")
};


/*
 * The main request's context, or NULL.  An internal redirect (an
 * upstream's X-Accel-Redirect, error_page, try_files, to a URI or to a
 * named location) clears the modules' contexts; ours is found again
 * through its pool cleanup, as realip finds its own, so that a request
 * that entered an attested location can never leave it for an unverified
 * answer.  A named location does not set r->internal: every request
 * without a context looks (its cleanups are few).
 */
ngx_http_attest_ctx_t *
ngx_http_attest_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_attest_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_attest_module);

    if (ctx) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_attest_cleanup) {
            ctx = cln->data;
            ctx->redirected = 1;
            ngx_http_set_ctx(r, ctx, ngx_http_attest_module);
            return ctx;
        }
    }

    return NULL;
}


/* the main request's context, created on first use */
ngx_http_attest_ctx_t *
ngx_http_attest_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_attest_ctx_t  *ctx;

    ctx = ngx_http_attest_find_ctx(r);
    if (ctx) {
        return ctx;
    }

    r = r->main;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_attest_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->verdict = NGX_HTTP_ATTEST_VERDICT_NONE;
     *     ctx->verdict_reason = ATTEST_OK;
     *     ctx->state = NGX_HTTP_ATTEST_STATE_PASS;
     *     ctx->mode = NGX_HTTP_ATTEST_MODE_OFF;
     */

    ctx->attestation_reason = ATTEST_ATTESTATION_UNAVAILABLE;

    /* frees the core's hash and stream state, and finds ctx again */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_attest_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_attest_module);

    return ctx;
}


ngx_buf_t *
ngx_http_attest_chunk_get(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    ngx_buf_t                *b;
    ngx_http_attest_chunk_t  *c;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NULL;
    }

    c = ngx_http_attest_spare;

    if (c) {
        ngx_http_attest_spare = c->next;
        ngx_http_attest_nspare--;

    } else {
        c = ngx_alloc(sizeof(ngx_http_attest_chunk_t), r->connection->log);
        if (c == NULL) {
            return NULL;
        }
    }

    /* the context's pool cleanup gives it back */
    c->next = ctx->chunks;
    ctx->chunks = c;

    b->start = c->data;
    b->pos = c->data;
    b->last = c->data;
    b->end = c->data + NGX_HTTP_ATTEST_CHUNK;
    b->temporary = 1;

    return b;
}


/* at worker exit: the spare chunks go, so that no tool sees them lost */
void
ngx_http_attest_chunk_exit(void)
{
    ngx_http_attest_chunk_t  *c;

    while (ngx_http_attest_spare) {
        c = ngx_http_attest_spare;
        ngx_http_attest_spare = c->next;
        ngx_free(c);
    }

    ngx_http_attest_nspare = 0;
}


static void
ngx_http_attest_cleanup(void *data)
{
    ngx_http_attest_ctx_t *ctx = data;

    ngx_http_attest_chunk_t  *c, *next;

    for (c = ctx->chunks; c; c = next) {
        next = c->next;

        if (ngx_http_attest_nspare < NGX_HTTP_ATTEST_SPARES) {
            c->next = ngx_http_attest_spare;
            ngx_http_attest_spare = c;
            ngx_http_attest_nspare++;

        } else {
            ngx_free(c);
        }
    }

    ctx->chunks = NULL;

    if (ctx->hash) {
        attest_jsonhash_free(ctx->hash);
        ctx->hash = NULL;
    }

    if (ctx->sse) {
        attest_sse_free(ctx->sse);
        ctx->sse = NULL;
    }
}


void
ngx_http_attest_set_verdict(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_uint_t verdict, attest_reason_t reason)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: verdict %V, reason %s",
                   &ngx_http_attest_verdicts[verdict],
                   attest_reason_name(reason));

    ctx->verdict = verdict;
    ctx->verdict_reason = reason;
}


/* the verdict as the status header, $attest_status and the error log see */
u_char *
ngx_http_attest_verdict_text(ngx_http_attest_ctx_t *ctx, u_char *buf,
    size_t size)
{
    ngx_str_t  *v;

    v = &ngx_http_attest_verdicts[ctx->verdict];

    if (ctx->verdict == NGX_HTTP_ATTEST_VERDICT_VERIFIED
        || ctx->verdict == NGX_HTTP_ATTEST_VERDICT_NONE)
    {
        return ngx_snprintf(buf, size, "%V", v);
    }

    return ngx_snprintf(buf, size, "%V; reason=%s", v,
                        attest_reason_name(ctx->verdict_reason));
}


/* the OpenAI error shape, so that SDKs surface the reason */
ngx_int_t
ngx_http_attest_error_body(ngx_http_request_t *r, attest_reason_t reason,
    ngx_buf_t **out)
{
    size_t       len;
    ngx_buf_t   *b;
    const char  *name, *text;

    name = attest_reason_name(reason);
    text = attest_reason_text(reason);

    len = sizeof("{\"error\":{\"message\":\"\",\"type\":\"attestation_error\","
                 "\"param\":null,\"code\":\"\"}}") - 1
          + ngx_strlen(name) + ngx_strlen(text);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* names and sentences are fixed ASCII without quotes: no escaping */
    b->last = ngx_sprintf(b->pos,
                          "{\"error\":{\"message\":\"%s\","
                          "\"type\":\"attestation_error\","
                          "\"param\":null,\"code\":\"%s\"}}", text, name);

    *out = b;

    return NGX_OK;
}


/*
 * OpenAI's SDKs retry a 502 twice unless it says "x-should-retry: false":
 * a verdict on the attested machine or its answer comes out the same
 * again, and each retry of a refused answer costs a completion.  Only an
 * attestation that could not be fetched may clear up, and its retry costs
 * no completion: it goes without the header.
 */
ngx_int_t
ngx_http_attest_add_no_retry(ngx_http_request_t *r, attest_reason_t reason)
{
    ngx_table_elt_t  *h;

    if (reason == ATTEST_ATTESTATION_UNAVAILABLE) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-should-retry");
    ngx_str_set(&h->value, "false");

    return NGX_OK;
}


ngx_int_t
ngx_http_attest_add_status_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx)
{
    return ngx_http_attest_push_verdict(r, ctx, &r->headers_out.headers);
}


/* a stream's verdict, after the body, for clients that asked (TE) */
ngx_int_t
ngx_http_attest_add_trailer(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx)
{
    return ngx_http_attest_push_verdict(r, ctx, &r->headers_out.trailers);
}


/* the verdict as a header (or trailer) named by attest_status_header */
static ngx_int_t
ngx_http_attest_push_verdict(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_list_t *list)
{
    u_char                      *p;
    ngx_table_elt_t             *h;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    if (alcf->status_header.len == 0
        || ctx->verdict == NGX_HTTP_ATTEST_VERDICT_NONE)
    {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = alcf->status_header;
    h->value.data = p;
    h->value.len = ngx_http_attest_verdict_text(ctx, p, 64) - p;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * The log phase, ahead of the access log: a stream still being verified
 * when its request ends never reached its end: the client closed its
 * connection (client_closed), or the upstream cut the stream.  The
 * final verdict is counted in the zone for attest_metrics.
 */
ngx_int_t
ngx_http_attest_log_handler(ngx_http_request_t *r)
{
    ngx_http_attest_ctx_t       *ctx;
    ngx_http_attest_loc_conf_t  *alcf;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_attest_find_ctx(r);

    if (ctx == NULL) {
        return NGX_OK;
    }

    if (ctx->state == NGX_HTTP_ATTEST_STATE_STREAM
        && ctx->verdict == NGX_HTTP_ATTEST_VERDICT_NONE)
    {
        /* the client went away, or the upstream did */
        ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_VERDICT_FAILED,
                                    r->connection->error
                                    ? ATTEST_CLIENT_CLOSED
                                    : ATTEST_STREAM_TRUNCATED);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: final verdict %V, reason %s, key \"%V\"",
                   &ngx_http_attest_verdicts[ctx->verdict],
                   attest_reason_name(ctx->verdict_reason), &ctx->key);

    /* counted here, once: a stream's verdict is known only at its end */
    if (alcf->shm_zone) {
        ngx_http_attest_zone_count_response(alcf->shm_zone, ctx->verdict,
                                            ctx->verdict_reason);
    }

    return NGX_OK;
}


/*
 * The signer a response is checked against: the machines attested for
 * its key that the request knows.  The one that signed becomes
 * ctx->entry; an unknown one is kept in ctx->claimed for discovery.
 */
void
ngx_http_attest_signer(ngx_http_attest_ctx_t *ctx, attest_signer_t *signer)
{
    signer->address = ctx->entry.result.signing_address;
    signer->image_digest = NULL;
    signer->image_digest_len = 0;
    signer->find = ngx_http_attest_find_signer;
    signer->data = ctx;
}


static int
ngx_http_attest_find_signer(attest_signer_t *s, const uint8_t claimed[20])
{
    ngx_http_attest_ctx_t *ctx = s->data;

    ngx_uint_t                i;
    ngx_http_attest_entry_t  *m;

    ngx_memcpy(ctx->claimed, claimed, 20);

    for (i = 0; i < ctx->zr.nmachines; i++) {
        m = &ctx->zr.machines[i];

        if (ngx_memcmp(m->result.signing_address, claimed, 20) != 0) {
            continue;
        }

        if (m != &ctx->entry) {
            ctx->entry = *m;
        }

        s->address = ctx->entry.result.signing_address;
        s->image_digest = ctx->entry.result.has_image_digest
                          ? ctx->entry.result.image_digest : NULL;
        s->image_digest_len = ctx->entry.result.image_digest_len;

        return 0;
    }

    return -1;
}
