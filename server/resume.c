/*
 * resume.c: a subscription that picks up where a client left off, topic
 * by topic (MQTT clean session 0, #14). A JSON `sub` has one `since` for
 * every topic its pattern covers; a resumed MQTT session has a cursor per
 * topic, so it subscribes without any copy or replay and then starts one
 * replay per known stored topic from that topic's own cursor, with the
 * `since` machinery (replay.c: paced by the client, ring or store, live
 * messages held at the fence). Service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"
#include "topic.h"

struct resume_walk {
    struct hub *hub;
    struct conn *c;
    hub_cursor_fn cursor;
    void *arg;
    int rc;
};

static int resume_cb(void *arg, struct topic *t)
{
    struct resume_walk *w = arg;
    int64_t since = 0;

    if (t->ephemeral || t->seq < 1)
        return 0;
    since = w->cursor(w->arg, t->name, t->seq);
    if (since >= 0 && since < t->seq)
        w->rc = replay_resume(w->hub, w->c, t, since);
    return w->rc;
}

static enum pl_err resume_now(struct hub *hub, struct conn *c,
                              const char *pattern, hub_cursor_fn cursor,
                              void *arg)
{
    bool is_pattern = pl_topic_is_pattern(pattern, strlen(pattern));
    struct sub *s = hub_sub_find(hub, c, pattern);
    struct resume_walk w = {hub, c, cursor, arg, 0};

    if (s == NULL) {
        sys_before_sub(hub, pattern);
        if (c->n_subs >= hub->cfg.max_subs) {
            hub->stats.subs_refused++;
            return PL_ERR_OVERLOADED;
        }
        s = hub_sub_add(hub, c, pattern, is_pattern);
        if (s == NULL)
            return PL_ERR_INTERNAL;
    }
    if (is_pattern)
        topic_tree_foreach_match(&hub->tree, pattern, resume_cb, &w);
    else
        resume_cb(&w, s->topic);
    if (w.rc != 0) {
        hub_cull(hub, c, 1011);
        return PL_ERR_INTERNAL;
    }
    replay_advance(hub, c);
    return PL_OK;
}

/* A resume waiting for its pattern's state (shared storage). */
struct resume_wait {
    uint64_t conn_id;
    hub_cursor_fn cursor;
    void *arg;
    bool is_pattern;
    char pattern[];
};

/* The state came: the node now knows the cluster's seqs for the pattern's
 * topics, and the engine handed it every message up to them, so the
 * replay's fences are right and what follows is live. cursor's arg lives
 * as long as the connection (checked first). A state that could not be
 * read closes the connection: the client comes back and resumes again,
 * nothing skipped. */
static void resume_state_done(void *ctx, struct store_job *job)
{
    struct hub *hub = ctx;
    struct resume_wait *rw = job->udata;
    struct conn *c = conn_find(&hub->conns, rw->conn_id);
    enum pl_err err = PL_OK;

    job->udata = NULL;
    if (c != NULL && c->close_code == 0 && job->err != 0) {
        hub_cull(hub, c, 1011);
    } else if (c != NULL && c->close_code == 0) {
        hub_state_apply(hub, job, rw->is_pattern);
        err = resume_now(hub, c, rw->pattern, rw->cursor, rw->arg);
        if (err != PL_OK && err != PL_ERR_INTERNAL)
            hub_cull(hub, c, 1011); /* too many subs: not half resumed */
    }
    storage_watch(&hub->storage, rw->pattern, rw->is_pattern, false);
    free(rw);
}

/* Shared storage: ask the pattern's state first, as a sub does
 * (session.c, sub_defer); watched meanwhile, so nothing published
 * after the state is missed. */
static enum pl_err resume_defer(struct hub *hub, struct conn *c,
                                const char *pattern, hub_cursor_fn cursor,
                                void *arg)
{
    size_t n = strlen(pattern);
    struct resume_wait *rw = malloc(sizeof(*rw) + n + 1);
    struct store_job *job = store_job_new(STORE_JOB_STATE, pattern);

    if (rw == NULL || job == NULL) {
        free(rw);
        store_job_free(&job);
        hub_cull(hub, c, 1011);
        return PL_ERR_INTERNAL;
    }
    rw->conn_id = c->id;
    rw->cursor = cursor;
    rw->arg = arg;
    rw->is_pattern = pl_topic_is_pattern(pattern, n);
    memcpy(rw->pattern, pattern, n + 1);
    storage_watch(&hub->storage, pattern, rw->is_pattern, true);
    job->conn_id = c->id;
    job->udata = rw;
    job->done = resume_state_done;
    job->done_ctx = hub;
    storage_submit(&hub->storage, job);
    return PL_OK;
}

enum pl_err hub_conn_resume(struct hub *hub, struct conn *c,
                            const char *pattern, hub_cursor_fn cursor,
                            void *arg)
{
    if (c->claims != NULL && !pl_claims_may_sub(c->claims, pattern))
        return PL_ERR_FORBIDDEN;
    /* As cmd_sub: a `$` topic is this node's own, an ephemeral one has
     * no state. */
    if (storage_is_shared(&hub->storage) && hub->cfg.persist &&
        pattern[0] != '$' && !hub_is_ephemeral(hub, pattern))
        return resume_defer(hub, c, pattern, cursor, arg);
    return resume_now(hub, c, pattern, cursor, arg);
}

struct seqs_walk {
    void (*fn)(void *arg, const char *topic, int64_t seq);
    void *arg;
};

static int seqs_cb(void *arg, struct topic *t)
{
    struct seqs_walk *w = arg;

    if (!t->ephemeral)
        w->fn(w->arg, t->name, t->seq);
    return 0;
}

void hub_topics_stored(struct hub *hub, const char *pattern,
                       void (*fn)(void *arg, const char *topic, int64_t seq),
                       void *arg)
{
    struct seqs_walk w = {fn, arg};

    if (pl_topic_is_pattern(pattern, strlen(pattern))) {
        topic_tree_foreach_match(&hub->tree, pattern, seqs_cb, &w);
    } else {
        struct topic *t = hub_topic(hub, pattern, false);

        if (t != NULL)
            seqs_cb(&w, t);
    }
}
