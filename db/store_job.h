/*
 * store_job.h: one unit of storage work and its result: what the hub asks
 * (store a message, read rows after or before a seq), what comes back, and
 * who takes the completion. Its own module so that the queue (jobq.c) and
 * the engine (store.c) both include it and neither includes the other.
 */
#ifndef PL_STORE_JOB_H
#define PL_STORE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_job_kind {
    STORE_JOB_PUB,     /* store one message; assign its seq */
    STORE_JOB_AFTER,   /* rows with after < seq <= upto, ascending, <= limit */
    STORE_JOB_BEFORE,  /* the newest <= limit rows with seq < before
                          (before == 0: no bound), returned ascending */
    STORE_JOB_MARK,    /* chat (#16), a write: move user `from`'s read
                          marker in topic up to mark_seq (never back) */
    STORE_JOB_UNREAD,  /* chat (#16), a read: for each of marks[], user
                          `from`'s marker and unread count. Shared
                          engines take no marks (NULL): `topic` (a
                          pattern or a topic) and allow[] choose the
                          stored topics, at most limit, and the engine
                          fills marks[] itself */
    STORE_JOB_SEARCH,  /* chat (#16), a read: up to limit messages whose
                          text matches query, newest first, in topics
                          matching `topic` (a pattern) and allowed, with
                          ts < before (0: no bound) */
    STORE_JOB_STATE,   /* the topic's state now: last_seq, and its retained
                          message as rows[0] (n_rows 0: none). Only engines
                          shared by several nodes get it (storage.h). */
    STORE_JOB_HEARD,   /* not submitted: a message another node stored,
                          or a presence change (presence != 0), handed
                          by a shared engine to its listener */
    STORE_JOB_MEMBERS, /* shared engines: the users present in the topic
                          on any node, as rows[i].from */
    STORE_JOB_MQTT,    /* MQTT persistent sessions (#14): struct
                          store_mqtt. A write (in SQLite's group commit;
                          one Redis function call), or, shared engines
                          only, a read of one session (read) */
    STORE_JOB_TOPICS,  /* shared engines: the stored topics whose names
                          start with `topic` ("": all but $ topics) and
                          allow[] allows, at most limit, in marks[]
                          (seq, retained, members) */
};

/* One MQTT session's changes since the last flush (STORE_JOB_MQTT). */
struct store_mqtt_sub {
    char *filter;
    int qos;
};
struct store_mqtt_cursor {
    char *topic;
    int64_t seq;
};
struct store_mqtt {
    char *client_id;
    char *user;
    bool drop;                        /* delete the session (clean session
                                         1); the rest is ignored */
    bool set_subs;                    /* subs replace the stored ones */
    struct store_mqtt_sub *subs;
    size_t n_subs;
    struct store_mqtt_cursor *cursors; /* moved up, never back */
    size_t n_cursors;
    int64_t now_ms;                   /* last_seen */
    bool set_lease;                   /* write lease (moved up only) */
    int64_t lease;                    /* the packet-id lease (migration
                                         008) */
    uint16_t qos2_release;            /* non-zero: only release this
                                         inbound QoS 2 packet id (PUBREL:
                                         its mqtt_qos2 row goes); the
                                         rest is ignored */
    /* Shared engines (cluster mode, where the session is read when its
     * client connects rather than loaded at start): read client_id's
     * session instead of writing. Output: found, and then user, subs,
     * cursors, now_ms (its last_seen) and, set_lease, its lease. */
    bool read;
    bool found;
};

/* A topic's read marker for one user, and what is unread after it. */
struct store_mark {
    char *topic;       /* input, NUL-terminated */
    int64_t seq;       /* output: the topic's newest stored seq */
    int64_t marked;    /* output: the marker, 0 when never marked */
    int64_t unread;    /* output: messages after it by others, neither
                          edits nor deletions nor deleted; at most
                          STORE_UNREAD_MAX */
    bool more;         /* output: counting stopped at STORE_UNREAD_MAX */
    bool retained;     /* TOPICS output: a retained message is held */
    int64_t members;   /* TOPICS output: presence members, cluster-wide */
};

/* Unread counts stop here: a client shows "999+", and a topic never
 * marked costs a bounded read. */
#define STORE_UNREAD_MAX 1000

struct store_row {
    int64_t seq;
    int64_t ts;        /* ms since the epoch */
    char *from;        /* NUL-terminated */
    char *data;        /* JSON text, NUL-terminated */
    size_t data_len;
    char *topic;       /* SEARCH only (rows of many topics), else NULL */
    unsigned char *raw; /* the exact MQTT payload kept with the message
                           (messages.raw), NULL when none; AFTER/BEFORE,
                           STATE's retained row */
    size_t raw_len;
    /* Chat relations (#16), 0/false when none: see struct store_job. */
    int64_t edit_of, redacts, reply_to;
    bool redacted;     /* a later message deleted this one: data is null */
};

/*
 * One unit of work. Created by the service thread with store_job_new(),
 * owned by the storage engine between its submission and its return as a
 * completion, then owned by the taker, who hands it to store_job_finish().
 * The engine never reads the routing fields.
 */
struct store_job {
    struct store_job *next;      /* queue link; owned by the current queue */
    enum store_job_kind kind;

    /* routing, for the service thread only: the store never reads it */
    uint64_t conn_id;            /* 0: no connection (internal) */
    int64_t req_id;
    void *udata;                 /* the submitter's own, e.g. a placeholder */
    /* Whoever submits the job says who takes its completion: done runs
     * on the service thread with done_ctx and the finished job, which it
     * borrows (store_job_finish frees it right after). NULL: nobody. */
    void (*done)(void *done_ctx, struct store_job *job);
    void *done_ctx;

    /* input */
    char *topic;                 /* NUL-terminated, concrete */
    char *data;                  /* PUB: JSON text */
    size_t data_len;
    bool data_is_null;           /* PUB: data is JSON null */
    bool retain;                 /* PUB: also set (or, with null, clear) retained */
    unsigned char *raw;          /* PUB: the exact MQTT payload when its data
                                    does not map back to it, else NULL
                                    (store_job_set_raw); kept with the
                                    message and its retained copy. HEARD:
                                    the same, when the engine carries it */
    size_t raw_len;
    char *from;                  /* PUB */
    char *key;                   /* PUB: idempotency key or NULL */
    /* PUB from an MQTT persistent session at QoS 2 (#14), else NULL/0:
     * a row of mqtt_qos2 for (qos2_client, qos2_id) makes the job a
     * duplicate of that message; else it is written with the message, in
     * its transaction (store_job_set_qos2); in Redis, the session's q2
     * hash, in the publish's function call. */
    char *qos2_client;
    uint16_t qos2_id;
    int64_t ts;                  /* PUB: ms since the epoch, set by the caller */
    /* PUB, chat (#16), 0 when unused. edit_of/redacts make the store check
     * that the target exists, is neither an edit nor a deletion (nor
     * already deleted), and was written by `from`; else err is
     * PL_ERR_BAD_REQUEST or PL_ERR_FORBIDDEN and nothing is stored. A
     * stored redacts erases the target's and its edits' data. */
    int64_t edit_of;
    int64_t redacts;
    int64_t reply_to;
    int64_t mark_seq;            /* MARK */
    struct store_mark *marks;    /* UNREAD: owned, freed with the job */
    size_t n_marks;
    struct store_mqtt *mqtt;     /* MQTT: owned, freed with the job */
    char *query;                 /* SEARCH: the client's q */
    char **allow;                /* SEARCH: with has_allow, the topics
                                    allowed are those some allow[i]
                                    (a pattern) matches */
    size_t n_allow;
    bool has_allow;
    bool redacted_retained;      /* PUB output: redacts cleared the
                                    topic's retained message */
    int64_t after, upto;         /* AFTER */
    int64_t before;              /* BEFORE; SEARCH: a ts (ms), 0: none */
    int limit;                   /* AFTER/BEFORE/SEARCH */

    /* output, valid once completed */
    int err;                     /* 0, or an enum pl_err value (INTERNAL...;
                                    SEARCH: BAD_REQUEST for a q with no
                                    word in it) */
    int64_t seq;                 /* PUB: the seq (the original one if
                                    duplicate); MARK: the marker now;
                                    HEARD: the message's */
    bool duplicate;              /* PUB; MARK: the marker did not move */
    bool relayed;                /* PUB: the engine hands this node's
                                    subscribers the message itself (as a
                                    HEARD job), so the taker only acks */
    int presence;                /* HEARD: 0 a message; +1 user `from`
                                    joined the topic, -1 left it (once
                                    for the whole cluster) */
    bool epoch_reset;            /* HEARD: the engine lost the topic's
                                    history (a storage restarted empty);
                                    seq starts again below what was seen */
    bool redacted;               /* HEARD: a deleted message's stub (data
                                    null), read back to fill a gap */
    bool marked;                 /* HEARD: user `from`'s read marker in
                                    topic moved to seq, by a connection
                                    on another node (chat, #16) */
    bool ephemeral;              /* HEARD: a message of a topic that is
                                    not stored, published on another
                                    node; seq is 0 (storage.h, relay).
                                    STATE (input): the topic or pattern
                                    is not stored: complete once its
                                    subscription is active, read
                                    nothing */
    bool unsupported;            /* SEARCH: this engine cannot search
                                    (err is BAD_REQUEST) */
    int64_t first_seq;           /* AFTER/BEFORE: oldest stored seq of the
                                    topic, 0 when it has none */
    int64_t last_seq;            /* AFTER/BEFORE: newest committed seq */
    struct store_row *rows;      /* AFTER/BEFORE */
    size_t n_rows;
};

/* Allocate a zeroed job of the given kind; the strings passed are copied
 * (NULL stays NULL). Returns NULL on allocation failure. */
struct store_job *store_job_new(enum store_job_kind kind, const char *topic);
/* Set PUB inputs (copies data, from, key). Returns 0 or -ENOMEM. */
int store_job_set_pub(struct store_job *job, const char *data, size_t data_len,
                      bool data_is_null, bool retain, const char *from,
                      const char *key, int64_t ts);
/* PUB: keep a copy of raw[0..len) as the message's exact MQTT payload
 * (len 0: none). Returns 0 or -ENOMEM. */
int store_job_set_raw(struct store_job *job, const void *raw, size_t len);
/* PUB: keep the MQTT client id and QoS 2 packet id that make a retry a
 * duplicate until its release (client NULL: none). 0 or -ENOMEM. */
int store_job_set_qos2(struct store_job *job, const char *client,
                       uint16_t packet_id);
/* UNREAD: allocate n zeroed marks (topics set by the caller with
 * strdup). Returns 0 or -ENOMEM. */
int store_job_set_marks(struct store_job *job, size_t n);
/* SEARCH: copy the query and the allowed patterns (allow may be NULL:
 * every topic). Returns 0 or -ENOMEM. */
int store_job_set_search(struct store_job *job, const char *query,
                         char *const *allow, size_t n_allow, bool has_allow);
/* Free an MQTT session change and its strings; NULLs *m. */
void store_mqtt_free(struct store_mqtt **m);
/* SEARCH, and UNREAD for shared engines: whether topic name is one the
 * job covers: job->topic (a pattern or a topic) matches it and, with
 * has_allow, some allow[i] does. */
bool store_job_allows(const struct store_job *job, const char *name);
/* Whether allow[] (with has_allow) lets the job read topic name. */
bool store_job_allows_name(const struct store_job *job, const char *name);
/* Free a job, its strings and rows, and NULL the caller's pointer. */
void store_job_free(struct store_job **job);
/* A completed job reached the service thread: call its done callback (if
 * any), then free it and NULL the caller's pointer. */
void store_job_finish(struct store_job **job);

#endif
