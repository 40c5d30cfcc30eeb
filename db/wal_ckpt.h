/*
 * wal_ckpt.h: the WAL checkpointer. A thread with its own SQLite
 * connection copies committed WAL frames into the database file, so that
 * the store thread's commits never wait for that copy and its fsync.
 *
 * SQLite's own automatic checkpoint runs inside the COMMIT that crosses
 * 1000 WAL pages: every publish waiting on that group commit waited for
 * the copy too (the fan-in benchmark's p99 went from about 1 ms to 17 ms
 * because of it). A PASSIVE checkpoint from another connection runs
 * beside the writer instead: it takes no writer lock.
 */
#ifndef PL_WAL_CKPT_H
#define PL_WAL_CKPT_H

#include <stdbool.h>
#include <stdint.h>

/* WAL pages after which the checkpointer is woken at once; below it, it
 * runs within WAL_CKPT_IDLE_MS of the last commit. */
#define WAL_CKPT_PAGES 1000
#define WAL_CKPT_IDLE_MS 1000

/* PASSIVE checkpoints never catch up with a writer that commits without
 * pause, and SQLite starts the WAL over only when a write transaction
 * finds every frame copied. So once the WAL holds WAL_CKPT_RESTART_PAGES
 * (64 MiB of 4 KiB pages), the checkpointer runs back to back, each run
 * shorter than the last, until at most WAL_CKPT_FINISH_PAGES are left (or
 * a run leaves no fewer than the one before), and the writer copies the
 * rest between two of its transactions; its next one starts the WAL over.
 * The commits behind it wait 2-4 ms for that (2000 sensors at 20k msg/s,
 * once every 1.5 s). If the checkpointer cannot get that close, the writer
 * copies whatever is left at twice the mark. */
#define WAL_CKPT_RESTART_PAGES 16384
#define WAL_CKPT_FINISH_PAGES 64

struct wal_ckpt;

/* Open a second connection to path (a database already in WAL mode) and
 * start the thread. full_sync: synchronous=FULL, else NORMAL (both sync
 * the database file at the end of a checkpoint). restart_pages: the mark
 * above, 0 for WAL_CKPT_RESTART_PAGES. NULL and *err (malloc'd)
 * on failure. */
struct wal_ckpt *wal_ckpt_start(const char *path, bool full_sync,
                                int restart_pages, char **err);

/* The writer committed and its WAL now holds `pages` pages. Called on the
 * writer's thread (from SQLite's wal hook); never waits for the disk.
 * True when the writer should now run a PASSIVE checkpoint itself, so
 * that its next transaction starts the WAL over (see above). */
bool wal_ckpt_notify(struct wal_ckpt *c, int pages);

/* Checkpoints run so far, and the WAL pages they copied (a snapshot). */
uint64_t wal_ckpt_runs(struct wal_ckpt *c);
uint64_t wal_ckpt_pages(struct wal_ckpt *c);
/* Frames (one page each) the writer's commits appended to the WAL, as
 * its reports of the WAL's size tell: what the commits cost in bytes. */
uint64_t wal_ckpt_frames(struct wal_ckpt *c);

/* Stop the thread (a checkpoint under way finishes first), close its
 * connection, free, NULL *c. */
void wal_ckpt_stop(struct wal_ckpt **c);

#endif
