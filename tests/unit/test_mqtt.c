/*
 * test_mqtt.c: unit tests of protocol/mqtt.c, the MQTT 3.1.1 codec.
 *
 * The main table lists packets (in hex) with the verdict the reader and
 * decoder must reach together: a packet type, an error, or "needs more
 * bytes". Every row is fed three ways (whole, one byte at a time, and cut
 * in two at every position), and all three must agree, so the reader's
 * incremental paths are proved by the same rows. Further tests check the
 * decoded fields, the reader's buffering and size bound, and the exact
 * bytes of every encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt.h"
#include "topic.h"

#define RAW -1      /* the row's hex is the whole stream */
#define MORE 1000   /* the verdict: the stream ends inside a packet */
#define MAX_DEFAULT 1024

struct row {
    const char *name;
    int first;          /* first byte, the remaining length computed; RAW */
    const char *hex;    /* body (or the whole stream with RAW) */
    size_t max;         /* reader bound; 0: MAX_DEFAULT */
    int want;           /* a packet type, -PL_MQTT_E_*, or MORE */
};

/* "MQTT" level 4 */
#define MQTT4 "0004 4d515454 04 "
#define AB "0003 612f62 "   /* "a/b" */

static const struct row rows[] = {
    /* CONNECT */
    {"connect", 0x10, MQTT4 "02 003c 0001 61", 0, PL_MQTT_CONNECT},
    {"connect keepalive 0", 0x10, MQTT4 "02 0000 0001 61", 0,
     PL_MQTT_CONNECT},
    {"connect empty id, clean", 0x10, MQTT4 "02 003c 0000", 0,
     PL_MQTT_CONNECT},
    {"connect empty id, not clean", 0x10, MQTT4 "00 003c 0000", 0,
     -PL_MQTT_E_CLIENT_ID},
    {"connect id, not clean", 0x10, MQTT4 "00 003c 0001 61", 0,
     PL_MQTT_CONNECT},
    {"connect MQIsdp 3", 0x10, "0006 4d5149736470 03 02 003c 0001 61", 0,
     -PL_MQTT_E_PROTOCOL_LEVEL},
    {"connect MQTT 3", 0x10, "0004 4d515454 03 02 003c 0001 61", 0,
     -PL_MQTT_E_PROTOCOL_LEVEL},
    {"connect MQTT 5 (properties follow)", 0x10,
     "0004 4d515454 05 02 003c 00 0001 61", 0, -PL_MQTT_E_PROTOCOL_LEVEL},
    {"connect MQTT 5, cut after the level", 0x10, "0004 4d515454 05", 0,
     -PL_MQTT_E_PROTOCOL_LEVEL},
    {"connect name MQTX", 0x10, "0004 4d515458 04 02 003c 0001 61", 0,
     -PL_MQTT_E_PROTOCOL_NAME},
    {"connect name lower case", 0x10, "0004 6d717474 04 02 003c 0001 61", 0,
     -PL_MQTT_E_PROTOCOL_NAME},
    {"connect name empty", 0x10, "0000 04 02 003c 0001 61", 0,
     -PL_MQTT_E_PROTOCOL_NAME},
    {"connect reserved flag", 0x10, MQTT4 "03 003c 0001 61", 0,
     -PL_MQTT_E_CONNECT_RESERVED},
    {"connect will QoS without will", 0x10, MQTT4 "0a 003c 0001 61", 0,
     -PL_MQTT_E_WILL_FLAGS},
    {"connect will retain without will", 0x10, MQTT4 "22 003c 0001 61", 0,
     -PL_MQTT_E_WILL_FLAGS},
    {"connect will QoS 3", 0x10, MQTT4 "1e 003c 0001 61" AB "0000", 0,
     -PL_MQTT_E_WILL_FLAGS},
    {"connect will", 0x10, MQTT4 "2e 003c 0001 61" AB "0002 6869", 0,
     PL_MQTT_CONNECT},
    {"connect will, empty message", 0x10, MQTT4 "06 003c 0001 61" AB "0000",
     0, PL_MQTT_CONNECT},
    {"connect will topic wildcard", 0x10,
     MQTT4 "06 003c 0001 61 0003 612f23 0000", 0, -PL_MQTT_E_TOPIC},
    {"connect will topic empty", 0x10, MQTT4 "06 003c 0001 61 0000 0000", 0,
     -PL_MQTT_E_TOPIC},
    {"connect will topic missing", 0x10, MQTT4 "06 003c 0001 61", 0,
     -PL_MQTT_E_SHORT},
    {"connect will message missing", 0x10, MQTT4 "06 003c 0001 61" AB, 0,
     -PL_MQTT_E_SHORT},
    {"connect password without user", 0x10, MQTT4 "42 003c 0001 61 0001 70",
     0, -PL_MQTT_E_PASSWORD_FLAG},
    {"connect user and binary password", 0x10,
     MQTT4 "c2 003c 0001 61 0001 75 0002 00ff", 0, PL_MQTT_CONNECT},
    {"connect user, empty password", 0x10,
     MQTT4 "c2 003c 0001 61 0001 75 0000", 0, PL_MQTT_CONNECT},
    {"connect user only", 0x10, MQTT4 "82 003c 0001 61 0001 75", 0,
     PL_MQTT_CONNECT},
    {"connect empty user", 0x10, MQTT4 "82 003c 0001 61 0000", 0,
     PL_MQTT_CONNECT},
    {"connect binary will message", 0x10,
     MQTT4 "06 003c 0001 61" AB "0003 00ff80", 0, PL_MQTT_CONNECT},
    {"connect will topic not UTF-8", 0x10, MQTT4 "06 003c 0001 61 0001 ff 0000",
     0, -PL_MQTT_E_UTF8},
    {"connect 23-character id", 0x10,
     MQTT4 "02 003c 0017 4142434445464748494a4b4c4d4e4f5051525354555657", 0,
     PL_MQTT_CONNECT},
    {"connect will, password flag alone", 0x10,
     MQTT4 "46 003c 0001 61" AB "0000 0001 70", 0, -PL_MQTT_E_PASSWORD_FLAG},
    {"connect user missing", 0x10, MQTT4 "82 003c 0001 61", 0,
     -PL_MQTT_E_SHORT},
    {"connect password missing", 0x10, MQTT4 "c2 003c 0001 61 0001 75", 0,
     -PL_MQTT_E_SHORT},
    {"connect user not UTF-8", 0x10, MQTT4 "82 003c 0001 61 0002 c0af", 0,
     -PL_MQTT_E_UTF8},
    {"connect id holds NUL", 0x10, MQTT4 "02 003c 0002 6100", 0,
     -PL_MQTT_E_UTF8},
    {"connect id surrogate", 0x10, MQTT4 "02 003c 0003 eda080", 0,
     -PL_MQTT_E_UTF8},
    {"connect id UTF-8", 0x10, MQTT4 "02 003c 0004 f09f9880", 0,
     PL_MQTT_CONNECT},
    {"connect malformed beats id rule", 0x10, MQTT4 "00 003c 0000 00", 0,
     -PL_MQTT_E_LONG},
    {"connect trailing byte", 0x10, MQTT4 "02 003c 0001 61 00", 0,
     -PL_MQTT_E_LONG},
    {"connect id longer than the body", 0x10, MQTT4 "02 003c 0005 61", 0,
     -PL_MQTT_E_SHORT},
    {"connect cut in the name", 0x10, "0004 4d51", 0, -PL_MQTT_E_SHORT},
    {"connect cut in the keepalive", 0x10, MQTT4 "02 00", 0,
     -PL_MQTT_E_SHORT},
    {"connect empty", 0x10, "", 0, -PL_MQTT_E_SHORT},
    {"connect flags in the fixed header", 0x11, MQTT4 "02 003c 0001 61", 0,
     -PL_MQTT_E_FLAGS},

    /* PUBLISH */
    {"publish QoS 0", 0x30, AB "6869", 0, PL_MQTT_PUBLISH},
    {"publish QoS 0 empty payload", 0x30, AB, 0, PL_MQTT_PUBLISH},
    {"publish QoS 0 retain", 0x31, AB "6869", 0, PL_MQTT_PUBLISH},
    {"publish QoS 1", 0x32, AB "0001 6869", 0, PL_MQTT_PUBLISH},
    {"publish QoS 1 dup", 0x3a, AB "0001 6869", 0, PL_MQTT_PUBLISH},
    {"publish QoS 2 dup retain", 0x3d, AB "ffff 6869", 0, PL_MQTT_PUBLISH},
    {"publish QoS 3", 0x36, AB "0001", 0, -PL_MQTT_E_QOS},
    {"publish QoS 3 dup retain", 0x3f, AB "0001", 0, -PL_MQTT_E_QOS},
    {"publish dup at QoS 0", 0x38, AB "6869", 0, -PL_MQTT_E_DUP_QOS0},
    {"publish QoS 1 id 0", 0x32, AB "0000 6869", 0, -PL_MQTT_E_PACKET_ID},
    {"publish QoS 2 id 0", 0x34, AB "0000", 0, -PL_MQTT_E_PACKET_ID},
    {"publish QoS 1 no id", 0x32, AB, 0, -PL_MQTT_E_SHORT},
    {"publish QoS 1 half an id", 0x32, AB "00", 0, -PL_MQTT_E_SHORT},
    {"publish topic +", 0x30, "0003 612f2b", 0, -PL_MQTT_E_TOPIC},
    {"publish topic #", 0x30, "0001 23", 0, -PL_MQTT_E_TOPIC},
    {"publish topic a+b", 0x30, "0003 612b62", 0, -PL_MQTT_E_TOPIC},
    {"publish topic empty", 0x30, "0000 6869", 0, -PL_MQTT_E_TOPIC},
    {"publish topic holds NUL", 0x30, "0003 610062", 0, -PL_MQTT_E_UTF8},
    {"publish topic bad UTF-8", 0x30, "0002 c328", 0, -PL_MQTT_E_UTF8},
    {"publish topic overlong", 0x30, "0002 c0af", 0, -PL_MQTT_E_UTF8},
    {"publish topic surrogate", 0x30, "0003 eda080", 0, -PL_MQTT_E_UTF8},
    {"publish topic above U+10FFFF", 0x30, "0004 f4908080", 0,
     -PL_MQTT_E_UTF8},
    {"publish topic cut UTF-8", 0x30, "0002 e282", 0, -PL_MQTT_E_UTF8},
    {"publish topic longer than the body", 0x30, "0005 6162", 0,
     -PL_MQTT_E_SHORT},
    {"publish topic half a length", 0x30, "00", 0, -PL_MQTT_E_SHORT},
    {"publish empty body", 0x30, "", 0, -PL_MQTT_E_SHORT},
    {"publish topic /", 0x30, "0001 2f", 0, PL_MQTT_PUBLISH},
    {"publish topic a//b", 0x30, "0004 612f2f62", 0, PL_MQTT_PUBLISH},
    {"publish topic $SYS/x", 0x30, "0006 245359532f78", 0, PL_MQTT_PUBLISH},
    {"publish binary payload", 0x30, AB "00ff80fe", 0, PL_MQTT_PUBLISH},

    /* PUBACK, PUBREC, PUBREL, PUBCOMP */
    {"puback", 0x40, "0001", 0, PL_MQTT_PUBACK},
    {"puback id 0", 0x40, "0000", 0, -PL_MQTT_E_PACKET_ID},
    {"puback short", 0x40, "00", 0, -PL_MQTT_E_SHORT},
    {"puback empty", 0x40, "", 0, -PL_MQTT_E_SHORT},
    {"puback long", 0x40, "000100", 0, -PL_MQTT_E_LONG},
    {"puback flags", 0x42, "0001", 0, -PL_MQTT_E_FLAGS},
    {"pubrec", 0x50, "ffff", 0, PL_MQTT_PUBREC},
    {"pubrec flags", 0x52, "0001", 0, -PL_MQTT_E_FLAGS},
    {"pubrel", 0x62, "0001", 0, PL_MQTT_PUBREL},
    {"pubrel flags 0000", 0x60, "0001", 0, -PL_MQTT_E_FLAGS},
    {"pubrel flags 0011", 0x63, "0001", 0, -PL_MQTT_E_FLAGS},
    {"pubrel long", 0x62, "000102", 0, -PL_MQTT_E_LONG},
    {"pubcomp", 0x70, "0001", 0, PL_MQTT_PUBCOMP},
    {"pubcomp flags", 0x72, "0001", 0, -PL_MQTT_E_FLAGS},

    /* SUBSCRIBE */
    {"subscribe", 0x82, "0001" AB "01", 0, PL_MQTT_SUBSCRIBE},
    {"subscribe three", 0x82, "0001 0001 23 02 0005 2b2f2b2f23 00" AB "01",
     0, PL_MQTT_SUBSCRIBE},
    {"subscribe $SYS/#", 0x82, "0001 0006 245359532f23 00", 0,
     PL_MQTT_SUBSCRIBE},
    {"subscribe +", 0x82, "0001 0001 2b 00", 0, PL_MQTT_SUBSCRIBE},
    {"subscribe /", 0x82, "0001 0001 2f 00", 0, PL_MQTT_SUBSCRIBE},
    {"subscribe flags 0000", 0x80, "0001" AB "01", 0, -PL_MQTT_E_FLAGS},
    {"subscribe flags 0011", 0x83, "0001" AB "01", 0, -PL_MQTT_E_FLAGS},
    {"subscribe no filter", 0x82, "0001", 0, -PL_MQTT_E_NO_FILTERS},
    {"subscribe no id", 0x82, "", 0, -PL_MQTT_E_SHORT},
    {"subscribe id 0", 0x82, "0000" AB "01", 0, -PL_MQTT_E_PACKET_ID},
    {"subscribe QoS 3", 0x82, "0001" AB "03", 0, -PL_MQTT_E_QOS},
    {"subscribe reserved bits", 0x82, "0001" AB "04", 0,
     -PL_MQTT_E_SUB_OPTIONS},
    {"subscribe reserved high bit", 0x82, "0001" AB "81", 0,
     -PL_MQTT_E_SUB_OPTIONS},
    {"subscribe QoS byte missing", 0x82, "0001" AB, 0, -PL_MQTT_E_SHORT},
    {"subscribe second QoS missing", 0x82, "0001" AB "01" AB, 0,
     -PL_MQTT_E_SHORT},
    {"subscribe filter a/#/b", 0x82, "0001 0005 612f232f62 00", 0,
     -PL_MQTT_E_FILTER},
    {"subscribe filter a#", 0x82, "0001 0002 6123 00", 0, -PL_MQTT_E_FILTER},
    {"subscribe filter a/b#", 0x82, "0001 0004 612f6223 00", 0,
     -PL_MQTT_E_FILTER},
    {"subscribe filter ##", 0x82, "0001 0002 2323 00", 0, -PL_MQTT_E_FILTER},
    {"subscribe filter a+/b", 0x82, "0001 0004 612b2f62 00", 0,
     -PL_MQTT_E_FILTER},
    {"subscribe filter +a", 0x82, "0001 0002 2b61 00", 0, -PL_MQTT_E_FILTER},
    {"subscribe filter empty", 0x82, "0001 0000 00", 0, -PL_MQTT_E_FILTER},
    {"subscribe filter NUL", 0x82, "0001 0002 6100 00", 0, -PL_MQTT_E_UTF8},
    {"subscribe filter bad UTF-8", 0x82, "0001 0001 ff 00", 0,
     -PL_MQTT_E_UTF8},

    /* UNSUBSCRIBE */
    {"unsubscribe", 0xa2, "0002" AB, 0, PL_MQTT_UNSUBSCRIBE},
    {"unsubscribe two", 0xa2, "0002" AB "0001 23", 0, PL_MQTT_UNSUBSCRIBE},
    {"unsubscribe flags", 0xa0, "0002" AB, 0, -PL_MQTT_E_FLAGS},
    {"unsubscribe no filter", 0xa2, "0002", 0, -PL_MQTT_E_NO_FILTERS},
    {"unsubscribe id 0", 0xa2, "0000" AB, 0, -PL_MQTT_E_PACKET_ID},
    {"unsubscribe filter bad", 0xa2, "0002 0002 2361", 0, -PL_MQTT_E_FILTER},
    {"unsubscribe filter cut", 0xa2, "0002 0003 61", 0, -PL_MQTT_E_SHORT},

    /* PINGREQ, DISCONNECT */
    {"pingreq", 0xc0, "", 0, PL_MQTT_PINGREQ},
    {"pingreq long", 0xc0, "00", 0, -PL_MQTT_E_LONG},
    {"pingreq flags", 0xc1, "", 0, -PL_MQTT_E_FLAGS},
    {"disconnect", 0xe0, "", 0, PL_MQTT_DISCONNECT},
    {"disconnect long", 0xe0, "00", 0, -PL_MQTT_E_LONG},
    {"disconnect flags", 0xe2, "", 0, -PL_MQTT_E_FLAGS},

    /* types a client never sends */
    {"type 0", 0x00, "", 0, -PL_MQTT_E_TYPE},
    {"type 15", 0xf0, "", 0, -PL_MQTT_E_TYPE},
    {"connack from a client", 0x20, "0000", 0, -PL_MQTT_E_TYPE},
    {"suback from a client", 0x90, "000100", 0, -PL_MQTT_E_TYPE},
    {"unsuback from a client", 0xb0, "0001", 0, -PL_MQTT_E_TYPE},
    {"pingresp from a client", 0xd0, "", 0, -PL_MQTT_E_TYPE},

    /* the stream: remaining length, size bound, truncation */
    {"5th length byte", RAW, "30 ff ff ff ff 7f", 0, -PL_MQTT_E_RLEN},
    {"5 continuation bytes", RAW, "30 80 80 80 80 00", 0, -PL_MQTT_E_RLEN},
    {"4 length bytes, over the bound", RAW, "30 ff ff ff 7f", 0,
     -PL_MQTT_E_TOO_LARGE},
    {"4 length bytes, protocol maximum", RAW, "30 ff ff ff 7f",
     PL_MQTT_PACKET_MAX, MORE},
    {"bound + 1", RAW, "30 0f 0003 612f62 00000000000000000000", 16,
     -PL_MQTT_E_TOO_LARGE},
    {"bound exactly", RAW, "30 0e 0003 612f62 000000000000000000", 16,
     PL_MQTT_PUBLISH},
    {"non-minimal length accepted", RAW, "c0 80 00", 0, PL_MQTT_PINGREQ},
    {"non-minimal 4-byte length", RAW, "c0 80 80 80 00", 0,
     PL_MQTT_PINGREQ},
    {"type judged before the length", RAW, "f0", 0, -PL_MQTT_E_TYPE},
    {"flags judged before the length", RAW, "c1", 0, -PL_MQTT_E_FLAGS},
    {"QoS 3 judged before the length", RAW, "36", 0, -PL_MQTT_E_QOS},
    {"empty stream", RAW, "", 0, MORE},
    {"first byte only", RAW, "30", 0, MORE},
    {"cut in the length", RAW, "30 80", 0, MORE},
    {"cut in the body", RAW, "30 05 0003 61", 0, MORE},
    {"cut, a byte short", RAW, "30 07 0003 612f62 68", 0, MORE},
    {"error after a good packet", RAW, "c0 00 f0", 0, PL_MQTT_PINGREQ},
};

/* Parses hex digits (spaces ignored) into a new buffer; returns its length. */
static size_t unhex(const char *hex, unsigned char **out)
{
    size_t n = strlen(hex);
    unsigned char *b = malloc(n / 2 + 8);
    size_t k = 0;
    int hi = -1;

    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        char c = hex[i];

        if (c == ' ')
            continue;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else
            fail_msg("bad hex digit '%c' in \"%s\"", c, hex);
        if (hi < 0) {
            hi = v;
        } else {
            b[k++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0)
        fail_msg("odd number of hex digits in \"%s\"", hex);
    *out = b;
    return k;
}

/* The row's whole stream: RAW as is, else first byte + length + body. */
static size_t row_stream(const struct row *r, unsigned char **out)
{
    unsigned char *body = NULL;
    size_t n = unhex(r->hex, &body);
    unsigned char *s = NULL;
    size_t k = 0;

    if (r->first == RAW) {
        *out = body;
        return n;
    }
    s = malloc(n + PL_MQTT_FIXED_MAX);
    assert_non_null(s);
    s[k++] = (unsigned char)r->first;
    k += pl_mqtt_put_rlen(s + k, 4, (uint32_t)n);
    memcpy(s + k, body, n);
    free(body);
    *out = s;
    return k + n;
}

/*
 * Feeds s[0..n) in pieces of `step` bytes (0: whole), except that the
 * first piece is `cut` bytes when cut > 0. Returns the verdict of the
 * first packet (type, -error or MORE) and, for a packet, how many bytes
 * the reader consumed to reach it.
 */
static int run(const unsigned char *s, size_t n, size_t max, size_t step,
               size_t cut, size_t *consumed)
{
    struct pl_mqtt_reader r;
    struct pl_mqtt_frame f;
    struct pl_mqtt_packet pkt;
    size_t off = 0;
    int verdict = MORE;

    pl_mqtt_reader_init(&r, max != 0 ? max : MAX_DEFAULT);
    while (off < n || (off == 0 && n == 0)) {
        size_t piece = step == 0 ? n - off : step;
        size_t used = 0;
        int rc;

        if (cut > 0 && off == 0)
            piece = cut;
        if (piece > n - off)
            piece = n - off;
        rc = pl_mqtt_reader_feed(&r, s + off, piece, &used, &f);
        assert_true(used <= piece);
        off += used;
        if (rc < 0) {
            verdict = rc;
            /* a dead reader stays dead */
            assert_int_equal(pl_mqtt_reader_feed(&r, s, n, &used, &f), rc);
            assert_int_equal(used, 0);
            break;
        }
        if (rc == 1) {
            rc = pl_mqtt_decode(&f, &pkt);
            verdict = rc < 0 ? rc : (int)pkt.type;
            if (rc == 0)
                assert_int_equal(pkt.type, f.first >> 4);
            break;
        }
        assert_int_equal(used, piece); /* "need more" eats everything */
        if (n == 0)
            break;
    }
    *consumed = off;
    pl_mqtt_reader_cleanup(&r);
    return verdict;
}

static const char *verdict_name(int v)
{
    static char buf[64];

    if (v == MORE)
        return "MORE";
    if (v < 0)
        return pl_mqtt_strerror(v);
    snprintf(buf, sizeof(buf), "type %d", v);
    return buf;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        unsigned char *s = NULL;
        size_t n = row_stream(r, &s);
        size_t whole_used = 0;
        size_t used = 0;
        int whole = run(s, n, r->max, 0, 0, &whole_used);
        int v = 0;

        if (whole != r->want)
            fail_msg("row '%s': got %s, want %s", r->name,
                     verdict_name(whole), verdict_name(r->want));
        v = run(s, n, r->max, 1, 0, &used);
        if (v != whole || used != whole_used)
            fail_msg("row '%s' byte by byte: got %s after %zu bytes, "
                     "whole: %s after %zu", r->name, verdict_name(v), used,
                     verdict_name(whole), whole_used);
        for (size_t cut = 1; cut < n; cut++) {
            v = run(s, n, r->max, 0, cut, &used);
            if (v != whole || used != whole_used)
                fail_msg("row '%s' cut at %zu: got %s, whole: %s", r->name,
                         cut, verdict_name(v), verdict_name(whole));
        }
        free(s);
    }
}

/* Every error has its own text, and only two earn a CONNACK. */
static void test_errors(void **state)
{
    (void)state;
    for (int e = 1; e < PL_MQTT_E__COUNT; e++) {
        const char *t = pl_mqtt_strerror(-e);

        assert_non_null(t);
        assert_string_equal(t, pl_mqtt_strerror(e));
        assert_string_not_equal(t, "unknown MQTT error");
        for (int d = 1; d < e; d++)
            assert_string_not_equal(t, pl_mqtt_strerror(-d));
        if (e == PL_MQTT_E_PROTOCOL_LEVEL)
            assert_int_equal(pl_mqtt_connack_code(-e), 1);
        else if (e == PL_MQTT_E_CLIENT_ID)
            assert_int_equal(pl_mqtt_connack_code(-e), 2);
        else
            assert_int_equal(pl_mqtt_connack_code(-e), 0);
    }
    assert_string_equal(pl_mqtt_strerror(-PL_MQTT_E__COUNT),
                        "unknown MQTT error");
}

/* Decodes the row-style packet first + body; asserts success. */
static unsigned char *decode_ok(int first, const char *hex,
                                struct pl_mqtt_packet *pkt)
{
    struct pl_mqtt_frame f;
    unsigned char *body = NULL;
    size_t n = unhex(hex, &body);
    int rc;

    f.first = (uint8_t)first;
    f.body = body;
    f.len = n;
    rc = pl_mqtt_decode(&f, pkt);
    if (rc != 0)
        fail_msg("decode %02x %s: %s", first, hex, pl_mqtt_strerror(rc));
    return body;
}

static void assert_bytes(struct pl_mqtt_bytes b, const char *want,
                         size_t want_len)
{
    assert_non_null(b.p);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.p, want, want_len);
}

static void test_connect_fields(void **state)
{
    struct pl_mqtt_packet pkt;
    unsigned char *body = NULL;
    const struct pl_mqtt_connect *c = &pkt.u.connect;

    (void)state;
    /* user, password, will QoS 2 retained, clean, keepalive 300 */
    body = decode_ok(0x10,
                     MQTT4 "f6 012c 0003 646576" AB "0002 6869 0001 75 "
                           "0003 00ff70",
                     &pkt);
    assert_int_equal(pkt.type, PL_MQTT_CONNECT);
    assert_int_equal(c->level, 4);
    assert_true(c->clean_session);
    assert_int_equal(c->keepalive, 300);
    assert_bytes(c->client_id, "dev", 3);
    assert_true(c->will);
    assert_int_equal(c->will_qos, 2);
    assert_true(c->will_retain);
    assert_bytes(c->will_topic, "a/b", 3);
    assert_bytes(c->will_message, "hi", 2);
    assert_true(c->has_username);
    assert_bytes(c->username, "u", 1);
    assert_true(c->has_password);
    assert_bytes(c->password, "\0\xffp", 3);
    free(body);

    /* the bare minimum: persistent session, no will, no credentials */
    body = decode_ok(0x10, MQTT4 "00 0000 0001 78", &pkt);
    assert_false(c->clean_session);
    assert_int_equal(c->keepalive, 0);
    assert_false(c->will);
    assert_null(c->will_topic.p);
    assert_false(c->has_username);
    assert_null(c->username.p);
    assert_false(c->has_password);
    free(body);
}

static void test_publish_fields(void **state)
{
    struct pl_mqtt_packet pkt;
    unsigned char *body = NULL;
    const struct pl_mqtt_publish *p = &pkt.u.publish;

    (void)state;
    body = decode_ok(0x3d, AB "1234 00ff", &pkt);
    assert_int_equal(p->qos, 2);
    assert_true(p->dup);
    assert_true(p->retain);
    assert_int_equal(p->packet_id, 0x1234);
    assert_bytes(p->topic, "a/b", 3);
    assert_bytes(p->payload, "\0\xff", 2);
    free(body);

    body = decode_ok(0x30, AB, &pkt);
    assert_int_equal(p->qos, 0);
    assert_false(p->dup);
    assert_false(p->retain);
    assert_int_equal(p->packet_id, 0);
    assert_int_equal(p->payload.len, 0);
    free(body);

    body = decode_ok(0x62, "beef", &pkt);
    assert_int_equal(pkt.type, PL_MQTT_PUBREL);
    assert_int_equal(pkt.u.packet_id, 0xbeef);
    free(body);
}

static void test_filters(void **state)
{
    struct pl_mqtt_packet pkt;
    struct pl_mqtt_filter_iter it;
    struct pl_mqtt_bytes f;
    unsigned char *body = NULL;
    uint8_t qos = 9;

    (void)state;
    body = decode_ok(0x82, "0007 0001 23 02 0005 2b2f2b2f23 00" AB "01",
                     &pkt);
    assert_int_equal(pkt.u.filters.packet_id, 7);
    assert_int_equal(pkt.u.filters.count, 3);
    pl_mqtt_filters_begin(&it, &pkt.u.filters);
    assert_true(pl_mqtt_filters_next(&it, &f, &qos));
    assert_bytes(f, "#", 1);
    assert_int_equal(qos, 2);
    assert_true(pl_mqtt_filters_next(&it, &f, &qos));
    assert_bytes(f, "+/+/#", 5);
    assert_int_equal(qos, 0);
    assert_true(pl_mqtt_filters_next(&it, &f, &qos));
    assert_bytes(f, "a/b", 3);
    assert_int_equal(qos, 1);
    assert_false(pl_mqtt_filters_next(&it, &f, &qos));
    assert_false(pl_mqtt_filters_next(&it, &f, &qos));
    free(body);

    body = decode_ok(0xa2, "0008" AB "0001 23", &pkt);
    assert_int_equal(pkt.u.filters.packet_id, 8);
    assert_int_equal(pkt.u.filters.count, 2);
    pl_mqtt_filters_begin(&it, &pkt.u.filters);
    assert_true(pl_mqtt_filters_next(&it, &f, NULL));
    assert_bytes(f, "a/b", 3);
    assert_true(pl_mqtt_filters_next(&it, &f, &qos));
    assert_bytes(f, "#", 1);
    assert_int_equal(qos, 0);
    assert_false(pl_mqtt_filters_next(&it, &f, NULL));
    free(body);
}

struct topic_row {
    const char *t;
    bool wildcards;
    int want;
};

static void test_topic_check(void **state)
{
    static const struct topic_row trows[] = {
        {"a", false, 0},
        {"/", false, 0},
        {"a//b", false, 0},
        {" ", false, 0},
        {"$SYS/uptime", false, 0},
        {"", false, -PL_MQTT_E_TOPIC},
        {"+", false, -PL_MQTT_E_TOPIC},
        {"a/#", false, -PL_MQTT_E_TOPIC},
        {"a+", false, -PL_MQTT_E_TOPIC},
        {"\xc3\x28", false, -PL_MQTT_E_UTF8},
        {"+", true, 0},
        {"#", true, 0},
        {"+/+", true, 0},
        {"/+", true, 0},
        {"+/", true, 0},
        {"a/+/b/#", true, 0},
        {"//#", true, 0},
        {"", true, -PL_MQTT_E_FILTER},
        {"a#", true, -PL_MQTT_E_FILTER},
        {"#/a", true, -PL_MQTT_E_FILTER},
        {"a/#/", true, -PL_MQTT_E_FILTER},
        {"++", true, -PL_MQTT_E_FILTER},
        {"a/b+", true, -PL_MQTT_E_FILTER},
        {"\xff", true, -PL_MQTT_E_UTF8},
    };
    static const struct {
        const char *t;
        bool w;
    } parley[] = {
        {"chat/general", false}, {"$SYS/uptime", false}, {"a b/c", false},
        {"\xc3\xa9/\xc3\xbc", false}, {"sport/tennis/+", true},
        {"+/tennis/#", true}, {"#", true}, {"$SYS/#", true},
    };
    unsigned char *big = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(trows) / sizeof(trows[0]); i++) {
        const struct topic_row *r = &trows[i];
        int got = pl_mqtt_topic_check((const unsigned char *)r->t,
                                      strlen(r->t), r->wildcards);

        if (got != r->want)
            fail_msg("'%s' (%s): got %d, want %d", r->t,
                     r->wildcards ? "filter" : "name", got, r->want);
    }
    assert_int_equal(pl_mqtt_topic_check((const unsigned char *)"a\0b", 3,
                                         true),
                     -PL_MQTT_E_UTF8);
    /* what Parley accepts, MQTT accepts (the listener relies on it) */
    for (size_t i = 0; i < sizeof(parley) / sizeof(parley[0]); i++) {
        const unsigned char *t = (const unsigned char *)parley[i].t;
        size_t n = strlen(parley[i].t);

        assert_int_equal(pl_topic_validate(parley[i].t, n, parley[i].w),
                         PL_OK);
        assert_int_equal(pl_mqtt_topic_check(t, n, parley[i].w), 0);
    }
    /* 65535 bytes is the most a length prefix can say */
    big = malloc(65536);
    assert_non_null(big);
    memset(big, 'a', 65536);
    assert_int_equal(pl_mqtt_topic_check(big, 65535, false), 0);
    assert_int_equal(pl_mqtt_topic_check(big, 65536, false),
                     -PL_MQTT_E_TOPIC);
    free(big);
}

/* Several packets in one feed come out one by one, each pointing into
 * the input; the bytes after the last stay for the next feed. */
static void test_stream(void **state)
{
    unsigned char *s = NULL;
    size_t n = unhex("c0 00 40 02 0001 e0 00 30", &s);
    struct pl_mqtt_reader r;
    struct pl_mqtt_frame f;
    size_t off = 0;
    size_t used = 0;
    const uint8_t firsts[] = {0xc0, 0x40, 0xe0};

    (void)state;
    pl_mqtt_reader_init(&r, 0);
    assert_int_equal(r.max_packet, PL_MQTT_PACKET_MAX);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(pl_mqtt_reader_feed(&r, s + off, n - off, &used, &f),
                         1);
        assert_int_equal(f.first, firsts[k]);
        if (f.len > 0)
            assert_ptr_equal(f.body, s + off + 2);
        off += used;
    }
    assert_int_equal(pl_mqtt_reader_feed(&r, s + off, n - off, &used, &f), 0);
    assert_int_equal(used, 1);
    assert_null(r.buf); /* nothing had to be buffered */
    pl_mqtt_reader_cleanup(&r);
    free(s);
}

/* A large packet fed in pieces: the buffer grows with the bytes that
 * arrived, never to the announced size ahead of them. */
static void test_reader_buffering(void **state)
{
    const size_t payload = 100000;
    size_t len = 0;
    size_t off = 0;
    unsigned char *pkt = NULL;
    struct pl_mqtt_reader r;
    struct pl_mqtt_frame f;
    struct pl_mqtt_packet p;
    size_t used = 0;
    int rc = 0;

    (void)state;
    len = pl_mqtt_put_publish(NULL, 0, "a/b", 3, 1, false, false, 9, NULL,
                              payload);
    pkt = calloc(1, len);
    assert_non_null(pkt);
    for (size_t i = 0; i < payload; i++)
        pkt[len - payload + i] = (unsigned char)(i * 7);
    assert_int_equal(pl_mqtt_put_publish_header(pkt, len, "a/b", 3, 1, false,
                                                false, 9, payload),
                     len - payload);

    pl_mqtt_reader_init(&r, len);
    /* header plus 10 body bytes: a small buffer only */
    rc = pl_mqtt_reader_feed(&r, pkt, 14, &used, &f);
    assert_int_equal(rc, 0);
    assert_true(r.cap <= 256);
    off = 14;
    while (off < len) {
        size_t piece = len - off < 1000 ? len - off : 1000;

        rc = pl_mqtt_reader_feed(&r, pkt + off, piece, &used, &f);
        off += used;
        assert_true(r.cap <= len);
        if (rc == 1)
            break;
        assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(off, len);
    assert_int_equal(pl_mqtt_decode(&f, &p), 0);
    assert_int_equal(p.u.publish.packet_id, 9);
    assert_int_equal(p.u.publish.payload.len, payload);
    assert_memory_equal(p.u.publish.payload.p, pkt + len - payload, payload);
    /* the next feed lets the large buffer go; a small one would stay */
    assert_true(r.cap > 4096);
    assert_int_equal(pl_mqtt_reader_feed(&r, "\xc0", 1, &used, &f), 0);
    assert_null(r.buf);
    assert_int_equal(r.cap, 0);
    assert_int_equal(pl_mqtt_reader_feed(&r, "\x00", 1, &used, &f), 1);
    assert_int_equal(f.first, 0xc0);
    pl_mqtt_reader_cleanup(&r);

    /* one byte under the size: refused at the length, nothing buffered */
    pl_mqtt_reader_init(&r, len - 1);
    rc = pl_mqtt_reader_feed(&r, pkt, 1000, &used, &f);
    assert_int_equal(rc, -PL_MQTT_E_TOO_LARGE);
    assert_int_equal(used, 4); /* the type byte and 3 length bytes */
    assert_null(r.buf);
    pl_mqtt_reader_cleanup(&r);
    free(pkt);
}

static void assert_hex(const unsigned char *got, size_t n, const char *hex)
{
    unsigned char *want = NULL;
    size_t wn = unhex(hex, &want);

    assert_int_equal(n, wn);
    assert_memory_equal(got, want, n);
    free(want);
}

static void test_encoders(void **state)
{
    unsigned char b[64];
    const uint8_t codes[] = {0, 1, 2, PL_MQTT_SUBACK_FAILURE};
    const uint8_t bad[] = {3};

    (void)state;
    assert_hex(b, pl_mqtt_put_connack(b, sizeof(b), false, 0), "20 02 00 00");
    assert_hex(b, pl_mqtt_put_connack(b, sizeof(b), true, 0), "20 02 01 00");
    /* session present is never set with a refusal (3.2.2-4) */
    assert_hex(b, pl_mqtt_put_connack(b, sizeof(b), true, 2), "20 02 00 02");
    assert_hex(b, pl_mqtt_put_connack(b, sizeof(b), false, 5), "20 02 00 05");
    assert_int_equal(pl_mqtt_put_connack(b, sizeof(b), false, 6), 0);

    assert_hex(b, pl_mqtt_put_ack(b, sizeof(b), PL_MQTT_PUBACK, 0x0102),
               "40 02 01 02");
    assert_hex(b, pl_mqtt_put_ack(b, sizeof(b), PL_MQTT_PUBREC, 1),
               "50 02 00 01");
    assert_hex(b, pl_mqtt_put_ack(b, sizeof(b), PL_MQTT_PUBREL, 1),
               "62 02 00 01");
    assert_hex(b, pl_mqtt_put_ack(b, sizeof(b), PL_MQTT_PUBCOMP, 0xffff),
               "70 02 ff ff");
    assert_int_equal(pl_mqtt_put_ack(b, sizeof(b), PL_MQTT_PUBACK, 0), 0);
    assert_int_equal(pl_mqtt_put_ack(b, sizeof(b), PL_MQTT_SUBACK, 1), 0);

    assert_hex(b, pl_mqtt_put_suback(b, sizeof(b), 7, codes, 4),
               "90 06 00 07 00 01 02 80");
    assert_int_equal(pl_mqtt_put_suback(b, sizeof(b), 7, codes, 0), 0);
    assert_int_equal(pl_mqtt_put_suback(b, sizeof(b), 0, codes, 1), 0);
    assert_int_equal(pl_mqtt_put_suback(b, sizeof(b), 7, bad, 1), 0);
    assert_hex(b, pl_mqtt_put_unsuback(b, sizeof(b), 0x0a0b), "b0 02 0a 0b");
    assert_int_equal(pl_mqtt_put_unsuback(b, sizeof(b), 0), 0);
    assert_hex(b, pl_mqtt_put_pingresp(b, sizeof(b)), "d0 00");

    assert_hex(b, pl_mqtt_put_publish(b, sizeof(b), "a/b", 3, 0, false, false,
                                      0, "hi", 2),
               "30 07 0003 612f62 6869");
    assert_hex(b, pl_mqtt_put_publish(b, sizeof(b), "a/b", 3, 1, false, true,
                                      5, "hi", 2),
               "33 09 0003 612f62 0005 6869");
    assert_hex(b, pl_mqtt_put_publish(b, sizeof(b), "a/b", 3, 2, true, false,
                                      0xffff, "", 0),
               "3c 07 0003 612f62 ffff");
    /* the header alone: everything before the payload */
    assert_hex(b, pl_mqtt_put_publish_header(b, sizeof(b), "a/b", 3, 1, false,
                                             false, 5, 200),
               "32 cf 01 0003 612f62 0005");
    /* impossible arguments */
    assert_int_equal(pl_mqtt_put_publish(b, sizeof(b), "a", 1, 3, false,
                                         false, 1, "", 0), 0);
    assert_int_equal(pl_mqtt_put_publish(b, sizeof(b), "a", 1, 0, false,
                                         false, 1, "", 0), 0);
    assert_int_equal(pl_mqtt_put_publish(b, sizeof(b), "a", 1, 1, false,
                                         false, 0, "", 0), 0);
    assert_int_equal(pl_mqtt_put_publish(b, sizeof(b), "a", 1, 0, true,
                                         false, 0, "", 0), 0);
    assert_int_equal(pl_mqtt_put_publish(b, sizeof(b), "", 0, 0, false,
                                         false, 0, "", 0), 0);
    assert_int_equal(pl_mqtt_put_publish_header(b, sizeof(b), "a", 1, 0,
                                                false, false, 0,
                                                PL_MQTT_RLEN_MAX - 2),
                     0);
    assert_int_equal(pl_mqtt_put_publish_header(NULL, 0, "a", 1, 0, false,
                                                false, 0,
                                                PL_MQTT_RLEN_MAX - 3),
                     8);
}

/* A buffer too small is left alone and the size needed is returned. */
/* Lengths that need a longer remaining length, and a 65535-byte topic
 * (the most a length prefix can say) through encoder, reader, decoder. */
static void test_encoders_large(void **state)
{
    uint8_t codes[200];
    unsigned char *b = NULL;
    char *topic = NULL;
    struct pl_mqtt_reader r;
    struct pl_mqtt_frame f;
    struct pl_mqtt_packet p;
    size_t n = 0;
    size_t used = 0;

    (void)state;
    b = malloc(70000);
    topic = malloc(65536);
    assert_non_null(b);
    assert_non_null(topic);
    memset(codes, 1, sizeof(codes));
    n = pl_mqtt_put_suback(b, 70000, 0x0102, codes, 200);
    assert_int_equal(n, 1 + 2 + 202);
    assert_hex(b, 5, "90 ca 01 01 02");

    memset(topic, 'x', 65536);
    assert_int_equal(pl_mqtt_put_publish(b, 70000, topic, 65536, 0, false,
                                         false, 0, "", 0),
                     0);
    n = pl_mqtt_put_publish(b, 70000, topic, 65535, 1, false, false, 3, "p",
                            1);
    assert_int_equal(n, 1 + 3 + 2 + 65535 + 2 + 1);
    pl_mqtt_reader_init(&r, n);
    assert_int_equal(pl_mqtt_reader_feed(&r, b, n, &used, &f), 1);
    assert_int_equal(pl_mqtt_decode(&f, &p), 0);
    assert_int_equal(p.u.publish.topic.len, 65535);
    assert_int_equal(p.u.publish.packet_id, 3);
    assert_int_equal(p.u.publish.payload.len, 1);
    pl_mqtt_reader_cleanup(&r);
    free(topic);
    free(b);
}

/* A packet split across feeds is buffered; a buffer of 4 KiB or less is
 * kept for the next one. */
static void test_reader_keeps_small_buffer(void **state)
{
    unsigned char b[64];
    struct pl_mqtt_reader r;
    struct pl_mqtt_frame f;
    size_t n = pl_mqtt_put_publish(b, sizeof(b), "a/b", 3, 0, false, false, 0,
                                   "0123456789", 10);
    size_t used = 0;

    (void)state;
    pl_mqtt_reader_init(&r, 0);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(pl_mqtt_reader_feed(&r, b, 6, &used, &f), 0);
        assert_int_equal(pl_mqtt_reader_feed(&r, b + 6, n - 6, &used, &f), 1);
        assert_ptr_equal(f.body, r.buf);
        assert_int_equal(f.len, n - 2);
        assert_memory_equal(f.body, b + 2, n - 2);
    }
    assert_non_null(r.buf);
    assert_true(r.cap <= 256);
    pl_mqtt_reader_cleanup(&r);
}

static void test_encoders_sizing(void **state)
{
    unsigned char b[16];
    const uint8_t codes[] = {1, 1};

    (void)state;
    memset(b, 0xee, sizeof(b));
    assert_int_equal(pl_mqtt_put_connack(b, 3, false, 0), 4);
    assert_int_equal(pl_mqtt_put_ack(b, 0, PL_MQTT_PUBACK, 1), 4);
    assert_int_equal(pl_mqtt_put_suback(b, 5, 1, codes, 2), 6);
    assert_int_equal(pl_mqtt_put_unsuback(b, 3, 1), 4);
    assert_int_equal(pl_mqtt_put_pingresp(b, 1), 2);
    assert_int_equal(pl_mqtt_put_publish(b, 8, "a/b", 3, 0, false, false, 0,
                                         "hi", 2),
                     9);
    assert_int_equal(pl_mqtt_put_rlen(b, 1, 128), 2);
    for (size_t i = 0; i < sizeof(b); i++)
        assert_int_equal(b[i], 0xee);
}

static void test_rlen(void **state)
{
    static const struct {
        uint32_t v;
        const char *hex;
    } r[] = {
        {0, "00"},
        {127, "7f"},
        {128, "80 01"},
        {16383, "ff 7f"},
        {16384, "80 80 01"},
        {2097151, "ff ff 7f"},
        {2097152, "80 80 80 01"},
        {PL_MQTT_RLEN_MAX, "ff ff ff 7f"},
    };
    unsigned char b[8];

    (void)state;
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        unsigned char s[16];
        struct pl_mqtt_reader rd;
        struct pl_mqtt_frame f;
        size_t n = pl_mqtt_put_rlen(b, sizeof(b), r[i].v);
        size_t used = 0;

        assert_hex(b, n, r[i].hex);
        /* the reader reads it back (it then waits for the body) */
        s[0] = 0x30;
        memcpy(s + 1, b, n);
        pl_mqtt_reader_init(&rd, 0);
        assert_int_equal(pl_mqtt_reader_feed(&rd, s, 1 + n, &used, &f),
                         r[i].v == 0 ? 1 : 0);
        if (r[i].v > 0) {
            assert_true(rd.rlen_done);
            assert_int_equal(rd.rlen, r[i].v);
        }
        pl_mqtt_reader_cleanup(&rd);
    }
    assert_int_equal(pl_mqtt_put_rlen(b, sizeof(b), PL_MQTT_RLEN_MAX + 1), 0);
}

/* What the encoders make, the reader and decoder take back unchanged. */
static void test_round_trip(void **state)
{
    static const size_t sizes[] = {0, 1, 120, 121, 200, 16379, 16380, 70000};
    unsigned char *b = NULL;

    (void)state;
    b = malloc(70100);
    assert_non_null(b);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (uint8_t qos = 0; qos <= 2; qos++) {
            struct pl_mqtt_reader r;
            struct pl_mqtt_frame f;
            struct pl_mqtt_packet p;
            unsigned char *payload = malloc(sizes[i] + 1);
            uint16_t id = qos == 0 ? 0 : (uint16_t)(1000 + i);
            size_t used = 0;
            size_t n;

            assert_non_null(payload);
            for (size_t k = 0; k < sizes[i]; k++)
                payload[k] = (unsigned char)(k * 31 + qos);
            n = pl_mqtt_put_publish(b, 70100, "s/t", 3, qos, qos == 2, true,
                                    id, payload, sizes[i]);
            assert_true(n > sizes[i]);
            pl_mqtt_reader_init(&r, n);
            assert_int_equal(pl_mqtt_reader_feed(&r, b, n, &used, &f), 1);
            assert_int_equal(used, n);
            assert_int_equal(pl_mqtt_decode(&f, &p), 0);
            assert_int_equal(p.type, PL_MQTT_PUBLISH);
            assert_int_equal(p.u.publish.qos, qos);
            assert_int_equal(p.u.publish.dup, qos == 2);
            assert_true(p.u.publish.retain);
            assert_int_equal(p.u.publish.packet_id, id);
            assert_bytes(p.u.publish.topic, "s/t", 3);
            assert_int_equal(p.u.publish.payload.len, sizes[i]);
            if (sizes[i] > 0)
                assert_memory_equal(p.u.publish.payload.p, payload,
                                    sizes[i]);
            pl_mqtt_reader_cleanup(&r);
            free(payload);
        }
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_connect_fields),
        cmocka_unit_test(test_publish_fields),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_topic_check),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_reader_buffering),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_encoders_sizing),
        cmocka_unit_test(test_encoders_large),
        cmocka_unit_test(test_reader_keeps_small_buffer),
        cmocka_unit_test(test_rlen),
        cmocka_unit_test(test_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
