/*
 * mqtt.c: owns the MQTT 3.1.1 wire format: cutting a byte stream into
 * packets (the reader), checking and decoding the packets a client sends,
 * and encoding the packets a server sends. No I/O, no sockets, no hub:
 * the listener feeds bytes in and writes the encoded bytes out.
 *
 * DESIGN: validate first, point, never copy.
 *   - The reader judges a packet as early as the stream allows: its type
 *     and fixed-header flags at the first byte, its size as soon as the
 *     remaining length is complete (at most four bytes, 2.2.3). So a
 *     hostile length or type costs a few bytes, never a buffer. A body is
 *     buffered only when it arrives in pieces, and the buffer grows with
 *     what has arrived, not with what the length announces; past 4 KiB it
 *     is freed once its packet has been handed over.
 *   - The decoder checks every field of a packet before it reports any,
 *     and its result points into the packet's bytes: no allocation, so a
 *     malformed packet leaves nothing to free. SUBSCRIBE and UNSUBSCRIBE
 *     filters are checked in one pass and read again by an iterator.
 *   - Each refusal has its own code, named after the rule it breaks.
 *     Every code closes the connection (4.8); CONNECT's unsupported
 *     protocol level and rejected client id are answered first with
 *     CONNACK 1 and 2 (3.1.2-2, 3.1.3-9).
 *   - Encoders write into the caller's buffer and return the length, like
 *     snprintf, and PUBLISH's header is separate from its payload, so a
 *     payload can be shared by deliveries that differ in packet id only.
 *
 * Examples of the checks (type byte, then the remaining bytes):
 *   C0 00            PINGREQ                  fine
 *   C0 01 00         PINGREQ with a body      PL_MQTT_E_LONG
 *   C2 00            PINGREQ, flags 0010      PL_MQTT_E_FLAGS
 *   36 ..            PUBLISH QoS 3            PL_MQTT_E_QOS
 *   62 02 00 07      PUBREL id 7              fine (flags must be 0010)
 *   30 FF FF FF FF   a 5th length byte next   PL_MQTT_E_RLEN
 *
 * No globals; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"
#include "topic.h"

#define MQTT_BUF_MIN 256
/* A buffer larger than this is freed once its packet is handed over, so a
 * connection that sent one large packet in pieces does not keep its
 * memory while idle (thousands of idle sensors are the common case). */
#define MQTT_BUF_KEEP 4096

static const char *const mqtt_err_text[PL_MQTT_E__COUNT] = {
    [PL_MQTT_OK] = "ok",
    [PL_MQTT_E_RLEN] = "remaining length longer than 4 bytes",
    [PL_MQTT_E_TOO_LARGE] = "packet larger than the maximum packet size",
    [PL_MQTT_E_TYPE] = "packet type reserved or not sent by clients",
    [PL_MQTT_E_FLAGS] = "fixed header flags invalid for the packet type",
    [PL_MQTT_E_SHORT] = "packet ends inside a field",
    [PL_MQTT_E_LONG] = "bytes after the last field of the packet",
    [PL_MQTT_E_UTF8] = "string is not UTF-8 or holds U+0000",
    [PL_MQTT_E_PROTOCOL_NAME] = "protocol name is neither MQTT nor MQIsdp",
    [PL_MQTT_E_PROTOCOL_LEVEL] = "unsupported protocol level (only MQTT 4)",
    [PL_MQTT_E_CONNECT_RESERVED] = "CONNECT reserved flag is set",
    [PL_MQTT_E_WILL_FLAGS] = "will QoS or retain invalid for the will flag",
    [PL_MQTT_E_PASSWORD_FLAG] = "password flag set without user name flag",
    [PL_MQTT_E_CLIENT_ID] = "empty client id needs clean session",
    [PL_MQTT_E_TOPIC] = "topic name empty, too long or holds a wildcard",
    [PL_MQTT_E_FILTER] = "topic filter empty, too long or bad wildcard",
    [PL_MQTT_E_QOS] = "QoS 3 is not a QoS",
    [PL_MQTT_E_DUP_QOS0] = "DUP set on a QoS 0 PUBLISH",
    [PL_MQTT_E_PACKET_ID] = "packet identifier 0",
    [PL_MQTT_E_NO_FILTERS] = "SUBSCRIBE or UNSUBSCRIBE without a filter",
    [PL_MQTT_E_SUB_OPTIONS] = "reserved bits set in requested QoS",
    [PL_MQTT_E_NOMEM] = "out of memory buffering a packet",
};

const char *pl_mqtt_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err >= PL_MQTT_E__COUNT)
        return "unknown MQTT error";
    return mqtt_err_text[err];
}

int pl_mqtt_connack_code(int err)
{
    if (err < 0)
        err = -err;
    if (err == PL_MQTT_E_PROTOCOL_LEVEL)
        return PL_MQTT_CONNACK_BAD_PROTOCOL;
    if (err == PL_MQTT_E_CLIENT_ID)
        return PL_MQTT_CONNACK_ID_REJECTED;
    return 0;
}

/*
 * Judges a packet's first byte as a server must: a type a client may send,
 * with the flags that type requires (2.2.2). Returns 0 or -PL_MQTT_E_*.
 */
static int mqtt_first_byte(uint8_t c)
{
    unsigned type = c >> 4;
    unsigned flags = c & 0x0F;

    switch (type) {
    case PL_MQTT_PUBLISH: {
        unsigned qos = (flags >> 1) & 3;

        if (qos == 3)
            return -PL_MQTT_E_QOS;
        if (qos == 0 && (flags & 0x08) != 0)
            return -PL_MQTT_E_DUP_QOS0;
        return 0;
    }
    case PL_MQTT_PUBREL:
    case PL_MQTT_SUBSCRIBE:
    case PL_MQTT_UNSUBSCRIBE:
        return flags == 0x02 ? 0 : -PL_MQTT_E_FLAGS;
    case PL_MQTT_CONNECT:
    case PL_MQTT_PUBACK:
    case PL_MQTT_PUBREC:
    case PL_MQTT_PUBCOMP:
    case PL_MQTT_PINGREQ:
    case PL_MQTT_DISCONNECT:
        return flags == 0 ? 0 : -PL_MQTT_E_FLAGS;
    default:
        return -PL_MQTT_E_TYPE; /* 0, 15 and the server's own types */
    }
}

/* ------------------------------------------------------------------ */
/* Reader                                                             */
/* ------------------------------------------------------------------ */

void pl_mqtt_reader_init(struct pl_mqtt_reader *r, size_t max_packet)
{
    memset(r, 0, sizeof(*r));
    if (max_packet == 0 || max_packet > PL_MQTT_PACKET_MAX)
        max_packet = PL_MQTT_PACKET_MAX;
    r->max_packet = max_packet;
}

void pl_mqtt_reader_cleanup(struct pl_mqtt_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
    r->have = 0;
}

/* Ready for the next packet's first byte; keeps the buffer (and what it
 * holds, which the last frame may still point at). */
static void mqtt_reader_next(struct pl_mqtt_reader *r)
{
    r->hdr_len = 0;
    r->rlen_done = false;
    r->rlen = 0;
    r->have = 0;
}

/* Room in r->buf for `more` bytes beyond r->have; the buffer doubles, but
 * never past the packet's remaining length. Returns false when out of
 * memory. */
static bool mqtt_reader_room(struct pl_mqtt_reader *r, size_t more)
{
    size_t want = r->have + more;
    size_t cap = r->cap;
    unsigned char *p = NULL;

    if (want <= cap)
        return true;
    if (cap < MQTT_BUF_MIN)
        cap = MQTT_BUF_MIN;
    while (cap < want)
        cap *= 2;
    if (cap > r->rlen)
        cap = r->rlen;
    p = realloc(r->buf, cap);
    if (p == NULL)
        return false;
    r->buf = p;
    r->cap = cap;
    return true;
}

static int mqtt_reader_fail(struct pl_mqtt_reader *r, int err, size_t i,
                            size_t *used)
{
    r->err = err;
    *used = i;
    return err;
}

int pl_mqtt_reader_feed(struct pl_mqtt_reader *r, const void *in, size_t n,
                        size_t *used, struct pl_mqtt_frame *out)
{
    static const unsigned char empty[1] = {0};
    const unsigned char *p = n > 0 ? in : empty;
    size_t i = 0;
    size_t take = 0;

    *used = 0;
    if (r->err != 0)
        return r->err;
    if (r->have == 0 && r->cap > MQTT_BUF_KEEP) {
        /* The last frame may have pointed here; it is invalid now. */
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }

    while (!r->rlen_done) {
        unsigned char c;

        if (i == n) {
            *used = i;
            return 0;
        }
        c = p[i++];
        if (r->hdr_len == 0) {
            int err = mqtt_first_byte(c);

            if (err != 0)
                return mqtt_reader_fail(r, err, i, used);
            r->first = c;
            r->hdr_len = 1;
            r->rlen = 0;
            continue;
        }
        r->rlen |= (uint32_t)(c & 0x7F) << (7 * (r->hdr_len - 1));
        r->hdr_len++;
        if ((c & 0x80) == 0) {
            r->rlen_done = true;
            if ((size_t)r->hdr_len + r->rlen > r->max_packet)
                return mqtt_reader_fail(r, -PL_MQTT_E_TOO_LARGE, i, used);
        } else if (r->hdr_len == PL_MQTT_FIXED_MAX) {
            return mqtt_reader_fail(r, -PL_MQTT_E_RLEN, i, used);
        }
    }

    out->first = r->first;
    if (r->have == 0 && n - i >= r->rlen) {
        /* The whole body is here: point at it, copy nothing. */
        out->body = r->rlen > 0 ? p + i : empty;
        out->len = r->rlen;
        *used = i + r->rlen;
        mqtt_reader_next(r);
        return 1;
    }
    take = r->rlen - r->have;
    if (take > n - i)
        take = n - i;
    if (take > 0) { /* none when the header ended this feed */
        if (!mqtt_reader_room(r, take))
            return mqtt_reader_fail(r, -PL_MQTT_E_NOMEM, i, used);
        memcpy(r->buf + r->have, p + i, take);
        r->have += take;
        i += take;
    }
    *used = i;
    if (r->have < r->rlen)
        return 0;
    out->body = r->buf;
    out->len = r->rlen;
    mqtt_reader_next(r);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Decoder                                                            */
/* ------------------------------------------------------------------ */

/* Reads fields off a packet body, front to back. */
struct mqtt_cur {
    const unsigned char *p;
    size_t len;
    size_t off;
};

static size_t mqtt_left(const struct mqtt_cur *c)
{
    return c->len - c->off;
}

static int mqtt_u8(struct mqtt_cur *c, uint8_t *v)
{
    if (mqtt_left(c) < 1)
        return -PL_MQTT_E_SHORT;
    *v = c->p[c->off++];
    return 0;
}

static int mqtt_u16(struct mqtt_cur *c, uint16_t *v)
{
    if (mqtt_left(c) < 2)
        return -PL_MQTT_E_SHORT;
    *v = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);
    c->off += 2;
    return 0;
}

/* A two-byte length and that many bytes (binary data, 1.5.3). */
static int mqtt_bytes(struct mqtt_cur *c, struct pl_mqtt_bytes *b)
{
    uint16_t n = 0;
    int err = mqtt_u16(c, &n);

    if (err != 0)
        return err;
    if (mqtt_left(c) < n)
        return -PL_MQTT_E_SHORT;
    b->p = c->p + c->off;
    b->len = n;
    c->off += n;
    return 0;
}

/* True when s[0..n) is UTF-8 as MQTT strings must be: RFC 3629, no
 * U+0000 (1.5.3-1, 1.5.3-2). */
static bool mqtt_utf8(const unsigned char *s, size_t n)
{
    return memchr(s, 0, n) == NULL && pl_utf8_valid((const char *)s, n);
}

/* A UTF-8 encoded string (1.5.3). */
static int mqtt_str(struct mqtt_cur *c, struct pl_mqtt_bytes *b)
{
    int err = mqtt_bytes(c, b);

    if (err != 0)
        return err;
    return mqtt_utf8(b->p, b->len) ? 0 : -PL_MQTT_E_UTF8;
}

static int mqtt_packet_id(struct mqtt_cur *c, uint16_t *id)
{
    int err = mqtt_u16(c, id);

    if (err != 0)
        return err;
    return *id != 0 ? 0 : -PL_MQTT_E_PACKET_ID;
}

static int mqtt_end(const struct mqtt_cur *c)
{
    return mqtt_left(c) == 0 ? 0 : -PL_MQTT_E_LONG;
}

int pl_mqtt_topic_check(const unsigned char *t, size_t len, bool wildcards)
{
    int bad = wildcards ? -PL_MQTT_E_FILTER : -PL_MQTT_E_TOPIC;
    size_t level = 0; /* where the current level starts */

    if (len == 0 || len > UINT16_MAX)
        return bad;
    if (!mqtt_utf8(t, len))
        return -PL_MQTT_E_UTF8;
    for (size_t i = 0; i < len; i++) {
        bool whole = i == level && (i + 1 == len || t[i + 1] == '/');

        if (t[i] == '/') {
            level = i + 1;
        } else if (t[i] == '+') {
            if (!wildcards || !whole)
                return bad;
        } else if (t[i] == '#') {
            if (!wildcards || !whole || i + 1 != len)
                return bad;
        }
    }
    return 0;
}

static int mqtt_connect(struct mqtt_cur *c, struct pl_mqtt_connect *k)
{
    struct pl_mqtt_bytes name = {0};
    uint8_t flags = 0;
    int err = mqtt_bytes(c, &name);

    if (err == 0)
        err = mqtt_u8(c, &k->level);
    if (err != 0)
        return err;
    if (name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0)
        return -PL_MQTT_E_PROTOCOL_LEVEL; /* MQTT 3.1: CONNACK 1 */
    if (name.len != 4 || memcmp(name.p, "MQTT", 4) != 0)
        return -PL_MQTT_E_PROTOCOL_NAME;
    /* Judged before the flags: another level's packet may differ from
     * here on (MQTT 5 adds properties). */
    if (k->level != 4)
        return -PL_MQTT_E_PROTOCOL_LEVEL;

    err = mqtt_u8(c, &flags);
    if (err == 0)
        err = mqtt_u16(c, &k->keepalive);
    if (err != 0)
        return err;
    if (flags & 0x01)
        return -PL_MQTT_E_CONNECT_RESERVED;
    k->clean_session = (flags & 0x02) != 0;
    k->will = (flags & 0x04) != 0;
    k->will_qos = (flags >> 3) & 3;
    k->will_retain = (flags & 0x20) != 0;
    k->has_password = (flags & 0x40) != 0;
    k->has_username = (flags & 0x80) != 0;
    if (k->will_qos == 3 || (!k->will && (k->will_qos != 0 || k->will_retain)))
        return -PL_MQTT_E_WILL_FLAGS;
    if (k->has_password && !k->has_username)
        return -PL_MQTT_E_PASSWORD_FLAG;

    err = mqtt_str(c, &k->client_id);
    if (err == 0 && k->will) {
        err = mqtt_str(c, &k->will_topic);
        if (err == 0)
            err = pl_mqtt_topic_check(k->will_topic.p, k->will_topic.len,
                                      false);
        if (err == 0)
            err = mqtt_bytes(c, &k->will_message);
    }
    if (err == 0 && k->has_username)
        err = mqtt_str(c, &k->username);
    if (err == 0 && k->has_password)
        err = mqtt_bytes(c, &k->password);
    if (err == 0)
        err = mqtt_end(c);
    if (err != 0)
        return err;
    /* Last: a well-formed CONNECT whose id is refused gets CONNACK 2. */
    if (k->client_id.len == 0 && !k->clean_session)
        return -PL_MQTT_E_CLIENT_ID;
    return 0;
}

static int mqtt_publish(struct mqtt_cur *c, uint8_t flags,
                        struct pl_mqtt_publish *pub)
{
    int err = 0;

    pub->qos = (flags >> 1) & 3;
    pub->dup = (flags & 0x08) != 0;
    pub->retain = (flags & 0x01) != 0;
    err = mqtt_str(c, &pub->topic);
    if (err == 0)
        err = pl_mqtt_topic_check(pub->topic.p, pub->topic.len, false);
    if (err == 0 && pub->qos > 0)
        err = mqtt_packet_id(c, &pub->packet_id);
    if (err != 0)
        return err;
    pub->payload.p = c->p + c->off;
    pub->payload.len = mqtt_left(c);
    c->off = c->len;
    return 0;
}

/* SUBSCRIBE (with_qos) or UNSUBSCRIBE: every filter checked now. */
static int mqtt_filters(struct mqtt_cur *c, bool with_qos,
                        struct pl_mqtt_filters *f)
{
    int err = mqtt_packet_id(c, &f->packet_id);

    if (err != 0)
        return err;
    f->with_qos = with_qos;
    f->list = c->p + c->off;
    f->list_len = mqtt_left(c);
    while (mqtt_left(c) > 0) {
        struct pl_mqtt_bytes filter = {0};
        uint8_t qos = 0;

        err = mqtt_str(c, &filter);
        if (err == 0 && with_qos)
            err = mqtt_u8(c, &qos);
        if (err != 0)
            return err;
        if (qos & 0xFC)
            return -PL_MQTT_E_SUB_OPTIONS;
        if (qos == 3)
            return -PL_MQTT_E_QOS;
        err = pl_mqtt_topic_check(filter.p, filter.len, true);
        if (err != 0)
            return err;
        f->count++;
    }
    return f->count > 0 ? 0 : -PL_MQTT_E_NO_FILTERS;
}

int pl_mqtt_decode(const struct pl_mqtt_frame *f, struct pl_mqtt_packet *pkt)
{
    struct mqtt_cur c = {f->body, f->len, 0};
    int err = mqtt_first_byte(f->first);

    memset(pkt, 0, sizeof(*pkt));
    if (err != 0)
        return err;
    pkt->type = (enum pl_mqtt_type)(f->first >> 4);
    switch (pkt->type) {
    case PL_MQTT_CONNECT:
        return mqtt_connect(&c, &pkt->u.connect);
    case PL_MQTT_PUBLISH:
        return mqtt_publish(&c, f->first & 0x0F, &pkt->u.publish);
    case PL_MQTT_PUBACK:
    case PL_MQTT_PUBREC:
    case PL_MQTT_PUBREL:
    case PL_MQTT_PUBCOMP:
        err = mqtt_packet_id(&c, &pkt->u.packet_id);
        return err != 0 ? err : mqtt_end(&c);
    case PL_MQTT_SUBSCRIBE:
        return mqtt_filters(&c, true, &pkt->u.filters);
    case PL_MQTT_UNSUBSCRIBE:
        return mqtt_filters(&c, false, &pkt->u.filters);
    default: /* PINGREQ, DISCONNECT: mqtt_first_byte() let nothing else by */
        return mqtt_end(&c);
    }
}

void pl_mqtt_filters_begin(struct pl_mqtt_filter_iter *it,
                           const struct pl_mqtt_filters *f)
{
    it->f = f;
    it->off = 0;
}

bool pl_mqtt_filters_next(struct pl_mqtt_filter_iter *it,
                          struct pl_mqtt_bytes *filter, uint8_t *qos)
{
    struct mqtt_cur c = {it->f->list, it->f->list_len, it->off};
    uint8_t q = 0;

    /* The list was checked by the decoder; a failure here means the
     * caller's struct is not one pl_mqtt_decode() filled. */
    if (mqtt_left(&c) == 0 || mqtt_bytes(&c, filter) != 0)
        return false;
    if (it->f->with_qos && mqtt_u8(&c, &q) != 0)
        return false;
    if (qos != NULL)
        *qos = q;
    it->off = c.off;
    return true;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                           */
/* ------------------------------------------------------------------ */

/* How many bytes the remaining length rlen takes (1..4), 0 when too big. */
static size_t mqtt_rlen_size(size_t rlen)
{
    if (rlen < 128)
        return 1;
    if (rlen < 16384)
        return 2;
    if (rlen < 2097152)
        return 3;
    if (rlen <= PL_MQTT_RLEN_MAX)
        return 4;
    return 0;
}

/* Writes rlen's bytes (the caller checked the room); returns the count. */
static size_t mqtt_rlen_write(unsigned char *out, size_t rlen)
{
    size_t k = 0;

    do {
        unsigned char b = rlen & 0x7F;

        rlen >>= 7;
        if (rlen > 0)
            b |= 0x80;
        out[k++] = b;
    } while (rlen > 0);
    return k;
}

size_t pl_mqtt_put_rlen(unsigned char *out, size_t cap, uint32_t rlen)
{
    size_t n = mqtt_rlen_size(rlen);

    if (n == 0 || cap < n)
        return n;
    return mqtt_rlen_write(out, rlen);
}

/* A packet of a type byte, a 2-byte remaining length and 2 body bytes. */
static size_t mqtt_put4(unsigned char *out, size_t cap, uint8_t first,
                        uint8_t b0, uint8_t b1)
{
    if (cap >= 4) {
        out[0] = first;
        out[1] = 2;
        out[2] = b0;
        out[3] = b1;
    }
    return 4;
}

size_t pl_mqtt_put_connack(unsigned char *out, size_t cap,
                           bool session_present, uint8_t return_code)
{
    if (return_code > PL_MQTT_CONNACK_NOT_AUTHORIZED)
        return 0;
    if (return_code != PL_MQTT_CONNACK_ACCEPTED)
        session_present = false;
    return mqtt_put4(out, cap, PL_MQTT_CONNACK << 4, session_present ? 1 : 0,
                     return_code);
}

size_t pl_mqtt_put_ack(unsigned char *out, size_t cap, enum pl_mqtt_type type,
                       uint16_t packet_id)
{
    uint8_t first = (uint8_t)(type << 4);

    if (packet_id == 0)
        return 0;
    switch (type) {
    case PL_MQTT_PUBREL:
        first |= 0x02;
        break;
    case PL_MQTT_PUBACK:
    case PL_MQTT_PUBREC:
    case PL_MQTT_PUBCOMP:
        break;
    default:
        return 0;
    }
    return mqtt_put4(out, cap, first, packet_id >> 8, packet_id & 0xFF);
}

size_t pl_mqtt_put_unsuback(unsigned char *out, size_t cap,
                            uint16_t packet_id)
{
    if (packet_id == 0)
        return 0;
    return mqtt_put4(out, cap, PL_MQTT_UNSUBACK << 4, packet_id >> 8,
                     packet_id & 0xFF);
}

size_t pl_mqtt_put_pingresp(unsigned char *out, size_t cap)
{
    if (cap >= 2) {
        out[0] = PL_MQTT_PINGRESP << 4;
        out[1] = 0;
    }
    return 2;
}

size_t pl_mqtt_put_suback(unsigned char *out, size_t cap, uint16_t packet_id,
                          const uint8_t *codes, size_t n)
{
    size_t rlen = 2 + n;
    size_t hdr = 0;
    size_t total = 0;

    if (packet_id == 0 || n == 0 || n > PL_MQTT_RLEN_MAX - 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] > 2 && codes[i] != PL_MQTT_SUBACK_FAILURE)
            return 0;
    }
    hdr = 1 + mqtt_rlen_size(rlen);
    total = hdr + rlen;
    if (cap < total)
        return total;
    out[0] = PL_MQTT_SUBACK << 4;
    mqtt_rlen_write(out + 1, rlen);
    out[hdr] = packet_id >> 8;
    out[hdr + 1] = packet_id & 0xFF;
    memcpy(out + hdr + 2, codes, n);
    return total;
}

size_t pl_mqtt_put_publish_header(unsigned char *out, size_t cap,
                                  const char *topic, size_t topic_len,
                                  uint8_t qos, bool dup, bool retain,
                                  uint16_t packet_id, size_t payload_len)
{
    size_t id_len = qos > 0 ? 2 : 0;
    size_t rlen = 0;
    size_t len = 0;
    unsigned char *w = out;

    if (qos > 2 || (qos == 0) != (packet_id == 0) || (dup && qos == 0))
        return 0;
    if (topic_len == 0 || topic_len > UINT16_MAX ||
        payload_len > PL_MQTT_RLEN_MAX)
        return 0;
    rlen = 2 + topic_len + id_len + payload_len;
    if (mqtt_rlen_size(rlen) == 0)
        return 0;
    len = 1 + mqtt_rlen_size(rlen) + 2 + topic_len + id_len;
    if (cap < len)
        return len;
    *w++ = (unsigned char)(PL_MQTT_PUBLISH << 4 | (dup ? 0x08 : 0) |
                           qos << 1 | (retain ? 0x01 : 0));
    w += mqtt_rlen_write(w, rlen);
    *w++ = (unsigned char)(topic_len >> 8);
    *w++ = topic_len & 0xFF;
    memcpy(w, topic, topic_len);
    w += topic_len;
    if (qos > 0) {
        *w++ = packet_id >> 8;
        *w++ = packet_id & 0xFF;
    }
    return len;
}

size_t pl_mqtt_put_publish(unsigned char *out, size_t cap, const char *topic,
                           size_t topic_len, uint8_t qos, bool dup,
                           bool retain, uint16_t packet_id,
                           const void *payload, size_t payload_len)
{
    size_t hdr = pl_mqtt_put_publish_header(NULL, 0, topic, topic_len, qos,
                                            dup, retain, packet_id,
                                            payload_len);

    if (hdr == 0)
        return 0;
    if (cap < hdr + payload_len)
        return hdr + payload_len;
    pl_mqtt_put_publish_header(out, cap, topic, topic_len, qos, dup, retain,
                               packet_id, payload_len);
    if (payload_len > 0)
        memcpy(out + hdr, payload, payload_len);
    return hdr + payload_len;
}
