/*
 * redis_relay.h: ephemeral topics across the cluster. A message of a topic
 * that is never stored is PUBLISHed on the topic's own channel, pl:ch:<T>
 * (an `e` payload, redis_layout.h): no stream, no seq key, no Lua. Each
 * node that hears it hands it to its hub, which numbers and fans it out
 * like a local ephemeral publish.
 *
 * Why the topic's own channel and not one channel for every ephemeral
 * message: a node then hears only what its local subscribers watch (the
 * same SUBSCRIBE / PSUBSCRIBE the stored topics use, restored by the link
 * after a reconnect), so a PUBLISH nobody watches costs Redis one lookup
 * and the cluster no traffic; one shared channel would carry every typing
 * event of every room to every node, wanted or not.
 *
 * At most once: a message sent while the link is down, or lost with the
 * pub/sub connection, is gone (it is ephemeral; nothing fills it).
 * Service thread only.
 */
#ifndef PARLEY_REDIS_RELAY_H
#define PARLEY_REDIS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_layout.h"
#include "redis_link.h"
#include "storage.h"

/* What the relay remembers: its own counter, and the last message heard,
 * to drop the second copy Redis sends for one PUBLISH that both a
 * SUBSCRIBE and a PSUBSCRIBE of this node match. */
struct redis_relay {
    uint64_t sent;     /* PUBLISHes sent (the counter n of the next is +1) */
    uint64_t unsent;   /* messages dropped: the link was down */
    char last_node[40];
    size_t last_node_len; /* 0: nothing heard yet */
    uint64_t last_n;
};

/* PUBLISH the message on topic's channel, from node. Returns 0 when sent,
 * or a negative errno (counted in unsent) when it could not be. */
int redis_relay_send(struct redis_relay *r, struct redis_link *l,
                     const char *node, const struct storage_relay_msg *m);

/* An `e` event heard: true when this node must deliver it, false when it
 * is its own (already delivered when published) or a further copy of the
 * one just heard. Redis writes every copy of one PUBLISH to a subscriber
 * back to back, so comparing with the previous one is enough. */
bool redis_relay_heard(struct redis_relay *r, const char *me,
                       const struct redis_event *ev);

#endif
