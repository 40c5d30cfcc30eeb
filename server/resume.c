/*
 * resume.c: a subscription that picks up where a client left off, topic
 * by topic (MQTT clean session 0, #14). A JSON `sub` has one `since` for
 * every topic its pattern covers; a resumed MQTT session has a cursor per
 * topic, so it subscribes without any copy or replay and then starts one
 * replay per known stored topic from that topic's own cursor, with the
 * `since` machinery (replay.c: paced by the client, ring or store, live
 * messages held at the fence). Service thread only.
 */
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

enum pl_err hub_conn_resume(struct hub *hub, struct conn *c,
                            const char *pattern, hub_cursor_fn cursor,
                            void *arg)
{
    bool is_pattern = pl_topic_is_pattern(pattern, strlen(pattern));
    struct sub *s = hub_sub_find(hub, c, pattern);
    struct resume_walk w = {hub, c, cursor, arg, 0};

    if (storage_is_shared(&hub->storage))
        return PL_ERR_INTERNAL; /* a topic's state would have to be asked */
    if (c->claims != NULL && !pl_claims_may_sub(c->claims, pattern))
        return PL_ERR_FORBIDDEN;
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
