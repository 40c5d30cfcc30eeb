/*
 * server.h: the state parleyd's lws glue shares (main.c, proto.c, the
 * ws*.c files, drain.c, http.c, metrics.c); the core never includes it.
 * Service thread only, except `stop`, set from a signal handler.
 */
#ifndef PL_SERVER_H
#define PL_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <libwebsockets.h>

#include "cidr.h"
#include "config.h"
#include "hub.h"
#include "peers.h"
#include "ready.h"
#include "store.h"

/* Connections read again per loop turn, at most (ws_read_more). */
#define WS_HOT_MAX 4096
/* Extra reads per connection per loop turn, at most. */
#define WS_HOT_ROUNDS 8

/* Bytes written per writeable callback, at most: many frames, one send. */
#define WS_COALESCE_BYTES (256 * 1024)
/* Counters of the transport's limits, rendered by metrics.c. */
struct ws_stats {
    uint64_t tcp_conns;           /* gauge: open TCP connections */
    uint64_t refused_per_ip;      /* --max-conns-per-ip */
    uint64_t refused_max_conns;   /* --max-conns: closed with 1013 */
    uint64_t handshake_timeouts;  /* no request within the timeout */
    uint64_t idle_hangups;        /* ended quietly after --idle-timeout */
    uint64_t too_large;           /* closed with 1009 */
    uint64_t protocol_errors;     /* closed with 1002 by us */
};

struct server {
    struct pl_config *cfg;
    struct lws_context *ctx;
    struct ev_loop *loop;         /* libev, epoll: lws runs on it */
    struct lws_vhost *vhost;
    struct hub *hub;
    struct store *store;          /* the SQLite engine (stats, tests) */
    struct redis_storage *redis;  /* the cluster engine (--redis), or NULL */
    struct storage storage;       /* store or redis, as the hub sees it */
    unsigned char *wbuf;          /* LWS_PRE + WS_COALESCE_BYTES */
    uint64_t bytes_out;
    uint64_t http_requests;
    uint64_t refused_handshakes;
    struct store_job *backlog;    /* completions not fanned out yet */
    size_t fanout_budget;         /* message bytes per loop iteration */
    volatile sig_atomic_t stop;
    volatile sig_atomic_t reload; /* SIGHUP: re-read the config file */
    struct ready ready;           /* GET /readyz (ready.h) */
    int port;                     /* the port we listen on */
    ev_io listener;               /* --reuse-port: ours (listen.c) */
    bool own_listener;
    struct proxied *proxied;      /* awaiting a PROXY header (listen.c) */
    /* The client a PROXY header named, for ws_tcp_open during the
     * adoption of that connection only; NULL otherwise. */
    const struct sockaddr_storage *adopt_src;
    /* Test hook (PARLEY_TEST_HOOKS=1, SIGUSR2): leave the store's
     * completions untaken, so it looks behind as on a stalled disk. */
    bool hold_store;
    int argc;                     /* the command line, read again on */
    char **argv;                  /* a reload (flags override the file) */
    /* ws_admit.c, ws_rx.c, ws_timers.c: transport limits */
    struct ws_stats ws;
    lws_retry_bo_t keepalive;     /* ping / hang-up policy (lws reads it) */
    struct peers peers;           /* connections per client address */
    struct cidr trusted[CONFIG_LIST_MAX]; /* --trusted-proxy */
    size_t n_trusted;
    lws_dll2_owner_t ws_conns;    /* open WebSockets, for the frame sweep */
    /* Connections that received data this loop turn: read again before
     * the next poll (see ws_read_more). */
    int hot_fds[WS_HOT_MAX];
    unsigned int n_hot;
    uint32_t hot_round;
    lws_sorted_usec_list_t sweep;
    bool sweeping;
    lws_sorted_usec_list_t timer_guard; /* see ws_timer_guard */
    /* Connections (ids) with frames to write at the end of this turn. */
    uint64_t *flush_ids;
    size_t n_flush;
    size_t cap_flush;
    uint64_t direct_writes;       /* writes made by ws_flush */
    lws_sorted_usec_list_t sys_timer; /* --sys-interval (sys_glue.c) */
    /* backup_http.c: the one backup running, and its request (NULL once
     * the client went away) */
    bool backup_running;
    struct pss *backup_pss;
    struct lws *backup_wsi;
    struct mqtt_glue *mqtt;       /* mqtt_tcp.c: the MQTT listeners */
};

/* Per-connection data lws allocates for our one protocol, used by both
 * roles: a WebSocket connection or an HTTP request on the same port. */
struct pss {
    struct conn *conn;            /* WebSocket session, or pending HTTP */
    /* WebSocket receive: fragments joined only when a message spans
     * more than one receive callback. */
    unsigned char *rx;
    uint32_t rx_len;              /* <= --max-message (at most 1 GiB) */
    uint32_t rx_cap;
    struct pl_claims *claims;     /* ?token=, verified at the handshake */
    lws_dll2_t link;              /* in server.ws_conns while open */
    lws_usec_t rx_at;             /* opened, or the last data or pong */
    struct http_req *req;         /* HTTP request state (http.c), or NULL */
    uint32_t rx_round;            /* srv->hot_round + 1 when rx_turn counts */
    uint16_t rx_turn;             /* bytes read in that round (about) */
    bool rx_binary;
    bool peer_closed;             /* the client sent a close frame */
    bool close_sent;              /* ours went out: wait for the client's */
    bool rx_paused;               /* input stopped: its queue is long */
    bool hot;                     /* listed for ws_read_more this round */
    struct mqtt_pss *mqtt;        /* MQTT over WebSocket (mqtt_ws.c) */
};

/* proto.c: lws's protocol table, whose callback serves HTTP and
 * WebSocket on our port (rx_buffer: --rx-buffer). */
const struct lws_protocols *proto_protocols(int rx_buffer);
/* Before the context exists: the per-address table and its exemptions.
 * Returns 0 or -1 (out of memory). */
int ws_init(struct server *srv);
/* After the context exists, before the loop turns: start our timers. */
void ws_start(struct server *srv);
/* Before lws_context_destroy: stop the timers. */
void ws_stop(struct server *srv);
/* After lws_context_destroy: free the per-address table. */
void ws_cleanup(struct server *srv);
/* After each loop turn: read more from connections that had input. */
void ws_read_more(struct server *srv);
/* The hub queued frames for c: list it for ws_flush. */
void ws_wake(struct server *srv, struct conn *c);
/* At the end of each loop turn: write what listed connections queued. */
void ws_flush(struct server *srv);
/* drain.c: fan out (a budget of) the store's completions waiting now. */
void drain_store(struct server *srv);

/* http.c: every HTTP reason of proto.c's callback. */
int http_callback(struct server *srv, struct lws *wsi,
                  enum lws_callback_reasons reason, struct pss *pss, void *in,
                  size_t len);
/* The hub queued the reply to an API request (a CONN_REQUEST connection):
 * it is taken from the HTTP writeable callback. */
void http_wake(struct server *srv, struct conn *c);
void http_pss_cleanup(struct pss *pss);

/* ws_admit.c: ss is in a --trusted-proxy range. */
bool ws_is_trusted_proxy(struct server *srv,
                         const struct sockaddr_storage *ss);

/* listen.c: with --reuse-port or --proxy-protocol, open our own listening
 * socket (SO_REUSEPORT with the former) on cfg->bind and cfg->port, after
 * the context; sets srv->port. Returns 0 or -errno (logged). */
int listen_open(struct server *srv);
/* Stop accepting new connections; the open ones stay. Returns 0, or
 * -errno (-ENOENT: no listening socket found). */
int listen_stop(struct server *srv);
/* Before lws_context_destroy: close our listener if still open. */
void listen_close(struct server *srv);

/* settings.c: the configuration into the running parts. */
void server_set_logging(const struct pl_config *cfg);
void server_hub_config(const struct pl_config *cfg, struct hub_config *hcfg);
/* SIGHUP: read the config file and the flags again and apply what may
 * change live (config_take_live); a bad file changes nothing. */
void server_reload(struct server *srv);
/* sys_glue.c: the $SYS timer (after the context exists; stop before it
 * is destroyed), and a refused connection reported as a $SYS event. */
void sys_glue_start(struct server *srv);
void sys_glue_stop(struct server *srv);
void sys_glue_refused(struct server *srv, struct lws *wsi, const char *why,
                      int code);

/* http.c: queue a response (written from HTTP_WRITEABLE), or a JSON
 * error {"error":code,"message":...}, for glue that answers requests. */
void http_respond(struct lws *wsi, struct pss *pss, int status,
                  const char *type, const void *body, size_t len);
void http_respond_error(struct lws *wsi, struct pss *pss, int status,
                        enum pl_err err, const char *message);

/* backup_http.c: POST /api/backup?file=PATH (http.c routes it here);
 * each loop turn, the reply once the store finished the copy; and the
 * request's connection closing. */
void backup_http_start(struct server *srv, struct lws *wsi, struct pss *pss,
                       const char *file);
void backup_http_poll(struct server *srv);
void backup_http_closed(struct server *srv, struct pss *pss);

/* metrics.c: every metric of GET /metrics, appended to b. */
void metrics_render(struct server *srv, struct pl_buf *b);

#endif
