/*
 * Variables for logs and headers.  All of them read the main request's
 * context, so they also work inside the fetch subrequest ($attest_key,
 * $attest_nonce) and in the access log (the final verdict).
 */

#include "ngx_http_attest_module.h"

#include "attest_codec.h"
#include "attest_eth.h"


static ngx_int_t ngx_http_attest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_attest_verdict_value(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, uintptr_t data, ngx_str_t *s);
static ngx_int_t ngx_http_attest_result_value(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, uintptr_t data, ngx_str_t *s);
static ngx_int_t ngx_http_attest_request_value(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, uintptr_t data, ngx_str_t *s);


#define NGX_HTTP_ATTEST_VAR_STATUS     0
#define NGX_HTTP_ATTEST_VAR_REASON     1
#define NGX_HTTP_ATTEST_VAR_SIGNER     2
#define NGX_HTTP_ATTEST_VAR_DIGEST     3
#define NGX_HTTP_ATTEST_VAR_KEY        4
#define NGX_HTTP_ATTEST_VAR_NONCE      5
#define NGX_HTTP_ATTEST_VAR_AGE        6
#define NGX_HTTP_ATTEST_VAR_GPU        7
#define NGX_HTTP_ATTEST_VAR_CPU        8
#define NGX_HTTP_ATTEST_VAR_BINDING    9
#define NGX_HTTP_ATTEST_VAR_REQ_HASH   10
#define NGX_HTTP_ATTEST_VAR_REQ_MODEL  11
#define NGX_HTTP_ATTEST_VAR_KEY_JSON   12
#define NGX_HTTP_ATTEST_VAR_SIGNERS    13
#define NGX_HTTP_ATTEST_VAR_DISCOVERED 14


static ngx_http_variable_t  ngx_http_attest_vars[] = {

    { ngx_string("attest_status"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_reason"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_signing_address"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_SIGNER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_image_digest"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_DIGEST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_key"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_nonce"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_NONCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_age"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_AGE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_gpu"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_GPU, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_cpu"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_CPU, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_binding"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_BINDING, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_request_hash"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_REQ_HASH, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_request_model"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_REQ_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_key_json"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_KEY_JSON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_signers"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_SIGNERS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("attest_discovered"), NULL, ngx_http_attest_variable,
      NGX_HTTP_ATTEST_VAR_DISCOVERED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_attest_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_attest_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* reads the context; the verdict itself is decided elsewhere */
static ngx_int_t
ngx_http_attest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               s;
    ngx_int_t               rc;
    ngx_http_attest_ctx_t  *ctx;

    ctx = ngx_http_attest_find_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_str_null(&s);

    switch (data) {

    case NGX_HTTP_ATTEST_VAR_STATUS:
    case NGX_HTTP_ATTEST_VAR_REASON:
        rc = ngx_http_attest_verdict_value(r, ctx, data, &s);
        break;

    case NGX_HTTP_ATTEST_VAR_KEY:
        s = ctx->key;
        rc = NGX_OK;
        break;

    case NGX_HTTP_ATTEST_VAR_REQ_HASH:
    case NGX_HTTP_ATTEST_VAR_REQ_MODEL:
    case NGX_HTTP_ATTEST_VAR_KEY_JSON:
        rc = ngx_http_attest_request_value(r, ctx, data, &s);
        break;

    case NGX_HTTP_ATTEST_VAR_NONCE:
        if (ctx->started && (ctx->fetching || ctx->fetched)) {
            s.data = ctx->nonce_hex;
            s.len = sizeof(ctx->nonce_hex);
        }

        rc = NGX_OK;
        break;

    case NGX_HTTP_ATTEST_VAR_SIGNERS:
    case NGX_HTTP_ATTEST_VAR_DISCOVERED:
        s.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        s.len = ngx_sprintf(s.data, "%ui",
                            data == NGX_HTTP_ATTEST_VAR_SIGNERS
                            ? ctx->zr.nmachines : ctx->zr.discovered)
                - s.data;
        rc = NGX_OK;
        break;

    default:
        rc = ctx->attested ? ngx_http_attest_result_value(r, ctx, data, &s)
                           : NGX_OK;
        break;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (s.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s.data;
    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* $attest_status, $attest_reason */
static ngx_int_t
ngx_http_attest_verdict_value(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, uintptr_t data, ngx_str_t *s)
{
    u_char  *p, *semi;

    if (ctx->verdict == NGX_HTTP_ATTEST_VERDICT_NONE) {
        return NGX_OK;
    }

    if (data == NGX_HTTP_ATTEST_VAR_REASON) {
        if (ctx->verdict != NGX_HTTP_ATTEST_VERDICT_VERIFIED) {
            s->data = (u_char *) attest_reason_name(ctx->verdict_reason);
            s->len = ngx_strlen(s->data);
        }

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->data = p;
    s->len = ngx_http_attest_verdict_text(ctx, p, 64) - p;

    /* the verdict word alone; the reason has its own variable */
    semi = ngx_strlchr(p, p + s->len, ';');
    if (semi) {
        s->len = semi - p;
    }

    return NGX_OK;
}


/* what the verified attestation says; only called when there is one */
static ngx_int_t
ngx_http_attest_result_value(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, uintptr_t data, ngx_str_t *s)
{
    u_char           *p;
    attest_result_t  *res;

    res = &ctx->entry.result;

    switch (data) {

    case NGX_HTTP_ATTEST_VAR_SIGNER:
        p = ngx_pnalloc(r->pool, 43);
        if (p == NULL) {
            return NGX_ERROR;
        }

        attest_eth_format_address(res->signing_address, (char *) p);
        s->data = p;
        s->len = 42;
        break;

    case NGX_HTTP_ATTEST_VAR_DIGEST:
        if (res->has_image_digest) {
            s->data = (u_char *) res->image_digest;
            s->len = res->image_digest_len;
        }

        break;

    case NGX_HTTP_ATTEST_VAR_AGE:
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s->data = p;
        s->len = ngx_sprintf(p, "%M",
                             (ngx_msec_t) (ngx_http_attest_now()
                                           - ctx->entry.verified_at) / 1000)
                 - p;
        break;

    case NGX_HTTP_ATTEST_VAR_GPU:
    case NGX_HTTP_ATTEST_VAR_CPU:
        p = ngx_pnalloc(r->pool, 160);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (data == NGX_HTTP_ATTEST_VAR_GPU) {
            attest_result_gpu_text(res, (char *) p, 160);

        } else {
            attest_result_cpu_text(res, (char *) p, 160);
        }

        s->data = p;
        s->len = ngx_strlen(p);
        break;

    default: /* NGX_HTTP_ATTEST_VAR_BINDING */
        s->data = (u_char *) (res->bound ? "quote" : "report");
        s->len = ngx_strlen(s->data);
        break;
    }

    return NGX_OK;
}


/* $attest_request_hash, $attest_request_model, $attest_key_json */
static ngx_int_t
ngx_http_attest_request_value(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, uintptr_t data, ngx_str_t *s)
{
    u_char  *p;

    switch (data) {

    case NGX_HTTP_ATTEST_VAR_REQ_HASH:
        if (!ctx->request_bound) {
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, 65);
        if (p == NULL) {
            return NGX_ERROR;
        }

        attest_hex_encode(ctx->request_hash, 32, (char *) p);
        s->data = p;
        s->len = 64;
        break;

    case NGX_HTTP_ATTEST_VAR_REQ_MODEL:
        if (ctx->request_model.data) {
            *s = ctx->request_model;
        }

        break;

    default: /* NGX_HTTP_ATTEST_VAR_KEY_JSON */
        if (!ctx->started) {
            /* the key is not evaluated yet */
            return NGX_OK;
        }

        /* a key from the client must not write JSON of its own */
        s->len = attest_json_escape(ctx->key.data, ctx->key.len, NULL);

        p = ngx_pnalloc(r->pool, s->len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        (void) attest_json_escape(ctx->key.data, ctx->key.len, (char *) p);
        s->data = p;
        break;
    }

    return NGX_OK;
}
