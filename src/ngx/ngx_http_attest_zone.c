/*
 * The shared-memory cache of verified attestations, visible to every
 * worker and kept across reloads.  An entry (a key: the policy scope and
 * attest_key) holds the set of machines attested for it, up to
 * attest_signers, each expiring on its own; the least recently seen
 * machine goes when the set is full.  An entry also carries the key's
 * fetch lease (one fetch in flight per key, across workers), the failure
 * of its last fetch for the requests that waited on it, and the signers
 * that discovery looked for and did not find.
 *
 * Entries with machines live in the LRU queue; keys that only failed or
 * are being fetched live in a bounded area of their own (the pending
 * queue), so that they can never evict a verified entry.  The zone keeps
 * its own clock: wall time in milliseconds.
 */

#include "ngx_http_attest_module.h"

#include "attest_eth.h"


/* a signer discovery did not find, remembered until "until" */
typedef struct {
    u_char                      address[20];
    ngx_msec_int_t              until;
} ngx_http_attest_unattested_t;


/* packed: with one machine and a short key a node fits 512 bytes */
typedef struct {
    ngx_rbtree_node_t           node;       /* key: crc32 of the key */
    ngx_queue_t                 queue;      /* lru, or pending when none */
    ngx_msec_int_t              failed_at;
    ngx_msec_int_t              refresh_at; /* last refresh started */
    ngx_msec_int_t              used_at;    /* last moved to its head */
    ngx_msec_int_t              disc_start; /* discovery's minute */
    ngx_http_attest_unattested_t  *unattested;  /* NULL until needed */
    ngx_pid_t                   lease_pid;  /* 0: no fetch in flight */
    uint32_t                    lease_id;
    uint32_t                    fetches;    /* fetches ended, any result */
    uint32_t                    disc_count;
    attest_reason_t             fail_reason;
    u_short                     nmachines;
    u_short                     cap;
    u_char                      verified;   /* 1: in lru, 0: pending */
    u_short                     len;
    u_char                      data[1];    /* the key, then machines */
} ngx_http_attest_node_t;


/* the machines follow the key, aligned */
#define ngx_http_attest_node_size(len, cap)                                  \
    (ngx_align(offsetof(ngx_http_attest_node_t, data) + (len), 8)           \
     + (cap) * sizeof(ngx_http_attest_entry_t))

#define ngx_http_attest_node_machines(an)                                    \
    ((ngx_http_attest_entry_t *) ((u_char *) (an)                            \
        + ngx_align(offsetof(ngx_http_attest_node_t, data) + (an)->len, 8)))

/* signers remembered as not found, per key, and for how long (ms) */
#define NGX_HTTP_ATTEST_UNATTESTED       8
#define NGX_HTTP_ATTEST_UNATTESTED_TIME  60000

/* keys without machines the pending area holds at most */
#define NGX_HTTP_ATTEST_PENDING_MAX      128

/* discovery fetches per key per minute: attest_discover times this */
#define NGX_HTTP_ATTEST_DISCOVER_SIGNERS 8


/*
 * The layout of what the zone stores verbatim: a tag, a version to bump
 * whenever a stored structure changes meaning, and the node's size, which
 * catches most changes nobody remembered to bump for.
 */
#define NGX_HTTP_ATTEST_ZONE_VERSION  3     /* 2: counters, 3: signer sets */

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
    ngx_queue_init(&zone->sh->pending);

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


static uint32_t  ngx_http_attest_lease_seq;


/*
 * Whether a fetch holds the key.  A lease names its worker: this worker's
 * requests release theirs when they end (a pool cleanup), and a lease of
 * a worker that no longer exists (SIGKILL, crash) is free again at once.
 * A live owner's lease is never taken: its fetch is bounded by the fetch
 * location's proxy timeouts.
 */
static ngx_uint_t
ngx_http_attest_lease_held(ngx_http_attest_node_t *an, ngx_log_t *log)
{
    if (an->lease_pid == 0) {
        return 0;
    }

    if (an->lease_pid == ngx_pid) {
        return 1;
    }

    if (kill(an->lease_pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "attest: worker %P died fetching key \"%*s\", "
                      "taking over", an->lease_pid, (size_t) an->len,
                      an->data);
        an->lease_pid = 0;
        an->lease_id = 0;
        return 0;
    }

    return 1;
}


static void
ngx_http_attest_lease_take(ngx_http_attest_node_t *an,
    ngx_http_attest_zone_req_t *zr)
{
    if (++ngx_http_attest_lease_seq == 0) {
        ngx_http_attest_lease_seq = 1;
    }

    an->lease_pid = ngx_pid;
    an->lease_id = ngx_http_attest_lease_seq;
    zr->lease = an->lease_id;
}


static void
ngx_http_attest_lease_drop(ngx_http_attest_node_t *an,
    ngx_http_attest_zone_req_t *zr)
{
    if (zr->lease && an->lease_pid == ngx_pid && an->lease_id == zr->lease) {
        an->lease_pid = 0;
        an->lease_id = 0;
    }

    zr->lease = 0;
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


/* unlinks and frees a node; zone locked */
static void
ngx_http_attest_zone_evict(ngx_http_attest_zone_t *zone,
    ngx_http_attest_node_t *an)
{
    ngx_queue_remove(&an->queue);

    if (!an->verified) {
        zone->sh->npending--;
    }

    ngx_rbtree_delete(&zone->sh->rbtree, &an->node);

    if (an->unattested) {
        ngx_slab_free_locked(zone->shpool, an->unattested);
    }

    ngx_slab_free_locked(zone->shpool, an);
}


/*
 * size bytes of the zone.  When it is full the oldest pending keys go
 * first; verified entries only make room for a verified entry.
 */
static void *
ngx_http_attest_zone_room(ngx_shm_zone_t *shm_zone, size_t size,
    ngx_uint_t verified, ngx_log_t *log)
{
    void                    *p;
    ngx_queue_t             *q;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *old;

    zone = shm_zone->data;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(zone->shpool, size);
        if (p) {
            return p;
        }

        if (!ngx_queue_empty(&zone->sh->pending)) {
            q = ngx_queue_last(&zone->sh->pending);

        } else if (verified && !ngx_queue_empty(&zone->sh->lru)) {
            q = ngx_queue_last(&zone->sh->lru);

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "attest: zone \"%V\" has no room for %uz bytes",
                          &shm_zone->shm.name, size);
            return NULL;
        }

        old = ngx_queue_data(q, ngx_http_attest_node_t, queue);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "attest: zone \"%V\" is full, evicting the least "
                      "recently used key \"%*s\"%s", &shm_zone->shm.name,
                      (size_t) old->len, old->data,
                      old->verified ? "" : " (not verified)");

        ngx_http_attest_count(zone->sh->counters.evictions);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "attest: zone: evict key \"%*s\"", (size_t) old->len,
                       old->data);

        ngx_http_attest_zone_evict(zone, old);
    }
}


/* a node for key, in the pending area until it has a machine */
static ngx_http_attest_node_t *
ngx_http_attest_zone_new(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_log_t *log)
{
    size_t                   size;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an;

    if (key->len > 65535) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "attest: key of %uz bytes is too long to cache",
                      key->len);
        return NULL;
    }

    zone = shm_zone->data;

    if (zone->sh->npending >= NGX_HTTP_ATTEST_PENDING_MAX) {
        an = ngx_queue_data(ngx_queue_last(&zone->sh->pending),
                            ngx_http_attest_node_t, queue);

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "attest: zone \"%V\" holds %d keys not verified, "
                      "evicting the least recently used \"%*s\"",
                      &shm_zone->shm.name, NGX_HTTP_ATTEST_PENDING_MAX,
                      (size_t) an->len, an->data);

        ngx_http_attest_count(zone->sh->counters.evictions);
        ngx_http_attest_zone_evict(zone, an);
    }

    size = ngx_http_attest_node_size(key->len, 0);

    an = ngx_http_attest_zone_room(shm_zone, size, 0, log);
    if (an == NULL) {
        return NULL;
    }

    ngx_memzero(an, size);

    an->node.key = hash;
    an->used_at = ngx_http_attest_now();
    an->len = (u_short) key->len;
    ngx_memcpy(an->data, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, &an->node);
    ngx_queue_insert_head(&zone->sh->pending, &an->queue);
    zone->sh->npending++;

    return an;
}


/* a larger copy of the node, for one more machine; NULL: no room */
static ngx_http_attest_node_t *
ngx_http_attest_zone_grow(ngx_shm_zone_t *shm_zone, ngx_http_attest_node_t *an,
    ngx_uint_t max, ngx_log_t *log)
{
    ngx_uint_t               cap;
    ngx_rbtree_key_t         hash;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *nn;

    zone = shm_zone->data;
    hash = an->node.key;    /* ngx_rbtree_delete() clears it */

    cap = an->cap ? an->cap * 2 : 1;
    cap = ngx_min(cap, max);

    /* detached while room is made, so that it cannot evict itself */
    ngx_queue_remove(&an->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, &an->node);

    if (!an->verified) {
        zone->sh->npending--;
    }

    nn = ngx_http_attest_zone_room(shm_zone,
                                   ngx_http_attest_node_size(an->len, cap), 1,
                                   log);
    if (nn == NULL) {
        an->node.key = hash;
        ngx_rbtree_insert(&zone->sh->rbtree, &an->node);

        if (an->verified) {
            ngx_queue_insert_head(&zone->sh->lru, &an->queue);

        } else {
            ngx_queue_insert_head(&zone->sh->pending, &an->queue);
            zone->sh->npending++;
        }

        return NULL;
    }

    ngx_memcpy(nn, an, ngx_http_attest_node_size(an->len, 0));
    ngx_memcpy(ngx_http_attest_node_machines(nn),
               ngx_http_attest_node_machines(an),
               an->nmachines * sizeof(ngx_http_attest_entry_t));

    nn->node.key = hash;
    nn->cap = (u_short) cap;
    nn->verified = 1;

    ngx_slab_free_locked(zone->shpool, an);

    ngx_rbtree_insert(&zone->sh->rbtree, &nn->node);
    ngx_queue_insert_head(&zone->sh->lru, &nn->queue);

    return nn;
}


/*
 * A verified machine joins the key's set: it replaces its own older
 * attestation or an expired one, else takes a new slot, else (the set
 * holds max) the least recently seen machine goes.
 */
static ngx_http_attest_node_t *
ngx_http_attest_zone_add(ngx_shm_zone_t *shm_zone, ngx_http_attest_node_t *an,
    ngx_http_attest_entry_t *entry, ngx_uint_t max, ngx_msec_int_t now,
    ngx_log_t *log)
{
    char                      addr[43];
    ngx_uint_t                i;
    ngx_http_attest_zone_t   *zone;
    ngx_http_attest_node_t   *nn;
    ngx_http_attest_entry_t  *m, *slot;

    zone = shm_zone->data;
    m = ngx_http_attest_node_machines(an);
    slot = NULL;

    for (i = 0; i < an->nmachines; i++) {
        if (ngx_memcmp(m[i].result.signing_address,
                       entry->result.signing_address, 20) == 0)
        {
            slot = &m[i];
            break;
        }
    }

    for (i = 0; slot == NULL && i < an->nmachines; i++) {
        if (m[i].expires_at <= now) {
            slot = &m[i];
        }
    }

    if (slot == NULL && an->nmachines == an->cap && an->cap < max) {
        nn = ngx_http_attest_zone_grow(shm_zone, an, max, log);

        if (nn) {
            an = nn;
            m = ngx_http_attest_node_machines(an);
        }
    }

    if (slot == NULL && an->nmachines < an->cap) {
        slot = &m[an->nmachines++];
    }

    if (slot == NULL) {
        if (an->nmachines == 0) {
            return an;
        }

        slot = &m[0];

        for (i = 1; i < an->nmachines; i++) {
            if (m[i].seen_at < slot->seen_at) {
                slot = &m[i];
            }
        }

        attest_eth_format_address(slot->result.signing_address, addr);

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "attest: key \"%*s\" holds %ui signers, the least "
                      "recently seen %s goes", (size_t) an->len, an->data,
                      max, addr);
    }

    *slot = *entry;
    slot->seen_at = now;
    an->used_at = now;

    ngx_queue_remove(&an->queue);
    ngx_queue_insert_head(&zone->sh->lru, &an->queue);

    return an;
}


/* the unexpired machines of a node, copied from the pool; zone locked */
static ngx_int_t
ngx_http_attest_zone_copy(ngx_http_attest_node_t *an,
    ngx_http_attest_zone_req_t *zr, ngx_msec_int_t now, ngx_pool_t *pool,
    ngx_msec_int_t *oldest)
{
    ngx_uint_t                i, n;
    ngx_http_attest_entry_t  *m;

    m = ngx_http_attest_node_machines(an);
    n = 0;
    *oldest = now;

    for (i = 0; i < an->nmachines; i++) {
        if (m[i].expires_at > now) {
            n++;
        }
    }

    zr->nmachines = 0;

    if (n == 0) {
        return NGX_OK;
    }

    zr->machines = ngx_palloc(pool, n * sizeof(ngx_http_attest_entry_t));
    if (zr->machines == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < an->nmachines; i++) {
        if (m[i].expires_at > now) {
            zr->machines[zr->nmachines++] = m[i];
            *oldest = ngx_min(*oldest, m[i].verified_at);
        }
    }

    return NGX_OK;
}


/*
 * FRESH: the key has attested machines, copied to zr (and when one of
 * them is older than zr->refresh, zr->refresh_due: the caller holds the
 * lease and refreshes in the background).  WAIT: another request (of any
 * worker) is fetching this key.  LOST: that fetch ended in failure after
 * zr->since, the reason is in zr->reason.  MISS: the caller has taken
 * the key's lease and must fetch, then store.
 */
ngx_int_t
ngx_http_attest_zone_lookup(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, ngx_pool_t *pool, ngx_log_t *log)
{
    uint32_t                 hash;
    ngx_int_t                rc;
    ngx_msec_int_t           now, oldest, gap;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an;

    oldest = 0;
    zone = shm_zone->data;
    hash = ngx_crc32_short(zr->key.data, zr->key.len);
    now = ngx_http_attest_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, &zr->key, hash);

    zr->nmachines = 0;
    zr->refresh_due = 0;

    if (an && ngx_http_attest_zone_copy(an, zr, now, pool, &oldest)
              != NGX_OK)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    /* a refresh at most every quarter of attest_refresh, at least 1 s */
    gap = ngx_max((ngx_msec_int_t) zr->refresh / 4, 1000);

    if (zr->nmachines) {
        an->used_at = now;
        ngx_queue_remove(&an->queue);
        ngx_queue_insert_head(&zone->sh->lru, &an->queue);

        if (zr->refresh && now - oldest >= (ngx_msec_int_t) zr->refresh
            && now - an->refresh_at >= gap
            && !ngx_http_attest_lease_held(an, log))
        {
            an->refresh_at = now;
            ngx_http_attest_lease_take(an, zr);
            zr->refresh_due = 1;
        }

        rc = NGX_HTTP_ATTEST_ZONE_FRESH;

    } else if (an && an->failed_at && an->failed_at >= zr->since) {
        zr->reason = an->fail_reason;
        rc = NGX_HTTP_ATTEST_ZONE_LOST;

    } else if (an && ngx_http_attest_lease_held(an, log)) {
        rc = NGX_HTTP_ATTEST_ZONE_WAIT;

    } else {
        if (an == NULL) {
            an = ngx_http_attest_zone_new(shm_zone, &zr->key, hash, log);
        }

        /* without a node the caller still fetches, only unshared */
        if (an) {
            ngx_http_attest_lease_take(an, zr);
        }

        rc = NGX_HTTP_ATTEST_ZONE_MISS;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

#if (NGX_DEBUG)
    {
    static const char  *decisions[] = { "hit", "miss", "wait", "lost" };

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "attest: zone: %s key \"%V\" in \"%V\", %ui signers",
                   decisions[rc], &zr->key, &shm_zone->shm.name,
                   zr->nmachines);
    }
#endif

    return rc;
}


/* remembers a signer discovery did not find; zone locked */
static void
ngx_http_attest_zone_remember(ngx_http_attest_zone_t *zone,
    ngx_http_attest_node_t *an, const u_char *claimed, ngx_msec_int_t now)
{
    size_t                         size;
    ngx_uint_t                     i;
    ngx_http_attest_unattested_t  *u, *slot;

    if (an->unattested == NULL) {
        size = NGX_HTTP_ATTEST_UNATTESTED
               * sizeof(ngx_http_attest_unattested_t);

        an->unattested = ngx_slab_calloc_locked(zone->shpool, size);
        if (an->unattested == NULL) {
            return;
        }
    }

    u = an->unattested;
    slot = &u[0];

    for (i = 1; i < NGX_HTTP_ATTEST_UNATTESTED; i++) {
        if (u[i].until < slot->until) {
            slot = &u[i];
        }
    }

    ngx_memcpy(slot->address, claimed, 20);
    slot->until = now + NGX_HTTP_ATTEST_UNATTESTED_TIME;
}


static ngx_uint_t
ngx_http_attest_zone_forgotten(ngx_http_attest_node_t *an,
    const u_char *claimed, ngx_msec_int_t now)
{
    ngx_uint_t  i;

    for (i = 0; an->unattested && i < NGX_HTTP_ATTEST_UNATTESTED; i++) {
        if (an->unattested[i].until > now
            && ngx_memcmp(an->unattested[i].address, claimed, 20) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Discovery of an unknown signer, one step.  FOUND: the signer is
 * attested now, its machine in *entry.  UNATTESTED: it is remembered as
 * not found, or this request's fetches (zr->discovered, those it caused
 * or waited on) reached zr->discover: it is remembered from now on.
 * WAIT: a fetch of this key is in flight, look again when it ends.
 * FETCH: the caller holds the lease and fetches.
 */
ngx_int_t
ngx_http_attest_zone_discover(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, const u_char *claimed,
    ngx_http_attest_entry_t *entry, ngx_log_t *log)
{
    uint32_t                  hash;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_msec_int_t            now;
    ngx_http_attest_zone_t   *zone;
    ngx_http_attest_node_t   *an;
    ngx_http_attest_entry_t  *m;

    zone = shm_zone->data;
    hash = ngx_crc32_short(zr->key.data, zr->key.len);
    now = ngx_http_attest_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, &zr->key, hash);

    if (an == NULL) {
        an = ngx_http_attest_zone_new(shm_zone, &zr->key, hash, log);

        if (an == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_ATTEST_ZONE_UNATTESTED;
        }
    }

    /* the fetches that ended since this request last looked */
    if (zr->disc_started) {
        zr->discovered += (uint32_t) (an->fetches - (uint32_t) zr->fetches);
    }

    zr->disc_started = 1;
    zr->fetches = an->fetches;

    m = ngx_http_attest_node_machines(an);

    for (i = 0; i < an->nmachines; i++) {
        if (m[i].expires_at > now
            && ngx_memcmp(m[i].result.signing_address, claimed, 20) == 0)
        {
            m[i].seen_at = now;
            *entry = m[i];
            rc = NGX_HTTP_ATTEST_ZONE_FOUND;
            goto done;
        }
    }

    if (ngx_http_attest_zone_forgotten(an, claimed, now)) {
        rc = NGX_HTTP_ATTEST_ZONE_UNATTESTED;

    } else if (zr->discovered >= zr->discover) {
        ngx_http_attest_zone_remember(zone, an, claimed, now);
        rc = NGX_HTTP_ATTEST_ZONE_UNATTESTED;

    } else if (ngx_http_attest_lease_held(an, log)) {
        rc = NGX_HTTP_ATTEST_ZONE_WAIT;

    } else {
        if (now - an->disc_start >= 60000) {
            an->disc_start = now;
            an->disc_count = 0;
        }

        if (an->disc_count
            >= zr->discover * NGX_HTTP_ATTEST_DISCOVER_SIGNERS)
        {
            /* a fleet of rogues: this key's discovery rests a while */
            rc = NGX_HTTP_ATTEST_ZONE_UNATTESTED;

        } else {
            an->disc_count++;
            ngx_http_attest_lease_take(an, zr);
            rc = NGX_HTTP_ATTEST_ZONE_FETCH;
        }
    }

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "attest: zone: discover in key \"%V\": %i, %ui fetches",
                   &zr->key, rc, zr->discovered);

    return rc;
}


/*
 * The end of a fetch: a verified machine joins the key's set, or (entry
 * NULL) the failure is kept for the requests that waited on it.  Either
 * way the lease is released.
 */
void
ngx_http_attest_zone_store(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, ngx_http_attest_entry_t *entry,
    attest_reason_t reason, ngx_log_t *log)
{
    uint32_t                 hash;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an;

    zone = shm_zone->data;
    hash = ngx_crc32_short(zr->key.data, zr->key.len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, &zr->key, hash);

    if (an == NULL) {
        an = ngx_http_attest_zone_new(shm_zone, &zr->key, hash, log);
    }

    if (an) {
        if (entry) {
            an = ngx_http_attest_zone_add(shm_zone, an, entry, zr->max,
                                          ngx_http_attest_now(), log);

        } else {
            /* seen only by requests that waited on this very fetch */
            an->failed_at = ngx_http_attest_now();
            an->fail_reason = reason;
        }

        an->fetches++;
        ngx_http_attest_lease_drop(an, zr);
    }

    zr->lease = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "attest: zone: %s key \"%V\" in \"%V\"%s",
                   entry ? "store" : "fetch failed for", &zr->key,
                   &shm_zone->shm.name, an ? "" : ", no room");
}


/* a fetch that ended for no fault of the attestation: others may fetch */
void
ngx_http_attest_zone_release(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr)
{
    uint32_t                 hash;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an;

    if (zr->lease == 0) {
        return;
    }

    zone = shm_zone->data;
    hash = ngx_crc32_short(zr->key.data, zr->key.len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, &zr->key, hash);

    if (an) {
        ngx_http_attest_lease_drop(an, zr);
    }

    zr->lease = 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* a response of this machine verified: it was seen now (the set's LRU) */
void
ngx_http_attest_zone_touch(ngx_shm_zone_t *shm_zone,
    ngx_http_attest_zone_req_t *zr, const u_char *address)
{
    uint32_t                  hash;
    ngx_uint_t                i;
    ngx_http_attest_zone_t   *zone;
    ngx_http_attest_node_t   *an;
    ngx_http_attest_entry_t  *m;

    zone = shm_zone->data;
    hash = ngx_crc32_short(zr->key.data, zr->key.len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    an = ngx_http_attest_zone_find(zone, &zr->key, hash);

    if (an) {
        m = ngx_http_attest_node_machines(an);

        for (i = 0; i < an->nmachines; i++) {
            if (ngx_memcmp(m[i].result.signing_address, address, 20) == 0) {
                m[i].seen_at = ngx_http_attest_now();
                break;
            }
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
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


/* the signers a node holds now: the attestations not yet expired */
static ngx_int_t
ngx_http_attest_zone_node_signers(ngx_http_attest_node_t *an,
    ngx_msec_int_t now, ngx_array_t *signers)
{
    ngx_uint_t                      i;
    ngx_http_attest_entry_t        *m;
    ngx_http_attest_zone_signer_t  *s;

    m = ngx_http_attest_node_machines(an);

    for (i = 0; i < an->nmachines; i++) {
        if (m[i].expires_at <= now) {
            continue;
        }

        s = ngx_array_push(signers);
        if (s == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(s->address, m[i].result.signing_address, 20);
        s->expires_at = m[i].expires_at;
    }

    return NGX_OK;
}


/* one key for attest_metrics; zone locked */
static ngx_int_t
ngx_http_attest_zone_key(ngx_http_attest_node_t *an, ngx_pool_t *pool,
    ngx_msec_int_t now, ngx_array_t *keys)
{
    u_char                      *p;
    ngx_http_attest_zone_key_t  *k;

    k = ngx_array_push(keys);
    if (k == NULL) {
        return NGX_ERROR;
    }

    /* "<scope: 32 hex digits>:<key>"; the policy label: its first 8 */
    p = ngx_strlchr(an->data, an->data + an->len, ':');

    k->policy = (p == an->data + NGX_HTTP_ATTEST_SCOPE_HEX)
                ? (uint32_t) ngx_hextoi(an->data, 8) : 0;
    p = p ? p + 1 : an->data;

    k->key.len = an->data + an->len - p;
    k->key.data = ngx_pnalloc(pool, k->key.len + 1);

    if (k->key.data == NULL
        || ngx_array_init(&k->signers, pool, 1,
                          sizeof(ngx_http_attest_zone_signer_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(k->key.data, p, k->key.len);

    return ngx_http_attest_zone_node_signers(an, now, &k->signers);
}


/*
 * A copy of what the zone holds, for attest_metrics: the max most
 * recently used keys (verified ones first, then the pending ones) with
 * their signers into keys (ngx_http_attest_zone_key_t), and the count of
 * all keys in *entries.
 */
ngx_int_t
ngx_http_attest_zone_keys(ngx_shm_zone_t *shm_zone, ngx_pool_t *pool,
    ngx_uint_t max, ngx_array_t *keys, ngx_uint_t *entries)
{
    ngx_int_t                rc;
    ngx_uint_t               n;
    ngx_queue_t             *q, *p;
    ngx_msec_int_t           now;
    ngx_http_attest_zone_t  *zone;
    ngx_http_attest_node_t  *an, *a, *b;

    zone = shm_zone->data;
    now = ngx_http_attest_now();
    rc = NGX_OK;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* both queues by recency: merged, the most recently used first */
    q = ngx_queue_head(&zone->sh->lru);
    p = ngx_queue_head(&zone->sh->pending);

    for ( ;; ) {
        a = (q != ngx_queue_sentinel(&zone->sh->lru))
            ? ngx_queue_data(q, ngx_http_attest_node_t, queue) : NULL;
        b = (p != ngx_queue_sentinel(&zone->sh->pending))
            ? ngx_queue_data(p, ngx_http_attest_node_t, queue) : NULL;

        if (a == NULL && b == NULL) {
            break;
        }

        if (a && (b == NULL || a->used_at >= b->used_at)) {
            an = a;
            q = ngx_queue_next(q);

        } else {
            an = b;
            p = ngx_queue_next(p);
        }

        if (n++ >= max || rc != NGX_OK) {
            continue;
        }

        rc = ngx_http_attest_zone_key(an, pool, now, keys);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *entries = n;

    return rc;
}
