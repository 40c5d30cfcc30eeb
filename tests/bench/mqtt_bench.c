/*
 * mqtt_bench.c: one MQTT load generator for any broker, so Parley and
 * Mosquitto are measured with the same client on the same work.
 *
 *   mqtt-bench PORT fanout N M   N subscribers (QoS 0) of one topic; one
 *                                publisher sends M messages at QoS 1,
 *                                at most 32 unacknowledged
 *   mqtt-bench PORT fanin N M    N publishers (QoS 1, 8 unacknowledged
 *                                each) send M messages in all, each to its
 *                                own topic; one subscriber of bench/#
 *
 * Loopback only, one thread, poll(). Every payload carries its send time,
 * so each delivery's latency is measured. Prints one line of JSON:
 * {"mode":..,"n":..,"m":..,"secs":..,"deliveries":..,"per_sec":..,
 *  "p50_ms":..,"p99_ms":..}; exits 1 when not every delivery came within
 * 60 seconds.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "mqtt.h"

#define DEADLINE_NS (60LL * 1000000000LL)

struct peer {
    int fd;
    unsigned char in[1 << 16];
    size_t len;
    uint64_t got;        /* PUBLISHes received */
    uint64_t sent;       /* PUBLISHes sent */
    uint64_t acked;
    uint64_t to_send;
    unsigned window;
    char topic[32];
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "mqtt-bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void send_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;

    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN) {
            struct pollfd pf = {fd, POLLOUT, 0};

            poll(&pf, 1, 1000);
            continue;
        }
        if (k <= 0)
            die("send");
        b += k;
        n -= (size_t)k;
    }
}

static size_t put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s);

    b[0] = (unsigned char)(n >> 8);
    b[1] = (unsigned char)n;
    memcpy(b + 2, s, n);
    return 2 + n;
}

/* The next whole packet in p->in: its type, body and length; 0 if none. */
static int next_packet(struct peer *p, uint8_t *type, unsigned char **body,
                       size_t *blen, size_t *used)
{
    size_t i = 1;
    uint32_t rlen = 0;
    unsigned shift = 0;

    while (i < p->len && i < 5) {
        rlen |= (uint32_t)(p->in[i] & 0x7f) << shift;
        shift += 7;
        if (!(p->in[i++] & 0x80)) {
            if (p->len < i + rlen)
                return 0;
            *type = p->in[0];
            *body = p->in + i;
            *blen = rlen;
            *used = i + rlen;
            return 1;
        }
    }
    return 0;
}

static void consume(struct peer *p, size_t used)
{
    memmove(p->in, p->in + used, p->len - used);
    p->len -= used;
}

/* Read what is there; exits on EOF. */
static void fill(struct peer *p)
{
    ssize_t k = recv(p->fd, p->in + p->len, sizeof(p->in) - p->len,
                     MSG_DONTWAIT);

    if (k == 0) {
        fprintf(stderr, "mqtt-bench: the broker closed a connection\n");
        exit(1);
    }
    if (k < 0 && errno != EAGAIN && errno != EINTR)
        die("recv");
    if (k > 0)
        p->len += (size_t)k;
}

/* Wait for one packet of type (high nibble) on p. */
static void expect(struct peer *p, uint8_t want)
{
    int64_t end = now_ns() + 10000000000LL;

    for (;;) {
        uint8_t type = 0;
        unsigned char *body = NULL;
        size_t blen = 0, used = 0;
        struct pollfd pf = {p->fd, POLLIN, 0};

        if (next_packet(p, &type, &body, &blen, &used)) {
            consume(p, used);
            if ((type >> 4) == want)
                return;
            continue;
        }
        if (now_ns() > end) {
            fprintf(stderr, "mqtt-bench: no packet %u\n", want);
            exit(1);
        }
        poll(&pf, 1, 100);
        fill(p);
    }
}

static void open_peer(struct peer *p, int port, const char *id)
{
    struct sockaddr_in a;
    unsigned char b[128];
    size_t n = 0;
    int one = 1;

    memset(p, 0, sizeof(*p));
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (p->fd < 0)
        die("socket");
    setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(p->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("connect");
    b[0] = 0x10;
    n = 2;
    n += put_str(b + n, "MQTT");
    b[n++] = 4;
    b[n++] = 0x02;
    b[n++] = 0;
    b[n++] = 60;
    n += put_str(b + n, id);
    b[1] = (unsigned char)(n - 2);
    send_all(p->fd, b, n);
    expect(p, PL_MQTT_CONNACK);
}

static void subscribe(struct peer *p, const char *filter)
{
    unsigned char b[128];
    size_t n = 4;

    b[0] = 0x82;
    b[2] = 0;
    b[3] = 1;
    n += put_str(b + n, filter);
    b[n++] = 0;
    b[1] = (unsigned char)(n - 2);
    send_all(p->fd, b, n);
    expect(p, PL_MQTT_SUBACK);
}

/* Send p's next PUBLISH (QoS 1) carrying the send time. */
static void publish_next(struct peer *p)
{
    unsigned char b[128];
    int64_t t = now_ns();
    uint16_t id = (uint16_t)(p->sent % 65535 + 1);
    size_t n = pl_mqtt_put_publish(b, sizeof(b), p->topic, strlen(p->topic),
                                   1, false, false, id, &t, sizeof(t));

    send_all(p->fd, b, n);
    p->sent++;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct peer *subs = NULL, *pubs = NULL;
    size_t n_subs = 0, n_pubs = 0, i = 0;
    int64_t *lat = NULL;
    uint64_t want = 0, got = 0, m = 0;
    int64_t t0 = 0, t1 = 0;
    struct pollfd *pfs = NULL;
    bool fanout = false;
    int port = 0;
    int n = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: mqtt-bench PORT fanout|fanin N M\n");
        return 2;
    }
    port = atoi(argv[1]);
    fanout = strcmp(argv[2], "fanout") == 0;
    n = atoi(argv[3]);
    m = (uint64_t)atoll(argv[4]);
    if (n < 1 || m < 1)
        return 2;
    n_subs = fanout ? (size_t)n : 1;
    n_pubs = fanout ? 1 : (size_t)n;
    want = fanout ? m * n_subs : m;
    subs = calloc(n_subs, sizeof(*subs));
    pubs = calloc(n_pubs, sizeof(*pubs));
    lat = calloc(want, sizeof(*lat));
    pfs = calloc(n_subs + n_pubs, sizeof(*pfs));
    if (!subs || !pubs || !lat || !pfs)
        die("calloc");
    for (i = 0; i < n_subs; i++) {
        char id[32];

        snprintf(id, sizeof(id), "bench-sub-%zu", i);
        open_peer(&subs[i], port, id);
        subscribe(&subs[i], fanout ? "bench/t" : "bench/#");
    }
    for (i = 0; i < n_pubs; i++) {
        char id[32];

        snprintf(id, sizeof(id), "bench-pub-%zu", i);
        open_peer(&pubs[i], port, id);
        if (fanout)
            snprintf(pubs[i].topic, sizeof(pubs[i].topic), "bench/t");
        else
            snprintf(pubs[i].topic, sizeof(pubs[i].topic), "bench/p%zu", i);
        pubs[i].to_send = m / n_pubs + (i < m % n_pubs ? 1 : 0);
        pubs[i].window = fanout ? 32 : 8;
    }
    t0 = now_ns();
    while (got < want && now_ns() - t0 < DEADLINE_NS) {
        size_t k = 0;

        for (i = 0; i < n_pubs; i++) {
            struct peer *p = &pubs[i];

            while (p->sent < p->to_send && p->sent - p->acked < p->window)
                publish_next(p);
        }
        for (i = 0; i < n_subs; i++)
            pfs[k++] = (struct pollfd){subs[i].fd, POLLIN, 0};
        for (i = 0; i < n_pubs; i++)
            pfs[k++] = (struct pollfd){pubs[i].fd, POLLIN, 0};
        if (poll(pfs, k, 1000) <= 0)
            continue;
        for (i = 0; i < k; i++) {
            struct peer *p = i < n_subs ? &subs[i] : &pubs[i - n_subs];
            uint8_t type = 0;
            unsigned char *body = NULL;
            size_t blen = 0, used = 0;

            if (!(pfs[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            fill(p);
            while (next_packet(p, &type, &body, &blen, &used)) {
                if ((type >> 4) == PL_MQTT_PUBACK) {
                    p->acked++;
                } else if ((type >> 4) == PL_MQTT_PUBLISH && blen >= 10) {
                    int64_t ts = 0;

                    memcpy(&ts, body + blen - sizeof(ts), sizeof(ts));
                    if (got < want)
                        lat[got] = now_ns() - ts;
                    got++;
                    p->got++;
                }
                consume(p, used);
            }
        }
    }
    t1 = now_ns();
    qsort(lat, got < want ? got : want, sizeof(*lat), cmp_i64);
    printf("{\"mode\":\"%s\",\"n\":%d,\"m\":%llu,\"secs\":%.3f,"
           "\"deliveries\":%llu,\"per_sec\":%.0f,\"p50_ms\":%.2f,"
           "\"p99_ms\":%.2f}\n",
           fanout ? "fanout" : "fanin", n, (unsigned long long)m,
           (double)(t1 - t0) / 1e9, (unsigned long long)got,
           (double)got / ((double)(t1 - t0) / 1e9),
           got ? (double)lat[got / 2] / 1e6 : 0.0,
           got ? (double)lat[(got - 1) * 99 / 100] / 1e6 : 0.0);
    for (i = 0; i < n_subs; i++)
        close(subs[i].fd);
    for (i = 0; i < n_pubs; i++)
        close(pubs[i].fd);
    free(subs);
    free(pubs);
    free(lat);
    free(pfs);
    return got >= want ? 0 : 1;
}
