/*
 * wal_ckpt.c: owns the checkpointer thread and its SQLite connection.
 *
 * The writer reports the WAL's size after each commit (wal_ckpt_notify,
 * under a mutex that guards only two fields). The thread sleeps until the
 * WAL holds WAL_CKPT_PAGES pages, or, when it holds fewer, until
 * WAL_CKPT_IDLE_MS have passed, so a quiet server's WAL drains too; with
 * nothing new it sleeps without a timeout. Each run is one PASSIVE
 * checkpoint: it copies what is committed and never blocks the writer.
 * When a run has copied everything, the writer's next transaction starts
 * the WAL over from its beginning, and journal_size_limit (set by the
 * writer) trims the file. Under steady commits no run copies everything,
 * so the writer finishes the copy itself when asked (wal_ckpt_notify).
 */
#include "wal_ckpt.h"
#include "wal_vfs.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The checkpointer runs this much nicer than the thread that starts it. */
#define WAL_CKPT_NICER 5

struct wal_ckpt {
    sqlite3 *db;                 /* the thread's once started */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* signalled by notify and stop */
    int wal_pages;               /* {lock} pages in the WAL, as reported */
    int backfilled;              /* {lock} of those, copied already */
    bool running;                /* {lock} a checkpoint is under way */
    bool handoff;                /* {lock} the writer is to finish it */
    int left;                    /* {lock} pending after the last run
                                    past the mark */
    bool stop;                   /* {lock} */
    bool full_sync;              /* synchronous=FULL */
    int restart;                 /* the mark: WAL_CKPT_RESTART_PAGES, or
                                    a test's */
    atomic_uint_fast64_t runs;
    atomic_uint_fast64_t copied;
    atomic_uint_fast64_t frames; /* appended to the WAL by the writer */
};

static char *ckpt_error(const char *path, const char *what, sqlite3 *db,
                        int rc)
{
    const char *why = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    size_t n = strlen(path) + strlen(what) + strlen(why) + 64;
    char *msg = malloc(n);

    if (msg != NULL)
        snprintf(msg, n, "store: %s: checkpointer: %s: %s", path, what, why);
    return msg;
}

/* WAL pages committed and not copied yet. Caller holds c->lock. */
static int ckpt_pending(struct wal_ckpt *c)
{
    if (c->wal_pages < c->backfilled)
        c->backfilled = 0; /* the WAL started over from its beginning */
    return c->wal_pages - c->backfilled;
}

/* Whether to start a run now. Below the mark (WAL_CKPT_RESTART_PAGES):
 * once WAL_CKPT_PAGES are waiting. Past it: back to back, each run shorter
 * than the one before (it copies only what came during that one), until
 * at most WAL_CKPT_FINISH_PAGES are left or a run left no less than the
 * one before (the writer is faster), and then the writer copies the rest
 * itself (the thread sets handoff); at twice the mark, not at all. */
static bool ckpt_due(struct wal_ckpt *c)
{
    if (c->wal_pages < c->restart)
        return ckpt_pending(c) >= WAL_CKPT_PAGES;
    return !c->handoff && ckpt_pending(c) > WAL_CKPT_FINISH_PAGES &&
           c->wal_pages < 2 * c->restart;
}

/* Wait until there is a checkpoint to run (a due one, or anything left
 * after WAL_CKPT_IDLE_MS without a commit); false when told to stop.
 * Caller holds c->lock. */
static bool ckpt_wait(struct wal_ckpt *c)
{
    while (!c->stop && !ckpt_due(c)) {
        struct timespec deadline;

        if (ckpt_pending(c) == 0) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += WAL_CKPT_IDLE_MS / 1000;
        deadline.tv_nsec += (long)(WAL_CKPT_IDLE_MS % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&c->cond, &c->lock, &deadline) ==
            ETIMEDOUT)
            break;
    }
    return !c->stop;
}

/*
 * SQLite syncs the database file only at the end of a checkpoint that
 * reaches the end of the WAL, and under steady commits a run never does:
 * everything the runs copied stayed unsynced until the writer's own
 * checkpoint at WAL_CKPT_RESTART_PAGES, whose fsync then took 10-20 ms
 * while commits waited. Syncing after each run here keeps that fsync
 * small, and it is this thread that waits for it.
 */
static void ckpt_sync_db(struct wal_ckpt *c)
{
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) ==
            SQLITE_OK &&
        f != NULL && f->pMethods != NULL)
        f->pMethods->xSync(f, c->full_sync ? SQLITE_SYNC_FULL
                                           : SQLITE_SYNC_NORMAL);
}

static void *ckpt_thread(void *arg)
{
    struct wal_ckpt *c = arg;
    int nice_now = 0;

    /* Copying a few MB and syncing them must not take CPU time from the
     * threads that deliver messages (on Linux, nice is per thread). If
     * the copy then falls behind, the writer still finishes it, at twice
     * WAL_CKPT_RESTART_PAGES at the latest (wal_ckpt.h). */
    errno = 0;
    nice_now = getpriority(PRIO_PROCESS, (id_t)gettid());
    if (errno == 0)
        setpriority(PRIO_PROCESS, (id_t)gettid(),
                    nice_now + WAL_CKPT_NICER > 19 ? 19
                                                   : nice_now + WAL_CKPT_NICER);
    pthread_mutex_lock(&c->lock);
    while (ckpt_wait(c)) {
        int log = 0;
        int done = 0;
        int rc = 0;

        c->running = true;
        pthread_mutex_unlock(&c->lock);
        rc = sqlite3_wal_checkpoint_v2(c->db, "main",
                                       SQLITE_CHECKPOINT_PASSIVE, &log,
                                       &done);
        if (rc == SQLITE_OK && done > 0)
            ckpt_sync_db(c);
        pthread_mutex_lock(&c->lock);
        c->running = false;
        if (rc == SQLITE_OK) {
            atomic_fetch_add(&c->runs, 1);
            if (done > c->backfilled)
                atomic_fetch_add(&c->copied,
                                 (uint64_t)(done - c->backfilled));
            c->backfilled = done;
            if (c->wal_pages >= c->restart) {
                int left = ckpt_pending(c);

                if (left <= WAL_CKPT_FINISH_PAGES || left >= c->left)
                    c->handoff = true;
                c->left = left;
            }
        } else if ((rc & 0xff) != SQLITE_BUSY) {
            /* The writer's next commit tries again; SQLite's own
             * checkpoint at close still runs. */
            fprintf(stderr, "store: checkpoint failed: %s\n",
                    sqlite3_errmsg(c->db));
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

struct wal_ckpt *wal_ckpt_start(const char *path, bool full_sync,
                                int restart_pages, char **err)
{
    struct wal_ckpt *c = calloc(1, sizeof(*c));
    pthread_condattr_t attr;
    const char *sync = full_sync ? "PRAGMA synchronous = FULL"
                                 : "PRAGMA synchronous = NORMAL";
    int rc = 0;

    *err = NULL;
    if (c == NULL) {
        *err = strdup("store: out of memory");
        return NULL;
    }
    c->full_sync = full_sync;
    c->restart = restart_pages > 0 ? restart_pages : WAL_CKPT_RESTART_PAGES;
    c->left = INT_MAX;
    rc = sqlite3_open_v2(path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                         wal_vfs_name());
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, sync, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        *err = ckpt_error(path, "cannot open", c->db, rc);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    /* A checkpoint that finds the writer mid-recovery waits a little
     * rather than failing. */
    sqlite3_busy_timeout(c->db, 1000);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    rc = pthread_create(&c->thread, NULL, ckpt_thread, c);
    if (rc != 0) {
        *err = strdup("store: cannot start the checkpointer thread");
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

bool wal_ckpt_notify(struct wal_ckpt *c, int pages)
{
    int before = 0;
    bool finish = false;

    pthread_mutex_lock(&c->lock);
    before = ckpt_pending(c);
    /* A WAL smaller than before was started over by this commit. */
    atomic_fetch_add(&c->frames, (uint64_t)(pages >= c->wal_pages
                                                ? pages - c->wal_pages
                                                : pages));
    c->wal_pages = pages;
    /* Wake it when enough is waiting, or when it sleeps without a
     * timeout (nothing was waiting) so that its idle timer starts. */
    if (before == 0 || ckpt_pending(c) >= WAL_CKPT_PAGES)
        pthread_cond_signal(&c->cond);
    if (pages < c->restart) {
        c->handoff = false; /* the WAL started over */
        c->left = INT_MAX;
    }
    finish = !c->running &&
             (c->handoff || pages >= 2 * c->restart);
    pthread_mutex_unlock(&c->lock);
    return finish;
}

uint64_t wal_ckpt_runs(struct wal_ckpt *c)
{
    return atomic_load(&c->runs);
}

uint64_t wal_ckpt_pages(struct wal_ckpt *c)
{
    return atomic_load(&c->copied);
}

uint64_t wal_ckpt_frames(struct wal_ckpt *c)
{
    return atomic_load(&c->frames);
}

void wal_ckpt_stop(struct wal_ckpt **cp)
{
    struct wal_ckpt *c = *cp;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
    *cp = NULL;
}
