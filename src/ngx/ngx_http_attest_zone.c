/*
 * The shared-memory cache of verified attestations: one entry per key,
 * visible to every worker, kept across reloads, least recently used
 * evicted when the zone is full.  Only verified results are stored;
 * failures are never cached, so a bad report cannot pin a key.  The zone
 * keeps its own clock: wall time in milliseconds.
 */

#include "ngx_http_attest_module.h"


typedef struct {
    ngx_rbtree_node_t           node;       /* key: crc32 of the key */
    ngx_queue_t                 queue;
    ngx_http_attest_entry_t     entry;      /* verified_at 0: none */
    ngx_msec_int_t              lease_until;
    ngx_msec_int_t              failed_at;
    attest_reason_t             fail_reason;
    u_short                     len;
    u_char                      data[1];
} ngx_http_attest_node_t;


/*
 * The layout of what the zone stores verbatim: a tag, a version to bump
 * whenever a stored structure changes meaning, and the node's size, which
 * catches most changes nobody remembered to bump for.
 */
#define NGX_HTTP_ATTEST_ZONE_VERSION  2     /* 2: counters */

#define NGX_HTTP_ATTEST_ZONE_LAYOUT                                           \
    (0x6174747a00000000ULL                                                   \
     | (uint64_t) NGX_HTTP_ATTEST_ZONE_VERSION << 16                         \
     | (uint64_t) (sizeof(ngx_http_attest_node_t) & 0xffff))


static ngx_int_t ngx_http_attest_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_attest_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_attest_zone_check_layout(ngx_conf_t *cf,
    ngx_shm_zone_t *shm_zone);


ngx_msec_int_t
ngx_http_attest_now(void)
{
    ngx_time_t  *tp;

    /* wall clock: entries outlive a reload and are shared by workers */
    tp = ngx_timeofday();

    return (ngx_msec_int_t) tp->sec * 1000 + tp->msec;
}


char *
ngx_http_attest_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                  *p;
    ssize_t                  size;
    ngx_str_t               *value, name, s;
    ngx_shm_zone_t          *shm_zone;
    ngx_http_attest_zone_t  *zone;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"zone=<name>:<size>\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;

    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL || p == name.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected "
                           "\"zone=<name>:<size>\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.len = p - name.data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small, at least %uzk",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_attest_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"attest_zone\" \"%V\" is already defined",
                           &name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_attest_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;

    shm_zone->init = ngx_http_attest_zone_init;
    shm_zone->data = zone;

    ngx_http_attest_zone_check_layout(cf, shm_zone);

    return NGX_CONF_OK;
}


/*
 * On reload nginx hands a zone of the same name and size to the new
 * cycle as it is.  When the running zone holds another layout (an older
 * or newer build), ask for a fresh one instead: the old workers keep
 * theirs until they exit, and nothing reads entries it does not know.
 */
static void
ngx_http_attest_zone_check_layout(ngx_conf_t *cf, ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *oz;
    ngx_slab_pool_t  *shpool;
    ngx_cycle_t      *old;

    old = cf->cycle->old_cycle;

    if (old == NULL || ngx_is_init_cycle(old)) {
        return;
    }

    part = &old->shared_memory.part;
    oz = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            oz = part->elts;
            i = 0;
        }

        if (oz[i].shm.name.len != shm_zone->shm.name.len
            || ngx_strncmp(oz[i].shm.name.data, shm_zone->shm.name.data,
                           shm_zone->shm.name.len)
               != 0
            || oz[i].shm.addr == NULL)
        {
            continue;
        }

        /* the slab pool is nginx's, its data our header's first word */
        shpool = (ngx_slab_pool_t *) oz[i].shm.addr;

        if (shpool->data != NULL
            && *(uint64_t *) shpool->data == NGX_HTTP_ATTEST_ZONE_LAYOUT)
        {
            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                      "attest: zone \"%V\" holds another layout, "
                      "starting it empty", &shm_zone->shm.name);

        shm_zone->noreuse = 1;

        return;
    }
}


static ngx_int_t
ngx_http_attest_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_attest_zone_t  *ozone = data;

    size_t                   len;
    ngx_http_attest_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: keep the previous cycle's entries */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    /* zeroed: the counters start at 0 */
    zone->sh = ngx_slab_calloc(zone->shpool,
                               sizeof(ngx_http_attest_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;
    zone->sh->layout = NGX_HTTP_ATTEST_ZONE_LAYOUT;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_attest_rbtree_insert_value);

    ngx_queue_init(&zone->sh->lru);

    len = sizeof(" in attest zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in attest zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_attest_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_http_attest_node_t   *an, *ant;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            an = (ngx_http_attest_node_t *) node;
            ant = (ngx_http_attest_node_t *) temp;

            p = (ngx_memn2cmp(an->data, ant->data, an->len, ant->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_attest_node_t *
ngx_http_attest_zone_find(ngx_http_attest_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_attest_node_t  *an;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        an = (ngx_http_attest_node_t *) node;

        rc = ngx_memn2cmp(key->data, an->data, key->len, an->len);

        if (rc == 0) {
            return an;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* a node for key, evicting least recently used ones; zone locked */
static ngx_http_attest_node_t *
ngx_http_attest_zone_alloc(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_log_t *log)
{
    size_t                   size;
    ngx_queue_t             *q;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an, *old;

    if (key->len > 65535) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "attest: key of %uz bytes is too long to cache",
                      key->len);
        return NULL;
    }

    zone = shm_zone->data;
    size = offsetof(ngx_http_attest_node_t, data) + key->len;

    for ( ;; ) {
        an = ngx_slab_alloc_locked(zone->shpool, size);
        if (an) {
            break;
        }

        if (ngx_queue_empty(&zone->sh->lru)) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "attest: zone \"%V\" cannot hold an entry for "
                          "key \"%V\"", &shm_zone->shm.name, key);
            return NULL;
        }

        q = ngx_queue_last(&zone->sh->lru);
        old = ngx_queue_data(q, ngx_http_attest_node_t, queue);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "attest: zone \"%V\" is full, evicting the least "
                      "recently used key \"%*s\"", &shm_zone->shm.name,
                      (size_t) old->len, old->data);

        ngx_http_attest_count(zone->sh->counters.evictions);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "attest: zone: evict key \"%*s\"", (size_t) old->len,
                       old->data);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&zone->sh->rbtree, &old->node);
        ngx_slab_free_locked(zone->shpool, old);
    }

    ngx_memzero(an, size);

    an->node.key = hash;
    an->len = (u_short) key->len;
    ngx_memcpy(an->data, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, &an->node);
    ngx_queue_insert_head(&zone->sh->lru, &an->queue);

    return an;
}


/*
 * FRESH: a verified entry younger than ttl, copied to entry.  WAIT:
 * another request (of any worker) is fetching this key.  LOST: that
 * fetch ended in failure after "since", the reason is in *reason.  MISS:
 * the caller has taken the key's lease and must fetch, then store.
 */
ngx_int_t
ngx_http_attest_zone_lookup(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_msec_t ttl, ngx_msec_int_t since, ngx_http_attest_entry_t *entry,
    attest_reason_t *reason, ngx_log_t *log)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_msec_int_t           now;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_http_attest_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, key, hash);

    if (an && an->entry.verified_at
        && now - an->entry.verified_at < (ngx_msec_int_t) ttl
        && now < an->entry.expires_at)
    {
        ngx_queue_remove(&an->queue);
        ngx_queue_insert_head(&zone->sh->lru, &an->queue);
        *entry = an->entry;
        rc = NGX_HTTP_ATTEST_ZONE_FRESH;

    } else if (an && an->failed_at && an->failed_at >= since) {
        *reason = an->fail_reason;
        rc = NGX_HTTP_ATTEST_ZONE_LOST;

    } else if (an && an->lease_until > now) {
        rc = NGX_HTTP_ATTEST_ZONE_WAIT;

    } else {
        if (an == NULL) {
            an = ngx_http_attest_zone_alloc(shm_zone, key, hash, log);
        }

        /* without a node the caller still fetches, only unshared */
        if (an) {
            an->lease_until = now + NGX_HTTP_ATTEST_ZONE_LEASE;
        }

        rc = NGX_HTTP_ATTEST_ZONE_MISS;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

#if (NGX_DEBUG)
    {
    static const char  *decisions[] = { "hit", "miss", "wait", "lost" };

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "attest: zone: %s key \"%V\" in \"%V\"", decisions[rc],
                   key, &shm_zone->shm.name);
    }
#endif

    return rc;
}


/* the end of a fetch: a verified entry, or (entry NULL) the failure */
void
ngx_http_attest_zone_store(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_attest_entry_t *entry, attest_reason_t reason, ngx_log_t *log)
{
    uint32_t                 hash;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, key, hash);

    if (an == NULL && entry) {
        an = ngx_http_attest_zone_alloc(shm_zone, key, hash, log);
    }

    if (an) {
        if (entry) {
            an->entry = *entry;
            ngx_queue_remove(&an->queue);
            ngx_queue_insert_head(&zone->sh->lru, &an->queue);

        } else {
            /* seen only by requests that waited on this very fetch */
            an->failed_at = ngx_http_attest_now();
            an->fail_reason = reason;
        }

        an->lease_until = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "attest: zone: %s key \"%V\" in \"%V\"%s",
                   entry ? "store" : "fetch failed for", key,
                   &shm_zone->shm.name, an ? "" : ", no room");
}


ngx_http_attest_counters_t *
ngx_http_attest_zone_counters(ngx_shm_zone_t *shm_zone)
{
    ngx_http_attest_zone_t  *zone;

    zone = shm_zone->data;

    return &zone->sh->counters;
}


/* one verdict of a main request, counted when it is final */
void
ngx_http_attest_zone_count_response(ngx_shm_zone_t *shm_zone,
    ngx_uint_t verdict, attest_reason_t reason)
{
    ngx_http_attest_counters_t  *c;

    if (verdict == 0 || verdict >= NGX_HTTP_ATTEST_NVERDICTS
        || (ngx_uint_t) reason >= ATTEST_REASON_MAX)
    {
        return;
    }

    c = ngx_http_attest_zone_counters(shm_zone);

    ngx_http_attest_count(c->responses[verdict][reason]);
}


/* a request's first lookup, by what ngx_http_attest_zone_lookup() said */
void
ngx_http_attest_zone_count_lookup(ngx_shm_zone_t *shm_zone, ngx_int_t rc)
{
    ngx_http_attest_counters_t  *c;

    c = ngx_http_attest_zone_counters(shm_zone);

    switch (rc) {

    case NGX_HTTP_ATTEST_ZONE_FRESH:
        ngx_http_attest_count(c->lookups[NGX_HTTP_ATTEST_LOOKUP_HIT]);
        break;

    case NGX_HTTP_ATTEST_ZONE_MISS:
        ngx_http_attest_count(c->lookups[NGX_HTTP_ATTEST_LOOKUP_MISS]);
        break;

    default: /* WAIT, LOST: another request's fetch decides */
        ngx_http_attest_count(c->lookups[NGX_HTTP_ATTEST_LOOKUP_WAIT]);
    }
}


/* one attestation fetch: ATTEST_OK when verified, else why it failed */
void
ngx_http_attest_zone_count_fetch(ngx_shm_zone_t *shm_zone,
    attest_reason_t reason, ngx_msec_t msec)
{
    ngx_uint_t                   i, result;
    ngx_http_attest_counters_t  *c;

    static ngx_msec_t  bounds[] = NGX_HTTP_ATTEST_BUCKET_BOUNDS;

    if ((ngx_uint_t) reason >= ATTEST_REASON_MAX) {
        reason = ATTEST_ATTESTATION_UNAVAILABLE;
    }

    c = ngx_http_attest_zone_counters(shm_zone);

    result = (reason == ATTEST_OK) ? NGX_HTTP_ATTEST_RESULT_VERIFIED
                                   : NGX_HTTP_ATTEST_RESULT_FAILED;

    ngx_http_attest_count(c->fetches[result][reason]);

    for (i = 0; i < NGX_HTTP_ATTEST_NBUCKETS - 1; i++) {
        if (msec <= bounds[i]) {
            break;
        }
    }

    ngx_http_attest_count(c->fetch_buckets[i]);
    (void) ngx_atomic_fetch_add(&c->fetch_msec, msec);
}


/*
 * The signers a node holds now: the attestations not yet expired.  One
 * at most today; a zone that keeps several per key adds them here.
 */
static ngx_int_t
ngx_http_attest_zone_node_signers(ngx_http_attest_node_t *an,
    ngx_msec_int_t now, ngx_array_t *signers)
{
    ngx_http_attest_zone_signer_t  *s;

    if (an->entry.verified_at == 0 || an->entry.expires_at <= now) {
        return NGX_OK;
    }

    s = ngx_array_push(signers);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s->address, an->entry.result.signing_address, 20);
    s->expires_at = an->entry.expires_at;

    return NGX_OK;
}


/*
 * A copy of what the zone holds, for attest_metrics: the max most
 * recently used keys with their signers into keys
 * (ngx_http_attest_zone_key_t), and the count of all keys in *entries.
 */
ngx_int_t
ngx_http_attest_zone_keys(ngx_shm_zone_t *shm_zone, ngx_pool_t *pool,
    ngx_uint_t max, ngx_array_t *keys, ngx_uint_t *entries)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_uint_t                   n;
    ngx_queue_t                 *q;
    ngx_msec_int_t               now;
    ngx_http_attest_zone_t      *zone;
    ngx_http_attest_node_t      *an;
    ngx_http_attest_zone_key_t  *k;

    zone = shm_zone->data;
    now = ngx_http_attest_now();
    rc = NGX_OK;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        if (n++ >= max || rc != NGX_OK) {
            continue;
        }

        an = ngx_queue_data(q, ngx_http_attest_node_t, queue);

        k = ngx_array_push(keys);
        if (k == NULL) {
            rc = NGX_ERROR;
            continue;
        }

        /* the node's key is "<policy id in 8 hex digits>:<key>" */
        p = ngx_strlchr(an->data, an->data + an->len, ':');

        k->policy = (p == an->data + 8)
                    ? (uint32_t) ngx_hextoi(an->data, 8) : 0;
        p = p ? p + 1 : an->data;

        k->key.len = an->data + an->len - p;
        k->key.data = ngx_pnalloc(pool, k->key.len + 1);

        if (k->key.data == NULL
            || ngx_array_init(&k->signers, pool, 1,
                              sizeof(ngx_http_attest_zone_signer_t))
               != NGX_OK)
        {
            rc = NGX_ERROR;
            continue;
        }

        ngx_memcpy(k->key.data, p, k->key.len);

        rc = ngx_http_attest_zone_node_signers(an, now, &k->signers);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *entries = n;

    return rc;
}
