/*
 * it_12_resub: subscribing again never delivers again (issue #12, part 1).
 * While a connection holds a subscription that covers a topic, a message it
 * already received on that topic is not sent to it a second time, however
 * it would come: live, as the retained copy, or in a `since`/`history`
 * replay; for concrete topics, patterns and overlapping subscriptions. An
 * unsub that leaves the topic uncovered, then a new sub, is a fresh start.
 *
 * Every case records the whole stream a connection receives, in order, up
 * to a last live message published at the end (a replay is always queued
 * before the live messages that follow it), then requires quiet, and
 * compares the stream with the one the contract allows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define W ITEST_WAIT_MS
#define MAX_GOT 64

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* What one connection received: msgs as "topic#seq" (retained copies
 * marked "r"), in arrival order. */
struct stream {
    char got[MAX_GOT][160];
    int n;
};

static void stream_add(struct stream *st, const cJSON *m)
{
    assert_true(st->n < MAX_GOT);
    snprintf(st->got[st->n], sizeof(st->got[st->n]), "%s#%lld%s",
             tj_str(m, "topic") ? tj_str(m, "topic") : "?",
             (long long)tj_int_or(m, "seq", -1),
             tj_is_true(m, "retained") ? "r" : "");
    st->n++;
}

/* Receive frames until the ok with id, recording every msg before it. */
static void recv_until_ok(struct rawws *c, struct stream *st, int64_t id)
{
    int64_t deadline = itest_mono_ms() + W;

    for (;;) {
        cJSON *f = rawws_recv_json(c, itest_left_ms(deadline));

        bool done = false;

        assert_non_null(f);
        if (tj_str_is(f, "op", "msg")) {
            stream_add(st, f);
        } else if (tj_str_is(f, "op", "ok") && tj_int_or(f, "id", 0) == id) {
            done = true;
        } else {
            tj_dump("recv_until_ok: unexpected frame", f);
            cJSON_Delete(f);
            fail();
        }
        cJSON_Delete(f);
        if (done)
            return;
    }
}

/* Receive msgs until topic#seq (a live one) arrives, then require quiet. */
static void recv_until_msg(struct rawws *c, struct stream *st,
                           const char *topic, int64_t seq, int64_t ping_id)
{
    int64_t deadline = itest_mono_ms() + W;

    for (;;) {
        cJSON *f = rawws_recv_json(c, itest_left_ms(deadline));
        bool last = false;

        assert_non_null(f);
        if (!tj_str_is(f, "op", "msg")) {
            tj_dump("recv_until_msg: unexpected frame", f);
            cJSON_Delete(f);
            fail();
        }
        stream_add(st, f);
        last = tj_str_is(f, "topic", topic) &&
               tj_int_or(f, "seq", -1) == seq;
        cJSON_Delete(f);
        if (last)
            break;
    }
    assert_true(itest_nothing_more(c, ping_id, ITEST_QUIET_MS));
}

/* The stream, joined by spaces, must be exactly the printf-formatted
 * want (e.g. "t#1r t#2": seq 1 as the retained copy, then 2). */
static void stream_is(const struct stream *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stream_is(const struct stream *st, const char *fmt, ...)
{
    char want[MAX_GOT * 160];
    char got[MAX_GOT * 160];
    size_t len = 0;
    va_list ap;
    int i = 0;

    va_start(ap, fmt);
    vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    got[0] = '\0';
    for (i = 0; i < st->n; i++)
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s",
                                i > 0 ? " " : "", st->got[i]);
    if (strcmp(want, got) != 0)
        fprintf(stderr, "wanted: %s\ngot:    %s\n", want, got);
    assert_string_equal(want, got);
}

/* Send a sub with extra options ("" or e.g. ",\"since\":0") and record
 * what arrives up to its ok. */
static void sub_opts(struct rawws *c, struct stream *st, int64_t id,
                     const char *topic, const char *opts)
{
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"sub\",\"id\":%lld,"
                                      "\"topic\":\"%s\"%s}", (long long)id,
                                      topic, opts), 0);
    recv_until_ok(c, st, id);
}

/* Send an unsub and record what arrives up to its ok. */
static void unsub(struct rawws *c, struct stream *st, int64_t id,
                  const char *topic)
{
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"unsub\",\"id\":%lld,"
                                      "\"topic\":\"%s\"}", (long long)id,
                                      topic), 0);
    recv_until_ok(c, st, id);
}

static int64_t pub_retained(struct rawws *p, int64_t id, const char *topic)
{
    cJSON *ok = NULL;
    int64_t seq = -1;

    if (rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\","
                         "\"data\":\"kept\",\"retain\":true}", (long long)id,
                         topic) < 0)
        return -1;
    ok = rawws_expect_ok(p, id, W);
    if (ok != NULL)
        seq = tj_int_or(ok, "seq", -1);
    cJSON_Delete(ok);
    return seq;
}

/* The issue's sequence, on one concrete topic: 1 (retained), 2 live, then
 * sub again, with history:5, with since:0, then 3 live: 1, 2, 3. */
static void test_resub_concrete(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "s");
    struct stream st = { .n = 0 };
    char topic[128];

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(topic, sizeof(topic), "chat");
    assert_int_equal(pub_retained(p, 2, topic), 1);
    sub_opts(s, &st, 2, topic, "");
    assert_int_equal(itest_pub(p, 3, topic, "\"two\""), 2);
    recv_until_msg(s, &st, topic, 2, 3);
    sub_opts(s, &st, 4, topic, "");
    sub_opts(s, &st, 5, topic, ",\"history\":5");
    sub_opts(s, &st, 6, topic, ",\"since\":0");
    assert_int_equal(itest_pub(p, 4, topic, "\"three\""), 3);
    recv_until_msg(s, &st, topic, 3, 7);
    stream_is(&st, "%1$s#1r %1$s#2 %1$s#3", topic);
    rawws_close(p);
    rawws_close(s);
}

/* A re-sub with since delivers what the connection has not seen yet (the
 * retained copy's predecessors), then live, with no gap and no repeat. */
static void test_resub_since_fills_only_the_gap(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "s");
    struct stream st = { .n = 0 };
    char topic[128];

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(topic, sizeof(topic), "gap");
    assert_int_equal(itest_pub(p, 2, topic, "\"one\""), 1);
    assert_int_equal(itest_pub(p, 3, topic, "\"two\""), 2);
    assert_int_equal(pub_retained(p, 4, topic), 3);
    sub_opts(s, &st, 2, topic, "");               /* 3 (retained copy) */
    assert_int_equal(itest_pub(p, 5, topic, "\"four\""), 4);
    recv_until_msg(s, &st, topic, 4, 3);          /* 4 live */
    sub_opts(s, &st, 4, topic, ",\"since\":0");   /* 1, 2 only */
    sub_opts(s, &st, 5, topic, ",\"history\":50"); /* nothing */
    assert_int_equal(itest_pub(p, 6, topic, "\"five\""), 5);
    recv_until_msg(s, &st, topic, 5, 6);
    stream_is(&st, "%1$s#3r %1$s#4 %1$s#1 %1$s#2 %1$s#5", topic);
    rawws_close(p);
    rawws_close(s);
}

/* Patterns, re-subscribed, and overlapping with a concrete sub and with
 * each other: each message of each topic once. */
static void test_resub_patterns_and_overlap(void **state)
{
    int port = itest_port(state);
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    struct stream st = { .n = 0 };
    char base[96];
    char hash[128];
    char plus[128];
    char a[128];
    char b[128];

    p = itest_hello(port, "pub");
    s = itest_hello(port, "s");
    assert_non_null(p);
    assert_non_null(s);
    itest_topic(base, sizeof(base), "pat");
    snprintf(hash, sizeof(hash), "%s/#", base);
    snprintf(plus, sizeof(plus), "%s/+", base);
    snprintf(a, sizeof(a), "%s/a", base);
    snprintf(b, sizeof(b), "%s/b", base);
    assert_int_equal(pub_retained(p, 2, a), 1);
    sub_opts(s, &st, 2, hash, "");                /* a#1 retained */
    assert_int_equal(itest_pub(p, 3, b, "\"b1\""), 1);
    recv_until_msg(s, &st, b, 1, 3);              /* b#1 live */
    sub_opts(s, &st, 4, hash, "");                /* nothing */
    sub_opts(s, &st, 5, a, "");                   /* nothing: a#1 seen */
    sub_opts(s, &st, 6, plus, ",\"since\":0");    /* nothing */
    sub_opts(s, &st, 7, hash, ",\"history\":9");  /* nothing */
    assert_int_equal(itest_pub(p, 4, a, "\"a2\""), 2);
    recv_until_msg(s, &st, a, 2, 8);              /* a#2 once */
    sub_opts(s, &st, 9, a, ",\"since\":0");       /* nothing */
    sub_opts(s, &st, 10, plus, ",\"history\":9"); /* nothing */
    assert_int_equal(itest_pub(p, 5, b, "\"b2\""), 2);
    recv_until_msg(s, &st, b, 2, 11);             /* b#2 once */

    /* Unsubscribing one of three covering subs keeps the record. */
    unsub(s, &st, 12, hash);
    sub_opts(s, &st, 13, hash, ",\"since\":0");   /* nothing */
    assert_int_equal(itest_pub(p, 6, a, "\"a3\""), 3);
    recv_until_msg(s, &st, a, 3, 14);
    stream_is(&st, "%1$s#1r %2$s#1 %1$s#2 %2$s#2 %1$s#3", a, b);
    rawws_close(p);
    rawws_close(s);
}

/* An unsub that leaves the topic uncovered, then a sub, is a fresh start:
 * the new sub's since/retained delivers again, as for a new connection. */
static void test_unsub_then_sub_is_fresh(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "pub");
    struct rawws *s = itest_hello(port, "s");
    struct stream st = { .n = 0 };
    char base[96];
    char hash[128];
    char topic[128];

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(base, sizeof(base), "fresh");
    snprintf(hash, sizeof(hash), "%s/#", base);
    snprintf(topic, sizeof(topic), "%s/t", base);
    assert_int_equal(pub_retained(p, 2, topic), 1);
    sub_opts(s, &st, 2, topic, "");               /* 1 retained */
    unsub(s, &st, 3, topic);
    sub_opts(s, &st, 4, topic, "");               /* 1 retained again */
    unsub(s, &st, 5, topic);
    sub_opts(s, &st, 6, hash, ",\"since\":0");    /* 1 again, by pattern */
    assert_int_equal(itest_pub(p, 3, topic, "\"two\""), 2);
    recv_until_msg(s, &st, topic, 2, 7);
    stream_is(&st, "%1$s#1r %1$s#1r %1$s#1 %1$s#2", topic);
    rawws_close(p);
    rawws_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resub_concrete),
        cmocka_unit_test(test_resub_since_fills_only_the_gap),
        cmocka_unit_test(test_resub_patterns_and_overlap),
        cmocka_unit_test(test_unsub_then_sub_is_fresh),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    return itest_exit_code(rc);
}
