/*
 * net.h: many WebSocket client connections on one epoll loop, no library.
 *
 * Non-blocking TCP sockets, a minimal RFC 6455 client: the upgrade request
 * with subprotocol parley.v1, masked text frames out, server frames in
 * (text joined across fragments, ping answered, close recorded). Incoming
 * bytes are read into one shared buffer; a connection keeps only the tail
 * of a frame that is not complete yet, so ten thousand idle connections
 * cost little memory. Outgoing frames are appended to a per-connection
 * buffer and flushed once per loop turn (many frames, one send()).
 *
 * The owner (a scenario) gets callbacks: on_open after the 101 response,
 * on_text per complete text message, on_close once when the connection
 * ends for any reason. Everything runs on the calling thread.
 */
#ifndef BENCH_NET_H
#define BENCH_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum net_state {
    NET_IDLE = 0,       /* not connected (never, or closed) */
    NET_CONNECTING,     /* connect() in progress */
    NET_HANDSHAKE,      /* upgrade request sent, waiting for 101 */
    NET_OPEN,
};

struct net;

/* Where connections go: a loopback address, the Host header, the path. */
struct net_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[300]; /* addr:port */
    char path[256];
};

/* close_code values when no close frame was received */
#define NET_CLOSED_PEER (-1)    /* reset or EOF, or a protocol error */
#define NET_CLOSED_HERE (-3)    /* net_close() by the owner */
#define NET_REFUSED (-2)        /* the upgrade was not answered with 101 */

struct net_conn {
    struct net *net;
    const struct net_target *target; /* NULL: the net's own */
    int fd;
    enum net_state state;
    uint32_t index;          /* the owner's number for it */
    int role;                /* the owner's tag */
    int close_code;          /* from a close frame, else NET_CLOSED_* */
    unsigned char *part;     /* incomplete frame (or handshake) bytes */
    size_t part_len;
    size_t part_cap;
    unsigned char *msg;      /* fragmented text being joined */
    size_t msg_len;
    size_t msg_cap;
    unsigned char *tx;       /* bytes not yet accepted by the kernel */
    size_t tx_off;
    size_t tx_len;
    size_t tx_cap;
    bool in_dirty;           /* on the net's list of conns to flush */
    bool want_out;           /* EPOLLOUT registered */
    uint64_t next_id;        /* the owner's command ids */
    uint64_t t_start;        /* monotonic us at net_connect */
    void *user;              /* the owner's per-connection data */
};

struct net_ops {
    void (*on_open)(void *arg, struct net_conn *c);
    void (*on_text)(void *arg, struct net_conn *c, const char *text,
                    size_t len);
    void (*on_close)(void *arg, struct net_conn *c);
};

struct net_stats {
    uint64_t connects;       /* handshakes completed */
    uint64_t connect_fail;   /* refused, reset, bad handshake */
    uint64_t closes;         /* connections that ended while open */
    uint64_t close_4008;     /* closed by the server as slow consumers */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t frames_in;
    uint64_t tx_overflow;    /* frames refused: a tx buffer at its cap */
};

/* A loop for connections to target (copied; a connection may name another
 * with its own target). ops are called with arg. NULL on failure (errno
 * set). */
struct net *net_new(const struct net_target *target, const struct net_ops *ops,
                    void *arg);
/* Closes every connection abortively (no TIME_WAIT), frees all. */
void net_free(struct net **n);

/* Start connecting c (state IDLE). Returns 0 or -errno; on failure
 * on_close is not called. */
int net_connect(struct net *n, struct net_conn *c);
/* Close c now (abortive, RST); on_close is called with close_code
 * NET_CLOSED_HERE unless a close frame set it. */
void net_close(struct net_conn *c);
/* Release c's buffers (after it is closed and no longer used). */
void net_conn_cleanup(struct net_conn *c);

/* Append one masked text frame to c's output. Returns 0, -ENOTCONN when c
 * is not open, -ENOBUFS when its output is past the cap (counted in
 * tx_overflow), -ENOMEM. Flushed at the end of the loop turn or by
 * net_flush(). */
int net_send_text(struct net_conn *c, const char *text, size_t len);
/* Write every connection's pending output now, as far as the kernel takes. */
void net_flush(struct net *n);
/* Bytes waiting in c's output buffer. */
size_t net_pending(const struct net_conn *c);

/* One loop turn: wait up to timeout_ms (0: poll) for events, handle them,
 * flush. Returns the number of events or -errno. */
int net_poll(struct net *n, int timeout_ms);
/* Like net_poll with a timeout in microseconds. */
int net_poll_us(struct net *n, int64_t timeout_us);

const struct net_stats *net_get_stats(const struct net *n);
/* Connections currently in CONNECTING or HANDSHAKE state. */
uint32_t net_connecting(const struct net *n);
/* Connections currently open. */
uint32_t net_open_count(const struct net *n);
/* Cap of one connection's output buffer in bytes (default 16 MiB). */
void net_set_tx_cap(struct net *n, size_t cap);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t net_now_us(void);

#endif
