/*
 * mqraw.h: a raw MQTT 3.1.1 client for the tests, for what a polite client
 * library hides (the session present flag, a DUP retry, a PUBREL never
 * sent, packets before CONNECT). cmocka asserts inside: call from a test.
 */
#ifndef PARLEY_TEST_MQRAW_H
#define PARLEY_TEST_MQRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long the server may take to answer. */
#define MQRAW_WAIT_MS 10000

struct mq {
    int fd;
    unsigned char buf[70000];
    size_t len;
};

struct mq_pkt {
    uint8_t type, flags;
    unsigned char body[66000];
    size_t len;
};

void mq_open(struct mq *m, int port);

void mq_close(struct mq *m);

/* Send bytes; false when the server already closed the socket. */
bool mq_send(struct mq *m, const void *p, size_t n);

/* Read more bytes; 0 at EOF or error, -1 at the deadline. */
int mq_fill(struct mq *m, int64_t deadline);

/* The next packet: 1, 0 at EOF, -1 at the deadline. */
int mq_next(struct mq *m, struct mq_pkt *p, int timeout_ms);

void mq_expect(struct mq *m, struct mq_pkt *p, uint8_t type);

/* The server closes the connection within timeout_ms (whatever it sent
 * before is skipped). */
void mq_expect_eof(struct mq *m, int timeout_ms);

/* CONNECT with keepalive, an optional will and password, clean session
 * or not; returns the CONNACK return code and, when present is not NULL,
 * its session present flag. */
int mq_connect_ex(struct mq *m, int port, const char *id, uint16_t keepalive,
                  const char *will_topic, const char *password, bool clean,
                  bool *present);

/* CONNECT with clean session. */
int mq_connect(struct mq *m, int port, const char *id, uint16_t keepalive,
               const char *will_topic, const char *password);

/* SUBSCRIBE of n filters; the SUBACK's codes into codes[0..n). */
void mq_subscribe(struct mq *m, const char *const *filters, const uint8_t *qos,
                  size_t n, uint8_t *codes);

void mq_publish(struct mq *m, const char *topic, const char *payload,
                uint8_t qos, uint16_t id);

/* A PUBLISH on topic with payload; returns its QoS. */
uint8_t mq_expect_publish(struct mq *m, const char *topic, const char *payload);

void mq_ack(struct mq *m, uint8_t type, uint16_t id);

/* p is a PUBLISH on topic with payload: its packet id, DUP and QoS. */
uint16_t mq_delivery_of(const struct mq_pkt *p, const char *topic,
                        const char *payload, bool *dup, uint8_t *qos);
/* The next packet is such a PUBLISH: its packet id, DUP and QoS. */
uint16_t mq_expect_delivery(struct mq *m, const char *topic,
                            const char *payload, bool *dup, uint8_t *qos);

/* Nothing is queued for m: a PINGREQ's answer comes first. */
void mq_expect_nothing_queued(struct mq *m);

/* A QoS 2 PUBLISH with packet id `id`, DUP or not; its PUBREC must come
 * (after the commit). */
void mq_publish2(struct mq *m, const char *topic, const char *payload,
                 uint16_t id, bool dup);

/* PUBREL id, and its PUBCOMP. */
void mq_release(struct mq *m, uint16_t id);

#endif
