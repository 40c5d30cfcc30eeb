/*
 * ws.c: the parley.v1 lws protocol callback: WebSocket sessions in, hub
 * calls, frames out. HTTP reasons are handed to http.c. The only thread
 * here is lws's service thread.
 *
 * Writing. lws allows one lws_write() per writeable callback. A connection
 * usually has many small pre-framed messages queued, so each callback
 * copies as many whole frames as fit in WS_COALESCE_BYTES into one buffer
 * and hands that to lws as raw bytes (LWS_WRITE_RAW bypasses lws's own
 * framing: our frames are complete WebSocket frames already). lws keeps
 * any unsent tail itself and sends it before anything else, and we only
 * ever pass whole frames, so its own control frames (pong, close) never
 * land inside one of ours. permessage-deflate is not offered.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "server.h"

static struct server *srv_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

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
    default:
        return "internal error";
    }
}

static int ws_close_with(struct lws *wsi, int code)
{
    const char *why = close_reason(code);

    lws_close_reason(wsi, (enum lws_close_status)code,
                     (unsigned char *)(uintptr_t)why, strlen(why));
    return -1;
}

/* Write what the connection has queued, coalesced. Returns -1 to close. */
static int ws_writeable(struct server *srv, struct lws *wsi, struct conn *c)
{
    unsigned char *out = srv->wbuf + LWS_PRE;
    struct msg *m = NULL;
    size_t n = 0;
    int rc = 0;

    c->wake_pending = false;
    if (c->close_code > 0)
        return ws_close_with(wsi, c->close_code);
    m = outq_peek(&c->q);
    if (m != NULL && !m->placeholder && m->len > WS_COALESCE_BYTES) {
        /* A big frame goes out from its own buffer (MSG_HEADROOM >=
         * LWS_PRE), without a copy. */
        rc = lws_write(wsi, m->frame, m->len, LWS_WRITE_RAW);
        if (rc < 0)
            return -1;
        srv->bytes_out += m->len;
        outq_pop(&c->q);
    } else {
        while ((m = outq_peek(&c->q)) != NULL && !m->placeholder &&
               n + m->len <= WS_COALESCE_BYTES) {
            memcpy(out + n, m->frame, m->len);
            n += m->len;
            outq_pop(&c->q);
        }
        if (n > 0) {
            rc = lws_write(wsi, out, n, LWS_WRITE_RAW);
            if (rc < 0)
                return -1;
            srv->bytes_out += n;
        }
    }
    hub_conn_drained(srv->hub, c);
    m = outq_peek(&c->q);
    if (m != NULL && !m->placeholder && !c->wake_pending) {
        c->wake_pending = true;
        lws_callback_on_writable(wsi);
    }
    return 0;
}

/* One receive callback: a whole message, or a piece of one. */
static int ws_receive(struct server *srv, struct lws *wsi, struct pss *pss,
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
            pss->rx_cap = ncap;
        }
        memcpy(pss->rx + pss->rx_len, in, len);
    }
    pss->rx_len += len;
    if (!final)
        return 0;
    if (pss->rx_binary)
        hub_conn_binary(srv->hub, c);
    else
        hub_conn_text(srv->hub, c, (const char *)pss->rx, pss->rx_len);
    pss->rx_len = 0;
    pss->rx_binary = false;
    /* Idle connections stay small: give big reassembly buffers back. */
    if (pss->rx_cap > 8192) {
        free(pss->rx);
        pss->rx = NULL;
        pss->rx_cap = 0;
    }
    return 0;
}

/*
 * Cross-site WebSocket hijacking: a browser page from another site could
 * open a socket to us with the user's cookies or network position. Browsers
 * always send Origin; other clients usually don't. A request with an Origin
 * is accepted only from our own origin (same host as the Host header) or
 * one listed with --allow-origin ("*" allows any).
 */
static bool ws_origin_allowed(struct server *srv, struct lws *wsi)
{
    char origin[256];
    char host[256];
    const char *rest = NULL;
    size_t i;

    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return true;
    for (i = 0; i < srv->cfg->n_allow_origin; i++)
        if (strcmp(srv->cfg->allow_origin[i], "*") == 0 ||
            strcasecmp(srv->cfg->allow_origin[i], origin) == 0)
            return true;
    if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) <= 0)
        return false;
    if (strncasecmp(origin, "http://", 7) == 0)
        rest = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        rest = origin + 8;
    return rest != NULL && strcasecmp(rest, host) == 0;
}

/* Checks at the upgrade request: path, version, origin, ?token=. Returns
 * non-zero to refuse the handshake. */
static int ws_filter(struct server *srv, struct lws *wsi, struct pss *pss)
{
    char buf[1024];
    const char *tok = NULL;
    int n = 0;

    n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI);
    if (n <= 0 || strcmp(buf, "/ws") != 0) {
        log_debug("refusing upgrade for path %s", n > 0 ? buf : "?");
        srv->refused_handshakes++;
        return 1;
    }
    n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_VERSION);
    if (n > 0 && strcmp(buf, "13") != 0) {
        srv->refused_handshakes++;
        return 1;
    }
    if (!ws_origin_allowed(srv, wsi)) {
        srv->refused_handshakes++;
        log_info("refusing a WebSocket from another origin");
        return 1;
    }
    tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
    if (tok != NULL) {
        struct pl_claims claims;

        memset(&claims, 0, sizeof(claims));
        if (srv->cfg->secret == NULL ||
            pl_jwt_verify(tok, strlen(tok), srv->cfg->secret,
                          srv->cfg->secret_len, (int64_t)time(NULL),
                          &claims) != PL_OK) {
            srv->refused_handshakes++;
            lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED,
                                   "invalid token");
            return 1;
        }
        pl_claims_cleanup(&claims);
        free(pss->token);
        pss->token = strdup(tok);
    }
    return 0;
}

/*
 * Completions arrive in batches as large as a group commit (thousands of
 * messages). Fanning out a whole batch at once would put it on every
 * subscriber's queue before any of them could write, so a fast reader
 * would look like a slow one. We handle a budget's worth per loop
 * iteration and wake ourselves for the rest, letting writes happen in
 * between.
 */
static void ws_drain_store(struct server *srv)
{
    struct store_job *done = NULL;
    struct store_job **tail = &srv->backlog;

    if (srv->store == NULL || srv->hub == NULL)
        return;
    done = store_take_completions(srv->store);
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = done;
    srv->backlog = hub_store_done_some(srv->hub, srv->backlog,
                                       srv->fanout_budget);
    if (srv->backlog != NULL)
        lws_cancel_service(srv->ctx);
}

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                void *in, size_t len)
{
    struct server *srv = srv_of(wsi);
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(srv, wsi, pss);

    case LWS_CALLBACK_ESTABLISHED:
        pss->conn = hub_conn_open(srv->hub, CONN_WS, wsi);
        if (pss->conn == NULL)
            return ws_close_with(wsi, 1011);
        if (hub_get_stats(srv->hub)->connections > srv->cfg->max_conns)
            return ws_close_with(wsi, 1013);
        if (pss->token != NULL) {
            hub_conn_token(srv->hub, pss->conn, pss->token);
            free(pss->token);
            pss->token = NULL;
        }
        log_debug("conn %llu open", (unsigned long long)pss->conn->id);
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (pss->conn == NULL)
            return -1;
        return ws_receive(srv, wsi, pss, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss->conn == NULL)
            return 0;
        return ws_writeable(srv, wsi, pss->conn);

    case LWS_CALLBACK_CLOSED:
        if (pss->conn != NULL)
            log_debug("conn %llu closed",
                      (unsigned long long)pss->conn->id);
        hub_conn_close(srv->hub, &pss->conn);
        free(pss->rx);
        pss->rx = NULL;
        pss->rx_cap = pss->rx_len = 0;
        free(pss->token);
        pss->token = NULL;
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* broadcast to every protocol: only ours exists */
        if (srv != NULL)
            ws_drain_store(srv);
        return 0;

    default:
        return http_callback(srv, wsi, reason, pss, in, len);
    }
}
