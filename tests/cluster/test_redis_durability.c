/*
 * test_redis_durability.c: the table that decides whether a node may start
 * with Redis's AOF settings, and that a refusal names the setting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "redis_durability.h"

struct row {
    enum redis_durability want;
    const char *appendonly;
    const char *appendfsync;
    int rc;
    const char *says; /* a phrase the message must hold */
};

static const struct row rows[] = {
    {REDIS_DURABILITY_STRICT, "yes", "always", 0, "always"},
    {REDIS_DURABILITY_STRICT, "yes", "everysec", -EPERM, "appendfsync always"},
    {REDIS_DURABILITY_STRICT, "yes", "no", -EPERM, "appendfsync always"},
    {REDIS_DURABILITY_STRICT, "no", "always", -EPERM,
     "appendonly yes and appendfsync always"},
    {REDIS_DURABILITY_STRICT, "no", "everysec", -EPERM, "appendonly yes"},
    {REDIS_DURABILITY_STRICT, NULL, NULL, -EPERM, "appendonly yes"},
    {REDIS_DURABILITY_RELAXED, "yes", "always", 0, "as safe"},
    {REDIS_DURABILITY_RELAXED, "yes", "everysec", 0, "second or two"},
    {REDIS_DURABILITY_RELAXED, "yes", "no", -EPERM, "appendfsync everysec"},
    {REDIS_DURABILITY_RELAXED, "no", "everysec", -EPERM, "appendonly yes"},
    {REDIS_DURABILITY_NONE, "no", "everysec", 0, "loses every message"},
    {REDIS_DURABILITY_NONE, "yes", "no", 0, "do not wait"},
    {REDIS_DURABILITY_NONE, "YES", "ALWAYS", 0, "do not wait"},
    {REDIS_DURABILITY_STRICT, "YES", "ALWAYS", 0, "always"},
};

static void test_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char why[512] = "";
        int rc = redis_durability_decide(rows[i].want, rows[i].appendonly,
                                         rows[i].appendfsync, why, sizeof(why));

        print_message("%s %s/%s: %d %s\n", redis_durability_name(rows[i].want),
                      rows[i].appendonly ? rows[i].appendonly : "-",
                      rows[i].appendfsync ? rows[i].appendfsync : "-", rc, why);
        assert_int_equal(rc, rows[i].rc);
        assert_non_null(strstr(why, rows[i].says));
    }
}

static void test_parse(void **state)
{
    enum redis_durability d = REDIS_DURABILITY_NONE;

    (void)state;
    assert_int_equal(redis_durability_parse("strict", &d), 0);
    assert_int_equal(d, REDIS_DURABILITY_STRICT);
    assert_int_equal(redis_durability_parse("relaxed", &d), 0);
    assert_int_equal(d, REDIS_DURABILITY_RELAXED);
    assert_int_equal(redis_durability_parse("none", &d), 0);
    assert_int_equal(d, REDIS_DURABILITY_NONE);
    assert_int_equal(redis_durability_parse("Strict", &d), -EINVAL);
    assert_int_equal(redis_durability_parse("", &d), -EINVAL);
    assert_int_equal(redis_durability_parse(NULL, &d), -EINVAL);
    assert_int_equal(d, REDIS_DURABILITY_NONE);
    assert_string_equal(redis_durability_name(REDIS_DURABILITY_RELAXED),
                        "relaxed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
