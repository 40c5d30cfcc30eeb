/*
 * once.c: owns the rule that a connection receives each message at most
 * once while it stays subscribed (see hub_internal.h), on top of its table of
 * what it was sent (delivered.c). Hub-internal; service thread only.
 */

#include "hub_internal.h"
#include "topic.h"

bool once_push(struct hub *hub, struct conn *c, const struct topic *t,
               struct msg *m, bool paced)
{
    /* Out of memory only loses the record: m is sent, and a later replay
     * may repeat it. */
    if (delivered_note(&c->delivered, t, m->seq) == 0)
        return false;
    hub_push(hub, c, m, paced);
    return true;
}

struct forget_walk {
    const struct conn *c;
    const char *pattern;
};

static bool forget_cb(void *arg, const void *topic)
{
    const struct forget_walk *w = arg;
    const struct topic *t = topic;

    return pl_topic_match(w->pattern, t->name) && !hub_conn_wants(w->c, t);
}

void once_forget_uncovered(struct hub *hub, struct conn *c,
                           const struct sub *gone)
{
    struct forget_walk w = {c, gone->pattern};

    (void)hub;
    if (c->delivered == NULL)
        return;
    if (!gone->is_pattern) {
        if (!hub_conn_wants(c, gone->topic))
            delivered_forget(c->delivered, gone->topic);
        return;
    }
    delivered_forget_if(c->delivered, forget_cb, &w);
}

int64_t once_replay_bounds(const struct conn *c, const struct topic *t,
                           int64_t *first)
{
    *first = delivered_next_unseen(c->delivered, t, *first < 1 ? 1 : *first);
    return delivered_prev_unseen(c->delivered, t, t->seq);
}
