/*
 * redis_sweep.c: owns the age sweep's timer, its one call in flight and
 * its counters. Like redis_node, the struct lives until its call has
 * called back, so freeing it never leaves the link a dangling context.
 */
#include "redis_sweep.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* trim_age's batch in parley.lua: a budget below it could not finish a
 * single batch. */
#define SWEEP_MIN_BUDGET 64

struct redis_sweep {
    struct ev_loop *loop;
    struct redis_link *link;
    struct redis_sweep_config cfg;
    ev_timer tick;
    bool inflight;
    bool closing; /* freed by its owner: the callback frees it */
    struct redis_sweep_stats stats;
};

/* Wall-clock ms: messages' ts are the publishing node's wall clock, and
 * the publish path computes its bound from them the same way. */
static int64_t wall_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_swept(int err, size_t n, const long long *v, void *ud)
{
    struct redis_sweep *s = ud;

    s->inflight = false;
    if (s->closing) {
        free(s);
        return;
    }
    if (err < 0 || n != 2) {
        s->stats.failures++;
        return;
    }
    s->stats.calls++;
    s->stats.topics += (uint64_t)v[0];
    if (v[1] != 0)
        s->stats.wraps++;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_sweep *s = w->data;

    (void)loop;
    (void)revents;
    if (s->inflight || !redis_link_up(s->link))
        return;
    if (redis_call_sweep_age(s->link, wall_ms() - s->cfg.retain_age_ms,
                             s->cfg.topics, s->cfg.budget, on_swept, s) == 0)
        s->inflight = true;
    else
        s->stats.failures++;
}

int redis_sweep_new(struct redis_sweep **out, struct ev_loop *loop,
                    struct redis_link *link,
                    const struct redis_sweep_config *cfg)
{
    struct redis_sweep *s = NULL;

    if (cfg->retain_age_ms <= 0 || cfg->every_ms == 0 || cfg->topics == 0 ||
        cfg->budget < SWEEP_MIN_BUDGET)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->link = link;
    s->cfg = *cfg;
    ev_timer_init(&s->tick, tick_cb, (double)cfg->every_ms / 1000.0,
                  (double)cfg->every_ms / 1000.0);
    s->tick.data = s;
    ev_timer_start(loop, &s->tick);
    *out = s;
    return 0;
}

void redis_sweep_get_stats(const struct redis_sweep *s,
                           struct redis_sweep_stats *out)
{
    *out = s->stats;
}

void redis_sweep_free(struct redis_sweep **sp)
{
    struct redis_sweep *s = sp != NULL ? *sp : NULL;

    if (s == NULL)
        return;
    ev_timer_stop(s->loop, &s->tick);
    *sp = NULL;
    if (s->inflight) {
        s->closing = true;
        return;
    }
    free(s);
}
