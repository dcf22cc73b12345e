/*
 * ngx_http_attest_module: shared declarations of the nginx layer.
 *
 * The layer only wires nginx to the verification core (src/core): the
 * directives and their configuration (ngx_http_attest_module.c), the
 * shared-memory cache of verified attestations (ngx_http_attest_zone.c),
 * the pre-content handler that fetches and verifies reports
 * (ngx_http_attest_fetch.c), the response filters that verify signed
 * completions (ngx_http_attest_filter.c) and streams
 * (ngx_http_attest_sse.c), and the variables (ngx_http_attest_variables.c).
 */

#ifndef _NGX_HTTP_ATTEST_MODULE_H_INCLUDED_
#define _NGX_HTTP_ATTEST_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "attest_reason.h"
#include "attest_verify.h"
#include "attest_jsonhash.h"
#include "attest_sse.h"


#define NGX_HTTP_ATTEST_OFF        0
#define NGX_HTTP_ATTEST_ENFORCE    1
#define NGX_HTTP_ATTEST_REPORT     2

#define NGX_HTTP_ATTEST_SSE_STRIP  0
#define NGX_HTTP_ATTEST_SSE_PASS   1

/* verdicts */
#define NGX_HTTP_ATTEST_NONE        0
#define NGX_HTTP_ATTEST_VERIFIED    1
#define NGX_HTTP_ATTEST_FAILED      2
#define NGX_HTTP_ATTEST_UNVERIFIED  3

/* what the body filter does with upstream bytes */
#define NGX_HTTP_ATTEST_PASS       0     /* forward as they come */
#define NGX_HTTP_ATTEST_BUFFER     1     /* hold and hash until the end */
#define NGX_HTTP_ATTEST_REPLACE    2     /* send the error body, then drop */
#define NGX_HTTP_ATTEST_DISCARD    3     /* drop everything */
#define NGX_HTTP_ATTEST_STREAM     4     /* verify SSE on the fly */


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
} ngx_http_attest_shctx_t;


typedef struct {
    ngx_http_attest_shctx_t    *sh;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *shm_zone;
} ngx_http_attest_zone_t;


/* zone lookups */
#define NGX_HTTP_ATTEST_FRESH      0     /* a verified entry within TTL */
#define NGX_HTTP_ATTEST_MISS       1     /* none: the caller now fetches */
#define NGX_HTTP_ATTEST_WAIT       2     /* another request is fetching */
#define NGX_HTTP_ATTEST_LOST       3     /* the fetch waited on failed */

/* how long one fetch holds a key, and how often waiters look again */
#define NGX_HTTP_ATTEST_LEASE      30000
#define NGX_HTTP_ATTEST_POLL       20


/* one verified attestation as the cache and a request see it */
typedef struct {
    attest_result_t             result;
    ngx_msec_int_t              verified_at;    /* wall clock, ms */
    ngx_msec_int_t              expires_at;
} ngx_http_attest_entry_t;


typedef struct {
    ngx_array_t                 zones;          /* ngx_shm_zone_t * */
} ngx_http_attest_main_conf_t;


typedef struct {
    ngx_uint_t                  mode;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_complex_value_t   *key;
    ngx_str_t                   fetch;
    ngx_msec_t                  ttl;
    ngx_array_t                *image_digests;   /* attest_str_t */
    size_t                      body_max;
    size_t                      report_max;
    ngx_str_t                   status_header;   /* empty: "off" */
    ngx_uint_t                  sse_signature;

    ngx_uint_t                  gpu;
    ngx_str_t                   gpu_root_file;
    attest_gpu_root_t          *gpu_root;
    ngx_array_t                *gpu_drivers;     /* attest_str_t */
    ngx_array_t                *gpu_vbios;       /* attest_str_t */

    ngx_uint_t                  cpu;
    ngx_str_t                   cpu_root_file;
    attest_tdx_root_t          *cpu_root;
    ngx_uint_t                  report_data;
    ngx_array_t                *mrtd;            /* 48-byte values */
    ngx_array_t                *rtmr[4];
    ngx_flag_t                  tdx_debug;

    attest_policy_t            *policy;
    uint32_t                    policy_id;       /* crc32 of the policy */
    uint32_t                    gpu_root_crc;
    uint32_t                    cpu_root_crc;
} ngx_http_attest_loc_conf_t;


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   zkey;           /* policy id + key */
    u_char                      nonce[32];
    u_char                      nonce_hex[64];

    unsigned                    started:1;
    unsigned                    fetching:1;
    unsigned                    attested:1;     /* entry below is valid */
    unsigned                    fetched:1;      /* this request fetched */
    unsigned                    header_sent:1;
    unsigned                    fetch_too_big:1;
    unsigned                    leased:1;
    unsigned                    decided:1;

    attest_reason_t             attest_reason;  /* why no attestation */
    ngx_http_request_t         *fetch_sr;
    off_t                       fetch_size;
    ngx_msec_int_t              wait_start;
    ngx_http_attest_entry_t     entry;

    ngx_uint_t                  verdict;
    attest_reason_t             reason;
    ngx_uint_t                  state;

    /* non-streaming verification */
    attest_sig_fields_t         fields;
    attest_text_t               text;
    attest_jsonhash_t          *hash;
    ngx_chain_t                *body;
    ngx_chain_t               **body_last;
    ngx_buf_t                  *body_buf;
    size_t                      body_size;

    /* streaming verification */
    attest_sse_t               *sse;
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    unsigned                    sse_in_sig:1;
    unsigned                    sse_done:1;
    unsigned                    sse_ended:1;
    unsigned                    sse_trailer:1;
    unsigned                    sse_closed:1;
    unsigned                    sse_sig_seen:1;
} ngx_http_attest_ctx_t;


extern ngx_module_t  ngx_http_attest_module;

extern ngx_http_output_header_filter_pt  ngx_http_attest_next_header_filter;
extern ngx_http_output_body_filter_pt    ngx_http_attest_next_body_filter;


/* zone */
char *ngx_http_attest_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_attest_zone_lookup(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_msec_t ttl, ngx_msec_int_t since,
    ngx_http_attest_entry_t *entry, attest_reason_t *reason, ngx_log_t *log);
void ngx_http_attest_zone_store(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_attest_entry_t *entry, attest_reason_t reason, ngx_log_t *log);

/* fetch */
ngx_int_t ngx_http_attest_precontent_handler(ngx_http_request_t *r);
ngx_http_attest_ctx_t *ngx_http_attest_get_ctx(ngx_http_request_t *r);
ngx_msec_int_t ngx_http_attest_now(void);

/* filters */
ngx_int_t ngx_http_attest_fetch_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_fetch_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_attest_filter_init(ngx_conf_t *cf);
void ngx_http_attest_set_verdict(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_uint_t verdict, attest_reason_t reason);
ngx_int_t ngx_http_attest_add_cleanup(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
u_char *ngx_http_attest_verdict_text(ngx_http_attest_ctx_t *ctx, u_char *buf,
    size_t size);
ngx_int_t ngx_http_attest_add_status_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_add_trailer(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_error_body(ngx_http_request_t *r,
    attest_reason_t reason, ngx_buf_t **out);

/* streaming */
ngx_int_t ngx_http_attest_sse_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_sse_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in);

/* variables */
ngx_int_t ngx_http_attest_add_variables(ngx_conf_t *cf);

#endif /* _NGX_HTTP_ATTEST_MODULE_H_INCLUDED_ */
