/*
 * mqtt_tcp.c: the MQTT listeners' lws glue: a vhost whose listener adopts
 * every connection as a raw socket (--mqtt-port; --mqtts-port with the
 * certificate), each one a hub connection of origin CONN_MQTT driven by
 * an mqtt_session (mqtt_session.c, where the protocol lives). The
 * connection helpers (mqtt_conn_*) also serve MQTT over WebSocket
 * (mqtt_ws.c). This file only moves bytes and keeps the timers: CONNECT
 * within
 * --handshake-timeout, then 1.5 times the client's keepalive between
 * packets (lws's per-connection timeout closes it). The same per-address
 * accounting as WebSocket (ws_admit.c). Service thread only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mqtt_session.h"
#include "mqtt_tcp.h"
#include "server.h"
#include "store.h"
#include "ws_internal.h"

/* Commands waiting for the hub past which a client's input is paused. */
#define MQTT_RX_PAUSE_OPS 256
/* QoS 1/2 deliveries in flight per connection. */
#define MQTT_WINDOW 64

struct mqtt_glue {
    struct lws_vhost *tcp; /* --mqtt-port, or NULL */
    struct lws_vhost *tls; /* --mqtts-port, or NULL */
    struct mqtt_ids *ids;
    unsigned char *scratch;  /* WS_COALESCE_BYTES, for hub_conn_take */
    struct mqtt_stats stats; /* every session's counters */
    /* persistent sessions (clean session 0), with the SQLite store */
    struct mqtt_saved_table saved;
    bool persist;
    int64_t next_expiry_ms; /* when the next expiry step is due */
};

/* Sessions one expiry step looks at: a few microseconds of the loop. */
#define MQTT_EXPIRY_BUDGET 1000
/* Between steps: a walk of the table, then a pause. */
#define MQTT_EXPIRY_STEP_MS 100
#define MQTT_EXPIRY_ROUND_MS 1000

static struct server *srv_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

int mqtt_conn_open(struct server *srv, struct lws *wsi, struct mqtt_pss *pss)
{
    struct mqtt_session_config cfg;

    if (lws_get_opaque_user_data(wsi) == NULL && ws_tcp_open(srv, wsi) != 0)
        return -1; /* over --max-conns-per-ip */
    pss->conn = hub_conn_open(srv->hub, CONN_MQTT, wsi);
    if (pss->conn == NULL)
        return -1;
    if (hub_get_stats(srv->hub)->connections > srv->cfg->max_conns) {
        srv->ws.refused_max_conns++;
        return -1;
    }
    memset(&cfg, 0, sizeof(cfg));
    /* The largest PUBLISH Parley takes: --max-message of payload plus the
     * largest header (5 + 2 + 255 + 2 bytes); a larger one is refused at
     * its length bytes, before anything is buffered. */
    cfg.max_packet = srv->cfg->max_message + 512;
    cfg.window = MQTT_WINDOW;
    cfg.max_depth = srv->cfg->max_depth;
    cfg.stats = &srv->mqtt->stats;
    cfg.saved = srv->mqtt->persist ? &srv->mqtt->saved : NULL;
    cfg.storage = &srv->storage;
    pss->session = mqtt_session_new(srv->hub, pss->conn, srv->mqtt->ids, &cfg);
    if (pss->session == NULL)
        return -1;
    /* CONNECT must come within the handshake timeout. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, srv->cfg->handshake_timeout);
    return 0;
}

void mqtt_conn_gone(struct server *srv, struct mqtt_pss *pss)
{
    if (srv->stop && pss->session != NULL)
        mqtt_session_forget_will(pss->session);
    mqtt_session_free(&pss->session); /* the will goes here */
    hub_conn_close(srv->hub, &pss->conn);
}

/* After each packet: the keepalive (MQTT 3.1.2.10: 1.5 times the
 * interval with nothing received closes the connection). */
static void mqtt_rearm(struct lws *wsi, struct mqtt_pss *pss)
{
    unsigned k = 0;

    if (!mqtt_session_connected(pss->session))
        return;
    k = mqtt_session_keepalive(pss->session);
    if (k == 0)
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    else
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)((k * 3 + 1) / 2));
}

int mqtt_conn_rx(struct server *srv, struct lws *wsi, struct mqtt_pss *pss,
                 const void *in, size_t len)
{
    enum mqtt_feed_result r;

    (void)srv;
    if (pss->session == NULL || pss->close_after_flush ||
        pss->conn->close_code != 0)
        return 0;
    r = mqtt_session_feed(pss->session, in, len);
    if (r == MQTT_FEED_ERROR)
        return -1;
    if (r == MQTT_FEED_CLOSE)
        pss->close_after_flush = true;
    mqtt_rearm(wsi, pss);
    if (!pss->rx_paused &&
        mqtt_session_backed_up(pss->session, MQTT_RX_PAUSE_OPS)) {
        pss->rx_paused = true;
        lws_rx_flow_control(wsi, 0);
    }
    lws_callback_on_writable(wsi);
    return 0;
}

int mqtt_conn_writeable(struct server *srv, struct lws *wsi,
                        struct mqtt_pss *pss)
{
    const unsigned char *out = NULL;
    size_t len = 0;
    int more = 0;

    if (pss->session == NULL)
        return -1;
    /* Killed by the hub (takeover, a slow consumer) or by an error. */
    more =
        mqtt_session_pull(pss->session, srv->mqtt->scratch, WS_COALESCE_BYTES);
    if (more < 0)
        return -1;
    if (more > 0)
        lws_callback_on_writable(wsi);
    out = mqtt_session_output(pss->session, &len);
    if (len > WS_COALESCE_BYTES)
        len = WS_COALESCE_BYTES;
    if (len > 0) {
        memcpy(srv->wbuf + LWS_PRE, out, len);
        /* Over WebSocket, one binary message may hold many packets
         * (MQTT 3.1.1 section 6). */
        if (lws_write(wsi, srv->wbuf + LWS_PRE, len,
                      pss->websocket ? LWS_WRITE_BINARY : LWS_WRITE_RAW) < 0)
            return -1;
        srv->bytes_out += len;
        mqtt_session_consume(pss->session, len);
        mqtt_session_output(pss->session, &len);
        if (len > 0) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (pss->close_after_flush || mqtt_session_closing(pss->session))
        return -1;
    if (pss->rx_paused &&
        !mqtt_session_backed_up(pss->session, MQTT_RX_PAUSE_OPS / 2)) {
        pss->rx_paused = false;
        lws_rx_flow_control(wsi, 1);
    }
    return 0;
}

static int mqtt_callback(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    struct server *srv = srv_of(wsi);
    struct mqtt_pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        return mqtt_conn_open(srv, wsi, pss);
    case LWS_CALLBACK_RAW_RX:
        return mqtt_conn_rx(srv, wsi, pss, in, len);
    case LWS_CALLBACK_RAW_WRITEABLE:
        return mqtt_conn_writeable(srv, wsi, pss);
    case LWS_CALLBACK_RAW_CLOSE:
        mqtt_conn_gone(srv, pss);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (pss != NULL)
            mqtt_conn_gone(srv, pss); /* adopted, then failed before CLOSE */
        ws_tcp_close(srv, wsi);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols mqtt_protocols[] = {
    {"mqtt", mqtt_callback, sizeof(struct mqtt_pss), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* One listener vhost: raw sockets on port, bound to our protocol. NULL
 * when it cannot listen. */
static struct lws_vhost *mqtt_vhost(struct server *srv, const char *name,
                                    int port, bool tls)
{
    const struct pl_config *cfg = srv->cfg;
    struct lws_context_creation_info info;

    memset(&info, 0, sizeof(info));
    info.vhost_name = name;
    info.port = port;
    info.iface = cfg->bind;
    info.protocols = mqtt_protocols;
    info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = "mqtt";
    if (strchr(cfg->bind, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (tls) {
        /* lws turns TLS on for a vhost only with this option. */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->cert;
        info.ssl_private_key_filepath = cfg->key;
    }
    return lws_create_vhost(srv->ctx, &info);
}

/* A listener on port (-1: off). Given explicitly, a port that cannot be
 * bound fails the start; the default (1883, 8883) only warns, so that a
 * Mosquitto already on this host does not stop Parley. */
static int mqtt_listen(struct server *srv, struct lws_vhost **vh,
                       const char *name, int port, bool is_default, bool tls)
{
    if (port < 0)
        return 0;
    *vh = mqtt_vhost(srv, name, port, tls);
    if (*vh != NULL)
        return 0;
    if (is_default) {
        log_warn("cannot listen for %s on %s:%d; running without it "
                 "(--%s-port off silences this)",
                 name, srv->cfg->bind, port, name);
        return 0;
    }
    log_error("cannot listen for %s on %s:%d", name, srv->cfg->bind, port);
    return -1;
}

/* A session's packet-id lease committed: its deliveries may be waiting
 * for it (mqtt_session.c, lease_check), so its connection is woken. */
static void mqtt_leased(void *arg, struct mqtt_saved *s)
{
    struct server *srv = arg;
    struct mqtt_id_entry *e = srv->mqtt->ids != NULL
                                  ? mqtt_ids_find(srv->mqtt->ids, s->client_id)
                                  : NULL;

    if (e != NULL)
        mqtt_wake(srv, mqtt_session_conn(e->owner));
}

static int load_row(void *arg, const struct store_mqtt_row *row)
{
    return mqtt_saved_load_row(arg, (int)row->kind, row->client_id,
                               row->name, row->value);
}

/* Persistent sessions live in the SQLite store, loaded here; with --redis
 * (cluster mode) in Redis, read when their client connects (on any
 * node). Without either (--no-persist) clean session 0 is served as 1. */
static int mqtt_load_sessions(struct server *srv)
{
    struct mqtt_saved_table *t = &srv->mqtt->saved;
    const struct mqtt_saved *s = NULL;
    size_t n = 0;

    mqtt_saved_table_init(t);
    t->leased = mqtt_leased;
    t->leased_arg = srv;
    if (storage_is_shared(&srv->storage)) {
        t->shared = true;
        srv->mqtt->persist = true;
        return 0;
    }
    if (srv->store == NULL)
        return 0;
    if (store_foreach_mqtt(srv->store, load_row, t) != 0) {
        log_error("cannot load the MQTT sessions from %s", srv->cfg->db_path);
        return -1;
    }
    srv->mqtt->persist = true;
    for (s = t->list; s != NULL; s = s->next)
        n++;
    if (n > 0)
        log_info("mqtt: %zu persistent sessions loaded", n);
    return 0;
}

/* --mqtt-session-expiry: a bounded step of the walk when one is due
 * (the loop turns at least every 100 ms); what it drops leaves with the
 * next flush, in the store's group commit. */
static void mqtt_expire(struct server *srv, int64_t now_ms)
{
    struct mqtt_glue *g = srv->mqtt;
    int64_t expiry = srv->cfg->mqtt_session_expiry_ms;
    bool more = false;
    size_t n = 0;

    if (expiry <= 0 || now_ms < g->next_expiry_ms)
        return;
    n = mqtt_saved_expire(&g->saved, now_ms, expiry, MQTT_EXPIRY_BUDGET,
                          &more);
    g->next_expiry_ms =
        now_ms + (more ? MQTT_EXPIRY_STEP_MS : MQTT_EXPIRY_ROUND_MS);
    if (n > 0) {
        g->stats.sessions_expired += n;
        log_info("mqtt: %zu persistent sessions expired (not connected "
                 "for %" PRId64 " s)",
                 n, expiry / 1000);
    }
}

void mqtt_flush(struct server *srv, int64_t now_ms)
{
    if (srv->mqtt == NULL || !srv->mqtt->persist)
        return;
    mqtt_expire(srv, now_ms);
    mqtt_saved_flush(&srv->mqtt->saved, &srv->storage, now_ms);
    srv->mqtt->stats.sessions_stored = srv->mqtt->saved.count;
}

int mqtt_start(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;

    srv->mqtt = calloc(1, sizeof(*srv->mqtt));
    if (srv->mqtt == NULL)
        return -1;
    if (mqtt_load_sessions(srv) < 0)
        return -1;
    srv->mqtt->ids = mqtt_ids_new();
    srv->mqtt->scratch = malloc(WS_COALESCE_BYTES);
    if (srv->mqtt->ids == NULL || srv->mqtt->scratch == NULL)
        return -1;
    /* A client id connected on another node closes its connection here. */
    storage_mqtt_taken(&srv->storage, mqtt_session_taken, srv->mqtt->ids);
    if (mqtt_listen(srv, &srv->mqtt->tcp, "mqtt", cfg->mqtt_port,
                    cfg->mqtt_port_default, false) < 0)
        return -1;
    if (cfg->cert != NULL &&
        mqtt_listen(srv, &srv->mqtt->tls, "mqtts", cfg->mqtts_port,
                    cfg->mqtts_port_default, true) < 0)
        return -1;
    return 0;
}

int mqtt_port(const struct server *srv, bool tls)
{
    struct lws_vhost *vh = NULL;

    if (srv->mqtt == NULL)
        return -1;
    vh = tls ? srv->mqtt->tls : srv->mqtt->tcp;
    return vh != NULL ? lws_get_vhost_listen_port(vh) : -1;
}

const struct mqtt_stats *mqtt_get_stats(const struct server *srv)
{
    static const struct mqtt_stats none;

    return srv->mqtt != NULL ? &srv->mqtt->stats : &none;
}

void mqtt_wake(struct server *srv, struct conn *c)
{
    (void)srv;
    if (c->transport != NULL)
        lws_callback_on_writable(c->transport);
}

void mqtt_cleanup(struct server *srv)
{
    if (srv->mqtt == NULL)
        return;
    storage_mqtt_taken(&srv->storage, NULL, NULL); /* ids goes */
    mqtt_ids_free(&srv->mqtt->ids);
    mqtt_saved_table_cleanup(&srv->mqtt->saved);
    free(srv->mqtt->scratch);
    free(srv->mqtt);
    srv->mqtt = NULL;
}
