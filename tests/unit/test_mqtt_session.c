/*
 * test_mqtt_session.c: one MQTT connection on a real hub with no socket
 * (server/mqtt_session.c), through the fake transport and store of
 * hub_fake.c: bytes in with mqtt_session_feed, what the hub queued turned
 * into packets with mqtt_session_pull, and the packets read back here.
 * Acks after the commit, QoS 2 stored once, SUBACK codes, once per
 * connection at the highest granted QoS, the payload mapping both ways,
 * `$` topics, takeover, the will, auth, and the protocol errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_fake.h"
#include "jwt.h"
#include "mqtt.h"
#include "mqtt_session.h"

#define SCRATCH 65536

/* A test's MQTT client: its connection and session. */
struct client {
    struct fake *f;
    struct conn *c;
    struct mqtt_session *s;
    unsigned char *scratch;
    /* output taken from the session, read packet by packet */
    unsigned char buf[65536];
    size_t len, off;
};

/* One packet the server sent. */
struct pkt {
    uint8_t type, flags;
    const unsigned char *body;
    size_t len;
};

static struct mqtt_ids *ids;
static struct mqtt_stats stats;
static struct mqtt_saved_table saved; /* test_persistent_session */

/* A client whose window is `window` and, with table, sessions kept. */
static void client_open_ex(struct fake *f, struct client *k, unsigned window,
                           struct mqtt_saved_table *table)
{
    struct mqtt_session_config cfg = {65536 + 512, window, 64, &stats, table, NULL};

    memset(k, 0, sizeof(*k));
    k->f = f;
    k->c = hub_conn_open(f->hub, CONN_MQTT, NULL);
    assert_non_null(k->c);
    k->s = mqtt_session_new(f->hub, k->c, ids, &cfg);
    assert_non_null(k->s);
    k->scratch = malloc(SCRATCH);
    assert_non_null(k->scratch);
}

static void client_open(struct fake *f, struct client *k)
{
    client_open_ex(f, k, 4, NULL);
}

/* The connection ends (the will goes unless DISCONNECT was said). */
static void client_close(struct client *k)
{
    mqtt_session_free(&k->s);
    hub_conn_close(k->f->hub, &k->c);
    free(k->scratch);
    k->scratch = NULL;
}

static int feed(struct client *k, const void *p, size_t n)
{
    return mqtt_session_feed(k->s, p, n);
}

/* Move everything the session has ready into k->buf. */
static void drain(struct client *k)
{
    const unsigned char *out = NULL;
    size_t n = 0;

    if (k->c->close_code == 0)
        while (mqtt_session_pull(k->s, k->scratch, SCRATCH) == 1)
            ;
    out = mqtt_session_output(k->s, &n);
    assert_true(k->len + n <= sizeof(k->buf));
    memcpy(k->buf + k->len, out, n);
    k->len += n;
    mqtt_session_consume(k->s, n);
}

/* The next packet, or false when none is there. */
static bool next(struct client *k, struct pkt *p)
{
    size_t i = k->off + 1;
    uint32_t rlen = 0;
    unsigned shift = 0;

    drain(k);
    if (k->off >= k->len)
        return false;
    do {
        assert_true(i < k->len);
        rlen |= (uint32_t)(k->buf[i] & 0x7f) << shift;
        shift += 7;
    } while (k->buf[i++] & 0x80);
    assert_true(i + rlen <= k->len);
    p->type = k->buf[k->off] >> 4;
    p->flags = k->buf[k->off] & 0x0f;
    p->body = k->buf + i;
    p->len = rlen;
    k->off = i + rlen;
    return true;
}

static struct pkt expect(struct client *k, uint8_t type)
{
    struct pkt p;

    assert_true(next(k, &p));
    assert_int_equal(p.type, type);
    return p;
}

static void expect_nothing(struct client *k)
{
    struct pkt p;

    assert_false(next(k, &p));
}

static uint16_t u16(const unsigned char *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static void expect_ack(struct client *k, uint8_t type, uint16_t id)
{
    struct pkt p = expect(k, type);

    assert_int_equal(p.len, 2);
    assert_int_equal(u16(p.body), id);
}

/* A PUBLISH: its topic and payload (NUL-terminated copies in the
 * caller's buffers), QoS and packet id. */
static uint16_t expect_publish(struct client *k, const char *topic,
                               const void *payload, size_t plen, uint8_t qos,
                               bool retain)
{
    struct pkt p = expect(k, PL_MQTT_PUBLISH);
    size_t tl = u16(p.body);
    size_t off = 2 + tl;
    uint16_t id = 0;

    assert_int_equal((p.flags >> 1) & 3, qos);
    assert_int_equal(p.flags & 1, retain ? 1 : 0);
    assert_int_equal(tl, strlen(topic));
    assert_memory_equal(p.body + 2, topic, tl);
    if (qos > 0) {
        id = u16(p.body + off);
        off += 2;
    }
    assert_int_equal(p.len - off, plen);
    if (plen > 0)
        assert_memory_equal(p.body + off, payload, plen);
    return id;
}

/* ---- client packets ---- */

static size_t put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s);

    b[0] = (unsigned char)(n >> 8);
    b[1] = (unsigned char)n;
    memcpy(b + 2, s, n);
    return 2 + n;
}

/* CONNECT, level 4, keepalive 60; will and password optional. */
static int send_connect(struct client *k, const char *id, bool clean,
                        const char *will_topic, const char *will_msg,
                        const char *password)
{
    unsigned char body[1024];
    unsigned char pkt[1100];
    size_t n = 0;
    size_t h = 0;
    uint8_t flags = clean ? 0x02 : 0;

    n += put_str(body, "MQTT");
    body[n++] = 4;
    if (will_topic != NULL)
        flags |= 0x04;
    if (password != NULL)
        flags |= 0xc0; /* user name and password */
    body[n++] = flags;
    body[n++] = 0;
    body[n++] = 60;
    n += put_str(body + n, id);
    if (will_topic != NULL) {
        n += put_str(body + n, will_topic);
        n += put_str(body + n, will_msg);
    }
    if (password != NULL) {
        n += put_str(body + n, "ignored");
        n += put_str(body + n, password);
    }
    pkt[0] = 0x10;
    h = 1 + pl_mqtt_put_rlen(pkt + 1, 4, (uint32_t)n);
    memcpy(pkt + h, body, n);
    return feed(k, pkt, h + n);
}

static void connect_ok(struct client *k, const char *id)
{
    struct pkt p;

    assert_int_equal(send_connect(k, id, true, NULL, NULL, NULL), 0);
    p = expect(k, PL_MQTT_CONNACK);
    assert_int_equal(p.len, 2);
    assert_int_equal(p.body[1], 0);
}

static int send_publish(struct client *k, const char *topic, const void *pl,
                        size_t n, uint8_t qos, bool dup, bool retain,
                        uint16_t id)
{
    unsigned char pkt[2048];
    size_t len = pl_mqtt_put_publish(pkt, sizeof(pkt), topic, strlen(topic),
                                     qos, dup, retain, id, pl, n);

    assert_true(len > 0);
    return feed(k, pkt, len);
}

static int send_ack(struct client *k, enum pl_mqtt_type type, uint16_t id)
{
    unsigned char pkt[4];

    pl_mqtt_put_ack(pkt, sizeof(pkt), type, id);
    if (type == PL_MQTT_PUBREL)
        pkt[0] = 0x62;
    return feed(k, pkt, 4);
}

/* SUBSCRIBE (qos >= 0) or UNSUBSCRIBE (qos < 0) of n filters. */
static int send_filters(struct client *k, uint16_t id, const char **filters,
                        const int *qos, size_t n, bool unsub)
{
    unsigned char body[1024];
    unsigned char pkt[1100];
    size_t len = 2;
    size_t h = 0;
    size_t i = 0;

    body[0] = (unsigned char)(id >> 8);
    body[1] = (unsigned char)id;
    for (i = 0; i < n; i++) {
        len += put_str(body + len, filters[i]);
        if (!unsub)
            body[len++] = (unsigned char)qos[i];
    }
    pkt[0] = unsub ? 0xa2 : 0x82;
    h = 1 + pl_mqtt_put_rlen(pkt + 1, 4, (uint32_t)len);
    memcpy(pkt + h, body, len);
    return feed(k, pkt, h + len);
}

static void subscribe(struct client *k, const char *filter, int qos)
{
    struct pkt p;

    assert_int_equal(send_filters(k, 7, &filter, &qos, 1, false), 0);
    p = expect(k, PL_MQTT_SUBACK);
    assert_int_equal(p.len, 3);
    assert_int_equal(p.body[2], qos);
}

/* ---- set-up ---- */

static void start(struct fake *f)
{
    struct hub_config cfg;

    fake_config(&cfg);
    fake_init(f, &cfg);
    ids = mqtt_ids_new();
    assert_non_null(ids);
    memset(&stats, 0, sizeof(stats));
}

static void stop(struct fake *f)
{
    fake_cleanup(f);
    mqtt_ids_free(&ids);
}

/* ---- tests ---- */

/* CONNECT gets CONNACK 0; anything before it, or a second one, is a
 * protocol error; DISCONNECT asks to close. */
static void test_connect_rules(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct client b;
    unsigned char ping[2] = {0xc0, 0};
    unsigned char disc[2] = {0xe0, 0};

    start(f);
    client_open(f, &a);
    assert_int_equal(feed(&a, ping, 2), MQTT_FEED_ERROR);
    client_close(&a);

    client_open(f, &b);
    connect_ok(&b, "dev-1");
    assert_true(mqtt_session_connected(b.s));
    assert_int_equal(mqtt_session_keepalive(b.s), 60);
    assert_int_equal(feed(&b, ping, 2), 0);
    expect(&b, PL_MQTT_PINGRESP);
    assert_int_equal(send_connect(&b, "dev-1", true, NULL, NULL, NULL),
                     MQTT_FEED_ERROR);
    assert_int_equal(feed(&b, disc, 2), MQTT_FEED_CLOSE);
    client_close(&b);
    stop(f);
}

/* A QoS 1 PUBLISH is a hub pub; its PUBACK comes only after the commit,
 * and the message is stored with the payload mapped to data. */
static void test_puback_after_commit(void **state)
{
    struct fake *f = *state;
    struct client a;

    start(f);
    client_open(f, &a);
    connect_ok(&a, "dev-1");
    assert_int_equal(send_publish(&a, "sensors/t", "{\"t\": 21.5}", 11, 1,
                                  false, false, 5), 0);
    expect_nothing(&a);
    assert_int_equal(f->n_jobs, 1);
    fake_complete(f, 1);
    expect_ack(&a, PL_MQTT_PUBACK, 5);
    assert_int_equal(f->n_rows, 1);
    assert_string_equal(f->rows[0].data, "{\"t\":21.5}");
    assert_int_equal(f->rows[0].seq, 1);
    client_close(&a);
    stop(f);
}

/* QoS 2: a DUP while the first is stored and one after are not stored
 * again; PUBREC follows the commit; PUBREL gets PUBCOMP. */
static void test_qos2_stored_once(void **state)
{
    struct fake *f = *state;
    struct client a;

    start(f);
    client_open(f, &a);
    connect_ok(&a, "dev-1");
    assert_int_equal(send_publish(&a, "s/x", "1", 1, 2, false, false, 9), 0);
    assert_int_equal(send_publish(&a, "s/x", "1", 1, 2, true, false, 9), 0);
    expect_nothing(&a);
    assert_int_equal(f->n_jobs, 1);
    fake_complete(f, 1);
    expect_ack(&a, PL_MQTT_PUBREC, 9);
    assert_int_equal(send_publish(&a, "s/x", "1", 1, 2, true, false, 9), 0);
    expect_ack(&a, PL_MQTT_PUBREC, 9);
    assert_int_equal(f->n_jobs, 0);
    assert_int_equal(send_ack(&a, PL_MQTT_PUBREL, 9), 0);
    expect_ack(&a, PL_MQTT_PUBCOMP, 9);
    assert_int_equal(f->n_rows, 1);
    client_close(&a);
    stop(f);
}

/* Two overlapping filters: one SUBACK with both codes, a bad filter gets
 * 0x80, and a message matching both arrives once, at the higher QoS. A
 * JSON pub's string reaches MQTT as its raw text. */
static void test_overlap_once_highest_qos(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct conn *js = NULL;
    const char *filters[] = {"room/+", "room/#", "a//b"};
    const int qos[] = {1, 2, 0};
    struct pkt p;
    uint16_t id = 0;

    start(f);
    client_open(f, &a);
    connect_ok(&a, "dev-1");
    assert_int_equal(send_filters(&a, 3, filters, qos, 3, false), 0);
    p = expect(&a, PL_MQTT_SUBACK);
    assert_int_equal(p.len, 5);
    assert_int_equal(u16(p.body), 3);
    assert_int_equal(p.body[2], 1);
    assert_int_equal(p.body[3], 2);
    assert_int_equal(p.body[4], 0x80);

    js = fake_open(f);
    fake_send(f, js, "{\"op\":\"pub\",\"id\":1,\"topic\":\"room/1\","
                     "\"data\":\"hello\"}");
    fake_complete(f, 1);
    fake_drain(f, js);
    id = expect_publish(&a, "room/1", "hello", 5, 2, false);
    expect_nothing(&a);
    assert_int_equal(send_ack(&a, PL_MQTT_PUBREC, id), 0);
    expect_ack(&a, PL_MQTT_PUBREL, id);
    assert_int_equal(send_ack(&a, PL_MQTT_PUBCOMP, id), 0);
    /* a PUBREC for an id not in flight still gets its PUBREL */
    assert_int_equal(send_ack(&a, PL_MQTT_PUBREC, 999), 0);
    expect_ack(&a, PL_MQTT_PUBREL, 999);
    client_close(&a);
    stop(f);
}

/* A binary payload is {"base64":..} for JSON clients and the very bytes
 * for MQTT subscribers; an empty retained payload clears the value. */
static void test_payload_both_ways(void **state)
{
    struct fake *f = *state;
    struct client pub;
    struct client sub;
    const unsigned char bin[] = {0xff, 0x00, 0x80, 0x7f};

    start(f);
    client_open(f, &pub);
    client_open(f, &sub);
    connect_ok(&pub, "p");
    connect_ok(&sub, "s");
    subscribe(&sub, "bin/#", 0);
    assert_int_equal(send_publish(&pub, "bin/1", bin, sizeof(bin), 0, false,
                                  true, 0), 0);
    fake_complete(f, 1);
    assert_string_equal(f->rows[0].data, "{\"base64\":\"/wCAfw==\"}");
    expect_publish(&sub, "bin/1", bin, sizeof(bin), 0, false);

    /* a new subscriber gets the retained copy with RETAIN set */
    subscribe(&pub, "bin/1", 1);
    expect_publish(&pub, "bin/1", bin, sizeof(bin), 1, true);
    /* the empty retained payload clears it */
    assert_int_equal(send_publish(&sub, "bin/1", "", 0, 0, false, true, 0),
                     0);
    fake_complete(f, 1);
    expect_publish(&sub, "bin/1", "", 0, 0, false);
    client_close(&pub);
    client_open(f, &pub);
    connect_ok(&pub, "p2");
    subscribe(&pub, "bin/#", 0);
    expect_nothing(&pub);
    client_close(&pub);
    client_close(&sub);
    stop(f);
}

/* A leading wildcard does not match a `$` topic (MQTT 4.7.2). */
static void test_dollar_topics(void **state)
{
    struct fake *f = *state;
    struct client a;

    start(f);
    client_open(f, &a);
    connect_ok(&a, "dev-1");
    subscribe(&a, "#", 0);
    subscribe(&a, "+/x", 0);
    /* The hub refuses publishing to `$` topics; the PUBACK still comes
     * (MQTT has no refusal), and nothing is stored or delivered. */
    assert_int_equal(send_publish(&a, "$SYS/x", "1", 1, 1, false, false, 2),
                     0);
    expect_ack(&a, PL_MQTT_PUBACK, 2);
    assert_int_equal(f->n_jobs, 0);
    client_close(&a);
    stop(f);
}

/* A second CONNECT with the same client id closes the first connection;
 * the first one's will goes, the second's DISCONNECT keeps its own. */
static void test_takeover_and_will(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct client b;
    struct client w;
    unsigned char disc[2] = {0xe0, 0};

    start(f);
    client_open(f, &w);
    connect_ok(&w, "watcher");
    subscribe(&w, "wills/#", 0);

    client_open(f, &a);
    assert_int_equal(send_connect(&a, "dev", true, "wills/dev", "gone", NULL),
                     0);
    expect(&a, PL_MQTT_CONNACK);
    client_open(f, &b);
    assert_int_equal(send_connect(&b, "dev", true, "wills/dev2", "gone2",
                                  NULL), 0);
    expect(&b, PL_MQTT_CONNACK);
    assert_int_equal(a.c->close_code, 1000);
    client_close(&a); /* what the transport does next */
    assert_int_equal(f->n_jobs, 1);
    fake_complete(f, 1);
    expect_publish(&w, "wills/dev", "gone", 4, 0, false);

    assert_int_equal(feed(&b, disc, 2), MQTT_FEED_CLOSE);
    client_close(&b);
    assert_int_equal(f->n_jobs, 0);
    client_close(&w);
    assert_int_equal(stats.takeovers, 1);
    assert_int_equal(stats.wills, 1);
    assert_int_equal(stats.connects, 3);
    assert_int_equal(stats.connections, 0);
    stop(f);
}

/* Malformed: an oversized remaining length and a bad packet are errors
 * for that session only. */
static void test_malformed(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct client b;
    unsigned char huge[5] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    unsigned char bad_len[6] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};

    start(f);
    client_open(f, &a);
    client_open(f, &b);
    connect_ok(&a, "a");
    connect_ok(&b, "b");
    assert_int_equal(feed(&a, huge, sizeof(huge)), MQTT_FEED_ERROR);
    client_close(&a);
    client_open(f, &a);
    connect_ok(&a, "a");
    assert_int_equal(feed(&a, bad_len, sizeof(bad_len)), MQTT_FEED_ERROR);
    client_close(&a);
    subscribe(&b, "still/here", 1);
    client_close(&b);
    stop(f);
}

/* With a secret, the password is a JWT: none is CONNACK 5, a bad one 4,
 * a good one names the user and its allow_sub refuses with 0x80. */
static void test_auth(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct client a;
    struct pkt p;
    const char *filters[] = {"ok/x", "no/x"};
    const int qos[] = {1, 1};
    const char *const allow_sub[] = {"ok/#"};
    char *tok = NULL;

    fake_config(&cfg);
    cfg.secret = "s3cret";
    cfg.secret_len = 6;
    fake_init(f, &cfg);
    ids = mqtt_ids_new();

    client_open(f, &a);
    assert_int_equal(send_connect(&a, "x", true, NULL, NULL, NULL),
                     MQTT_FEED_CLOSE);
    p = expect(&a, PL_MQTT_CONNACK);
    assert_int_equal(p.body[1], 5);
    client_close(&a);

    client_open(f, &a);
    assert_int_equal(send_connect(&a, "x", true, NULL, NULL, "nope"),
                     MQTT_FEED_CLOSE);
    p = expect(&a, PL_MQTT_CONNACK);
    assert_int_equal(p.body[1], 4);
    client_close(&a);

    tok = pl_jwt_sign("s3cret", 6, "dev7", 0, NULL, 0, allow_sub, 1);
    assert_non_null(tok);
    client_open(f, &a);
    assert_int_equal(send_connect(&a, "x", true, NULL, NULL, tok), 0);
    p = expect(&a, PL_MQTT_CONNACK);
    assert_int_equal(p.body[1], 0);
    assert_string_equal(a.c->user, "dev7");
    assert_int_equal(send_filters(&a, 4, filters, qos, 2, false), 0);
    p = expect(&a, PL_MQTT_SUBACK);
    assert_int_equal(p.body[2], 1);
    assert_int_equal(p.body[3], 0x80);
    client_close(&a);
    free(tok);
    stop(f);
}

/* The in-flight window bounds QoS 1 deliveries: past it they wait in the
 * hub's queue, in order, until a PUBACK makes room. */
static void test_window(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct conn *js = NULL;
    uint16_t first = 0;
    int i = 0;

    start(f);
    client_open(f, &a);
    connect_ok(&a, "dev-1");
    subscribe(&a, "w", 1);
    js = fake_open(f);
    for (i = 1; i <= 6; i++)
        fake_send(f, js, "{\"op\":\"pub\",\"topic\":\"w\",\"data\":%d}", i);
    fake_complete(f, 6);
    first = expect_publish(&a, "w", "1", 1, 1, false);
    expect_publish(&a, "w", "2", 1, 1, false);
    expect_publish(&a, "w", "3", 1, 1, false);
    expect_publish(&a, "w", "4", 1, 1, false);
    expect_nothing(&a); /* the window is 4 */
    assert_int_equal(send_ack(&a, PL_MQTT_PUBACK, first), 0);
    expect_publish(&a, "w", "5", 1, 1, false);
    expect_nothing(&a);
    client_close(&a);
    stop(f);
}

/* Past the rate limit a QoS 1 PUBLISH is not acknowledged: the
 * connection closes so the client sends it again later; a QoS 0 one is
 * dropped. A store failure closes it the same way. */
static void test_refusals_close(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct client a;

    fake_config(&cfg);
    cfg.rate = 1;
    cfg.burst = 2;
    fake_init(f, &cfg);
    ids = mqtt_ids_new();
    client_open(f, &a);
    connect_ok(&a, "fast");
    assert_int_equal(send_publish(&a, "r/1", "1", 1, 0, false, false, 0), 0);
    assert_int_equal(send_publish(&a, "r/1", "2", 1, 1, false, false, 1), 0);
    fake_complete(f, 2);
    expect_ack(&a, PL_MQTT_PUBACK, 1);
    assert_int_equal(send_publish(&a, "r/1", "3", 1, 0, false, false, 0), 0);
    assert_int_equal(send_publish(&a, "r/1", "4", 1, 1, false, false, 2), 0);
    assert_int_equal(mqtt_session_pull(a.s, a.scratch, SCRATCH), -1);
    assert_int_equal(f->n_jobs, 0);
    client_close(&a);

    f->now += 10000; /* a full bucket again */
    client_open(f, &a);
    connect_ok(&a, "fast");
    assert_int_equal(send_publish(&a, "r/1", "5", 1, 1, false, false, 3), 0);
    fake_fail(f, PL_ERR_INTERNAL);
    assert_int_equal(mqtt_session_pull(a.s, a.scratch, SCRATCH), -1);
    client_close(&a);
    stop(f);
}

/* ---- persistent sessions (clean session 0) ---- */

static void client_open_saved(struct fake *f, struct client *k)
{
    client_open_ex(f, k, 64, &saved);
}

/* The session's packet-id lease asked for by its waiting deliveries is
 * written and committed (the store's next group commit). */
static void lease_commit(struct fake *f, struct client *k)
{
    drain(k);
    mqtt_saved_flush(&saved, &f->storage, (int64_t)f->now);
    fake_complete_all(f);
}

static bool connect_session(struct client *k, const char *id, bool clean)
{
    struct pkt p;

    assert_int_equal(send_connect(k, id, clean, NULL, NULL, NULL), 0);
    p = expect(k, PL_MQTT_CONNACK);
    assert_int_equal(p.len, 2);
    assert_int_equal(p.body[1], 0);
    return (p.body[0] & 1) != 0;
}

/*
 * Clean session 0 on a real hub: the session's filters outlive the
 * connection; on resume CONNACK says present, the unacknowledged window
 * comes first with DUP and its ids, then what was missed, replayed from
 * the cursors (a topic that appeared meanwhile from its start), at QoS 1
 * though the filter was granted 2; the changes leave as one store job.
 * Clean session 1 deletes the session.
 */
static void test_persistent_session(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct conn *js = NULL;
    uint16_t id[3];
    uint16_t x = 0;
    int64_t cur = 0;
    size_t i = 0, n_mqtt = 0;

    start(f);
    mqtt_saved_table_init(&saved);
    client_open_saved(f, &a);
    assert_false(connect_session(&a, "dev-p", false));
    subscribe(&a, "p/#", 2);
    js = fake_open(f);
    for (i = 1; i <= 3; i++)
        fake_send(f, js, "{\"op\":\"pub\",\"topic\":\"p/a\",\"data\":%zu}", i);
    fake_complete(f, 3);
    expect_nothing(&a); /* waits for the session's first lease */
    lease_commit(f, &a);
    id[0] = expect_publish(&a, "p/a", "1", 1, 2, false);
    id[1] = expect_publish(&a, "p/a", "2", 1, 2, false);
    id[2] = expect_publish(&a, "p/a", "3", 1, 2, false);
    /* QoS 2: PUBREC does not move the cursor (the exchange is open) */
    assert_int_equal(send_ack(&a, PL_MQTT_PUBREC, id[0]), 0);
    expect_ack(&a, PL_MQTT_PUBREL, id[0]);
    assert_false(mqtt_saved_cursor(mqtt_saved_find(&saved, "dev-p"), "p/a",
                                   &cur));
    client_close(&a);

    fake_send(f, js, "{\"op\":\"pub\",\"topic\":\"p/a\",\"data\":4}");
    fake_send(f, js, "{\"op\":\"pub\",\"topic\":\"p/b\",\"data\":1}");
    fake_complete(f, 2);

    client_open_saved(f, &a);
    assert_true(connect_session(&a, "dev-p", false));
    /* the window first: PUBREL for the first, DUP PUBLISH for the rest */
    expect_ack(&a, PL_MQTT_PUBREL, id[0]);
    {
        struct pkt p = expect(&a, PL_MQTT_PUBLISH);

        assert_int_equal(p.flags, 0x08 | 0x04); /* DUP, QoS 2 */
        assert_int_equal(u16(p.body + 5), id[1]);
        p = expect(&a, PL_MQTT_PUBLISH);
        assert_int_equal(p.flags, 0x08 | 0x04);
        assert_int_equal(u16(p.body + 5), id[2]);
    }
    /* PUBCOMP ends the first exchange: now the cursor moves */
    assert_int_equal(send_ack(&a, PL_MQTT_PUBCOMP, id[0]), 0);
    assert_true(mqtt_saved_cursor(mqtt_saved_find(&saved, "dev-p"), "p/a",
                                  &cur));
    assert_int_equal(cur, 1);
    /* then the replays, at QoS 1, each topic in order */
    for (i = 0; i < 2; i++) {
        struct pkt p = expect(&a, PL_MQTT_PUBLISH);

        assert_int_equal((p.flags >> 1) & 3, 1);
        assert_int_equal(u16(p.body), 3);
        if (memcmp(p.body + 2, "p/a", 3) == 0)
            assert_memory_equal(p.body + 7, "4", 1);
        else
            assert_memory_equal(p.body + 2, "p/b", 3);
        x = u16(p.body + 5);
        assert_int_equal(send_ack(&a, PL_MQTT_PUBACK, x), 0);
    }
    expect_nothing(&a);
    /* live again at the granted QoS */
    fake_send(f, js, "{\"op\":\"pub\",\"topic\":\"p/b\",\"data\":2}");
    fake_complete(f, 1);
    expect_publish(&a, "p/b", "2", 1, 2, false);
    assert_true(mqtt_saved_cursor(mqtt_saved_find(&saved, "dev-p"), "p/b",
                                  &cur));
    assert_int_equal(cur, 1);

    /* the turn's changes: one job for the session */
    mqtt_saved_flush(&saved, &f->storage, 1);
    for (i = 0; i < f->n_jobs; i++)
        n_mqtt += fake_job(f, i)->kind == STORE_JOB_MQTT;
    assert_int_equal(n_mqtt, 1);
    client_close(&a);

    /* clean session 1: gone */
    client_open_saved(f, &a);
    assert_false(connect_session(&a, "dev-p", true));
    assert_null(mqtt_saved_find(&saved, "dev-p"));
    client_close(&a);
    mqtt_saved_flush(&saved, &f->storage, 2);
    fake_complete_all(f);
    mqtt_saved_table_cleanup(&saved);
    stop(f);
}

/*
 * After a restart (a session loaded with lease 300): right after CONNACK,
 * PUBREL for every id the client may still hold (counts 1..300, fewer
 * than R = 448 were ever leased). A delivery waits until the older ones
 * are answered (counts up to 300 + 256 - 448 = 108) and the next lease is
 * committed, then takes id 301, never one of those. A PUBCOMP for an id
 * not owed is ignored; a reconnect sends the PUBRELs still owed again.
 */
static void test_persistent_restart_pubrel(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct conn *js = NULL;
    struct pkt p;
    unsigned i = 0;

    start(f);
    mqtt_saved_table_init(&saved);
    assert_int_equal(mqtt_saved_load_row(&saved, 0, "dev-r", "u", 0), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 1, "dev-r", "r/#", 2), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 3, "dev-r", "", 300), 0);
    client_open_saved(f, &a);
    assert_true(connect_session(&a, "dev-r", false));
    for (i = 1; i <= 300; i++)
        expect_ack(&a, PL_MQTT_PUBREL, (uint16_t)i);
    expect_nothing(&a);
    js = fake_open(f);
    fake_send(f, js, "{\"op\":\"pub\",\"topic\":\"r/a\",\"data\":1}");
    fake_complete(f, 1);
    expect_nothing(&a); /* lease 300 is used up */
    for (i = 1; i <= 107; i++)
        assert_int_equal(send_ack(&a, PL_MQTT_PUBCOMP, (uint16_t)i), 0);
    assert_int_equal(send_ack(&a, PL_MQTT_PUBCOMP, 9999), MQTT_FEED_OK);
    assert_int_equal(send_ack(&a, PL_MQTT_PUBCOMP, 5), MQTT_FEED_OK);
    lease_commit(f, &a);
    expect_nothing(&a); /* count 108 may still be held: no new lease */
    assert_int_equal(send_ack(&a, PL_MQTT_PUBCOMP, 108), 0);
    lease_commit(f, &a);
    assert_int_equal(expect_publish(&a, "r/a", "1", 1, 2, false), 301);
    client_close(&a);

    client_open_saved(f, &a);
    assert_true(connect_session(&a, "dev-r", false));
    for (i = 109; i <= 300; i++)
        expect_ack(&a, PL_MQTT_PUBREL, (uint16_t)i);
    p = expect(&a, PL_MQTT_PUBLISH);
    assert_int_equal(p.flags, 0x08 | 0x04); /* the window: DUP, QoS 2 */
    assert_int_equal(u16(p.body + 5), 301);
    expect_nothing(&a);
    client_close(&a);
    mqtt_saved_flush(&saved, &f->storage, 3);
    fake_complete_all(f);
    mqtt_saved_table_cleanup(&saved);
    stop(f);
}

/* The last MQTT job submitted for client id, or NULL. */
static const struct store_job *mqtt_job_of(struct fake *f, const char *id)
{
    const struct store_job *found = NULL;
    size_t i = 0;

    for (i = 0; i < f->n_jobs; i++) {
        const struct store_job *j = fake_job(f, i);

        if (j->kind == STORE_JOB_MQTT && strcmp(j->mqtt->client_id, id) == 0)
            found = j;
    }
    return found;
}

/*
 * The sweep a restart makes, by what was stored: with a lease, the R =
 * 448 counts up to it; with none (a session stored by a build before
 * migration 008), every id, and no lease row is written until those
 * PUBRELs are answered (a crash meanwhile sweeps every id again).
 */
static void test_persistent_sweep_kinds(void **state)
{
    struct fake *f = *state;
    struct mqtt_saved *s = NULL;
    const struct store_job *j = NULL;

    start(f);
    mqtt_saved_table_init(&saved);
    assert_int_equal(mqtt_saved_load_row(&saved, 0, "new", "u", 0), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 3, "new", "", 1000), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 0, "old", "u", 0), 0);
    s = mqtt_saved_find(&saved, "new");
    assert_int_equal(mqtt_saved_sweep(s, 64), 0);
    assert_true(s->owed.from == 1000 - 448 + 1 && s->owed.n == 448);
    assert_true(s->pid_issued == 1000);
    assert_int_equal(mqtt_saved_sweep(s, 64), 0); /* once per restart */
    assert_true(s->owed.left == 448);
    s = mqtt_saved_find(&saved, "old");
    assert_int_equal(mqtt_saved_sweep(s, 64), 0);
    assert_true(s->owed.from == 1 && s->owed.n == 65535);
    assert_true(s->pid_issued == 65535 && s->pid_lease == 65535);
    mqtt_saved_attach(&saved, s, true);
    mqtt_saved_flush(&saved, &f->storage, 1);
    j = mqtt_job_of(f, "old");
    assert_non_null(j);
    assert_false(j->mqtt->set_lease);
    fake_complete_all(f);
    for (unsigned i = 1; i <= 65535; i++)
        assert_true(mqtt_pid_owed_done(&s->owed, (uint16_t)i));
    mqtt_saved_attach(&saved, s, false);
    mqtt_saved_flush(&saved, &f->storage, 2);
    j = mqtt_job_of(f, "old");
    assert_true(j->mqtt->set_lease && j->mqtt->lease == 65535);
    fake_complete_all(f);
    mqtt_saved_table_cleanup(&saved);
    stop(f);
}

/* The table of stored sessions is bounded: past MQTT_SAVED_MAX a new
 * clean session 0 gets CONNACK 3; a stored one resumes, clean session 1
 * connects. */
static void test_persistent_bound(void **state)
{
    struct fake *f = *state;
    struct client a;
    struct pkt p;
    char id[32];
    unsigned i = 0;

    start(f);
    mqtt_saved_table_init(&saved);
    for (i = 0; i < MQTT_SAVED_MAX; i++) {
        snprintf(id, sizeof(id), "d%u", i);
        assert_int_equal(mqtt_saved_load_row(&saved, 0, id, "u", 0), 0);
        assert_int_equal(mqtt_saved_load_row(&saved, 3, id, "", 0), 0);
    }
    client_open_saved(f, &a);
    assert_int_equal(send_connect(&a, "one-too-many", false, NULL, NULL,
                                  NULL), MQTT_FEED_CLOSE);
    p = expect(&a, PL_MQTT_CONNACK);
    assert_int_equal(p.body[1], 3);
    client_close(&a);
    client_open_saved(f, &a);
    assert_true(connect_session(&a, "d7", false));
    client_close(&a);
    client_open_saved(f, &a);
    assert_false(connect_session(&a, "one-too-many", true));
    client_close(&a);
    mqtt_saved_table_cleanup(&saved);
    stop(f);
}

/* Whether a store job dropping client id's session was submitted. */
static bool dropped_job(struct fake *f, const char *id)
{
    size_t i = 0;

    for (i = 0; i < f->n_jobs; i++) {
        const struct store_job *j = fake_job(f, i);

        if (j->kind == STORE_JOB_MQTT && j->mqtt->drop &&
            strcmp(j->mqtt->client_id, id) == 0)
            return true;
    }
    return false;
}

/*
 * Expiry (--mqtt-session-expiry): a bounded step goes on where the last
 * one stopped; a session nobody holds past the expiry is dropped (a
 * store job deletes it); one held by a connection is only written again
 * (last_seen refreshed) past half the expiry; once let go, its time runs
 * from its last write.
 */
static void test_persistent_expiry(void **state)
{
    struct fake *f = *state;
    struct client b;
    struct mqtt_saved *sb = NULL;
    bool more = false;

    start(f);
    mqtt_saved_table_init(&saved);
    assert_int_equal(mqtt_saved_load_row(&saved, 0, "a", "u", 1000), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 0, "b", "u", 1000), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 0, "c", "u", 9000), 0);
    assert_int_equal(mqtt_saved_load_row(&saved, 3, "b", "", 0), 0);
    client_open_saved(f, &b);
    assert_true(connect_session(&b, "b", false));
    mqtt_saved_flush(&saved, &f->storage, 2000);
    sb = mqtt_saved_find(&saved, "b");
    assert_false(sb->is_dirty);

    /* one session per step: c first (the newest loaded), kept */
    assert_int_equal(mqtt_saved_expire(&saved, 6500, 5000, 1, &more), 0);
    assert_true(more);
    assert_int_equal(saved.count, 3);
    /* then b, held: refreshed; a, not held, past the expiry: dropped */
    assert_int_equal(mqtt_saved_expire(&saved, 6500, 5000, 10, &more), 1);
    assert_false(more);
    assert_null(mqtt_saved_find(&saved, "a"));
    assert_true(sb->is_dirty);
    assert_non_null(mqtt_saved_find(&saved, "c"));
    mqtt_saved_flush(&saved, &f->storage, 6500);
    assert_true(dropped_job(f, "a"));

    /* b let go at 7000: it goes 5 s after that, c 5 s after 9000 */
    client_close(&b);
    mqtt_saved_flush(&saved, &f->storage, 7000);
    assert_int_equal(mqtt_saved_expire(&saved, 12000, 5000, 10, &more), 0);
    assert_int_equal(mqtt_saved_expire(&saved, 14001, 5000, 10, &more), 2);
    assert_int_equal(saved.count, 0);
    mqtt_saved_flush(&saved, &f->storage, 14001);
    assert_true(dropped_job(f, "b"));
    assert_true(dropped_job(f, "c"));
    fake_complete_all(f);
    mqtt_saved_table_cleanup(&saved);
    stop(f);
}

/*
 * A shared table (cluster mode): the store is the truth, so a clean
 * session 1 deletes a session no connection here holds; a session let go
 * stays until its last write is stored, and a failed write is made again
 * whole; an idle one is never dropped here (the store's TTL expires it),
 * only a held one rewritten, past a quarter of the expiry.
 */
static void test_shared_table(void **state)
{
    struct fake *f = *state;
    struct mqtt_saved_table t;
    struct mqtt_saved *d = NULL;
    const struct store_job *j = NULL;
    bool more = false;
    int64_t seq = 0;

    start(f);
    mqtt_saved_table_init(&t);
    t.shared = true;
    mqtt_saved_drop(&t, "ghost"); /* not held here */
    mqtt_saved_flush(&t, &f->storage, 1);
    assert_true(dropped_job(f, "ghost"));
    fake_complete_all(f);

    d = mqtt_saved_add(&t, "d", "u");
    assert_non_null(d);
    assert_false(d->restarted); /* new: nothing to sweep */
    assert_int_equal(d->pid_lease, 0);
    mqtt_saved_attach(&t, d, true);
    assert_int_equal(mqtt_saved_cursor_set(&t, d, "t/a", 5, false), 0);
    mqtt_saved_flush(&t, &f->storage, 2);
    fake_complete_all(f);
    /* held: a quarter of 4000 passed, rewritten; not dropped */
    assert_int_equal(mqtt_saved_expire(&t, 1003, 4000, 10, &more), 0);
    assert_true(d->is_dirty);
    mqtt_saved_flush(&t, &f->storage, 1003);
    fake_complete_all(f);

    /* let go: its write fails, so it stays and is written again whole */
    mqtt_saved_attach(&t, d, false);
    mqtt_saved_flush(&t, &f->storage, 1004);
    assert_non_null(mqtt_saved_find(&t, "d"));
    fake_fail(f, PL_ERR_OVERLOADED);
    assert_int_equal(t.write_errors, 1);
    assert_true(d->is_dirty);
    mqtt_saved_flush(&t, &f->storage, 1005);
    j = fake_job(f, 0);
    assert_int_equal(j->kind, STORE_JOB_MQTT);
    assert_true(j->mqtt->set_subs);
    assert_int_equal(j->mqtt->n_cursors, 1);
    assert_true(mqtt_saved_cursor(d, "t/a", &seq));
    assert_int_equal(seq, 5);
    /* stored: forgotten here */
    fake_complete_all(f);
    assert_null(mqtt_saved_find(&t, "d"));
    assert_int_equal(t.count, 0);
    mqtt_saved_table_cleanup(&t);
    stop(f);
}

/* A session read from a shared store at connect, with one filter at qos
 * and the stored lease. */
static struct mqtt_saved *read_back(struct mqtt_saved_table *t,
                                    const char *id, int qos, int64_t lease)
{
    struct store_job *job = mqtt_saved_read_job(id, NULL, NULL);
    struct mqtt_saved *s = NULL;
    bool oom = false;

    assert_non_null(job);
    job->mqtt->found = true;
    job->mqtt->user = strdup("u");
    job->mqtt->subs = calloc(1, sizeof(*job->mqtt->subs));
    assert_non_null(job->mqtt->subs);
    job->mqtt->subs[0].filter = strdup("t/#");
    job->mqtt->subs[0].qos = qos;
    job->mqtt->n_subs = 1;
    job->mqtt->set_lease = true;
    job->mqtt->lease = lease;
    s = mqtt_saved_load_job(t, job, &oom);
    assert_false(oom);
    store_job_free(&job);
    return s;
}

/* Cluster mode: a session read at connect from the shared store sweeps
 * (PUBREL) the ids below its stored lease a client may hold, as after a
 * restart, when it may have been sent QoS 2 deliveries elsewhere (a
 * filter granted QoS 2); with QoS 1 filters only it sweeps nothing (no
 * id is held for a QoS 1 delivery). Held here already with the same
 * lease: no sweep either. */
static void test_shared_read_sweeps(void **state)
{
    struct mqtt_saved_table t;
    struct mqtt_saved *s = NULL;

    (void)state;
    mqtt_saved_table_init(&t);
    t.shared = true;
    s = read_back(&t, "q2", 2, 1024);
    assert_non_null(s);
    assert_true(s->restarted);
    assert_int_equal(mqtt_saved_sweep(s, 64), 0);
    assert_true(s->owed.n > 0);
    assert_int_equal(s->owed.from + s->owed.n - 1, 1024);
    assert_int_equal(s->pid_issued, 1024); /* new ids above the lease */
    /* read again while held here, same lease: nothing more to sweep */
    s = read_back(&t, "q2", 2, 1024);
    assert_false(s->restarted);
    /* another node handed out ids meanwhile: swept from its lease */
    s = read_back(&t, "q2", 2, 1280);
    assert_true(s->restarted);
    s = read_back(&t, "q1", 1, 1024);
    assert_non_null(s);
    assert_false(s->restarted);
    mqtt_saved_table_cleanup(&t);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, fake_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_connect_rules),
        T(test_shared_table),
        cmocka_unit_test(test_shared_read_sweeps),
        T(test_puback_after_commit),
        T(test_qos2_stored_once),
        T(test_overlap_once_highest_qos),
        T(test_payload_both_ways),
        T(test_dollar_topics),
        T(test_takeover_and_will),
        T(test_malformed),
        T(test_auth),
        T(test_window),
        T(test_refusals_close),
        T(test_persistent_session),
        T(test_persistent_restart_pubrel),
        T(test_persistent_sweep_kinds),
        T(test_persistent_bound),
        T(test_persistent_expiry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
