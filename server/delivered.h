/*
 * delivered.h: which live messages of each topic one connection has been
 * sent, as one run of consecutive seqs per topic (first..last).
 *
 * The contract says a connection receives each message at most once,
 * however many of its subscriptions match it. Live fan-out keeps that by
 * itself (one generation stamp per publish). A `since` replay is the other
 * way a message reaches a connection: when another of its subscriptions
 * already delivers the topic live, the replay must stop short of what
 * that subscription sent. This table is how the replay knows.
 *
 * Opaque topic pointers as keys: the hub frees a topic only while its seq
 * is 0, i.e. before anything of it can have been delivered.
 */
#ifndef PL_DELIVERED_H
#define PL_DELIVERED_H

#include <stddef.h>
#include <stdint.h>

struct delivered_run {
    const void *topic;
    int64_t first;
    int64_t last;
};

struct delivered;

/* Seq `seq` of topic went to the connection live. It extends the topic's
 * run when it follows it, else starts a new one (after a gap, e.g. an
 * unsub and a new sub). Allocates *dp on first use. Returns 0, or -1 when
 * out of memory (nothing is recorded: a later replay may repeat it). */
int delivered_note(struct delivered **dp, const void *topic, int64_t seq);

/* The topic's run, or NULL when nothing of it was delivered live. */
const struct delivered_run *delivered_find(const struct delivered *d,
                                           const void *topic);

/* Topics recorded (for tests and memory accounting). */
size_t delivered_count(const struct delivered *d);

void delivered_free(struct delivered **dp);

#endif
