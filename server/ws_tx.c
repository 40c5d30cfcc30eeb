/*
 * ws_tx.c: how bytes leave. A connection usually has many small
 * pre-framed messages queued, so one write copies as many whole frames as
 * fit in WS_COALESCE_BYTES into one buffer and hands that to lws as raw
 * bytes (LWS_WRITE_RAW bypasses lws's own framing: our frames are
 * complete WebSocket frames already). Writes happen at the end of the
 * loop turn that queued them (ws_wake, ws_flush), and from lws's
 * writeable callback only when the socket was full, more than one
 * write's worth was queued, or a close frame is due. lws keeps any unsent
 * tail itself and sends it before anything else, and we only ever pass
 * whole frames, so its own control frames (pong, close) never land inside
 * one of ours. permessage-deflate is not offered. Service thread only.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "server.h"
#include "service_thread.h"
#include "ws_internal.h"

static const char *close_reason(int code)
{
    switch (code) {
    case 4008:
        return "slow consumer";
    case 1001:
        return "server shutting down";
    case 1009:
        return "message too large";
    case 1013:
        return "too many connections";
    case 1002:
        return "protocol error";
    default:
        return "internal error";
    }
}

int ws_close_with(struct lws *wsi, int code)
{
    const char *why = close_reason(code);

    lws_close_reason(wsi, (enum lws_close_status)code,
                     (unsigned char *)(uintptr_t)why, strlen(why));
    return -1;
}

/* How long a closing connection waits for the client's own close frame. */
#define WS_LINGER_S 3

/*
 * A close the client may still be sending into: a 1009 refused on the
 * announced length (the payload is still coming), a flood cut with 4008.
 * Closing the socket at once (what lws does when we return -1 while a
 * frame is half read) leaves that input unread, so the kernel answers
 * with a RST, and a proxy in between (HAProxy) drops our close frame with
 * it: the client sees the stream end with no code. So the close frame
 * goes out as raw bytes and lws stays in ESTABLISHED: what the client
 * still sends is read and dropped (ws_receive), and the connection ends
 * on the client's close frame (ws_peer_close), its EOF, or after
 * WS_LINGER_S seconds (RFC 6455 7.1.1: the server closes TCP first, once
 * the close handshake is done).
 */
static int ws_close_lingering(struct lws *wsi, struct pss *pss, int code)
{
    unsigned char frame[LWS_PRE + PL_WS_CLOSE_MAX];
    size_t n = pl_ws_close_frame(frame + LWS_PRE, code, close_reason(code));

    if (lws_write(wsi, frame + LWS_PRE, n, LWS_WRITE_RAW) < 0)
        return -1;
    pss->close_sent = true;
    if (pss->rx_paused) { /* read on, or the client's close never comes */
        pss->rx_paused = false;
        lws_rx_flow_control(wsi, 1);
    }
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, WS_LINGER_S);
    return 0;
}

/* Write what the connection has ready, coalesced, in one lws_write (the
 * hub chooses the frames: hub_conn_take). Asks for a writeable callback
 * if more is left. Returns -1 when the write failed (the connection is
 * unusable). */
static int ws_write_queued(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct conn *c = pss->conn;
    struct hub_out out;

    if (hub_conn_take(srv->hub, c, srv->wbuf + LWS_PRE, WS_COALESCE_BYTES,
                      &out) > 0) {
        /* LWS_PRE headroom: srv->wbuf's, or the msg's own (MSG_HEADROOM
         * >= LWS_PRE) for a frame too big to copy. */
        if (lws_write(wsi, (unsigned char *)(uintptr_t)out.data, out.len,
                      LWS_WRITE_RAW) < 0)
            return -1;
        srv->bytes_out += out.len;
    }
    if (hub_conn_wrote(srv->hub, c, &out))
        lws_callback_on_writable(wsi);
    if (pss->rx_paused && hub_conn_queued(c) <= WS_RX_PAUSE / 2) {
        pss->rx_paused = false;
        lws_rx_flow_control(wsi, 1);
    }
    return 0;
}

/* lws's writeable callback: the socket has room, or a close is due. */
int ws_writeable(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct conn *c = pss->conn;

    if (c->close_code > 0) {
        if (pss->close_sent)
            return 0; /* waiting for the client's close */
        /* 1001 (shutting down) closes at once: the drain is bounded. */
        if (c->close_code == 1001 || pss->peer_closed)
            return ws_close_with(wsi, c->close_code);
        return ws_close_lingering(wsi, pss, c->close_code);
    }
    return ws_write_queued(srv, wsi, pss);
}

/*
 * The hub queued something for c. Rather than ask lws for a writeable
 * callback (a POLLOUT round trip through the next poll() for every
 * connection a message fans out to), the connection is listed and
 * ws_flush writes it at the end of this loop turn. lws_write outside the
 * writeable callback is safe here because the write is raw and whole
 * frames only: if the socket takes less, lws keeps the rest, sends it
 * before anything else and asks for POLLOUT itself (lws_issue_raw).
 */
void ws_wake(struct server *srv, struct conn *c)
{
    assert(pl_on_service_thread());
    /* the hub set it: one call per episode, so no duplicates below */
    assert(c->wake_pending);
    if (c->origin != CONN_WS || c->transport == NULL)
        return;
    if (srv->n_flush == srv->cap_flush) {
        size_t cap = srv->cap_flush ? srv->cap_flush * 2 : 1024;
        uint64_t *ids = realloc(srv->flush_ids, cap * sizeof(*ids));

        if (ids == NULL) {
            lws_callback_on_writable(c->transport);
            return;
        }
        srv->flush_ids = ids;
        srv->cap_flush = cap;
    }
    /* By id, not pointer: the connection may close before the flush.
     * The hub calls this once per wake_pending episode: no duplicates. */
    srv->flush_ids[srv->n_flush++] = c->id;
}

/* End of a loop turn: write every listed connection's queue. Closing (a
 * close frame must come from the writeable callback), a client's close
 * frame already seen, or a socket lws still holds unsent bytes for: those
 * wait for lws's writeable callback as before. */
void ws_flush(struct server *srv)
{
    size_t i = 0;

    assert(pl_on_service_thread());
    /* A write can list its connection again (a paced replay refills
     * the queue as it drains); n_flush is read each round, and every
     * round writes, so the socket fills or the replay ends. */
    for (i = 0; i < srv->n_flush; i++) {
        struct conn *c = hub_conn_find(srv->hub, srv->flush_ids[i]);
        struct lws *wsi = NULL;
        struct pss *pss = NULL;

        if (c == NULL || c->transport == NULL)
            continue;
        wsi = c->transport;
        pss = lws_wsi_user(wsi);
        if (pss == NULL || pss->conn != c || c->close_code > 0 ||
            pss->peer_closed || lws_partial_buffered(wsi)) {
            lws_callback_on_writable(wsi);
            continue;
        }
        srv->direct_writes++;
        if (ws_write_queued(srv, wsi, pss) < 0)
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    srv->n_flush = 0;
}
