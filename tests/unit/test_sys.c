/*
 * test_sys.c: the `$SYS` topics (server/sys.c) on a real hub around the
 * fake transport and store (hub_fake.c): values that match what the test
 * did, rates over the fake clock, the busiest topics, the slow-consumer
 * event naming the user and the topic, nothing built while nobody
 * subscribes, `$` topics kept from leading wildcards, and --sys-interval 0.
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
#include "msg.h"
#include "sys.h"

/* ---- helpers ---------------------------------------------------------- */

static void sys_hub(struct fake *f, uint32_t interval_ms, size_t queue_bytes)
{
    struct hub_config cfg;

    fake_config(&cfg);
    cfg.sys_interval_ms = interval_ms;
    if (queue_bytes > 0)
        cfg.queue_bytes = queue_bytes;
    fake_init(f, &cfg);
}

static struct conn *hello(struct fake *f, const char *name)
{
    struct conn *c = fake_open(f);

    fake_send(f, c, "{\"op\":\"hello\",\"id\":1,\"name\":\"%s\"}", name);
    expect_ok_only(f, c, 1);
    return c;
}

static void sub_ok(struct fake *f, struct conn *c, int64_t id,
                   const char *topic)
{
    cJSON *o = NULL;

    fake_send(f, c, "{\"op\":\"sub\",\"id\":%lld,\"topic\":\"%s\"}",
              (long long)id, topic);
    o = expect_ok(f, c, id);
    cJSON_Delete(o);
}

/* Every `msg` frame c has ready, the last one of each topic kept. */
struct values {
    cJSON *frames[64];
    size_t n;
};

static void values_take(struct fake *f, struct conn *c, struct values *v)
{
    while (!fake_empty(c) && !fake_pending(c)) {
        cJSON *o = fake_pop(f, c);
        const char *topic = NULL;
        size_t i = 0;

        assert_string_equal(json_str(o, "op"), "msg");
        topic = json_str(o, "topic");
        for (i = 0; i < v->n; i++)
            if (strcmp(json_str(v->frames[i], "topic"), topic) == 0)
                break;
        if (i < v->n) {
            cJSON_Delete(v->frames[i]);
        } else {
            assert_true(v->n < 64);
            v->n++;
        }
        v->frames[i] = o;
    }
}

static void values_clear(struct values *v)
{
    size_t i = 0;

    for (i = 0; i < v->n; i++)
        cJSON_Delete(v->frames[i]);
    v->n = 0;
}

/* Whether v holds a frame for topic. */
static bool has_value(const struct values *v, const char *topic)
{
    size_t i = 0;

    for (i = 0; i < v->n; i++)
        if (strcmp(json_str(v->frames[i], "topic"), topic) == 0)
            return true;
    return false;
}

/* The data of topic's frame (asserted present), borrowed from v. */
static const cJSON *value(const struct values *v, const char *topic)
{
    size_t i = 0;

    for (i = 0; i < v->n; i++)
        if (strcmp(json_str(v->frames[i], "topic"), topic) == 0)
            return cJSON_GetObjectItemCaseSensitive(v->frames[i], "data");
    fail_msg("no frame for %s", topic);
    return NULL;
}

static double number(const struct values *v, const char *topic)
{
    const cJSON *d = value(v, topic);

    assert_true(cJSON_IsNumber(d));
    return d->valuedouble;
}

static void pub_commit(struct fake *f, struct conn *c, const char *topic)
{
    fake_send(f, c, "{\"op\":\"pub\",\"topic\":\"%s\",\"data\":1}", topic);
    fake_complete_all(f);
}

/* ---- tests ------------------------------------------------------------ */

/* A first `$SYS/#` subscriber gets every value at once, retained, and
 * each tick brings values that match what happened: connections,
 * messages in and out (its own $SYS frames not counted), rates over the
 * interval, the store's sample, the busiest topics. */
static void test_sys_values(void **state)
{
    struct fake *f = *state;
    struct conn *admin = NULL;
    struct conn *p = NULL;
    struct conn *s = NULL;
    struct hub_sys_sample sample;
    struct values v;
    const cJSON *busy = NULL;
    int i = 0;

    memset(&v, 0, sizeof(v));
    sys_hub(f, 5000, 0);
    admin = hello(f, "admin");
    p = hello(f, "pub");
    s = hello(f, "sub");
    sub_ok(f, s, 2, "a/#");
    f->now += 2000;
    sub_ok(f, admin, 2, "$SYS/#");
    values_take(f, admin, &v);
    assert_true(v.n >= 15);
    assert_int_equal(number(&v, "$SYS/broker/clients/connected"), 3);
    assert_int_equal(number(&v, "$SYS/broker/clients/total"), 3);
    assert_int_equal(number(&v, "$SYS/broker/uptime"), 2);
    /* taken just before the admin's own subscription was added */
    assert_int_equal(number(&v, "$SYS/broker/subscriptions/count"), 1);
    assert_int_equal(number(&v, "$SYS/broker/messages/received"), 0);
    assert_string_equal(value(&v, "$SYS/broker/version")->valuestring,
                        "parley/" PARLEY_VERSION);
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(v.frames[0], "retained")));
    values_clear(&v);

    for (i = 0; i < 10; i++)
        pub_commit(f, p, "a/busy");
    pub_commit(f, p, "a/quiet");
    assert_int_equal(fake_drain(f, s), 11);
    expect_empty(admin); /* nothing between ticks */

    memset(&sample, 0, sizeof(sample));
    sample.bytes_out = 5000;
    sample.store_pending = 7;
    sample.store_batches = 4;
    sample.store_commit_us = 6000;
    sample.refused = 2;
    f->now += 3000; /* the first tick, 5 s after start */
    hub_sys_tick(f->hub, &sample);
    values_take(f, admin, &v);
    assert_int_equal(number(&v, "$SYS/broker/messages/received"), 11);
    assert_int_equal(number(&v, "$SYS/broker/messages/sent"), 11);
    assert_int_equal(number(&v, "$SYS/broker/topics/count"), 2);
    assert_int_equal(number(&v, "$SYS/broker/clients/refused"), 2);
    assert_int_equal(number(&v, "$SYS/broker/store/queue_depth"), 7);
    assert_true(number(&v, "$SYS/broker/bytes/received") > 0);
    assert_int_equal(number(&v, "$SYS/broker/bytes/sent"), 5000);
    assert_float_equal(
        number(&v, "$SYS/broker/load/messages/received/per_second"), 2.2,
        0.001);
    assert_float_equal(
        number(&v, "$SYS/broker/load/bytes/sent/per_second"), 1000, 0.001);
    assert_float_equal(number(&v, "$SYS/broker/store/commit_latency_ms"),
                       1.5, 0.001);
    /* a single node (cluster_nodes 0) has no node count */
    assert_false(has_value(&v, "$SYS/broker/cluster/nodes"));
    busy = value(&v, "$SYS/broker/topics/busiest");
    assert_true(cJSON_IsArray(busy));
    assert_int_equal(cJSON_GetArraySize(busy), 2);
    assert_string_equal(json_str(cJSON_GetArrayItem(busy, 0), "topic"),
                        "a/busy");
    assert_float_equal(cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetArrayItem(busy, 0), "per_second")
                           ->valuedouble,
                       3.33, 0.001); /* 10 since the walk at the sub, 3 s */
    values_clear(&v);

    /* The next interval: nothing published, the rates fall to zero; as
     * a cluster node (the glue's sample says 3 live nodes) it counts
     * them. */
    sample.store_batches = 4;
    sample.cluster_nodes = 3;
    f->now += 5000;
    hub_sys_tick(f->hub, &sample);
    values_take(f, admin, &v);
    assert_int_equal(number(&v, "$SYS/broker/cluster/nodes"), 3);
    assert_float_equal(
        number(&v, "$SYS/broker/load/messages/received/per_second"), 0,
        0.001);
    assert_float_equal(number(&v, "$SYS/broker/store/commit_latency_ms"), 0,
                       0.001);
    assert_int_equal(cJSON_GetArraySize(
                         value(&v, "$SYS/broker/topics/busiest")), 0);
    values_clear(&v);
    fake_cleanup(f);
}

/* No `$` subscriber: a tick builds nothing and no `$` topic exists; a
 * leading wildcard never sees `$SYS`; a client cannot publish there. */
static void test_sys_quiet_without_subscribers(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct hub_sys_sample sample;
    size_t live = 0;

    memset(&sample, 0, sizeof(sample));
    sys_hub(f, 5000, 0);
    c = hello(f, "all");
    sub_ok(f, c, 2, "#");
    sub_ok(f, c, 3, "+/broker/#");
    live = msg_live_count();
    f->now += 5000;
    hub_sys_tick(f->hub, &sample);
    assert_int_equal(msg_live_count(), live);
    assert_int_equal(hub_get_stats(f->hub)->topics, 0);
    assert_false(hub_sys_wanted(f->hub));
    hub_sys_refused(f->hub, "127.0.0.1", "nope", 401);
    hub_sys_flush(f->hub);
    expect_empty(c);

    /* Someone subscribes to one value: the values are made, and still
     * only that subscriber sees them, not the wildcards. */
    {
        struct conn *one = hello(f, "one");
        struct values v;

        memset(&v, 0, sizeof(v));
        sub_ok(f, one, 2, "$SYS/broker/clients/connected");
        values_take(f, one, &v);
        assert_int_equal(v.n, 1);
        assert_int_equal(number(&v, "$SYS/broker/clients/connected"), 2);
        values_clear(&v);
        f->now += 5000;
        hub_sys_tick(f->hub, &sample);
        values_take(f, one, &v);
        assert_int_equal(v.n, 1);
        values_clear(&v);
        expect_empty(c);
        /* topics/count leaves the server's own out */
        assert_true(hub_get_stats(f->hub)->topics > 0);
    }

    fake_send(f, c, "{\"op\":\"pub\",\"id\":4,\"topic\":\"$SYS/x\","
                    "\"data\":1}");
    expect_error(f, c, 4, "forbidden");
    fake_cleanup(f);
}

/* A connection culled with 4008 becomes $SYS/events/slow_consumer naming
 * its user and the topic whose message overflowed its queue; the event
 * is sent by hub_sys_flush, after the fan-out. */
static void test_sys_slow_consumer_event(void **state)
{
    struct fake *f = *state;
    struct conn *admin = NULL;
    struct conn *slow = NULL;
    struct conn *p = NULL;
    struct values v;
    const cJSON *d = NULL;
    int i = 0;

    memset(&v, 0, sizeof(v));
    sys_hub(f, 5000, 4096);
    admin = hello(f, "admin");
    slow = hello(f, "bob");
    p = hello(f, "pub");
    sub_ok(f, admin, 2, "$SYS/events/#");
    sub_ok(f, slow, 2, "flood/+");
    for (i = 0; i < 200 && slow->close_code == 0; i++)
        pub_commit(f, p, "flood/x");
    assert_int_equal(slow->close_code, 4008);
    expect_empty(admin); /* not during the fan-out */
    hub_sys_flush(f->hub);
    values_take(f, admin, &v);
    assert_int_equal(v.n, 1);
    d = value(&v, "$SYS/events/slow_consumer");
    assert_string_equal(json_str(d, "user"), "bob");
    assert_string_equal(json_str(d, "topic"), "flood/x");
    assert_int_equal(json_int(d, "conn"), (int64_t)slow->id);
    values_clear(&v);

    hub_sys_refused(f->hub, "127.0.0.9", "bad token", 401);
    hub_sys_flush(f->hub);
    values_take(f, admin, &v);
    d = value(&v, "$SYS/events/refused");
    assert_string_equal(json_str(d, "address"), "127.0.0.9");
    assert_string_equal(json_str(d, "reason"), "bad token");
    assert_int_equal(json_int(d, "code"), 401);
    values_clear(&v);
    hub_conn_close(f->hub, &slow);
    fake_cleanup(f);
}

/* --sys-interval 0: `$SYS` stays silent even for a subscriber. */
static void test_sys_off(void **state)
{
    struct fake *f = *state;
    struct conn *admin = NULL;

    sys_hub(f, 0, 0);
    admin = hello(f, "admin");
    sub_ok(f, admin, 2, "$SYS/#");
    expect_empty(admin);
    assert_false(hub_sys_wanted(f->hub));
    fake_cleanup(f);
}

#define SYS_TEST(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, \
                                                     fake_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SYS_TEST(test_sys_values),
        SYS_TEST(test_sys_quiet_without_subscribers),
        SYS_TEST(test_sys_slow_consumer_event),
        SYS_TEST(test_sys_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
