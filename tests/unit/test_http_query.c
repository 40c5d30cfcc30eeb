/*
 * test_http_query: the HTTP query parser. Every argument is found whatever
 * its length and place (issue #12), percent escapes and '+' decode, a
 * repeated argument is reported, unknown ones are simply there, and broken
 * escapes are refused without keeping half an argument.
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

#include "http_query.h"

static int parse(struct http_query *q, const char *s)
{
    return http_query_parse(q, s, strlen(s));
}

static void assert_arg(const struct http_query *q, const char *name,
                       const char *want)
{
    const char *v = NULL;

    assert_int_equal(http_query_get(q, name, &v), 0);
    assert_string_equal(v, want);
}

static void test_every_order(void **state)
{
    static const char *const orders[] = {
        "topic=site%2Fbuilding-7%2Ffloor-2%2Fkitchen%2Ftemp&limit=2&before=5",
        "limit=2&topic=site%2Fbuilding-7%2Ffloor-2%2Fkitchen%2Ftemp&before=5",
        "before=5&limit=2&topic=site%2Fbuilding-7%2Ffloor-2%2Fkitchen%2Ftemp",
        "before=5&topic=site%2fbuilding-7%2ffloor-2%2fkitchen%2ftemp&limit=2",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
        struct http_query q;
        int64_t n = 0;

        http_query_init(&q);
        assert_int_equal(parse(&q, orders[i]), 0);
        assert_arg(&q, "topic", "site/building-7/floor-2/kitchen/temp");
        assert_int_equal(http_query_int(&q, "limit", &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(http_query_int(&q, "before", &n), 0);
        assert_int_equal(n, 5);
        http_query_cleanup(&q);
    }
}

/* A 255-byte topic, every byte escaped: 765 characters, then more. */
static void test_longest_topic(void **state)
{
    char topic[256];
    char raw[1024];
    struct http_query q;
    int64_t n = 0;
    size_t i;
    size_t o = 0;

    (void)state;
    for (i = 0; i < 255; i++)
        topic[i] = i % 10 == 9 ? '/' : (char)('a' + i % 26);
    topic[255] = '\0';
    o = (size_t)snprintf(raw, sizeof(raw), "topic=");
    for (i = 0; i < 255; i++)
        o += (size_t)snprintf(raw + o, sizeof(raw) - o, "%%%02X",
                              (unsigned char)topic[i]);
    snprintf(raw + o, sizeof(raw) - o, "&limit=7");
    assert_int_equal(strlen(raw), 6 + 765 + 8);
    http_query_init(&q);
    assert_int_equal(parse(&q, raw), 0);
    assert_arg(&q, "topic", topic);
    assert_int_equal(http_query_int(&q, "limit", &n), 0);
    assert_int_equal(n, 7);
    http_query_cleanup(&q);
}

static void test_decoding(void **state)
{
    struct http_query q;
    const char *v = NULL;

    (void)state;
    http_query_init(&q);
    assert_int_equal(parse(&q, "topic=living+room%2Fa%26b%3Dc&&x&=e&"
                               "na%6De=v%C3%A9"), 0);
    assert_arg(&q, "topic", "living room/a&b=c");
    assert_arg(&q, "name", "v\xc3\xa9");
    assert_arg(&q, "", "e");
    /* A piece without '=' is no argument. */
    assert_int_equal(http_query_get(&q, "x", &v), -ENOENT);
    http_query_cleanup(&q);
}

static void test_repeated_and_unknown(void **state)
{
    struct http_query q;
    const char *v = NULL;
    int64_t n = 0;

    (void)state;
    http_query_init(&q);
    assert_int_equal(parse(&q, "limit=2&zz=1&limit=3&topic=a"), 0);
    assert_int_equal(http_query_get(&q, "limit", &v), -EEXIST);
    assert_int_equal(http_query_int(&q, "limit", &n), -EEXIST);
    assert_arg(&q, "zz", "1");
    assert_arg(&q, "topic", "a");
    assert_int_equal(http_query_get(&q, "before", &v), -ENOENT);
    assert_int_equal(http_query_int(&q, "before", &n), -ENOENT);
    http_query_cleanup(&q);
}

static void test_integers(void **state)
{
    static const struct {
        const char *raw;
        int rc;
        int64_t n;
    } cases[] = {
        { "n=0", 0, 0 },
        { "n=-1", 0, -1 },
        { "n=1000", 0, 1000 },
        { "n=abc", -EINVAL, 0 },
        { "n=2.5", -EINVAL, 0 },
        { "n=", -EINVAL, 0 },
        { "n=5x", -EINVAL, 0 },
        { "n=99999999999999999999999", 0, INT64_MAX },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_query q;
        int64_t n = -42;

        http_query_init(&q);
        assert_int_equal(parse(&q, cases[i].raw), 0);
        assert_int_equal(http_query_int(&q, "n", &n), cases[i].rc);
        assert_int_equal(n, cases[i].rc == 0 ? cases[i].n : -42);
        http_query_cleanup(&q);
    }
}

/* Broken escapes fail the whole parse and leave q as it was. */
static void test_broken_escapes(void **state)
{
    static const char *const bad[] = {
        "a=1&topic=%", "a=1&topic=%2", "a=1&topic=%zz", "a=1&topic=%00",
        "a=1&t%G1=1",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_query q;

        http_query_init(&q);
        assert_int_equal(parse(&q, "keep=1"), 0);
        assert_int_equal(parse(&q, bad[i]), -EINVAL);
        assert_int_equal(q.n, 1);
        assert_arg(&q, "keep", "1");
        http_query_cleanup(&q);
    }
}

/* Already-decoded fragments (what lws hands over) are taken as they are. */
static void test_add_decoded(void **state)
{
    struct http_query q;
    const char *frag = "topic=50%+&more=x";
    size_t i;

    (void)state;
    http_query_init(&q);
    assert_int_equal(http_query_add(&q, frag, strlen(frag)), 0);
    assert_arg(&q, "topic", "50%+&more=x");
    assert_int_equal(http_query_add(&q, "novalue", 7), 0);
    assert_int_equal(q.n, 1);
    for (i = 1; i < HTTP_QUERY_ARGS_MAX; i++)
        assert_int_equal(http_query_add(&q, "u=1", 3), 0);
    assert_int_equal(http_query_add(&q, "u=1", 3), -E2BIG);
    http_query_cleanup(&q);
    assert_int_equal(q.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_order),
        cmocka_unit_test(test_longest_topic),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_repeated_and_unknown),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_broken_escapes),
        cmocka_unit_test(test_add_decoded),
    };

    return cmocka_run_group_tests_name("http_query", tests, NULL, NULL);
}
