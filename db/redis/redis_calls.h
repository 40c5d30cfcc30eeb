/*
 * redis_calls.h: the Lua library's functions as typed asynchronous calls
 * over the link. Each builds its FCALL from redis_layout's names, and
 * parses the reply into plain structs, so the engine (phase 2) never
 * handles raw replies or key names.
 *
 * Every callback runs exactly once (the link's promise): err 0 with the
 * result, or err < 0 and a NULL result: the link's -ETIMEDOUT, -ENOTCONN,
 * -ECANCELED, or -EPROTO when Redis answered an error or a reply of the
 * wrong shape. Results and the strings in them are borrowed for the
 * callback only. A call that returns nonzero never calls back.
 * Service thread only.
 */
#ifndef PARLEY_REDIS_CALLS_H
#define PARLEY_REDIS_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_layout.h"
#include "redis_link.h"

/* A fresh epoch candidate: 16 random hex digits. */
#define REDIS_EPOCH_LEN 16
void redis_epoch_new(char out[REDIS_EPOCH_LEN + 1]);

struct redis_pub_req {
    const char *topic;
    const char *key; /* NULL: not idempotent */
    const char *from;
    const char *data; /* JSON text */
    size_t data_len;
    int retain;        /* 0 no, 1 set, 2 clear (retain, data null) */
    int64_t ts;        /* ms since the epoch */
    uint32_t maxlen;   /* 0: no bound on history */
    int64_t min_ts;    /* 0: no age bound */
    uint32_t window_s; /* the dedupe window */
    const char *epoch; /* a candidate from redis_epoch_new */
};

struct redis_pub_result {
    uint64_t seq;
    bool duplicate;
    const char *epoch;
};

typedef void (*redis_pub_cb)(int err, const struct redis_pub_result *res,
                             void *ud);

/* FCALL pl_publish. Returns 0, or -ENOTCONN / -ENOMEM / -ENAMETOOLONG. */
int redis_call_publish(struct redis_link *l, const struct redis_pub_req *req,
                       redis_pub_cb cb, void *ud);

/* Stored messages read at one instant. */
struct redis_rows {
    uint64_t latest;   /* the topic's latest seq (0: none yet) */
    const char *epoch; /* "" when the topic has none */
    uint64_t oldest;   /* pl_since only: oldest stored, 0: none */
    size_t n;
    const struct redis_event *rows; /* oldest first */
};

typedef void (*redis_rows_cb)(int err, const struct redis_rows *res, void *ud);

/* FCALL pl_since: the stored messages with seq > since, at most limit. */
int redis_call_since(struct redis_link *l, const char *topic, uint64_t since,
                     uint32_t limit, redis_rows_cb cb, void *ud);

/* FCALL pl_history: the newest limit messages with seq < before (before 0:
 * no bound), oldest first. */
int redis_call_history(struct redis_link *l, const char *topic, uint64_t before,
                       uint32_t limit, redis_rows_cb cb, void *ud);

/* FCALL pl_retained: rows holds the retained message (n 0 or 1). */
int redis_call_retained(struct redis_link *l, const char *topic,
                        redis_rows_cb cb, void *ud);

/* An integer answer: a presence change (1 joined/left the cluster, 0 not)
 * or the live node count. */
typedef void (*redis_int_cb)(int err, long long value, void *ud);

int redis_call_pres_join(struct redis_link *l, const char *node,
                         const char *topic, const char *user, redis_int_cb cb,
                         void *ud);
int redis_call_pres_leave(struct redis_link *l, const char *node,
                          const char *topic, const char *user, redis_int_cb cb,
                          void *ud);
int redis_call_node_beat(struct redis_link *l, const char *node,
                         uint32_t ttl_ms, redis_int_cb cb, void *ud);

/* FCALL pl_node_leave: a draining node forgets itself (and its members,
 * with their leaves) at once. value is 1. */
int redis_call_node_leave(struct redis_link *l, const char *node,
                          redis_int_cb cb, void *ud);

/* A list of strings: presence members, or the node ids reaped. */
typedef void (*redis_list_cb)(int err, size_t n, const char *const *items,
                              void *ud);

int redis_call_pres_members(struct redis_link *l, const char *topic,
                            redis_list_cb cb, void *ud);
int redis_call_node_reap(struct redis_link *l, uint32_t limit, redis_list_cb cb,
                         void *ud);

#endif
