/*
 * once.h: at most once per connection. Every path that sends a topic's
 * message to a connection (live fan-out, the retained copy, since/history
 * replays) goes through once_push, which skips what the connection has
 * already been sent while it covers the topic (its delivered.h record).
 * Losing every subscription that covers a topic forgets its record, so an
 * unsub followed by a new sub starts afresh. Hub-internal; service thread
 * only.
 */
#ifndef PL_ONCE_H
#define PL_ONCE_H

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct hub;
struct msg;
struct sub;
struct topic;

/* Queue m (a message of topic t; a new reference) on c unless c was sent
 * that seq of t already; record it. paced as for hub_push. Returns true
 * when m was queued (or c is being closed), false when skipped. */
bool once_push(struct hub *hub, struct conn *c, const struct topic *t,
               struct msg *m, bool paced);

/* gone was just removed from c's subscriptions: forget the topics it
 * covered that no other subscription of c covers. */
void once_forget_uncovered(struct hub *hub, struct conn *c,
                           const struct sub *gone);

/* The stored seqs of t that a replay for c may still send, given the
 * replay wanted first..t->seq: *first moves past what c was sent already,
 * and the returned fence is the last seq c was not sent (first > fence:
 * nothing to replay). */
int64_t once_replay_bounds(const struct conn *c, const struct topic *t,
                           int64_t *first);

#endif
