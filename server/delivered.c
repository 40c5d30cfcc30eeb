/*
 * delivered.c: owns a connection's table of live-delivered seq runs, an
 * open-addressing hash keyed by topic pointer (linear probing, power-of-two
 * capacity, at most half full). Most connections receive one topic or a
 * few, so the table starts with room for two and is allocated only when
 * the first message is delivered: an idle connection costs one pointer.
 */
#include "delivered.h"

#include <stdlib.h>

struct delivered {
    size_t cap;   /* a power of two */
    size_t count;
    struct delivered_run runs[];
};

#define DELIVERED_FIRST_CAP 4

static size_t delivered_slot(const void *topic, size_t cap)
{
    /* Fibonacci hashing of the pointer; its low bits are alignment. */
    uint64_t h = (uint64_t)(uintptr_t)topic * 0x9E3779B97F4A7C15ULL;

    return (size_t)(h >> 32) & (cap - 1);
}

static struct delivered_run *delivered_lookup(const struct delivered *d,
                                              const void *topic)
{
    size_t i = delivered_slot(topic, d->cap);

    for (;;) {
        const struct delivered_run *r = &d->runs[i];

        if (r->topic == topic || r->topic == NULL)
            return (struct delivered_run *)r;
        i = (i + 1) & (d->cap - 1);
    }
}

static struct delivered *delivered_alloc(size_t cap)
{
    return calloc(1, sizeof(struct delivered) +
                         cap * sizeof(struct delivered_run));
}

static int delivered_grow(struct delivered **dp)
{
    struct delivered *old = *dp;
    struct delivered *d = delivered_alloc(old->cap * 2);
    size_t i = 0;

    if (d == NULL)
        return -1;
    d->cap = old->cap * 2;
    for (i = 0; i < old->cap; i++) {
        if (old->runs[i].topic != NULL) {
            *delivered_lookup(d, old->runs[i].topic) = old->runs[i];
            d->count++;
        }
    }
    free(old);
    *dp = d;
    return 0;
}

int delivered_note(struct delivered **dp, const void *topic, int64_t seq)
{
    struct delivered_run *r = NULL;

    if (*dp == NULL) {
        *dp = delivered_alloc(DELIVERED_FIRST_CAP);
        if (*dp == NULL)
            return -1;
        (*dp)->cap = DELIVERED_FIRST_CAP;
    }
    r = delivered_lookup(*dp, topic);
    if (r->topic == NULL) {
        if (((*dp)->count + 1) * 2 > (*dp)->cap) {
            if (delivered_grow(dp) < 0)
                return -1;
            r = delivered_lookup(*dp, topic);
        }
        r->topic = topic;
        r->first = seq;
        r->last = seq;
        (*dp)->count++;
        return 0;
    }
    if (seq == r->last + 1)
        r->last = seq;
    else if (seq > r->last)
        r->first = r->last = seq; /* a gap: a new run */
    return 0;
}

const struct delivered_run *delivered_find(const struct delivered *d,
                                           const void *topic)
{
    const struct delivered_run *r = NULL;

    if (d == NULL)
        return NULL;
    r = delivered_lookup(d, topic);
    return r->topic != NULL ? r : NULL;
}

size_t delivered_count(const struct delivered *d)
{
    return d != NULL ? d->count : 0;
}

void delivered_free(struct delivered **dp)
{
    free(*dp);
    *dp = NULL;
}
