/*
 * redis_link.c: owns the node's two hiredis async connections (commands,
 * pub/sub), their timers and reconnection, the requests in flight, and the
 * reference-counted subscription table.
 *
 * DESIGN
 * A connection goes DOWN -> CONNECTING -> READY and back to DOWN on any
 * loss. While CONNECTING, the link queues AUTH, SELECT (commands only), the
 * setup command (commands only) and a PING; the PING's reply makes it
 * READY, and an error reply to any of them drops it. hiredis calls each
 * command's callback exactly once: with the reply, or with NULL when the
 * context is freed. The link builds its guarantees on that:
 *   - every request carries its own ev_timer; on expiry the caller gets
 *     -ETIMEDOUT at once and the connection is dropped (redisAsyncFree),
 *     which makes hiredis hand back every other pending request as NULL
 *     (-ENOTCONN); a timed-out request stays allocated, marked done, until
 *     hiredis lets go of it;
 *   - a dropped connection is remade after a backoff that doubles from
 *     backoff_min_ms to backoff_max_ms and resets once READY.
 * Subscriptions: the table counts references per (kind, channel). hiredis
 * releases before 0.14.1 delete a channel's callback when an UNSUBSCRIBE
 * reply arrives, even if a SUBSCRIBE was sent after it (0.14.1 counts
 * pending subscribes). So that no build loses a channel that way, a channel
 * is never subscribed again before its unsubscribe reply came back: it
 * waits, marked unsubscribing; that costs one round trip, rarely.
 */
#include "redis_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

enum conn_state {
    CONN_DOWN,
    CONN_CONNECTING,
    CONN_READY,
};

struct req;

struct conn {
    struct redis_link *link;
    redisAsyncContext *ac; /* NULL while DOWN */
    enum conn_state state;
    bool pubsub;
    int backoff_ms;
    bool told;         /* a set-up failure was logged; quiet until
                        * the next success, as retries repeat it */
    ev_timer retry;    /* next attempt, while DOWN */
    ev_timer deadline; /* the attempt's limit, while CONNECTING */
};

struct req {
    struct redis_link *link;
    struct conn *conn;
    redis_link_reply_fn fn; /* NULL for the link's own commands */
    void *ud;
    ev_timer timer;
    bool done; /* fn already ran (timed out) */
    bool ping; /* the PING that makes conn READY */
};

struct sub {
    struct sub *next;
    unsigned refs;
    bool pattern;
    bool live;          /* SUBSCRIBE sent on the current connection */
    bool unsubscribing; /* UNSUBSCRIBE sent, its reply not yet in */
    char name[];
};

#define SUB_BUCKETS 256
/* Channels per SUBSCRIBE when a connection restores its subscriptions. */
#define SUB_BATCH 128

struct redis_link {
    struct ev_loop *loop;
    struct redis_link_config cfg;
    struct conn cmd;
    struct conn ps;
    struct sub *subs[SUB_BUCKETS];
    bool up;
    bool closing;
    struct redis_link_stats stats;
};

static void conn_start(struct conn *c);
static void conn_drop(struct conn *c);
static void restore_subs(struct redis_link *l);

static unsigned sub_hash(const char *name, bool pattern)
{
    unsigned h = pattern ? 2166136261u ^ 0x5au : 2166136261u;
    const unsigned char *p = NULL;

    for (p = (const unsigned char *)name; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h % SUB_BUCKETS;
}

static struct sub **sub_slot(struct redis_link *l, const char *name,
                             bool pattern)
{
    struct sub **pp = &l->subs[sub_hash(name, pattern)];

    while (*pp != NULL &&
           ((*pp)->pattern != pattern || strcmp((*pp)->name, name) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void sub_remove(struct redis_link *l, struct sub *s)
{
    struct sub **pp = sub_slot(l, s->name, s->pattern);

    *pp = s->next;
    free(s);
}

static void set_up(struct redis_link *l)
{
    bool up = l->cmd.state == CONN_READY && l->ps.state == CONN_READY;

    if (up == l->up || l->closing)
        return;
    l->up = up;
    if (l->cfg.on_state != NULL)
        l->cfg.on_state(l->cfg.ud, up);
}

static double seconds(int ms)
{
    return (double)ms / 1000.0;
}

static void req_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct req *r = w->data;
    struct conn *c = r->conn;

    (void)loop;
    (void)revents;
    r->link->stats.timeouts++;
    r->done = true;
    if (r->fn != NULL)
        r->fn(NULL, -ETIMEDOUT, r->ud);
    /* A connection that kept a command unanswered this long cannot be
     * trusted with the next one. hiredis now returns every request. */
    conn_drop(c);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct req *r = privdata;
    struct redis_link *l = r->link;
    struct conn *c = r->conn;
    redisReply *rep = reply;
    bool mine = c->ac == ac;

    (void)ac;
    ev_timer_stop(l->loop, &r->timer);
    if (!r->done && r->fn != NULL) {
        if (rep != NULL)
            r->fn(rep, 0, r->ud);
        else
            r->fn(NULL, l->closing ? -ECANCELED : -ENOTCONN, r->ud);
    } else if (r->fn == NULL && mine && rep != NULL) {
        /* The link's own set-up commands. */
        if (rep->type == REDIS_REPLY_ERROR) {
            if (!c->told)
                fprintf(stderr,
                        "redis: %s connection set-up failed: %s"
                        " (retrying quietly)\n",
                        c->pubsub ? "pub/sub" : "command", rep->str);
            c->told = true;
            conn_drop(c);
        } else if (r->ping && c->state == CONN_CONNECTING) {
            ev_timer_stop(l->loop, &c->deadline);
            c->state = CONN_READY;
            c->told = false;
            c->backoff_ms = l->cfg.backoff_min_ms;
            l->stats.connects++;
            if (c->pubsub)
                restore_subs(l);
            set_up(l);
        }
    }
    free(r);
}

/* Queue a command on c. fn NULL marks the link's own set-up commands.
 * Returns 0 or -ENOTCONN / -ENOMEM. */
static int conn_send(struct conn *c, redis_link_reply_fn fn, void *ud,
                     bool ping, int argc, const char **argv,
                     const size_t *argvlen)
{
    struct redis_link *l = c->link;
    struct req *r = NULL;

    if (c->ac == NULL)
        return -ENOTCONN;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->link = l;
    r->conn = c;
    r->fn = fn;
    r->ud = ud;
    r->ping = ping;
    if (redisAsyncCommandArgv(c->ac, on_reply, r, argc, argv, argvlen) !=
        REDIS_OK) {
        free(r);
        return -ENOTCONN;
    }
    ev_timer_init(&r->timer, req_timeout, seconds(l->cfg.timeout_ms), 0.);
    r->timer.data = r;
    ev_timer_start(l->loop, &r->timer);
    return 0;
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* SUBSCRIBE (or PSUBSCRIBE) names[0..n) on the pub/sub connection. */
static void send_subscribe(struct redis_link *l, bool pattern,
                           const char **names, int n)
{
    const char *argv[SUB_BATCH + 1];
    int i;

    argv[0] = pattern ? "PSUBSCRIBE" : "SUBSCRIBE";
    for (i = 0; i < n; i++)
        argv[i + 1] = names[i];
    /* Subscribe commands get no entry in hiredis's reply queue: their
     * replies, and every later message, go to the channel's callback. */
    if (redisAsyncCommandArgv(l->ps.ac, on_sub_reply, l, n + 1, argv, NULL) !=
        REDIS_OK)
        conn_drop(&l->ps);
}

static void send_unsubscribe(struct redis_link *l, struct sub *s)
{
    const char *argv[2];

    argv[0] = s->pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE";
    argv[1] = s->name;
    if (redisAsyncCommandArgv(l->ps.ac, on_sub_reply, l, 2, argv, NULL) !=
        REDIS_OK)
        conn_drop(&l->ps);
}

/* Called when the pub/sub connection becomes ready: subscribe every channel
 * that holds a reference, in batches. */
static void restore_subs(struct redis_link *l)
{
    const char *batch[SUB_BATCH];
    int kind;
    int n = 0;
    size_t b;
    struct sub *s = NULL;

    for (kind = 0; kind < 2; kind++) {
        n = 0;
        for (b = 0; b < SUB_BUCKETS; b++) {
            for (s = l->subs[b]; s != NULL; s = s->next) {
                if (s->pattern != (kind == 1) || s->refs == 0)
                    continue;
                s->live = true;
                batch[n++] = s->name;
                if (n == SUB_BATCH) {
                    send_subscribe(l, kind == 1, batch, n);
                    n = 0;
                    if (l->ps.ac == NULL)
                        return;
                }
            }
        }
        if (n > 0)
            send_subscribe(l, kind == 1, batch, n);
        if (l->ps.ac == NULL)
            return;
    }
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_link *l = privdata;
    redisReply *r = reply;
    const char *kind = NULL;
    struct sub **pp = NULL;
    bool pattern = false;

    /* NULL: the connection is being freed; conn_drop resets the table. */
    if (r == NULL || l->ps.ac != ac || r->type != REDIS_REPLY_ARRAY ||
        r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    kind = r->element[0]->str;
    if (strcasecmp(kind, "message") == 0) {
        if (l->cfg.on_message != NULL)
            l->cfg.on_message(l->cfg.ud, r->element[1]->str, NULL,
                              r->element[2]->str, r->element[2]->len);
        return;
    }
    if (strcasecmp(kind, "pmessage") == 0) {
        if (r->elements >= 4 && l->cfg.on_message != NULL)
            l->cfg.on_message(l->cfg.ud, r->element[2]->str, r->element[1]->str,
                              r->element[3]->str, r->element[3]->len);
        return;
    }
    pattern = kind[0] == 'p' || kind[0] == 'P';
    if (strcasecmp(kind + pattern, "subscribe") == 0) {
        if (l->cfg.on_subscribed != NULL &&
            r->element[1]->type == REDIS_REPLY_STRING)
            l->cfg.on_subscribed(l->cfg.ud, r->element[1]->str, pattern);
        return;
    }
    if (strcasecmp(kind + pattern, "unsubscribe") != 0 ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return;
    pp = sub_slot(l, r->element[1]->str, pattern);
    if (*pp == NULL || !(*pp)->unsubscribing)
        return;
    (*pp)->unsubscribing = false;
    if ((*pp)->refs > 0) {
        const char *one = (*pp)->name;

        (*pp)->live = true;
        send_subscribe(l, pattern, &one, 1);
    } else {
        sub_remove(l, *pp);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;

    if (status == REDIS_OK || c == NULL || c->ac != ac)
        return;
    /* hiredis frees a context whose connect failed, right after this. */
    c->ac = NULL;
    conn_drop(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;

    (void)status;
    if (c == NULL || c->ac != ac)
        return;
    /* hiredis frees ac when this returns. */
    c->ac = NULL;
    conn_drop(c);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_start(w->data);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;

    (void)loop;
    (void)revents;
    fprintf(stderr, "redis: %s connection not ready after %d ms\n",
            c->pubsub ? "pub/sub" : "command", c->link->cfg.timeout_ms);
    conn_drop(c);
}

/* Mark c lost: free its context (which fails its pending requests), reset
 * what depended on it, and schedule the next attempt. Safe to call twice
 * and from within hiredis callbacks (redisAsyncFree then defers). */
static void conn_drop(struct conn *c)
{
    struct redis_link *l = c->link;
    redisAsyncContext *ac = c->ac;
    bool was_active = c->state != CONN_DOWN;
    size_t b;

    c->ac = NULL;
    c->state = CONN_DOWN;
    ev_timer_stop(l->loop, &c->deadline);
    if (c->pubsub) {
        for (b = 0; b < SUB_BUCKETS; b++) {
            struct sub **pp = &l->subs[b];

            while (*pp != NULL) {
                struct sub *s = *pp;

                s->live = false;
                s->unsubscribing = false;
                if (s->refs == 0) {
                    *pp = s->next;
                    free(s);
                } else {
                    pp = &s->next;
                }
            }
        }
    }
    if (was_active)
        l->stats.drops++;
    set_up(l);
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (l->closing || ev_is_active(&c->retry))
        return;
    ev_timer_set(&c->retry, seconds(c->backoff_ms), 0.);
    ev_timer_start(l->loop, &c->retry);
    c->backoff_ms *= 2;
    if (c->backoff_ms > l->cfg.backoff_max_ms)
        c->backoff_ms = l->cfg.backoff_max_ms;
}

static void conn_start(struct conn *c)
{
    struct redis_link *l = c->link;
    const struct redis_url *u = &l->cfg.url;
    redisAsyncContext *ac = NULL;
    char db[16];

    ac = redisAsyncConnect(u->host, u->port);
    if (ac == NULL || ac->err != 0) {
        if (ac != NULL)
            redisAsyncFree(ac);
        c->state = CONN_CONNECTING;
        conn_drop(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->state = CONN_CONNECTING;
    redisLibevAttach(l->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_timer_set(&c->deadline, seconds(l->cfg.timeout_ms), 0.);
    ev_timer_start(l->loop, &c->deadline);

    if (u->password[0] != '\0') {
        const char *argv[3] = {"AUTH", u->user, u->password};

        if (u->user[0] == '\0') {
            argv[1] = u->password;
            conn_send(c, NULL, NULL, false, 2, argv, NULL);
        } else {
            conn_send(c, NULL, NULL, false, 3, argv, NULL);
        }
    }
    if (!c->pubsub && u->db != 0) {
        const char *argv[2] = {"SELECT", db};

        snprintf(db, sizeof(db), "%d", u->db);
        conn_send(c, NULL, NULL, false, 2, argv, NULL);
    }
    if (!c->pubsub && l->cfg.setup_argc > 0)
        conn_send(c, NULL, NULL, false, l->cfg.setup_argc,
                  (const char **)l->cfg.setup_argv, l->cfg.setup_argvlen);
    {
        const char *argv[1] = {"PING"};

        conn_send(c, NULL, NULL, true, 1, argv, NULL);
    }
}

static void conn_init(struct redis_link *l, struct conn *c, bool pubsub)
{
    c->link = l;
    c->pubsub = pubsub;
    c->state = CONN_DOWN;
    c->backoff_ms = l->cfg.backoff_min_ms;
    ev_timer_init(&c->retry, retry_cb, 0., 0.);
    c->retry.data = c;
    ev_timer_init(&c->deadline, deadline_cb, 0., 0.);
    c->deadline.data = c;
}

int redis_link_new(struct redis_link **out, struct ev_loop *loop,
                   const struct redis_link_config *cfg)
{
    struct redis_link *l = NULL;

    if (cfg->timeout_ms <= 0 || cfg->backoff_min_ms <= 0 ||
        cfg->backoff_max_ms < cfg->backoff_min_ms)
        return -EINVAL;
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    l->loop = loop;
    l->cfg = *cfg;
    conn_init(l, &l->cmd, false);
    conn_init(l, &l->ps, true);
    conn_start(&l->cmd);
    conn_start(&l->ps);
    *out = l;
    return 0;
}

void redis_link_free(struct redis_link **lp)
{
    struct redis_link *l = lp != NULL ? *lp : NULL;
    size_t b;

    if (l == NULL)
        return;
    l->closing = true;
    ev_timer_stop(l->loop, &l->cmd.retry);
    ev_timer_stop(l->loop, &l->ps.retry);
    conn_drop(&l->cmd);
    conn_drop(&l->ps);
    for (b = 0; b < SUB_BUCKETS; b++) {
        while (l->subs[b] != NULL) {
            struct sub *s = l->subs[b];

            l->subs[b] = s->next;
            free(s);
        }
    }
    free(l);
    *lp = NULL;
}

bool redis_link_up(const struct redis_link *l)
{
    return l->up;
}

int redis_link_command(struct redis_link *l, redis_link_reply_fn fn, void *ud,
                       int argc, const char **argv, const size_t *argvlen)
{
    if (l->cmd.state != CONN_READY)
        return -ENOTCONN;
    return conn_send(&l->cmd, fn, ud, false, argc, argv, argvlen);
}

int redis_link_subscribe(struct redis_link *l, const char *channel,
                         bool pattern)
{
    struct sub **pp = sub_slot(l, channel, pattern);
    struct sub *s = *pp;
    size_t n = strlen(channel);

    if (s == NULL) {
        s = calloc(1, sizeof(*s) + n + 1);
        if (s == NULL)
            return -ENOMEM;
        memcpy(s->name, channel, n + 1);
        s->pattern = pattern;
        *pp = s;
    }
    s->refs++;
    if (s->refs == 1 && l->ps.state == CONN_READY && !s->live &&
        !s->unsubscribing) {
        const char *one = s->name;

        s->live = true;
        send_subscribe(l, pattern, &one, 1);
    }
    return 0;
}

int redis_link_unsubscribe(struct redis_link *l, const char *channel,
                           bool pattern)
{
    struct sub **pp = sub_slot(l, channel, pattern);
    struct sub *s = *pp;

    if (s == NULL || s->refs == 0)
        return -ENOENT;
    s->refs--;
    if (s->refs > 0)
        return 0;
    if (s->live && l->ps.state == CONN_READY) {
        s->live = false;
        s->unsubscribing = true;
        send_unsubscribe(l, s);
    } else if (!s->unsubscribing) {
        sub_remove(l, s);
    }
    return 0;
}

unsigned redis_link_refs(const struct redis_link *l, const char *channel,
                         bool pattern)
{
    struct sub **pp = sub_slot((struct redis_link *)l, channel, pattern);

    return *pp != NULL ? (*pp)->refs : 0;
}

void redis_link_get_stats(const struct redis_link *l,
                          struct redis_link_stats *out)
{
    *out = l->stats;
}
