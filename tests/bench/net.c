/*
 * net.c: the epoll loop and the minimal WebSocket client of net.h. Owns
 * the sockets, the shared receive buffer, each connection's partial-frame,
 * fragment and output buffers (not the struct net_conn itself, which the
 * owner allocates), and the list of connections with output to flush.
 */
#include "net.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define NET_RX_START (256 * 1024)   /* shared receive buffer, grows */
#define NET_EVENTS 1024
#define NET_READS_PER_EVENT 4
#define NET_TX_CAP_DEFAULT (16u << 20)
#define NET_HANDSHAKE_MAX 8192

struct net {
    int epfd;
    struct net_target target;
    const struct net_ops *ops;
    void *arg;
    unsigned char *rx;
    size_t rx_cap;
    struct net_conn **dirty;
    size_t n_dirty;
    size_t dirty_cap;
    size_t tx_cap;
    uint64_t rng;
    uint32_t connecting;
    uint32_t open;
    struct net_stats stats;
    struct epoll_event events[NET_EVENTS];
};

uint64_t net_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t net_rand(struct net *n)
{
    uint64_t x = n->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    n->rng = x;
    return x;
}

/* Make room for need more bytes in *buf (length len, capacity *cap).
 * Returns 0 or -ENOMEM. */
static int net_reserve(unsigned char **buf, size_t *cap, size_t len,
                       size_t need)
{
    size_t ncap = *cap ? *cap : 256;
    unsigned char *nb = NULL;

    if (len + need <= *cap)
        return 0;
    while (ncap < len + need)
        ncap *= 2;
    nb = realloc(*buf, ncap);
    if (nb == NULL)
        return -ENOMEM;
    *buf = nb;
    *cap = ncap;
    return 0;
}

struct net *net_new(const struct net_target *target, const struct net_ops *ops,
                    void *arg)
{
    struct net *n = calloc(1, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->epfd = epoll_create1(EPOLL_CLOEXEC);
    n->rx = malloc(NET_RX_START);
    if (n->epfd < 0 || n->rx == NULL) {
        if (n->epfd >= 0)
            close(n->epfd);
        free(n->rx);
        free(n);
        return NULL;
    }
    n->rx_cap = NET_RX_START;
    n->target = *target;
    n->ops = ops;
    n->arg = arg;
    n->tx_cap = NET_TX_CAP_DEFAULT;
    n->rng = net_now_us() * 0x9E3779B97F4A7C15ull | 1u;
    return n;
}

void net_free(struct net **np)
{
    struct net *n = *np;

    if (n == NULL)
        return;
    close(n->epfd);
    free(n->rx);
    free(n->dirty);
    free(n);
    *np = NULL;
}

void net_set_tx_cap(struct net *n, size_t cap)
{
    n->tx_cap = cap;
}

const struct net_stats *net_get_stats(const struct net *n)
{
    return &n->stats;
}

uint32_t net_connecting(const struct net *n)
{
    return n->connecting;
}

uint32_t net_open_count(const struct net *n)
{
    return n->open;
}

size_t net_pending(const struct net_conn *c)
{
    return c->tx_len - c->tx_off;
}

static void net_set_events(struct net_conn *c, bool out)
{
    struct epoll_event ev;

    if (c->want_out == out)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(c->net->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Close c abortively and tell the owner. code: what c->close_code becomes
 * when no close frame set it. */
static void net_drop(struct net_conn *c, int code)
{
    struct net *n = c->net;
    struct linger lin = { 1, 0 };
    enum net_state was = c->state;

    if (c->fd < 0)
        return;
    /* Abortive: no TIME_WAIT, so runs back to back never run out of
     * loopback ports. */
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    close(c->fd);
    c->fd = -1;
    c->state = NET_IDLE;
    c->want_out = false;
    c->part_len = 0;
    c->msg_len = 0;
    c->tx_off = c->tx_len = 0;
    if (was == NET_OPEN) {
        n->open--;
        n->stats.closes++;
    } else if (was == NET_CONNECTING || was == NET_HANDSHAKE) {
        n->connecting--;
        n->stats.connect_fail++;
    }
    if (c->close_code == 0)
        c->close_code = code;
    if (n->ops->on_close != NULL)
        n->ops->on_close(n->arg, c);
}

void net_close(struct net_conn *c)
{
    net_drop(c, NET_CLOSED_HERE);
}

void net_conn_cleanup(struct net_conn *c)
{
    free(c->part);
    free(c->msg);
    free(c->tx);
    c->part = c->msg = c->tx = NULL;
    c->part_cap = c->msg_cap = c->tx_cap = 0;
    c->part_len = c->msg_len = c->tx_len = c->tx_off = 0;
}

static void net_mark_dirty(struct net_conn *c)
{
    struct net *n = c->net;

    if (c->in_dirty)
        return;
    if (n->n_dirty == n->dirty_cap) {
        size_t ncap = n->dirty_cap ? n->dirty_cap * 2 : 1024;
        struct net_conn **nd = realloc(n->dirty, ncap * sizeof(*nd));

        if (nd == NULL)
            return; /* flushed on EPOLLOUT or the next send instead */
        n->dirty = nd;
        n->dirty_cap = ncap;
    }
    n->dirty[n->n_dirty++] = c;
    c->in_dirty = true;
}

/* Append raw bytes to c's output. Returns 0, -ENOBUFS or -ENOMEM. */
static int net_tx_append(struct net_conn *c, const void *p, size_t len)
{
    if (c->tx_off > 0 && c->tx_off == c->tx_len)
        c->tx_off = c->tx_len = 0;
    if (c->tx_len - c->tx_off + len > c->net->tx_cap) {
        c->net->stats.tx_overflow++;
        return -ENOBUFS;
    }
    if (c->tx_off > 0 && c->tx_len + len > c->tx_cap) {
        memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
        c->tx_len -= c->tx_off;
        c->tx_off = 0;
    }
    if (net_reserve(&c->tx, &c->tx_cap, c->tx_len, len) < 0)
        return -ENOMEM;
    memcpy(c->tx + c->tx_len, p, len);
    c->tx_len += len;
    net_mark_dirty(c);
    return 0;
}

/* A masked client frame with opcode op. */
static int net_send_frame(struct net_conn *c, unsigned op, const void *data,
                          size_t len)
{
    unsigned char hdr[14];
    size_t hl = 2;
    uint32_t key = (uint32_t)net_rand(c->net);
    unsigned char k[4];
    const unsigned char *src = data;
    unsigned char *dst = NULL;
    size_t i = 0;
    int rc = 0;

    hdr[0] = (unsigned char)(0x80 | op);
    if (len < 126) {
        hdr[1] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        hdr[1] = 0x80 | 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        hl = 4;
    } else {
        hdr[1] = 0x80 | 127;
        for (i = 0; i < 8; i++)
            hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(k, &key, 4);
    memcpy(hdr + hl, k, 4);
    hl += 4;
    if (c->tx_len - c->tx_off + hl + len > c->net->tx_cap) {
        c->net->stats.tx_overflow++;
        return -ENOBUFS;
    }
    rc = net_tx_append(c, hdr, hl);
    if (rc < 0)
        return rc;
    if (net_reserve(&c->tx, &c->tx_cap, c->tx_len, len) < 0)
        return -ENOMEM;
    dst = c->tx + c->tx_len;
    /* four bytes at a time; the key repeats every 4 bytes */
    for (i = 0; i + 4 <= len; i += 4) {
        uint32_t w;

        memcpy(&w, src + i, 4);
        w ^= key;
        memcpy(dst + i, &w, 4);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ k[i & 3];
    c->tx_len += len;
    return 0;
}

int net_send_text(struct net_conn *c, const char *text, size_t len)
{
    if (c->state != NET_OPEN)
        return -ENOTCONN;
    return net_send_frame(c, 0x1, text, len);
}

/* Write c's pending output. Returns 0, or -1 when c was closed. */
static int net_flush_one(struct net_conn *c)
{
    ssize_t w = 0;

    while (c->tx_off < c->tx_len) {
        w = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off,
                 MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                net_set_events(c, true);
                return 0;
            }
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        c->net->stats.bytes_out += (uint64_t)w;
        c->tx_off += (size_t)w;
    }
    c->tx_off = c->tx_len = 0;
    net_set_events(c, false);
    return 0;
}

void net_flush(struct net *n)
{
    size_t i;

    for (i = 0; i < n->n_dirty; i++) {
        struct net_conn *c = n->dirty[i];

        c->in_dirty = false;
        if (c->fd >= 0 && c->state != NET_CONNECTING)
            net_flush_one(c);
    }
    n->n_dirty = 0;
}

static void net_base64(const unsigned char *in, size_t len, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    size_t o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     in[i + 2];

        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;

        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

int net_connect(struct net *n, struct net_conn *c)
{
    struct epoll_event ev;
    int one = 1;
    const struct net_target *t = c->target != NULL ? c->target : &n->target;
    int fd = -1;
    int rc = 0;

    c->net = n;
    fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 &&
        errno != EINPROGRESS) {
        rc = -errno;
        close(fd);
        return rc;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    c->fd = fd;
    c->state = NET_CONNECTING;
    c->want_out = true;
    c->close_code = 0;
    c->part_len = c->msg_len = 0;
    c->tx_off = c->tx_len = 0;
    c->t_start = net_now_us();
    n->connecting++;
    return 0;
}

/* The TCP connection is up: queue the upgrade request. */
static void net_connected(struct net_conn *c)
{
    struct net *n = c->net;
    const struct net_target *t = c->target != NULL ? c->target : &n->target;
    unsigned char key[16];
    char key64[32];
    char req[1024];
    uint64_t r1 = net_rand(n);
    uint64_t r2 = net_rand(n);
    int len = 0;
    int err = 0;
    socklen_t el = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
        net_drop(c, NET_CLOSED_PEER);
        return;
    }
    memcpy(key, &r1, 8);
    memcpy(key + 8, &r2, 8);
    net_base64(key, sizeof(key), key64);
    len = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: parley.v1\r\n"
                   "\r\n", t->path, t->host, key64);
    c->state = NET_HANDSHAKE;
    if (net_tx_append(c, req, (size_t)len) < 0) {
        net_drop(c, NET_CLOSED_PEER);
        return;
    }
    net_flush_one(c);
}

/* Deliver one complete frame. Returns -1 when c was closed. */
static int net_frame(struct net_conn *c, unsigned op, bool fin,
                     unsigned char *p, size_t len)
{
    struct net *n = c->net;

    n->stats.frames_in++;
    switch (op) {
    case 0x1:
    case 0x2:
        if (fin && c->msg_len == 0) {
            n->ops->on_text(n->arg, c, (const char *)p, len);
            break;
        }
        c->msg_len = 0; /* a new message: its first fragment */
        /* fall through */
    case 0x0:
        if (net_reserve(&c->msg, &c->msg_cap, c->msg_len, len) < 0) {
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        memcpy(c->msg + c->msg_len, p, len);
        c->msg_len += len;
        if (fin) {
            size_t ml = c->msg_len;

            c->msg_len = 0;
            n->ops->on_text(n->arg, c, (const char *)c->msg, ml);
        }
        break;
    case 0x8:
        c->close_code = len >= 2 ? (p[0] << 8 | p[1]) : 1005;
        if (c->close_code == 4008)
            n->stats.close_4008++;
        net_drop(c, NET_CLOSED_PEER);
        return -1;
    case 0x9:
        net_send_frame(c, 0xA, p, len);
        break;
    default:
        break;
    }
    return c->state == NET_OPEN ? 0 : -1;
}

/* Parse frames in buf[0..len). Returns bytes consumed, or -1 when c was
 * closed. *need is set to the size of the incomplete frame at the end. */
static ssize_t net_parse(struct net_conn *c, unsigned char *buf, size_t len,
                         size_t *need)
{
    size_t p = 0;

    *need = 0;
    while (len - p >= 2) {
        unsigned char *f = buf + p;
        bool fin = (f[0] & 0x80) != 0;
        unsigned op = f[0] & 0x0f;
        bool masked = (f[1] & 0x80) != 0;
        uint64_t pl = f[1] & 0x7f;
        size_t hl = 2;
        size_t i = 0;

        if (pl == 126) {
            if (len - p < 4)
                break;
            pl = (uint64_t)f[2] << 8 | f[3];
            hl = 4;
        } else if (pl == 127) {
            if (len - p < 10)
                break;
            pl = 0;
            for (i = 0; i < 8; i++)
                pl = pl << 8 | f[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (pl > (1ull << 31)) {
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        if (len - p < hl + pl) {
            *need = hl + (size_t)pl;
            break;
        }
        if (masked)
            for (i = 0; i < pl; i++)
                f[hl + i] ^= f[hl - 4 + (i & 3)];
        if (net_frame(c, op, fin, f + hl, (size_t)pl) < 0)
            return -1;
        p += hl + (size_t)pl;
    }
    return (ssize_t)p;
}

/* Handshake bytes in buf: returns bytes consumed by the response header,
 * 0 when incomplete, -1 when c was closed. */
static ssize_t net_handshake(struct net_conn *c, unsigned char *buf,
                             size_t len)
{
    struct net *n = c->net;
    unsigned char *end = memmem(buf, len, "\r\n\r\n", 4);

    if (end == NULL) {
        if (len > NET_HANDSHAKE_MAX) {
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        return 0;
    }
    if (len < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
        c->close_code = NET_REFUSED;
        net_drop(c, NET_CLOSED_PEER);
        return -1;
    }
    c->state = NET_OPEN;
    n->connecting--;
    n->open++;
    n->stats.connects++;
    if (n->ops->on_open != NULL)
        n->ops->on_open(n->arg, c);
    if (c->state != NET_OPEN)
        return -1;
    return end + 4 - buf;
}

/* Read what c has. Returns -1 when c was closed. */
static int net_read(struct net_conn *c)
{
    struct net *n = c->net;
    int reads = 0;

    for (reads = 0; reads < NET_READS_PER_EVENT; reads++) {
        size_t have = c->part_len;
        size_t need = 0;
        size_t pos = 0;
        ssize_t r = 0;

        if (have >= n->rx_cap / 2 &&
            net_reserve(&n->rx, &n->rx_cap, 0, n->rx_cap * 2) < 0) {
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        if (have > 0)
            memcpy(n->rx, c->part, have);
        r = recv(c->fd, n->rx + have, n->rx_cap - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0) {
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        n->stats.bytes_in += (uint64_t)r;
        have += (size_t)r;
        if (c->state == NET_HANDSHAKE) {
            ssize_t h = net_handshake(c, n->rx, have);

            if (h < 0)
                return -1;
            if (h == 0) {
                if (net_reserve(&c->part, &c->part_cap, 0, have) < 0) {
                    net_drop(c, NET_CLOSED_PEER);
                    return -1;
                }
                memcpy(c->part, n->rx, have);
                c->part_len = have;
                continue;
            }
            pos = (size_t)h;
        }
        if (have > pos) {
            ssize_t used = net_parse(c, n->rx + pos, have - pos, &need);

            if (used < 0)
                return -1;
            pos += (size_t)used;
        }
        c->part_len = have - pos;
        if (c->part_len > 0) {
            if (net_reserve(&c->part, &c->part_cap, 0, c->part_len) < 0) {
                net_drop(c, NET_CLOSED_PEER);
                return -1;
            }
            memcpy(c->part, n->rx + pos, c->part_len);
        } else if (c->part_cap > 65536) {
            free(c->part);   /* keep idle connections small */
            c->part = NULL;
            c->part_cap = 0;
        }
        if (need > n->rx_cap / 2 &&
            net_reserve(&n->rx, &n->rx_cap, 0, need * 2) < 0) {
            net_drop(c, NET_CLOSED_PEER);
            return -1;
        }
        if ((size_t)r < n->rx_cap - c->part_len - 1)
            return 0;   /* drained what the kernel had */
    }
    return 0;
}

int net_poll_us(struct net *n, int64_t timeout_us)
{
    struct timespec ts;
    int nev = 0;
    int i = 0;

    net_flush(n);
    if (timeout_us < 0)
        timeout_us = 0;
    ts.tv_sec = (time_t)(timeout_us / 1000000);
    ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
    nev = epoll_pwait2(n->epfd, n->events, NET_EVENTS, &ts, NULL);
    if (nev < 0 && errno == ENOSYS)
        nev = epoll_wait(n->epfd, n->events, NET_EVENTS,
                         (int)((timeout_us + 999) / 1000));
    if (nev < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < nev; i++) {
        struct net_conn *c = n->events[i].data.ptr;
        uint32_t ev = n->events[i].events;

        if (c->fd < 0)
            continue;
        if (c->state == NET_CONNECTING) {
            if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                net_connected(c);
            continue;
        }
        if ((ev & EPOLLOUT) && net_flush_one(c) < 0)
            continue;
        if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
            net_read(c);
    }
    net_flush(n);
    return nev;
}

int net_poll(struct net *n, int timeout_ms)
{
    return net_poll_us(n, (int64_t)timeout_ms * 1000);
}
