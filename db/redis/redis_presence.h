/*
 * redis_presence.h: this node's share of the cluster's presence. The hub
 * reports the first and last local holder of a user in a topic; this
 * module sends pl_pres_join / pl_pres_leave and remembers the (topic,
 * user) pairs the node holds in Redis, and the leaves that did not reach
 * it, so that after a lost connection everything is sent again
 * (pl_pres_join is idempotent per node): a member never lingers, nor goes
 * missing, because a call was lost while Redis was out of reach.
 *
 * A plain list: one entry per local member; service thread only.
 */
#ifndef PARLEY_REDIS_PRESENCE_H
#define PARLEY_REDIS_PRESENCE_H

#include <stdbool.h>

#include "redis_link.h"

struct redis_member;

struct redis_presence {
    struct redis_member *members;
};

/* A user's first local holder in topic came (join) or its last went. */
void redis_presence_change(struct redis_presence *p, struct redis_link *l,
                           const char *node, const char *topic,
                           const char *user, bool join);

/* The link is back: send every join again, and every leave still owed. */
void redis_presence_repair(struct redis_presence *p, struct redis_link *l,
                           const char *node);

/* Forget everything (after the link is freed: its calls are done). */
void redis_presence_cleanup(struct redis_presence *p);

#endif
