/*
 * it_mqtt_broker.c: Parley's MQTT listener against real clients and a
 * real parleyd (started with --mqtt-port 0 by the test support): Debian's
 * mosquitto_pub and mosquitto_sub (QoS 0/1/2, retained and its clearing,
 * the will when a client is killed), MQTT <-> JSON both ways with the
 * payload mapping, and a raw socket for what no polite client does
 * (packets before CONNECT, oversized and truncated remaining lengths, a
 * CONNECT that never comes, the keepalive timeout, takeover, `$` topics,
 * a flood while a bystander keeps working). A second server with --secret
 * checks JWT passwords and allow_sub.
 *
 * No fixed sleeps: every wait is for a line, a packet or an exit, with a
 * deadline. A subscriber is known to be subscribed when the retained
 * "ready" message published before it started reaches it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "itest.h"
#include "jwt.h"
#include "mosq.h"
#include "mqraw.h"
#include "mqtt.h"

#define WAIT_MS MOSQ_WAIT_MS

#define SECRET "it-mqtt-secret"
#define PYTHON "/usr/bin/python3" /* Debian's, which has paho */

static int mqtt_port_of(void **state)
{
    struct itest *it = *state;

    return server_mqtt_port(it->srv);
}

/* mosquitto_sub -v on filter at qos with extra args, started after a
 * retained "ready" on ready_topic (which filter must match), and waited
 * for until that line arrives: it is subscribed from then on. */
static void mosq_sub_ready(struct child *ch, int port, const char *filter,
                           const char *qos, const char *ready_topic,
                           const char *const *extra)
{
    const char *opts[] = {"-v", "-q", qos, NULL};
    char line[512];
    char want[300];

    mosq_sub_after_ready(ch, port, opts, filter, ready_topic, extra);
    snprintf(want, sizeof(want), "%s ready", ready_topic);
    assert_true(child_line(ch, line, sizeof(line), WAIT_MS));
    assert_string_equal(line, want);
}

static void expect_line(struct child *ch, const char *want)
{
    char line[1024];

    assert_true(child_line(ch, line, sizeof(line), WAIT_MS));
    assert_string_equal(line, want);
}

/* ------------------------------------------------------------------ */
/* a raw MQTT client                                                   */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* tests                                                               */
/* ------------------------------------------------------------------ */

/* mosquitto_sub at QoS 2 gets what mosquitto_pub sends at 0, 1 and 2, in
 * order; each is stored with its seq, visible to history. */
static void test_mosquitto_qos(void **state)
{
    int port = mqtt_port_of(state);
    char filter[100], t[200], ready[200], want[300];
    struct child sub;
    const char *q0[] = {"-t", t, "-m", "zero", "-q", "0", NULL};
    const char *q1[] = {"-t", t, "-m", "one", "-q", "1", NULL};
    const char *q2[] = {"-t", t, "-m", "two", "-q", "2", NULL};
    struct httpc_resp r;
    char path[256];

    itest_topic(filter, sizeof(filter), "mq");
    snprintf(t, sizeof(t), "%s/kitchen", filter);
    snprintf(ready, sizeof(ready), "%s/ready", filter);
    strcat(filter, "/#");
    mosq_sub_ready(&sub, port, filter, "2", ready, NULL);
    assert_int_equal(mosq_pub(port, q0), 0);
    assert_int_equal(mosq_pub(port, q1), 0);
    assert_int_equal(mosq_pub(port, q2), 0);
    snprintf(want, sizeof(want), "%s zero", t);
    expect_line(&sub, want);
    snprintf(want, sizeof(want), "%s one", t);
    expect_line(&sub, want);
    snprintf(want, sizeof(want), "%s two", t);
    expect_line(&sub, want);
    child_kill(&sub);

    snprintf(path, sizeof(path), "/api/history?topic=%s", t);
    assert_int_equal(httpc_get(itest_port(state), path, &r, WAIT_MS), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"seq\":3"));
    assert_non_null(strstr(r.body, "\"data\":\"two\""));
    httpc_resp_cleanup(&r);
}

/* A retained message reaches a later subscriber; an empty retained
 * payload clears it. */
static void test_mosquitto_retained(void **state)
{
    int port = mqtt_port_of(state);
    char t[100], t2[200], filter[200], want[300];
    struct child sub;
    const char *set[] = {"-t", t, "-m", "21.5", "-r", "-q", "1", NULL};
    const char *clear[] = {"-t", t, "-n", "-r", "-q", "1", NULL};
    const char *argv_sub[] = {MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", NULL,
                              "-v", "-C", "1", "-t", t, NULL};
    char p[16];

    itest_topic(t, sizeof(t), "ret");
    snprintf(filter, sizeof(filter), "%s/#", t);
    assert_int_equal(mosq_pub(port, set), 0);
    snprintf(p, sizeof(p), "%d", port);
    argv_sub[4] = p;
    child_start(&sub, argv_sub);
    snprintf(want, sizeof(want), "%s 21.5", t);
    expect_line(&sub, want);
    assert_int_equal(child_wait(&sub, WAIT_MS), 0);

    /* Cleared: a subscriber to the topic and a sibling sees the sibling's
     * retained "ready" and nothing of the cleared one. */
    assert_int_equal(mosq_pub(port, clear), 0);
    snprintf(t2, sizeof(t2), "%s/x", t);
    mosq_sub_ready(&sub, port, filter, "0", t2, NULL);
    child_kill(&sub);
}

/* MQTT -> JSON with the payload mapping, and JSON -> MQTT as raw text. */
static void test_mqtt_json_both_ways(void **state)
{
    int port = mqtt_port_of(state);
    char base[100], t[200], filter[200], ready[200], want[300];
    struct rawws *js = itest_hello(itest_port(state), "dash");
    struct rawws *js2 = NULL;
    const char *json[] = {"-t", t, "-m", "{\"t\": 21.5}", "-q", "1", NULL};
    const char *text[] = {"-t", t, "-m", "hello", "-q", "1", NULL};
    struct child sub;
    cJSON *m = NULL;
    cJSON *ok = NULL;

    assert_non_null(js);
    itest_topic(base, sizeof(base), "sensors");
    snprintf(t, sizeof(t), "%s/temp", base);
    snprintf(filter, sizeof(filter), "%s/#", base);
    ok = itest_sub(js, 2, filter);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(mosq_pub(port, json), 0);
    m = itest_expect_msg(js, t, 1, WAIT_MS);
    assert_non_null(m);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(
        cJSON_GetObjectItem(m, "data"), "t")));
    cJSON_Delete(m);
    assert_int_equal(mosq_pub(port, text), 0);
    m = itest_expect_msg(js, t, 2, WAIT_MS);
    assert_non_null(m);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "data")),
                        "hello");
    cJSON_Delete(m);

    /* JSON -> MQTT: a string arrives as its text, an object as JSON. */
    snprintf(ready, sizeof(ready), "%s/ready", base);
    mosq_sub_ready(&sub, port, filter, "1", ready, NULL);
    js2 = itest_hello(itest_port(state), "browser");
    assert_non_null(js2);
    assert_true(itest_pub(js2, 3, t, "\"hello from json\"") > 0);
    snprintf(want, sizeof(want), "%s hello from json", t);
    expect_line(&sub, want);
    assert_true(itest_pub(js2, 4, t, "{\"on\":true}") > 0);
    snprintf(want, sizeof(want), "%s {\"on\":true}", t);
    expect_line(&sub, want);
    child_kill(&sub);
    rawws_close(js2);
    rawws_close(js);
}

/* A client killed without DISCONNECT: its will is published, as the
 * client's message, to JSON subscribers too. */
static void test_will_on_kill(void **state)
{
    int port = mqtt_port_of(state);
    char base[100], t[200], filter[200], ready[200], wt[200];
    struct rawws *js = itest_hello(itest_port(state), "watch");
    const char *extra[] = {"--will-topic", wt, "--will-payload", "lost",
                           NULL};
    struct child sub;
    cJSON *ok = NULL;
    cJSON *m = NULL;

    assert_non_null(js);
    itest_topic(base, sizeof(base), "will");
    snprintf(t, sizeof(t), "%s/data", base);
    snprintf(wt, sizeof(wt), "%s/status", base);
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(ready, sizeof(ready), "%s/ready", base);
    ok = itest_sub(js, 2, wt);
    assert_non_null(ok);
    cJSON_Delete(ok);
    mosq_sub_ready(&sub, port, filter, "1", ready, extra);
    child_kill(&sub);
    m = itest_expect_msg(js, wt, 1, WAIT_MS);
    assert_non_null(m);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "data")),
                        "lost");
    cJSON_Delete(m);
    rawws_close(js);
}

/* A client silent for 1.5 times its keepalive is closed, and its will
 * goes; a DISCONNECT leaves no will. */
static void test_keepalive_timeout(void **state)
{
    int port = mqtt_port_of(state);
    struct mq m;
    struct mq w;
    char t[100];
    uint8_t code = 0;
    uint8_t q = 0;
    const char *f[1];
    int64_t t0 = 0;
    int64_t took = 0;

    itest_topic(t, sizeof(t), "ka");
    f[0] = t;
    assert_int_equal(mq_connect(&w, port, "ka-watch", 0, NULL, NULL), 0);
    mq_subscribe(&w, f, &q, 1, &code);
    assert_int_equal(code, 0);
    assert_int_equal(mq_connect(&m, port, "ka-dev", 1, t, NULL), 0);
    t0 = itest_mono_ms();
    mq_expect_eof(&m, 4000);
    took = itest_mono_ms() - t0;
    /* 1.5 s, as lws's timeouts tick in whole seconds: up to 1 s later */
    assert_true(took >= 1000 && took < 3500);
    mq_close(&m);
    assert_int_equal(mq_expect_publish(&w, t, "offline"), 0);
    mq_close(&w);
}

/* A second CONNECT with the same client id closes the first. */
static void test_takeover(void **state)
{
    int port = mqtt_port_of(state);
    struct mq a;
    struct mq b;
    struct mq_pkt p;
    struct httpc_resp r;
    unsigned char ping[2] = {0xc0, 0};

    assert_int_equal(mq_connect(&a, port, "same-id", 60, NULL, NULL), 0);
    assert_int_equal(mq_connect(&b, port, "same-id", 60, NULL, NULL), 0);
    mq_expect_eof(&a, WAIT_MS);
    mq_close(&a);
    assert_true(mq_send(&b, ping, 2));
    mq_expect(&b, &p, PL_MQTT_PINGRESP);
    mq_close(&b);
    /* the only takeover of this server, counted */
    assert_int_equal(httpc_get(itest_port(state), "/metrics", &r, WAIT_MS),
                     0);
    assert_non_null(strstr(r.body, "\nparley_mqtt_takeovers_total 1\n"));
    httpc_resp_cleanup(&r);
}

/* Overlapping filters: one delivery, at the higher QoS; a publish to a
 * `$` topic (the server's own) is acknowledged and dropped, and `+` would
 * not match it anyway; a filter Parley refuses gets 0x80. */
static void test_overlap_and_dollar(void **state)
{
    int port = mqtt_port_of(state);
    char base[100], t[200], f1[200], f2[200];
    const char *filters[] = {f1, f2, "+/ov", "a//b"};
    const uint8_t qos[] = {1, 2, 0, 0};
    uint8_t codes[4];
    struct mq m;
    struct mq pub;
    struct mq_pkt p;

    itest_topic(base, sizeof(base), "ov");
    snprintf(t, sizeof(t), "%s/x", base);
    snprintf(f1, sizeof(f1), "%s/+", base);
    snprintf(f2, sizeof(f2), "%s/#", base);
    assert_int_equal(mq_connect(&m, port, "ov-sub", 60, NULL, NULL), 0);
    mq_subscribe(&m, filters, qos, 4, codes);
    assert_int_equal(codes[0], 1);
    assert_int_equal(codes[1], 2);
    assert_int_equal(codes[2], 0);
    assert_int_equal(codes[3], 0x80);
    assert_int_equal(mq_connect(&pub, port, "ov-pub", 60, NULL, NULL), 0);
    mq_publish(&pub, "$SYS/ov", "no", 1, 1);
    mq_expect(&pub, &p, PL_MQTT_PUBACK);
    mq_publish(&pub, t, "once", 1, 2);
    mq_expect(&pub, &p, PL_MQTT_PUBACK);
    assert_int_equal(mq_expect_publish(&m, t, "once"), 2);
    /* nothing more: a ping's answer comes next */
    assert_true(mq_send(&m, (const unsigned char[]){0xc0, 0}, 2));
    mq_expect(&m, &p, PL_MQTT_PINGRESP);
    mq_close(&m);
    mq_close(&pub);
}

/* Hostile bytes close only their own connection. */
static void test_hostile(void **state)
{
    int port = mqtt_port_of(state);
    struct itest_bystander by;
    struct mq m;
    static const unsigned char before[] = {0x82, 0x06, 0, 1, 0, 1, 'a', 0};
    static const unsigned char five[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const unsigned char huge[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    static const unsigned char half[] = {0x10, 0x20, 0, 4, 'M', 'Q'};

    assert_int_equal(itest_bystander_start(itest_port(state), &by), 0);
    mq_open(&m, port);
    assert_true(mq_send(&m, before, sizeof(before)));
    mq_expect_eof(&m, WAIT_MS);
    mq_close(&m);
    mq_open(&m, port);
    assert_true(mq_send(&m, five, sizeof(five)));
    mq_expect_eof(&m, WAIT_MS);
    mq_close(&m);
    assert_int_equal(mq_connect(&m, port, "huge", 60, NULL, NULL), 0);
    assert_true(mq_send(&m, huge, sizeof(huge)));
    mq_expect_eof(&m, WAIT_MS);
    mq_close(&m);
    /* a CONNECT that never completes: closed at --handshake-timeout (1s) */
    mq_open(&m, port);
    assert_true(mq_send(&m, half, sizeof(half)));
    mq_expect_eof(&m, 4000);
    mq_close(&m);
    assert_true(itest_bystander_ok(&by));
    rawws_close(by.c);
}

/* One client floods QoS 0 publishes; another keeps its round trips. */
static void test_flood(void **state)
{
    int port = mqtt_port_of(state);
    struct mq flood;
    struct mq m;
    struct mq_pkt p;
    char t[100], mine[200];
    const char *f[1];
    uint8_t q = 1, code = 0;
    unsigned char pkt[600];
    unsigned char burst[64 * 600];
    size_t n = 0;
    size_t k = 0;
    int i = 0;

    itest_topic(t, sizeof(t), "flood");
    snprintf(mine, sizeof(mine), "%s/mine", t);
    f[0] = mine;
    assert_int_equal(mq_connect(&flood, port, "flooder", 60, NULL, NULL), 0);
    assert_int_equal(mq_connect(&m, port, "calm", 60, NULL, NULL), 0);
    mq_subscribe(&m, f, &q, 1, &code);
    assert_int_equal(code, 1);
    memset(pkt, 'x', sizeof(pkt));
    n = pl_mqtt_put_publish(pkt, sizeof(pkt), t, strlen(t), 0, false, false,
                            0, "flooding", 8);
    for (k = 0; k + n <= sizeof(burst); k += n)
        memcpy(burst + k, pkt, n);
    for (i = 0; i < 5; i++) {
        int j = 0;
        int64_t t0 = 0;

        for (j = 0; j < 20; j++)
            (void)send(flood.fd, burst, k, MSG_NOSIGNAL | MSG_DONTWAIT);
        t0 = itest_mono_ms();
        mq_publish(&m, mine, "still here", 1, (uint16_t)(i + 1));
        mq_expect(&m, &p, PL_MQTT_PUBLISH);
        mq_expect(&m, &p, PL_MQTT_PUBACK);
        assert_true(itest_mono_ms() - t0 < 2000);
    }
    mq_close(&flood);
    mq_close(&m);
}

/* With --secret: no password is CONNACK 5, a bad one 4, a JWT logs in
 * and its allow_sub refuses a filter with 0x80; mosquitto_pub with the
 * token as its password publishes. */
static void test_jwt_password(void **state)
{
    int port = mqtt_port_of(state);
    const char *const allow[] = {"ok/#"};
    char *tok = pl_jwt_sign(SECRET, strlen(SECRET), "dev7", 0, allow, 1,
                            allow, 1);
    const char *filters[] = {"ok/x", "no/x"};
    const uint8_t qos[] = {1, 1};
    uint8_t codes[2];
    struct mq m;
    const char *good[] = {"-t", "ok/x", "-m", "1", "-q", "1", "-u", "dev",
                          "-P", tok, NULL};
    const char *bad[] = {"-t", "ok/y", "-m", "1", "-q", "1", "-u", "dev",
                         "-P", "not-a-token", NULL};

    assert_non_null(tok);
    assert_int_equal(mq_connect(&m, port, "j1", 60, NULL, NULL), 5);
    mq_close(&m);
    assert_int_equal(mq_connect(&m, port, "j2", 60, NULL, "bad"), 4);
    mq_close(&m);
    assert_int_equal(mq_connect(&m, port, "j3", 60, NULL, tok), 0);
    mq_subscribe(&m, filters, qos, 2, codes);
    assert_int_equal(codes[0], 1);
    assert_int_equal(codes[1], 0x80);
    assert_int_equal(mosq_pub(port, good), 0);
    assert_int_equal(mq_expect_publish(&m, "ok/x", "1"), 1);
    assert_true(mosq_pub(port, bad) != 0);
    mq_close(&m);
    free(tok);
}

static bool have_paho(void)
{
    return access(PYTHON, X_OK) == 0 &&
           system(PYTHON " -c 'import paho.mqtt.client' 2>/dev/null") == 0;
}

/* paho_parley.py MODE PORT TOPIC must print "MODE ok". */
static void paho_run(const char *mode, int port)
{
    char p[16];
    char t[100];
    char line[512];
    char want[64];
    struct child ch;
    const char *argv[] = {PYTHON, PAHO_SCRIPT, mode, p, t, NULL};

    if (!have_paho())
        skip();
    snprintf(p, sizeof(p), "%d", port);
    itest_topic(t, sizeof(t), "paho");
    strcat(t, "/x");
    child_start(&ch, argv);
    snprintf(want, sizeof(want), "%s ok", mode);
    assert_true(child_line(&ch, line, sizeof(line), 2 * WAIT_MS));
    assert_string_equal(line, want);
    assert_int_equal(child_wait(&ch, WAIT_MS), 0);
}

/* paho over TCP: overlapping filters granted 1 and 2, a binary payload
 * delivered once at QoS 2, byte for byte. */
static void test_paho_tcp(void **state)
{
    paho_run("tcp", mqtt_port_of(state));
}

/* paho: a second client with the same id takes over from the first. */
static void test_paho_takeover(void **state)
{
    paho_run("takeover", mqtt_port_of(state));
}

/* paho over WebSocket on the main port at /mqtt, subprotocol mqtt. */
static void test_paho_websocket(void **state)
{
    paho_run("ws", itest_port(state));
}

/* --mqtts-port with --cert/--key: mosquitto over TLS, checked against
 * the certificate; a plaintext client on that port gets nowhere. */
static char tls_dir[64];
static char tls_cert[128];
static char tls_key[128];

static void test_mqtts(void **state)
{
    struct itest *it = *state;
    int port = server_mqtt_port(it->srv);
    char p[16];
    char t[100];
    char want[200];
    struct child sub;
    const char *tls_sub[] = {MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", p,
                             "--cafile", tls_cert, "--insecure", "-v", "-C",
                             "1", "-t", t, NULL};
    const char *tls_pub[] = {"--cafile", tls_cert, "--insecure", "-t", t,
                             "-m", "over tls", "-q", "1", "-r", NULL};
    const char *plain_pub[] = {"-t", t, "-m", "plain", "-q", "1", NULL};
    int tls_port = -1;

    /* both ports are in the ready line */
    assert_true(port > 0);
    tls_port = server_mqtts_port(it->srv);
    assert_true(tls_port > 0);
    itest_topic(t, sizeof(t), "tls");
    snprintf(p, sizeof(p), "%d", tls_port);
    assert_int_equal(mosq_pub(tls_port, tls_pub), 0);
    child_start(&sub, tls_sub);
    snprintf(want, sizeof(want), "%s over tls", t);
    expect_line(&sub, want);
    assert_int_equal(child_wait(&sub, WAIT_MS), 0);
    assert_true(mosq_pub(tls_port, plain_pub) != 0);
}

static int setup_tls(void **state)
{
    const char *const extra[] = {"--cert", tls_cert, "--key", tls_key,
                                 "--mqtts-port", "0", NULL};
    char cmd[512];

    snprintf(tls_dir, sizeof(tls_dir), "/tmp/parley-mqtts-XXXXXX");
    if (mkdtemp(tls_dir) == NULL)
        return -1;
    snprintf(tls_cert, sizeof(tls_cert), "%s/cert.pem", tls_dir);
    snprintf(tls_key, sizeof(tls_key), "%s/key.pem", tls_dir);
    snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "
             "/CN=127.0.0.1 -keyout %s -out %s >/dev/null 2>&1", tls_key,
             tls_cert);
    if (system(cmd) != 0)
        return -1;
    return itest_setup(state, extra);
}

static int teardown_tls(void **state)
{
    int rc = itest_teardown(state);

    unlink(tls_cert);
    unlink(tls_key);
    rmdir(tls_dir);
    return rc;
}

/* --max-conns-per-ip counts MQTT connections as it counts WebSockets:
 * past it a connection is closed before a CONNACK. */
/* Wait until the server counts n open TCP connections, this /metrics
 * request included. A request refused while the per-IP cap is still full
 * is tried again, until WAIT_MS. */
static void wait_tcp_conns(void **state, unsigned n)
{
    int64_t deadline = itest_mono_ms() + WAIT_MS;
    char want[64];
    bool done = false;

    snprintf(want, sizeof(want), "\nparley_tcp_connections %u\n", n);
    while (!done) {
        struct httpc_resp r;

        if (httpc_get(itest_port(state), "/metrics", &r, WAIT_MS) == 0) {
            done = strstr(r.body, want) != NULL;
            httpc_resp_cleanup(&r);
        }
        assert_true(done || itest_mono_ms() < deadline);
        if (!done)
            poll(NULL, 0, 10); /* between retries, not a wait for the state */
    }
}

static void test_per_ip_cap(void **state)
{
    int port = mqtt_port_of(state);
    struct mq a;
    struct mq b;
    struct mq c;

    assert_int_equal(mq_connect(&a, port, "ip-a", 60, NULL, NULL), 0);
    assert_int_equal(mq_connect(&b, port, "ip-b", 60, NULL, NULL), 0);
    /* closed at once: well before --handshake-timeout (10 s) */
    mq_open(&c, port);
    mq_expect_eof(&c, 3000);
    mq_close(&c);
    mq_close(&a);
    mq_close(&b);
    /* The cap's slots come back when the server has seen the closes: the
     * next test's connections would be refused before that. */
    wait_tcp_conns(state, 1);
}

/* A QoS 1 subscriber that never acknowledges: 64 deliveries go out, the
 * rest wait in its queue, and past --queue-msgs it is disconnected (the
 * counterpart of 4008) while the publisher carries on. */
static void test_slow_subscriber(void **state)
{
    int port = mqtt_port_of(state);
    char t[100];
    const char *f[1];
    uint8_t q = 1, code = 0;
    struct mq sub;
    struct mq pub;
    struct mq_pkt p;
    int i = 0;

    itest_topic(t, sizeof(t), "slow");
    f[0] = t;
    assert_int_equal(mq_connect(&sub, port, "slow-sub", 60, NULL, NULL), 0);
    mq_subscribe(&sub, f, &q, 1, &code);
    assert_int_equal(code, 1);
    assert_int_equal(mq_connect(&pub, port, "slow-pub", 60, NULL, NULL), 0);
    for (i = 1; i <= 150; i++) {
        mq_publish(&pub, t, "x", 1, (uint16_t)i);
        mq_expect(&pub, &p, PL_MQTT_PUBACK);
    }
    mq_expect_eof(&sub, WAIT_MS); /* 64 PUBLISHes, unacked, then closed */
    mq_close(&sub);
    mq_publish(&pub, t, "y", 1, 151);
    mq_expect(&pub, &p, PL_MQTT_PUBACK);
    mq_close(&pub);
}

/* ------------------------------------------------------------------ */
/* persistent sessions (clean session 0)                               */
/* ------------------------------------------------------------------ */

/* The MQTT port of the "persist" group: fixed, so that a client can
 * reconnect to a restarted server by itself. */
static char persist_port[16];

/* A port free now on loopback (the kernel's pick). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* The outbound QoS 2 ids a client keeps as MQTT 3.1.1 4.3.3 Method B
 * does: held from the PUBLISH until its PUBREL. */
struct mq_held {
    bool id[65536];
    unsigned pubrels;
};

/* The next packet that is not a PUBREL; every PUBREL before it releases
 * its id and is answered with PUBCOMP, as such a client does. */
static void mq_next_held(struct mq *m, struct mq_held *h, struct mq_pkt *p)
{
    for (;;) {
        uint16_t id = 0;

        assert_int_equal(mq_next(m, p, WAIT_MS), 1);
        if (p->type != PL_MQTT_PUBREL)
            return;
        id = (uint16_t)(p->body[0] << 8 | p->body[1]);
        h->id[id] = false;
        h->pubrels++;
        mq_ack(m, PL_MQTT_PUBCOMP, id);
    }
}

/* mq_expect_delivery for such a client: a QoS 2 PUBLISH on an id it
 * still holds fails the test (the client would take the new message for
 * a duplicate and drop it); one on a free id is held from now on. */
static uint16_t mq_expect_delivery_held(struct mq *m, struct mq_held *h,
                                        const char *topic,
                                        const char *payload, bool *dup,
                                        uint8_t *qos)
{
    struct mq_pkt p;
    uint16_t id = 0;

    mq_next_held(m, h, &p);
    id = mq_delivery_of(&p, topic, payload, dup, qos);
    if (*qos == 2) {
        assert_false(h->id[id]);
        h->id[id] = true;
    }
    return id;
}

/* Publish payload on topic at QoS 1 through a short-lived client. */
static void persist_pub(int port, const char *topic, const char *payload)
{
    const char *const args[] = {"-q", "1", "-t", topic, "-m", payload, NULL};

    assert_int_equal(mosq_pub(port, args), 0);
}

/*
 * The issue's case: mosquitto_sub -c keeps its subscription while it is
 * away (SIGKILLed) and while parleyd is SIGKILLed and restarted, and gets
 * every message it missed, in order. Then a running mosquitto_sub -c
 * sees parleyd die, reconnects by itself and gets what was published
 * meanwhile. QoS 1 is at least once: a repeat may come (a cursor not yet
 * written at the kill), but only of a message already received, and the
 * first arrivals are exactly m2..m7 in order.
 */
static void test_persist_mosquitto_kill(void **state)
{
    int port = mqtt_port_of(state);
    char base[100], filter[120], data[120], ready[120], id[64];
    char line[1024], want[200];
    const char *extra[] = {"-c", "-i", id, NULL};
    const char *argv[] = {MOSQUITTO_SUB, "-h", "127.0.0.1", "-p",
                          persist_port, "-v", "-q", "1", "-c", "-i", id,
                          "-t", filter, NULL};
    struct child sub;
    int next = 2; /* the first payload not yet received */
    int i = 0;

    itest_topic(base, sizeof(base), "ps");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(data, sizeof(data), "%s/d", base);
    snprintf(ready, sizeof(ready), "%s/ready", base);
    snprintf(id, sizeof(id), "persist-%d", (int)getpid());
    mosq_sub_ready(&sub, port, filter, "1", ready, extra);
    persist_pub(port, data, "m1");
    snprintf(want, sizeof(want), "%s m1", data);
    expect_line(&sub, want);
    child_kill(&sub); /* away, without DISCONNECT */

    persist_pub(port, data, "m2");
    persist_pub(port, data, "m3");
    assert_int_equal(itest_restart(state, true), 0);
    assert_int_equal(mqtt_port_of(state), port);
    persist_pub(port, data, "m4");
    persist_pub(port, data, "m5");

    child_start(&sub, argv);
    for (i = 0; next <= 7 && i < 100; i++) {
        char *payload = NULL;
        int k = 0;

        assert_true(child_line(&sub, line, sizeof(line), 3 * WAIT_MS));
        if (strncmp(line, ready, strlen(ready)) == 0)
            continue; /* the retained "ready", again at each SUBSCRIBE */
        payload = strchr(line, ' ');
        assert_non_null(payload);
        assert_int_equal((size_t)(payload - line), strlen(data));
        assert_memory_equal(line, data, strlen(data));
        assert_int_equal(payload[1], 'm');
        k = atoi(payload + 2);
        assert_true(k >= 1 && k <= next); /* never past a missing one */
        if (k != next)
            continue; /* a repeat of one already received */
        next++;
        if (next == 6) {
            /* m2..m5 are in: now parleyd dies under the running client,
             * which reconnects by itself to the same port */
            assert_int_equal(itest_restart(state, true), 0);
            assert_int_equal(mqtt_port_of(state), port);
            persist_pub(port, data, "m6");
            persist_pub(port, data, "m7");
        }
    }
    assert_int_equal(next, 8);
    child_kill(&sub);
}

/*
 * A raw client with clean session 0: deliveries it did not acknowledge
 * are resent on resume, first, with DUP and their packet ids, in order;
 * CONNACK says the session is present. Clean session 1 deletes it: the
 * next clean session 0 starts empty and gets nothing of the topic.
 */
static void test_persist_resend_and_wipe(void **state)
{
    int port = mqtt_port_of(state);
    char t[100];
    const char *f[1];
    uint8_t q = 1, code = 0, qos = 0;
    uint16_t ids[3];
    bool present = true, dup = true;
    struct mq sub;
    char id[64];

    itest_topic(t, sizeof(t), "pw");
    f[0] = t;
    snprintf(id, sizeof(id), "raw-%d", (int)getpid());
    assert_int_equal(mq_connect_ex(&sub, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_false(present);
    mq_subscribe(&sub, f, &q, 1, &code);
    assert_int_equal(code, 1);
    persist_pub(port, t, "a");
    persist_pub(port, t, "b");
    persist_pub(port, t, "c");
    ids[0] = mq_expect_delivery(&sub, t, "a", &dup, &qos);
    assert_false(dup);
    assert_int_equal(qos, 1);
    ids[1] = mq_expect_delivery(&sub, t, "b", &dup, &qos);
    ids[2] = mq_expect_delivery(&sub, t, "c", &dup, &qos);
    mq_ack(&sub, PL_MQTT_PUBACK, ids[0]);
    mq_expect_nothing_queued(&sub); /* the PUBACK was read */
    mq_close(&sub);

    /* b and c again, DUP, same ids, in order; then new ones, no DUP */
    assert_int_equal(mq_connect_ex(&sub, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_true(present);
    assert_int_equal(mq_expect_delivery(&sub, t, "b", &dup, &qos), ids[1]);
    assert_true(dup);
    assert_int_equal(mq_expect_delivery(&sub, t, "c", &dup, &qos), ids[2]);
    assert_true(dup);
    mq_ack(&sub, PL_MQTT_PUBACK, ids[1]);
    mq_ack(&sub, PL_MQTT_PUBACK, ids[2]);
    persist_pub(port, t, "d");
    ids[0] = mq_expect_delivery(&sub, t, "d", &dup, &qos);
    assert_false(dup);
    mq_ack(&sub, PL_MQTT_PUBACK, ids[0]);
    mq_expect_nothing_queued(&sub);
    mq_close(&sub);

    /* clean session 1: the stored session goes */
    assert_int_equal(mq_connect_ex(&sub, port, id, 60, NULL, NULL, true,
                                   &present), 0);
    assert_false(present);
    mq_close(&sub);
    persist_pub(port, t, "e");
    assert_int_equal(mq_connect_ex(&sub, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_false(present);
    mq_expect_nothing_queued(&sub);
    mq_close(&sub);
}

/* How many messages of topic are stored (history, at most 1000), and
 * the oldest one's seq into *oldest (0 when none). */
static int history_of(int port, const char *topic, int64_t *oldest)
{
    struct rawws *c = itest_hello(port, "probe");
    cJSON *ok = NULL;
    const cJSON *msgs = NULL;
    int n = 0;

    assert_non_null(c);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":2,"
                                         "\"topic\":\"%s\",\"limit\":1000}",
                                      topic), 0);
    ok = rawws_expect_op(c, "ok", WAIT_MS);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    n = cJSON_GetArraySize(msgs);
    *oldest = 0;
    if (n > 0)
        *oldest = (int64_t)cJSON_GetObjectItemCaseSensitive(
                      cJSON_GetArrayItem(msgs, 0), "seq")->valuedouble;
    cJSON_Delete(ok);
    rawws_close(c);
    return n;
}

/* The oldest stored seq of topic (history), 0 when none. */
static int64_t oldest_stored(int port, const char *topic)
{
    int64_t seq = 0;

    history_of(port, topic, &seq);
    return seq;
}

/*
 * What retention pruned while a session was away is not replayed, and
 * the device is told: its gap topic ($parley/sessions/<id>/gap, which it
 * subscribed to) gets {"topic","from","to"} before the messages that are
 * still stored, which all come, in order.
 */
static void test_persist_gap(void **state)
{
    int port = mqtt_port_of(state);
    char t[100], gap[160], id[64], want[300], pay[16];
    const char *f[2] = {t, gap};
    uint8_t q[2] = {1, 1}, codes[2] = {0, 0}, qos = 0;
    bool present = false, dup = false;
    struct mq sub;
    struct mq_pkt p;
    struct httpc_resp r;
    int64_t oldest = 0;
    int64_t deadline = 0;
    int i = 0;

    itest_topic(t, sizeof(t), "pg");
    snprintf(id, sizeof(id), "gap-%d", (int)getpid());
    snprintf(gap, sizeof(gap), "$parley/sessions/%s/gap", id);
    assert_int_equal(mq_connect_ex(&sub, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    mq_subscribe(&sub, f, q, 2, codes);
    assert_int_equal(codes[0], 1);
    assert_int_equal(codes[1], 0); /* the gap topic: QoS 0 */
    mq_close(&sub);

    /* 40 while away; --retain-messages 20 keeps 21..40 */
    for (i = 1; i <= 40; i++) {
        snprintf(pay, sizeof(pay), "g%d", i);
        persist_pub(port, t, pay);
    }
    deadline = itest_mono_ms() + 3 * WAIT_MS;
    while ((oldest = oldest_stored(itest_port(state), t)) < 21 &&
           itest_left_ms(deadline) > 0)
        poll(NULL, 0, 100); /* pruning runs in rounds; bounded */
    assert_int_equal(oldest, 21);
    /* Restarted, so that no message comes from the memory of recent ones:
     * the replay reads the store, which lost 1..20. */
    assert_int_equal(itest_restart(state, false), 0);

    assert_int_equal(mq_connect_ex(&sub, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_true(present);
    snprintf(want, sizeof(want),
             "{\"topic\":\"%s\",\"from\":1,\"to\":20,\"reason\":\"not stored\"}",
             t);
    mq_expect(&sub, &p, PL_MQTT_PUBLISH);
    assert_int_equal((p.flags >> 1) & 3, 0);
    assert_int_equal((size_t)(p.body[0] << 8 | p.body[1]), strlen(gap));
    assert_memory_equal(p.body + 2, gap, strlen(gap));
    assert_int_equal(p.len - 2 - strlen(gap), strlen(want));
    assert_memory_equal(p.body + 2 + strlen(gap), want, strlen(want));
    for (i = 21; i <= 40; i++) {
        uint16_t pid = 0;

        snprintf(pay, sizeof(pay), "g%d", i);
        pid = mq_expect_delivery(&sub, t, pay, &dup, &qos);
        assert_int_equal(qos, 1);
        mq_ack(&sub, PL_MQTT_PUBACK, pid);
    }
    mq_expect_nothing_queued(&sub);
    mq_close(&sub);
    assert_int_equal(httpc_get(itest_port(state), "/metrics", &r, WAIT_MS),
                     0);
    assert_non_null(strstr(r.body, "\nparley_mqtt_session_gaps_total 1\n"));
    httpc_resp_cleanup(&r);
}

/* How many messages topic holds (history). */
static int stored_count(void **state, const char *topic)
{
    int64_t oldest = 0;

    return history_of(itest_port(state), topic, &oldest);
}

/*
 * Mosquitto #1726, the other way round: a QoS 2 PUBLISH stored and
 * answered with PUBREC, then parleyd SIGKILLed before PUBREL. The client
 * (clean session 0) reconnects and sends it again with DUP (4.4): PUBREC,
 * and it is not stored a second time. After PUBREL the packet id carries
 * a new message, which is stored. A DUP retry after a plain reconnect
 * (no crash) is answered the same way.
 */
static void test_persist_qos2_once_across_kill(void **state)
{
    int port = mqtt_port_of(state);
    char t[100], id[64];
    bool present = false;
    struct mq m;

    itest_topic(t, sizeof(t), "q2");
    snprintf(id, sizeof(id), "q2-%d", (int)getpid());
    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    mq_publish2(&m, t, "once", 7, false);
    assert_int_equal(itest_restart(state, true), 0);
    mq_close(&m);

    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_true(present);
    mq_publish2(&m, t, "once", 7, true);
    mq_release(&m, 7);
    assert_int_equal(stored_count(state, t), 1);

    /* released: id 7 is free for a new message */
    mq_publish2(&m, t, "again", 7, false);
    assert_int_equal(stored_count(state, t), 2);
    /* the connection drops before PUBREL; the retry comes on a new one */
    mq_close(&m);
    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    mq_publish2(&m, t, "again", 7, true);
    mq_release(&m, 7);
    assert_int_equal(stored_count(state, t), 2);
    mq_close(&m);
}

/*
 * The outbound side across a crash: a QoS 2 delivery to a persistent
 * subscriber whose PUBREC came but whose exchange never completed (no
 * PUBCOMP: a client that delivers on PUBREL, as paho does, may not have
 * handed it on) is not lost: after the restart it is
 * delivered again, replayed from the store at QoS 1. One that completed
 * (PUBCOMP) is not.
 */
static void test_persist_qos2_out_across_kill(void **state)
{
    int port = mqtt_port_of(state);
    char t[100], other[120], id[64];
    const char *f[1] = {t};
    uint8_t q = 2, code = 0, qos = 0;
    bool present = false, dup = false;
    uint16_t pid = 0;
    struct mq_held *held = calloc(1, sizeof(*held));
    struct mq m;
    struct mq_pkt p;

    assert_non_null(held);
    itest_topic(t, sizeof(t), "q2o");
    snprintf(other, sizeof(other), "%s-later", t);
    snprintf(id, sizeof(id), "q2o-%d", (int)getpid());
    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    mq_subscribe(&m, f, &q, 1, &code);
    assert_int_equal(code, 2);
    persist_pub(port, t, "done");
    pid = mq_expect_delivery(&m, t, "done", &dup, &qos);
    assert_int_equal(qos, 2);
    mq_ack(&m, PL_MQTT_PUBREC, pid);
    mq_expect(&m, &p, PL_MQTT_PUBREL);
    mq_ack(&m, PL_MQTT_PUBCOMP, pid);
    persist_pub(port, t, "open");
    pid = mq_expect_delivery(&m, t, "open", &dup, &qos);
    mq_ack(&m, PL_MQTT_PUBREC, pid);
    mq_expect(&m, &p, PL_MQTT_PUBREL); /* not acted on: no PUBCOMP */
    mq_expect_nothing_queued(&m);
    /* A later commit: whatever the acks wrote is on disk before it. */
    persist_pub(port, other, "later");
    assert_int_equal(itest_restart(state, true), 0);
    mq_close(&m);

    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_true(present);
    /* after the PUBRELs of the restart (test_persist_qos2_pubrel_...) */
    pid = mq_expect_delivery_held(&m, held, t, "open", &dup, &qos);
    assert_int_equal(qos, 1);
    mq_ack(&m, PL_MQTT_PUBACK, pid);
    mq_expect_nothing_queued(&m);
    mq_close(&m);
    free(held);
}

/*
 * The PUBREL of an exchange cut by a crash: a persistent subscriber at
 * QoS 2 got PUBLISH x and sent PUBREC, and parleyd was SIGKILLed before
 * the client had PUBREL x. A client following 4.3.3 Method B holds x
 * until PUBREL x, and takes a later QoS 2 PUBLISH on x for a duplicate
 * (the new message silently dropped). After the restart it must get
 * PUBREL x (answered with PUBCOMP), and no QoS 2 PUBLISH may use x
 * before that; the cut message comes again at QoS 1 (a duplicate, never
 * a loss), and a new one at QoS 2 on a free id.
 */
static void test_persist_qos2_pubrel_after_kill(void **state)
{
    int port = mqtt_port_of(state);
    char t[100], other[120], id[64];
    const char *f[1] = {t};
    uint8_t q = 2, code = 0, qos = 0;
    bool present = false, dup = false;
    uint16_t pid = 0, x = 0;
    struct mq_held *h = calloc(1, sizeof(*h));
    struct mq m;
    struct mq_pkt p;

    assert_non_null(h);
    itest_topic(t, sizeof(t), "q2r");
    snprintf(other, sizeof(other), "%s-later", t);
    snprintf(id, sizeof(id), "q2r-%d", (int)getpid());
    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    mq_subscribe(&m, f, &q, 1, &code);
    assert_int_equal(code, 2);
    persist_pub(port, t, "done");
    pid = mq_expect_delivery_held(&m, h, t, "done", &dup, &qos);
    assert_int_equal(qos, 2);
    mq_ack(&m, PL_MQTT_PUBREC, pid);
    mq_expect(&m, &p, PL_MQTT_PUBREL);
    h->id[pid] = false; /* released, this exchange done */
    mq_ack(&m, PL_MQTT_PUBCOMP, pid);
    persist_pub(port, t, "cut");
    x = mq_expect_delivery_held(&m, h, t, "cut", &dup, &qos);
    assert_int_equal(qos, 2);
    mq_ack(&m, PL_MQTT_PUBREC, x);
    /* The PUBREL is lost with the connection: x stays held. */
    mq_expect(&m, &p, PL_MQTT_PUBREL);
    mq_expect_nothing_queued(&m);
    persist_pub(port, other, "later"); /* the acks' writes are on disk */
    assert_int_equal(itest_restart(state, true), 0);
    mq_close(&m);

    assert_int_equal(mq_connect_ex(&m, port, id, 60, NULL, NULL, false,
                                   &present), 0);
    assert_true(present);
    persist_pub(port, t, "new"); /* live after the resume: QoS 2 */
    pid = mq_expect_delivery_held(&m, h, t, "cut", &dup, &qos);
    assert_int_equal(qos, 1);
    mq_ack(&m, PL_MQTT_PUBACK, pid);
    pid = mq_expect_delivery_held(&m, h, t, "new", &dup, &qos);
    assert_int_equal(qos, 2);
    assert_false(h->id[x]); /* PUBREL x came, before any reuse of x */
    assert_true(h->pubrels > 0);
    mq_ack(&m, PL_MQTT_PUBREC, pid);
    mq_expect(&m, &p, PL_MQTT_PUBREL);
    mq_ack(&m, PL_MQTT_PUBCOMP, pid);
    /* PUBCOMPs the server did not expect (answers to the sweep's
     * PUBRELs, sent again) are ignored: the connection stays. */
    mq_ack(&m, PL_MQTT_PUBCOMP, x);
    mq_ack(&m, PL_MQTT_PUBCOMP, pid);
    mq_expect_nothing_queued(&m);
    mq_close(&m);
    free(h);
}

/* /metrics shows line (e.g. "name 1") within the deadline. */
static void wait_metric(void **state, const char *line)
{
    char want[200];
    int64_t deadline = itest_mono_ms() + 3 * WAIT_MS;
    bool seen = false;

    snprintf(want, sizeof(want), "\n%s\n", line);
    while (!seen && itest_left_ms(deadline) > 0) {
        struct httpc_resp r;

        assert_int_equal(
            httpc_get(itest_port(state), "/metrics", &r, WAIT_MS), 0);
        seen = strstr(r.body, want) != NULL;
        httpc_resp_cleanup(&r);
        if (!seen)
            poll(NULL, 0, 50); /* the expiry steps once a second */
    }
    assert_true(seen);
}

/*
 * --mqtt-session-expiry 1s: a persistent session that nobody holds goes
 * after a second, with its rows (also its QoS 2 ids: a retry after that
 * is a new message), for good (not back after a restart); one held by a
 * connection all that time stays.
 */
static void test_session_expiry(void **state)
{
    char t[100], other[120], held[64], gone[64];
    const char *f[1] = {t};
    const char *g[1] = {other};
    uint8_t q = 1, code = 0;
    bool present = true;
    struct mq h, m;

    itest_topic(t, sizeof(t), "exp");
    snprintf(other, sizeof(other), "%s/other", t);
    snprintf(held, sizeof(held), "held-%d", (int)getpid());
    snprintf(gone, sizeof(gone), "gone-%d", (int)getpid());
    assert_int_equal(mq_connect_ex(&h, mqtt_port_of(state), held, 60, NULL,
                                   NULL, false, &present), 0);
    assert_false(present);
    mq_subscribe(&h, f, &q, 1, &code);
    assert_int_equal(mq_connect_ex(&m, mqtt_port_of(state), gone, 60, NULL,
                                   NULL, false, &present), 0);
    mq_subscribe(&m, g, &q, 1, &code);
    mq_publish2(&m, t, "x", 9, false);
    mq_close(&m); /* away; PUBREL not sent */
    wait_metric(state, "parley_mqtt_sessions_expired_total 1");
    wait_metric(state, "parley_mqtt_sessions_stored 1");

    /* held was connected all along, past the expiry: still there */
    mq_close(&h);
    assert_int_equal(mq_connect_ex(&h, mqtt_port_of(state), held, 60, NULL,
                                   NULL, false, &present), 0);
    assert_true(present);
    mq_close(&h);

    /* gone is gone from the file too, with its QoS 2 id */
    assert_int_equal(itest_restart(state, false), 0);
    assert_int_equal(mq_connect_ex(&m, mqtt_port_of(state), gone, 60, NULL,
                                   NULL, false, &present), 0);
    assert_false(present);
    mq_publish2(&m, t, "x", 9, true);
    mq_release(&m, 9);
    assert_int_equal(stored_count(state, t), 2);
    mq_close(&m);
}

/* paho (clean_session=False): session present on resume, the missed
 * messages without subscribing again; clean_session=True wipes it. */
static void test_paho_session(void **state)
{
    paho_run("session", mqtt_port_of(state));
}

/* ------------------------------------------------------------------ */
/* exact payload bytes (messages.raw)                                  */
/* ------------------------------------------------------------------ */

/*
 * Payloads the data mapping does not give back as the same bytes, and one
 * it does, with the data a JSON client sees. bin has a NUL, a newline and
 * bytes that are not UTF-8, so it is sent from a file.
 */
struct raw_case {
    const char *name;   /* topic suffix */
    const char *bytes;
    size_t len;
    const char *data;   /* the JSON data a WebSocket client gets */
};

static const struct raw_case raw_cases[] = {
    {"json", "{\"t\": 21.5}", 11, "{\"t\":21.5}"},
    {"str", "\"hi\"", 4, "\"hi\""},
    {"null", "null", 4, "null"},
    {"num", "123", 3, "123"},
    {"bin", "\xff\x00\n\"{ ", 6, "{\"base64\":\"/wAKInsg\"}"},
};
#define N_RAW (sizeof(raw_cases) / sizeof(raw_cases[0]))

/* mosquitto_pub of c's exact bytes to topic at QoS 1. */
static void raw_pub(int port, const char *topic, const struct raw_case *c,
                    bool retain)
{
    mosq_pub_bytes(port, topic, c->bytes, c->len, retain);
}

/* mosquitto_sub printing '%t %x' (the payload in hex: every byte shows)
 * on filter with extra args. With wait, known subscribed once the retained
 * "ready" on ready_topic arrives (then no other retained message of filter
 * may come before it). */
static void raw_sub_start(struct child *ch, int port, const char *filter,
                          const char *ready_topic, const char *const *extra,
                          bool wait)
{
    /* -W: gone after 60 s even if a failed assertion never kills it */
    const char *opts[] = {"-q", "1", "-F", "%t %x", "-W", "60", NULL};
    char want[300];

    mosq_sub_after_ready(ch, port, opts, filter, ready_topic, extra);
    mosq_hex_line(want, sizeof(want), ready_topic, "ready", 5);
    if (wait)
        expect_line(ch, want);
}

/* Read lines from ch until every one of want[0..n) was seen; each line
 * must be one of want[] or of also[0..n_also) (NULL: none). */
static void raw_expect_set(struct child *ch, char want[][300], size_t n,
                           char also[][300], size_t n_also)
{
    bool seen[16] = {false};
    size_t left = n;
    char line[1024];
    size_t i = 0;

    assert_true(n <= 16);
    while (left > 0) {
        bool known = false;

        assert_true(child_line(ch, line, sizeof(line), 3 * WAIT_MS));
        for (i = 0; i < n; i++)
            if (strcmp(line, want[i]) == 0) {
                known = true;
                if (!seen[i]) {
                    seen[i] = true;
                    left--;
                }
            }
        for (i = 0; i < n_also; i++)
            known = known || strcmp(line, also[i]) == 0;
        if (!known)
            fail_msg("unexpected line: %s", line);
    }
}

/*
 * Issue #14: MQTT subscribers get exactly the bytes published over MQTT
 * (`{"t": 21.5}` with its space, `"hi"` with its quotes, `null`, `123`,
 * binary with a NUL and a newline): live, as the retained copy on a new
 * subscription (from memory, and from the store after a restart), and
 * replayed to a mosquitto_sub -c session after parleyd was SIGKILLed and
 * restarted. A JSON client still sees the mapped data.
 */
static void test_raw_payloads(void **state)
{
    int port = mqtt_port_of(state);
    char base[100], filter[120], ready[120], id[64], topic[200];
    char live[N_RAW + 1][300], missed[N_RAW][300];
    const char *persist[] = {"-c", "-i", id, NULL};
    const char *fresh[] = {"-C", "6", NULL};
    struct rawws *js = itest_hello(itest_port(state), "dash");
    struct child sub, once;
    cJSON *m = NULL;
    size_t i = 0;

    assert_non_null(js);
    itest_topic(base, sizeof(base), "raw");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(ready, sizeof(ready), "%s/ready", base);
    snprintf(id, sizeof(id), "raw-%d", (int)getpid());
    for (i = 0; i < N_RAW; i++) {
        snprintf(topic, sizeof(topic), "%s/%s", base, raw_cases[i].name);
        m = itest_sub(js, (int64_t)i + 1, topic);
        assert_non_null(m);
        cJSON_Delete(m);
    }
    raw_sub_start(&sub, port, filter, ready, persist, true);

    /* live, retained: the subscriber gets each payload byte for byte, the
     * JSON client the mapped data */
    for (i = 0; i < N_RAW; i++) {
        const struct raw_case *c = &raw_cases[i];
        char *data = NULL;

        snprintf(topic, sizeof(topic), "%s/%s", base, c->name);
        raw_pub(port, topic, c, true);
        mosq_hex_line(live[i], sizeof(live[i]), topic, c->bytes, c->len);
        expect_line(&sub, live[i]);
        m = itest_expect_msg(js, topic, 1, WAIT_MS);
        assert_non_null(m);
        data = cJSON_PrintUnformatted(cJSON_GetObjectItem(m, "data"));
        assert_string_equal(data, c->data);
        free(data);
        cJSON_Delete(m);
    }
    rawws_close(js);
    mosq_hex_line(live[N_RAW], sizeof(live[N_RAW]), ready, "ready", 5);

    /* retained copies on a new subscription, from memory */
    raw_sub_start(&once, port, filter, ready, fresh, false);
    raw_expect_set(&once, live, N_RAW + 1, NULL, 0);
    assert_int_equal(child_wait(&once, WAIT_MS), 0);

    /* the session is away; what it misses is stored, then parleyd dies */
    child_kill(&sub);
    for (i = 0; i < N_RAW; i++) {
        snprintf(topic, sizeof(topic), "%s/m/%s", base, raw_cases[i].name);
        raw_pub(port, topic, &raw_cases[i], false);
        mosq_hex_line(missed[i], sizeof(missed[i]), topic, raw_cases[i].bytes,
                 raw_cases[i].len);
    }
    assert_int_equal(itest_restart(state, true), 0);
    assert_int_equal(mqtt_port_of(state), port);

    /* retained copies again, now loaded from the store */
    raw_sub_start(&once, port, filter, ready, fresh, false);
    raw_expect_set(&once, live, N_RAW + 1, NULL, 0);
    assert_int_equal(child_wait(&once, WAIT_MS), 0);

    /* the session resumes: the missed messages replayed from the store,
     * exact (the retained copies of its SUBSCRIBE may come too) */
    raw_sub_start(&sub, port, filter, ready, persist, false);
    raw_expect_set(&sub, missed, N_RAW, live, N_RAW + 1);
    child_kill(&sub);
}

static int setup_persist(void **state)
{
    const char *const extra[] = {"--mqtt-port", persist_port,
                                 "--retain-messages", "20", NULL};
    int port = free_port();
    int rc = 0;

    if (port < 0)
        return -1;
    snprintf(persist_port, sizeof(persist_port), "%d", port);
    /* index written often, so that pruning (of indexed rows) is quick */
    setenv("PARLEY_STORE_INDEX_MS", "100", 1);
    rc = itest_setup(state, extra);
    unsetenv("PARLEY_STORE_INDEX_MS");
    return rc;
}

static int setup_expiry(void **state)
{
    const char *const extra[] = {"--mqtt-session-expiry", "1", NULL};

    return itest_setup(state, extra);
}

static int setup_capped(void **state)
{
    const char *const extra[] = {"--max-conns-per-ip", "2",
                                 "--per-ip-exempt", "none",
                                 "--queue-msgs", "50", NULL};

    return itest_setup(state, extra);
}

static int setup_plain(void **state)
{
    const char *const extra[] = {"--handshake-timeout", "1", NULL};

    return itest_setup(state, extra);
}

static int setup_auth(void **state)
{
    const char *const extra[] = {"--secret", SECRET, NULL};

    return itest_setup(state, extra);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_mosquitto_qos),
        cmocka_unit_test(test_mosquitto_retained),
        cmocka_unit_test(test_mqtt_json_both_ways),
        cmocka_unit_test(test_will_on_kill),
        cmocka_unit_test(test_keepalive_timeout),
        cmocka_unit_test(test_takeover),
        cmocka_unit_test(test_overlap_and_dollar),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_flood),
        cmocka_unit_test(test_paho_tcp),
        cmocka_unit_test(test_paho_websocket),
        cmocka_unit_test(test_paho_takeover),
    };
    const struct CMUnitTest auth[] = {
        cmocka_unit_test(test_jwt_password),
    };
    const struct CMUnitTest capped[] = {
        cmocka_unit_test(test_per_ip_cap),
        cmocka_unit_test(test_slow_subscriber),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_mqtts),
    };
    const struct CMUnitTest persist[] = {
        cmocka_unit_test(test_persist_qos2_once_across_kill),
        cmocka_unit_test(test_persist_qos2_out_across_kill),
        cmocka_unit_test(test_persist_qos2_pubrel_after_kill),
        cmocka_unit_test(test_persist_resend_and_wipe),
        cmocka_unit_test(test_persist_gap),
        cmocka_unit_test(test_paho_session),
        cmocka_unit_test(test_persist_mosquitto_kill),
        cmocka_unit_test(test_raw_payloads),
    };
    const struct CMUnitTest expiry[] = {
        cmocka_unit_test(test_session_expiry),
    };
    int rc = 0;

    if (!mosq_available("it_mqtt_broker"))
        return 77;
    signal(SIGPIPE, SIG_IGN);
    rc = cmocka_run_group_tests_name("plain", plain, setup_plain,
                                     itest_teardown);
    rc |= cmocka_run_group_tests_name("auth", auth, setup_auth,
                                      itest_teardown);
    rc |= cmocka_run_group_tests_name("tls", tls, setup_tls, teardown_tls);
    rc |= cmocka_run_group_tests_name("capped", capped, setup_capped,
                                      itest_teardown);
    rc |= cmocka_run_group_tests_name("persist", persist, setup_persist,
                                      itest_teardown);
    rc |= cmocka_run_group_tests_name("expiry", expiry, setup_expiry,
                                      itest_teardown);
    return itest_exit_code(rc);
}
