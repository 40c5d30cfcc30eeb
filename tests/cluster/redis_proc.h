/*
 * redis_proc.h: a real redis-server for a test, never the system service.
 *
 * Each one runs in its own mkdtemp() directory on a free loopback port,
 * with the AOF on (appendfsync as asked) and RDB snapshots off, and dies
 * with the test (PDEATHSIG). It can be SIGKILLed and restarted on the same
 * port and files (recovering from its AOF), or restarted empty.
 * Call from the test's main thread.
 */
#ifndef PARLEY_TEST_REDIS_PROC_H
#define PARLEY_TEST_REDIS_PROC_H

#include <sys/types.h>

#include <hiredis/hiredis.h>

struct redis_proc;

/* Start redis-server with appendfsync fsync ("always", "everysec", "no")
 * and wait up to 10 s until it answers PING. Returns 0 with *out owned by
 * the caller (redis_proc_free), or -errno with the reason on stderr. */
int redis_proc_start(struct redis_proc **out, const char *fsync);

int redis_proc_port(const struct redis_proc *r);
pid_t redis_proc_pid(const struct redis_proc *r);

/* "redis://127.0.0.1:<port>". Borrowed; valid until redis_proc_free. */
const char *redis_proc_url(const struct redis_proc *r);

/* SIGKILL and reap. 0, or -ECHILD when it was not running. */
int redis_proc_kill9(struct redis_proc *r);

/* Start again on the same port; with its files (the AOF replays), or
 * without them when empty is set. Returns 0 or as redis_proc_start. */
int redis_proc_restart(struct redis_proc *r, int empty);

/* A synchronous client, or NULL (reason on stderr). Caller redisFree()s. */
redisContext *redis_proc_connect(const struct redis_proc *r);

/* Kill it if it runs, remove its directory, free, set *rp to NULL. */
void redis_proc_free(struct redis_proc **rp);

/* A free TCP port on 127.0.0.1 (bound and released), or -errno. */
int redis_proc_free_port(void);

#endif
