/*
 * mqtt_ws.c: MQTT over WebSocket on the main port, what mqtt.js and
 * browser MQTT clients speak: the upgrade to /mqtt with the subprotocol
 * "mqtt", checked like /ws (Host, key, version, origin; no ?token=, the
 * token is CONNECT's password). Binary messages carry the MQTT byte
 * stream (a message may hold part of a packet or several, MQTT 3.1.1
 * section 6), fed to the same connection helpers as raw TCP
 * (mqtt_tcp.c). The per-connection data is the main port's struct pss,
 * because lws hands some reasons to protocols[0] (proto.c) whatever the
 * connection's protocol; the MQTT state hangs off pss->mqtt. Service
 * thread only.
 */
#include <stdlib.h>

#include "mqtt_tcp.h"
#include "server.h"
#include "ws_internal.h"

void mqtt_ws_destroy(struct server *srv, struct pss *pss)
{
    if (pss->mqtt == NULL)
        return;
    mqtt_conn_gone(srv, pss->mqtt);
    free(pss->mqtt);
    pss->mqtt = NULL;
}

static int mqtt_ws_open(struct server *srv, struct lws *wsi, struct pss *pss)
{
    pss->mqtt = calloc(1, sizeof(*pss->mqtt));
    if (pss->mqtt == NULL)
        return -1;
    pss->mqtt->websocket = true;
    return mqtt_conn_open(srv, wsi, pss->mqtt);
}

int mqtt_ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len)
{
    struct server *srv = lws_context_user(lws_get_context(wsi));
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter_at(srv, wsi, NULL, "/mqtt");
    case LWS_CALLBACK_ESTABLISHED:
        return mqtt_ws_open(srv, wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        if (pss->mqtt == NULL || pss->mqtt->conn == NULL)
            return -1;
        return mqtt_conn_rx(srv, wsi, pss->mqtt, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss->mqtt == NULL || pss->mqtt->conn == NULL)
            return 0;
        return mqtt_conn_writeable(srv, wsi, pss->mqtt);
    case LWS_CALLBACK_CLOSED:
        mqtt_ws_destroy(srv, pss);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (pss != NULL)
            mqtt_ws_destroy(srv, pss);
        ws_tcp_close(srv, wsi);
        return 0;
    default:
        return 0;
    }
}
