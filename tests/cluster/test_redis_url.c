/*
 * test_redis_url.c: the --redis URL, table-driven: what parses to what, and
 * what is refused (with a reason).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "redis_url.h"

struct good {
    const char *text;
    const char *host;
    int port;
    const char *user;
    const char *password;
    int db;
};

static const struct good goods[] = {
    {"redis://localhost", "localhost", 6379, "", "", 0},
    {"redis://127.0.0.1:7000", "127.0.0.1", 7000, "", "", 0},
    {"redis://127.0.0.1:7000/3", "127.0.0.1", 7000, "", "", 3},
    {"redis://127.0.0.1:7000/", "127.0.0.1", 7000, "", "", 0},
    {"redis://:s3cret@db.example:6380/1", "db.example", 6380, "", "s3cret", 1},
    {"redis://parley:pw@h:1", "h", 1, "parley", "pw", 0},
    {"redis://:p%40ss%3Aw@h", "h", 6379, "", "p@ss:w", 0},
    {"redis://:a@b@h:2", "h", 2, "", "a@b", 0},
    {"redis://[::1]:6390/2", "::1", 6390, "", "", 2},
    {"redis://[::1]", "::1", 6379, "", "", 0},
    {"redis://h:65535/9999", "h", 65535, "", "", 9999},
};

static const char *const bads[] = {
    NULL,
    "",
    "localhost:6379",
    "http://h:1",
    "redis://",
    "redis://:1",
    "redis://h:0",
    "redis://h:65536",
    "redis://h:12x",
    "redis://h:",
    "redis://h/abc",
    "redis://h/10000",
    "redis://h/-1",
    "redis://h?db=1",
    "redis://h#x",
    "redis://pw@h",
    "redis://:@h",
    "redis://:%zz@h",
    "redis://:%00@h",
    "redis://:%4@h",
    "redis://[::1",
    "redis://[]:1",
    "redis://[::1]x",
    "redis://h h",
    "redis://h:1:2",
};

static void test_good(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        struct redis_url u;
        char why[128] = "";

        print_message("%s\n", goods[i].text);
        assert_int_equal(redis_url_parse(goods[i].text, &u, why, sizeof(why)),
                         0);
        assert_string_equal(u.host, goods[i].host);
        assert_int_equal(u.port, goods[i].port);
        assert_string_equal(u.user, goods[i].user);
        assert_string_equal(u.password, goods[i].password);
        assert_int_equal(u.db, goods[i].db);
    }
}

static void test_bad(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct redis_url u;
        char why[160] = "";

        memset(&u, 0x5a, sizeof(u));
        print_message("%s\n", bads[i] != NULL ? bads[i] : "(null)");
        assert_int_equal(redis_url_parse(bads[i], &u, why, sizeof(why)),
                         -EINVAL);
        assert_true(strlen(why) > 10);
        /* Nothing is written on failure. */
        assert_int_equal((unsigned char)u.host[0], 0x5a);
    }
}

static void test_too_long(void **state)
{
    char text[700];
    char why[128];
    struct redis_url u;

    (void)state;
    strcpy(text, "redis://");
    memset(text + 8, 'a', 300);
    text[308] = '\0';
    assert_int_equal(redis_url_parse(text, &u, why, sizeof(why)), -EINVAL);
    strcpy(text, "redis://:");
    memset(text + 9, 'p', 300);
    strcpy(text + 309, "@h");
    assert_int_equal(redis_url_parse(text, &u, why, sizeof(why)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_too_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
