/*
 * wal_vfs.c: an SQLite VFS that writes each WAL commit in one system call.
 *
 * SQLite appends a transaction to the WAL with two pwrite()s per page, the
 * 24-byte frame header and then the page. A commit of messages to 100
 * topics dirties about 100 index pages: 200 system calls, and on this kind
 * of VM the system call, not the copy, is what costs.
 *
 * This VFS passes every file straight to the default VFS except WAL files,
 * whose writes it gathers: a write that continues the gathered run is
 * appended to it, and the run goes out in one pwrite() as soon as the
 * page of the commit frame (the frame whose header carries the database
 * size) is in it. SQLite writes all of a transaction's frames before it
 * publishes the commit in the WAL index, so no other connection can be
 * pointed at a frame that is still in the buffer, and a COMMIT that
 * returns has its frames in the file, as before. Every other operation on
 * the WAL file (read, sync, truncate, size, close, a write elsewhere)
 * first writes out what is gathered, so the file always reads as if each
 * write had gone straight through.
 */
#include "wal_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define WAL_VFS_NAME "parley-wal"
#define WAL_FRAME_HEADER 24

struct wal_file {
    sqlite3_file base;      /* pMethods = &wal_methods */
    sqlite3_file *real;     /* the default VFS's file, just after us */
    unsigned char *buf;     /* the gathered run, allocated on first use */
    size_t len;
    sqlite3_int64 off;      /* file offset of buf[0] */
    sqlite3_int64 commit_end; /* flush once the run passes this; 0: none */
};

static sqlite3_vfs wal_vfs;
static sqlite3_vfs *root_vfs;
static const char *registered_name;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static atomic_ullong syscalls_made;
static atomic_ullong writes_asked;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((struct wal_file *)f)->real;
}

static int wal_flush(struct wal_file *w)
{
    int rc = SQLITE_OK;

    if (w->len > 0) {
        rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
        atomic_fetch_add(&syscalls_made, 1);
    }
    w->len = 0;
    return rc;
}

/* The frame header's second word is the database size after a commit,
 * zero in every other frame (big-endian, see SQLite's wal.c). */
static bool is_commit_header(const void *p, int amt)
{
    const unsigned char *h = p;

    return amt == WAL_FRAME_HEADER && (h[4] | h[5] | h[6] | h[7]) != 0;
}

static int wal_write(sqlite3_file *f, const void *p, int amt,
                     sqlite3_int64 off)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = SQLITE_OK;

    atomic_fetch_add(&writes_asked, 1);
    if (w->len > 0 && off != w->off + (sqlite3_int64)w->len) {
        rc = wal_flush(w); /* not the next byte: keep the writes in order */
        if (rc != SQLITE_OK)
            return rc;
    }
    if (w->buf == NULL)
        w->buf = sqlite3_malloc(WAL_VFS_BUFFER);
    if (w->buf == NULL || (size_t)amt > WAL_VFS_BUFFER / 2) {
        rc = wal_flush(w);
        atomic_fetch_add(&syscalls_made, 1);
        w->commit_end = 0;
        return rc != SQLITE_OK ? rc
                               : w->real->pMethods->xWrite(w->real, p, amt,
                                                           off);
    }
    if (w->len + (size_t)amt > WAL_VFS_BUFFER) {
        rc = wal_flush(w);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (w->len == 0)
        w->off = off;
    if (is_commit_header(p, amt))
        w->commit_end = off + amt; /* its page is the next write */
    memcpy(w->buf + w->len, p, (size_t)amt);
    w->len += (size_t)amt;
    if (w->commit_end != 0 &&
        w->off + (sqlite3_int64)w->len > w->commit_end) {
        w->commit_end = 0;
        return wal_flush(w);
    }
    return SQLITE_OK;
}

static int wal_close(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = wal_flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);

    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

/* Everything else flushes first (cheap when nothing is gathered), then
 * asks the real file. */
#define FLUSH_OR_RETURN(f)                                                   \
    do {                                                                     \
        int frc_ = wal_flush((struct wal_file *)(f));                        \
        if (frc_ != SQLITE_OK)                                               \
            return frc_;                                                     \
    } while (0)

static int wal_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xRead(real_of(f), p, amt, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int wal_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int wal_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wal_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

/* The methods below exist only in newer io_methods versions; wal_open
 * never hands out a version the real file lacks. */
static int wal_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
                       void volatile **pp)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, pp);
}

static int wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int wal_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int wal_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    FLUSH_OR_RETURN(f);
    return real_of(f)->pMethods->xFetch(real_of(f), off, amt, pp);
}

static int wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods wal_methods_v3 = {
    3,
    wal_close, wal_read, wal_write, wal_truncate, wal_sync, wal_file_size,
    wal_lock, wal_unlock, wal_check_reserved, wal_file_control,
    wal_sector_size, wal_device_characteristics,
    wal_shm_map, wal_shm_lock, wal_shm_barrier, wal_shm_unmap,
    wal_fetch, wal_unfetch,
};

static const sqlite3_io_methods wal_methods_v1 = {
    1,
    wal_close, wal_read, wal_write, wal_truncate, wal_sync, wal_file_size,
    wal_lock, wal_unlock, wal_check_reserved, wal_file_control,
    wal_sector_size, wal_device_characteristics,
    NULL, NULL, NULL, NULL, NULL, NULL,
};

/* A file other than a WAL is opened by the default VFS right where SQLite
 * put ours (szOsFile is larger than the default VFS's), so it is the real
 * file itself and costs nothing. A WAL file is ours, with the real one
 * just after it. */
static int wal_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
                    int flags, int *out_flags)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = SQLITE_OK;

    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0)
        return root_vfs->xOpen(root_vfs, name, f, flags, out_flags);
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *)(w + 1);
    rc = root_vfs->xOpen(root_vfs, name, w->real, flags, out_flags);
    if (w->real->pMethods == NULL) {
        w->base.pMethods = NULL; /* nothing to close */
        return rc;
    }
    w->base.pMethods = w->real->pMethods->iVersion >= 3 ? &wal_methods_v3
                                                        : &wal_methods_v1;
    return rc;
}

static void wal_register(void)
{
    root_vfs = sqlite3_vfs_find(NULL);
    if (root_vfs == NULL)
        return;
    wal_vfs = *root_vfs;
    wal_vfs.pNext = NULL;
    wal_vfs.zName = WAL_VFS_NAME;
    wal_vfs.szOsFile = (int)sizeof(struct wal_file) + root_vfs->szOsFile;
    wal_vfs.xOpen = wal_open;
    if (sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK)
        registered_name = WAL_VFS_NAME;
}

const char *wal_vfs_name(void)
{
    pthread_once(&register_once, wal_register);
    return registered_name;
}

void wal_vfs_counts(unsigned long long *syscalls,
                    unsigned long long *requests)
{
    *syscalls = atomic_load(&syscalls_made);
    *requests = atomic_load(&writes_asked);
}
