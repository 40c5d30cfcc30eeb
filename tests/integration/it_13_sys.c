/*
 * it_13_sys.c: the `$SYS` topics of a real parleyd (--sys-interval 200ms):
 * the values match what the test did (connections opened, messages sent
 * and delivered), a leading '#' never sees them, a client cannot publish
 * there, and a slow consumer culled with 4008 becomes a
 * `$SYS/events/slow_consumer` event naming its user and topic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"

#define W ITEST_WAIT_MS
/* Enough bytes to overflow a 64 KiB queue and every socket buffer on
 * the way (as it_04_limits). */
#define FLOOD_COUNT 2500
#define FLOOD_DATA 4000
#define FLOOD_BATCH 10

static int group_setup(void **state)
{
    static const char *const extra[] = {"--sys-interval", "200ms",
                                        "--queue-bytes", "65536", NULL};

    return itest_setup(state, extra);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* The latest values seen on the admin connection. */
struct seen {
    int64_t connected, total, received, sent;
    bool version_ok;
};

static void note(struct seen *s, const cJSON *m)
{
    const char *topic = tj_str(m, "topic");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");

    if (topic == NULL || d == NULL)
        return;
    if (strcmp(topic, "$SYS/broker/version") == 0)
        s->version_ok = cJSON_IsString(d) &&
                        strncmp(d->valuestring, "parley/", 7) == 0;
    if (!cJSON_IsNumber(d))
        return;
    if (strcmp(topic, "$SYS/broker/clients/connected") == 0)
        s->connected = (int64_t)d->valuedouble;
    else if (strcmp(topic, "$SYS/broker/clients/total") == 0)
        s->total = (int64_t)d->valuedouble;
    else if (strcmp(topic, "$SYS/broker/messages/received") == 0)
        s->received = (int64_t)d->valuedouble;
    else if (strcmp(topic, "$SYS/broker/messages/sent") == 0)
        s->sent = (int64_t)d->valuedouble;
}

/* Read the admin's frames until the values are what the test did, or
 * the deadline. */
static bool wait_values(struct rawws *admin, struct seen *s, int64_t connected,
                        int64_t total, int64_t received, int64_t sent)
{
    int64_t deadline = itest_mono_ms() + 3 * W;

    while (itest_left_ms(deadline) > 0) {
        cJSON *m = rawws_recv_json(admin, itest_left_ms(deadline));

        if (m == NULL)
            break;
        note(s, m);
        cJSON_Delete(m);
        if (s->connected == connected && s->total == total &&
            s->received == received && s->sent == sent && s->version_ok)
            return true;
    }
    fprintf(stderr, "$SYS: connected %lld total %lld received %lld sent "
            "%lld version %d; want %lld %lld %lld %lld\n",
            (long long)s->connected, (long long)s->total,
            (long long)s->received, (long long)s->sent, s->version_ok,
            (long long)connected, (long long)total, (long long)received,
            (long long)sent);
    return false;
}

static void test_sys_values_match(void **state)
{
    int port = itest_port(state);
    struct rawws *admin = itest_hello(port, "admin");
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "sub");
    struct rawws *all = itest_hello(port, "all");
    struct seen seen;
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m = NULL;
    int i = 0;

    memset(&seen, 0, sizeof(seen));
    assert_non_null(admin);
    assert_non_null(p);
    assert_non_null(s);
    assert_non_null(all);
    itest_topic(topic, sizeof(topic), "sys");
    ok = itest_sub(s, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(all, 2, "#");
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(admin, 2, "$SYS/broker/#");
    assert_non_null(ok);
    cJSON_Delete(ok);
    for (i = 1; i <= 20; i++)
        assert_true(itest_pub(p, 10 + i, topic, "{\"n\":1}") > 0);
    for (i = 1; i <= 20; i++) {
        m = itest_expect_msg(s, topic, i, W);
        assert_non_null(m);
        cJSON_Delete(m);
        m = itest_expect_msg(all, topic, i, W);
        assert_non_null(m);
        cJSON_Delete(m);
    }
    /* 4 connections; 20 publishes, each delivered twice. */
    assert_true(wait_values(admin, &seen, 4, 4, 20, 40));
    /* '#' saw the topic's messages and no $SYS value. */
    assert_true(itest_nothing_more(all, 3, ITEST_QUIET_MS));
    /* /metrics totals the commit time behind commit_latency_ms. */
    {
        struct httpc_resp r;
        const char *line = NULL;
        unsigned long long us = 0;

        assert_int_equal(httpc_get(port, "/metrics", &r, W), 0);
        line = strstr(r.body, "\nparley_store_commit_microseconds_total ");
        assert_non_null(line);
        assert_int_equal(sscanf(line + 1, "%*s %llu", &us), 1);
        assert_true(us > 0);
        httpc_resp_cleanup(&r);
    }

    /* One more connection, then one fewer: the count follows. */
    rawws_close(s);
    assert_true(wait_values(admin, &seen, 3, 4, 20, 40));

    ok = NULL;
    assert_int_equal(rawws_send_text(p, "{\"op\":\"pub\",\"id\":99,"
                                        "\"topic\":\"$SYS/broker/uptime\","
                                        "\"data\":1}"), 0);
    ok = rawws_expect_error(p, 99, "forbidden", W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    rawws_close(all);
    rawws_close(p);
    rawws_close(admin);
}

static void test_sys_slow_consumer_event(void **state)
{
    int port = itest_port(state);
    struct rawws_opts o = {.port = port, .protocols = "parley.v1",
                           .rcvbuf = 4096};
    struct rawws *admin = itest_hello(port, "admin2");
    struct rawws *p = itest_hello(port, "flood");
    struct rawws *slow = NULL;
    char topic[128];
    char *data = NULL;
    cJSON *ok = NULL;
    cJSON *ev = NULL;
    int64_t deadline = 0;
    int sent = 0;
    int i = 0;

    assert_non_null(admin);
    assert_non_null(p);
    assert_int_equal(rawws_open(&slow, &o), 0);
    assert_int_equal(slow->status, 101);
    assert_int_equal(rawws_send_text(slow, "{\"op\":\"hello\",\"id\":1,"
                                           "\"name\":\"bob\"}"), 0);
    ok = rawws_expect_ok(slow, 1, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    itest_topic(topic, sizeof(topic), "flood");
    ok = itest_sub(slow, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(admin, 2, "$SYS/events/#");
    assert_non_null(ok);
    cJSON_Delete(ok);

    data = malloc(FLOOD_DATA + 1);
    assert_non_null(data);
    memset(data, 'f', FLOOD_DATA);
    data[FLOOD_DATA] = '\0';
    while (sent < FLOOD_COUNT && ev == NULL) {
        for (i = 0; i < FLOOD_BATCH; i++) {
            sent++;
            assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                                              "\"topic\":\"%s\",\"data\":"
                                              "\"%s\"}", sent, topic, data),
                             0);
        }
        for (i = 0; i < FLOOD_BATCH; i++) {
            ok = rawws_expect_op(p, "ok", W);
            assert_non_null(ok);
            cJSON_Delete(ok);
        }
        if (!rawws_is_quiet(admin, 0))
            ev = rawws_expect_op(admin, "msg", W);
    }
    free(data);
    deadline = itest_mono_ms() + W;
    if (ev == NULL)
        ev = rawws_expect_op(admin, "msg", itest_left_ms(deadline));
    assert_non_null(ev);
    assert_true(tj_str_is(ev, "topic", "$SYS/events/slow_consumer"));
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "data");

        assert_true(tj_str_is(d, "user", "bob"));
        assert_true(tj_str_is(d, "topic", topic));
    }
    cJSON_Delete(ev);
    /* bob reads what was sent before the cull, then the close frame */
    for (;;) {
        struct rawws_frame f;
        int rc = rawws_recv(slow, &f, W);

        assert_int_equal(rc, 0);
        if (f.opcode == RAWWS_OP_CLOSE) {
            rc = f.close_code;
            rawws_frame_cleanup(&f);
            assert_int_equal(rc, 4008);
            break;
        }
        rawws_frame_cleanup(&f);
    }
    rawws_close(slow);
    rawws_close(p);
    rawws_close(admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sys_values_match),
        cmocka_unit_test(test_sys_slow_consumer_event),
    };
    int rc = 0;

    rc = cmocka_run_group_tests_name("sys", tests, group_setup,
                                     group_teardown);
    return itest_exit_code(rc);
}
