/*
 * httpc.c: the integration tests' HTTP client. It owns one blocking TCP
 * connection per request, writes the request, reads the whole response
 * under one poll() deadline, and decodes Content-Length, chunked or
 * read-to-EOF bodies. No keep-alive, no redirects, no TLS.
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTPC_MAX (64u * 1024 * 1024)

struct httpc_buf {
    char *p;
    size_t len;
    size_t cap;
};

static int64_t httpc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int httpc_left(int64_t deadline)
{
    int64_t left = deadline - httpc_now_ms();

    return left < 0 ? 0 : (int)left;
}

/* Read once into b after waiting until deadline. Returns the byte count,
 * 0 on EOF, or -errno. */
static int httpc_read(int fd, struct httpc_buf *b, int64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char *p = NULL;
    ssize_t n = 0;
    int rc = 0;

    if (b->cap - b->len < 4097) {
        if (b->cap > HTTPC_MAX)
            return -EFBIG;
        p = realloc(b->p, b->cap ? b->cap * 2 : 8192);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = b->cap ? b->cap * 2 : 8192;
    }
    for (;;) {
        rc = poll(&pfd, 1, httpc_left(deadline));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -errno;
        if (rc == 0)
            return -ETIMEDOUT;
        n = recv(fd, b->p + b->len, b->cap - b->len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == ECONNRESET ? 0 : -errno;
        b->len += (size_t)n;
        b->p[b->len] = '\0';
        return (int)n;
    }
}

static int httpc_connect(int port, int64_t deadline)
{
    struct sockaddr_in sa;
    struct pollfd pfd;
    struct timeval tv = { .tv_sec = 10 };
    int fd = -1;
    int fl = 0;
    int err = 0;
    socklen_t el = sizeof(err);
    int rc = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc < 0 && errno != EINPROGRESS)
        goto fail;
    if (rc < 0) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        do {
            rc = poll(&pfd, 1, httpc_left(deadline));
        } while (rc < 0 && errno == EINTR);
        if (rc == 0)
            errno = ETIMEDOUT;
        if (rc <= 0)
            goto fail;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            errno = err;
            goto fail;
        }
    }
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
fail:
    err = errno;
    close(fd);
    return -err;
}

static int httpc_send_all(int fd, const void *p, size_t len)
{
    const char *b = p;
    ssize_t n = 0;

    while (len > 0) {
        n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

const char *httpc_header(const struct httpc_resp *r, const char *name,
                         char *buf, size_t n)
{
    const char *line = r->head ? strstr(r->head, "\r\n") : NULL;
    size_t nl = strlen(name);

    while (line) {
        const char *p = line + 2;
        const char *end = strstr(p, "\r\n");
        size_t vl = 0;

        if (!end)
            end = p + strlen(p);
        if (end == p)
            return NULL;
        if ((size_t)(end - p) > nl && p[nl] == ':' &&
            strncasecmp(p, name, nl) == 0) {
            p += nl + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            vl = (size_t)(end - p);
            while (vl > 0 && (p[vl - 1] == ' ' || p[vl - 1] == '\t'))
                vl--;
            if (vl >= n)
                vl = n - 1;
            memcpy(buf, p, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = *end ? end : NULL;
    }
    return NULL;
}

/* Decode a chunked body in place from src[0..len) into r->body. Returns 0
 * when complete, 1 when more bytes are needed, -EPROTO when malformed. */
static int httpc_dechunk(const char *src, size_t len, struct httpc_resp *r)
{
    size_t off = 0;
    size_t out = 0;
    char *body = NULL;

    body = malloc(len + 1);
    if (!body)
        return -ENOMEM;
    for (;;) {
        const char *eol = NULL;
        char *endp = NULL;
        unsigned long sz = 0;

        eol = memmem(src + off, len - off, "\r\n", 2);
        if (!eol)
            goto more;
        sz = strtoul(src + off, &endp, 16);
        if (endp == src + off) {
            free(body);
            return -EPROTO;
        }
        off = (size_t)(eol - src) + 2;
        if (sz == 0)
            break;
        if (len - off < sz + 2)
            goto more;
        memcpy(body + out, src + off, sz);
        out += sz;
        off += sz + 2;
    }
    body[out] = '\0';
    r->body = body;
    r->body_len = out;
    return 0;
more:
    free(body);
    return 1;
}

int httpc_request(int port, const char *method, const char *path,
                  const char *extra_headers, const void *body,
                  size_t body_len, struct httpc_resp *r, int timeout_ms)
{
    int64_t deadline = httpc_now_ms() + timeout_ms;
    struct httpc_buf b = { NULL, 0, 0 };
    char *req = NULL;
    char val[64];
    const char *hend = NULL;
    size_t hl = 0;
    bool ctype = false;
    bool chunked = false;
    long clen = -1;
    int fd = -1;
    int n = 0;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    ctype = extra_headers && strcasestr(extra_headers, "content-type:");
    n = asprintf(&req,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Connection: close\r\n%s%s",
                 method, path, port,
                 body && !ctype ? "Content-Type: application/json\r\n" : "",
                 extra_headers ? extra_headers : "");
    if (n < 0)
        return -ENOMEM;
    fd = httpc_connect(port, deadline);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    {
        char cl[64];

        if (body)
            snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n",
                     body_len);
        else
            snprintf(cl, sizeof(cl), "\r\n");
        rc = httpc_send_all(fd, req, (size_t)n);
        if (rc == 0)
            rc = httpc_send_all(fd, cl, strlen(cl));
        if (rc == 0 && body && body_len)
            rc = httpc_send_all(fd, body, body_len);
        /* A server may answer (413, say) and close before it read the
         * whole body: then the answer is still there to read. */
        if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
            goto out;
    }
    for (;;) {
        if (b.p)
            hend = strstr(b.p, "\r\n\r\n");
        if (hend)
            break;
        rc = httpc_read(fd, &b, deadline);
        if (rc == 0)
            rc = -EPROTO;
        if (rc < 0)
            goto out;
    }
    hl = (size_t)(hend - b.p) + 4;
    r->head = strndup(b.p, hl);
    if (!r->head) {
        rc = -ENOMEM;
        goto out;
    }
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) {
        rc = -EPROTO;
        goto out;
    }
    if (httpc_header(r, "Transfer-Encoding", val, sizeof(val)) &&
        strcasestr(val, "chunked"))
        chunked = true;
    else if (httpc_header(r, "Content-Length", val, sizeof(val)))
        clen = strtol(val, NULL, 10);
    if (strcmp(method, "HEAD") == 0 || r->status == 204 ||
        r->status == 304 || (r->status >= 100 && r->status < 200))
        clen = 0;
    for (;;) {
        size_t have = b.len - hl;

        if (chunked) {
            rc = httpc_dechunk(b.p + hl, have, r);
            if (rc <= 0)
                goto out;
        } else if (clen >= 0 && have >= (size_t)clen) {
            break;
        }
        rc = httpc_read(fd, &b, deadline);
        if (rc < 0)
            goto out;
        if (rc == 0) {
            if (chunked || clen >= 0) {
                rc = -EPROTO;
                goto out;
            }
            break;
        }
    }
    {
        size_t have = b.len - hl;
        size_t take = clen >= 0 && (size_t)clen < have ? (size_t)clen : have;

        r->body = malloc(take + 1);
        if (!r->body) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(r->body, b.p + hl, take);
        r->body[take] = '\0';
        r->body_len = take;
    }
    rc = 0;
out:
    if (rc < 0)
        httpc_resp_cleanup(r);
    if (fd >= 0)
        close(fd);
    free(b.p);
    free(req);
    return rc;
}

int httpc_get(int port, const char *path, struct httpc_resp *r,
              int timeout_ms)
{
    return httpc_request(port, "GET", path, NULL, NULL, 0, r, timeout_ms);
}

void httpc_resp_cleanup(struct httpc_resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}
