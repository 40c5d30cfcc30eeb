/*
 * redis_layout.h: where a Parley cluster keeps things in Redis, and the text
 * of what it publishes there. One place names every key and channel; the
 * Lua library (parley.lua) receives its keys from these functions, except
 * for the dead-node reaper, which rebuilds them the same way (the
 * integration test checks that both agree).
 *
 * Per topic T (n = strlen(T) in decimal; the length makes the names
 * unambiguous whatever T holds, and {T} keeps a topic's keys in one
 * Redis Cluster slot):
 *     pl:<n>:{T}:seq        string   the latest seq (INCR)
 *     pl:<n>:{T}:log        stream   history, entry id <seq>-0, fields t, m
 *     pl:<n>:{T}:ret        string   the retained message (payload text)
 *     pl:<n>:{T}:epoch      string   changes when Redis lost the topic
 *     pl:<n>:{T}:idem:<K>   string   publish key K -> seq, TTL = dedupe window
 *     pl:<n>:{T}:pres       hash     user -> how many nodes hold the user
 *     pl:<n>:{T}:red        zset     deleted messages' stubs, scored by seq
 *     pl:<n>:{T}:edits      zset     edit seqs, scored by the seq they edit
 *     pl:<n>:{T}:marks      hash     user -> read marker (chat, #16)
 * Per MQTT persistent session (clean session 0, #14) of client id C,
 * (n = strlen(C); the same conventions as a topic's keys, under pl:mq: so
 * that no client id can name a topic's key), each with the TTL
 * --mqtt-session-expiry, refreshed by every write:
 *     pl:mq:<n>:{C}:sess    hash     user, last_seen (ms)
 *     pl:mq:<n>:{C}:subs    hash     filter -> granted QoS
 *     pl:mq:<n>:{C}:cur     hash     topic -> the last seq C acknowledged
 *     pl:mq:<n>:{C}:q2      hash     inbound QoS 2 packet id -> seq, from
 *                                    its publish until PUBREL
 * Per cluster:
 *     pl:topics             zset     every topic published to (score 0, so
 *                                    ZRANGEBYLEX lists a name prefix)
 *     pl:sweep              string   the last topic the age sweep trimmed
 *                                    (pl_sweep_age's shared cursor)
 * Per node N (a random hex id per process):
 *     pl:nodes              zset     N scored by its heartbeat's expiry (ms)
 *     pl:node:N             string   heartbeat, PX ttl
 *     pl:node:N:pres        hash     "<n>:<T><user>" -> 1, the node's members
 * Channels: pl:ch:<T>, one per topic; a pattern subscription for a wildcard
 * subscribes to pl:ch:<literal prefix>* (glob characters escaped);
 * pl:marked, one for the cluster, carries read markers that moved;
 * pl:mqtt:claim, one for the cluster, "<node> <client id>" when an MQTT
 * client connects on node (any other node holding the id closes it).
 *
 * Payloads (stream field m, the retained value, and pub/sub messages):
 *     m <seq> <ts> <retain 0|1> <epoch> <fromlen> <from><data>
 *     c <seq> <ts> <retain 0|1> <epoch> <edit_of> <redacts> <reply_to>
 *       <redacted 0|1> <fromlen> <from><data>
 *                     a message with a chat relation (#16; one line): an
 *                     edit, a deletion, a reply, or a deleted message's
 *                     stub (redacted 1, data null); plain messages keep
 *                     the m form, so old payloads read the same
 *     j <user>        a user joined the topic's presence (first node)
 *     l <user>        a user left it (last node)
 *     k <n> <epoch> <node> <marker> <userlen> <user><topic>
 *                     on pl:marked: user's marker in topic moved to
 *                     marker, by a connection on node; n numbers it in
 *                     pl:marked:log (0: not logged), so a node that lost
 *                     its link fills what it missed
 *     e <node> <n> <ts> <retain 0|1> <fromlen> <from><data>
 *                     on pl:ch:<T> only, never stored: a message of an
 *                     ephemeral topic published on node, the node's n-th
 *                     (n tells the copies Redis sends one subscriber for
 *                     one PUBLISH, exact and pattern, from two messages);
 *                     no seq: each node numbers what it delivers
 *     r<rawlen> <raw><m, c or e payload>
 *                     the same message, carrying the exact MQTT payload
 *                     that its data does not give back (#14,
 *                     pl_mqtt_payload_needs_raw): a prefix, so every
 *                     other message is as before; a deletion's stub drops
 *                     it with the data
 */
#ifndef PARLEY_REDIS_LAYOUT_H
#define PARLEY_REDIS_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Big enough for any key or channel: a 255-byte topic, a 128-byte publish
 * key or a 64-byte user, and the decorations. */
#define REDIS_NAME_MAX 512

enum redis_topic_key {
    REDIS_KEY_SEQ,
    REDIS_KEY_LOG,
    REDIS_KEY_RET,
    REDIS_KEY_EPOCH,
    REDIS_KEY_PRES,
    REDIS_KEY_RED,
    REDIS_KEY_EDITS,
    REDIS_KEY_MARKS,
};

/* Write topic's key of kind k into buf (size n). Returns the length, or
 * -ENAMETOOLONG when it does not fit. */
int redis_layout_topic_key(char *buf, size_t n, const char *topic,
                           enum redis_topic_key k);

/* The idempotency key for publish key pkey on topic. As above. */
int redis_layout_idem_key(char *buf, size_t n, const char *topic,
                          const char *pkey);

/* The topic's channel, pl:ch:<topic>. As above. */
int redis_layout_channel(char *buf, size_t n, const char *topic);

/* The PSUBSCRIBE pattern for every topic that starts with the literal
 * prefix (possibly empty), with Redis's glob characters escaped. As above. */
int redis_layout_channel_pattern(char *buf, size_t n, const char *prefix);

/* The topic a channel name names: a pointer into channel, or NULL when it
 * is not a Parley channel. */
const char *redis_layout_channel_topic(const char *channel);

/* Node keys: the heartbeat key and the node's presence hash. As above. */
int redis_layout_node_key(char *buf, size_t n, const char *node_id);
int redis_layout_node_pres_key(char *buf, size_t n, const char *node_id);

enum redis_msess_key {
    REDIS_MSESS_SESS,
    REDIS_MSESS_SUBS,
    REDIS_MSESS_CUR,
    REDIS_MSESS_Q2,
};

/* An MQTT session's key of kind k for client_id. As above. */
int redis_layout_msess_key(char *buf, size_t n, const char *client_id,
                           enum redis_msess_key k);

/* The field of a node's presence hash for (topic, user). As above. */
int redis_layout_pres_field(char *buf, size_t n, const char *topic,
                            const char *user);

/* The zset of live nodes. */
#define REDIS_LAYOUT_NODES "pl:nodes"
/* The registry of topics (pl_publish adds each). */
#define REDIS_LAYOUT_TOPICS "pl:topics"
/* The age sweep's cursor in pl:topics (one for all nodes). */
#define REDIS_LAYOUT_SWEEP "pl:sweep"
/* The registry backfill's SCAN cursor ('done' when over; all nodes). */
#define REDIS_LAYOUT_BACKFILL "pl:backfill"
/* The channel of moved read markers, and the log that keeps the newest
 * of them (seq, stream, epoch: pl_since reads it as it reads a topic). */
#define REDIS_LAYOUT_MARKED "pl:marked"
#define REDIS_LAYOUT_MARKED_SEQ "pl:marked:seq"
#define REDIS_LAYOUT_MARKED_LOG "pl:marked:log"
#define REDIS_LAYOUT_MARKED_EPOCH "pl:marked:epoch"

/* The channel of MQTT client ids connecting: "<node> <client id>", so the
 * node that held the id closes that connection (MQTT 3.1.1 3.1.4). */
#define REDIS_LAYOUT_MQTT_CLAIM "pl:mqtt:claim"

enum redis_event_kind {
    REDIS_EVENT_MSG = 'm',
    REDIS_EVENT_JOIN = 'j',
    REDIS_EVENT_LEAVE = 'l',
    REDIS_EVENT_MARKED = 'k',
    REDIS_EVENT_EPHEMERAL = 'e',
};

/* One decoded payload. Text fields point into the parsed buffer (borrowed,
 * not NUL-terminated); only user is set for join and leave; a marker
 * (kind MARKED) sets seq (its number in the marked log, 0: not logged),
 * epoch (the log's), node, marker (the read marker), user and topic; an
 * ephemeral message
 * (kind EPHEMERAL) sets node, seq (the node's counter n), ts, retain, from
 * and data. A `c` payload decodes as kind MSG with its relations set. */
struct redis_event {
    enum redis_event_kind kind;
    uint64_t seq;
    int64_t ts;
    bool retain;
    const char *epoch;
    size_t epoch_len;
    const char *from;
    size_t from_len;
    const char *data;
    size_t data_len;
    const char *user;
    size_t user_len;
    uint64_t edit_of, redacts, reply_to; /* 0: none */
    bool redacted;     /* a deleted message's stub: data is null */
    const char *node;
    size_t node_len;
    const char *topic;
    size_t topic_len;
    uint64_t marker; /* MARKED: where the user's read marker is now */
    const char *raw; /* an `r` prefix's exact MQTT payload, or NULL */
    size_t raw_len;
};

/* Decode p[0..n). Returns 0, or -EINVAL when it is not a well-formed
 * payload (a node logs and skips it; it never trusts it half-way). */
int redis_event_parse(const char *p, size_t n, struct redis_event *ev);

/* Encode an ephemeral message (the `e` payload above, behind an `r` prefix
 * when raw_len > 0) into a malloc'd buffer, its length in *len. Returns
 * NULL when out of memory. */
char *redis_event_ephemeral(const char *node, uint64_t n, int64_t ts,
                            bool retain, const char *from, const char *data,
                            size_t data_len, const void *raw, size_t raw_len,
                            size_t *len);

/* The Lua library, embedded at build time (redis_lua.c). */
extern const char redis_lua_library[];
extern const unsigned long redis_lua_library_len;

#endif
