/*
 * session.c: what a client says and what it is answered. Parsed commands
 * (hello, sub, unsub, pub, history, presence, ping, topics), from a
 * session or from one API request alike, are checked against the
 * session's state and token, then carried out through the hub; each reply
 * is written once, as a protocol frame, whoever turns it into what. Store
 * completions for publishes and history come back here (the done
 * callbacks the jobs carry) to be acknowledged. Service thread only.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"
#include "topic.h"

/* ------------------------------------------------------------------ */
/* commands                                                            */

static void session_set_user(struct conn *c, const char *user)
{
    char *u = hub_strdup(user);

    if (u != NULL) {
        free(c->user);
        c->user = u;
    }
}

static void cmd_hello(struct hub *hub, struct conn *c,
                      const struct pl_cmd *cmd)
{
    struct pl_buf *b = NULL;
    struct sub *s = NULL;
    char session[32];
    const char *user = NULL;

    if (c->said_hello) {
        hub_send_error(hub, c, cmd->id, PL_ERR_BAD_REQUEST,
                       "already said hello");
        return;
    }
    if (cmd->token != NULL) {
        enum pl_err err = hub_conn_token(hub, c, cmd->token);

        if (err != PL_OK) {
            hub_send_error(hub, c, cmd->id, err, "invalid or expired token");
            return;
        }
    } else if (hub->cfg.secret != NULL) {
        hub_send_error(hub, c, cmd->id, PL_ERR_UNAUTHORIZED,
                       "this server requires a token");
        return;
    }
    user = c->claims != NULL ? c->claims->sub : cmd->name;
    if (user != NULL && strcmp(user, c->user) != 0) {
        /* Presence announced under the old name moves to the new one. */
        for (s = c->subs; s != NULL; s = s->c_next)
            if (s->presence)
                presence_leave(hub, s->topic, c->user);
        session_set_user(c, user);
        for (s = c->subs; s != NULL; s = s->c_next)
            if (s->presence)
                presence_join(hub, s->topic, c->user);
    }
    c->said_hello = true;
    if (cmd->id == 0)
        return;
    snprintf(session, sizeof(session), "%016" PRIx64, c->id);
    b = hub_scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, cmd->id);
    pl_frame_kv_str(b, "session", session);
    pl_frame_kv_str(b, "user", c->user);
    pl_frame_kv_str(b, "server", "parley/" PARLEY_VERSION);
    pl_frame_kv_int(b, "protocol", 1);
    pl_frame_end(b);
    hub_send_buf(hub, c, b);
}

struct retained_walk {
    struct hub *hub;
    struct conn *c;
    const char *pattern;
};

static int retained_cb(void *arg, struct topic *t)
{
    struct retained_walk *w = arg;

    if (t->retained != NULL)
        once_push(w->hub, w->c, t, t->retained, false);
    return 0;
}

/* Fill c's queued placeholder ph with the frame in b: its bytes now count
 * in the queue (as paced), and the writer may pass it. */
static void reply_fill(struct hub *hub, struct conn *c, struct msg *ph,
                       struct pl_buf *b)
{
    if (msg_fill(ph, b) < 0) {
        hub_cull(hub, c, 1011);
    } else {
        outq_add_paced_bytes(&c->q, ph->len);
        hub_wake(hub, c);
    }
}

/* Answer a sub with an error: on its waiting reply (gate) when it has
 * one, which takes the caller's reference, else as a new frame. */
static void sub_error(struct hub *hub, struct conn *c, struct msg *gate,
                      int64_t id, enum pl_err err, const char *why)
{
    struct pl_buf *b = NULL;

    if (gate == NULL) {
        hub_send_error(hub, c, id, err, why);
        return;
    }
    b = hub_scratch(hub);
    hub->stats.errors_sent++;
    pl_frame_error(b, id, err, why);
    reply_fill(hub, c, gate, b);
    msg_unref(&gate);
}

/* Subscribe, send the retained copies or start the replays, and answer.
 * gate: NULL, or the reply's placeholder already queued (a sub that had
 * to wait for the topic's state): the reply fills it, taking the
 * caller's reference. */
static void sub_run(struct hub *hub, struct conn *c, const struct pl_cmd *cmd,
                    struct msg *gate)
{
    bool is_pattern = pl_topic_is_pattern(cmd->topic, cmd->topic_len);
    struct sub *s = hub_sub_find(hub, c, cmd->topic);
    struct pending_reply *pr = NULL;
    bool replaying = cmd->has_since || cmd->has_history;

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, cmd->topic)) {
        sub_error(hub, c, gate, cmd->id, PL_ERR_FORBIDDEN,
                  "token does not allow subscribing to this topic");
        return;
    }
    if (s == NULL) {
        sys_before_sub(hub, cmd->topic);
        if (c->n_subs >= hub->cfg.max_subs) {
            hub->stats.subs_refused++;
            sub_error(hub, c, gate, cmd->id, PL_ERR_OVERLOADED,
                      "too many subscriptions on this connection");
            return;
        }
        s = hub_sub_add(hub, c, cmd->topic, is_pattern);
        if (s == NULL) {
            sub_error(hub, c, gate, cmd->id, PL_ERR_INTERNAL, "out of memory");
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
        if (pr == NULL || (pr->pattern = hub_strdup(cmd->topic)) == NULL ||
            (pr->placeholder = gate != NULL ? gate : msg_placeholder()) ==
                NULL) {
            if (pr != NULL)
                free(pr->pattern);
            free(pr);
            sub_error(hub, c, gate, cmd->id, PL_ERR_INTERNAL, "out of memory");
            return;
        }
        pr->id = cmd->id;
        pr->recovered = true;
        pr->want_recovered = cmd->has_since;
        pr->seq = is_pattern ? -1 : s->topic->seq;
        /* The reply takes its place in the queue now, filled later (a
         * gate has its place already). */
        if (gate == NULL)
            hub_push(hub, c, pr->placeholder, true);
        if (c->close_code != 0) {
            msg_unref(&pr->placeholder);
            free(pr->pattern);
            free(pr);
            return;
        }
        pr->waiting = 1; /* our own hold until the walk below is done */
    }

    if (!replaying) {
        struct retained_walk rw = {hub, c, cmd->topic};

        if (is_pattern)
            topic_tree_foreach_match(&hub->tree, rw.pattern, retained_cb,
                                     &rw);
        else if (s->topic->retained != NULL)
            once_push(hub, c, s->topic, s->topic->retained, false);
    } else {
        if (replay_sub(hub, c, cmd, is_pattern ? NULL : s->topic, pr) != 0)
            hub_cull(hub, c, 1011);
    }
    if (pr != NULL)
        replay_reply_release(hub, c, pr);
    replay_advance(hub, c);
}

/* A sub waiting for its topic's state (shared storage). */
struct sub_wait {
    struct sub_wait *prev, *next; /* in hub->sub_waits */
    uint64_t conn_id;
    bool cancelled;      /* an unsub of the same pattern came meanwhile */
    struct msg *gate;    /* the reply's place in the queue, or NULL */
    struct pl_cmd cmd;   /* a copy; only topic is owned */
};

/* Unlink (when linked) and free. */
static void sub_wait_free(struct hub *hub, struct sub_wait **swp)
{
    struct sub_wait *sw = *swp;

    *swp = NULL;
    if (sw->prev != NULL)
        sw->prev->next = sw->next;
    else if (hub->sub_waits == sw)
        hub->sub_waits = sw->next;
    if (sw->next != NULL)
        sw->next->prev = sw->prev;
    if (sw->gate != NULL)
        msg_unref(&sw->gate);
    free(sw->cmd.topic);
    free(sw);
}

/* The topic's state as the shared storage has it now. Taken when it is
 * not older than what this node holds: a newer seq heard meanwhile keeps
 * its own retained value. */
static void state_apply_one(struct hub *hub, const char *name,
                            int64_t last_seq, const struct store_row *r)
{
    struct topic *t = hub_topic(hub, name, true);

    if (t == NULL || last_seq < t->seq)
        return;
    t->seq = last_seq;
    if (r != NULL)
        hub_set_retained(hub, t, r->seq, r->ts, r->from, r->data, r->data_len,
                         false, r->raw, r->raw_len);
    else
        msg_unref(&t->retained);
}

static void state_apply(struct hub *hub, const struct store_job *job)
{
    state_apply_one(hub, job->topic, job->last_seq,
                    job->n_rows > 0 ? job->rows : NULL);
}

/* A pattern's state: the cluster's topics it matches that this node did
 * not follow yet (marks[], retained values in rows[] by topic), so its
 * replays and retained values cover them too. */
static void state_apply_pattern(struct hub *hub, const struct store_job *job)
{
    for (size_t i = 0; i < job->n_marks; i++) {
        const struct store_mark *m = &job->marks[i];
        const struct store_row *r = NULL;

        for (size_t k = 0; k < job->n_rows && r == NULL; k++)
            if (job->rows[k].topic != NULL &&
                strcmp(job->rows[k].topic, m->topic) == 0)
                r = &job->rows[k];
        state_apply_one(hub, m->topic, m->seq, r);
    }
}

void hub_state_apply(struct hub *hub, const struct store_job *job,
                     bool is_pattern)
{
    if (is_pattern)
        state_apply_pattern(hub, job);
    else
        state_apply(hub, job);
}

/* The ok a sub would get, without subscribing (it was cancelled). */
static void sub_answer_only(struct hub *hub, struct conn *c,
                            const struct pl_cmd *cmd, struct msg *gate)
{
    struct pl_buf *b = NULL;
    struct topic *t = hub_topic(hub, cmd->topic, false);

    if (gate == NULL)
        return;
    b = hub_scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, cmd->id);
    pl_frame_kv_str(b, "topic", cmd->topic);
    if (!pl_topic_is_pattern(cmd->topic, cmd->topic_len))
        pl_frame_kv_int(b, "seq", t != NULL ? t->seq : 0);
    pl_frame_end(b);
    reply_fill(hub, c, gate, b);
    msg_unref(&gate);
}

static void session_done_state(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = conn_find(&hub->conns, job->conn_id);
    struct sub_wait *sw = job->udata;

    bool is_pattern = pl_topic_is_pattern(sw->cmd.topic, sw->cmd.topic_len);

    job->udata = NULL;
    if (c != NULL && c->close_code == 0) {
        if (job->err != 0 && !job->ephemeral) {
            sub_error(hub, c, sw->gate, sw->cmd.id, (enum pl_err)job->err,
                      "the topic's state could not be read");
        } else {
            /* An ephemeral topic has no state (this node's own seq
             * stays), and without Redis its sub still works here, as on
             * a single node: the link subscribes when it is back. */
            if (!job->ephemeral)
                hub_state_apply(hub, job, is_pattern);
            if (sw->cancelled) /* unsubscribed before it was answered */
                sub_answer_only(hub, c, &sw->cmd, sw->gate);
            else
                sub_run(hub, c, &sw->cmd, sw->gate);
        }
        sw->gate = NULL;
    }
    /* sub_run took its own watch when it subscribed */
    storage_watch(&hub->storage, sw->cmd.topic, is_pattern, false);
    sub_wait_free(hub, &sw);
}

/*
 * With shared storage (a cluster) the node's idea of a topic may be old:
 * other nodes publish. The sub first reads the topic's state; the engine
 * answers once its subscription is active and it handed over every
 * message up to that state, so the reply's seq and a replay's fence are
 * the cluster's and nothing published after the reply is missed (for a
 * pattern, the state is only that its subscription is active). Meanwhile the reply holds its
 * place in the queue, so replies keep the order of the commands. An
 * ephemeral topic or pattern (never stored) waits only for its
 * subscription, so that another node's typing event published after the
 * ok reaches it.
 */
static void sub_defer(struct hub *hub, struct conn *c, const struct pl_cmd *cmd,
                      bool ephemeral)
{
    struct sub_wait *sw = calloc(1, sizeof(*sw));
    struct store_job *job = store_job_new(STORE_JOB_STATE, cmd->topic);

    if (sw == NULL || job == NULL ||
        (sw->cmd.topic = hub_strdup(cmd->topic)) == NULL ||
        (cmd->id != 0 && (sw->gate = msg_placeholder()) == NULL)) {
        if (sw != NULL)
            sub_wait_free(hub, &sw);
        store_job_free(&job);
        hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    sw->cmd.op = cmd->op;
    sw->cmd.id = cmd->id;
    sw->cmd.topic_len = cmd->topic_len;
    sw->cmd.has_since = cmd->has_since;
    sw->cmd.since = cmd->since;
    sw->cmd.has_history = cmd->has_history;
    sw->cmd.history = cmd->history;
    sw->cmd.presence = cmd->presence;
    sw->conn_id = c->id;
    sw->next = hub->sub_waits;
    if (sw->next != NULL)
        sw->next->prev = sw;
    hub->sub_waits = sw;
    if (sw->gate != NULL)
        hub_push(hub, c, sw->gate, true); /* the queue takes its own ref */
    storage_watch(&hub->storage, cmd->topic,
                  pl_topic_is_pattern(cmd->topic, cmd->topic_len), true);
    job->ephemeral = ephemeral;
    job->conn_id = c->id;
    job->req_id = cmd->id;
    job->udata = sw;
    job->done = session_done_state;
    job->done_ctx = hub;
    storage_submit(&hub->storage, job);
}

static void cmd_sub(struct hub *hub, struct conn *c, const struct pl_cmd *cmd)
{
    /* A `$` topic is this node's own: no other node publishes it. */
    if (storage_is_shared(&hub->storage) && hub->cfg.persist &&
        cmd->topic[0] != '$')
        sub_defer(hub, c, cmd, hub_is_ephemeral(hub, cmd->topic));
    else
        sub_run(hub, c, cmd, NULL);
}

static void cmd_unsub(struct hub *hub, struct conn *c,
                      const struct pl_cmd *cmd)
{
    struct sub *s = hub_sub_find(hub, c, cmd->topic);
    struct sub_wait *sw = NULL;

    if (s != NULL)
        hub_sub_remove(hub, s);
    /* A sub still waiting for its state must not subscribe after this. */
    for (sw = hub->sub_waits; sw != NULL; sw = sw->next)
        if (sw->conn_id == c->id && strcmp(sw->cmd.topic, cmd->topic) == 0)
            sw->cancelled = true;
    hub_send_ok(hub, c, cmd->id);
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
    struct pl_buf *b = NULL;

    if (id == 0)
        return;
    b = hub_scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, id);
    pl_frame_kv_str(b, "topic", topic);
    pl_frame_kv_int(b, "seq", seq);
    if (duplicate)
        pl_frame_kv_bool(b, "duplicate", true);
    pl_frame_end(b);
    hub_send_buf(hub, c, b);
}

static void session_done_pub(void *arg, struct store_job *job);
static void session_done_history(void *arg, struct store_job *job);

/*
 * pub, and the chat ops that store a message like it (#16): edit (new
 * data for cmd->seq) and delete (data null, erasing cmd->seq). Whether
 * the target may be edited or deleted is the store's to judge, inside the
 * batch that stores the new message, since only it knows every stored
 * message's author.
 */
static void do_publish(struct hub *hub, struct conn *c,
                       const struct pl_cmd *cmd)
{
    struct store_job *job = NULL;
    struct topic *t = NULL;
    struct pl_msg_refs refs = {0, 0, cmd->reply_to, false};
    bool chat_op = cmd->op == PL_OP_EDIT || cmd->op == PL_OP_DELETE;
    struct storage_relay_msg relay;
    int64_t ts = 0;

    hub->stats.messages_in++;
    if (cmd->topic[0] == '$') {
        hub_send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                       "topics beginning with '$' are reserved for the server");
        return;
    }
    if (c->claims != NULL && !pl_claims_may_pub(c->claims, cmd->topic)) {
        hub_send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                       "token does not allow publishing to this topic");
        return;
    }
    /* An API request is one command: a bucket of its own means nothing. */
    if (c->origin != CONN_REQUEST && !rate_allows(hub, c)) {
        hub->stats.rate_limited++;
        hub_send_error(hub, c, cmd->id, PL_ERR_RATE_LIMITED,
                       "publishing too fast");
        return;
    }
    if (chat_op && (hub_is_ephemeral(hub, cmd->topic) || !hub->cfg.persist)) {
        hub_send_error(hub, c, cmd->id, PL_ERR_BAD_REQUEST,
                       "messages of a topic that is not stored cannot be "
                       "edited or deleted");
        return;
    }
    if (hub_is_ephemeral(hub, cmd->topic) || !hub->cfg.persist) {
        t = hub_topic(hub, cmd->topic, true);
        if (t == NULL) {
            hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
            return;
        }
        ts = hub_now(hub);
        hub_publish_commit_refs(hub, t, t->seq + 1, ts, c->user, cmd->data,
                                cmd->data_len, cmd->data_is_null, cmd->retain,
                                &refs, cmd->raw, cmd->raw_len);
        /* A cluster's other nodes number and fan it out themselves; this
         * node's subscribers were just served, and the ack keeps the
         * single-node meaning (delivered here, at once). A reply_to is
         * not sent along: it names a seq of this node's numbering. */
        relay = (struct storage_relay_msg){
            .topic = t->name,
            .ts = ts,
            .from = c->user,
            .data = cmd->data,
            .data_len = cmd->data_len,
            .retain = cmd->retain,
            .raw = cmd->raw,
            .raw_len = cmd->raw_len,
        };
        storage_relay(&hub->storage, &relay);
        ack_pub(hub, c, cmd->id, t->name, t->seq, false);
        return;
    }
    if (storage_pending(&hub->storage) >= hub->cfg.store_pending_max) {
        hub->stats.overloaded++;
        hub_send_error(hub, c, cmd->id, PL_ERR_OVERLOADED,
                       "the store is behind; try again");
        return;
    }
    job = store_job_new(STORE_JOB_PUB, cmd->topic);
    if (job == NULL ||
        store_job_set_pub(job, cmd->data, cmd->data_len, cmd->data_is_null,
                          cmd->retain, c->user, cmd->key, hub_now(hub)) < 0 ||
        store_job_set_raw(job, cmd->raw, cmd->raw_len) < 0 ||
        store_job_set_qos2(job, cmd->qos2_client, cmd->qos2_id) < 0) {
        store_job_free(&job);
        hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    job->edit_of = cmd->op == PL_OP_EDIT ? cmd->seq : 0;
    job->redacts = cmd->op == PL_OP_DELETE ? cmd->seq : 0;
    job->reply_to = cmd->reply_to;
    job->conn_id = c->id;
    job->req_id = cmd->id;
    job->done = session_done_pub;
    job->done_ctx = hub;
    c->pending_pubs++;
    storage_submit(&hub->storage, job);
}

static void history_request(struct hub *hub, struct conn *c, int64_t id,
                            const char *topic, int64_t before, int limit)
{
    struct store_job *job = NULL;
    struct topic *t = hub_topic(hub, topic, false);

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, topic)) {
        hub_send_error(hub, c, id, PL_ERR_FORBIDDEN,
                       "token does not allow reading this topic");
        return;
    }
    /* Known empty: nothing stored. With shared storage only the storage
     * knows (another node may have published). */
    if (!hub->cfg.persist || hub_is_ephemeral(hub, topic) ||
        (!storage_is_shared(&hub->storage) && (t == NULL || t->seq == 0))) {
        struct pl_buf *b = NULL;

        if (id == 0)
            return;
        b = hub_scratch(hub);
        pl_frame_begin(b, "ok");
        pl_frame_id(b, id);
        pl_frame_kv_str(b, "topic", topic);
        pl_frame_kv_raw(b, "messages", "[]", 2);
        pl_frame_end(b);
        hub_send_buf(hub, c, b);
        return;
    }
    if (id == 0)
        return; /* nothing to answer, nothing to do */
    job = store_job_new(STORE_JOB_BEFORE, topic);
    if (job == NULL) {
        hub_send_error(hub, c, id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    job->req_id = id;
    job->done = session_done_history;
    job->before = before;
    job->limit = limit;
    hub_submit_read(hub, c, job);
}

/* hub_submit_read, with or without the cap on reads in flight. */
static int submit_answered(struct hub *hub, struct conn *c,
                           struct store_job *job, bool capped)
{
    struct msg *ph = NULL;

    if (capped && c->pending_reads >= HISTORY_INFLIGHT_MAX) {
        hub->stats.overloaded++;
        hub_send_error(hub, c, job->req_id, PL_ERR_OVERLOADED,
                       "too many reads in flight");
        store_job_free(&job);
        return -1;
    }
    /* A command without an id (a mark) is answered by nobody: no
     * placeholder then, and hub_read_conn returns NULL. */
    if (job->req_id != 0) {
        ph = msg_placeholder();
        if (ph == NULL) {
            hub_send_error(hub, c, job->req_id, PL_ERR_INTERNAL,
                           "out of memory");
            store_job_free(&job);
            return -1;
        }
        hub_push(hub, c, ph, true);
    }
    job->conn_id = c->id;
    job->done_ctx = hub;
    job->udata = ph; /* the job's reference to the placeholder */
    c->pending_reads++;
    storage_submit(&hub->storage, job);
    return 0;
}

int hub_submit_read(struct hub *hub, struct conn *c, struct store_job *job)
{
    return submit_answered(hub, c, job, true);
}

/* A write that a reply waits for committed (or not): fill its place. */
static void session_done_write(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = hub_read_conn(hub, job);
    struct pl_buf *b = NULL;

    if (c == NULL)
        return;
    b = hub_scratch(hub);
    if (job->err != 0) {
        pl_frame_error(b, job->req_id, PL_ERR_INTERNAL,
                       "the change could not be stored");
    } else {
        pl_frame_begin(b, "ok");
        pl_frame_id(b, job->req_id);
        pl_frame_end(b);
    }
    hub_read_reply(hub, c, job, b);
}

/* Not capped like reads: the caller bounds its own commands (an MQTT
 * connection stops reading past MQTT_RX_PAUSE_OPS waiting). */
int hub_conn_store_write(struct hub *hub, struct conn *c, int64_t id,
                         struct store_job *job)
{
    assert(id != 0);
    job->req_id = id;
    job->done = session_done_write;
    return submit_answered(hub, c, job, false);
}

struct conn *hub_read_conn(struct hub *hub, struct store_job *job)
{
    struct conn *c = conn_find(&hub->conns, job->conn_id);

    if (c != NULL && c->pending_reads > 0)
        c->pending_reads--;
    if (c == NULL || c->close_code != 0 || job->udata == NULL) {
        struct msg *ph = job->udata;

        job->udata = NULL;
        msg_unref(&ph);
        return NULL;
    }
    return c;
}

void hub_read_reply(struct hub *hub, struct conn *c, struct store_job *job,
                    struct pl_buf *b)
{
    struct msg *ph = job->udata;

    job->udata = NULL;
    if (msg_fill(ph, b) < 0) {
        hub_cull(hub, c, 1011);
    } else {
        outq_add_paced_bytes(&c->q, ph->len);
        hub_wake(hub, c);
    }
    msg_unref(&ph);
}

/* Open the ok frame of a presence reply, up to the members' '['. */
static void members_open(struct pl_buf *b, int64_t id, const char *topic)
{
    pl_frame_begin(b, "ok");
    pl_frame_id(b, id);
    pl_frame_kv_str(b, "topic", topic);
    pl_buf_cstr(b, ",\"members\":[");
}

/* The cluster's members arrived: fill the reply's placeholder. */
static void session_done_members(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = conn_find(&hub->conns, job->conn_id);
    struct msg *ph = job->udata;
    struct pl_buf *b = hub_scratch(hub);
    size_t i;

    job->udata = NULL;
    if (job->err != 0) {
        hub->stats.errors_sent++;
        pl_frame_error(b, job->req_id, (enum pl_err)job->err,
                       "the members could not be read");
    } else {
        members_open(b, job->req_id, job->topic);
        for (i = 0; i < job->n_rows; i++) {
            if (i > 0)
                pl_buf_cstr(b, ",");
            pl_buf_json_str(b, job->rows[i].from,
                            strlen(job->rows[i].from));
        }
        pl_buf_cstr(b, "]");
        pl_frame_end(b);
    }
    if (c != NULL && c->close_code == 0)
        reply_fill(hub, c, ph, b);
    msg_unref(&ph);
}

/* With shared storage the members are the cluster's: read them, with the
 * reply's place held in the queue. */
static void members_request(struct hub *hub, struct conn *c,
                            const struct pl_cmd *cmd)
{
    struct store_job *job = store_job_new(STORE_JOB_MEMBERS, cmd->topic);
    struct msg *ph = msg_placeholder();

    if (job == NULL || ph == NULL) {
        store_job_free(&job);
        if (ph != NULL)
            msg_unref(&ph);
        hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    hub_push(hub, c, ph, true);
    job->conn_id = c->id;
    job->req_id = cmd->id;
    job->udata = ph; /* the job's reference to the placeholder */
    job->done = session_done_members;
    job->done_ctx = hub;
    storage_submit(&hub->storage, job);
}

static void cmd_presence(struct hub *hub, struct conn *c,
                         const struct pl_cmd *cmd)
{
    struct topic *t = hub_topic(hub, cmd->topic, false);
    struct member *m = NULL;
    struct pl_buf *b = NULL;
    bool first = true;

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, cmd->topic)) {
        hub_send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                       "token does not allow reading this topic");
        return;
    }
    if (cmd->id == 0)
        return;
    if (storage_shares_presence(&hub->storage)) {
        members_request(hub, c, cmd);
        return;
    }
    b = hub_scratch(hub);
    members_open(b, cmd->id, cmd->topic);
    for (m = t ? t->members : NULL; m != NULL; m = m->next) {
        if (!first)
            pl_buf_cstr(b, ",");
        first = false;
        pl_buf_json_str(b, m->user, strlen(m->user));
    }
    pl_buf_cstr(b, "]");
    pl_frame_end(b);
    hub_send_buf(hub, c, b);
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
    struct topics_walk w = {
        hub, c, prefix ? prefix : "", prefix ? strlen(prefix) : 0, b, 0};

    pl_buf_cstr(b, "\"topics\":[");
    topic_tree_foreach(&hub->tree, topics_cb, &w);
    pl_buf_cstr(b, "]");
}

/* The cluster's topics arrived (shared storage): the same list as
 * topics_list, from the registry in storage. */
static void session_done_topics(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = hub_read_conn(hub, job);
    struct pl_buf *b = NULL;

    if (c == NULL)
        return;
    b = hub_scratch(hub);
    if (job->err != 0) {
        pl_frame_error(b, job->req_id, (enum pl_err)job->err,
                       "the topics could not be listed");
        hub_read_reply(hub, c, job, b);
        return;
    }
    pl_frame_begin(b, "ok");
    pl_frame_id(b, job->req_id);
    pl_buf_cstr(b, ",\"topics\":[");
    for (size_t i = 0; i < job->n_marks; i++) {
        const struct store_mark *m = &job->marks[i];

        pl_buf_cstr(b, i > 0 ? ",{\"topic\":" : "{\"topic\":");
        pl_buf_json_str(b, m->topic, strlen(m->topic));
        pl_buf_cstr(b, ",\"seq\":");
        pl_buf_int(b, m->seq);
        pl_buf_cstr(b, m->retained ? ",\"retained\":true"
                                   : ",\"retained\":false");
        pl_buf_cstr(b, ",\"members\":");
        pl_buf_int(b, m->members);
        pl_buf_cstr(b, "}");
    }
    pl_buf_cstr(b, "]");
    pl_frame_end(b);
    hub_read_reply(hub, c, job, b);
}

/* With shared storage this node knows only the topics it heard: the
 * engine lists the cluster's (its topic registry). */
static void topics_request(struct hub *hub, struct conn *c,
                           const struct pl_cmd *cmd)
{
    hub_submit_listing(hub, c, cmd, STORE_JOB_TOPICS, session_done_topics);
}

int hub_submit_listing(struct hub *hub, struct conn *c,
                       const struct pl_cmd *cmd, enum store_job_kind kind,
                       void (*done)(void *, struct store_job *))
{
    const struct pl_claims *cl = c->claims;
    struct store_job *job =
        store_job_new(kind, cmd->topic != NULL ? cmd->topic : "");

    if (job == NULL || (job->from = hub_strdup(c->user)) == NULL ||
        store_job_set_search(job, NULL, cl != NULL ? cl->allow_sub : NULL,
                             cl != NULL ? cl->n_allow_sub : 0,
                             cl != NULL && cl->has_allow_sub) < 0) {
        store_job_free(&job);
        hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return -1;
    }
    job->limit = TOPICS_LIST_MAX;
    job->req_id = cmd->id;
    job->done = done;
    return hub_submit_read(hub, c, job);
}

bool hub_lists_topics_from_storage(const struct hub *hub)
{
    return storage_is_shared(&hub->storage) && hub->cfg.persist;
}

static void cmd_topics(struct hub *hub, struct conn *c,
                       const struct pl_cmd *cmd)
{
    struct pl_buf *b = NULL;

    if (cmd->id == 0)
        return;
    if (hub_lists_topics_from_storage(hub)) {
        topics_request(hub, c, cmd);
        return;
    }
    b = hub_scratch(hub);
    pl_frame_begin(b, "ok");
    pl_frame_id(b, cmd->id);
    pl_buf_cstr(b, ",");
    topics_list(hub, c, cmd->topic, b);
    pl_frame_end(b);
    hub_send_buf(hub, c, b);
}

void hub_topics_json(struct hub *hub, struct conn *c, const char *prefix,
                     struct pl_buf *b)
{
    pl_buf_cstr(b, "{");
    topics_list(hub, c, prefix, b);
    pl_buf_cstr(b, "}");
}

void hub_conn_cmd(struct hub *hub, struct conn *c, const struct pl_cmd *cmd)
{
    if (c->close_code != 0)
        return;
    if (hub->cfg.secret != NULL && !c->said_hello && cmd->op != PL_OP_HELLO) {
        hub_send_error(hub, c, cmd->id, PL_ERR_UNAUTHORIZED, "say hello first");
        return;
    }

    switch (cmd->op) {
    case PL_OP_HELLO:
        cmd_hello(hub, c, cmd);
        break;
    case PL_OP_SUB:
        cmd_sub(hub, c, cmd);
        break;
    case PL_OP_UNSUB:
        cmd_unsub(hub, c, cmd);
        break;
    case PL_OP_PUB:
    case PL_OP_EDIT:
    case PL_OP_DELETE:
        do_publish(hub, c, cmd);
        break;
    case PL_OP_HISTORY:
        history_request(hub, c, cmd->id, cmd->topic,
                        cmd->has_before ? cmd->before : 0, cmd->limit);
        break;
    case PL_OP_PRESENCE:
        cmd_presence(hub, c, cmd);
        break;
    case PL_OP_PING:
        hub_send_ok(hub, c, cmd->id);
        break;
    case PL_OP_TOPICS:
        cmd_topics(hub, c, cmd);
        break;
    case PL_OP_MARK:
        chat_mark(hub, c, cmd);
        break;
    case PL_OP_UNREAD:
        chat_unread(hub, c, cmd);
        break;
    case PL_OP_SEARCH:
        chat_search(hub, c, cmd);
        break;
    }
}

void hub_conn_text(struct hub *hub, struct conn *c, const char *text,
                   size_t len)
{
    struct pl_cmd cmd;
    struct pl_parse_opts opts = {hub->cfg.max_depth};
    const char *why = "bad request";
    enum pl_err err;

    if (c->close_code != 0)
        return;
    hub->stats.bytes_in += len;
    memset(&cmd, 0, sizeof(cmd));
    err = pl_cmd_parse(text, len, &opts, &cmd, &why);
    if (err != PL_OK) {
        hub_send_error(hub, c, cmd.id, err, why);
        return;
    }
    hub_conn_cmd(hub, c, &cmd);
    pl_cmd_cleanup(&cmd);
}

void hub_conn_binary(struct hub *hub, struct conn *c)
{
    if (c->close_code == 0)
        hub_send_error(hub, c, 0, PL_ERR_BAD_REQUEST,
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
    hub_conn_adopt_claims(hub, c, claims);
    return PL_OK;
}

void hub_conn_adopt_claims(struct hub *hub, struct conn *c,
                           struct pl_claims *claims)
{
    (void)hub;
    if (c->claims != NULL) {
        pl_claims_cleanup(c->claims);
        free(c->claims);
    }
    c->claims = claims;
    session_set_user(c, claims->sub);
    c->said_hello = true; /* a valid token counts as hello, for any origin */
}

/* ------------------------------------------------------------------ */
/* store completions                                                   */

/* A publish committed (or failed): fan it out, ack the publisher. */
static void session_done_pub(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = job->conn_id ? conn_find(&hub->conns, job->conn_id) : NULL;
    struct topic *t = NULL;

    if (c != NULL && c->pending_pubs > 0)
        c->pending_pubs--;
    if (job->err == PL_ERR_FORBIDDEN) {
        if (c != NULL)
            hub_send_error(hub, c, job->req_id, PL_ERR_FORBIDDEN,
                           "only the author may edit or delete a message");
        return;
    }
    if (job->err == PL_ERR_BAD_REQUEST) {
        if (c != NULL)
            hub_send_error(hub, c, job->req_id, PL_ERR_BAD_REQUEST,
                           "no such message to edit or delete (or it is an "
                           "edit, a deletion, or deleted)");
        return;
    }
    if (job->err != 0) {
        hub->stats.publish_failures++;
        if (c != NULL)
            hub_send_error(hub, c, job->req_id, (enum pl_err)job->err,
                           job->err == PL_ERR_OVERLOADED
                               ? "storage unreachable; not stored, try again"
                               : "the message could not be stored");
        return;
    }
    if (!job->duplicate && !job->relayed) {
        struct pl_msg_refs refs = {job->edit_of, job->redacts, job->reply_to,
                                   false};

        t = hub_topic(hub, job->topic, true);
        if (t == NULL) {
            log_error("out of memory creating topic %s", job->topic);
        } else {
            if (job->redacts > 0)
                hub_topic_redacted(hub, t, job->redacts,
                                   job->redacted_retained);
            hub_publish_commit_refs(hub, t, job->seq, job->ts, job->from,
                                    job->data, job->data_len,
                                    job->data_is_null, job->retain, &refs,
                                    job->raw, job->raw_len);
        }
    }
    if (c != NULL)
        ack_pub(hub, c, job->req_id, job->topic, job->seq, job->duplicate);
}

/* History rows arrived: fill the reply's placeholder. */
static void session_done_history(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = hub_read_conn(hub, job);
    struct pl_buf *b = NULL;
    size_t i;

    if (c == NULL)
        return;
    b = hub_scratch(hub);
    if (job->err != 0) {
        pl_frame_error(b, job->req_id, (enum pl_err)job->err,
                       "history could not be read");
    } else {
        pl_frame_begin(b, "ok");
        pl_frame_id(b, job->req_id);
        pl_frame_kv_str(b, "topic", job->topic);
        pl_buf_cstr(b, ",\"messages\":[");
        for (i = 0; i < job->n_rows; i++) {
            struct store_row *r = &job->rows[i];
            struct pl_msg_refs refs;

            if (i > 0)
                pl_buf_cstr(b, ",");
            hub_row_refs(r, &refs);
            pl_frame_history_item_refs(b, r->seq, r->ts, r->from, r->data,
                                       r->data_len, &refs);
        }
        pl_buf_cstr(b, "]}");
    }
    hub_read_reply(hub, c, job, b);
}
