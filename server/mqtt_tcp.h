/*
 * mqtt_tcp.h: the MQTT listeners (--mqtt-port, --mqtts-port) on the lws
 * context. Glue: service thread only.
 */
#ifndef PL_MQTT_TCP_H
#define PL_MQTT_TCP_H

#include <stdbool.h>

struct server;
struct conn;

/* After the context exists: listen. Returns 0, or -1 when a port given
 * explicitly cannot be bound (or OOM). */
int mqtt_start(struct server *srv);
/* The port a listener is bound to, -1 when it is off. */
int mqtt_port(const struct server *srv, bool tls);
/* The hub queued something for an MQTT connection. */
void mqtt_wake(struct server *srv, struct conn *c);
/* After lws_context_destroy (every connection is gone). */
void mqtt_cleanup(struct server *srv);

#endif
