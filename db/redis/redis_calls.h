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
#include "store_job.h"

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
    /* Chat relations (#16), 0 when none: the function checks an edit's
     * or a deletion's target atomically with the publish. */
    int64_t edit_of, redacts, reply_to;
    /* The exact MQTT payload its data does not give back (#14), or NULL:
     * stored and published with the message (the `r` prefix). */
    const unsigned char *raw;
    size_t raw_len;
    /* An MQTT persistent session's QoS 2 publish (#14), or NULL/0: the
     * session's (qos2_client) packet id qos2_id, checked and kept with
     * the publish so that a retry is a duplicate until its release;
     * the session's keys live qos2_ttl_ms (0: no TTL). */
    const char *qos2_client;
    uint16_t qos2_id;
    int64_t qos2_ttl_ms;
};

/* Why pl_publish refused an edit or a deletion (seq 0 then). */
enum redis_pub_refusal {
    REDIS_PUB_STORED = 0,
    REDIS_PUB_BAD_TARGET = 1, /* not stored, an edit, a deletion, deleted */
    REDIS_PUB_NOT_AUTHOR = 2,
};

struct redis_pub_result {
    uint64_t seq;     /* 0 when refused */
    bool duplicate;
    enum redis_pub_refusal refused;
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

/* FCALL pl_since: the stored messages with seq > since, at most limit;
 * deleted ones as their stubs (redacted). */
int redis_call_since(struct redis_link *l, const char *topic, uint64_t since,
                     uint32_t limit, redis_rows_cb cb, void *ud);

/* FCALL pl_since over the marked log: the moved read markers numbered
 * above since, at most limit (rows of kind MARKED; latest and epoch are
 * the log's). */
int redis_call_marked_since(struct redis_link *l, uint64_t since,
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

/* An array of integers (pl_mark, pl_unread). */
typedef void (*redis_ints_cb)(int err, size_t n, const long long *v,
                              void *ud);

/* FCALL pl_mark: user's marker in topic up to seq (never back); a move is
 * kept in the marked log and published on pl:marked with node. v = {marker, moved, latest}. */
int redis_call_mark(struct redis_link *l, const char *topic, const char *user,
                    int64_t seq, const char *node, redis_ints_cb cb, void *ud);

/* FCALL pl_unread over topics[0..n): v = {latest, marked, unread, more}
 * per topic, counting at most max unread and looking at no more than
 * budget entries per topic. */
int redis_call_unread(struct redis_link *l, const char *const *topics,
                      size_t n, const char *user, int max, int budget,
                      redis_ints_cb cb, void *ud);

/* FCALL pl_topic_info over topics[0..n): v = {latest, retained 0|1,
 * members} per topic. */
int redis_call_topic_info(struct redis_link *l, const char *const *topics,
                          size_t n, redis_ints_cb cb, void *ud);

/* A list of strings: presence members, or the node ids reaped. */
typedef void (*redis_list_cb)(int err, size_t n, const char *const *items,
                              void *ud);

int redis_call_pres_members(struct redis_link *l, const char *topic,
                            redis_list_cb cb, void *ud);
int redis_call_node_reap(struct redis_link *l, uint32_t limit, redis_list_cb cb,
                         void *ud);

/* FCALL pl_sweep_age: trim by age (entries older than min_ts, ms) the
 * next `topics` registered topics after the cluster's shared cursor,
 * reading about `budget` stream entries at most. v = {topics done,
 * wrapped 0|1}. */
int redis_call_sweep_age(struct redis_link *l, int64_t min_ts,
                         uint32_t topics, uint32_t budget, redis_ints_cb cb,
                         void *ud);

/* FCALL pl_backfill: one SCAN step of about count keys, adding the
 * topics their seq keys name to the registry, the cursor shared by all
 * nodes. v = {keys looked at, names added, over 0|1}. */
int redis_call_backfill(struct redis_link *l, uint32_t count, redis_ints_cb cb,
                        void *ud);

/* ZRANGEBYLEX pl:topics: up to count registered topics that start with
 * prefix, in byte order, after `after` (NULL: from the first). */
int redis_call_topics(struct redis_link *l, const char *prefix,
                      const char *after, uint32_t count, redis_list_cb cb,
                      void *ud);

/* FCALL pl_msess_read: client_id's MQTT persistent session (#14): no
 * items when there is none, else user, last_seen, nsubs, nsubs (filter,
 * qos) pairs, then (topic, seq) cursor pairs. */
int redis_call_msess_read(struct redis_link *l, const char *client_id,
                          redis_list_cb cb, void *ud);

/* HDEL of client_id's QoS 2 packet id (PUBREL): a new message may use
 * the id again. value: how many were deleted (0 or 1). */
int redis_call_msess_release(struct redis_link *l, const char *client_id,
                             uint16_t packet_id, redis_int_cb cb, void *ud);

/* FCALL pl_msess_write: one session change batch (m: drop, or user,
 * last_seen = now_ms, the filters when set_subs, cursors moved up only),
 * every key of the session then kept ttl_ms more (0: no TTL). value 1. */
int redis_call_msess_write(struct redis_link *l, const struct store_mqtt *m,
                           int64_t ttl_ms, redis_int_cb cb, void *ud);

#endif
