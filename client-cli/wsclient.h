/*
 * wsclient.h: a small libwebsockets *client* wrapper. One object owns one
 * lws context, at most one WebSocket connection at a time (ws:// or wss://,
 * subprotocol parley.v1 by default), a queue of outgoing text frames,
 * timers, and optionally one foreign file descriptor (stdin) polled in the
 * same loop. Whole text messages are handed to the caller, fragments
 * already joined.
 *
 * Usage:
 *     struct wsclient_cfg cfg = { .url = "ws://127.0.0.1:8080/ws",
 *                                 .ops = &ops, .user = me };
 *     wsclient_new(&cfg, &c);
 *     wsclient_connect(c);         // ops->open or ops->closed follows
 *     wsclient_run(c);             // until wsclient_stop()
 *     wsclient_free(&c);
 *
 * Everything runs on the thread that calls wsclient_run(); no function here
 * is thread-safe, except that wsclient_wake() may be called from a signal
 * handler.
 */
#ifndef WSCLIENT_H
#define WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

struct wsclient;

struct wsclient_ops {
    /* The handshake completed; wsclient_send() works from now on. */
    void (*open)(struct wsclient *c, void *user);
    /* One whole text message, NUL-terminated (borrowed for the call). */
    void (*frame)(struct wsclient *c, const char *text, size_t len,
                  void *user);
    /* The connection failed or ended. code is the peer's close code (0
     * when none was received), why a short human-readable reason
     * (borrowed for the call). Unsent frames were dropped. */
    void (*closed)(struct wsclient *c, int code, const char *why,
                   void *user);
    /* The watched descriptor is readable (or at end of file): fd is the
     * descriptor to read. fd == -1: lws stopped watching it because it
     * hung up (a pipe whose writer left); what remains can be read from
     * the original descriptor without blocking. Return -1 to stop
     * watching. */
    int (*input)(struct wsclient *c, int fd, void *user);
};

struct wsclient_cfg {
    const char *url;       /* ws://host[:port]/path or wss://... */
    const char *protocol;  /* subprotocol; NULL means "parley.v1" */
    bool insecure;         /* wss: accept self-signed/mismatched certs */
    size_t max_message;    /* largest accepted inbound message (0: 64 MiB) */
    const struct wsclient_ops *ops;
    void *user;
};

/* A one-shot timer; embed it anywhere that outlives the schedule. */
struct wsclient_timer {
    lws_sorted_usec_list_t sul;
    struct wsclient *c;
    void (*cb)(struct wsclient *c, void *arg);
    void *arg;
};

/*
 * Validates the URL and creates the lws context. Returns 0 and *out (owned
 * by the caller, release with wsclient_free), -EINVAL for a URL that is not
 * ws:// or wss:// (a message is in *why if why is not NULL), or -ENOMEM.
 */
int wsclient_new(const struct wsclient_cfg *cfg, struct wsclient **out,
                 const char **why);
void wsclient_free(struct wsclient **c);

/* Starts a connection attempt. Returns 0 (ops->open or ops->closed will
 * follow from the loop), -EALREADY while connected or connecting. */
int wsclient_connect(struct wsclient *c);
bool wsclient_connected(const struct wsclient *c);

/* Queues one text frame (copied). Returns 0, -ENOTCONN when not
 * connected, -ENOMEM. */
int wsclient_send(struct wsclient *c, const char *text, size_t len);
/* Bytes queued and not yet handed to the socket. */
size_t wsclient_queued(const struct wsclient *c);

/* Closes the connection with code 1000 after the queued frames are sent;
 * ops->closed follows. */
void wsclient_close(struct wsclient *c);

/* Polls fd (stdin) in the same loop; ops->input is called when readable.
 * Returns 0 or -1. */
int wsclient_watch_fd(struct wsclient *c, int fd);
/* Stop/resume polling the watched fd (back-pressure). */
void wsclient_pause_fd(struct wsclient *c, bool paused);
/* Stop watching the fd (it is not closed by this call). */
void wsclient_unwatch_fd(struct wsclient *c);

/* Calls cb(c, arg) once after ms milliseconds, replacing an earlier
 * schedule of the same timer. */
void wsclient_after(struct wsclient *c, struct wsclient_timer *t,
                    uint64_t ms, void (*cb)(struct wsclient *, void *),
                    void *arg);
void wsclient_cancel(struct wsclient_timer *t);

/* Services the loop until wsclient_stop(). Returns 0, or -1 when lws
 * failed. */
int wsclient_run(struct wsclient *c);
void wsclient_stop(struct wsclient *c);
/* Interrupts a blocked wsclient_run() so it rechecks its flags. */
void wsclient_wake(struct wsclient *c);

/* The URL the client connects to (normalised, for messages). */
const char *wsclient_url(const struct wsclient *c);

#endif
