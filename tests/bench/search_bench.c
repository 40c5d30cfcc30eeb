/*
 * search_bench.c: parley-search-bench, the cost of chat search (#16)
 * without a server. It builds a database of chat messages offline through
 * the store's own SQLite layer (store_sql: the same group commits, search
 * index and index cycles as parleyd, without the threads), reopens it and
 * times searches over every topic (pattern chat/#, limit 20, newest
 * first) of five kinds: a common word, a middling word, two words, a
 * two-word phrase and a prefix.
 *
 *   parley-search-bench --db PATH [--messages N] [--topics T]
 *                       [--searches S] [--batch B] [--label L] [--tag T]
 *
 * Words come from a made-up vocabulary of 5000 with a skewed (cubic)
 * frequency, 8 to 15 per message. An existing file is reused when it holds
 * N messages; delete it to rebuild. Set PARLEY_STORE_NO_FTS=1 to build
 * without the index and compare build rates. --batch sets the messages
 * per commit (default 10000; a server at 20k msg/s commits 10-50): with
 * it the build is what indexing costs publishing, in this process's CPU
 * time and bytes written per message (maintenance runs every 5000
 * messages, as parleyd's every 250 ms at 20k msg/s). Prints one JSON line:
 * build rate, build CPU and bytes written per message, the store's "turn"
 * times (a commit and the maintenance after it: how long the store thread
 * keeps the next batch waiting), file size, and p50/p99/max of the
 * searches in ms (all kinds together, then per kind).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_bench_util.h"

#define SEB_BATCH 10000
/* Messages between two maintenance rounds (store_sql_prune). */
#define SEB_PRUNE_EVERY 5000
#define SEB_VOCAB 5000
#define SEB_KINDS 5

static const char *const seb_kind_names[SEB_KINDS] = {
    "common", "middling", "two_words", "phrase", "prefix"};

struct seb_opts {
    const char *db;
    const char *label;
    const char *tag;
    int64_t messages;
    int64_t topics;
    int searches;
    int batch;
};

/* This process's CPU seconds (the machine is shared: wall time stretches). */
static double seb_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes this process has caused to be written to storage (/proc/self/io),
 * as run.sh reads the server's; 0 when unknown. */
static double seb_write_bytes(void)
{
    FILE *fp = fopen("/proc/self/io", "r");
    char line[128];
    double v = 0;

    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "write_bytes:", 12) == 0)
            v = atof(line + 12);
    if (fp != NULL)
        fclose(fp);
    return v;
}

static char seb_vocab[SEB_VOCAB][16];

/* Words of 2-4 consonant-vowel syllables, the same on every run (their
 * index in the table makes each unique). */
static void seb_make_vocab(void)
{
    static const char cons[] = "bdfgklmnprstvz";
    static const char vow[] = "aeiou";

    srand(7);
    for (int i = 0; i < SEB_VOCAB; i++) {
        int syl = 2 + rand() % 3;
        int k = 0;

        for (int j = 0; j < syl; j++) {
            seb_vocab[i][k++] = cons[rand() % 14];
            seb_vocab[i][k++] = vow[rand() % 5];
        }
        k += snprintf(seb_vocab[i] + k, sizeof(seb_vocab[i]) - (size_t)k,
                      "%c%c", 'a' + i % 26, 'a' + i / 26 % 26);
        seb_vocab[i][k] = '\0';
    }
}

/* A word index, skewed toward the first ones. */
static int seb_word(void)
{
    double u = (double)rand() / ((double)RAND_MAX + 1.0);

    return (int)(SEB_VOCAB * u * u * u);
}

/* {"text":"w w w ..."} into buf (room for 256). */
static size_t seb_message(char *buf)
{
    int n = 8 + rand() % 8;
    size_t k = (size_t)snprintf(buf, 256, "{\"text\":\"");

    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, 256 - k, "%s%s", i > 0 ? " " : "",
                              seb_vocab[seb_word()]);
    k += (size_t)snprintf(buf + k, 256 - k, "\"}");
    return k;
}

/* Publish o->messages round robin over o->topics, o->batch per commit,
 * the clock stepping 1 s per 10000 messages, with the maintenance rounds
 * (index cycles) a server runs. turn_ms[*n_turns] gets each commit's wall
 * time with the maintenance after it, if any (what the store thread
 * spends before it takes the next batch). Returns the seconds it took, or
 * < 0. */
static double seb_build(struct store_sql *s, const struct seb_opts *o,
                        double *turn_ms, int *n_turns)
{
    struct store_job **jobs = calloc((size_t)o->batch, sizeof(*jobs));
    char data[256];
    char topic[64];
    int64_t now_ms = 1764130000000LL;
    int64_t done = 0;
    double t0 = sb_now_s();

    if (jobs == NULL)
        return -1;
    srand(11);
    while (done < o->messages) {
        size_t n = 0;
        uint64_t b = 0, r = 0, e = 0, pruned = 0;
        int rounds = 0;

        for (; n < (size_t)o->batch && done + (int64_t)n < o->messages;
             n++) {
            size_t len = seb_message(data);

            snprintf(topic, sizeof(topic), "chat/%" PRId64,
                     (done + (int64_t)n) % o->topics);
            jobs[n] = store_job_new(STORE_JOB_PUB, topic);
            if (jobs[n] == NULL ||
                store_job_set_pub(jobs[n], data, len, false, false, "user",
                                  NULL, now_ms) != 0)
                goto fail;
        }
        double t1 = sb_now_s();

        if (store_sql_run_pubs(s, jobs, n, NULL, NULL, &b, &r, &e) != 0)
            goto fail;
        for (size_t i = 0; i < n; i++)
            store_job_free(&jobs[i]);
        now_ms += 1000 * (int64_t)n / SEB_BATCH;
        if ((done + (int64_t)n) / SEB_PRUNE_EVERY != done / SEB_PRUNE_EVERY)
            while (store_sql_prune(s, now_ms, 4, &pruned) == 1 &&
                   ++rounds < 1000000) {
                /* the index cycle, until nothing is left */
            }
        turn_ms[(*n_turns)++] = (sb_now_s() - t1) * 1000;
        done += (int64_t)n;
        if (done % 1000000 == 0)
            fprintf(stderr, "parley-search-bench: %" PRId64 " messages\n",
                    done);
    }
    free(jobs);
    return sb_now_s() - t0;

fail:
    fprintf(stderr, "parley-search-bench: building failed\n");
    for (size_t i = 0; i < (size_t)o->batch; i++)
        store_job_free(&jobs[i]);
    free(jobs);
    return -1;
}

/* A query of kind k into q (room for 64). */
static void seb_query(int k, char *q)
{
    const char *a = seb_vocab[rand() % 10];
    const char *b = seb_vocab[100 + rand() % 900];

    switch (k) {
    case 0:
        snprintf(q, 64, "%s", a);
        break;
    case 1:
        snprintf(q, 64, "%s", b);
        break;
    case 2:
        snprintf(q, 64, "%s %s", a, b);
        break;
    case 3:
        snprintf(q, 64, "\"%s %s\"", a, seb_vocab[rand() % 50]);
        break;
    default:
        snprintf(q, 64, "%.3s*", b);
        break;
    }
}

/* Time o->searches searches, kinds in turn, into all[] and per[kind][]
 * (each sorted). Returns 0, or -1 when one failed. */
static int seb_searches(struct store_sql *s, const struct seb_opts *o,
                        double *all, double **per, int *n_per)
{
    char q[64];

    srand(17);
    for (int i = 0; i < o->searches; i++) {
        int k = i % SEB_KINDS;
        struct store_job *job = store_job_new(STORE_JOB_SEARCH, "chat/#");
        double t0 = 0;

        seb_query(k, q);
        if (job == NULL || store_job_set_search(job, q, NULL, 0, false) != 0)
            return -1;
        job->limit = 20;
        t0 = sb_now_s();
        store_sql_run_read(s, job);
        all[i] = (sb_now_s() - t0) * 1000;
        per[k][n_per[k]++] = all[i];
        if (job->err != 0) {
            fprintf(stderr, "parley-search-bench: [%s]: err %d\n", q,
                    job->err);
            store_job_free(&job);
            return -1;
        }
        store_job_free(&job);
    }
    qsort(all, (size_t)o->searches, sizeof(*all), sb_cmp_double);
    for (int k = 0; k < SEB_KINDS; k++)
        qsort(per[k], (size_t)n_per[k], sizeof(*per[k]), sb_cmp_double);
    return 0;
}

static int seb_usage(void)
{
    fprintf(stderr, "usage: parley-search-bench --db PATH [--messages N] "
            "[--topics T] [--searches S] [--batch B] [--label L] "
            "[--tag T]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct seb_opts o = {NULL, "parley", "search", 1000000, 1000, 1000,
                         SEB_BATCH};
    struct store_sql *s = NULL;
    double *all = NULL;
    double *per[SEB_KINDS] = {NULL};
    int n_per[SEB_KINDS] = {0};
    double build_s = 0;
    double build_cpu = 0;
    double build_wb = 0;
    double *turns = NULL;
    int n_turns = 0;
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
        else if (strcmp(argv[i], "--searches") == 0)
            o.searches = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--label") == 0)
            o.label = argv[i + 1];
        else if (strcmp(argv[i], "--tag") == 0)
            o.tag = argv[i + 1];
        else
            return seb_usage();
    }
    if (i != argc || o.db == NULL || o.messages <= 0 || o.topics <= 0 ||
        o.searches < SEB_KINDS || o.batch <= 0)
        return seb_usage();

    seb_make_vocab();
    s = sb_open(o.db);
    if (s == NULL)
        return 3;
    if (sb_count(s) != o.messages) {
        if (sb_count(s) != 0) {
            fprintf(stderr, "parley-search-bench: %s holds other data; "
                    "delete it\n", o.db);
            goto out;
        }
        build_cpu = seb_cpu_s();
        build_wb = seb_write_bytes();
        turns = calloc((size_t)(o.messages / o.batch + 1), sizeof(*turns));
        if (turns == NULL)
            goto out;
        build_s = seb_build(s, &o, turns, &n_turns);
        if (build_s < 0)
            goto out;
        build_cpu = seb_cpu_s() - build_cpu;
        build_wb = seb_write_bytes() - build_wb;
        qsort(turns, (size_t)n_turns, sizeof(*turns), sb_cmp_double);
    }
    /* Searches on a freshly opened store, as after a restart. */
    store_sql_close(&s);
    s = sb_open(o.db);
    all = calloc((size_t)o.searches, sizeof(*all));
    if (s == NULL || all == NULL)
        goto out;
    for (int k = 0; k < SEB_KINDS; k++)
        if ((per[k] = calloc((size_t)o.searches, sizeof(*per[k]))) == NULL)
            goto out;
    if (seb_searches(s, &o, all, per, n_per) != 0)
        goto out;
    if (stat(o.db, &sb) != 0)
        sb.st_size = 0;
    printf("{\"tag\":\"%s\",\"server\":\"%s\",\"phase\":\"run\","
           "\"messages\":%" PRId64 ",\"topics\":%" PRId64 ",\"searches\":%d,"
           "\"batch\":%d,\"build_s\":%.1f,\"build_rows_per_s\":%.0f,"
           "\"build_cpu_us_per_msg\":%.2f,\"build_bytes_per_msg\":%.0f,"
           "\"turn_p50_ms\":%.3f,\"turn_p99_ms\":%.3f,\"turn_max_ms\":%.3f,"
           "\"file_mb\":%.1f,"
           "\"search_p50_ms\":%.3f,\"search_p99_ms\":%.3f,"
           "\"search_max_ms\":%.3f",
           o.tag, o.label, o.messages, o.topics, o.searches, o.batch,
           build_s, build_s > 0 ? (double)o.messages / build_s : 0,
           build_cpu * 1e6 / (double)o.messages,
           build_wb / (double)o.messages,
           n_turns > 0 ? sb_quantile(turns, n_turns, 0.5) : 0,
           n_turns > 0 ? sb_quantile(turns, n_turns, 0.99) : 0,
           n_turns > 0 ? turns[n_turns - 1] : 0,
           (double)sb.st_size / 1048576.0, sb_quantile(all, o.searches, 0.5),
           sb_quantile(all, o.searches, 0.99), all[o.searches - 1]);
    for (int k = 0; k < SEB_KINDS; k++)
        printf(",\"%s_p99_ms\":%.3f", seb_kind_names[k],
               sb_quantile(per[k], n_per[k], 0.99));
    printf("}\n");
    ret = 0;
out:
    free(all);
    free(turns);
    for (int k = 0; k < SEB_KINDS; k++)
        free(per[k]);
    store_sql_close(&s);
    return ret;
}
