/*
 * mqtt_inflight.c: owns a session's QoS 1/2 state (mqtt_inflight.h): the
 * window of unacknowledged deliveries to a subscriber, and the ids of the
 * client's QoS 2 publishes not yet released. No lws, no hub, no storage;
 * the listener calls it on each packet and on its retry timer, and the
 * session store saves and restores what it holds.
 *
 * DESIGN: a ring in send order, because everything MQTT asks of the
 * outbound side is ordered: deliveries are sent in order, resent in the
 * same order with their original ids on reconnect (4.4), and the window
 * bounds how far ahead of the oldest unacknowledged one we may run. An
 * ack out of order leaves a hole that the ring's ends skip. Packet ids
 * run upwards from the last one handed out and skip those in use; with
 * ids freed roughly in order, the next id is almost always free at the
 * first try. Finding an id is a scan of the window: windows are small
 * (tens to hundreds), so this beats an 8 KiB bitmap per connection.
 *
 * The inbound QoS 2 set is what keeps a retried publish from being stored
 * twice: an id is held from the first PUBLISH until PUBREL, and a
 * duplicate in that time is answered, never stored. Whether the first
 * copy's commit is done decides when PUBREC may go (after commit only).
 *
 * Service thread only; no globals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_inflight.h"

int mqtt_inflight_init(struct mqtt_inflight *w, unsigned window,
                       mqtt_inflight_release_fn release, void *ctx)
{
    memset(w, 0, sizeof(*w));
    if (window == 0 || window > MQTT_INFLIGHT_WINDOW_MAX)
        return -EINVAL;
    w->ring = calloc(window, sizeof(*w->ring));
    if (w->ring == NULL)
        return -ENOMEM;
    w->cap = window;
    w->lease = UINT64_MAX;
    w->release = release;
    w->ctx = ctx;
    return 0;
}

/* The k-th slot from the oldest (k < w->span). */
static struct mqtt_inflight_entry *inflight_slot(const struct mqtt_inflight *w,
                                                 unsigned k)
{
    return &w->ring[(w->head + k) % w->cap];
}

static void inflight_release(struct mqtt_inflight *w,
                             struct mqtt_inflight_entry *e)
{
    if (e->item != NULL && w->release != NULL)
        w->release(e->item, w->ctx);
    e->item = NULL;
}

void mqtt_inflight_cleanup(struct mqtt_inflight *w)
{
    for (unsigned k = 0; k < w->span; k++) {
        struct mqtt_inflight_entry *e = inflight_slot(w, k);

        if (e->state != MQTT_INFLIGHT_FREE)
            inflight_release(w, e);
    }
    free(w->ring);
    memset(w, 0, sizeof(*w));
}

bool mqtt_inflight_full(const struct mqtt_inflight *w)
{
    return w->span >= w->cap || w->issued >= w->lease;
}

unsigned mqtt_inflight_count(const struct mqtt_inflight *w)
{
    return w->live;
}

/* The delivery holding packet_id, or NULL. */
static struct mqtt_inflight_entry *inflight_find(const struct mqtt_inflight *w,
                                                 uint16_t packet_id)
{
    for (unsigned k = 0; k < w->span; k++) {
        struct mqtt_inflight_entry *e = inflight_slot(w, k);

        if (e->state != MQTT_INFLIGHT_FREE && e->packet_id == packet_id)
            return e;
    }
    return NULL;
}

const struct mqtt_inflight_entry *
mqtt_inflight_get(const struct mqtt_inflight *w, uint16_t packet_id)
{
    return inflight_find(w, packet_id);
}

const struct mqtt_inflight_entry *
mqtt_inflight_at(const struct mqtt_inflight *w, unsigned k)
{
    return k < w->span ? inflight_slot(w, k) : NULL;
}

/* Appends a delivery as the newest (the caller checked room and id). */
static void inflight_push(struct mqtt_inflight *w, void *item, uint8_t qos,
                          enum mqtt_inflight_state state, uint16_t packet_id,
                          uint64_t now_ms)
{
    struct mqtt_inflight_entry *e = inflight_slot(w, w->span);

    e->item = item;
    e->sent_ms = now_ms;
    e->packet_id = packet_id;
    e->qos = qos;
    e->state = (uint8_t)state;
    w->span++;
    w->live++;
}

/* Frees a finished delivery's slot, then drops the holes at both ends so
 * the window moves on. */
static void inflight_done(struct mqtt_inflight *w,
                          struct mqtt_inflight_entry *e)
{
    inflight_release(w, e);
    e->state = MQTT_INFLIGHT_FREE;
    e->packet_id = 0;
    w->live--;
    while (w->span > 0 && w->ring[w->head].state == MQTT_INFLIGHT_FREE) {
        w->head = (w->head + 1) % w->cap;
        w->span--;
    }
    while (w->span > 0 &&
           inflight_slot(w, w->span - 1)->state == MQTT_INFLIGHT_FREE)
        w->span--;
    if (w->span == 0)
        w->head = 0;
}

int mqtt_inflight_add(struct mqtt_inflight *w, void *item, uint8_t qos,
                      uint64_t now_ms)
{
    uint64_t n = w->issued;
    uint16_t id = 0;

    if (qos != 1 && qos != 2)
        return -EINVAL;
    if (mqtt_inflight_full(w))
        return -EAGAIN;
    /* live < 65535 here, so a free id exists and the loop ends; an id
     * skipped because it is in use still counts against the lease. */
    do {
        if (n >= w->lease)
            return -EAGAIN;
        id = mqtt_pid_of(++n);
    } while (inflight_find(w, id) != NULL);
    w->issued = n;
    inflight_push(w, item, qos, MQTT_INFLIGHT_WAIT_ACK, id, now_ms);
    return id;
}

int mqtt_inflight_restore(struct mqtt_inflight *w, void *item, uint8_t qos,
                          enum mqtt_inflight_state state, uint16_t packet_id,
                          uint64_t now_ms)
{
    if (packet_id == 0 || (qos != 1 && qos != 2))
        return -EINVAL;
    if (state != MQTT_INFLIGHT_WAIT_ACK &&
        !(state == MQTT_INFLIGHT_WAIT_COMP && qos == 2 && item == NULL))
        return -EINVAL;
    if (inflight_find(w, packet_id) != NULL)
        return -EEXIST;
    if (w->span >= w->cap)
        return -EAGAIN;
    inflight_push(w, item, qos, state, packet_id, now_ms);
    /* New ids continue after it. */
    w->issued += (uint64_t)((packet_id + UINT16_MAX -
                             mqtt_pid_of(w->issued + UINT16_MAX)) %
                            UINT16_MAX);
    return 0;
}

int mqtt_inflight_puback(struct mqtt_inflight *w, uint16_t packet_id)
{
    struct mqtt_inflight_entry *e = inflight_find(w, packet_id);

    if (e == NULL)
        return -ENOENT;
    if (e->qos != 1)
        return -EPROTO;
    inflight_done(w, e);
    return 0;
}

int mqtt_inflight_pubrec(struct mqtt_inflight *w, uint16_t packet_id,
                         uint64_t now_ms)
{
    struct mqtt_inflight_entry *e = inflight_find(w, packet_id);

    if (e == NULL)
        return -ENOENT;
    if (e->qos != 2)
        return -EPROTO;
    if (e->state == MQTT_INFLIGHT_WAIT_ACK) {
        /* The subscriber has the message: from here on PUBREL, never the
         * PUBLISH, is sent again (4.3.3). The item stays until PUBCOMP:
         * the exchange is done only then (a receiver may hand the
         * message on at PUBREL), and its owner may want it till then. */
        e->state = MQTT_INFLIGHT_WAIT_COMP;
        e->sent_ms = now_ms;
    }
    return 0;
}

int mqtt_inflight_pubcomp(struct mqtt_inflight *w, uint16_t packet_id)
{
    struct mqtt_inflight_entry *e = inflight_find(w, packet_id);

    if (e == NULL)
        return -ENOENT;
    if (e->qos != 2 || e->state != MQTT_INFLIGHT_WAIT_COMP)
        return -EPROTO;
    inflight_done(w, e);
    return 0;
}

unsigned mqtt_inflight_resend(struct mqtt_inflight *w, uint64_t now_ms,
                              uint64_t min_age_ms, mqtt_inflight_resend_fn fn,
                              void *arg)
{
    unsigned n = 0;

    for (unsigned k = 0; k < w->span; k++) {
        struct mqtt_inflight_entry *e = inflight_slot(w, k);

        if (e->state == MQTT_INFLIGHT_FREE)
            continue;
        if (now_ms < e->sent_ms || now_ms - e->sent_ms < min_age_ms)
            break; /* keep the order: nothing newer goes before it */
        fn(e, arg);
        e->sent_ms = now_ms;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Packet id leases                                                    */
/* ------------------------------------------------------------------ */

uint16_t mqtt_pid_of(uint64_t n)
{
    return (uint16_t)((n - 1) % UINT16_MAX + 1);
}

uint64_t mqtt_pid_count(uint64_t issued, uint16_t pid)
{
    uint64_t back =
        (uint64_t)((mqtt_pid_of(issued + UINT16_MAX) + UINT16_MAX - pid) %
                   UINT16_MAX);

    return issued - back;
}

uint64_t mqtt_pid_hold_bound(unsigned window)
{
    return 3 * MQTT_PID_LEASE_STEP / 2 + window;
}

uint64_t mqtt_pid_lease_next(uint64_t issued, uint64_t lease, uint64_t oldest,
                             unsigned window)
{
    uint64_t next = lease + MQTT_PID_LEASE_STEP;

    if (issued + MQTT_PID_LEASE_STEP / 2 < lease)
        return 0; /* not yet within half a step */
    /* Every count the client may hold stays within R of the new lease. */
    if (oldest + mqtt_pid_hold_bound(window) <= next)
        return 0;
    return next;
}

void mqtt_pid_sweep(uint64_t lease, unsigned window, uint64_t *from,
                    uint64_t *n)
{
    uint64_t r = mqtt_pid_hold_bound(window);

    *from = lease > r ? lease - r + 1 : 1;
    *n = lease >= *from ? lease - *from + 1 : 0;
}

uint64_t mqtt_inflight_oldest_qos2(const struct mqtt_inflight *w)
{
    for (unsigned k = 0; k < w->span; k++) {
        const struct mqtt_inflight_entry *e = inflight_slot(w, k);

        /* In send order: the first QoS 2 one is the oldest. */
        if (e->state != MQTT_INFLIGHT_FREE && e->qos == 2)
            return mqtt_pid_count(w->issued, e->packet_id);
    }
    return w->issued + 1;
}

int mqtt_pid_owed_init(struct mqtt_pid_owed *o, uint64_t from, uint32_t n)
{
    memset(o, 0, sizeof(*o));
    if (from == 0 || n > UINT16_MAX)
        return -EINVAL;
    o->bits = malloc(n / 8 + 1);
    if (o->bits == NULL)
        return -ENOMEM;
    memset(o->bits, 0xff, n / 8 + 1);
    o->from = from;
    o->n = o->left = n;
    return 0;
}

void mqtt_pid_owed_cleanup(struct mqtt_pid_owed *o)
{
    free(o->bits);
    memset(o, 0, sizeof(*o));
}

static bool owed_bit(const struct mqtt_pid_owed *o, uint32_t i)
{
    return (o->bits[i / 8] >> (i % 8)) & 1;
}

bool mqtt_pid_owed_done(struct mqtt_pid_owed *o, uint16_t pid)
{
    uint32_t i = 0;

    if (o->left == 0 || pid == 0)
        return false;
    /* n <= 65535 counts: each id stands for at most one of them. */
    i = (uint32_t)((pid + UINT16_MAX - mqtt_pid_of(o->from)) % UINT16_MAX);
    if (i >= o->n || !owed_bit(o, i))
        return false;
    o->bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
    o->left--;
    while (o->lo < o->n && !owed_bit(o, o->lo))
        o->lo++;
    if (o->left == 0) { /* all answered: the bits go */
        free(o->bits);
        o->bits = NULL;
    }
    return true;
}

uint64_t mqtt_pid_owed_oldest(const struct mqtt_pid_owed *o)
{
    return o->left > 0 ? o->from + o->lo : UINT64_MAX;
}

void mqtt_pid_owed_each(const struct mqtt_pid_owed *o, uint32_t *next,
                        uint32_t max, void (*fn)(uint16_t pid, void *arg),
                        void *arg)
{
    uint32_t i = *next > o->lo ? *next : o->lo;

    for (; o->left > 0 && i < o->n && max > 0; i++) {
        if (owed_bit(o, i)) {
            fn(mqtt_pid_of(o->from + i), arg);
            max--;
        }
    }
    *next = o->left > 0 ? i : o->n;
}

/* ------------------------------------------------------------------ */
/* Inbound QoS 2                                                       */
/* ------------------------------------------------------------------ */

int mqtt_qos2_rx_init(struct mqtt_qos2_rx *rx, unsigned cap)
{
    memset(rx, 0, sizeof(*rx));
    if (cap == 0 || cap > UINT16_MAX)
        return -EINVAL;
    rx->ids = calloc(cap, sizeof(*rx->ids));
    rx->stored = calloc(cap, sizeof(*rx->stored));
    if (rx->ids == NULL || rx->stored == NULL) {
        mqtt_qos2_rx_cleanup(rx);
        return -ENOMEM;
    }
    rx->cap = cap;
    return 0;
}

void mqtt_qos2_rx_cleanup(struct mqtt_qos2_rx *rx)
{
    free(rx->ids);
    free(rx->stored);
    memset(rx, 0, sizeof(*rx));
}

static int qos2_rx_find(const struct mqtt_qos2_rx *rx, uint16_t packet_id)
{
    for (unsigned i = 0; i < rx->n; i++) {
        if (rx->ids[i] == packet_id)
            return (int)i;
    }
    return -1;
}

static void qos2_rx_remove(struct mqtt_qos2_rx *rx, int i)
{
    rx->n--;
    rx->ids[i] = rx->ids[rx->n];
    rx->stored[i] = rx->stored[rx->n];
}

int mqtt_qos2_rx_publish(struct mqtt_qos2_rx *rx, uint16_t packet_id)
{
    int i = qos2_rx_find(rx, packet_id);

    if (packet_id == 0)
        return -EINVAL;
    if (i >= 0)
        return rx->stored[i] ? MQTT_QOS2_RX_STORED : MQTT_QOS2_RX_STORING;
    if (rx->n >= rx->cap)
        return -ENOSPC;
    rx->ids[rx->n] = packet_id;
    rx->stored[rx->n] = 0;
    rx->n++;
    return MQTT_QOS2_RX_NEW;
}

int mqtt_qos2_rx_stored(struct mqtt_qos2_rx *rx, uint16_t packet_id)
{
    int i = qos2_rx_find(rx, packet_id);

    if (i < 0)
        return -ENOENT;
    rx->stored[i] = 1;
    return 0;
}

void mqtt_qos2_rx_forget(struct mqtt_qos2_rx *rx, uint16_t packet_id)
{
    int i = qos2_rx_find(rx, packet_id);

    if (i >= 0)
        qos2_rx_remove(rx, i);
}

int mqtt_qos2_rx_release(struct mqtt_qos2_rx *rx, uint16_t packet_id)
{
    int i = qos2_rx_find(rx, packet_id);

    if (i < 0)
        return -ENOENT;
    if (!rx->stored[i])
        return -EPROTO;
    qos2_rx_remove(rx, i);
    return 0;
}
