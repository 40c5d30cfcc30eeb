/*
 * hist.h: a latency histogram in microseconds with bounded relative error.
 *
 * Values below 2048 us are counted exactly; above that, each power of two
 * is split into 1024 buckets (error under 0.1 %), up to about 2^40 us.
 * Fixed memory, no allocation per sample: cheap enough to record every
 * delivery. Single-threaded.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

struct hist {
    uint64_t *counts;
    uint64_t n;
    uint64_t sum;
    uint64_t max;
};

/* Returns 0 or -ENOMEM. */
int hist_init(struct hist *h);
void hist_cleanup(struct hist *h);
void hist_reset(struct hist *h);
void hist_add(struct hist *h, uint64_t us);
/* Merge src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0..1) in us, 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
