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

/* ws_admit.c: a TCP connection accepted (non-zero: hang up, over
 * --max-conns-per-ip or out of memory), its request head seen, and any
 * wsi freed (releases what ws_tcp_open counted). */
int ws_tcp_open(struct server *srv, struct lws *wsi);
void ws_tcp_requested(struct lws *wsi);
void ws_tcp_close(struct server *srv, struct lws *wsi);
/* Answer an upgrade request with an HTTP status and why; returns 1. */
int ws_refuse(struct server *srv, struct lws *wsi, unsigned int status,
              const char *why);
/* The upgrade checks, ?token= included (its claims kept on pss); non-zero
 * refuses the handshake, already answered. */
int ws_filter(struct server *srv, struct lws *wsi, struct pss *pss);
/* The same checks for an upgrade to path; pss NULL: no ?token= (MQTT over
 * WebSocket carries its token in CONNECT). */
int ws_filter_at(struct server *srv, struct lws *wsi, struct pss *pss,
                 const char *path);
/* Free claims the hub did not take over (NULL-safe, idempotent). */
void ws_pss_claims_free(struct pss *pss);

/* ws_rx.c: list a connection whose read filled the buffer for another
 * read after the turn; one receive callback's bytes (returns what the lws
 * callback returns); stop reading from a connection whose queue is long
 * (ws_tx.c resumes it). */
void ws_mark_hot(struct server *srv, struct lws *wsi, struct pss *pss,
                 size_t len);
int ws_receive(struct server *srv, struct lws *wsi, struct pss *pss,
               const unsigned char *in, size_t len);
void ws_rx_pause_if_backed_up(struct lws *wsi, struct pss *pss);

/* ws_tx.c: set the close frame's code and reason, returning -1 for lws
 * to send it and close; lws's writeable callback (write, or close). */
int ws_close_with(struct lws *wsi, int code);
int ws_writeable(struct server *srv, struct lws *wsi, struct pss *pss);

/* ws_timers.c: an open WebSocket joins the frame sweep's list (starting
 * the sweep), and leaves it when closed (counting an idle hang-up). */
void ws_track(struct server *srv, struct pss *pss);
void ws_untrack(struct server *srv, struct pss *pss);

#endif
