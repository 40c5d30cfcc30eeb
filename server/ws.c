/*
 * ws.c: the WebSocket transport's set-up and tear-down around the hub
 * (ws_init, ws_cleanup), and the small rules of the close handshake that
 * lws 4.1.6 leaves to us. The work itself is split by job: ws_admit.c,
 * ws_rx.c, ws_tx.c, ws_timers.c, drain.c, with proto.c dispatching lws's
 * callback to them. Service thread only.
 */
#include <stdlib.h>

#include "server.h"
#include "ws_internal.h"

/* RFC 6455 7.4: codes from 5000 up are not defined (lws already turns
 * 0-999, the reserved 1004-1006, 1012-1015 and 1016-2999 into 1002 in
 * the payload it hands us). */
bool ws_close_code_invalid(const unsigned char *payload)
{
    int code = payload[0] << 8 | payload[1];

    return code >= 5000;
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
