/*
 * metrics.c: the Prometheus text exposition for GET /metrics, read from
 * the hub's counters, the store's and the transport's.
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

static void metric(struct pl_buf *b, const char *name, const char *type,
                   const char *help, uint64_t value)
{
    char line[256];

    snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
             name, help, name, type, name, (unsigned long long)value);
    pl_buf_cstr(b, line);
}

void metrics_render(struct server *srv, struct pl_buf *b)
{
    const struct hub_stats *h = hub_get_stats(srv->hub);
    struct store_stats s;

    memset(&s, 0, sizeof(s));
    if (srv->store != NULL)
        store_get_stats(srv->store, &s);
    metric(b, "parley_connections", "gauge",
           "Open WebSocket connections.", h->connections);
    metric(b, "parley_connections_total", "counter",
           "WebSocket connections accepted.", h->connections_total);
    metric(b, "parley_subscriptions", "gauge",
           "Active subscriptions.", h->subscriptions);
    metric(b, "parley_topics", "gauge", "Topics known.", h->topics);
    metric(b, "parley_messages_in_total", "counter",
           "Publishes received.", h->messages_in);
    metric(b, "parley_messages_out_total", "counter",
           "Messages queued to subscribers.", h->messages_out);
    metric(b, "parley_bytes_out_total", "counter",
           "WebSocket bytes written.", srv->bytes_out);
    metric(b, "parley_queue_drops_total", "counter",
           "Queued messages dropped with a slow consumer.", h->queue_drops);
    metric(b, "parley_slow_consumer_disconnects_total", "counter",
           "Connections closed with 4008.", h->slow_consumers);
    metric(b, "parley_errors_sent_total", "counter",
           "Error replies sent.", h->errors_sent);
    metric(b, "parley_publish_failures_total", "counter",
           "Publishes the store could not commit.", h->publish_failures);
    metric(b, "parley_rate_limited_total", "counter",
           "Commands refused by the per-connection rate limit.",
           h->rate_limited);
    metric(b, "parley_subscriptions_refused_total", "counter",
           "Subscriptions refused past --max-subs.", h->subs_refused);
    metric(b, "parley_overloaded_total", "counter",
           "Requests refused as overloaded (store backlog, reads in flight).",
           h->overloaded);
    metric(b, "parley_http_requests_total", "counter",
           "HTTP requests served.", srv->http_requests);
    metric(b, "parley_handshakes_refused_total", "counter",
           "WebSocket handshakes refused.", srv->refused_handshakes);
    metric(b, "parley_messages_live", "gauge",
           "Encoded messages held in memory.", msg_live_count());
    metric(b, "parley_store_batches_total", "counter",
           "Store transactions committed.", s.batches);
    metric(b, "parley_store_rows_total", "counter",
           "Messages stored.", s.rows);
    metric(b, "parley_store_commit_errors_total", "counter",
           "Store commits that failed.", s.commit_errors);
    metric(b, "parley_store_pruned_total", "counter",
           "Messages removed by retention.", s.pruned);
    metric(b, "parley_store_pending", "gauge", "Store jobs in flight.",
           srv->store ? store_pending(srv->store) : 0);
}
