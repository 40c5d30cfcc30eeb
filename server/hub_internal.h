/*
 * hub_internal.h: what the hub's own files share (hub.c, session.c,
 * presence.c, replay.c). Not for the transport or anyone else: they use
 * hub.h. Service thread only.
 */
#ifndef PL_HUB_INTERNAL_H
#define PL_HUB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cmd.h"
#include "conn.h"
#include "hub.h"
#include "sys_state.h"
#include "topic_tree.h"

#define REPLAY_LOW_BYTES (256 * 1024) /* refill replays below this */
#define REPLAY_PAGE_ROWS 256
#define TOPICS_LIST_MAX 1000
/* history reads one connection may have waiting on the store */
#define HISTORY_INFLIGHT_MAX 64

struct hub {
    struct hub_config cfg;
    char **ephemeral;
    const struct hub_ops *ops;
    void *ctx;
    struct storage storage;  /* ops NULL when nothing persists */
    struct topic_tree tree;
    struct conn_table conns;
    struct hub_stats stats;
    struct sub **subs;       /* (conn, pattern) -> sub, chained by h_next */
    uint32_t subs_cap;       /* power of two */
    uint64_t gen; /* publish generation, for at-most-once */
    uint64_t next_replay_id;
    /* Topics with a non-empty recent ring, least recently pushed first
     * (their bytes together: stats.recent_bytes, <= cfg.recent_memory). */
    struct topic *ring_lru;
    struct topic *ring_mru;
    struct pl_buf buf; /* scratch for building frames */
    struct sys_state sys; /* $SYS topics (sys.c) */
    struct sub_wait *sub_waits; /* subs waiting for their topic's state
                                   (shared storage), newest first */
};

/* hub.c: helpers */
int64_t hub_now(struct hub *hub);
char *hub_strdup(const char *s);
/* The scratch buffer, emptied; valid until the next hub_scratch(). */
struct pl_buf *hub_scratch(struct hub *hub);
bool hub_is_ephemeral(struct hub *hub, const char *topic);

/* hub.c: sending to one connection */
void hub_wake(struct hub *hub, struct conn *c);
/* Close c with a WebSocket code: queue and replays dropped, woken. */
void hub_cull(struct hub *hub, struct conn *c, int code);
/* Queue m (a new reference); paced entries skip the bound. */
void hub_push(struct hub *hub, struct conn *c, struct msg *m, bool paced);
/* Queue the frame built in b (copied into a new msg). */
void hub_send_buf(struct hub *hub, struct conn *c, struct pl_buf *b);
/* An error reply. */
void hub_send_error(struct hub *hub, struct conn *c, int64_t id,
                    enum pl_err err, const char *why);
/* {"op":"ok","id":id} when id != 0. */
void hub_send_ok(struct hub *hub, struct conn *c, int64_t id);

/* hub.c: topics */
struct topic *hub_topic(struct hub *hub, const char *name, bool create);
void hub_topic_maybe_free(struct hub *hub, struct topic *t);
struct msg *hub_recent_get(struct hub *hub, const struct topic *t, int64_t seq);
struct msg *hub_encode_msg(struct hub *hub, const char *topic, int64_t seq,
                           int64_t ts, const char *from, const char *data,
                           size_t data_len, bool retained);
/* hub_encode_msg with chat relations (refs may be NULL: none). */
struct msg *hub_encode_msg_refs(struct hub *hub, const char *topic,
                                int64_t seq, int64_t ts, const char *from,
                                const char *data, size_t data_len,
                                bool retained, const struct pl_msg_refs *refs);
/* The chat relations of a stored row, as frames carry them. */
void hub_row_refs(const struct store_row *row, struct pl_msg_refs *refs);
/* A deletion of t's seq committed (#16): forget what memory holds of the
 * erased data (the recent ring; the retained copy when it is seq's or the
 * store cleared it). */
void hub_topic_redacted(struct hub *hub, struct topic *t, int64_t seq,
                        bool retained_cleared);
/* raw[0..raw_len): the message's exact MQTT payload (msg.h), NULL/0 when
 * it has none; copied. */
void hub_set_retained(struct hub *hub, struct topic *t, int64_t seq, int64_t ts,
                      const char *from, const char *data, size_t data_len,
                      bool data_is_null, const void *raw, size_t raw_len);
/* A committed (or ephemeral) message: ring, retained, fan-out. */
void hub_publish_commit(struct hub *hub, struct topic *t, int64_t seq,
                        int64_t ts, const char *from, const char *data,
                        size_t data_len, bool data_is_null, bool retain);
/* The same with chat relations (refs may be NULL: none) and the exact
 * MQTT payload the message keeps for MQTT subscribers (raw NULL, raw_len 0:
 * none; copied into the msg and its retained copy). */
void hub_publish_commit_refs(struct hub *hub, struct topic *t, int64_t seq,
                             int64_t ts, const char *from, const char *data,
                             size_t data_len, bool data_is_null, bool retain,
                             const struct pl_msg_refs *refs, const void *raw,
                             size_t raw_len);

/* hub.c: subscriptions */
/* c's subscription to exactly this pattern, or NULL: O(1), so a client
 * at its subscription cap cannot make every sub cost a long scan. */
struct sub *hub_sub_find(struct hub *hub, struct conn *c, const char *pattern);
struct sub *hub_sub_add(struct hub *hub, struct conn *c, const char *pattern,
                        bool is_pattern);
void hub_sub_remove(struct hub *hub, struct sub *s);
/* True when one of c's subscriptions covers topic t. */
bool hub_conn_wants(const struct conn *c, const struct topic *t);

/* session.c: a reply that waits for a store read. hub_submit_read queues
 * a placeholder on c (keeping replies in order), lets job carry it, counts
 * it against c's reads in flight and submits job (its req_id and done set
 * by the caller); on refusal c gets the error and the job is freed:
 * returns 0 or -1. In the done callback, hub_read_conn gives the
 * connection to answer (NULL when it is gone: the placeholder is
 * dropped), and hub_read_reply fills the placeholder with b. */
int hub_submit_read(struct hub *hub, struct conn *c, struct store_job *job);
struct conn *hub_read_conn(struct hub *hub, struct store_job *job);
void hub_read_reply(struct hub *hub, struct conn *c, struct store_job *job,
                    struct pl_buf *b);
/* Shared storage: submit a read of kind (UNREAD, TOPICS) that the engine
 * answers by listing stored topics itself: topic cmd->topic (a pattern,
 * or a prefix), from c's user, allowed by c's token, at most
 * TOPICS_LIST_MAX, done taking the completion. 0 or -1 (c got the
 * error). */
int hub_submit_listing(struct hub *hub, struct conn *c,
                       const struct pl_cmd *cmd, enum store_job_kind kind,
                       void (*done)(void *, struct store_job *));

/* chat.c: read markers and unread counts (#16) */
void chat_mark(struct hub *hub, struct conn *c, const struct pl_cmd *cmd);
void chat_unread(struct hub *hub, struct conn *c, const struct pl_cmd *cmd);
void chat_search(struct hub *hub, struct conn *c, const struct pl_cmd *cmd);
/* Shared storage: user's marker in topic moved to seq on another node;
 * tell every connection of user here. */
void chat_marked_heard(struct hub *hub, const char *user, const char *topic,
                       int64_t seq);

/* presence.c */
void presence_join(struct hub *hub, struct topic *t, const char *user);
void presence_leave(struct hub *hub, struct topic *t, const char *user);
/* A cluster-wide join or leave from shared storage: tell this node's
 * presence subscribers of topic (not user's own connections). */
void presence_heard(struct hub *hub, const char *topic, const char *user,
                    bool join);

/* sys.c */
void sys_init(struct hub *hub);
void sys_cleanup(struct hub *hub);
/* c is being culled as a slow consumer: queue the event. */
void sys_slow_consumer(struct hub *hub, const struct conn *c);
/* A sub to pattern is about to be added: a first `$` one gets fresh
 * values (retained) before its retained walk. */
void sys_before_sub(struct hub *hub, const char *pattern);

/* replay.c */
int replay_sub(struct hub *hub, struct conn *c, const struct pl_cmd *cmd,
               struct topic *t, struct pending_reply *pr);
void replay_reply_release(struct hub *hub, struct conn *c,
                          struct pending_reply *pr);
void replay_advance(struct hub *hub, struct conn *c);
/* resume.c's replay of t to c from since + 1 up to the topic's seq now,
 * before its live messages (no reply waits on it). 0 or -ENOMEM. */
/* session.c: a STATE job's answer (shared storage) into the node's
 * topics: the topic's seq and retained value, or a pattern's topics. */
struct store_job;
void hub_state_apply(struct hub *hub, const struct store_job *job,
                     bool is_pattern);

int replay_resume(struct hub *hub, struct conn *c, struct topic *t,
                  int64_t since);
bool replay_hold(struct hub *hub, struct conn *c, const struct topic *t,
                 struct msg *m);
size_t replay_held_bytes(const struct conn *c);
struct replay *replay_find(struct conn *c, const struct topic *t);
void replay_free(struct hub *hub, struct conn *c, struct replay **rp);
void replay_drop_unmatched(struct hub *hub, struct conn *c);

/* once.c: at most once per connection. Every path that sends a topic's
 * message to a connection (live fan-out, the retained copy, since/history
 * replays) goes through once_push, which skips what the connection has
 * already been sent while it covers the topic (its delivered.h record).
 * Losing every subscription that covers a topic forgets its record, so an
 * unsub followed by a new sub starts afresh. (Declared here, not in a
 * once.h, because it is a part of the hub as replay.c is: hub.c calls it,
 * and it calls hub_push.) */
struct sub;
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
