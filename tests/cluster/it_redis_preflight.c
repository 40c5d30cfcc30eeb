/*
 * it_redis_preflight.c: a node's start-up check against a real
 * redis-server: each reason to refuse (unreachable, password, database,
 * durability) comes back as its own error with words to act on, and a good
 * start leaves the Lua library loaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "redis_preflight.h"
#include "redis_fix.h"

#define fix redis_fix

/* The fixture's server as a parsed --redis URL. */
static struct redis_url url_of(const struct fix *f)
{
    struct redis_url u;
    char why[128];

    assert_int_equal(
        redis_url_parse(redis_proc_url(f->redis), &u, why, sizeof(why)), 0);
    return u;
}

static void command(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);

    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, r->str);
    freeReplyObject(r);
}

static void test_good_start_loads_the_library(void **state)
{
    struct fix *f = *state;
    struct redis_url u = url_of(f);
    char why[512];
    redisReply *r = NULL;

    command(f->c, "FUNCTION FLUSH%s", "");
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        0);
    assert_non_null(strstr(why, "appendfsync always"));
    r = redisCommand(f->c, "FUNCTION LIST LIBRARYNAME parley");
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
}

static void test_unreachable(void **state)
{
    struct fix *f = *state;
    struct redis_url u = url_of(f);
    char why[512];

    u.port = redis_proc_free_port();
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        -ECONNREFUSED);
    print_message("%s\n", why);
    assert_non_null(strstr(why, "cannot reach Redis"));
}

static void test_no_such_database(void **state)
{
    struct fix *f = *state;
    struct redis_url u = url_of(f);
    char why[512];

    u.db = 9999;
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        -EINVAL);
    print_message("%s\n", why);
    assert_non_null(strstr(why, "no database 9999"));
    u.db = 3;
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        0);
}

static void test_durability_refused(void **state)
{
    struct fix *f = *state;
    struct redis_url u = url_of(f);
    char why[512];

    command(f->c, "CONFIG SET appendfsync %s", "everysec");
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        -EPERM);
    print_message("%s\n", why);
    assert_non_null(strstr(why, "set appendfsync always"));
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_RELAXED, 2000, why, sizeof(why)),
        0);
    assert_non_null(strstr(why, "second or two"));
    command(f->c, "CONFIG SET appendfsync %s", "always");
}

static void test_password(void **state)
{
    struct fix *f = *state;
    struct redis_url u = url_of(f);
    char why[512];

    command(f->c, "CONFIG SET requirepass %s", "s3cret");
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        -EACCES);
    print_message("%s\n", why);
    assert_non_null(strstr(why, "redis://:PASSWORD@HOST"));
    snprintf(u.password, sizeof(u.password), "wrong");
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        -EACCES);
    print_message("%s\n", why);
    assert_non_null(strstr(why, "refused the password"));
    snprintf(u.password, sizeof(u.password), "s3cret");
    assert_int_equal(
        redis_preflight(&u, REDIS_DURABILITY_STRICT, 2000, why, sizeof(why)),
        0);
    command(f->c, "AUTH %s", "s3cret");
    command(f->c, "CONFIG SET requirepass %s", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_start_loads_the_library),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_no_such_database),
        cmocka_unit_test(test_durability_refused),
        cmocka_unit_test(test_password),
    };

    return cmocka_run_group_tests(tests, redis_fix_setup, redis_fix_teardown);
}
