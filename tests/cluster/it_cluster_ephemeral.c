/*
 * it_cluster_ephemeral.c: ephemeral topics (--ephemeral, default typing/#)
 * in a cluster: three real parleyd nodes on one real redis-server. A
 * typing event published on node A reaches subscribers on every node
 * (exact and pattern, once per connection, the publisher's node included),
 * nothing of it is stored, and the relay comes back with the Redis link
 * after redis-server was killed and restarted.
 *
 * A sub on an ephemeral topic is answered once its node's SUBSCRIBE (or
 * PSUBSCRIBE) is active in Redis, so a message published anywhere after
 * the ok reaches it: the first test publishes right after the subs. After
 * Redis came back, the nodes' links resubscribe on their own, so that
 * test publishes probes until every subscriber heard one (until_live,
 * bounded), then checks the message it means.
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

#define LIVE_WAIT_MS 15000 /* bound on until_live's probing */
#define PROBE_MS 100       /* how long a probe round waits per subscriber */


/* A subscriber, and the seq of the last message it got: each node numbers
 * an ephemeral topic's messages itself, gapless while it runs. */
struct watcher {
    struct rawws *c;
    int64_t seq; /* 0: none yet */
};

static void watch(struct watcher *w, int i, const char *name,
                  const char *pattern)
{
    cJSON *ok = NULL;

    w->c = itest_hello(rig_node(i), name);
    assert_non_null(w->c);
    w->seq = 0;
    ok = itest_sub(w->c, 2, pattern);
    assert_non_null(ok);
    cJSON_Delete(ok);
}

/* The next frame must be a msg on topic, numbered right after the last;
 * returns its data's "n". */
static int64_t next_n(struct watcher *w, const char *topic)
{
    cJSON *m = itest_expect_msg(w->c, topic, 0, ITEST_WAIT_MS);
    int64_t seq = -1;
    int64_t n = -1;

    assert_non_null(m);
    assert_true(tj_int(m, "seq", &seq));
    if (w->seq != 0)
        assert_int_equal(seq, w->seq + 1);
    w->seq = seq;
    assert_true(tj_int(cJSON_GetObjectItemCaseSensitive(m, "data"), "n", &n));
    cJSON_Delete(m);
    return n;
}

static void publish(struct rawws *p, int64_t *id, const char *topic,
                    int64_t n)
{
    char data[48];

    snprintf(data, sizeof(data), "{\"n\":%lld}", (long long)n);
    /* the ack comes at once, with the publisher's node's seq */
    assert_true(itest_pub(p, *id, topic, data) > 0);
    (*id)++;
}

/* Publish probes (n = *id) on topic until every watcher heard one, then
 * read each up to the last probe: from then on every node's subscription
 * is active in Redis, and nothing of the probes is left to read. */
static void until_live(struct rawws *p, int64_t *id, const char *topic,
                       struct watcher *w, size_t nw)
{
    int64_t deadline = itest_mono_ms() + LIVE_WAIT_MS;
    int64_t heard[8] = {0}; /* the probe each watcher heard first */
    int64_t last = 0;
    size_t done = 0;
    size_t i;

    assert_true(nw <= 8);
    while (done < nw && itest_left_ms(deadline) > 0) {
        last = *id;
        publish(p, id, topic, last);
        for (i = 0; i < nw; i++) {
            /* a probe round's wait, not a wait for the relay */
            if (heard[i] != 0 || rawws_is_quiet(w[i].c, PROBE_MS))
                continue;
            heard[i] = next_n(&w[i], topic);
            assert_true(heard[i] > 0);
            done++;
        }
    }
    assert_int_equal(done, nw);
    for (i = 0; i < nw; i++) {
        int64_t n = heard[i];

        while (n != last) {
            n = next_n(&w[i], topic);
            assert_true(n <= last);
        }
    }
}

/* Publish n on topic from p: each watcher gets it exactly once. Then
 * close them all, p too. */
static void once_each_then_close(struct rawws *p, int64_t *id,
                                 const char *topic, struct watcher *w,
                                 size_t nw, int64_t n)
{
    size_t i;

    publish(p, id, topic, n);
    for (i = 0; i < nw; i++) {
        assert_int_equal(next_n(&w[i], topic), n);
        assert_true(itest_nothing_more(w[i].c, 90, ITEST_QUIET_MS));
    }
    rawws_close(p);
    for (i = 0; i < nw; i++)
        rawws_close(w[i].c);
}

/* An ok reply to a history request: its messages must be none. */
static void expect_no_history(int i, const char *topic)
{
    struct rawws *c = itest_hello(rig_node(i), "reader");
    cJSON *ok = NULL;

    assert_non_null(c);
    assert_int_equal(rawws_send_textf(c,
                                      "{\"op\":\"history\",\"id\":2,"
                                      "\"topic\":\"%s\"}",
                                      topic),
                     0);
    ok = rawws_expect_ok(c, 2, ITEST_WAIT_MS);
    assert_non_null(ok);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok, "messages")),
        0);
    cJSON_Delete(ok);
    rawws_close(c);
}

/* Redis holds no key that names topic, and the topic registry lacks it. */
static void expect_nothing_in_redis(const char *topic)
{
    redisContext *r = redis_proc_connect(rig.redis);
    redisReply *rep = NULL;

    assert_non_null(r);
    rep = redisCommand(r, "KEYS *%s*", topic);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 0);
    freeReplyObject(rep);
    rep = redisCommand(r, "ZSCORE pl:topics %s", topic);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    redisFree(r);
}

/* Published on node 0: a subscriber there, an exact and a pattern
 * subscriber on node 1 (its node hears Redis's copy twice, through its
 * SUBSCRIBE and its PSUBSCRIBE) and a pattern subscriber on node 2 each
 * get it exactly once; nothing is stored on any node nor in Redis. */
static void test_typing_reaches_every_node(void **state)
{
    static const char topic[] = "typing/room1";
    struct watcher w[4];
    struct rawws *p = NULL;
    int64_t id = 10;
    int i;

    (void)state;
    watch(&w[0], 0, "amy", topic);
    watch(&w[1], 1, "bob", topic);
    watch(&w[2], 1, "bea", "typing/#");
    watch(&w[3], 2, "cat", "typing/#");
    p = itest_hello(rig_node(0), "alice");
    assert_non_null(p);
    once_each_then_close(p, &id, topic, w, 4, 1000000);
    for (i = 0; i < RIG_NODES; i++)
        expect_no_history(i, topic);
    expect_nothing_in_redis(topic);
}

/* Node i's /metrics holds text (read now: nothing to wait for). */
static bool metrics_say(int i, const char *text)
{
    struct httpc_resp r;
    bool found = false;

    if (httpc_get(rig_node(i), "/metrics", &r, 2000) == 0) {
        found = strstr(r.body, text) != NULL;
        httpc_resp_cleanup(&r);
    }
    return found;
}

/* GET /readyz on node i answers want before ms passed. */
static bool readyz_becomes(int i, int want, int ms)
{
    int64_t deadline = itest_mono_ms() + ms;

    for (;;) {
        struct httpc_resp r;
        int status = -1;

        if (httpc_get(rig_node(i), "/readyz", &r, 2000) == 0) {
            status = r.status;
            httpc_resp_cleanup(&r);
        }
        if (status == want)
            return true;
        if (itest_left_ms(deadline) <= 0)
            return false;
        (void)poll(NULL, 0, 20); /* a poll interval, not a wait for it */
    }
}

/* redis-server killed and started again: the nodes' links come back with
 * their subscriptions, and typing crosses nodes again. A typing event
 * published meanwhile is acked (single-node semantics) and may be lost
 * to the other nodes: it is ephemeral. */
static void test_relay_after_redis_restart(void **state)
{
    static const char topic[] = "typing/room2";
    struct watcher w[2];
    struct rawws *p = NULL;
    int64_t id = 10;
    int i;

    (void)state;
    watch(&w[0], 1, "bob", topic);
    watch(&w[1], 2, "cat", "typing/#");
    p = itest_hello(rig_node(0), "alice");
    assert_non_null(p);
    until_live(p, &id, topic, w, 2);

    assert_int_equal(redis_proc_kill9(rig.redis), 0);
    for (i = 0; i < RIG_NODES; i++)
        assert_true(readyz_becomes(i, 503, 10000));
    publish(p, &id, topic, id); /* acked at once, relayed to no one */
    assert_true(metrics_say(0, "parley_cluster_ephemeral_unsent_total 1\n"));
    assert_int_equal(redis_proc_restart(rig.redis, 0), 0);
    for (i = 0; i < RIG_NODES; i++)
        assert_true(readyz_becomes(i, 200, 10000));

    until_live(p, &id, topic, w, 2);
    once_each_then_close(p, &id, topic, w, 2, 2000000);
    /* node 1 heard all its messages from Redis, node 0 none */
    assert_false(metrics_say(1, "parley_cluster_ephemeral_heard_total 0\n"));
    assert_true(metrics_say(0, "parley_cluster_ephemeral_heard_total 0\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typing_reaches_every_node),
        cmocka_unit_test(test_relay_after_redis_restart),
    };

    return itest_exit_code(
        cmocka_run_group_tests(tests, rig_setup, rig_teardown));
}
