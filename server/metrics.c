/*
 * metrics.c: the Prometheus text exposition for GET /metrics, read from
 * the hub's counters, the store's and the transport's. The only file that
 * knows every metric's name: http.c serves what metrics_render writes.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

/* One metric in Prometheus text: HELP, TYPE and the value. */
static void metrics_line(struct pl_buf *b, const char *name, const char *type,
                         const char *help, uint64_t value)
{
    char line[320];

    snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name,
             help, name, type, name, (unsigned long long)value);
    pl_buf_cstr(b, line);
}

/* The WebSocket transport's limit counters (server.ws, ws_admit.c and
 * ws_rx.c count them). */
static void metrics_render_transport(const struct server *srv, struct pl_buf *b)
{
    const struct ws_stats *w = &srv->ws;

    metrics_line(b, "parley_tcp_connections", "gauge",
                 "Open TCP connections (HTTP, WebSocket, handshakes).",
                 w->tcp_conns);
    metrics_line(b, "parley_peer_addresses", "gauge",
                 "Client addresses counted for --max-conns-per-ip.",
                 srv->peers.count);
    metrics_line(b, "parley_conns_refused_per_ip_total", "counter",
                 "TCP connections refused by --max-conns-per-ip.",
                 w->refused_per_ip);
    metrics_line(b, "parley_conns_refused_max_total", "counter",
                 "WebSockets closed with 1013 by --max-conns.",
                 w->refused_max_conns);
    metrics_line(b, "parley_handshake_timeouts_total", "counter",
                 "Connections closed without a request within "
                 "--handshake-timeout.",
                 w->handshake_timeouts);
    metrics_line(b, "parley_idle_hangups_total", "counter",
                 "WebSockets ended without a close frame after --idle-timeout "
                 "without data (no pong to the keepalive ping, or gone).",
                 w->idle_hangups);
    metrics_line(b, "parley_too_large_closes_total", "counter",
                 "WebSockets closed with 1009 (--max-message).", w->too_large);
    metrics_line(b, "parley_protocol_error_closes_total", "counter",
                 "WebSockets closed with 1002 by the server.",
                 w->protocol_errors);
}

void metrics_render(struct server *srv, struct pl_buf *b)
{
    const struct hub_stats *h = hub_get_stats(srv->hub);
    struct store_stats s;

    memset(&s, 0, sizeof(s));
    if (srv->store != NULL)
        store_get_stats(srv->store, &s);
    metrics_line(b, "parley_connections", "gauge",
                 "Open WebSocket connections.", h->connections);
    metrics_line(b, "parley_connections_total", "counter",
                 "WebSocket connections accepted.", h->connections_total);
    metrics_line(b, "parley_subscriptions", "gauge", "Active subscriptions.",
                 h->subscriptions);
    metrics_line(b, "parley_topics", "gauge", "Topics known.", h->topics);
    metrics_line(b, "parley_recent_bytes", "gauge",
                 "Bytes of messages in the topics' recent rings "
                 "(--recent-memory bounds them).",
                 h->recent_bytes);
    metrics_line(b, "parley_messages_in_total", "counter",
                 "Publishes received.", h->messages_in);
    metrics_line(b, "parley_messages_out_total", "counter",
                 "Messages queued to subscribers.", h->messages_out);
    metrics_line(b, "parley_bytes_out_total", "counter",
                 "WebSocket bytes written.", srv->bytes_out);
    metrics_line(b, "parley_direct_writes_total", "counter",
                 "WebSocket writes made at the end of a loop turn, without "
                 "waiting for a writeable callback.",
                 srv->direct_writes);
    metrics_line(b, "parley_queue_drops_total", "counter",
                 "Queued messages dropped with a slow consumer.",
                 h->queue_drops);
    metrics_line(b, "parley_slow_consumer_disconnects_total", "counter",
                 "Connections closed with 4008.", h->slow_consumers);
    metrics_line(b, "parley_errors_sent_total", "counter",
                 "Error replies sent.", h->errors_sent);
    metrics_line(b, "parley_publish_failures_total", "counter",
                 "Publishes the store could not commit.", h->publish_failures);
    metrics_line(b, "parley_rate_limited_total", "counter",
                 "Commands refused by the per-connection rate limit.",
                 h->rate_limited);
    metrics_line(b, "parley_subscriptions_refused_total", "counter",
                 "Subscriptions refused past --max-subs.", h->subs_refused);
    metrics_line(
        b, "parley_overloaded_total", "counter",
        "Requests refused as overloaded (store backlog, reads in flight).",
        h->overloaded);
    metrics_line(b, "parley_http_requests_total", "counter",
                 "HTTP requests served.", srv->http_requests);
    metrics_line(b, "parley_handshakes_refused_total", "counter",
                 "WebSocket handshakes refused.", srv->refused_handshakes);
    metrics_line(b, "parley_messages_live", "gauge",
                 "Encoded messages held in memory.", msg_live_count());
    metrics_line(b, "parley_store_batches_total", "counter",
                 "Store transactions committed.", s.batches);
    metrics_line(b, "parley_store_rows_total", "counter", "Messages stored.",
                 s.rows);
    metrics_line(b, "parley_store_commit_errors_total", "counter",
                 "Store commits that failed.", s.commit_errors);
    metrics_line(b, "parley_store_pruned_total", "counter",
                 "Messages removed by retention.", s.pruned);
    metrics_line(b, "parley_store_checkpoints_total", "counter",
                 "WAL checkpoints run beside the store thread.", s.checkpoints);
    metrics_line(b, "parley_store_checkpointed_pages_total", "counter",
                 "WAL pages copied into the database file by them.",
                 s.checkpointed_pages);
    metrics_line(b, "parley_store_pending", "gauge", "Store jobs in flight.",
                 srv->store ? store_pending(srv->store) : 0);
    metrics_render_transport(srv, b);
}
