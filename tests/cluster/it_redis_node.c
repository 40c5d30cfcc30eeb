/*
 * it_redis_node.c: nodes in a real Redis: each beats, counts the live
 * nodes, and a node that stops beating (it died) is forgotten by another
 * within its ttl, its presence members' leaves published once; a draining
 * node's leaves go out at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "link_loop.h"
#include "redis_fix.h"
#include "redis_node.h"

#define WAIT_MS 8000

static const struct redis_node_config fast = {
    .beat_ms = 50,
    .ttl_ms = 300,
    .reap_limit = 16,
};

struct member {
    struct link_loop *ll;
    struct redis_link *link;
    struct redis_node *node;
};

static void member_start(struct member *m, struct link_loop *ll, int port)
{
    struct redis_link_config cfg;

    m->ll = ll;
    link_loop_config(&cfg, port, 2000);
    assert_int_equal(redis_link_new(&m->link, ll->loop, &cfg), 0);
    assert_true(link_loop_until_up(ll, m->link, true, WAIT_MS));
    assert_int_equal(redis_node_new(&m->node, ll->loop, m->link, &fast), 0);
}

static void member_stop(struct member *m)
{
    redis_node_free(&m->node);
    redis_link_free(&m->link);
}

static long long live(const struct member *m)
{
    struct redis_node_stats st;

    redis_node_get_stats(m->node, &st);
    return st.live;
}

/* Run until m's last beat counted want live nodes. */
static bool until_live(struct member *m, long long want)
{
    int64_t deadline = link_loop_ms() + WAIT_MS;

    while (live(m) != want && link_loop_ms() < deadline)
        ev_run(m->ll->loop, EVRUN_ONCE);
    return live(m) == want;
}

struct count {
    int calls;
    long long value;
    int err;
};

static void on_int(int err, long long v, void *ud)
{
    struct count *c = ud;

    c->calls++;
    c->err = err;
    c->value = v;
}

static void join(struct member *m, const char *topic, const char *user)
{
    struct count c = {0};

    assert_int_equal(redis_call_pres_join(m->link, redis_node_id(m->node),
                                          topic, user, on_int, &c),
                     0);
    assert_true(link_loop_until(m->ll, &c.calls, 1, WAIT_MS));
    assert_int_equal(c.value, 1);
}

static void next_payload(redisContext *s, char *buf, size_t n)
{
    assert_int_equal(redis_fix_next_payload(s, buf, n), 0);
}

static void test_dead_node_forgotten_once(void **state)
{
    struct redis_fix *f = *state;
    struct link_loop ll;
    struct member a;
    struct member b;
    struct redis_node_stats st;
    char topic[64];
    char got[128];
    char b_id[32];
    redisContext *s = NULL;
    redisReply *r = NULL;
    int64_t t0 = 0;

    snprintf(topic, sizeof(topic), "node/%d", (int)getpid());
    assert_int_equal(link_loop_init(&ll), 0);
    member_start(&a, &ll, redis_proc_port(f->redis));
    member_start(&b, &ll, redis_proc_port(f->redis));
    assert_string_not_equal(redis_node_id(a.node), redis_node_id(b.node));
    assert_true(until_live(&a, 2));
    s = redis_fix_listen(f, topic);
    assert_non_null(s);
    join(&a, topic, "ann");
    join(&b, topic, "bob");
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "j ann");
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "j bob");

    /* b dies: no leave, its beats just stop. */
    snprintf(b_id, sizeof(b_id), "%s", redis_node_id(b.node));
    member_stop(&b);
    t0 = link_loop_ms();
    assert_true(until_live(&a, 1));
    {
        int64_t deadline = link_loop_ms() + WAIT_MS;

        do {
            ev_run(ll.loop, EVRUN_ONCE);
            redis_node_get_stats(a.node, &st);
        } while (st.reaped == 0 && link_loop_ms() < deadline);
    }
    assert_int_equal(st.reaped, 1);
    /* Forgotten within its ttl plus a couple of beats. */
    assert_true(link_loop_ms() - t0 < 2000);
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "l bob");
    r = redisCommand(f->c, "EXISTS pl:node:%s pl:node:%s:pres", b_id, b_id);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);

    /* a drains: ann leaves at once, without waiting for a ttl. */
    {
        struct count c = {0};

        assert_int_equal(redis_node_leave(a.node, on_int, &c), 0);
        assert_true(link_loop_until(&ll, &c.calls, 1, WAIT_MS));
        assert_int_equal(c.err, 0);
    }
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "l ann");
    /* Nothing else was published on the channel: a PING answers next. */
    r = redisCommand(s, "PING");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "pong");
    freeReplyObject(r);
    redis_node_get_stats(a.node, &st);
    assert_true(st.beats >= 2);
    member_stop(&a);
    redisFree(s);
    link_loop_cleanup(&ll);
}

static void test_config_is_checked(void **state)
{
    struct redis_node_config bad = {
        .beat_ms = 100, .ttl_ms = 100, .reap_limit = 1};
    struct redis_node *n = NULL;

    (void)state;
    assert_int_equal(redis_node_new(&n, NULL, NULL, &bad), -EINVAL);
    assert_null(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_node_forgotten_once),
        cmocka_unit_test(test_config_is_checked),
    };

    return cmocka_run_group_tests(tests, redis_fix_setup, redis_fix_teardown);
}
