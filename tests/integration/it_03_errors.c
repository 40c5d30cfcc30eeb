/*
 * it_03_errors: every error the server gives without auth, against a real
 * parleyd: bad_json, bad_request (shape, types, ids, missing fields, keys,
 * limits, depth, binary frames), unknown_op, invalid_topic, forbidden, and
 * the HTTP API's error bodies. Each error must carry the command's id (or
 * null), and the connection must keep working after each one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define W ITEST_WAIT_MS

/* id value meaning "the command's id or null: the spec does not say". */
#define ID_EITHER (-1)

struct err_row {
    const char *text;   /* the frame sent */
    const char *code;   /* the error code expected */
    int64_t id;         /* expected id; 0: null; ID_EITHER: see below */
    int64_t either;     /* with ID_EITHER: this id or null */
};

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

static int64_t next_ping = 1000000;

/* Send text; expect exactly the error; then the connection still pings. */
static void check_error(struct rawws *c, const char *text, size_t len,
                        const char *code, int64_t id, int64_t either)
{
    cJSON *e = NULL;
    int64_t got = 0;
    bool alive = false;

    assert_int_equal(rawws_send_frame(c, RAWWS_OP_TEXT, text, len), 0);
    if (id == ID_EITHER) {
        e = rawws_expect_op(c, "error", W);
        assert_non_null(e);
        if (!tj_str_is(e, "code", code) ||
            !(tj_is_null(e, "id") || (tj_int(e, "id", &got) &&
                                      got == either)))
            tj_dump(text, e);
        assert_true(tj_str_is(e, "code", code));
        assert_true(tj_is_null(e, "id") ||
                    (tj_int(e, "id", &got) && got == either));
        assert_non_null(tj_str(e, "message"));
    } else {
        e = rawws_expect_error(c, id, code, W);
        if (!e)
            fprintf(stderr, "  after sending: %.300s%s\n", text,
                    len > 300 ? "..." : "");
        assert_non_null(e);
    }
    cJSON_Delete(e);
    alive = rawws_ping_ok(c, ++next_ping, W);
    if (!alive)
        fprintf(stderr, "  connection unusable after: %.300s\n", text);
    assert_true(alive);
}

static void check_rows(struct rawws *c, const struct err_row *rows, size_t n)
{
    size_t i = 0;

    for (i = 0; i < n; i++)
        check_error(c, rows[i].text, strlen(rows[i].text), rows[i].code,
                    rows[i].id, rows[i].either);
}

static struct rawws *connect_named(void **state, const char *name)
{
    struct rawws *c = itest_hello(itest_port(state), name);

    assert_non_null(c);
    return c;
}

static void test_bad_json(void **state)
{
    static const struct err_row rows[] = {
        { "not json", "bad_json", 0, 0 },
        { "{\"op\":\"ping\",\"id\":5", "bad_json", 0, 0 },
        { "{\"op\":\"ping\",}", "bad_json", 0, 0 },
        { "{'op':'ping'}", "bad_json", 0, 0 },
        { "{\"op\":\"ping\"} trailing", "bad_json", 0, 0 },
        { "", "bad_json", 0, 0 },
    };
    struct rawws *c = connect_named(state, "json");

    check_rows(c, rows, sizeof(rows) / sizeof(rows[0]));
    rawws_close(c);
}

static void test_not_a_command(void **state)
{
    static const struct err_row rows[] = {
        { "[]", "bad_request", 0, 0 },
        { "[{\"op\":\"ping\",\"id\":3}]", "bad_request", 0, 0 },
        { "42", "bad_request", 0, 0 },
        { "\"ping\"", "bad_request", 0, 0 },
        { "null", "bad_request", 0, 0 },
        { "{}", "bad_request", 0, 0 },
        { "{\"op\":5}", "bad_request", 0, 0 },
        { "{\"op\":null}", "bad_request", 0, 0 },
        { "{\"op\":[\"ping\"]}", "bad_request", 0, 0 },
        /* An object with a valid id but no string op: the spec does not
         * say whether the error echoes the id. */
        { "{\"id\":1}", "bad_request", ID_EITHER, 1 },
        { "{\"op\":5,\"id\":2}", "bad_request", ID_EITHER, 2 },
        { "{\"op\":\"frobnicate\",\"id\":9}", "unknown_op", 9, 0 },
        { "{\"op\":\"frobnicate\"}", "unknown_op", 0, 0 },
        { "{\"op\":\"PING\",\"id\":10}", "unknown_op", 10, 0 },
        { "{\"op\":\"\",\"id\":11}", "unknown_op", 11, 0 },
    };
    struct rawws *c = connect_named(state, "shape");

    check_rows(c, rows, sizeof(rows) / sizeof(rows[0]));
    rawws_close(c);
}

static void test_bad_ids(void **state)
{
    static const struct err_row rows[] = {
        { "{\"op\":\"ping\",\"id\":0}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":-1}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":1.5}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":\"7\"}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":9007199254740992}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":1e300}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":true}", "bad_request", 0, 0 },
        { "{\"op\":\"ping\",\"id\":[1]}", "bad_request", 0, 0 },
        { "{\"op\":\"pub\",\"id\":-5,\"topic\":\"ids/x\",\"data\":1}",
          "bad_request", 0, 0 },
    };
    struct rawws *c = connect_named(state, "ids");
    cJSON *ok = NULL;

    check_rows(c, rows, sizeof(rows) / sizeof(rows[0]));
    /* The bounds themselves are fine. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":1}"), 0);
    ok = rawws_expect_ok(c, 1, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\","
                                        "\"id\":9007199254740991}"), 0);
    ok = rawws_expect_ok(c, 9007199254740991LL, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    /* The bad pub above published nothing: its topic is still empty. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"history\",\"id\":2,"
                                        "\"topic\":\"ids/x\"}"), 0);
    ok = rawws_expect_ok(c, 2, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(ok, "messages")), 0);
    cJSON_Delete(ok);
    rawws_close(c);
}

/* Topics no command accepts, as JSON string literals. */
static const char *const bad_topics[] = {
    "\"a//b\"", "\"/a\"", "\"a/\"", "\"/\"", "\"a+b\"", "\"a/#/b\"",
    "\"a/b#\"", "\"#/a\"", "\"+a/b\"", "\"\"", "\"a\\u0001b\"",
    "\"a\\u001fb\"", "\"a\\u007fb\"", "\"a\\u0085b\"", "\"a\\u009fb\"",
    "\"a\\tb\"",
};

static void test_invalid_topics(void **state)
{
    static const char *const ops[] = { "sub", "unsub", "pub", "history",
                                       "presence" };
    struct rawws *c = connect_named(state, "topics");
    char text[512];
    size_t i = 0;
    size_t k = 0;
    int64_t id = 100;

    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        for (i = 0; i < sizeof(bad_topics) / sizeof(bad_topics[0]); i++) {
            id++;
            snprintf(text, sizeof(text),
                     "{\"op\":\"%s\",\"id\":%lld,\"topic\":%s%s}",
                     ops[k], (long long)id, bad_topics[i],
                     strcmp(ops[k], "pub") == 0 ? ",\"data\":1" : "");
            check_error(c, text, strlen(text), "invalid_topic", id, 0);
        }
        /* Without id too (one sample per op). */
        snprintf(text, sizeof(text), "{\"op\":\"%s\",\"topic\":\"a//b\"%s}",
                 ops[k], strcmp(ops[k], "pub") == 0 ? ",\"data\":1" : "");
        check_error(c, text, strlen(text), "invalid_topic", 0, 0);
    }
    rawws_close(c);
}

/* Build a topic of exactly len bytes: "l/" levels of 'a' (ASCII) or of
 * "é" (two bytes each) plus padding, written into buf. */
static void make_topic(char *buf, size_t len, bool multibyte)
{
    size_t i = 0;

    if (!multibyte) {
        for (i = 0; i < len; i++)
            buf[i] = (i % 10 == 9) ? '/' : 'a';
        if (buf[len - 1] == '/')
            buf[len - 1] = 'b';
    } else {
        for (i = 0; i + 2 <= len; i += 2) {
            buf[i] = (char)0xc3;
            buf[i + 1] = (char)0xa9;
        }
        if (i < len)
            buf[i++] = 'a';
    }
    buf[len] = '\0';
}

static void test_topic_length(void **state)
{
    struct rawws *c = connect_named(state, "length");
    struct rawws *p = connect_named(state, "lengthp");
    char topic[300];
    char text[700];
    cJSON *ok = NULL;
    cJSON *m = NULL;
    int mb = 0;

    for (mb = 0; mb <= 1; mb++) {
        /* 255 bytes: fine for sub and pub (a fresh name per round). */
        make_topic(topic, 255, mb);
        topic[0] = mb ? topic[0] : (char)('a' + 1);
        ok = itest_sub(c, 10 + mb, topic);
        assert_non_null(ok);
        cJSON_Delete(ok);
        assert_int_equal(itest_pub(p, 10 + mb, topic, "255"), 1);
        m = itest_expect_msg(c, topic, 1, W);
        assert_non_null(m);
        cJSON_Delete(m);

        /* 256 bytes: invalid everywhere. */
        make_topic(topic, 256, mb);
        snprintf(text, sizeof(text), "{\"op\":\"sub\",\"id\":20,"
                 "\"topic\":\"%s\"}", topic);
        check_error(c, text, strlen(text), "invalid_topic", 20, 0);
        snprintf(text, sizeof(text), "{\"op\":\"pub\",\"id\":21,"
                 "\"topic\":\"%s\",\"data\":1}", topic);
        check_error(c, text, strlen(text), "invalid_topic", 21, 0);
        snprintf(text, sizeof(text), "{\"op\":\"pub\","
                 "\"topic\":\"%s\",\"data\":1}", topic);
        check_error(c, text, strlen(text), "invalid_topic", 0, 0);
    }
    rawws_close(c);
    rawws_close(p);
}

static void test_pub_topic_rules(void **state)
{
    static const struct err_row rows[] = {
        { "{\"op\":\"pub\",\"id\":1,\"topic\":\"a/+\",\"data\":1}",
          "invalid_topic", 1, 0 },
        { "{\"op\":\"pub\",\"id\":2,\"topic\":\"a/#\",\"data\":1}",
          "invalid_topic", 2, 0 },
        { "{\"op\":\"pub\",\"id\":3,\"topic\":\"#\",\"data\":1}",
          "invalid_topic", 3, 0 },
        { "{\"op\":\"pub\",\"id\":4,\"topic\":\"+\",\"data\":1}",
          "invalid_topic", 4, 0 },
        { "{\"op\":\"pub\",\"topic\":\"+/x\",\"data\":1}",
          "invalid_topic", 0, 0 },
        { "{\"op\":\"pub\",\"id\":5,\"topic\":\"$SYS/x\",\"data\":1}",
          "forbidden", 5, 0 },
        { "{\"op\":\"pub\",\"topic\":\"$SYS/x\",\"data\":1}",
          "forbidden", 0, 0 },
        { "{\"op\":\"pub\",\"id\":6,\"topic\":\"$other\",\"data\":1}",
          "forbidden", 6, 0 },
    };
    struct rawws *c = connect_named(state, "pubrules");

    check_rows(c, rows, sizeof(rows) / sizeof(rows[0]));
    rawws_close(c);
}

static void test_missing_and_mistyped_fields(void **state)
{
    static const struct err_row rows[] = {
        { "{\"op\":\"pub\",\"id\":1,\"topic\":\"f/x\"}", "bad_request",
          1, 0 },
        { "{\"op\":\"pub\",\"topic\":\"f/x\"}", "bad_request", 0, 0 },
        { "{\"op\":\"pub\",\"id\":2,\"data\":1}", "bad_request", 2, 0 },
        { "{\"op\":\"sub\",\"id\":3}", "bad_request", 3, 0 },
        { "{\"op\":\"unsub\",\"id\":4}", "bad_request", 4, 0 },
        { "{\"op\":\"history\",\"id\":5}", "bad_request", 5, 0 },
        { "{\"op\":\"presence\",\"id\":6}", "bad_request", 6, 0 },
        { "{\"op\":\"sub\",\"id\":7,\"topic\":5}", "bad_request", 7, 0 },
        { "{\"op\":\"pub\",\"id\":8,\"topic\":[\"f/x\"],\"data\":1}",
          "bad_request", 8, 0 },
        { "{\"op\":\"sub\",\"id\":9,\"topic\":\"f/x\",\"since\":\"1\"}",
          "bad_request", 9, 0 },
        { "{\"op\":\"sub\",\"id\":10,\"topic\":\"f/x\",\"history\":true}",
          "bad_request", 10, 0 },
        { "{\"op\":\"sub\",\"id\":11,\"topic\":\"f/x\",\"presence\":1}",
          "bad_request", 11, 0 },
        { "{\"op\":\"pub\",\"id\":12,\"topic\":\"f/x\",\"data\":1,"
          "\"retain\":\"yes\"}", "bad_request", 12, 0 },
        { "{\"op\":\"pub\",\"id\":13,\"topic\":\"f/x\",\"data\":1,"
          "\"key\":5}", "bad_request", 13, 0 },
        { "{\"op\":\"pub\",\"id\":14,\"topic\":\"f/x\",\"data\":1,"
          "\"key\":\"\"}", "bad_request", 14, 0 },
        { "{\"op\":\"history\",\"id\":15,\"topic\":\"f/x\",\"limit\":0}",
          "bad_request", 15, 0 },
        { "{\"op\":\"history\",\"id\":16,\"topic\":\"f/x\",\"limit\":-1}",
          "bad_request", 16, 0 },
        { "{\"op\":\"history\",\"topic\":\"f/x\",\"limit\":0}",
          "bad_request", 0, 0 },
        { "{\"op\":\"history\",\"id\":17,\"topic\":\"f/x\","
          "\"limit\":\"5\"}", "bad_request", 17, 0 },
        { "{\"op\":\"history\",\"id\":18,\"topic\":\"f/x\","
          "\"before\":\"x\"}", "bad_request", 18, 0 },
        { "{\"op\":\"history\",\"id\":19,\"topic\":\"f/+\"}",
          "invalid_topic", 19, 0 },
        { "{\"op\":\"history\",\"id\":20,\"topic\":\"f/#\"}",
          "invalid_topic", 20, 0 },
        { "{\"op\":\"presence\",\"id\":21,\"topic\":\"f/+\"}",
          "invalid_topic", 21, 0 },
        { "{\"op\":\"presence\",\"id\":22,\"topic\":\"#\"}",
          "invalid_topic", 22, 0 },
        { "{\"op\":\"presence\",\"topic\":\"+\"}", "invalid_topic", 0, 0 },
    };
    struct rawws *c = connect_named(state, "fields");
    cJSON *ok = NULL;

    check_rows(c, rows, sizeof(rows) / sizeof(rows[0]));
    /* None of the failed pubs stored anything on f/x. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"history\",\"id\":30,"
                                        "\"topic\":\"f/x\"}"), 0);
    ok = rawws_expect_ok(c, 30, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(ok, "messages")), 0);
    cJSON_Delete(ok);
    rawws_close(c);
}

static void test_key_length(void **state)
{
    struct rawws *c = connect_named(state, "keys");
    char topic[128];
    char key[200];
    char text[512];
    cJSON *ok = NULL;

    itest_topic(topic, sizeof(topic), "keys");
    memset(key, 'k', 129);
    key[129] = '\0';
    snprintf(text, sizeof(text), "{\"op\":\"pub\",\"id\":2,\"topic\":\"%s\","
             "\"data\":1,\"key\":\"%s\"}", topic, key);
    check_error(c, text, strlen(text), "bad_request", 2, 0);
    snprintf(text, sizeof(text), "{\"op\":\"pub\",\"topic\":\"%s\","
             "\"data\":1,\"key\":\"%s\"}", topic, key);
    check_error(c, text, strlen(text), "bad_request", 0, 0);

    /* 128 bytes is fine; 1 byte too. */
    key[128] = '\0';
    snprintf(text, sizeof(text), "{\"op\":\"pub\",\"id\":3,\"topic\":\"%s\","
             "\"data\":1,\"key\":\"%s\"}", topic, key);
    assert_int_equal(rawws_send_text(c, text), 0);
    ok = rawws_expect_ok(c, 3, W);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 1);
    cJSON_Delete(ok);
    snprintf(text, sizeof(text), "{\"op\":\"pub\",\"id\":4,\"topic\":\"%s\","
             "\"data\":2,\"key\":\"k\"}", topic);
    assert_int_equal(rawws_send_text(c, text), 0);
    ok = rawws_expect_ok(c, 4, W);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 2);
    cJSON_Delete(ok);
    rawws_close(c);
}

static void test_history_limit_bounds(void **state)
{
    struct rawws *c = connect_named(state, "limits");
    char topic[128];
    cJSON *ok = NULL;

    itest_topic(topic, sizeof(topic), "hist");
    assert_int_equal(itest_pub(c, 2, topic, "1"), 1);
    /* Above 1000 is treated as 1000: not an error. */
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":3,"
                                      "\"topic\":\"%s\",\"limit\":5000}",
                                      topic), 0);
    ok = rawws_expect_ok(c, 3, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(ok, "messages")), 1);
    cJSON_Delete(ok);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":4,"
                                      "\"topic\":\"%s\",\"limit\":1}",
                                      topic), 0);
    ok = rawws_expect_ok(c, 4, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    rawws_close(c);
}

static void test_hello_errors(void **state)
{
    char name[80];
    char text[200];
    struct rawws *c = NULL;
    cJSON *ok = NULL;

    c = rawws_connect(itest_port(state));
    assert_non_null(c);
    check_error(c, "{\"op\":\"hello\",\"id\":1,\"name\":\"\"}",
                strlen("{\"op\":\"hello\",\"id\":1,\"name\":\"\"}"),
                "bad_request", 1, 0);
    rawws_close(c);

    c = rawws_connect(itest_port(state));
    assert_non_null(c);
    memset(name, 'n', 65);
    name[65] = '\0';
    snprintf(text, sizeof(text), "{\"op\":\"hello\",\"id\":1,"
             "\"name\":\"%s\"}", name);
    check_error(c, text, strlen(text), "bad_request", 1, 0);
    rawws_close(c);

    c = rawws_connect(itest_port(state));
    assert_non_null(c);
    check_error(c, "{\"op\":\"hello\",\"id\":1,\"name\":5}",
                strlen("{\"op\":\"hello\",\"id\":1,\"name\":5}"),
                "bad_request", 1, 0);
    rawws_close(c);

    /* 64 bytes is a fine name. */
    c = rawws_connect(itest_port(state));
    assert_non_null(c);
    name[64] = '\0';
    snprintf(text, sizeof(text), "{\"op\":\"hello\",\"id\":1,"
             "\"name\":\"%s\"}", name);
    assert_int_equal(rawws_send_text(c, text), 0);
    ok = rawws_expect_ok(c, 1, W);
    assert_non_null(ok);
    assert_true(tj_str_is(ok, "user", name));
    cJSON_Delete(ok);
    rawws_close(c);
}

/* "[[...1...]]" with depth arrays, NUL-terminated; caller frees. */
static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + 2);
    size_t i = 0;

    assert_non_null(s);
    for (i = 0; i < depth; i++)
        s[i] = '[';
    s[depth] = '1';
    for (i = 0; i < depth; i++)
        s[depth + 1 + i] = ']';
    s[2 * depth + 1] = '\0';
    return s;
}

static void test_json_depth(void **state)
{
    int port = itest_port(state);
    struct rawws *c = connect_named(state, "depth");
    struct rawws *s = itest_hello(port, "depthsub");
    char topic[128];
    char *data = NULL;
    char *text = NULL;
    cJSON *want = NULL;
    cJSON *m = NULL;

    assert_non_null(s);
    itest_topic(topic, sizeof(topic), "depth");
    m = itest_sub(s, 2, topic);
    assert_non_null(m);
    cJSON_Delete(m);

    /* 32 levels in all (the command object and 31 arrays) are always
     * accepted; the data comes back the same. */
    data = nested(31);
    assert_int_equal(itest_pub(c, 2, topic, data), 1);
    m = itest_expect_msg(s, topic, 1, W);
    assert_non_null(m);
    want = cJSON_Parse(data);
    assert_non_null(want);
    assert_true(tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"),
                         want));
    cJSON_Delete(want);
    cJSON_Delete(m);
    free(data);

    /* 10,000 levels: bad_request, nothing published. */
    data = nested(10000);
    assert_true(asprintf(&text, "{\"op\":\"pub\",\"topic\":\"%s\","
                         "\"data\":%s}", topic, data) > 0);
    check_error(c, text, strlen(text), "bad_request", 0, 0);
    free(text);
    free(data);
    text = malloc(10 * 10000 + 64);
    assert_non_null(text);
    {
        size_t off = 0;
        int i = 0;

        off += (size_t)sprintf(text, "{\"op\":\"ping\",\"x\":");
        for (i = 0; i < 10000; i++)
            off += (size_t)sprintf(text + off, "{\"a\":");
        text[off++] = '1';
        for (i = 0; i < 10000; i++)
            text[off++] = '}';
        text[off++] = '}';
        text[off] = '\0';
        check_error(c, text, off, "bad_request", 0, 0);
    }
    free(text);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(c);
    rawws_close(s);
}

static void test_binary_frame(void **state)
{
    struct rawws *c = connect_named(state, "binary");
    static const char ping[] = "{\"op\":\"ping\",\"id\":50}";
    static const unsigned char junk[] = { 0x00, 0xff, 0x10, 0x80 };
    cJSON *e = NULL;

    /* Even a binary frame holding a valid command is only an error. */
    assert_int_equal(rawws_send_binary(c, ping, strlen(ping)), 0);
    e = rawws_expect_error(c, 0, "bad_request", W);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_binary(c, junk, sizeof(junk)), 0);
    e = rawws_expect_error(c, 0, "bad_request", W);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_fragmented(c, RAWWS_OP_BINARY, junk,
                                           sizeof(junk), 1), 0);
    e = rawws_expect_error(c, 0, "bad_request", W);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_true(itest_nothing_more(c, 51, ITEST_QUIET_MS));
    rawws_close(c);
}

/* True when j's "error" is one of the '|'-separated codes. */
static bool error_code_in(const cJSON *j, const char *codes)
{
    const char *got = tj_str(j, "error");
    size_t gl = got ? strlen(got) : 0;
    const char *p = codes;

    while (got && p && *p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);

        if (l == gl && strncmp(p, got, l) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* POST body to path; expect status and {"error":code,"message":...}, where
 * code may list alternatives ("a|b") when the spec allows either. */
static void check_http_error(int port, const char *path, const char *body,
                             size_t len, int status, const char *code)
{
    struct httpc_resp r;
    cJSON *j = NULL;

    assert_int_equal(httpc_request(port, "POST", path, NULL, body, len, &r,
                                   W), 0);
    j = cJSON_Parse(r.body);
    if (r.status != status || !error_code_in(j, code))
        fprintf(stderr, "POST %s %.200s: wanted %d %s, got %d %.300s\n",
                path, body, status, code, r.status, r.body);
    assert_int_equal(r.status, status);
    assert_true(error_code_in(j, code));
    assert_non_null(tj_str(j, "message"));
    cJSON_Delete(j);
    httpc_resp_cleanup(&r);
}

static void test_http_api_errors(void **state)
{
    int port = itest_port(state);
    struct httpc_resp r;
    char *big = NULL;
    size_t n = 70000;
    size_t off = 0;
    cJSON *j = NULL;

#define BODY(s) s, strlen(s)
    /* The HTTP API section only asks for "one of the protocol's error
     * codes"; bad_json is what the WebSocket rules would give. */
    check_http_error(port, "/api/publish", BODY("not json"), 400,
                     "bad_json|bad_request");
    check_http_error(port, "/api/publish", BODY("[]"), 400, "bad_request");
    check_http_error(port, "/api/publish", BODY("{\"data\":1}"), 400,
                     "bad_request");
    check_http_error(port, "/api/publish", BODY("{\"topic\":\"h/x\"}"), 400,
                     "bad_request");
    check_http_error(port, "/api/publish",
                     BODY("{\"topic\":\"h//x\",\"data\":1}"), 400,
                     "invalid_topic");
    check_http_error(port, "/api/publish",
                     BODY("{\"topic\":\"h/+\",\"data\":1}"), 400,
                     "invalid_topic");
    check_http_error(port, "/api/publish",
                     BODY("{\"topic\":\"$SYS/x\",\"data\":1}"), 403,
                     "forbidden");
#undef BODY
    /* A body over the 64 KiB message limit is 413 too_large. */
    big = malloc(n + 1);
    assert_non_null(big);
    off = (size_t)sprintf(big, "{\"topic\":\"h/big\",\"data\":\"");
    memset(big + off, 'x', n - off - 2);
    big[n - 2] = '"';
    big[n - 1] = '}';
    big[n] = '\0';
    check_http_error(port, "/api/publish", big, n, 413, "too_large");
    free(big);

    /* History on a pattern or with a bad limit is 400 as well. */
    assert_int_equal(httpc_get(port, "/api/history?topic=h/%2B", &r, W), 0);
    j = cJSON_Parse(r.body);
    if (r.status != 400 || !tj_str_is(j, "error", "invalid_topic"))
        fprintf(stderr, "history h/+: %d %.300s\n", r.status, r.body);
    assert_int_equal(r.status, 400);
    assert_true(tj_str_is(j, "error", "invalid_topic"));
    cJSON_Delete(j);
    httpc_resp_cleanup(&r);
    assert_int_equal(httpc_get(port, "/api/history?topic=h/x&limit=0", &r,
                               W), 0);
    j = cJSON_Parse(r.body);
    if (r.status != 400 || !tj_str_is(j, "error", "bad_request"))
        fprintf(stderr, "history limit=0: %d %.300s\n", r.status, r.body);
    assert_int_equal(r.status, 400);
    assert_true(tj_str_is(j, "error", "bad_request"));
    cJSON_Delete(j);
    httpc_resp_cleanup(&r);

    /* Nothing of the above was published. */
    assert_int_equal(httpc_get(port, "/api/history?topic=h/x", &r, W), 0);
    assert_int_equal(r.status, 200);
    j = cJSON_Parse(r.body);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(j, "messages")), 0);
    cJSON_Delete(j);
    httpc_resp_cleanup(&r);
}

static int group_setup_small_limits(void **state)
{
    static const char *const extra[] = { "--max-subs", "3", "--rate", "1",
                                         "--burst", "3", NULL };

    return itest_setup(state, extra);
}

/* On a server started with --max-subs 3: past the bound, sub is
 * overloaded; replacing or freeing a subscription works. */
static void test_too_many_subs_overloaded(void **state)
{
    struct rawws *c = connect_named(state, "manysubs");
    char base[96];
    char t[5][128];
    char text[256];
    cJSON *ok = NULL;
    int i = 0;

    itest_topic(base, sizeof(base), "subs");
    for (i = 0; i < 5; i++)
        snprintf(t[i], sizeof(t[i]), "%s/%d", base, i);
    for (i = 0; i < 2; i++) {
        ok = itest_sub(c, 10 + i, t[i]);
        assert_non_null(ok);
        cJSON_Delete(ok);
    }
    snprintf(text, sizeof(text), "%s/#", base);
    ok = itest_sub(c, 12, text);
    assert_non_null(ok);
    cJSON_Delete(ok);

    snprintf(text, sizeof(text), "{\"op\":\"sub\",\"id\":13,"
             "\"topic\":\"%s\"}", t[3]);
    check_error(c, text, strlen(text), "overloaded", 13, 0);
    snprintf(text, sizeof(text), "{\"op\":\"sub\",\"topic\":\"%s/+\"}",
             base);
    check_error(c, text, strlen(text), "overloaded", 0, 0);

    /* Subscribing again to a pattern it has replaces it: not a new one. */
    ok = itest_sub(c, 14, t[0]);
    assert_non_null(ok);
    cJSON_Delete(ok);
    /* Freeing one makes room for one. */
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"unsub\",\"id\":15,"
                                      "\"topic\":\"%s\"}", t[1]), 0);
    ok = rawws_expect_ok(c, 15, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(c, 16, t[3]);
    assert_non_null(ok);
    cJSON_Delete(ok);
    snprintf(text, sizeof(text), "{\"op\":\"sub\",\"id\":17,"
             "\"topic\":\"%s\"}", t[4]);
    check_error(c, text, strlen(text), "overloaded", 17, 0);
    rawws_close(c);
}

/* On a server started with --rate 1 --burst 3: a burst of publishes gets
 * rate_limited past the bucket; those publish nothing; each id gets one
 * reply; the connection stays usable and recovers with time. */
static void test_rate_limited(void **state)
{
    struct rawws *c = connect_named(state, "fastpub");
    struct rawws *h = connect_named(state, "ratehist");
    char topic[128];
    cJSON *got[10] = { NULL };
    cJSON *ok = NULL;
    int64_t seq = 0;
    int oks = 0;
    int limited = 0;
    int i = 0;

    itest_topic(topic, sizeof(topic), "rate");
    for (i = 1; i <= 10; i++)
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%d,"
                                          "\"topic\":\"%s\",\"data\":%d}",
                                          i, topic, i), 0);
    assert_int_equal(itest_collect(c, got, 10, W), 10);
    for (i = 1; i <= 10; i++) {
        cJSON *r = NULL;
        int k = 0;
        int n = 0;

        for (k = 0; k < 10; k++)
            if (tj_int_or(got[k], "id", 0) == i) {
                r = got[k];
                n++;
            }
        if (n != 1)
            fprintf(stderr, "pub id %d got %d replies\n", i, n);
        assert_int_equal(n, 1);
        if (tj_str_is(r, "op", "ok")) {
            oks++;
            assert_true(tj_int(r, "seq", &seq));
        } else {
            if (!tj_str_is(r, "code", "rate_limited"))
                tj_dump("wanted ok or rate_limited", r);
            assert_true(tj_str_is(r, "op", "error") &&
                        tj_str_is(r, "code", "rate_limited"));
            limited++;
        }
    }
    itest_free_all(got, 10);
    fprintf(stderr, "burst of 10: %d ok, %d rate_limited\n", oks, limited);
    assert_true(oks >= 1 && oks <= 5);
    assert_true(limited >= 5);
    /* Without id, a limited pub still gets its error, with id null. */
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"topic\":\"%s\","
                                      "\"data\":0}", topic), 0);
    ok = rawws_expect_error(c, 0, "rate_limited", W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_true(rawws_ping_ok(c, 20, W));

    /* Only the accepted ones were stored, with gapless seqs. */
    assert_int_equal(rawws_send_textf(h, "{\"op\":\"history\",\"id\":2,"
                                      "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(h, 2, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(ok, "messages")), oks);
    cJSON_Delete(ok);

    /* A rate of 1/s refills: after a little over a second, one more. */
    {
        struct timespec ts = { 1, 300 * 1000000L };

        nanosleep(&ts, NULL);
    }
    assert_int_equal(itest_pub(c, 30, topic, "30"), oks + 1);
    rawws_close(c);
    rawws_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_not_a_command),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_invalid_topics),
        cmocka_unit_test(test_topic_length),
        cmocka_unit_test(test_pub_topic_rules),
        cmocka_unit_test(test_missing_and_mistyped_fields),
        cmocka_unit_test(test_key_length),
        cmocka_unit_test(test_history_limit_bounds),
        cmocka_unit_test(test_hello_errors),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_binary_frame),
        cmocka_unit_test(test_http_api_errors),
    };
    const struct CMUnitTest limit_tests[] = {
        cmocka_unit_test(test_too_many_subs_overloaded),
        cmocka_unit_test(test_rate_limited),
    };
    int rc = 0;

    rc |= cmocka_run_group_tests_name("errors", tests, group_setup,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("small_limits", limit_tests,
                                      group_setup_small_limits,
                                      group_teardown);
    return itest_exit_code(rc);
}
