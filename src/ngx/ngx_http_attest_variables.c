/*
 * Variables for logs and headers.  All of them read the main request's
 * context, so they also work inside the fetch subrequest ($attest_key,
 * $attest_nonce) and in the access log (the final verdict).
 */

#include "ngx_http_attest_module.h"

#include "attest_eth.h"


static ngx_int_t ngx_http_attest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


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


static ngx_int_t
ngx_http_attest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    size_t                  len;
    const char             *s;
    ngx_http_attest_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_attest_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->state == NGX_HTTP_ATTEST_STREAM
        && ctx->verdict == NGX_HTTP_ATTEST_NONE && r->main->count == 0)
    {
        /* a stream that never reached its end: the upstream cut it */
        ngx_http_attest_set_verdict(r, ctx, NGX_HTTP_ATTEST_FAILED,
                                    ATTEST_STREAM_TRUNCATED);
    }

    p = NULL;
    len = 0;

    switch (data) {

    case NGX_HTTP_ATTEST_VAR_STATUS:
        if (ctx->verdict == NGX_HTTP_ATTEST_NONE) {
            break;
        }

        p = ngx_pnalloc(r->pool, 64);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_http_attest_verdict_text(ctx, p, 64) - p;

        /* the verdict word alone; the reason has its own variable */
        s = (char *) ngx_strlchr(p, p + len, ';');
        if (s) {
            len = (u_char *) s - p;
        }

        break;

    case NGX_HTTP_ATTEST_VAR_REASON:
        if (ctx->verdict == NGX_HTTP_ATTEST_NONE
            || ctx->verdict == NGX_HTTP_ATTEST_VERIFIED)
        {
            break;
        }

        p = (u_char *) attest_reason_name(ctx->reason);
        len = ngx_strlen(p);
        break;

    case NGX_HTTP_ATTEST_VAR_SIGNER:
        if (!ctx->attested) {
            break;
        }

        p = ngx_pnalloc(r->pool, 43);
        if (p == NULL) {
            return NGX_ERROR;
        }

        attest_eth_format_address(ctx->entry.result.signing_address,
                                  (char *) p);
        len = 42;
        break;

    case NGX_HTTP_ATTEST_VAR_DIGEST:
        if (!ctx->attested || !ctx->entry.result.has_image_digest) {
            break;
        }

        p = (u_char *) ctx->entry.result.image_digest;
        len = ctx->entry.result.image_digest_len;
        break;

    case NGX_HTTP_ATTEST_VAR_KEY:
        p = ctx->key.data;
        len = ctx->key.len;
        break;

    case NGX_HTTP_ATTEST_VAR_NONCE:
        if (!ctx->started || (!ctx->fetching && !ctx->fetched)) {
            break;
        }

        p = ctx->nonce_hex;
        len = sizeof(ctx->nonce_hex);
        break;

    case NGX_HTTP_ATTEST_VAR_AGE:
        if (!ctx->attested) {
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_sprintf(p, "%M",
                          (ngx_msec_t) (ngx_http_attest_now()
                                        - ctx->entry.verified_at) / 1000)
              - p;
        break;

    case NGX_HTTP_ATTEST_VAR_GPU:
    case NGX_HTTP_ATTEST_VAR_CPU:
        if (!ctx->attested) {
            break;
        }

        p = ngx_pnalloc(r->pool, 160);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (data == NGX_HTTP_ATTEST_VAR_GPU) {
            attest_result_gpu_text(&ctx->entry.result, (char *) p, 160);

        } else {
            attest_result_cpu_text(&ctx->entry.result, (char *) p, 160);
        }

        len = ngx_strlen(p);
        break;

    case NGX_HTTP_ATTEST_VAR_BINDING:
        if (!ctx->attested) {
            break;
        }

        s = ctx->entry.result.bound ? "quote" : "report";
        p = (u_char *) s;
        len = ngx_strlen(s);
        break;
    }

    if (p == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
