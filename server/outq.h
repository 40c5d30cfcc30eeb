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

/*
 * Entries are struct msg pointers whose lowest bit marks a *paced* entry:
 * a replay page or a reply that waited for the store. The contract says
 * those never count toward the slow-consumer bound, so the queue keeps
 * their bytes apart (malloc'd msgs are at least 8-byte aligned).
 */
struct outq {
    uintptr_t *ring;
    uint32_t cap;        /* power of two, or 0 */
    uint32_t head;
    uint32_t count;
    size_t bytes;        /* sum of the entries' frame lengths */
    size_t paced_bytes;  /* the part of bytes in paced entries */
};

void outq_init(struct outq *q);
/* Drop every entry's reference and free the ring. */
void outq_cleanup(struct outq *q);

/* Append m, taking a new reference. Returns 0 or -ENOMEM. */
int outq_push(struct outq *q, struct msg *m);
/* The same for a paced entry (see above). */
int outq_push_paced(struct outq *q, struct msg *m);

#define OUTQ_PACED ((uintptr_t)1)

static inline struct msg *outq_entry_msg(uintptr_t e)
{
    return (struct msg *)(e & ~OUTQ_PACED);
}

/* The oldest entry (borrowed) or NULL when empty. */
static inline struct msg *outq_peek(const struct outq *q)
{
    return q->count ? outq_entry_msg(q->ring[q->head]) : NULL;
}

/* The i-th oldest entry (borrowed), i < count. */
static inline struct msg *outq_at(const struct outq *q, uint32_t i)
{
    return outq_entry_msg(q->ring[(q->head + i) & (q->cap - 1)]);
}

/* Bytes that count toward the bound: live messages and plain replies. */
static inline size_t outq_live_bytes(const struct outq *q)
{
    return q->bytes - q->paced_bytes;
}

/* Remove the oldest entry and drop its reference. */
void outq_pop(struct outq *q);

/* Account for a placeholder that was filled after it was queued
 * (placeholders are always queued paced). */
void outq_add_paced_bytes(struct outq *q, size_t n);

#endif
