/*
 * fuzz_mqtt.c: libFuzzer target for the MQTT 3.1.1 codec
 * (protocol/mqtt.c) and the payload mapping (protocol/mqtt_payload.c).
 *
 * Input: byte 0 picks the feed size (0: the whole stream at once), byte 1
 * the reader's packet bound (0: the protocol's), the rest is the stream a
 * client sends. The stream is read twice, whole and in pieces, into exact-
 * size copies (so ASan sees any read past a piece). Rules checked, each
 * an abort() that libFuzzer reports like a crash:
 *   - both reads see the same packets and the same verdict at the end;
 *   - a decoded packet's fields lie inside its body;
 *   - a PUBLISH, PUBACK..PUBCOMP re-encoded by our encoders reads back as
 *     the same packet; a SUBSCRIBE's filters iterate to its count, each a
 *     valid filter;
 *   - a payload maps to valid JSON data, and a text payload maps back to
 *     its own bytes;
 *   - decoding from an exact-size copy of a body gives the same verdict;
 *   - the input's start, taken as a topic or pattern that Parley accepts,
 *     is valid MQTT too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "mqtt.h"
#include "mqtt_payload.h"
#include "topic.h"

#define FUZZ_MAX_PACKETS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_mqtt: broken rule: %s\n", what);
        abort();
    }
}

/* What one read of the stream saw: per packet its first byte, length and
 * decode verdict, then the reader's final state. */
struct fuzz_trace {
    uint8_t first[FUZZ_MAX_PACKETS];
    size_t len[FUZZ_MAX_PACKETS];
    int decoded[FUZZ_MAX_PACKETS];
    size_t n;
    int end;             /* reader error, or 0 */
};

static void fuzz_inside(const struct pl_mqtt_frame *f,
                        const struct pl_mqtt_bytes *b)
{
    if (b->p == NULL)
        return;
    fuzz_require(b->p >= f->body && b->len <= f->len &&
                 (size_t)(b->p - f->body) <= f->len - b->len,
                 "a field lies inside the body");
}

/* Reads a packet the encoders wrote back through a fresh reader. */
static void fuzz_read_back(const unsigned char *p, size_t n,
                           struct pl_mqtt_packet *out)
{
    struct pl_mqtt_reader r;
    struct pl_mqtt_frame f;
    size_t used = 0;

    pl_mqtt_reader_init(&r, 0);
    fuzz_require(pl_mqtt_reader_feed(&r, p, n, &used, &f) == 1 && used == n,
                 "an encoded packet reads back whole");
    fuzz_require(pl_mqtt_decode(&f, out) == 0, "an encoded packet decodes");
    pl_mqtt_reader_cleanup(&r);
}

static void fuzz_payload(const struct pl_mqtt_bytes *payload)
{
    struct pl_buf b;
    enum pl_mqtt_payload_kind kind;

    if (pl_buf_init(&b, payload->len + 16) != 0)
        abort();
    kind = pl_mqtt_payload_to_data(&b, payload->p, payload->len, 0);
    fuzz_require(!pl_buf_failed(&b), "mapping a payload allocates");
    fuzz_require(pl_json_valid(pl_buf_data(&b), b.len, 1000),
                 "a payload maps to valid JSON");
    if (kind == PL_MQTT_PAYLOAD_TEXT) {
        char *back = malloc(b.len);
        size_t n;

        if (back == NULL)
            abort();
        n = pl_mqtt_data_to_payload(pl_buf_data(&b), b.len, back);
        fuzz_require(n == payload->len &&
                     (n == 0 || memcmp(back, payload->p, n) == 0),
                     "a text payload maps back to its bytes");
        free(back);
    }
    pl_buf_cleanup(&b);
}

static void fuzz_publish(const struct pl_mqtt_publish *p)
{
    size_t n = pl_mqtt_put_publish(NULL, 0, (const char *)p->topic.p,
                                   p->topic.len, p->qos, p->dup, p->retain,
                                   p->packet_id, p->payload.p,
                                   p->payload.len);
    unsigned char *enc = malloc(n);
    struct pl_mqtt_packet back;
    const struct pl_mqtt_publish *q = &back.u.publish;

    fuzz_require(n > 0, "a decoded PUBLISH can be encoded");
    if (enc == NULL)
        abort();
    fuzz_require(pl_mqtt_put_publish(enc, n, (const char *)p->topic.p,
                                     p->topic.len, p->qos, p->dup, p->retain,
                                     p->packet_id, p->payload.p,
                                     p->payload.len) == n,
                 "PUBLISH sizing and writing agree");
    fuzz_read_back(enc, n, &back);
    fuzz_require(back.type == PL_MQTT_PUBLISH && q->qos == p->qos &&
                 q->dup == p->dup && q->retain == p->retain &&
                 q->packet_id == p->packet_id &&
                 q->topic.len == p->topic.len &&
                 memcmp(q->topic.p, p->topic.p, p->topic.len) == 0 &&
                 q->payload.len == p->payload.len &&
                 (p->payload.len == 0 ||
                  memcmp(q->payload.p, p->payload.p, p->payload.len) == 0),
                 "PUBLISH survives encode and decode");
    free(enc);
    fuzz_payload(&p->payload);
}

/* Decodes the frame again from an exact-size copy of its body, so ASan
 * sees any read past the body even when the body sat inside a larger
 * piece; the verdict must not change. */
static void fuzz_exact(const struct pl_mqtt_frame *f, int verdict)
{
    unsigned char *copy = malloc(f->len ? f->len : 1);
    struct pl_mqtt_frame g = *f;
    struct pl_mqtt_packet pkt;

    if (copy == NULL)
        abort();
    if (f->len > 0)
        memcpy(copy, f->body, f->len);
    g.body = copy;
    fuzz_require(pl_mqtt_decode(&g, &pkt) == verdict,
                 "decoding is the same from a copy");
    free(copy);
}

/*
 * Parley's topic rules are MQTT's with more refused (empty levels,
 * control characters, over 255 bytes), so whatever Parley accepts, the
 * MQTT check must accept too: the listener relies on it.
 */
static void fuzz_topic_rules(const uint8_t *s, size_t n)
{
    if (n > 300)
        n = 300;
    for (int w = 0; w <= 1; w++) {
        if (pl_topic_validate((const char *)s, n, w) == PL_OK)
            fuzz_require(pl_mqtt_topic_check(s, n, w) == 0,
                         "a Parley topic or pattern is valid MQTT");
    }
}

static void fuzz_packet(const struct pl_mqtt_frame *f,
                        const struct pl_mqtt_packet *pkt)
{
    unsigned char ack[4];
    struct pl_mqtt_packet back;
    struct pl_mqtt_filter_iter it;
    struct pl_mqtt_bytes filter;
    uint8_t qos = 0;
    unsigned count = 0;

    switch (pkt->type) {
    case PL_MQTT_CONNECT:
        fuzz_inside(f, &pkt->u.connect.client_id);
        fuzz_inside(f, &pkt->u.connect.will_topic);
        fuzz_inside(f, &pkt->u.connect.will_message);
        fuzz_inside(f, &pkt->u.connect.username);
        fuzz_inside(f, &pkt->u.connect.password);
        fuzz_require(pkt->u.connect.will || pkt->u.connect.will_topic.p ==
                     NULL, "no will topic without the will flag");
        break;
    case PL_MQTT_PUBLISH:
        fuzz_inside(f, &pkt->u.publish.topic);
        fuzz_inside(f, &pkt->u.publish.payload);
        fuzz_publish(&pkt->u.publish);
        break;
    case PL_MQTT_PUBACK:
    case PL_MQTT_PUBREC:
    case PL_MQTT_PUBREL:
    case PL_MQTT_PUBCOMP:
        fuzz_require(pl_mqtt_put_ack(ack, sizeof(ack), pkt->type,
                                     pkt->u.packet_id) == 4,
                     "an ack encodes in 4 bytes");
        fuzz_read_back(ack, 4, &back);
        fuzz_require(back.type == pkt->type &&
                     back.u.packet_id == pkt->u.packet_id,
                     "an ack survives encode and decode");
        break;
    case PL_MQTT_SUBSCRIBE:
    case PL_MQTT_UNSUBSCRIBE:
        pl_mqtt_filters_begin(&it, &pkt->u.filters);
        while (pl_mqtt_filters_next(&it, &filter, &qos)) {
            fuzz_inside(f, &filter);
            fuzz_require(qos <= 2, "a granted QoS is at most 2");
            fuzz_require(pl_mqtt_topic_check(filter.p, filter.len, true) ==
                         0, "an iterated filter is valid");
            count++;
        }
        fuzz_require(count == pkt->u.filters.count && count > 0,
                     "the iterator sees count filters");
        break;
    default:
        break;
    }
}

/* Reads s[0..n) in pieces of `step` bytes (0: whole) into exact copies. */
static void fuzz_read(const uint8_t *s, size_t n, size_t step, size_t max,
                      bool check, struct fuzz_trace *t)
{
    struct pl_mqtt_reader r;
    size_t off = 0;

    memset(t, 0, sizeof(*t));
    pl_mqtt_reader_init(&r, max);
    while (off < n && t->n < FUZZ_MAX_PACKETS) {
        size_t piece = step == 0 || step > n - off ? n - off : step;
        uint8_t *copy = malloc(piece);
        size_t used = 0;
        size_t done = 0;

        if (copy == NULL)
            abort();
        memcpy(copy, s + off, piece);
        while (done < piece && t->n < FUZZ_MAX_PACKETS) {
            struct pl_mqtt_frame f;
            struct pl_mqtt_packet pkt;
            int rc = pl_mqtt_reader_feed(&r, copy + done, piece - done, &used,
                                         &f);

            fuzz_require(used <= piece - done, "used stays in the piece");
            done += used;
            if (rc < 0) {
                t->end = rc;
                break;
            }
            if (rc == 0) {
                fuzz_require(done == piece, "need-more eats the piece");
                break;
            }
            fuzz_require(f.len <= r.max_packet, "a packet within the bound");
            t->first[t->n] = f.first;
            t->len[t->n] = f.len;
            t->decoded[t->n] = pl_mqtt_decode(&f, &pkt);
            if (check)
                fuzz_exact(&f, t->decoded[t->n]);
            if (t->decoded[t->n] == 0 && check)
                fuzz_packet(&f, &pkt);
            t->n++;
        }
        free(copy);
        off += done;
        if (t->end != 0 || done < piece)
            break;
    }
    pl_mqtt_reader_cleanup(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_trace whole;
    static struct fuzz_trace split;
    size_t step = 0;
    size_t max = 0;

    if (size < 2)
        return 0;
    step = data[0];
    max = data[1] == 0 ? 0 : (size_t)data[1] * 64;
    fuzz_topic_rules(data + 2, size - 2);
    fuzz_read(data + 2, size - 2, 0, max, true, &whole);
    fuzz_read(data + 2, size - 2, step == 0 ? 1 : step, max, false, &split);
    fuzz_require(whole.n == split.n && whole.end == split.end,
                 "whole and split reads see the same packets");
    for (size_t i = 0; i < whole.n; i++)
        fuzz_require(whole.first[i] == split.first[i] &&
                     whole.len[i] == split.len[i] &&
                     whole.decoded[i] == split.decoded[i],
                     "whole and split reads agree on each packet");
    return 0;
}
