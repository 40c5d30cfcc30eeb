/*
 * it_cluster_rig.c: the rig itself works: Redis answers, haproxy with the
 * shipped config spreads new connections round-robin over three real
 * parleyd nodes, and keeps serving when a node is SIGKILLed. The nodes run
 * without --redis here (each has its own SQLite), which is what makes the
 * spread visible: each node counts only the publishes that reached it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "itest.h"
#include "rig_fixture.h"

/* Nodes without --redis. */
static int setup(void **state)
{
    (void)state;
    return rig_setup_with(NULL);
}

static void test_redis_answers(void **state)
{
    redisContext *c = redis_proc_connect(rig.redis);
    redisReply *r = NULL;

    (void)state;
    assert_non_null(c);
    r = redisCommand(c, "CONFIG GET appendonly");
    assert_non_null(r);
    assert_string_equal(r->element[1]->str, "yes");
    freeReplyObject(r);
    redisFree(c);
}

/* One publish through the balancer on a fresh connection; true when acked. */
static bool publish_through_lb(const char *topic, int i)
{
    char name[32];
    struct rawws *c = NULL;
    int64_t seq = -1;

    snprintf(name, sizeof(name), "rig%d", i);
    c = itest_hello(rig.lb_port, name);
    if (c == NULL)
        return false;
    seq = itest_pub(c, 2, topic, "{\"n\":1}");
    rawws_close(c);
    return seq > 0;
}

static void test_round_robin(void **state)
{
    char topic[96];
    int i;

    (void)state;
    itest_topic(topic, sizeof(topic), "rig/rr");
    for (i = 0; i < 2 * RIG_NODES; i++)
        assert_true(publish_through_lb(topic, i));
    /* Each node saw exactly its share. */
    for (i = 0; i < RIG_NODES; i++)
        assert_int_equal(itest_topic_seq(cluster_rig_node_port(&rig, i), topic),
                         2);
}

static void test_a_dead_node_is_passed_over(void **state)
{
    char topic[96];
    int i;
    int64_t total = 0;

    (void)state;
    assert_int_equal(server_kill9(rig.nodes[2]), 0);
    itest_topic(topic, sizeof(topic), "rig/dead");
    for (i = 0; i < 2 * RIG_NODES; i++)
        assert_true(publish_through_lb(topic, i));
    for (i = 0; i < 2; i++)
        total += itest_topic_seq(cluster_rig_node_port(&rig, i), topic);
    assert_int_equal(total, 2 * RIG_NODES);
    /* Back for the teardown, which wants every node to exit cleanly. */
    assert_int_equal(server_restart(rig.nodes[2]), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_answers),
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_a_dead_node_is_passed_over),
    };

    return itest_exit_code(cmocka_run_group_tests(tests, setup, rig_teardown));
}
