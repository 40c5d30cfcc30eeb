/*
 * it_cluster_mqtt.c: MQTT in cluster mode (#13, #14): three real parleyd
 * nodes with --redis on one real redis-server, each with its MQTT
 * listener, and Debian's mosquitto_pub / mosquitto_sub on different nodes.
 * A payload published over MQTT on node 0 reaches a subscriber on node 1
 * byte for byte, also the ones whose JSON data would not give the same
 * bytes back (`{"t": 21.5}` with its space, `"hi"` with its quotes,
 * `null`, binary); a new subscriber on node 2 gets the retained copies
 * exact (read from Redis); a JSON client on node 2 sees the mapped data;
 * and an ephemeral topic's messages (relayed through Redis PUBLISH, never
 * stored) arrive exact too.
 *
 * No fixed sleeps: a subscriber is known to be subscribed when the
 * retained "ready" published before it started reaches it; the ephemeral
 * relay is probed until it is live, within a bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest.h"
#include "mosq.h"
#include "rig_fixture.h"
#include "tjson.h"

#define PROBES 50 /* the ephemeral relay's probes, PROBE_MS each */
#define PROBE_MS 200

static int mqtt_port(int i)
{
    return server_mqtt_port(rig.nodes[i]);
}

struct raw_case {
    const char *name;
    const char *bytes;
    size_t len;
    const char *data; /* what a JSON client gets */
};

static const struct raw_case cases[] = {
    {"json", "{\"t\": 21.5}", 11, "{\"t\":21.5}"},
    {"str", "\"hi\"", 4, "\"hi\""},
    {"null", "null", 4, "null"},
    {"num", "123", 3, "123"},
    {"bin", "\xff\x00\n\"{ ", 6, "{\"base64\":\"/wAKInsg\"}"},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* mosquitto_sub on node i printing '%t %x' (every byte shows) on filter,
 * with extra args; with wait, returns once the retained "ready" on
 * ready_topic arrived (it is subscribed then). */
static void sub_start(struct child *ch, int i, const char *filter,
                      const char *ready_topic, const char *const *extra,
                      bool wait)
{
    /* -W: gone after 60 s even if a failed assertion never kills it */
    const char *opts[] = {"-q", "1", "-F", "%t %x", "-W", "60", NULL};
    char want[300], line[1024];

    mosq_sub_after_ready(ch, mqtt_port(i), opts, filter, ready_topic, extra);
    mosq_hex_line(want, sizeof(want), ready_topic, "ready", 5);
    if (wait) {
        assert_true(child_line(ch, line, sizeof(line), MOSQ_WAIT_MS));
        assert_string_equal(line, want);
    }
}

/* Read n lines from ch; together they must be want[0..n) in any order. */
static void expect_set(struct child *ch, char want[][300], size_t n)
{
    bool seen[N_CASES + 1] = {false};
    char line[1024];
    size_t i = 0, k = 0;

    assert_true(n <= N_CASES + 1);
    for (k = 0; k < n; k++) {
        bool found = false;

        assert_true(child_line(ch, line, sizeof(line), MOSQ_WAIT_MS));
        for (i = 0; i < n && !found; i++)
            if (!seen[i] && strcmp(line, want[i]) == 0)
                seen[i] = found = true;
        if (!found)
            fail_msg("unexpected line: %s", line);
    }
}

/* Stored topics: node 0 publishes, node 1 hears it through Redis, node 2
 * reads the retained copies from Redis. */
static void test_exact_bytes_across_nodes(void **state)
{
    const char *fresh[] = {"-C", "6", NULL};
    char base[100], filter[120], ready[120], topic[200];
    char want[N_CASES + 1][300];
    struct rawws *js = NULL;
    struct child sub, once;
    size_t i = 0;

    (void)state;
    itest_topic(base, sizeof(base), "craw");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(ready, sizeof(ready), "%s/ready", base);
    js = rig_hello(2, "dash");
    for (i = 0; i < N_CASES; i++) {
        cJSON *ok = NULL;

        snprintf(topic, sizeof(topic), "%s/%s", base, cases[i].name);
        ok = itest_sub(js, (int64_t)i + 1, topic);
        assert_non_null(ok);
        cJSON_Delete(ok);
    }
    sub_start(&sub, 1, filter, ready, NULL, true);

    for (i = 0; i < N_CASES; i++) {
        const struct raw_case *c = &cases[i];
        char line[1024];
        char *data = NULL;
        cJSON *m = NULL;

        snprintf(topic, sizeof(topic), "%s/%s", base, c->name);
        mosq_pub_bytes(mqtt_port(0), topic, c->bytes, c->len, true);
        mosq_hex_line(want[i], sizeof(want[i]), topic, c->bytes, c->len);
        assert_true(child_line(&sub, line, sizeof(line), MOSQ_WAIT_MS));
        assert_string_equal(line, want[i]);
        m = itest_expect_msg(js, topic, 1, ITEST_WAIT_MS);
        assert_non_null(m);
        data = cJSON_PrintUnformatted(cJSON_GetObjectItem(m, "data"));
        assert_string_equal(data, c->data);
        free(data);
        cJSON_Delete(m);
    }
    child_kill(&sub);
    rawws_close(js);

    /* the retained copies, on a node that never saw them published */
    mosq_hex_line(want[N_CASES], sizeof(want[N_CASES]), ready, "ready", 5);
    sub_start(&once, 2, filter, ready, fresh, false);
    expect_set(&once, want, N_CASES + 1);
    assert_int_equal(child_wait(&once, MOSQ_WAIT_MS), 0);
}

/* Ephemeral topics (typing/#, the default): relayed by Redis PUBLISH. */
static void test_exact_bytes_ephemeral(void **state)
{
    const struct raw_case *c = &cases[0];
    char base[100], filter[120], ready[120], topic[200], efilter[200];
    char want[300], line[1024];
    const char *extra[] = {"-t", efilter, NULL};
    struct child sub;
    bool heard = false;
    int i = 0;

    (void)state;
    itest_topic(base, sizeof(base), "ceph");
    snprintf(filter, sizeof(filter), "%s/#", base);
    snprintf(ready, sizeof(ready), "%s/ready", base);
    snprintf(efilter, sizeof(efilter), "typing/%s/#", base);
    snprintf(topic, sizeof(topic), "typing/%s/json", base);
    mosq_hex_line(want, sizeof(want), topic, c->bytes, c->len);
    sub_start(&sub, 1, filter, ready, extra, true);
    /* Node 1's Redis SUBSCRIBE for the ephemeral filter may follow the
     * SUBACK: publish until one arrives (nothing is stored or resent, so
     * every copy that arrives is one published after it was live). */
    for (i = 0; i < PROBES && !heard; i++) {
        mosq_pub_bytes(mqtt_port(0), topic, c->bytes, c->len, false);
        if (child_line(&sub, line, sizeof(line), PROBE_MS)) {
            assert_string_equal(line, want);
            heard = true;
        }
    }
    assert_true(heard);
    child_kill(&sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes_across_nodes),
        cmocka_unit_test(test_exact_bytes_ephemeral),
    };

    if (!mosq_available("it_cluster_mqtt"))
        return 77;
    signal(SIGPIPE, SIG_IGN);
    return itest_exit_code(cmocka_run_group_tests_name(
        "cluster mqtt", tests, rig_setup, rig_teardown));
}
