/*
 * mqraw.c: a raw MQTT 3.1.1 client over a loopback socket for the tests
 * (see mqraw.h): bytes exactly as written, packets read with a deadline.
 */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "itest.h"
#include "mqraw.h"
#include "mqtt.h"

void mq_open(struct mq *m, int port)
{
    struct sockaddr_in a;

    memset(m, 0, sizeof(*m));
    m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(m->fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(m->fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

void mq_close(struct mq *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
}

/* Send bytes; false when the server already closed the socket. */
bool mq_send(struct mq *m, const void *p, size_t n)
{
    return send(m->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Read more bytes; 0 at EOF or error, -1 at the deadline. */
int mq_fill(struct mq *m, int64_t deadline)
{
    struct pollfd pf = {m->fd, POLLIN, 0};
    ssize_t n = 0;

    if (poll(&pf, 1, itest_left_ms(deadline)) != 1)
        return -1;
    n = recv(m->fd, m->buf + m->len, sizeof(m->buf) - m->len, 0);
    if (n <= 0)
        return 0;
    m->len += (size_t)n;
    return 1;
}

/* The next packet: 1, 0 at EOF, -1 at the deadline. */
int mq_next(struct mq *m, struct mq_pkt *p, int timeout_ms)
{
    int64_t deadline = itest_mono_ms() + timeout_ms;

    for (;;) {
        size_t i = 1;
        uint32_t rlen = 0;
        unsigned shift = 0;
        bool whole = false;
        int rc = 0;

        while (m->len > i && i < 5) {
            rlen |= (uint32_t)(m->buf[i] & 0x7f) << shift;
            shift += 7;
            if (!(m->buf[i++] & 0x80)) {
                whole = m->len >= i + rlen;
                break;
            }
        }
        if (whole) {
            p->type = m->buf[0] >> 4;
            p->flags = m->buf[0] & 15;
            assert_true(rlen <= sizeof(p->body));
            memcpy(p->body, m->buf + i, rlen);
            p->len = rlen;
            memmove(m->buf, m->buf + i + rlen, m->len - i - rlen);
            m->len -= i + rlen;
            return 1;
        }
        rc = mq_fill(m, deadline);
        if (rc <= 0)
            return rc;
    }
}

void mq_expect(struct mq *m, struct mq_pkt *p, uint8_t type)
{
    assert_int_equal(mq_next(m, p, MQRAW_WAIT_MS), 1);
    assert_int_equal(p->type, type);
}

/* The server closes the connection within timeout_ms (whatever it sent
 * before is skipped). */
void mq_expect_eof(struct mq *m, int timeout_ms)
{
    int64_t deadline = itest_mono_ms() + timeout_ms;
    int rc = 0;

    do {
        m->len = 0;
        rc = mq_fill(m, deadline);
    } while (rc == 1);
    assert_int_equal(rc, 0);
}

static size_t put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s);

    b[0] = (unsigned char)(n >> 8);
    b[1] = (unsigned char)n;
    memcpy(b + 2, s, n);
    return 2 + n;
}

/* CONNECT with keepalive, an optional will and password, clean session
 * or not; returns the CONNACK return code and, when present is not NULL,
 * its session present flag. */
int mq_connect_ex(struct mq *m, int port, const char *id, uint16_t keepalive,
                  const char *will_topic, const char *password, bool clean,
                  bool *present)
{
    unsigned char body[2048];
    unsigned char pkt[2100];
    struct mq_pkt p;
    size_t n = 0;
    size_t h = 0;
    uint8_t flags = clean ? 0x02 : 0;

    mq_open(m, port);
    n += put_str(body, "MQTT");
    body[n++] = 4;
    flags |= will_topic != NULL ? 0x04 : 0;
    flags |= password != NULL ? 0xc0 : 0;
    body[n++] = flags;
    body[n++] = (unsigned char)(keepalive >> 8);
    body[n++] = (unsigned char)keepalive;
    n += put_str(body + n, id);
    if (will_topic != NULL) {
        n += put_str(body + n, will_topic);
        n += put_str(body + n, "offline");
    }
    if (password != NULL) {
        n += put_str(body + n, "device");
        n += put_str(body + n, password);
    }
    pkt[0] = 0x10;
    h = 1 + pl_mqtt_put_rlen(pkt + 1, 4, (uint32_t)n);
    memcpy(pkt + h, body, n);
    assert_true(mq_send(m, pkt, h + n));
    mq_expect(m, &p, PL_MQTT_CONNACK);
    assert_int_equal(p.len, 2);
    if (present != NULL)
        *present = (p.body[0] & 1) != 0;
    return p.body[1];
}

/* CONNECT with clean session. */
int mq_connect(struct mq *m, int port, const char *id, uint16_t keepalive,
               const char *will_topic, const char *password)
{
    return mq_connect_ex(m, port, id, keepalive, will_topic, password, true,
                         NULL);
}

/* SUBSCRIBE of n filters; the SUBACK's codes into codes[0..n). */
void mq_subscribe(struct mq *m, const char *const *filters, const uint8_t *qos,
                  size_t n, uint8_t *codes)
{
    unsigned char body[1024];
    unsigned char pkt[1100];
    struct mq_pkt p;
    size_t len = 2;
    size_t h = 0;
    size_t i = 0;

    body[0] = 0;
    body[1] = 1;
    for (i = 0; i < n; i++) {
        len += put_str(body + len, filters[i]);
        body[len++] = qos[i];
    }
    pkt[0] = 0x82;
    h = 1 + pl_mqtt_put_rlen(pkt + 1, 4, (uint32_t)len);
    memcpy(pkt + h, body, len);
    assert_true(mq_send(m, pkt, h + len));
    mq_expect(m, &p, PL_MQTT_SUBACK);
    assert_int_equal(p.len, 2 + n);
    memcpy(codes, p.body + 2, n);
}

void mq_publish(struct mq *m, const char *topic, const char *payload,
                uint8_t qos, uint16_t id)
{
    unsigned char pkt[70000];
    size_t n = pl_mqtt_put_publish(pkt, sizeof(pkt), topic, strlen(topic), qos,
                                   false, false, id, payload, strlen(payload));

    assert_true(n > 0);
    assert_true(mq_send(m, pkt, n));
}

/* A PUBLISH on topic with payload; returns its QoS. */
uint8_t mq_expect_publish(struct mq *m, const char *topic, const char *payload)
{
    struct mq_pkt p;
    size_t tl = 0;
    size_t off = 0;
    uint8_t qos = 0;

    mq_expect(m, &p, PL_MQTT_PUBLISH);
    qos = (p.flags >> 1) & 3;
    tl = (size_t)(p.body[0] << 8 | p.body[1]);
    off = 2 + tl + (qos > 0 ? 2 : 0);
    assert_int_equal(tl, strlen(topic));
    assert_memory_equal(p.body + 2, topic, tl);
    assert_int_equal(p.len - off, strlen(payload));
    assert_memory_equal(p.body + off, payload, p.len - off);
    return qos;
}

void mq_ack(struct mq *m, uint8_t type, uint16_t id)
{
    unsigned char b[4] = {(unsigned char)(type << 4), 2,
                          (unsigned char)(id >> 8), (unsigned char)id};

    if (type == PL_MQTT_PUBREL)
        b[0] |= 2;
    assert_true(mq_send(m, b, sizeof(b)));
}

/* A PUBLISH on topic with payload: its packet id, DUP and QoS. */
uint16_t mq_delivery_of(const struct mq_pkt *p, const char *topic,
                        const char *payload, bool *dup, uint8_t *qos)
{
    size_t tl = 0;
    size_t off = 0;
    uint16_t id = 0;

    assert_int_equal(p->type, PL_MQTT_PUBLISH);
    *qos = (p->flags >> 1) & 3;
    *dup = (p->flags & 8) != 0;
    tl = (size_t)(p->body[0] << 8 | p->body[1]);
    assert_int_equal(tl, strlen(topic));
    assert_memory_equal(p->body + 2, topic, tl);
    off = 2 + tl;
    if (*qos > 0) {
        id = (uint16_t)(p->body[off] << 8 | p->body[off + 1]);
        off += 2;
    }
    assert_int_equal(p->len - off, strlen(payload));
    assert_memory_equal(p->body + off, payload, p->len - off);
    return id;
}

uint16_t mq_expect_delivery(struct mq *m, const char *topic,
                            const char *payload, bool *dup, uint8_t *qos)
{
    struct mq_pkt p;

    mq_expect(m, &p, PL_MQTT_PUBLISH);
    return mq_delivery_of(&p, topic, payload, dup, qos);
}

/* Nothing is queued for m: a PINGREQ's answer comes first. */
void mq_expect_nothing_queued(struct mq *m)
{
    const unsigned char ping[2] = {0xc0, 0};
    struct mq_pkt p;

    assert_true(mq_send(m, ping, sizeof(ping)));
    mq_expect(m, &p, PL_MQTT_PINGRESP);
}

/* A QoS 2 PUBLISH with packet id `id`, DUP or not; its PUBREC must come
 * (after the commit). */
void mq_publish2(struct mq *m, const char *topic, const char *payload,
                 uint16_t id, bool dup)
{
    unsigned char pkt[512];
    struct mq_pkt p;
    size_t n = pl_mqtt_put_publish(pkt, sizeof(pkt), topic, strlen(topic), 2,
                                   dup, false, id, payload, strlen(payload));

    assert_true(n > 0);
    assert_true(mq_send(m, pkt, n));
    mq_expect(m, &p, PL_MQTT_PUBREC);
    assert_int_equal(p.len, 2);
    assert_int_equal(p.body[0] << 8 | p.body[1], id);
}

/* PUBREL id, and its PUBCOMP. */
void mq_release(struct mq *m, uint16_t id)
{
    struct mq_pkt p;

    mq_ack(m, PL_MQTT_PUBREL, id);
    mq_expect(m, &p, PL_MQTT_PUBCOMP);
    assert_int_equal(p.body[0] << 8 | p.body[1], id);
}
