/*
 * redis_backfill.c: owns the registry backfill's timer, its one step in
 * flight and its counters (see the header). Like redis_sweep, the struct
 * lives until its step has called back.
 */
#include "redis_backfill.h"

#include <errno.h>
#include <stdlib.h>

#include "redis_calls.h"

struct redis_backfill {
    struct ev_loop *loop;
    struct redis_link *link;
    uint32_t count;
    ev_timer tick;
    bool inflight;
    bool closing; /* freed by its owner: the callback frees it */
    struct redis_backfill_stats stats;
};

static void on_step(int err, size_t n, const long long *v, void *ud)
{
    struct redis_backfill *b = ud;

    b->inflight = false;
    if (b->closing) {
        free(b);
        return;
    }
    if (err < 0 || n != 3)
        return; /* the next tick tries again */
    b->stats.steps++;
    b->stats.keys += (uint64_t)v[0];
    b->stats.added += (uint64_t)v[1];
    if (v[2] != 0) {
        b->stats.over = true;
        ev_timer_stop(b->loop, &b->tick);
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_backfill *b = w->data;

    (void)loop;
    (void)revents;
    if (b->inflight || !redis_link_up(b->link))
        return;
    if (redis_call_backfill(b->link, b->count, on_step, b) == 0)
        b->inflight = true;
}

int redis_backfill_new(struct redis_backfill **out, struct ev_loop *loop,
                       struct redis_link *link, uint32_t every_ms,
                       uint32_t count)
{
    struct redis_backfill *b = NULL;

    if (every_ms == 0 || count == 0)
        return -EINVAL;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->loop = loop;
    b->link = link;
    b->count = count;
    ev_timer_init(&b->tick, tick_cb, (double)every_ms / 1000.0,
                  (double)every_ms / 1000.0);
    b->tick.data = b;
    ev_timer_start(loop, &b->tick);
    *out = b;
    return 0;
}

void redis_backfill_get_stats(const struct redis_backfill *b,
                              struct redis_backfill_stats *out)
{
    *out = b->stats;
}

void redis_backfill_free(struct redis_backfill **bp)
{
    struct redis_backfill *b = bp != NULL ? *bp : NULL;

    if (b == NULL)
        return;
    ev_timer_stop(b->loop, &b->tick);
    *bp = NULL;
    if (b->inflight) {
        b->closing = true;
        return;
    }
    free(b);
}
