/*
 * ws.c: the parley.v1 lws protocol callback: WebSocket sessions in, hub
 * calls, frames out. HTTP reasons are handed to http.c. The only thread
 * here is lws's service thread.
 *
 * Writing. A connection usually has many small pre-framed messages queued,
 * so one write copies as many whole frames as fit in WS_COALESCE_BYTES
 * into one buffer and hands that to lws as raw bytes (LWS_WRITE_RAW
 * bypasses lws's own framing: our frames are complete WebSocket frames
 * already). Writes happen at the end of the loop turn that queued them
 * (ws_wake, ws_flush), and from lws's writeable callback only when the
 * socket was full, more than one write's worth was queued, or a close
 * frame is due. lws keeps any unsent tail itself and sends it before
 * anything else, and we only ever pass whole frames, so its own control
 * frames (pong, close) never land inside one of ours.
 * permessage-deflate is not offered.
 *
 * Hostile clients. The upgrade request is checked here (ws_filter) and
 * refused with an HTTP status; lws checks the framing. What lws 4.1.6 does
 * not do is ours: it would answer any Sec-WebSocket-Version (and none) as
 * 13, echo a 1-byte close payload, and it makes no callback between a
 * frame's header and its first payload byte, so a frame announcing 2^62
 * bytes and sending none would sit there unnoticed. A sweep every
 * WS_SWEEP_MS reads each open connection's announced length
 * (lws_remaining_packet_payload) and closes those over the limit with
 * 1009. Every accepted TCP connection is counted per client address
 * (--max-conns-per-ip) from LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED to
 * LWS_CALLBACK_WSI_DESTROY, with a struct ws_tcp as the wsi's opaque user
 * data.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "server.h"

/* How often open connections are checked for an oversized frame header.
 * A sweep costs a few hundred ns per connection (measured: 3-11 ms for
 * 14,000-16,000 on a loaded 2-core machine), so about 1% of a core at
 * 20,000 connections; an attacker holds a stalled header this long. */
#define WS_SWEEP_MS 500
/* Control frames carry at most 125 bytes; only data frames are swept. */
#define WS_CONTROL_MAX 125
/* How late lws's timers may fire at most (see ws_timer_guard). */
#define WS_TIMER_GUARD_MS 100
/* HTTP 426 Upgrade Required (lws has no name for it). */
#define WS_UPGRADE_REQUIRED 426
/* Bytes of a client frame's header (2, +4 mask, +2 or +8 length): a
 * small frame's, when counting what one read took in (ws_mark_hot). */
#define WS_FRAME_HEADER 6
/* A read within this many bytes of the receive buffer counts as full. */
#define WS_RX_SLACK 16
/* Out-queue entries past which a connection's input is paused. */
#define WS_RX_PAUSE 1024

/* A client address (IPv4 as ::ffff:a.b.c.d, IPv6 by its /64) and its open
 * TCP connections. */
/* One accepted TCP connection: the wsi's opaque user data. */
struct ws_tcp {
    struct peer *peer; /* NULL: not counted (exempt, or off) */
    lws_usec_t accepted;
    bool requested; /* a request head arrived */
};

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
    case 1002:
        return "protocol error";
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

/* RFC 6455 7.4: codes from 5000 up are not defined (lws already turns
 * 0-999, the reserved 1004-1006, 1012-1015 and 1016-2999 into 1002 in
 * the payload it hands us). */
static bool ws_close_code_invalid(const unsigned char *payload)
{
    int code = payload[0] << 8 | payload[1];

    return code >= 5000;
}

/*
 * Backpressure. Every command queues a reply, and one waiting for the
 * store (history) holds back everything queued after it. A client that
 * sends commands faster than it reads, or than the store answers, would
 * have us hold its pending work without bound (300,000 pipelined history
 * requests took the server from 6 to 94 MB). Past WS_RX_PAUSE queued
 * entries we stop reading from it; ws_writeable resumes at half that.
 */
static void ws_rx_pause_if_backed_up(struct lws *wsi, struct pss *pss)
{
    if (!pss->rx_paused && pss->conn->q.count >= WS_RX_PAUSE) {
        pss->rx_paused = true;
        lws_rx_flow_control(wsi, 0);
    }
}

/* Write what the connection has queued, coalesced, in one lws_write.
 * Asks for a writeable callback if more is left. Returns -1 when the
 * write failed (the connection is unusable). */
static int ws_write_queued(struct server *srv, struct lws *wsi,
                           struct pss *pss)
{
    struct conn *c = pss->conn;
    unsigned char *out = srv->wbuf + LWS_PRE;
    struct msg *m = NULL;
    size_t n = 0;
    int rc = 0;

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
    if (pss->rx_paused && c->q.count <= WS_RX_PAUSE / 2) {
        pss->rx_paused = false;
        lws_rx_flow_control(wsi, 1);
    }
    m = outq_peek(&c->q);
    if (m != NULL && !m->placeholder && !c->wake_pending) {
        c->wake_pending = true;
        lws_callback_on_writable(wsi);
    }
    return 0;
}

/* lws's writeable callback: the socket has room, or a close is due. */
static int ws_writeable(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct conn *c = pss->conn;

    c->wake_pending = false;
    if (c->close_code > 0)
        return ws_close_with(wsi, c->close_code);
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
        c->wake_pending = false;
        srv->direct_writes++;
        if (ws_write_queued(srv, wsi, pss) < 0)
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    srv->n_flush = 0;
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
static void ws_mark_hot(struct server *srv, struct lws *wsi, struct pss *pss,
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
static int ws_refuse(struct server *srv, struct lws *wsi, unsigned int status,
                     const char *why)
{
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE;
    unsigned char *p = start;
    unsigned char *end = buf + sizeof(buf) - 256;
    size_t n = strlen(why);

    srv->refused_handshakes++;
    log_info("refusing a WebSocket upgrade: %u %s", status, why);
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

/* Checks at the upgrade request: path, Host, key, version, origin,
 * ?token=. Returns non-zero to refuse the handshake (answered here). */
static int ws_filter(struct server *srv, struct lws *wsi, struct pss *pss)
{
    char buf[4096];
    const char *tok = NULL;
    int n = 0;

    n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI);
    if (n <= 0 || strcmp(buf, "/ws") != 0)
        return ws_refuse(srv, wsi, HTTP_STATUS_NOT_FOUND,
                         "WebSocket connections go to /ws");
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
    tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
    if (tok != NULL) {
        struct pl_claims claims;

        memset(&claims, 0, sizeof(claims));
        if (srv->cfg->secret == NULL ||
            pl_jwt_verify(tok, strlen(tok), srv->cfg->secret,
                          srv->cfg->secret_len, (int64_t)time(NULL),
                          &claims) != PL_OK)
            return ws_refuse(srv, wsi, HTTP_STATUS_UNAUTHORIZED,
                             "invalid or expired token");
        pl_claims_cleanup(&claims);
        free(pss->token);
        pss->token = strdup(tok);
        if (pss->token == NULL)
            return ws_refuse(srv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
                             "out of memory");
    }
    return 0;
}

/*
 * Completions arrive in batches as large as a group commit (thousands of
 * messages). Fanning out a whole batch at once would put it on every
 * subscriber's queue before any of them could write, so a fast reader
 * would look like a slow one. We handle a budget's worth per loop
 * iteration and wake ourselves for the rest, letting writes happen in
 * between. Called when the store wakes the loop, and at the end of every
 * turn (service_turn), for commits that finished during it.
 */
void ws_drain_store(struct server *srv)
{
    struct store_job *done = NULL;
    struct store_job **tail = &srv->backlog;

    if (srv->store == NULL || srv->hub == NULL)
        return;
    done = storage_take_completions(&srv->storage);
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = done;
    srv->backlog =
        hub_store_done_some(srv->hub, srv->backlog, srv->fanout_budget);
    if (srv->backlog != NULL)
        lws_cancel_service(srv->ctx);
}

/*
 * lws 4.1.6's libev glue re-arms its one timer from an idle callback with
 * ev_timer_set + ev_timer_start, and ev_timer_start does nothing to a
 * timer already running: a timeout scheduled earlier than the armed one
 * waits for it (the 500 ms frame sweep waited for a 10 s handshake
 * timeout). Its timer callback re-arms correctly, so a tick every
 * WS_TIMER_GUARD_MS, scheduled before the loop first turns, keeps the
 * armed time near and lws's timers fire at most that late. Like Redis's
 * default 10 Hz cron, it costs an idle server a few microseconds a tick.
 */
static void ws_timer_guard(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, timer_guard);

    lws_sul_schedule(srv->ctx, 0, &srv->timer_guard, ws_timer_guard,
                     WS_TIMER_GUARD_MS * LWS_US_PER_MS);
}

void ws_start(struct server *srv)
{
    lws_sul_schedule(srv->ctx, 0, &srv->timer_guard, ws_timer_guard,
                     WS_TIMER_GUARD_MS * LWS_US_PER_MS);
}

/* ---- connections per client address (--max-conns-per-ip) ---- */

/* A TCP connection was accepted (nothing read yet). Returns non-zero to
 * hang up at once: the address is over --max-conns-per-ip, or OOM. */
static int ws_tcp_open(struct server *srv, struct lws *wsi)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct ws_tcp *tcp = calloc(1, sizeof(*tcp));

    if (tcp == NULL)
        return -1;
    tcp->accepted = lws_now_usecs();
    memset(&ss, 0, sizeof(ss));
    if (srv->peers.limit > 0 &&
        getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl) == 0 &&
        peers_acquire(&srv->peers, &ss, &tcp->peer) < 0) {
        free(tcp);
        srv->ws.refused_per_ip++;
        return -1;
    }
    srv->ws.tcp_conns++;
    lws_set_opaque_user_data(wsi, tcp);
    return 0;
}

/* A request head arrived on wsi's connection. */
static void ws_tcp_requested(struct lws *wsi)
{
    struct ws_tcp *tcp = lws_get_opaque_user_data(wsi);

    if (tcp != NULL)
        tcp->requested = true;
}

/* Any wsi is being freed: release what ws_tcp_open counted. */
static void ws_tcp_close(struct server *srv, struct lws *wsi)
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

int ws_init(struct server *srv)
{
    const struct pl_config *cfg = srv->cfg;

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

/* ---- frames announced larger than the limit ---- */

/* Every WS_SWEEP_MS while WebSockets are open: a data frame whose header
 * announces more than the message limit is refused with 1009 now, even
 * if none of its payload ever comes (lws makes no callback before the
 * first payload byte). Service thread. */
static void ws_sweep(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, sweep);

    lws_start_foreach_dll(struct lws_dll2 *, d,
                          lws_dll2_get_head(&srv->ws_conns))
    {
        struct pss *pss = lws_container_of(d, struct pss, link);
        struct conn *c = pss->conn;
        size_t remaining = 0;

        if (c != NULL && c->close_code == 0 && c->transport != NULL) {
            remaining = lws_remaining_packet_payload(c->transport);
            if (remaining > WS_CONTROL_MAX &&
                pss->rx_len + remaining > srv->cfg->max_message) {
                pss->rx_len = 0;
                pss->rx_binary = false;
                srv->ws.too_large++;
                hub_conn_kill(srv->hub, c, 1009);
            }
        }
    }
    lws_end_foreach_dll(d);
    srv->sweeping = srv->ws_conns.count > 0;
    if (srv->sweeping)
        lws_sul_schedule(srv->ctx, 0, &srv->sweep, ws_sweep,
                         WS_SWEEP_MS * LWS_US_PER_MS);
}

void ws_stop(struct server *srv)
{
    lws_sul_cancel(&srv->sweep);
    srv->sweeping = false;
    lws_sul_cancel(&srv->timer_guard);
}

static void ws_track(struct server *srv, struct pss *pss)
{
    pss->rx_at = lws_now_usecs();
    lws_dll2_add_tail(&pss->link, &srv->ws_conns);
    if (!srv->sweeping) {
        srv->sweeping = true;
        lws_sul_schedule(srv->ctx, 0, &srv->sweep, ws_sweep,
                         WS_SWEEP_MS * LWS_US_PER_MS);
    }
}

/*
 * The WebSocket is closing. lws hangs up on a connection that answered
 * no ping within --idle-timeout, but tells nobody why, and its pings are
 * empty, so their pongs make no callback either. What we can count is a
 * connection that ended without a close frame either way after at least
 * --idle-timeout without data from the client: that is every keepalive
 * hang-up, and a client that vanished while idle.
 */
static void ws_untrack(struct server *srv, struct pss *pss)
{
    lws_usec_t quiet = lws_now_usecs() - pss->rx_at;

    if (!lws_dll2_is_detached(&pss->link))
        lws_dll2_remove(&pss->link);
    if (srv->cfg->ping_interval > 0 && pss->conn != NULL &&
        pss->conn->close_code == 0 && !pss->peer_closed &&
        quiet >= (lws_usec_t)srv->cfg->idle_timeout * LWS_US_PER_SEC)
        srv->ws.idle_hangups++;
}

void ws_metrics_render(struct server *srv, struct pl_buf *b)
{
    const struct ws_stats *w = &srv->ws;

    metrics_line(b, "parley_tcp_connections", "gauge",
                 "Open TCP connections (HTTP, WebSocket, handshakes).",
                 w->tcp_conns);
    metrics_line(b, "parley_peer_addresses", "gauge",
                 "Client addresses counted for --max-conns-per-ip.",
                 srv->peers.count);
    metrics_line(b, "parley_conns_refused_per_ip_total", "counter",
                 "TCP connections refused by --max-conns-per-ip.",
                 w->refused_per_ip);
    metrics_line(b, "parley_conns_refused_max_total", "counter",
                 "WebSockets closed with 1013 by --max-conns.",
                 w->refused_max_conns);
    metrics_line(b, "parley_handshake_timeouts_total", "counter",
                 "Connections closed without a request within "
                 "--handshake-timeout.",
                 w->handshake_timeouts);
    metrics_line(b, "parley_idle_hangups_total", "counter",
                 "WebSockets ended without a close frame after --idle-timeout "
                 "without data (no pong to the keepalive ping, or gone).",
                 w->idle_hangups);
    metrics_line(b, "parley_too_large_closes_total", "counter",
                 "WebSockets closed with 1009 (--max-message).", w->too_large);
    metrics_line(b, "parley_protocol_error_closes_total", "counter",
                 "WebSockets closed with 1002 by the server.",
                 w->protocol_errors);
}

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                void *in, size_t len)
{
    struct server *srv = srv_of(wsi);
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        return ws_tcp_open(srv, wsi);

    case LWS_CALLBACK_WSI_DESTROY:
        /* pss is still there; a WebSocket lws failed before CLOSED must
         * not stay on the sweep list. */
        if (pss != NULL && !lws_dll2_is_detached(&pss->link))
            lws_dll2_remove(&pss->link);
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
        ws_track(srv, pss);
        pss->conn = hub_conn_open(srv->hub, CONN_WS, wsi);
        if (pss->conn == NULL)
            return ws_close_with(wsi, 1011);
        if (hub_get_stats(srv->hub)->connections > srv->cfg->max_conns) {
            srv->ws.refused_max_conns++;
            return ws_close_with(wsi, 1013);
        }
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
        pss->rx_at = lws_now_usecs();
        ws_mark_hot(srv, wsi, pss, len);
        return ws_receive(srv, wsi, pss, in, len);

    case LWS_CALLBACK_RECEIVE_PONG:
        pss->rx_at = lws_now_usecs();
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* A close payload is empty, or a 2-byte code and a reason: one
         * byte is a protocol error (lws would echo it). lws has already
         * turned invalid codes into 1002 in what it echoes. */
        pss->peer_closed = true;
        if (len == 1 || (len >= 2 && ws_close_code_invalid(in))) {
            srv->ws.protocol_errors++;
            return ws_close_with(wsi, 1002);
        }
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss->conn == NULL)
            return 0;
        return ws_writeable(srv, wsi, pss);

    case LWS_CALLBACK_CLOSED:
        ws_untrack(srv, pss);
        if (pss->conn != NULL)
            log_debug("conn %llu closed", (unsigned long long)pss->conn->id);
        hub_conn_close(srv->hub, &pss->conn);
        free(pss->rx);
        pss->rx = NULL;
        pss->rx_cap = pss->rx_len = 0;
        free(pss->token);
        pss->token = NULL;
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* Broadcast to every protocol: only ours exists. Usually the
         * store's wake-up when the loop was idle (see ws_drain_store). */
        if (srv != NULL)
            ws_drain_store(srv);
        return 0;

    default:
        return http_callback(srv, wsi, reason, pss, in, len);
    }
}
