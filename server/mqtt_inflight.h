/*
 * mqtt_inflight.h: MQTT QoS 1 and 2 bookkeeping of one session, with no
 * I/O: the window of deliveries sent to a subscriber and not yet
 * acknowledged, and the packet ids of the client's own QoS 2 publishes
 * that were received and not yet released.
 *
 * Outbound (server -> subscriber), MQTT 3.1.1 section 4.3:
 *     id = mqtt_inflight_add(&w, msg, qos, now)   -> send PUBLISH id
 *     QoS 1: PUBACK id   -> mqtt_inflight_puback()   (msg released)
 *     QoS 2: PUBREC id   -> mqtt_inflight_pubrec()   -> PUBREL
 *            PUBCOMP id  -> mqtt_inflight_pubcomp()  (msg released, id free)
 *     reconnect, or a timer: mqtt_inflight_resend() in send order
 *     a persistent session: no id past w->lease ("Packet id leases")
 *
 * Inbound QoS 2 (client -> server), "stored once":
 *     PUBLISH id  -> mqtt_qos2_rx_publish(): NEW -> store it, then
 *                    mqtt_qos2_rx_stored() and PUBREC; a duplicate is
 *                    never stored again
 *     PUBREL id   -> mqtt_qos2_rx_release(), then PUBCOMP
 *
 * Service thread only (one session belongs to one connection at a time).
 * Functions return 0 or a negative errno unless they say otherwise.
 */
#ifndef MQTT_INFLIGHT_H
#define MQTT_INFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#define MQTT_INFLIGHT_WINDOW_MAX 65535 /* every packet id in use */

enum mqtt_inflight_state {
    MQTT_INFLIGHT_FREE = 0,  /* a hole left by an ack out of order */
    MQTT_INFLIGHT_WAIT_ACK,  /* PUBLISH sent: PUBACK (1) or PUBREC (2) next */
    MQTT_INFLIGHT_WAIT_COMP, /* QoS 2: PUBREL sent, PUBCOMP next */
};

/* One delivery in the window. */
struct mqtt_inflight_entry {
    void *item;          /* the caller's message, until the ack that
                            ends the exchange (PUBACK, PUBCOMP) */
    uint64_t sent_ms;    /* when it was last sent */
    uint16_t packet_id;
    uint8_t qos;         /* 1 or 2 */
    uint8_t state;       /* enum mqtt_inflight_state */
};

/* Gives an item back to its owner (e.g. drops a message reference). */
typedef void (*mqtt_inflight_release_fn)(void *item, void *ctx);

/*
 * The window: a ring of slots in send order. An ack out of order leaves a
 * hole, and the window counts slots from the oldest unacknowledged to the
 * newest, holes included, so a delivery that is never acknowledged stops
 * new ones after `cap` sends instead of letting them pass it for ever.
 */
struct mqtt_inflight {
    struct mqtt_inflight_entry *ring; /* owned */
    unsigned cap;        /* the window */
    unsigned head;       /* the oldest slot in use */
    unsigned span;       /* slots from head to the newest, holes included */
    unsigned live;       /* slots not FREE */
    uint64_t issued;     /* packet ids handed out so far, as a count:
                            the last one is mqtt_pid_of(issued) */
    uint64_t lease;      /* no id past the lease-th is handed out (a
                            persistent session's committed lease; else
                            UINT64_MAX) */
    mqtt_inflight_release_fn release;
    void *ctx;
};

/* A window of `window` deliveries (1..MQTT_INFLIGHT_WINDOW_MAX): -EINVAL
 * outside that, -ENOMEM. release may be NULL (items are not owned). */
int mqtt_inflight_init(struct mqtt_inflight *w, unsigned window,
                       mqtt_inflight_release_fn release, void *ctx);
/* Releases every item still held and frees the ring. */
void mqtt_inflight_cleanup(struct mqtt_inflight *w);

/* True when no delivery can be added now (the window is full, or its
 * lease is used up): keep it queued until an ack or a lease. */
bool mqtt_inflight_full(const struct mqtt_inflight *w);
unsigned mqtt_inflight_count(const struct mqtt_inflight *w);

/*
 * Takes item (the window owns it from now on) as a delivery at QoS 1 or 2
 * sent at now_ms, and returns its packet id (1..65535, the next one after
 * the last that is not in use), or -EAGAIN when the window is full or
 * the next id is past the lease, or
 * -EINVAL for another QoS (the item is then not taken).
 */
int mqtt_inflight_add(struct mqtt_inflight *w, void *item, uint8_t qos,
                      uint64_t now_ms);

/*
 * Puts back a delivery read from a stored session, with its own packet id
 * and state (WAIT_ACK, or WAIT_COMP with item NULL), as the newest entry.
 * -EEXIST when the id is in use, -EAGAIN when full, -EINVAL otherwise.
 */
int mqtt_inflight_restore(struct mqtt_inflight *w, void *item, uint8_t qos,
                          enum mqtt_inflight_state state, uint16_t packet_id,
                          uint64_t now_ms);

/* The delivery holding packet_id, or NULL (to read its item before the
 * ack releases it). */
const struct mqtt_inflight_entry *
mqtt_inflight_get(const struct mqtt_inflight *w, uint16_t packet_id);
/* The k-th slot from the oldest, FREE ones included; NULL past the
 * newest. */
const struct mqtt_inflight_entry *
mqtt_inflight_at(const struct mqtt_inflight *w, unsigned k);

/* PUBACK: the QoS 1 delivery is done. -ENOENT for an id not in flight,
 * -EPROTO for a QoS 2 delivery's id. */
int mqtt_inflight_puback(struct mqtt_inflight *w, uint16_t packet_id);

/* PUBREC: PUBREL is due (also for a repeated PUBREC: PUBREL again); the
 * item is kept until PUBCOMP. -ENOENT, or -EPROTO for a QoS 1
 * delivery's id. */
int mqtt_inflight_pubrec(struct mqtt_inflight *w, uint16_t packet_id,
                         uint64_t now_ms);

/* PUBCOMP: the QoS 2 delivery is done, its item released and its id
 * free. -ENOENT, or -EPROTO when no PUBREC came first. */
int mqtt_inflight_pubcomp(struct mqtt_inflight *w, uint16_t packet_id);

/* Called for each delivery to send again: a PUBLISH with DUP set when
 * e->state is WAIT_ACK, a PUBREL when it is WAIT_COMP. */
typedef void (*mqtt_inflight_resend_fn)(const struct mqtt_inflight_entry *e,
                                        void *arg);

/*
 * Calls fn, oldest first, for the deliveries last sent at least min_age_ms
 * before now_ms, and marks them sent now. It stops at the first one that
 * is not due, so what is resent is always the oldest part of the window
 * in its order. min_age_ms 0 resends everything (a session resumed by a
 * reconnect, 4.4). Returns how many it resent.
 */
unsigned mqtt_inflight_resend(struct mqtt_inflight *w, uint64_t now_ms,
                              uint64_t min_age_ms, mqtt_inflight_resend_fn fn,
                              void *arg);

/* ------------------------------------------------------------------ */
/* Packet id leases (persistent sessions, across a crash)              */
/* ------------------------------------------------------------------ */

/*
 * A persistent session counts the packet ids it hands out (1, 2, 3, ...
 * for ever); the n-th is mqtt_pid_of(n), so ids run 1..65535 and wrap to
 * 1, never 0. The count never passes a lease L committed to the store, so
 * after a crash every id the old process sent has a count <= the stored
 * L. A client following 4.3.3 Method B holds a QoS 2 id from PUBLISH to
 * PUBREL; a new lease L + S is asked for only when every count the client
 * may hold is above L + S - R (mqtt_pid_lease_next), so the ids it can
 * hold after a crash are among the R counts up to the stored lease
 * (mqtt_pid_sweep): the resumed session sends PUBREL for those, and hands
 * out new ids above L.
 *
 * Safety does not depend on R: the ask itself checks the oldest count
 * the client may hold. R = 3S/2 + W (W: the window) is the least R that
 * never holds an ask back in a steady flow: it is made when the count
 * gets within S/2 of L, i.e. at count >= L - S/2, and the deliveries in
 * flight then are at most the last W handed out (acks come in order),
 * so their counts are > count - W >= L - S/2 - W = (L + S) - R. An ask
 * is held back (and deliveries wait once the lease is used up) while a
 * QoS 2 delivery older than that, or a PUBREL of the sweep, is
 * unanswered. With S = 256 and the listener's W = 64: R = 448, so a
 * restart costs each persistent session at most 448 PUBRELs.
 */
#define MQTT_PID_LEASE_STEP 256u

/* The packet id of the n-th id handed out (n >= 1). */
uint16_t mqtt_pid_of(uint64_t n);
/* The latest count <= issued whose id is pid (1..65535): what an id in
 * flight stands for, when issued counts at most 65535 past it. */
uint64_t mqtt_pid_count(uint64_t issued, uint16_t pid);
/* R: the counts up to a stored lease that a client may still hold. */
uint64_t mqtt_pid_hold_bound(unsigned window);
/* The lease to ask for now, or 0: issued ids so far, the lease committed,
 * oldest the lowest count the client may hold (issued + 1: none). */
uint64_t mqtt_pid_lease_next(uint64_t issued, uint64_t lease,
                             uint64_t oldest, unsigned window);
/* After a restart with stored lease: the counts from *from, *n of them,
 * whose ids get a PUBREL. A lease of 0 was never used: none. */
void mqtt_pid_sweep(uint64_t lease, unsigned window, uint64_t *from,
                    uint64_t *n);
/* The lowest count of a QoS 2 delivery in w (what the client may hold),
 * or w->issued + 1 when there is none. */
uint64_t mqtt_inflight_oldest_qos2(const struct mqtt_inflight *w);

/* The PUBRELs a resumed session owes (the sweep) until their PUBCOMP:
 * counts from..from+n-1, each still owed or not. */
struct mqtt_pid_owed {
    uint64_t from;
    uint32_t n;
    uint32_t left;  /* still owed */
    uint32_t lo;    /* none owed below from + lo */
    uint8_t *bits;  /* owned; n bits */
};

/* All of from..from+n-1 owed (n <= 65535). -EINVAL, -ENOMEM. */
int mqtt_pid_owed_init(struct mqtt_pid_owed *o, uint64_t from, uint32_t n);
void mqtt_pid_owed_cleanup(struct mqtt_pid_owed *o);
/* PUBCOMP pid: true when it was owed (now it is not). */
bool mqtt_pid_owed_done(struct mqtt_pid_owed *o, uint16_t pid);
/* The lowest count still owed, or UINT64_MAX. */
uint64_t mqtt_pid_owed_oldest(const struct mqtt_pid_owed *o);
/* fn(pid, arg) for the ids still owed, lowest count first, from the
 * *next-th count of the range on and at most max of them; *next moves
 * past the last one given (a paced walk: start at 0, done when *next is
 * at o->n). */
void mqtt_pid_owed_each(const struct mqtt_pid_owed *o, uint32_t *next,
                        uint32_t max, void (*fn)(uint16_t pid, void *arg),
                        void *arg);

/* ------------------------------------------------------------------ */
/* Inbound QoS 2                                                       */
/* ------------------------------------------------------------------ */

enum mqtt_qos2_rx_verdict {
    MQTT_QOS2_RX_NEW = 1,     /* store the message; PUBREC after commit */
    MQTT_QOS2_RX_STORING,     /* a duplicate while the first is stored:
                               * nothing now, PUBREC follows the commit */
    MQTT_QOS2_RX_STORED,      /* a duplicate of a stored one: PUBREC only */
};

/* The client's QoS 2 packet ids received and not yet released, at most
 * `cap` of them (the client has no more in flight than that). */
struct mqtt_qos2_rx {
    uint16_t *ids;       /* owned; unordered */
    uint8_t *stored;     /* owned; 1 when ids[i]'s message is committed */
    unsigned n;
    unsigned cap;
};

int mqtt_qos2_rx_init(struct mqtt_qos2_rx *rx, unsigned cap);
void mqtt_qos2_rx_cleanup(struct mqtt_qos2_rx *rx);

/* A QoS 2 PUBLISH with this id arrived: a verdict above, or -ENOSPC when
 * cap ids are already unreleased (a flood: close), -EINVAL for id 0. */
int mqtt_qos2_rx_publish(struct mqtt_qos2_rx *rx, uint16_t packet_id);

/* The message of a NEW verdict is committed: send PUBREC. -ENOENT. */
int mqtt_qos2_rx_stored(struct mqtt_qos2_rx *rx, uint16_t packet_id);

/* Storing the message of a NEW verdict failed: forget the id, so that the
 * client's retry is NEW again. */
void mqtt_qos2_rx_forget(struct mqtt_qos2_rx *rx, uint16_t packet_id);

/* PUBREL: the id is released (answer PUBCOMP). -ENOENT for an id not held
 * (answer PUBCOMP all the same, 4.3.3), -EPROTO while its message is
 * still being stored (no PUBREC was sent, so the client broke the flow). */
int mqtt_qos2_rx_release(struct mqtt_qos2_rx *rx, uint16_t packet_id);

#endif
