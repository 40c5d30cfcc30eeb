/*
 * sys_glue.c: the glue's side of the `$SYS` topics (the values are made
 * in the core, sys.c). A timer every --sys-interval reads what only the
 * glue knows (bytes written, the store's counters, refused connections)
 * and hands it to hub_sys_tick; refusals found by ws_admit.c and ws.c
 * become `$SYS/events/refused` with the peer's address.
 */
#include <string.h>

#include "cluster.h"
#include "server.h"
#include "sys.h"

static void sys_glue_tick(lws_sorted_usec_list_t *sul)
{
    struct server *srv = lws_container_of(sul, struct server, sys_timer);
    struct hub_sys_sample s;
    struct store_stats st;

    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    if (srv->store != NULL) {
        store_get_stats(srv->store, &st);
        s.store_pending = store_pending(srv->store);
    }
    s.bytes_out = srv->bytes_out;
    s.store_batches = st.batches;
    s.store_commit_us = st.commit_us;
    s.refused = srv->refused_handshakes + srv->ws.refused_per_ip +
                srv->ws.refused_max_conns;
    s.cluster_nodes = cluster_live_nodes(srv);
    hub_sys_tick(srv->hub, &s);
    lws_sul_schedule(srv->ctx, 0, &srv->sys_timer, sys_glue_tick,
                     srv->cfg->sys_interval_ms * LWS_US_PER_MS);
}

void sys_glue_start(struct server *srv)
{
    if (srv->cfg->sys_interval_ms > 0)
        lws_sul_schedule(srv->ctx, 0, &srv->sys_timer, sys_glue_tick,
                         srv->cfg->sys_interval_ms * LWS_US_PER_MS);
}

void sys_glue_stop(struct server *srv)
{
    lws_sul_cancel(&srv->sys_timer);
}

void sys_glue_refused(struct server *srv, struct lws *wsi, const char *why,
                      int code)
{
    char addr[64] = "";

    if (!hub_sys_wanted(srv->hub))
        return;
    if (wsi != NULL)
        lws_get_peer_simple(wsi, addr, sizeof(addr));
    hub_sys_refused(srv->hub, addr[0] != '\0' ? addr : NULL, why, code);
}
