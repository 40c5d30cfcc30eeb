/*
 * test_store_sql.c: the plain SQLite layer on temp files: migrations (fresh,
 * upgrade, refusal of a newer schema, a frozen version-1 fixture), refusal
 * of a corrupt or locked file, seq assignment, rollback (injected and real
 * statement failures), dedupe, retained, reads, and each kind of pruning;
 * the index tails (reads across index and tail, a reopen that must read
 * the log back, the bound when the index cannot be written) and a crash
 * in the middle of an upgrade.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "store_sql.h"
#include "tmpdir.h"

#define NOW 1764130000000LL


/* Open with cfg or fail the test. */
static struct store_sql *open_cfg(const struct store_sql_config *cfg)
{
    char *err = NULL;
    struct store_sql *s = store_sql_open(cfg, &err);

    if (s == NULL)
        fail_msg("open: %s", err != NULL ? err : "(no message)");
    return s;
}

static struct store_sql *open_sql(const struct tmpdb *f,
                                  const struct store_migration *migs,
                                  size_t n_migs, int64_t keep_n,
                                  int64_t keep_ms)
{
    struct store_sql_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.path = f->path;
    cfg.dedupe_window_ms = 60000;
    cfg.retain_messages = keep_n;
    cfg.retain_age_ms = keep_ms;
    cfg.migrations = migs;
    cfg.n_migrations = n_migs;
    return open_cfg(&cfg);
}

/* Try to open and expect a failure whose message contains `want`. */
static void open_fails(const struct tmpdb *f,
                       const struct store_migration *migs, size_t n_migs,
                       const char *want)
{
    struct store_sql_config cfg;
    struct store_sql *s = NULL;
    char *err = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.path = f->path;
    cfg.migrations = migs;
    cfg.n_migrations = n_migs;
    s = store_sql_open(&cfg, &err);
    assert_null(s);
    assert_non_null(err);
    print_message("expected open error: %s\n", err);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
    free(err);
}

static int64_t query_int(struct store_sql *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(store_sql_db(s), sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Make a database file from a fixture script with plain SQLite. */
static void db_from_script(const struct tmpdb *f, const char *script)
{
    char path[512];
    FILE *fp = NULL;
    char *sql = NULL;
    long len = 0;
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/%s", PARLEY_DB_FIXTURES, script);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    sql = calloc(1, (size_t)len + 1);
    assert_non_null(sql);
    assert_int_equal(fread(sql, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    free(sql);
}

static struct store_job *pub_job(const char *topic, const char *data,
                                 const char *key, bool retain, int64_t ts)
{
    struct store_job *job = store_job_new(STORE_JOB_PUB, topic);
    bool is_null = data != NULL && strcmp(data, "null") == 0;

    assert_non_null(job);
    assert_int_equal(store_job_set_pub(job, data, data ? strlen(data) : 0,
                                       is_null, retain, "alice", key, ts),
                     0);
    return job;
}

/* Run one job as its own batch; returns the store_sql_run_pubs result. */
static int run1(struct store_sql *s, struct store_job *job)
{
    uint64_t b = 0, r = 0, e = 0;

    return store_sql_run_pubs(s, &job, 1, NULL, NULL, &b, &r, &e);
}

static int64_t pub1(struct store_sql *s, const char *topic, const char *key,
                    int64_t ts, bool *dup)
{
    struct store_job *job = pub_job(topic, "{\"n\":1}", key, false, ts);
    int64_t seq = 0;

    assert_int_equal(run1(s, job), 0);
    assert_int_equal(job->err, 0);
    seq = job->seq;
    if (dup != NULL)
        *dup = job->duplicate;
    store_job_free(&job);
    return seq;
}

static struct store_job *read_job(struct store_sql *s, enum store_job_kind k,
                                  const char *topic, int64_t a, int64_t b,
                                  int limit)
{
    struct store_job *job = store_job_new(k, topic);

    assert_non_null(job);
    if (k == STORE_JOB_AFTER) {
        job->after = a;
        job->upto = b;
    } else {
        job->before = a;
    }
    job->limit = limit;
    store_sql_run_read(s, job);
    assert_int_equal(job->err, 0);
    return job;
}

/* Expect rows first..last (ascending, consecutive) in job. */
static void expect_seqs(struct store_job *job, int64_t first, int64_t last)
{
    size_t i = 0;

    assert_int_equal(job->n_rows, (size_t)(last - first + 1));
    for (i = 0; i < job->n_rows; i++)
        assert_int_equal(job->rows[i].seq, first + (int64_t)i);
    store_job_free(&job);
}

/* ---- migrations --------------------------------------------------------- */

/* The schema version a file has after this build's migrations: the
 * newest one's number (numbers may skip, see sql_migrate). */
static int64_t newest_version(void)
{
    return store_migrations[store_n_migrations - 1].version;
}

static void test_fresh_database(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);

    assert_true(store_n_migrations >= 1);
    assert_int_equal(store_migrations[0].version, 1);
    assert_int_equal(query_int(s, "PRAGMA user_version"),
                     newest_version());
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE"
                                  " name IN ('topics','messages','retained',"
                                  "'dedupe')"), 4);
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE"
                                  " name IN ('mqtt_sessions','mqtt_subs',"
                                  "'mqtt_cursors')"), 3);
    store_sql_close(&s);
    assert_null(s);

    /* Reopening the current version changes nothing. */
    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"),
                     newest_version());
    store_sql_close(&s);
}

static void test_newer_schema_refused(void **state)
{
    struct tmpdb *f = *state;

    db_from_script(f, "future.sql");
    open_fails(f, NULL, 0, "newer than this build knows");
}

static void test_upgrade_keeps_data(void **state)
{
    struct tmpdb *f = *state;
    struct store_migration migs[16];
    size_t n = store_n_migrations;
    struct store_sql *s = NULL;
    struct store_job *job = NULL;
    size_t i = 0;

    /* Version 1 with data (chat/general: seqs 3 and 4). */
    assert_true(n + 2 <= sizeof(migs) / sizeof(migs[0]));
    db_from_script(f, "v1.sql");
    for (i = 0; i < n; i++)
        migs[i] = store_migrations[i];

    /* One more migration: applied once, in order, data kept. */
    migs[n].version = (int)newest_version() + 1;
    migs[n].name = "999_test";
    migs[n].sql = "ALTER TABLE messages ADD COLUMN extra TEXT;"
                  "CREATE TABLE test_marker(x INTEGER);"
                  "INSERT INTO test_marker VALUES (42);";
    s = open_sql(f, migs, n + 1, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"), newest_version() + 1);
    assert_int_equal(query_int(s, "SELECT x FROM test_marker"), 42);
    assert_int_equal(pub1(s, "chat/general", NULL, NOW, NULL), 5);
    job = read_job(s, STORE_JOB_AFTER, "chat/general", 0, 100, 100);
    assert_int_equal(job->n_rows, 3);
    store_job_free(&job);
    store_sql_close(&s);

    /* Reopened: the migration does not run again. */
    s = open_sql(f, migs, n + 1, 0, 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM test_marker"), 1);
    store_sql_close(&s);

    /* A broken migration rolls back whole and is reported. */
    migs[n + 1].version = (int)newest_version() + 2;
    migs[n + 1].name = "999_broken";
    migs[n + 1].sql = "CREATE TABLE half(x); THIS IS NOT SQL;";
    open_fails(f, migs, n + 2, "999_broken");
    s = open_sql(f, migs, n + 1, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"), newest_version() + 1);
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master"
                                  " WHERE name = 'half'"), 0);
    store_sql_close(&s);

    /* This build (which knows fewer migrations) now refuses the file. */
    open_fails(f, store_migrations, n, "newer than this build knows");
}

/* Numbers reserved by branches not merged yet leave gaps: every step
 * above the file's version runs, in order; a list that does not grow is
 * refused. */
static void test_migration_gap(void **state)
{
    struct tmpdb *f = *state;
    struct store_migration migs[16];
    size_t n = store_n_migrations;
    struct store_sql *s = NULL;
    size_t i = 0;

    assert_true(n + 2 <= sizeof(migs) / sizeof(migs[0]));
    for (i = 0; i < n; i++)
        migs[i] = store_migrations[i];
    s = open_sql(f, migs, n, 0, 0);
    store_sql_close(&s);

    migs[n].version = (int)newest_version() + 3;   /* two numbers skipped */
    migs[n].name = "999_after_gap";
    migs[n].sql = "CREATE TABLE after_gap(x INTEGER);";
    s = open_sql(f, migs, n + 1, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"),
                     newest_version() + 3);
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master"
                                  " WHERE name = 'after_gap'"), 1);
    store_sql_close(&s);

    /* Versions that do not grow are a broken build: refused. */
    migs[0] = store_migrations[1];
    migs[1] = store_migrations[0];
    open_fails(f, migs, n + 1, "expected more than");
}

static void test_v1_fixture(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = NULL;
    struct store_job *job = NULL;
    bool dup = false;

    db_from_script(f, "v1.sql");
    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"),
                     newest_version());
    assert_int_equal(store_sql_last_seq(s, "chat/general"), 4);
    job = read_job(s, STORE_JOB_AFTER, "chat/general", 0, 4, 10);
    assert_int_equal(job->n_rows, 2);
    assert_int_equal(job->first_seq, 3);
    assert_int_equal(job->last_seq, 4);
    assert_int_equal(job->rows[0].seq, 3);
    assert_string_equal(job->rows[0].from, "alice");
    assert_string_equal(job->rows[1].data, "{\"text\":\"four\"}");
    store_job_free(&job);
    /* seq continues; the old dedupe key still holds. */
    assert_int_equal(pub1(s, "chat/general", NULL, NOW, NULL), 5);
    assert_int_equal(pub1(s, "sensors/t1", "t1-000002", 1764130000100LL,
                          &dup), 2);
    assert_true(dup);
    store_sql_close(&s);
}

static void test_v2_fixture(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = NULL;
    struct store_job *job = NULL;
    bool dup = false;

    db_from_script(f, "v2.sql");
    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"),
                     newest_version());
    /* seq 5 was only in the log: read back into the tail. */
    assert_int_equal(store_sql_last_seq(s, "chat/general"), 5);
    assert_int_equal(store_sql_unindexed(s), 1);
    job = read_job(s, STORE_JOB_AFTER, "chat/general", 0, 10, 10);
    assert_int_equal(job->first_seq, 3);
    assert_int_equal(job->last_seq, 5);
    assert_string_equal(job->rows[2].from, "carol");
    expect_seqs(job, 3, 5);
    expect_seqs(read_job(s, STORE_JOB_BEFORE, "chat/general", 5, 0, 1), 4,
                4);
    assert_int_equal(pub1(s, "chat/general", NULL, NOW, NULL), 6);
    assert_int_equal(pub1(s, "sensors/t1", "t1-000002", 1764130000100LL,
                          &dup), 2);
    assert_true(dup);
    store_sql_close(&s);
}

static void test_corrupt_file_refused(void **state)
{
    struct tmpdb *f = *state;
    FILE *fp = fopen(f->path, "wb");
    int i = 0;

    assert_non_null(fp);
    for (i = 0; i < 4096; i++)
        fputc("garbage!"[i % 8], fp);
    fclose(fp);
    open_fails(f, NULL, 0, "not a database");
}

static void test_locked_refused(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);

    open_fails(f, NULL, 0, "locked");
    store_sql_close(&s);
    s = open_sql(f, NULL, 0, 0, 0);
    store_sql_close(&s);
}

static void test_unwritable_dir_refused(void **state)
{
    struct tmpdb *f = *state;
    char path[200];
    struct store_sql_config cfg;
    char *err = NULL;

    snprintf(path, sizeof(path), "%s/no/such/dir/p.db", f->dir);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    assert_null(store_sql_open(&cfg, &err));
    assert_non_null(err);
    print_message("expected open error: %s\n", err);
    assert_non_null(strstr(err, "SQLITE_CANTOPEN"));
    free(err);
}

/* ---- publishing --------------------------------------------------------- */

static int prune_all(struct store_sql *s, int64_t now, uint64_t *pruned)
{
    int rounds = 0;
    int rc = 0;

    do {
        rc = store_sql_prune(s, now, 2, pruned);
        assert_true(rc >= 0);
        rounds++;
        assert_true(rounds < 1000);
    } while (rc == 1);
    return rounds;
}

static bool fail_always(void *arg)
{
    (void)arg;
    return true;
}

static void test_batch_and_rollback(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *jobs[6];
    uint64_t b = 0, r = 0, e = 0;
    size_t i = 0;

    assert_int_equal(pub1(s, "a", NULL, NOW, NULL), 1);

    /* A failed batch: nothing kept, seqs restored, new topic forgotten. */
    for (i = 0; i < 6; i++)
        jobs[i] = pub_job(i % 2 ? "a" : "new/topic", "1",
                          i == 3 ? "k3" : NULL, i == 5, NOW);
    assert_int_equal(store_sql_run_pubs(s, jobs, 6, fail_always, NULL,
                                        &b, &r, &e), -PL_ERR_INTERNAL);
    assert_int_equal(b, 0);
    assert_int_equal(r, 0);
    assert_int_equal(e, 1);
    for (i = 0; i < 6; i++) {
        assert_int_equal(jobs[i]->err, PL_ERR_INTERNAL);
        assert_int_equal(jobs[i]->seq, 0);
    }
    assert_int_equal(store_sql_last_seq(s, "a"), 1);
    assert_int_equal(store_sql_last_seq(s, "new/topic"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(query_int(s, "SELECT count(*) FROM topics"), 1);
    assert_int_equal(query_int(s, "SELECT count(*) FROM dedupe"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM retained"), 0);

    /* The same jobs again: the same seqs, no gap. */
    for (i = 0; i < 6; i++)
        jobs[i]->err = 0;
    assert_int_equal(store_sql_run_pubs(s, jobs, 6, NULL, NULL, &b, &r, &e),
                     0);
    assert_int_equal(b, 1);
    assert_int_equal(r, 6);
    for (i = 0; i < 6; i++) {
        assert_int_equal(jobs[i]->err, 0);
        assert_int_equal(jobs[i]->seq, i % 2 ? 2 + (int64_t)i / 2
                                             : 1 + (int64_t)i / 2);
        store_job_free(&jobs[i]);
    }
    assert_int_equal(store_sql_last_seq(s, "a"), 4);
    assert_int_equal(store_sql_last_seq(s, "new/topic"), 3);
    /* topics.last_seq follows once the index is written. */
    assert_int_equal(query_int(s, "SELECT last_seq FROM topics"
                                  " WHERE name = 'a'"), 0);
    prune_all(s, NOW, &r);
    assert_int_equal(query_int(s, "SELECT last_seq FROM topics"
                                  " WHERE name = 'a'"), 4);
    assert_int_equal(query_int(s, "SELECT last_seq FROM topics"
                                  " WHERE name = 'new/topic'"), 3);
    assert_int_equal(query_int(s, "SELECT seq FROM retained"), 4);
    store_sql_close(&s);
}

static void test_statement_failure_rolls_back(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *jobs[3];
    uint64_t b = 0, r = 0, e = 0;
    size_t i = 0;

    assert_int_equal(pub1(s, "a", NULL, NOW, NULL), 1);
    /* Someone wrote a row behind our back: the batch's second insert
     * hits its id, and the whole batch is undone. */
    assert_int_equal(sqlite3_exec(store_sql_db(s),
                                  "INSERT INTO messages(topic_id, seq, ts,"
                                  " sender, data) VALUES (1, 3, 0, 'x', '0')",
                                  NULL, NULL, NULL), SQLITE_OK);
    for (i = 0; i < 3; i++)
        jobs[i] = pub_job(i == 1 ? "b" : "a", "2", NULL, false, NOW);
    assert_int_equal(store_sql_run_pubs(s, jobs, 3, NULL, NULL, &b, &r, &e),
                     -PL_ERR_INTERNAL);
    assert_int_equal(e, 1);
    for (i = 0; i < 3; i++)
        assert_int_equal(jobs[i]->err, PL_ERR_INTERNAL);
    assert_int_equal(store_sql_last_seq(s, "a"), 1);
    assert_int_equal(store_sql_last_seq(s, "b"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM messages"), 2);

    /* Remove the intruder: the same batch now gets 2, 1, 3. */
    assert_int_equal(sqlite3_exec(store_sql_db(s),
                                  "DELETE FROM messages WHERE sender = 'x'",
                                  NULL, NULL, NULL), SQLITE_OK);
    for (i = 0; i < 3; i++)
        jobs[i]->err = 0;
    assert_int_equal(store_sql_run_pubs(s, jobs, 3, NULL, NULL, &b, &r, &e),
                     0);
    assert_int_equal(jobs[0]->seq, 2);
    assert_int_equal(jobs[1]->seq, 1);
    assert_int_equal(jobs[2]->seq, 3);
    for (i = 0; i < 3; i++)
        store_job_free(&jobs[i]);
    store_sql_close(&s);
}

static void test_dedupe_and_retained(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *jobs[3];
    uint64_t b = 0, r = 0, e = 0;
    bool dup = true;

    assert_int_equal(pub1(s, "a", "k", NOW, &dup), 1);
    assert_false(dup);
    assert_int_equal(pub1(s, "a", "other", NOW, &dup), 2);
    assert_int_equal(pub1(s, "a", "k", NOW + 1000, &dup), 1);
    assert_true(dup);
    assert_int_equal(pub1(s, "b", "k", NOW, &dup), 1);
    assert_false(dup);
    /* The window (60 s here) is measured from the new publish's ts. */
    assert_int_equal(pub1(s, "a", "k", NOW + 60000, &dup), 1);
    assert_true(dup);
    assert_int_equal(pub1(s, "a", "k", NOW + 60001, &dup), 3);
    assert_false(dup);
    assert_int_equal(pub1(s, "a", "k", NOW + 60002, &dup), 3);
    assert_true(dup);

    /* Within one batch. */
    jobs[0] = pub_job("c", "1", "x", false, NOW);
    jobs[1] = pub_job("c", "2", "x", false, NOW);
    jobs[2] = pub_job("c", "3", NULL, false, NOW);
    assert_int_equal(store_sql_run_pubs(s, jobs, 3, NULL, NULL, &b, &r, &e),
                     0);
    assert_int_equal(r, 2);
    assert_int_equal(jobs[0]->seq, 1);
    assert_false(jobs[0]->duplicate);
    assert_int_equal(jobs[1]->seq, 1);
    assert_true(jobs[1]->duplicate);
    assert_int_equal(jobs[2]->seq, 2);
    store_job_free(&jobs[0]);
    store_job_free(&jobs[1]);
    store_job_free(&jobs[2]);

    /* Retained: set, replace, a plain pub leaves it, null clears it. */
    jobs[0] = pub_job("r", "{\"v\":1}", NULL, true, NOW);
    assert_int_equal(run1(s, jobs[0]), 0);
    store_job_free(&jobs[0]);
    assert_int_equal(query_int(s, "SELECT seq FROM retained"), 1);
    jobs[0] = pub_job("r", "{\"v\":2}", NULL, true, NOW);
    assert_int_equal(run1(s, jobs[0]), 0);
    store_job_free(&jobs[0]);
    jobs[0] = pub_job("r", "3", NULL, false, NOW);
    assert_int_equal(run1(s, jobs[0]), 0);
    store_job_free(&jobs[0]);
    assert_int_equal(query_int(s, "SELECT seq FROM retained"), 2);
    jobs[0] = pub_job("r", "null", NULL, true, NOW);
    assert_int_equal(run1(s, jobs[0]), 0);
    assert_int_equal(jobs[0]->seq, 4);
    store_job_free(&jobs[0]);
    assert_int_equal(query_int(s, "SELECT count(*) FROM retained"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM messages m, topics t"
                                  " WHERE m.topic_id = t.id AND"
                                  " t.name = 'r'"), 4);
    store_sql_close(&s);
}

static void test_reads(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *job = NULL;
    int i = 0;

    for (i = 1; i <= 20; i++)
        assert_int_equal(pub1(s, "a", NULL, NOW + i, NULL), i);
    assert_int_equal(pub1(s, "b", NULL, NOW, NULL), 1);

    job = read_job(s, STORE_JOB_AFTER, "a", 5, 9, 100);
    assert_int_equal(job->n_rows, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(job->rows[i].seq, 6 + i);
        assert_int_equal(job->rows[i].ts, NOW + 6 + i);
    }
    assert_int_equal(job->first_seq, 1);
    assert_int_equal(job->last_seq, 20);
    store_job_free(&job);

    job = read_job(s, STORE_JOB_AFTER, "a", 5, 20, 3);
    assert_int_equal(job->n_rows, 3);
    assert_int_equal(job->rows[0].seq, 6);
    assert_int_equal(job->rows[2].seq, 8);
    store_job_free(&job);

    job = read_job(s, STORE_JOB_BEFORE, "a", 10, 0, 4);
    assert_int_equal(job->n_rows, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(job->rows[i].seq, 6 + i);
    store_job_free(&job);

    job = read_job(s, STORE_JOB_BEFORE, "a", 0, 0, 3);
    assert_int_equal(job->n_rows, 3);
    assert_int_equal(job->rows[0].seq, 18);
    assert_int_equal(job->rows[2].seq, 20);
    assert_string_equal(job->rows[2].data, "{\"n\":1}");
    assert_int_equal(job->rows[2].data_len, 7);
    store_job_free(&job);

    job = read_job(s, STORE_JOB_BEFORE, "a", 3, 0, 50);
    assert_int_equal(job->n_rows, 2);
    store_job_free(&job);

    job = read_job(s, STORE_JOB_BEFORE, "nope", 0, 0, 50);
    assert_int_equal(job->n_rows, 0);
    assert_int_equal(job->first_seq, 0);
    assert_int_equal(job->last_seq, 0);
    store_job_free(&job);
    store_sql_close(&s);
}

/* ---- pruning ------------------------------------------------------------ */

static void test_prune_by_count(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 5, 0);
    struct store_job *job = NULL;
    struct store_job **jobs = calloc(2600, sizeof(*jobs));
    uint64_t b = 0, r = 0, e = 0, pruned = 0;
    int rounds = 0;
    int i = 0;

    assert_non_null(jobs);
    for (i = 0; i < 2600; i++)
        jobs[i] = pub_job(i < 2500 ? "big" : (i % 2 ? "x" : "y"), "1",
                          NULL, i == 3, NOW);
    assert_int_equal(store_sql_run_pubs(s, jobs, 2600, NULL, NULL, &b, &r,
                                        &e), 0);
    for (i = 0; i < 2600; i++)
        store_job_free(&jobs[i]);
    free(jobs);

    /* 2495 + 45 + 45 rows over, in statements of <= 1000 rows. */
    rounds = prune_all(s, NOW, &pruned);
    assert_int_equal(pruned, 2495 + 45 + 45);
    assert_true(rounds >= 2);
    job = read_job(s, STORE_JOB_AFTER, "big", 0, 10000, 100);
    assert_int_equal(job->n_rows, 5);
    assert_int_equal(job->first_seq, 2496);
    assert_int_equal(job->last_seq, 2500);
    store_job_free(&job);
    job = read_job(s, STORE_JOB_BEFORE, "x", 0, 0, 100);
    assert_int_equal(job->first_seq, 46);
    assert_int_equal(job->n_rows, 5);
    store_job_free(&job);
    /* Retained values are never pruned. */
    assert_int_equal(query_int(s, "SELECT seq FROM retained"), 4);
    store_sql_close(&s);

    /* After a reopen, seq continues past the pruned rows. */
    s = open_sql(f, NULL, 0, 5, 0);
    assert_int_equal(pub1(s, "big", NULL, NOW, NULL), 2501);
    pruned = 0;
    prune_all(s, NOW, &pruned);
    assert_int_equal(pruned, 1);
    store_sql_close(&s);
}

static void test_prune_by_age_and_dedupe(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 3600000);
    struct store_job *job = NULL;
    uint64_t pruned = 0;
    bool dup = false;
    int i = 0;

    /* 1500 old messages (two hours ago), then 3 recent ones. */
    for (i = 0; i < 1500; i++)
        pub1(s, i % 3 ? "a" : "b", NULL, NOW - 7200000, NULL);
    assert_int_equal(pub1(s, "a", "recent", NOW - 1000, NULL), 1001);
    assert_int_equal(pub1(s, "a", NULL, NOW, NULL), 1002);
    assert_int_equal(pub1(s, "b", "old", NOW - 7200000, NULL), 501);

    prune_all(s, NOW, &pruned);
    assert_int_equal(pruned, 1501);
    job = read_job(s, STORE_JOB_AFTER, "a", 0, 2000, 100);
    assert_int_equal(job->first_seq, 1001);
    assert_int_equal(job->n_rows, 2);
    store_job_free(&job);
    /* "b" has nothing left: first_seq 0, but its last_seq is kept. */
    job = read_job(s, STORE_JOB_AFTER, "b", 0, 2000, 100);
    assert_int_equal(job->n_rows, 0);
    assert_int_equal(job->first_seq, 0);
    assert_int_equal(job->last_seq, 501);
    store_job_free(&job);

    /* Dedupe keys older than the window (60 s) are gone; the recent one
     * stays and still deduplicates. */
    assert_int_equal(query_int(s, "SELECT count(*) FROM dedupe"), 1);
    assert_int_equal(pub1(s, "a", "recent", NOW, &dup), 1001);
    assert_true(dup);
    store_sql_close(&s);
}

/* ---- index tails -------------------------------------------------------- */

/* How many message ids msg_index lists (its rows are lists "id,id,..."). */
#define INDEXED_IDS "SELECT coalesce(sum(length(ids) -" \
                    " length(replace(ids, ',', '')) + 1), 0) FROM msg_index"

static struct store_sql *open_sql_tails(const struct tmpdb *f,
                                        size_t tail_max)
{
    struct store_sql_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.path = f->path;
    cfg.index_tail_max = tail_max;
    return open_cfg(&cfg);
}

static void test_reads_span_index_and_tail(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *job = NULL;
    uint64_t pruned = 0;
    int i = 0;

    for (i = 0; i < 10; i++)
        pub1(s, "a", NULL, NOW, NULL);
    prune_all(s, NOW, &pruned);
    assert_int_equal(store_sql_unindexed(s), 0);
    assert_int_equal(query_int(s, INDEXED_IDS), 10);
    for (i = 0; i < 5; i++)
        pub1(s, "a", NULL, NOW, NULL);
    assert_int_equal(store_sql_unindexed(s), 5);

    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 0, 100, 100), 1, 15);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 8, 100, 4), 9, 12);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 11, 14, 100), 12, 14);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 2, 6, 100), 3, 6);
    expect_seqs(read_job(s, STORE_JOB_BEFORE, "a", 0, 0, 7), 9, 15);
    expect_seqs(read_job(s, STORE_JOB_BEFORE, "a", 12, 0, 5), 7, 11);
    expect_seqs(read_job(s, STORE_JOB_BEFORE, "a", 5, 0, 100), 1, 4);
    job = read_job(s, STORE_JOB_BEFORE, "a", 14, 0, 3);
    assert_int_equal(job->first_seq, 1);
    assert_int_equal(job->last_seq, 15);
    expect_seqs(job, 11, 13);
    store_sql_close(&s);
}

/* Chunks of topic `name` in msg_index. */
static int64_t chunks_of(struct store_sql *s, const char *name)
{
    char sql[160];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM msg_index i, topics t"
             " WHERE i.topic_id = t.id AND t.name = '%s'", name);
    return query_int(s, sql);
}

/* Index cycles that each find a few new messages per topic append them to
 * the topic's newest chunk until it holds STORE_SQL_CHUNK_SMALL ids, so a
 * long replay reads a few chunks, not one per cycle; reads stay exact,
 * also after count pruning trimmed the chunks and after a reopen. */
static void test_small_chunks_merge(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    int64_t now = NOW;
    uint64_t pruned = 0;
    int cycle = 0;

    for (cycle = 0; cycle < 300; cycle++) {
        pub1(s, "a", NULL, now, NULL);
        pub1(s, "a", NULL, now, NULL);
        pub1(s, "a", NULL, now, NULL);
        pub1(s, "b", NULL, now, NULL);
        now += 2 * STORE_SQL_INDEX_MS;
        prune_all(s, now, &pruned);
        assert_int_equal(store_sql_unindexed(s), 0);
    }
    /* 900 ids in chunks of 128 (the last one partial), not 300 chunks */
    assert_int_equal(chunks_of(s, "a"), (900 + STORE_SQL_CHUNK_SMALL - 1) /
                                            STORE_SQL_CHUNK_SMALL);
    assert_int_equal(chunks_of(s, "b"), (300 + STORE_SQL_CHUNK_SMALL - 1) /
                                            STORE_SQL_CHUNK_SMALL);
    assert_int_equal(query_int(s, INDEXED_IDS), 1200);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 0, 1000, 1000), 1, 900);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 127, 1000, 300), 128, 427);
    expect_seqs(read_job(s, STORE_JOB_BEFORE, "a", 0, 0, 200), 701, 900);
    expect_seqs(read_job(s, STORE_JOB_BEFORE, "b", 129, 0, 5), 124, 128);
    store_sql_close(&s);

    /* Count pruning to 100 trims the newest chunk's front; writes after
     * it (and after a reopen, which forgets the newest chunk) stay
     * exact. */
    s = open_sql(f, NULL, 0, 100, 0);
    prune_all(s, now, &pruned);
    for (cycle = 0; cycle < 40; cycle++) {
        pub1(s, "a", NULL, now, NULL);
        now += 2 * STORE_SQL_INDEX_MS;
        prune_all(s, now, &pruned);
    }
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 0, 1000, 1000), 841, 940);
    assert_int_equal(query_int(s, INDEXED_IDS), 200);
    store_sql_close(&s);
}

/* ---- chat: edits, deletions, replies (#16) ------------------------------ */

/* Run one chat PUB by `from` in its own batch; returns the job (err,
 * seq) for the caller to check and free. */
static struct store_job *chat1(struct store_sql *s, const char *from,
                               const char *data, int64_t edit_of,
                               int64_t redacts, int64_t reply_to, bool retain)
{
    struct store_job *job = store_job_new(STORE_JOB_PUB, "chat/x");

    assert_non_null(job);
    assert_int_equal(store_job_set_pub(job, data, strlen(data),
                                       strcmp(data, "null") == 0, retain,
                                       from, NULL, NOW), 0);
    job->edit_of = edit_of;
    job->redacts = redacts;
    job->reply_to = reply_to;
    assert_int_equal(run1(s, job), 0);
    return job;
}

/* A chat PUB that must be refused with err; no seq is used up. */
static void chat_refused(struct store_sql *s, const char *from,
                         int64_t edit_of, int64_t redacts, int err)
{
    int64_t last = store_sql_last_seq(s, "chat/x");
    struct store_job *job =
        chat1(s, from, edit_of ? "{\"t\":\"x\"}" : "null", edit_of,
              redacts, 0, false);

    assert_int_equal(job->err, err);
    assert_int_equal(store_sql_last_seq(s, "chat/x"), last);
    store_job_free(&job);
}

static int64_t chat_ok(struct store_sql *s, const char *from,
                       const char *data, int64_t edit_of, int64_t redacts,
                       int64_t reply_to, bool retain)
{
    struct store_job *job =
        chat1(s, from, data, edit_of, redacts, reply_to, retain);
    int64_t seq = job->seq;

    assert_int_equal(job->err, 0);
    assert_true(seq > 0);
    store_job_free(&job);
    return seq;
}

static void test_chat_edit_delete(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *job = NULL;
    uint64_t pruned = 0;

    /* 1, 2 indexed; 3 only in the tail: targets are found in both. */
    assert_int_equal(chat_ok(s, "alice", "{\"t\":\"secret one\"}", 0, 0, 0,
                             false), 1);
    assert_int_equal(chat_ok(s, "bob", "{\"t\":\"two\"}", 0, 0, 1, false),
                     2);
    prune_all(s, NOW, &pruned);
    assert_int_equal(store_sql_unindexed(s), 0);
    assert_int_equal(chat_ok(s, "alice", "{\"t\":\"three\"}", 0, 0, 0,
                             true), 3);

    chat_refused(s, "bob", 1, 0, PL_ERR_FORBIDDEN);    /* not the author */
    chat_refused(s, "bob", 0, 3, PL_ERR_FORBIDDEN);
    chat_refused(s, "alice", 99, 0, PL_ERR_BAD_REQUEST); /* no such seq */
    chat_refused(s, "alice", 0, 4, PL_ERR_BAD_REQUEST);

    assert_int_equal(chat_ok(s, "alice", "{\"t\":\"secret edited\"}", 1, 0,
                             2, false), 4);
    assert_int_equal(chat_ok(s, "alice", "{\"t\":\"3b\"}", 3, 0, 0, false),
                     5);
    chat_refused(s, "alice", 4, 0, PL_ERR_BAD_REQUEST); /* an edit */
    chat_refused(s, "alice", 0, 4, PL_ERR_BAD_REQUEST);

    /* Deleting 1 erases it and its edit 4; deleting 3 drops retained. */
    assert_int_equal(chat_ok(s, "alice", "null", 0, 1, 0, false), 6);
    job = chat1(s, "alice", "null", 0, 3, 0, false);
    assert_int_equal(job->seq, 7);
    assert_true(job->redacted_retained);
    store_job_free(&job);
    assert_int_equal(query_int(s, "SELECT count(*) FROM retained"), 0);
    chat_refused(s, "alice", 1, 0, PL_ERR_BAD_REQUEST); /* deleted */
    chat_refused(s, "alice", 0, 1, PL_ERR_BAD_REQUEST);
    chat_refused(s, "alice", 0, 6, PL_ERR_BAD_REQUEST); /* a deletion */
    assert_int_equal(query_int(s, "SELECT count(*) FROM messages"
                                  " WHERE data LIKE '%secret%'"), 0);

    job = read_job(s, STORE_JOB_AFTER, "chat/x", 0, 100, 100);
    assert_int_equal(job->n_rows, 7);
    assert_int_equal(job->rows[6].seq, 7);
    assert_string_equal(job->rows[0].data, "null");
    assert_true(job->rows[0].redacted);
    assert_int_equal(job->rows[1].reply_to, 1);
    assert_false(job->rows[1].redacted);
    assert_string_equal(job->rows[3].data, "null");
    assert_true(job->rows[3].redacted);
    assert_int_equal(job->rows[3].edit_of, 1);
    assert_int_equal(job->rows[3].reply_to, 2);
    assert_int_equal(job->rows[5].redacts, 1);
    assert_false(job->rows[5].redacted);
    assert_int_equal(job->rows[6].redacts, 3);
    store_job_free(&job);
    store_sql_close(&s);

    /* All of it is on disk. */
    s = open_sql(f, NULL, 0, 0, 0);
    job = read_job(s, STORE_JOB_BEFORE, "chat/x", 0, 0, 100);
    assert_int_equal(job->n_rows, 7);
    assert_int_equal(job->rows[0].seq, 1);
    assert_true(job->rows[2].redacted);
    assert_int_equal(job->rows[4].edit_of, 3);
    store_job_free(&job);
    store_sql_close(&s);
}

/* Run one MARK by user; returns the marker after it. */
static int64_t mark1(struct store_sql *s, const char *user, int64_t seq,
                     bool *moved)
{
    struct store_job *job = store_job_new(STORE_JOB_MARK, "chat/x");
    int64_t got = 0;

    assert_non_null(job);
    job->from = strdup(user);
    job->mark_seq = seq;
    assert_int_equal(run1(s, job), 0);
    assert_int_equal(job->err, 0);
    got = job->seq;
    if (moved != NULL)
        *moved = !job->duplicate;
    store_job_free(&job);
    return got;
}

/* UNREAD for user over chat/x and a topic never stored. */
static void unread1(struct store_sql *s, const char *user,
                    struct store_mark *out)
{
    struct store_job *job = store_job_new(STORE_JOB_UNREAD, NULL);

    assert_non_null(job);
    job->from = strdup(user);
    assert_int_equal(store_job_set_marks(job, 2), 0);
    job->marks[0].topic = strdup("chat/x");
    job->marks[1].topic = strdup("chat/never");
    store_sql_run_read(s, job);
    assert_int_equal(job->err, 0);
    assert_int_equal(job->marks[1].seq, 0);
    assert_int_equal(job->marks[1].unread, 0);
    *out = job->marks[0];
    out->topic = NULL;
    store_job_free(&job);
}

static void test_chat_markers(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_mark m;
    uint64_t pruned = 0;
    bool moved = false;
    int i = 0;

    /* 1-3 by bob (indexed), 4 by alice, 5 an edit and 6 a deletion by
     * bob (of 1, so 1 is deleted), 7 by bob, in the tail. */
    for (i = 0; i < 3; i++)
        chat_ok(s, "bob", "{\"t\":1}", 0, 0, 0, false);
    prune_all(s, NOW, &pruned);
    chat_ok(s, "alice", "{\"t\":4}", 0, 0, 0, false);
    chat_ok(s, "bob", "{\"t\":5}", 2, 0, 0, false);
    chat_ok(s, "bob", "null", 0, 1, 0, false);
    chat_ok(s, "bob", "{\"t\":7}", 0, 0, 0, false);

    unread1(s, "alice", &m);
    assert_int_equal(m.seq, 7);
    assert_int_equal(m.marked, 0);
    assert_int_equal(m.unread, 3);     /* 2, 3, 7 */
    assert_false(m.more);

    assert_int_equal(mark1(s, "alice", 2, &moved), 2);
    assert_true(moved);
    assert_int_equal(mark1(s, "alice", 1, &moved), 2);  /* never back */
    assert_false(moved);
    assert_int_equal(mark1(s, "alice", 99, &moved), 7); /* at most last */
    assert_int_equal(mark1(s, "carol", 3, NULL), 3);    /* per user */
    unread1(s, "alice", &m);
    assert_int_equal(m.marked, 7);
    assert_int_equal(m.unread, 0);
    unread1(s, "carol", &m);
    assert_int_equal(m.marked, 3);
    assert_int_equal(m.unread, 2);     /* 4, 7 */
    store_sql_close(&s);

    /* Markers survive; counting stops at STORE_UNREAD_MAX. */
    s = open_sql(f, NULL, 0, 0, 0);
    unread1(s, "alice", &m);
    assert_int_equal(m.marked, 7);
    for (i = 0; i < STORE_UNREAD_MAX + 5; i++)
        chat_ok(s, "bob", "{\"t\":1}", 0, 0, 0, false);
    unread1(s, "alice", &m);
    assert_int_equal(m.unread, STORE_UNREAD_MAX);
    assert_true(m.more);
    store_sql_close(&s);
}

/* Search chat/# (or pattern) for q; returns the job (caller frees). */
static struct store_job *search1(struct store_sql *s, const char *pattern,
                                 const char *q, int limit, int64_t before,
                                 const char *const *allow, size_t n_allow)
{
    struct store_job *job = store_job_new(STORE_JOB_SEARCH, pattern);

    assert_non_null(job);
    assert_int_equal(store_job_set_search(job, q, (char *const *)allow,
                                          n_allow, allow != NULL), 0);
    job->limit = limit;
    job->before = before;
    store_sql_run_read(s, job);
    return job;
}

/* The seqs a search found, newest first, as "7,3,1". */
static void expect_found(struct store_sql *s, const char *pattern,
                         const char *q, const char *want)
{
    struct store_job *job = search1(s, pattern, q, 100, 0, NULL, 0);
    char got[256] = "";
    size_t k = 0;

    assert_int_equal(job->err, 0);
    for (size_t i = 0; i < job->n_rows; i++)
        k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%lld",
                              i > 0 ? "," : "",
                              (long long)job->rows[i].seq);
    if (strcmp(got, want) != 0)
        print_error("search %s for [%s]: got [%s], want [%s]\n", pattern, q,
                    got, want);
    assert_string_equal(got, want);
    store_job_free(&job);
}

static void test_chat_search(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *job = NULL;
    const char *const allow_x[] = {"chat/x"};
    uint64_t pruned = 0;

    chat_ok(s, "alice", "{\"text\":\"the deploy failed again\"}", 0, 0, 0,
            false);                                               /* 1 */
    chat_ok(s, "bob", "{\"a\":[{\"b\":\"Deployment fine\"}],\"n\":3}", 0,
            0, 0, false);                                         /* 2 */
    chat_ok(s, "alice", "{\"text\":\"failed deploy, rolling back\"}", 0, 0,
            0, false);                                            /* 3 */
    chat_ok(s, "alice", "{\"text\":\"lunch?\",\"deploy\":1}", 0, 0, 0,
            false);                                               /* 4 */
    prune_all(s, NOW, &pruned);
    expect_found(s, "chat/#", "deploy", "3,1");    /* keys are not text */
    expect_found(s, "chat/#", "DEPLOY Failed", "3,1");
    expect_found(s, "chat/#", "\"deploy failed\"", "1");
    expect_found(s, "chat/#", "deploy*", "3,2,1");
    expect_found(s, "chat/#", "NEAR(deploy) OR lunch", "");
    expect_found(s, "chat/+", "lunch", "4");
    expect_found(s, "other/#", "lunch", "");

    /* An edit is found by its new text, the original no more. */
    chat_ok(s, "alice", "{\"text\":\"deploy worked after all\"}", 3, 0, 0,
            false);                                               /* 5 */
    expect_found(s, "chat/#", "rolling", "");
    expect_found(s, "chat/#", "worked", "5");
    chat_ok(s, "alice", "{\"text\":\"deploy fixed\"}", 3, 0, 0, false); /* 6 */
    expect_found(s, "chat/#", "worked", "");
    expect_found(s, "chat/#", "deploy", "6,1");
    job = search1(s, "chat/#", "fixed", 10, 0, NULL, 0);
    assert_int_equal(job->n_rows, 1);
    assert_int_equal(job->rows[0].edit_of, 3);
    assert_string_equal(job->rows[0].topic, "chat/x");
    assert_string_equal(job->rows[0].from, "alice");
    store_job_free(&job);

    /* Deleted, with its edits: found no more. */
    chat_ok(s, "alice", "null", 0, 3, 0, false);                  /* 7 */
    expect_found(s, "chat/#", "deploy", "1");
    chat_ok(s, "alice", "null", 0, 1, 0, false);                  /* 8 */
    expect_found(s, "chat/#", "deploy", "");
    expect_found(s, "chat/#", "deploy*", "2");

    /* limit, before (a ts), allowed topics, a q with no word. */
    chat_ok(s, "bob", "{\"text\":\"lunch now\"}", 0, 0, 0, false); /* 9 */
    job = search1(s, "#", "lunch", 1, 0, NULL, 0);
    assert_int_equal(job->n_rows, 1);
    assert_int_equal(job->rows[0].seq, 9);
    store_job_free(&job);
    job = search1(s, "#", "lunch", 10, NOW, NULL, 0);
    assert_int_equal(job->n_rows, 0);
    store_job_free(&job);
    job = search1(s, "#", "lunch", 10, NOW + 1, allow_x, 1);
    assert_int_equal(job->n_rows, 2);
    store_job_free(&job);
    job = search1(s, "#", "lunch", 10, 0, allow_x + 0, 0);
    assert_int_equal(job->n_rows, 0);   /* an empty allow list: nothing */
    store_job_free(&job);
    job = search1(s, "#", "\" * - ", 10, 0, NULL, 0);
    assert_int_equal(job->err, PL_ERR_BAD_REQUEST);
    store_job_free(&job);
    store_sql_close(&s);
}

/* What a search found, newest first, as "chat/x:5,chat/x:1". */
static void found_text(const struct store_job *job, char *out, size_t cap)
{
    size_t k = 0;

    out[0] = '\0';
    for (size_t i = 0; i < job->n_rows && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s:%lld",
                              i > 0 ? "," : "", job->rows[i].topic,
                              (long long)job->rows[i].seq);
}

/* The same, by plain SQLite on the file (fq: FTS5 query syntax). */
static void found_sql(sqlite3 *db, const char *fq, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    size_t k = 0;

    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT t.name, m.seq FROM msg_fts"
        " JOIN messages m ON m.id = msg_fts.rowid"
        " JOIN topics t ON t.id = m.topic_id"
        " WHERE msg_fts MATCH ?1 ORDER BY msg_fts.rowid DESC", -1, &st,
        NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, fq, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW && k < cap)
        k += (size_t)snprintf(out + k, cap - k, "%s%s:%lld",
                              k > 0 ? "," : "",
                              (const char *)sqlite3_column_text(st, 0),
                              (long long)sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
}

/* Migration 007 rebuilds msg_fts (without its docsize table) from the
 * log: a version-5 file with edits, a deletion and an accent answers
 * every search as it did before the upgrade. */
static void test_v5_fts_fixture(void **state)
{
    static const char *const q[][2] = {
        /* client's q, the same in FTS5 syntax */
        {"deploy", "deploy"},
        {"deploy*", "deploy*"},
        {"DEPLOYMENT", "deployment"},
        {"\"deploy failed\"", "\"deploy failed\""},
        {"fixed deploy", "fixed deploy"},
        {"lunch", "lunch"},
        {"rolling", "rolling"},
        {"worked", "worked"},
    };
    struct tmpdb *f = *state;
    char before[8][256], after[256];
    struct store_sql *s = NULL;
    struct store_job *job = NULL;
    sqlite3 *db = NULL;
    size_t i = 0;

    db_from_script(f, "v5.sql");
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    for (i = 0; i < 8; i++)
        found_sql(db, q[i][1], before[i], sizeof(before[i]));
    sqlite3_close(db);
    assert_string_equal(before[0], "chat/x:6,chat/x:5,chat/x:1");
    assert_string_equal(before[1], "chat/x:6,chat/x:5,chat/x:2,chat/x:1");
    assert_string_equal(before[6], "");

    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"), newest_version());
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 9);
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master"
                                  " WHERE name = 'msg_fts_docsize'"), 0);
    for (i = 0; i < 8; i++) {
        job = search1(s, "#", q[i][0], 100, 0, NULL, 0);
        assert_int_equal(job->err, 0);
        found_text(job, after, sizeof(after));
        if (strcmp(before[i], after) != 0)
            print_error("search [%s]: before [%s], after [%s]\n", q[i][0],
                        before[i], after);
        assert_string_equal(before[i], after);
        store_job_free(&job);
    }
    /* Edits and deletions keep working on the rebuilt index. */
    chat_ok(s, "alice", "{\"text\":\"deploy undone\"}", 3, 0, 0, false);
    expect_found(s, "chat/#", "fixed", "");
    expect_found(s, "chat/#", "undone", "7");
    chat_ok(s, "alice", "null", 0, 1, 0, false);
    expect_found(s, "chat/#", "deploy", "7,6");
    store_sql_close(&s);
}

/* The store indexes search text in bulk: a commit leaves msg_fts alone
 * until STORE_SQL_FTS_BATCH messages wait (or maintenance, or a search,
 * comes); edits and deletions of versions not indexed yet, and a close
 * before any catch-up (a crash), still leave each message found by its
 * latest text only. */
static void test_fts_in_bulk(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job **jobs = NULL;
    uint64_t b = 0, r = 0, e = 0, pruned = 0;
    size_t n = STORE_SQL_FTS_BATCH;
    size_t i = 0;

    chat_ok(s, "alice", "{\"text\":\"first words\"}", 0, 0, 0, false); /* 1 */
    chat_ok(s, "alice", "{\"text\":\"second words\"}", 0, 0, 0, false);/* 2 */
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 0);
    expect_found(s, "chat/#", "words", "2,1");   /* a search catches up */
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 2);

    /* Not indexed yet when edited again, or deleted. */
    chat_ok(s, "alice", "{\"text\":\"alpha one\"}", 0, 0, 0, false);  /* 3 */
    chat_ok(s, "alice", "{\"text\":\"alpha two\"}", 3, 0, 0, false);  /* 4 */
    chat_ok(s, "alice", "{\"text\":\"alpha three\"}", 3, 0, 0, false);/* 5 */
    chat_ok(s, "alice", "{\"text\":\"beta\"}", 0, 0, 0, false);       /* 6 */
    chat_ok(s, "alice", "null", 0, 6, 0, false);                     /* 7 */
    /* An indexed version edited, then its edit edited before indexing. */
    chat_ok(s, "alice", "{\"text\":\"zeta\"}", 1, 0, 0, false);       /* 8 */
    chat_ok(s, "alice", "{\"text\":\"omega\"}", 1, 0, 0, false);      /* 9 */
    chat_ok(s, "alice", "{\"text\":\"gamma\"}", 0, 0, 0, false);      /* 10 */
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 2);
    store_sql_close(&s);   /* no catch-up: as a crash leaves it */

    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 10);
    expect_found(s, "chat/#", "alpha", "5");
    expect_found(s, "chat/#", "one", "");
    expect_found(s, "chat/#", "two", "");
    expect_found(s, "chat/#", "beta", "");
    expect_found(s, "chat/#", "zeta", "");
    expect_found(s, "chat/#", "omega", "9");
    expect_found(s, "chat/#", "words", "2");
    expect_found(s, "chat/#", "gamma", "10");

    /* Maintenance catches up what the commits left. */
    chat_ok(s, "alice", "{\"text\":\"delta\"}", 0, 0, 0, false);      /* 11 */
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 10);
    prune_all(s, NOW, &pruned);
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"), 11);

    /* A batch that brings STORE_SQL_FTS_BATCH waiting: indexed in it. */
    jobs = calloc(n, sizeof(*jobs));
    assert_non_null(jobs);
    for (i = 0; i < n; i++)
        jobs[i] = pub_job("chat/y", "{\"text\":\"bulk\"}", NULL, false, NOW);
    assert_int_equal(store_sql_run_pubs(s, jobs, n, NULL, NULL, &b, &r, &e),
                     0);
    for (i = 0; i < n; i++)
        store_job_free(&jobs[i]);
    free(jobs);
    assert_int_equal(query_int(s, "SELECT fts_upto FROM log_state"),
                     11 + (int64_t)n);
    store_sql_close(&s);
}

/* Closing without an index write is what a crash leaves: the next open
 * reads the unindexed rows back from the log, seq continues. Also after an
 * index cycle cut short after its first slice (more topics than one slice
 * takes). */
static void test_tails_survive_reopen(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job **jobs = NULL;
    uint64_t b = 0, r = 0, e = 0, pruned = 0;
    size_t n = STORE_SQL_INDEX_SLICE_TOPICS + 100;
    size_t i = 0;
    char topic[32];

    for (i = 0; i < 7; i++)
        pub1(s, "a", NULL, NOW, NULL);
    store_sql_close(&s);
    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(store_sql_last_seq(s, "a"), 7);
    assert_int_equal(store_sql_unindexed(s), 7);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 0, 100, 100), 1, 7);
    assert_int_equal(pub1(s, "a", NULL, NOW, NULL), 8);

    jobs = calloc(n, sizeof(*jobs));
    assert_non_null(jobs);
    for (i = 0; i < n; i++) {
        snprintf(topic, sizeof(topic), "t/%zu", i);
        jobs[i] = pub_job(topic, "1", NULL, false, NOW);
    }
    assert_int_equal(store_sql_run_pubs(s, jobs, n, NULL, NULL, &b, &r, &e),
                     0);
    for (i = 0; i < n; i++)
        store_job_free(&jobs[i]);
    free(jobs);
    /* One slice: some topics indexed, the watermark behind the rest. */
    assert_int_equal(store_sql_prune(s, NOW, 1, &pruned), 1);
    assert_true(store_sql_unindexed(s) > 0);
    assert_true(store_sql_unindexed(s) < n + 8);
    store_sql_close(&s);

    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(store_sql_last_seq(s, "a"), 8);
    for (i = 0; i < n; i++) {
        snprintf(topic, sizeof(topic), "t/%zu", i);
        assert_int_equal(store_sql_last_seq(s, topic), 1);
    }
    assert_int_equal(pub1(s, "t/0", NULL, NOW, NULL), 2);
    snprintf(topic, sizeof(topic), "t/%zu", n - 1);
    assert_int_equal(pub1(s, topic, NULL, NOW, NULL), 2);
    prune_all(s, NOW, &pruned);
    assert_int_equal(store_sql_unindexed(s), 0);
    assert_int_equal(query_int(s, INDEXED_IDS),
                     (int64_t)n + 10);
    assert_int_equal(query_int(s, "SELECT indexed_upto FROM log_state"),
                     query_int(s, "SELECT max(id) FROM messages"));
    expect_seqs(read_job(s, STORE_JOB_AFTER, topic, 0, 100, 100), 1, 2);
    store_sql_close(&s);
}

/* When the index cannot be written, the tails stop at their bound: the
 * publishes that would pass it fail (nothing acknowledged, no seq spent),
 * and the next batch that can write the index goes through. */
static void test_tails_bounded_when_index_fails(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql_tails(f, 100);
    struct store_job *jobs[10];
    uint64_t b = 0, r = 0, e = 0;
    size_t i = 0;
    int round = 0;

    for (round = 0; round < 10; round++) {
        for (i = 0; i < 10; i++)
            jobs[i] = pub_job("a", "1", NULL, false, NOW);
        assert_int_equal(store_sql_run_pubs(s, jobs, 10, NULL, NULL, &b,
                                            &r, &e), 0);
        for (i = 0; i < 10; i++)
            store_job_free(&jobs[i]);
    }
    assert_int_equal(store_sql_unindexed(s), 100);

    store_sql_fail_index(s, 3);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 10; i++)
            jobs[i] = pub_job("a", "1", NULL, false, NOW);
        assert_int_equal(store_sql_run_pubs(s, jobs, 10, NULL, NULL, &b,
                                            &r, &e), -PL_ERR_INTERNAL);
        for (i = 0; i < 10; i++) {
            assert_int_equal(jobs[i]->err, PL_ERR_INTERNAL);
            store_job_free(&jobs[i]);
        }
        assert_int_equal(store_sql_unindexed(s), 100);
        assert_int_equal(store_sql_last_seq(s, "a"), 100);
    }
    /* The index works again: written in the batch, seq continues. */
    assert_int_equal(pub1(s, "a", NULL, NOW, NULL), 101);
    assert_int_equal(store_sql_unindexed(s), 1);
    assert_int_equal(query_int(s, INDEXED_IDS), 100);
    expect_seqs(read_job(s, STORE_JOB_AFTER, "a", 95, 1000, 100), 96, 101);
    store_sql_close(&s);
}

/* ---- a crash in the middle of the upgrade ------------------------------- */

static void crash_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    _exit(9);
}

/* sqlite3_auto_extension entry: every new connection gets crash_now(). */
static int add_crash_fn(sqlite3 *db, const char **err,
                        const struct sqlite3_api_routines *api)
{
    (void)err;
    (void)api;
    return sqlite3_create_function(db, "parley_test_crash", 0, SQLITE_UTF8,
                                   NULL, crash_now, NULL, NULL);
}

/* The process dies inside 002's transaction, after its statements ran
 * (msg_index built, the old index dropped) and some pages may have
 * reached the WAL: the file must still open as version 1, then upgrade. */
static void test_crash_mid_migration(void **state)
{
    struct tmpdb *f = *state;
    struct store_migration migs[16];
    char *crashing = NULL;
    struct store_sql *s = NULL;
    struct store_job *job = NULL;
    int status = 0;
    pid_t pid = 0;
    size_t i = 0;

    assert_true(store_n_migrations >= 2 && store_n_migrations < 16);
    db_from_script(f, "v1.sql");
    for (i = 0; i < store_n_migrations; i++)
        migs[i] = store_migrations[i];
    assert_true(asprintf(&crashing, "%s;\n"
                         "PRAGMA cache_size = 1;\n"
                         "SELECT parley_test_crash();", migs[1].sql) > 0);
    migs[1].sql = crashing;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *err = NULL;
        struct store_sql_config cfg;

        memset(&cfg, 0, sizeof(cfg));
        cfg.path = f->path;
        cfg.migrations = migs;
        cfg.n_migrations = 2;
        sqlite3_auto_extension((void (*)(void))add_crash_fn);
        store_sql_open(&cfg, &err);
        _exit(0);               /* the crash did not happen */
    }
    free(crashing);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 9);

    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"),
                     newest_version());
    assert_int_equal(store_sql_last_seq(s, "chat/general"), 4);
    job = read_job(s, STORE_JOB_AFTER, "chat/general", 0, 100, 10);
    assert_int_equal(job->first_seq, 3);
    expect_seqs(job, 3, 4);
    assert_int_equal(pub1(s, "chat/general", NULL, NOW, NULL), 5);
    assert_int_equal(pub1(s, "sensors/t1", NULL, NOW, NULL), 3);
    store_sql_close(&s);
}

/* ---- MQTT persistent sessions (003) -------------------------------------- */

struct mqtt_seen {
    char text[1024];
};

static int mqtt_row(void *arg, const struct store_mqtt_row *row)
{
    struct mqtt_seen *seen = arg;
    size_t n = strlen(seen->text);

    snprintf(seen->text + n, sizeof(seen->text) - n, "%d %s %s %lld;",
             (int)row->kind, row->client_id, row->name,
             (long long)row->value);
    return 0;
}

static struct store_job *mqtt_job(const char *id, bool drop)
{
    struct store_job *job = store_job_new(STORE_JOB_MQTT, NULL);

    assert_non_null(job);
    job->mqtt = calloc(1, sizeof(*job->mqtt));
    assert_non_null(job->mqtt);
    job->mqtt->client_id = strdup(id);
    job->mqtt->user = strdup("dev");
    job->mqtt->drop = drop;
    job->mqtt->now_ms = NOW;
    return job;
}

static void mqtt_add_cursor(struct store_job *job, const char *topic,
                            int64_t seq)
{
    struct store_mqtt *m = job->mqtt;

    m->cursors = realloc(m->cursors, (m->n_cursors + 1) * sizeof(*m->cursors));
    assert_non_null(m->cursors);
    m->cursors[m->n_cursors].topic = strdup(topic);
    m->cursors[m->n_cursors++].seq = seq;
}

/*
 * A file made at version 4 by a build without migration 003 (numbers
 * reserved by branches, see sql_migrate) skipped it for good: the open
 * creates the session tables all the same. Then a session's filters and
 * cursors are written in the publish batch's transaction, cursors only
 * move up, the start-up read returns them, and a drop deletes them.
 */
static void test_mqtt_sessions(void **state)
{
    struct tmpdb *f = *state;
    struct store_migration migs[16];
    struct store_sql *s = NULL;
    struct store_job *job = NULL;
    struct mqtt_seen seen;
    size_t n = 0, i = 0;

    for (i = 0; i < store_n_migrations; i++)
        if (store_migrations[i].version != 3)
            migs[n++] = store_migrations[i];
    assert_true(n < store_n_migrations); /* 003 exists */
    s = open_sql(f, migs, n, 0, 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE"
                                  " name = 'mqtt_cursors'"), 0);
    store_sql_close(&s);

    s = open_sql(f, NULL, 0, 0, 0);
    assert_int_equal(query_int(s, "PRAGMA user_version"), newest_version());
    assert_int_equal(query_int(s, "SELECT count(*) FROM sqlite_master WHERE"
                                  " name IN ('mqtt_sessions','mqtt_subs',"
                                  "'mqtt_cursors')"), 3);

    job = mqtt_job("dev1", false);
    job->mqtt->set_subs = true;
    job->mqtt->subs = calloc(2, sizeof(*job->mqtt->subs));
    job->mqtt->subs[0].filter = strdup("sensors/#");
    job->mqtt->subs[0].qos = 1;
    job->mqtt->subs[1].filter = strdup("cmd/dev1");
    job->mqtt->subs[1].qos = 2;
    job->mqtt->n_subs = 2;
    mqtt_add_cursor(job, "sensors/t1", 7);
    assert_int_equal(run1(s, job), 0);
    assert_int_equal(job->err, 0);
    store_job_free(&job);

    /* a cursor never moves back; an unchanged filter set is kept */
    job = mqtt_job("dev1", false);
    mqtt_add_cursor(job, "sensors/t1", 5);
    mqtt_add_cursor(job, "sensors/t2", 3);
    assert_int_equal(run1(s, job), 0);
    store_job_free(&job);
    job = mqtt_job("dev2", false);
    assert_int_equal(run1(s, job), 0);
    store_job_free(&job);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_sql_foreach_mqtt(s, mqtt_row, &seen), 0);
    assert_string_equal(seen.text,
                        "0 dev1 dev 1764130000000;0 dev2 dev 1764130000000;"
                        "1 dev1 cmd/dev1 2;1 dev1 sensors/# 1;"
                        "2 dev1 sensors/t1 7;2 dev1 sensors/t2 3;");

    job = mqtt_job("dev1", true);
    assert_int_equal(run1(s, job), 0);
    store_job_free(&job);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_sql_foreach_mqtt(s, mqtt_row, &seen), 0);
    assert_string_equal(seen.text, "0 dev2 dev 1764130000000;");
    store_sql_close(&s);
}

/* A QoS 2 publish of client id at packet id 7 on topic "q2/t": the seq
 * it got, and whether it was a duplicate, must be these. */
static void qos2_pub(struct store_sql *s, const char *id, const char *data,
                     int64_t seq, bool duplicate)
{
    struct store_job *job = pub_job("q2/t", data, NULL, false, NOW);

    assert_int_equal(store_job_set_qos2(job, id, 7), 0);
    assert_int_equal(run1(s, job), 0);
    assert_int_equal(job->seq, seq);
    assert_int_equal(job->duplicate, duplicate);
    store_job_free(&job);
}

/* PUBREL of client id's packet id 7. */
static void qos2_release(struct store_sql *s, const char *id)
{
    struct store_job *job = mqtt_job(id, false);

    job->mqtt->qos2_release = 7;
    assert_int_equal(run1(s, job), 0);
    store_job_free(&job);
}

/*
 * Inbound QoS 2 of a persistent session (#14): the packet id is kept in
 * the message's transaction, so a retry is the original's duplicate
 * (same seq, nothing stored) until the release; then the id carries a
 * new message. Another client's id 7 is its own. A failed commit keeps
 * neither the message nor the id; a session drop forgets its ids.
 */
static void test_mqtt_qos2(void **state)
{
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *job = NULL;
    uint64_t b = 0, r = 0, e = 0;

    qos2_pub(s, "dev1", "1", 1, false);
    qos2_pub(s, "dev1", "1", 1, true);
    qos2_pub(s, "dev2", "x", 2, false);
    qos2_release(s, "dev1");
    qos2_pub(s, "dev1", "2", 3, false);

    /* a failed commit: neither the message nor its id */
    qos2_release(s, "dev1");
    job = pub_job("q2/t", "3", NULL, false, NOW);
    assert_int_equal(store_job_set_qos2(job, "dev1", 7), 0);
    assert_int_equal(store_sql_run_pubs(s, &job, 1, fail_always, NULL, &b,
                                        &r, &e),
                     -PL_ERR_INTERNAL);
    store_job_free(&job);
    assert_int_equal(query_int(s, "SELECT count(*) FROM mqtt_qos2"
                                  " WHERE client_id = 'dev1'"), 0);
    qos2_pub(s, "dev1", "3", 4, false);

    job = mqtt_job("dev1", true);
    assert_int_equal(run1(s, job), 0);
    store_job_free(&job);
    assert_int_equal(query_int(s, "SELECT count(*) FROM mqtt_qos2"), 1);
    assert_int_equal(query_int(s, "SELECT seq FROM mqtt_qos2"
                                  " WHERE client_id = 'dev2'"), 2);
    store_sql_close(&s);
}

/* Collects the retained raw payloads seen by store_sql_foreach_topic. */
struct raw_seen {
    char name[32];
    unsigned char raw[32];
    size_t raw_len;
    bool has_raw;
};

static int raw_topic(void *arg, const struct store_topic_info *t)
{
    struct raw_seen *seen = arg;

    if (strcmp(t->name, seen->name) != 0 || !t->has_retained)
        return 0;
    seen->has_raw = t->r_raw != NULL;
    seen->raw_len = t->r_raw_len;
    assert_true(t->r_raw_len <= sizeof(seen->raw));
    if (t->r_raw_len > 0)
        memcpy(seen->raw, t->r_raw, t->r_raw_len);
    return 0;
}

/* MQTT (#14): a message's exact payload (messages.raw, retained.raw) goes
 * in with the PUB and comes back with every read, after a reopen too;
 * a message without one stores NULL; a deletion erases it with the data. */
static void test_mqtt_raw(void **state)
{
    static const char raw[] = "{\"t\": 21.5}";
    struct tmpdb *f = *state;
    struct store_sql *s = open_sql(f, NULL, 0, 0, 0);
    struct store_job *job = pub_job("dev/t", "{\"t\":21.5}", NULL, true, NOW);
    struct raw_seen seen;

    assert_int_equal(store_job_set_raw(job, raw, strlen(raw)), 0);
    assert_int_equal(run1(s, job), 0);
    assert_int_equal(job->seq, 1);
    store_job_free(&job);
    pub1(s, "dev/t", NULL, NOW, NULL); /* no raw: a JSON pub */
    assert_int_equal(query_int(s, "SELECT count(*) FROM messages"
                                  " WHERE raw IS NULL"), 1);
    assert_int_equal(query_int(s, "SELECT length(raw) FROM messages"
                                  " WHERE raw IS NOT NULL"),
                     (int64_t)strlen(raw));
    assert_int_equal(query_int(s, "SELECT length(raw) FROM retained"),
                     (int64_t)strlen(raw));
    store_sql_close(&s);

    s = open_sql(f, NULL, 0, 0, 0);
    job = read_job(s, STORE_JOB_AFTER, "dev/t", 0, 2, 10);
    assert_int_equal(job->n_rows, 2);
    assert_int_equal(job->rows[0].raw_len, strlen(raw));
    assert_memory_equal(job->rows[0].raw, raw, strlen(raw));
    assert_string_equal(job->rows[0].data, "{\"t\":21.5}");
    assert_null(job->rows[1].raw);
    assert_int_equal(job->rows[1].raw_len, 0);
    store_job_free(&job);
    job = read_job(s, STORE_JOB_BEFORE, "dev/t", 0, 0, 10);
    assert_int_equal(job->n_rows, 2);
    assert_memory_equal(job->rows[0].raw, raw, strlen(raw));
    assert_null(job->rows[1].raw);
    store_job_free(&job);

    /* the retained copy keeps its bytes for the start-up load */
    memset(&seen, 0, sizeof(seen));
    strcpy(seen.name, "dev/t");
    assert_int_equal(store_sql_foreach_topic(s, raw_topic, &seen), 0);
    assert_true(seen.has_raw);
    assert_int_equal(seen.raw_len, strlen(raw));
    assert_memory_equal(seen.raw, raw, strlen(raw));

    /* a deletion erases the exact bytes along with the data */
    job = store_job_new(STORE_JOB_PUB, "dev/t");
    assert_non_null(job);
    assert_int_equal(store_job_set_pub(job, "null", 4, true, false, "alice",
                                       NULL, NOW), 0);
    job->redacts = 1;
    assert_int_equal(run1(s, job), 0);
    assert_int_equal(job->err, 0);
    store_job_free(&job);
    assert_int_equal(query_int(s, "SELECT count(*) FROM messages"
                                  " WHERE raw IS NOT NULL"), 0);
    store_sql_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TMPDB_TEST(test_fresh_database),
        TMPDB_TEST(test_newer_schema_refused),
        TMPDB_TEST(test_upgrade_keeps_data),
        TMPDB_TEST(test_migration_gap),
        TMPDB_TEST(test_v1_fixture),
        TMPDB_TEST(test_v2_fixture),
        TMPDB_TEST(test_corrupt_file_refused),
        TMPDB_TEST(test_locked_refused),
        TMPDB_TEST(test_unwritable_dir_refused),
        TMPDB_TEST(test_batch_and_rollback),
        TMPDB_TEST(test_statement_failure_rolls_back),
        TMPDB_TEST(test_dedupe_and_retained),
        TMPDB_TEST(test_reads),
        TMPDB_TEST(test_prune_by_count),
        TMPDB_TEST(test_prune_by_age_and_dedupe),
        TMPDB_TEST(test_reads_span_index_and_tail),
        TMPDB_TEST(test_small_chunks_merge),
        TMPDB_TEST(test_chat_edit_delete),
        TMPDB_TEST(test_chat_markers),
        TMPDB_TEST(test_mqtt_sessions),
        TMPDB_TEST(test_mqtt_qos2),
        TMPDB_TEST(test_mqtt_raw),
        TMPDB_TEST(test_chat_search),
        TMPDB_TEST(test_v5_fts_fixture),
        TMPDB_TEST(test_fts_in_bulk),
        TMPDB_TEST(test_tails_survive_reopen),
        TMPDB_TEST(test_tails_bounded_when_index_fails),
        TMPDB_TEST(test_crash_mid_migration),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
