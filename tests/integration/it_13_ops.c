/*
 * it_13_ops.c: what an operator sees of a real parleyd: JSON log lines
 * (--log-format json) that a log shipper can parse, with the connection
 * and the user as fields.
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

static struct server *srv_of(void **state)
{
    return ((struct itest *)*state)->srv;
}

/* Wait for the watched line and parse it as one JSON object. */
static cJSON *watched_json(struct server *s)
{
    char line[4096];
    cJSON *o = NULL;

    assert_int_equal(server_wait_watched(s, ITEST_WAIT_MS), 0);
    assert_int_equal(server_watched_line(s, line, sizeof(line)), 0);
    o = cJSON_Parse(line);
    if (o == NULL)
        fprintf(stderr, "not JSON: %s\n", line);
    assert_non_null(o);
    return o;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static int json_setup(void **state)
{
    const char *const extra[] = { "--log-format", "json", "--log-level",
                                  "debug", NULL };

    return itest_setup(state, extra);
}

/* A connection opened and closed by "alice" logs two JSON lines naming
 * the same connection id, the second also her name. */
static void test_json_lines(void **state)
{
    struct server *s = srv_of(state);
    struct rawws *c = NULL;
    cJSON *open = NULL;
    cJSON *close = NULL;
    const cJSON *id = NULL;

    assert_int_equal(server_watch(s, "\"event\":\"conn_open\""), 0);
    c = itest_hello(itest_port(state), "alice");
    assert_non_null(c);
    open = watched_json(s);
    assert_string_equal(jstr(open, "level"), "debug");
    assert_int_equal(strlen(jstr(open, "time")), 24);
    assert_int_equal(jstr(open, "time")[23], 'Z');
    id = cJSON_GetObjectItemCaseSensitive(open, "conn");
    assert_true(cJSON_IsNumber(id));
    assert_non_null(strstr(jstr(open, "msg"), "open"));

    assert_int_equal(server_watch(s, "\"event\":\"conn_close\""), 0);
    rawws_close_gracefully(c, 1000, ITEST_WAIT_MS);
    close = watched_json(s);
    assert_string_equal(jstr(close, "user"), "alice");
    assert_true(cJSON_GetObjectItemCaseSensitive(close, "conn")->valuedouble ==
                id->valuedouble);
    cJSON_Delete(open);
    cJSON_Delete(close);
}

int main(void)
{
    const struct CMUnitTest json_tests[] = {
        cmocka_unit_test(test_json_lines),
    };
    int rc = cmocka_run_group_tests_name("json-logs", json_tests, json_setup,
                                         itest_teardown);

    return itest_exit_code(rc);
}
