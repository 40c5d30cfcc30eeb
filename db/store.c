/*
 * store.c: owns the store thread, the job queue into it and the completion
 * queue out of it and the counters. All SQLite
 * work is delegated to store_sql.c and runs on the store thread once
 * store_start() has returned.
 *
 * DESIGN
 *
 * The service thread submits jobs (store_submit) into `jobs` and takes
 * finished ones from `done` (store_take_completions); it never waits for
 * the disk. The store thread loops:
 *
 *   1. Take ALL queued jobs in one swap (waiting when there are none).
 *   2. Run every PUB (and read-marker MARK, MQTT session) among them in one transaction
 *      (at most 10,000 per transaction): the batch grows with the queue,
 *      so under load one fsync/WAL commit covers thousands of messages
 *      (group commit).
 *   3. Run the reads (AFTER/BEFORE/UNREAD/SEARCH) of the same take, after the commit, so
 *      they see every write of the take, including writes submitted after
 *      them. AFTER is bounded by `upto`, so this cannot matter to it.
 *   4. Push all those jobs to `done` in submission order, in one splice,
 *      then call cfg->wake.
 *   5. When a few hundred ms have passed since the last pruning, run one
 *      small round of retention (a few DELETEs of <= 1000 rows), so that
 *      pruning never holds up a publish for long; it continues in the next
 *      round while work is left.
 *
 * A failed transaction gives every PUB of it err = PL_ERR_INTERNAL and
 * nothing of it is kept (see store_sql.c); the thread keeps running.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "jobq.h"
#include "store_backup.h"
#include "store_sql.h"
#include "wal_ckpt.h"

/* Pruning: a round at most this often, of at most this many statements. */
#define STORE_PRUNE_INTERVAL_MS 250
#define STORE_PRUNE_STMTS 4

struct store {
    struct store_config cfg;       /* cfg.path points to path */
    char *path;
    struct store_sql *sql;         /* store thread once started */
    struct wal_ckpt *ckpt;         /* the WAL checkpointer, once started */
    struct jobq jobs;              /* service -> store */
    struct jobq done;              /* store -> service */
    struct store_job *staged;      /* service thread only: store_stage */
    struct store_job *staged_tail;
    size_t n_staged;
    pthread_t thread;
    bool started;                  /* service thread only */
    bool stopped;                  /* service thread only */
    int64_t next_prune_ms;         /* store thread only */
    int64_t linger_us;             /* PARLEY_STORE_LINGER_US, 0: none */
    int64_t last_take_us;          /* store thread only */
    struct store_job **pubs;       /* store thread only: scratch array */
    size_t cap_pubs;
    atomic_uint_fast64_t submitted;
    atomic_uint_fast64_t taken;
    atomic_int fail_commits;
    atomic_uint_fast64_t batches;
    atomic_uint_fast64_t rows;
    atomic_uint_fast64_t commit_errors;
    atomic_uint_fast64_t pruned;
    atomic_uint_fast64_t commit_us;
    /* The online backup: asked for by the service thread, run a step at
     * a time by the store thread between batches (store_backup_work). */
    pthread_mutex_t backup_lock;
    char *backup_request;          /* {backup_lock} path, not yet begun */
    bool backup_busy;              /* {backup_lock} asked, not yet polled */
    bool backup_finished;          /* {backup_lock} res is ready */
    struct store_backup_result backup_res; /* {backup_lock} */
    struct store_backup *backup;   /* store thread only: in progress */
    /* store_set_retention, taken by the store thread at its next round */
    _Atomic int64_t retain_messages;
    _Atomic int64_t retain_age_ms;
    atomic_bool retain_changed;
};

/* ---- open, walk --------------------------------------------------------- */

static int64_t store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t store_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct store *store_open(const struct store_config *cfg, char **err)
{
    struct store_sql_config sc;
    struct store *st = NULL;
    bool jobs_ok = false;

    *err = NULL;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        goto oom;
    st->cfg = *cfg;
    st->path = strdup(cfg->path);
    if (st->path == NULL)
        goto oom;
    st->cfg.path = st->path;
    pthread_mutex_init(&st->backup_lock, NULL);
    if (jobq_init(&st->jobs) != 0)
        goto oom;
    jobs_ok = true;
    if (jobq_init(&st->done) != 0)
        goto oom;

    memset(&sc, 0, sizeof(sc));
    sc.path = cfg->path;
    sc.full_sync = cfg->durability == STORE_DURABLE_POWER;
    sc.dedupe_window_ms = cfg->dedupe_window_ms;
    sc.retain_messages = cfg->retain_messages;
    sc.retain_age_ms = cfg->retain_age_ms;
    st->sql = store_sql_open(&sc, err);
    if (st->sql == NULL)
        goto fail_queues;
    return st;

oom:
    *err = strdup("store: out of memory");
    if (st == NULL)
        return NULL;
    if (jobs_ok)
        jobq_cleanup(&st->jobs);
    free(st->path);
    free(st);
    return NULL;

fail_queues:
    jobq_cleanup(&st->done);
    jobq_cleanup(&st->jobs);
    free(st->path);
    free(st);
    return NULL;
}

int store_foreach_topic(struct store *st,
                        int (*cb)(void *arg, const struct store_topic_info *t),
                        void *arg)
{
    if (st->started)
        return -EBUSY;
    return store_sql_foreach_topic(st->sql, cb, arg);
}

int store_foreach_mqtt(struct store *st, store_mqtt_cb cb, void *arg)
{
    if (st->started)
        return -EBUSY;
    return store_sql_foreach_mqtt(st->sql, cb, arg);
}

/* ---- the store thread --------------------------------------------------- */

/* inject_fail hook for store_sql: consume one of the requested failures. */
static bool store_inject(void *arg)
{
    struct store *st = arg;
    int n = atomic_load(&st->fail_commits);

    while (n > 0) {
        if (atomic_compare_exchange_weak(&st->fail_commits, &n, n - 1))
            return true;
    }
    return false;
}

/* Run a list of jobs (submission order) and hand it to `done`; then call
 * cfg->wake when `wake` (the store thread does; store_stop running the
 * queue of a never-started store on the service thread does not). */
static void store_process(struct store *st, struct store_job *list, size_t n,
                          bool wake)
{
    struct store_job *job = NULL;
    struct store_job *tail = NULL;
    uint64_t batches = 0, rows = 0, errors = 0;
    size_t n_pubs = 0;

    if (st->cap_pubs < n) {
        struct store_job **p = realloc(st->pubs, n * sizeof(*p));

        if (p != NULL) {
            st->pubs = p;
            st->cap_pubs = n;
        }
    }
    for (job = list; job != NULL; job = job->next) {
        tail = job;
        if (job->kind != STORE_JOB_PUB && job->kind != STORE_JOB_MARK &&
            job->kind != STORE_JOB_MQTT)
            continue;
        if (n_pubs < st->cap_pubs) {
            st->pubs[n_pubs++] = job;
        } else {
            fprintf(stderr, "store: batch failed: out of memory\n");
            job->err = PL_ERR_INTERNAL;
        }
    }
    if (n_pubs > 0) {
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        store_sql_run_pubs(st->sql, st->pubs, n_pubs, store_inject, st,
                           &batches, &rows, &errors);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* $SYS's commit latency: this time over the batches */
        atomic_fetch_add(&st->commit_us,
                         (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
                                    (t1.tv_nsec - t0.tv_nsec) / 1000));
        atomic_fetch_add(&st->batches, batches);
        atomic_fetch_add(&st->rows, rows);
        atomic_fetch_add(&st->commit_errors, errors);
    }
    for (job = list; job != NULL; job = job->next) {
        if (job->kind == STORE_JOB_AFTER || job->kind == STORE_JOB_BEFORE ||
            job->kind == STORE_JOB_UNREAD || job->kind == STORE_JOB_SEARCH)
            store_sql_run_read(st->sql, job);
        else if (job->kind != STORE_JOB_PUB && job->kind != STORE_JOB_MARK &&
                 job->kind != STORE_JOB_MQTT)
            job->err = PL_ERR_INTERNAL;
    }
    jobq_push_list(&st->done, list, tail, n);
    if (wake && st->cfg.wake != NULL)
        st->cfg.wake(st->cfg.wake_arg);
    store_sql_finish_wal(st->sql);
}

/* One pruning round when it is due. Returns the ms until the next one. */
static int store_maybe_prune(struct store *st)
{
    int64_t now = store_mono_ms();
    uint64_t pruned = 0;
    int rc = 0;

    if (atomic_exchange(&st->retain_changed, false)) {
        store_sql_set_retention(st->sql, atomic_load(&st->retain_messages),
                                atomic_load(&st->retain_age_ms));
        st->next_prune_ms = now; /* prune by the new rules now */
    }
    if (now < st->next_prune_ms)
        return (int)(st->next_prune_ms - now);
    rc = store_sql_prune(st->sql, store_now_ms(), STORE_PRUNE_STMTS,
                         &pruned);
    atomic_fetch_add(&st->pruned, pruned);
    /* More to do: come back soon, but let queued jobs go first. */
    st->next_prune_ms = now + (rc == 1 ? 10 : STORE_PRUNE_INTERVAL_MS);
    return (int)(st->next_prune_ms - now);
}

static int64_t store_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Benchmark knob, not an option (docs/benchmarks.md, "Bytes per message"):
 * with PARLEY_STORE_LINGER_US set, a take that comes sooner than that
 * after the previous one waits out the rest and takes what arrived
 * meanwhile too. Fewer, larger commits write fewer WAL pages per message
 * (each commit rewrites the log's last page, and most also page 1 and the
 * log's root), at the price of up to that much latency.
 */
static struct store_job *store_linger(struct store *st,
                                      struct store_job *list, size_t *n,
                                      bool *closed)
{
    int64_t wait = st->last_take_us + st->linger_us - store_mono_us();
    struct store_job *tail = list;
    struct store_job *more = NULL;
    size_t m = 0;

    if (wait > 0 && !*closed) {
        struct timespec ts = {0, (long)wait * 1000};

        nanosleep(&ts, NULL);
        more = jobq_wait_all(&st->jobs, 0, &m, closed);
        while (tail->next != NULL)
            tail = tail->next;
        tail->next = more;
        *n += m;
    }
    st->last_take_us = store_mono_us();
    return list;
}

/* Report a finished (or failed) backup to the service thread. */
static void store_backup_report(struct store *st,
                                const struct store_backup_result *res)
{
    pthread_mutex_lock(&st->backup_lock);
    st->backup_res = *res;
    st->backup_finished = true;
    pthread_mutex_unlock(&st->backup_lock);
    if (st->cfg.wake != NULL)
        st->cfg.wake(st->cfg.wake_arg);
}

/* Between batches: begin an asked-for backup, or copy its next pages.
 * Returns true while a backup is in progress (the thread then does not
 * sleep between steps). */
static bool store_backup_work(struct store *st)
{
    struct store_backup_result res;
    char *path = NULL;

    if (st->backup == NULL) {
        pthread_mutex_lock(&st->backup_lock);
        path = st->backup_request;
        st->backup_request = NULL;
        pthread_mutex_unlock(&st->backup_lock);
        if (path == NULL)
            return false;
        st->backup = store_backup_begin(store_sql_db(st->sql), path, &res);
        free(path);
        if (st->backup == NULL) {
            store_backup_report(st, &res);
            return false;
        }
    }
    if (store_backup_step(st->backup, &res) == 1)
        return true;
    store_backup_end(&st->backup);
    store_backup_report(st, &res);
    return false;
}

static void *store_thread(void *arg)
{
    struct store *st = arg;
    int timeout = 0;

    for (;;) {
        bool closed = false;
        size_t n = 0;
        struct store_job *list = jobq_wait_all(&st->jobs, timeout, &n,
                                               &closed);

        if (list != NULL && st->linger_us > 0)
            list = store_linger(st, list, &n, &closed);
        if (list != NULL)
            store_process(st, list, n, true);
        if (closed)
            break;
        timeout = store_maybe_prune(st);
        if (store_backup_work(st))
            timeout = 0;
    }
    if (st->backup != NULL) {
        struct store_backup_result res;

        memset(&res, 0, sizeof(res));
        res.rc = -ECANCELED;
        snprintf(res.err, sizeof(res.err), "the server stopped");
        store_backup_end(&st->backup);
        store_backup_report(st, &res);
    }
    return NULL;
}

/* SQLite's wal hook, on the store thread: pass the WAL's size on. True
 * when the checkpointer leaves the end of its copy to this thread
 * (store_sql_finish_wal, after the batch's completions). */
static bool store_on_wal(void *arg, int pages)
{
    return wal_ckpt_notify(arg, pages);
}

int store_start(struct store *st)
{
    char *err = NULL;
    int rc = 0;

    if (st->started || st->stopped)
        return -EINVAL;
    /* Without a checkpointer the writer checkpoints inside its commits,
     * slower but correct: a failure here is reported, not fatal. */
    st->ckpt = wal_ckpt_start(st->path,
                              st->cfg.durability == STORE_DURABLE_POWER,
                              st->cfg.wal_restart_pages,
                              &err);
    if (st->ckpt != NULL) {
        store_sql_set_wal_hook(st->sql, store_on_wal, st->ckpt);
    } else {
        fprintf(stderr, "%s\n", err != NULL ? err : "store: no checkpointer");
        free(err);
    }
    st->next_prune_ms = store_mono_ms();
    if (getenv("PARLEY_STORE_LINGER_US") != NULL)
        st->linger_us = atoll(getenv("PARLEY_STORE_LINGER_US"));
    if (st->linger_us > 999999)
        st->linger_us = 999999;
    rc = pthread_create(&st->thread, NULL, store_thread, st);
    if (rc != 0) {
        store_sql_set_wal_hook(st->sql, NULL, NULL);
        wal_ckpt_stop(&st->ckpt);
        return -rc;
    }
    st->started = true;
    return 0;
}

/* ---- service-thread side ------------------------------------------------ */

void store_submit(struct store *st, struct store_job *job)
{
    atomic_fetch_add(&st->submitted, 1);
    job->err = 0;
    if (st->stopped) {
        /* No thread to run it any more: fail it at once. */
        job->err = PL_ERR_INTERNAL;
        jobq_push(&st->done, job);
        return;
    }
    jobq_push(&st->jobs, job);
}

void store_stage(struct store *st, struct store_job *job)
{
    if (st->stopped) {
        store_submit(st, job);
        return;
    }
    atomic_fetch_add(&st->submitted, 1);
    job->err = 0;
    job->next = NULL;
    if (st->staged_tail != NULL)
        st->staged_tail->next = job;
    else
        st->staged = job;
    st->staged_tail = job;
    st->n_staged++;
}

void store_flush(struct store *st)
{
    if (st->staged == NULL)
        return;
    jobq_push_list(&st->jobs, st->staged, st->staged_tail, st->n_staged);
    st->staged = NULL;
    st->staged_tail = NULL;
    st->n_staged = 0;
}

struct store_job *store_take_completions(struct store *st)
{
    size_t n = 0;
    struct store_job *list = jobq_take_all(&st->done, &n);

    atomic_fetch_add(&st->taken, n);
    return list;
}

size_t store_pending(struct store *st)
{
    uint64_t taken = atomic_load(&st->taken);
    uint64_t submitted = atomic_load(&st->submitted);

    return (size_t)(submitted - taken);
}

void store_stop(struct store *st)
{
    if (st->stopped)
        return;
    store_flush(st);
    st->stopped = true;
    jobq_close(&st->jobs);
    if (st->started) {
        pthread_join(st->thread, NULL);
        /* The store thread is gone: nothing commits any more. */
        store_sql_set_wal_hook(st->sql, NULL, NULL);
        wal_ckpt_stop(&st->ckpt);
    } else {
        /* Never started: run what was queued here, on the caller's
         * thread, which is the only one that ever touched SQLite. */
        size_t n = 0;
        struct store_job *list = jobq_take_all(&st->jobs, &n);

        if (list != NULL)
            store_process(st, list, n, false);
    }
}

void store_free(struct store **stp)
{
    struct store *st = *stp;

    if (st == NULL)
        return;
    store_stop(st);
    store_sql_close(&st->sql);
    jobq_cleanup(&st->jobs);
    jobq_cleanup(&st->done);
    free(st->backup_request);
    pthread_mutex_destroy(&st->backup_lock);
    free(st->pubs);
    free(st->path);
    free(st);
    *stp = NULL;
}

void store_get_stats(struct store *st, struct store_stats *out)
{
    out->batches = atomic_load(&st->batches);
    out->rows = atomic_load(&st->rows);
    out->commit_errors = atomic_load(&st->commit_errors);
    out->pruned = atomic_load(&st->pruned);
    out->commit_us = atomic_load(&st->commit_us);
    out->checkpoints = st->ckpt != NULL ? wal_ckpt_runs(st->ckpt) : 0;
    out->wal_frames = st->ckpt != NULL ? wal_ckpt_frames(st->ckpt) : 0;
    out->checkpointed_pages = st->ckpt != NULL ? wal_ckpt_pages(st->ckpt)
                                               : 0;
}

int store_backup_start(struct store *st, const char *path)
{
    char *copy = NULL;
    int rc = 0;

    if (!st->started || st->stopped)
        return -EINVAL;
    copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&st->backup_lock);
    if (st->backup_busy) {
        rc = -EBUSY;
    } else {
        st->backup_busy = true;
        st->backup_finished = false;
        st->backup_request = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&st->backup_lock);
    free(copy);
    return rc;
}

int store_backup_poll(struct store *st, struct store_backup_result *res)
{
    int rc = 0;

    pthread_mutex_lock(&st->backup_lock);
    if (st->backup_busy && st->backup_finished) {
        *res = st->backup_res;
        st->backup_busy = false;
        st->backup_finished = false;
        rc = 1;
    }
    pthread_mutex_unlock(&st->backup_lock);
    return rc;
}

void store_set_retention(struct store *st, int64_t messages, int64_t age_ms)
{
    atomic_store(&st->retain_messages, messages);
    atomic_store(&st->retain_age_ms, age_ms);
    atomic_store(&st->retain_changed, true);
}

void store_fail_commits(struct store *st, int n)
{
    atomic_store(&st->fail_commits, n);
}

/* ---- the storage interface (storage.h) ---------------------------------- */

static int storage_op_load(void *engine, storage_topic_cb cb, void *arg)
{
    return store_foreach_topic(engine, cb, arg);
}

static int storage_op_start(void *engine)
{
    return store_start(engine);
}

static void storage_op_submit(void *engine, struct store_job *job)
{
    store_stage(engine, job);
}

static void storage_op_flush(void *engine)
{
    store_flush(engine);
}

static struct store_job *storage_op_take(void *engine)
{
    return store_take_completions(engine);
}

static size_t storage_op_pending(void *engine)
{
    return store_pending(engine);
}

static void storage_op_stop(void *engine)
{
    store_stop(engine);
}

static const struct storage_ops store_storage_ops = {
    .load = storage_op_load,
    .start = storage_op_start,
    .submit = storage_op_submit,
    .flush = storage_op_flush,
    .take_completions = storage_op_take,
    .pending = storage_op_pending,
    .stop = storage_op_stop,
};

void store_as_storage(struct store *st, struct storage *out)
{
    out->ops = &store_storage_ops;
    out->engine = st;
}
