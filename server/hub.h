/*
 * hub.h: Parley's heart, in plain C with no lws: connections' sessions,
 * topics, subscriptions, presence, publish and fan-out, recovery.
 *
 * The transport (ws.c, http.c, or a unit test) feeds the hub decoded text
 * and store completions, and the hub calls back only through struct
 * hub_ops; it reaches durable storage only through struct storage
 * (storage.h). Every function runs on the service thread.
 */
#ifndef PL_HUB_H
#define PL_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "hub_types.h"
#include "storage.h"

struct hub;
struct pl_cmd;

struct hub_config {
    const void *secret;        /* non-NULL turns auth on */
    size_t secret_len;
    size_t queue_bytes;        /* out-queue bound per connection */
    uint32_t queue_msgs;
    uint32_t max_subs;         /* subscriptions per connection */
    uint32_t recent_msgs;      /* recent ring per topic */
    size_t recent_bytes;
    size_t recent_memory;      /* every ring together; 0: no bound */
    const char *const *ephemeral; /* patterns of topics never stored */
    size_t n_ephemeral;
    double rate;               /* publishes per second per connection, 0: off */
    double burst;
    size_t store_pending_max;  /* beyond this, pub is `overloaded` */
    int max_depth;             /* JSON nesting limit */
    bool persist;              /* false: no store at all (tests) */
    int64_t retain_messages;   /* the store's retention, so the recent */
    int64_t retain_age_ms;     /* ring never serves what it deleted */
    uint32_t sys_interval_ms;  /* $SYS values every so often; 0: no $SYS */
};

struct hub_ops {
    /* c has frames queued (or a close code set): the transport should
     * write soon, through hub_conn_take and hub_conn_wrote. Called once
     * until the transport takes the queue again. */
    void (*wake)(void *ctx, struct conn *c);
    /* Milliseconds since the epoch. */
    int64_t (*now_ms)(void *ctx);
};

struct hub_stats {
    uint64_t connections;
    uint64_t connections_total;
    uint64_t subscriptions;
    uint64_t topics;
    uint64_t recent_bytes;       /* every topic's recent ring together */
    uint64_t messages_in;
    uint64_t bytes_in;           /* command text received */
    uint64_t messages_out;       /* deliveries queued to connections */
    uint64_t bytes_out;          /* counted by the transport */
    uint64_t queue_drops;        /* messages dropped with a culled queue */
    uint64_t slow_consumers;     /* 4008 closes */
    uint64_t errors_sent;
    uint64_t publish_failures;   /* store errors */
    uint64_t rate_limited;       /* commands refused by the rate limit */
    uint64_t subs_refused;       /* sub past --max-subs */
    uint64_t overloaded;         /* other overloaded refusals */
};

/* A hub that stores through `storage` (copied; the engine behind it must
 * outlive the hub). storage may be NULL only when cfg->persist is false. */
struct hub *hub_new(const struct hub_config *cfg, const struct hub_ops *ops,
                    void *ctx, const struct storage *storage);
void hub_free(struct hub **hub);

/* A configuration reload: take cfg's limits (queue bounds, max_subs,
 * store_pending_max), retention (the storage engine is told apart),
 * rate and burst, secret (borrowed like hub_new's: the caller keeps it
 * alive) and ephemeral patterns (copied). The rest of cfg is ignored: it
 * needs a restart. Connections already authenticated stay so; ephemeral
 * patterns apply to topics the hub meets from now on. Returns 0, or
 * -ENOMEM with nothing changed. Service thread only. */
int hub_reconfigure(struct hub *hub, const struct hub_config *cfg);

/* Start-up: make every stored topic known with its last seq and retained
 * message (before traffic). Returns 0 or what the storage's load did. */
int hub_load(struct hub *hub);
/* The same for one topic. */
int hub_load_topic(struct hub *hub, const struct store_topic_info *info);

/* A new connection (a WebSocket session or one API request). NULL on
 * OOM. */
struct conn *hub_conn_open(struct hub *hub, enum conn_origin origin,
                           void *transport);
/* The connection is gone: presence leave, unsubscribe, free, NULL *c. */
void hub_conn_close(struct hub *hub, struct conn **c);
/* Find a connection by id (completions carry ids, never pointers). */
struct conn *hub_conn_find(struct hub *hub, uint64_t id);

/* One complete text message from the client. */
void hub_conn_text(struct hub *hub, struct conn *c, const char *text,
                   size_t len);
/* A command parsed (or built) by the transport, run as if it had arrived
 * as text: same checks, same reply frames on c's queue. cmd is borrowed.
 * An API request sends one command with an id and takes the one reply. */
void hub_conn_cmd(struct hub *hub, struct conn *c, const struct pl_cmd *cmd);
/* One complete binary message: answered with bad_request. */
void hub_conn_binary(struct hub *hub, struct conn *c);
/* Token from `?token=` on the upgrade: PL_OK counts as hello. */
enum pl_err hub_conn_token(struct hub *hub, struct conn *c, const char *token);
/* Claims the transport already verified (the upgrade's ?token=): the
 * same as a valid token, without verifying it again. Takes ownership of
 * claims (heap-allocated, released with pl_claims_cleanup and free). */
void hub_conn_adopt_claims(struct hub *hub, struct conn *c,
                           struct pl_claims *claims);

/* The transport wrote frames; when the queue is short, the hub refills it
 * with paced replay pages. (hub_conn_wrote calls it.) */
void hub_conn_drained(struct hub *hub, struct conn *c);

/* What a transport may write for a connection now (hub_out.c). */
struct hub_out {
    const unsigned char *data;  /* borrowed until hub_conn_wrote */
    size_t len;
    uint32_t frames;            /* whole queued frames in data */
};

/* Take what c has ready to write, oldest first, without dequeuing it: as
 * many whole frames as fit in cap bytes, copied into buf; or, when the
 * first is larger than cap, that frame alone in place. Stops at a reply
 * still waiting for the store. Also ends c's wake-up episode: queueing
 * after this calls ops->wake again. Returns 1 when out holds something,
 * 0 when nothing is ready. */
int hub_conn_take(struct hub *hub, struct conn *c, unsigned char *buf,
                  size_t cap, struct hub_out *out);
/* The raw MQTT payload (msg.h) kept with the i-th frame the last
 * hub_conn_take handed out, or NULL (*len 0) when its message has none.
 * Borrowed until hub_conn_wrote. */
const unsigned char *hub_conn_taken_raw(const struct conn *c, uint32_t i,
                                        size_t *len);
/* The transport wrote out (from hub_conn_take; len 0 is fine): drop those
 * frames and refill paced replays. Returns true when more is ready and
 * the transport must ask for a writeable callback itself (no ops->wake
 * will come for it). */
bool hub_conn_wrote(struct hub *hub, struct conn *c, const struct hub_out *out);
/* The transport stopped taking c's queue for a reason of its own (an MQTT
 * session's in-flight window is full) while frames are ready: from now on
 * the next frame queued, or a close, calls ops->wake again, so that a
 * cull is not missed while the transport waits. */
void hub_conn_wait(struct hub *hub, struct conn *c);
/* Entries on c's out-queue (for the transport's input backpressure). */
uint32_t hub_conn_queued(const struct conn *c);

/* Close c with a WebSocket close code (e.g. 1009): its queue is dropped,
 * nothing more is read or sent, and the transport sends the close frame
 * from its next writeable callback. */
void hub_conn_kill(struct hub *hub, struct conn *c, int code);

/* The transport has output of its own for c (an answer that waited for
 * storage outside the hub): ask it to write, as queueing a frame does. */
void hub_conn_wake(struct hub *hub, struct conn *c);

/* Mark every connection closing with code (shutdown: 1001) and wake it. */
void hub_close_all(struct hub *hub, int code);

/* Completed store jobs, oldest first (takes ownership of the list). */
void hub_store_done(struct hub *hub, struct store_job *list);
/* The same, but stop once about `budget` bytes of messages were fanned
 * out, and return the jobs not handled yet (the caller feeds them in again
 * after the connections had a chance to write). This keeps one big store
 * batch from landing on every subscriber's queue in a single burst. */
struct store_job *hub_store_done_some(struct hub *hub, struct store_job *list,
                                      size_t budget);

/* {"topics":[...]} for GET /api/topics into b: the topics c's token may
 * subscribe to, as the topics command lists them (c: the request's
 * connection, after its auth). */
void hub_topics_json(struct hub *hub, struct conn *c, const char *prefix,
                     struct pl_buf *b);
/* True when the topics op must ask the storage (a cluster: this node
 * knows only the topics it heard), so an API request sends the op through
 * hub_conn_cmd rather than hub_topics_json. */
bool hub_lists_topics_from_storage(const struct hub *hub);

const struct hub_stats *hub_get_stats(struct hub *hub);
struct hub_stats *hub_stats_mut(struct hub *hub);
bool hub_auth_enabled(const struct hub *hub);

/* MQTT persistent sessions (resume.c). For each known stored topic a
 * resumed filter matches: the seq the client already has (it gets every
 * later one), or -1 for none of the topic's messages. */
typedef int64_t (*hub_cursor_fn)(void *arg, const char *topic,
                                 int64_t last_seq);
/* Subscribe c to pattern with no reply and no retained copies, and
 * replay each matching topic from its cursor, before its live messages.
 * PL_OK, or why not (forbidden, overloaded; internal on OOM, which also
 * closes c). With shared storage the pattern's state is read first (as
 * a sub's is): PL_OK then means it will be; cursor and arg must live as
 * long as c. */
enum pl_err hub_conn_resume(struct hub *hub, struct conn *c,
                            const char *pattern, hub_cursor_fn cursor,
                            void *arg);
/* fn(arg, name, last seq) for every known stored topic pattern matches
 * (a concrete pattern: that topic, when known). */
void hub_topics_stored(struct hub *hub, const char *pattern,
                       void (*fn)(void *arg, const char *topic, int64_t seq),
                       void *arg);
/* A storage write that c's answer waits for, in command order (an MQTT
 * PUBREL's release, #14): job (taken) is submitted, and c's queue gets
 * {"op":"ok","id":id} once it committed, or an internal error. id must
 * not be 0. Returns 0, or -1 when c got an error at once (OOM). */
int hub_conn_store_write(struct hub *hub, struct conn *c, int64_t id,
                         struct store_job *job);

#endif
