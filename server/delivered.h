/*
 * delivered.h: which messages of each topic one connection has been sent
 * while it stayed subscribed, as a few runs of seqs per topic.
 *
 * The contract says a connection receives each message at most once,
 * however many of its subscriptions match it and however often it
 * subscribes again. A message reaches a connection live, as a topic's
 * retained copy, or in a since/history replay; each of those asks this
 * table first and records what it sent (see once.c).
 *
 * Per topic the seqs sent are kept as at most DELIVERED_RUNS_MAX disjoint
 * runs first..last, in ascending order. Usually there is one (live
 * delivery is gapless) or two (a retained copy, then live from a later
 * seq). When a new seq would make one run too many, the two runs with the
 * smallest gap between them are joined: the seqs in that gap then count
 * as delivered and are never sent, which keeps the at-most-once promise
 * at the price of a message the connection could still have been given.
 *
 * Opaque topic pointers as keys: the hub frees a topic only while its seq
 * is 0, i.e. before anything of it can have been delivered, and a
 * connection's record of a topic is forgotten when it stops covering it.
 * Service thread only, like the connection that owns it.
 */
#ifndef PL_DELIVERED_H
#define PL_DELIVERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DELIVERED_RUNS_MAX 4

struct delivered;

/* Record that seq `seq` (>= 1) of topic was sent. Allocates *dp on first
 * use. Returns 1 when seq was new (recorded now), 0 when it was recorded
 * already, or -ENOMEM (nothing recorded: the caller may send it, and a
 * later replay may send it again). One lookup: the delivery fast path. */
int delivered_note(struct delivered **dp, const void *topic, int64_t seq);

/* True when seq of topic is recorded as sent. d may be NULL. */
bool delivered_has(const struct delivered *d, const void *topic, int64_t seq);

/* The smallest seq >= from not recorded for topic. */
int64_t delivered_next_unseen(const struct delivered *d, const void *topic,
                              int64_t from);

/* The largest seq <= upto not recorded for topic (0 when every seq from 1
 * to upto is). */
int64_t delivered_prev_unseen(const struct delivered *d, const void *topic,
                              int64_t upto);

/* Forget topic: what is sent later starts a fresh record. */
void delivered_forget(struct delivered *d, const void *topic);

/* Forget every topic for which drop(arg, topic) returns true. */
void delivered_forget_if(struct delivered *d,
                         bool (*drop)(void *arg, const void *topic),
                         void *arg);

/* Runs recorded for topic (0 when none), for tests. */
size_t delivered_runs(const struct delivered *d, const void *topic);

/* Topics recorded (for tests and memory accounting). */
size_t delivered_count(const struct delivered *d);

void delivered_free(struct delivered **dp);

#endif
