/*
 * it_04_limits: the transport limits of protocol-v1 against a real parleyd:
 * the 64 KiB message limit (close 1009, whole or fragmented, exactly 64 KiB
 * accepted), invalid UTF-8 (close 1007), framing violations (close 1002 or
 * a dropped stream), and, on a server with a 64 KiB out-queue bound, the
 * slow consumer closed with 4008 while a reading subscriber keeps every
 * message and the culled one recovers with since. No violation by one
 * client may disturb another.
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
#define MAX_MSG 65536

/* The slow-consumer flood: enough bytes to overflow the queue bound plus
 * every kernel socket buffer on the way (a few MiB on Linux loopback). */
#define FLOOD_COUNT 2500
#define FLOOD_DATA 4000
#define FLOOD_BATCH 10

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_setup_small_queue(void **state)
{
    static const char *const extra[] = { "--queue-bytes", "65536", NULL };

    return itest_setup(state, extra);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* A pub command of exactly total bytes (data is a string of 'x'), with id
 * (0: none); *fill_out (if not NULL) gets the data string's length. Caller
 * frees. */
static char *pub_of_size(const char *topic, int64_t id, size_t total,
                         size_t *fill_out)
{
    char prefix[256];
    char *s = NULL;
    size_t pl = 0;
    size_t fill = 0;

    if (id)
        snprintf(prefix, sizeof(prefix), "{\"op\":\"pub\",\"id\":%lld,"
                 "\"topic\":\"%s\",\"data\":\"", (long long)id, topic);
    else
        snprintf(prefix, sizeof(prefix), "{\"op\":\"pub\","
                 "\"topic\":\"%s\",\"data\":\"", topic);
    pl = strlen(prefix);
    assert_true(total > pl + 2);
    fill = total - pl - 2;
    s = malloc(total + 1);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    memset(s + pl, 'x', fill);
    memcpy(s + pl + fill, "\"}", 3);
    assert_int_equal(strlen(s), total);
    if (fill_out)
        *fill_out = fill;
    return s;
}

/* The shared bystander (itest.h), asserted. */
static void bystander_start(void **state, struct itest_bystander *b)
{
    assert_int_equal(itest_bystander_start(itest_port(state), b), 0);
}

static void bystander_check(struct itest_bystander *b)
{
    assert_true(itest_bystander_ok(b));
}

/* The connection must now fail: a close frame with 1002, or the stream
 * ends. Any data frame, another close code, or silence fails the test. */
static void expect_failed_connection(struct rawws *c, const char *what)
{
    int rc = rawws_expect_close(c, W);

    if (rc == -ENOTCONN || rc == -ECONNRESET)
        return;
    if (rc != 1002)
        fprintf(stderr, "%s: wanted close 1002 or a dropped stream, got "
                "%d (%s)\n", what, rc, rc < 0 ? rawws_strerror(rc) : "code");
    assert_int_equal(rc, 1002);
}

static void test_exactly_64k_accepted(void **state)
{
    int port = itest_port(state);
    struct rawws *p = itest_hello(port, "big");
    struct rawws *s = itest_hello(port, "bigsub");
    char topic[128];
    char *text = NULL;
    const char *data = NULL;
    size_t fill = 0;
    cJSON *ok = NULL;
    cJSON *m = NULL;

    assert_non_null(p);
    assert_non_null(s);
    itest_topic(topic, sizeof(topic), "big");
    ok = itest_sub(s, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);

    /* One frame of exactly 65536 bytes. */
    text = pub_of_size(topic, 5, MAX_MSG, &fill);
    assert_int_equal(rawws_send_text(p, text), 0);
    ok = rawws_expect_ok(p, 5, W);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 1);
    cJSON_Delete(ok);
    m = itest_expect_msg(s, topic, 1, W);
    assert_non_null(m);
    data = tj_str(m, "data");
    assert_non_null(data);
    assert_int_equal(strlen(data), fill);
    cJSON_Delete(m);
    free(text);

    /* The same size in 1000-byte fragments. */
    text = pub_of_size(topic, 6, MAX_MSG, NULL);
    assert_int_equal(rawws_send_fragmented(p, RAWWS_OP_TEXT, text, MAX_MSG,
                                           1000), 0);
    ok = rawws_expect_ok(p, 6, W);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 2);
    cJSON_Delete(ok);
    m = itest_expect_msg(s, topic, 2, W);
    assert_non_null(m);
    cJSON_Delete(m);
    free(text);
    assert_true(itest_nothing_more(p, 7, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

static void test_over_64k_closes_1009(void **state)
{
    int port = itest_port(state);
    struct itest_bystander b;
    struct rawws *c = NULL;
    char topic[128];
    char *text = NULL;
    int rc = 0;
    int i = 0;

    bystander_start(state, &b);
    itest_topic(topic, sizeof(topic), "toobig");
    text = pub_of_size(topic, 2, MAX_MSG + 1, NULL);
    for (i = 0; i < 3; i++) {
        c = itest_hello(port, "toobig");
        assert_non_null(c);
        /* The server may close before it read everything: send errors are
         * expected then, the close frame still has to come. */
        if (i == 0)
            rawws_send_text(c, text);
        else if (i == 1)
            rawws_send_fragmented(c, RAWWS_OP_TEXT, text, MAX_MSG + 1, 8192);
        else
            rawws_send_fragmented(c, RAWWS_OP_TEXT, text, MAX_MSG + 1,
                                  MAX_MSG);
        rc = rawws_expect_close(c, W);
        if (rc != 1009)
            fprintf(stderr, "65537 bytes (way %d): wanted close 1009, got "
                    "%d %s\n", i, rc, rc < 0 ? rawws_strerror(rc) : "");
        assert_int_equal(rc, 1009);
        rawws_close(c);
        bystander_check(&b);
    }
    free(text);

    /* Nothing of it was published. */
    c = itest_hello(port, "toobigcheck");
    assert_non_null(c);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":2,"
                                      "\"topic\":\"%s\"}", topic), 0);
    {
        cJSON *ok = rawws_expect_ok(c, 2, W);

        assert_non_null(ok);
        assert_int_equal(cJSON_GetArraySize(
            cJSON_GetObjectItemCaseSensitive(ok, "messages")), 0);
        cJSON_Delete(ok);
    }
    rawws_close(c);
    assert_true(itest_nothing_more(b.c, 99, ITEST_QUIET_MS));
    rawws_close(b.c);
}

static void test_invalid_utf8_closes_1007(void **state)
{
    static const char *const bad[] = {
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xff\xfe\"}",
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xc0\xaf\"}",     /* overlong */
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xed\xa0\x80\"}", /* surrogate */
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xf4\x90\x80\x80\"}", /* >10FFFF */
        "{\"op\":\"ping\",\"id\":1,\"x\":\"\xc3\"}",         /* truncated */
    };
    struct itest_bystander b;
    struct rawws *c = NULL;
    size_t i = 0;
    int rc = 0;

    bystander_start(state, &b);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = rawws_connect(itest_port(state));
        assert_non_null(c);
        assert_int_equal(rawws_send_text(c, bad[i]), 0);
        rc = rawws_expect_close(c, W);
        if (rc != 1007)
            fprintf(stderr, "invalid UTF-8 #%zu: wanted close 1007, got %d "
                    "%s\n", i, rc, rc < 0 ? rawws_strerror(rc) : "");
        assert_int_equal(rc, 1007);
        rawws_close(c);
    }
    /* Split inside a character across fragments is fine... */
    c = rawws_connect(itest_port(state));
    assert_non_null(c);
    {
        static const char ok_text[] = "{\"op\":\"ping\",\"id\":3,"
                                      "\"x\":\"\xc3\xa9\xe2\x9c\x93\"}";
        cJSON *ok = NULL;

        assert_int_equal(rawws_send_fragmented(c, RAWWS_OP_TEXT, ok_text,
                                               strlen(ok_text), 1), 0);
        ok = rawws_expect_ok(c, 3, W);
        assert_non_null(ok);
        cJSON_Delete(ok);
    }
    rawws_close(c);
    bystander_check(&b);
    rawws_close(b.c);
}

static void test_framing_violations(void **state)
{
    static const char ping[] = "{\"op\":\"ping\",\"id\":1}";
    static const unsigned char huge_len[] = {
        0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3, 4 };
    unsigned char big_ping[126];
    struct itest_bystander b;
    struct rawws *c = NULL;
    int k = 0;

    memset(big_ping, 'p', sizeof(big_ping));
    bystander_start(state, &b);
    for (k = 0; k < 7; k++) {
        const char *what = "";

        c = rawws_connect(itest_port(state));
        assert_non_null(c);
        switch (k) {
        case 0:
            what = "RSV1 set";
            rawws_send_frame_ex(c, true, 4, RAWWS_OP_TEXT, true, ping,
                                strlen(ping));
            break;
        case 1:
            what = "RSV3 set";
            rawws_send_frame_ex(c, true, 1, RAWWS_OP_TEXT, true, ping,
                                strlen(ping));
            break;
        case 2:
            what = "reserved opcode 3";
            rawws_send_frame_ex(c, true, 0, 0x3, true, ping, strlen(ping));
            break;
        case 3:
            what = "control frame of 126 bytes";
            rawws_send_frame(c, RAWWS_OP_PING, big_ping, sizeof(big_ping));
            break;
        case 4:
            what = "fragmented control frame";
            rawws_send_frame_ex(c, false, 0, RAWWS_OP_PING, true, "ab", 2);
            break;
        case 5:
            what = "orphan continuation";
            rawws_send_frame_ex(c, true, 0, RAWWS_OP_CONT, true, ping,
                                strlen(ping));
            break;
        default:
            what = "64-bit length with the top bit set";
            rawws_send_raw(c, huge_len, sizeof(huge_len));
            break;
        }
        expect_failed_connection(c, what);
        rawws_close(c);
        bystander_check(&b);
    }
    /* A new data frame in the middle of a fragmented message. */
    c = rawws_connect(itest_port(state));
    assert_non_null(c);
    rawws_send_frame_ex(c, false, 0, RAWWS_OP_TEXT, true, "{\"op\":", 6);
    rawws_send_frame_ex(c, true, 0, RAWWS_OP_TEXT, true, ping, strlen(ping));
    expect_failed_connection(c, "text frame inside a fragmented message");
    rawws_close(c);
    bystander_check(&b);
    rawws_close(b.c);
}

/* Read from fast every message up to seq upto, in order, each once. */
static void fast_catch_up(struct rawws *fast, const char *topic,
                          int64_t *next, int64_t upto)
{
    cJSON *m = NULL;

    while (*next <= upto) {
        m = itest_expect_msg(fast, topic, *next, W);
        if (!m)
            fprintf(stderr, "reading subscriber: wanted seq %lld\n",
                    (long long)*next);
        assert_non_null(m);
        cJSON_Delete(m);
        (*next)++;
    }
}

static void test_slow_consumer_4008(void **state)
{
    int port = itest_port(state);
    struct rawws_opts o = { .port = port, .protocols = "parley.v1",
                            .rcvbuf = 4096 };
    struct rawws *slow = NULL;
    struct rawws *fast = itest_hello(port, "fast");
    struct rawws *p = itest_hello(port, "flood");
    struct rawws *again = NULL;
    char topic[128];
    char *data = NULL;
    cJSON *ok = NULL;
    cJSON *m = NULL;
    int64_t next = 1;
    int64_t seen = 0;
    int64_t seq = 0;
    int sent = 0;
    int i = 0;
    int rc = 0;

    assert_non_null(fast);
    assert_non_null(p);
    assert_int_equal(rawws_open(&slow, &o), 0);
    assert_int_equal(slow->status, 101);
    itest_topic(topic, sizeof(topic), "flood");
    ok = itest_sub(slow, 1, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(fast, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);

    data = malloc(FLOOD_DATA + 1);
    assert_non_null(data);
    memset(data, 'f', FLOOD_DATA);
    data[FLOOD_DATA] = '\0';
    /* Publish in small batches; the publisher and the reading subscriber
     * keep up, the slow one never reads. */
    while (sent < FLOOD_COUNT) {
        for (i = 0; i < FLOOD_BATCH; i++) {
            sent++;
            assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                                              "\"topic\":\"%s\",\"data\":"
                                              "{\"n\":%d,\"pad\":\"%s\"}}",
                                              sent, topic, sent, data), 0);
        }
        for (i = 0; i < FLOOD_BATCH; i++) {
            ok = rawws_expect_op(p, "ok", W);
            assert_non_null(ok);
            assert_true(tj_int(ok, "seq", &seq));
            cJSON_Delete(ok);
        }
        fast_catch_up(fast, topic, &next, sent);
    }
    free(data);
    assert_int_equal(next, FLOOD_COUNT + 1);

    /* The slow one got a gapless prefix 1..k, then close 4008. */
    for (;;) {
        struct rawws_frame f;

        rc = rawws_recv(slow, &f, W);
        if (rc < 0) {
            fprintf(stderr, "slow consumer: %s after seq %lld, no close "
                    "4008\n", rawws_strerror(rc), (long long)seen);
            fail();
        }
        if (f.opcode == RAWWS_OP_CLOSE) {
            rc = f.close_code;
            rawws_frame_cleanup(&f);
            break;
        }
        m = f.opcode == RAWWS_OP_TEXT ? cJSON_Parse((char *)f.payload)
                                      : NULL;
        rawws_frame_cleanup(&f);
        assert_non_null(m);
        if (!tj_str_is(m, "op", "msg") || !tj_int(m, "seq", &seq) ||
            seq != seen + 1)
            tj_dump("slow consumer, wanted the next msg", m);
        assert_true(tj_str_is(m, "op", "msg"));
        assert_int_equal(seq, seen + 1);
        seen = seq;
        cJSON_Delete(m);
    }
    fprintf(stderr, "slow consumer got %lld of %d before close %d\n",
            (long long)seen, FLOOD_COUNT, rc);
    assert_int_equal(rc, 4008);
    assert_true(seen < FLOOD_COUNT);
    rawws_close(slow);

    /* The publisher and the reader are fine. */
    assert_true(itest_nothing_more(p, 1000000, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(fast, 1000000, ITEST_QUIET_MS));

    /* The culled client reconnects and recovers with since: replays are
     * paced by reading and do not count toward the bound. */
    again = itest_hello(port, "slowagain");
    assert_non_null(again);
    assert_int_equal(rawws_send_textf(again, "{\"op\":\"sub\",\"id\":2,"
                                      "\"topic\":\"%s\",\"since\":%lld}",
                                      topic, (long long)seen), 0);
    ok = rawws_expect_ok(again, 2, W);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), FLOOD_COUNT);
    assert_false(tj_has(ok, "recovered") &&
                 !tj_is_true(ok, "recovered"));
    cJSON_Delete(ok);
    for (next = seen + 1; next <= FLOOD_COUNT; next++) {
        m = itest_expect_msg(again, topic, next, W);
        assert_non_null(m);
        cJSON_Delete(m);
    }
    assert_true(itest_nothing_more(again, 3, ITEST_QUIET_MS));
    rawws_close(again);
    rawws_close(fast);
    rawws_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_64k_accepted),
        cmocka_unit_test(test_over_64k_closes_1009),
        cmocka_unit_test(test_invalid_utf8_closes_1007),
        cmocka_unit_test(test_framing_violations),
    };
    const struct CMUnitTest slow_tests[] = {
        cmocka_unit_test(test_slow_consumer_4008),
    };
    int rc = 0;

    rc |= cmocka_run_group_tests_name("limits", tests, group_setup,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("slow_consumer", slow_tests,
                                      group_setup_small_queue,
                                      group_teardown);
    return itest_exit_code(rc);
}
