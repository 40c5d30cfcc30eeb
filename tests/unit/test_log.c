/*
 * test_log.c: the log line formats (server/log.c): text stays as it was;
 * JSON is one object per line with time, level, the context's fields and
 * the message, escaped so that any message still parses, and whole even
 * at the longest message and fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "log.h"

/* 2026-11-26T05:40:00.123Z */
#define T_SEC 1795671600LL
#define T_USEC 123456

static char line[LOG_LINE_MAX];

/* Format a JSON line and parse it; the caller deletes it. */
static cJSON *json_line(enum log_level level, const struct log_ctx *ctx,
                        const char *msg)
{
    size_t n = log_format_line(line, sizeof(line), LOG_FORMAT_JSON, level,
                               T_SEC, T_USEC, ctx, msg);
    cJSON *o = NULL;

    assert_int_equal(n, strlen(line));
    assert_true(n > 2);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1));
    o = cJSON_Parse(line);
    assert_non_null(o);
    assert_true(cJSON_IsObject(o));
    return o;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_text_unchanged(void **state)
{
    struct log_ctx lc = { "slow_consumer", 7, "alice", "room/1" };

    (void)state;
    log_format_line(line, sizeof(line), LOG_FORMAT_TEXT, LOG_NOTICE, T_SEC,
                    T_USEC, NULL, "listening on http://127.0.0.1:8080");
    assert_string_equal(line, "2026-11-26T05:40:00.123Z notice listening on "
                        "http://127.0.0.1:8080\n");
    /* the context is for JSON: text keeps only the message */
    log_format_line(line, sizeof(line), LOG_FORMAT_TEXT, LOG_INFO, T_SEC,
                    T_USEC, &lc, "conn 7 (alice): slow consumer");
    assert_string_equal(line, "2026-11-26T05:40:00.123Z info conn 7 (alice):"
                        " slow consumer\n");
}

static void test_json_fields(void **state)
{
    struct log_ctx lc = { "slow_consumer", 7, "alice", "room/1" };
    cJSON *o = NULL;
    const cJSON *conn = NULL;

    (void)state;
    o = json_line(LOG_INFO, &lc, "conn 7 (alice): slow consumer");
    assert_string_equal(str(o, "time"), "2026-11-26T05:40:00.123Z");
    assert_string_equal(str(o, "level"), "info");
    assert_string_equal(str(o, "event"), "slow_consumer");
    assert_string_equal(str(o, "user"), "alice");
    assert_string_equal(str(o, "topic"), "room/1");
    assert_string_equal(str(o, "msg"), "conn 7 (alice): slow consumer");
    conn = cJSON_GetObjectItemCaseSensitive(o, "conn");
    assert_true(cJSON_IsNumber(conn));
    assert_int_equal((int)conn->valuedouble, 7);
    cJSON_Delete(o);
}

static void test_json_absent_fields(void **state)
{
    struct log_ctx only_topic = { NULL, 0, NULL, "a/b" };
    cJSON *o = NULL;

    (void)state;
    o = json_line(LOG_ERROR, NULL, "bye");
    assert_string_equal(str(o, "level"), "error");
    assert_string_equal(str(o, "msg"), "bye");
    assert_null(cJSON_GetObjectItem(o, "event"));
    assert_null(cJSON_GetObjectItem(o, "conn"));
    assert_null(cJSON_GetObjectItem(o, "user"));
    assert_null(cJSON_GetObjectItem(o, "topic"));
    cJSON_Delete(o);
    o = json_line(LOG_WARN, &only_topic, "gap");
    assert_string_equal(str(o, "topic"), "a/b");
    assert_null(cJSON_GetObjectItem(o, "conn"));
    assert_null(cJSON_GetObjectItem(o, "user"));
    cJSON_Delete(o);
}

/* Quotes, backslashes, newlines and other control bytes in a message or a
 * user name (which a client chooses) come back out intact, on one line. */
static void test_json_escaping(void **state)
{
    const char *nasty = "a\"b\\c\nd\re\tf\x01g\x1f h\x7f \xc3\xa9";
    struct log_ctx lc = { NULL, 1, nasty, NULL };
    cJSON *o = NULL;

    (void)state;
    o = json_line(LOG_DEBUG, &lc, nasty);
    assert_string_equal(str(o, "msg"), nasty);
    assert_string_equal(str(o, "user"), nasty);
    cJSON_Delete(o);
}

/* The longest message and fields, all escaped six-fold, still make one
 * whole line; longer fields are cut, never the closing brace. */
static void test_json_longest(void **state)
{
    char msg[LOG_MSG_MAX + 1];
    char big[2 * LOG_FIELD_MAX];
    struct log_ctx lc = { big, UINT64_MAX, big, big };
    cJSON *o = NULL;

    (void)state;
    memset(msg, '\x01', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    memset(big, '\x02', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    o = json_line(LOG_NOTICE, &lc, msg);
    assert_int_equal(strlen(str(o, "msg")), LOG_MSG_MAX);
    assert_int_equal(strlen(str(o, "user")), LOG_FIELD_MAX);
    assert_int_equal(strlen(str(o, "topic")), LOG_FIELD_MAX);
    cJSON_Delete(o);
}

static void test_parse_names(void **state)
{
    (void)state;
    assert_int_equal(log_format_parse("text"), LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("json"), LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("JSON"), -1);
    assert_int_equal(log_format_parse(""), -1);
    assert_string_equal(log_format_name(LOG_FORMAT_JSON), "json");
    assert_int_equal(log_level_parse("warn"), LOG_WARN);
    assert_string_equal(log_level_name(LOG_DEBUG), "debug");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_unchanged),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_absent_fields),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_longest),
        cmocka_unit_test(test_parse_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
