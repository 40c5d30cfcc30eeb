/*
 * mqtt.h: an MQTT 3.1.1 codec with no I/O: an incremental reader that cuts
 * a byte stream into packets, a decoder for the packets a client sends,
 * and encoders for the packets a server sends.
 *
 * Usage (one connection):
 *     struct pl_mqtt_reader r;
 *     pl_mqtt_reader_init(&r, 65536 + 512);
 *     while (n > 0) {
 *         struct pl_mqtt_frame f;
 *         struct pl_mqtt_packet pkt;
 *         size_t used = 0;
 *         int rc = pl_mqtt_reader_feed(&r, in, n, &used, &f);
 *         in += used; n -= used;
 *         if (rc < 0) -> close (pl_mqtt_connack_code(rc) says whether a
 *                        CONNACK goes first: it never does here)
 *         if (rc == 0) break;                       // wait for more bytes
 *         rc = pl_mqtt_decode(&f, &pkt);
 *         if (rc < 0) -> pl_mqtt_connack_code(rc), then close
 *         ... use pkt (it points into f, valid until the next feed) ...
 *     }
 *     pl_mqtt_reader_cleanup(&r);
 *
 * Errors are negative PL_MQTT_E_* values. Every one of them means "close
 * the connection" (MQTT 3.1.1 section 4.8); two CONNECT errors first want
 * a CONNACK with a refusal code (pl_mqtt_connack_code()).
 *
 * No globals, any thread; a reader belongs to one thread at a time.
 */
#ifndef PL_MQTT_H
#define PL_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest remaining length four length bytes can say (2^28 - 1). */
#define PL_MQTT_RLEN_MAX 268435455u
/* The largest fixed header: one type byte and four length bytes. */
#define PL_MQTT_FIXED_MAX 5
/* The largest packet the protocol allows, fixed header included. */
#define PL_MQTT_PACKET_MAX (PL_MQTT_RLEN_MAX + PL_MQTT_FIXED_MAX)

/* Control packet types (the high nibble of the first byte). */
enum pl_mqtt_type {
    PL_MQTT_CONNECT = 1,
    PL_MQTT_CONNACK = 2,
    PL_MQTT_PUBLISH = 3,
    PL_MQTT_PUBACK = 4,
    PL_MQTT_PUBREC = 5,
    PL_MQTT_PUBREL = 6,
    PL_MQTT_PUBCOMP = 7,
    PL_MQTT_SUBSCRIBE = 8,
    PL_MQTT_SUBACK = 9,
    PL_MQTT_UNSUBSCRIBE = 10,
    PL_MQTT_UNSUBACK = 11,
    PL_MQTT_PINGREQ = 12,
    PL_MQTT_PINGRESP = 13,
    PL_MQTT_DISCONNECT = 14,
};

/* CONNACK return codes (MQTT 3.1.1 table 3.1). */
enum pl_mqtt_connack_rc {
    PL_MQTT_CONNACK_ACCEPTED = 0,
    PL_MQTT_CONNACK_BAD_PROTOCOL = 1,   /* unacceptable protocol version */
    PL_MQTT_CONNACK_ID_REJECTED = 2,
    PL_MQTT_CONNACK_UNAVAILABLE = 3,
    PL_MQTT_CONNACK_BAD_AUTH = 4,       /* bad user name or password */
    PL_MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* The SUBACK return code of a refused subscription. */
#define PL_MQTT_SUBACK_FAILURE 0x80

/*
 * Why a stream or a packet was refused. Functions return them negated.
 * Each names one rule of MQTT 3.1.1 (the section in the comment; the
 * fixed-header flags are 2.2.2, the topic name rules also 3.3.2-2).
 */
enum pl_mqtt_err {
    PL_MQTT_OK = 0,
    PL_MQTT_E_RLEN,           /* remaining length needs a 5th byte (2.2.3) */
    PL_MQTT_E_TOO_LARGE,      /* packet over the reader's max_packet */
    PL_MQTT_E_TYPE,           /* type 0 or 15, or one only a server sends */
    PL_MQTT_E_FLAGS,          /* fixed-header flags wrong for the type */
    PL_MQTT_E_SHORT,          /* the packet ends inside a field */
    PL_MQTT_E_LONG,           /* bytes after the packet's last field */
    PL_MQTT_E_UTF8,           /* a string not UTF-8 or with U+0000 (1.5.3) */
    PL_MQTT_E_PROTOCOL_NAME,  /* CONNECT names neither MQTT nor MQIsdp */
    PL_MQTT_E_PROTOCOL_LEVEL, /* MQIsdp, or MQTT at a level other than 4 */
    PL_MQTT_E_CONNECT_RESERVED, /* CONNECT flag bit 0 set (3.1.2-3) */
    PL_MQTT_E_WILL_FLAGS,     /* will QoS/retain without will, or QoS 3 */
    PL_MQTT_E_PASSWORD_FLAG,  /* password flag without user name (3.1.2-22) */
    PL_MQTT_E_CLIENT_ID,      /* empty client id, clean session 0 (3.1.3-8) */
    PL_MQTT_E_TOPIC,          /* topic name empty or with a wildcard (4.7) */
    PL_MQTT_E_FILTER,         /* filter empty or a misplaced wildcard (4.7) */
    PL_MQTT_E_QOS,            /* QoS 3 in PUBLISH, or asked for in SUBSCRIBE */
    PL_MQTT_E_DUP_QOS0,       /* DUP set on a QoS 0 PUBLISH (3.3.1-2) */
    PL_MQTT_E_PACKET_ID,      /* packet identifier 0 (2.3.1-1) */
    PL_MQTT_E_NO_FILTERS,     /* SUBSCRIBE/UNSUBSCRIBE without a filter */
    PL_MQTT_E_SUB_OPTIONS,    /* reserved bits set in a requested QoS byte */
    PL_MQTT_E_NOMEM,          /* the reader could not buffer the packet */
    PL_MQTT_E__COUNT
};

/* A short static description of an error (either sign); never NULL. */
const char *pl_mqtt_strerror(int err);

/* The CONNACK return code to send before closing after err (either sign):
 * 1 for PL_MQTT_E_PROTOCOL_LEVEL, 2 for PL_MQTT_E_CLIENT_ID, and 0 for
 * every other error, which closes without a CONNACK. */
int pl_mqtt_connack_code(int err);

/* ------------------------------------------------------------------ */
/* Reading a stream                                                   */
/* ------------------------------------------------------------------ */

/* One whole packet cut from the stream. body is borrowed: valid until the
 * next pl_mqtt_reader_feed() or pl_mqtt_reader_cleanup(). */
struct pl_mqtt_frame {
    uint8_t first;             /* type << 4 | flags */
    const unsigned char *body; /* the remaining length's bytes */
    size_t len;
};

struct pl_mqtt_reader {
    size_t max_packet;   /* whole packet, fixed header included */
    uint8_t first;       /* the current packet's first byte */
    uint8_t hdr_len;     /* fixed-header bytes read so far (0..5) */
    bool rlen_done;      /* the remaining length is known */
    uint32_t rlen;       /* remaining length so far / in all */
    unsigned char *buf;  /* the body of a packet split across feeds; owned */
    size_t cap;
    size_t have;         /* body bytes in buf */
    int err;             /* sticky: the first error, negated */
};

/* Starts a reader refusing packets over max_packet bytes (fixed header
 * included; 0 or more than PL_MQTT_PACKET_MAX means PL_MQTT_PACKET_MAX).
 * Allocates nothing. */
void pl_mqtt_reader_init(struct pl_mqtt_reader *r, size_t max_packet);
void pl_mqtt_reader_cleanup(struct pl_mqtt_reader *r);

/*
 * Feeds in[0..n). Consumes bytes up to the end of the first packet that
 * completes, and sets *used to how many it consumed. Returns 1 with *out
 * set when a packet is complete, 0 when all n bytes were consumed and the
 * packet is not complete yet, or a negative PL_MQTT_E_* (then the stream
 * is dead: every later call returns the same error). Type and flags are
 * judged at the first byte and the size as soon as the length is known,
 * so a refused packet's body is never buffered. A packet that arrives
 * whole in one feed is not copied: out->body points into in.
 */
int pl_mqtt_reader_feed(struct pl_mqtt_reader *r, const void *in, size_t n,
                        size_t *used, struct pl_mqtt_frame *out);

/* ------------------------------------------------------------------ */
/* Decoding a packet                                                  */
/* ------------------------------------------------------------------ */

/* A length-prefixed field, pointing into the frame's body (not NUL-
 * terminated). p is NULL only when the field is absent. */
struct pl_mqtt_bytes {
    const unsigned char *p;
    size_t len;
};

struct pl_mqtt_connect {
    uint8_t level;               /* 4 */
    bool clean_session;
    uint16_t keepalive;          /* seconds; 0 turns it off */
    struct pl_mqtt_bytes client_id; /* may be empty (then clean_session) */
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct pl_mqtt_bytes will_topic;   /* valid topic name when will */
    struct pl_mqtt_bytes will_message; /* binary */
    bool has_username;
    struct pl_mqtt_bytes username;     /* UTF-8 */
    bool has_password;
    struct pl_mqtt_bytes password;     /* binary */
};

struct pl_mqtt_publish {
    uint8_t qos;
    bool dup;
    bool retain;
    uint16_t packet_id;          /* 0 at QoS 0 */
    struct pl_mqtt_bytes topic;  /* valid topic name */
    struct pl_mqtt_bytes payload;
};

/* SUBSCRIBE and UNSUBSCRIBE: the filters are validated when the packet is
 * decoded and read with pl_mqtt_filters_next(), allocation-free. */
struct pl_mqtt_filters {
    uint16_t packet_id;
    unsigned count;              /* >= 1 */
    bool with_qos;               /* SUBSCRIBE: each filter has a QoS byte */
    const unsigned char *list;   /* the payload */
    size_t list_len;
};

struct pl_mqtt_packet {
    enum pl_mqtt_type type;
    union {
        struct pl_mqtt_connect connect;
        struct pl_mqtt_publish publish;
        struct pl_mqtt_filters filters; /* SUBSCRIBE, UNSUBSCRIBE */
        uint16_t packet_id;             /* PUBACK, PUBREC, PUBREL, PUBCOMP */
    } u;                                /* PINGREQ, DISCONNECT: nothing */
};

/*
 * Decodes one packet a client sends (CONNECT, PUBLISH, PUBACK, PUBREC,
 * PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT). Returns
 * 0 with *pkt filled (pointing into f->body, so valid as long as it is),
 * or a negative PL_MQTT_E_*. Pure: no allocation.
 */
int pl_mqtt_decode(const struct pl_mqtt_frame *f, struct pl_mqtt_packet *pkt);

/* Cursor over a decoded SUBSCRIBE or UNSUBSCRIBE. */
struct pl_mqtt_filter_iter {
    const struct pl_mqtt_filters *f;
    size_t off;
};

void pl_mqtt_filters_begin(struct pl_mqtt_filter_iter *it,
                           const struct pl_mqtt_filters *f);
/* The next filter and (SUBSCRIBE) its requested QoS; false after the last. */
bool pl_mqtt_filters_next(struct pl_mqtt_filter_iter *it,
                          struct pl_mqtt_bytes *filter, uint8_t *qos);

/* MQTT's rules (1.5.3, 4.7) for a topic name (wildcards false) or a topic
 * filter (true): 1..65535 bytes of UTF-8 without U+0000; '+' a whole
 * level, '#' the whole last level; a name holds neither. Parley's own
 * topic rules (protocol/topic.h) are stricter; the listener applies them
 * on top. Returns 0, -PL_MQTT_E_UTF8, -PL_MQTT_E_TOPIC or -PL_MQTT_E_FILTER. */
int pl_mqtt_topic_check(const unsigned char *t, size_t len, bool wildcards);

/* ------------------------------------------------------------------ */
/* Encoding                                                           */
/* ------------------------------------------------------------------ */

/*
 * Every encoder writes into out[0..cap) and returns the packet's length.
 * When cap is smaller, nothing is written: call with cap 0 to size a
 * packet. A return of 0 means the arguments cannot make a packet (a
 * remaining length over PL_MQTT_RLEN_MAX, a QoS over 2, ...).
 */

/* Writes the remaining-length bytes of rlen (1..4); 0 when too large. */
size_t pl_mqtt_put_rlen(unsigned char *out, size_t cap, uint32_t rlen);

/* CONNACK. session_present is sent only with return code 0 (3.2.2-4). */
size_t pl_mqtt_put_connack(unsigned char *out, size_t cap,
                           bool session_present, uint8_t return_code);

/* PUBACK, PUBREC, PUBREL (flags 0010) or PUBCOMP; 4 bytes. */
size_t pl_mqtt_put_ack(unsigned char *out, size_t cap, enum pl_mqtt_type type,
                       uint16_t packet_id);

/* SUBACK with one return code per filter (0, 1, 2 or 0x80). */
size_t pl_mqtt_put_suback(unsigned char *out, size_t cap, uint16_t packet_id,
                          const uint8_t *codes, size_t n);

size_t pl_mqtt_put_unsuback(unsigned char *out, size_t cap,
                            uint16_t packet_id);

size_t pl_mqtt_put_pingresp(unsigned char *out, size_t cap);

/*
 * Everything of a PUBLISH but its payload: fixed header, topic and (QoS
 * 1, 2) the packet id. The topic is not checked (the hub's topics are
 * valid); only its length (1..65535). The payload follows as is, so one payload can be
 * shared by many deliveries that differ only in this header (packet ids
 * are per subscriber). packet_id must be 0 at QoS 0 and not 0 above.
 */
size_t pl_mqtt_put_publish_header(unsigned char *out, size_t cap,
                                  const char *topic, size_t topic_len,
                                  uint8_t qos, bool dup, bool retain,
                                  uint16_t packet_id, size_t payload_len);

/* A whole PUBLISH: the header above followed by the payload. */
size_t pl_mqtt_put_publish(unsigned char *out, size_t cap, const char *topic,
                           size_t topic_len, uint8_t qos, bool dup,
                           bool retain, uint16_t packet_id,
                           const void *payload, size_t payload_len);

#endif
