/*
 * track.h: the last sequence number a subscriber has accounted for, per
 * concrete topic. It is what `since` is computed from after a
 * reconnection, and what drops duplicates (seq <= last) during recovery.
 */
#ifndef TRACK_H
#define TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct track;

/* Returns 0 and *out (free with track_free), or -ENOMEM. */
int track_new(struct track **out);
void track_free(struct track **t);

/* The topic's last seq, or -1 when the topic is not tracked. */
int64_t track_get(const struct track *t, const char *topic);
/* Sets the topic's last seq (adds the topic). 0 or -ENOMEM. */
int track_set(struct track *t, const char *topic, int64_t seq);
/* Adds the topic with seq only when it is not tracked yet. */
int track_init(struct track *t, const char *topic, int64_t seq);

/* Calls fn for every tracked topic (in no particular order). */
void track_foreach(const struct track *t,
                   void (*fn)(const char *topic, int64_t seq, void *arg),
                   void *arg);

#endif
