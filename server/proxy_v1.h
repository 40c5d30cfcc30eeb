/*
 * proxy_v1.h: the PROXY protocol's version 1 header, the line haproxy
 * (send-proxy) and nginx (proxy_protocol) put before a proxied TCP
 * stream to say whom it comes from:
 *
 *     PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n
 *     PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n
 *     PROXY UNKNOWN\r\n            (the proxy does not know: keep the peer)
 *
 * At most 107 bytes. Plain C, no I/O.
 */
#ifndef PL_PROXY_V1_H
#define PL_PROXY_V1_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107

/* Parse the header at the start of buf[0..len). Returns 1 when it is
 * complete: *consumed is its length with the CRLF, and *src the client
 * (ss_family AF_UNSPEC for UNKNOWN); 0 when more bytes are needed; -1
 * when buf does not start with a valid header. */
int proxy_v1_parse(const char *buf, size_t len, struct sockaddr_storage *src,
                   size_t *consumed);

#endif
