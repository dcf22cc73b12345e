/*
 * attest_metrics: a content handler, as stub_status is, that shows the
 * counters and the contents of every attest zone in the Prometheus text
 * exposition format (0.0.4), or with ?format=json as one JSON document.
 * Also the log-phase handler that counts each request's final verdict.
 */

#include "ngx_http_attest_module.h"

#include "attest_eth.h"


typedef struct {
    ngx_str_t                    name;
    ngx_http_attest_counters_t   c;             /* a copy */
    ngx_array_t                  keys;          /* zone_key_t */
    ngx_uint_t                   entries;
} ngx_http_attest_mzone_t;


/* an output chain that grows by buffers of at least a page */
typedef struct {
    ngx_http_request_t          *r;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
    ngx_uint_t                   json;
    ngx_msec_int_t               now;
} ngx_http_attest_mw_t;


static ngx_int_t ngx_http_attest_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_attest_metrics_snapshot(ngx_http_request_t *r,
    ngx_array_t *zones);
static u_char *ngx_http_attest_mw_reserve(ngx_http_attest_mw_t *mw,
    size_t n);
static ngx_int_t ngx_http_attest_mw_printf(ngx_http_attest_mw_t *mw,
    const char *fmt, ...);
static ngx_int_t ngx_http_attest_mw_str(ngx_http_attest_mw_t *mw,
    ngx_str_t *s);
static ngx_int_t ngx_http_attest_metrics_text(ngx_http_attest_mw_t *mw,
    ngx_array_t *zones);
static ngx_int_t ngx_http_attest_metrics_json(ngx_http_attest_mw_t *mw,
    ngx_array_t *zones);


#define NGX_HTTP_ATTEST_MW_LINE  256


static ngx_str_t  ngx_http_attest_mverdicts[] = {
    ngx_null_string,
    ngx_string("verified"),
    ngx_string("failed"),
    ngx_string("unverified")
};

static ngx_str_t  ngx_http_attest_mresults[] = {
    ngx_string("verified"),
    ngx_string("failed")
};

static ngx_str_t  ngx_http_attest_mlookups[] = {
    ngx_string("hit"),
    ngx_string("miss"),
    ngx_string("wait")
};

static const char  *ngx_http_attest_mbounds[] = {
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf"
};


char *
ngx_http_attest_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_attest_metrics_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_attest_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_attest_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              format;
    ngx_array_t            zones;
    ngx_chain_t           *cl;
    ngx_http_attest_mw_t   mw;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "attest: metrics handler");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&mw, sizeof(ngx_http_attest_mw_t));

    mw.r = r;
    mw.last = &mw.out;
    mw.now = ngx_http_attest_now();

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
        && format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0)
    {
        mw.json = 1;
    }

    if (ngx_array_init(&zones, r->pool, 2, sizeof(ngx_http_attest_mzone_t))
        != NGX_OK
        || ngx_http_attest_metrics_snapshot(r, &zones) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = mw.json ? ngx_http_attest_metrics_json(&mw, &zones)
                 : ngx_http_attest_metrics_text(&mw, &zones);

    if (rc != NGX_OK || mw.b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mw.b->last_buf = (r == r->main) ? 1 : 0;
    mw.b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = mw.out; cl; cl = cl->next) {
        r->headers_out.content_length_n += ngx_buf_size(cl->buf);
    }

    if (mw.json) {
        ngx_str_set(&r->headers_out.content_type, "application/json");

    } else {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, mw.out);
}


/* the counters and keys of every attest zone, copied */
static ngx_int_t
ngx_http_attest_metrics_snapshot(ngx_http_request_t *r, ngx_array_t *zones)
{
    ngx_uint_t                   i;
    ngx_list_part_t             *part;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_attest_mzone_t     *z;
    ngx_http_attest_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_attest_module);

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag != &ngx_http_attest_module
            || shm_zone[i].data == NULL)
        {
            continue;
        }

        z = ngx_array_push(zones);
        if (z == NULL) {
            return NGX_ERROR;
        }

        z->name = shm_zone[i].shm.name;

        ngx_memcpy(&z->c,
                   (void *) ngx_http_attest_zone_counters(&shm_zone[i]),
                   sizeof(ngx_http_attest_counters_t));

        if (ngx_array_init(&z->keys, r->pool, 4,
                           sizeof(ngx_http_attest_zone_key_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_attest_zone_keys(&shm_zone[i], r->pool,
                                      alcf->metrics_keys, &z->keys,
                                      &z->entries)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static u_char *
ngx_http_attest_mw_reserve(ngx_http_attest_mw_t *mw, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (mw->b && (size_t) (mw->b->end - mw->b->last) >= n) {
        return mw->b->last;
    }

    b = ngx_create_temp_buf(mw->r->pool, ngx_max(n, ngx_pagesize));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(mw->r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *mw->last = cl;
    mw->last = &cl->next;
    mw->b = b;

    return b->last;
}


/* formatted text of at most NGX_HTTP_ATTEST_MW_LINE bytes */
static ngx_int_t
ngx_http_attest_mw_printf(ngx_http_attest_mw_t *mw, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_http_attest_mw_reserve(mw, NGX_HTTP_ATTEST_MW_LINE);
    if (p == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    mw->b->last = ngx_vslprintf(p, p + NGX_HTTP_ATTEST_MW_LINE, fmt, args);
    va_end(args);

    return NGX_OK;
}


/*
 * A string inside quotes, escaped for the output's format: a Prometheus
 * label value (backslash, quote and newline) or a JSON string (also the
 * other control characters).  Bytes that are not UTF-8 become U+FFFD, as
 * both formats require UTF-8.
 */
static ngx_int_t
ngx_http_attest_mw_str(ngx_http_attest_mw_t *mw, ngx_str_t *s)
{
    u_char    *p, *last, *start, *o;
    uint32_t   u;

    o = ngx_http_attest_mw_reserve(mw, s->len * 6 + 2);
    if (o == NULL) {
        return NGX_ERROR;
    }

    *o++ = '"';

    p = s->data;
    last = s->data + s->len;

    while (p < last) {

        if (*p < 0x80) {
            if (*p == '"' || *p == '\\') {
                *o++ = '\\';
                *o++ = *p;

            } else if (*p == '\n') {
                *o++ = '\\';
                *o++ = 'n';

            } else if (mw->json && (*p < 0x20 || *p == 0x7f)) {
                o = ngx_sprintf(o, "\\u%04xd", (ngx_uint_t) *p);

            } else {
                *o++ = *p;
            }

            p++;
            continue;
        }

        start = p;
        u = ngx_utf8_decode(&p, last - p);

        if (u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            if (p == start) {
                p++;
            }

            o = mw->json ? ngx_cpymem(o, "\\ufffd", 6)
                         : ngx_cpymem(o, "\xef\xbf\xbd", 3);
            continue;
        }

        o = ngx_cpymem(o, start, p - start);
    }

    *o++ = '"';

    mw->b->last = o;

    return NGX_OK;
}


static ngx_int_t
ngx_http_attest_mw_family(ngx_http_attest_mw_t *mw, const char *name,
    const char *type, const char *help)
{
    return ngx_http_attest_mw_printf(mw, "# HELP %s %s\n# TYPE %s %s\n",
                                     name, help, name, type);
}


/* "name{zone="z"" of a series, the caller adds labels and the value */
static ngx_int_t
ngx_http_attest_mw_series(ngx_http_attest_mw_t *mw, const char *name,
    ngx_http_attest_mzone_t *z)
{
    if (ngx_http_attest_mw_printf(mw, "%s{zone=", name) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_attest_mw_str(mw, &z->name);
}


/*
 * Counters by result (or status) and reason: the nonzero ones, and always
 * the first row's (verified) one, so that the series exist from the start.
 */
static ngx_int_t
ngx_http_attest_mw_reasons(ngx_http_attest_mw_t *mw, const char *name,
    const char *label, ngx_http_attest_mzone_t *z, ngx_atomic_t *counts,
    ngx_str_t *rows, ngx_uint_t n)
{
    ngx_uint_t     i, j, first;
    ngx_atomic_t  *row;

    first = 1;

    for (i = 0; i < n; i++) {
        row = counts + i * ATTEST_REASON_MAX;

        for (j = 0; j < ATTEST_REASON_MAX; j++) {

            if (row[j] == 0 && !(i == 0 && j == ATTEST_OK)) {
                continue;
            }

            if (mw->json) {
                if (ngx_http_attest_mw_printf(mw, "%s{\"%s\":\"%V\","
                                              "\"reason\":\"%s\","
                                              "\"count\":%uA}",
                                              first ? "" : ",", label,
                                              &rows[i],
                                              j == ATTEST_OK ? ""
                                              : attest_reason_name(j),
                                              row[j])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                first = 0;
                continue;
            }

            if (ngx_http_attest_mw_series(mw, name, z) != NGX_OK
                || ngx_http_attest_mw_printf(mw, ",%s=\"%V\",reason=\"%s\"} "
                                             "%uA\n", label, &rows[i],
                                             j == ATTEST_OK ? ""
                                             : attest_reason_name(j),
                                             row[j])
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_attest_text_histogram(ngx_http_attest_mw_t *mw,
    ngx_http_attest_mzone_t *z)
{
    ngx_uint_t     i;
    ngx_atomic_t   sum;

    sum = 0;

    for (i = 0; i < NGX_HTTP_ATTEST_NBUCKETS; i++) {
        sum += z->c.fetch_buckets[i];

        if (ngx_http_attest_mw_series(mw, "nginx_attest_fetch_duration_"
                                      "seconds_bucket", z) != NGX_OK
            || ngx_http_attest_mw_printf(mw, ",le=\"%s\"} %uA\n",
                                         ngx_http_attest_mbounds[i], sum)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_attest_mw_series(mw, "nginx_attest_fetch_duration_"
                                  "seconds_sum", z) != NGX_OK
        || ngx_http_attest_mw_printf(mw, "} %uA.%03uA\n",
                                     z->c.fetch_msec / 1000,
                                     z->c.fetch_msec % 1000) != NGX_OK
        || ngx_http_attest_mw_series(mw, "nginx_attest_fetch_duration_"
                                     "seconds_count", z) != NGX_OK
        || ngx_http_attest_mw_printf(mw, "} %uA\n", sum) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* counters with a result label: lookups, discoveries, refreshes */
static ngx_int_t
ngx_http_attest_text_results(ngx_http_attest_mw_t *mw, const char *name,
    ngx_http_attest_mzone_t *z, ngx_atomic_t *counts, ngx_str_t *results,
    ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_http_attest_mw_series(mw, name, z) != NGX_OK
            || ngx_http_attest_mw_printf(mw, ",result=\"%V\"} %uA\n",
                                         &results[i], counts[i])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the keys a zone holds: signers per key, time left per signer */
static ngx_int_t
ngx_http_attest_text_keys(ngx_http_attest_mw_t *mw,
    ngx_http_attest_mzone_t *z, ngx_uint_t expiry)
{
    u_char                          addr[43];
    ngx_uint_t                      i, j;
    ngx_msec_int_t                  left;
    ngx_http_attest_zone_key_t     *k;
    ngx_http_attest_zone_signer_t  *s;

    k = z->keys.elts;

    for (i = 0; i < z->keys.nelts; i++) {
        s = k[i].signers.elts;

        for (j = 0; j < (expiry ? k[i].signers.nelts : 1); j++) {

            if (ngx_http_attest_mw_series(mw, expiry
                    ? "nginx_attest_attestation_expiry_seconds"
                    : "nginx_attest_signers", z) != NGX_OK
                || ngx_http_attest_mw_printf(mw, ",key=") != NGX_OK
                || ngx_http_attest_mw_str(mw, &k[i].key) != NGX_OK
                || ngx_http_attest_mw_printf(mw, ",policy=\"%08xD\"",
                                             k[i].policy) != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (!expiry) {
                if (ngx_http_attest_mw_printf(mw, "} %ui\n",
                                              k[i].signers.nelts)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                continue;
            }

            attest_eth_format_address(s[j].address, (char *) addr);
            left = s[j].expires_at - mw->now;
            left = left < 0 ? 0 : left;

            if (ngx_http_attest_mw_printf(mw, ",signer=\"%*s\"} %M.%03M\n",
                                          (size_t) 42, addr,
                                          (ngx_msec_t) left / 1000,
                                          (ngx_msec_t) left % 1000)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* the series of family f (in the order of the table below) of zone z */
static ngx_int_t
ngx_http_attest_text_family(ngx_http_attest_mw_t *mw, ngx_uint_t f,
    const char *name, ngx_http_attest_mzone_t *z)
{
    switch (f) {

    case 0:
        return ngx_http_attest_mw_reasons(mw, name, "status", z,
                                          z->c.responses[1],
                                          &ngx_http_attest_mverdicts[1],
                                          NGX_HTTP_ATTEST_NVERDICTS - 1);

    case 1:
        return ngx_http_attest_mw_reasons(mw, name, "result", z,
                                          z->c.fetches[0],
                                          ngx_http_attest_mresults, 2);

    case 2:
        return ngx_http_attest_text_histogram(mw, z);

    case 3:
        return ngx_http_attest_text_results(mw, name, z, z->c.lookups,
                                            ngx_http_attest_mlookups, 3);

    case 4:
    case 5:
        if (ngx_http_attest_mw_series(mw, name, z) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_attest_mw_printf(mw, "} %uA\n",
                                         f == 4 ? z->c.evictions
                                                : (ngx_atomic_uint_t)
                                                  z->entries);

    case 6:
    case 7:
        return ngx_http_attest_text_keys(mw, z, f == 7);

    case 8:
        return ngx_http_attest_text_results(mw, name, z, z->c.discoveries,
                                            ngx_http_attest_mresults, 2);

    default: /* 9 */
        return ngx_http_attest_text_results(mw, name, z, z->c.refreshes,
                                            ngx_http_attest_mresults, 2);
    }
}


static ngx_int_t
ngx_http_attest_metrics_text(ngx_http_attest_mw_t *mw, ngx_array_t *zones)
{
    ngx_uint_t                i, f;
    ngx_http_attest_mzone_t  *z;

    static struct {
        const char  *name;
        const char  *type;
        const char  *help;
    } families[] = {
        { "nginx_attest_responses_total", "counter",
          "Responses by attestation verdict and failure reason." },
        { "nginx_attest_fetches_total", "counter",
          "Attestation report fetches by result and failure reason." },
        { "nginx_attest_fetch_duration_seconds", "histogram",
          "Time from the start of an attestation fetch to its result." },
        { "nginx_attest_cache_lookups_total", "counter",
          "Requests that found a fresh attestation (hit), fetched one "
          "(miss) or waited for another request's fetch (wait)." },
        { "nginx_attest_evictions_total", "counter",
          "Keys evicted from a full zone, least recently used first." },
        { "nginx_attest_entries", "gauge",
          "Keys the zone holds." },
        { "nginx_attest_signers", "gauge",
          "Attested signers of a key that have not expired "
          "(the most recently used keys, up to attest_metrics_keys)." },
        { "nginx_attest_attestation_expiry_seconds", "gauge",
          "Seconds until the attestation of a key's signer expires." },
        { "nginx_attest_discoveries_total", "counter",
          "Discoveries of a key's attested machines by result." },
        { "nginx_attest_refreshes_total", "counter",
          "Background re-attestations by result." }
    };

    z = zones->elts;

    for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {

        if (ngx_http_attest_mw_family(mw, families[f].name,
                                      families[f].type, families[f].help)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (i = 0; i < zones->nelts; i++) {
            if (ngx_http_attest_text_family(mw, f, families[f].name, &z[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_attest_json_keys(ngx_http_attest_mw_t *mw,
    ngx_http_attest_mzone_t *z)
{
    u_char                          addr[43];
    ngx_uint_t                      i, j;
    ngx_msec_int_t                  left;
    ngx_http_attest_zone_key_t     *k;
    ngx_http_attest_zone_signer_t  *s;

    k = z->keys.elts;

    for (i = 0; i < z->keys.nelts; i++) {
        s = k[i].signers.elts;

        if (ngx_http_attest_mw_printf(mw, "%s{\"key\":", i ? "," : "")
            != NGX_OK
            || ngx_http_attest_mw_str(mw, &k[i].key) != NGX_OK
            || ngx_http_attest_mw_printf(mw, ",\"policy\":\"%08xD\","
                                         "\"signers\":%ui,"
                                         "\"attestations\":[",
                                         k[i].policy, k[i].signers.nelts)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (j = 0; j < k[i].signers.nelts; j++) {
            attest_eth_format_address(s[j].address, (char *) addr);
            left = s[j].expires_at - mw->now;
            left = left < 0 ? 0 : left;

            if (ngx_http_attest_mw_printf(mw, "%s{\"signer\":\"%*s\","
                                          "\"expiry_seconds\":%M.%03M}",
                                          j ? "," : "", (size_t) 42, addr,
                                          (ngx_msec_t) left / 1000,
                                          (ngx_msec_t) left % 1000)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (ngx_http_attest_mw_printf(mw, "]}") != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_attest_json_results(ngx_http_attest_mw_t *mw, const char *name,
    ngx_atomic_t *counts, ngx_str_t *results, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (ngx_http_attest_mw_printf(mw, ",\"%s\":{", name) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_attest_mw_printf(mw, "%s\"%V\":%uA", i ? "," : "",
                                      &results[i], counts[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_attest_mw_printf(mw, "}");
}


static ngx_int_t
ngx_http_attest_json_zone(ngx_http_attest_mw_t *mw,
    ngx_http_attest_mzone_t *z)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  sum;

    if (ngx_http_attest_mw_str(mw, &z->name) != NGX_OK
        || ngx_http_attest_mw_printf(mw, ":{\"responses\":[") != NGX_OK
        || ngx_http_attest_mw_reasons(mw, NULL, "status", z,
                                      z->c.responses[1],
                                      &ngx_http_attest_mverdicts[1],
                                      NGX_HTTP_ATTEST_NVERDICTS - 1)
           != NGX_OK
        || ngx_http_attest_mw_printf(mw, "],\"fetches\":[") != NGX_OK
        || ngx_http_attest_mw_reasons(mw, NULL, "result", z,
                                      z->c.fetches[0],
                                      ngx_http_attest_mresults, 2)
           != NGX_OK
        || ngx_http_attest_mw_printf(mw, "],\"fetch_duration_seconds\":"
                                     "{\"buckets\":{") != NGX_OK)
    {
        return NGX_ERROR;
    }

    sum = 0;

    for (i = 0; i < NGX_HTTP_ATTEST_NBUCKETS; i++) {
        sum += z->c.fetch_buckets[i];

        if (ngx_http_attest_mw_printf(mw, "%s\"%s\":%uA", i ? "," : "",
                                      ngx_http_attest_mbounds[i], sum)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_attest_mw_printf(mw, "},\"sum\":%uA.%03uA,\"count\":%uA}",
                                  z->c.fetch_msec / 1000,
                                  z->c.fetch_msec % 1000, sum) != NGX_OK
        || ngx_http_attest_json_results(mw, "cache_lookups", z->c.lookups,
                                        ngx_http_attest_mlookups, 3)
           != NGX_OK
        || ngx_http_attest_mw_printf(mw, ",\"evictions\":%uA,"
                                     "\"entries\":%ui",
                                     z->c.evictions, z->entries) != NGX_OK
        || ngx_http_attest_json_results(mw, "discoveries", z->c.discoveries,
                                        ngx_http_attest_mresults, 2)
           != NGX_OK
        || ngx_http_attest_json_results(mw, "refreshes", z->c.refreshes,
                                        ngx_http_attest_mresults, 2)
           != NGX_OK
        || ngx_http_attest_mw_printf(mw, ",\"keys\":[") != NGX_OK
        || ngx_http_attest_json_keys(mw, z) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_attest_mw_printf(mw, "]}");
}


/* {"zones":{"<name>":{...}, ...}}: the figures of the text format */
static ngx_int_t
ngx_http_attest_metrics_json(ngx_http_attest_mw_t *mw, ngx_array_t *zones)
{
    ngx_uint_t                i;
    ngx_http_attest_mzone_t  *z;

    if (ngx_http_attest_mw_printf(mw, "{\"zones\":{") != NGX_OK) {
        return NGX_ERROR;
    }

    z = zones->elts;

    for (i = 0; i < zones->nelts; i++) {
        if ((i && ngx_http_attest_mw_printf(mw, ",") != NGX_OK)
            || ngx_http_attest_json_zone(mw, &z[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_attest_mw_printf(mw, "}}\n");
}
