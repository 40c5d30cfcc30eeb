/*
 * replay.c: recovery without gaps. A sub with since/history starts one
 * replay per topic it covers: stored messages next..fence (the topic's
 * seq at sub time) come from the topic's recent ring when it still holds
 * them, else from the store a page at a time, and only while the
 * connection's queue is short, so a client is paced by its own reading.
 * Live messages of the topic that arrive meanwhile are held and queued
 * right after the fence. See the DESIGN note in hub.c. Service thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"
#include "topic.h"

struct replay_ref {
    struct replay r;
    uint64_t id;
};

static void pending_reply_fill(struct hub *hub, struct conn *c,
                               struct pending_reply *pr);

static uint64_t replay_id(const struct replay *r)
{
    return ((const struct replay_ref *)r)->id;
}

/* Free a replay that is already unlinked; a sub reply still waiting on
 * it is released (and sent, when it was the last thing it waited for). */
void replay_free(struct hub *hub, struct conn *c, struct replay **rp)
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

struct replay *replay_find(struct conn *c, const struct topic *t)
{
    struct replay *r = c->replays;

    while (r != NULL && r->topic != t)
        r = r->next;
    return r;
}

static void replay_drop_topic(struct hub *hub, struct conn *c, struct topic *t)
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

/* After an unsub: stop replaying topics no subscription covers any more
 * (a pattern's replay of a topic survives the unsub of that topic). */
void replay_drop_unmatched(struct hub *hub, struct conn *c)
{
    struct replay **pp = &c->replays;

    while (*pp != NULL) {
        struct replay *r = *pp;

        if (!hub_conn_wants(c, r->topic)) {
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
    struct pl_buf *b = hub_scratch(hub);

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
        hub_cull(hub, c, 1011);
    } else {
        outq_add_paced_bytes(&c->q, pr->placeholder->len);
        hub_wake(hub, c);
    }
    msg_unref(&pr->placeholder);
    free(pr->pattern);
    free(pr);
}

/* The replay learned whether its topic still holds next_seq. */
static void replay_first_page(struct hub *hub, struct conn *c, struct replay *r,
                              bool lost)
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
        struct msg *m = outq_peek(&r->held);

        once_push(hub, c, r->topic, m, false);
        outq_pop(&r->held);
    }
    replay_free(hub, c, &r);
}

static void replay_page_done(void *arg, struct store_job *job);
static void replay_probe_done(void *arg, struct store_job *job);

/* Ask the store for up to `limit` rows of r after next_seq - 1, up to the
 * fence; done takes the answer, and *out stays true until it does. */
static void replay_submit(struct hub *hub, struct conn *c, struct replay *r,
                          int limit,
                          void (*done)(void *arg, struct store_job *job),
                          bool *out)
{
    struct store_job *job = store_job_new(STORE_JOB_AFTER, r->topic->name);

    if (job == NULL) {
        hub_cull(hub, c, 1011);
        return;
    }
    job->conn_id = c->id;
    job->req_id = (int64_t)replay_id(r);
    job->done = done;
    job->done_ctx = hub;
    job->after = r->next_seq - 1;
    job->upto = r->fence;
    job->limit = limit;
    *out = true;
    storage_submit(&hub->storage, job);
}

static void replay_request_page(struct hub *hub, struct conn *c,
                                struct replay *r)
{
    replay_submit(hub, c, r, REPLAY_PAGE_ROWS, replay_page_done,
                  &r->inflight);
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
    if (r->reply == NULL || r->probing || r->first_page_done)
        return;
    if (!hub->cfg.persist) {
        replay_first_page(hub, c, r,
                          hub_recent_get(hub, r->topic, r->next_seq) == NULL);
        return;
    }
    replay_submit(hub, c, r, 1, replay_probe_done, &r->probing);
}

/* Move replays forward while the connection's queue is short. */
void replay_advance(struct hub *hub, struct conn *c)
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
        m = hub_recent_get(hub, r->topic, r->next_seq);
        if (m != NULL) {
            if (!r->first_page_done)
                replay_first_page(hub, c, r, false);
            while (m != NULL && r->next_seq <= r->fence &&
                   c->q.bytes < REPLAY_LOW_BYTES) {
                once_push(hub, c, r->topic, m, true);
                r->next_seq++;
                m = hub_recent_get(hub, r->topic, r->next_seq);
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
                        int64_t start, int64_t fence, struct pending_reply *pr)
{
    struct replay_ref *rr = NULL;
    struct replay **pp = &c->replays;

    if (start < 1)
        start = 1;
    if (start > fence)
        return 0;
    replay_drop_topic(hub, c, t); /* a new sub replaces an old replay */
    rr = calloc(1, sizeof(*rr));
    if (rr == NULL)
        return -ENOMEM;
    rr->id = ++hub->next_replay_id;
    rr->r.topic = t;
    rr->r.next_seq = start;
    rr->r.fence = fence;
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

int replay_resume(struct hub *hub, struct conn *c, struct topic *t,
                  int64_t since)
{
    int64_t start = since + 1;
    int64_t fence = 0;

    if (t->ephemeral || since >= t->seq)
        return 0;
    fence = once_replay_bounds(c, t, &start);
    if (start > fence)
        return 0;
    return replay_start(hub, c, t, start, fence, NULL);
}

struct since_walk {
    struct hub *hub;
    struct conn *c;
    const char *pattern;
    const struct pl_cmd *cmd;
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
    const struct replay *old = NULL;
    int64_t start = 0;
    int64_t fence = 0;

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
    old = replay_find(w->c, t);
    if (old != NULL && old->next_seq < start)
        start = old->next_seq; /* what the replay it replaces still owed */
    /* Only what this connection was not sent yet (at most once). */
    fence = once_replay_bounds(w->c, t, &start);
    if (start > fence)
        return;
    /* The ring answers the recovered question at once; the store only
     * when the ring does not reach back far enough. */
    if (hub_recent_get(w->hub, t, start > 0 ? start : 1) != NULL ||
        !w->cmd->has_since || w->pr == NULL)
        w->rc = replay_start(w->hub, w->c, t, start, fence, NULL);
    else
        w->rc = replay_start(w->hub, w->c, t, start, fence, w->pr);
}

static int since_cb(void *arg, struct topic *t)
{
    since_one(arg, t);
    return 0;
}
/* The replay a completed job was for, or NULL when its connection or
 * its subscription is gone meanwhile. */
static struct replay *replay_of_job(struct hub *hub, struct store_job *job,
                                    struct conn **cp)
{
    struct conn *c = conn_find(&hub->conns, job->conn_id);
    struct replay *r = NULL;

    if (c == NULL)
        return NULL;
    for (r = c->replays; r != NULL; r = r->next)
        if (replay_id(r) == (uint64_t)job->req_id)
            break;
    *cp = c;
    return r;
}

/* The first row settles the sub reply's `recovered` flag. */
static void replay_probe_done(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = NULL;
    struct replay *r = replay_of_job(hub, job, &c);

    if (r == NULL)
        return;
    r->probing = false;
    if (!r->first_page_done)
        replay_first_page(hub, c, r,
                          job->err != 0 || job->n_rows == 0 ||
                              job->rows[0].seq > r->next_seq);
}

/* A page of stored messages: queue them, then ask for more when due. */
static void replay_page_done(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = NULL;
    struct replay *r = replay_of_job(hub, job, &c);
    size_t i;
    bool lost = false;

    if (r == NULL)
        return;
    r->inflight = false;
    if (job->err != 0) {
        struct log_ctx lc = { "replay_failed", c->id, c->user, job->topic };

        log_at(LOG_WARN, &lc, "conn %" PRIu64 ": replay of %s failed", c->id,
               job->topic);
        hub_cull(hub, c, 1011);
        return;
    }
    lost = job->n_rows == 0 || job->rows[0].seq > r->next_seq;
    if (!r->first_page_done)
        replay_first_page(hub, c, r, lost);
    for (i = 0; i < job->n_rows && c->close_code == 0; i++) {
        struct store_row *row = &job->rows[i];
        struct msg *m = hub_recent_get(hub, r->topic, row->seq);

        if (m != NULL) {
            msg_ref(m);
        } else {
            struct pl_msg_refs refs;

            hub_row_refs(row, &refs);
            m = hub_encode_msg_refs(hub, job->topic, row->seq, row->ts,
                                    row->from, row->data, row->data_len,
                                    false, &refs);
            /* The exact MQTT payload, for an MQTT session's replay. */
            if (m != NULL && msg_set_raw(m, row->raw, row->raw_len) < 0)
                msg_unref(&m);
            if (m == NULL) {
                hub_cull(hub, c, 1011);
                return;
            }
        }
        once_push(hub, c, r->topic, m, true);
        msg_unref(&m);
        r->next_seq = row->seq + 1;
    }
    if (job->n_rows == 0 || job->n_rows < (size_t)job->limit)
        r->next_seq = r->fence + 1;
    replay_advance(hub, c);
}
size_t replay_held_bytes(const struct conn *c)
{
    const struct replay *r = NULL;
    size_t n = 0;

    for (r = c->replays; r != NULL; r = r->next)
        n += r->held.bytes;
    return n;
}

/* Fan-out asks: does a replay of t hold live messages for c right now? If
 * so m is held (or c culled when that passes the bound) and true returned:
 * it will be queued right after the replay's fence. */
bool replay_hold(struct hub *hub, struct conn *c, const struct topic *t,
                 struct msg *m)
{
    struct replay *r = replay_find(c, t);

    if (r == NULL)
        return false;
    if (outq_live_bytes(&c->q) + replay_held_bytes(c) + m->len >
            hub->cfg.queue_bytes ||
        c->q.count + r->held.count >= hub->cfg.queue_msgs)
        hub_cull(hub, c, 4008);
    else if (outq_push(&r->held, m) < 0)
        hub_cull(hub, c, 1011);
    return true;
}

/* Start the replays a sub with since/history asks for: its concrete topic
 * t, or (t NULL) every known topic its pattern matches. pr (may be NULL)
 * is the sub's reply, which waits for the replays that need the store to
 * tell whether messages were lost. Returns 0 or -ENOMEM. */
int replay_sub(struct hub *hub, struct conn *c, const struct pl_cmd *cmd,
               struct topic *t, struct pending_reply *pr)
{
    struct since_walk w = {hub, c, cmd->topic, cmd, pr, 0};

    if (t != NULL)
        since_one(&w, t);
    else
        topic_tree_foreach_match(&hub->tree, w.pattern, since_cb, &w);
    return w.rc;
}

/* Drop the caller's hold on a pending sub reply; the last hold sends it. */
void replay_reply_release(struct hub *hub, struct conn *c,
                          struct pending_reply *pr)
{
    if (--pr->waiting == 0)
        pending_reply_fill(hub, c, pr);
}
