/*
 * store.h: durable messages. The store owns the SQLite connection and a
 * thread of its own; the service thread talks to it only through jobs.
 *
 * Threads: store_open/store_foreach_topic/store_start/store_stop/store_free
 * and store_submit/store_take_completions run on the service thread (or the
 * test's main thread). Everything SQLite runs on the store thread, except
 * the synchronous start-up work in store_open/store_foreach_topic, which
 * runs before the thread exists. `wake` is called on the store thread.
 *
 * Sequence numbers are assigned here, inside the batch that stores the
 * message, so a seq is never handed out for a message that did not commit,
 * and an idempotent publish (key) that turns out to be a duplicate costs no
 * seq. Completions come back in the order the jobs were submitted.
 */
#ifndef PL_STORE_H
#define PL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"
#include "store_backup.h"
#include "store_job.h"
#include "store_mqtt.h"

struct store;

enum store_durability {
    STORE_DURABLE_PROCESS, /* synchronous=NORMAL: survives a process crash */
    STORE_DURABLE_POWER,   /* synchronous=FULL: survives power loss */
};

struct store_config {
    const char *path;              /* database file; created if missing */
    enum store_durability durability;
    int64_t dedupe_window_ms;      /* keys remembered this long (default 24h) */
    int64_t retain_messages;       /* per topic; 0 = keep all */
    int64_t retain_age_ms;         /* 0 = keep forever */
    int wal_restart_pages;         /* 0 = WAL_CKPT_RESTART_PAGES (tests
                                      set a small one) */
    /* Called on the store thread after completions were queued. Wake-ups
     * may coalesce: the receiver drains everything it finds. */
    void (*wake)(void *arg);
    void *wake_arg;
};

/* Open (create, migrate) the database. Runs synchronously on the caller's
 * thread. Returns NULL and sets *err (a malloc'd message, caller frees) on
 * failure: a corrupt file, a newer schema than this build knows, no
 * permission. */
struct store *store_open(const struct store_config *cfg, char **err);

/* Call cb for every known topic (start-up load; before store_start). The
 * pointers are valid only during the call. A non-zero return from cb stops
 * the walk and is returned. */
int store_foreach_topic(struct store *st,
                        int (*cb)(void *arg, const struct store_topic_info *t),
                        void *arg);

/* Call cb for every stored MQTT session row (store_mqtt.h; start-up,
 * before store_start). Returns 0, cb's non-zero value, or -1. */
int store_foreach_mqtt(struct store *st, store_mqtt_cb cb, void *arg);

/* Start the store thread. Returns 0 or -errno. */
int store_start(struct store *st);

/* Hand a job to the store (takes ownership). Never blocks on disk. */
void store_submit(struct store *st, struct store_job *job);

/* Like store_submit, but the job waits on the caller's side until
 * store_flush: an event loop stages what one turn produced and wakes the
 * store thread once for all of it, not once per job (a wake-up is a
 * futex call and, with both threads on one core, a context switch). */
void store_stage(struct store *st, struct store_job *job);
/* Hand every staged job to the store thread in one splice. */
void store_flush(struct store *st);

/* Take every completed job, oldest first, as a list linked by ->next. */
struct store_job *store_take_completions(struct store *st);

/* Jobs submitted and not yet taken back (for back-pressure). */
size_t store_pending(struct store *st);

/* This store as the hub's engine-neutral storage (storage.h): submit
 * stages (store_stage), flush is store_flush, and so on. st stays owned
 * by the caller, who frees it after the hub. */
void store_as_storage(struct store *st, struct storage *out);

/* Finish every queued job, commit, and join the thread. Completions of
 * those jobs can still be taken afterwards. */
void store_stop(struct store *st);

/* Close the database and free everything, NULLing the caller's pointer.
 * Jobs not taken back are freed. */
void store_free(struct store **st);

struct store_stats {
    uint64_t batches;        /* transactions committed */
    uint64_t rows;           /* messages stored */
    uint64_t commit_errors;
    uint64_t pruned;         /* messages removed by retention */
    uint64_t checkpoints;    /* WAL checkpoints run by the checkpointer */
    uint64_t checkpointed_pages; /* WAL pages they copied */
    uint64_t wal_frames;     /* pages the commits appended to the WAL */
    uint64_t commit_us;      /* time spent running publish batches */
};
void store_get_stats(struct store *st, struct store_stats *out);

/* Online backup (this engine's own API, not storage.h): copy the live
 * database to path (absolute, must not exist) on the store thread,
 * STORE_BACKUP_STEP_PAGES pages between batches, so no commit waits for
 * more than one step. The copy holds every message committed before it
 * completes. One at a time: -EBUSY while another has not been polled;
 * -EINVAL before store_start or after store_stop. Service thread. */
int store_backup_start(struct store *st, const char *path);
/* 1 and *res when the backup asked for has finished (or failed: res->rc,
 * res->err); 0 while it runs or when none was asked for. Service thread;
 * the store calls cfg->wake when it finishes. */
int store_backup_poll(struct store *st, struct store_backup_result *res);
/* New retention rules (a config reload; 0: keep all, keep forever): the
 * store thread takes them at its next pruning round (within
 * STORE_PRUNE_INTERVAL_MS); topics are held to a new count as they are
 * written. Any thread. */
void store_set_retention(struct store *st, int64_t messages, int64_t age_ms);

/* Test hook: make the next n commits fail as if the disk did. */
void store_fail_commits(struct store *st, int n);

#endif
