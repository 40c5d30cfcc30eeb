/*
 * ws_admit.c: who may connect. Every accepted TCP connection is counted
 * per client address (--max-conns-per-ip) from
 * LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED to LWS_CALLBACK_WSI_DESTROY,
 * with a struct ws_tcp as the wsi's opaque user data. The upgrade request
 * is checked here (ws_filter: path, Host, key, version, origin, ?token=)
 * and refused with an HTTP status. A connection from a --trusted-proxy is
 * counted at its upgrade instead, by the client address the proxy names
 * in X-Forwarded-For, so that the limit works behind haproxy or nginx; lws checks the framing, but would
 * answer any Sec-WebSocket-Version (and none) as 13. Service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "cidr.h"

#include "log.h"
#include "server.h"
#include "ws_internal.h"

/* HTTP 426 Upgrade Required (lws has no name for it). */
#define WS_UPGRADE_REQUIRED 426

/* One accepted TCP connection: the wsi's opaque user data. */
struct ws_tcp {
    struct peer *peer; /* NULL: not counted (exempt, or off) */
    lws_usec_t accepted;
    bool requested; /* a request head arrived */
    bool via_proxy; /* from a --trusted-proxy: counted at the upgrade */
};

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

/*
 * Refuse an upgrade request with an HTTP status and a one-line text body;
 * 426 also names the version we speak (RFC 6455 4.4). The response is
 * written at once (lws has switched the wsi to its ws role, whose writes
 * pass HTTP bytes through), then lws hangs up. Returns 1, for the filter.
 */
int ws_refuse(struct server *srv, struct lws *wsi, unsigned int status,
              const char *why)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE;
    unsigned char *p = start;
    unsigned char *end = buf + sizeof(buf) - 256;
    size_t n = strlen(why);

    srv->refused_handshakes++;
    log_info("refusing a WebSocket upgrade: %u %s", status, why);
    sys_glue_refused(srv, wsi, why, (int)status);
    if (n > 200)
        n = 200;
    if (lws_add_http_common_headers(wsi, status, "text/plain", n + 1, &p,
                                    end) ||
        (status == WS_UPGRADE_REQUIRED &&
         lws_add_http_header_by_name(
             wsi, (const unsigned char *)"sec-websocket-version:",
             (const unsigned char *)"13", 2, &p, end)) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                     (const unsigned char *)"close", 5, &p,
                                     end) ||
        lws_finalize_http_header(wsi, &p, end))
        return 1;
    memcpy(p, why, n);
    p += n;
    *p++ = '\n';
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) < 0)
        log_debug("could not write the refusal");
    return 1;
}

/* RFC 6455 4.1: the key is 16 random bytes in base64 (24 characters). */
static bool ws_key_valid(struct lws *wsi)
{
    char key[64];
    char raw[48];
    int n = lws_hdr_copy(wsi, key, sizeof(key), WSI_TOKEN_KEY);

    return n == 24 && lws_b64_decode_string(key, raw, sizeof(raw)) == 16;
}

/* ?token= on the upgrade: verified here, once, and the claims kept on
 * pss until the WebSocket opens (proto.c hands them to the hub). Returns
 * non-zero to refuse the handshake (answered here). */
static int ws_verify_token(struct server *srv, struct lws *wsi, struct pss *pss,
                           const char *tok)
{
    struct pl_claims *claims = calloc(1, sizeof(*claims));

    if (claims == NULL)
        return ws_refuse(srv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
                         "out of memory");
    if (srv->cfg->secret == NULL ||
        pl_jwt_verify(tok, strlen(tok), srv->cfg->secret, srv->cfg->secret_len,
                      (int64_t)time(NULL), claims) != PL_OK) {
        free(claims);
        return ws_refuse(srv, wsi, HTTP_STATUS_UNAUTHORIZED,
                         "invalid or expired token");
    }
    ws_pss_claims_free(pss);
    pss->claims = claims;
    return 0;
}

bool ws_is_trusted_proxy(struct server *srv,
                         const struct sockaddr_storage *ss)
{
    size_t i = 0;

    for (i = 0; i < srv->n_trusted; i++)
        if (cidr_contains(&srv->trusted[i], ss))
            return true;
    return false;
}

/*
 * The client behind a trusted proxy: in X-Forwarded-For ("client, proxy1,
 * proxy2"), each proxy appends the address it got the request from, so
 * the rightmost address that is not one of our trusted proxies is the
 * first one nobody we trust vouches for beyond: the client. Returns 0 and
 * *ss, or -1 when the header names none (the connection then stays
 * uncounted, like an exempt address).
 */
static int forwarded_client(struct server *srv, struct lws *wsi,
                            struct sockaddr_storage *ss)
{
    char xff[1024];
    int n = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);

    while (n > 0) {
        char *comma = strrchr(xff, ',');
        char *item = comma != NULL ? comma + 1 : xff;

        if (cidr_parse_addr(item, ss) < 0)
            return -1;
        if (!ws_is_trusted_proxy(srv, ss))
            return 0;
        if (comma == NULL)
            return -1;
        *comma = '\0';
    }
    return -1;
}

/* At the upgrade of a connection from a trusted proxy: count it against
 * its client's address. Returns non-zero when that address is over
 * --max-conns-per-ip. */
static int ws_count_forwarded(struct server *srv, struct lws *wsi)
{
    struct ws_tcp *tcp = lws_get_opaque_user_data(wsi);
    struct sockaddr_storage ss;

    if (tcp == NULL || !tcp->via_proxy || tcp->peer != NULL ||
        srv->peers.limit == 0 || forwarded_client(srv, wsi, &ss) < 0)
        return 0;
    if (peers_acquire(&srv->peers, &ss, &tcp->peer) < 0) {
        srv->ws.refused_per_ip++;
        return -1;
    }
    return 0;
}

/* Checks at the upgrade request: path, Host, key, version, origin,
 * ?token=. Returns non-zero to refuse the handshake (answered here). */
int ws_filter(struct server *srv, struct lws *wsi, struct pss *pss)
{
    return ws_filter_at(srv, wsi, pss, "/ws");
}

int ws_filter_at(struct server *srv, struct lws *wsi, struct pss *pss,
                 const char *path)
{
    char buf[4096];
    const char *tok = NULL;
    int n = 0;

    n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI);
    if (n <= 0 || strcmp(buf, path) != 0)
        return ws_refuse(srv, wsi, HTTP_STATUS_NOT_FOUND,
                         strcmp(path, "/ws") == 0
                             ? "WebSocket connections go to /ws"
                             : "MQTT over WebSocket goes to /mqtt");
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0)
        return ws_refuse(srv, wsi, HTTP_STATUS_BAD_REQUEST,
                         "the Host header is required");
    if (!ws_key_valid(wsi))
        return ws_refuse(srv, wsi, HTTP_STATUS_BAD_REQUEST,
                         "Sec-WebSocket-Key must be 16 bytes in base64");
    /* lws would treat any version, and none, as 13. */
    n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_VERSION);
    if (n <= 0 || strcmp(buf, "13") != 0)
        return ws_refuse(srv, wsi, WS_UPGRADE_REQUIRED,
                         "only Sec-WebSocket-Version 13 is supported");
    if (!ws_origin_allowed(srv, wsi))
        return ws_refuse(srv, wsi, HTTP_STATUS_FORBIDDEN,
                         "this origin may not connect (see --allow-origin)");
    if (ws_count_forwarded(srv, wsi) != 0)
        return ws_refuse(srv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
                         "too many connections from this address");
    tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
    if (tok != NULL && pss != NULL)
        return ws_verify_token(srv, wsi, pss, tok);
    return 0;
}

/* Drop claims verified at the handshake and never handed to the hub (the
 * WebSocket failed before it opened). */
void ws_pss_claims_free(struct pss *pss)
{
    if (pss->claims != NULL) {
        pl_claims_cleanup(pss->claims);
        free(pss->claims);
        pss->claims = NULL;
    }
}

/* ---- connections per client address (--max-conns-per-ip) ---- */

/* A TCP connection was accepted (nothing read yet). Returns non-zero to
 * hang up at once: the address is over --max-conns-per-ip, or OOM. */
int ws_tcp_open(struct server *srv, struct lws *wsi)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct ws_tcp *tcp = calloc(1, sizeof(*tcp));

    if (tcp == NULL)
        return -1;
    tcp->accepted = lws_now_usecs();
    memset(&ss, 0, sizeof(ss));
    if (srv->adopt_src != NULL) {
        /* named by a PROXY protocol header (listen.c): a client */
        if (srv->peers.limit > 0 &&
            peers_acquire(&srv->peers, srv->adopt_src, &tcp->peer) < 0) {
            free(tcp);
            srv->ws.refused_per_ip++;
            return -1;
        }
    } else if ((srv->peers.limit > 0 || srv->n_trusted > 0) &&
        getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl) == 0) {
        if (ws_is_trusted_proxy(srv, &ss)) {
            tcp->via_proxy = true;
        } else if (srv->peers.limit > 0 &&
                   peers_acquire(&srv->peers, &ss, &tcp->peer) < 0) {
            free(tcp);
            srv->ws.refused_per_ip++;
            sys_glue_refused(srv, wsi, "too many connections from this address",
                             0);
            return -1;
        }
    }
    srv->ws.tcp_conns++;
    lws_set_opaque_user_data(wsi, tcp);
    return 0;
}

/* A request head arrived on wsi's connection. */
void ws_tcp_requested(struct lws *wsi)
{
    struct ws_tcp *tcp = lws_get_opaque_user_data(wsi);

    if (tcp != NULL)
        tcp->requested = true;
}

/* Any wsi is being freed: release what ws_tcp_open counted. */
void ws_tcp_close(struct server *srv, struct lws *wsi)
{
    struct ws_tcp *tcp = lws_get_opaque_user_data(wsi);
    lws_usec_t age = 0;

    if (tcp == NULL)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    age = lws_now_usecs() - tcp->accepted;
    if (!tcp->requested &&
        age >= (lws_usec_t)srv->cfg->handshake_timeout * LWS_US_PER_SEC)
        srv->ws.handshake_timeouts++;
    peers_release(&srv->peers, tcp->peer);
    srv->ws.tcp_conns--;
    free(tcp);
}
