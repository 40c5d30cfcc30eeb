/*
 * scenario.c: parley-bench's workloads on top of net.c: fanout, fanin,
 * conns, durable and recover, the open-loop publisher, the subscribers'
 * accounting (delivered, lost, duplicates, latency) and --find-max.
 *
 * Every publish carries its send time (CLOCK_MONOTONIC, microseconds), a
 * run number, the publisher's number and its own counter in `data`:
 *
 *     {"t":8123456789,"r":3,"p":0,"n":41,"x":"....padding...."}
 *
 * so a subscriber measures latency without a clock shared with the
 * server, ignores stragglers of an earlier trial, and finds duplicates or
 * reordering per publisher. Lost = expected deliveries - delivered, where
 * expected = publishes sent x subscribers that should see them.
 *
 * The publisher is open-loop: each millisecond it sends what the rate says
 * is due, whatever the server answers, so a slow server shows up as
 * latency and loss instead of silently lowering the rate (no coordinated
 * omission). Everything runs on one thread; every loop has a deadline.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hist.h"
#include "net.h"

#define SC_TICK_US 1000
#define SC_NOISE_PER_CONN 1000
#define SC_ORDER_MAX (32u << 20)    /* entries of the order-check table */
#define SC_SETUP_SECONDS 60.0

enum sc_role {
    ROLE_SUB = 1,
    ROLE_PUB,
    ROLE_NOISE,
    ROLE_IDLE,
};

struct peer {
    struct net_conn nc;
    bool ready;
    bool done;               /* recover: caught up */
    int64_t sub_seq;         /* seq in the sub reply (-1: none) */
    int64_t expect;          /* recover: next seq expected */
    uint64_t *t_sent;        /* durable: send time per id in the window */
    uint32_t outstanding;    /* durable: pubs without a reply */
};

struct sc_counts {
    uint64_t sent;
    uint64_t acked;
    uint64_t errors;
    uint64_t delivered;
    uint64_t stale;
    uint64_t dup;
    uint64_t foreign;
    uint64_t t_first;
    uint64_t t_last;
};

struct sc {
    const struct bench_opts *o;
    void (*report)(const struct bench_opts *o, const struct bench_result *r);
    struct net *net;
    struct peer *subs;
    uint32_t n_subs;
    struct peer *pubs;
    uint32_t n_pubs;
    struct peer *noise;
    uint32_t n_noise;
    char sub_topic[256];
    bool per_pub_topic;      /* fanin, durable: topic/<publisher> */
    int64_t since;           /* subs ask for since (-1: no) */
    uint32_t run;
    bool recording;
    bool durable;            /* pub replies drive the next pub, unless */
    bool paced;              /* durable --rate: a clock drives them */
    uint32_t t_ring;         /* durable: send times kept per publisher */
    bool publishing;
    uint64_t pub_limit;      /* closed loop: publish at most this many */
    struct sc_counts c;
    struct hist lat;
    uint32_t *last_n;        /* [sub * n_pubs + pub] */
    size_t n_last;
    uint64_t *pub_n;
    uint32_t rr;             /* next publisher, round robin */
    char *frame;
    size_t frame_cap;
    char *pad;
    char first_error[64];
    uint64_t noise_errors;
    uint64_t deadline;       /* monotonic us: the whole run */
    bool timed_out;
    uint64_t closed;         /* server-side closes seen while recording */
    uint64_t slow_closes;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static uint64_t sc_parse_u64(const char *p, const char *end,
                             const char **next)
{
    uint64_t v = 0;

    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (next != NULL)
        *next = p;
    return v;
}

/* Pointer just after `key` in text, or NULL. */
static const char *sc_after(const char *text, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *p = memmem(text, len, key, kl);

    return p == NULL ? NULL : p + kl;
}

/* The value of the op field, when it is one of ours. */
static int sc_op(const char *text, size_t len)
{
    const char *p = sc_after(text, len < 32 ? len : 32, "\"op\":\"");
    size_t rest = 0;

    if (p == NULL)
        return 0;
    rest = (size_t)(text + len - p);
    if (rest >= 4 && memcmp(p, "msg\"", 4) == 0)
        return 'm';
    if (rest >= 3 && memcmp(p, "ok\"", 3) == 0)
        return 'o';
    if (rest >= 6 && memcmp(p, "error\"", 6) == 0)
        return 'e';
    return 0;
}

/* The reply's id (0 for null or none). */
static uint64_t sc_reply_id(const char *text, size_t len)
{
    const char *p = sc_after(text, len < 64 ? len : 64, "\"id\":");

    return p == NULL ? 0 : sc_parse_u64(p, text + len, NULL);
}

static int64_t sc_field_i64(const char *text, size_t len, const char *key)
{
    const char *p = sc_after(text, len, key);

    if (p == NULL || p >= text + len || *p < '0' || *p > '9')
        return -1;
    return (int64_t)sc_parse_u64(p, text + len, NULL);
}

static double sc_cpu_seconds_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The server's CPU seconds (user + system, all threads), -1 if unknown. */
static double sc_cpu_seconds_pid(pid_t pid)
{
    char path[64];
    char buf[1024];
    unsigned long long ut = 0;
    unsigned long long st = 0;
    const char *p = NULL;
    FILE *f = NULL;
    size_t n = 0;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* after ") ": state(3) ... utime(14) stime(15) */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
                            "%*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of pid in KiB, -1 if unknown. */
static long sc_rss_kb(pid_t pid)
{
    char path[64];
    char line[256];
    long kb = -1;
    FILE *f = NULL;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static bool sc_expired(struct sc *s)
{
    if (net_now_us() < s->deadline)
        return false;
    if (!s->timed_out)
        fprintf(stderr, "parley-bench: --timeout reached, stopping\n");
    s->timed_out = true;
    return true;
}

/* Make room for n bytes in the scratch frame buffer. */
static int sc_frame_room(struct sc *s, size_t n)
{
    char *nf = NULL;

    if (n <= s->frame_cap)
        return 0;
    nf = realloc(s->frame, n);
    if (nf == NULL)
        return -ENOMEM;
    s->frame = nf;
    s->frame_cap = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* callbacks                                                           */

static void sc_send_sub(struct sc *s, struct peer *p)
{
    char buf[512];
    int n = 0;

    p->nc.next_id = 1;
    if (s->since >= 0)
        n = snprintf(buf, sizeof(buf),
                     "{\"op\":\"sub\",\"id\":1,\"topic\":\"%s\","
                     "\"since\":%" PRId64 "}", s->sub_topic, s->since);
    else
        n = snprintf(buf, sizeof(buf),
                     "{\"op\":\"sub\",\"id\":1,\"topic\":\"%s\"}",
                     s->sub_topic);
    net_send_text(&p->nc, buf, (size_t)n);
}

/* A noise connection subscribes to its share of unrelated topics without
 * ids, then pings: the ping's reply means all were handled. */
static void sc_send_noise(struct sc *s, struct peer *p)
{
    uint32_t per = SC_NOISE_PER_CONN;
    uint32_t first = p->nc.index * per;
    uint32_t j = 0;
    char buf[256];
    int n = 0;

    for (j = first; j < first + per && j < s->o->extra_subs; j++) {
        n = snprintf(buf, sizeof(buf),
                     "{\"op\":\"sub\",\"topic\":\"noise/%u/%u\"}",
                     p->nc.index, j);
        net_send_text(&p->nc, buf, (size_t)n);
    }
    n = snprintf(buf, sizeof(buf), "{\"op\":\"ping\",\"id\":1}");
    net_send_text(&p->nc, buf, (size_t)n);
}

static void sc_on_open(void *arg, struct net_conn *c)
{
    struct sc *s = arg;
    struct peer *p = c->user;
    char buf[64];
    int n = 0;

    switch (c->role) {
    case ROLE_SUB:
        sc_send_sub(s, p);
        break;
    case ROLE_NOISE:
        sc_send_noise(s, p);
        break;
    case ROLE_IDLE:
        n = snprintf(buf, sizeof(buf), "{\"op\":\"ping\",\"id\":1}");
        net_send_text(c, buf, (size_t)n);
        break;
    case ROLE_PUB:
    default:
        p->ready = true;
        c->next_id = 1;
        p->outstanding = 0;
        break;
    }
}

static void sc_on_close(void *arg, struct net_conn *c)
{
    struct sc *s = arg;
    struct peer *p = c->user;

    p->ready = false;
    /* the server ended it (close frame, reset, EOF): counted */
    if (s->recording && c->close_code != NET_CLOSED_HERE) {
        s->closed++;
        if (c->close_code == 4008)
            s->slow_closes++;
    }
}

void scenario_error_code(const char *text, size_t len, char *out,
                         size_t cap)
{
    const char *p = sc_after(text, len, "\"code\":\"");
    const char *q = NULL;

    if (p == NULL)
        return;
    q = memchr(p, '"', (size_t)(text + len - p));
    if (q == NULL)
        return;
    snprintf(out, cap, "%.*s", (int)(q - p), p);
}

static void sc_note_error(struct sc *s, const char *text, size_t len)
{
    if (s->first_error[0] == '\0')
        scenario_error_code(text, len, s->first_error,
                            sizeof(s->first_error));
}

int scenario_op(const char *text, size_t len)
{
    return sc_op(text, len);
}

uint64_t scenario_reply_id(const char *text, size_t len)
{
    return sc_reply_id(text, len);
}

/* A msg frame for a subscriber: account for one delivery. */
static void sc_on_msg(struct sc *s, struct peer *p, const char *text,
                      size_t len)
{
    const char *end = text + len;
    const char *q = sc_after(text, len, "\"data\":{\"t\":");
    uint64_t t = 0;
    uint64_t run = 0;
    uint64_t pub = 0;
    uint64_t n = 0;
    uint64_t now = 0;

    if (q == NULL) {
        s->c.foreign++;
        return;
    }
    t = sc_parse_u64(q, end, &q);
    if (end - q < 5 || memcmp(q, ",\"r\":", 5) != 0) {
        s->c.foreign++;
        return;
    }
    run = sc_parse_u64(q + 5, end, &q);
    if (end - q < 5 || memcmp(q, ",\"p\":", 5) != 0) {
        s->c.foreign++;
        return;
    }
    pub = sc_parse_u64(q + 5, end, &q);
    if (end - q < 5 || memcmp(q, ",\"n\":", 5) != 0) {
        s->c.foreign++;
        return;
    }
    n = sc_parse_u64(q + 5, end, &q);
    if (run != s->run || !s->recording) {
        s->c.stale++;
        return;
    }
    now = net_now_us();
    s->c.delivered++;
    s->c.t_last = now;
    if (s->since >= 0) {
        /* recover: server seqs must arrive in order, each once; the
         * latency recorded is each client's time to catch up */
        int64_t seq = sc_field_i64(text, len, "\"seq\":");

        if (seq != p->expect)
            s->c.dup++;
        if (seq >= p->expect)
            p->expect = seq + 1;
        if (!p->done && p->expect > s->since + (int64_t)s->o->missed) {
            p->done = true;
            hist_add(&s->lat, now - s->c.t_first);
        }
        return;
    }
    hist_add(&s->lat, now > t ? now - t : 0);
    if (s->last_n != NULL && pub < s->n_pubs) {
        size_t i = (size_t)p->nc.index * s->n_pubs + pub;

        if (n != (uint64_t)s->last_n[i] + 1)
            s->c.dup++;
        if (n > s->last_n[i])
            s->last_n[i] = (uint32_t)n;
    }
}

static void sc_pub_next(struct sc *s, struct peer *p, uint64_t now);

static void sc_on_reply(struct sc *s, struct peer *p, int op,
                        const char *text, size_t len)
{
    uint64_t id = sc_reply_id(text, len);
    uint64_t now = 0;

    if (op == 'e') {
        if (p->nc.role == ROLE_NOISE) {
            s->noise_errors++;
            sc_note_error(s, text, len);
            return;
        }
        if (s->recording) {
            s->c.errors++;
            sc_note_error(s, text, len);
        }
    }
    switch (p->nc.role) {
    case ROLE_SUB:
        if (id == 1 && op == 'o') {
            p->sub_seq = sc_field_i64(text, len, "\"seq\":");
            p->ready = true;
        } else if (id == 1) {
            fprintf(stderr, "parley-bench: sub refused: %.*s\n",
                    (int)len, text);
        }
        return;
    case ROLE_NOISE:
    case ROLE_IDLE:
        if (id == 1 && !p->ready) {
            p->ready = true;
            if (p->nc.role == ROLE_IDLE && s->recording) {
                now = net_now_us();
                hist_add(&s->lat, now - p->nc.t_start);
                s->c.delivered++;
                s->c.t_last = now;
            }
        }
        return;
    case ROLE_PUB:
    default:
        break;
    }
    if (id == 0 || !s->recording)
        return;
    if (op == 'o')
        s->c.acked++;
    if (p->t_sent != NULL && p->outstanding > 0) {
        now = net_now_us();
        p->outstanding--;
        if (op == 'o') {
            uint64_t t0 = p->t_sent[(id - 1) % s->t_ring];

            hist_add(&s->lat, now > t0 ? now - t0 : 0);
            s->c.t_last = now;
        }
        if (s->durable && !s->paced && s->publishing)
            sc_pub_next(s, p, now);
    }
}

static void sc_on_text(void *arg, struct net_conn *c, const char *text,
                       size_t len)
{
    struct sc *s = arg;
    struct peer *p = c->user;
    int op = sc_op(text, len);

    if (op == 'm') {
        if (c->role == ROLE_SUB)
            sc_on_msg(s, p, text, len);
        return;
    }
    if (op == 'o' || op == 'e')
        sc_on_reply(s, p, op, text, len);
}

static const struct net_ops sc_ops = {
    sc_on_open, sc_on_text, sc_on_close,
};

/* ------------------------------------------------------------------ */
/* publishing                                                          */

/* Build and queue one pub on p. Returns 0 or a negative errno. */
static int sc_publish(struct sc *s, struct peer *p, uint64_t now)
{
    const struct bench_opts *o = s->o;
    uint32_t pi = p->nc.index;
    uint64_t n = ++s->pub_n[pi];
    char topic[300];
    char idbuf[40];
    char data[160];
    int dl = 0;
    int len = 0;
    int pad = 0;
    uint64_t id = 0;

    if (s->per_pub_topic)
        snprintf(topic, sizeof(topic), "%s/%u", o->topic, pi);
    else
        snprintf(topic, sizeof(topic), "%s", o->topic);
    idbuf[0] = '\0';
    if (o->ack || s->durable) {
        id = p->nc.next_id++;
        snprintf(idbuf, sizeof(idbuf), "\"id\":%" PRIu64 ",", id);
    }
    dl = snprintf(data, sizeof(data),
                  "{\"t\":%" PRIu64 ",\"r\":%u,\"p\":%u,\"n\":%" PRIu64,
                  now, s->run, pi, n);
    /* ,"x":"<pad>"} brings data to o->size bytes when it can */
    pad = (int)o->size - dl - 8;
    if (pad < 0)
        pad = -1;
    if (sc_frame_room(s, (size_t)(pad > 0 ? pad : 0) + 600) < 0)
        return -ENOMEM;
    len = snprintf(s->frame, s->frame_cap,
                   "{\"op\":\"pub\",%s\"topic\":\"%s\",\"data\":%s%s%.*s%s}",
                   idbuf, topic, data, pad >= 0 ? ",\"x\":\"" : "",
                   pad > 0 ? pad : 0, s->pad, pad >= 0 ? "\"}" : "}");
    if (p->t_sent != NULL && id > 0) {
        p->t_sent[(id - 1) % s->t_ring] = now;
        p->outstanding++;
    }
    return net_send_text(&p->nc, s->frame, (size_t)len);
}

/* Durable: p got a reply; keep its window full. */
static void sc_pub_next(struct sc *s, struct peer *p, uint64_t now)
{
    const struct bench_opts *o = s->o;

    while (p->outstanding < o->window &&
           (s->pub_limit == 0 || s->c.sent < s->pub_limit)) {
        if (sc_publish(s, p, now) < 0)
            return;
        s->c.sent++;
    }
}

/* Open loop: send what is due at now since t0 at rate. */
static void sc_pub_due(struct sc *s, uint64_t t0, uint64_t now, double rate)
{
    const struct bench_opts *o = s->o;
    double due_f = (double)(now - t0) * rate / 1e6;
    uint64_t due = (uint64_t)due_f + 1;     /* the first one at t0 */
    uint64_t burst = (uint64_t)(rate / 100.0) + 64; /* 10 ms at most */
    uint32_t tries = 0;

    if (o->count > 0 && due > o->count)
        due = o->count;
    if (due > s->c.sent + burst)
        due = s->c.sent + burst;
    while (s->c.sent < due && tries < s->n_pubs) {
        struct peer *p = &s->pubs[s->rr];

        s->rr = (s->rr + 1) % s->n_pubs;
        if (!p->ready) {
            tries++;
            continue;
        }
        tries = 0;
        if (sc_publish(s, p, now) == 0 && s->c.t_first == 0)
            s->c.t_first = now;
        s->c.sent++;    /* a refused send counts: it is lost */
    }
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

static struct peer *sc_peers(uint32_t n, int role)
{
    struct peer *ps = calloc(n ? n : 1, sizeof(*ps));
    uint32_t i;

    if (ps == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        ps[i].nc.fd = -1;
        ps[i].nc.index = i;
        ps[i].nc.role = role;
        ps[i].nc.user = &ps[i];
        ps[i].sub_seq = -1;
    }
    return ps;
}

static void sc_peers_free(struct peer **ps, uint32_t n)
{
    uint32_t i;

    if (*ps == NULL)
        return;
    for (i = 0; i < n; i++) {
        if ((*ps)[i].nc.fd >= 0)
            net_close(&(*ps)[i].nc);
        net_conn_cleanup(&(*ps)[i].nc);
        free((*ps)[i].t_sent);
    }
    free(*ps);
    *ps = NULL;
}

/* Connect every peer that is not connected, at most o->concurrency
 * handshakes at a time, and wait until all are ready. Returns 0, or -1
 * at the deadline (message on stderr). */
static int sc_ensure(struct sc *s, struct peer *ps, uint32_t n,
                     const char *what)
{
    uint64_t end = net_now_us() + (uint64_t)(SC_SETUP_SECONDS * 1e6);
    uint64_t progress = net_now_us() + 2000000;
    const struct net_stats *st = net_get_stats(s->net);
    uint64_t fails = st->connect_fail;
    uint32_t next = 0;
    uint32_t ready = 0;
    uint32_t i = 0;
    int rc = 0;

    if (end > s->deadline)
        end = s->deadline;
    for (;;) {
        ready = 0;
        for (i = 0; i < n; i++)
            ready += ps[i].ready;
        if (ready == n)
            return 0;
        if (net_now_us() >= progress) {
            /* a long setup says how far it got, on stderr */
            fprintf(stderr, "parley-bench: %u of %u %s ready\n", ready, n,
                    what);
            progress += 2000000;
        }
        if (net_now_us() >= end) {
            fprintf(stderr, "parley-bench: only %u of %u %s ready in time "
                    "(connect failures: %" PRIu64 ")\n", ready, n, what,
                    net_get_stats(s->net)->connect_fail);
            return -1;
        }
        for (i = 0; i < n && net_connecting(s->net) < s->o->concurrency;
             i++) {
            struct peer *p = &ps[(next + i) % n];

            if (p->nc.state != NET_IDLE)
                continue;
            if (p->nc.role == ROLE_PUB && s->o->has_pub_url)
                p->nc.target = &s->o->pub_url;
            rc = net_connect(s->net, &p->nc);
            if (rc < 0) {
                fprintf(stderr, "parley-bench: connect: %s\n",
                        strerror(-rc));
                return -1;
            }
        }
        next = (next + i) % (n ? n : 1);
        st = net_get_stats(s->net);
        if (st->connects == 0 && st->connect_fail >= 50) {
            fprintf(stderr, "parley-bench: cannot connect to %s: every "
                    "attempt was refused or reset\n", s->o->url.host);
            return -1;
        }
        /* failures (refused, reset): back off a little before retrying */
        net_poll(s->net, st->connect_fail > fails ? 50 : 5);
        fails = st->connect_fail;
    }
}

/* Poll until cond(s) or until t_end (us). */
static void sc_wait(struct sc *s, uint64_t t_end,
                    bool (*cond)(struct sc *s))
{
    while (net_now_us() < t_end && !sc_expired(s)) {
        if (cond != NULL && cond(s))
            return;
        net_poll(s->net, 5);
    }
}

/* ------------------------------------------------------------------ */
/* one measurement                                                     */

static void sc_begin(struct sc *s)
{
    s->run++;
    memset(&s->c, 0, sizeof(s->c));
    hist_reset(&s->lat);
    if (s->last_n != NULL)
        memset(s->last_n, 0, s->n_last * sizeof(*s->last_n));
    memset(s->pub_n, 0, (s->n_pubs ? s->n_pubs : 1) * sizeof(*s->pub_n));
    s->first_error[0] = '\0';
    s->closed = s->slow_closes = 0;
    s->recording = true;
}

static void sc_fill_latency(struct bench_result *r, const struct hist *h)
{
    r->n_lat = h->n;
    r->p50_ms = (double)hist_quantile(h, 0.50) / 1000.0;
    r->p90_ms = (double)hist_quantile(h, 0.90) / 1000.0;
    r->p99_ms = (double)hist_quantile(h, 0.99) / 1000.0;
    r->max_ms = (double)h->max / 1000.0;
    r->mean_ms = h->n ? (double)h->sum / (double)h->n / 1000.0 : 0;
}

static void sc_finish(struct sc *s, struct bench_result *r, uint64_t t0,
                      uint64_t t_end, double cpu_s0, double cpu_g0)
{
    double wall = (double)(t_end - t0) / 1e6;
    double cs = sc_cpu_seconds_pid(s->o->server_pid);
    uint64_t last = s->c.t_last > t0 ? s->c.t_last : t_end;

    s->recording = false;
    r->sent = s->c.sent;
    r->acked = s->c.acked;
    r->errors = s->c.errors;
    r->delivered = s->c.delivered;
    r->lost = r->expected > r->delivered ? r->expected - r->delivered : 0;
    r->dup = s->c.dup;
    r->closed = s->closed;
    r->slow_closes = s->slow_closes;
    r->seconds = (double)(last - t0) / 1e6;
    r->deliveries_per_s = r->seconds > 0 ? r->delivered / r->seconds : 0;
    sc_fill_latency(r, &s->lat);
    r->server_cpu = cpu_s0 >= 0 && cs >= 0 && wall > 0
                        ? 100.0 * (cs - cpu_s0) / wall : -1;
    r->gen_cpu = wall > 0 ? 100.0 * (sc_cpu_seconds_self() - cpu_g0) / wall
                          : 0;
    r->extra_subs = s->o->extra_subs;
    r->first_error = s->first_error[0] ? s->first_error : NULL;
}

static bool sc_all_delivered(struct sc *s)
{
    return s->c.delivered >= s->c.sent * s->n_subs;
}

/* One open-loop measurement of fanout/fanin at rate for seconds. */
static int sc_measure(struct sc *s, double rate, double seconds,
                      struct bench_result *r)
{
    const struct bench_opts *o = s->o;
    uint64_t t0 = 0;
    uint64_t t_stop = 0;
    uint64_t now = 0;
    uint64_t next_tick = 0;
    double cpu_s0 = 0;
    double cpu_g0 = 0;

    if (sc_ensure(s, s->subs, s->n_subs, "subscribers") < 0 ||
        sc_ensure(s, s->pubs, s->n_pubs, "publishers") < 0)
        return -1;
    memset(r, 0, sizeof(*r));
    sc_begin(s);
    cpu_s0 = sc_cpu_seconds_pid(o->server_pid);
    cpu_g0 = sc_cpu_seconds_self();
    t0 = net_now_us();
    t_stop = t0 + (uint64_t)(seconds * 1e6);
    next_tick = t0;
    s->publishing = true;
    for (;;) {
        now = net_now_us();
        if (now >= t_stop || sc_expired(s) ||
            (o->count > 0 && s->c.sent >= o->count))
            break;
        if (now >= next_tick) {
            sc_pub_due(s, t0, now, rate);
            next_tick = now + SC_TICK_US;
            if (o->kill_subs > 0 && s->c.sent >= (o->count ? o->count / 2 :
                (uint64_t)(rate * seconds / 2))) {
                uint32_t k;

                for (k = 0; k < o->kill_subs && k < s->n_subs; k++)
                    if (s->subs[k].nc.fd >= 0)
                        net_close(&s->subs[k].nc);
            }
        }
        net_poll_us(s->net, (int64_t)(next_tick - net_now_us()));
    }
    s->publishing = false;
    now = net_now_us();
    r->pub_rate = s->c.sent / ((double)(now - t0) / 1e6);
    r->target_rate = rate;
    sc_wait(s, now + (uint64_t)(o->drain * 1e6), sc_all_delivered);
    r->expected = s->c.sent * s->n_subs;
    now = net_now_us();
    /* gave up while deliveries were still coming: the server is behind,
     * and what it had not sent by now counts as lost */
    r->still_arriving = s->c.delivered < r->expected &&
                        s->c.t_last + 100000 > now;
    sc_finish(s, r, t0, now, cpu_s0, cpu_g0);
    return s->timed_out ? -1 : 0;
}

static bool sc_clean(const struct bench_result *r)
{
    return r->lost == 0 && r->errors == 0 && r->dup == 0 && r->closed == 0;
}

/* ------------------------------------------------------------------ */
/* scenarios                                                           */

static int sc_noise_setup(struct sc *s)
{
    const struct bench_opts *o = s->o;

    if (o->extra_subs == 0)
        return 0;
    s->n_noise = (o->extra_subs + SC_NOISE_PER_CONN - 1) / SC_NOISE_PER_CONN;
    s->noise = sc_peers(s->n_noise, ROLE_NOISE);
    if (s->noise == NULL)
        return -1;
    if (sc_ensure(s, s->noise, s->n_noise, "extra-subscription conns") < 0)
        return -1;
    if (s->noise_errors > 0) {
        fprintf(stderr, "parley-bench: %" PRIu64 " extra subscriptions "
                "refused (%s)\n", s->noise_errors, s->first_error);
        return -1;
    }
    return 0;
}

/* Why a find-max trial failed, for the report. */
static const char *sc_limit(const struct bench_result *r, double max_p99)
{
    if (r->slow_closes > 0)
        return "slow-consumer closes";
    if (r->errors > 0)
        return "error replies";
    if (r->lost > 0)
        return "lost messages";
    if (r->p99_ms >= max_p99)
        return "p99 latency";
    if (r->pub_rate < 0.95 * r->target_rate)
        return "publish rate not reached";
    return "none";
}

static bool sc_trial_ok(const struct bench_result *r, double max_p99)
{
    return sc_clean(r) && r->p99_ms < max_p99 &&
           r->pub_rate >= 0.95 * r->target_rate;
}

/* One find-max trial at rate, reported. A trial that failed on latency
 * alone (nothing lost, nothing refused) is run once more, so that one
 * scheduling hiccup on a shared machine does not end the ramp. Returns 1
 * when it passed, 0 when not, -1 on a setup failure or timeout. */
static int sc_trial(struct sc *s, double rate, struct bench_result *r)
{
    const struct bench_opts *o = s->o;
    int attempt = 0;

    for (attempt = 0; attempt < 2; attempt++) {
        if (attempt > 0)
            sc_wait(s, net_now_us() + 300000, NULL);
        if (sc_measure(s, rate, o->trial, r) < 0)
            return -1;
        r->phase = "trial";
        s->report(o, r);
        if (sc_trial_ok(r, o->max_p99_ms))
            return 1;
        if (!sc_clean(r))
            return 0;
    }
    return 0;
}

static int sc_find_max(struct sc *s)
{
    const struct bench_opts *o = s->o;
    struct bench_result r;
    struct bench_result best;
    const char *limit = "max-rate reached";
    double lo = 0;
    double hi = 0;
    double rate = o->start_rate;
    int ok = 0;
    int i = 0;

    memset(&best, 0, sizeof(best));
    while (rate <= o->max_rate) {
        ok = sc_trial(s, rate, &r);
        if (ok < 0)
            return 3;
        if (ok == 0) {
            hi = rate;
            limit = sc_limit(&r, o->max_p99_ms);
            break;
        }
        lo = rate;
        best = r;
        rate *= 2;
        /* let the server settle (queues, WAL checkpoint) */
        sc_wait(s, net_now_us() + 300000, NULL);
    }
    for (i = 0; hi > 0 && i < o->bisect; i++) {
        double mid = lo > 0 ? (lo + hi) / 2 : hi / 2;

        if (lo > 0 && hi / lo < 1.05)
            break;
        if (mid < 1)
            break;
        sc_wait(s, net_now_us() + 300000, NULL);
        ok = sc_trial(s, mid, &r);
        if (ok < 0)
            return 3;
        if (ok == 1) {
            lo = mid;
            best = r;
        } else {
            hi = mid;
            limit = sc_limit(&r, o->max_p99_ms);
        }
    }
    best.phase = "max";
    best.limit = limit;
    if (lo == 0) {
        memset(&best, 0, sizeof(best));
        best.phase = "max";
        best.limit = limit;
    }
    s->report(o, &best);
    return lo > 0 ? 0 : 1;
}

static int sc_pubsub(struct sc *s)
{
    const struct bench_opts *o = s->o;
    struct bench_result r;
    size_t cells = (size_t)s->n_subs * (s->n_pubs ? s->n_pubs : 1);

    s->subs = sc_peers(s->n_subs, ROLE_SUB);
    s->pubs = sc_peers(s->n_pubs, ROLE_PUB);
    if (cells <= SC_ORDER_MAX) {
        s->last_n = calloc(cells ? cells : 1, sizeof(*s->last_n));
        s->n_last = cells;
    }
    if (s->subs == NULL || s->pubs == NULL)
        return 3;
    if (sc_noise_setup(s) < 0)
        return 3;
    if (o->find_max)
        return sc_find_max(s);
    if (sc_measure(s, o->rate, o->duration, &r) < 0)
        return 3;
    r.phase = "run";
    s->report(o, &r);
    return sc_clean(&r) ? 0 : 1;
}

static int sc_durable(struct sc *s)
{
    const struct bench_opts *o = s->o;
    struct bench_result r;
    uint64_t t0 = 0;
    uint64_t t_stop = 0;
    double cpu_s0 = 0;
    double cpu_g0 = 0;
    uint32_t i = 0;

    s->pubs = sc_peers(s->n_pubs, ROLE_PUB);
    if (s->pubs == NULL)
        return 3;
    /* Paced, --window is no limit: the ring of send times must hold
     * every publish still unanswered (8 s of them at --rate). */
    s->paced = o->rate_set;
    s->t_ring = o->window;
    if (s->paced && s->t_ring < o->rate * 8 / s->n_pubs + 1)
        s->t_ring = (uint32_t)(o->rate * 8 / s->n_pubs) + 1;
    for (i = 0; i < s->n_pubs; i++) {
        s->pubs[i].t_sent = calloc(s->t_ring, sizeof(uint64_t));
        if (s->pubs[i].t_sent == NULL)
            return 3;
    }
    if (sc_ensure(s, s->pubs, s->n_pubs, "publishers") < 0)
        return 3;
    memset(&r, 0, sizeof(r));
    sc_begin(s);
    cpu_s0 = sc_cpu_seconds_pid(o->server_pid);
    cpu_g0 = sc_cpu_seconds_self();
    t0 = net_now_us();
    s->c.t_first = t0;
    t_stop = t0 + (uint64_t)(o->duration * 1e6);
    s->publishing = true;
    if (s->paced) {
        uint64_t now = t0;

        while (now < t_stop && !sc_expired(s) &&
               (o->count == 0 || s->c.sent < o->count)) {
            sc_pub_due(s, t0, now, o->rate);
            net_poll(s->net, 1);
            now = net_now_us();
        }
        r.target_rate = o->rate;
    } else {
        for (i = 0; i < s->n_pubs; i++)
            sc_pub_next(s, &s->pubs[i], t0);
        while (net_now_us() < t_stop && !sc_expired(s) &&
               (o->count == 0 || s->c.acked + s->c.errors < o->count))
            net_poll(s->net, 5);
    }
    s->publishing = false;
    r.pub_rate = s->c.sent / ((double)(net_now_us() - t0) / 1e6);
    /* wait for the replies still owed */
    for (;;) {
        uint32_t owed = 0;

        for (i = 0; i < s->n_pubs; i++)
            owed += s->pubs[i].ready ? s->pubs[i].outstanding : 0;
        if (owed == 0 || sc_expired(s) ||
            net_now_us() > t_stop + (uint64_t)(o->drain * 1e6))
            break;
        net_poll(s->net, 5);
    }
    r.expected = s->c.sent;
    sc_finish(s, &r, t0, net_now_us(), cpu_s0, cpu_g0);
    /* for durable, "delivered" is what the server acknowledged */
    r.delivered = r.acked;
    r.lost = r.sent > r.acked ? r.sent - r.acked : 0;
    r.deliveries_per_s = r.seconds > 0 ? r.acked / r.seconds : 0;
    r.phase = "run";
    s->report(o, &r);
    return s->timed_out ? 3 : sc_clean(&r) ? 0 : 1;
}

static int sc_conns(struct sc *s)
{
    const struct bench_opts *o = s->o;
    struct bench_result r;
    struct peer *ps = NULL;
    uint64_t t0 = 0;
    uint32_t i = 0;
    uint32_t open_now = 0;
    double cpu_s0 = 0;
    double cpu_g0 = 0;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    ps = sc_peers(o->conns, ROLE_IDLE);
    if (ps == NULL)
        return 3;
    s->subs = ps;             /* freed with the subscribers */
    s->n_subs = o->conns;
    r.rss_before_kb = sc_rss_kb(o->server_pid);
    sc_begin(s);
    cpu_s0 = sc_cpu_seconds_pid(o->server_pid);
    cpu_g0 = sc_cpu_seconds_self();
    t0 = net_now_us();
    rc = sc_ensure(s, ps, o->conns, "idle connections");
    sc_wait(s, net_now_us() + (uint64_t)(o->hold * 1e6), NULL);
    for (i = 0; i < o->conns; i++)
        open_now += ps[i].nc.state == NET_OPEN;
    r.rss_after_kb = sc_rss_kb(o->server_pid);
    r.sent = o->conns;
    r.expected = o->conns;
    sc_finish(s, &r, t0, net_now_us(), cpu_s0, cpu_g0);
    r.delivered = open_now;
    r.lost = o->conns - open_now;
    r.deliveries_per_s = r.seconds > 0 ? s->c.delivered / r.seconds : 0;
    if (r.rss_before_kb >= 0 && r.rss_after_kb >= 0 && open_now > 0)
        r.bytes_per_conn = (double)(r.rss_after_kb - r.rss_before_kb) *
                           1024.0 / open_now;
    for (i = 0; i < o->conns; i++)
        net_close(&ps[i].nc);
    sc_wait(s, net_now_us() + 1000000, NULL);
    r.rss_closed_kb = sc_rss_kb(o->server_pid);
    r.phase = "run";
    s->report(o, &r);
    return rc < 0 ? 3 : sc_clean(&r) ? 0 : 1;
}

static bool sc_recovered(struct sc *s)
{
    uint32_t i;

    for (i = 0; i < s->n_subs; i++)
        if (!s->subs[i].done)
            return false;
    return true;
}

static bool sc_acked_all(struct sc *s)
{
    return s->c.acked + s->c.errors >= s->o->missed;
}

static int sc_recover(struct sc *s)
{
    const struct bench_opts *o = s->o;
    struct bench_result r;
    int64_t since = -1;
    uint64_t published = 0;
    uint64_t t0 = 0;
    double cpu_s0 = 0;
    double cpu_g0 = 0;
    uint32_t i = 0;

    s->subs = sc_peers(s->n_subs, ROLE_SUB);
    s->pubs = sc_peers(1, ROLE_PUB);
    s->n_pubs = 1;
    if (s->subs == NULL || s->pubs == NULL)
        return 3;
    s->t_ring = o->window;
    s->pubs[0].t_sent = calloc(s->t_ring, sizeof(uint64_t));
    if (s->pubs[0].t_sent == NULL)
        return 3;
    /* 1. everyone subscribes and learns the topic's seq */
    if (sc_ensure(s, s->subs, s->n_subs, "subscribers") < 0 ||
        sc_ensure(s, s->pubs, 1, "publisher") < 0)
        return 3;
    since = s->subs[0].sub_seq;
    if (since < 0) {
        fprintf(stderr, "parley-bench: the sub reply carried no seq\n");
        return 3;
    }
    /* 2. everyone goes away; 3. missed messages are published */
    for (i = 0; i < s->n_subs; i++)
        net_close(&s->subs[i].nc);
    sc_begin(s);
    s->durable = true;
    s->publishing = true;
    s->pub_limit = o->missed;
    sc_pub_next(s, &s->pubs[0], net_now_us());
    sc_wait(s, net_now_us() + (uint64_t)(SC_SETUP_SECONDS * 1e6),
            sc_acked_all);
    s->publishing = false;
    s->durable = false;
    if (s->c.acked != o->missed) {
        fprintf(stderr, "parley-bench: only %" PRIu64 " of %u publishes "
                "acknowledged (%s)\n", s->c.acked, o->missed,
                s->first_error[0] ? s->first_error : "timeout");
        return 3;
    }
    /* 4. all reconnect at once with since */
    memset(&r, 0, sizeof(r));
    published = s->c.sent;
    sc_begin(s);
    s->run--;          /* the stored messages carry the previous run */
    s->since = since;
    for (i = 0; i < s->n_subs; i++) {
        s->subs[i].expect = since + 1;
        s->subs[i].done = false;
    }
    cpu_s0 = sc_cpu_seconds_pid(o->server_pid);
    cpu_g0 = sc_cpu_seconds_self();
    t0 = net_now_us();
    s->c.t_first = t0;
    if (sc_ensure(s, s->subs, s->n_subs, "reconnecting subscribers") < 0)
        return 3;
    sc_wait(s, t0 + (uint64_t)((o->duration + o->drain) * 1e6),
            sc_recovered);
    r.expected = (uint64_t)s->n_subs * o->missed;
    sc_finish(s, &r, t0, net_now_us(), cpu_s0, cpu_g0);
    r.sent = published;
    r.phase = "run";
    s->report(o, &r);
    return s->timed_out ? 3 : sc_clean(&r) ? 0 : 1;
}

int scenario_run(const struct bench_opts *o,
                 void (*report)(const struct bench_opts *o,
                                const struct bench_result *r))
{
    struct sc s;
    int rc = 3;

    memset(&s, 0, sizeof(s));
    s.o = o;
    s.report = report;
    s.since = -1;
    s.deadline = net_now_us() + (uint64_t)(o->timeout * 1e6);
    s.n_subs = o->subs;
    s.n_pubs = o->pubs;
    s.pad = malloc(o->size + 1);
    s.pub_n = calloc(s.n_pubs ? s.n_pubs : 1, sizeof(*s.pub_n));
    if (s.pad == NULL || s.pub_n == NULL || hist_init(&s.lat) < 0)
        goto out;
    memset(s.pad, 'x', o->size);
    s.net = net_new(&o->url, &sc_ops, &s);
    if (s.net == NULL) {
        fprintf(stderr, "parley-bench: cannot create the event loop: %s\n",
                strerror(errno));
        goto out;
    }
    switch (o->scenario) {
    case SCEN_FANOUT:
        snprintf(s.sub_topic, sizeof(s.sub_topic), "%s", o->topic);
        rc = sc_pubsub(&s);
        break;
    case SCEN_FANIN:
        snprintf(s.sub_topic, sizeof(s.sub_topic), "%s/#", o->topic);
        s.per_pub_topic = true;
        rc = sc_pubsub(&s);
        break;
    case SCEN_DURABLE:
        s.per_pub_topic = true;
        s.durable = true;
        s.pub_limit = o->count;
        rc = sc_durable(&s);
        break;
    case SCEN_CONNS:
        rc = sc_conns(&s);
        break;
    case SCEN_RECOVER:
        snprintf(s.sub_topic, sizeof(s.sub_topic), "%s", o->topic);
        rc = sc_recover(&s);
        break;
    case SCEN_PATSUB:
        rc = patsub_run(o, report); /* its own loop and connections */
        break;
    }
out:
    sc_peers_free(&s.subs, s.n_subs);
    sc_peers_free(&s.pubs, s.n_pubs);
    sc_peers_free(&s.noise, s.n_noise);
    net_free(&s.net);
    hist_cleanup(&s.lat);
    free(s.last_n);
    free(s.pub_n);
    free(s.frame);
    free(s.pad);
    return rc;
}
