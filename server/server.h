/*
 * server.h: the state parleyd's lws glue shares (ws.c, http.c, main.c).
 * Service thread only, except `stop`, set from a signal handler.
 */
#ifndef PL_SERVER_H
#define PL_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "config.h"
#include "hub.h"
#include "store.h"

/* Bytes written per writeable callback, at most: many frames, one send. */
#define WS_COALESCE_BYTES (256 * 1024)

struct server {
    struct pl_config *cfg;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct hub *hub;
    struct store *store;
    unsigned char *wbuf;          /* LWS_PRE + WS_COALESCE_BYTES */
    uint64_t bytes_out;
    uint64_t http_requests;
    uint64_t refused_handshakes;
    struct store_job *backlog;    /* completions not fanned out yet */
    size_t fanout_budget;         /* message bytes per loop iteration */
    volatile sig_atomic_t stop;
};

/* Per-connection data lws allocates for our one protocol, used by both
 * roles: a WebSocket connection or an HTTP request on the same port. */
struct pss {
    struct conn *conn;            /* WebSocket session, or pending HTTP */
    /* WebSocket receive: fragments joined only when a message spans
     * more than one receive callback. */
    unsigned char *rx;
    size_t rx_len;
    size_t rx_cap;
    bool rx_binary;
    char *token;                  /* valid ?token= seen at the handshake */
    /* HTTP */
    int route;
    char *body;
    size_t body_len;
    bool body_too_large;
    char *resp;                   /* status line onwards is built by lws */
    size_t resp_len;
    int resp_status;
    const char *resp_type;
    bool resp_ready;
    bool resp_static;             /* resp points at embedded data */
    char etag[40];
};

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                void *in, size_t len);

/* http.c: the HTTP half of ws_callback. */
int http_callback(struct server *srv, struct lws *wsi,
                  enum lws_callback_reasons reason, struct pss *pss, void *in,
                  size_t len);
/* The hub finished an HTTP API request. */
void http_done(struct server *srv, struct conn *c, int status,
               const char *body, size_t len);
void http_pss_cleanup(struct pss *pss);

/* metrics.c */
void metrics_render(struct server *srv, struct pl_buf *b);

#endif
