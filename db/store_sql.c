/*
 * store_sql.c: owns the SQLite connection, its prepared statements and the
 * in-memory topic map (name -> topic_id, last_seq). It opens and migrates
 * the database, runs batches of publishes in one transaction each (the
 * group commit), answers AFTER/BEFORE reads, and prunes by retention. It
 * has no threads and no locks: store.c calls it from one thread at a time.
 *
 * Seq numbers come from the map: a PUB takes last_seq + 1 inside the
 * transaction that stores it. Every topic touched by a transaction first
 * saves its (id, last_seq); if anything in the transaction fails, the
 * transaction is rolled back and the saved values restored, so a seq is
 * handed out again only when its message never became durable, and the
 * sequence stays gapless.
 *
 * DESIGN: the log appends, the per-topic lookup comes later (#17). A commit
 * inserts rows into `messages` with ids in arrival order, so it dirties a
 * few pages at the end of the file whatever the number of topics. Each
 * topic keeps, in memory, the ids of its rows that msg_index does not cover
 * yet (its "tail": seqs idx_seq + 1 .. last_seq, in order). Reads take the
 * indexed part from msg_index and the rest from the tail by rowid. An
 * index cycle (store_sql_prune, every STORE_SQL_INDEX_MS) writes each
 * topic's tail into msg_index as one row (a "chunk": the ids of
 * consecutive seqs), in slices of a bounded number of topics. One insert
 * per topic per cycle, where one insert per message cost as much CPU as
 * the message itself and one dirty page per topic per commit. Every slice also
 * moves topics.last_seq (= idx_seq on disk) and log_state.indexed_upto,
 * which tell the next open which rows of the log to read back into tails.
 * Memory stays bounded: when the tails hold STORE_SQL_TAIL_MAX ids, a
 * publish batch writes them all inside its own transaction, and fails if
 * that fails; so a failing index makes publishing fail, never grow.
 */
#include "store_mqtt.h"
#include "store_sql.h"
#include "wal_vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cmd.h"
#include "errors.h"

#define SQL_DEFAULT_WINDOW_MS (24 * 3600 * 1000LL)
#define SQL_BUSY_TIMEOUT_MS 2000

struct sql_topic {
    char *name;
    int64_t id;              /* topics.id, 0 when it has no row (yet) */
    int64_t last_seq;        /* newest seq handed out */
    int64_t saved_id;        /* id and last_seq before transaction txn */
    int64_t saved_last_seq;
    uint64_t txn;            /* the transaction that saved them */
    bool prune;              /* on the prune list */
    int64_t idx_seq;         /* newest seq msg_index covers (on disk:
                                topics.last_seq) */
    int64_t *tail;           /* messages.id of seqs idx_seq + 1 .. last_seq */
    size_t tail_len, tail_cap;
    size_t saved_tail_len;   /* tail_len before transaction txn */
    size_t flush_n;          /* tail ids written to msg_index in the open
                                transaction */
    /* Its newest chunk as this process wrote it (n 0: unknown, e.g.
     * after an open), which the next index write may append to; the
     * pending pair is what the open transaction makes of it. */
    int64_t chunk_seq;
    size_t chunk_n;
    int64_t pend_chunk_seq;
    size_t pend_chunk_n;
    bool dirty;              /* on the dirty list (tail may be non-empty) */
};

/* A msg_index row read for pruning; its ids are s->ids[off .. off + n). */
struct sql_chunk {
    int64_t topic_id;
    int64_t first_seq;
    size_t off, n;
};

struct topic_map {
    struct sql_topic **slots;  /* open addressing, linear probing */
    size_t cap;                /* a power of two, or 0 */
    size_t len;
};

enum sql_stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_TOPIC_INSERT,
    ST_TOPIC_UPDATE,
    ST_MSG_INSERT,
    ST_INDEX_PUT,
    ST_CHUNK_APPEND,
    ST_STATE_PUT,
    ST_DEDUPE_FIND,
    ST_DEDUPE_PUT,
    ST_RETAINED_SET,
    ST_RETAINED_CLEAR,
    ST_AFTER,
    ST_BEFORE,
    ST_FIRST_SEQ,
    ST_ROW_BY_ID,
    ST_ROWS_BY_ID_RANGE,
    ST_CHUNK_DELETE,
    ST_CHUNKS_UPTO,
    ST_DELETE_ID,
    ST_AGE_ROWS,
    ST_AGE_CHUNKS,
    ST_PRUNE_AGE,
    ST_PRUNE_DEDUPE,
    ST_TARGET,
    ST_REDACT_ID,
    ST_REDACT_EDITS,
    ST_RETAINED_CLEAR_SEQ,
    ST_MARK_PUT,
    ST_MARK_GET,
    ST_UNREAD_ROW,
    ST_FTS_PUT,
    ST_FTS_DEL,
    ST_FTS_LATEST,
    ST_FTS_SCAN,
    ST_FTS_NEWER,
    ST_FTS_UPTO_PUT,
    ST_SEARCH,
    ST__COUNT
};

static const char *const sql_text[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_TOPIC_INSERT] = "INSERT INTO topics(name, last_seq) VALUES(?1, 0)",
    [ST_TOPIC_UPDATE] = "UPDATE topics SET last_seq = ?2 WHERE id = ?1",
    /* The id is ours (last_id + 1), never SQLite's max(id) + 1: after
     * pruning empties the table that would hand out ids at or below
     * log_state.indexed_upto, which the next open would never read back. */
    [ST_MSG_INSERT] = "INSERT INTO messages(id, topic_id, seq, ts, sender,"
                      " data, edit_of, redacts, reply_to, raw)"
                      " VALUES(?6, ?1, ?2, ?3, ?4, ?5, ?7, ?8, ?9, ?10)",
    [ST_CHUNK_APPEND] = "UPDATE msg_index SET ids = ids || ',' || ?3"
                        " WHERE topic_id = ?1 AND first_seq = ?2",
    [ST_INDEX_PUT] = "INSERT INTO msg_index(topic_id, first_seq, first_id,"
                     " ids) VALUES(?1, ?2, ?3, ?4)",
    [ST_STATE_PUT] = "UPDATE log_state SET indexed_upto = ?1",
    [ST_DEDUPE_FIND] = "SELECT seq FROM dedupe"
                       " WHERE topic_id = ?1 AND key = ?2 AND ts >= ?3",
    [ST_DEDUPE_PUT] = "INSERT OR REPLACE INTO dedupe(topic_id, key, seq, ts)"
                      " VALUES(?1, ?2, ?3, ?4)",
    [ST_RETAINED_SET] = "INSERT OR REPLACE INTO"
                        " retained(topic_id, seq, ts, sender, data, raw)"
                        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_RETAINED_CLEAR] = "DELETE FROM retained WHERE topic_id = ?1",
    /* AFTER: the chunk holding ?2 (or the first after it), then every
     * later chunk up to ?3. */
    [ST_AFTER] = "SELECT first_seq, ids FROM msg_index WHERE topic_id = ?1"
                 " AND first_seq >= coalesce((SELECT first_seq FROM msg_index"
                 " WHERE topic_id = ?1 AND first_seq <= ?2"
                 " ORDER BY first_seq DESC LIMIT 1), 0)"
                 " AND first_seq <= ?3 ORDER BY first_seq",
    [ST_BEFORE] = "SELECT first_seq, ids FROM msg_index"
                  " WHERE topic_id = ?1 AND first_seq < ?2"
                  " ORDER BY first_seq DESC",
    [ST_FIRST_SEQ] = "SELECT first_seq FROM msg_index WHERE topic_id = ?1"
                     " ORDER BY first_seq LIMIT 1",
    [ST_ROW_BY_ID] = "SELECT seq, ts, sender, data, edit_of, redacts,"
                     " reply_to, redacted, raw FROM messages WHERE id = ?1",
    /* A run of consecutive ids (a burst on one topic): one range scan of
     * the rowid b-tree instead of a lookup per row. */
    [ST_ROWS_BY_ID_RANGE] = "SELECT seq, ts, sender, data, edit_of,"
                            " redacts, reply_to, redacted, raw FROM messages"
                            " WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
    [ST_CHUNK_DELETE] = "DELETE FROM msg_index"
                        " WHERE topic_id = ?1 AND first_seq = ?2",
    /* Count pruning: the topic's oldest chunks, up to the cut. */
    [ST_CHUNKS_UPTO] = "SELECT first_seq, ids FROM msg_index"
                       " WHERE topic_id = ?1 AND first_seq <= ?2"
                       " ORDER BY first_seq LIMIT ?3",
    [ST_DELETE_ID] = "DELETE FROM messages WHERE id = ?1",
    /* Age pruning looks at the ?2 oldest rows of the log, never past
     * log_state.indexed_upto (?1): rows after it are how the next open
     * finds the seqs the index does not have yet. */
    [ST_AGE_ROWS] = "SELECT id, ts FROM messages WHERE id <= ?1"
                    " ORDER BY id LIMIT ?2",
    [ST_AGE_CHUNKS] = "SELECT topic_id, first_seq, ids FROM msg_index"
                      " WHERE first_id <= ?1",
    [ST_PRUNE_AGE] = "DELETE FROM messages WHERE id <= ?2 AND ts < ?1",
    [ST_PRUNE_DEDUPE] = "DELETE FROM dedupe WHERE (topic_id, key) IN"
                        " (SELECT topic_id, key FROM dedupe WHERE ts < ?1"
                        " ORDER BY ts LIMIT ?2)",
    /* Chat (#16): what an edit or a deletion checks about its target,
     * and the erasing a deletion does. */
    [ST_TARGET] = "SELECT sender, edit_of IS NOT NULL OR redacts IS NOT NULL"
                  " OR redacted IS NOT NULL FROM messages WHERE id = ?1",
    [ST_REDACT_ID] = "UPDATE messages SET data = 'null', raw = NULL,"
                     " redacted = 1"
                     " WHERE id = ?1",
    [ST_REDACT_EDITS] = "UPDATE messages SET data = 'null', raw = NULL,"
                        " redacted = 1"
                        " WHERE topic_id = ?1 AND edit_of = ?2",
    [ST_RETAINED_CLEAR_SEQ] = "DELETE FROM retained"
                              " WHERE topic_id = ?1 AND seq = ?2",
    /* Read markers (#16): never moved back. */
    [ST_MARK_PUT] = "INSERT INTO markers(user, topic_id, seq) VALUES(?1, ?2, ?3)"
                    " ON CONFLICT(user, topic_id)"
                    " DO UPDATE SET seq = max(seq, excluded.seq)",
    [ST_MARK_GET] = "SELECT seq FROM markers WHERE user = ?1 AND topic_id = ?2",
    /* 1 when the row counts as unread for user ?2. */
    [ST_UNREAD_ROW] = "SELECT sender <> ?2 AND edit_of IS NULL AND"
                      " redacts IS NULL AND redacted IS NULL"
                      " FROM messages WHERE id = ?1",
    /* Search (#16): a message's indexed text is its data's strings,
     * joined (pl_json_strings); one with none gets no entry. A
     * contentless table forgets an entry only when given the same text
     * again (FTS_DEL). One row per statement, VALUES, never INSERT ...
     * SELECT: a statement that may write several rows opens a statement
     * savepoint, at which FTS5 flushes its pending terms to a new segment
     * (measured: 127 us per message instead of 15). Rows are added in
     * bulk after the commit that stored them (sql_fts_catch_up). */
    [ST_FTS_PUT] = "INSERT INTO msg_fts(rowid, body) VALUES(?1, ?2)",
    [ST_FTS_DEL] = "INSERT INTO msg_fts(msg_fts, rowid, body)"
                   " VALUES('delete', ?1, ?2)",
    /* The newest edit of a message (its indexed version, if any). */
    [ST_FTS_LATEST] = "SELECT id, data FROM messages"
                      " WHERE topic_id = ?1 AND edit_of = ?2"
                      " ORDER BY id DESC LIMIT 1",
    /* The rows msg_fts does not cover yet that may need an entry: neither
     * deletions nor deleted (their data is null). */
    [ST_FTS_SCAN] = "SELECT id, topic_id, coalesce(edit_of, seq), data"
                    " FROM messages WHERE id > ?1 AND redacts IS NULL"
                    " AND redacted IS NULL ORDER BY id",
    /* 1 when a newer edit replaced row ?3 (of topic ?1, seq ?2): then
     * that edit, not the row, is the version to index. */
    [ST_FTS_NEWER] = "SELECT 1 FROM messages WHERE topic_id = ?1"
                     " AND edit_of = ?2 AND id > ?3 LIMIT 1",
    [ST_FTS_UPTO_PUT] = "UPDATE log_state SET fts_upto = ?1",
    /* Newest first: FTS5 walks its doclists backwards for rowid DESC. */
    /* NULL for raw: search results go to JSON clients only. */
    [ST_SEARCH] = "SELECT m.seq, m.ts, m.sender, m.data, m.edit_of,"
                  " m.redacts, m.reply_to, m.redacted, NULL, t.name"
                  " FROM msg_fts"
                  " JOIN messages m ON m.id = msg_fts.rowid"
                  " JOIN topics t ON t.id = m.topic_id"
                  " WHERE msg_fts MATCH ?1 ORDER BY msg_fts.rowid DESC",
};

struct store_sql {
    sqlite3 *db;
    char *path;
    int lock_fd;                   /* <path>-lock, flock()ed; -1: none */
    bool (*on_wal)(void *arg, int pages);
    void *on_wal_arg;
    bool wal_finish;               /* on_wal asked for a checkpoint */
    sqlite3_stmt *st[ST__COUNT];
    struct topic_map map;
    int64_t window_ms;
    int64_t retain_messages;
    int64_t retain_age_ms;
    uint64_t txn;                  /* current transaction generation */
    struct sql_topic **touched;    /* topics saved in this transaction */
    size_t n_touched, cap_touched;
    struct sql_topic **prune;      /* topics that may hold too many rows */
    size_t n_prune, cap_prune;
    /* Index tails (see DESIGN above). */
    struct sql_topic **dirty;      /* topics whose tail may be non-empty */
    size_t n_dirty, cap_dirty;
    size_t n_unindexed;            /* sum of tail_len */
    size_t tail_max;               /* n_unindexed that forces a write */
    int64_t index_interval_ms;
    int64_t last_id;               /* newest messages.id handed out */
    struct store_mqtt_stmts mqtt_st; /* inbound QoS 2 (#14) */
    int64_t saved_last_id;         /* last_id before this transaction */
    int64_t indexed_upto;          /* log_state.indexed_upto */
    int64_t pending_upto;          /* ... once the open transaction commits */
    int64_t cycle_upto;            /* this cycle indexes ids <= it; 0: none */
    int64_t next_index_ms;         /* when the next cycle starts */
    int fail_index;                /* test hook: fail this many writes */
    int page_size;                 /* for a new file; 0: SQLite's */
    bool no_fts;                   /* bench knob: index no text (#16) */
    int64_t fts_upto;              /* log_state.fts_upto: msg_fts covers
                                    * the ids at or below it */
    int64_t saved_fts_upto;        /* fts_upto before this transaction */
    bool fts_edited;               /* an edit or deletion is stored above
                                    * fts_upto (or may be: after open) */
    char *fts_text;                /* scratch: a message's text to index */
    size_t cap_fts_text;
    /* Scratch for chunks: decoded ids, encoded text, collected chunks. */
    int64_t *ids;
    size_t n_ids, cap_ids;
    char *text;
    size_t cap_text;
    struct sql_chunk *chunks;
    size_t n_chunks, cap_chunks;
};

static const char *const sql_rc_names[] = {
    "SQLITE_OK", "SQLITE_ERROR", "SQLITE_INTERNAL", "SQLITE_PERM",
    "SQLITE_ABORT", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_NOMEM",
    "SQLITE_READONLY", "SQLITE_INTERRUPT", "SQLITE_IOERR", "SQLITE_CORRUPT",
    "SQLITE_NOTFOUND", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL",
    "SQLITE_EMPTY", "SQLITE_SCHEMA", "SQLITE_TOOBIG", "SQLITE_CONSTRAINT",
    "SQLITE_MISMATCH", "SQLITE_MISUSE", "SQLITE_NOLFS", "SQLITE_AUTH",
    "SQLITE_FORMAT", "SQLITE_RANGE", "SQLITE_NOTADB",
};

const char *store_sql_rc_name(int rc)
{
    int primary = rc & 0xff;

    if (rc == SQLITE_ROW)
        return "SQLITE_ROW";
    if (rc == SQLITE_DONE)
        return "SQLITE_DONE";
    if (primary < 0 || (size_t)primary >= sizeof(sql_rc_names) /
                                           sizeof(sql_rc_names[0]))
        return "SQLITE_?";
    return sql_rc_names[primary];
}

/* Log "store: <what> failed: <sqlite message> (<CODE>)" to stderr. */
static void sql_log(struct store_sql *s, const char *what, int rc)
{
    const char *msg = s->db != NULL ? sqlite3_errmsg(s->db)
                                    : sqlite3_errstr(rc);

    fprintf(stderr, "store: %s failed: %s (%s)\n", what, msg,
            store_sql_rc_name(rc));
}

/* A malloc'd printf, or NULL. */
static char *sql_strf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    int rc = 0;

    va_start(ap, fmt);
    rc = vasprintf(&out, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : out;
}

/* ---- topic map ---------------------------------------------------------- */

static uint64_t map_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

    for (; *name != '\0'; name++) {
        h ^= (unsigned char)*name;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct sql_topic *map_get(struct topic_map *m, const char *name)
{
    size_t i = 0;

    if (m->cap == 0)
        return NULL;
    i = (size_t)map_hash(name) & (m->cap - 1);
    while (m->slots[i] != NULL) {
        if (strcmp(m->slots[i]->name, name) == 0)
            return m->slots[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* Place t in slots (which has room). */
static void map_place(struct sql_topic **slots, size_t cap,
                      struct sql_topic *t)
{
    size_t i = (size_t)map_hash(t->name) & (cap - 1);

    while (slots[i] != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = t;
}

static int map_grow(struct topic_map *m)
{
    size_t cap = m->cap == 0 ? 64 : m->cap * 2;
    struct sql_topic **slots = calloc(cap, sizeof(*slots));
    size_t i = 0;

    if (slots == NULL)
        return -ENOMEM;
    for (i = 0; i < m->cap; i++) {
        if (m->slots[i] != NULL)
            map_place(slots, cap, m->slots[i]);
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

/* Add a new topic (not present) with the given id and last_seq. Returns it,
 * or NULL when out of memory. */
static struct sql_topic *map_add(struct topic_map *m, const char *name,
                                 int64_t id, int64_t last_seq)
{
    struct sql_topic *t = NULL;

    if ((m->len + 1) * 10 > m->cap * 7 && map_grow(m) != 0)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->name = strdup(name);
    if (t->name == NULL) {
        free(t);
        return NULL;
    }
    t->id = id;
    t->last_seq = last_seq;
    map_place(m->slots, m->cap, t);
    m->len++;
    return t;
}

static void map_cleanup(struct topic_map *m)
{
    size_t i = 0;

    for (i = 0; i < m->cap; i++) {
        if (m->slots[i] != NULL) {
            free(m->slots[i]->tail);
            free(m->slots[i]->name);
            free(m->slots[i]);
        }
    }
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void store_sql_set_retention(struct store_sql *s, int64_t messages,
                             int64_t age_ms)
{
    s->retain_messages = messages > 0 ? messages : 0;
    s->retain_age_ms = age_ms > 0 ? age_ms : 0;
}

/* Put t on the prune list unless it is there. Out of memory only delays
 * its pruning until the next open. */
static void sql_prune_mark(struct store_sql *s, struct sql_topic *t)
{
    if (t->prune || s->retain_messages <= 0)
        return;
    if (s->n_prune == s->cap_prune) {
        size_t cap = s->cap_prune == 0 ? 64 : s->cap_prune * 2;
        struct sql_topic **p = realloc(s->prune, cap * sizeof(*p));

        if (p == NULL)
            return;
        s->prune = p;
        s->cap_prune = cap;
    }
    s->prune[s->n_prune++] = t;
    t->prune = true;
}

/* ---- open, migrate ------------------------------------------------------ */

/* sqlite3_exec callback: copy the first column of the first row. */
static int sql_first_text(void *arg, int ncol, char **vals, char **names)
{
    char *out = arg;

    (void)names;
    if (ncol > 0 && vals[0] != NULL && out[0] == '\0')
        snprintf(out, 32, "%s", vals[0]);
    return 0;
}

/*
 * One parleyd per database: the store keeps each topic's last seq in
 * memory, so a second writer would hand out the same seqs. An flock() on
 * <path>-lock, held until close, refuses a second store at once, in this
 * process or another, while readers (the sqlite3 shell, backups) stay
 * welcome. Not a lock on the database file itself: closing any other
 * descriptor of that file would drop SQLite's own POSIX locks on it.
 */
static int sql_lock(struct store_sql *s, char **err)
{
    size_t n = strlen(s->path) + sizeof("-lock");
    char *lock_path = malloc(n);

    if (lock_path == NULL) {
        *err = sql_strf("store: out of memory");
        return -1;
    }
    snprintf(lock_path, n, "%s-lock", s->path);
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        *err = sql_strf("store: cannot open %s: %s", lock_path,
                        strerror(errno));
        free(lock_path);
        return -1;
    }
    free(lock_path);
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        *err = sql_strf("store: %s: database is locked (is another parleyd "
                        "using it?)", s->path);
        return -1;
    }
    return 0;
}

/*
 * After every commit. With a checkpointer (store_sql_set_wal_hook), tell
 * it how large the WAL is: the copy into the database happens on its
 * thread, not inside this COMMIT. When it asks the writer to finish the
 * copy so that the WAL can start over (wal_ckpt.h), that waits for
 * store_sql_finish_wal, after the batch's completions are handed back:
 * the publishes of this commit do not wait for it. Without a
 * checkpointer, checkpoint here as SQLite's automatic checkpoint would.
 */
static int sql_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store_sql *s = arg;

    if (s->on_wal != NULL) {
        if (s->on_wal(s->on_wal_arg, pages))
            s->wal_finish = true;
    } else if (pages >= STORE_SQL_WAL_AUTO_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL);
    }
    return SQLITE_OK;
}

void store_sql_finish_wal(struct store_sql *s)
{
    if (!s->wal_finish)
        return;
    s->wal_finish = false;
    /* SQLITE_BUSY while the checkpointer runs: asked again next commit. */
    sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL,
                              NULL);
}

void store_sql_set_wal_hook(struct store_sql *s,
                            bool (*on_wal)(void *arg, int pages), void *arg)
{
    s->on_wal = on_wal;
    s->on_wal_arg = arg;
}

/* An error message for a failed open step; "locked" gets its own words. */
static char *sql_open_error(struct store_sql *s, const char *what, int rc)
{
    int primary = rc & 0xff;

    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return sql_strf("store: %s: database is locked (is another parleyd "
                        "using it?) (%s)", s->path, store_sql_rc_name(rc));
    return sql_strf("store: %s: %s: %s (%s)", s->path, what,
                    s->db != NULL ? sqlite3_errmsg(s->db)
                                  : sqlite3_errstr(rc),
                    store_sql_rc_name(rc));
}

static int sql_user_version(struct store_sql *s, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* The SQL of this build's migration `version`, or NULL. */
static const char *sql_migration_text(int version)
{
    size_t i = 0;

    for (i = 0; i < store_n_migrations; i++)
        if (store_migrations[i].version == version)
            return store_migrations[i].sql;
    return NULL;
}

/* Bring the schema from its user_version to the newest of migs, one
 * transaction per migration. Versions must grow but may skip numbers:
 * branches reserve numbers ahead of merging (003 and 004 were taken by
 * two at once), so a build may hold 004 without 003. Every migration
 * above the file's version runs, in order. Returns 0 or sets *err. */
static int sql_migrate(struct store_sql *s, const struct store_migration *migs,
                       size_t n, char **err)
{
    int version = 0;
    int rc = sql_user_version(s, &version);
    int newest = n > 0 ? migs[n - 1].version : 0;
    size_t i = 0;

    if (rc != SQLITE_OK) {
        *err = sql_open_error(s, "reading the schema version", rc);
        return -1;
    }
    if (version < 0 || version > newest) {
        *err = sql_strf("store: %s: schema version %d is newer than this "
                        "build knows (%d); refusing to open it (use a "
                        "newer parleyd)", s->path, version, newest);
        return -1;
    }
    for (i = 0; i < n; i++) {
        char *sql = NULL;
        int prev = i > 0 ? migs[i - 1].version : 0;

        if (migs[i].version <= prev) {
            *err = sql_strf("store: migration %s has version %d, expected "
                            "more than %d", migs[i].name, migs[i].version,
                            prev);
            return -1;
        }
        if (migs[i].version <= version)
            continue;
        /* A new file gets every step quietly; an old one says so, since
         * a step may take a while on a large log. */
        if (version > 0)
            fprintf(stderr, "store: %s: upgrading the schema from version "
                    "%d to %d (%s); an interrupted upgrade is redone at the "
                    "next start\n", s->path, prev > version ? prev : version,
                    migs[i].version, migs[i].name);

        sql = sql_strf("BEGIN;\n%s\n;PRAGMA user_version = %d;\nCOMMIT;",
                       migs[i].sql, migs[i].version);
        if (sql == NULL) {
            *err = sql_strf("store: out of memory");
            return -1;
        }
        rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        free(sql);
        if (rc != SQLITE_OK) {
            char *what = sql_strf("migration %s", migs[i].name);

            *err = sql_open_error(s, what != NULL ? what : "migration", rc);
            free(what);
            if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

/* Append id to t's tail, putting t on the dirty list when it was off it.
 * Returns 0 or -ENOMEM (nothing changed). */
static int sql_tail_push(struct store_sql *s, struct sql_topic *t, int64_t id)
{
    if (!t->dirty && s->n_dirty == s->cap_dirty) {
        size_t cap = s->cap_dirty == 0 ? 64 : s->cap_dirty * 2;
        struct sql_topic **p = realloc(s->dirty, cap * sizeof(*p));

        if (p == NULL)
            return -ENOMEM;
        s->dirty = p;
        s->cap_dirty = cap;
    }
    if (t->tail_len == t->tail_cap) {
        size_t cap = t->tail_cap == 0 ? 8 : t->tail_cap * 2;
        int64_t *p = realloc(t->tail, cap * sizeof(*p));

        if (p == NULL)
            return -ENOMEM;
        t->tail = p;
        t->tail_cap = cap;
    }
    if (!t->dirty) {
        s->dirty[s->n_dirty++] = t;
        t->dirty = true;
    }
    t->tail[t->tail_len++] = id;
    s->n_unindexed++;
    return 0;
}

/* Read one integer (NULL reads as 0) from a one-row query. */
static int sql_query_int(struct store_sql *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/*
 * Read back into the tails the rows of the log that msg_index does not
 * cover: those after log_state.indexed_upto whose seq is above their
 * topic's idx_seq (a slice may have indexed some of them already). byid
 * maps topics.id to the map's topic. Each topic's rows must continue its
 * seqs without a gap; anything else is a damaged file.
 */
static int sql_recover_tails(struct store_sql *s, struct sql_topic **byid,
                             int64_t max_topic_id, char **err)
{
    sqlite3_stmt *st = NULL;
    size_t found = 0;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, topic_id, seq FROM messages"
                                " WHERE id > ?1 ORDER BY id", -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, s->indexed_upto);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        int64_t topic_id = sqlite3_column_int64(st, 1);
        int64_t seq = sqlite3_column_int64(st, 2);
        struct sql_topic *t = NULL;

        if (topic_id > 0 && topic_id <= max_topic_id)
            t = byid[topic_id];
        rc = SQLITE_OK;
        if (t != NULL && seq <= t->idx_seq)
            continue;
        if (t == NULL || seq != t->last_seq + 1) {
            *err = sql_strf("store: %s: message %" PRId64 " (topic %" PRId64
                            ", seq %" PRId64 ") does not continue its "
                            "topic's seqs; the database is damaged",
                            s->path, id, topic_id, seq);
            sqlite3_finalize(st);
            return -1;
        }
        if (sql_tail_push(s, t, id) != 0) {
            *err = sql_strf("store: out of memory reading the log");
            sqlite3_finalize(st);
            return -1;
        }
        t->last_seq = seq;
        found++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        *err = sql_open_error(s, "reading the log", rc);
        return -1;
    }
    if (found > 0)
        fprintf(stderr, "store: %s: %zu messages after the last index "
                "write; they will be indexed shortly\n", s->path, found);
    return 0;
}

/* Load every topic into the map, then the log's state and unindexed rows.
 * Returns 0 or sets *err. */
static int sql_load_topics(struct store_sql *s, char **err)
{
    sqlite3_stmt *st = NULL;
    struct sql_topic **byid = NULL;
    int64_t max_topic_id = 0;
    int64_t max_msg_id = 0;
    int ret = -1;
    int rc = sql_query_int(s, "SELECT coalesce(max(id), 0) FROM topics",
                           &max_topic_id);

    if (rc == SQLITE_OK)
        rc = sql_query_int(s, "SELECT indexed_upto FROM log_state",
                           &s->indexed_upto);
    if (rc == SQLITE_OK)
        rc = sql_query_int(s, "SELECT coalesce(max(id), 0) FROM messages",
                           &max_msg_id);
    if (rc != SQLITE_OK) {
        *err = sql_open_error(s, "loading topics", rc);
        return -1;
    }
    s->last_id = max_msg_id > s->indexed_upto ? max_msg_id : s->indexed_upto;
    byid = calloc((size_t)max_topic_id + 1, sizeof(*byid));
    if (byid == NULL)
        goto oom;
    rc = sqlite3_prepare_v2(s->db, "SELECT id, name, last_seq FROM topics",
                            -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        int64_t id = sqlite3_column_int64(st, 0);
        struct sql_topic *t = NULL;

        rc = SQLITE_OK;
        if (name == NULL)
            continue;
        t = map_add(&s->map, name, id, sqlite3_column_int64(st, 2));
        if (t == NULL)
            goto oom;
        t->idx_seq = t->last_seq;
        if (id > 0 && id <= max_topic_id)
            byid[id] = t;
        sql_prune_mark(s, t);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE) {
        *err = sql_open_error(s, "loading topics", rc);
        goto out;
    }
    ret = sql_recover_tails(s, byid, max_topic_id, err);
    goto out;

oom:
    *err = sql_strf("store: out of memory loading topics");
out:
    sqlite3_finalize(st);
    free(byid);
    return ret;
}

/*
 * Layout knobs for benchmarks only (docs/benchmarks.md compares layouts
 * with them): PARLEY_STORE_INDEX_MS (index cycle interval),
 * PARLEY_STORE_PAGE_SIZE (page size of a new file) and PARLEY_STORE_NO_FTS=1
 * (publish without the search index, to measure what it costs; a file
 * written so must not be searched or edited later: its index would miss
 * or mistake entries). Not options: the defaults are what the
 * measurements chose.
 */
static void sql_bench_knobs(struct store_sql *s)
{
    const char *v = getenv("PARLEY_STORE_INDEX_MS");

    if (v != NULL && atoll(v) > 0)
        s->index_interval_ms = atoll(v);
    v = getenv("PARLEY_STORE_PAGE_SIZE");
    if (v != NULL && atoi(v) >= 512 && atoi(v) <= 65536)
        s->page_size = atoi(v);
    v = getenv("PARLEY_STORE_NO_FTS");
    s->no_fts = v != NULL && strcmp(v, "1") == 0;
}

static int sql_fts_open(struct store_sql *s, char **err);

struct store_sql *store_sql_open(const struct store_sql_config *cfg,
                                 char **err)
{
    struct store_sql *s = NULL;
    char mode[32] = "";
    const char *pragmas = NULL;
    int rc = 0;
    size_t i = 0;

    *err = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    s->lock_fd = -1;
    s->path = strdup(cfg->path);
    if (s->path == NULL)
        goto oom;
    s->window_ms = cfg->dedupe_window_ms > 0 ? cfg->dedupe_window_ms
                                             : SQL_DEFAULT_WINDOW_MS;
    s->retain_messages = cfg->retain_messages > 0 ? cfg->retain_messages : 0;
    s->retain_age_ms = cfg->retain_age_ms > 0 ? cfg->retain_age_ms : 0;
    s->tail_max = cfg->index_tail_max > 0 ? cfg->index_tail_max
                                          : STORE_SQL_TAIL_MAX;
    s->index_interval_ms = cfg->index_interval_ms > 0 ? cfg->index_interval_ms
                                                      : STORE_SQL_INDEX_MS;
    s->page_size = cfg->page_size > 0 ? cfg->page_size : STORE_SQL_PAGE_SIZE;
    sql_bench_knobs(s);

    rc = sqlite3_open_v2(cfg->path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_NOMUTEX, wal_vfs_name());
    if (rc != SQLITE_OK) {
        *err = sql_open_error(s, "cannot open", rc);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SQL_BUSY_TIMEOUT_MS);
    if (sql_lock(s, err) != 0)
        goto fail;

    /* Takes effect on a new, empty file only (before WAL mode writes its
     * header); an existing file keeps its page size. */
    if (s->page_size > 0) {
        char *sql = sql_strf("PRAGMA page_size = %d", s->page_size);

        rc = sql != NULL ? sqlite3_exec(s->db, sql, NULL, NULL, NULL)
                         : SQLITE_NOMEM;
        free(sql);
        if (rc != SQLITE_OK) {
            *err = sql_open_error(s, "setting the page size", rc);
            goto fail;
        }
    }
    /* The first read also tells a file that is not a database. */
    rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", sql_first_text,
                      mode, NULL);
    if (rc != SQLITE_OK) {
        *err = sql_open_error(s, "setting WAL mode", rc);
        goto fail;
    }
    if (strcmp(mode, "wal") != 0) {
        *err = sql_strf("store: %s: cannot use WAL mode (journal_mode is "
                        "%s)", s->path, mode);
        goto fail;
    }
    pragmas = cfg->full_sync ? "PRAGMA synchronous = FULL;"
                             : "PRAGMA synchronous = NORMAL;";
    rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    /* secure_delete = FAST: space freed inside a page is zeroed (no extra
     * I/O), so a chat deletion's erased text does not linger in the
     * file's free space (#16). */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db,
                          "PRAGMA secure_delete = FAST;"
                          "PRAGMA foreign_keys = OFF;"
                          "PRAGMA cache_size = -16384;"
                          "PRAGMA temp_store = MEMORY;"
                          "PRAGMA journal_size_limit = 67108864;",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        *err = sql_open_error(s, "setting pragmas", rc);
        goto fail;
    }

    if (cfg->migrations != NULL)
        rc = sql_migrate(s, cfg->migrations, cfg->n_migrations, err);
    else
        rc = sql_migrate(s, store_migrations, store_n_migrations, err);
    if (rc == 0 && cfg->migrations == NULL &&
        (rc = store_mqtt_schema(s->db, sql_migration_text(3),
                               sql_migration_text(6),
                               sql_migration_text(8))) != SQLITE_OK) {
        *err = sql_open_error(s, "creating the MQTT session tables", rc);
        rc = -1;
    }
    if (rc != 0)
        goto fail;

    for (i = 0; i < ST__COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, sql_text[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            *err = sql_open_error(s, "preparing statements (is the schema "
                                  "damaged?)", rc);
            goto fail;
        }
    }
    if (sql_load_topics(s, err) != 0 || sql_fts_open(s, err) != 0)
        goto fail;
    /* Replaces SQLite's automatic checkpoint (see sql_wal_hook). */
    sqlite3_wal_hook(s->db, sql_wal_hook, s);
    return s;

oom:
    *err = sql_strf("store: out of memory");
fail:
    if (*err == NULL)
        *err = sql_strf("store: cannot open the database");
    store_sql_close(&s);
    return NULL;
}

int store_sql_foreach_mqtt(struct store_sql *s, store_mqtt_cb cb, void *arg)
{
    return store_mqtt_load(s->db, cb, arg);
}

void store_sql_close(struct store_sql **sp)
{
    struct store_sql *s = *sp;
    size_t i = 0;

    if (s == NULL)
        return;
    for (i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    store_mqtt_stmts_cleanup(&s->mqtt_st);
    if (s->db != NULL) {
        int rc = sqlite3_close(s->db);

        if (rc != SQLITE_OK)
            fprintf(stderr, "store: close failed: %s (%s)\n",
                    sqlite3_errstr(rc), store_sql_rc_name(rc));
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* after SQLite is done with the file */
    map_cleanup(&s->map);
    free(s->touched);
    free(s->prune);
    free(s->dirty);
    free(s->ids);
    free(s->fts_text);
    free(s->text);
    free(s->chunks);
    free(s->path);
    free(s);
    *sp = NULL;
}

/* ---- publish batches ---------------------------------------------------- */

/* Run a statement that returns no row (reset afterwards). Returns an SQLite
 * code: SQLITE_OK or the failure. */
static int sql_run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Save t's state the first time this transaction touches it. The touched
 * array has room (reserved per transaction). */
static void sql_touch(struct store_sql *s, struct sql_topic *t)
{
    if (t->txn == s->txn)
        return;
    t->txn = s->txn;
    t->saved_id = t->id;
    t->saved_last_seq = t->last_seq;
    t->saved_tail_len = t->tail_len;
    s->touched[s->n_touched++] = t;
}

/* ---- index tails -------------------------------------------------------- */

/* Grow *buf (of *cap elements of size el) to hold at least need. */
static int sql_reserve(void **buf, size_t *cap, size_t need, size_t el)
{
    size_t ncap = *cap == 0 ? 64 : *cap;
    void *p = NULL;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*buf, ncap * el);
    if (p == NULL)
        return -ENOMEM;
    *buf = p;
    *cap = ncap;
    return 0;
}

/* Encode ids[0..n) as "id,id,..." into s->text; *len gets its length. */
static int sql_chunk_encode(struct store_sql *s, const int64_t *ids, size_t n,
                            size_t *len)
{
    size_t at = 0;
    size_t i = 0;

    if (sql_reserve((void **)&s->text, &s->cap_text, n * 21 + 1, 1) != 0)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        char digits[20];
        uint64_t v = (uint64_t)ids[i];
        size_t d = 0;

        if (i > 0)
            s->text[at++] = ',';
        do {
            digits[d++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        while (d > 0)
            s->text[at++] = digits[--d];
    }
    s->text[at] = '\0';
    *len = at;
    return 0;
}

/* Append the ids of an encoded chunk to s->ids. Returns SQLITE_OK,
 * SQLITE_NOMEM, or SQLITE_CORRUPT for text that is not a list of ids. */
static int sql_chunk_decode(struct store_sql *s, const unsigned char *text,
                            size_t len)
{
    size_t i = 0;

    if (text == NULL || len == 0)
        return SQLITE_CORRUPT;
    while (i < len) {
        int64_t v = 0;
        size_t start = i;

        while (i < len && text[i] >= '0' && text[i] <= '9' && v < INT64_MAX / 10)
            v = v * 10 + (text[i++] - '0');
        if (i == start || (i < len && text[i] != ','))
            return SQLITE_CORRUPT;
        i++;
        if (sql_reserve((void **)&s->ids, &s->cap_ids, s->n_ids + 1,
                        sizeof(*s->ids)) != 0)
            return SQLITE_NOMEM;
        s->ids[s->n_ids++] = v;
    }
    return SQLITE_OK;
}

/* Decode column col of st's row as a chunk into s->ids from the start. */
static int sql_chunk_load(struct store_sql *s, sqlite3_stmt *st, int col)
{
    s->n_ids = 0;
    return sql_chunk_decode(s, sqlite3_column_text(st, col),
                            (size_t)sqlite3_column_bytes(st, col));
}

/* Insert chunks for seqs first_seq .. of ids[0..n), at most
 * STORE_SQL_CHUNK_MAX ids each (a read decodes whole chunks). */
static int sql_chunk_put(struct store_sql *s, int64_t topic_id,
                         int64_t first_seq, const int64_t *ids, size_t n)
{
    size_t at = 0;

    while (at < n) {
        sqlite3_stmt *st = s->st[ST_INDEX_PUT];
        size_t k = n - at < STORE_SQL_CHUNK_MAX ? n - at
                                                : STORE_SQL_CHUNK_MAX;
        size_t len = 0;
        int rc = SQLITE_OK;

        if (sql_chunk_encode(s, ids + at, k, &len) != 0)
            return SQLITE_NOMEM;
        sqlite3_bind_int64(st, 1, topic_id);
        sqlite3_bind_int64(st, 2, first_seq + (int64_t)at);
        sqlite3_bind_int64(st, 3, ids[at]);
        sqlite3_bind_text(st, 4, s->text, (int)len, SQLITE_STATIC);
        rc = sql_run(st);
        if (rc != SQLITE_OK)
            return rc;
        at += k;
    }
    return SQLITE_OK;
}

/* Append ids[0..n) to the chunk (topic_id, first_seq); *hit tells whether
 * that chunk still exists (pruning may have deleted or moved it). */
static int sql_chunk_append(struct store_sql *s, int64_t topic_id,
                            int64_t first_seq, const int64_t *ids, size_t n,
                            bool *hit)
{
    sqlite3_stmt *st = s->st[ST_CHUNK_APPEND];
    size_t len = 0;
    int rc = SQLITE_OK;

    *hit = false;
    if (sql_chunk_encode(s, ids, n, &len) != 0)
        return SQLITE_NOMEM;
    sqlite3_bind_int64(st, 1, topic_id);
    sqlite3_bind_int64(st, 2, first_seq);
    sqlite3_bind_text(st, 3, s->text, (int)len, SQLITE_STATIC);
    rc = sql_run(st);
    if (rc == SQLITE_OK)
        *hit = sqlite3_changes(s->db) == 1;
    return rc;
}

/* Write t's first k tail ids (seqs idx_seq + 1 ..) to msg_index: onto the
 * end of its newest chunk while that is small (STORE_SQL_CHUNK_SMALL),
 * the rest as new chunks. t->pend_chunk_* get the newest chunk after it,
 * for sql_index_done. Returns an SQLite code. */
static int sql_chunk_write(struct store_sql *s, struct sql_topic *t, size_t k)
{
    int64_t first = t->idx_seq + 1;
    size_t merged = 0;
    size_t rest = 0;
    size_t last_n = 0;
    bool hit = false;
    int rc = SQLITE_OK;

    t->pend_chunk_seq = t->chunk_seq;
    t->pend_chunk_n = t->chunk_n;
    if (t->chunk_n > 0 && t->chunk_n < STORE_SQL_CHUNK_SMALL &&
        t->chunk_seq + (int64_t)t->chunk_n == first) {
        merged = STORE_SQL_CHUNK_SMALL - t->chunk_n;
        if (merged > k)
            merged = k;
        rc = sql_chunk_append(s, t->id, t->chunk_seq, t->tail, merged, &hit);
        if (rc != SQLITE_OK)
            return rc;
        if (hit)
            t->pend_chunk_n += merged;
        else
            merged = 0;
    }
    if (merged == k)
        return SQLITE_OK;
    rest = k - merged;
    rc = sql_chunk_put(s, t->id, first + (int64_t)merged, t->tail + merged,
                       rest);
    if (rc != SQLITE_OK)
        return rc;
    /* sql_chunk_put cut rest into chunks of STORE_SQL_CHUNK_MAX ids */
    last_n = rest % STORE_SQL_CHUNK_MAX ? rest % STORE_SQL_CHUNK_MAX
                                        : STORE_SQL_CHUNK_MAX;
    t->pend_chunk_seq = first + (int64_t)(k - last_n);
    t->pend_chunk_n = last_n;
    return SQLITE_OK;
}

/* Drop the first k of chunk c's ids (their rows are gone or going): the
 * chunk goes, and what is left of it comes back under its new first seq. */
static int sql_chunk_trim(struct store_sql *s, const struct sql_chunk *c,
                          size_t k)
{
    sqlite3_stmt *st = s->st[ST_CHUNK_DELETE];
    int rc = SQLITE_OK;

    sqlite3_bind_int64(st, 1, c->topic_id);
    sqlite3_bind_int64(st, 2, c->first_seq);
    rc = sql_run(st);
    if (rc != SQLITE_OK || k >= c->n)
        return rc;
    return sql_chunk_put(s, c->topic_id, c->first_seq + (int64_t)k,
                         s->ids + c->off + k, c->n - k);
}

/* Read every chunk st yields into s->chunks (ids into s->ids). Columns:
 * [topic_id,] first_seq, ids; topic_id < 0 reads it from column 0. */
static int sql_chunks_collect(struct store_sql *s, sqlite3_stmt *st,
                              int64_t topic_id)
{
    int col = topic_id < 0 ? 1 : 0;
    int rc = SQLITE_OK;

    s->n_chunks = 0;
    s->n_ids = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct sql_chunk *c = NULL;

        if (sql_reserve((void **)&s->chunks, &s->cap_chunks,
                        s->n_chunks + 1, sizeof(*s->chunks)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        c = &s->chunks[s->n_chunks];
        c->topic_id = topic_id < 0 ? sqlite3_column_int64(st, 0) : topic_id;
        c->first_seq = sqlite3_column_int64(st, col);
        c->off = s->n_ids;
        rc = sql_chunk_decode(s, sqlite3_column_text(st, col + 1),
                              (size_t)sqlite3_column_bytes(st, col + 1));
        if (rc != SQLITE_OK)
            break;
        c->n = s->n_ids - c->off;
        s->n_chunks++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* How many of t's tail ids are <= upto (ids grow along the tail). */
static size_t sql_tail_upto(const struct sql_topic *t, int64_t upto)
{
    size_t k = 0;

    while (k < t->tail_len && t->tail[k] <= upto)
        k++;
    return k;
}

/*
 * Inside the open transaction, write to msg_index at most `budget` tail
 * ids of at most `max_topics` topics, only ids <= upto, each topic's from
 * the start of its tail, and move topics.last_seq and log_state with them.
 * Records per topic how many it wrote (flush_n) and the new watermark
 * (pending_upto); sql_index_done applies them once the transaction
 * commits, sql_index_undo forgets them if it does not. *more tells whether
 * ids <= upto are left. Returns an SQLite code.
 */
static int sql_index_write(struct store_sql *s, int64_t upto, size_t budget,
                           size_t max_topics, bool *more)
{
    int64_t first_left = INT64_MAX;
    size_t topics = 0;
    size_t i = 0;
    int rc = SQLITE_OK;

    *more = false;
    if (s->fail_index > 0) {
        s->fail_index--;
        fprintf(stderr, "store: index write failed: injected fault (test "
                "hook)\n");
        return SQLITE_IOERR;
    }
    for (i = 0; i < s->n_dirty; i++) {
        struct sql_topic *t = s->dirty[i];
        size_t k = budget > 0 && topics < max_topics ? sql_tail_upto(t, upto)
                                                     : 0;

        if (k > budget)
            k = budget;
        if (k > 0) {
            sqlite3_stmt *st = s->st[ST_TOPIC_UPDATE];

            rc = sql_chunk_write(s, t, k);
            if (rc != SQLITE_OK)
                return rc;

            sqlite3_bind_int64(st, 1, t->id);
            sqlite3_bind_int64(st, 2, t->idx_seq + (int64_t)k);
            rc = sql_run(st);
            if (rc != SQLITE_OK)
                return rc;
            topics++;
            budget -= k;
        }
        t->flush_n = k;
        if (k < t->tail_len) {
            if (t->tail[k] < first_left)
                first_left = t->tail[k];
            if (t->tail[k] <= upto)
                *more = true;
        }
    }
    s->pending_upto = first_left == INT64_MAX ? s->last_id : first_left - 1;
    if (s->pending_upto != s->indexed_upto) {
        sqlite3_bind_int64(s->st[ST_STATE_PUT], 1, s->pending_upto);
        rc = sql_run(s->st[ST_STATE_PUT]);
    }
    return rc;
}

/* The index write committed: drop the written ids from the tails, mark
 * those topics for count pruning, take empty tails off the dirty list. */
static void sql_index_done(struct store_sql *s)
{
    size_t i = 0, keep = 0;

    for (i = 0; i < s->n_dirty; i++) {
        struct sql_topic *t = s->dirty[i];

        if (t->flush_n > 0) {
            t->tail_len -= t->flush_n;
            memmove(t->tail, t->tail + t->flush_n,
                    t->tail_len * sizeof(*t->tail));
            t->idx_seq += (int64_t)t->flush_n;
            t->chunk_seq = t->pend_chunk_seq;
            t->chunk_n = t->pend_chunk_n;
            s->n_unindexed -= t->flush_n;
            t->flush_n = 0;
            sql_prune_mark(s, t);
        }
        if (t->tail_len == 0) {
            t->dirty = false;
            /* A topic quiet for a cycle gives its memory back. */
            free(t->tail);
            t->tail = NULL;
            t->tail_cap = 0;
        } else {
            s->dirty[keep++] = t;
        }
    }
    s->n_dirty = keep;
    s->indexed_upto = s->pending_upto;
}

/* The index write rolled back: the tails stay as they were. */
static void sql_index_undo(struct store_sql *s)
{
    size_t i = 0;

    for (i = 0; i < s->n_dirty; i++)
        s->dirty[i]->flush_n = 0;
}

/* ---- chat: edits and deletions (#16) ------------------------------------ */

static int64_t sql_tail_id(const struct sql_topic *t, int64_t seq);

/* The messages.id of t's seq into *id (0: not stored, e.g. never written
 * or pruned from the index). Uses the chunk scratch (s->ids). Returns an
 * SQLite code. */
static int sql_seq_id(struct store_sql *s, const struct sql_topic *t,
                      int64_t seq, int64_t *id)
{
    sqlite3_stmt *st = s->st[ST_AFTER];
    int rc = SQLITE_OK;

    *id = 0;
    if (t->id == 0 || seq < 1 || seq > t->last_seq)
        return SQLITE_OK;
    if (seq > t->idx_seq) {
        *id = sql_tail_id(t, seq);
        return SQLITE_OK;
    }
    /* The chunk holding seq: ST_AFTER from seq up to seq. */
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t first = sqlite3_column_int64(st, 0);

        rc = sql_chunk_load(s, st, 1);
        if (rc == SQLITE_OK && seq >= first &&
            (uint64_t)(seq - first) < s->n_ids)
            *id = s->ids[seq - first];
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/*
 * An edit or deletion of seq by `from`: may it be stored? Returns an
 * SQLite code; on SQLITE_OK, *err is 0 (go ahead, *target_id names the
 * row) or the protocol error the job gets: bad_request when the target
 * is not stored or is itself an edit, a deletion or deleted; forbidden
 * when someone else wrote it.
 */
static int sql_chat_check(struct store_sql *s, const struct sql_topic *t,
                          int64_t seq, const char *from, int *err,
                          int64_t *target_id)
{
    sqlite3_stmt *st = s->st[ST_TARGET];
    int64_t id = 0;
    int rc = sql_seq_id(s, t, seq, &id);

    *err = PL_ERR_BAD_REQUEST;
    if (rc != SQLITE_OK || id == 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *sender = (const char *)sqlite3_column_text(st, 0);

        if (sqlite3_column_int(st, 1) != 0)
            *err = PL_ERR_BAD_REQUEST;
        else if (sender == NULL || strcmp(sender, from) != 0)
            *err = PL_ERR_FORBIDDEN;
        else
            *err = 0;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK; /* pruned by age: as good as never stored */
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *target_id = id;
    return rc;
}

/* A deletion of the row target_id (seq of t) is being stored: erase its
 * data and its edits' data, and drop it from retained if it is there. */
static int sql_chat_redact(struct store_sql *s, const struct sql_topic *t,
                           int64_t seq, int64_t target_id,
                           struct store_job *job)
{
    sqlite3_stmt *st = s->st[ST_REDACT_ID];
    int rc = SQLITE_OK;

    sqlite3_bind_int64(st, 1, target_id);
    rc = sql_run(st);
    if (rc != SQLITE_OK)
        return rc;
    st = s->st[ST_REDACT_EDITS];
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, seq);
    rc = sql_run(st);
    if (rc != SQLITE_OK)
        return rc;
    st = s->st[ST_RETAINED_CLEAR_SEQ];
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, seq);
    rc = sql_run(st);
    job->redacted_retained = rc == SQLITE_OK && sqlite3_changes(s->db) > 0;
    return rc;
}

/* Bind a chat relation: NULL when 0 (none). */
static void sql_bind_ref(sqlite3_stmt *st, int col, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(st, col, v);
    else
        sqlite3_bind_null(st, col);
}

/* Add (put) or take out (del) row id's text, from its data, in msg_fts.
 * Data without strings has no entry. */
static int sql_fts(struct store_sql *s, enum sql_stmt which, int64_t id,
                   const char *data, int data_len)
{
    sqlite3_stmt *st = s->st[which];
    size_t n = 0;

    if (data == NULL || data_len <= 0)
        return SQLITE_OK;
    if (sql_reserve((void **)&s->fts_text, &s->cap_fts_text,
                    (size_t)data_len, 1) != 0)
        return SQLITE_NOMEM;
    n = pl_json_strings(data, (size_t)data_len, s->fts_text);
    if (n == 0)
        return SQLITE_OK;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, s->fts_text, (int)n, SQLITE_STATIC);
    return sql_run(st);
}

/* An edit or deletion of t's seq (row target_id) is being stored: take
 * the seq's indexed version (its newest edit, else itself) out of
 * msg_fts. */
static int sql_fts_unindex(struct store_sql *s, const struct sql_topic *t,
                           int64_t seq, int64_t target_id)
{
    sqlite3_stmt *st = s->st[ST_FTS_LATEST];
    int rc = SQLITE_OK;

    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        st = s->st[ST_ROW_BY_ID];
        sqlite3_bind_int64(st, 1, target_id);
        rc = sqlite3_step(st);
    }
    /* The catch-up must now check which version is the latest. */
    s->fts_edited = true;
    if (rc == SQLITE_ROW) {
        int col = st == s->st[ST_ROW_BY_ID] ? 3 : 1;
        int64_t id = st == s->st[ST_ROW_BY_ID] ? target_id
                                                : sqlite3_column_int64(st, 0);

        /* Above fts_upto it has no entry yet, and will get none. */
        rc = id > s->fts_upto
                 ? SQLITE_OK
                 : sql_fts(s, ST_FTS_DEL, id,
                           (const char *)sqlite3_column_text(st, col),
                           sqlite3_column_bytes(st, col));
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/*
 * Inside the open transaction, give msg_fts the messages stored since
 * fts_upto: each one's latest version, unless deleted. A commit of 20
 * messages and one of 256 each write a new FTS5 segment (a few pages: its
 * leaf, its msg_fts_idx entry, the structure record), so indexing in bulk
 * writes a fraction of the bytes per message (docs/benchmarks.md). An
 * edit or a deletion of an indexed version takes it out at once
 * (sql_fts_unindex); one of a version above fts_upto leaves nothing to
 * take out, and this skips the replaced or deleted version instead.
 */
static int sql_fts_catch_up(struct store_sql *s)
{
    sqlite3_stmt *st = s->st[ST_FTS_SCAN];
    int rc = SQLITE_OK;

    if (s->no_fts || s->fts_upto >= s->last_id)
        return SQLITE_OK;
    sqlite3_bind_int64(st, 1, s->fts_upto);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        bool newer = false;

        if (s->fts_edited) {
            sqlite3_stmt *q = s->st[ST_FTS_NEWER];

            sqlite3_bind_int64(q, 1, sqlite3_column_int64(st, 1));
            sqlite3_bind_int64(q, 2, sqlite3_column_int64(st, 2));
            sqlite3_bind_int64(q, 3, id);
            rc = sqlite3_step(q);
            newer = rc == SQLITE_ROW;
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                break;
        }
        rc = newer ? SQLITE_OK
                   : sql_fts(s, ST_FTS_PUT, id,
                             (const char *)sqlite3_column_text(st, 3),
                             sqlite3_column_bytes(st, 3));
        if (rc != SQLITE_OK)
            break;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    st = s->st[ST_FTS_UPTO_PUT];
    sqlite3_bind_int64(st, 1, s->last_id);
    rc = sql_run(st);
    if (rc == SQLITE_OK)
        s->fts_upto = s->last_id; /* the caller restores it on rollback */
    return rc;
}

/* In a transaction of its own: catch msg_fts up. Returns an SQLite code. */
static int sql_fts_catch_up_txn(struct store_sql *s)
{
    int rc = SQLITE_OK;

    if (s->no_fts || s->fts_upto >= s->last_id)
        return SQLITE_OK;
    s->saved_fts_upto = s->fts_upto;
    rc = sql_run(s->st[ST_BEGIN]);
    if (rc == SQLITE_OK)
        rc = sql_fts_catch_up(s);
    if (rc == SQLITE_OK)
        rc = sql_run(s->st[ST_COMMIT]);
    if (rc == SQLITE_OK) {
        s->fts_edited = false;
        return SQLITE_OK;
    }
    if (!sqlite3_get_autocommit(s->db))
        sql_run(s->st[ST_ROLLBACK]);
    s->fts_upto = s->saved_fts_upto;
    return rc;
}

/* At open: read fts_upto and index what the last run left (after 007,
 * the whole log: the rebuild says so). Returns 0 or sets *err. */
static int sql_fts_open(struct store_sql *s, char **err)
{
    int rc = sql_query_int(s, "SELECT fts_upto FROM log_state",
                           &s->fts_upto);

    /* Never hand out an id the index claims to cover already. */
    if (s->fts_upto > s->last_id)
        s->last_id = s->fts_upto;
    if (rc == SQLITE_OK && s->fts_upto < s->last_id && !s->no_fts) {
        /* Unknown: the crashed run may have stored edits up there. */
        s->fts_edited = true;
        if (s->fts_upto == 0)
            fprintf(stderr, "store: %s: building the search index over the "
                    "stored messages (ids up to %" PRId64 "); an interrupted "
                    "build is redone at the next start\n", s->path,
                    s->last_id);
        rc = sql_fts_catch_up_txn(s);
    }
    if (rc != SQLITE_OK) {
        *err = sql_open_error(s, "building the search index", rc);
        return -1;
    }
    return 0;
}

/* The message's exact MQTT payload, or NULL (nearly always: no bytes). */
static void sql_bind_raw(sqlite3_stmt *st, int col, const struct store_job *job)
{
    if (job->raw != NULL && job->raw_len > 0)
        sqlite3_bind_blob(st, col, job->raw, (int)job->raw_len,
                          SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

/* Store one PUB inside the open transaction. Returns an SQLite code; on
 * success *stored tells whether a message row was added (an edit or a
 * deletion that may not be stored sets job->err instead). */
static int sql_pub(struct store_sql *s, struct store_job *job, bool *stored)
{
    struct sql_topic *t = map_get(&s->map, job->topic);
    const char *from = job->from != NULL ? job->from : "";
    const char *data = job->data != NULL ? job->data : "null";
    size_t data_len = job->data != NULL ? job->data_len : 4;
    sqlite3_stmt *st = NULL;
    int64_t seq = 0;
    int64_t target = job->edit_of > 0 ? job->edit_of : job->redacts;
    int64_t target_id = 0;
    int rc = SQLITE_OK;

    *stored = false;
    if (t == NULL) {
        t = map_add(&s->map, job->topic, 0, 0);
        if (t == NULL)
            return SQLITE_NOMEM;
    }
    sql_touch(s, t);

    if (target > 0) {
        int err = 0;

        rc = sql_chat_check(s, t, target, from, &err, &target_id);
        if (rc != SQLITE_OK)
            return rc;
        if (err != 0) {
            job->err = err;
            return SQLITE_OK;
        }
        if (!s->no_fts) {
            rc = sql_fts_unindex(s, t, target, target_id);
            if (rc != SQLITE_OK)
                return rc;
        }
    }

    /* An MQTT QoS 2 retry of a message stored and not released. */
    if (job->qos2_client != NULL) {
        rc = store_mqtt_qos2_find(s->db, &s->mqtt_st, job->qos2_client,
                                  job->qos2_id, &seq);
        if (rc == SQLITE_ROW) {
            job->seq = seq;
            job->duplicate = true;
            return SQLITE_OK;
        }
        if (rc != SQLITE_DONE)
            return rc;
    }

    if (job->key != NULL && t->id != 0) {
        st = s->st[ST_DEDUPE_FIND];
        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_text(st, 2, job->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, job->ts - s->window_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            seq = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return rc;
        if (rc == SQLITE_ROW) {
            job->seq = seq;
            job->duplicate = true;
            return SQLITE_OK;
        }
    }

    if (t->id == 0) {
        st = s->st[ST_TOPIC_INSERT];
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        rc = sql_run(st);
        if (rc != SQLITE_OK)
            return rc;
        t->id = sqlite3_last_insert_rowid(s->db);
    }
    seq = t->last_seq + 1;

    st = s->st[ST_MSG_INSERT];
    sqlite3_bind_int64(st, 6, s->last_id + 1);
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, job->ts);
    sqlite3_bind_text(st, 4, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, data, (int)data_len, SQLITE_STATIC);
    sql_bind_ref(st, 7, job->edit_of);
    sql_bind_ref(st, 8, job->redacts);
    sql_bind_ref(st, 9, job->reply_to);
    sql_bind_raw(st, 10, job);
    rc = sql_run(st);
    if (rc != SQLITE_OK)
        return rc;
    if (job->redacts > 0) {
        rc = sql_chat_redact(s, t, job->redacts, target_id, job);
        if (rc != SQLITE_OK)
            return rc;
    }
    /* Rolled back with the transaction (saved_tail_len, saved_last_id). */
    if (sql_tail_push(s, t, s->last_id + 1) != 0)
        return SQLITE_NOMEM;
    s->last_id++;

    if (job->key != NULL) {
        st = s->st[ST_DEDUPE_PUT];
        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_text(st, 2, job->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, seq);
        sqlite3_bind_int64(st, 4, job->ts);
        rc = sql_run(st);
        if (rc != SQLITE_OK)
            return rc;
    }

    /* In this transaction: the message and its QoS 2 id, or neither. */
    if (job->qos2_client != NULL) {
        rc = store_mqtt_qos2_put(s->db, &s->mqtt_st, job->qos2_client,
                                 job->qos2_id, t->name, seq);
        if (rc != SQLITE_OK)
            return rc;
    }

    if (job->retain && job->data_is_null) {
        st = s->st[ST_RETAINED_CLEAR];
        sqlite3_bind_int64(st, 1, t->id);
        rc = sql_run(st);
    } else if (job->retain) {
        st = s->st[ST_RETAINED_SET];
        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_int64(st, 2, seq);
        sqlite3_bind_int64(st, 3, job->ts);
        sqlite3_bind_text(st, 4, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, data, (int)data_len, SQLITE_STATIC);
        sql_bind_raw(st, 6, job);
        rc = sql_run(st);
    }
    if (rc != SQLITE_OK)
        return rc;

    t->last_seq = seq;
    job->seq = seq;
    job->duplicate = false;
    *stored = true;
    return SQLITE_OK;
}

/* ---- chat: read markers (#16) ------------------------------------------ */

/* user's marker in t into *seq (0: none). Returns an SQLite code. */
static int sql_mark_get(struct store_sql *s, const struct sql_topic *t,
                        const char *user, int64_t *seq)
{
    sqlite3_stmt *st = s->st[ST_MARK_GET];
    int rc = SQLITE_OK;

    *seq = 0;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One MARK inside the open transaction: the marker moves up to
 * min(mark_seq, last_seq), never back. job->seq gets the marker after it,
 * job->duplicate whether it stayed. A topic with nothing stored is
 * bad_request. Returns an SQLite code. */
static int sql_mark(struct store_sql *s, struct store_job *job)
{
    struct sql_topic *t = map_get(&s->map, job->topic);
    const char *user = job->from != NULL ? job->from : "";
    int64_t want = job->mark_seq;
    int64_t old = 0;
    sqlite3_stmt *st = s->st[ST_MARK_PUT];
    int rc = SQLITE_OK;

    if (t == NULL || t->id == 0) {
        job->err = PL_ERR_BAD_REQUEST;
        return SQLITE_OK;
    }
    if (want > t->last_seq)
        want = t->last_seq;
    rc = sql_mark_get(s, t, user, &old);
    if (rc != SQLITE_OK)
        return rc;
    job->seq = old > want ? old : want;
    job->duplicate = job->seq == old;
    if (job->duplicate)
        return SQLITE_OK;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, t->id);
    sqlite3_bind_int64(st, 3, job->seq);
    return sql_run(st);
}

/* Count row id toward m when it is unread for user. Returns an SQLite
 * code. */
static int sql_unread_one(struct store_sql *s, int64_t id, const char *user,
                          struct store_mark *m)
{
    sqlite3_stmt *st = s->st[ST_UNREAD_ROW];
    int rc = SQLITE_OK;

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0)
        m->unread++;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Fill m for t and user: the marker, and the unread rows after it, the
 * indexed ones chunk by chunk, then the tail's. Counting stops at
 * STORE_UNREAD_MAX unread (or 8 times as many rows looked at). */
static int sql_unread_topic(struct store_sql *s, const struct sql_topic *t,
                            const char *user, struct store_mark *m)
{
    int64_t hi = t->last_seq < t->idx_seq ? t->last_seq : t->idx_seq;
    int64_t budget = 8 * STORE_UNREAD_MAX;
    int64_t seq = 0;
    int rc = sql_mark_get(s, t, user, &m->marked);

    m->seq = t->last_seq;
    if (rc != SQLITE_OK)
        return rc;
    seq = m->marked + 1;
    if (m->marked < hi) {
        sqlite3_stmt *st = s->st[ST_AFTER];

        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_int64(st, 2, m->marked + 1);
        sqlite3_bind_int64(st, 3, hi);
        while (budget > 0 && m->unread < STORE_UNREAD_MAX &&
               (rc = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t first = sqlite3_column_int64(st, 0);

            rc = sql_chunk_load(s, st, 1);
            for (size_t j = 0; rc == SQLITE_OK && j < s->n_ids; j++) {
                seq = first + (int64_t)j;
                if (seq <= m->marked || seq > hi)
                    continue;
                if (budget-- <= 0 || m->unread >= STORE_UNREAD_MAX)
                    break;
                rc = sql_unread_one(s, s->ids[j], user, m);
            }
            if (rc != SQLITE_OK)
                break;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK)
            return rc;
        rc = SQLITE_OK;
        seq = hi + 1;
    }
    if (seq <= t->idx_seq)
        seq = t->idx_seq + 1;
    for (; rc == SQLITE_OK && seq <= t->last_seq && budget > 0 &&
           m->unread < STORE_UNREAD_MAX; seq++, budget--)
        rc = sql_unread_one(s, sql_tail_id(t, seq), user, m);
    m->more = m->unread >= STORE_UNREAD_MAX || budget <= 0;
    return rc;
}

/* ---- chat: search (#16) ------------------------------------------------ */

/* Whether a byte may start or be part of a token (unicode61 sees every
 * non-ASCII byte as part of a possible letter). */
static bool sql_fts_tokenish(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* Append term q[0..n) as an FTS5 string (no '"' inside: the caller cut
 * there), with '*' after it for a prefix, unless it holds no token. */
static size_t sql_fts_term(char *out, size_t k, const char *q, size_t n,
                           bool prefix)
{
    bool any = false;

    for (size_t i = 0; i < n && !any; i++)
        any = sql_fts_tokenish((unsigned char)q[i]);
    if (!any)
        return k;
    if (k > 0)
        out[k++] = ' ';
    out[k++] = '"';
    memcpy(out + k, q, n);
    k += n;
    out[k++] = '"';
    if (prefix)
        out[k++] = '*';
    return k;
}

/*
 * The client's q as an FTS5 query: "phrases" stay phrases, word* is a
 * prefix, every other word a plain term, all of them required. Each term
 * is quoted, so FTS5's own operators (AND, NEAR, column:, ^) are only
 * words. out has room for 3 * strlen(q) + 1 bytes. Returns its length;
 * 0 when q holds no word.
 */
static size_t sql_fts_query(const char *q, char *out)
{
    size_t k = 0;

    while (*q != '\0') {
        size_t n = 0;

        if (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') {
            q++;
        } else if (*q == '"') {
            q++;
            while (q[n] != '\0' && q[n] != '"')
                n++;
            k = sql_fts_term(out, k, q, n, false);
            q += q[n] == '"' ? n + 1 : n;
        } else {
            while (q[n] != '\0' && q[n] != '"' && q[n] != ' ' &&
                   q[n] != '\t' && q[n] != '\n' && q[n] != '\r')
                n++;
            if (n > 1 && q[n - 1] == '*')
                k = sql_fts_term(out, k, q, n - 1, true);
            else
                k = sql_fts_term(out, k, q, n, false);
            q += n;
        }
    }
    out[k] = '\0';
    return k;
}

static int sql_add_row(struct store_job *job, sqlite3_stmt *st, size_t *cap);
static void sql_drop_rows(struct store_job *job);

/* SEARCH: newest first, looking at most at STORE_SEARCH_SCAN matches
 * (those of other topics and newer than `before` included). */
static void sql_search(struct store_sql *s, struct store_job *job)
{
    sqlite3_stmt *st = s->st[ST_SEARCH];
    char *fq = malloc(3 * strlen(job->query) + 1);
    size_t cap = 0;
    int scanned = 0;
    int rc = SQLITE_OK;

    if (fq == NULL) {
        job->err = PL_ERR_INTERNAL;
        return;
    }
    if (sql_fts_query(job->query, fq) == 0) {
        free(fq);
        job->err = PL_ERR_BAD_REQUEST;
        return;
    }
    /* Messages stored since the last catch-up are found too. */
    rc = sql_fts_catch_up_txn(s);
    if (rc != SQLITE_OK) {
        free(fq);
        sql_log(s, "search index", rc);
        job->err = PL_ERR_INTERNAL;
        return;
    }
    sqlite3_bind_text(st, 1, fq, -1, SQLITE_STATIC);
    while (job->n_rows < (size_t)job->limit &&
           scanned++ < STORE_SEARCH_SCAN &&
           (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 9);

        if (name == NULL || !store_job_allows(job, name))
            continue;
        if (job->before > 0 && sqlite3_column_int64(st, 1) >= job->before)
            continue;
        if (sql_add_row(job, st, &cap) != 0 ||
            (job->rows[job->n_rows - 1].topic = strdup(name)) == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(fq);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK) {
        sql_log(s, "search", rc);
        sql_drop_rows(job);
        job->err = PL_ERR_INTERNAL;
    }
}

/* UNREAD: every topic of job->marks (one not stored reads all zeros). */
static void sql_unread(struct store_sql *s, struct store_job *job)
{
    const char *user = job->from != NULL ? job->from : "";
    int rc = SQLITE_OK;

    for (size_t i = 0; rc == SQLITE_OK && i < job->n_marks; i++) {
        struct sql_topic *t = map_get(&s->map, job->marks[i].topic);

        if (t != NULL && t->id != 0)
            rc = sql_unread_topic(s, t, user, &job->marks[i]);
    }
    if (rc != SQLITE_OK) {
        sql_log(s, "unread", rc);
        job->err = PL_ERR_INTERNAL;
    }
}

/* Run jobs[0..n) (n <= STORE_SQL_MAX_BATCH) in one transaction. Returns 0
 * when it committed, else -PL_ERR_INTERNAL with every job failed. */
static int sql_pub_txn(struct store_sql *s, struct store_job **jobs, size_t n,
                       bool (*inject_fail)(void *arg), void *inject_arg,
                       uint64_t *rows)
{
    const char *what = "begin";
    bool index_written = false;
    uint64_t stored_rows = 0;
    size_t i = 0;
    int rc = SQLITE_OK;

    if (s->cap_touched < n) {
        struct sql_topic **p = realloc(s->touched, n * sizeof(*p));

        if (p == NULL) {
            fprintf(stderr, "store: batch failed: out of memory\n");
            goto fail_jobs;
        }
        s->touched = p;
        s->cap_touched = n;
    }
    s->n_touched = 0;
    s->txn++;
    s->saved_last_id = s->last_id;
    s->saved_fts_upto = s->fts_upto;

    rc = sql_run(s->st[ST_BEGIN]);
    if (rc != SQLITE_OK)
        goto fail;
    /* The tails are full: index everything first, in this transaction, so
     * that if the index cannot be written these publishes fail rather
     * than the tails growing past their bound. */
    if (s->n_unindexed + n > s->tail_max) {
        bool more = false;

        what = "index write";
        index_written = true;
        rc = sql_index_write(s, INT64_MAX, SIZE_MAX, SIZE_MAX, &more);
        if (rc != SQLITE_OK)
            goto fail;
    }
    what = "insert";
    for (i = 0; i < n; i++) {
        bool stored = false;

        if (jobs[i]->kind == STORE_JOB_MARK)
            rc = sql_mark(s, jobs[i]);
        else if (jobs[i]->kind == STORE_JOB_MQTT)
            rc = jobs[i]->mqtt != NULL ? store_mqtt_write(s->db, jobs[i]->mqtt)
                                       : SQLITE_OK;
        else
            rc = sql_pub(s, jobs[i], &stored);
        if (rc != SQLITE_OK)
            goto fail;
        stored_rows += stored ? 1 : 0;
    }
    if (s->last_id - s->fts_upto >= STORE_SQL_FTS_BATCH) {
        what = "search index";
        rc = sql_fts_catch_up(s);
        if (rc != SQLITE_OK)
            goto fail;
    }
    what = "commit";
    if (inject_fail != NULL && inject_fail(inject_arg)) {
        fprintf(stderr, "store: commit failed: injected fault (test hook)\n");
        rc = SQLITE_OK;
        goto rollback;
    }
    rc = sql_run(s->st[ST_COMMIT]);
    if (rc != SQLITE_OK)
        goto fail;
    if (index_written)
        sql_index_done(s);
    if (s->fts_upto != s->saved_fts_upto)
        s->fts_edited = false;
    s->n_touched = 0;
    *rows += stored_rows;
    return 0;

fail:
    sql_log(s, what, rc);
rollback:
    if (!sqlite3_get_autocommit(s->db)) {
        rc = sql_run(s->st[ST_ROLLBACK]);
        if (rc != SQLITE_OK)
            sql_log(s, "rollback", rc);
    }
    for (i = 0; i < s->n_touched; i++) {
        struct sql_topic *t = s->touched[i];

        s->n_unindexed -= t->tail_len - t->saved_tail_len;
        t->tail_len = t->saved_tail_len;
        t->id = t->saved_id;
        t->last_seq = t->saved_last_seq;
    }
    if (index_written)
        sql_index_undo(s);
    s->last_id = s->saved_last_id;
    s->fts_upto = s->saved_fts_upto;
    s->n_touched = 0;
fail_jobs:
    for (i = 0; i < n; i++) {
        jobs[i]->err = PL_ERR_INTERNAL;
        jobs[i]->seq = 0;
        jobs[i]->duplicate = false;
    }
    return -PL_ERR_INTERNAL;
}

int store_sql_run_pubs(struct store_sql *s, struct store_job **jobs,
                       size_t n, bool (*inject_fail)(void *arg),
                       void *inject_arg, uint64_t *batches, uint64_t *rows,
                       uint64_t *errors)
{
    int ret = 0;
    size_t off = 0;

    while (off < n) {
        size_t len = n - off;

        if (len > STORE_SQL_MAX_BATCH)
            len = STORE_SQL_MAX_BATCH;
        if (sql_pub_txn(s, jobs + off, len, inject_fail, inject_arg,
                        rows) == 0) {
            (*batches)++;
        } else {
            (*errors)++;
            ret = -PL_ERR_INTERNAL;
        }
        off += len;
    }
    return ret;
}

/* ---- reads -------------------------------------------------------------- */

/* Append the current row of st (seq, ts, sender, data, edit_of, redacts,
 * reply_to, redacted, raw) to job->rows. Returns 0 or -ENOMEM. */
static int sql_add_row(struct store_job *job, sqlite3_stmt *st, size_t *cap)
{
    struct store_row *row = NULL;
    const char *from = (const char *)sqlite3_column_text(st, 2);
    const char *data = NULL;
    size_t data_len = 0;

    if (job->n_rows == *cap) {
        size_t ncap = *cap == 0 ? 16 : *cap * 2;
        struct store_row *p = realloc(job->rows, ncap * sizeof(*p));

        if (p == NULL)
            return -ENOMEM;
        job->rows = p;
        *cap = ncap;
    }
    row = &job->rows[job->n_rows];
    memset(row, 0, sizeof(*row));
    row->seq = sqlite3_column_int64(st, 0);
    row->ts = sqlite3_column_int64(st, 1);
    row->from = strdup(from != NULL ? from : "");
    data = (const char *)sqlite3_column_text(st, 3);
    data_len = (size_t)sqlite3_column_bytes(st, 3);
    row->data = malloc(data_len + 1);
    if (row->from == NULL || row->data == NULL) {
        free(row->from);
        free(row->data);
        return -ENOMEM;
    }
    if (data_len > 0)
        memcpy(row->data, data, data_len);
    row->data[data_len] = '\0';
    row->data_len = data_len;
    row->edit_of = sqlite3_column_int64(st, 4);   /* NULL reads as 0 */
    row->redacts = sqlite3_column_int64(st, 5);
    row->reply_to = sqlite3_column_int64(st, 6);
    row->redacted = sqlite3_column_int(st, 7) != 0;
    if (sqlite3_column_type(st, 8) == SQLITE_BLOB &&
        sqlite3_column_bytes(st, 8) > 0) {
        size_t n = (size_t)sqlite3_column_bytes(st, 8);

        row->raw = malloc(n);
        if (row->raw == NULL) {
            free(row->from);
            free(row->data);
            return -ENOMEM;
        }
        memcpy(row->raw, sqlite3_column_blob(st, 8), n);
        row->raw_len = n;
    }
    job->n_rows++;
    return 0;
}

/* Free the rows of a job (after a failed read). */
static void sql_drop_rows(struct store_job *job)
{
    size_t i = 0;

    for (i = 0; i < job->n_rows; i++) {
        free(job->rows[i].from);
        free(job->rows[i].data);
        free(job->rows[i].topic);
        free(job->rows[i].raw);
    }
    free(job->rows);
    job->rows = NULL;
    job->n_rows = 0;
}

/* Append the row with this messages.id to job->rows. Returns an SQLite
 * code. */
static int sql_add_id_row(struct store_sql *s, int64_t id,
                          struct store_job *job, size_t *cap)
{
    sqlite3_stmt *st = s->st[ST_ROW_BY_ID];
    int rc = SQLITE_OK;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = sql_add_row(job, st, cap) == 0 ? SQLITE_OK : SQLITE_NOMEM;
    else if (rc == SQLITE_DONE)
        rc = SQLITE_OK;  /* pruned by age out of ts order (see there) */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Append the rows with ids first..first+n-1 (n >= 1), in id order. A
 * missing id (pruned by age) is skipped as sql_add_id_row does. */
static int sql_add_id_run(struct store_sql *s, int64_t first, size_t n,
                          struct store_job *job, size_t *cap)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;

    if (n == 1)
        return sql_add_id_row(s, first, job, cap);
    st = s->st[ST_ROWS_BY_ID_RANGE];
    sqlite3_bind_int64(st, 1, first);
    sqlite3_bind_int64(st, 2, first + (int64_t)n - 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sql_add_row(job, st, cap) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* How many of ids[0..n) from the start are consecutive (ids[i] ==
 * ids[0] + i), at most max. */
static size_t sql_id_run(const int64_t *ids, size_t n, size_t max)
{
    size_t k = 1;

    while (k < n && k < max && ids[k] == ids[0] + (int64_t)k)
        k++;
    return k;
}

/* t's tail id of a seq in idx_seq < seq <= last_seq. */
static int64_t sql_tail_id(const struct sql_topic *t, int64_t seq)
{
    return t->tail[seq - t->idx_seq - 1];
}

/* Add the rows of seqs lo..hi listed by the chunks st yields (bound and
 * ready to step), in the order it yields them, each chunk read from its
 * end when `down`, until job has its limit. Returns an SQLite code. */
static int sql_read_chunks(struct store_sql *s, sqlite3_stmt *st, int64_t lo,
                           int64_t hi, bool down, struct store_job *job,
                           size_t *cap)
{
    size_t limit = (size_t)job->limit;
    int rc = SQLITE_OK;

    while (job->n_rows < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t first = sqlite3_column_int64(st, 0);
        size_t i = 0;

        rc = sql_chunk_load(s, st, 1);
        for (i = 0; rc == SQLITE_OK && !down && i < s->n_ids &&
                    job->n_rows < limit;) {
            int64_t seq = first + (int64_t)i;
            size_t run = 1;

            if (seq >= lo && seq <= hi) {
                size_t room = limit - job->n_rows;
                size_t upto = (size_t)(hi - seq) + 1;

                run = sql_id_run(&s->ids[i], s->n_ids - i,
                                 room < upto ? room : upto);
                rc = sql_add_id_run(s, s->ids[i], run, job, cap);
            }
            i += run;
        }
        for (i = 0; rc == SQLITE_OK && down && i < s->n_ids &&
                    job->n_rows < limit; i++) {
            size_t j = s->n_ids - 1 - i;
            int64_t seq = first + (int64_t)j;

            if (seq >= lo && seq <= hi)
                rc = sql_add_id_row(s, s->ids[j], job, cap);
        }
        if (rc != SQLITE_OK)
            break;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* AFTER: ascending, first the indexed seqs (chunk by chunk), then the
 * tail's. */
static int sql_read_after(struct store_sql *s, const struct sql_topic *t,
                          struct store_job *job, size_t *cap)
{
    int64_t upto = job->upto < t->last_seq ? job->upto : t->last_seq;
    int64_t hi = upto < t->idx_seq ? upto : t->idx_seq;
    size_t limit = (size_t)job->limit;
    int64_t seq = job->after + 1;
    int rc = SQLITE_OK;

    if (job->after < hi) {
        sqlite3_stmt *st = s->st[ST_AFTER];

        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_int64(st, 2, job->after + 1);
        sqlite3_bind_int64(st, 3, hi);
        rc = sql_read_chunks(s, st, job->after + 1, hi, false, job, cap);
    }
    if (seq <= t->idx_seq)
        seq = t->idx_seq + 1;
    while (rc == SQLITE_OK && seq <= upto && job->n_rows < limit) {
        size_t room = limit - job->n_rows;
        size_t left = (size_t)(upto - seq) + 1;
        size_t run = sql_id_run(&t->tail[seq - t->idx_seq - 1], left,
                                room);

        rc = sql_add_id_run(s, sql_tail_id(t, seq), run, job, cap);
        seq += (int64_t)run;
    }
    return rc;
}

/* BEFORE: descending (reversed by the caller), first the tail's seqs,
 * then the indexed ones, chunk by chunk from the newest. */
static int sql_read_before(struct store_sql *s, const struct sql_topic *t,
                           struct store_job *job, size_t *cap)
{
    int64_t below = job->before > 0 ? job->before : INT64_MAX;
    int64_t seq = below - 1 < t->last_seq ? below - 1 : t->last_seq;
    size_t limit = (size_t)job->limit;
    int rc = SQLITE_OK;

    for (; rc == SQLITE_OK && seq > t->idx_seq && job->n_rows < limit; seq--)
        rc = sql_add_id_row(s, sql_tail_id(t, seq), job, cap);
    if (rc == SQLITE_OK && job->n_rows < limit) {
        sqlite3_stmt *st = s->st[ST_BEFORE];

        if (below > t->idx_seq + 1)
            below = t->idx_seq + 1;
        sqlite3_bind_int64(st, 1, t->id);
        sqlite3_bind_int64(st, 2, below);
        rc = sql_read_chunks(s, st, 1, below - 1, true, job, cap);
    }
    return rc;
}

void store_sql_run_read(struct store_sql *s, struct store_job *job)
{
    struct sql_topic *t = NULL;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = SQLITE_OK;

    if (job->kind == STORE_JOB_UNREAD) {
        sql_unread(s, job);
        return;
    }
    if (job->kind == STORE_JOB_SEARCH) {
        sql_search(s, job);
        return;
    }
    t = map_get(&s->map, job->topic);
    job->first_seq = 0;
    job->last_seq = t != NULL ? t->last_seq : 0;
    if (t == NULL || t->id == 0)
        return;

    st = s->st[ST_FIRST_SEQ];
    sqlite3_bind_int64(st, 1, t->id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        job->first_seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    /* Tail rows are never pruned: nothing indexed, the tail starts it. */
    if (rc == SQLITE_DONE && t->tail_len > 0)
        job->first_seq = t->idx_seq + 1;
    if (job->limit <= 0)
        return;

    if (job->kind == STORE_JOB_AFTER)
        rc = sql_read_after(s, t, job, &cap);
    else
        rc = sql_read_before(s, t, job, &cap);
    if (rc != SQLITE_OK)
        goto fail;
    if (job->kind == STORE_JOB_BEFORE) {
        size_t i = 0;

        for (i = 0; i < job->n_rows / 2; i++) {
            struct store_row tmp = job->rows[i];

            job->rows[i] = job->rows[job->n_rows - 1 - i];
            job->rows[job->n_rows - 1 - i] = tmp;
        }
    }
    return;

fail:
    sql_log(s, "read", rc);
    sql_drop_rows(job);
    job->err = PL_ERR_INTERNAL;
}

/* ---- retention ---------------------------------------------------------- */

/* Run one DELETE; *changes gets the rows it removed. */
static int sql_delete(struct store_sql *s, sqlite3_stmt *st, int *changes)
{
    int rc = sql_run(st);

    *changes = rc == SQLITE_OK ? sqlite3_changes(s->db) : 0;
    return rc;
}

/* Delete t's rows with seq <= cut (all indexed), oldest first, whole
 * chunks at a time until about STORE_SQL_PRUNE_ROWS rows went; trim the
 * chunk the cut falls into. *changes: rows removed; *done: nothing left
 * at or below cut. */
static int sql_prune_chunks(struct store_sql *s, struct sql_topic *t,
                            int64_t cut, int *changes, bool *done)
{
    sqlite3_stmt *st = s->st[ST_CHUNKS_UPTO];
    size_t i = 0;
    int rc = SQLITE_OK;

    *changes = 0;
    *done = false;
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int64(st, 2, cut);
    sqlite3_bind_int(st, 3, STORE_SQL_PRUNE_CHUNKS);
    rc = sql_chunks_collect(s, st, t->id);
    if (rc != SQLITE_OK)
        return rc;
    *done = s->n_chunks < STORE_SQL_PRUNE_CHUNKS;
    for (i = 0; i < s->n_chunks; i++) {
        const struct sql_chunk *c = &s->chunks[i];
        size_t k = (size_t)(cut - c->first_seq + 1);
        size_t j = 0;

        if (k > c->n)
            k = c->n;
        for (j = 0; j < k; j++) {
            sqlite3_bind_int64(s->st[ST_DELETE_ID], 1, s->ids[c->off + j]);
            rc = sql_run(s->st[ST_DELETE_ID]);
            if (rc != SQLITE_OK)
                return rc;
            *changes += sqlite3_changes(s->db);
        }
        rc = sql_chunk_trim(s, c, k);
        if (rc != SQLITE_OK)
            return rc;
        if (*changes >= STORE_SQL_PRUNE_ROWS && i + 1 < s->n_chunks) {
            *done = false;
            break;
        }
    }
    return SQLITE_OK;
}

/* One count-pruning statement for the topic at the end of the prune list
 * that still has rows to drop. *ran tells whether a statement ran. */
static int sql_prune_count_step(struct store_sql *s, uint64_t *pruned,
                                bool *ran)
{
    *ran = false;
    while (s->n_prune > 0) {
        struct sql_topic *t = s->prune[s->n_prune - 1];
        int64_t cut = t->last_seq - s->retain_messages;
        int changes = 0;
        bool done = false;
        int rc = SQLITE_OK;

        /* Tail rows wait for their index write, which marks t again. */
        if (cut > t->idx_seq)
            cut = t->idx_seq;
        if (cut <= 0 || t->id == 0) {
            t->prune = false;
            s->n_prune--;
            continue;
        }
        rc = sql_prune_chunks(s, t, cut, &changes, &done);
        if (rc != SQLITE_OK)
            return rc;
        *ran = true;
        *pruned += (uint64_t)changes;
        if (done) {
            t->prune = false;
            s->n_prune--;
        }
        return SQLITE_OK;
    }
    return SQLITE_OK;
}

/* Whether id is in the ascending ids[0..n). */
static bool sql_ids_have(const int64_t *ids, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ids[mid] == id)
            return true;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* One age-pruning step: of the STORE_SQL_PRUNE_ROWS oldest rows of the
 * log (up to indexed_upto), delete those older than `cut_ts`, and drop
 * them from the front of the chunks that list them. ts follows insert
 * order unless the clock steps back; a row removed out of that order can
 * stay listed inside a chunk, and reads skip it. *changes: the rows
 * removed. */
static int sql_prune_age_step(struct store_sql *s, int64_t cut_ts,
                              int *changes)
{
    sqlite3_stmt *st = s->st[ST_AGE_ROWS];
    int64_t old[STORE_SQL_PRUNE_ROWS];
    size_t n_old = 0;
    size_t i = 0;
    int rc = SQLITE_OK;

    *changes = 0;
    sqlite3_bind_int64(st, 1, s->indexed_upto);
    sqlite3_bind_int(st, 2, STORE_SQL_PRUNE_ROWS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int64(st, 1) < cut_ts &&
            n_old < STORE_SQL_PRUNE_ROWS)
            old[n_old++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (n_old == 0)
        return SQLITE_OK;

    st = s->st[ST_AGE_CHUNKS];
    sqlite3_bind_int64(st, 1, old[n_old - 1]);
    rc = sql_chunks_collect(s, st, -1);
    for (i = 0; rc == SQLITE_OK && i < s->n_chunks; i++) {
        const struct sql_chunk *c = &s->chunks[i];
        size_t k = 0;

        while (k < c->n && sql_ids_have(old, n_old, s->ids[c->off + k]))
            k++;
        if (k > 0)
            rc = sql_chunk_trim(s, c, k);
    }
    if (rc != SQLITE_OK)
        return rc;
    st = s->st[ST_PRUNE_AGE];
    sqlite3_bind_int64(st, 1, cut_ts);
    sqlite3_bind_int64(st, 2, old[n_old - 1]);
    return sql_delete(s, st, changes);
}

/*
 * The index cycle's part of a maintenance round: when a cycle is due
 * (index_interval_ms after the last one ended, or the tails half full),
 * it covers the ids handed out so far; each round writes one slice of
 * it. Returns an SQLite code; *more tells whether the cycle goes on.
 */
static int sql_index_step(struct store_sql *s, int64_t now_ms, bool *written,
                          bool *more)
{
    *written = false;
    *more = false;
    if (s->cycle_upto == 0) {
        if (s->n_unindexed == 0 || (now_ms < s->next_index_ms &&
                                    s->n_unindexed < s->tail_max / 2))
            return SQLITE_OK;
        s->cycle_upto = s->last_id;
    }
    *written = true;
    return sql_index_write(s, s->cycle_upto, STORE_SQL_INDEX_SLICE,
                           STORE_SQL_INDEX_SLICE_TOPICS, more);
}

int store_sql_prune(struct store_sql *s, int64_t now_ms, int max_stmts,
                    uint64_t *pruned)
{
    bool index_written = false;
    bool index_more = false;
    bool age_more = s->retain_age_ms > 0;
    bool count_more = s->n_prune > 0;
    bool dedupe_more = true;
    uint64_t n_pruned = 0;
    int stmts = 0;
    int changes = 0;
    int rc = SQLITE_OK;

    s->saved_fts_upto = s->fts_upto;
    rc = sql_run(s->st[ST_BEGIN]);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sql_index_step(s, now_ms, &index_written, &index_more);
    if (rc != SQLITE_OK)
        goto fail;
    /* What the commits left below STORE_SQL_FTS_BATCH. */
    rc = sql_fts_catch_up(s);
    if (rc != SQLITE_OK)
        goto fail;
    /* Round robin, so no kind of pruning starves another. */
    while (stmts < max_stmts && (age_more || count_more || dedupe_more)) {
        if (age_more) {
            rc = sql_prune_age_step(s, now_ms - s->retain_age_ms, &changes);
            if (rc != SQLITE_OK)
                goto fail;
            n_pruned += (uint64_t)changes;
            age_more = changes == STORE_SQL_PRUNE_ROWS;
            stmts++;
        }
        if (count_more && stmts < max_stmts) {
            bool ran = false;

            rc = sql_prune_count_step(s, &n_pruned, &ran);
            if (rc != SQLITE_OK)
                goto fail;
            stmts += ran ? 1 : 0;
            count_more = s->n_prune > 0;
        }
        if (dedupe_more && stmts < max_stmts) {
            sqlite3_stmt *st = s->st[ST_PRUNE_DEDUPE];

            sqlite3_bind_int64(st, 1, now_ms - s->window_ms);
            sqlite3_bind_int(st, 2, STORE_SQL_PRUNE_ROWS);
            rc = sql_delete(s, st, &changes);
            if (rc != SQLITE_OK)
                goto fail;
            dedupe_more = changes == STORE_SQL_PRUNE_ROWS;
            stmts++;
        }
    }
    rc = sql_run(s->st[ST_COMMIT]);
    if (rc != SQLITE_OK)
        goto fail;
    if (s->fts_upto != s->saved_fts_upto)
        s->fts_edited = false;
    if (index_written) {
        sql_index_done(s);
        if (!index_more) {
            s->cycle_upto = 0;
            s->next_index_ms = now_ms + s->index_interval_ms;
        }
    }
    *pruned += n_pruned;
    /* After an index write, come back for the rows it made prunable. */
    return age_more || count_more || dedupe_more || index_written ? 1 : 0;

fail:
    sql_log(s, "prune", rc);
    if (!sqlite3_get_autocommit(s->db))
        sql_run(s->st[ST_ROLLBACK]);
    if (index_written)
        sql_index_undo(s);
    s->fts_upto = s->saved_fts_upto;
    return -PL_ERR_INTERNAL;
}

/* ---- start-up walk, test helpers ---------------------------------------- */

int store_sql_foreach_topic(struct store_sql *s,
                            int (*cb)(void *arg,
                                      const struct store_topic_info *t),
                            void *arg)
{
    sqlite3_stmt *st = NULL;
    int ret = 0;
    int rc = sqlite3_prepare_v2(s->db,
        "SELECT t.name, t.last_seq, r.seq, r.ts, r.sender, r.data, r.raw"
        " FROM topics t LEFT JOIN retained r ON r.topic_id = t.id"
        " ORDER BY t.id", -1, &st, NULL);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_topic_info info;

        memset(&info, 0, sizeof(info));
        info.name = (const char *)sqlite3_column_text(st, 0);
        info.last_seq = sqlite3_column_int64(st, 1);
        if (info.name != NULL) {
            /* The log may be ahead of topics.last_seq (index tails). */
            struct sql_topic *t = map_get(&s->map, info.name);

            if (t != NULL)
                info.last_seq = t->last_seq;
        }
        info.has_retained = sqlite3_column_type(st, 2) != SQLITE_NULL;
        if (info.has_retained) {
            info.r_seq = sqlite3_column_int64(st, 2);
            info.r_ts = sqlite3_column_int64(st, 3);
            info.r_from = (const char *)sqlite3_column_text(st, 4);
            info.r_data = (const char *)sqlite3_column_text(st, 5);
            info.r_data_len = (size_t)sqlite3_column_bytes(st, 5);
            if (sqlite3_column_type(st, 6) == SQLITE_BLOB) {
                info.r_raw = sqlite3_column_blob(st, 6);
                info.r_raw_len = (size_t)sqlite3_column_bytes(st, 6);
            }
        }
        if (info.name == NULL) {
            rc = SQLITE_OK;
            continue;
        }
        ret = cb(arg, &info);
        if (ret != 0)
            break;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (ret != 0)
        return ret;
    if (rc != SQLITE_DONE) {
        sql_log(s, "loading topics", rc);
        return -PL_ERR_INTERNAL;
    }
    return 0;
}

void store_sql_fail_index(struct store_sql *s, int n)
{
    s->fail_index = n;
}

size_t store_sql_unindexed(struct store_sql *s)
{
    return s->n_unindexed;
}

int64_t store_sql_last_seq(struct store_sql *s, const char *topic)
{
    struct sql_topic *t = map_get(&s->map, topic);

    return t != NULL ? t->last_seq : 0;
}

sqlite3 *store_sql_db(struct store_sql *s)
{
    return s->db;
}
