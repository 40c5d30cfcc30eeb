/*
 * ws_timers.c: the service thread's timers for WebSockets. lws 4.1.6
 * makes no callback between a frame's header and its first payload byte,
 * so a frame announcing 2^62 bytes and sending none would sit there
 * unnoticed: a sweep every WS_SWEEP_MS reads each open connection's
 * announced length (lws_remaining_packet_payload) and closes those over
 * the limit with 1009. And a 10 Hz guard keeps lws's own timers on time
 * (see ws_timer_guard). The sweep's list of open WebSockets is kept here.
 */
#include "server.h"
#include "ws_internal.h"

/* How often open connections are checked for an oversized frame header.
 * A sweep costs a few hundred ns per connection (measured: 3-11 ms for
 * 14,000-16,000 on a loaded 2-core machine), so about 1% of a core at
 * 20,000 connections; an attacker holds a stalled header this long. */
#define WS_SWEEP_MS 500
/* Control frames carry at most 125 bytes; only data frames are swept. */
#define WS_CONTROL_MAX 125
/* How late lws's timers may fire at most (see ws_timer_guard). */
#define WS_TIMER_GUARD_MS 100

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

void ws_track(struct server *srv, struct pss *pss)
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
void ws_untrack(struct server *srv, struct pss *pss)
{
    lws_usec_t quiet = lws_now_usecs() - pss->rx_at;

    if (!lws_dll2_is_detached(&pss->link))
        lws_dll2_remove(&pss->link);
    if (srv->cfg->ping_interval > 0 && pss->conn != NULL &&
        pss->conn->close_code == 0 && !pss->peer_closed &&
        quiet >= (lws_usec_t)srv->cfg->idle_timeout * LWS_US_PER_SEC)
        srv->ws.idle_hangups++;
}
