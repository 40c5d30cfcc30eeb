/*
 * session.h: one Parley protocol session on top of wsclient: connect,
 * `hello` (when a name or token is given), command ids, parsed frames to
 * the caller, reconnection with backoff after a lost connection, and
 * SIGINT/SIGTERM turned into a callback on the loop.
 *
 * Lifecycle: session_new, session_start (first connect), session_run
 * (returns after session_stop), session_free. ops->ready runs after every
 * (re)connection once hello succeeded; ops->down after every loss.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "wsclient.h"

struct session;

struct session_ops {
    /* Connected and greeted; `again` counts the reconnections so far. */
    void (*ready)(struct session *s, void *user, unsigned again);
    /* A frame other than the hello reply. root is borrowed for the call;
     * op is its "op" (never NULL), id its "id" or 0. */
    void (*frame)(struct session *s, void *user, const cJSON *root,
                  const char *op, int64_t id);
    /* The connection is gone. retry_ms > 0: a reconnection is scheduled
     * in that many ms; retry_ms < 0: the session gives up (the first
     * connection failed, hello was refused, or reconnection is off) and
     * the caller decides what to do (usually session_stop). */
    void (*down)(struct session *s, void *user, const char *why,
                 int64_t retry_ms);
    /* stdin readable (see session_watch_stdin). Return -1 to stop. */
    int (*input)(struct session *s, void *user, int fd);
    /* SIGINT or SIGTERM arrived. NULL: the session stops, status 130. */
    void (*signal)(struct session *s, void *user, int signo);
};

struct session_cfg {
    const char *url;
    const char *token;     /* sent in hello, or NULL */
    const char *name;      /* sent in hello, or NULL */
    bool insecure;
    bool reconnect;        /* reconnect after a loss (not after a failed
                              first connection) */
    const struct session_ops *ops;
    void *user;
};

/* Returns 0 and *out, or a negative errno with a message in *why. */
int session_new(const struct session_cfg *cfg, struct session **out,
                const char **why);
void session_free(struct session **s);

void session_start(struct session *s);
/* Runs the loop until session_stop(); returns the status given to it. */
int session_run(struct session *s);
void session_stop(struct session *s, int status);
/* Closes cleanly (after the queued frames) and then stops with status. */
void session_finish(struct session *s, int status);

bool session_is_ready(const struct session *s);
/* Reconnection attempts that failed since the connection was lost (0
 * when it was just lost). Meaningful inside ops->down. */
unsigned session_retries(const struct session *s);
/* A fresh command id (1, 2, ...). */
int64_t session_next_id(struct session *s);
/* The id session_next_id() will return next. */
int64_t session_peek_id(const struct session *s);
/* Sends the payload of b as one text frame. 0, -ENOTCONN, -ENOMEM. */
int session_send(struct session *s, const struct pl_buf *b);
/* The user the server greeted us as ("" before hello or without one). */
const char *session_user(const struct session *s);
const char *session_url(const struct session *s);
struct wsclient *session_ws(struct session *s);

int session_watch_stdin(struct session *s);

#endif
