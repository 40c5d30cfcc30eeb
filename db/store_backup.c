/*
 * store_backup.c: the online backup (see store_backup.h). Owns the
 * destination connection and the "<path>.part" file until the copy is
 * complete, synced and renamed into place.
 */
#include "store_backup.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct store_backup {
    sqlite3 *dst;
    sqlite3_backup *bk;
    char *path;
    char *part;
    int64_t started_us;
    int64_t steps;
    int64_t max_step_us;
    bool done;
};

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fail(struct store_backup_result *res, int rc, const char *what,
                 const char *detail)
{
    res->rc = rc;
    snprintf(res->err, sizeof(res->err), "%s%s%s", what,
             detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/* fsync a file, or the directory holding a path; 0 or -errno. */
static int sync_path(const char *path, bool dir)
{
    char *copy = strdup(path);
    int fd = -1;
    int rc = 0;

    if (copy == NULL)
        return -ENOMEM;
    fd = open(dir ? dirname(copy) : copy, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

struct store_backup *store_backup_begin(sqlite3 *src, const char *path,
                                        struct store_backup_result *res)
{
    struct store_backup *b = NULL;
    struct stat st;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    if (path[0] != '/') {
        fail(res, -EINVAL, "the backup file must be an absolute path", NULL);
        return NULL;
    }
    if (stat(path, &st) == 0) {
        fail(res, -EEXIST, "the backup file exists already", path);
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        goto oom;
    b->path = strdup(path);
    b->part = malloc(strlen(path) + sizeof(".part"));
    if (b->path == NULL || b->part == NULL)
        goto oom;
    sprintf(b->part, "%s.part", path);
    if (stat(b->part, &st) == 0) {
        fail(res, -EEXIST, "a backup is being written there already",
             b->part);
        free(b->part);
        b->part = NULL; /* not ours to remove */
        store_backup_end(&b);
        return NULL;
    }
    rc = sqlite3_open_v2(b->part, &b->dst,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        fail(res, -EIO, "cannot create the backup file",
             b->dst ? sqlite3_errmsg(b->dst) : sqlite3_errstr(rc));
        store_backup_end(&b);
        return NULL;
    }
    /* A partial copy is never used (it keeps its .part name), so the
     * copy needs no journal of its own; the end syncs it once. */
    sqlite3_exec(b->dst, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF",
                 NULL, NULL, NULL);
    b->bk = sqlite3_backup_init(b->dst, "main", src, "main");
    if (b->bk == NULL) {
        fail(res, -EIO, "cannot start the backup", sqlite3_errmsg(b->dst));
        store_backup_end(&b);
        return NULL;
    }
    b->started_us = mono_us();
    return b;
oom:
    fail(res, -ENOMEM, "out of memory", NULL);
    store_backup_end(&b);
    return NULL;
}

/* The copy is complete: close it, sync it, give it its name. */
static void finish(struct store_backup *b, struct store_backup_result *res)
{
    struct stat st;
    int rc = sqlite3_backup_finish(b->bk);

    b->bk = NULL;
    res->steps = b->steps;
    res->max_step_us = b->max_step_us;
    if (rc != SQLITE_OK) {
        fail(res, -EIO, "the backup failed", sqlite3_errstr(rc));
        return;
    }
    rc = sqlite3_close(b->dst);
    b->dst = NULL;
    if (rc != SQLITE_OK) {
        fail(res, -EIO, "cannot close the backup file", sqlite3_errstr(rc));
        return;
    }
    rc = sync_path(b->part, false);
    if (rc == 0 && rename(b->part, b->path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = sync_path(b->path, true);
    if (rc != 0) {
        fail(res, rc, "cannot put the backup file in place", strerror(-rc));
        return;
    }
    b->done = true;
    if (stat(b->path, &st) == 0)
        res->bytes = (int64_t)st.st_size;
    res->elapsed_ms = (mono_us() - b->started_us) / 1000;
}

int store_backup_step(struct store_backup *b, struct store_backup_result *res)
{
    int64_t t0 = mono_us();
    int64_t took = 0;
    int rc = sqlite3_backup_step(b->bk, STORE_BACKUP_STEP_PAGES);

    took = mono_us() - t0;
    b->steps++;
    if (took > b->max_step_us)
        b->max_step_us = took;
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return 1; /* more to copy, or try again after the next batch */
    memset(res, 0, sizeof(*res));
    if (rc != SQLITE_DONE) {
        res->steps = b->steps;
        fail(res, -EIO, "the backup failed", sqlite3_errstr(rc));
        return 0;
    }
    {
        int pages = sqlite3_backup_pagecount(b->bk);

        finish(b, res);
        res->pages = pages;
    }
    return 0;
}

void store_backup_end(struct store_backup **bp)
{
    struct store_backup *b = *bp;

    if (b == NULL)
        return;
    *bp = NULL;
    if (b->bk != NULL)
        sqlite3_backup_finish(b->bk);
    if (b->dst != NULL)
        sqlite3_close(b->dst);
    if (!b->done && b->part != NULL)
        unlink(b->part);
    free(b->path);
    free(b->part);
    free(b);
}
