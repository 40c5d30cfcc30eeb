/*
 * it_cluster_deaf.c: a node whose pub/sub connection to Redis was lost
 * misses the join, leave and marked events published meanwhile (Redis
 * pub/sub keeps nothing for a connection that is gone). When it is back,
 * its clients must still end up told: the member list re-read and only
 * the differences announced, once; the moved markers read back from the
 * marked log, once.
 *
 * How a node is made deaf, deterministically: SIGSTOP it, CLIENT KILL
 * every pub/sub connection (or SIGKILL redis-server and start it again on
 * its AOF; the stopped node cannot reconnect), make the changes through
 * another node and see them in Redis, then SIGCONT it.
 * Real redis-server, three real parleyd nodes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <poll.h>

#include "itest.h"
#include "rig_fixture.h"
#include "redis_layout.h"

#define W ITEST_WAIT_MS

static int stopped = -1; /* the node deaf_begin stopped, for teardown */

static int teardown(void **state)
{
    if (stopped >= 0)
        (void)kill(server_pid(rig.nodes[stopped]), SIGCONT);
    return rig_teardown(state);
}

static void ok_of(struct rawws *c, int64_t id, const char *fmt,
                  const char *topic, long long n)
{
    cJSON *ok = NULL;

    assert_int_equal(rawws_send_textf(c, fmt, (long long)id, topic, n), 0);
    ok = rawws_expect_ok(c, id, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
}

#define SUB_PRES                                                            \
    "{\"op\":\"sub\",\"id\":%lld,\"topic\":\"%s\",\"presence\":true%.0lld}"
#define PRESENCE "{\"op\":\"presence\",\"id\":%lld,\"topic\":\"%s\"%.0lld}"
#define MARK "{\"op\":\"mark\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld}"

/* Whether Redis's members of topic hold user (want) or not. Bounded. */
static bool redis_member_becomes(const char *topic, const char *user,
                                 bool want)
{
    char key[REDIS_NAME_MAX];
    redisContext *rc = redis_proc_connect(rig.redis);
    int64_t deadline = itest_mono_ms() + W;
    bool is = !want;

    assert_non_null(rc);
    assert_true(redis_layout_topic_key(key, sizeof(key), topic,
                                       REDIS_KEY_PRES) > 0);
    while (itest_left_ms(deadline) > 0) {
        redisReply *r = redisCommand(rc, "HEXISTS %s %s", key, user);

        assert_non_null(r);
        is = r->integer == 1;
        freeReplyObject(r);
        if (is == want)
            break;
        (void)poll(NULL, 0, 20); /* a poll interval */
    }
    redisFree(rc);
    return is == want;
}

/* Stop node i and cut every pub/sub connection to Redis (with
 * CLIENT KILL, or by SIGKILLing redis-server and starting it again on its
 * AOF): node i stays deaf until deaf_end, the others reconnect at once. */
static void deaf_begin(int i, bool restart)
{
    redisContext *rc = NULL;
    redisReply *r = NULL;

    assert_int_equal(kill(server_pid(rig.nodes[i]), SIGSTOP), 0);
    stopped = i;
    if (restart) {
        assert_int_equal(redis_proc_kill9(rig.redis), 0);
        assert_int_equal(redis_proc_restart(rig.redis, 0), 0);
        return;
    }
    rc = redis_proc_connect(rig.redis);
    assert_non_null(rc);
    r = redisCommand(rc, "CLIENT KILL TYPE pubsub");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer >= RIG_NODES);
    freeReplyObject(r);
    redisFree(rc);
}

/* How many pub/sub connections Redis has. */
static long long pubsub_clients(void)
{
    redisContext *rc = redis_proc_connect(rig.redis);
    redisReply *r = NULL;
    long long n = 0;
    const char *p = NULL;

    assert_non_null(rc);
    r = redisCommand(rc, "CLIENT LIST TYPE pubsub");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    for (p = r->str; (p = strstr(p, "id=")) != NULL; p += 3)
        n++;
    freeReplyObject(r);
    redisFree(rc);
    return n;
}

static int healthz(int i)
{
    struct httpc_resp r;
    int status = -1;

    if (httpc_get(cluster_rig_node_port(&rig, i), "/healthz", &r, 2000) == 0) {
        status = r.status;
        httpc_resp_cleanup(&r);
    }
    return status;
}

/* Whether node i's /metrics holds text. */
static bool metrics_have(int i, const char *text)
{
    struct httpc_resp r;
    bool found = false;

    if (httpc_get(cluster_rig_node_port(&rig, i), "/metrics", &r, 2000) == 0) {
        found = strstr(r.body, text) != NULL;
        httpc_resp_cleanup(&r);
    }
    return found;
}

/* Wait (bounded) until the nodes other than the deaf one reconnected
 * their pub/sub and node i answers /healthz with 200 (its link is up). */
static void wait_back(int i)
{
    int64_t deadline = itest_mono_ms() + W;

    while (pubsub_clients() < RIG_NODES - 1 && itest_left_ms(deadline) > 0)
        (void)poll(NULL, 0, 20); /* a poll interval */
    assert_true(pubsub_clients() >= RIG_NODES - 1);
    while (healthz(i) != 200 && itest_left_ms(deadline) > 0)
        (void)poll(NULL, 0, 20);
    assert_int_equal(healthz(i), 200);
}

static void deaf_end(int i)
{
    assert_int_equal(kill(server_pid(rig.nodes[i]), SIGCONT), 0);
    stopped = -1;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The events c must get, each exactly once, in any order: "join:<user>",
 * "leave:<user>", "marked:<seq>" (all for topic); then nothing more. */
static void expect_events(struct rawws *c, const char *topic,
                          const char *const *want, size_t n, int64_t ping_id)
{
    int seen[8] = {0};
    size_t got = 0;

    assert_true(n <= 8);
    while (got < n) {
        cJSON *f = rawws_recv_json(c, W);
        const char *op = f != NULL ? str_of(f, "op") : "";
        char what[128];
        size_t i;

        assert_non_null(f);
        assert_true(tj_str_is(f, "topic", topic));
        if (strcmp(op, "marked") == 0)
            snprintf(what, sizeof(what), "marked:%lld",
                     (long long)tj_int_or(f, "seq", -1));
        else
            snprintf(what, sizeof(what), "%s:%s", op, str_of(f, "user"));
        print_message("client %lld heard %s\n", (long long)ping_id, what);
        for (i = 0; i < n && strcmp(want[i], what) != 0; i++)
            ;
        if (i == n || seen[i]++ > 0)
            fail_msg("unexpected or repeated event %s", what);
        got++;
        cJSON_Delete(f);
    }
    assert_true(itest_nothing_more(c, ping_id, ITEST_QUIET_MS));
}

/*
 * Node 1 is deaf while carol leaves, dave joins, and bob (on node 0) moves
 * his read marker: bob's subscriber on node 1 hears all three once it is
 * back, and alice on node 0 (whose pub/sub was cut too, briefly) hears the
 * presence changes once. told and filled: node 1's counters after it.
 */
static void deaf_spell(bool restart, int told, int filled)
{
    char topic[96];
    struct rawws *alice = rig_hello(0, "alice");
    struct rawws *carol = rig_hello(0, "carol");
    struct rawws *bob = rig_hello(1, "bob");
    struct rawws *bob0 = rig_hello(0, "bob");
    struct rawws *dave = NULL;
    static const char *const bob_wants[] = {"leave:carol", "join:dave",
                                            "marked:2"};
    static const char *const alice_wants[] = {"leave:carol", "join:dave"};

    char metric[96];

    itest_topic(topic, sizeof(topic), "deaf/room");
    assert_int_equal(itest_pub(alice, 2, topic, "{\"t\":1}"), 1);
    assert_int_equal(itest_pub(alice, 3, topic, "{\"t\":2}"), 2);
    ok_of(alice, 4, SUB_PRES, topic, 0);
    ok_of(carol, 5, SUB_PRES, topic, 0);
    {
        cJSON *j = rawws_expect_op(alice, "join", W);

        assert_non_null(j);
        assert_true(tj_str_is(j, "user", "carol"));
        cJSON_Delete(j);
    }
    ok_of(bob, 6, SUB_PRES, topic, 0);
    /* the presence read after bob's sub went first on node 1's command
     * connection: once this answers, node 1 knows the members */
    ok_of(bob, 3, PRESENCE, topic, 0);
    {
        cJSON *j = rawws_expect_op(alice, "join", W);

        assert_non_null(j);
        assert_true(tj_str_is(j, "user", "bob"));
        cJSON_Delete(j);
    }
    assert_true(itest_nothing_more(bob, 4, ITEST_QUIET_MS));

    deaf_begin(1, restart);
    wait_back(0);
    rawws_close(carol);
    assert_true(redis_member_becomes(topic, "carol", false));
    dave = rig_hello(0, "dave");
    ok_of(dave, 7, SUB_PRES, topic, 0);
    assert_true(redis_member_becomes(topic, "dave", true));
    ok_of(bob0, 8, MARK, topic, 2);
    deaf_end(1);

    expect_events(bob, topic, bob_wants, 3, 90);
    expect_events(alice, topic, alice_wants, 2, 91);
    /* node 1 told them from its re-read and the marked log */
    snprintf(metric, sizeof(metric),
             "\nparley_cluster_presence_told_total %d\n", told);
    assert_true(metrics_have(1, metric));
    snprintf(metric, sizeof(metric),
             "\nparley_cluster_marked_filled_total %d\n", filled);
    assert_true(metrics_have(1, metric));
    rawws_close(alice);
    rawws_close(bob);
    rawws_close(bob0);
    rawws_close(dave);
}

static void test_deaf_node_catches_up(void **state)
{
    (void)state;
    deaf_spell(false, 2, 1);
}

/* The same across redis-server SIGKILLed and started again on its AOF
 * (the marked log and the members come back with it). */
static void test_deaf_across_redis_restart(void **state)
{
    (void)state;
    deaf_spell(true, 4, 2);
}

#define SUB "{\"op\":\"sub\",\"id\":%lld,\"topic\":\"%s\"%.0lld}"

/*
 * A wildcard subscriber on node 1; while node 1 is deaf, a topic under
 * its pattern gets its first messages through node 0. Node 1 never heard
 * of the topic, yet its subscriber must get every message from the
 * first, in order, once (as on one node), not only those after it is back.
 */
static void test_pattern_new_topic_while_deaf(void **state)
{
    char base[96], pat[128], topic[128];
    struct rawws *sub = rig_hello(1, "watcher");
    struct rawws *pub = rig_hello(0, "writer");
    int64_t seq = 0;

    (void)state;
    itest_topic(base, sizeof(base), "deaf/pat");
    snprintf(pat, sizeof(pat), "%s/#", base);
    snprintf(topic, sizeof(topic), "%s/new", base);
    ok_of(sub, 2, SUB, pat, 0);

    deaf_begin(1, false);
    wait_back(0);
    assert_int_equal(itest_pub(pub, 2, topic, "{\"n\":1}"), 1);
    assert_int_equal(itest_pub(pub, 3, topic, "{\"n\":2}"), 2);
    deaf_end(1);
    /* node 1 is back once its /healthz says so; then one more */
    {
        int64_t deadline = itest_mono_ms() + W;

        while (healthz(1) != 200 && itest_left_ms(deadline) > 0)
            (void)poll(NULL, 0, 20); /* a poll interval */
    }
    assert_int_equal(itest_pub(pub, 4, topic, "{\"n\":3}"), 3);
    for (seq = 1; seq <= 3; seq++) {
        cJSON *m = itest_expect_msg(sub, topic, seq, W);

        assert_non_null(m);
        cJSON_Delete(m);
    }
    assert_true(itest_nothing_more(sub, 90, ITEST_QUIET_MS));
    rawws_close(sub);
    rawws_close(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deaf_node_catches_up),
        cmocka_unit_test(test_pattern_new_topic_while_deaf),
        cmocka_unit_test(test_deaf_across_redis_restart),
    };

    return itest_exit_code(cmocka_run_group_tests(tests, rig_setup, teardown));
}
