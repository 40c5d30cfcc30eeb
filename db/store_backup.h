/*
 * store_backup.h: an online copy of the store's database while parleyd
 * runs, made with SQLite's backup API on the store thread's own writing
 * connection, a few pages per step between batches. Because the source
 * is changed only through that same connection, SQLite updates the copy
 * as pages change instead of starting over, so the copy finishes under
 * any publishing load and is consistent as of its last step: every
 * message committed before the backup completes is in it. No thread of
 * its own and no lock of its own: store.c calls it on the store thread.
 */
#ifndef PL_STORE_BACKUP_H
#define PL_STORE_BACKUP_H

#include <stdint.h>

#include <sqlite3.h>

/* Pages copied per step; a commit waits at most one step. Measured in
 * it_14_backup (docs/design.md): 10 pages in 150-270 us, and the longest
 * 64-page step 5-10 ms with the shared 2-core machine at load 11. */
#define STORE_BACKUP_STEP_PAGES 64

struct store_backup;

/* What a finished backup reports. */
struct store_backup_result {
    int rc;                  /* 0, or a negative errno */
    char err[256];           /* why, when rc != 0 */
    int64_t pages;           /* pages in the copy */
    int64_t bytes;           /* its size */
    int64_t steps;
    int64_t max_step_us;     /* the longest step: how long a commit waited */
    int64_t elapsed_ms;
};

/* Begin copying src (the store's connection) to path. path must not
 * exist; the copy is written to "<path>.part" and renamed to path when it
 * is complete. Returns NULL and fills *res on failure. Store thread. */
struct store_backup *store_backup_begin(sqlite3 *src, const char *path,
                                        struct store_backup_result *res);
/* One step. Returns 1 while pages are left, 0 when the copy is complete
 * (renamed, synced) or failed: then *res is filled and b must be ended. */
int store_backup_step(struct store_backup *b, struct store_backup_result *res);
/* Release b (removing an unfinished "<path>.part"); NULLs *bp. */
void store_backup_end(struct store_backup **bp);

#endif
