/*
 * mqtt_tcp.h: the MQTT listeners (--mqtt-port, --mqtts-port) on the lws
 * context. Glue: service thread only.
 */
#ifndef PL_MQTT_TCP_H
#define PL_MQTT_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

struct server;
struct conn;
struct mqtt_session;

/* Per connection (lws allocates it for the raw and the WebSocket MQTT
 * protocols alike). */
struct mqtt_pss {
    struct mqtt_session *session;
    struct conn *conn;
    bool websocket;         /* writes are binary WebSocket messages */
    bool close_after_flush; /* DISCONNECT, or a refused CONNECT */
    bool rx_paused;
};

/* After the context exists: listen. Returns 0, or -1 when a port given
 * explicitly cannot be bound (or OOM). */
int mqtt_start(struct server *srv);
/* The port a listener is bound to, -1 when it is off. */
int mqtt_port(const struct server *srv, bool tls);
/* The sessions' counters (zeros before mqtt_start). */
struct mqtt_stats;
const struct mqtt_stats *mqtt_get_stats(const struct server *srv);
/* Once per loop turn, before the storage flush: the persistent
 * sessions' changes go to the store (one job per changed session). */
void mqtt_flush(struct server *srv, int64_t now_ms);
/* The hub queued something for an MQTT connection. */
void mqtt_wake(struct server *srv, struct conn *c);
/* A connection, raw or WebSocket (mqtt_ws.c), in lws's callbacks:
 * opened (non-zero refuses it), bytes in, writeable, gone (idempotent).
 * rx and writeable return -1 to close. */
int mqtt_conn_open(struct server *srv, struct lws *wsi, struct mqtt_pss *pss);
int mqtt_conn_rx(struct server *srv, struct lws *wsi, struct mqtt_pss *pss,
                 const void *in, size_t len);
int mqtt_conn_writeable(struct server *srv, struct lws *wsi,
                        struct mqtt_pss *pss);
void mqtt_conn_gone(struct server *srv, struct mqtt_pss *pss);

/* mqtt_ws.c: the "mqtt" WebSocket subprotocol on the main port, at
 * /mqtt (an entry of proto.c's protocol table; its user data is a struct
 * pss whose mqtt field holds the connection). */
struct pss;
int mqtt_ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len);
/* The wsi is freed: end its MQTT connection if it has one (idempotent). */
void mqtt_ws_destroy(struct server *srv, struct pss *pss);

/* After lws_context_destroy (every connection is gone). */
void mqtt_cleanup(struct server *srv);

#endif
