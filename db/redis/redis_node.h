/*
 * redis_node.h: this node's membership in the cluster. A random node id,
 * a heartbeat every beat_ms that keeps the node alive in Redis for ttl_ms
 * (pl_node_beat, which also returns how many nodes are alive: /metrics),
 * and on the same tick the reaper (pl_node_reap), which forgets nodes
 * whose heartbeat expired and publishes their members' leaves, once for
 * the whole cluster. A draining node leaves at once (redis_node_leave).
 *
 * Ticks are skipped while the link is down, and a tick never overlaps the
 * previous one's calls. Service thread only.
 */
#ifndef PARLEY_REDIS_NODE_H
#define PARLEY_REDIS_NODE_H

#include <stdint.h>

#include "redis_calls.h"
#include "redis_link.h"

struct redis_node;

struct redis_node_config {
    uint32_t beat_ms;    /* 10000 in production */
    uint32_t ttl_ms;     /* 30000: three missed beats */
    uint32_t reap_limit; /* nodes forgotten per tick at most */
};

struct redis_node_stats {
    long long live;    /* nodes alive at the last beat; -1: unknown */
    uint64_t beats;    /* heartbeats Redis took */
    uint64_t failures; /* beats or reaps that failed */
    uint64_t reaped;   /* dead nodes this node forgot */
};

/* Create the node on loop over link (borrowed: it must outlive the node)
 * and start ticking. Returns 0 with *out owned by the caller, -EINVAL
 * (ttl not above beat) or -ENOMEM. */
int redis_node_new(struct redis_node **out, struct ev_loop *loop,
                   struct redis_link *link,
                   const struct redis_node_config *cfg);

/* The node's id: hex, fixed for the process's life. Borrowed. */
const char *redis_node_id(const struct redis_node *n);

void redis_node_get_stats(const struct redis_node *n,
                          struct redis_node_stats *out);

/* Stop beating and forget this node in Redis now (its members' leaves go
 * out). done runs once with the outcome. Returns 0 or as the call. */
int redis_node_leave(struct redis_node *n, redis_int_cb done, void *ud);

/* Stop ticking and free, setting *np to NULL. Calls still in flight finish
 * into nothing (the node is freed by the last of them). NULL is allowed. */
void redis_node_free(struct redis_node **np);

#endif
