/*
 * ngx_http_attest_module: shared declarations of the nginx layer.
 *
 * The layer only wires nginx to the verification core (src/core).  Its
 * files form a tree; each uses only those listed after it:
 *
 *   ngx_http_attest_module.c     the directives and their configuration;
 *                                wires the others into nginx
 *   ngx_http_attest_filter.c     the response filters: the only owner of
 *                                the next-filter pointers; holds and
 *                                verifies non-streaming bodies, and
 *                                dispatches to the fetch guard and the
 *                                stream
 *   ngx_http_attest_fetch.c      the pre-content handler that fetches and
 *                                verifies reports, and the size guard of
 *                                its subrequest's response
 *   ngx_http_attest_sse.c        verified streaming: turns upstream
 *                                buffers into the chain to send
 *   ngx_http_attest_variables.c  the variables
 *   ngx_http_attest_request.c    request binding: reads and hashes the
 *                                client's body before the fetch, checks
 *                                the request half of a signed text
 *   ngx_http_attest_metrics.c    attest_metrics: the zones' counters and
 *                                contents for Prometheus and as JSON
 *   ngx_http_attest_ctx.c        the request's context and its verdict,
 *                                counted once when the request ends
 *   ngx_http_attest_zone.c       the shared-memory cache, its counters
 *                                and its clock
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

#include "ngx_http_attest_metrics.h"


/* attest off | enforce | report */
#define NGX_HTTP_ATTEST_MODE_OFF          0
#define NGX_HTTP_ATTEST_MODE_ENFORCE      1
#define NGX_HTTP_ATTEST_MODE_REPORT       2

/* attest_sse_signature strip | pass */
#define NGX_HTTP_ATTEST_SSE_STRIP         0
#define NGX_HTTP_ATTEST_SSE_PASS          1

/* a response's verdict */
#define NGX_HTTP_ATTEST_VERDICT_NONE        0
#define NGX_HTTP_ATTEST_VERDICT_VERIFIED    1
#define NGX_HTTP_ATTEST_VERDICT_FAILED      2
#define NGX_HTTP_ATTEST_VERDICT_UNVERIFIED  3

/* what the body filter does with upstream bytes */
#define NGX_HTTP_ATTEST_STATE_PASS        0  /* forward as they come */
#define NGX_HTTP_ATTEST_STATE_BUFFER      1  /* hold and hash to the end */
#define NGX_HTTP_ATTEST_STATE_REPLACE     2  /* send the error body, drop */
#define NGX_HTTP_ATTEST_STATE_DISCARD     3  /* drop everything */
#define NGX_HTTP_ATTEST_STATE_STREAM      4  /* verify SSE on the fly */


/*
 * The zone's header in shared memory.  Entries are stored verbatim and a
 * zone outlives reloads, so its first word names the layout
 * (NGX_HTTP_ATTEST_ZONE_LAYOUT in ngx_http_attest_zone.c): a reload into a
 * build with another layout starts with an empty zone.
 */
typedef struct {
    uint64_t                    layout;     /* NGX_HTTP_ATTEST_ZONE_LAYOUT */
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;        /* keys with machines */
    ngx_queue_t                 pending;    /* failed or being fetched */
    ngx_uint_t                  npending;
    ngx_http_attest_counters_t  counters;
} ngx_http_attest_shctx_t;


typedef struct {
    ngx_http_attest_shctx_t    *sh;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *shm_zone;
} ngx_http_attest_zone_t;


/* zone lookups */
#define NGX_HTTP_ATTEST_ZONE_FRESH        0  /* a verified entry within TTL */
#define NGX_HTTP_ATTEST_ZONE_MISS         1  /* none: the caller now fetches */
#define NGX_HTTP_ATTEST_ZONE_WAIT         2  /* another request is fetching */
#define NGX_HTTP_ATTEST_ZONE_LOST         3  /* the fetch waited on failed */
/* discovery of an unknown signer */
#define NGX_HTTP_ATTEST_ZONE_FOUND        4  /* it is attested now */
#define NGX_HTTP_ATTEST_ZONE_UNATTESTED   5  /* it was not found */
#define NGX_HTTP_ATTEST_ZONE_FETCH        6  /* the caller fetches */

/* a zone key: "<scope in 32 hex digits>:<attest_key>" */
#define NGX_HTTP_ATTEST_SCOPE_LEN         16
#define NGX_HTTP_ATTEST_SCOPE_HEX         (2 * NGX_HTTP_ATTEST_SCOPE_LEN)


/* one attested machine as the cache and a request see it */
typedef struct {
    attest_result_t             result;
    ngx_msec_int_t              verified_at;    /* wall clock, ms */
    ngx_msec_int_t              expires_at;
    ngx_msec_int_t              seen_at;        /* last verified answer */
} ngx_http_attest_entry_t;


/* a request's dealings with its key in the zone */
typedef struct {
    ngx_str_t                   key;            /* scope + attest_key */
    ngx_uint_t                  max;            /* attest_signers */
    ngx_msec_t                  refresh;        /* 0: off */
    ngx_uint_t                  discover;       /* attest_discover */
    ngx_msec_int_t              since;          /* failures that count */
    ngx_uint_t                  lease;          /* 0: none held */
    ngx_http_attest_entry_t    *machines;       /* unexpired, copied */
    ngx_uint_t                  nmachines;
    ngx_uint_t                  fetches;        /* the key's, last seen */
    ngx_uint_t                  discovered;     /* caused or waited on */
    attest_reason_t             reason;
    unsigned                    refresh_due:1;
    unsigned                    disc_started:1;
} ngx_http_attest_zone_req_t;


/* what attest_metrics shows of one key the zone holds */
typedef struct {
    u_char                      address[20];
    ngx_msec_int_t              expires_at;     /* wall clock, ms */
} ngx_http_attest_zone_signer_t;


typedef struct {
    ngx_str_t                   key;            /* as attest_key gave it */
    uint32_t                    policy;
    ngx_array_t                 signers;        /* unexpired ones only */
} ngx_http_attest_zone_key_t;


/*
 * where a directive stands: errors found after its block (in merge or
 * postconfiguration) name it instead of the end of "http"
 */
typedef struct {
    ngx_str_t                   file;
    ngx_uint_t                  line;
    ngx_uint_t                 *noticed;        /* weak-config notes given */
} ngx_http_attest_where_t;


typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_http_attest_where_t     where;          /* the "attest" naming it */
} ngx_http_attest_zone_use_t;


typedef struct {
    ngx_array_t                 zones;          /* ngx_http_attest_zone_use_t */
} ngx_http_attest_main_conf_t;


typedef struct {
    ngx_uint_t                  mode;
    ngx_http_attest_where_t     where;           /* of "attest" */
    ngx_shm_zone_t             *shm_zone;
    ngx_http_complex_value_t   *key;
    ngx_str_t                   fetch;
    ngx_msec_t                  ttl;
    ngx_array_t                *image_digests;   /* attest_str_t */
    size_t                      body_max;
    size_t                      report_max;
    ngx_str_t                   status_header;   /* empty: "off" */
    ngx_uint_t                  sse_signature;
    size_t                      sse_line_max;
    ngx_flag_t                  stream_hold;

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

    ngx_uint_t                  signers;         /* attest_signers */
    ngx_uint_t                  discover;        /* attest_discover */
    ngx_msec_t                  refresh_conf;    /* attest_refresh, 0 off */
    ngx_msec_t                  refresh;         /* in effect */

    attest_policy_t            *policy;
    ngx_str_t                   scope;           /* "<32 hex>:" */
    u_char                      gpu_root_sha[32];
    u_char                      cpu_root_sha[32];

    ngx_uint_t                  metrics_keys;
    ngx_flag_t                  bind_request;
} ngx_http_attest_loc_conf_t;


typedef struct {
    ngx_str_t                   key;
    ngx_http_attest_zone_req_t  zr;             /* the key in the zone */
    ngx_shm_zone_t             *shm_zone;
    u_char                      nonce[32];
    u_char                      nonce_hex[64];

    unsigned                    started:1;
    unsigned                    fetching:1;
    unsigned                    attested:1;     /* entry below is valid */
    unsigned                    fetched:1;      /* this request fetched */
    unsigned                    header_sent:1;
    unsigned                    fetch_too_big:1;
    unsigned                    decided:1;
    /* found again through its pool cleanup after an internal redirect */
    unsigned                    redirected:1;

    /* the mode of the attested location the request entered */
    ngx_uint_t                  mode;
    unsigned                    fetch_kind:2;
    unsigned                    discovering:1;  /* the verdict waits */
    unsigned                    disc_done:1;
    unsigned                    resp_done:1;    /* the last buffer came */
    unsigned                    looked_up:1;

    /* why there is no verified attestation (ATTEST_OK: there is one) */
    attest_reason_t             attestation_reason;
    ngx_http_request_t         *fetch_sr;
    ngx_int_t                   fetch_rc;       /* as fetch_done saw it */
    off_t                       fetch_size;
    ngx_event_t                 disc_timer;     /* discovery looks again */
    u_char                      claimed[20];    /* the response's signer */
    ngx_msec_t                  fetch_start;    /* monotonic */
    ngx_http_attest_entry_t     entry;

    ngx_uint_t                  verdict;        /* _VERDICT_ */
    attest_reason_t             verdict_reason; /* why not verified */
    ngx_uint_t                  state;          /* _STATE_ */

    /* non-streaming verification */
    attest_sig_fields_t         fields;
    attest_text_t               text;
    attest_jsonhash_t          *hash;
    void                       *chunks;   /* ngx_http_attest_chunk_get() */
    ngx_chain_t                *body;
    ngx_chain_t               **body_last;
    ngx_buf_t                  *body_buf;
    size_t                      body_size;

    /*
     * streaming verification: the protocol's state is in the core's
     * accumulator, these only record what the client was sent
     */
    attest_sse_t               *sse;
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    unsigned                    sse_verdict_sent:1;
    unsigned                    sse_tail_sent:1;  /* blank after [DONE] */
    unsigned                    sse_trailer:1;
    unsigned                    sse_closed:1;
    unsigned                    sse_hold:1;       /* attest_stream_hold */
    unsigned                    sse_open:1;       /* an event was begun */
    unsigned                    sse_line_max:1;   /* the line cap is
                                                     attest_sse_line_max */
    unsigned                    sse_strip:1;      /* attest_sse_signature
                                                     strip */

    /* attest_stream_hold: what is held until the verdict */
    ngx_chain_t                *held;
    ngx_chain_t               **held_last;
    ngx_buf_t                  *held_buf;
    size_t                      held_size;

    /* request binding (ngx_http_attest_request.c) */
    unsigned                    body_reading:1;
    unsigned                    body_done:1;
    unsigned                    bind:1;          /* answers are checked */
    unsigned                    request_bound:1; /* request_hash is valid */
    ngx_int_t                   body_rc;
    u_char                      request_hash[32];
    ngx_str_t                   request_model;   /* decoded, UTF-8 */
    unsigned                    sse_held:1;       /* [DONE] waits */
    unsigned                    sse_last:1;       /* the last buffer came */
    unsigned                    sse_tail_held:1;
    ngx_str_t                   sse_done_line;
    ngx_str_t                   sse_tail_line;
} ngx_http_attest_ctx_t;


/* attest_key values longer than this are refused (key_too_long) */
#define NGX_HTTP_ATTEST_KEY_MAX           256


/*
 * r->buffered while discovery holds a response's verdict: the bit of the
 * image filter, which never runs in an attested location
 */
#define NGX_HTTP_ATTEST_BUFFERED          0x08


extern ngx_module_t  ngx_http_attest_module;


/* zone (uses the core only) */
char *ngx_http_attest_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_attest_zone_lookup(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_http_attest_zone_discover(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, const u_char *claimed,
    ngx_http_attest_entry_t *entry, ngx_log_t *log);
void ngx_http_attest_zone_store(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, ngx_http_attest_entry_t *entry,
    attest_reason_t reason, ngx_log_t *log);
void ngx_http_attest_zone_release(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr);
void ngx_http_attest_zone_touch(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, const u_char *address);
ngx_http_attest_counters_t *ngx_http_attest_zone_counters(
    ngx_shm_zone_t *shm_zone);
void ngx_http_attest_zone_count_response(ngx_shm_zone_t *shm_zone,
    ngx_uint_t verdict, attest_reason_t reason);
void ngx_http_attest_zone_count_lookup(ngx_shm_zone_t *shm_zone,
    ngx_int_t rc);
void ngx_http_attest_zone_count_fetch(ngx_shm_zone_t *shm_zone,
    attest_reason_t reason, ngx_msec_t msec);
ngx_int_t ngx_http_attest_zone_keys(ngx_shm_zone_t *shm_zone,
    ngx_pool_t *pool, ngx_uint_t max, ngx_array_t *keys,
    ngx_uint_t *entries);

ngx_msec_int_t ngx_http_attest_now(void);

/* the request's context and verdict (uses zone) */
ngx_http_attest_ctx_t *ngx_http_attest_find_ctx(ngx_http_request_t *r);
ngx_http_attest_ctx_t *ngx_http_attest_get_ctx(ngx_http_request_t *r);
void ngx_http_attest_set_verdict(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_uint_t verdict, attest_reason_t reason);
u_char *ngx_http_attest_verdict_text(ngx_http_attest_ctx_t *ctx, u_char *buf,
    size_t size);
ngx_int_t ngx_http_attest_error_body(ngx_http_request_t *r,
    attest_reason_t reason, ngx_buf_t **out);
ngx_int_t ngx_http_attest_add_no_retry(ngx_http_request_t *r,
    attest_reason_t reason);
ngx_int_t ngx_http_attest_add_status_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_add_trailer(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_log_handler(ngx_http_request_t *r);
/*
 * A buffer of NGX_HTTP_ATTEST_CHUNK bytes for a held body, kept by the
 * worker from one response to the next (fresh memory costs a page fault a
 * page on a VM); it goes back when the request's pool goes.  NULL: error.
 */
#define NGX_HTTP_ATTEST_CHUNK  (64 * 1024)

ngx_buf_t *ngx_http_attest_chunk_get(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
void ngx_http_attest_chunk_exit(void);

void ngx_http_attest_signer(ngx_http_attest_ctx_t *ctx,
    attest_signer_t *signer);

/* request binding (uses ctx) */
ngx_int_t ngx_http_attest_request_read(ngx_http_request_t *r,
    ngx_http_attest_loc_conf_t *alcf, ngx_http_attest_ctx_t *ctx);
attest_reason_t ngx_http_attest_request_check(ngx_http_attest_ctx_t *ctx,
    const attest_text_t *text, attest_err_t *err);
attest_reason_t ngx_http_attest_request_check_sse(
    ngx_http_attest_ctx_t *ctx, attest_err_t *err);
void ngx_http_attest_request_exit(void);

/* fetch (uses ctx, zone, request) */
ngx_int_t ngx_http_attest_precontent_handler(ngx_http_request_t *r);
void ngx_http_attest_fetch_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_fetch_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_attest_discover(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
void ngx_http_attest_seen(ngx_http_request_t *r, ngx_http_attest_ctx_t *ctx);

/* streaming (uses ctx, request) */
ngx_int_t ngx_http_attest_sse_header(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx);
ngx_int_t ngx_http_attest_sse_resume(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t **out);
ngx_int_t ngx_http_attest_sse_body(ngx_http_request_t *r,
    ngx_http_attest_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);

/* filters (uses ctx, fetch, sse, request) */
ngx_int_t ngx_http_attest_filter_init(ngx_conf_t *cf);

/* variables (uses ctx, zone) */
ngx_int_t ngx_http_attest_add_variables(ngx_conf_t *cf);

/* attest_metrics (uses zone) */
char *ngx_http_attest_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

#endif /* _NGX_HTTP_ATTEST_MODULE_H_INCLUDED_ */
