/*
 * it_02_wildcard: wildcard subscriptions against a real parleyd: `+` and
 * `#` fan-out (MQTT rules, `a/#` matches `a`), each message once per
 * connection however many of its patterns match, resubscribing replaces,
 * pattern sub replies carry no seq, and `$` topics stay out of `#`/`+`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define W ITEST_WAIT_MS
#define MAX_WANT 16

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* Subscribe c to pattern with id; the ok must carry the pattern and, as a
 * pattern's reply, no seq. */
static void sub_pattern(struct rawws *c, int64_t id, const char *pattern)
{
    cJSON *ok = itest_sub(c, id, pattern);

    assert_non_null(ok);
    if (tj_has(ok, "seq"))
        tj_dump("pattern sub reply carries a seq", ok);
    assert_false(tj_has(ok, "seq"));
    cJSON_Delete(ok);
}

/* Receive exactly the messages want[0..n) (topics, any order across
 * topics), each once, then nothing else: a ping's ok and quiet. */
static void expect_exactly(struct rawws *c, const char *const *want, int n,
                           int64_t ping_id)
{
    bool seen[MAX_WANT] = { false };
    cJSON *m = NULL;
    int i = 0;
    int k = 0;

    assert_true(n <= MAX_WANT);
    for (k = 0; k < n; k++) {
        m = rawws_expect_op(c, "msg", W);
        assert_non_null(m);
        for (i = 0; i < n; i++)
            if (!seen[i] && tj_str_is(m, "topic", want[i]))
                break;
        if (i == n)
            tj_dump("unexpected or duplicate msg", m);
        assert_true(i < n);
        seen[i] = true;
        cJSON_Delete(m);
    }
    assert_true(itest_nothing_more(c, ping_id, ITEST_QUIET_MS));
}

static void test_plus_and_hash_fanout(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *a = itest_hello(port, "a");
    struct rawws *b = itest_hello(port, "b");
    struct rawws *c = itest_hello(port, "c");
    char base[96];
    char pat_a[128];
    char pat_b[128];
    char pat_c[128];
    char t_xtemp[128];
    char t_ytemp[128];
    char t_base[128];
    char t_deep[128];
    char t_other[128];

    assert_non_null(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    itest_topic(base, sizeof(base), "w");
    snprintf(pat_a, sizeof(pat_a), "%s/+/temp", base);
    snprintf(pat_b, sizeof(pat_b), "%s/#", base);
    snprintf(pat_c, sizeof(pat_c), "%s/x/+", base);
    snprintf(t_xtemp, sizeof(t_xtemp), "%s/x/temp", base);
    snprintf(t_ytemp, sizeof(t_ytemp), "%s/y/temp", base);
    snprintf(t_base, sizeof(t_base), "%s", base);
    snprintf(t_deep, sizeof(t_deep), "%s/x/y/temp", base);
    snprintf(t_other, sizeof(t_other), "%sz/x/temp", base);
    sub_pattern(a, 2, pat_a);
    sub_pattern(b, 2, pat_b);
    sub_pattern(c, 2, pat_c);

    assert_int_equal(itest_pub(p, 2, t_xtemp, "1"), 1);
    assert_int_equal(itest_pub(p, 3, t_ytemp, "2"), 1);
    assert_int_equal(itest_pub(p, 4, t_base, "3"), 1);
    assert_int_equal(itest_pub(p, 5, t_deep, "4"), 1);
    assert_int_equal(itest_pub(p, 6, t_other, "5"), 1);

    {
        const char *wa[] = { t_xtemp, t_ytemp };
        const char *wb[] = { t_xtemp, t_ytemp, t_base, t_deep };
        const char *wc[] = { t_xtemp };

        expect_exactly(a, wa, 2, 10);
        expect_exactly(b, wb, 4, 10);
        expect_exactly(c, wc, 1, 10);
    }
    rawws_close(p);
    rawws_close(a);
    rawws_close(b);
    rawws_close(c);
}

static void test_hash_matches_parent_level(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "s");
    char base[96];
    char pat[128];
    cJSON *m = NULL;

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(base, sizeof(base), "parent");
    snprintf(pat, sizeof(pat), "%s/#", base);
    sub_pattern(s, 2, pat);
    assert_int_equal(itest_pub(p, 2, base, "{\"at\":\"parent\"}"), 1);
    m = itest_expect_msg(s, base, 1, W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "pub"));
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

static void test_overlapping_patterns_deliver_once(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "s");
    char base[96];
    char pat1[128];
    char pat2[128];
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m = NULL;
    int i = 0;

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(base, sizeof(base), "o");
    snprintf(pat1, sizeof(pat1), "%s/#", base);
    snprintf(pat2, sizeof(pat2), "%s/+/c", base);
    snprintf(topic, sizeof(topic), "%s/b/c", base);
    sub_pattern(s, 2, pat1);
    sub_pattern(s, 3, pat2);
    ok = itest_sub(s, 4, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 0);
    cJSON_Delete(ok);

    for (i = 1; i <= 3; i++) {
        char data[32];

        snprintf(data, sizeof(data), "%d", i);
        assert_int_equal(itest_pub(p, 10 + i, topic, data), i);
    }
    for (i = 1; i <= 3; i++) {
        m = itest_expect_msg(s, topic, i, W);
        assert_non_null(m);
        assert_int_equal(tj_int_or(m, "data", -1), i);
        cJSON_Delete(m);
    }
    assert_true(itest_nothing_more(s, 20, ITEST_QUIET_MS));

    /* Dropping one of the three patterns still leaves exactly one copy. */
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"unsub\",\"id\":21,"
                                      "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(s, 21, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(itest_pub(p, 30, topic, "4"), 4);
    m = itest_expect_msg(s, topic, 4, W);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 22, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

static void test_resubscribe_replaces(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "s");
    char base[96];
    char pat[128];
    char topic[128];
    cJSON *m = NULL;

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(base, sizeof(base), "r");
    snprintf(pat, sizeof(pat), "%s/#", base);
    snprintf(topic, sizeof(topic), "%s/a", base);
    sub_pattern(s, 2, pat);
    sub_pattern(s, 3, pat);
    assert_int_equal(itest_pub(p, 2, topic, "\"once\""), 1);
    m = itest_expect_msg(s, topic, 1, W);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));

    /* One unsub removes the (single, replaced) subscription. */
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"unsub\",\"id\":5,"
                                      "\"topic\":\"%s\"}", pat), 0);
    m = rawws_expect_ok(s, 5, W);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_int_equal(itest_pub(p, 3, topic, "\"gone\""), 2);
    assert_true(itest_nothing_more(s, 6, ITEST_QUIET_MS));

    /* Same for a concrete topic subscribed twice. */
    m = itest_sub(s, 7, topic);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "seq", -1), 2);
    cJSON_Delete(m);
    m = itest_sub(s, 8, topic);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_int_equal(itest_pub(p, 4, topic, "\"again\""), 3);
    m = itest_expect_msg(s, topic, 3, W);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 9, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

static void test_dollar_topics(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *all = itest_hello(port, "all");
    struct rawws *plus = itest_hello(port, "plus");
    struct rawws *sys = itest_hello(port, "sys");
    char one[96];
    char two[128];
    char deep[128];
    size_t k = 0;
    cJSON *e = NULL;
    cJSON *m = NULL;
    struct rawws_frame f;
    int64_t deadline = 0;

    assert_non_null(p);
    assert_non_null(all);
    assert_non_null(plus);
    assert_non_null(sys);
    sub_pattern(all, 2, "#");
    sub_pattern(plus, 2, "+/x");
    /* A client may subscribe to $SYS topics explicitly. */
    sub_pattern(sys, 2, "$SYS/#");

    /* Publishing to a $ topic is forbidden, with and without id. */
    assert_int_equal(rawws_send_text(p, "{\"op\":\"pub\",\"id\":2,"
                                        "\"topic\":\"$SYS/x\",\"data\":1}"),
                     0);
    e = rawws_expect_error(p, 2, "forbidden", W);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_text(p, "{\"op\":\"pub\","
                                        "\"topic\":\"$x\",\"data\":1}"),
                     0);
    e = rawws_expect_error(p, 0, "forbidden", W);
    assert_non_null(e);
    cJSON_Delete(e);

    /* Ordinary topics still reach # and +/x as the rules say. */
    itest_topic(one, sizeof(one), "dollar");
    for (k = 0; one[k]; k++)
        if (one[k] == '/')
            one[k] = '_';
    snprintf(two, sizeof(two), "%s/x", one);
    snprintf(deep, sizeof(deep), "%s/y/x", one);
    assert_int_equal(itest_pub(p, 3, two, "\"two\""), 1);
    assert_int_equal(itest_pub(p, 4, deep, "\"deep\""), 1);
    {
        const char *wall[] = { two, deep };
        const char *wplus[] = { two };

        expect_exactly(all, wall, 2, 10);
        expect_exactly(plus, wplus, 1, 10);
    }

    /* Over about a second, nothing # or +/x get may come from a topic
     * that begins with $ (a server that publishes $SYS topics of its own
     * would show it here). */
    deadline = itest_now_ms() + 1200;
    while (itest_now_ms() < deadline) {
        struct rawws *cs[3] = { all, plus, sys };
        int i = 0;

        for (i = 0; i < 3; i++) {
            int rc = rawws_recv(cs[i], &f, 50);

            if (rc == -ETIMEDOUT)
                continue;
            assert_int_equal(rc, 0);
            assert_int_equal(f.opcode, RAWWS_OP_TEXT);
            m = cJSON_Parse((const char *)f.payload);
            rawws_frame_cleanup(&f);
            assert_non_null(m);
            if (cs[i] == sys) {
                /* $SYS/# gets only $SYS topics, if the server has any. */
                if (!tj_str(m, "topic") ||
                    strncmp(tj_str(m, "topic"), "$SYS/", 5) != 0)
                    tj_dump("$SYS/# got", m);
                assert_true(tj_str(m, "topic") &&
                            strncmp(tj_str(m, "topic"), "$SYS/", 5) == 0);
            } else {
                if (!tj_str(m, "topic") || tj_str(m, "topic")[0] == '$')
                    tj_dump("a wildcard got", m);
                assert_true(tj_str(m, "topic") &&
                            tj_str(m, "topic")[0] != '$');
            }
            cJSON_Delete(m);
        }
    }
    rawws_close(p);
    rawws_close(all);
    rawws_close(plus);
    rawws_close(sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plus_and_hash_fanout),
        cmocka_unit_test(test_hash_matches_parent_level),
        cmocka_unit_test(test_overlapping_patterns_deliver_once),
        cmocka_unit_test(test_resubscribe_replaces),
        cmocka_unit_test(test_dollar_topics),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    return itest_exit_code(rc);
}
