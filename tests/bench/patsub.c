/*
 * patsub.c: parley-bench's patsub scenario: what one pattern `sub` with
 * history costs when the server knows many topics (issue #17).
 *
 * Setup: --pubs P connections publish once (with ids, --window W
 * unacknowledged each) to --topics N topics sensors/room<r>/<i>, 100 per
 * room, and to --match K topics sensors/kitchen/<i>. Then one of them,
 * --count R times: sub sensors/kitchen/+ with history 1, wait for the reply
 * and the K messages, unsub, wait for that reply. The latency of a sample
 * is from sending the sub to the last of the reply and the K messages. The
 * cost should follow K, not N: run it with two values of --topics.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hist.h"
#include "net.h"

#define PS_PER_ROOM 100
#define PS_SETUP_SECONDS 120.0
#define PS_SAMPLE_SECONDS 10.0
#define PS_PATTERN "sensors/kitchen/+"

struct ps_conn {
    struct net_conn nc;
    bool ready;
    uint64_t sent;           /* publishes sent */
    uint64_t answered;       /* publishes acked or refused */
};

struct ps {
    const struct bench_opts *o;
    struct net *net;
    struct ps_conn *conns;
    uint32_t n_conns;
    uint64_t errors;
    char first_error[64];
    /* the sample in flight, on conns[0] */
    uint64_t sub_id;
    uint64_t unsub_id;
    bool sub_replied;
    bool unsub_replied;
    uint32_t msgs;
    uint64_t delivered;
};

static void ps_on_open(void *arg, struct net_conn *c)
{
    struct ps_conn *pc = c->user;

    (void)arg;
    pc->ready = true;
    c->next_id = 1;
}

static void ps_on_close(void *arg, struct net_conn *c)
{
    struct ps_conn *pc = c->user;

    (void)arg;
    pc->ready = false;
}

static void ps_note_error(struct ps *s, const char *text, size_t len)
{
    s->errors++;
    if (s->first_error[0] == '\0')
        scenario_error_code(text, len, s->first_error,
                            sizeof(s->first_error));
}

static void ps_on_text(void *arg, struct net_conn *c, const char *text,
                       size_t len)
{
    struct ps *s = arg;
    struct ps_conn *pc = c->user;
    int op = scenario_op(text, len);
    uint64_t id = 0;

    if (op == 'm') {
        s->msgs++;
        s->delivered++;
        return;
    }
    if (op != 'o' && op != 'e')
        return;
    if (op == 'e')
        ps_note_error(s, text, len);
    id = scenario_reply_id(text, len);
    if (pc == &s->conns[0] && id != 0 && id == s->sub_id)
        s->sub_replied = true;
    else if (pc == &s->conns[0] && id != 0 && id == s->unsub_id)
        s->unsub_replied = true;
    else if (id != 0)
        pc->answered++;
}

static const struct net_ops ps_ops = {
    ps_on_open, ps_on_text, ps_on_close,
};

/* Topic number k: the rooms first, then the kitchen. */
static int ps_topic(const struct ps *s, uint64_t k, char *buf, size_t cap)
{
    if (k < s->o->topics)
        return snprintf(buf, cap, "sensors/room%" PRIu64 "/%" PRIu64,
                        k / PS_PER_ROOM, k % PS_PER_ROOM);
    return snprintf(buf, cap, "sensors/kitchen/%" PRIu64, k - s->o->topics);
}

/* Connect every connection; 0 or -1 at the deadline. */
static int ps_connect(struct ps *s, uint64_t end)
{
    uint32_t i;
    uint32_t ready = 0;

    for (i = 0; i < s->n_conns; i++)
        if (net_connect(s->net, &s->conns[i].nc) < 0)
            return -1;
    while (ready < s->n_conns && net_now_us() < end) {
        net_poll(s->net, 5);
        for (ready = 0, i = 0; i < s->n_conns; i++)
            ready += s->conns[i].ready;
    }
    return ready == s->n_conns ? 0 : -1;
}

/* Publish once to every topic, connection i taking topics k with
 * k % P == i. Returns 0, or -1 when not all were acknowledged in time. */
static int ps_publish_all(struct ps *s, uint64_t end)
{
    uint64_t total = (uint64_t)s->o->topics + s->o->match;
    uint64_t done = 0;
    char topic[128];
    char buf[256];
    uint32_t i;

    while (done < total && net_now_us() < end) {
        done = 0;
        for (i = 0; i < s->n_conns; i++) {
            struct ps_conn *pc = &s->conns[i];
            uint64_t mine = (total - i + s->n_conns - 1) / s->n_conns;

            while (pc->sent < mine && pc->sent - pc->answered < s->o->window) {
                uint64_t k = pc->sent * s->n_conns + i;
                int n = 0;

                ps_topic(s, k, topic, sizeof(topic));
                n = snprintf(buf, sizeof(buf),
                             "{\"op\":\"pub\",\"id\":%" PRIu64 ",\"topic\":"
                             "\"%s\",\"data\":%" PRIu64 "}", ++pc->nc.next_id,
                             topic, k);
                if (net_send_text(&pc->nc, buf, (size_t)n) < 0)
                    return -1;
                pc->sent++;
            }
            done += pc->answered;
        }
        net_poll(s->net, 5);
    }
    return done == total && s->errors == 0 ? 0 : -1;
}

/* Poll until *flag and s->msgs >= want, or until end. */
static bool ps_wait(struct ps *s, const bool *flag, uint32_t want,
                    uint64_t end)
{
    while (!(*flag && s->msgs >= want)) {
        if (net_now_us() >= end)
            return false;
        net_poll(s->net, 1);
    }
    return true;
}

/* One sample: sub with history 1, then unsub. Returns the latency in us,
 * or 0 when the answer did not come in time. */
static uint64_t ps_sample(struct ps *s)
{
    struct net_conn *c = &s->conns[0].nc;
    uint64_t t0 = net_now_us();
    uint64_t end = t0 + (uint64_t)(PS_SAMPLE_SECONDS * 1e6);
    uint64_t lat = 0;
    char buf[160];
    int n = 0;

    s->msgs = 0;
    s->sub_replied = s->unsub_replied = false;
    s->sub_id = ++c->next_id;
    n = snprintf(buf, sizeof(buf), "{\"op\":\"sub\",\"id\":%" PRIu64 ","
                 "\"topic\":\"" PS_PATTERN "\",\"history\":1}", s->sub_id);
    net_send_text(c, buf, (size_t)n);
    net_flush(s->net);
    if (!ps_wait(s, &s->sub_replied, s->o->match, end))
        return 0;
    lat = net_now_us() - t0;
    s->unsub_id = ++c->next_id;
    n = snprintf(buf, sizeof(buf), "{\"op\":\"unsub\",\"id\":%" PRIu64 ","
                 "\"topic\":\"" PS_PATTERN "\"}", s->unsub_id);
    net_send_text(c, buf, (size_t)n);
    if (!ps_wait(s, &s->unsub_replied, 0, end))
        return 0;
    return lat > 0 ? lat : 1;
}

int patsub_run(const struct bench_opts *o,
               void (*report)(const struct bench_opts *o,
                              const struct bench_result *r))
{
    struct ps s;
    struct hist h;
    struct bench_result r;
    uint64_t end = net_now_us() + (uint64_t)(PS_SETUP_SECONDS * 1e6);
    uint64_t t0 = 0;
    uint64_t i;
    int rc = 3;

    memset(&s, 0, sizeof(s));
    memset(&r, 0, sizeof(r));
    s.o = o;
    s.n_conns = o->pubs;
    if (hist_init(&h) < 0)
        return 3;
    s.conns = calloc(s.n_conns, sizeof(*s.conns));
    s.net = net_new(&o->url, &ps_ops, &s);
    if (s.conns == NULL || s.net == NULL)
        goto out;
    for (i = 0; i < s.n_conns; i++) {
        s.conns[i].nc.fd = -1;
        s.conns[i].nc.index = (uint32_t)i;
        s.conns[i].nc.user = &s.conns[i];
    }
    if (ps_connect(&s, end) < 0 || ps_publish_all(&s, end) < 0) {
        fprintf(stderr, "parley-bench: patsub setup failed (%s)\n",
                s.first_error[0] ? s.first_error : "timeout");
        goto out;
    }
    t0 = net_now_us();
    for (i = 0; i < o->count; i++) {
        uint64_t lat = ps_sample(&s);

        if (lat == 0) {
            fprintf(stderr, "parley-bench: patsub: no full answer to sub %"
                    PRIu64 " in time\n", i + 1);
            break;
        }
        hist_add(&h, lat);
    }
    r.phase = "run";
    r.seconds = (double)(net_now_us() - t0) / 1e6;
    r.sent = o->topics + o->match;
    r.acked = r.sent;
    r.errors = s.errors;
    r.expected = o->count * o->match;
    r.delivered = s.delivered;
    r.lost = r.expected > r.delivered ? r.expected - r.delivered : 0;
    r.n_lat = h.n;
    r.p50_ms = (double)hist_quantile(&h, 0.50) / 1000.0;
    r.p90_ms = (double)hist_quantile(&h, 0.90) / 1000.0;
    r.p99_ms = (double)hist_quantile(&h, 0.99) / 1000.0;
    r.max_ms = (double)h.max / 1000.0;
    r.mean_ms = h.n ? (double)h.sum / (double)h.n / 1000.0 : 0;
    r.server_cpu = -1;
    r.first_error = s.first_error[0] ? s.first_error : NULL;
    report(o, &r);
    rc = r.lost == 0 && r.errors == 0 ? 0 : 1;
out:
    for (i = 0; s.conns != NULL && i < s.n_conns; i++) {
        if (s.conns[i].nc.fd >= 0)
            net_close(&s.conns[i].nc);
        net_conn_cleanup(&s.conns[i].nc);
    }
    free(s.conns);
    net_free(&s.net);
    hist_cleanup(&h);
    return rc;
}
