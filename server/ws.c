/*
 * ws.c: a WebSocket's life around its hub connection: opened (with the
 * claims its ?token= carried), closed by the client (the close-frame rules
 * lws 4.1.6 leaves to us), gone; and the transport's set-up and tear-down
 * (ws_init, ws_cleanup). The rest is split by job: ws_admit.c (who may
 * connect), ws_rx.c (frames in), ws_tx.c (bytes out), ws_timers.c,
 * drain.c, with proto.c dispatching lws's callback to them. Service
 * thread only.
 */
#include <stdlib.h>

#include "log.h"

#include "server.h"
#include "ws_internal.h"

/* RFC 6455 7.4: codes from 5000 up are not defined (lws already turns
 * 0-999, the reserved 1004-1006, 1012-1015 and 1016-2999 into 1002 in
 * the payload it hands us). */
static bool ws_close_code_invalid(const unsigned char *payload)
{
    int code = payload[0] << 8 | payload[1];

    return code >= 5000;
}

/* A connection's opening or closing, at debug level, with its id and
 * user as fields of a JSON log line. */
static void ws_log_conn(const struct conn *c, const char *event,
                        const char *what)
{
    struct log_ctx lc = { event, c->id, c->user, NULL };

    log_at(LOG_DEBUG, &lc, "conn %llu %s", (unsigned long long)c->id, what);
}

int ws_init(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;
    size_t i = 0;

    /* config.c accepted each one already */
    for (i = 0; i < cfg->n_trusted_proxy; i++)
        if (cidr_parse(cfg->trusted_proxy[i], &srv->trusted[i]) == 0)
            srv->n_trusted++;
    return peers_init(&srv->peers, cfg->max_conns_per_ip, cfg->per_ip_exempt,
                      cfg->n_per_ip_exempt);
}

void ws_cleanup(struct server *srv)
{
    peers_cleanup(&srv->peers);
    free(srv->flush_ids);
    srv->flush_ids = NULL;
    srv->n_flush = srv->cap_flush = 0;
}

int ws_open(struct server *srv, struct lws *wsi, struct pss *pss)
{
    ws_track(srv, pss);
    pss->conn = hub_conn_open(srv->hub, CONN_WS, wsi);
    if (pss->conn == NULL)
        return ws_close_with(wsi, 1011);
    if (hub_get_stats(srv->hub)->connections > srv->cfg->max_conns) {
        srv->ws.refused_max_conns++;
        sys_glue_refused(srv, wsi, "too many connections (--max-conns)",
                         1013);
        return ws_close_with(wsi, 1013);
    }
    if (pss->claims != NULL) {
        /* verified once, by ws_filter: the hub takes them over */
        hub_conn_adopt_claims(srv->hub, pss->conn, pss->claims);
        pss->claims = NULL;
    }
    ws_log_conn(pss->conn, "conn_open", "open");
    return 0;
}

int ws_peer_close(struct server *srv, struct lws *wsi, struct pss *pss,
                  const void *payload, size_t len)
{
    /* A close payload is empty, or a 2-byte code and a reason: one byte
     * is a protocol error (lws would echo it). lws has already turned
     * invalid codes into 1002 in what it echoes. */
    if (pss->close_sent)
        return -1; /* the answer to our close: done, nothing to echo */
    pss->peer_closed = true;
    if (len == 1 || (len >= 2 && ws_close_code_invalid(payload))) {
        srv->ws.protocol_errors++;
        return ws_close_with(wsi, 1002);
    }
    return 0;
}

void ws_closed(struct server *srv, struct pss *pss)
{
    ws_untrack(srv, pss);
    if (pss->conn != NULL)
        ws_log_conn(pss->conn, "conn_close", "closed");
    hub_conn_close(srv->hub, &pss->conn);
    free(pss->rx);
    pss->rx = NULL;
    pss->rx_cap = pss->rx_len = 0;
    ws_pss_claims_free(pss);
}
