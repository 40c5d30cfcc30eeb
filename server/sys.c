/*
 * sys.c: the `$SYS/...` topics, part of the hub. Every tick (the glue's
 * --sys-interval timer) turns the hub's counters and the glue's sample
 * into rates and, when some connection subscribes to a `$` pattern,
 * publishes each value as a retained message of its own topic
 * (`$SYS/broker/clients/connected`, ...). Events (`$SYS/events/...`) are
 * queued as they happen and published by hub_sys_flush, once per loop
 * turn, because they are noticed in the middle of a fan-out (a slow
 * consumer is culled while a message is being delivered), where starting
 * another fan-out would reuse the generation stamp. Service thread only.
 *
 * Costs: `$` topics are ephemeral (never stored). While nobody subscribes
 * to a `$` pattern (hub->sys.dollar_subs == 0) a tick only copies a few
 * counters, and events are not even built. A first `$` subscription
 * publishes the current values before its retained walk, so it starts
 * with fresh numbers, not the ones of the last time someone looked.
 *
 * Only patterns that begin with '$' can match a `$` topic (a leading
 * wildcard never does, MQTT's rule, protocol/topic.c), which is why
 * counting those subscriptions is enough to know whether anyone listens.
 * `$SYS` traffic is not counted in the message totals it reports.
 */
#include "sys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"

#define SYS_BUSIEST 10

/* The number of topics a client would count: `$` ones are the server's. */
static uint64_t sys_user_topics(const struct hub *hub)
{
    const struct sys_state *s = &hub->sys;

    return hub->stats.topics > s->sys_topics
               ? hub->stats.topics - s->sys_topics
               : 0;
}

/* Publish data (JSON text) on the `$` topic name, ephemeral; retained
 * when retain. Keeps $SYS deliveries out of messages_out. */
static void sys_put(struct hub *hub, const char *name, const char *data,
                    bool retain)
{
    struct topic *t = hub_topic(hub, name, true);
    uint64_t out = hub->stats.messages_out;

    if (t == NULL) {
        log_error("$SYS: out of memory for %s", name);
        return;
    }
    hub_publish_commit(hub, t, t->seq + 1, hub_now(hub), "$SYS", data,
                       strlen(data), false, retain);
    hub->stats.messages_out = out;
}

static void sys_put_u64(struct hub *hub, const char *name, uint64_t v)
{
    char text[32];

    snprintf(text, sizeof(text), "%" PRIu64, v);
    sys_put(hub, name, text, true);
}

static void sys_put_rate(struct hub *hub, const char *name, double v)
{
    char text[48];

    snprintf(text, sizeof(text), "%.2f", v);
    sys_put(hub, name, text, true);
}

struct busiest {
    const struct topic *t[SYS_BUSIEST];
    uint32_t n[SYS_BUSIEST];
    size_t count;
};

/* Keep the SYS_BUSIEST topics with the most publishes since the last
 * walk, sorted, and start every topic's count again. */
static int busiest_cb(void *arg, struct topic *t)
{
    struct busiest *b = arg;
    uint32_t n = t->pubs;
    size_t i = 0;

    t->pubs = 0;
    if (n == 0 || t->name[0] == '$')
        return 0;
    if (b->count == SYS_BUSIEST && n <= b->n[SYS_BUSIEST - 1])
        return 0;
    i = b->count < SYS_BUSIEST ? b->count++ : SYS_BUSIEST - 1;
    while (i > 0 && b->n[i - 1] < n) {
        b->t[i] = b->t[i - 1];
        b->n[i] = b->n[i - 1];
        i--;
    }
    b->t[i] = t;
    b->n[i] = n;
    return 0;
}

/* $SYS/broker/topics/busiest: [{"topic":..,"per_second":..},...]. */
static void sys_put_busiest(struct hub *hub)
{
    struct busiest b;
    struct pl_buf out;
    int64_t now = hub_now(hub);
    double secs = (double)(now - hub->sys.last_walk_ms) / 1000.0;
    char rate[48];
    size_t i = 0;

    memset(&b, 0, sizeof(b));
    topic_tree_foreach(&hub->tree, busiest_cb, &b);
    hub->sys.last_walk_ms = now;
    if (secs <= 0)
        secs = 1;
    if (pl_buf_init(&out, 256) < 0)
        return;
    pl_buf_cstr(&out, "[");
    for (i = 0; i < b.count; i++) {
        pl_buf_cstr(&out, i == 0 ? "{\"topic\":" : ",{\"topic\":");
        pl_buf_json_str(&out, b.t[i]->name, b.t[i]->name_len);
        snprintf(rate, sizeof(rate), ",\"per_second\":%.2f}",
                 (double)b.n[i] / secs);
        pl_buf_cstr(&out, rate);
    }
    pl_buf_cstr(&out, "]");
    pl_buf_raw(&out, "", 1);
    if (!pl_buf_failed(&out))
        sys_put(hub, "$SYS/broker/topics/busiest", pl_buf_data(&out), true);
    pl_buf_cleanup(&out);
}

/* Every value, retained. */
static void sys_publish_values(struct hub *hub)
{
    struct sys_state *s = &hub->sys;
    const struct hub_stats *st = &hub->stats;
    int64_t up = (hub_now(hub) - s->started_ms) / 1000;

    sys_put(hub, "$SYS/broker/version", "\"parley/" PARLEY_VERSION "\"",
            true);
    sys_put_u64(hub, "$SYS/broker/uptime", up > 0 ? (uint64_t)up : 0);
    sys_put_u64(hub, "$SYS/broker/clients/connected", st->connections);
    sys_put_u64(hub, "$SYS/broker/clients/total", st->connections_total);
    sys_put_u64(hub, "$SYS/broker/clients/refused", s->sample.refused);
    sys_put_u64(hub, "$SYS/broker/clients/slow_consumers",
                st->slow_consumers);
    sys_put_u64(hub, "$SYS/broker/clients/rate_limited", st->rate_limited);
    sys_put_u64(hub, "$SYS/broker/subscriptions/count", st->subscriptions);
    sys_put_u64(hub, "$SYS/broker/topics/count", sys_user_topics(hub));
    sys_put_u64(hub, "$SYS/broker/messages/received", st->messages_in);
    sys_put_u64(hub, "$SYS/broker/messages/sent", st->messages_out);
    sys_put_u64(hub, "$SYS/broker/bytes/received", st->bytes_in);
    sys_put_u64(hub, "$SYS/broker/bytes/sent", s->sample.bytes_out);
    sys_put_rate(hub, "$SYS/broker/load/messages/received/per_second",
                 s->in_rate);
    sys_put_rate(hub, "$SYS/broker/load/messages/sent/per_second",
                 s->out_rate);
    sys_put_rate(hub, "$SYS/broker/load/bytes/received/per_second",
                 s->bytes_in_rate);
    sys_put_rate(hub, "$SYS/broker/load/bytes/sent/per_second",
                 s->bytes_out_rate);
    sys_put_u64(hub, "$SYS/broker/store/queue_depth", s->sample.store_pending);
    sys_put_rate(hub, "$SYS/broker/store/commit_latency_ms", s->commit_ms);
    /* Only a cluster node has nodes to count; -1 (no heartbeat answered
     * yet) is not a count either. */
    if (s->sample.cluster_nodes > 0)
        sys_put_u64(hub, "$SYS/broker/cluster/nodes",
                    (uint64_t)s->sample.cluster_nodes);
    sys_put_busiest(hub);
    s->published = true;
}

static double per_second(uint64_t now, uint64_t before, double secs)
{
    return now >= before ? (double)(now - before) / secs : 0;
}

void hub_sys_tick(struct hub *hub, const struct hub_sys_sample *sample)
{
    struct sys_state *s = &hub->sys;
    const struct hub_stats *st = &hub->stats;
    int64_t now = hub_now(hub);
    double secs = (double)(now - s->last_tick_ms) / 1000.0;
    uint64_t batches = 0;

    s->prev_sample = s->sample; /* zeros before the first tick */
    s->sample = *sample;
    if (secs <= 0)
        secs = 1;
    s->in_rate = per_second(st->messages_in, s->prev_in, secs);
    s->out_rate = per_second(st->messages_out, s->prev_out, secs);
    s->bytes_in_rate = per_second(st->bytes_in, s->prev_bytes_in, secs);
    s->bytes_out_rate =
        per_second(sample->bytes_out, s->prev_sample.bytes_out, secs);
    batches = sample->store_batches - s->prev_sample.store_batches;
    s->commit_ms = batches > 0 ? (double)(sample->store_commit_us -
                                          s->prev_sample.store_commit_us) /
                                     (double)batches / 1000.0
                               : 0;
    s->prev_in = st->messages_in;
    s->prev_out = st->messages_out;
    s->prev_bytes_in = st->bytes_in;
    s->last_tick_ms = now;
    s->published = false;
    if (hub_sys_wanted(hub))
        sys_publish_values(hub);
}

bool hub_sys_wanted(const struct hub *hub)
{
    return hub->sys.dollar_subs > 0 && hub->cfg.sys_interval_ms > 0;
}

/* Queue an event (takes data, a malloc'd JSON text). */
static void sys_event(struct hub *hub, const char *topic, char *data)
{
    struct sys_state *s = &hub->sys;

    if (data == NULL || s->n_events == SYS_EVENTS_MAX) {
        s->events_dropped++;
        free(data);
        return;
    }
    s->events[s->n_events].topic = hub_strdup(topic);
    if (s->events[s->n_events].topic == NULL) {
        free(data);
        return;
    }
    s->events[s->n_events++].data = data;
}

/* A JSON object text of up to three string fields (values may be NULL:
 * the field is null) and one number; malloc'd, NULL on OOM. */
static char *sys_json(const char *k1, const char *v1, const char *k2,
                      const char *v2, const char *k3, const char *v3,
                      const char *kn, uint64_t n)
{
    const char *keys[3] = {k1, k2, k3};
    const char *vals[3] = {v1, v2, v3};
    struct pl_buf b;
    char *out = NULL;
    char num[48];
    size_t i = 0;

    if (pl_buf_init(&b, 128) < 0)
        return NULL;
    for (i = 0; i < 3 && keys[i] != NULL; i++) {
        pl_buf_cstr(&b, i == 0 ? "{" : ",");
        pl_buf_json_str(&b, keys[i], strlen(keys[i]));
        pl_buf_cstr(&b, ":");
        if (vals[i] != NULL)
            pl_buf_json_str(&b, vals[i], strlen(vals[i]));
        else
            pl_buf_cstr(&b, "null");
    }
    if (kn != NULL) {
        snprintf(num, sizeof(num), ",\"%s\":%" PRIu64, kn, n);
        pl_buf_cstr(&b, num);
    }
    pl_buf_cstr(&b, "}");
    pl_buf_raw(&b, "", 1);
    if (!pl_buf_failed(&b))
        out = hub_strdup(pl_buf_data(&b));
    pl_buf_cleanup(&b);
    return out;
}

void sys_slow_consumer(struct hub *hub, const struct conn *c)
{
    const struct topic *t = hub->sys.fanning;

    if (!hub_sys_wanted(hub))
        return;
    sys_event(hub, "$SYS/events/slow_consumer",
              sys_json("user", c->user, "topic", t ? t->name : NULL, NULL,
                       NULL, "conn", c->id));
}

void hub_sys_refused(struct hub *hub, const char *addr, const char *reason,
                     int code)
{
    if (!hub_sys_wanted(hub))
        return;
    sys_event(hub, "$SYS/events/refused",
              sys_json("reason", reason, "address", addr, NULL, NULL, "code",
                       code > 0 ? (uint64_t)code : 0));
}

void hub_sys_flush(struct hub *hub)
{
    struct sys_state *s = &hub->sys;
    struct sys_event ev[SYS_EVENTS_MAX];
    uint32_t n = s->n_events;
    uint32_t i = 0;

    if (n == 0)
        return;
    /* Events raised while these are sent wait for the next call. */
    memcpy(ev, s->events, n * sizeof(ev[0]));
    s->n_events = 0;
    for (i = 0; i < n; i++) {
        sys_put(hub, ev[i].topic, ev[i].data, false);
        free(ev[i].topic);
        free(ev[i].data);
    }
}

void sys_before_sub(struct hub *hub, const char *pattern)
{
    if (pattern[0] == '$' && hub->cfg.sys_interval_ms > 0 &&
        !hub->sys.published)
        sys_publish_values(hub);
}

void sys_init(struct hub *hub)
{
    memset(&hub->sys, 0, sizeof(hub->sys));
    hub->sys.started_ms = hub_now(hub);
    hub->sys.last_tick_ms = hub->sys.started_ms;
    hub->sys.last_walk_ms = hub->sys.started_ms;
}

void sys_cleanup(struct hub *hub)
{
    uint32_t i = 0;

    for (i = 0; i < hub->sys.n_events; i++) {
        free(hub->sys.events[i].topic);
        free(hub->sys.events[i].data);
    }
    hub->sys.n_events = 0;
}
