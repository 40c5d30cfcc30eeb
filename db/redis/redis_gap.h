/*
 * redis_gap.h: per topic, what a node has delivered, so that a message
 * lost by Redis pub/sub (at-most-once: a reconnect, a slow link) is read
 * back from the topic's stream before anything newer is delivered. A
 * client never sees a gap, a duplicate, or a seq out of order.
 *
 * The rule: a live message with seq == last + 1 is delivered; seq <= last
 * is stale (a fill delivered it already); seq > last + 1 starts a fill
 * (pl_since from last). While a fill runs, live messages are dropped, as
 * each is in the stream already (the publish function appends before it
 * PUBLISHes); the highest seen is remembered so the node fills again until
 * it has reached it. After a lost connection every active topic fills.
 *
 * An epoch that differs from the one the topic had means Redis lost the
 * topic: last starts over from 0 under the new epoch, and epoch_changes
 * counts it. Seqs then go backwards, which the contract cannot show a live
 * subscriber: the caller checks epoch_changes and decides (phase 2: end
 * those subscriptions so clients re-subscribe and get recovered:false).
 *
 * Pure: no I/O, no allocation; the caller runs the fills. One struct per
 * topic with local subscribers; service thread only.
 */
#ifndef PARLEY_REDIS_GAP_H
#define PARLEY_REDIS_GAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_layout.h"

#define REDIS_GAP_EPOCH_MAX 32

struct redis_gap {
    uint64_t last;        /* the last seq delivered; 0: none */
    uint64_t max_seen;    /* the highest seq heard of */
    bool filling;         /* a pl_since is in flight */
    uint64_t fill_latest; /* the running fill's head: latest seq */
    uint64_t fill_rows;   /* rows it delivered */
    char epoch[REDIS_GAP_EPOCH_MAX + 1]; /* "" until the topic has one */
    uint64_t lost;          /* seqs skipped: trimmed before a fill */
    uint64_t epoch_changes; /* times Redis lost the topic */
};

enum redis_gap_verdict {
    REDIS_GAP_DELIVER, /* deliver it now (last advanced) */
    REDIS_GAP_STALE,   /* delivered already: drop it */
    REDIS_GAP_FILL,    /* dropped; start a fill: pl_since(g->last) */
    REDIS_GAP_WAIT,    /* dropped; the running fill will bring it */
};

/* Start tracking at last under epoch (as a sub's pl_since or pl_retained
 * reply gave them; "" when the topic has none yet). */
void redis_gap_init(struct redis_gap *g, uint64_t last, const char *epoch,
                    size_t epoch_len);

/* A message that came by pub/sub (kind REDIS_EVENT_MSG). */
enum redis_gap_verdict redis_gap_live(struct redis_gap *g,
                                      const struct redis_event *ev);

/* Begin a fill whatever came (after a reconnect). Returns false when one
 * is already running. */
bool redis_gap_fill_begin(struct redis_gap *g);

/* A fill's reply: first its head (the topic's latest seq and epoch), then
 * each row in order; rows return DELIVER or STALE. A row beyond last + 1
 * (history trimmed meanwhile) is delivered, and the skipped seqs counted
 * in g->lost. */
void redis_gap_fill_head(struct redis_gap *g, uint64_t latest,
                         const char *epoch, size_t epoch_len);
enum redis_gap_verdict redis_gap_fill_row(struct redis_gap *g,
                                          const struct redis_event *ev);

/* The fill's end. Returns true when another fill must follow (the reply
 * was cut by its limit, or newer messages were heard meanwhile). A fill
 * that found nothing after last although the topic had reached further
 * (everything trimmed meanwhile) moves last to that point and counts the
 * loss, so fills never repeat for messages that are gone. */
bool redis_gap_fill_end(struct redis_gap *g);

/* A fill that failed (the link's error): the next reconnect fills again. */
void redis_gap_fill_failed(struct redis_gap *g);

#endif
