/*
 * rawws.c: the integration tests' WebSocket client. It owns one TCP socket
 * per struct rawws, the HTTP upgrade (RFC 6455 section 4), the frame codec
 * (section 5) for client frames (masked by default, any bits a test wants)
 * and server frames (checked, joined when fragmented), a receive buffer with
 * poll() deadlines, and JSON conveniences that print whatever came when it
 * is not what a test expected. Blocking sockets only; one thread per client.
 */
#include "rawws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define RAWWS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define RAWWS_MAX_HEAD 16384
#define RAWWS_MAX_PAYLOAD (64u * 1024 * 1024)
#define RAWWS_READ_CHUNK 65536
#define RAWWS_SEND_TIMEOUT_S 10

static atomic_uint rawws_counter;

static int64_t rawws_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rawws_left(int64_t deadline)
{
    int64_t left = deadline - rawws_now_ms();

    if (left < 0)
        return 0;
    if (left > 3600000)
        return 3600000;
    return (int)left;
}

static uint32_t rawws_rand(struct rawws *c)
{
    uint32_t x = c->rng;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    return x;
}

static void rawws_seed(struct rawws *c)
{
    struct timespec ts;
    unsigned n = atomic_fetch_add(&rawws_counter, 1);

    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^
             (n * 2654435761u) ^ (uint32_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 0x9e3779b9u;
}

/* Make room for at least more bytes after rx_len, compacting first.
 * Returns 0 or -ENOMEM. */
static int rawws_rx_reserve(struct rawws *c, size_t more)
{
    unsigned char *p = NULL;
    size_t cap = 0;

    if (c->rx_off > 0) {
        memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
        c->rx_len -= c->rx_off;
        c->rx_off = 0;
    }
    if (c->rx_cap - c->rx_len >= more)
        return 0;
    cap = c->rx_cap ? c->rx_cap : RAWWS_READ_CHUNK;
    while (cap - c->rx_len < more)
        cap *= 2;
    p = realloc(c->rx, cap);
    if (!p)
        return -ENOMEM;
    c->rx = p;
    c->rx_cap = cap;
    return 0;
}

/* Read once (after waiting for readability until deadline) into rx.
 * Returns the byte count (> 0), -ETIMEDOUT, -ENOTCONN on EOF, or -errno. */
static int rawws_read_some(struct rawws *c, int64_t deadline)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    ssize_t n = 0;
    int rc = 0;

    if (c->eof)
        return -ENOTCONN;
    rc = rawws_rx_reserve(c, RAWWS_READ_CHUNK);
    if (rc < 0)
        return rc;
    for (;;) {
        rc = poll(&pfd, 1, rawws_left(deadline));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -errno;
        if (rc == 0)
            return -ETIMEDOUT;
        n = recv(c->fd, c->rx + c->rx_len, c->rx_cap - c->rx_len, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            c->eof = true;
            return -errno;
        }
        if (n == 0) {
            c->eof = true;
            return -ENOTCONN;
        }
        c->rx_len += (size_t)n;
        return (int)n;
    }
}

/* Ensure at least need unread bytes are buffered. Returns 0 or as above. */
static int rawws_fill(struct rawws *c, size_t need, int64_t deadline)
{
    int rc = 0;

    while (c->rx_len - c->rx_off < need) {
        rc = rawws_read_some(c, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int rawws_send_all(struct rawws *c, const void *p, size_t len)
{
    const unsigned char *b = p;
    ssize_t n = 0;

    while (len > 0) {
        n = send(c->fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -ETIMEDOUT;
        if (n < 0)
            return -errno;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int rawws_connect_tcp(struct rawws *c, const struct rawws_opts *o,
                             int64_t deadline)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    struct pollfd pfd;
    struct timeval tv = { .tv_sec = RAWWS_SEND_TIMEOUT_S };
    const char *host = o->host ? o->host : "127.0.0.1";
    int one = 1;
    int err = 0;
    socklen_t el = sizeof(err);
    int rc = 0;
    int fl = 0;

    memset(&ss, 0, sizeof(ss));
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -EINVAL;
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return -EINVAL;
        sl = sizeof(*s4);
    }
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    if (o->rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf,
                   sizeof(o->rcvbuf));
    if (o->source != NULL && ss.ss_family == AF_INET) {
        struct sockaddr_in src;

        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        if (inet_pton(AF_INET, o->source, &src.sin_addr) != 1 ||
            bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
            return -EADDRNOTAVAIL;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
    rc = connect(c->fd, (struct sockaddr *)&ss, sl);
    if (rc < 0 && errno != EINPROGRESS)
        return -errno;
    if (rc < 0) {
        pfd.fd = c->fd;
        pfd.events = POLLOUT;
        do {
            rc = poll(&pfd, 1, rawws_left(deadline));
        } while (rc < 0 && errno == EINTR);
        if (rc == 0)
            return -ETIMEDOUT;
        if (rc < 0)
            return -errno;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err)
            return -err;
    }
    fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
    return 0;
}

/* Find header name in a response head; copy its trimmed value into buf.
 * Returns true when found. */
static bool rawws_header(const char *head, const char *name, char *buf,
                         size_t n)
{
    const char *line = strstr(head, "\r\n");
    size_t nl = strlen(name);

    while (line) {
        const char *p = line + 2;
        const char *end = strstr(p, "\r\n");
        size_t vl = 0;

        if (!end || end == p)
            return false;
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
            return true;
        }
        line = end;
    }
    return false;
}

static void rawws_accept_for(const char *key, char *out)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char cat[128];

    snprintf(cat, sizeof(cat), "%s%s", key, RAWWS_GUID);
    SHA1((const unsigned char *)cat, strlen(cat), md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Send the upgrade request and read the response head into c->resp_head,
 * leaving any bytes after it in rx. Returns 0 or -errno. */
static int rawws_handshake(struct rawws *c, const struct rawws_opts *o,
                           int64_t deadline)
{
    unsigned char nonce[16];
    char key[32];
    char want[64];
    char got[128];
    char *req = NULL;
    const char *host = o->host ? o->host : "127.0.0.1";
    bool v6 = strchr(host, ':') != NULL;
    char *end = NULL;
    size_t hl = 0;
    int len = 0;
    int rc = 0;
    int i = 0;

    for (i = 0; i < 16; i++)
        nonce[i] = (unsigned char)rawws_rand(c);
    EVP_EncodeBlock((unsigned char *)key, nonce, 16);
    len = asprintf(&req,
                   "%s"
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s%s%s:%d\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "%s%s%s"
                   "%s"
                   "\r\n",
                   o->preamble ? o->preamble : "",
                   o->path ? o->path : "/ws", v6 ? "[" : "", host,
                   v6 ? "]" : "", o->port, key,
                   o->protocols ? "Sec-WebSocket-Protocol: " : "",
                   o->protocols ? o->protocols : "",
                   o->protocols ? "\r\n" : "",
                   o->extra_headers ? o->extra_headers : "");
    if (len < 0)
        return -ENOMEM;
    rc = rawws_send_all(c, req, (size_t)len);
    free(req);
    if (rc < 0)
        return rc;
    for (;;) {
        c->rx[c->rx_len] = '\0';
        end = strstr((char *)c->rx, "\r\n\r\n");
        if (end)
            break;
        if (c->rx_len > RAWWS_MAX_HEAD)
            return -EPROTO;
        rc = rawws_read_some(c, deadline);
        if (rc < 0)
            return rc;
        rc = rawws_rx_reserve(c, 1);
        if (rc < 0)
            return rc;
    }
    hl = (size_t)(end - (char *)c->rx) + 4;
    c->resp_head = strndup((char *)c->rx, hl);
    if (!c->resp_head)
        return -ENOMEM;
    c->rx_off = hl;
    if (sscanf(c->resp_head, "HTTP/1.%*d %d", &c->status) != 1)
        return -EPROTO;
    if (rawws_header(c->resp_head, "Sec-WebSocket-Protocol", c->protocol,
                     sizeof(c->protocol)))
        c->has_protocol = true;
    rawws_accept_for(key, want);
    if (rawws_header(c->resp_head, "Sec-WebSocket-Accept", got, sizeof(got)))
        c->accept_ok = strcmp(got, want) == 0;
    return 0;
}

int rawws_open(struct rawws **out, const struct rawws_opts *o)
{
    struct rawws *c = NULL;
    int64_t deadline = 0;
    int rc = 0;

    deadline = rawws_now_ms() + (o->timeout_ms > 0 ? o->timeout_ms
                                                   : RAWWS_TIMEOUT_MS);
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->fd = -1;
    c->auto_pong = true;
    rawws_seed(c);
    rc = rawws_rx_reserve(c, RAWWS_READ_CHUNK);
    if (rc < 0)
        goto fail;
    rc = rawws_connect_tcp(c, o, deadline);
    if (rc < 0)
        goto fail;
    rc = rawws_handshake(c, o, deadline);
    if (rc < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    rawws_close(c);
    return rc;
}

struct rawws *rawws_connect(int port)
{
    struct rawws_opts o = { .port = port, .protocols = "parley.v1" };
    struct rawws *c = NULL;
    int rc = rawws_open(&c, &o);

    if (rc < 0) {
        fprintf(stderr, "rawws_connect(%d): %s\n", port, rawws_strerror(rc));
        return NULL;
    }
    if (c->status != 101) {
        fprintf(stderr, "rawws_connect(%d): HTTP status %d\n%s", port,
                c->status, c->resp_head);
        rawws_close(c);
        return NULL;
    }
    return c;
}

void rawws_close(struct rawws *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->rx);
    free(c->frag);
    free(c->resp_head);
    free(c);
}

void rawws_close_gracefully(struct rawws *c, int code, int timeout_ms)
{
    struct rawws_frame f;
    int64_t deadline = rawws_now_ms() + timeout_ms;
    int rc = 0;

    if (!c)
        return;
    if (rawws_send_close(c, code, NULL) == 0) {
        for (;;) {
            rc = rawws_recv_frame(c, &f, rawws_left(deadline));
            if (rc < 0)
                break;
            rc = f.opcode;
            rawws_frame_cleanup(&f);
            if (rc == RAWWS_OP_CLOSE)
                break;
        }
    }
    rawws_close(c);
}

int rawws_send_frame_ex(struct rawws *c, bool fin, int rsv, int opcode,
                        bool masked, const void *payload, size_t len)
{
    const unsigned char *src = payload;
    unsigned char *buf = NULL;
    unsigned char mask[4];
    uint32_t m = 0;
    size_t h = 0;
    size_t i = 0;
    int rc = 0;

    buf = malloc(14 + len);
    if (!buf)
        return -ENOMEM;
    buf[h++] = (unsigned char)((fin ? 0x80 : 0) | ((rsv & 7) << 4) |
                               (opcode & 0x0f));
    if (len < 126) {
        buf[h++] = (unsigned char)((masked ? 0x80 : 0) | len);
    } else if (len <= 0xffff) {
        buf[h++] = (unsigned char)((masked ? 0x80 : 0) | 126);
        buf[h++] = (unsigned char)(len >> 8);
        buf[h++] = (unsigned char)len;
    } else {
        buf[h++] = (unsigned char)((masked ? 0x80 : 0) | 127);
        for (i = 0; i < 8; i++)
            buf[h++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    if (masked) {
        m = rawws_rand(c);
        memcpy(mask, &m, 4);
        memcpy(buf + h, mask, 4);
        h += 4;
        for (i = 0; i < len; i++)
            buf[h + i] = src[i] ^ mask[i & 3];
    } else if (len > 0) {
        memcpy(buf + h, src, len);
    }
    rc = rawws_send_all(c, buf, h + len);
    free(buf);
    return rc;
}

int rawws_send_frame(struct rawws *c, int opcode, const void *payload,
                     size_t len)
{
    return rawws_send_frame_ex(c, true, 0, opcode, true, payload, len);
}

int rawws_send_text(struct rawws *c, const char *text)
{
    return rawws_send_frame(c, RAWWS_OP_TEXT, text, strlen(text));
}

int rawws_send_textf(struct rawws *c, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n = 0;
    int rc = 0;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    rc = rawws_send_frame(c, RAWWS_OP_TEXT, s, (size_t)n);
    free(s);
    return rc;
}

int rawws_send_binary(struct rawws *c, const void *payload, size_t len)
{
    return rawws_send_frame(c, RAWWS_OP_BINARY, payload, len);
}

int rawws_send_ping(struct rawws *c, const void *payload, size_t len)
{
    return rawws_send_frame(c, RAWWS_OP_PING, payload, len);
}

int rawws_send_close(struct rawws *c, int code, const char *reason)
{
    unsigned char p[125];
    size_t n = 0;
    size_t rl = reason ? strlen(reason) : 0;

    if (code >= 0) {
        p[n++] = (unsigned char)(code >> 8);
        p[n++] = (unsigned char)code;
        if (rl > sizeof(p) - 2)
            rl = sizeof(p) - 2;
        if (rl)
            memcpy(p + n, reason, rl);
        n += rl;
    }
    return rawws_send_frame(c, RAWWS_OP_CLOSE, p, n);
}

int rawws_send_fragmented(struct rawws *c, int opcode, const void *payload,
                          size_t len, size_t frag)
{
    const unsigned char *p = payload;
    size_t off = 0;
    size_t n = 0;
    int rc = 0;

    if (frag == 0)
        return -EINVAL;
    do {
        n = len - off < frag ? len - off : frag;
        rc = rawws_send_frame_ex(c, off + n == len, 0,
                                 off == 0 ? opcode : RAWWS_OP_CONT, true,
                                 p + off, n);
        if (rc < 0)
            return rc;
        off += n;
    } while (off < len);
    return 0;
}

int rawws_send_raw(struct rawws *c, const void *bytes, size_t len)
{
    return rawws_send_all(c, bytes, len);
}

int rawws_recv_frame(struct rawws *c, struct rawws_frame *f, int timeout_ms)
{
    int64_t deadline = rawws_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    const unsigned char *b = NULL;
    uint64_t plen = 0;
    size_t h = 2;
    size_t i = 0;
    unsigned char mask[4] = { 0, 0, 0, 0 };
    int rc = 0;

    memset(f, 0, sizeof(*f));
    f->close_code = -1;
    rc = rawws_fill(c, 2, deadline);
    if (rc < 0)
        return rc;
    b = c->rx + c->rx_off;
    plen = b[1] & 0x7f;
    if (plen == 126)
        h += 2;
    else if (plen == 127)
        h += 8;
    if (b[1] & 0x80)
        h += 4;
    rc = rawws_fill(c, h, deadline);
    if (rc < 0)
        return rc;
    b = c->rx + c->rx_off;
    if (plen == 126) {
        plen = ((uint64_t)b[2] << 8) | b[3];
    } else if (plen == 127) {
        plen = 0;
        for (i = 0; i < 8; i++)
            plen = (plen << 8) | b[2 + i];
    }
    if (plen > RAWWS_MAX_PAYLOAD)
        return -EPROTO;
    if (b[1] & 0x80)
        memcpy(mask, b + h - 4, 4);
    rc = rawws_fill(c, h + (size_t)plen, deadline);
    if (rc < 0)
        return rc;
    b = c->rx + c->rx_off;
    f->payload = malloc((size_t)plen + 1);
    if (!f->payload)
        return -ENOMEM;
    f->fin = (b[0] & 0x80) != 0;
    f->rsv = (b[0] >> 4) & 7;
    f->opcode = b[0] & 0x0f;
    f->masked = (b[1] & 0x80) != 0;
    f->len = (size_t)plen;
    for (i = 0; i < f->len; i++)
        f->payload[i] = b[h + i] ^ mask[i & 3];
    f->payload[f->len] = '\0';
    c->rx_off += h + f->len;
    if (f->opcode == RAWWS_OP_CLOSE && f->len >= 2) {
        f->close_code = (f->payload[0] << 8) | f->payload[1];
        f->close_reason = (const char *)f->payload + 2;
    }
    return 0;
}

/* Append a data frame's payload to the message being joined. */
static int rawws_frag_append(struct rawws *c, const struct rawws_frame *f)
{
    unsigned char *p = NULL;

    if (c->frag_len + f->len > RAWWS_MAX_PAYLOAD)
        return -EPROTO;
    p = realloc(c->frag, c->frag_len + f->len + 1);
    if (!p)
        return -ENOMEM;
    c->frag = p;
    memcpy(c->frag + c->frag_len, f->payload, f->len);
    c->frag_len += f->len;
    c->frag[c->frag_len] = '\0';
    return 0;
}

int rawws_recv(struct rawws *c, struct rawws_frame *f, int timeout_ms)
{
    int64_t deadline = rawws_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int rc = 0;

    for (;;) {
        rc = rawws_recv_frame(c, f, rawws_left(deadline));
        if (rc < 0)
            return rc;
        if (f->opcode >= 0x8) {
            if (f->opcode == RAWWS_OP_PING && c->auto_pong) {
                rc = rawws_send_frame(c, RAWWS_OP_PONG, f->payload, f->len);
                rawws_frame_cleanup(f);
                if (rc < 0)
                    return rc;
                continue;
            }
            return 0;
        }
        if (f->opcode == RAWWS_OP_CONT) {
            if (!c->frag_active) {
                rawws_frame_cleanup(f);
                return -EPROTO;
            }
            rc = rawws_frag_append(c, f);
            if (rc < 0 || !f->fin) {
                rawws_frame_cleanup(f);
                if (rc < 0)
                    return rc;
                continue;
            }
            free(f->payload);
            f->payload = c->frag;
            f->len = c->frag_len;
            f->opcode = c->frag_opcode;
            c->frag = NULL;
            c->frag_len = 0;
            c->frag_active = false;
            return 0;
        }
        if (c->frag_active) {
            rawws_frame_cleanup(f);
            return -EPROTO;
        }
        if (f->fin)
            return 0;
        c->frag_active = true;
        c->frag_opcode = f->opcode;
        c->frag_len = 0;
        rc = rawws_frag_append(c, f);
        rawws_frame_cleanup(f);
        if (rc < 0)
            return rc;
    }
}

void rawws_frame_cleanup(struct rawws_frame *f)
{
    free(f->payload);
    f->payload = NULL;
    f->len = 0;
    f->close_reason = NULL;
}

bool rawws_is_quiet(struct rawws *c, int quiet_ms)
{
    int rc = 0;

    if (c->rx_len > c->rx_off || c->eof)
        return false;
    rc = rawws_read_some(c, rawws_now_ms() + quiet_ms);
    return rc == -ETIMEDOUT;
}

const char *rawws_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case -ETIMEDOUT:
        return "timeout";
    case -ENOTCONN:
        return "eof (peer closed the stream)";
    case -ECONNRESET:
        return "connection reset";
    case -EPROTO:
        return "invalid frame or response from the server";
    case -ECONNREFUSED:
        return "connection refused";
    case -EBADMSG:
        return "unexpected frame";
    default:
        return strerror(-rc);
    }
}

/* Print a received frame for a failure message. */
static void rawws_describe(const char *what, const struct rawws_frame *f)
{
    static const char *names[16] = { "cont", "text", "binary", "op3",
                                     "op4", "op5", "op6", "op7",
                                     "close", "ping", "pong", "opB",
                                     "opC", "opD", "opE", "opF" };

    if (f->opcode == RAWWS_OP_CLOSE) {
        fprintf(stderr, "%s: got a close frame, code %d reason \"%s\"\n",
                what, f->close_code,
                f->close_reason ? f->close_reason : "");
        return;
    }
    fprintf(stderr, "%s: got a %s frame of %zu bytes: %.400s%s\n", what,
            names[f->opcode & 15], f->len,
            f->opcode == RAWWS_OP_TEXT ? (const char *)f->payload : "",
            f->opcode == RAWWS_OP_TEXT && f->len > 400 ? "..." : "");
}

cJSON *rawws_recv_json(struct rawws *c, int timeout_ms)
{
    struct rawws_frame f;
    cJSON *j = NULL;
    int rc = rawws_recv(c, &f, timeout_ms);

    if (rc < 0) {
        fprintf(stderr, "rawws_recv_json: %s after %d ms\n",
                rawws_strerror(rc), timeout_ms);
        return NULL;
    }
    if (f.opcode == RAWWS_OP_TEXT)
        j = cJSON_ParseWithLength((const char *)f.payload, f.len);
    if (!cJSON_IsObject(j)) {
        rawws_describe("rawws_recv_json: expected a JSON object", &f);
        cJSON_Delete(j);
        j = NULL;
    }
    rawws_frame_cleanup(&f);
    return j;
}

static void rawws_print_json(const char *what, const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);

    fprintf(stderr, "%s: got %.600s\n", what, s ? s : "(unprintable)");
    free(s);
}

cJSON *rawws_expect_op(struct rawws *c, const char *op, int timeout_ms)
{
    cJSON *j = rawws_recv_json(c, timeout_ms);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "op");
    char what[96];

    if (!j)
        return NULL;
    if (cJSON_IsString(o) && strcmp(o->valuestring, op) == 0)
        return j;
    snprintf(what, sizeof(what), "expected op \"%s\"", op);
    rawws_print_json(what, j);
    cJSON_Delete(j);
    return NULL;
}

/* True when j's "id" is id (id 0: JSON null). */
static bool rawws_id_is(const cJSON *j, int64_t id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "id");

    if (id == 0)
        return cJSON_IsNull(v);
    return cJSON_IsNumber(v) && v->valuedouble == (double)id;
}

cJSON *rawws_expect_ok(struct rawws *c, int64_t id, int timeout_ms)
{
    cJSON *j = rawws_recv_json(c, timeout_ms);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "op");
    char what[96];

    if (!j)
        return NULL;
    if (cJSON_IsString(o) && strcmp(o->valuestring, "ok") == 0 &&
        rawws_id_is(j, id))
        return j;
    snprintf(what, sizeof(what), "expected ok with id %lld", (long long)id);
    rawws_print_json(what, j);
    cJSON_Delete(j);
    return NULL;
}

cJSON *rawws_expect_error(struct rawws *c, int64_t id, const char *code,
                          int timeout_ms)
{
    cJSON *j = rawws_recv_json(c, timeout_ms);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "op");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    char what[128];

    if (!j)
        return NULL;
    if (cJSON_IsString(o) && strcmp(o->valuestring, "error") == 0 &&
        rawws_id_is(j, id) && cJSON_IsString(k) &&
        strcmp(k->valuestring, code) == 0 && cJSON_IsString(m))
        return j;
    if (id)
        snprintf(what, sizeof(what), "expected error %s with id %lld", code,
                 (long long)id);
    else
        snprintf(what, sizeof(what), "expected error %s with id null", code);
    rawws_print_json(what, j);
    cJSON_Delete(j);
    return NULL;
}

int rawws_expect_close(struct rawws *c, int timeout_ms)
{
    struct rawws_frame f;
    int rc = rawws_recv(c, &f, timeout_ms);

    if (rc < 0)
        return rc;
    if (f.opcode != RAWWS_OP_CLOSE) {
        rawws_describe("rawws_expect_close", &f);
        rawws_frame_cleanup(&f);
        return -EBADMSG;
    }
    rc = f.close_code;
    rawws_frame_cleanup(&f);
    return rc;
}

bool rawws_ping_ok(struct rawws *c, int64_t id, int timeout_ms)
{
    cJSON *j = NULL;

    if (rawws_send_textf(c, "{\"op\":\"ping\",\"id\":%lld}", (long long)id))
        return false;
    j = rawws_expect_ok(c, id, timeout_ms);
    cJSON_Delete(j);
    return j != NULL;
}
