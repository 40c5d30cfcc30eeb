/*
 * store_bench_util.h: what the offline store benchmarks share
 * (parley-store-bench, parley-search-bench): a clock, quantiles, opening
 * a store file and counting its messages.
 */
#ifndef PL_STORE_BENCH_UTIL_H
#define PL_STORE_BENCH_UTIL_H

#include <stdint.h>

#include "store_sql.h"

/* Monotonic seconds. */
double sb_now_s(void);
/* qsort comparator for doubles, ascending. */
int sb_cmp_double(const void *a, const void *b);
/* The q-quantile (0..1) of sorted v[0..n). */
double sb_quantile(const double *v, int n, double q);
/* Open (or create) the store at path with default settings; NULL after
 * printing why. */
struct store_sql *sb_open(const char *path);
/* Rows in messages, or -1. */
int64_t sb_count(struct store_sql *s);

#endif
