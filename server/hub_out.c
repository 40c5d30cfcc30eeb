/*
 * hub_out.c: the hub's side of writing. A transport (ws_tx.c, or a test)
 * asks what a connection has ready with hub_conn_take, writes it, and
 * says so with hub_conn_wrote; it never pops the out-queue or touches
 * wake_pending itself. The hub keeps those two in step: wake_pending is
 * true from the moment ops->wake was called (or the transport was told to
 * ask for a writeable callback) until the transport takes the queue again,
 * so each episode wakes the transport once. Service thread only.
 */
#include <assert.h>
#include <string.h>

#include "hub_internal.h"
#include "service_thread.h"

int hub_conn_take(struct hub *hub, struct conn *c, unsigned char *buf,
                  size_t cap, struct hub_out *out)
{
    struct msg *m = outq_peek(&c->q);
    uint32_t i = 0;

    (void)hub;
    assert(pl_on_service_thread());
    assert(c->close_code >= 0);
    memset(out, 0, sizeof(*out));
    c->wake_pending = false; /* queueing from now on wakes us again */
    if (m == NULL || m->placeholder)
        return 0;
    if (m->len > cap) {
        /* A big frame goes out from its own buffer (MSG_HEADROOM >=
         * LWS_PRE), without a copy. */
        out->data = m->frame;
        out->len = m->len;
        out->frames = 1;
        return 1;
    }
    for (i = 0; i < c->q.count; i++) {
        m = outq_at(&c->q, i);
        if (m->placeholder || out->len + m->len > cap)
            break;
        memcpy(buf + out->len, m->frame, m->len);
        out->len += m->len;
    }
    out->data = buf;
    out->frames = i;
    return i > 0;
}

const unsigned char *hub_conn_taken_raw(const struct conn *c, uint32_t i,
                                        size_t *len)
{
    /* hub_conn_take hands out the queue's head entries, in order, and
     * nothing pops them before hub_conn_wrote. */
    const struct msg *m = i < c->q.count ? outq_at(&c->q, i) : NULL;

    *len = m != NULL ? m->raw_len : 0;
    return m != NULL ? m->raw : NULL;
}

bool hub_conn_wrote(struct hub *hub, struct conn *c, const struct hub_out *out)
{
    const struct msg *m = NULL;
    uint32_t i = 0;

    assert(pl_on_service_thread());
    assert(out->frames <= c->q.count);
    for (i = 0; i < out->frames; i++)
        outq_pop(&c->q);
    hub_conn_drained(hub, c);
    m = outq_peek(&c->q);
    if (m == NULL || m->placeholder || c->wake_pending)
        return false;
    c->wake_pending = true;
    return true;
}

void hub_conn_wait(struct hub *hub, struct conn *c)
{
    (void)hub;
    assert(pl_on_service_thread());
    c->wake_pending = false;
}

uint32_t hub_conn_queued(const struct conn *c)
{
    return c->q.count;
}
