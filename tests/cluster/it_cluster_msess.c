/*
 * it_cluster_msess.c: MQTT persistent sessions (clean session 0, #14) in
 * cluster mode (#13): three real parleyd nodes with --redis on one real
 * redis-server. A device subscribes on node 0 and goes away; what is
 * published meanwhile (through node 1) reaches it, every message at QoS 1
 * and in order, when it comes back on node 2, with CONNACK's session
 * present set; its acks move its cursors in Redis, so the next resume (on
 * node 1) sends only what is new; a clean session 1 deletes it. A client
 * id connects on one node at a time: a newer connection on another node
 * closes the older one (takeover). A QoS 2 publish is stored once, also
 * when its retry comes after a SIGKILL of the node, on another node. With
 * a short --mqtt-session-expiry, the keys of a session nobody holds go
 * with their TTL; a held one's are renewed.
 *
 * The device is a raw socket client (mqraw.h: it shows the session
 * present flag), and Debian's mosquitto_sub -c in one case; the
 * publisher is Debian's mosquitto_pub. No fixed
 * sleeps: what must be in Redis before the next step is polled for, with
 * a deadline.
 */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest.h"
#include "mosq.h"
#include "mqraw.h"
#include "mqtt.h"
#include "rig_fixture.h"

#define N_MISSED 5

static redisContext *rc; /* to watch the session's keys */

/* The rig with node options extra, and a connection to its Redis. */
static int setup_with(const char *const *extra)
{
    if (rig_setup_with(extra) != 0)
        return -1;
    rc = redis_proc_connect(rig.redis);
    return rc != NULL ? 0 : -1;
}

static int setup(void **state)
{
    static const char *const extra[] = {"--redis", "{redis}", NULL};

    (void)state;
    return setup_with(extra);
}

static int teardown(void **state)
{
    if (rc != NULL)
        redisFree(rc);
    rc = NULL;
    return rig_teardown(state);
}

static int mqtt_port(int i)
{
    return server_mqtt_port(rig.nodes[i]);
}

/* CONNECT with clean session 0 on node i: accepted; whether the session
 * was present. */
static bool connect_kept(struct mq *m, int i, const char *id)
{
    bool present = false;

    assert_int_equal(
        mq_connect_ex(m, mqtt_port(i), id, 60, NULL, NULL, false, &present), 0);
    return present;
}

/* The session key of kind ("sess", "subs", "cur", "q2") of client id. */
static void msess_key(char *buf, size_t n, const char *id, const char *kind)
{
    snprintf(buf, n, "pl:mq:%zu:{%s}:%s", strlen(id), id, kind);
}

/* HGET key field as a number (-1: none). */
static long long hget_num(const char *key, const char *field)
{
    redisReply *r = redisCommand(rc, "HGET %s %s", key, field);
    long long v = -1;

    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

/* Wait until field of key holds at least want (want -1: until the key is
 * gone). */
static void wait_hash(const char *key, const char *field, long long want)
{
    int64_t deadline = itest_mono_ms() + MQRAW_WAIT_MS;

    for (;;) {
        long long v = 0;

        if (want < 0) {
            redisReply *r = redisCommand(rc, "EXISTS %s", key);

            assert_non_null(r);
            v = r->integer;
            freeReplyObject(r);
            if (v == 0)
                return;
        } else if (hget_num(key, field) >= want) {
            return;
        }
        if (itest_left_ms(deadline) <= 0)
            fail_msg("%s %s never reached %lld", key, field, want);
        poll(NULL, 0, 20);
    }
}

static void pub_q1(int node, const char *topic, const char *payload)
{
    const char *const args[] = {"-q", "1", "-t", topic, "-m", payload, NULL};

    assert_int_equal(mosq_pub(mqtt_port(node), args), 0);
}

/* DISCONNECT, then close: the device leaves politely (no will). */
static void mq_bye(struct mq *m)
{
    static const unsigned char bye[2] = {0xe0, 0};

    assert_true(mq_send(m, bye, sizeof(bye)));
    mq_close(m);
}

/* n deliveries on topic at QoS 1, payloads prefix1..prefixn from `first`,
 * each acknowledged. */
static void expect_run(struct mq *m, const char *topic, const char *prefix,
                       int first, int n)
{
    char want[32];
    bool dup = false;
    uint8_t qos = 0;
    int i = 0;

    for (i = first; i < first + n; i++) {
        uint16_t pid = 0;

        snprintf(want, sizeof(want), "%s%d", prefix, i);
        pid = mq_expect_delivery(m, topic, want, &dup, &qos);
        assert_int_equal(qos, 1);
        mq_ack(m, PL_MQTT_PUBACK, pid);
    }
}

static void test_resume_on_another_node(void **state)
{
    char base[100], filter[120], topic[120], id[64], msg[32];
    char subs[256], cur[256], sess[256];
    const char *f[1] = {filter};
    const uint8_t q[1] = {1};
    uint8_t code = 0;
    bool present = true;
    struct mq m;
    int i = 0;

    (void)state;
    itest_topic(base, sizeof(base), "msess");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(topic, sizeof(topic), "%s/t", base);
    snprintf(id, sizeof(id), "dev-%d", (int)getpid());
    msess_key(subs, sizeof(subs), id, "subs");
    msess_key(cur, sizeof(cur), id, "cur");
    msess_key(sess, sizeof(sess), id, "sess");

    /* node 0: a new session, subscribed at QoS 1 */
    present = connect_kept(&m, 0, id);
    assert_false(present);
    mq_subscribe(&m, f, q, 1, &code);
    assert_int_equal(code, 1);
    wait_hash(subs, filter, 1);
    mq_bye(&m);

    /* away: node 1 publishes */
    for (i = 1; i <= N_MISSED; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        pub_q1(1, topic, msg);
    }

    /* node 2: the session is there, and every missed message, in order */
    present = connect_kept(&m, 2, id);
    assert_true(present);
    expect_run(&m, topic, "m", 1, N_MISSED);
    mq_expect_nothing_queued(&m);
    /* live while connected here too (the filter was resumed) */
    pub_q1(0, topic, "live");
    {
        bool dup = false;
        uint8_t qos = 0;

        mq_ack(&m, PL_MQTT_PUBACK,
               mq_expect_delivery(&m, topic, "live", &dup, &qos));
        assert_int_equal(qos, 1);
    }
    /* the acks moved the cursor in Redis */
    wait_hash(cur, topic, N_MISSED + 1);
    mq_bye(&m);

    /* node 1: only what is new since the acks */
    pub_q1(2, topic, "m7");
    present = connect_kept(&m, 1, id);
    assert_true(present);
    expect_run(&m, topic, "m", 7, 1);
    mq_expect_nothing_queued(&m);
    mq_bye(&m);

    /* clean session 1 (node 1) ends it: its keys go */
    assert_int_equal(mq_connect_ex(&m, mqtt_port(1), id, 60, NULL, NULL,
                                   true, &present),
                     0);
    assert_false(present);
    wait_hash(sess, NULL, -1);
    wait_hash(subs, NULL, -1);
    wait_hash(cur, NULL, -1);
    mq_bye(&m);
    present = connect_kept(&m, 2, id);
    assert_false(present);
    mq_expect_nothing_queued(&m);
    mq_bye(&m);
}

/*
 * The issue's case with a real client: mosquitto_sub -c on node 0 is
 * SIGKILLed (no DISCONNECT) after m1; m2..m4 are published through node
 * 1; mosquitto_sub -c with the same id on node 2 gets m2..m4 in order. A
 * repeat of m1 is allowed (QoS 1 is at least once: its ack may not have
 * been written at the kill), a skip is not.
 */
static void test_mosquitto_sub_moves_nodes(void **state)
{
    char base[100], filter[120], data[120], ready[120], id[64], port2[16];
    char line[1024], want[300];
    /* -W: gone after 60 s even if a failed assertion never kills it */
    const char *opts[] = {"-v", "-q", "1", "-W", "60", NULL};
    const char *extra[] = {"-c", "-i", id, NULL};
    const char *argv[] = {MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", port2,
                          "-v", "-q", "1", "-W", "60", "-c", "-i", id,
                          "-t", filter, NULL};
    struct child sub;
    int next = 2; /* the first payload not yet received */
    int i = 0;

    (void)state;
    itest_topic(base, sizeof(base), "mv");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(data, sizeof(data), "%s/d", base);
    snprintf(ready, sizeof(ready), "%s/ready", base);
    snprintf(id, sizeof(id), "mv-%d", (int)getpid());
    snprintf(port2, sizeof(port2), "%d", mqtt_port(2));
    mosq_sub_after_ready(&sub, mqtt_port(0), opts, filter, ready, extra);
    snprintf(want, sizeof(want), "%s ready", ready);
    assert_true(child_line(&sub, line, sizeof(line), MOSQ_WAIT_MS));
    assert_string_equal(line, want);
    pub_q1(1, data, "m1");
    snprintf(want, sizeof(want), "%s m1", data);
    assert_true(child_line(&sub, line, sizeof(line), MOSQ_WAIT_MS));
    assert_string_equal(line, want);
    child_kill(&sub); /* away, without DISCONNECT */

    for (i = 2; i <= 4; i++) {
        char msg[8];

        snprintf(msg, sizeof(msg), "m%d", i);
        pub_q1(1, data, msg);
    }
    child_start(&sub, argv);
    for (i = 0; next <= 4 && i < 20; i++) {
        char *payload = NULL;
        int k = 0;

        assert_true(child_line(&sub, line, sizeof(line), MOSQ_WAIT_MS));
        if (strncmp(line, ready, strlen(ready)) == 0)
            continue; /* the retained "ready", again at each SUBSCRIBE */
        payload = strchr(line, ' ');
        assert_non_null(payload);
        assert_int_equal((size_t)(payload - line), strlen(data));
        assert_memory_equal(line, data, strlen(data));
        assert_int_equal(payload[1], 'm');
        k = atoi(payload + 2);
        assert_true(k >= 1 && k <= next); /* never past a missing one */
        if (k == next)
            next++;
    }
    assert_int_equal(next, 5);
    child_kill(&sub);
}

/* A SUBSCRIBE to a topic with history, on a node that never heard of
 * it: the session owes what comes after the subscription, not the
 * topic's past (the cursor starts at the cluster's seq). */
static void test_subscribe_owes_only_what_follows(void **state)
{
    char topic[100], id[64], cur[256];
    const char *f[1] = {topic};
    const uint8_t q[1] = {1};
    uint8_t code = 0;
    bool present = true;
    struct mq m;

    (void)state;
    itest_topic(topic, sizeof(topic), "past");
    snprintf(id, sizeof(id), "past-%d", (int)getpid());
    msess_key(cur, sizeof(cur), id, "cur");
    pub_q1(1, topic, "old1");
    pub_q1(1, topic, "old2");
    present = connect_kept(&m, 0, id);
    mq_subscribe(&m, f, q, 1, &code);
    assert_int_equal(code, 1);
    wait_hash(cur, topic, 2);
    mq_bye(&m);
    pub_q1(1, topic, "new1");
    present = connect_kept(&m, 2, id);
    assert_true(present);
    expect_run(&m, topic, "new", 1, 1);
    mq_expect_nothing_queued(&m);
    mq_bye(&m);
}

/* One client id, one connection in the whole cluster (MQTT 3.1.1 3.1.4):
 * connecting on node 1 closes the one on node 0, then the one on node 2
 * closes that; the newest keeps working and has the session. */
static void test_takeover_across_nodes(void **state)
{
    char id[64];
    bool present = false;
    struct mq a, b, c;

    (void)state;
    snprintf(id, sizeof(id), "take-%d", (int)getpid());
    present = connect_kept(&a, 0, id);
    mq_expect_nothing_queued(&a);
    present = connect_kept(&b, 1, id);
    mq_expect_eof(&a, MQRAW_WAIT_MS);
    mq_close(&a);
    mq_expect_nothing_queued(&b);
    present = connect_kept(&c, 2, id);
    assert_true(present);
    mq_expect_eof(&b, MQRAW_WAIT_MS);
    mq_close(&b);
    mq_expect_nothing_queued(&c);
    mq_bye(&c);
}

/* How many messages topic holds (its seq key: every publish takes one). */
static long long stored_count(const char *topic)
{
    char key[300];
    redisReply *r = NULL;
    long long v = 0;

    snprintf(key, sizeof(key), "pl:%zu:{%s}:seq", strlen(topic), topic);
    r = redisCommand(rc, "GET %s", key);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

/*
 * A QoS 2 PUBLISH stored and answered with PUBREC on node 0, then node 0
 * SIGKILLed before PUBREL. The client (clean session 0) reconnects to
 * node 1 and sends it again with DUP (4.4): PUBREC, and it is not stored
 * a second time. After PUBREL (and its PUBCOMP) the packet id carries a
 * new message, which is stored; its retry after a plain reconnect, on
 * node 2, is again a duplicate.
 */
static void test_qos2_once_across_kill(void **state)
{
    char topic[100], id[64];
    bool present = false;
    struct mq m;

    (void)state;
    itest_topic(topic, sizeof(topic), "q2");
    snprintf(id, sizeof(id), "q2-%d", (int)getpid());
    present = connect_kept(&m, 0, id);
    mq_publish2(&m, topic, "once", 7, false);
    assert_int_equal(stored_count(topic), 1);
    assert_int_equal(server_kill9(rig.nodes[0]), 0);
    mq_close(&m);

    present = connect_kept(&m, 1, id);
    assert_true(present);
    mq_publish2(&m, topic, "once", 7, true);
    mq_release(&m, 7);
    assert_int_equal(stored_count(topic), 1);

    /* released: id 7 is free for a new message */
    mq_publish2(&m, topic, "again", 7, false);
    assert_int_equal(stored_count(topic), 2);
    /* the connection drops before PUBREL; the retry comes on node 2 */
    mq_close(&m);
    present = connect_kept(&m, 2, id);
    mq_publish2(&m, topic, "again", 7, true);
    mq_release(&m, 7);
    assert_int_equal(stored_count(topic), 2);
    mq_bye(&m);
    /* node 0 back for the others (and a clean stop) */
    assert_int_equal(server_restart(rig.nodes[0]), 0);
    assert_true(cluster_rig_node_healthy(&rig, 0, MQRAW_WAIT_MS));
}

/*
 * A QoS 2 subscriber's exchange is cut by its node's death after PUBREC:
 * the client (MQTT 3.1.1 4.3.3 Method B) holds that packet id until a
 * PUBREL. Resuming on another node it must get that PUBREL (the node
 * sweeps the ids below the session's stored lease), and no new QoS 2
 * delivery may reuse the id before it: the client would take the new
 * message for the old one and drop it.
 */
static void test_qos2_pubrel_after_node_dies(void **state)
{
    char base[100], filter[120], topic[120], id[64];
    const char *f[1] = {filter};
    const uint8_t q[1] = {2};
    bool present = false, dup = false, released = false;
    uint8_t code = 0, qos = 0;
    uint16_t cut = 0;
    struct mq_pkt p;
    struct mq m;
    int64_t deadline = 0;

    (void)state;
    itest_topic(base, sizeof(base), "pr");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(topic, sizeof(topic), "%s/t", base);
    snprintf(id, sizeof(id), "pr-%d", (int)getpid());
    present = connect_kept(&m, 0, id);
    mq_subscribe(&m, f, q, 1, &code);
    assert_int_equal(code, 2);
    {
        const char *const args[] = {"-q", "2", "-t", topic, "-m", "held",
                                    NULL};

        assert_int_equal(mosq_pub(mqtt_port(1), args), 0);
    }
    cut = mq_expect_delivery(&m, topic, "held", &dup, &qos);
    assert_int_equal(qos, 2);
    mq_ack(&m, PL_MQTT_PUBREC, cut); /* and never sees the PUBREL */
    assert_int_equal(server_kill9(rig.nodes[0]), 0);
    mq_close(&m);

    present = connect_kept(&m, 1, id);
    assert_true(present);
    {
        const char *const args[] = {"-q", "2", "-t", topic, "-m", "new",
                                    NULL};

        assert_int_equal(mosq_pub(mqtt_port(2), args), 0);
    }
    /* PUBRELs (answered), the cut message again from the cursor, and
     * "new" on an id that is not the held one unless it was released */
    deadline = itest_mono_ms() + MQRAW_WAIT_MS;
    for (;;) {
        uint16_t pid = 0;

        assert_true(itest_left_ms(deadline) > 0);
        assert_int_equal(mq_next(&m, &p, MQRAW_WAIT_MS), 1);
        if (p.type == PL_MQTT_PUBREL) {
            pid = (uint16_t)(p.body[0] << 8 | p.body[1]);
            released = released || pid == cut;
            mq_ack(&m, PL_MQTT_PUBCOMP, pid);
            continue;
        }
        assert_int_equal(p.type, PL_MQTT_PUBLISH);
        if (p.len >= 3 && memcmp(p.body + p.len - 3, "new", 3) == 0) {
            pid = mq_delivery_of(&p, topic, "new", &dup, &qos);
            assert_true(released || pid != cut);
            break;
        }
        pid = mq_delivery_of(&p, topic, "held", &dup, &qos);
        mq_ack(&m, qos == 2 ? PL_MQTT_PUBREC : PL_MQTT_PUBACK, pid);
    }
    assert_true(released);
    mq_bye(&m);
    assert_int_equal(server_restart(rig.nodes[0]), 0);
    assert_true(cluster_rig_node_healthy(&rig, 0, MQRAW_WAIT_MS));
}

/*
 * Redis dies while a device acknowledges what it received: the node's
 * session write fails, and is made again (with its last_seen after the
 * device left) until Redis is back, so the cursors are stored and the
 * device, resuming on another node, gets nothing twice.
 */
static void test_write_retried_after_redis_restart(void **state)
{
    char base[100], filter[120], topic[120], id[64], msg[32], cur[256];
    const char *f[1] = {filter};
    const uint8_t q[1] = {1};
    uint16_t pids[3];
    uint8_t code = 0, qos = 0;
    bool present = true, dup = false;
    struct mq m;
    int i = 0;

    (void)state;
    itest_topic(base, sizeof(base), "rr");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(topic, sizeof(topic), "%s/t", base);
    snprintf(id, sizeof(id), "rr-%d", (int)getpid());
    msess_key(cur, sizeof(cur), id, "cur");
    present = connect_kept(&m, 0, id);
    mq_subscribe(&m, f, q, 1, &code);
    assert_int_equal(code, 1);
    for (i = 0; i < 3; i++) {
        snprintf(msg, sizeof(msg), "r%d", i + 1);
        pub_q1(1, topic, msg);
        pids[i] = mq_expect_delivery(&m, topic, msg, &dup, &qos);
    }
    assert_int_equal(hget_num(cur, topic), -1); /* nothing acked yet */

    assert_int_equal(redis_proc_kill9(rig.redis), 0);
    redisFree(rc);
    rc = NULL;
    for (i = 0; i < 3; i++)
        mq_ack(&m, PL_MQTT_PUBACK, pids[i]);
    mq_expect_nothing_queued(&m); /* the acks are taken */
    mq_bye(&m);

    assert_int_equal(redis_proc_restart(rig.redis, 0), 0);
    rc = redis_proc_connect(rig.redis);
    assert_non_null(rc);
    wait_hash(cur, topic, 3);
    assert_true(cluster_rig_node_healthy(&rig, 1, MQRAW_WAIT_MS));
    present = connect_kept(&m, 1, id);
    assert_true(present);
    mq_expect_nothing_queued(&m);
    mq_bye(&m);
}

static int setup_expiry(void **state)
{
    static const char *const extra[] = {"--redis", "{redis}",
                                        "--mqtt-session-expiry", "4", NULL};

    (void)state;
    return setup_with(extra);
}

static bool key_exists(const char *key)
{
    redisReply *r = redisCommand(rc, "EXISTS %s", key);
    bool yes = false;

    assert_non_null(r);
    yes = r->integer == 1;
    freeReplyObject(r);
    return yes;
}

/*
 * --mqtt-session-expiry 4s: the keys of a session nobody holds carry it
 * as their TTL and go with it, its QoS 2 packet id too (a later publish
 * on that id is new); a session held all along, past the expiry, keeps
 * its keys (the node writes it again while connected) and resumes.
 */
static void test_expiry(void **state)
{
    char t[100], other[120], held[64], gone[64], hk[256], gk[256], gq[256];
    const char *f[1] = {t};
    const char *g[1] = {other}; /* not t: its own "x" would come back */
    uint8_t q = 1, code = 0;
    bool present = true;
    struct mq h, m;

    (void)state;
    itest_topic(t, sizeof(t), "exp");
    snprintf(other, sizeof(other), "%s/other", t);
    snprintf(held, sizeof(held), "held-%d", (int)getpid());
    snprintf(gone, sizeof(gone), "gone-%d", (int)getpid());
    msess_key(hk, sizeof(hk), held, "sess");
    msess_key(gk, sizeof(gk), gone, "sess");
    msess_key(gq, sizeof(gq), gone, "q2");
    present = connect_kept(&h, 0, held);
    assert_false(present);
    mq_subscribe(&h, f, &q, 1, &code);
    present = connect_kept(&m, 1, gone);
    mq_subscribe(&m, g, &q, 1, &code);
    mq_publish2(&m, t, "x", 9, false);
    assert_true(key_exists(gq));
    mq_close(&m); /* away; PUBREL not sent */

    /* gone's keys expire (within the 4 s and the wait's 10) */
    wait_hash(gk, NULL, -1);
    wait_hash(gq, NULL, -1);
    /* held was connected all along, past the expiry: still there */
    assert_true(key_exists(hk));
    mq_close(&h);
    present = connect_kept(&h, 2, held);
    assert_true(present);
    mq_bye(&h);

    present = connect_kept(&m, 2, gone);
    assert_false(present);
    mq_publish2(&m, t, "x", 9, true);
    mq_release(&m, 9);
    assert_int_equal(stored_count(t), 2);
    mq_bye(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_on_another_node),
        cmocka_unit_test(test_subscribe_owes_only_what_follows),
        cmocka_unit_test(test_mosquitto_sub_moves_nodes),
        cmocka_unit_test(test_takeover_across_nodes),
        cmocka_unit_test(test_qos2_once_across_kill),
        cmocka_unit_test(test_qos2_pubrel_after_node_dies),
        cmocka_unit_test(test_write_retried_after_redis_restart),
    };
    const struct CMUnitTest expiry[] = {
        cmocka_unit_test(test_expiry),
    };
    int rc1 = 0;

    if (!mosq_available("it_cluster_msess"))
        return 77;
    signal(SIGPIPE, SIG_IGN);
    rc1 = cmocka_run_group_tests_name("cluster msess", tests, setup, teardown);
    if (rc1 != 0)
        return itest_exit_code(rc1);
    return itest_exit_code(cmocka_run_group_tests_name(
        "cluster msess expiry", expiry, setup_expiry, teardown));
}
