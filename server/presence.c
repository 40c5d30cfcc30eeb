/*
 * presence.c: who is in a topic. A member is a user with at least one
 * presence:true subscription to the topic, counted once however many
 * connections it has; `join` goes out when the first arrives and `leave`
 * when the last goes, to the topic's presence subscribers other than the
 * user's own connections. Service thread only.
 *
 * With shared storage (a cluster) the members counted here are this
 * node's; the first and last of them go to the storage instead, which
 * counts nodes and hands every node one join or leave for the cluster
 * (presence_heard), and answers the member list (session.c).
 */
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"

static struct member *member_find(struct topic *t, const char *user)
{
    struct member *m = t->members;

    while (m != NULL && strcmp(m->user, user) != 0)
        m = m->next;
    return m;
}

static void presence_notify(struct hub *hub, struct topic *t, const char *op,
                            const char *user)
{
    struct msg *m = NULL;
    struct sub *s = NULL;
    struct pl_buf *b = hub_scratch(hub);

    pl_frame_begin(b, op);
    pl_frame_kv_str(b, "topic", t->name);
    pl_frame_kv_str(b, "user", user);
    pl_frame_end(b);
    m = msg_from_buf(b, 0);
    if (m == NULL)
        return;
    for (s = t->subs.head; s != NULL; s = s->t_next)
        if (s->presence && strcmp(s->conn->user, user) != 0)
            hub_push(hub, s->conn, m, false);
    msg_unref(&m);
}

void presence_join(struct hub *hub, struct topic *t, const char *user)
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
    if (storage_shares_presence(&hub->storage))
        hub->storage.ops->presence(hub->storage.engine, t->name, user, true);
    else
        presence_notify(hub, t, "join", user);
}

void presence_leave(struct hub *hub, struct topic *t, const char *user)
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
        if (storage_shares_presence(&hub->storage))
            hub->storage.ops->presence(hub->storage.engine, t->name, m->user,
                                       false);
        else
            presence_notify(hub, t, "leave", user);
        free(m);
        return;
    }
}

void presence_heard(struct hub *hub, const char *topic, const char *user,
                    bool join)
{
    struct topic *t = hub_topic(hub, topic, false);

    if (t != NULL)
        presence_notify(hub, t, join ? "join" : "leave", user);
}
