/*
 * test_ready.c: readiness (server/ready.c) from its reports: the store's
 * pending writes against their bound, the storage link hook, draining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ready.h"

static void test_ready(void **state)
{
    struct ready r;
    char why[128] = "";

    (void)state;
    ready_init(&r);
    assert_true(ready_check(&r, 0, 10, why, sizeof(why)));
    assert_true(ready_check(&r, 9, 10, why, sizeof(why)));
    /* at the bound, publishes are refused: not ready */
    assert_false(ready_check(&r, 10, 10, why, sizeof(why)));
    assert_string_equal(why, "store behind: 10 writes pending, bound 10");

    ready_set_link_down(&r, "redis unreachable");
    assert_false(ready_check(&r, 0, 10, why, sizeof(why)));
    assert_string_equal(why, "storage unreachable: redis unreachable");
    ready_set_link_down(&r, NULL);
    assert_true(ready_check(&r, 0, 10, why, sizeof(why)));

    ready_set_draining(&r, true);
    assert_false(ready_check(&r, 0, 10, why, sizeof(why)));
    assert_string_equal(why, "shutting down");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
