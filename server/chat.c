/*
 * chat.c: read markers and unread counts (#16). A marker is a user's read
 * position in a topic, kept by the store (so it is per user, not per
 * connection, and survives restarts) and never moved back. `mark` moves
 * it and tells the user's other connections (`marked`), so every device
 * clears its badge; `unread` lists, for the stored topics a pattern
 * matches and the user may read, the newest seq, the marker and how many
 * messages after it others wrote. `search` asks the store's full-text
 * index for the newest messages matching q in the topics a pattern
 * matches and the token allows. The answers wait for the store through
 * a placeholder, so replies keep their command order. With shared
 * storage (a cluster) the engine keeps the markers, tells other nodes of
 * a moved marker (chat_marked_heard), and lists the stored topics an
 * unread pattern matches, since this node knows only those it heard.
 * Service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "log.h"
#include "topic.h"

#define MARK_NOT_STORED                                                     \
    "read markers are kept for stored topics with messages only"

/* Whether c may keep markers in cmd->topic: a stored topic it may read. Sends the
 * error and returns false when not. */
static bool chat_marker_topic(struct hub *hub, struct conn *c,
                              const struct pl_cmd *cmd)
{
    struct topic *t = hub_topic(hub, cmd->topic, false);

    if (c->claims != NULL && !pl_claims_may_sub(c->claims, cmd->topic)) {
        hub_send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                       "token does not allow reading this topic");
        return false;
    }
    /* With shared storage only the engine knows whether another node
     * stored messages here: it answers bad_request when none. */
    if (!hub->cfg.persist || hub_is_ephemeral(hub, cmd->topic) ||
        (!storage_is_shared(&hub->storage) && (t == NULL || t->seq == 0))) {
        hub_send_error(hub, c, cmd->id, PL_ERR_BAD_REQUEST, MARK_NOT_STORED);
        return false;
    }
    return true;
}

struct marked_walk {
    const char *user;
    uint64_t except;         /* the connection that marked */
    struct msg *m;
    struct hub *hub;
};

static void marked_cb(void *arg, struct conn *c)
{
    struct marked_walk *w = arg;

    if (c->id != w->except && c->origin == CONN_WS && c->close_code == 0 &&
        strcmp(c->user, w->user) == 0)
        hub_push(w->hub, c, w->m, false);
}

/* Tell user's connections other than `except` where the marker is now:
 * {"op":"marked","topic":..,"seq":..}, encoded once. */
static void chat_send_marked(struct hub *hub, const char *user,
                             uint64_t except, const char *topic, int64_t seq)
{
    struct pl_buf *b = hub_scratch(hub);
    struct marked_walk w = {user, except, NULL, hub};

    pl_frame_begin(b, "marked");
    pl_frame_kv_str(b, "topic", topic);
    pl_frame_kv_int(b, "seq", seq);
    pl_frame_end(b);
    w.m = msg_from_buf(b, 0);
    if (w.m == NULL) {
        log_error("out of memory telling %s's connections of a marker",
                  user);
        return;
    }
    conn_table_foreach(&hub->conns, marked_cb, &w);
    msg_unref(&w.m);
}

void chat_marked_heard(struct hub *hub, const char *user, const char *topic,
                       int64_t seq)
{
    chat_send_marked(hub, user, 0, topic, seq);
}

/* The answer to a store read for c: the scratch buffer with the ok frame
 * begun, or NULL after the error frame (saying why) was sent instead. */
static struct pl_buf *chat_reply_begin(struct hub *hub, struct conn *c,
                                       struct store_job *job, const char *why)
{
    struct pl_buf *b = hub_scratch(hub);

    if (job->err != 0) {
        pl_frame_error(b, job->req_id, (enum pl_err)job->err, why);
        hub_read_reply(hub, c, job, b);
        return NULL;
    }
    pl_frame_begin(b, "ok");
    pl_frame_id(b, job->req_id);
    return b;
}

/* A MARK committed (or was refused): answer, then tell the others. */
static void chat_done_mark(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = hub_read_conn(hub, job);
    struct pl_buf *b = NULL;
    const char *why = NULL;

    if (job->err == 0 && !job->duplicate)
        chat_send_marked(hub, job->from, job->conn_id, job->topic, job->seq);
    why = job->err == PL_ERR_BAD_REQUEST
              ? MARK_NOT_STORED
              : "the read marker could not be stored";
    if (c == NULL) {
        /* A mark without an id hears only of its failure. */
        c = job->req_id == 0 ? conn_find(&hub->conns, job->conn_id) : NULL;
        if (c != NULL && c->close_code == 0 && job->err != 0)
            hub_send_error(hub, c, 0, (enum pl_err)job->err, why);
        return;
    }
    b = chat_reply_begin(hub, c, job, why);
    if (b == NULL)
        return;
    pl_frame_kv_str(b, "topic", job->topic);
    pl_frame_kv_int(b, "seq", job->seq);
    pl_frame_end(b);
    hub_read_reply(hub, c, job, b);
}

void chat_mark(struct hub *hub, struct conn *c, const struct pl_cmd *cmd)
{
    struct store_job *job = NULL;

    if (!chat_marker_topic(hub, c, cmd))
        return;
    job = store_job_new(STORE_JOB_MARK, cmd->topic);
    if (job != NULL && (job->from = hub_strdup(c->user)) == NULL)
        store_job_free(&job);
    if (job == NULL) {
        hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    job->req_id = cmd->id;
    job->mark_seq = cmd->seq;
    job->done = chat_done_mark;
    hub_submit_read(hub, c, job);
}

/* {"op":"ok","id":id,"<key>":[]}: the answer when nothing is stored. */
static void chat_send_empty(struct hub *hub, struct conn *c, int64_t id,
                            const char *key)
{
    struct pl_buf *b = hub_scratch(hub);

    pl_frame_begin(b, "ok");
    pl_frame_id(b, id);
    pl_frame_kv_raw(b, key, "[]", 2);
    pl_frame_end(b);
    hub_send_buf(hub, c, b);
}

/* The stored topics an unread pattern covers for c. */
struct unread_walk {
    struct hub *hub;
    const struct conn *c;
    const char *pattern;
    const struct topic **found;
    size_t n;
};

static int unread_cb(void *arg, struct topic *t)
{
    struct unread_walk *w = arg;

    if (w->n >= TOPICS_LIST_MAX)
        return 1;
    if (t->seq == 0 || t->ephemeral || !pl_topic_match(w->pattern, t->name))
        return 0;
    if (w->c->claims != NULL && !pl_claims_may_sub(w->c->claims, t->name))
        return 0;
    w->found[w->n++] = t;
    return 0;
}

/* Markers and counts arrived: answer with one entry per topic. */
static void chat_done_unread(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = hub_read_conn(hub, job);
    struct pl_buf *b = NULL;

    if (c == NULL)
        return;
    b = chat_reply_begin(hub, c, job, "unread counts could not be read");
    if (b == NULL)
        return;
    pl_buf_cstr(b, ",\"topics\":[");
    for (size_t i = 0; i < job->n_marks; i++) {
        const struct store_mark *m = &job->marks[i];

        pl_buf_cstr(b, i > 0 ? ",{\"topic\":" : "{\"topic\":");
        pl_buf_json_str(b, m->topic, strlen(m->topic));
        pl_frame_kv_int(b, "seq", m->seq);
        pl_frame_kv_int(b, "marked", m->marked);
        pl_frame_kv_int(b, "unread", m->unread);
        if (m->more)
            pl_frame_kv_bool(b, "more", true);
        pl_buf_cstr(b, "}");
    }
    pl_buf_cstr(b, "]}");
    hub_read_reply(hub, c, job, b);
}

void chat_unread(struct hub *hub, struct conn *c, const struct pl_cmd *cmd)
{
    struct unread_walk w = {hub, c, cmd->topic, NULL, 0};
    struct store_job *job = NULL;

    if (cmd->id == 0)
        return; /* a question nobody waits for */
    if (c->claims != NULL && !pl_claims_may_sub(c->claims, cmd->topic) &&
        !pl_topic_is_pattern(cmd->topic, cmd->topic_len)) {
        hub_send_error(hub, c, cmd->id, PL_ERR_FORBIDDEN,
                       "token does not allow reading this topic");
        return;
    }
    if (!hub->cfg.persist) {
        chat_send_empty(hub, c, cmd->id, "topics"); /* no store, no markers */
        return;
    }
    if (storage_is_shared(&hub->storage)) {
        /* the engine lists the stored topics the pattern matches and the
         * token allows: this node knows only the topics it heard */
        (void)hub_submit_listing(hub, c, cmd, STORE_JOB_UNREAD,
                                 chat_done_unread);
        return;
    }
    w.found = calloc(TOPICS_LIST_MAX, sizeof(*w.found));
    job = store_job_new(STORE_JOB_UNREAD, NULL);
    if (w.found == NULL || job == NULL ||
        (job->from = hub_strdup(c->user)) == NULL)
        goto oom;
    if (pl_topic_is_pattern(cmd->topic, cmd->topic_len)) {
        topic_tree_foreach(&hub->tree, unread_cb, &w);
    } else {
        struct topic *t = hub_topic(hub, cmd->topic, false);

        if (t != NULL)
            unread_cb(&w, t);
    }
    if (store_job_set_marks(job, w.n) < 0)
        goto oom;
    for (size_t i = 0; i < w.n; i++)
        if ((job->marks[i].topic = hub_strdup(w.found[i]->name)) == NULL)
            goto oom;
    free(w.found);
    job->req_id = cmd->id;
    job->done = chat_done_unread;
    hub_submit_read(hub, c, job);
    return;

oom:
    free(w.found);
    store_job_free(&job);
    hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
}

/* Search results arrived: newest first, each with its topic. */
static void chat_done_search(void *arg, struct store_job *job)
{
    struct hub *hub = arg;
    struct conn *c = hub_read_conn(hub, job);
    struct pl_buf *b = NULL;

    if (c == NULL)
        return;
    b = chat_reply_begin(hub, c, job,
                         job->unsupported ? "search is not available in "
                                            "cluster mode"
                         : job->err == PL_ERR_BAD_REQUEST
                             ? "q holds no word to search for"
                             : "search failed");
    if (b == NULL)
        return;
    pl_buf_cstr(b, ",\"messages\":[");
    for (size_t i = 0; i < job->n_rows; i++) {
        const struct store_row *r = &job->rows[i];
        struct pl_msg_refs refs;

        if (i > 0)
            pl_buf_cstr(b, ",");
        hub_row_refs(r, &refs);
        pl_frame_topic_item(b, r->topic, r->seq, r->ts, r->from, r->data,
                            r->data_len, &refs);
    }
    pl_buf_cstr(b, "]}");
    hub_read_reply(hub, c, job, b);
}

void chat_search(struct hub *hub, struct conn *c, const struct pl_cmd *cmd)
{
    const struct pl_claims *cl = c->claims;
    struct store_job *job = NULL;

    if (cmd->id == 0)
        return; /* a question nobody waits for */
    if (!hub->cfg.persist) {
        chat_send_empty(hub, c, cmd->id, "messages"); /* nothing stored */
        return;
    }
    job = store_job_new(STORE_JOB_SEARCH, cmd->topic);
    if (job == NULL ||
        store_job_set_search(job, cmd->query,
                             cl != NULL ? cl->allow_sub : NULL,
                             cl != NULL ? cl->n_allow_sub : 0,
                             cl != NULL && cl->has_allow_sub) < 0) {
        store_job_free(&job);
        hub_send_error(hub, c, cmd->id, PL_ERR_INTERNAL, "out of memory");
        return;
    }
    job->req_id = cmd->id;
    job->before = cmd->has_before ? cmd->before : 0;
    job->limit = cmd->limit;
    job->done = chat_done_search;
    hub_submit_read(hub, c, job);
}
