/*
 * hub.c: sessions, topics, subscriptions, presence, publish, fan-out and
 * recovery. Plain C with no lws: the transport calls in, the hub calls out
 * through struct hub_ops only. Service thread only.
 *
 * DESIGN
 *
 * Publish. A pub on a stored topic becomes a store job; the store assigns
 * the seq inside the batch that commits it. When the completion comes back
 * (in commit order) the hub encodes the msg frame once, appends it to the
 * topic's recent ring, fans it out and acks the publisher. No subscriber
 * ever sees a message that a crash could take back, and acks follow
 * durability. Ephemeral topics skip the store and get their seq here.
 *
 * Fan-out. Exact subscribers come from the topic's list, pattern
 * subscribers from the trie (topic_tree.c). Each publish bumps a
 * generation number; a connection stamped with the current generation has
 * already been given the message, so overlapping patterns deliver once,
 * without allocating. Each delivery is one pointer pushed on the
 * connection's out-queue (outq.c); a queue past its bound culls the
 * connection with 4008.
 *
 * Reply order. Replies go through the same out-queue as messages. A reply
 * that waits for the store (history, a `since` sub whose `recovered` flag
 * needs the store) is queued as a placeholder; the writer stops there, so
 * later replies and messages stay behind it and order is kept.
 *
 * Recovery. A sub with since/history creates a replay per topic: stored
 * messages next..fence (fence = the topic's seq at sub time) are delivered
 * from the recent ring when it still holds them, else page by page from
 * the store, paced by how fast the client drains its queue. Live messages
 * of that topic that arrive meanwhile are held on the replay and queued
 * right after the fence: no gap, no duplicate.
 */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "conn.h"
#include "log.h"
#include "topic.h"

#define REPLAY_LOW_BYTES (256 * 1024) /* refill replays below this */
#define REPLAY_PAGE_ROWS 256
#define TOPICS_LIST_MAX 1000

enum job_tag {
    JOB_PUB = 1,
    JOB_HISTORY,
    JOB_REPLAY,
    JOB_PROBE,
};

struct hub {
    struct hub_config cfg;
    char **ephemeral;
    const struct hub_ops *ops;
    void *ctx;
    struct topic_tree tree;
    struct conn_table conns;
    struct hub_stats stats;
    uint64_t gen;
    uint64_t next_replay_id;
    struct pl_buf buf;       /* scratch for building frames */
};

struct replay_ref {
    struct replay r;
    uint64_t id;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static int64_t hub_now(struct hub *hub)
{
    return hub->ops->now_ms(hub->ctx);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);

    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

static struct pl_buf *scratch(struct hub *hub)
{
    pl_buf_reset(&hub->buf);
    return &hub->buf;
}

static bool is_ephemeral(struct hub *hub, const char *topic)
{
    size_t i;

    for (i = 0; i < hub->cfg.n_ephemeral; i++)
        if (pl_topic_match(hub->ephemeral[i], topic))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* sending to one connection                                           */

static void conn_wake(struct hub *hub, struct conn *c)
{
    if (c->close_code < 0)
        return; /* being freed: the transport is gone */
    if (!c->wake_pending) {
        c->wake_pending = true;
        hub->ops->wake(hub->ctx, c);
    }
}

static void replay_free(struct hub *hub, struct conn *c, struct replay **rp);

/* Close c with code (4008 for slow consumers): drop what it has queued,
 * stop its replays, and let the transport send the close frame. */
static void conn_cull(struct hub *hub, struct conn *c, int code)
{
    if (c->close_code != 0)
        return;
    c->close_code = code;
    if (code == 4008) {
        hub->stats.slow_consumers++;
        hub->stats.queue_drops += c->q.count;
        log_info("conn %" PRIu64 " (%s): slow consumer, closing with 4008",
                 c->id, c->user ? c->user : "?");
    }
    outq_cleanup(&c->q);
    while (c->replays != NULL) {
        struct replay *r = c->replays;

        c->replays = r->next;
        replay_free(hub, c, &r);
    }
    conn_wake(hub, c);
}

static size_t conn_held_bytes(const struct conn *c)
{
    const struct replay *r = NULL;
    size_t n = 0;

    for (r = c->replays; r != NULL; r = r->next)
        n += r->held.bytes;
    return n;
}

/* Queue m (a new reference) on c. `paced` frames (replay pages) are
 * exempt from the bound: the hub only fetches them when the queue is
 * short. Everything else past the bound culls the connection. */
static void conn_push(struct hub *hub, struct conn *c, struct msg *m,
                      bool paced)
{
    if (c->close_code != 0)
        return;
    if (!paced && c->origin == CONN_WS &&
        (outq_live_bytes(&c->q) + conn_held_bytes(c) + m->len >
             hub->cfg.queue_bytes ||
         c->q.count >= hub->cfg.queue_msgs)) {
        conn_cull(hub, c, 4008);
        return;
    }
    if ((paced ? outq_push_paced(&c->q, m) : outq_push(&c->q, m)) < 0) {
        log_error("conn %" PRIu64 ": out of memory queueing a frame", c->id);
        conn_cull(hub, c, 1011);
        return;
    }
    conn_wake(hub, c);
}

/* Encode the scratch buffer into a fresh msg and queue it on c. */
static void conn_send_buf(struct hub *hub, struct conn *c, struct pl_buf *b)
{
    struct msg *m = msg_from_buf(b, 0);

    if (m == NULL) {
        conn_cull(hub, c, 1011);
        return;
    }
    conn_push(hub, c, m, false);
    msg_unref(&m);
}

static void send_error(struct hub *hub, struct conn *c, int64_t id,
                       enum pl_err err, const char *why)
{
    struct pl_buf *b = scratch(hub);

    hub->stats.errors_sent++;
    if (c->origin == CONN_HTTP) {
        pl_buf_cstr(b, "{\"error\":");
        pl_buf_json_str(b, pl_err_code(err), strlen(pl_err_code(err)));
        pl_buf_cstr(b, ",\"message\":");
        pl_buf_json_str(b, why, strlen(why));
        pl_buf_cstr(b, "}");
        hub->ops->http_done(hub->ctx, c, pl_err_http_status(err),
                            pl_buf_data(b), b->len);
        return;
    }
    pl_frame_error(b, id, err, why);
    conn_send_buf(hub, c, b);
}

static void send_ok_simple(struct hub *hub, struct conn *c, int64_t id)
{
    struct pl_buf *b = NULL;

    if (id == 0)
        return;
    b = scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, id);
    pl_frame_end(b);
    conn_send_buf(hub, c, b);
}

/* ------------------------------------------------------------------ */
/* topics                                                              */

static void recent_clear(struct recent *r)
{
    while (r->count > 0) {
        struct msg *m = r->ring[r->head];

        r->head = (r->head + 1) & (r->cap - 1);
        r->count--;
        msg_unref(&m);
    }
    free(r->ring);
    memset(r, 0, sizeof(*r));
}

static void topic_free(struct topic *t)
{
    struct member *m = t->members;

    while (m != NULL) {
        struct member *next = m->next;

        free(m);
        m = next;
    }
    recent_clear(&t->recent);
    msg_unref(&t->retained);
    free(t->name);
    free(t);
}

static struct topic *topic_get(struct hub *hub, const char *name, bool create)
{
    size_t len = strlen(name);
    struct topic *t = topic_tree_find(&hub->tree, name, len);

    if (t != NULL || !create)
        return t;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->name = malloc(len + 1);
    if (t->name == NULL) {
        free(t);
        return NULL;
    }
    memcpy(t->name, name, len + 1);
    t->name_len = len;
    t->hash = topic_hash(name, len);
    t->ephemeral = is_ephemeral(hub, name);
    topic_tree_insert(&hub->tree, t);
    hub->stats.topics = hub->tree.topics_count;
    return t;
}

/* Forget a topic that holds nothing worth remembering (a sub to a topic
 * that never saw a message, then unsub), so idle subscriptions to random
 * names cannot grow memory. */
static void topic_maybe_free(struct hub *hub, struct topic *t)
{
    if (t->seq != 0 || t->subs.count != 0 || t->retained != NULL ||
        t->members != NULL || t->recent.count != 0)
        return;
    topic_tree_remove(&hub->tree, t);
    hub->stats.topics = hub->tree.topics_count;
    topic_free(t);
}

static void recent_push(struct hub *hub, struct topic *t, struct msg *m)
{
    struct recent *r = &t->recent;

    if (hub->cfg.recent_msgs == 0)
        return;
    /* A gap (a failed read-back, a restart) would break contiguity. */
    if (r->count > 0) {
        struct msg *last = r->ring[(r->head + r->count - 1) & (r->cap - 1)];

        if (last->seq + 1 != m->seq)
            recent_clear(r);
    }
    while (r->count > 0 && (r->count >= hub->cfg.recent_msgs ||
                            r->bytes + m->len > hub->cfg.recent_bytes)) {
        struct msg *old = r->ring[r->head];

        r->head = (r->head + 1) & (r->cap - 1);
        r->count--;
        r->bytes -= old->len;
        msg_unref(&old);
    }
    if (r->count == r->cap) {
        uint32_t ncap = r->cap ? r->cap * 2 : 4;
        struct msg **nring = NULL;
        uint32_t i;

        if (ncap > hub->cfg.recent_msgs * 2u)
            ncap = r->cap; /* cannot happen: count < recent_msgs here */
        nring = malloc(sizeof(*nring) * ncap);
        if (nring == NULL)
            return;
        for (i = 0; i < r->count; i++)
            nring[i] = r->ring[(r->head + i) & (r->cap - 1)];
        free(r->ring);
        r->ring = nring;
        r->cap = ncap;
        r->head = 0;
    }
    r->ring[(r->head + r->count) & (r->cap - 1)] = msg_ref(m);
    r->count++;
    r->bytes += m->len;
}

/* The ring's message with this seq, or NULL when not held. */
static struct msg *recent_get(const struct topic *t, int64_t seq)
{
    const struct recent *r = &t->recent;
    int64_t first = 0;

    if (r->count == 0)
        return NULL;
    first = r->ring[r->head]->seq;
    if (seq < first || seq >= first + r->count)
        return NULL;
    return r->ring[(r->head + (uint32_t)(seq - first)) & (r->cap - 1)];
}

static struct msg *encode_msg(struct hub *hub, const char *topic, int64_t seq,
                              int64_t ts, const char *from, const char *data,
                              size_t data_len, bool retained)
{
    struct pl_buf *b = scratch(hub);

    pl_frame_msg(b, topic, seq, ts, from, data, data_len, retained);
    return msg_from_buf(b, seq);
}

static void set_retained(struct hub *hub, struct topic *t, int64_t seq,
                         int64_t ts, const char *from, const char *data,
                         size_t data_len, bool data_is_null)
{
    msg_unref(&t->retained);
    if (!data_is_null)
        t->retained = encode_msg(hub, t->name, seq, ts, from, data, data_len,
                                 true);
}

/* ------------------------------------------------------------------ */
/* presence                                                            */

static struct member *member_find(struct topic *t, const char *user)
{
    struct member *m = t->members;

    while (m != NULL && strcmp(m->user, user) != 0)
        m = m->next;
    return m;
}

static void presence_notify(struct hub *hub, struct topic *t,
                            const char *op, const char *user)
{
    struct msg *m = NULL;
    struct sub *s = NULL;
    struct pl_buf *b = scratch(hub);

    pl_frame_begin(b, op);
    pl_frame_kv_str(b, "topic", t->name);
    pl_frame_kv_str(b, "user", user);
    pl_frame_end(b);
    m = msg_from_buf(b, 0);
    if (m == NULL)
        return;
    for (s = t->subs.head; s != NULL; s = s->t_next)
        if (s->presence && strcmp(s->conn->user, user) != 0)
            conn_push(hub, s->conn, m, false);
    msg_unref(&m);
}

static void presence_join(struct hub *hub, struct topic *t, const char *user)
{
    struct member *m = member_find(t, user);
    size_t n = strlen(user);

    if (m != NULL) {
        m->conns++;
        return;
    }
    m = malloc(sizeof(*m) + n + 1);
    if (m == NULL)
        return;
    m->conns = 1;
    memcpy(m->user, user, n + 1);
    m->next = t->members;
    t->members = m;
    t->n_members++;
    presence_notify(hub, t, "join", user);
}

static void presence_leave(struct hub *hub, struct topic *t, const char *user)
{
    struct member **pp = &t->members;

    for (; *pp != NULL; pp = &(*pp)->next) {
        struct member *m = *pp;

        if (strcmp(m->user, user) != 0)
            continue;
        if (--m->conns > 0)
            return;
        *pp = m->next;
        t->n_members--;
        free(m);
        presence_notify(hub, t, "leave", user);
        return;
    }
}

/* ------------------------------------------------------------------ */
/* subscriptions                                                       */

static struct sub *conn_find_sub(struct conn *c, const char *pattern)
{
    struct sub *s = c->subs;

    while (s != NULL && strcmp(s->pattern, pattern) != 0)
        s = s->c_next;
    return s;
}

static void list_link(struct sub_list *l, struct sub *s)
{
    s->list = l;
    s->t_prev = NULL;
    s->t_next = l->head;
    if (l->head != NULL)
        l->head->t_prev = s;
    l->head = s;
    l->count++;
}

static void list_unlink(struct sub *s)
{
    struct sub_list *l = s->list;

    if (s->t_prev != NULL)
        s->t_prev->t_next = s->t_next;
    else
        l->head = s->t_next;
    if (s->t_next != NULL)
        s->t_next->t_prev = s->t_prev;
    l->count--;
    s->list = NULL;
}

static struct sub *sub_add(struct hub *hub, struct conn *c,
                           const char *pattern, bool is_pattern)
{
    size_t n = strlen(pattern);
    struct sub *s = calloc(1, sizeof(*s) + n + 1);
    struct sub_list *l = NULL;

    if (s == NULL)
        return NULL;
    memcpy(s->pattern, pattern, n + 1);
    s->conn = c;
    s->is_pattern = is_pattern;
    if (is_pattern) {
        l = topic_tree_pattern_list(&hub->tree, pattern);
        if (l == NULL) {
            free(s);
            return NULL;
        }
        hub->tree.patterns++;
    } else {
        s->topic = topic_get(hub, pattern, true);
        if (s->topic == NULL) {
            free(s);
            return NULL;
        }
        l = &s->topic->subs;
    }
    list_link(l, s);
    s->c_next = c->subs;
    if (c->subs != NULL)
        c->subs->c_prev = s;
    c->subs = s;
    c->n_subs++;
    hub->stats.subscriptions++;
    return s;
}

static void replay_drop_unmatched(struct hub *hub, struct conn *c);

static void sub_remove(struct hub *hub, struct sub *s)
{
    struct conn *c = s->conn;
    struct sub_list *l = s->list;

    if (s->presence && s->topic != NULL)
        presence_leave(hub, s->topic, c->user);
    list_unlink(s);
    if (s->is_pattern) {
        topic_tree_pattern_release(&hub->tree, l);
        hub->tree.patterns--;
    }
    if (s->c_prev != NULL)
        s->c_prev->c_next = s->c_next;
    else
        c->subs = s->c_next;
    if (s->c_next != NULL)
        s->c_next->c_prev = s->c_prev;
    c->n_subs--;
    hub->stats.subscriptions--;
    if (c->replays != NULL)
        replay_drop_unmatched(hub, c);
    if (!s->is_pattern)
        topic_maybe_free(hub, s->topic);
    free(s);
}

/* ------------------------------------------------------------------ */
/* replays                                                             */

static uint64_t replay_id(const struct replay *r)
{
    return ((const struct replay_ref *)r)->id;
}

static void pending_reply_fill(struct hub *hub, struct conn *c,
                               struct pending_reply *pr);

/* Free a replay that is already unlinked; a sub reply still waiting on
 * it is released (and sent, when it was the last thing it waited for). */
static void replay_free(struct hub *hub, struct conn *c, struct replay **rp)
{
    struct replay *r = *rp;
    struct pending_reply *pr = r->reply;

    *rp = NULL;
    r->reply = NULL;
    if (pr != NULL && --pr->waiting == 0)
        pending_reply_fill(hub, c, pr);
    outq_cleanup(&r->held);
    free(r);
}

static struct replay *conn_replay_for(struct conn *c, const struct topic *t)
{
    struct replay *r = c->replays;

    while (r != NULL && r->topic != t)
        r = r->next;
    return r;
}

static void replay_drop_topic(struct hub *hub, struct conn *c,
                              struct topic *t)
{
    struct replay **pp = &c->replays;

    while (*pp != NULL) {
        struct replay *r = *pp;

        if (r->topic == t) {
            *pp = r->next;
            replay_free(hub, c, &r);
        } else {
            pp = &r->next;
        }
    }
}

/* True when one of c's subscriptions still covers topic t. */
static bool conn_wants(const struct conn *c, const struct topic *t)
{
    const struct sub *s = NULL;

    for (s = c->subs; s != NULL; s = s->c_next)
        if (s->is_pattern ? pl_topic_match(s->pattern, t->name)
                          : s->topic == t)
            return true;
    return false;
}

/* After an unsub: stop replaying topics no subscription covers any more
 * (a pattern's replay of a topic survives the unsub of that topic). */
static void replay_drop_unmatched(struct hub *hub, struct conn *c)
{
    struct replay **pp = &c->replays;

    while (*pp != NULL) {
        struct replay *r = *pp;

        if (!conn_wants(c, r->topic)) {
            *pp = r->next;
            replay_free(hub, c, &r);
        } else {
            pp = &r->next;
        }
    }
}

static void pending_reply_fill(struct hub *hub, struct conn *c,
                               struct pending_reply *pr)
{
    struct pl_buf *b = scratch(hub);

    pl_frame_begin(b, "ok");
    pl_frame_id(b, pr->id);
    pl_frame_kv_str(b, "topic", pr->pattern);
    if (pr->seq >= 0)
        pl_frame_kv_int(b, "seq", pr->seq);
    if (pr->want_recovered && !pr->recovered)
        pl_frame_kv_bool(b, "recovered", false);
    pl_frame_end(b);
    if (c->close_code != 0) {
        /* closing: the placeholder left the queue already */
    } else if (msg_fill(pr->placeholder, b) < 0) {
        conn_cull(hub, c, 1011);
    } else {
        outq_add_paced_bytes(&c->q, pr->placeholder->len);
        conn_wake(hub, c);
    }
    msg_unref(&pr->placeholder);
    free(pr->pattern);
    free(pr);
}

/* The replay learned whether its topic still holds next_seq. */
static void replay_first_page(struct hub *hub, struct conn *c,
                              struct replay *r, bool lost)
{
    struct pending_reply *pr = r->reply;

    r->first_page_done = true;
    r->reply = NULL;
    if (pr == NULL)
        return;
    if (lost)
        pr->recovered = false;
    if (--pr->waiting == 0)
        pending_reply_fill(hub, c, pr);
}

/* The replay reached its fence: queue the live messages it held. */
static void replay_finish(struct hub *hub, struct conn *c)
{
    struct replay *r = c->replays;

    c->replays = r->next;
    while (r->held.count > 0 && c->close_code == 0) {
        conn_push(hub, c, outq_peek(&r->held), false);
        outq_pop(&r->held);
    }
    replay_free(hub, c, &r);
}

static void replay_request_page(struct hub *hub, struct conn *c,
                                struct replay *r)
{
    struct store_job *job = store_job_new(STORE_JOB_AFTER, r->topic->name);

    if (job == NULL) {
        conn_cull(hub, c, 1011);
        return;
    }
    job->conn_id = c->id;
    job->req_id = (int64_t)replay_id(r);
    job->tag = JOB_REPLAY;
    job->after = r->next_seq - 1;
    job->upto = r->fence;
    job->limit = REPLAY_PAGE_ROWS;
    r->inflight = true;
    hub->ops->submit(hub->ctx, job);
}

/*
 * A sub reply that waits for a replay's first page would block the
 * connection if that replay is not at the head: the head's pages queue up
 * behind the reply, the writer stops at the reply, and the head never
 * finishes. So every replay whose reply is pending probes the store at
 * once for its first row, which settles `recovered` out of turn; its
 * pages still come in turn.
 */
static void replay_probe(struct hub *hub, struct conn *c, struct replay *r)
{
    struct store_job *job = NULL;

    if (r->reply == NULL || r->probing || r->first_page_done)
        return;
    if (!hub->cfg.persist) {
        replay_first_page(hub, c, r,
                          recent_get(r->topic, r->next_seq) == NULL);
        return;
    }
    job = store_job_new(STORE_JOB_AFTER, r->topic->name);
    if (job == NULL) {
        conn_cull(hub, c, 1011);
        return;
    }
    job->conn_id = c->id;
    job->req_id = (int64_t)replay_id(r);
    job->tag = JOB_PROBE;
    job->after = r->next_seq - 1;
    job->upto = r->fence;
    job->limit = 1;
    r->probing = true;
    hub->ops->submit(hub->ctx, job);
}

/* Move replays forward while the connection's queue is short. */
static void replay_advance(struct hub *hub, struct conn *c)
{
    struct replay *r = NULL;

    for (r = c->replays ? c->replays->next : NULL; r != NULL; r = r->next)
        replay_probe(hub, c, r);
    while ((r = c->replays) != NULL && c->close_code == 0) {
        struct msg *m = NULL;

        if (r->inflight)
            return;
        if (r->next_seq > r->fence) {
            replay_finish(hub, c);
            continue;
        }
        if (c->q.bytes >= REPLAY_LOW_BYTES)
            return;
        m = recent_get(r->topic, r->next_seq);
        if (m != NULL) {
            if (!r->first_page_done)
                replay_first_page(hub, c, r, false);
            while (m != NULL && r->next_seq <= r->fence &&
                   c->q.bytes < REPLAY_LOW_BYTES) {
                conn_push(hub, c, m, true);
                r->next_seq++;
                m = recent_get(r->topic, r->next_seq);
            }
            continue;
        }
        if (!hub->cfg.persist) {
            if (!r->first_page_done)
                replay_first_page(hub, c, r, true);
            r->next_seq = r->fence + 1;
            continue;
        }
        replay_request_page(hub, c, r);
        return;
    }
}

/* Start delivering stored messages from `start` to the topic's current
 * seq to c, before its live ones. pr (may be NULL) is the sub reply that
 * waits for the replay's first page. */
static int replay_start(struct hub *hub, struct conn *c, struct topic *t,
                        int64_t start, struct pending_reply *pr)
{
    struct replay_ref *rr = NULL;
    struct replay **pp = &c->replays;

    if (start < 1)
        start = 1;
    if (start > t->seq)
        return 0;
    replay_drop_topic(hub, c, t); /* a new sub replaces an old replay */
    rr = calloc(1, sizeof(*rr));
    if (rr == NULL)
        return -ENOMEM;
    rr->id = ++hub->next_replay_id;
    rr->r.topic = t;
    rr->r.next_seq = start;
    rr->r.fence = t->seq;
    outq_init(&rr->r.held);
    if (pr != NULL) {
        rr->r.reply = pr;
        pr->waiting++;
    }
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = &rr->r;
    return 0;
}

/* ------------------------------------------------------------------ */
/* fan-out                                                             */

struct fanout {
    struct hub *hub;
    struct topic *topic;
    struct msg *msg;
};

static void deliver(struct fanout *f, struct conn *c)
{
    struct hub *hub = f->hub;

    if (c->gen == hub->gen)
        return;
    c->gen = hub->gen;
    if (c->replays != NULL) {
        struct replay *r = conn_replay_for(c, f->topic);

        if (r != NULL) {
            if (outq_live_bytes(&c->q) + conn_held_bytes(c) + f->msg->len >
                    hub->cfg.queue_bytes ||
                c->q.count + r->held.count >= hub->cfg.queue_msgs)
                conn_cull(hub, c, 4008);
            else if (outq_push(&r->held, f->msg) < 0)
                conn_cull(hub, c, 1011);
            return;
        }
    }
    hub->stats.messages_out++;
    conn_push(hub, c, f->msg, false);
}

static void deliver_list(void *arg, struct sub_list *l)
{
    struct fanout *f = arg;
    struct sub *s = NULL;

    for (s = l->head; s != NULL; s = s->t_next)
        deliver(f, s->conn);
}

static void fanout(struct hub *hub, struct topic *t, struct msg *m)
{
    struct fanout f = { hub, t, m };

    hub->gen++;
    deliver_list(&f, &t->subs);
    topic_tree_match(&hub->tree, t->name, deliver_list, &f);
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

static void conn_set_user(struct conn *c, const char *user)
{
    char *u = dup_str(user);

    if (u != NULL) {
        free(c->user);
        c->user = u;
    }
}

static void cmd_hello(struct hub *hub, struct conn *c, struct pl_cmd *cmd)
{
    struct pl_buf *b = NULL;
    struct sub *s = NULL;
    char session[32];
    const char *user = NULL;

    if (c->said_hello) {
        send_error(hub, c, cmd->id, PL_ERR_BAD_REQUEST, "already said hello");
        return;
    }
    if (cmd->token != NULL) {
        enum pl_err err = hub_conn_token(hub, c, cmd->token);

        if (err != PL_OK) {
            send_error(hub, c, cmd->id, err, "invalid or expired token");
            return;
        }
    } else if (hub->cfg.secret != NULL) {
        send_error(hub, c, cmd->id, PL_ERR_UNAUTHORIZED,
                   "this server requires a token");
        return;
    }
    user = c->claims != NULL ? c->claims->sub : cmd->name;
    if (user != NULL && strcmp(user, c->user) != 0) {
        /* Presence announced under the old name moves to the new one. */
        for (s = c->subs; s != NULL; s = s->c_next)
            if (s->presence)
                presence_leave(hub, s->topic, c->user);
        conn_set_user(c, user);
        for (s = c->subs; s != NULL; s = s->c_next)
            if (s->presence)
                presence_join(hub, s->topic, c->user);
    }
    c->said_hello = true;
    if (cmd->id == 0)
        return;
    snprintf(session, sizeof(session), "%016" PRIx64, c->id);
    b = scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, cmd->id);
    pl_frame_kv_str(b, "session", session);
    pl_frame_kv_str(b, "user", c->user);
    pl_frame_kv_str(b, "server", "parley/" PARLEY_VERSION);
    pl_frame_kv_int(b, "protocol", 1);
    pl_frame_end(b);
    conn_send_buf(hub, c, b);
}

struct retained_walk {
    struct hub *hub;
    struct conn *c;
    const char *pattern;
};

static int retained_cb(void *arg, struct topic *t)
{
    struct retained_walk *w = arg;

    if (t->retained != NULL && pl_topic_match(w->pattern, t->name))
        conn_push(w->hub, w->c, t->retained, false);
    return 0;
}

struct since_walk {
    struct hub *hub;
    struct conn *c;
    const char *pattern;
    struct pl_cmd *cmd;
    struct pending_reply *pr;
    int rc;
};

static int64_t replay_start_seq(const struct topic *t, const struct pl_cmd *cmd)
{
    if (cmd->has_since)
        return cmd->since + 1;
    return t->seq - cmd->history + 1;
}

static void since_one(struct since_walk *w, struct topic *t)
{
    int64_t start = 0;

    if (t->ephemeral || w->rc != 0)
        return;
    if (w->cmd->has_since && w->cmd->since > t->seq) {
        if (w->pr != NULL)
            w->pr->recovered = false;
        return;
    }
    if (!w->cmd->has_since && w->cmd->history == 0)
        return;
    start = replay_start_seq(t, w->cmd);
    if (start > t->seq)
        return;
    /* The ring answers the recovered question at once; the store only
     * when the ring does not reach back far enough. */
    if (recent_get(t, start > 0 ? start : 1) != NULL ||
        !w->cmd->has_since || w->pr == NULL)
        w->rc = replay_start(w->hub, w->c, t, start, NULL);
    else
        w->rc = replay_start(w->hub, w->c, t, start, w->pr);
}

static int since_cb(void *arg, struct topic *t)
{
    struct since_walk *w = arg;

    if (pl_topic_match(w->pattern, t->name))
        since_one(w, t);
    return 0;
}

static void cmd_sub(struct hub *hub, struct conn *c, struct pl_cmd *cmd)
{
    bool is_pattern = pl_topic_is_pattern(cmd->topic, cmd->topic_len);
    struct sub *s = conn_find_sub(c, cmd->topic);
    struct pending_reply *pr = NULL;
    struct since_walk w;
    bool replaying = cmd->has_since || cmd->has_history;

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, cmd->topic)) {
        send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                   "token does not allow subscribing to this topic");
        return;
    }
    if (s == NULL) {
        if (c->n_subs >= hub->cfg.max_subs) {
            send_error(hub, c, cmd->id, PL_ERR_OVERLOADED,
                       "too many subscriptions on this connection");
            return;
        }
        s = sub_add(hub, c, cmd->topic, is_pattern);
        if (s == NULL) {
            send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
            return;
        }
    }
    /* Options replace the earlier ones; presence changes announce. */
    if (!is_pattern && s->presence != cmd->presence) {
        s->presence = cmd->presence;
        if (cmd->presence)
            presence_join(hub, s->topic, c->user);
        else
            presence_leave(hub, s->topic, c->user);
    }

    if (cmd->id != 0) {
        pr = calloc(1, sizeof(*pr));
        if (pr == NULL || (pr->pattern = dup_str(cmd->topic)) == NULL ||
            (pr->placeholder = msg_placeholder()) == NULL) {
            if (pr != NULL)
                free(pr->pattern);
            free(pr);
            send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
            return;
        }
        pr->id = cmd->id;
        pr->recovered = true;
        pr->want_recovered = cmd->has_since;
        pr->seq = is_pattern ? -1 : s->topic->seq;
        /* The reply takes its place in the queue now, filled later. */
        conn_push(hub, c, pr->placeholder, true);
        if (c->close_code != 0) {
            msg_unref(&pr->placeholder);
            free(pr->pattern);
            free(pr);
            return;
        }
        pr->waiting = 1; /* our own hold until the walk below is done */
    }

    if (!replaying) {
        struct retained_walk rw = { hub, c, cmd->topic };

        if (is_pattern)
            topic_tree_foreach(&hub->tree, retained_cb, &rw);
        else if (s->topic->retained != NULL)
            conn_push(hub, c, s->topic->retained, false);
    } else {
        w.hub = hub;
        w.c = c;
        w.pattern = cmd->topic;
        w.cmd = cmd;
        w.pr = pr;
        w.rc = 0;
        if (is_pattern)
            topic_tree_foreach(&hub->tree, since_cb, &w);
        else
            since_one(&w, s->topic);
        if (w.rc != 0)
            conn_cull(hub, c, 1011);
    }
    if (pr != NULL && --pr->waiting == 0)
        pending_reply_fill(hub, c, pr);
    replay_advance(hub, c);
}

static void cmd_unsub(struct hub *hub, struct conn *c, struct pl_cmd *cmd)
{
    struct sub *s = conn_find_sub(c, cmd->topic);

    if (s != NULL)
        sub_remove(hub, s);
    send_ok_simple(hub, c, cmd->id);
}

static bool rate_allows(struct hub *hub, struct conn *c)
{
    int64_t now = 0;

    if (hub->cfg.rate <= 0)
        return true;
    now = hub_now(hub);
    if (c->tokens_at == 0) {
        c->tokens = hub->cfg.burst;
    } else {
        c->tokens += (double)(now - c->tokens_at) * hub->cfg.rate / 1000.0;
        if (c->tokens > hub->cfg.burst)
            c->tokens = hub->cfg.burst;
    }
    c->tokens_at = now;
    if (c->tokens < 1.0)
        return false;
    c->tokens -= 1.0;
    return true;
}

static void ack_pub(struct hub *hub, struct conn *c, int64_t id,
                    const char *topic, int64_t seq, bool duplicate)
{
    struct pl_buf *b = scratch(hub);

    if (c->origin == CONN_HTTP) {
        pl_buf_cstr(b, "{\"topic\":");
        pl_buf_json_str(b, topic, strlen(topic));
        pl_buf_cstr(b, ",\"seq\":");
        pl_buf_int(b, seq);
        if (duplicate)
            pl_buf_cstr(b, ",\"duplicate\":true");
        pl_buf_cstr(b, "}");
        hub->ops->http_done(hub->ctx, c, 200, pl_buf_data(b), b->len);
        return;
    }
    if (id == 0)
        return;
    pl_frame_begin(b, "ok");
    pl_frame_id(b, id);
    pl_frame_kv_str(b, "topic", topic);
    pl_frame_kv_int(b, "seq", seq);
    if (duplicate)
        pl_frame_kv_bool(b, "duplicate", true);
    pl_frame_end(b);
    conn_send_buf(hub, c, b);
}

/* A committed (or ephemeral) message: remember it, fan it out. */
static void publish_commit(struct hub *hub, struct topic *t, int64_t seq,
                           int64_t ts, const char *from, const char *data,
                           size_t data_len, bool data_is_null, bool retain)
{
    struct msg *m = encode_msg(hub, t->name, seq, ts, from, data, data_len,
                               false);

    if (seq != t->seq + 1)
        log_warn("topic %s: seq %" PRId64 " after %" PRId64, t->name, seq,
                 t->seq);
    t->seq = seq;
    if (t->first_seq == 0)
        t->first_seq = seq;
    if (retain)
        set_retained(hub, t, seq, ts, from, data, data_len, data_is_null);
    if (m == NULL) {
        log_error("topic %s: out of memory encoding seq %" PRId64, t->name,
                  seq);
        return;
    }
    if (!t->ephemeral)
        recent_push(hub, t, m);
    fanout(hub, t, m);
    msg_unref(&m);
}

static void do_publish(struct hub *hub, struct conn *c, struct pl_cmd *cmd)
{
    struct store_job *job = NULL;
    struct topic *t = NULL;

    hub->stats.messages_in++;
    if (cmd->topic[0] == '$') {
        send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                   "topics beginning with '$' are reserved for the server");
        return;
    }
    if (c->claims != NULL && !pl_claims_may_pub(c->claims, cmd->topic)) {
        send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                   "token does not allow publishing to this topic");
        return;
    }
    if (c->origin == CONN_WS && !rate_allows(hub, c)) {
        send_error(hub, c, cmd->id, PL_ERR_RATE_LIMITED,
                   "publishing too fast");
        return;
    }
    if (is_ephemeral(hub, cmd->topic) || !hub->cfg.persist) {
        t = topic_get(hub, cmd->topic, true);
        if (t == NULL) {
            send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
            return;
        }
        publish_commit(hub, t, t->seq + 1, hub_now(hub), c->user, cmd->data,
                       cmd->data_len, cmd->data_is_null, cmd->retain);
        ack_pub(hub, c, cmd->id, t->name, t->seq, false);
        return;
    }
    if (hub->ops->store_pending(hub->ctx) >= hub->cfg.store_pending_max) {
        send_error(hub, c, cmd->id, PL_ERR_OVERLOADED,
                   "the store is behind; try again");
        return;
    }
    job = store_job_new(STORE_JOB_PUB, cmd->topic);
    if (job == NULL ||
        store_job_set_pub(job, cmd->data, cmd->data_len, cmd->data_is_null,
                          cmd->retain, c->user, cmd->key,
                          hub_now(hub)) < 0) {
        store_job_free(&job);
        send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    job->conn_id = c->id;
    job->req_id = cmd->id;
    job->tag = JOB_PUB;
    c->pending_pubs++;
    hub->ops->submit(hub->ctx, job);
}

static void history_request(struct hub *hub, struct conn *c, int64_t id,
                            const char *topic, int64_t before, int limit)
{
    struct store_job *job = NULL;
    struct msg *ph = NULL;
    struct topic *t = topic_get(hub, topic, false);

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, topic)) {
        send_error(hub, c, id, PL_ERR_FORBIDDEN,
                   "token does not allow reading this topic");
        return;
    }
    if (!hub->cfg.persist || is_ephemeral(hub, topic) || t == NULL ||
        t->seq == 0) {
        struct pl_buf *b = scratch(hub);

        if (c->origin == CONN_HTTP) {
            pl_buf_cstr(b, "{\"topic\":");
            pl_buf_json_str(b, topic, strlen(topic));
            pl_buf_cstr(b, ",\"messages\":[]}");
            hub->ops->http_done(hub->ctx, c, 200, pl_buf_data(b), b->len);
            return;
        }
        if (id == 0)
            return;
        pl_frame_begin(b, "ok");
        pl_frame_id(b, id);
        pl_frame_kv_str(b, "topic", topic);
        pl_frame_kv_raw(b, "messages", "[]", 2);
        pl_frame_end(b);
        conn_send_buf(hub, c, b);
        return;
    }
    if (c->origin == CONN_WS) {
        if (id == 0)
            return; /* nothing to answer, nothing to do */
        ph = msg_placeholder();
        if (ph == NULL) {
            send_error(hub, c, id, PL_ERR_INTERNAL, "out of memory");
            return;
        }
        conn_push(hub, c, ph, true);
    }
    job = store_job_new(STORE_JOB_BEFORE, topic);
    if (job == NULL) {
        msg_unref(&ph);
        conn_cull(hub, c, 1011);
        return;
    }
    job->conn_id = c->id;
    job->req_id = id;
    job->tag = JOB_HISTORY;
    job->udata = ph; /* the job's reference to the placeholder */
    job->before = before;
    job->limit = limit;
    hub->ops->submit(hub->ctx, job);
}

static void cmd_presence(struct hub *hub, struct conn *c, struct pl_cmd *cmd)
{
    struct topic *t = topic_get(hub, cmd->topic, false);
    struct member *m = NULL;
    struct pl_buf *b = NULL;
    bool first = true;

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, cmd->topic)) {
        send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                   "token does not allow reading this topic");
        return;
    }
    if (cmd->id == 0)
        return;
    b = scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, cmd->id);
    pl_frame_kv_str(b, "topic", cmd->topic);
    pl_buf_cstr(b, ",\"members\":[");
    for (m = t ? t->members : NULL; m != NULL; m = m->next) {
        if (!first)
            pl_buf_cstr(b, ",");
        first = false;
        pl_buf_json_str(b, m->user, strlen(m->user));
    }
    pl_buf_cstr(b, "]");
    pl_frame_end(b);
    conn_send_buf(hub, c, b);
}

struct topics_walk {
    struct hub *hub;
    struct conn *c;
    const char *prefix;
    size_t prefix_len;
    struct pl_buf *b;
    uint32_t n;
};

static int topics_cb(void *arg, struct topic *t)
{
    struct topics_walk *w = arg;
    struct pl_buf *b = w->b;

    if (w->n >= TOPICS_LIST_MAX)
        return 1;
    if (strncmp(t->name, w->prefix, w->prefix_len) != 0)
        return 0;
    if (t->name[0] == '$' && w->prefix_len == 0)
        return 0;
    if (t->seq == 0 && t->retained == NULL && t->n_members == 0)
        return 0;
    if (w->c != NULL && w->c->claims != NULL &&
        !pl_claims_may_sub(w->c->claims, t->name))
        return 0;
    pl_buf_cstr(b, w->n++ ? ",{\"topic\":" : "{\"topic\":");
    pl_buf_json_str(b, t->name, t->name_len);
    pl_buf_cstr(b, ",\"seq\":");
    pl_buf_int(b, t->seq);
    pl_buf_cstr(b, t->retained ? ",\"retained\":true" : ",\"retained\":false");
    pl_buf_cstr(b, ",\"members\":");
    pl_buf_int(b, t->n_members);
    pl_buf_cstr(b, "}");
    return 0;
}

static void topics_list(struct hub *hub, struct conn *c, const char *prefix,
                        struct pl_buf *b)
{
    struct topics_walk w = { hub, c, prefix ? prefix : "",
                             prefix ? strlen(prefix) : 0, b, 0 };

    pl_buf_cstr(b, "\"topics\":[");
    topic_tree_foreach(&hub->tree, topics_cb, &w);
    pl_buf_cstr(b, "]");
}

static void cmd_topics(struct hub *hub, struct conn *c, struct pl_cmd *cmd)
{
    struct pl_buf *b = NULL;

    if (cmd->id == 0)
        return;
    b = scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, cmd->id);
    pl_buf_cstr(b, ",");
    topics_list(hub, c, cmd->topic, b);
    pl_frame_end(b);
    conn_send_buf(hub, c, b);
}

void hub_topics_json(struct hub *hub, const char *prefix, struct pl_buf *b)
{
    pl_buf_cstr(b, "{");
    topics_list(hub, NULL, prefix, b);
    pl_buf_cstr(b, "}");
}

void hub_conn_text(struct hub *hub, struct conn *c, const char *text,
                   size_t len)
{
    struct pl_cmd cmd;
    struct pl_parse_opts opts = { hub->cfg.max_depth };
    const char *why = "bad request";
    enum pl_err err;

    if (c->close_code != 0)
        return;
    memset(&cmd, 0, sizeof(cmd));
    err = pl_cmd_parse(text, len, &opts, &cmd, &why);
    if (err != PL_OK) {
        send_error(hub, c, cmd.id, err, why);
        return;
    }
    if (hub->cfg.secret != NULL && !c->said_hello && cmd.op != PL_OP_HELLO) {
        send_error(hub, c, cmd.id, PL_ERR_UNAUTHORIZED, "say hello first");
        pl_cmd_cleanup(&cmd);
        return;
    }
    switch (cmd.op) {
    case PL_OP_HELLO:
        cmd_hello(hub, c, &cmd);
        break;
    case PL_OP_SUB:
        cmd_sub(hub, c, &cmd);
        break;
    case PL_OP_UNSUB:
        cmd_unsub(hub, c, &cmd);
        break;
    case PL_OP_PUB:
        do_publish(hub, c, &cmd);
        break;
    case PL_OP_HISTORY:
        history_request(hub, c, cmd.id, cmd.topic,
                        cmd.has_before ? cmd.before : 0, cmd.limit);
        break;
    case PL_OP_PRESENCE:
        cmd_presence(hub, c, &cmd);
        break;
    case PL_OP_PING:
        send_ok_simple(hub, c, cmd.id);
        break;
    case PL_OP_TOPICS:
        cmd_topics(hub, c, &cmd);
        break;
    }
    pl_cmd_cleanup(&cmd);
}

void hub_conn_binary(struct hub *hub, struct conn *c)
{
    if (c->close_code == 0)
        send_error(hub, c, 0, PL_ERR_BAD_REQUEST,
                   "binary frames are not part of the protocol; send text");
}

enum pl_err hub_conn_token(struct hub *hub, struct conn *c, const char *token)
{
    struct pl_claims *claims = NULL;
    enum pl_err err;

    if (hub->cfg.secret == NULL)
        return PL_ERR_UNAUTHORIZED;
    claims = calloc(1, sizeof(*claims));
    if (claims == NULL)
        return PL_ERR_INTERNAL;
    err = pl_jwt_verify(token, strlen(token), hub->cfg.secret,
                        hub->cfg.secret_len, hub_now(hub) / 1000, claims);
    if (err != PL_OK) {
        free(claims);
        return err;
    }
    if (c->claims != NULL) {
        pl_claims_cleanup(c->claims);
        free(c->claims);
    }
    c->claims = claims;
    conn_set_user(c, claims->sub);
    if (c->origin == CONN_WS)
        c->said_hello = true;
    return PL_OK;
}

/* ------------------------------------------------------------------ */
/* HTTP API                                                            */

void hub_http_publish(struct hub *hub, struct conn *c, const char *body,
                      size_t len)
{
    struct pl_cmd cmd;
    struct pl_parse_opts opts = { hub->cfg.max_depth };
    const char *why = "bad request";
    enum pl_err err;

    if (hub->cfg.secret != NULL && c->claims == NULL) {
        send_error(hub, c, 0, PL_ERR_UNAUTHORIZED,
                   "this server requires Authorization: Bearer <token>");
        return;
    }
    memset(&cmd, 0, sizeof(cmd));
    err = pl_cmd_parse_pub_body(body, len, &opts, &cmd, &why);
    if (err != PL_OK) {
        send_error(hub, c, 0, err, why);
        return;
    }
    if (c->claims == NULL)
        conn_set_user(c, "http");
    do_publish(hub, c, &cmd);
    pl_cmd_cleanup(&cmd);
}

void hub_http_history(struct hub *hub, struct conn *c, const char *topic,
                      int64_t before, int limit)
{
    if (hub->cfg.secret != NULL && c->claims == NULL) {
        send_error(hub, c, 0, PL_ERR_UNAUTHORIZED,
                   "this server requires Authorization: Bearer <token>");
        return;
    }
    if (topic == NULL) {
        send_error(hub, c, 0, PL_ERR_BAD_REQUEST, "topic is required");
        return;
    }
    if (pl_topic_validate(topic, strlen(topic), false) != PL_OK) {
        send_error(hub, c, 0, PL_ERR_INVALID_TOPIC,
                   "topic must be a concrete, valid topic");
        return;
    }
    if (limit < 1) {
        send_error(hub, c, 0, PL_ERR_BAD_REQUEST, "limit must be at least 1");
        return;
    }
    if (limit > PL_HISTORY_LIMIT_MAX)
        limit = PL_HISTORY_LIMIT_MAX;
    history_request(hub, c, 1, topic, before, limit);
}

/* ------------------------------------------------------------------ */
/* store completions                                                   */

static void done_pub(struct hub *hub, struct store_job *job)
{
    struct conn *c = job->conn_id ? conn_find(&hub->conns, job->conn_id)
                                  : NULL;
    struct topic *t = NULL;

    if (c != NULL && c->pending_pubs > 0)
        c->pending_pubs--;
    if (job->err != 0) {
        hub->stats.publish_failures++;
        if (c != NULL)
            send_error(hub, c, job->req_id, (enum pl_err)job->err,
                       "the message could not be stored");
        return;
    }
    if (!job->duplicate) {
        t = topic_get(hub, job->topic, true);
        if (t == NULL) {
            log_error("out of memory creating topic %s", job->topic);
        } else {
            publish_commit(hub, t, job->seq, job->ts, job->from, job->data,
                           job->data_len, job->data_is_null, job->retain);
        }
    }
    if (c != NULL)
        ack_pub(hub, c, job->req_id, job->topic, job->seq, job->duplicate);
}

static void done_history(struct hub *hub, struct store_job *job)
{
    struct conn *c = conn_find(&hub->conns, job->conn_id);
    struct msg *ph = job->udata;
    struct pl_buf *b = NULL;
    size_t i;

    job->udata = NULL;
    if (c == NULL || c->close_code != 0) {
        msg_unref(&ph);
        return;
    }
    b = scratch(hub);
    if (job->err != 0) {
        if (c->origin == CONN_HTTP) {
            send_error(hub, c, 0, (enum pl_err)job->err,
                       "history could not be read");
            return;
        }
        pl_frame_error(b, job->req_id, (enum pl_err)job->err,
                       "history could not be read");
    } else {
        if (c->origin == CONN_HTTP) {
            pl_buf_cstr(b, "{\"topic\":");
            pl_buf_json_str(b, job->topic, strlen(job->topic));
        } else {
            pl_frame_begin(b, "ok");
            pl_frame_id(b, job->req_id);
            pl_frame_kv_str(b, "topic", job->topic);
        }
        pl_buf_cstr(b, ",\"messages\":[");
        for (i = 0; i < job->n_rows; i++) {
            struct store_row *r = &job->rows[i];

            if (i > 0)
                pl_buf_cstr(b, ",");
            pl_frame_history_item(b, r->seq, r->ts, r->from, r->data,
                                  r->data_len);
        }
        pl_buf_cstr(b, "]}");
    }
    if (c->origin == CONN_HTTP) {
        hub->ops->http_done(hub->ctx, c, pl_buf_failed(b) ? 500 : 200,
                            pl_buf_data(b), b->len);
        return;
    }
    if (ph == NULL)
        return;
    if (msg_fill(ph, b) < 0) {
        conn_cull(hub, c, 1011);
    } else {
        outq_add_paced_bytes(&c->q, ph->len);
        conn_wake(hub, c);
    }
    msg_unref(&ph);
}

static void done_replay(struct hub *hub, struct store_job *job)
{
    struct conn *c = conn_find(&hub->conns, job->conn_id);
    struct replay *r = NULL;
    size_t i;
    bool lost = false;

    if (c == NULL)
        return;
    for (r = c->replays; r != NULL; r = r->next)
        if (replay_id(r) == (uint64_t)job->req_id)
            break;
    if (r == NULL)
        return; /* unsubscribed meanwhile */
    if (job->tag == JOB_PROBE) {
        r->probing = false;
        if (!r->first_page_done)
            replay_first_page(hub, c, r, job->err != 0 || job->n_rows == 0 ||
                                         job->rows[0].seq > r->next_seq);
        return;
    }
    r->inflight = false;
    if (job->err != 0) {
        log_warn("conn %" PRIu64 ": replay of %s failed", c->id, job->topic);
        conn_cull(hub, c, 1011);
        return;
    }
    lost = job->n_rows == 0 || job->rows[0].seq > r->next_seq;
    if (!r->first_page_done)
        replay_first_page(hub, c, r, lost);
    for (i = 0; i < job->n_rows && c->close_code == 0; i++) {
        struct store_row *row = &job->rows[i];
        struct msg *m = recent_get(r->topic, row->seq);

        if (m != NULL) {
            msg_ref(m);
        } else {
            m = encode_msg(hub, job->topic, row->seq, row->ts, row->from,
                           row->data, row->data_len, false);
            if (m == NULL) {
                conn_cull(hub, c, 1011);
                return;
            }
        }
        conn_push(hub, c, m, true);
        msg_unref(&m);
        r->next_seq = row->seq + 1;
    }
    if (job->n_rows == 0 || job->n_rows < (size_t)job->limit)
        r->next_seq = r->fence + 1;
    replay_advance(hub, c);
}

struct store_job *hub_store_done_some(struct hub *hub, struct store_job *list,
                                      size_t budget)
{
    size_t spent = 0;

    while (list != NULL && spent < budget) {
        struct store_job *job = list;

        list = job->next;
        spent += job->data_len + 64;
        job->next = NULL;
        switch (job->tag) {
        case JOB_PUB:
            done_pub(hub, job);
            break;
        case JOB_HISTORY:
            done_history(hub, job);
            break;
        case JOB_REPLAY:
        case JOB_PROBE:
            done_replay(hub, job);
            break;
        default:
            break;
        }
        if (job->udata != NULL) {
            struct msg *ph = job->udata;

            msg_unref(&ph);
        }
        store_job_free(&job);
    }
    return list;
}

void hub_store_done(struct hub *hub, struct store_job *list)
{
    (void)hub_store_done_some(hub, list, SIZE_MAX);
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

struct conn *hub_conn_open(struct hub *hub, enum conn_origin origin,
                           void *transport)
{
    struct conn *c = conn_new(&hub->conns, origin, transport);
    char name[32];

    if (c == NULL)
        return NULL;
    snprintf(name, sizeof(name), "anon-%" PRIu64, c->id);
    c->user = dup_str(name);
    if (c->user == NULL) {
        conn_free(&hub->conns, &c);
        return NULL;
    }
    if (origin == CONN_WS) {
        hub->stats.connections++;
        hub->stats.connections_total++;
    }
    return c;
}

void hub_conn_close(struct hub *hub, struct conn **cp)
{
    struct conn *c = *cp;

    if (c == NULL)
        return;
    c->close_code = -1; /* gone: nothing more is queued or woken */
    while (c->subs != NULL)
        sub_remove(hub, c->subs);
    while (c->replays != NULL) {
        struct replay *r = c->replays;

        c->replays = r->next;
        replay_free(hub, c, &r);
    }
    if (c->origin == CONN_WS)
        hub->stats.connections--;
    conn_free(&hub->conns, cp);
}

struct conn *hub_conn_find(struct hub *hub, uint64_t id)
{
    return conn_find(&hub->conns, id);
}

void hub_conn_drained(struct hub *hub, struct conn *c)
{
    if (c->replays != NULL)
        replay_advance(hub, c);
}

void hub_conn_kill(struct hub *hub, struct conn *c, int code)
{
    conn_cull(hub, c, code);
}

struct close_all {
    struct hub *hub;
    int code;
};

static void close_one(void *arg, struct conn *c)
{
    struct close_all *ca = arg;

    if (c->origin == CONN_WS && c->close_code == 0) {
        c->close_code = ca->code;
        conn_wake(ca->hub, c);
    }
}

void hub_close_all(struct hub *hub, int code)
{
    struct close_all ca = { hub, code };

    conn_table_foreach(&hub->conns, close_one, &ca);
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */

int hub_load_topic(struct hub *hub, const struct store_topic_info *info)
{
    struct topic *t = topic_get(hub, info->name, true);

    if (t == NULL)
        return -ENOMEM;
    t->seq = info->last_seq;
    if (info->has_retained)
        set_retained(hub, t, info->r_seq, info->r_ts, info->r_from,
                     info->r_data, info->r_data_len, false);
    return 0;
}

struct hub *hub_new(const struct hub_config *cfg, const struct hub_ops *ops,
                    void *ctx)
{
    struct hub *hub = calloc(1, sizeof(*hub));
    size_t i;

    if (hub == NULL)
        return NULL;
    hub->cfg = *cfg;
    hub->ops = ops;
    hub->ctx = ctx;
    if (cfg->n_ephemeral > 0) {
        hub->ephemeral = calloc(cfg->n_ephemeral, sizeof(char *));
        if (hub->ephemeral == NULL)
            goto fail;
        for (i = 0; i < cfg->n_ephemeral; i++) {
            hub->ephemeral[i] = dup_str(cfg->ephemeral[i]);
            if (hub->ephemeral[i] == NULL)
                goto fail;
        }
    }
    hub->cfg.ephemeral = (const char *const *)hub->ephemeral;
    if (topic_tree_init(&hub->tree) < 0 ||
        conn_table_init(&hub->conns) < 0 || pl_buf_init(&hub->buf, 4096) < 0)
        goto fail;
    return hub;
fail:
    hub_free(&hub);
    return NULL;
}

static void free_conn_cb(void *arg, struct conn *c)
{
    struct hub *hub = arg;

    hub_conn_close(hub, &c);
}

void hub_free(struct hub **hp)
{
    struct hub *hub = *hp;
    size_t i;

    if (hub == NULL)
        return;
    *hp = NULL;
    if (hub->conns.slots != NULL)
        conn_table_foreach(&hub->conns, free_conn_cb, hub);
    conn_table_cleanup(&hub->conns);
    topic_tree_cleanup(&hub->tree, topic_free);
    for (i = 0; hub->ephemeral != NULL && i < hub->cfg.n_ephemeral; i++)
        free(hub->ephemeral[i]);
    free(hub->ephemeral);
    pl_buf_cleanup(&hub->buf);
    free(hub);
}

const struct hub_stats *hub_get_stats(struct hub *hub)
{
    return &hub->stats;
}

struct hub_stats *hub_stats_mut(struct hub *hub)
{
    return &hub->stats;
}

bool hub_auth_enabled(const struct hub *hub)
{
    return hub->cfg.secret != NULL;
}
