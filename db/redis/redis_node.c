/*
 * redis_node.c: owns this node's id, its heartbeat timer, the reaper's
 * runs, and the counters they keep. The struct lives until the last call
 * it started has called back, so freeing it never leaves the link a
 * dangling context.
 */
#include "redis_node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct redis_node {
    struct ev_loop *loop;
    struct redis_link *link;
    struct redis_node_config cfg;
    char id[REDIS_EPOCH_LEN + 1];
    ev_timer tick;
    int inflight; /* calls started and not yet called back */
    bool closing; /* freed by its owner: the last callback frees it */
    bool left;    /* redis_node_leave ran: no more beats */
    struct redis_node_stats stats;
};

/* Called at the end of every callback: frees a node its owner let go. */
static void settle(struct redis_node *n)
{
    n->inflight--;
    if (n->closing && n->inflight == 0)
        free(n);
}

static void on_reap(int err, size_t count, const char *const *ids, void *ud)
{
    struct redis_node *n = ud;

    (void)ids;
    if (err < 0)
        n->stats.failures++;
    else
        n->stats.reaped += count;
    settle(n);
}

static void on_beat(int err, long long live, void *ud)
{
    struct redis_node *n = ud;

    if (err < 0) {
        n->stats.failures++;
    } else {
        n->stats.beats++;
        n->stats.live = live;
    }
    settle(n);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_node *n = w->data;

    (void)loop;
    (void)revents;
    if (n->inflight > 0 || n->left || !redis_link_up(n->link))
        return;
    if (redis_call_node_beat(n->link, n->id, n->cfg.ttl_ms, on_beat, n) == 0)
        n->inflight++;
    else
        n->stats.failures++;
    if (redis_call_node_reap(n->link, n->cfg.reap_limit, on_reap, n) == 0)
        n->inflight++;
    else
        n->stats.failures++;
}

int redis_node_new(struct redis_node **out, struct ev_loop *loop,
                   struct redis_link *link, const struct redis_node_config *cfg)
{
    struct redis_node *n = NULL;

    if (cfg->beat_ms == 0 || cfg->ttl_ms <= cfg->beat_ms ||
        cfg->reap_limit == 0)
        return -EINVAL;
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    n->loop = loop;
    n->link = link;
    n->cfg = *cfg;
    n->stats.live = -1;
    redis_epoch_new(n->id);
    /* The first beat at once (as soon as the link is up), then steadily. */
    ev_timer_init(&n->tick, tick_cb, 0.001, (double)cfg->beat_ms / 1000.0);
    n->tick.data = n;
    ev_timer_start(loop, &n->tick);
    *out = n;
    return 0;
}

const char *redis_node_id(const struct redis_node *n)
{
    return n->id;
}

void redis_node_get_stats(const struct redis_node *n,
                          struct redis_node_stats *out)
{
    *out = n->stats;
}

int redis_node_leave(struct redis_node *n, redis_int_cb done, void *ud)
{
    n->left = true;
    ev_timer_stop(n->loop, &n->tick);
    return redis_call_node_leave(n->link, n->id, done, ud);
}

void redis_node_free(struct redis_node **np)
{
    struct redis_node *n = np != NULL ? *np : NULL;

    if (n == NULL)
        return;
    ev_timer_stop(n->loop, &n->tick);
    *np = NULL;
    if (n->inflight > 0) {
        n->closing = true;
        return;
    }
    free(n);
}
