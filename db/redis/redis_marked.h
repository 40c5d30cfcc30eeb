/*
 * redis_marked.h: moved read markers heard from other nodes, with no
 * silent loss. pl_mark numbers every move in a bounded log in Redis
 * (pl:marked:seq, :log, :epoch) before it PUBLISHes it on pl:marked, so
 * the moves are a sequence like a topic's messages, and the same rule
 * (redis_gap) applies: a move heard after a gap, or the link back with
 * pl:marked's SUBSCRIBE confirmed after a lost connection, reads the log
 * after the last move delivered, in order, before anything newer.
 * So a user's other connections on a node that was deaf still hear
 * `marked`, and their unread badges do not stay stale.
 *
 * Service thread only; one per engine.
 */
#ifndef PARLEY_REDIS_MARKED_H
#define PARLEY_REDIS_MARKED_H

#include <stdbool.h>
#include <stdint.h>

#include "redis_gap.h"
#include "redis_link.h"

/* Deliver one move (kind MARKED) to the hub; ev is borrowed. */
typedef void (*redis_marked_fn)(void *ud, const struct redis_event *ev);

struct redis_marked {
    struct redis_link *link;
    redis_marked_fn deliver;
    void *ud;
    struct redis_gap gap;
    bool tracked;       /* gap holds a start point */
    bool locating;      /* the start point's read is in flight */
    uint64_t heard_max; /* the highest move heard before tracking */
    uint64_t filled;    /* moves delivered from the log */
};

void redis_marked_init(struct redis_marked *m, struct redis_link *link,
                       redis_marked_fn deliver, void *ud);

/* A move heard on pl:marked. */
void redis_marked_heard(struct redis_marked *m, const struct redis_event *ev);

/* pl:marked's SUBSCRIBE is confirmed and the command connection is up
 * (at start, and after each lost connection): locate the log's end the
 * first time, fill after that. Returns false when the read could not be
 * sent (the caller tries again when the link is next up). */
bool redis_marked_sync(struct redis_marked *m);

#endif
