/*
 * store_bench.c: parley-store-bench, the store's read benchmark without a
 * server. It builds a database offline through the store's own SQLite
 * layer (store_sql: the same group commits and index cycles as parleyd,
 * without the threads), reopens it, and times the two reads a reconnecting
 * client causes: `history` (the newest 50 of a topic: a BEFORE read) and a
 * `since` replay of 1000 messages (an AFTER read), on random topics.
 *
 *   parley-store-bench --db PATH --messages N --topics T [--reads R]
 *                      [--label L] [--tag T]
 *
 * An existing file is reused when it holds N messages (building 10 million
 * takes minutes); delete it to rebuild. Prints one JSON line: build rate,
 * file size, and p50/p99/max of each read in ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_bench_util.h"

#define SB_BATCH 10000
#define SB_DATA_BYTES 100

struct sb_opts {
    const char *db;
    const char *label;
    const char *tag;
    int64_t messages;
    int64_t topics;
    int reads;
};

/* This thread's CPU time: unlike the wall clock, not stretched when other
 * processes take the CPU (the machine is shared). */
static double sb_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run maintenance (the index cycle) until it has nothing left. */
static int sb_maintain(struct store_sql *s, int64_t now_ms)
{
    uint64_t pruned = 0;
    int rc = 0;
    int rounds = 0;

    do {
        rc = store_sql_prune(s, now_ms, 4, &pruned);
    } while (rc == 1 && ++rounds < 1000000);
    return rc < 0 ? -1 : 0;
}

/* Publish o->messages round robin over o->topics, SB_BATCH per commit,
 * the clock stepping 1 s per batch so that index cycles run as in a
 * server. Returns the seconds it took, or < 0. */
static double sb_build(struct store_sql *s, const struct sb_opts *o)
{
    struct store_job **jobs = calloc(SB_BATCH, sizeof(*jobs));
    char data[SB_DATA_BYTES + 1];
    char topic[64];
    int64_t now_ms = 1764130000000LL;
    int64_t done = 0;
    double t0 = sb_now_s();

    if (jobs == NULL)
        return -1;
    memset(data, 'x', SB_DATA_BYTES);
    data[0] = '"';
    data[SB_DATA_BYTES - 1] = '"';
    data[SB_DATA_BYTES] = '\0';
    while (done < o->messages) {
        size_t n = 0, i = 0;
        uint64_t b = 0, r = 0, e = 0;

        for (; n < SB_BATCH && done + (int64_t)n < o->messages; n++) {
            snprintf(topic, sizeof(topic), "sensors/%" PRId64,
                     (done + (int64_t)n) % o->topics);
            jobs[n] = store_job_new(STORE_JOB_PUB, topic);
            if (jobs[n] == NULL ||
                store_job_set_pub(jobs[n], data, SB_DATA_BYTES, false, false,
                                  "sensor", NULL, now_ms) != 0)
                goto fail;
        }
        if (store_sql_run_pubs(s, jobs, n, NULL, NULL, &b, &r, &e) != 0)
            goto fail;
        for (i = 0; i < n; i++)
            store_job_free(&jobs[i]);
        done += (int64_t)n;
        now_ms += 1000;
        if (sb_maintain(s, now_ms) != 0)
            goto fail;
        if (done % 1000000 == 0)
            fprintf(stderr, "parley-store-bench: %" PRId64 " messages\n",
                    done);
    }
    free(jobs);
    return sb_now_s() - t0;

fail:
    fprintf(stderr, "parley-store-bench: building failed\n");
    for (size_t i = 0; i < SB_BATCH; i++)
        store_job_free(&jobs[i]);
    free(jobs);
    return -1;
}

/* Time `reads` reads of one kind on random topics into ms[] (wall) and
 * cpu[] (this thread's CPU), both sorted. Returns 0, or -1 when a read
 * failed or came back short. */
static int sb_reads(struct store_sql *s, const struct sb_opts *o,
                    enum store_job_kind kind, int limit, double *ms,
                    double *cpu)
{
    char topic[64];
    int i = 0;

    for (i = 0; i < o->reads; i++) {
        int64_t t = (int64_t)(rand() % (int)o->topics);
        struct store_job *job = NULL;
        double t0 = 0;
        double c0 = 0;
        int64_t last = 0;

        snprintf(topic, sizeof(topic), "sensors/%" PRId64, t);
        last = store_sql_last_seq(s, topic);
        job = store_job_new(kind, topic);
        if (job == NULL)
            return -1;
        job->limit = limit;
        job->after = last > limit ? last - limit : 0;
        job->upto = last;
        t0 = sb_now_s();
        c0 = sb_cpu_s();
        store_sql_run_read(s, job);
        ms[i] = (sb_now_s() - t0) * 1000;
        cpu[i] = (sb_cpu_s() - c0) * 1000;
        if (job->err != 0 ||
            job->n_rows != (size_t)(last < limit ? last : limit)) {
            fprintf(stderr, "parley-store-bench: %s: %zu rows, err %d\n",
                    topic, job->n_rows, job->err);
            store_job_free(&job);
            return -1;
        }
        store_job_free(&job);
    }
    qsort(ms, (size_t)o->reads, sizeof(*ms), sb_cmp_double);
    qsort(cpu, (size_t)o->reads, sizeof(*cpu), sb_cmp_double);
    return 0;
}

static int sb_usage(void)
{
    fprintf(stderr, "usage: parley-store-bench --db PATH --messages N "
            "--topics T [--reads R] [--label L] [--tag T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sb_opts o = { NULL, "parley", "store-read", 1000000, 10000, 1000 };
    struct store_sql *s = NULL;
    double *hist = NULL, *since = NULL;
    double *hist_cpu = NULL, *since_cpu = NULL;
    double build_s = 0;
    struct stat sb;
    int i = 0;
    int ret = 3;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            o.db = argv[i + 1];
        else if (strcmp(argv[i], "--messages") == 0)
            o.messages = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--topics") == 0)
            o.topics = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--reads") == 0)
            o.reads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--label") == 0)
            o.label = argv[i + 1];
        else if (strcmp(argv[i], "--tag") == 0)
            o.tag = argv[i + 1];
        else
            return sb_usage();
    }
    if (i != argc || o.db == NULL || o.messages <= 0 || o.topics <= 0 ||
        o.topics > 1000000000 || o.reads <= 0)
        return sb_usage();

    s = sb_open(o.db);
    if (s == NULL)
        return 3;
    if (sb_count(s) != o.messages) {
        if (sb_count(s) != 0) {
            fprintf(stderr, "parley-store-bench: %s holds other data; "
                    "delete it\n", o.db);
            goto out;
        }
        build_s = sb_build(s, &o);
        if (build_s < 0)
            goto out;
    }
    /* Reads on a freshly opened store, as after a restart. */
    store_sql_close(&s);
    s = sb_open(o.db);
    hist = calloc((size_t)o.reads, sizeof(*hist));
    since = calloc((size_t)o.reads, sizeof(*since));
    hist_cpu = calloc((size_t)o.reads, sizeof(*hist_cpu));
    since_cpu = calloc((size_t)o.reads, sizeof(*since_cpu));
    if (s == NULL || hist == NULL || since == NULL || hist_cpu == NULL ||
        since_cpu == NULL)
        goto out;
    srand(17);
    if (sb_reads(s, &o, STORE_JOB_BEFORE, 50, hist, hist_cpu) != 0 ||
        sb_reads(s, &o, STORE_JOB_AFTER, 1000, since, since_cpu) != 0)
        goto out;
    if (stat(o.db, &sb) != 0)
        sb.st_size = 0;
    printf("{\"tag\":\"%s\",\"server\":\"%s\",\"phase\":\"run\","
           "\"messages\":%" PRId64 ",\"topics\":%" PRId64 ",\"reads\":%d,"
           "\"build_s\":%.1f,\"build_rows_per_s\":%.0f,\"file_mb\":%.1f,"
           "\"history_p50_ms\":%.3f,\"history_p99_ms\":%.3f,"
           "\"history_max_ms\":%.3f,\"since_p50_ms\":%.3f,"
           "\"since_p99_ms\":%.3f,\"since_max_ms\":%.3f,"
           "\"history_cpu_p50_ms\":%.3f,\"history_cpu_p99_ms\":%.3f,"
           "\"since_cpu_p50_ms\":%.3f,\"since_cpu_p99_ms\":%.3f}\n",
           o.tag, o.label, o.messages, o.topics, o.reads, build_s,
           build_s > 0 ? (double)o.messages / build_s : 0,
           (double)sb.st_size / 1048576.0,
           sb_quantile(hist, o.reads, 0.5), sb_quantile(hist, o.reads, 0.99),
           hist[o.reads - 1], sb_quantile(since, o.reads, 0.5),
           sb_quantile(since, o.reads, 0.99), since[o.reads - 1],
           sb_quantile(hist_cpu, o.reads, 0.5),
           sb_quantile(hist_cpu, o.reads, 0.99),
           sb_quantile(since_cpu, o.reads, 0.5),
           sb_quantile(since_cpu, o.reads, 0.99));
    ret = 0;
out:
    free(hist);
    free(since);
    free(hist_cpu);
    free(since_cpu);
    store_sql_close(&s);
    return ret;
}
