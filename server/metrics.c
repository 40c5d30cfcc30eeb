/*
 * metrics.c: the Prometheus text exposition for GET /metrics, read from
 * the hub's counters, the store's and the transport's. The only file that
 * knows every metric's name: http.c serves what metrics_render writes.
 *
 * The values are first copied into one flat snapshot (metrics_take); a
 * table then names each one, in output order. A new metric is one field,
 * one assignment and one row.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mqtt_session.h"
#include "mqtt_tcp.h"
#include "cluster.h"
#include "server.h"

/* Every value /metrics shows, read at one moment. */
struct metrics_snapshot {
    /* the hub */
    uint64_t connections, connections_total, subscriptions, topics;
    uint64_t recent_bytes, messages_in, messages_out, queue_drops;
    uint64_t slow_consumers, errors_sent, publish_failures, rate_limited;
    uint64_t subs_refused, overloaded, messages_live;
    /* the glue */
    uint64_t bytes_out, direct_writes, http_requests, refused_handshakes;
    /* the store */
    uint64_t store_batches, store_rows, store_commit_errors, store_pruned;
    uint64_t store_checkpoints, store_checkpointed_pages, store_pending;
    uint64_t store_wal_frames;
    uint64_t store_commit_us;
    /* the WebSocket transport's limits (ws_admit.c, ws_rx.c, ...) */
    uint64_t tcp_conns, peer_addresses, refused_per_ip, refused_max_conns;
    uint64_t handshake_timeouts, idle_hangups, too_large, protocol_errors;
    /* MQTT (mqtt_session.c) */
    uint64_t mqtt_connections, mqtt_connects, mqtt_connects_refused;
    uint64_t mqtt_protocol_errors, mqtt_takeovers, mqtt_wills;
    uint64_t mqtt_publishes_dropped;
    uint64_t mqtt_sessions_resumed, mqtt_session_gaps;
    uint64_t mqtt_sessions_expired, mqtt_sessions_stored;
};

struct metric {
    const char *name;
    const char *type;   /* "counter" or "gauge" */
    const char *help;
    size_t value;       /* offsetof(struct metrics_snapshot, ...) */
};

#define V(field) offsetof(struct metrics_snapshot, field)

static const struct metric metrics[] = {
    {"parley_connections", "gauge",
     "Open WebSocket and MQTT connections.", V(connections)},
    {"parley_connections_total", "counter",
     "WebSocket and MQTT connections accepted.", V(connections_total)},
    {"parley_subscriptions", "gauge", "Active subscriptions.",
     V(subscriptions)},
    {"parley_topics", "gauge", "Topics known.", V(topics)},
    {"parley_recent_bytes", "gauge",
     "Bytes of messages in the topics' recent rings "
     "(--recent-memory bounds them).",
     V(recent_bytes)},
    {"parley_messages_in_total", "counter", "Publishes received.",
     V(messages_in)},
    {"parley_messages_out_total", "counter",
     "Messages queued to subscribers.", V(messages_out)},
    {"parley_bytes_out_total", "counter", "WebSocket bytes written.",
     V(bytes_out)},
    {"parley_direct_writes_total", "counter",
     "WebSocket writes made at the end of a loop turn, without "
     "waiting for a writeable callback.",
     V(direct_writes)},
    {"parley_queue_drops_total", "counter",
     "Queued messages dropped with a slow consumer.", V(queue_drops)},
    {"parley_slow_consumer_disconnects_total", "counter",
     "Connections closed with 4008.", V(slow_consumers)},
    {"parley_errors_sent_total", "counter", "Error replies sent.",
     V(errors_sent)},
    {"parley_publish_failures_total", "counter",
     "Publishes the store could not commit.", V(publish_failures)},
    {"parley_rate_limited_total", "counter",
     "Commands refused by the per-connection rate limit.", V(rate_limited)},
    {"parley_subscriptions_refused_total", "counter",
     "Subscriptions refused past --max-subs.", V(subs_refused)},
    {"parley_overloaded_total", "counter",
     "Requests refused as overloaded (store backlog, reads in flight).",
     V(overloaded)},
    {"parley_http_requests_total", "counter", "HTTP requests served.",
     V(http_requests)},
    {"parley_handshakes_refused_total", "counter",
     "WebSocket handshakes refused.", V(refused_handshakes)},
    {"parley_messages_live", "gauge", "Encoded messages held in memory.",
     V(messages_live)},
    {"parley_store_batches_total", "counter", "Store transactions committed.",
     V(store_batches)},
    {"parley_store_rows_total", "counter", "Messages stored.",
     V(store_rows)},
    {"parley_store_commit_errors_total", "counter",
     "Store commits that failed.", V(store_commit_errors)},
    {"parley_store_pruned_total", "counter",
     "Messages removed by retention.", V(store_pruned)},
    {"parley_store_checkpoints_total", "counter",
     "WAL checkpoints run beside the store thread.", V(store_checkpoints)},
    {"parley_store_checkpointed_pages_total", "counter",
     "WAL pages copied into the database file by them.",
     V(store_checkpointed_pages)},
    {"parley_store_wal_frames_total", "counter",
     "Pages the store's commits appended to the WAL.", V(store_wal_frames)},
    {"parley_store_pending", "gauge", "Store jobs in flight.",
     V(store_pending)},
    {"parley_store_commit_microseconds_total", "counter",
     "Time spent running publish batches (with batches_total: the mean "
     "commit latency, as $SYS/broker/store/commit_latency_ms).",
     V(store_commit_us)},
    {"parley_tcp_connections", "gauge",
     "Open TCP connections (HTTP, WebSocket, handshakes).", V(tcp_conns)},
    {"parley_peer_addresses", "gauge",
     "Client addresses counted for --max-conns-per-ip.", V(peer_addresses)},
    {"parley_conns_refused_per_ip_total", "counter",
     "TCP connections refused by --max-conns-per-ip.", V(refused_per_ip)},
    {"parley_conns_refused_max_total", "counter",
     "WebSockets closed with 1013 by --max-conns.", V(refused_max_conns)},
    {"parley_handshake_timeouts_total", "counter",
     "Connections closed without a request within --handshake-timeout.",
     V(handshake_timeouts)},
    {"parley_idle_hangups_total", "counter",
     "WebSockets ended without a close frame after --idle-timeout "
     "without data (no pong to the keepalive ping, or gone).",
     V(idle_hangups)},
    {"parley_too_large_closes_total", "counter",
     "WebSockets closed with 1009 (--max-message).", V(too_large)},
    {"parley_protocol_error_closes_total", "counter",
     "WebSockets closed with 1002 by the server.", V(protocol_errors)},
    {"parley_mqtt_connections", "gauge",
     "Open MQTT connections (TCP, TLS and WebSocket; also counted in "
     "parley_connections).", V(mqtt_connections)},
    {"parley_mqtt_connects_total", "counter", "MQTT CONNECTs accepted.",
     V(mqtt_connects)},
    {"parley_mqtt_connects_refused_total", "counter",
     "MQTT CONNECTs refused with a CONNACK code (auth, protocol level).",
     V(mqtt_connects_refused)},
    {"parley_mqtt_protocol_errors_total", "counter",
     "MQTT connections closed for a malformed or unexpected packet.",
     V(mqtt_protocol_errors)},
    {"parley_mqtt_takeovers_total", "counter",
     "MQTT connections closed by a newer CONNECT with the same client id.",
     V(mqtt_takeovers)},
    {"parley_mqtt_wills_total", "counter",
     "MQTT wills published (connections lost without DISCONNECT).",
     V(mqtt_wills)},
    {"parley_mqtt_publishes_dropped_total", "counter",
     "MQTT PUBLISHes acknowledged but refused (ACL, a topic Parley "
     "refuses).", V(mqtt_publishes_dropped)},
    {"parley_mqtt_sessions_resumed_total", "counter",
     "MQTT persistent sessions resumed (CONNACK session present).",
     V(mqtt_sessions_resumed)},
    {"parley_mqtt_session_gaps_total", "counter",
     "Topics of resumed MQTT sessions whose missed messages were partly "
     "no longer stored (a gap notice was sent).", V(mqtt_session_gaps)},
    {"parley_mqtt_sessions_expired_total", "counter",
     "MQTT persistent sessions deleted after --mqtt-session-expiry without "
     "a connection.", V(mqtt_sessions_expired)},
    {"parley_mqtt_sessions_stored", "gauge",
     "MQTT persistent sessions (clean session 0) kept.",
     V(mqtt_sessions_stored)},
};

static void metrics_take_mqtt(struct server *srv, struct metrics_snapshot *v)
{
    const struct mqtt_stats *q = mqtt_get_stats(srv);

    v->mqtt_connections = q->connections;
    v->mqtt_connects = q->connects;
    v->mqtt_connects_refused = q->connects_refused;
    v->mqtt_protocol_errors = q->protocol_errors;
    v->mqtt_takeovers = q->takeovers;
    v->mqtt_wills = q->wills;
    v->mqtt_publishes_dropped = q->publishes_dropped;
    v->mqtt_sessions_resumed = q->sessions_resumed;
    v->mqtt_session_gaps = q->session_gaps;
    v->mqtt_sessions_expired = q->sessions_expired;
    v->mqtt_sessions_stored = q->sessions_stored;
}

static void metrics_take(struct server *srv, struct metrics_snapshot *v)
{
    const struct hub_stats *h = hub_get_stats(srv->hub);
    const struct ws_stats *w = &srv->ws;
    struct store_stats s;

    memset(&s, 0, sizeof(s));
    if (srv->store != NULL)
        store_get_stats(srv->store, &s);
    v->connections = h->connections;
    v->connections_total = h->connections_total;
    v->subscriptions = h->subscriptions;
    v->topics = h->topics;
    v->recent_bytes = h->recent_bytes;
    v->messages_in = h->messages_in;
    v->messages_out = h->messages_out;
    v->queue_drops = h->queue_drops;
    v->slow_consumers = h->slow_consumers;
    v->errors_sent = h->errors_sent;
    v->publish_failures = h->publish_failures;
    v->rate_limited = h->rate_limited;
    v->subs_refused = h->subs_refused;
    v->overloaded = h->overloaded;
    v->messages_live = msg_live_count();
    v->bytes_out = srv->bytes_out;
    v->direct_writes = srv->direct_writes;
    v->http_requests = srv->http_requests;
    v->refused_handshakes = srv->refused_handshakes;
    v->store_batches = s.batches;
    v->store_rows = s.rows;
    v->store_commit_errors = s.commit_errors;
    v->store_pruned = s.pruned;
    v->store_checkpoints = s.checkpoints;
    v->store_checkpointed_pages = s.checkpointed_pages;
    v->store_wal_frames = s.wal_frames;
    v->store_pending = srv->store ? store_pending(srv->store) : 0;
    v->store_commit_us = s.commit_us;
    v->tcp_conns = w->tcp_conns;
    v->peer_addresses = srv->peers.count;
    v->refused_per_ip = w->refused_per_ip;
    v->refused_max_conns = w->refused_max_conns;
    v->handshake_timeouts = w->handshake_timeouts;
    v->idle_hangups = w->idle_hangups;
    v->too_large = w->too_large;
    v->protocol_errors = w->protocol_errors;
    metrics_take_mqtt(srv, v);
}

void metrics_render(struct server *srv, struct pl_buf *b)
{
    struct metrics_snapshot v;
    char line[320];
    size_t i = 0;

    metrics_take(srv, &v);
    for (i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        const struct metric *m = &metrics[i];
        uint64_t value = 0;

        memcpy(&value, (const char *)&v + m->value, sizeof(value));
        snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
                 m->name, m->help, m->name, m->type, m->name,
                 (unsigned long long)value);
        pl_buf_cstr(b, line);
    }
    cluster_metrics(srv, b);
}
