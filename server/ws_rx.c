/*
 * ws_rx.c: what happens when a frame arrives: lws's receive callback,
 * the joining of a message that spans several callbacks, the refusal of
 * one past --max-message, the hand-over of each whole message to the hub,
 * input paused while the connection's queue is long, and the extra reads
 * of busy connections after a loop turn. Service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "ws_internal.h"

/* Bytes of a client frame's header (2, +4 mask, +2 or +8 length): a
 * small frame's, when counting what one read took in (ws_mark_hot). */
#define WS_FRAME_HEADER 6
/* A read within this many bytes of the receive buffer counts as full. */
#define WS_RX_SLACK 16

/*
 * Backpressure. Every command queues a reply, and one waiting for the
 * store (history) holds back everything queued after it. A client that
 * sends commands faster than it reads, or than the store answers, would
 * have us hold its pending work without bound (300,000 pipelined history
 * requests took the server from 6 to 94 MB). Past WS_RX_PAUSE queued
 * entries we stop reading from it; ws_writeable resumes at half that.
 */
void ws_rx_pause_if_backed_up(struct lws *wsi, struct pss *pss)
{
    if (!pss->rx_paused && hub_conn_queued(pss->conn) >= WS_RX_PAUSE) {
        pss->rx_paused = true;
        lws_rx_flow_control(wsi, 0);
    }
}

/*
 * lws reads at most --rx-buffer bytes from a connection per loop turn. The
 * buffer is small so idle connections stay cheap, which would also cap a
 * busy publisher at a few messages per turn while the turn itself is long
 * (fanning out, writing acks). So a connection that had input is read
 * again, through lws_service_fd(), right after the turn and before the
 * next poll, until it has nothing more or WS_HOT_ROUNDS reads were done.
 * Only a connection whose read filled the buffer is read again.
 * Connections are named by fd: one closed meanwhile is simply not found.
 */
void ws_mark_hot(struct server *srv, struct lws *wsi, struct pss *pss,
                 size_t len)
{
    uint32_t round = srv->hot_round + 1;
    size_t full = (size_t)srv->cfg->rx_buffer - WS_RX_SLACK;
    size_t sum = 0;

    if (pss->rx_round != round) {
        pss->rx_round = round;
        pss->rx_turn = 0;
        pss->hot = false;
    }
    sum = (size_t)pss->rx_turn + len + WS_FRAME_HEADER;
    pss->rx_turn = sum > UINT16_MAX ? UINT16_MAX : (uint16_t)sum;
    /* A read that did not fill the buffer most likely emptied the socket:
     * reading again would only cost a recv() that finds nothing (it was
     * one of every two recv() calls with 2000 sensors). */
    if (pss->rx_turn < full || pss->hot || srv->n_hot == WS_HOT_MAX)
        return;
    pss->hot = true;
    srv->hot_fds[srv->n_hot++] = lws_get_socket_fd(wsi);
}

void ws_read_more(struct server *srv)
{
    int fds[WS_HOT_MAX];
    unsigned int n = 0;
    unsigned int i = 0;
    int round = 0;

    for (round = 0; round < WS_HOT_ROUNDS && srv->n_hot > 0; round++) {
        n = srv->n_hot;
        memcpy(fds, srv->hot_fds, n * sizeof(fds[0]));
        srv->n_hot = 0;
        srv->hot_round++;
        for (i = 0; i < n; i++) {
            struct lws_pollfd pfd = {fds[i], LWS_POLLIN, LWS_POLLIN};

            lws_service_fd(srv->ctx, &pfd);
        }
    }
    srv->n_hot = 0;
    srv->hot_round++;
}

/* One receive callback: a whole message, or a piece of one. */
int ws_receive(struct server *srv, struct lws *wsi, struct pss *pss,
               const unsigned char *in, size_t len)
{
    struct conn *c = pss->conn;
    size_t remaining = lws_remaining_packet_payload(wsi);
    bool final = lws_is_final_fragment(wsi) && remaining == 0;

    if (c->close_code != 0)
        return 0; /* closing: the rest of what it sends is dropped */
    if (pss->rx_len == 0 && !pss->rx_binary && lws_frame_is_binary(wsi))
        pss->rx_binary = true;
    if (pss->rx_len + len + remaining > srv->cfg->max_message) {
        /* Refuse on the announced length, before the payload arrives.
         * Returning -1 here, in the middle of a frame, makes lws drop
         * the TCP connection without a close frame; closing from the
         * writeable callback sends 1009 properly. */
        pss->rx_len = 0;
        pss->rx_binary = false;
        srv->ws.too_large++;
        hub_conn_kill(srv->hub, c, 1009);
        return 0;
    }

    if (pss->rx_len == 0 && final) {
        /* the common case: the whole message in one callback, no copy */
        if (pss->rx_binary)
            hub_conn_binary(srv->hub, c);
        else
            hub_conn_text(srv->hub, c, (const char *)in, len);
        pss->rx_binary = false;
        ws_rx_pause_if_backed_up(wsi, pss);
        return 0;
    }
    if (!pss->rx_binary) {
        if (pss->rx_len + len > pss->rx_cap) {
            size_t ncap = pss->rx_cap ? pss->rx_cap : 1024;
            unsigned char *nrx = NULL;

            while (ncap < pss->rx_len + len)
                ncap *= 2;
            nrx = realloc(pss->rx, ncap);
            if (nrx == NULL)
                return ws_close_with(wsi, 1011);
            pss->rx = nrx;
            pss->rx_cap = (uint32_t)ncap; /* < 2 * --max-message */
        }
        memcpy(pss->rx + pss->rx_len, in, len);
    }
    pss->rx_len += (uint32_t)len; /* checked against --max-message above */
    if (!final)
        return 0;
    if (pss->rx_binary)
        hub_conn_binary(srv->hub, c);
    else
        hub_conn_text(srv->hub, c, (const char *)pss->rx, pss->rx_len);
    pss->rx_len = 0;
    pss->rx_binary = false;
    ws_rx_pause_if_backed_up(wsi, pss);
    /* Idle connections stay small: give big reassembly buffers back. */
    if (pss->rx_cap > 8192) {
        free(pss->rx);
        pss->rx = NULL;
        pss->rx_cap = 0;
    }
    return 0;
}
