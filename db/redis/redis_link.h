/*
 * redis_link.h: a node's two connections to Redis, on the service loop.
 *
 * One hiredis async connection carries commands (FCALL and friends), the
 * other carries pub/sub (a subscribed connection can do nothing else).
 * hiredis 0.14 has neither command timeouts nor reconnection, so the link
 * adds both: every command has its own timer, a lost connection is
 * re-established with a backoff (backoff_min_ms doubling to
 * backoff_max_ms), and subscriptions are reference-counted and restored
 * on the new pub/sub connection.
 *
 * The promise to callers: every command's callback runs exactly once,
 * with a reply, or with an error when it timed out, when its connection
 * was lost, or when the link is freed. Nothing hangs.
 *
 * Service thread only (the loop's thread); nothing here is thread-safe.
 * A callback must not free the link.
 */
#ifndef PARLEY_REDIS_LINK_H
#define PARLEY_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "redis_url.h"

struct redis_link;

/* A command's outcome: r is the reply (borrowed for the call; it may be a
 * REDIS_REPLY_ERROR) and err is 0; or r is NULL and err is -ETIMEDOUT (no
 * reply within the timeout: the connection is then dropped and remade, as
 * a silent connection cannot be trusted), -ENOTCONN (the connection was
 * lost first) or -ECANCELED (the link was freed). */
typedef void (*redis_link_reply_fn)(const redisReply *r, int err, void *ud);

/* A pub/sub message: pattern is NULL for a plain subscription. The
 * strings are borrowed for the call; payload is not NUL-terminated. */
typedef void (*redis_link_message_fn)(void *ud, const char *channel,
                                      const char *pattern, const char *payload,
                                      size_t len);

/* Redis confirmed a SUBSCRIBE (or PSUBSCRIBE, pattern set) of channel:
 * from now on every message published to it reaches on_message. Borrowed
 * for the call. */
typedef void (*redis_link_subscribed_fn)(void *ud, const char *channel,
                                         bool pattern);

/* up: both connections are ready (and, after a loss, the subscriptions
 * were sent again); a message may have been missed while it was false. */
typedef void (*redis_link_state_fn)(void *ud, bool up);

struct redis_link_config {
    struct redis_url url;
    int timeout_ms; /* each command, and each connection attempt */
    int backoff_min_ms;
    int backoff_max_ms;
    /* Optional: one command run on every new command connection before it
     * counts as ready (the Lua library's FUNCTION LOAD REPLACE). The
     * strings must outlive the link. */
    int setup_argc;
    const char *const *setup_argv;
    const size_t *setup_argvlen;
    redis_link_message_fn on_message;
    redis_link_state_fn on_state;
    redis_link_subscribed_fn on_subscribed; /* optional */
    void *ud;
};

struct redis_link_stats {
    uint64_t connects; /* connections that became ready */
    uint64_t drops;    /* ready or half-made connections lost */
    uint64_t timeouts; /* commands that got no reply in time */
};

/* Create the link and start connecting on loop. Returns 0 with *out owned
 * by the caller (redis_link_free), or -ENOMEM / -EINVAL. */
int redis_link_new(struct redis_link **out, struct ev_loop *loop,
                   const struct redis_link_config *cfg);

/* Fail every pending command with -ECANCELED, close both connections,
 * free, and set *lp to NULL. NULL is allowed. */
void redis_link_free(struct redis_link **lp);

/* True when both connections are ready. */
bool redis_link_up(const struct redis_link *l);

/* Send a command (argv as for redisCommandArgv). Returns 0 when sent: fn
 * runs later, exactly once. Returns -ENOTCONN when the command connection
 * is not ready, or -ENOMEM; fn then never runs. */
int redis_link_command(struct redis_link *l, redis_link_reply_fn fn, void *ud,
                       int argc, const char **argv, const size_t *argvlen);

/* Take a reference on channel (a PSUBSCRIBE pattern when pattern is set).
 * The first reference subscribes, now or as soon as the pub/sub connection
 * is ready. Returns 0 or -ENOMEM. */
int redis_link_subscribe(struct redis_link *l, const char *channel,
                         bool pattern);

/* Drop a reference; the last one unsubscribes. 0, or -ENOENT when channel
 * holds no reference. */
int redis_link_unsubscribe(struct redis_link *l, const char *channel,
                           bool pattern);

/* How many references channel holds (0 when none). */
unsigned redis_link_refs(const struct redis_link *l, const char *channel,
                         bool pattern);

/* Counters since redis_link_new. */
void redis_link_get_stats(const struct redis_link *l,
                          struct redis_link_stats *out);

#endif
