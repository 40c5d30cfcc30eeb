/*
 * wal_vfs.h: an SQLite VFS that writes each WAL commit in one system call.
 */
#ifndef PARLEY_WAL_VFS_H
#define PARLEY_WAL_VFS_H

#include <stddef.h>

/* Bytes of a commit gathered before they are written out anyway: about
 * 30 frames of 4 KiB. SQLite's unix VFS writes at most 128 KiB - 1 bytes
 * in one call (its seekAndWriteFd masks the length with 0x1ffff), so a
 * larger run would be cut short and reported as a full disk. */
#define WAL_VFS_BUFFER (120 * 1024)

/* Register the VFS (once per process) and return its name for
 * sqlite3_open_v2(); NULL if it could not be registered, in which case
 * SQLite's default VFS serves and only speed differs. Thread-safe. */
const char *wal_vfs_name(void);

/* Write system calls made to WAL files through this VFS, and the writes
 * SQLite asked for, since the process started: their ratio is what the
 * gathering saves. */
void wal_vfs_counts(unsigned long long *syscalls,
                    unsigned long long *requests);

#endif
