/*
 * redis_sweep.h: --retain-age for topics nobody publishes to. pl_publish
 * trims a topic's stream by age only when the topic is published, so an
 * idle topic would keep aged messages forever; every every_ms this node
 * runs one bounded pl_sweep_age over the next slice of the topic
 * registry (the same trim rule as the publish path).
 *
 * Sharing the work: the walk's cursor lives in Redis (pl:sweep), and the
 * function advances it atomically, so every node may sweep and each call
 * takes the next slice: N nodes walk the registry N times faster rather
 * than each redoing it, a node that dies mid-walk loses nothing, and no
 * lease (with its expiry and its holder's failure) is needed. Trimming
 * is idempotent, so a cursor lost with Redis's data only restarts a walk.
 *
 * A tick is skipped while the link is down or the previous call has not
 * called back. Service thread only.
 */
#ifndef PARLEY_REDIS_SWEEP_H
#define PARLEY_REDIS_SWEEP_H

#include <stdint.h>

#include "redis_calls.h"
#include "redis_link.h"

struct redis_sweep;

struct redis_sweep_config {
    int64_t retain_age_ms; /* > 0: entries older than this go */
    uint32_t every_ms;     /* 1000 in production */
    uint32_t topics;       /* registry names per call (100) */
    uint32_t budget;       /* stream entries read per call, about (>= 64) */
};

struct redis_sweep_stats {
    uint64_t calls;    /* pl_sweep_age calls that answered */
    uint64_t topics;   /* topics swept (by this node) */
    uint64_t wraps;    /* walks this node finished */
    uint64_t failures; /* calls that failed */
};

/* Create the sweep on loop over link (borrowed: it must outlive the
 * sweep) and start ticking. Returns 0 with *out owned by the caller,
 * -EINVAL (no age bound, or a zero setting) or -ENOMEM. */
int redis_sweep_new(struct redis_sweep **out, struct ev_loop *loop,
                    struct redis_link *link,
                    const struct redis_sweep_config *cfg);

void redis_sweep_get_stats(const struct redis_sweep *s,
                           struct redis_sweep_stats *out);

/* Stop ticking and free, setting *sp to NULL. A call in flight finishes
 * into nothing (its callback frees the sweep). NULL is allowed. */
void redis_sweep_free(struct redis_sweep **sp);

#endif
