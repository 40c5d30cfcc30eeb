/*
 * outq.h: a connection's bounded FIFO of outbound frames (struct msg *).
 *
 * Each entry holds one reference. The ring grows by doubling from nothing,
 * so an idle connection costs no allocation; the caller enforces the
 * byte/entry bounds (conn.c) and culls the connection past them.
 * Service thread only.
 */
#ifndef PL_OUTQ_H
#define PL_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct outq {
    struct msg **ring;
    uint32_t cap;        /* power of two, or 0 */
    uint32_t head;
    uint32_t count;
    size_t bytes;        /* sum of the entries' frame lengths */
};

void outq_init(struct outq *q);
/* Drop every entry's reference and free the ring. */
void outq_cleanup(struct outq *q);

/* Append m, taking a new reference. Returns 0 or -ENOMEM. */
int outq_push(struct outq *q, struct msg *m);

/* The oldest entry (borrowed) or NULL when empty. */
static inline struct msg *outq_peek(const struct outq *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

/* The i-th oldest entry (borrowed), i < count. */
static inline struct msg *outq_at(const struct outq *q, uint32_t i)
{
    return q->ring[(q->head + i) & (q->cap - 1)];
}

/* Remove the oldest entry and drop its reference. */
void outq_pop(struct outq *q);

/* Account for a placeholder that was filled after it was queued. */
void outq_add_bytes(struct outq *q, size_t n);

#endif
