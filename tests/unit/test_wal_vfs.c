/*
 * test_wal_vfs.c: db/wal_vfs.c against real SQLite files. A commit goes
 * out in a few large writes instead of two per page; another connection
 * sees every commit the moment COMMIT returns; commits larger than the
 * buffer (and than the 128 KiB SQLite's unix VFS can write in one call)
 * work; synchronous=FULL works; and a process killed in the middle of a
 * transaction leaves every earlier commit in the file, intact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wal_vfs.h"
#include "tmpdir.h"


static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err != NULL ? err : sqlite3_errstr(rc));
}

/* A writer through the VFS, in WAL mode, with `sync` (NORMAL or FULL). */
static sqlite3 *open_writer(const char *path, const char *sync)
{
    sqlite3 *db = NULL;
    char sql[64];

    assert_non_null(wal_vfs_name());
    assert_int_equal(sqlite3_open_v2(path, &db,
                                     SQLITE_OPEN_READWRITE |
                                     SQLITE_OPEN_CREATE, wal_vfs_name()),
                     SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode = WAL");
    snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", sync);
    exec_ok(db, sql);
    /* Only the tests' own checkpoints: each must see what it expects. */
    sqlite3_wal_autocheckpoint(db, 0);
    exec_ok(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, "
                "v BLOB NOT NULL)");
    return db;
}

/* A reader through SQLite's default VFS, as the sqlite3 shell would be. */
static sqlite3 *open_reader(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    return db;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Insert rows [from, from + n) of `size` bytes each in one transaction. */
static void insert_rows(sqlite3 *db, int from, int n, int size)
{
    sqlite3_stmt *ins = NULL;
    int i = 0;

    exec_ok(db, "BEGIN");
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES(?1, "
                                        "zeroblob(?2))", -1, &ins, NULL),
                     SQLITE_OK);
    for (i = from; i < from + n; i++) {
        sqlite3_bind_int(ins, 1, i);
        sqlite3_bind_int(ins, 2, size);
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec_ok(db, "COMMIT");
}

static void check_rows(sqlite3 *db, int64_t n, int64_t bytes)
{
    assert_int_equal(query_int(db, "SELECT count(*) FROM t"), n);
    assert_int_equal(query_int(db, "SELECT total(length(v)) FROM t"), bytes);
}

/* 20 rows on 20 pages: about 40 write requests, a handful of writes. */
static void test_commit_is_gathered(void **state)
{
    struct tmpdb *f = *state;
    sqlite3 *w = open_writer(f->path, "NORMAL");
    sqlite3 *r = open_reader(f->path);
    unsigned long long sys0 = 0, req0 = 0, sys1 = 0, req1 = 0;

    wal_vfs_counts(&sys0, &req0);
    insert_rows(w, 0, 20, 3000);
    wal_vfs_counts(&sys1, &req1);
    assert_true(req1 - req0 >= 40);
    assert_true(sys1 - sys0 <= 2);
    /* Another connection, another VFS: the commit is in the file. */
    check_rows(r, 20, 20 * 3000);
    sqlite3_close(r);
    sqlite3_close(w);
}

/* Every commit is readable by another connection as soon as it returns. */
static void test_each_commit_visible(void **state)
{
    struct tmpdb *f = *state;
    sqlite3 *w = open_writer(f->path, "NORMAL");
    sqlite3 *r = open_reader(f->path);
    int i = 0;

    for (i = 0; i < 200; i++) {
        insert_rows(w, i * 3, 3, 100 + i);
        assert_int_equal(query_int(r, "SELECT count(*) FROM t"), (i + 1) * 3);
    }
    sqlite3_close(r);
    sqlite3_close(w);
}

/* 4 MiB in one transaction: many times the buffer, and far more than the
 * unix VFS writes in one call (its length is masked with 0x1ffff: a 256
 * KiB write would come back as "database or disk is full"). Then again
 * with synchronous=FULL, which syncs the WAL inside the commit. */
static void test_large_commits(void **state)
{
    struct tmpdb *f = *state;
    const char *modes[] = { "NORMAL", "FULL" };
    int64_t rows = 0;
    size_t m = 0;

    for (m = 0; m < 2; m++) {
        sqlite3 *w = open_writer(f->path, modes[m]);
        sqlite3 *r = open_reader(f->path);

        insert_rows(w, (int)rows, 64, 65536);
        rows += 64;
        check_rows(r, rows, rows * 65536);
        /* A checkpoint reads the WAL back through the same file. */
        assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL,
                                                   SQLITE_CHECKPOINT_TRUNCATE,
                                                   NULL, NULL),
                         SQLITE_OK);
        check_rows(r, rows, rows * 65536);
        sqlite3_close(r);
        sqlite3_close(w);
    }
}

/* A child commits 50 transactions, starts a 51st big enough to spill to
 * the WAL, and dies without closing anything. The parent finds the 50
 * commits, nothing of the 51st, and an intact database. */
static void test_killed_mid_transaction(void **state)
{
    struct tmpdb *f = *state;
    pid_t pid = fork();
    int status = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;

    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *w = open_writer(f->path, "NORMAL");
        sqlite3_stmt *ins = NULL;
        int i = 0;

        for (i = 0; i < 50; i++)
            insert_rows(w, i * 10, 10, 500);
        exec_ok(w, "PRAGMA cache_size = 10");
        exec_ok(w, "BEGIN");
        sqlite3_prepare_v2(w, "INSERT INTO t(k, v) VALUES(?1, "
                           "zeroblob(4000))", -1, &ins, NULL);
        for (i = 0; i < 400; i++) {
            sqlite3_bind_int(ins, 1, 100000 + i);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        _exit(0); /* no ROLLBACK, no close, no flush */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE,
                                     wal_vfs_name()),
                     SQLITE_OK);
    check_rows(db, 500, 500 * 500);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TMPDB_TEST(test_commit_is_gathered),
        TMPDB_TEST(test_each_commit_visible),
        TMPDB_TEST(test_large_commits),
        TMPDB_TEST(test_killed_mid_transaction),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
