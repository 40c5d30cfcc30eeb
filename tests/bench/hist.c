/*
 * hist.c: the log-linear latency histogram of hist.h. Owns only its
 * bucket array.
 */
#include "hist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HIST_LINEAR 2048u   /* exact below this */
#define HIST_SUB 1024u      /* buckets per power of two above it */
#define HIST_SHIFTS 30u     /* 2048 us .. 2^41 us */
#define HIST_BUCKETS (HIST_LINEAR + HIST_SHIFTS * HIST_SUB)

static uint32_t hist_index(uint64_t us)
{
    unsigned msb = 0;
    unsigned shift = 0;

    if (us < HIST_LINEAR)
        return (uint32_t)us;
    msb = 63u - (unsigned)__builtin_clzll(us);
    shift = msb - 10u;                  /* keep the top 11 bits */
    if (shift > HIST_SHIFTS)
        return HIST_BUCKETS - 1;
    return HIST_LINEAR + (shift - 1u) * HIST_SUB +
           (uint32_t)((us >> shift) - HIST_SUB);
}

/* The highest value that falls into bucket i. */
static uint64_t hist_value(uint32_t i)
{
    uint32_t shift = 0;
    uint64_t base = 0;

    if (i < HIST_LINEAR)
        return i;
    shift = (i - HIST_LINEAR) / HIST_SUB + 1u;
    base = (uint64_t)((i - HIST_LINEAR) % HIST_SUB + HIST_SUB) << shift;
    return base + ((1ull << shift) - 1u);
}

int hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->counts = calloc(HIST_BUCKETS, sizeof(*h->counts));
    return h->counts == NULL ? -ENOMEM : 0;
}

void hist_cleanup(struct hist *h)
{
    free(h->counts);
    h->counts = NULL;
}

void hist_reset(struct hist *h)
{
    memset(h->counts, 0, HIST_BUCKETS * sizeof(*h->counts));
    h->n = h->sum = h->max = 0;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->counts[hist_index(us)]++;
    h->n++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    uint32_t i;

    for (i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t rank = 0;
    uint64_t seen = 0;
    uint64_t v = 0;
    uint32_t i;

    if (h->n == 0)
        return 0;
    rank = (uint64_t)(q * (double)h->n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            v = hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
