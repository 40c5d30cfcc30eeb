/*
 * store_bench_util.c: the helpers the offline store benchmarks share (see
 * store_bench_util.h). Single thread.
 */
#include "store_bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double sb_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

double sb_quantile(const double *v, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);

    return n > 0 ? v[i] : 0;
}

struct store_sql *sb_open(const char *path)
{
    struct store_sql_config cfg;
    struct store_sql *s = NULL;
    char *err = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    s = store_sql_open(&cfg, &err);
    if (s == NULL) {
        fprintf(stderr, "store bench: %s\n", err != NULL ? err : "?");
        free(err);
    }
    return s;
}

int64_t sb_count(struct store_sql *s)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(store_sql_db(s), "SELECT count(*) FROM messages",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}
