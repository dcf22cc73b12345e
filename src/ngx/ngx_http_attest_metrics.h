/*
 * The counters every attest zone keeps in its shared memory for
 * attest_metrics: shared by all workers, kept across reloads with the
 * zone.  The hot path only adds to them with ngx_atomic_fetch_add(), never
 * under the zone's lock; readers take no lock either and may see one
 * counter a moment ahead of another.
 *
 * Where a count has no function of its own in the zone's API, add to it
 * through the zone, e.g. a discovery of the fleet:
 *
 *     c = ngx_http_attest_zone_counters(alcf->shm_zone);
 *     ngx_http_attest_count(c->discoveries[NGX_HTTP_ATTEST_RESULT_FAILED]);
 *
 * A new counter goes at the end of the struct, with a bump of
 * NGX_HTTP_ATTEST_ZONE_VERSION (the struct lives in the zone's header).
 */

#ifndef _NGX_HTTP_ATTEST_METRICS_H_INCLUDED_
#define _NGX_HTTP_ATTEST_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "attest_reason.h"


/* verdict slots of responses[]: the ctx verdicts, NONE unused */
#define NGX_HTTP_ATTEST_NVERDICTS        4

/* results of fetches, discoveries and refreshes */
#define NGX_HTTP_ATTEST_RESULT_VERIFIED  0
#define NGX_HTTP_ATTEST_RESULT_FAILED    1

/* cache lookups, once per request: its first look at the zone */
#define NGX_HTTP_ATTEST_LOOKUP_HIT       0
#define NGX_HTTP_ATTEST_LOOKUP_MISS      1
#define NGX_HTTP_ATTEST_LOOKUP_WAIT      2

/* fetch duration histogram: upper bounds in ms, then +Inf */
#define NGX_HTTP_ATTEST_NBUCKETS         10
#define NGX_HTTP_ATTEST_BUCKET_BOUNDS                                        \
    { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000 }


typedef struct {
    ngx_atomic_t    responses[NGX_HTTP_ATTEST_NVERDICTS][ATTEST_REASON_MAX];
    ngx_atomic_t    fetches[2][ATTEST_REASON_MAX];
    ngx_atomic_t    fetch_buckets[NGX_HTTP_ATTEST_NBUCKETS]; /* not summed */
    ngx_atomic_t    fetch_msec;
    ngx_atomic_t    lookups[3];
    ngx_atomic_t    evictions;
    ngx_atomic_t    discoveries[2];
    ngx_atomic_t    refreshes[2];
} ngx_http_attest_counters_t;


#define ngx_http_attest_count(counter)                                       \
    (void) ngx_atomic_fetch_add(&(counter), 1)


#endif /* _NGX_HTTP_ATTEST_METRICS_H_INCLUDED_ */
