/*
 * redis_backfill.h: topics first published by a release before the
 * topic registry (pl:topics) existed are not in it, so everything that
 * walks the registry (the age sweep, unread, topic lists, pattern subs)
 * would miss them. Once per cluster, this walks Redis's keys with SCAN,
 * one bounded step (pl_backfill) every every_ms, and registers every
 * topic it finds.
 *
 * Several nodes at once: the SCAN cursor lives in Redis (pl:backfill),
 * advanced atomically by each step, so the nodes share one walk; a node
 * that dies mid-walk loses nothing (the next step resumes from the
 * cursor); ZADD NX is idempotent. When the walk is over the cursor says
 * 'done', and every node stops at its first step. A Redis that lost its
 * data loses the 'done' too, and the walk runs again (over what is there).
 *
 * A tick is skipped while the link is down or the step in flight has not
 * called back. Service thread only.
 */
#ifndef PARLEY_REDIS_BACKFILL_H
#define PARLEY_REDIS_BACKFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "redis_link.h"

struct redis_backfill;

struct redis_backfill_stats {
    uint64_t steps; /* steps that answered */
    uint64_t keys;  /* keys looked at */
    uint64_t added; /* topics this node registered */
    bool over;      /* the walk is over: no more steps */
};

/* Start walking on loop over link (borrowed: it must outlive this), a
 * step of about count keys every every_ms. 0 with *out owned by the
 * caller, -EINVAL or -ENOMEM. */
int redis_backfill_new(struct redis_backfill **out, struct ev_loop *loop,
                       struct redis_link *link, uint32_t every_ms,
                       uint32_t count);

void redis_backfill_get_stats(const struct redis_backfill *b,
                              struct redis_backfill_stats *out);

/* Stop and free, setting *bp to NULL (a step in flight frees it when it
 * calls back). NULL is allowed. */
void redis_backfill_free(struct redis_backfill **bp);

#endif
