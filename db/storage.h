/*
 * storage.h: the one interface the hub uses to reach durable storage,
 * whatever the engine behind it (the SQLite store thread in store.c; a
 * Redis engine later, issue #13). A struct of function pointers and an
 * opaque engine pointer, like a VFS: no engine type appears here.
 *
 * Contract, for every engine:
 * - Jobs (store_job.h) go in with submit() and come back, completed and
 *   in submission order, from take_completions(); the taker hands each to
 *   store_job_finish(), which calls the done callback its submitter set.
 * - submit() may hold jobs until flush(): an event loop flushes once per
 *   turn, so one wake-up carries the turn's work.
 * - A publish's seq is assigned by the engine, in the commit that stores
 *   it; a duplicate key gets the original seq and costs none.
 * - The engine wakes the service thread by its own means (its config)
 *   when completions are waiting; wake-ups may coalesce.
 * All of these run on the service thread.
 *
 * Shared engines (several nodes write the same topics: Redis) set the
 * optional ops below; an engine with one writer (SQLite) leaves them NULL
 * and the hub then trusts what it loaded and published itself. A shared
 * engine's node cannot: other nodes advance seqs and retained values, so
 *  - the hub asks for a topic's state (STORE_JOB_STATE) before a sub on it
 *    is answered, and the engine completes that job only after it has
 *    handed the listener every message up to the state's last_seq;
 *  - the hub says which topics and patterns have local subscribers
 *    (watch), and the engine hands it those topics' messages, from any
 *    node, in seq order without gap or duplicate, as HEARD jobs through
 *    the listener (listen), interleaved with the completions;
 *  - PUB completions come back `relayed`: the message reaches this node's
 *    subscribers as a HEARD job like everyone else's;
 *  - a message that is not stored (an ephemeral topic) is fanned out by
 *    the hub at once and handed to relay(), which tells the other nodes;
 *    they get it as a HEARD job marked `ephemeral`, without a seq (each
 *    node numbers its own deliveries, as a single node does), at most
 *    once: one lost while a link is down is not sent again.
 */
#ifndef PL_STORAGE_H
#define PL_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_job.h"

/* A topic's stored state at start-up: its last seq and retained message.
 * The pointers are borrowed for the duration of the load callback. */
struct store_topic_info {
    const char *name;
    int64_t last_seq;
    bool has_retained;
    int64_t r_seq, r_ts;
    const char *r_from;
    const char *r_data;
    size_t r_data_len;
    const unsigned char *r_raw; /* its exact MQTT payload, or NULL */
    size_t r_raw_len;
};

/* A message of a topic that is not stored, for relay() to the other
 * nodes. Borrowed for the call. */
struct storage_relay_msg {
    const char *topic;
    int64_t ts;
    const char *from;
    const char *data; /* JSON text ("null" for null) */
    size_t data_len;
    bool retain;
    const void *raw; /* its exact MQTT payload (#14), or NULL */
    size_t raw_len;
};

/* One call per known topic; a non-zero return stops the walk. */
typedef int (*storage_topic_cb)(void *arg, const struct store_topic_info *t);

struct storage_ops {
    /* Walk every known topic (start-up, before start). Returns 0 or the
     * callback's non-zero value, or a negative errno. */
    int (*load)(void *engine, storage_topic_cb cb, void *arg);
    /* Begin serving jobs. Returns 0 or a negative errno. */
    int (*start)(void *engine);
    /* Take ownership of a job; it may wait for flush(). */
    void (*submit)(void *engine, struct store_job *job);
    /* Pass on every job submit() held. */
    void (*flush)(void *engine);
    /* Every completed job, oldest first, linked by ->next (NULL: none). */
    struct store_job *(*take_completions)(void *engine);
    /* Jobs submitted and not yet taken back (for back-pressure). */
    size_t (*pending)(void *engine);
    /* Finish every submitted job and stop; completions can still be
     * taken afterwards. */
    void (*stop)(void *engine);

    /* Optional (shared engines). Say that local subscribers want (on) or
     * no longer want (!on) topic, or, is_pattern, every topic pattern
     * matches; counted, so each on has its off. */
    void (*watch)(void *engine, const char *pattern, bool is_pattern, bool on);
    /* Optional (shared engines): the HEARD jobs' done callback and its
     * context, set once before start. */
    void (*listen)(void *engine, void (*done)(void *ctx, struct store_job *),
                   void *ctx);
    /* Optional (shared engines): the first (join) or last (!join) of this
     * node's presence holders of user in topic came or went. The engine
     * counts nodes and hands every node's listener one HEARD presence
     * change when the first node joins or the last leaves (or dies). */
    void (*presence)(void *engine, const char *topic, const char *user,
                     bool join);
    /* Optional (shared engines): send a message that is not stored (an
     * ephemeral topic's) to the nodes whose local subscribers watch topic.
     * Fire and forget: nothing waits for it, nothing retries it, and this
     * node's own subscribers are the caller's (the engine never hands it
     * back here). */
    void (*relay)(void *engine, const struct storage_relay_msg *m);
    /* Optional (shared engines): an MQTT client id is connected on one
     * node at a time (MQTT 3.1.1 3.1.4). mqtt_claim tells every node,
     * this one too, that client_id connected here; 0 when it was sent.
     * The callback mqtt_taken set (once, before start) hears every claim
     * in the cluster's one order, mine when it is this node's: a node's
     * connection holding the id closes at a claim of another node heard
     * after its own (one heard before it is older than the connection).
     * Fire and forget. */
    int (*mqtt_claim)(void *engine, const char *client_id);
    void (*mqtt_taken)(void *engine,
                       void (*cb)(void *ctx, const char *client_id,
                                  bool mine),
                       void *ctx);
    /* Optional: false while the engine cannot store (its server is out of
     * reach): /healthz says so. NULL: always true. */
    bool (*healthy)(void *engine);
};

struct storage {
    const struct storage_ops *ops;
    void *engine;
};

static inline int storage_load(const struct storage *s, storage_topic_cb cb,
                               void *arg)
{
    return s->ops->load(s->engine, cb, arg);
}

static inline int storage_start(const struct storage *s)
{
    return s->ops->start(s->engine);
}

static inline void storage_submit(const struct storage *s,
                                  struct store_job *job)
{
    s->ops->submit(s->engine, job);
}

static inline void storage_flush(const struct storage *s)
{
    s->ops->flush(s->engine);
}

static inline struct store_job *
storage_take_completions(const struct storage *s)
{
    return s->ops->take_completions(s->engine);
}

static inline size_t storage_pending(const struct storage *s)
{
    return s->ops->pending(s->engine);
}

static inline void storage_stop(const struct storage *s)
{
    s->ops->stop(s->engine);
}

/* True when other nodes write the same topics (see above). */
static inline bool storage_is_shared(const struct storage *s)
{
    return s->ops != NULL && s->ops->watch != NULL;
}

static inline void storage_watch(const struct storage *s, const char *pattern,
                                 bool is_pattern, bool on)
{
    if (storage_is_shared(s))
        s->ops->watch(s->engine, pattern, is_pattern, on);
}

static inline void storage_relay(const struct storage *s,
                                 const struct storage_relay_msg *m)
{
    if (s->ops != NULL && s->ops->relay != NULL)
        s->ops->relay(s->engine, m);
}

/* True when the engine keeps presence for many nodes (see above). */
static inline bool storage_shares_presence(const struct storage *s)
{
    return s->ops != NULL && s->ops->presence != NULL;
}

/* 0 when the claim went out; -1 when there is nobody to tell (no shared
 * engine) or it could not be sent. */
static inline int storage_mqtt_claim(const struct storage *s,
                                     const char *client_id)
{
    if (s != NULL && s->ops != NULL && s->ops->mqtt_claim != NULL)
        return s->ops->mqtt_claim(s->engine, client_id);
    return -1;
}

static inline void
storage_mqtt_taken(const struct storage *s,
                   void (*cb)(void *ctx, const char *client_id, bool mine),
                   void *ctx)
{
    if (s->ops != NULL && s->ops->mqtt_taken != NULL)
        s->ops->mqtt_taken(s->engine, cb, ctx);
}

static inline bool storage_healthy(const struct storage *s)
{
    return s->ops == NULL || s->ops->healthy == NULL ||
           s->ops->healthy(s->engine);
}

#endif
