/*
 * it_cluster_cross.c: three real parleyd nodes with --redis on one real
 * redis-server (AOF, appendfsync always) act as one server. Each client
 * sits on the node a test names, so every promise is checked across nodes:
 * fan-out, wildcards, history and retained values from a node that never
 * saw the publish, idempotent retries, `since` after moving to another
 * node, Redis out of reach and back, and Redis restarted empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <poll.h>

#include "itest.h"
#include "rig_fixture.h"

static int setup(void **state)
{
    /* A short node ttl so that a SIGKILLed node's users leave quickly. */
    static const char *const extra[] = {"--redis",        "{redis}",
                                        "--node-ttl",     "2s",
                                        "--sys-interval", "200ms",
                                        NULL};

    (void)state;
    return rig_setup_with(extra);
}

/* Send {"op":op,"id":id,"topic":topic<more>} (more: "" or
 * ",\"since\":3"...) and return its ok. */
static void send_cmd(struct rawws *c, int64_t id, const char *op,
                     const char *topic, const char *more)
{
    assert_int_equal(rawws_send_textf(c,
                                      "{\"op\":\"%s\",\"id\":%lld,"
                                      "\"topic\":\"%s\"%s}",
                                      op, (long long)id, topic, more),
                     0);
}

static cJSON *ask(struct rawws *c, int64_t id, const char *op,
                  const char *topic, const char *more)
{
    cJSON *ok = NULL;

    send_cmd(c, id, op, topic, more);
    ok = rawws_expect_ok(c, id, ITEST_WAIT_MS);
    assert_non_null(ok);
    return ok;
}

static cJSON *sub_with(struct rawws *c, int64_t id, const char *topic,
                       const char *more)
{
    return ask(c, id, "sub", topic, more);
}

static void expect_msgs(struct rawws *c, const char *topic, int64_t from,
                        int64_t to)
{
    int64_t s;

    for (s = from; s <= to; s++) {
        cJSON *m = itest_expect_msg(c, topic, s, ITEST_WAIT_MS);

        assert_non_null(m);
        cJSON_Delete(m);
    }
}

static void pub_n(struct rawws *c, int64_t *id, const char *topic, int n,
                  int64_t first_seq)
{
    int i;

    for (i = 0; i < n; i++)
        assert_int_equal(itest_pub(c, (*id)++, topic, "{\"n\":1}"),
                         first_seq + i);
}

/* Publish on A; subscribers on B and C get each message once, in order. */
static void test_fanout_across_nodes(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *b = rig_hello(1, "bob");
    struct rawws *c = rig_hello(2, "carol");
    int64_t id = 10;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/fan");
    cJSON_Delete(sub_with(b, 2, topic, ""));
    cJSON_Delete(sub_with(c, 2, topic, ""));
    pub_n(a, &id, topic, 5, 1);
    expect_msgs(b, topic, 1, 5);
    expect_msgs(c, topic, 1, 5);
    assert_true(itest_nothing_more(b, 90, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(c, 90, ITEST_QUIET_MS));
    rawws_close(a);
    rawws_close(b);
    rawws_close(c);
}

/* $SYS/broker/cluster/nodes (what /admin shows) counts the cluster's live
 * nodes, read on any node: the three nodes, once all have beaten. */
static void test_sys_cluster_nodes(void **state)
{
    struct rawws *c = rig_hello(1, "ops");
    int64_t deadline = itest_mono_ms() + ITEST_WAIT_MS;
    double seen = -1;

    (void)state;
    cJSON_Delete(sub_with(c, 2, "$SYS/broker/cluster/nodes", ""));
    while (seen != 3 && itest_left_ms(deadline) > 0) {
        cJSON *m = rawws_recv_json(c, itest_left_ms(deadline));
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");

        if (m != NULL && cJSON_IsNumber(d))
            seen = d->valuedouble;
        cJSON_Delete(m);
    }
    assert_int_equal((int)seen, 3);
    rawws_close(c);
}

/* "anon-<n>, with n unique per connection while the server runs": the
 * server is the cluster, so anonymous clients on different nodes never
 * share a name (each node used to count from 1, so they did). */
static void test_anonymous_names_across_nodes(void **state)
{
    enum { PER_NODE = 6, ALL = 3 * PER_NODE };
    struct rawws *anon[ALL];
    char names[ALL][64];
    char topic[96];
    struct rawws *w = rig_hello(0, "watcher");
    int i;
    int j;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/anon");
    cJSON_Delete(sub_with(w, 2, topic, ""));
    for (i = 0; i < ALL; i++) {
        anon[i] = rawws_connect(rig_node(i % 3));
        assert_non_null(anon[i]);
        assert_int_equal(itest_pub(anon[i], 1, topic, "1"), i + 1);
    }
    for (i = 0; i < ALL; i++) {
        cJSON *m = itest_expect_msg(w, topic, i + 1, ITEST_WAIT_MS);

        assert_non_null(m);
        snprintf(names[i], sizeof(names[i]), "%s", tj_str(m, "from"));
        cJSON_Delete(m);
        assert_memory_equal(names[i], "anon-", 5);
        for (j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0)
                fprintf(stderr, "%s on node %d and on node %d\n", names[i],
                        i % 3, j % 3);
            assert_string_not_equal(names[i], names[j]);
        }
    }
    for (i = 0; i < ALL; i++)
        rawws_close(anon[i]);
    rawws_close(w);
}

/* sub then unsub at once: the sub's answer waits for the topic's state,
 * but the unsub still wins; nothing is delivered afterwards. */
static void test_unsub_before_sub_answered(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *b = rig_hello(1, "bob");
    cJSON *ok = NULL;
    int64_t id = 10;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/unsub");
    send_cmd(b, 2, "sub", topic, "");
    send_cmd(b, 3, "unsub", topic, "");
    ok = rawws_expect_ok(b, 2, ITEST_WAIT_MS);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = rawws_expect_ok(b, 3, ITEST_WAIT_MS);
    assert_non_null(ok);
    cJSON_Delete(ok);
    pub_n(a, &id, topic, 2, 1);
    assert_true(itest_nothing_more(b, 90, ITEST_QUIET_MS));
    rawws_close(a);
    rawws_close(b);
}

/* A wildcard subscriber on B gets what A publishes to matching topics,
 * and nothing from a topic that only shares the literal prefix. */
static void test_wildcard_on_another_node(void **state)
{
    char base[96];
    char t1[160], t2[160], other[160];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *b = rig_hello(1, "bob");
    char pattern[200];
    int64_t id = 10;

    (void)state;
    itest_topic(base, sizeof(base), "x/wild");
    snprintf(t1, sizeof(t1), "%s/s1/temp", base);
    snprintf(t2, sizeof(t2), "%s/s2/temp", base);
    snprintf(other, sizeof(other), "%s/s1/hum", base);
    snprintf(pattern, sizeof(pattern), "%s/+/temp", base);
    cJSON_Delete(sub_with(b, 2, pattern, ""));
    pub_n(a, &id, t1, 1, 1);
    pub_n(a, &id, other, 1, 1);
    pub_n(a, &id, t2, 1, 1);
    pub_n(a, &id, t1, 1, 2);
    expect_msgs(b, t1, 1, 1);
    expect_msgs(b, t2, 1, 1);
    expect_msgs(b, t1, 2, 2);
    assert_true(itest_nothing_more(b, 90, ITEST_QUIET_MS));
    rawws_close(a);
    rawws_close(b);
}

/* History and the retained value, read on C, which never saw the topic. */
static void test_history_and_retained_elsewhere(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *c = rig_hello(2, "carol");
    cJSON *ok = NULL;
    cJSON *m = NULL;
    const cJSON *msgs = NULL;
    int64_t seq = 0;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/hist");
    pub_n(a, &(int64_t){10}, topic, 3, 1);
    cJSON_Delete(
        ask(a, 20, "pub", topic, ",\"data\":{\"r\":1},\"retain\":true"));

    ok = ask(c, 3, "history", topic, ",\"limit\":10");
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 4);
    assert_true(tj_int(cJSON_GetArrayItem(msgs, 0), "seq", &seq));
    assert_int_equal(seq, 1);
    assert_true(tj_int(cJSON_GetArrayItem(msgs, 3), "seq", &seq));
    assert_int_equal(seq, 4);
    cJSON_Delete(ok);

    ok = sub_with(c, 4, topic, "");
    assert_true(tj_int(ok, "seq", &seq));
    assert_int_equal(seq, 4);
    cJSON_Delete(ok);
    m = itest_expect_msg(c, topic, 4, ITEST_WAIT_MS);
    assert_non_null(m);
    assert_true(tj_is_true(m, "retained"));
    cJSON_Delete(m);
    assert_true(itest_nothing_more(c, 90, ITEST_QUIET_MS));
    rawws_close(a);
    rawws_close(c);
}

/* Publish with key on c; returns the ok's seq, *dup its duplicate flag. */
static int64_t pub_keyed(struct rawws *c, int64_t id, const char *topic,
                         const char *key, bool *dup)
{
    char more[200];
    cJSON *ok = NULL;
    int64_t seq = -1;

    snprintf(more, sizeof(more), ",\"data\":7,\"key\":\"%s\"", key);
    ok = ask(c, id, "pub", topic, more);
    assert_true(tj_int(ok, "seq", &seq));
    *dup = tj_is_true(ok, "duplicate");
    cJSON_Delete(ok);
    return seq;
}

/* A keyed publish retried on another node keeps its seq, once stored. */
static void test_idempotent_retry_elsewhere(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "sensor");
    struct rawws *b = rig_hello(1, "sensor");
    bool dup = false;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/idem");
    pub_n(a, &(int64_t){10}, topic, 1, 1);
    assert_int_equal(pub_keyed(a, 2, topic, "k-1", &dup), 2);
    assert_false(dup);
    assert_int_equal(pub_keyed(b, 3, topic, "k-1", &dup), 2);
    assert_true(dup);
    /* No second copy was stored: the next publish takes 3. */
    pub_n(b, &(int64_t){20}, topic, 1, 3);
    rawws_close(a);
    rawws_close(b);
}

/* A subscriber leaves node A after seq 3, messages 4..6 are published on
 * B, and it resumes on C with since:3: 4..6, then live 7, no gap, no
 * duplicate. */
static void test_since_after_moving(void **state)
{
    char topic[96];
    struct rawws *pubr = rig_hello(1, "pubr");
    struct rawws *s = rig_hello(0, "mover");
    cJSON *ok = NULL;
    int64_t id = 10;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/move");
    cJSON_Delete(sub_with(s, 2, topic, ""));
    pub_n(pubr, &id, topic, 3, 1);
    expect_msgs(s, topic, 1, 3);
    rawws_close(s);
    pub_n(pubr, &id, topic, 3, 4);

    s = rig_hello(2, "mover");
    ok = sub_with(s, 2, topic, ",\"since\":3");
    assert_false(tj_has(ok, "recovered"));
    cJSON_Delete(ok);
    expect_msgs(s, topic, 4, 6);
    pub_n(pubr, &id, topic, 1, 7);
    expect_msgs(s, topic, 7, 7);
    assert_true(itest_nothing_more(s, 90, ITEST_QUIET_MS));
    rawws_close(s);
    rawws_close(pubr);
}

static int healthz(int port)
{
    struct httpc_resp r;
    int status = -1;

    if (httpc_get(port, "/healthz", &r, 2000) == 0) {
        status = r.status;
        httpc_resp_cleanup(&r);
    }
    return status;
}

/* The next frame is {"op":op,"topic":topic,"user":user}. */
static void expect_presence(struct rawws *c, const char *op, const char *topic,
                            const char *user, int ms)
{
    cJSON *f = rawws_expect_op(c, op, ms);

    assert_non_null(f);
    assert_true(tj_str_is(f, "topic", topic));
    assert_true(tj_str_is(f, "user", user));
    cJSON_Delete(f);
}

/* Wait (bounded) until node i's /healthz answers want. */
static bool healthz_becomes(int i, int want, int ms)
{
    int64_t deadline = itest_mono_ms() + ms;

    while (itest_left_ms(deadline) > 0) {
        if (healthz(rig_node(i)) == want)
            return true;
        (void)poll(NULL, 0, 20); /* a poll interval, not a wait for it */
    }
    return healthz(rig_node(i)) == want;
}

/* Redis out of reach: pub errors (never an ack), /healthz 503; Redis back
 * on its AOF: everything acked is there and seq goes on, delivered across
 * nodes again. */
static void test_redis_unreachable(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *b = rig_hello(1, "bob");
    cJSON *f = NULL;
    int64_t id = 10;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/down");
    cJSON_Delete(sub_with(b, 2, topic, ""));
    pub_n(a, &id, topic, 2, 1);
    expect_msgs(b, topic, 1, 2);

    assert_int_equal(redis_proc_kill9(rig.redis), 0);
    assert_true(healthz_becomes(0, 503, 5000));
    assert_int_equal(rawws_send_textf(a,
                                      "{\"op\":\"pub\",\"id\":50,\"topic\":"
                                      "\"%s\",\"data\":1}",
                                      topic),
                     0);
    f = rawws_recv_json(a, ITEST_WAIT_MS);
    assert_non_null(f);
    assert_true(tj_str_is(f, "op", "error"));
    assert_true(tj_str_is(f, "code", "overloaded"));
    assert_non_null(strstr(tj_str(f, "message"), "unreachable"));
    cJSON_Delete(f);
    /* a sub cannot read the topic's state: its error comes, in command
     * order, before the reply to the ping sent after it */
    send_cmd(a, 51, "sub", topic, "");
    assert_int_equal(rawws_send_text(a, "{\"op\":\"ping\",\"id\":52}"), 0);
    f = rawws_expect_error(a, 51, "overloaded", ITEST_WAIT_MS);
    assert_non_null(f);
    cJSON_Delete(f);
    f = rawws_expect_ok(a, 52, ITEST_WAIT_MS);
    assert_non_null(f);
    cJSON_Delete(f);

    assert_int_equal(redis_proc_restart(rig.redis, 0), 0);
    assert_true(healthz_becomes(0, 200, 10000));
    assert_true(healthz_becomes(1, 200, 10000));
    pub_n(a, &id, topic, 1, 3);
    expect_msgs(b, topic, 3, 3);
    assert_true(itest_nothing_more(b, 90, ITEST_QUIET_MS));
    rawws_close(a);
    rawws_close(b);
}

/* How many members node i's presence reply lists for topic. */
static int member_count(int i, const char *topic)
{
    struct rawws *c = itest_hello(rig_node(i), "probe");
    cJSON *ok = NULL;
    int n = -1;

    if (c == NULL)
        return -1;
    if (rawws_send_textf(c, "{\"op\":\"presence\",\"id\":2,"
                            "\"topic\":\"%s\"}", topic) == 0 &&
        (ok = rawws_expect_ok(c, 2, ITEST_WAIT_MS)) != NULL)
        n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok, "members"));
    cJSON_Delete(ok);
    rawws_close(c);
    return n;
}

/* A leave that could not reach Redis (down at the time) is sent when the
 * node reconnects: the member does not linger until the node dies. (The
 * leave event itself may miss a node whose own pub/sub connection is not
 * back yet: presence events are not gap-filled; docs/design.md.) */
static void test_presence_leave_while_redis_down(void **state)
{
    char topic[96];
    struct rawws *alice = rig_hello(0, "alice");
    struct rawws *carol = rig_hello(1, "carol");

    (void)state;
    itest_topic(topic, sizeof(topic), "chat/down");
    cJSON_Delete(sub_with(alice, 2, topic, ",\"presence\":true"));
    cJSON_Delete(sub_with(carol, 2, topic, ",\"presence\":true"));
    expect_presence(alice, "join", topic, "carol", ITEST_WAIT_MS);

    assert_int_equal(redis_proc_kill9(rig.redis), 0);
    assert_true(healthz_becomes(1, 503, 5000));
    rawws_close(carol);
    assert_true(rawws_is_quiet(alice, ITEST_QUIET_MS));
    assert_int_equal(redis_proc_restart(rig.redis, 0), 0);
    assert_true(healthz_becomes(0, 200, 10000));
    {
        int64_t deadline = itest_mono_ms() + 10000;

        while (member_count(0, topic) != 1 && itest_left_ms(deadline) > 0)
            (void)poll(NULL, 0, 50); /* a poll interval */
        assert_int_equal(member_count(0, topic), 1);
    }
    rawws_close(alice);
}

/* Redis restarted without its data: a since from before gets
 * recovered:false, and no old seq is delivered as new. */
static void test_redis_restarted_empty(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *c = NULL;
    cJSON *ok = NULL;
    int64_t id = 10;
    int64_t seq = -1;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/empty");
    pub_n(a, &id, topic, 5, 1);
    rawws_close(a);

    assert_int_equal(redis_proc_kill9(rig.redis), 0);
    assert_int_equal(redis_proc_restart(rig.redis, 1), 0);
    assert_true(healthz_becomes(0, 200, 10000));
    assert_true(healthz_becomes(2, 200, 10000));

    c = rig_hello(2, "carol");
    ok = sub_with(c, 2, topic, ",\"since\":5");
    assert_true(tj_has(ok, "recovered"));
    assert_false(tj_is_true(ok, "recovered"));
    assert_true(tj_int(ok, "seq", &seq));
    assert_int_equal(seq, 0);
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(c, 90, ITEST_QUIET_MS));
    rawws_close(c);
}

/* Every publish acked by a node that is then SIGKILLed is in Redis: a
 * subscriber on another node recovers all of them with since:0. */
static void test_node_killed_loses_nothing(void **state)
{
    char topic[96];
    struct rawws *a = rig_hello(0, "alice");
    struct rawws *b = NULL;
    cJSON *ok = NULL;
    int i;

    (void)state;
    itest_topic(topic, sizeof(topic), "x/kill");
    /* Pipelined: the last acks are still being written when the kill
     * comes; every one that arrived counts. */
    for (i = 0; i < 50; i++)
        assert_int_equal(rawws_send_textf(a,
                                          "{\"op\":\"pub\",\"id\":%d,"
                                          "\"topic\":\"%s\",\"data\":%d}",
                                          100 + i, topic, i),
                         0);
    for (i = 0; i < 50; i++) {
        ok = rawws_expect_ok(a, 100 + i, ITEST_WAIT_MS);
        assert_non_null(ok);
        cJSON_Delete(ok);
    }
    assert_int_equal(server_kill9(rig.nodes[0]), 0);
    rawws_close(a);

    b = rig_hello(1, "bob");
    cJSON_Delete(sub_with(b, 2, topic, ",\"since\":0"));
    expect_msgs(b, topic, 1, 50);
    assert_true(itest_nothing_more(b, 90, ITEST_QUIET_MS));
    rawws_close(b);
    /* back for the teardown, which wants every node to exit cleanly */
    assert_int_equal(server_restart(rig.nodes[0]), 0);
}

/* The protocol's basic chat scenario through the balancer: round-robin
 * puts each connection on the next node, so publisher and subscribers
 * are on three different nodes. */
static void test_through_the_balancer(void **state)
{
    char topic[96];
    struct rawws *c[RIG_NODES];
    cJSON *ok = NULL;
    const cJSON *msgs = NULL;
    int64_t id = 10;
    int i;

    (void)state;
    itest_topic(topic, sizeof(topic), "chat/lb");
    for (i = 0; i < RIG_NODES; i++) {
        c[i] = itest_hello(rig.lb_port, "lb");
        assert_non_null(c[i]);
    }
    for (i = 1; i < RIG_NODES; i++)
        cJSON_Delete(sub_with(c[i], 2, topic, ",\"presence\":false"));
    pub_n(c[0], &id, topic, 4, 1);
    for (i = 1; i < RIG_NODES; i++) {
        expect_msgs(c[i], topic, 1, 4);
        assert_true(itest_nothing_more(c[i], 90, ITEST_QUIET_MS));
    }
    ok = ask(c[0], 5, "history", topic, ",\"before\":4,\"limit\":2");
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 2);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 0), "seq", -1), 2);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 1), "seq", -1), 3);
    cJSON_Delete(ok);
    for (i = 0; i < RIG_NODES; i++)
        rawws_close(c[i]);
}

/* A user on two nodes is one member: one join, one leave, whichever
 * node each connection is on; the member list is the cluster's. */
static void test_presence_across_nodes(void **state)
{
    char topic[96];
    struct rawws *alice = rig_hello(0, "alice");
    struct rawws *bob1 = rig_hello(1, "bob");
    struct rawws *bob2 = rig_hello(2, "bob");
    cJSON *ok = NULL;
    const cJSON *members = NULL;

    (void)state;
    itest_topic(topic, sizeof(topic), "chat/pres");
    cJSON_Delete(sub_with(alice, 2, topic, ",\"presence\":true"));
    cJSON_Delete(sub_with(bob1, 2, topic, ",\"presence\":true"));
    expect_presence(alice, "join", topic, "bob", ITEST_WAIT_MS);
    cJSON_Delete(sub_with(bob2, 2, topic, ",\"presence\":true"));
    assert_true(itest_nothing_more(alice, 90, ITEST_QUIET_MS));

    ok = ask(bob2, 3, "presence", topic, "");
    members = cJSON_GetObjectItemCaseSensitive(ok, "members");
    assert_int_equal(cJSON_GetArraySize(members), 2);
    cJSON_Delete(ok);

    rawws_close(bob1);
    assert_true(itest_nothing_more(alice, 91, ITEST_QUIET_MS));
    rawws_close(bob2);
    expect_presence(alice, "leave", topic, "bob", ITEST_WAIT_MS);
    assert_true(itest_nothing_more(alice, 92, ITEST_QUIET_MS));
    rawws_close(alice);
}

/* Wait (bounded) until node i's /metrics holds text. */
static bool metrics_show(int i, const char *text, int ms)
{
    int64_t deadline = itest_mono_ms() + ms;
    bool found = false;

    do {
        struct httpc_resp r;

        if (httpc_get(rig_node(i), "/metrics", &r, 2000) == 0) {
            found = strstr(r.body, text) != NULL;
            httpc_resp_cleanup(&r);
        }
        if (!found)
            (void)poll(NULL, 0, 50); /* a poll interval */
    } while (!found && itest_left_ms(deadline) > 0);
    return found;
}

/* A SIGKILLed node's users leave once, within its ttl, announced by the
 * nodes that survive; /metrics counts the live nodes. */
static void test_presence_node_killed(void **state)
{
    char topic[96];
    struct rawws *alice = rig_hello(0, "alice");
    struct rawws *carol = rig_hello(2, "carol");

    (void)state;
    itest_topic(topic, sizeof(topic), "chat/dead");
    /* Earlier tests killed nodes (and emptied Redis): the count settles
     * within a ttl and a beat. */
    assert_true(metrics_show(0, "\nparley_cluster_nodes 3\n", 6000));

    cJSON_Delete(sub_with(alice, 2, topic, ",\"presence\":true"));
    cJSON_Delete(sub_with(carol, 2, topic, ",\"presence\":true"));
    expect_presence(alice, "join", topic, "carol", ITEST_WAIT_MS);
    assert_int_equal(server_kill9(rig.nodes[2]), 0);
    /* ttl 2 s, beats every 0.67 s: the leave comes within about 3 s */
    expect_presence(alice, "leave", topic, "carol", 6000);
    assert_true(itest_nothing_more(alice, 90, 1000));
    rawws_close(carol);
    rawws_close(alice);
    assert_int_equal(server_restart(rig.nodes[2]), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_across_nodes),
        cmocka_unit_test(test_sys_cluster_nodes),
        cmocka_unit_test(test_unsub_before_sub_answered),
        cmocka_unit_test(test_anonymous_names_across_nodes),
        cmocka_unit_test(test_wildcard_on_another_node),
        cmocka_unit_test(test_history_and_retained_elsewhere),
        cmocka_unit_test(test_idempotent_retry_elsewhere),
        cmocka_unit_test(test_since_after_moving),
        cmocka_unit_test(test_node_killed_loses_nothing),
        cmocka_unit_test(test_through_the_balancer),
        cmocka_unit_test(test_presence_across_nodes),
        cmocka_unit_test(test_presence_node_killed),
        cmocka_unit_test(test_redis_unreachable),
        cmocka_unit_test(test_presence_leave_while_redis_down),
        cmocka_unit_test(test_redis_restarted_empty),
    };

    return itest_exit_code(cmocka_run_group_tests(tests, setup, rig_teardown));
}
