/*
 * delivered.c: owns a connection's record of the seqs it has been sent,
 * per topic (see delivered.h for what it promises). An open-addressing
 * hash keyed by topic pointer (linear probing, power-of-two capacity, at
 * most half full counting forgotten slots), each slot holding its topic's
 * few runs inline. Most connections receive one topic or a few, so the
 * table starts small and is allocated only when the first message is
 * sent: an idle connection costs one pointer.
 */
#include "delivered.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct seq_run {
    int64_t first;
    int64_t last;
};

struct delivered_entry {
    const void *topic;       /* NULL: never used; TOMB: forgotten */
    uint32_t n;
    struct seq_run runs[DELIVERED_RUNS_MAX]; /* ascending, disjoint */
};

struct delivered {
    size_t cap;              /* a power of two */
    size_t count;            /* topics recorded */
    size_t used;             /* count + forgotten slots */
    struct delivered_entry e[];
};

#define DELIVERED_FIRST_CAP 4

/* A forgotten slot: lookups probe past it, inserts may take it. */
static const char delivered_tomb;
#define TOMB ((const void *)&delivered_tomb)

static size_t delivered_slot(const void *topic, size_t cap)
{
    /* Fibonacci hashing of the pointer; its low bits are alignment. */
    uint64_t h = (uint64_t)(uintptr_t)topic * 0x9E3779B97F4A7C15ULL;

    return (size_t)(h >> 32) & (cap - 1);
}

/* topic's entry, or NULL. */
static struct delivered_entry *delivered_lookup(const struct delivered *d,
                                                const void *topic)
{
    size_t i = 0;

    if (d == NULL)
        return NULL;
    i = delivered_slot(topic, d->cap);
    for (;;) {
        const struct delivered_entry *e = &d->e[i];

        if (e->topic == topic)
            return (struct delivered_entry *)e;
        if (e->topic == NULL)
            return NULL;
        i = (i + 1) & (d->cap - 1);
    }
}

/* The slot a new entry for topic (known absent) goes to. */
static struct delivered_entry *delivered_free_slot(struct delivered *d,
                                                   const void *topic)
{
    size_t i = delivered_slot(topic, d->cap);

    while (d->e[i].topic != NULL && d->e[i].topic != TOMB)
        i = (i + 1) & (d->cap - 1);
    return &d->e[i];
}

static struct delivered *delivered_alloc(size_t cap)
{
    struct delivered *d = calloc(1, sizeof(struct delivered) +
                                        cap * sizeof(struct delivered_entry));

    if (d != NULL)
        d->cap = cap;
    return d;
}

/* Make room for one more topic: past half full (forgotten slots count), a
 * new table without the forgotten slots, at most a quarter full, so that
 * forgetting and recording topics in turn cannot rebuild it every time. */
static int delivered_make_room(struct delivered **dp)
{
    struct delivered *old = *dp;
    struct delivered *d = NULL;
    size_t cap = old->cap;
    size_t i = 0;

    if ((old->used + 1) * 2 <= old->cap)
        return 0;
    while ((old->count + 1) * 4 > cap)
        cap *= 2;
    d = delivered_alloc(cap);
    if (d == NULL)
        return -ENOMEM;
    for (i = 0; i < old->cap; i++) {
        const void *t = old->e[i].topic;

        if (t != NULL && t != TOMB) {
            *delivered_free_slot(d, t) = old->e[i];
            d->count++;
        }
    }
    d->used = d->count;
    free(old);
    *dp = d;
    return 0;
}

/* Add seq to e's runs: extend or join neighbours, else a new run; one run
 * too many joins the two closest ones. Returns 1, or 0 when seq was in a
 * run already. */
static int runs_add(struct delivered_entry *e, int64_t seq)
{
    struct seq_run tmp[DELIVERED_RUNS_MAX + 1];
    uint32_t i = 0;
    uint32_t j = 0;
    uint32_t n = 0;
    uint32_t best = 0;

    while (i < e->n && e->runs[i].last + 1 < seq)
        i++;
    if (i < e->n && e->runs[i].first - 1 <= seq) {
        struct seq_run *r = &e->runs[i];

        if (seq >= r->first && seq <= r->last)
            return 0;
        if (seq < r->first)
            r->first = seq;
        if (seq > r->last) {
            r->last = seq;
            if (i + 1 < e->n && e->runs[i + 1].first == seq + 1) {
                r->last = e->runs[i + 1].last;
                memmove(&e->runs[i + 1], &e->runs[i + 2],
                        (e->n - i - 2) * sizeof(e->runs[0]));
                e->n--;
            }
        }
        return 1;
    }
    memcpy(tmp, e->runs, i * sizeof(tmp[0]));
    tmp[i].first = tmp[i].last = seq;
    memcpy(&tmp[i + 1], &e->runs[i], (e->n - i) * sizeof(tmp[0]));
    n = e->n + 1;
    if (n > DELIVERED_RUNS_MAX) {
        for (j = 1; j + 1 < n; j++)
            if (tmp[j + 1].first - tmp[j].last <
                tmp[best + 1].first - tmp[best].last)
                best = j;
        tmp[best].last = tmp[best + 1].last;
        memmove(&tmp[best + 1], &tmp[best + 2],
                (n - best - 2) * sizeof(tmp[0]));
        n--;
    }
    memcpy(e->runs, tmp, n * sizeof(tmp[0]));
    e->n = n;
    return 1;
}

int delivered_note(struct delivered **dp, const void *topic, int64_t seq)
{
    struct delivered_entry *e = delivered_lookup(*dp, topic);

    if (e == NULL) {
        if (*dp == NULL && (*dp = delivered_alloc(DELIVERED_FIRST_CAP)) == NULL)
            return -ENOMEM;
        if (delivered_make_room(dp) < 0)
            return -ENOMEM;
        e = delivered_free_slot(*dp, topic);
        if (e->topic == NULL)
            (*dp)->used++;
        e->topic = topic;
        e->n = 0;
        (*dp)->count++;
    }
    return runs_add(e, seq);
}

bool delivered_has(const struct delivered *d, const void *topic, int64_t seq)
{
    const struct delivered_entry *e = delivered_lookup(d, topic);
    uint32_t i = 0;

    for (i = 0; e != NULL && i < e->n; i++)
        if (seq >= e->runs[i].first && seq <= e->runs[i].last)
            return true;
    return false;
}

int64_t delivered_next_unseen(const struct delivered *d, const void *topic,
                              int64_t from)
{
    const struct delivered_entry *e = delivered_lookup(d, topic);
    uint32_t i = 0;

    for (i = 0; e != NULL && i < e->n; i++) {
        if (from < e->runs[i].first)
            break;
        if (from <= e->runs[i].last)
            from = e->runs[i].last + 1;
    }
    return from;
}

int64_t delivered_prev_unseen(const struct delivered *d, const void *topic,
                              int64_t upto)
{
    const struct delivered_entry *e = delivered_lookup(d, topic);
    uint32_t i = e != NULL ? e->n : 0;

    while (i-- > 0) {
        if (upto > e->runs[i].last)
            break;
        if (upto >= e->runs[i].first)
            upto = e->runs[i].first - 1;
    }
    return upto > 0 ? upto : 0;
}

void delivered_forget(struct delivered *d, const void *topic)
{
    struct delivered_entry *e = delivered_lookup(d, topic);

    if (e == NULL)
        return;
    e->topic = TOMB;
    e->n = 0;
    d->count--;
}

void delivered_forget_if(struct delivered *d,
                         bool (*drop)(void *arg, const void *topic),
                         void *arg)
{
    size_t i = 0;

    for (i = 0; d != NULL && i < d->cap; i++) {
        const void *t = d->e[i].topic;

        if (t != NULL && t != TOMB && drop(arg, t)) {
            d->e[i].topic = TOMB;
            d->e[i].n = 0;
            d->count--;
        }
    }
}

size_t delivered_runs(const struct delivered *d, const void *topic)
{
    const struct delivered_entry *e = delivered_lookup(d, topic);

    return e != NULL ? e->n : 0;
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
