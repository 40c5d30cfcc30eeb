/*
 * proto.c: the one lws protocol (parley.v1) and its callback, which sends
 * each reason to the file that handles it: ws_admit.c (TCP accounting,
 * the upgrade filter), ws_rx.c (frames in), ws_tx.c (bytes out),
 * ws_timers.c (the sweep list), drain.c (store wake-ups) and http.c (every
 * HTTP reason). HTTP and WebSocket share the port and the per-connection
 * struct pss. Service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqtt_tcp.h"
#include "server.h"
#include "ws_internal.h"

static int proto_callback(struct lws *wsi, enum lws_callback_reasons reason,
                          void *user, void *in, size_t len);

static struct lws_protocols protocols[] = {
    {"parley.v1", proto_callback, sizeof(struct pss), 512, 0, NULL,
     WS_COALESCE_BYTES},
    /* MQTT over WebSocket at /mqtt (mqtt_ws.c). The same struct pss:
     * lws gives some reasons (WSI_DESTROY) to protocols[0] whatever the
     * connection's protocol. */
    {"mqtt", mqtt_ws_callback, sizeof(struct pss), 4096, 0, NULL,
     WS_COALESCE_BYTES},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *proto_protocols(int rx_buffer)
{
    protocols[0].rx_buffer_size = (size_t)rx_buffer;
    return protocols;
}

static struct server *srv_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* lws's callback for every connection on our port, HTTP and WebSocket:
 * each reason goes to the file whose job it is. */
static int proto_callback(struct lws *wsi, enum lws_callback_reasons reason,
                          void *user, void *in, size_t len)
{
    struct server *srv = srv_of(wsi);
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        return ws_tcp_open(srv, wsi);

    case LWS_CALLBACK_WSI_DESTROY:
        /* pss is still there; a WebSocket lws failed before CLOSED must
         * not stay on the sweep list. */
        if (pss != NULL) {
            if (!lws_dll2_is_detached(&pss->link))
                lws_dll2_remove(&pss->link);
            ws_pss_claims_free(pss);
            mqtt_ws_destroy(srv, pss);
        }
        ws_tcp_close(srv, wsi);
        return 0;

    case LWS_CALLBACK_HTTP:
        ws_tcp_requested(wsi);
        return http_callback(srv, wsi, reason, pss, in, len);

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        ws_tcp_requested(wsi);
        /* We speak HTTP/1.1 only: lws's h2c upgrade would strand the
         * client, so refuse it. */
        if (in != NULL && strcasecmp(in, "websocket") != 0) {
            ws_refuse(srv, wsi, HTTP_STATUS_BAD_REQUEST,
                      "only the websocket upgrade is supported");
            return -1;
        }
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(srv, wsi, pss);

    case LWS_CALLBACK_ESTABLISHED:
        return ws_open(srv, wsi, pss);

    case LWS_CALLBACK_RECEIVE:
        if (pss->conn == NULL)
            return -1;
        pss->rx_at = lws_now_usecs();
        ws_mark_hot(srv, wsi, pss, len);
        return ws_receive(srv, wsi, pss, in, len);

    case LWS_CALLBACK_RECEIVE_PONG:
        pss->rx_at = lws_now_usecs();
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return ws_peer_close(srv, wsi, pss, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss->conn == NULL)
            return 0;
        return ws_writeable(srv, wsi, pss);

    case LWS_CALLBACK_CLOSED:
        ws_closed(srv, pss);
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* Broadcast to every protocol: only ours exists. Usually the
         * store's wake-up when the loop was idle (see drain_store). */
        if (srv != NULL)
            drain_store(srv);
        return 0;

    default:
        return http_callback(srv, wsi, reason, pss, in, len);
    }
}
