/*
 * mqtt_session.h: one MQTT 3.1.1 connection on the hub, in plain C with no
 * lws and no socket: bytes in (mqtt_session_feed), bytes out
 * (mqtt_session_pull, then mqtt_session_output). The transport
 * (mqtt_tcp.c, or a unit test) only moves bytes and keeps the timers.
 *
 * An MQTT connection is a hub connection of origin CONN_MQTT. Its packets
 * become the hub's own commands (pub, sub, unsub, hello), so MQTT and
 * JSON clients share topics, seq, storage, retained values, ACLs, rate
 * limits and queue bounds. The hub answers with the same frames it sends
 * a WebSocket, on the same out-queue; mqtt_session_pull turns them into
 * MQTT packets in queue order: a pub's ok into PUBACK or PUBREC (so they
 * follow the commit, as the JSON ack does), sub oks into one SUBACK, and
 * each msg frame into a PUBLISH at the connection's highest granted QoS.
 *
 * Service thread only.
 */
#ifndef PL_MQTT_SESSION_H
#define PL_MQTT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "mqtt_ids.h"
#include "mqtt_saved.h"

struct mqtt_session;

/* Counters every session of a listener set adds to (for /metrics). */
struct mqtt_stats {
    uint64_t connections;       /* gauge: sessions open */
    uint64_t connects;          /* CONNECTs accepted */
    uint64_t connects_refused;  /* CONNACK with a refusal code */
    uint64_t protocol_errors;   /* connections closed for a bad packet */
    uint64_t takeovers;         /* connections closed by a newer CONNECT */
    uint64_t wills;             /* wills published */
    uint64_t publishes_dropped; /* acknowledged but refused (ACL, topic) */
    uint64_t sessions_resumed;  /* CONNACK with session present */
    uint64_t session_gaps;      /* resumed topics whose missed messages
                                   were partly gone (retention) */
    uint64_t sessions_expired;  /* persistent sessions deleted by
                                   --mqtt-session-expiry */
    uint64_t sessions_stored;   /* gauge: persistent sessions kept */
};

struct mqtt_session_config {
    size_t max_packet;        /* the reader's bound, fixed header included */
    unsigned window;          /* QoS 1/2 deliveries unacknowledged, at most */
    int max_depth;            /* JSON nesting of a payload read as JSON */
    struct mqtt_stats *stats; /* may be NULL; must outlive the session */
    /* Persistent sessions (clean session 0), or NULL: then clean session
     * 0 is served as 1. Must outlive the session. */
    struct mqtt_saved_table *saved;
    /* Where a shared table's sessions are read (saved->shared). */
    const struct storage *storage;
};

/* What mqtt_session_feed wants the transport to do next. */
enum mqtt_feed_result {
    MQTT_FEED_OK = 0,     /* keep reading */
    MQTT_FEED_CLOSE = 1,  /* write what is pending, then close: the
                             client said DISCONNECT (no will), or a
                             CONNACK refused it */
    MQTT_FEED_ERROR = -1, /* a protocol error: close (the will goes) */
};

/* A session for hub connection c (origin CONN_MQTT, opened by the
 * caller, who still owns it). ids (the client id table, for takeover)
 * is shared by every session of one
 * listener set and must outlive them. NULL on OOM. */
struct mqtt_session *mqtt_session_new(struct hub *hub, struct conn *c,
                                      struct mqtt_ids *ids,
                                      const struct mqtt_session_config *cfg);
/* The connection ended: publish the will unless the client said
 * DISCONNECT, leave the id table, free. The caller then closes the hub
 * connection. NULLs *s. */
void mqtt_session_free(struct mqtt_session **s);

/* The topic a persistent session's gap notices go to (see
 * mqtt_session.c); a device subscribes to it by its exact name. */
#define MQTT_GAP_TOPIC_FMT "$parley/sessions/%s/gap"

/* Free a window item (a queued PUBLISH): the release function of every
 * window, also of one kept in a saved session. */
void mqtt_session_window_release(void *item, void *ctx);

/* The server is shutting down: that is not the client's loss, so the
 * will is not published (a device reconnects to the restarted server). */
void mqtt_session_forget_will(struct mqtt_session *s);

/* Bytes from the client. Every complete packet is handled at once. */
enum mqtt_feed_result mqtt_session_feed(struct mqtt_session *s, const void *in,
                                        size_t len);

/* Turn what the hub queued for the connection into MQTT packets, as far
 * as the in-flight window allows. scratch[0..cap) is the caller's
 * buffer for hub_conn_take. Returns 0 when done, 1 when more is ready
 * than was taken now (write the output, then pull again: no wake-up will
 * come for it), or -1 when the connection must close (the hub closed it,
 * or OOM). */
int mqtt_session_pull(struct mqtt_session *s, unsigned char *scratch,
                      size_t cap);

/* The packets ready to write: *len bytes at the returned pointer
 * (borrowed until mqtt_session_consume or the next feed or pull). */
const unsigned char *mqtt_session_output(const struct mqtt_session *s,
                                         size_t *len);
/* n bytes of the output were written. */
void mqtt_session_consume(struct mqtt_session *s, size_t n);

/* True once CONNECT was accepted. */
/* The hub connection the session drives (to wake it). */
struct conn *mqtt_session_conn(const struct mqtt_session *s);

/* Shared storage: client_id connected on a node (mine: this one), as the
 * cluster's claims are ordered. The session holding it here (if any; ids
 * is the listener set's table) closes at another node's claim heard
 * after its own, as a takeover on this node would close it; one heard
 * before its own is older than it. The storage's mqtt_taken callback. */
void mqtt_session_taken(void *ids, const char *client_id, bool mine);

/* A DISCONNECT that waited for the stored session came: close once the
 * output is written. */
bool mqtt_session_closing(const struct mqtt_session *s);
bool mqtt_session_connected(const struct mqtt_session *s);
/* The keepalive the client asked for, in seconds (0: none). */
unsigned mqtt_session_keepalive(const struct mqtt_session *s);
/* True while the client has more than `bound` commands waiting for the
 * hub's answer: the transport stops reading until they are answered. */
bool mqtt_session_backed_up(const struct mqtt_session *s, unsigned bound);

#endif
