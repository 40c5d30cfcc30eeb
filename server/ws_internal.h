/*
 * ws_internal.h: what the WebSocket glue's files (proto.c, ws.c,
 * ws_admit.c, ws_rx.c, ws_tx.c, ws_timers.c) share and nobody else needs.
 * Service thread only.
 */
#ifndef PL_WS_INTERNAL_H
#define PL_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

/* Out-queue entries past which a connection's input is paused (ws_rx.c);
 * ws_tx.c resumes it at half that. */
#define WS_RX_PAUSE 1024

/* ws.c: LWS_CALLBACK_ESTABLISHED, _WS_PEER_INITIATED_CLOSE and _CLOSED.
 * The first two return what the lws callback returns. */
int ws_open(struct server *srv, struct lws *wsi, struct pss *pss);
int ws_peer_close(struct server *srv, struct lws *wsi, struct pss *pss,
                  const void *payload, size_t len);
void ws_closed(struct server *srv, struct pss *pss);

/* ws_admit.c */
int ws_tcp_open(struct server *srv, struct lws *wsi);
void ws_tcp_requested(struct lws *wsi);
void ws_tcp_close(struct server *srv, struct lws *wsi);
int ws_refuse(struct server *srv, struct lws *wsi, unsigned int status,
              const char *why);
int ws_filter(struct server *srv, struct lws *wsi, struct pss *pss);
void ws_pss_claims_free(struct pss *pss);

/* ws_rx.c */
void ws_rx_pause_if_backed_up(struct lws *wsi, struct pss *pss);
void ws_mark_hot(struct server *srv, struct lws *wsi, struct pss *pss,
                 size_t len);
int ws_receive(struct server *srv, struct lws *wsi, struct pss *pss,
               const unsigned char *in, size_t len);

/* ws_tx.c */
int ws_close_with(struct lws *wsi, int code);
int ws_writeable(struct server *srv, struct lws *wsi, struct pss *pss);

/* ws_timers.c */
void ws_track(struct server *srv, struct pss *pss);
void ws_untrack(struct server *srv, struct pss *pss);

#endif
