/*
 * mqtt_saved.h: MQTT persistent sessions (clean session 0, #14), the
 * part that outlives a connection: per client id, its filters with their
 * granted QoS and, per topic, a cursor (the last seq it acknowledged, or
 * was sent at QoS 0). There is no offline queue: every message is in the
 * store's log before anyone receives it, so a resumed session is replayed
 * from its cursors (hub_conn_resume). Core: no lws, no SQLite; changes
 * leave as one STORE_JOB_MQTT per session per loop turn (mqtt_saved_flush),
 * so cursor writes ride the store's group commit, never one per ack.
 *
 * Service thread only.
 */
#ifndef PL_MQTT_SAVED_H
#define PL_MQTT_SAVED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_inflight.h"
#include "storage.h"

struct mqtt_saved_sub {
    char *filter;
    uint8_t qos;
};

struct mqtt_saved_cursor {
    char *topic;
    int64_t seq;
    bool dirty; /* not written yet */
};

struct mqtt_saved {
    struct mqtt_saved *next;       /* the table's list */
    struct mqtt_saved **pprev;     /* what points at us in it */
    struct mqtt_saved *hnext;      /* the table's hash chain */
    struct mqtt_saved *dirty_next; /* the table's dirty list */
    bool is_dirty;
    bool subs_dirty;
    char *client_id;
    char *user;
    bool attached;                 /* a connection holds it now */
    int64_t last_seen;             /* ms: last written (connect,
                                      disconnect, changes, a refresh) */
    struct mqtt_saved_sub *subs;
    size_t n_subs, cap_subs;
    struct mqtt_saved_cursor *cursors;
    size_t n_cursors, cap_cursors;
    /* QoS 1/2 deliveries not acknowledged when the last connection went
     * (in this process): resent with DUP on resume. */
    bool has_window;
    struct mqtt_inflight window;
    /* Packet ids (mqtt_inflight.h, "Packet id leases"): the count handed
     * out so far (the window's, kept while no connection holds it), the
     * lease committed, the lease asked for (>= pid_lease), and the job
     * carrying that ask (compared, never dereferenced). */
    uint64_t pid_issued;
    uint64_t pid_lease;
    uint64_t pid_want;
    const struct store_job *lease_job;
    bool lease_known;  /* a lease row was loaded, or this process made
                          the session: its lease may be written */
    bool restarted;    /* loaded from the store, not resumed since: the
                          next resume sends the sweep (mqtt_saved_sweep) */
    /* The sweep's PUBRELs not answered yet (resent on each resume). */
    struct mqtt_pid_owed owed;
    /* The last gap notice (JSON), kept for a later SUBSCRIBE to the
     * session's gap topic as a retained copy; NULL: none. */
    char *gap;
};

/* Stored sessions at most: a client that invents client ids cannot grow
 * the table (and the database) without bound; past it a new clean
 * session 0 is refused with CONNACK 3 (server unavailable). */
#define MQTT_SAVED_MAX 100000

struct mqtt_saved_table {
    struct mqtt_saved *list;
    size_t count;
    struct mqtt_saved **hash; /* by client id; nbuckets a power of two */
    size_t nbuckets;
    struct mqtt_saved *dirty;
    char **dropped; /* client ids whose stored session goes */
    size_t n_dropped, cap_dropped;
    struct mqtt_saved *sweep; /* where the next expiry step starts (NULL:
                                 the head) */
    uint64_t write_errors;
    /* A session's lease was committed (to wake the connection whose
     * deliveries wait for it); may be NULL. */
    void (*leased)(void *arg, struct mqtt_saved *s);
    void *leased_arg;
    /* Shared storage (cluster mode): the store is the source of truth,
     * read when a client connects (mqtt_saved_read_job); the table holds
     * only the sessions connected here, each dropped from it once its
     * connection left and its last change is stored (a failed write is
     * made again first), and a clean session 1 deletes the stored one
     * even when it is not held here. */
    bool shared;
    bool failing; /* shared: the last write failed (logged once) */
};

void mqtt_saved_table_init(struct mqtt_saved_table *t);
void mqtt_saved_table_cleanup(struct mqtt_saved_table *t);

/* The stored session of client_id, or NULL. */
struct mqtt_saved *mqtt_saved_find(struct mqtt_saved_table *t,
                                   const char *client_id);
/* True when no new session may be added (MQTT_SAVED_MAX). */
bool mqtt_saved_full(const struct mqtt_saved_table *t);
/* A new (empty) session for client_id, written at the next flush; NULL
 * on OOM or when the table is full. */
struct mqtt_saved *mqtt_saved_add(struct mqtt_saved_table *t,
                                  const char *client_id, const char *user);
/* Clean session 1: forget client_id's session, and delete it from the
 * store at the next flush. */
void mqtt_saved_drop(struct mqtt_saved_table *t, const char *client_id);

/* A connection takes the session (on) or leaves it (!on): either way
 * its last_seen is written at the next flush, and while attached it
 * never expires. */
void mqtt_saved_attach(struct mqtt_saved_table *t, struct mqtt_saved *s,
                       bool on);

/*
 * One bounded expiry step: looks at up to `budget` sessions, from where
 * the last step stopped. A session no connection holds whose last_seen is
 * more than expiry_ms before now_ms is dropped (as by clean session 1:
 * its rows go at the next flush). One that is held and whose stored
 * last_seen is older than half of expiry_ms is written again, so that
 * after a crash a device that was connected has at least half the expiry
 * to come back. Shared (the store expires sessions by a TTL of expiry_ms
 * from their last write): a held one is written again past a quarter of
 * it, and one not held is only forgotten here. Returns how many were dropped; *more is true when the
 * walk did not reach the end of the table.
 */
size_t mqtt_saved_expire(struct mqtt_saved_table *t, int64_t now_ms,
                         int64_t expiry_ms, size_t budget, bool *more);

/* Shared storage: the job that reads client_id's stored session; done
 * (with ctx) gets it, to hand to mqtt_saved_load_job. NULL on OOM. */
struct store_job *mqtt_saved_read_job(const char *client_id,
                                      void (*done)(void *, struct store_job *),
                                      void *ctx);
/* A completed read job's session into the table (not dirty): the entry,
 * or NULL when the store had none (job->mqtt->found false) or on OOM
 * (*oom set). */
struct mqtt_saved *mqtt_saved_load_job(struct mqtt_saved_table *t,
                                       const struct store_job *job,
                                       bool *oom);

/* The inbound QoS 2 packet_id of client_id is released (PUBREL): the job
 * that deletes its mqtt_qos2 row, or NULL on OOM. */
struct store_job *mqtt_saved_release_job(const char *client_id,
                                         uint16_t packet_id);

/* The user of a resumed session may change with its token. */
int mqtt_saved_set_user(struct mqtt_saved_table *t, struct mqtt_saved *s,
                        const char *user);
/* A filter granted (or its QoS changed), or gone. 0 or -1 (OOM). */
int mqtt_saved_sub_set(struct mqtt_saved_table *t, struct mqtt_saved *s,
                       const char *filter, uint8_t qos);
void mqtt_saved_sub_drop(struct mqtt_saved_table *t, struct mqtt_saved *s,
                         const char *filter);
/* The cursor of topic: true and *seq when there is one. */
bool mqtt_saved_cursor(const struct mqtt_saved *s, const char *topic,
                       int64_t *seq);
/* Move topic's cursor up to seq (never back). With only_new, only when
 * the topic has none yet (a SUBSCRIBE's starting point). 0 or -1. */
int mqtt_saved_cursor_set(struct mqtt_saved_table *t, struct mqtt_saved *s,
                          const char *topic, int64_t seq, bool only_new);

/* Ask for lease want (> s->pid_lease): written with the session's next
 * job; pid_lease follows once it committed, and t->leased is called. */
void mqtt_saved_lease_ask(struct mqtt_saved_table *t, struct mqtt_saved *s,
                          uint64_t want);
/* A session loaded at start-up is resumed for the first time: the ids a
 * client may still hold (mqtt_pid_sweep; every id for a session stored
 * with no lease) become owed PUBRELs, and new ids start above them.
 * Returns 0, or -1 (OOM). */
int mqtt_saved_sweep(struct mqtt_saved *s, unsigned window);

/* Submit what changed since the last flush (one job per session) to
 * storage; call once per loop turn, before the storage flush. */
void mqtt_saved_flush(struct mqtt_saved_table *t,
                      const struct storage *storage, int64_t now_ms);

/* Start-up: one stored row (store_mqtt.h's kinds: 0 session, its
 * last_seen as value; 1 sub; 2 cursor; 3 lease). Returns 0 or -1 (OOM). Loaded
 * rows are not dirty. */
int mqtt_saved_load_row(struct mqtt_saved_table *t, int kind,
                        const char *client_id, const char *name,
                        int64_t value);

#endif
