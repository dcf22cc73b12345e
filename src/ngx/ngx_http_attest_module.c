/*
 * ngx_http_attest_module: directives, configuration and module wiring.
 */

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_http_attest_module.h"

#include "attest_codec.h"
#include "attest_eth.h"
#include "attest_pem.h"
#include "attest_version.h"


static ngx_int_t ngx_http_attest_init(ngx_conf_t *cf);
static void ngx_http_attest_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_attest_init_module(ngx_cycle_t *cycle);
static void *ngx_http_attest_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_attest_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_attest_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void ngx_http_attest_weak_notice(ngx_conf_t *cf,
    ngx_http_attest_loc_conf_t *conf);
static char *ngx_http_attest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_attest_fetch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_attest_status_header(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_attest_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_attest_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_attest_root(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_attest_root_vendor(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *file, u_char *pem, size_t len, ngx_uint_t gpu);
static char *ngx_http_attest_mrtd(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_attest_rtmr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static char *ngx_http_attest_refresh(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_attest_digest_check(ngx_conf_t *cf, void *post,
    void *data);

static ngx_conf_num_bounds_t  ngx_http_attest_signers_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};

static ngx_conf_num_bounds_t  ngx_http_attest_discover_bounds = {
    ngx_conf_check_num_bounds, 0, 64
};

static ngx_conf_post_t  ngx_http_attest_digest_post = {
    ngx_http_attest_digest_check
};


/* a line must hold at least a signature event's data line */
static ngx_conf_num_bounds_t  ngx_http_attest_line_max_bounds = {
    ngx_conf_check_num_bounds, 1024, 64 * 1024 * 1024
};


/* which root a directive loads: cmd->post of attest_gpu_root and _cpu_ */
static ngx_uint_t  ngx_http_attest_gpu_root = 1;
static ngx_uint_t  ngx_http_attest_cpu_root = 0;


static ngx_conf_enum_t  ngx_http_attest_sse_signature[] = {
    { ngx_string("strip"), NGX_HTTP_ATTEST_SSE_STRIP },
    { ngx_string("pass"), NGX_HTTP_ATTEST_SSE_PASS },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_attest_evidence[] = {
    { ngx_string("off"), ATTEST_EVIDENCE_OFF },
    { ngx_string("optional"), ATTEST_EVIDENCE_OPTIONAL },
    { ngx_string("required"), ATTEST_EVIDENCE_REQUIRED },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_attest_report_data[] = {
    { ngx_string("nonce"), ATTEST_TDX_RD_NONCE },
    { ngx_string("address_nonce"), ATTEST_TDX_RD_ADDRESS_NONCE },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_attest_commands[] = {

    { ngx_string("attest_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_zone_directive,
      0,
      0,
      NULL },

    { ngx_string("attest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_attest,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("attest_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, key),
      NULL },

    { ngx_string("attest_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_fetch,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, fetch),
      NULL },

    { ngx_string("attest_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, ttl),
      NULL },

    { ngx_string("attest_image_digest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_attest_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, image_digests),
      &ngx_http_attest_digest_post },

    { ngx_string("attest_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, body_max),
      NULL },

    { ngx_string("attest_report_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, report_max),
      NULL },

    { ngx_string("attest_status_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_status_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("attest_sse_signature"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, sse_signature),
      &ngx_http_attest_sse_signature },

    { ngx_string("attest_sse_line_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, sse_line_max),
      &ngx_http_attest_line_max_bounds },

    { ngx_string("attest_stream_hold"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, stream_hold),
      NULL },

    { ngx_string("attest_gpu"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, gpu),
      &ngx_http_attest_evidence },

    { ngx_string("attest_gpu_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_root,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, gpu_root_file),
      &ngx_http_attest_gpu_root },

    { ngx_string("attest_gpu_driver"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_attest_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, gpu_drivers),
      NULL },

    { ngx_string("attest_gpu_vbios"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_attest_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, gpu_vbios),
      NULL },

    { ngx_string("attest_cpu"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, cpu),
      &ngx_http_attest_evidence },

    { ngx_string("attest_cpu_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_root,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, cpu_root_file),
      &ngx_http_attest_cpu_root },

    { ngx_string("attest_cpu_report_data"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, report_data),
      &ngx_http_attest_report_data },

    { ngx_string("attest_tdx_mrtd"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_attest_mrtd,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("attest_tdx_rtmr"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_attest_rtmr,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("attest_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_attest_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("attest_metrics_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, metrics_keys),
      NULL },

    { ngx_string("attest_bind_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, bind_request),
      NULL },

    { ngx_string("attest_signers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, signers),
      &ngx_http_attest_signers_bounds },

    { ngx_string("attest_discover"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, discover),
      &ngx_http_attest_discover_bounds },

    { ngx_string("attest_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_attest_refresh,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, refresh_conf),
      NULL },

    { ngx_string("attest_tdx_debug"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_attest_loc_conf_t, tdx_debug),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_attest_module_ctx = {
    ngx_http_attest_add_variables,         /* preconfiguration */
    ngx_http_attest_init,                  /* postconfiguration */

    ngx_http_attest_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_attest_create_loc_conf,       /* create location configuration */
    ngx_http_attest_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_attest_module = {
    NGX_MODULE_V1,
    &ngx_http_attest_module_ctx,           /* module context */
    ngx_http_attest_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_attest_init_module,           /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_attest_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_attest_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_attest_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_attest_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->zones, cf->pool, 2,
                       sizeof(ngx_http_attest_zone_use_t))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static void *
ngx_http_attest_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_attest_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_attest_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->key = NULL;
     *     conf->fetch = { 0, NULL };
     *     conf->gpu_root_file = { 0, NULL };
     *     conf->cpu_root_file = { 0, NULL };
     *     conf->policy = NULL;
     */

    conf->mode = NGX_CONF_UNSET_UINT;
    conf->shm_zone = NGX_CONF_UNSET_PTR;
    conf->ttl = NGX_CONF_UNSET_MSEC;
    conf->image_digests = NGX_CONF_UNSET_PTR;
    conf->body_max = NGX_CONF_UNSET_SIZE;
    conf->report_max = NGX_CONF_UNSET_SIZE;
    conf->status_header.len = NGX_CONF_UNSET_SIZE;
    conf->sse_signature = NGX_CONF_UNSET_UINT;
    conf->sse_line_max = NGX_CONF_UNSET_SIZE;
    conf->stream_hold = NGX_CONF_UNSET;

    conf->gpu = NGX_CONF_UNSET_UINT;
    conf->gpu_root = NGX_CONF_UNSET_PTR;
    conf->gpu_drivers = NGX_CONF_UNSET_PTR;
    conf->gpu_vbios = NGX_CONF_UNSET_PTR;

    conf->cpu = NGX_CONF_UNSET_UINT;
    conf->cpu_root = NGX_CONF_UNSET_PTR;
    conf->report_data = NGX_CONF_UNSET_UINT;
    conf->mrtd = NGX_CONF_UNSET_PTR;
    conf->rtmr[0] = NGX_CONF_UNSET_PTR;
    conf->rtmr[1] = NGX_CONF_UNSET_PTR;
    conf->rtmr[2] = NGX_CONF_UNSET_PTR;
    conf->rtmr[3] = NGX_CONF_UNSET_PTR;
    conf->tdx_debug = NGX_CONF_UNSET;
    conf->metrics_keys = NGX_CONF_UNSET_UINT;
    conf->bind_request = NGX_CONF_UNSET;
    conf->signers = NGX_CONF_UNSET_UINT;
    conf->discover = NGX_CONF_UNSET_UINT;
    conf->refresh_conf = NGX_CONF_UNSET_MSEC;

    return conf;
}


/* a value of the canonical policy: its length, then its bytes */
static void
ngx_http_attest_hash_value(EVP_MD_CTX *md, const void *p, size_t len)
{
    uint64_t  n;

    n = len;

    EVP_DigestUpdate(md, &n, sizeof(n));
    EVP_DigestUpdate(md, p, len);
}


static void
ngx_http_attest_hash_list(EVP_MD_CTX *md, ngx_array_t *a, size_t size)
{
    size_t         i;
    uint64_t       n;
    attest_str_t  *s;
    u_char        *e;

    /* none (any value) is not the same as an empty list */
    n = a ? a->nelts : (uint64_t) -1;
    EVP_DigestUpdate(md, &n, sizeof(n));

    if (a == NULL) {
        return;
    }

    s = a->elts;
    e = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (size == 0) {
            ngx_http_attest_hash_value(md, s[i].data, s[i].len);

        } else {
            ngx_http_attest_hash_value(md, e + i * size, size);
        }
    }
}


/*
 * The scope of a location's entries: SHA-256 (the first 128 bits) of
 * everything that decides what was attested.  The canonical policy (the
 * evidence, digest and measurement directives, the roots' digests), the
 * attest_fetch location and the server block it resolves in.  It
 * prefixes the zone key, so that a location never trusts an entry that
 * another verified under a looser policy or fetched from elsewhere.
 */
static ngx_int_t
ngx_http_attest_scope(ngx_conf_t *cf, ngx_http_attest_loc_conf_t *conf)
{
    u_char                       digest[32];
    uint64_t                     v[6];
    ngx_uint_t                   i, server;
    EVP_MD_CTX                  *md;
    unsigned int                 n;
    ngx_http_core_srv_conf_t    *cscf, **servers;
    ngx_http_core_main_conf_t   *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    /* attest_fetch names a location of this server: its place */
    servers = cmcf->servers.elts;

    for (server = 0; server < cmcf->servers.nelts; server++) {
        if (servers[server] == cscf) {
            break;
        }
    }

    v[0] = conf->gpu;
    v[1] = conf->cpu;
    v[2] = conf->report_data;
    v[3] = conf->tdx_debug;
    v[4] = conf->report_max;
    v[5] = server;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);

    ngx_http_attest_hash_value(md, "ngx_http_attest scope 1", 23);
    ngx_http_attest_hash_value(md, v, sizeof(v));
    ngx_http_attest_hash_value(md, conf->gpu_root_sha, 32);
    ngx_http_attest_hash_value(md, conf->cpu_root_sha, 32);
    ngx_http_attest_hash_value(md, conf->fetch.data, conf->fetch.len);

    ngx_http_attest_hash_list(md, conf->image_digests, 0);
    ngx_http_attest_hash_list(md, conf->gpu_drivers, 0);
    ngx_http_attest_hash_list(md, conf->gpu_vbios, 0);
    ngx_http_attest_hash_list(md, conf->mrtd, 48);

    for (i = 0; i < 4; i++) {
        ngx_http_attest_hash_list(md, conf->rtmr[i], 48);
    }

    if (EVP_DigestFinal_ex(md, digest, &n) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    conf->scope.data = ngx_pnalloc(cf->pool, NGX_HTTP_ATTEST_SCOPE_HEX + 1);
    if (conf->scope.data == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(conf->scope.data, digest, NGX_HTTP_ATTEST_SCOPE_LEN);
    conf->scope.data[NGX_HTTP_ATTEST_SCOPE_HEX] = ':';
    conf->scope.len = NGX_HTTP_ATTEST_SCOPE_HEX + 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_attest_build_policy(ngx_conf_t *cf, ngx_http_attest_loc_conf_t *conf)
{
    ngx_uint_t        i;
    attest_policy_t  *p;

    p = ngx_pcalloc(cf->pool, sizeof(attest_policy_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p->report_max = conf->report_max;

    if (conf->image_digests) {
        p->image_digests = conf->image_digests->elts;
        p->n_image_digests = conf->image_digests->nelts;
    }

    p->gpu = conf->gpu;
    p->gpu_root = conf->gpu_root;

    if (conf->gpu_drivers) {
        p->gpu_drivers = conf->gpu_drivers->elts;
        p->n_gpu_drivers = conf->gpu_drivers->nelts;
    }

    if (conf->gpu_vbios) {
        p->gpu_vbios = conf->gpu_vbios->elts;
        p->n_gpu_vbios = conf->gpu_vbios->nelts;
    }

    p->cpu = conf->cpu;
    p->cpu_root = conf->cpu_root;
    p->report_data = conf->report_data;
    p->allow_debug = conf->tdx_debug;

    if (conf->mrtd) {
        p->mrtd = conf->mrtd->elts;
        p->n_mrtd = conf->mrtd->nelts;
    }

    for (i = 0; i < 4; i++) {
        if (conf->rtmr[i]) {
            p->rtmr[i] = conf->rtmr[i]->elts;
            p->n_rtmr[i] = conf->rtmr[i]->nelts;
        }
    }

    conf->policy = p;

    return ngx_http_attest_scope(cf, conf);
}


/* configurations that pass but verify less than they seem to */
#define NGX_HTTP_ATTEST_WEAK_DIGEST  0x01
#define NGX_HTTP_ATTEST_WEAK_NONE    0x02
#define NGX_HTTP_ATTEST_WEAK_GPU     0x04
#define NGX_HTTP_ATTEST_WEAK_CPU     0x08


static void
ngx_http_attest_weak_notice(ngx_conf_t *cf, ngx_http_attest_loc_conf_t *conf)
{
    ngx_str_t                 *f;
    ngx_uint_t                 weak;
    ngx_http_core_loc_conf_t  *clcf;

    /*
     * Only blocks that forward requests speak, and each weakness once per
     * "attest": a server-level "attest" whose locations add the checks is
     * not weak.  During merge cf->ctx holds the child's configurations.
     */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == NULL || conf->where.noticed == NULL) {
        return;
    }

    weak = 0;

    if (conf->image_digests == NULL) {
        weak |= NGX_HTTP_ATTEST_WEAK_DIGEST;
    }

    if (conf->gpu == ATTEST_EVIDENCE_OFF && conf->cpu == ATTEST_EVIDENCE_OFF)
    {
        weak |= NGX_HTTP_ATTEST_WEAK_NONE;
    }

    if (conf->gpu == ATTEST_EVIDENCE_OFF && conf->gpu_root) {
        weak |= NGX_HTTP_ATTEST_WEAK_GPU;
    }

    if (conf->cpu == ATTEST_EVIDENCE_OFF && conf->cpu_root) {
        weak |= NGX_HTTP_ATTEST_WEAK_CPU;
    }

    weak &= ~*conf->where.noticed;
    *conf->where.noticed |= weak;

    f = &conf->where.file;

    if (weak & NGX_HTTP_ATTEST_WEAK_DIGEST) {
        ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                      "\"attest\" without \"attest_image_digest\": the "
                      "image digest is not enforced in %V:%ui",
                      f, conf->where.line);
    }

    if (weak & NGX_HTTP_ATTEST_WEAK_NONE) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"attest\" in %V:%ui verifies no hardware evidence: "
                      "\"attest_gpu\" and \"attest_cpu\" are off",
                      f, conf->where.line);
    }

    if (weak & NGX_HTTP_ATTEST_WEAK_GPU) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"attest_gpu_root\" is set but \"attest_gpu\" is off "
                      "for the \"attest\" in %V:%ui: the GPU evidence is "
                      "not checked", f, conf->where.line);
    }

    if (weak & NGX_HTTP_ATTEST_WEAK_CPU) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"attest_cpu_root\" is set but \"attest_cpu\" is off "
                      "for the \"attest\" in %V:%ui: the TDX quote is "
                      "not checked", f, conf->where.line);
    }
}


static char *
ngx_http_attest_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_attest_loc_conf_t *prev = parent;
    ngx_http_attest_loc_conf_t *conf = child;

    ngx_uint_t  i;

    if (conf->mode == NGX_CONF_UNSET_UINT) {
        conf->where = prev->where;
    }

    ngx_conf_merge_uint_value(conf->mode, prev->mode, NGX_HTTP_ATTEST_MODE_OFF);
    ngx_conf_merge_ptr_value(conf->shm_zone, prev->shm_zone, NULL);

    if (conf->key == NULL) {
        conf->key = prev->key;
    }

    ngx_conf_merge_str_value(conf->fetch, prev->fetch, "");
    ngx_conf_merge_msec_value(conf->ttl, prev->ttl, 300000);
    ngx_conf_merge_ptr_value(conf->image_digests, prev->image_digests, NULL);
    ngx_conf_merge_size_value(conf->body_max, prev->body_max, 1024 * 1024);
    ngx_conf_merge_size_value(conf->report_max, prev->report_max,
                              1024 * 1024);

    if (conf->status_header.len == NGX_CONF_UNSET_SIZE) {
        if (prev->status_header.len == NGX_CONF_UNSET_SIZE) {
            ngx_str_set(&conf->status_header, "X-Attestation-Status");

        } else {
            conf->status_header = prev->status_header;
        }
    }

    ngx_conf_merge_uint_value(conf->sse_signature, prev->sse_signature,
                              NGX_HTTP_ATTEST_SSE_STRIP);
    ngx_conf_merge_size_value(conf->sse_line_max, prev->sse_line_max,
                              64 * 1024);
    ngx_conf_merge_value(conf->stream_hold, prev->stream_hold, 0);

    ngx_conf_merge_uint_value(conf->gpu, prev->gpu, ATTEST_EVIDENCE_OFF);

    if (conf->gpu_root == NGX_CONF_UNSET_PTR) {
        conf->gpu_root = prev->gpu_root;
        conf->gpu_root_file = prev->gpu_root_file;
        ngx_memcpy(conf->gpu_root_sha, prev->gpu_root_sha, 32);
    }

    if (conf->gpu_root == NGX_CONF_UNSET_PTR) {
        conf->gpu_root = NULL;
    }

    ngx_conf_merge_ptr_value(conf->gpu_drivers, prev->gpu_drivers, NULL);
    ngx_conf_merge_ptr_value(conf->gpu_vbios, prev->gpu_vbios, NULL);

    ngx_conf_merge_uint_value(conf->cpu, prev->cpu, ATTEST_EVIDENCE_OFF);

    if (conf->cpu_root == NGX_CONF_UNSET_PTR) {
        conf->cpu_root = prev->cpu_root;
        conf->cpu_root_file = prev->cpu_root_file;
        ngx_memcpy(conf->cpu_root_sha, prev->cpu_root_sha, 32);
    }

    if (conf->cpu_root == NGX_CONF_UNSET_PTR) {
        conf->cpu_root = NULL;
    }

    ngx_conf_merge_uint_value(conf->report_data, prev->report_data,
                              ATTEST_TDX_RD_NONCE);
    ngx_conf_merge_ptr_value(conf->mrtd, prev->mrtd, NULL);

    for (i = 0; i < 4; i++) {
        ngx_conf_merge_ptr_value(conf->rtmr[i], prev->rtmr[i], NULL);
    }

    ngx_conf_merge_value(conf->tdx_debug, prev->tdx_debug, 0);
    ngx_conf_merge_uint_value(conf->metrics_keys, prev->metrics_keys, 100);
    ngx_conf_merge_value(conf->bind_request, prev->bind_request, 1);
    ngx_conf_merge_uint_value(conf->signers, prev->signers, 32);
    ngx_conf_merge_uint_value(conf->discover, prev->discover, 4);

    /* the default follows each location's own TTL */
    ngx_conf_merge_msec_value(conf->refresh_conf, prev->refresh_conf,
                              NGX_CONF_UNSET_MSEC);

    if (conf->refresh_conf == NGX_CONF_UNSET_MSEC) {
        conf->refresh = conf->ttl / 5 * 4;

    } else if (conf->refresh_conf && conf->refresh_conf >= conf->ttl) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"attest_refresh\" %Mms is not shorter than "
                           "\"attest_ttl\" %Mms", conf->refresh_conf,
                           conf->ttl);
        return NGX_CONF_ERROR;

    } else {
        conf->refresh = conf->refresh_conf;
    }

    if (conf->mode == NGX_HTTP_ATTEST_MODE_OFF) {
        return NGX_CONF_OK;
    }

    /* merge runs at the end of "http": name the "attest" at fault */
    if (conf->fetch.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"attest\" is on but no \"attest_fetch\" location "
                      "is set in %V:%ui", &conf->where.file, conf->where.line);
        return NGX_CONF_ERROR;
    }

    if (conf->gpu != ATTEST_EVIDENCE_OFF && conf->gpu_root == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"attest_gpu\" is not off but no \"attest_gpu_root\" "
                      "is set for the \"attest\" in %V:%ui",
                      &conf->where.file, conf->where.line);
        return NGX_CONF_ERROR;
    }

    if (conf->cpu != ATTEST_EVIDENCE_OFF && conf->cpu_root == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"attest_cpu\" is not off but no \"attest_cpu_root\" "
                      "is set for the \"attest\" in %V:%ui",
                      &conf->where.file, conf->where.line);
        return NGX_CONF_ERROR;
    }

    ngx_http_attest_weak_notice(cf, conf);

    if (ngx_http_attest_build_policy(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_attest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_attest_loc_conf_t *alcf = conf;

    ngx_str_t                    *value, name;
    ngx_uint_t                    i;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_attest_zone_use_t   *zu;
    ngx_http_attest_main_conf_t  *amcf;

    if (alcf->mode != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameter after \"off\"";
        }

        alcf->mode = NGX_HTTP_ATTEST_MODE_OFF;
        alcf->shm_zone = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"zone=<name>\" or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    alcf->where.file = cf->conf_file->file.name;
    alcf->where.line = cf->conf_file->line;

    alcf->where.noticed = ngx_pcalloc(cf->pool, sizeof(ngx_uint_t));
    if (alcf->where.noticed == NULL) {
        return NGX_CONF_ERROR;
    }

    alcf->mode = NGX_HTTP_ATTEST_MODE_ENFORCE;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "enforce") == 0) {
            alcf->mode = NGX_HTTP_ATTEST_MODE_ENFORCE;

        } else if (ngx_strcmp(value[i].data, "report") == 0) {
            alcf->mode = NGX_HTTP_ATTEST_MODE_REPORT;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"enforce\" or \"report\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    shm_zone = ngx_shared_memory_add(cf, &name, 0, &ngx_http_attest_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    alcf->shm_zone = shm_zone;

    /* checked in postconfiguration: the zone may be defined later */
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_attest_module);

    zu = ngx_array_push(&amcf->zones);
    if (zu == NULL) {
        return NGX_CONF_ERROR;
    }

    zu->shm_zone = shm_zone;
    zu->where = alcf->where;

    return NGX_CONF_OK;
}


static char *
ngx_http_attest_fetch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;
    char       *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"attest_fetch\" must name a location URI "
                           "starting with \"/\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_attest_status_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_attest_loc_conf_t *alcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (alcf->status_header.len != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_null(&alcf->status_header);
        return NGX_CONF_OK;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!((value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
              || (value[1].data[i] >= 'A' && value[1].data[i] <= 'Z')
              || (value[1].data[i] >= '0' && value[1].data[i] <= '9')
              || value[1].data[i] == '-' || value[1].data[i] == '_'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    alcf->status_header = value[1];

    return NGX_CONF_OK;
}


/*
 * Repeatable lists of strings: image digests, GPU driver and VBIOS
 * versions.  A post handler in cmd->post checks each value.
 */
static char *
ngx_http_attest_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char              *rv;
    ngx_str_t         *value;
    ngx_uint_t         i;
    ngx_array_t      **a;
    attest_str_t      *s;
    ngx_conf_post_t   *post;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a == NGX_CONF_UNSET_PTR) {
        *a = ngx_array_create(cf->pool, 4, sizeof(attest_str_t));
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    post = cmd->post;

    for (i = 1; i < cf->args->nelts; i++) {

        if (post) {
            rv = post->post_handler(cf, post, &value[i]);
            if (rv != NGX_CONF_OK) {
                return rv;
            }
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        s->data = (char *) value[i].data;
        s->len = value[i].len;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_attest_digest_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *value = data;

    if (attest_digest_valid((char *) value->data, value->len) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid image digest \"%V\", expected "
                           "\"sha256:\" and 64 hex digits", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_attest_gpu_root_cleanup(void *data)
{
    attest_gpu_root_free(data);
}


static void
ngx_http_attest_cpu_root_cleanup(void *data)
{
    attest_tdx_root_free(data);
}


/* ngx_conf_set_enum_slot(), with the directive and the choices named */
static char *
ngx_http_attest_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char           *last, buf[128];
    ngx_str_t        *value;
    ngx_uint_t       *np, i;
    ngx_conf_enum_t  *e;

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len != 0; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *np = e[i].value;
            return NGX_CONF_OK;
        }
    }

    last = buf;

    for (i = 0; e[i].name.len != 0; i++) {
        last = ngx_slprintf(last, buf + sizeof(buf), "%s\"%V\"",
                            i ? (e[i + 1].name.len ? ", " : " or ") : "",
                            &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\", expected %*s",
                       &value[1], &cmd->name, last - buf, buf);

    return NGX_CONF_ERROR;
}


/*
 * a root that is not the vendor's still loads (test roots), but loudly:
 * the NVIDIA and Intel files swapped pass every other check
 */
static void
ngx_http_attest_root_vendor(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *file, u_char *pem, size_t len, ngx_uint_t gpu)
{
    char        cn[128];
    const char  *want;

    want = gpu ? ATTEST_NVIDIA_ROOT_CN : ATTEST_INTEL_ROOT_CN;

    if (attest_pem_first_cn(pem, len, cn, sizeof(cn)) != 0) {
        ngx_cpystrn((u_char *) cn, (u_char *) "(none)", sizeof(cn));

    } else if (ngx_strcmp(cn, want) == 0) {
        return;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "\"%V\" \"%V\" is not the vendor's root: its "
                       "certificate is \"CN=%s\", expected \"CN=%s\"",
                       &cmd->name, file, cn, want);
}


/* attest_gpu_root and attest_cpu_root: load and check the PEM now */
static char *
ngx_http_attest_root(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_attest_loc_conf_t *alcf = conf;

    u_char              *buf;
    void                *root;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t           *value, *file;
    ngx_file_info_t      fi;
    attest_err_t         err;
    ngx_pool_cleanup_t  *cln;
    ngx_uint_t           gpu;

    gpu = *(ngx_uint_t *) cmd->post;

    file = gpu ? &alcf->gpu_root_file : &alcf->cpu_root_file;

    if (file->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *file = value[1];

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", file);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_close_file(fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a readable PEM file of at most "
                           "1 MB", file);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));
    ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", file);
        return NGX_CONF_ERROR;
    }

    attest_err_clear(&err);

    root = gpu ? (void *) attest_gpu_root_load(buf, n, &err)
               : (void *) attest_tdx_root_load(buf, n, &err);

    if (root == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no usable root certificate: %s",
                           file, err.detail);
        return NGX_CONF_ERROR;
    }

    ngx_http_attest_root_vendor(cf, cmd, file, buf, n, gpu);

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->data = root;

    if (gpu) {
        cln->handler = ngx_http_attest_gpu_root_cleanup;
        alcf->gpu_root = root;
        SHA256(buf, n, alcf->gpu_root_sha);

    } else {
        cln->handler = ngx_http_attest_cpu_root_cleanup;
        alcf->cpu_root = root;
        SHA256(buf, n, alcf->cpu_root_sha);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_attest_measurement(ngx_conf_t *cf, ngx_array_t **a, ngx_str_t *v,
    ngx_uint_t n)
{
    u_char      *m;
    ngx_uint_t   i;

    if (*a == NGX_CONF_UNSET_PTR) {
        *a = ngx_array_create(cf->pool, 4, 48);
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        m = ngx_array_push(*a);
        if (m == NULL) {
            return NGX_CONF_ERROR;
        }

        if (v[i].len != 96
            || attest_hex_decode((char *) v[i].data, 96, m) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid measurement \"%V\", expected 96 "
                               "hex digits (48 bytes)", &v[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_attest_mrtd(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_attest_loc_conf_t *alcf = conf;

    ngx_str_t  *value = cf->args->elts;

    return ngx_http_attest_measurement(cf, &alcf->mrtd, &value[1],
                                       cf->args->nelts - 1);
}


static char *
ngx_http_attest_rtmr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_attest_loc_conf_t *alcf = conf;

    ngx_str_t  *value = cf->args->elts;

    if (value[1].len != 1 || value[1].data[0] < '0'
        || value[1].data[0] > '3')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid RTMR index \"%V\", expected 0 to 3",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return ngx_http_attest_measurement(cf,
                                       &alcf->rtmr[value[1].data[0] - '0'],
                                       &value[2], cf->args->nelts - 2);
}


/* at start-up and each reload: which build of the module runs */
static ngx_int_t
ngx_http_attest_init_module(ngx_cycle_t *cycle)
{
    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "ngx_http_attest_module/" ATTEST_VERSION
                  " (built for nginx/" NGINX_VERSION ")");

    return NGX_OK;
}


static ngx_int_t
ngx_http_attest_init(ngx_conf_t *cf)
{
    ngx_uint_t                    i;
    ngx_array_t                  *a;
    ngx_http_handler_pt          *h;
    ngx_http_attest_zone_use_t   *zones;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_attest_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_attest_module);

    zones = amcf->zones.elts;

    for (i = 0; i < amcf->zones.nelts; i++) {
        if (zones[i].shm_zone->data == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"attest\" uses zone \"%V\" but no "
                          "\"attest_zone\" defines it in %V:%ui",
                          &zones[i].shm_zone->shm.name,
                          &zones[i].where.file, zones[i].where.line);
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_attest_precontent_handler;

    /*
     * the log phase: ahead of the access log, which is already there, so
     * that the log sees a cut stream's final verdict
     */
    a = &cmcf->phases[NGX_HTTP_LOG_PHASE].handlers;

    h = ngx_array_push(a);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = a->elts;
    ngx_memmove(&h[1], &h[0], (a->nelts - 1) * sizeof(ngx_http_handler_pt));
    h[0] = ngx_http_attest_log_handler;

    return ngx_http_attest_filter_init(cf);
}


/*
 * A worker unloads the module when it exits: the core's process-wide
 * recovery context and the worker's request canonicalizer go first, or
 * they would be lost with their pointers.
 */
static void
ngx_http_attest_exit_process(ngx_cycle_t *cycle)
{
    attest_eth_cleanup();
    ngx_http_attest_request_exit();
    ngx_http_attest_chunk_exit();
}


/* attest_refresh time | off */
static char *
ngx_http_attest_refresh(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_attest_loc_conf_t *alcf = conf;

    ngx_str_t  *value;
    ngx_msec_t  t;

    if (alcf->refresh_conf != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        alcf->refresh_conf = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 0);

    if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"attest_refresh\", "
                           "expected a time or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->refresh_conf = t;

    return NGX_CONF_OK;
}
