/*
 * hub.c: topics, subscriptions, publish and fan-out, connections and the
 * hub's life cycle. Commands are in session.c, presence in presence.c,
 * recovery in replay.c. Plain C with no lws: the transport calls in, the
 * hub calls out through struct hub_ops only. Service thread only.
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
 *
 * At most once. Every way a message reaches a connection (fan-out, the
 * retained copy, replay pages, held messages) goes through once_push
 * (once.c), which skips a seq the connection was already sent while it
 * covers the topic: subscribing again never delivers again.
 */
#include "hub.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hub_internal.h"
#include "log.h"
#include "topic.h"

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

int64_t hub_now(struct hub *hub)
{
    return hub->ops->now_ms(hub->ctx);
}

char *hub_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);

    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

struct pl_buf *hub_scratch(struct hub *hub)
{
    pl_buf_reset(&hub->buf);
    return &hub->buf;
}

bool hub_is_ephemeral(struct hub *hub, const char *topic)
{
    size_t i;

    if (topic[0] == '$')
        return true; /* the server's own ($SYS): never stored */
    for (i = 0; i < hub->cfg.n_ephemeral; i++)
        if (pl_topic_match(hub->ephemeral[i], topic))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* sending to one connection                                           */

void hub_wake(struct hub *hub, struct conn *c)
{
    if (c->close_code < 0)
        return; /* being freed: the transport is gone */
    if (!c->wake_pending) {
        c->wake_pending = true;
        hub->ops->wake(hub->ctx, c);
    }
}

void hub_conn_wake(struct hub *hub, struct conn *c)
{
    if (c->close_code < 0)
        return;
    hub->ops->wake(hub->ctx, c); /* even inside an episode: cheap, and
                                    the transport may have no frame */
}

/* Close c with code (4008 for slow consumers): drop what it has queued,
 * stop its replays, and let the transport send the close frame. */
void hub_cull(struct hub *hub, struct conn *c, int code)
{
    if (c->close_code != 0)
        return;
    c->close_code = code;
    if (code == 4008) {
        struct log_ctx lc = { "slow_consumer", c->id, c->user, NULL };

        hub->stats.slow_consumers++;
        hub->stats.queue_drops += c->q.count;
        sys_slow_consumer(hub, c);
        log_at(LOG_INFO, &lc, "conn %" PRIu64 " (%s): slow consumer, "
               "closing with 4008", c->id, c->user ? c->user : "?");
    }
    outq_cleanup(&c->q);
    while (c->replays != NULL) {
        struct replay *r = c->replays;

        c->replays = r->next;
        replay_free(hub, c, &r);
    }
    hub_wake(hub, c);
}

/* Queue m (a new reference) on c. `paced` frames (replay pages) are
 * exempt from the bound: the hub only fetches them when the queue is
 * short. Everything else past the bound culls the connection. */
void hub_push(struct hub *hub, struct conn *c, struct msg *m, bool paced)
{
    if (c->close_code != 0)
        return;
    if (!paced &&
        (outq_live_bytes(&c->q) + replay_held_bytes(c) + m->len >
             hub->cfg.queue_bytes ||
         c->q.count >= hub->cfg.queue_msgs)) {
        hub_cull(hub, c, 4008);
        return;
    }
    if ((paced ? outq_push_paced(&c->q, m) : outq_push(&c->q, m)) < 0) {
        struct log_ctx lc = { "out_of_memory", c->id, c->user, NULL };

        log_at(LOG_ERROR, &lc, "conn %" PRIu64 ": out of memory queueing a "
               "frame", c->id);
        hub_cull(hub, c, 1011);
        return;
    }
    hub_wake(hub, c);
}

/* Encode the scratch buffer into a fresh msg and queue it on c. */
void hub_send_buf(struct hub *hub, struct conn *c, struct pl_buf *b)
{
    struct msg *m = msg_from_buf(b, 0);

    if (m == NULL) {
        hub_cull(hub, c, 1011);
        return;
    }
    hub_push(hub, c, m, false);
    msg_unref(&m);
}

void hub_send_error(struct hub *hub, struct conn *c, int64_t id,
                    enum pl_err err, const char *why)
{
    struct pl_buf *b = hub_scratch(hub);

    hub->stats.errors_sent++;
    pl_frame_error(b, id, err, why);
    hub_send_buf(hub, c, b);
}

void hub_send_ok(struct hub *hub, struct conn *c, int64_t id)
{
    struct pl_buf *b = NULL;

    if (id == 0)
        return;
    b = hub_scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, id);
    pl_frame_end(b);
    hub_send_buf(hub, c, b);
}

/* ------------------------------------------------------------------ */
/* topics                                                              */

static void topic_free(struct topic *t)
{
    struct member *m = t->members;

    while (m != NULL) {
        struct member *next = m->next;

        free(m);
        m = next;
    }
    outq_cleanup(&t->recent);
    msg_unref(&t->retained);
    free(t->name);
    free(t);
}

struct topic *hub_topic(struct hub *hub, const char *name, bool create)
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
    t->ephemeral = hub_is_ephemeral(hub, name);
    if (topic_tree_insert(&hub->tree, t) != 0) {
        free(t->name);
        free(t);
        return NULL;
    }
    hub->stats.topics = hub->tree.topics_count;
    if (name[0] == '$')
        hub->sys.sys_topics++;
    return t;
}

/* Forget a topic that holds nothing worth remembering (a sub to a topic
 * that never saw a message, then unsub), so idle subscriptions to random
 * names cannot grow memory. */
void hub_topic_maybe_free(struct hub *hub, struct topic *t)
{
    if (t->seq != 0 || t->subs.count != 0 || t->retained != NULL ||
        t->members != NULL || t->recent.count != 0)
        return;
    topic_tree_remove(&hub->tree, t);
    hub->stats.topics = hub->tree.topics_count;
    if (t->name[0] == '$')
        hub->sys.sys_topics--;
    topic_free(t);
}

/*
 * The rings' memory, all topics together. Each ring is bounded, but the
 * number of topics is not: a client publishing once to a million topics
 * would keep a million messages in memory. Topics with a non-empty ring
 * are kept least recently pushed first; past cfg.recent_memory the oldest
 * messages of the least recently pushed topic go first. A message that
 * left a ring is only slower to recover: replays read it from the store.
 */
static void ring_unlink(struct hub *hub, struct topic *t)
{
    if (t->lru_prev != NULL)
        t->lru_prev->lru_next = t->lru_next;
    else if (hub->ring_lru == t)
        hub->ring_lru = t->lru_next;
    if (t->lru_next != NULL)
        t->lru_next->lru_prev = t->lru_prev;
    else if (hub->ring_mru == t)
        hub->ring_mru = t->lru_prev;
    t->lru_prev = t->lru_next = NULL;
}

static void ring_link_mru(struct hub *hub, struct topic *t)
{
    t->lru_prev = hub->ring_mru;
    t->lru_next = NULL;
    if (hub->ring_mru != NULL)
        hub->ring_mru->lru_next = t;
    else
        hub->ring_lru = t;
    hub->ring_mru = t;
}

/* Empty t's ring, keeping the hub's accounting. */
static void ring_clear(struct hub *hub, struct topic *t)
{
    hub->stats.recent_bytes -= t->recent.bytes;
    outq_cleanup(&t->recent);
    ring_unlink(hub, t);
}

void hub_row_refs(const struct store_row *row, struct pl_msg_refs *refs)
{
    refs->edit_of = row->edit_of;
    refs->redacts = row->redacts;
    refs->reply_to = row->reply_to;
    refs->redacted = row->redacted;
}

/*
 * A deletion committed: the store erased a message's data (and its
 * edits'), which t's ring may still hold as encoded frames, and maybe
 * the retained copy. Deletions are rare, so the ring is simply emptied:
 * replays read the erased rows from the store until it fills again.
 */
void hub_topic_redacted(struct hub *hub, struct topic *t, int64_t seq,
                        bool retained_cleared)
{
    ring_clear(hub, t);
    if (retained_cleared || (t->retained != NULL && t->retained->seq == seq))
        msg_unref(&t->retained);
}

/* Drop the oldest message of t's ring. */
static void ring_pop(struct hub *hub, struct topic *t)
{
    size_t before = t->recent.bytes;

    outq_pop(&t->recent);
    hub->stats.recent_bytes -= before - t->recent.bytes;
    if (t->recent.count == 0)
        ring_unlink(hub, t);
}

static void recent_push(struct hub *hub, struct topic *t, struct msg *m)
{
    struct outq *r = &t->recent;

    if (hub->cfg.recent_msgs == 0)
        return;
    /* A gap (a failed read-back, a restart) would break contiguity. */
    if (r->count > 0 && outq_at(r, r->count - 1)->seq + 1 != m->seq)
        ring_clear(hub, t);
    while (r->count > 0 && (r->count >= hub->cfg.recent_msgs ||
                            r->bytes + m->len > hub->cfg.recent_bytes))
        ring_pop(hub, t);
    /* Out of memory only costs the ring this message: recovery then
     * reads it from the store. */
    if (outq_push(r, m) < 0) {
        ring_clear(hub, t);
        return;
    }
    hub->stats.recent_bytes += m->len;
    ring_unlink(hub, t);
    ring_link_mru(hub, t);
    /* t is the most recent: it gives up messages last, and keeps m. */
    while (hub->cfg.recent_memory > 0 &&
           hub->stats.recent_bytes > hub->cfg.recent_memory &&
           (hub->ring_lru != t || t->recent.count > 1))
        ring_pop(hub, hub->ring_lru);
}

/*
 * The ring's message with this seq, or NULL when not held. Retention may
 * already have deleted older messages from the store; the ring must not
 * bring them back, so what retention covers counts as not held.
 */
struct msg *hub_recent_get(struct hub *hub, const struct topic *t, int64_t seq)
{
    const struct outq *r = &t->recent;
    struct msg *m = NULL;
    int64_t first = 0;

    if (r->count == 0)
        return NULL;
    first = outq_peek(r)->seq;
    if (seq < first || seq >= first + r->count)
        return NULL;
    if (hub->cfg.retain_messages > 0 &&
        seq <= t->seq - hub->cfg.retain_messages)
        return NULL;
    m = outq_at(r, (uint32_t)(seq - first));
    if (hub->cfg.retain_age_ms > 0 &&
        m->ts < hub_now(hub) - hub->cfg.retain_age_ms)
        return NULL;
    return m;
}

struct msg *hub_encode_msg(struct hub *hub, const char *topic, int64_t seq,
                           int64_t ts, const char *from, const char *data,
                           size_t data_len, bool retained)
{
    return hub_encode_msg_refs(hub, topic, seq, ts, from, data, data_len,
                               retained, NULL);
}

struct msg *hub_encode_msg_refs(struct hub *hub, const char *topic,
                                int64_t seq, int64_t ts, const char *from,
                                const char *data, size_t data_len,
                                bool retained, const struct pl_msg_refs *refs)
{
    struct pl_buf *b = hub_scratch(hub);
    struct msg *m = NULL;

    pl_frame_msg_refs(b, topic, seq, ts, from, data, data_len, retained,
                      refs);
    m = msg_from_buf(b, seq);
    if (m != NULL)
        m->ts = ts;
    return m;
}

void hub_set_retained(struct hub *hub, struct topic *t, int64_t seq, int64_t ts,
                      const char *from, const char *data, size_t data_len,
                      bool data_is_null, const void *raw, size_t raw_len)
{
    msg_unref(&t->retained);
    if (!data_is_null)
        t->retained =
            hub_encode_msg(hub, t->name, seq, ts, from, data, data_len, true);
    if (t->retained != NULL && msg_set_raw(t->retained, raw, raw_len) < 0) {
        /* Without its bytes the copy would lie to MQTT subscribers. */
        log_error("topic %s: out of memory keeping retained seq %" PRId64,
                  t->name, seq);
        msg_unref(&t->retained);
    }
}

/* ------------------------------------------------------------------ */
/* subscriptions                                                       */

static uint32_t sub_hash(const struct conn *c, const char *pattern)
{
    return topic_hash(pattern, strlen(pattern)) ^
           (uint32_t)(c->id * 2654435761u);
}

struct sub *hub_sub_find(struct hub *hub, struct conn *c, const char *pattern)
{
    uint32_t h = sub_hash(c, pattern);
    struct sub *s = hub->subs[h & (hub->subs_cap - 1)];

    for (; s != NULL; s = s->h_next)
        if (s->hash == h && s->conn == c && strcmp(s->pattern, pattern) == 0)
            return s;
    return NULL;
}

/* Keep the index's chains short: double it when it is full. A failed
 * grow only makes chains longer. */
static void sub_index_grow(struct hub *hub)
{
    uint32_t ncap = hub->subs_cap * 2;
    struct sub **ns = calloc(ncap, sizeof(*ns));
    uint32_t i;

    if (ns == NULL)
        return;
    for (i = 0; i < hub->subs_cap; i++) {
        struct sub *s = hub->subs[i];

        while (s != NULL) {
            struct sub *next = s->h_next;

            s->h_next = ns[s->hash & (ncap - 1)];
            ns[s->hash & (ncap - 1)] = s;
            s = next;
        }
    }
    free(hub->subs);
    hub->subs = ns;
    hub->subs_cap = ncap;
}

static void sub_index_add(struct hub *hub, struct sub *s)
{
    struct sub **slot = NULL;

    if (hub->stats.subscriptions >= hub->subs_cap)
        sub_index_grow(hub);
    s->hash = sub_hash(s->conn, s->pattern);
    slot = &hub->subs[s->hash & (hub->subs_cap - 1)];
    s->h_next = *slot;
    *slot = s;
}

static void sub_index_remove(struct hub *hub, struct sub *s)
{
    struct sub **pp = &hub->subs[s->hash & (hub->subs_cap - 1)];

    for (; *pp != NULL; pp = &(*pp)->h_next) {
        if (*pp == s) {
            *pp = s->h_next;
            return;
        }
    }
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

/* Whether a shared storage must hear of s (watch): every subscription
 * but an exact one on a `$` topic, which is this node's own ($SYS) and
 * never comes from another node. Ephemeral topics are watched too: other
 * nodes relay them on the same channels. Fixed for s's life, so each
 * watch on has its off. */
static bool sub_watched(const struct sub *s)
{
    return s->is_pattern || s->pattern[0] != '$';
}

struct sub *hub_sub_add(struct hub *hub, struct conn *c, const char *pattern,
                        bool is_pattern)
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
        s->topic = hub_topic(hub, pattern, true);
        if (s->topic == NULL) {
            free(s);
            return NULL;
        }
        l = &s->topic->subs;
    }
    list_link(l, s);
    if (sub_watched(s))
        storage_watch(&hub->storage, pattern, is_pattern, true);
    s->c_next = c->subs;
    if (c->subs != NULL)
        c->subs->c_prev = s;
    c->subs = s;
    c->n_subs++;
    sub_index_add(hub, s);
    hub->stats.subscriptions++;
    if (pattern[0] == '$')
        hub->sys.dollar_subs++;
    return s;
}

/* True when one of c's subscriptions still covers topic t. */
bool hub_conn_wants(const struct conn *c, const struct topic *t)
{
    const struct sub *s = NULL;

    for (s = c->subs; s != NULL; s = s->c_next)
        if (s->is_pattern ? pl_topic_match(s->pattern, t->name) : s->topic == t)
            return true;
    return false;
}

void hub_sub_remove(struct hub *hub, struct sub *s)
{
    struct conn *c = s->conn;
    struct sub_list *l = s->list;

    if (s->presence && s->topic != NULL)
        presence_leave(hub, s->topic, c->user);
    list_unlink(s);
    if (sub_watched(s))
        storage_watch(&hub->storage, s->pattern, s->is_pattern, false);
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
    sub_index_remove(hub, s);
    hub->stats.subscriptions--;
    if (s->pattern[0] == '$')
        hub->sys.dollar_subs--;
    if (c->replays != NULL)
        replay_drop_unmatched(hub, c);
    once_forget_uncovered(hub, c, s);
    if (!s->is_pattern)
        hub_topic_maybe_free(hub, s->topic);
    free(s);
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
    if (c->replays != NULL && replay_hold(hub, c, f->topic, f->msg))
        return;
    if (once_push(hub, c, f->topic, f->msg, false))
        hub->stats.messages_out++;
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
    struct fanout f = {hub, t, m};

    hub->gen++;
    hub->sys.fanning = t; /* names the topic of a slow-consumer event */
    deliver_list(&f, &t->subs);
    topic_tree_match(&hub->tree, t->name, deliver_list, &f);
    hub->sys.fanning = NULL;
}

/* A committed (or ephemeral) message: remember it, fan it out. */
void hub_publish_commit(struct hub *hub, struct topic *t, int64_t seq,
                        int64_t ts, const char *from, const char *data,
                        size_t data_len, bool data_is_null, bool retain)
{
    hub_publish_commit_refs(hub, t, seq, ts, from, data, data_len,
                            data_is_null, retain, NULL, NULL, 0);
}

void hub_publish_commit_refs(struct hub *hub, struct topic *t, int64_t seq,
                             int64_t ts, const char *from, const char *data,
                             size_t data_len, bool data_is_null, bool retain,
                             const struct pl_msg_refs *refs, const void *raw,
                             size_t raw_len)
{
    struct msg *m = hub_encode_msg_refs(hub, t->name, seq, ts, from, data,
                                        data_len, false, refs);

    if (m != NULL && msg_set_raw(m, raw, raw_len) < 0)
        msg_unref(&m);

    if (seq != t->seq + 1) {
        struct log_ctx lc = { "seq_gap", 0, NULL, t->name };

        log_at(LOG_WARN, &lc, "topic %s: seq %" PRId64 " after %" PRId64,
               t->name, seq, t->seq);
    }
    t->seq = seq;
    t->pubs++;
    if (t->first_seq == 0)
        t->first_seq = seq;
    if (retain)
        hub_set_retained(hub, t, seq, ts, from, data, data_len, data_is_null,
                         raw, raw_len);
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

static void cull_list(void *arg, struct sub_list *l)
{
    struct hub *hub = arg;
    struct sub *s = NULL;

    for (s = l->head; s != NULL; s = s->t_next)
        hub_cull(hub, s->conn, 1001);
}

/* The shared storage lost t's history (Redis restarted empty): its seqs
 * start again at 1, so what this node and its clients saw means nothing
 * any more. Every connection covering t is closed with 1001: it comes
 * back, and its `since` (now above the topic's seq) gets recovered:false
 * rather than new messages under numbers it already holds. */
static void topic_reset(struct hub *hub, struct topic *t)
{
    log_warn("topic %s: the storage lost its history (seq was %" PRId64
             "); closing its subscribers so they resume afresh",
             t->name, t->seq);
    cull_list(hub, &t->subs);
    topic_tree_match(&hub->tree, t->name, cull_list, hub);
    ring_clear(hub, t);
    msg_unref(&t->retained);
    t->seq = 0;
    t->first_seq = 0;
}

/* Another node's message on an ephemeral topic (storage.h, relay): this
 * node numbers it in its own sequence for the topic, as if it had been
 * published here (gapless while the node runs, as the contract says of
 * topics that are not stored). A topic this node stores (its --ephemeral
 * differs from the publisher's) is left alone: its seqs are the
 * storage's. */
static void heard_ephemeral(struct hub *hub, struct store_job *job)
{
    struct topic *t = NULL;

    if (job->topic[0] == '$' || !hub_is_ephemeral(hub, job->topic))
        return;
    t = hub_topic(hub, job->topic, true);
    if (t == NULL) {
        log_error("out of memory creating topic %s", job->topic);
        return;
    }
    if (!t->ephemeral)
        return;
    hub_publish_commit_refs(hub, t, t->seq + 1, job->ts, job->from,
                            job->data, job->data_len, job->data_is_null,
                            job->retain, NULL, job->raw, job->raw_len);
}

/* A shared engine's listener (storage.h): a message stored by any node,
 * handed over in seq order. It is fanned out like a local commit; what a
 * state read already counted (seq <= t->seq) is replayed from storage by
 * the subs that asked, so it is not delivered again here. */
static void hub_heard(void *ctx, struct store_job *job)
{
    struct hub *hub = ctx;
    struct topic *t = NULL;

    struct pl_msg_refs refs = {job->edit_of, job->redacts, job->reply_to,
                               job->redacted};

    if (job->presence != 0) {
        presence_heard(hub, job->topic, job->from, job->presence > 0);
        return;
    }
    if (job->marked) {
        /* another node's connection moved the user's marker */
        chat_marked_heard(hub, job->from, job->topic, job->seq);
        return;
    }
    if (job->ephemeral) {
        heard_ephemeral(hub, job);
        return;
    }
    t = hub_topic(hub, job->topic, true);
    if (t == NULL) {
        log_error("out of memory creating topic %s", job->topic);
        return;
    }
    if (job->epoch_reset)
        topic_reset(hub, t);
    if (job->seq <= t->seq)
        return;
    if (t->seq == 0)
        t->seq = job->seq - 1; /* first heard: nothing before it is owed */
    /* A deletion erased its target in storage (on whichever node stored
     * it): this node's ring and retained copy must forget it too. */
    if (job->redacts > 0)
        hub_topic_redacted(hub, t, job->redacts, false);
    hub_publish_commit_refs(hub, t, job->seq, job->ts, job->from, job->data,
                            job->data_len, job->data_is_null, job->retain,
                            &refs, job->raw, job->raw_len);
}

struct store_job *hub_store_done_some(struct hub *hub, struct store_job *list,
                                      size_t budget)
{
    size_t spent = 0;

    (void)hub; /* each job's done callback carries its own context */
    while (list != NULL && spent < budget) {
        struct store_job *job = list;

        list = job->next;
        spent += job->data_len + 64;
        /* Its submitter's done callback takes it from here; the hub's
         * own submitters always give one. */
        assert(job->done != NULL);
        store_job_finish(&job);
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
    c->user = hub_strdup(name);
    if (c->user == NULL) {
        conn_free(&hub->conns, &c);
        return NULL;
    }
    if (origin != CONN_REQUEST) {
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
        hub_sub_remove(hub, c->subs);
    while (c->replays != NULL) {
        struct replay *r = c->replays;

        c->replays = r->next;
        replay_free(hub, c, &r);
    }
    if (c->origin != CONN_REQUEST)
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
    hub_cull(hub, c, code);
}

struct close_all {
    struct hub *hub;
    int code;
};

static void close_one(void *arg, struct conn *c)
{
    struct close_all *ca = arg;

    if (c->origin != CONN_REQUEST && c->close_code == 0) {
        c->close_code = ca->code;
        hub_wake(ca->hub, c);
    }
}

void hub_close_all(struct hub *hub, int code)
{
    struct close_all ca = {hub, code};

    conn_table_foreach(&hub->conns, close_one, &ca);
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */

int hub_load_topic(struct hub *hub, const struct store_topic_info *info)
{
    struct topic *t = hub_topic(hub, info->name, true);

    if (t == NULL)
        return -ENOMEM;
    t->seq = info->last_seq;
    if (info->has_retained)
        hub_set_retained(hub, t, info->r_seq, info->r_ts, info->r_from,
                         info->r_data, info->r_data_len, false, info->r_raw,
                         info->r_raw_len);
    return 0;
}

static int load_cb(void *arg, const struct store_topic_info *info)
{
    return hub_load_topic(arg, info);
}

int hub_load(struct hub *hub)
{
    if (hub->storage.ops == NULL)
        return 0;
    return storage_load(&hub->storage, load_cb, hub);
}

static void free_patterns(char ***patterns, size_t n)
{
    size_t i = 0;

    for (i = 0; *patterns != NULL && i < n; i++)
        free((*patterns)[i]);
    free(*patterns);
    *patterns = NULL;
}

/* Own copies of n patterns into *out (NULL when n is 0). Returns 0, or
 * -ENOMEM with *out untouched. */
static int copy_patterns(const char *const *src, size_t n, char ***out)
{
    char **p = NULL;
    size_t i = 0;

    if (n > 0) {
        p = calloc(n, sizeof(char *));
        if (p == NULL)
            return -ENOMEM;
    }
    for (i = 0; i < n; i++) {
        p[i] = hub_strdup(src[i]);
        if (p[i] == NULL) {
            free_patterns(&p, i);
            return -ENOMEM;
        }
    }
    *out = p;
    return 0;
}

/* The first connection id of a node on shared storage. A connection's id
 * names it beyond this node (anon-<id>, its session), and the spec wants
 * anon-<n> unique while the server, here the cluster, runs; every node
 * counting from 1 gave two clients on two nodes one name (and one presence
 * member). A random multiple of 2^32 keeps nodes' ranges apart: two nodes
 * meet only by drawing the same one of 2^31. */
static uint64_t hub_shared_id_base(void)
{
    uint32_t r = 0;

    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)&r;
    return ((uint64_t)(r & 0x7fffffffu) + 1) << 32;
}

struct hub *hub_new(const struct hub_config *cfg, const struct hub_ops *ops,
                    void *ctx, const struct storage *storage)
{
    struct hub *hub = NULL;

    assert(storage != NULL || !cfg->persist);
    hub = calloc(1, sizeof(*hub));
    if (hub == NULL)
        return NULL;
    hub->cfg = *cfg;
    hub->ops = ops;
    hub->ctx = ctx;
    sys_init(hub);
    if (storage != NULL)
        hub->storage = *storage;
    if (storage_is_shared(&hub->storage))
        hub->storage.ops->listen(hub->storage.engine, hub_heard, hub);
    hub->cfg.n_ephemeral = 0;
    if (copy_patterns(cfg->ephemeral, cfg->n_ephemeral, &hub->ephemeral) < 0)
        goto fail;
    hub->cfg.n_ephemeral = cfg->n_ephemeral;
    hub->cfg.ephemeral = (const char *const *)hub->ephemeral;
    hub->subs_cap = 1024;
    hub->subs = calloc(hub->subs_cap, sizeof(*hub->subs));
    if (hub->subs == NULL)
        goto fail;
    if (topic_tree_init(&hub->tree) < 0 || conn_table_init(&hub->conns) < 0 ||
        pl_buf_init(&hub->buf, 4096) < 0)
        goto fail;
    if (storage_is_shared(&hub->storage))
        hub->conns.next_id = hub_shared_id_base();
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

    if (hub == NULL)
        return;
    *hp = NULL;
    if (hub->conns.slots != NULL)
        conn_table_foreach(&hub->conns, free_conn_cb, hub);
    conn_table_cleanup(&hub->conns);
    free(hub->subs);
    sys_cleanup(hub);
    topic_tree_cleanup(&hub->tree, topic_free);
    free_patterns(&hub->ephemeral, hub->cfg.n_ephemeral);
    pl_buf_cleanup(&hub->buf);
    free(hub);
}

int hub_reconfigure(struct hub *hub, const struct hub_config *cfg)
{
    char **ephemeral = NULL;

    assert(pl_on_service_thread());
    if (copy_patterns(cfg->ephemeral, cfg->n_ephemeral, &ephemeral) < 0)
        return -ENOMEM;
    free_patterns(&hub->ephemeral, hub->cfg.n_ephemeral);
    hub->ephemeral = ephemeral;
    hub->cfg.ephemeral = (const char *const *)ephemeral;
    hub->cfg.n_ephemeral = cfg->n_ephemeral;
    hub->cfg.secret = cfg->secret;
    hub->cfg.secret_len = cfg->secret_len;
    hub->cfg.queue_bytes = cfg->queue_bytes;
    hub->cfg.queue_msgs = cfg->queue_msgs;
    hub->cfg.max_subs = cfg->max_subs;
    hub->cfg.rate = cfg->rate;
    hub->cfg.burst = cfg->burst;
    hub->cfg.store_pending_max = cfg->store_pending_max;
    hub->cfg.retain_messages = cfg->retain_messages;
    hub->cfg.retain_age_ms = cfg->retain_age_ms;
    return 0;
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
