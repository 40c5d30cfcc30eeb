/*
 * listen.c: the listening socket. Normally lws opens it; with --reuse-port
 * we do (listen_open), because lws 4.1.6 sets SO_REUSEPORT only when it
 * runs several service threads: our socket, on our libev loop, accepts
 * and hands each connection to lws (lws_adopt_socket_vhost), which then
 * serves it as if its own listener had accepted it. With --proxy-protocol
 * a connection from a --trusted-proxy peer is first read here until its
 * PROXY v1 line is complete (within --handshake-timeout); lws then gets it
 * with the bytes after that line, and the client the line named is what
 * --max-conns-per-ip counts.
 *
 * At shutdown (listen_stop), lws 4.1.6 has no call that
 * closes its listen socket and keeps the connections (lws_context_deprecate
 * would also destroy the context when the last connection goes, under our
 * own teardown), so we find the socket among our descriptors and close
 * it under lws: the kernel then refuses new connections, or, with
 * --reuse-port, gives them to the other processes listening on the port,
 * while lws keeps serving the open ones. Service thread only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "log.h"
#include "proxy_v1.h"
#include "server.h"

/* A connection whose PROXY header is still arriving. */
struct proxied {
    ev_io io;
    ev_timer timer;
    struct server *srv;
    struct proxied *prev, *next;  /* srv->proxied */
    size_t len;
    char buf[PROXY_V1_MAX + 1];
};

static void proxied_free(struct proxied *p, bool close_fd)
{
    struct server *srv = p->srv;

    ev_io_stop(srv->loop, &p->io);
    ev_timer_stop(srv->loop, &p->timer);
    if (close_fd)
        close(p->io.fd);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        srv->proxied = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    free(p);
}

/* Give fd to lws with the bytes already read; src names the client (NULL:
 * the socket's peer). */
static void adopt(struct server *srv, int fd, const char *rest, size_t n,
                  const struct sockaddr_storage *src)
{
    struct lws *wsi = NULL;

    srv->adopt_src = src;
    /* on failure lws closes fd itself */
    wsi = n > 0 ? lws_adopt_socket_vhost_readbuf(srv->vhost, fd, rest, n)
                : lws_adopt_socket_vhost(srv->vhost, fd);
    srv->adopt_src = NULL;
    if (wsi == NULL)
        log_info("could not hand a connection to lws (refused, or out of "
                 "memory)");
}

static void on_proxy_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxied *p = w->data;

    (void)loop;
    (void)revents;
    log_info("no PROXY header within --handshake-timeout: closing");
    proxied_free(p, true);
}

/* More of the header: adopt once it is whole, close if it is not one. */
static void on_proxy_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proxied *p = w->data;
    struct sockaddr_storage src;
    size_t used = 0;
    ssize_t n = 0;
    int rc = 0;

    (void)loop;
    (void)revents;
    n = recv(w->fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        proxied_free(p, true);
        return;
    }
    p->len += (size_t)n;
    rc = proxy_v1_parse(p->buf, p->len, &src, &used);
    if (rc == 0)
        return;
    if (rc < 0) {
        log_info("a --trusted-proxy peer sent no valid PROXY header: "
                 "closing");
        proxied_free(p, true);
        return;
    }
    {
        struct server *srv = p->srv;
        int fd = w->fd;
        char rest[sizeof(p->buf)];
        size_t left = p->len - used;

        memcpy(rest, p->buf + used, left);
        proxied_free(p, false);
        adopt(srv, fd, rest, left,
              src.ss_family == AF_UNSPEC ? NULL : &src);
    }
}

/* fd is from a trusted proxy that sends PROXY headers: wait for it. */
static void await_header(struct server *srv, int fd)
{
    struct proxied *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        close(fd);
        return;
    }
    p->srv = srv;
    ev_io_init(&p->io, on_proxy_read, fd, EV_READ);
    p->io.data = p;
    ev_timer_init(&p->timer, on_proxy_timeout,
                  (double)srv->cfg->handshake_timeout, 0);
    p->timer.data = p;
    p->next = srv->proxied;
    if (p->next != NULL)
        p->next->prev = p;
    srv->proxied = p;
    ev_io_start(srv->loop, &p->io);
    ev_timer_start(srv->loop, &p->timer);
}

/* fd is a listening TCP socket bound to port. */
static bool is_listener_on(int fd, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int listening = 0;
    socklen_t olen = sizeof(listening);
    int bound = -1;

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 ||
        !listening)
        return false;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return bound == port;
}

/*
 * Close the listening socket fd while its number stays lws's: /dev/null
 * takes the number (dup2 closes the socket in the same step). Closing the
 * socket also drops it from epoll, so lws is never woken for it again
 * (a shut-down listener would wake it for ever, each accept failing);
 * lws closes the placeholder with its other descriptors at the end.
 */
static int close_under_lws(int fd)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (null_fd < 0)
        return -errno;
    if (dup2(null_fd, fd) < 0)
        rc = -errno;
    close(null_fd);
    return rc;
}

static bool from_trusted(struct server *srv, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
           ws_is_trusted_proxy(srv, &ss);
}

/* Our listener is readable: accept what is waiting (a bounded batch, so
 * one burst cannot starve the loop) and give each to lws. */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct server *srv = w->data;
    int i = 0;

    (void)loop;
    (void)revents;
    for (i = 0; i < 64; i++) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        if (srv->cfg->proxy_protocol && from_trusted(srv, fd))
            await_header(srv, fd);
        else
            adopt(srv, fd, NULL, 0, NULL);
    }
}

/* cfg->bind and port as a socket address. Returns its length, or 0. */
static socklen_t bind_address(const struct pl_config *cfg,
                              struct sockaddr_storage *ss)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, cfg->bind, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->port);
        return sizeof(*s4);
    }
    if (inet_pton(AF_INET6, cfg->bind, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)cfg->port);
        return sizeof(*s6);
    }
    return 0;
}

int listen_open(struct server *srv)
{
    struct sockaddr_storage ss;
    socklen_t len = bind_address(srv->cfg, &ss);
    int one = 1;
    int fd = -1;

    if (len == 0) {
        log_error("--reuse-port needs a numeric --bind address, not %s",
                  srv->cfg->bind);
        return -EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (srv->cfg->reuse_port &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int err = errno;

        log_error("cannot listen on %s:%d: %s", srv->cfg->bind,
                  srv->cfg->port, strerror(err));
        if (fd >= 0)
            close(fd);
        return -err;
    }
    srv->port = ntohs(ss.ss_family == AF_INET
                          ? ((struct sockaddr_in *)(void *)&ss)->sin_port
                          : ((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    ev_io_init(&srv->listener, on_accept, fd, EV_READ);
    srv->listener.data = srv;
    ev_io_start(srv->loop, &srv->listener);
    srv->own_listener = true;
    return 0;
}

/* Our own listener: stop watching it and close it. */
static void close_own(struct server *srv)
{
    ev_io_stop(srv->loop, &srv->listener);
    close(srv->listener.fd);
    srv->own_listener = false;
}

int listen_stop(struct server *srv)
{
    DIR *d = NULL;
    struct dirent *e = NULL;
    int found = 0;

    if (srv->own_listener) {
        close_own(srv);
        log_notice("stopped accepting connections on port %d", srv->port);
        return 0;
    }
    d = opendir("/proc/self/fd");
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);

        if (end == e->d_name || *end != '\0' || fd == dirfd(d))
            continue;
        if (is_listener_on((int)fd, srv->port) &&
            close_under_lws((int)fd) == 0)
            found++;
    }
    closedir(d);
    if (found == 0)
        return -ENOENT;
    log_notice("stopped accepting connections on port %d", srv->port);
    return 0;
}

void listen_close(struct server *srv)
{
    if (srv->own_listener)
        close_own(srv);
    while (srv->proxied != NULL)
        proxied_free(srv->proxied, true);
}
