/*
 * redis_gap.c: owns the per-topic delivery position of a cluster node and
 * the decision, for each message, to deliver it, drop it, or read the
 * stream first. See redis_gap.h for the rule; the unit test walks its
 * cases (in order, duplicate, gap, loss during a fill, epoch change).
 */
#include "redis_gap.h"

#include <string.h>

static bool same_epoch(const struct redis_gap *g, const char *e, size_t n)
{
    return strlen(g->epoch) == n && memcmp(g->epoch, e, n) == 0;
}

static void set_epoch(struct redis_gap *g, const char *e, size_t n)
{
    if (n > REDIS_GAP_EPOCH_MAX)
        n = REDIS_GAP_EPOCH_MAX;
    memcpy(g->epoch, e, n);
    g->epoch[n] = '\0';
}

/* Take on epoch e: adopt it when the topic had none, or start over when
 * Redis lost the topic. */
static void see_epoch(struct redis_gap *g, const char *e, size_t n)
{
    if (n == 0 || same_epoch(g, e, n))
        return;
    if (g->epoch[0] != '\0') {
        g->epoch_changes++;
        g->last = 0;
        g->max_seen = 0;
    }
    set_epoch(g, e, n);
}

void redis_gap_init(struct redis_gap *g, uint64_t last, const char *epoch,
                    size_t epoch_len)
{
    memset(g, 0, sizeof(*g));
    g->last = last;
    g->max_seen = last;
    set_epoch(g, epoch, epoch_len);
}

enum redis_gap_verdict redis_gap_live(struct redis_gap *g,
                                      const struct redis_event *ev)
{
    see_epoch(g, ev->epoch, ev->epoch_len);
    if (ev->seq > g->max_seen)
        g->max_seen = ev->seq;
    if (ev->seq <= g->last)
        return REDIS_GAP_STALE;
    if (g->filling)
        return REDIS_GAP_WAIT;
    if (ev->seq == g->last + 1) {
        g->last = ev->seq;
        return REDIS_GAP_DELIVER;
    }
    g->filling = true;
    return REDIS_GAP_FILL;
}

bool redis_gap_fill_begin(struct redis_gap *g)
{
    if (g->filling)
        return false;
    g->filling = true;
    return true;
}

void redis_gap_fill_head(struct redis_gap *g, uint64_t latest,
                         const char *epoch, size_t epoch_len)
{
    see_epoch(g, epoch, epoch_len);
    if (latest > g->max_seen)
        g->max_seen = latest;
    g->fill_latest = latest;
    g->fill_rows = 0;
}

enum redis_gap_verdict redis_gap_fill_row(struct redis_gap *g,
                                          const struct redis_event *ev)
{
    if (ev->seq <= g->last)
        return REDIS_GAP_STALE;
    if (ev->seq > g->last + 1)
        g->lost += ev->seq - g->last - 1;
    g->last = ev->seq;
    g->fill_rows++;
    if (ev->seq > g->max_seen)
        g->max_seen = ev->seq;
    return REDIS_GAP_DELIVER;
}

bool redis_gap_fill_end(struct redis_gap *g)
{
    if (g->fill_rows == 0 && g->last < g->fill_latest) {
        g->lost += g->fill_latest - g->last;
        g->last = g->fill_latest;
    }
    g->filling = g->last < g->max_seen;
    return g->filling;
}

void redis_gap_fill_failed(struct redis_gap *g)
{
    g->filling = false;
}
