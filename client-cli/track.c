/*
 * track.c: owns the per-topic "last seq" table of a subscriber: a chained
 * hash map from topic name to int64, growing by doubling. Entries are
 * never removed (a CLI run sees a bounded number of topics).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

#define TRACK_INITIAL_BUCKETS 64

struct track_entry {
    struct track_entry *next;
    int64_t seq;
    char topic[];
};

struct track {
    struct track_entry **buckets;
    size_t n_buckets;
    size_t count;
};

static size_t track_hash(const char *s)
{
    size_t h = 1469598103934665603ull;

    while (*s != '\0') {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ull;
    }
    return h;
}

int track_new(struct track **out)
{
    struct track *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -ENOMEM;
    t->buckets = calloc(TRACK_INITIAL_BUCKETS, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return -ENOMEM;
    }
    t->n_buckets = TRACK_INITIAL_BUCKETS;
    *out = t;
    return 0;
}

void track_free(struct track **pt)
{
    struct track *t = *pt;
    struct track_entry *e = NULL;
    struct track_entry *next = NULL;
    size_t i = 0;

    if (t == NULL)
        return;
    for (i = 0; i < t->n_buckets; i++) {
        for (e = t->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    free(t);
    *pt = NULL;
}

static struct track_entry *track_find(const struct track *t,
                                      const char *topic)
{
    struct track_entry *e = t->buckets[track_hash(topic) % t->n_buckets];

    while (e != NULL && strcmp(e->topic, topic) != 0)
        e = e->next;
    return e;
}

int64_t track_get(const struct track *t, const char *topic)
{
    const struct track_entry *e = track_find(t, topic);

    return e != NULL ? e->seq : -1;
}

/* Doubles the bucket array; on allocation failure keeps the old one. */
static void track_grow(struct track *t)
{
    size_t n = t->n_buckets * 2;
    struct track_entry **b = calloc(n, sizeof(*b));
    struct track_entry *e = NULL;
    struct track_entry *next = NULL;
    size_t i = 0;
    size_t h = 0;

    if (b == NULL)
        return;
    for (i = 0; i < t->n_buckets; i++) {
        for (e = t->buckets[i]; e != NULL; e = next) {
            next = e->next;
            h = track_hash(e->topic) % n;
            e->next = b[h];
            b[h] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

static int track_put(struct track *t, const char *topic, int64_t seq,
                     bool overwrite)
{
    struct track_entry *e = track_find(t, topic);
    size_t len = strlen(topic);
    size_t h = 0;

    if (e != NULL) {
        if (overwrite)
            e->seq = seq;
        return 0;
    }
    if (t->count >= t->n_buckets)
        track_grow(t);
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return -ENOMEM;
    memcpy(e->topic, topic, len + 1);
    e->seq = seq;
    h = track_hash(topic) % t->n_buckets;
    e->next = t->buckets[h];
    t->buckets[h] = e;
    t->count++;
    return 0;
}

int track_set(struct track *t, const char *topic, int64_t seq)
{
    return track_put(t, topic, seq, true);
}

int track_init(struct track *t, const char *topic, int64_t seq)
{
    return track_put(t, topic, seq, false);
}

void track_foreach(const struct track *t,
                   void (*fn)(const char *topic, int64_t seq, void *arg),
                   void *arg)
{
    const struct track_entry *e = NULL;
    size_t i = 0;

    for (i = 0; i < t->n_buckets; i++)
        for (e = t->buckets[i]; e != NULL; e = e->next)
            fn(e->topic, e->seq, arg);
}
