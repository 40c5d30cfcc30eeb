/*
 * store_sql.h: the store's plain SQLite half. No threads, no locks: one
 * struct store_sql is used by one thread at a time (store_open's caller
 * first, then the store thread). store.c drives it; tests call it directly.
 */
#ifndef PL_STORE_SQL_H
#define PL_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "storage.h"
#include "store_job.h"

/* One schema step: db/migrations/NNN_name.sql, embedded at build time. */
struct store_migration {
    int version;          /* NNN: 1, 2, 3, ... */
    const char *name;     /* "001_init" */
    const char *sql;      /* the file's text */
};

/* The build's migrations, in version order (generated migrations.c). */
extern const struct store_migration store_migrations[];
extern const size_t store_n_migrations;

/* Largest number of PUB jobs committed in one transaction. */
#define STORE_SQL_MAX_BATCH 10000
/* Largest number of rows one pruning statement deletes. */
#define STORE_SQL_PRUNE_ROWS 1000
/* Index tails (store_sql.c, DESIGN): a cycle starts this long after the
 * last one ended, and writes slices of at most this many entries and
 * topics, one slice per maintenance round (store_sql_prune). */
#define STORE_SQL_INDEX_MS 2000
#define STORE_SQL_INDEX_SLICE 16384
#define STORE_SQL_INDEX_SLICE_TOPICS 128
/* Most full-text matches one search looks at (#16): matches in topics it
 * may not return, or newer than its `before`, count too. */
#define STORE_SEARCH_SCAN 20000
/* The search index takes new messages in bulk (migration 007): a group
 * commit adds them once this many are waiting. FTS5 writes a new segment
 * per transaction, whatever its size; a search adds the rest first. */
#define STORE_SQL_FTS_BATCH 256
/* Page size of a new database file (0: SQLite's default, 4096). */
#define STORE_SQL_PAGE_SIZE 0
/* Most ids in one msg_index row (a read decodes whole rows). */
#define STORE_SQL_CHUNK_MAX 512
/* An index write appends to a topic's last chunk while that holds fewer
 * than this many ids, rather than adding a chunk: a topic that gets a few
 * messages per cycle would otherwise leave a chunk per cycle, and a since
 * replay of 1000 step through hundreds of them. */
#define STORE_SQL_CHUNK_SMALL 128
/* Most chunks one count-pruning step reads. */
#define STORE_SQL_PRUNE_CHUNKS 64
/* Unindexed rows at which a publish batch indexes them all itself (a cycle
 * starts at half of it). 8 bytes each. */
#define STORE_SQL_TAIL_MAX (1u << 20)

struct store_sql_config {
    const char *path;
    bool full_sync;                 /* synchronous=FULL, else NORMAL */
    int64_t dedupe_window_ms;       /* <= 0: 24 hours */
    int64_t retain_messages;        /* per topic; 0: keep all */
    int64_t retain_age_ms;          /* 0: keep forever */
    int64_t index_interval_ms;      /* 0: STORE_SQL_INDEX_MS */
    size_t index_tail_max;          /* 0: STORE_SQL_TAIL_MAX */
    int page_size;                  /* new files; 0: STORE_SQL_PAGE_SIZE */
    /* NULL: the build's store_migrations. Tests pass their own list to
     * prove that an older database is upgraded. */
    const struct store_migration *migrations;
    size_t n_migrations;
};

struct store_sql;

/* WAL pages at which the writer checkpoints by itself when there is no
 * checkpointer (SQLite's default). */
#define STORE_SQL_WAL_AUTO_PAGES 1000

/* Open or create the database, take its lock (an flock on <path>-lock: a
 * second store gets a clear "locked" error), set the pragmas, apply the
 * missing migrations in one transaction each, prepare every statement and
 * load the topic map. Returns NULL and sets *err (malloc'd) on failure. */
struct store_sql *store_sql_open(const struct store_sql_config *cfg,
                                 char **err);
/* Finalize every statement, close the database, free, NULL *s. */
void store_sql_close(struct store_sql **s);

/* After each commit, call on_wal(arg, WAL pages) instead of checkpointing.
 * When it returns true, the next store_sql_finish_wal runs a PASSIVE
 * checkpoint. On the thread that commits. */
void store_sql_set_wal_hook(struct store_sql *s,
                            bool (*on_wal)(void *arg, int pages), void *arg);
/* Run the checkpoint on_wal asked for, if it did; call it once the
 * commits' results are on their way. */
void store_sql_finish_wal(struct store_sql *s);

/* Run n PUB jobs in transactions of at most STORE_SQL_MAX_BATCH jobs,
 * filling job->seq/duplicate/err. A transaction that fails (any statement,
 * or COMMIT, or inject_fail) is rolled back, its topics' seqs restored, and
 * each of its jobs gets err = PL_ERR_INTERNAL. Adds to *batches (commits),
 * *rows (messages stored) and *errors (failed transactions). Returns 0 when
 * everything committed, else -PL_ERR_INTERNAL. inject_fail (may be NULL)
 * is asked before each COMMIT whether to fail it instead. */
int store_sql_run_pubs(struct store_sql *s, struct store_job **jobs,
                       size_t n, bool (*inject_fail)(void *arg),
                       void *inject_arg, uint64_t *batches, uint64_t *rows,
                       uint64_t *errors);

/* Run one AFTER or BEFORE job outside any write transaction: fills rows,
 * n_rows, first_seq, last_seq, or err = PL_ERR_INTERNAL. */
void store_sql_run_read(struct store_sql *s, struct store_job *job);

/* One round of maintenance, in one transaction: one slice of the index
 * cycle when one is due, and at most max_stmts DELETEs of at most
 * STORE_SQL_PRUNE_ROWS rows each, for messages over retain_messages or
 * older than now_ms - retain_age_ms and for dedupe keys older than now_ms -
 * window. Only indexed rows are pruned. Adds to *pruned (messages only).
 * Returns 1 when more is left to do, 0 when done, -PL_ERR_INTERNAL on
 * failure. */
/* Replace the retention rules given at open (store thread). */
void store_sql_set_retention(struct store_sql *s, int64_t messages,
                             int64_t age_ms);
int store_sql_prune(struct store_sql *s, int64_t now_ms, int max_stmts,
                    uint64_t *pruned);

/* See store_foreach_topic() in store.h. */
/* Every MQTT session row (store_mqtt.h), before the store thread runs. */
#include "store_mqtt.h"
int store_sql_foreach_mqtt(struct store_sql *s, store_mqtt_cb cb, void *arg);
int store_sql_foreach_topic(struct store_sql *s,
                            int (*cb)(void *arg,
                                      const struct store_topic_info *t),
                            void *arg);

/* Test hook: make the next n index writes fail. */
void store_sql_fail_index(struct store_sql *s, int n);
/* Rows the index does not cover yet (in the tails). */
size_t store_sql_unindexed(struct store_sql *s);

/* The topic's newest seq in memory (0 when unknown). For tests. */
int64_t store_sql_last_seq(struct store_sql *s, const char *topic);
/* The raw handle, for tests only (on the owning thread). */
sqlite3 *store_sql_db(struct store_sql *s);

/* "SQLITE_IOERR" for an SQLite result code (extended codes map to their
 * primary name). Never NULL. */
const char *store_sql_rc_name(int rc);

#endif
