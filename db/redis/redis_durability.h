/*
 * redis_durability.h: what --durability promises in cluster mode, and the
 * start-up check that Redis's persistence settings can keep that promise.
 *
 *   strict   (default) an ack survives a SIGKILL of redis-server: needs
 *            appendonly yes and appendfsync always (Redis writes and syncs
 *            its AOF before it answers).
 *   relaxed  also accepts appendfsync everysec: a redis-server crash may
 *            take back about the last second or two of acks.
 *   none     no requirement: without an AOF a redis-server restart loses
 *            everything.
 */
#ifndef PARLEY_REDIS_DURABILITY_H
#define PARLEY_REDIS_DURABILITY_H

#include <stddef.h>

#include <hiredis/hiredis.h>

enum redis_durability {
    REDIS_DURABILITY_STRICT,
    REDIS_DURABILITY_RELAXED,
    REDIS_DURABILITY_NONE,
};

/* "strict", "relaxed" or "none" into *out. 0, or -EINVAL. */
int redis_durability_parse(const char *text, enum redis_durability *out);

/* The flag's spelling of d. A static string. */
const char *redis_durability_name(enum redis_durability d);

/* Decide from Redis's `appendonly` and `appendfsync` values (as CONFIG GET
 * returns them) whether a node asking for want may start. Returns 0 when it
 * may (why then holds a line for the start-up log: what the mode risks),
 * or -EPERM when it must refuse (why names the Redis setting to change).
 * why is always written when why_n > 0. Pure: no I/O. */
int redis_durability_decide(enum redis_durability want, const char *appendonly,
                            const char *appendfsync, char *why, size_t why_n);

/* Read appendonly and appendfsync over c (a connected synchronous
 * context, AUTH done) and decide as above. Returns 0, -EPERM, or -EIO when
 * the settings cannot be read (why says why; a node asking for strict or
 * relaxed must then refuse, as it cannot know). */
int redis_durability_check(redisContext *c, enum redis_durability want,
                           char *why, size_t why_n);

#endif
