/*
 * httpc.h: a minimal synchronous HTTP/1.1 client for the integration tests
 * (/, /healthz, /metrics and the /api/ endpoints). One request per connection
 * ("Connection: close"), loopback only, with a deadline.
 */
#ifndef PARLEY_TEST_HTTPC_H
#define PARLEY_TEST_HTTPC_H

#include <stddef.h>

struct httpc_resp {
    int status;
    char *head;       /* status line and headers, NUL-terminated */
    char *body;       /* de-chunked body, NUL-terminated */
    size_t body_len;
};

/* Send method path to 127.0.0.1:port with extra_headers ("Name: v\r\n"...,
 * or NULL) and body (NULL for none; a body gets Content-Length and, unless
 * extra_headers sets one, Content-Type: application/json). Returns 0 with
 * *r filled (free with httpc_resp_cleanup) or -errno (-ETIMEDOUT after
 * timeout_ms, -EPROTO for a response that is not HTTP). */
int httpc_request(int port, const char *method, const char *path,
                  const char *extra_headers, const void *body,
                  size_t body_len, struct httpc_resp *r, int timeout_ms);

/* GET path; same contract. */
int httpc_get(int port, const char *path, struct httpc_resp *r,
              int timeout_ms);

/* Copy the value of header name (case-insensitive) into buf; returns buf,
 * or NULL when the header is absent. */
const char *httpc_header(const struct httpc_resp *r, const char *name,
                         char *buf, size_t n);

void httpc_resp_cleanup(struct httpc_resp *r);

#endif
