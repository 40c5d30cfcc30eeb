/*
 * redis_presence.c: this node's members in Redis's presence, and the calls
 * that keep them there (see the header). A leave's record is dropped only
 * once Redis took the leave; until then it is marked, and sent again when
 * the link comes back.
 */
#include "redis_presence.h"

#include <stdlib.h>
#include <string.h>

#include "redis_calls.h"

struct redis_member {
    struct redis_member *next;
    bool leaving;       /* the leave must still reach Redis */
    char *topic;
    char user[];
};

/* One call in flight: what it was about, to settle the record after. */
struct pres_call {
    struct redis_presence *p;
    bool join;
    char *topic;
    char user[];
};

static struct redis_member **member_slot(struct redis_presence *p,
                                         const char *topic, const char *user)
{
    struct redis_member **pp = &p->members;

    while (*pp != NULL &&
           (strcmp((*pp)->topic, topic) != 0 || strcmp((*pp)->user, user) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void member_unlink(struct redis_member **pp)
{
    struct redis_member *m = *pp;

    *pp = m->next;
    free(m->topic);
    free(m);
}

/* A leave that reached Redis forgets its record; one that did not stays
 * marked, to be sent again on reconnect. */
static void call_done(int err, long long value, void *ud)
{
    struct pres_call *pc = ud;
    struct redis_member **pp = member_slot(pc->p, pc->topic, pc->user);

    (void)value;
    if (!pc->join && err == 0 && *pp != NULL && (*pp)->leaving)
        member_unlink(pp);
    free(pc->topic);
    free(pc);
}

static void send_call(struct redis_presence *p, struct redis_link *l,
                      const char *node, const char *topic, const char *user,
                      bool join)
{
    size_t n = strlen(user);
    struct pres_call *pc = calloc(1, sizeof(*pc) + n + 1);
    int rc = 0;

    if (pc == NULL || (pc->topic = strdup(topic)) == NULL) {
        free(pc);
        return;
    }
    pc->p = p;
    pc->join = join;
    memcpy(pc->user, user, n + 1);
    rc = join ? redis_call_pres_join(l, node, topic, user, call_done, pc)
              : redis_call_pres_leave(l, node, topic, user, call_done, pc);
    if (rc != 0) {
        free(pc->topic);
        free(pc);
    }
}

void redis_presence_change(struct redis_presence *p, struct redis_link *l,
                           const char *node, const char *topic,
                           const char *user, bool join)
{
    struct redis_member **pp = member_slot(p, topic, user);
    size_t n = strlen(user);

    if (join && *pp == NULL) {
        struct redis_member *m = calloc(1, sizeof(*m) + n + 1);

        if (m == NULL || (m->topic = strdup(topic)) == NULL) {
            free(m);
            return;
        }
        memcpy(m->user, user, n + 1);
        m->next = p->members;
        p->members = m;
    } else if (*pp != NULL) {
        (*pp)->leaving = !join;
    }
    send_call(p, l, node, topic, user, join);
}

void redis_presence_repair(struct redis_presence *p, struct redis_link *l,
                           const char *node)
{
    struct redis_member *m = NULL;

    for (m = p->members; m != NULL; m = m->next)
        send_call(p, l, node, m->topic, m->user, !m->leaving);
}

void redis_presence_cleanup(struct redis_presence *p)
{
    while (p->members != NULL)
        member_unlink(&p->members);
}
