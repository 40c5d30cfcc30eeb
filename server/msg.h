/*
 * msg.h: a reference-counted, immutable server frame.
 *
 * A published message is encoded once (WebSocket header included) into one
 * struct msg, and every subscriber's out-queue holds a pointer to it. The
 * bytes never change after msg_new(), so any number of connections can
 * write them. Service thread only: refs is a plain integer.
 *
 * A msg may also be a *placeholder*: a reply that is not ready yet (it waits
 * for the store). A connection's writer stops at a placeholder, which keeps
 * replies in command order; msg_fill() turns it into the real frame.
 */
#ifndef PL_MSG_H
#define PL_MSG_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "service_thread.h"

/* Headroom kept before every frame so lws_write() may be called on it
 * directly (lws wants LWS_PRE bytes it may scribble on). */
#define MSG_HEADROOM 32

struct msg {
    uint32_t refs;
    uint32_t len;        /* frame bytes (header + payload); 0 for a placeholder */
    int64_t seq;         /* the message's seq, 0 for replies */
    int64_t ts;          /* the message's time (ms), 0 for replies */
    bool placeholder;
    unsigned char *frame; /* MSG_HEADROOM bytes after the allocation start */
    /* The exact MQTT payload, for a message published over MQTT whose data
     * does not map back to the same bytes (pl_mqtt_payload_needs_raw);
     * NULL (raw_len 0) for every other message. Own allocation. */
    unsigned char *raw;
    uint32_t raw_len;
};

/* A message holding a copy of the finished frame in b (b untouched).
 * refs = 1. NULL on allocation failure. */
struct msg *msg_from_buf(struct pl_buf *b, int64_t seq);

/* Keep a copy of raw[0..len) as m's MQTT payload (len 0: nothing). Only
 * right after m was made, before anyone else holds it. 0 or -ENOMEM. */
int msg_set_raw(struct msg *m, const void *raw, size_t len);

/* A placeholder (refs = 1). NULL on allocation failure. */
struct msg *msg_placeholder(void);

/* Replace a placeholder's content with the frame in b (copied). Returns 0
 * or -ENOMEM (the placeholder then becomes an internal-error frame if that
 * can be allocated, else stays a placeholder and the caller should cull). */
int msg_fill(struct msg *m, struct pl_buf *b);

static inline struct msg *msg_ref(struct msg *m)
{
    assert(pl_on_service_thread());
    assert(m->refs > 0 && m->refs < UINT32_MAX);
    m->refs++;
    return m;
}

/* Drop one reference, free at zero, and NULL the caller's pointer. */
void msg_unref(struct msg **m);

/* The frame's payload (the JSON text) without its WebSocket header, for
 * a transport that writes something other than WebSocket frames (the HTTP
 * API's replies). *len gets its length. NULL for a placeholder. */
const char *msg_payload(const struct msg *m, size_t *len);
/* The same for one whole frame's bytes (as hub_conn_take hands them out). */
const char *msg_frame_payload(const unsigned char *frame, size_t flen,
                              size_t *len);

/* The length of the whole frame at frame[0..avail) (as hub_conn_take
 * hands them out, back to back), or 0 when avail does not hold all of it. */
size_t msg_frame_len(const unsigned char *frame, size_t avail);

/* Messages alive right now (for metrics and leak checks). */
uint64_t msg_live_count(void);

#endif
