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
    return w->span >= w->cap;
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
    w->last_id = packet_id;
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
    uint16_t id = w->last_id;

    if (qos != 1 && qos != 2)
        return -EINVAL;
    if (mqtt_inflight_full(w))
        return -EAGAIN;
    /* live < 65535 here, so a free id exists and the loop ends. */
    do {
        id = id == UINT16_MAX ? 1 : (uint16_t)(id + 1);
    } while (inflight_find(w, id) != NULL);
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
    if (mqtt_inflight_full(w))
        return -EAGAIN;
    inflight_push(w, item, qos, state, packet_id, now_ms);
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
