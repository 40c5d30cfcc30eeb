/*
 * test_delivered.c: a connection's table of live-delivered seq runs
 * (server/delivered.c): runs extend, restart after a gap, ignore old
 * seqs, and survive the table growing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "delivered.h"

static void test_runs(void **state)
{
    struct delivered *d = NULL;
    int a = 0;
    int b = 0;
    const struct delivered_run *r = NULL;

    (void)state;
    assert_null(delivered_find(d, &a));
    assert_int_equal(delivered_count(d), 0);
    assert_int_equal(delivered_note(&d, &a, 5), 0);
    assert_int_equal(delivered_note(&d, &a, 6), 0);
    assert_int_equal(delivered_note(&d, &a, 7), 0);
    r = delivered_find(d, &a);
    assert_non_null(r);
    assert_int_equal(r->first, 5);
    assert_int_equal(r->last, 7);
    assert_null(delivered_find(d, &b));
    /* an old seq changes nothing; a gap starts a new run */
    assert_int_equal(delivered_note(&d, &a, 6), 0);
    assert_int_equal(delivered_find(d, &a)->last, 7);
    assert_int_equal(delivered_note(&d, &a, 10), 0);
    r = delivered_find(d, &a);
    assert_int_equal(r->first, 10);
    assert_int_equal(r->last, 10);
    assert_int_equal(delivered_count(d), 1);
    delivered_free(&d);
    assert_null(d);
}

/* Many topics: every run still found after the table has grown. */
static void test_many_topics(void **state)
{
    static char topics[5000];
    struct delivered *d = NULL;
    int i = 0;

    (void)state;
    for (i = 0; i < 5000; i++) {
        assert_int_equal(delivered_note(&d, &topics[i], i + 1), 0);
        assert_int_equal(delivered_note(&d, &topics[i], i + 2), 0);
    }
    assert_int_equal(delivered_count(d), 5000);
    for (i = 0; i < 5000; i++) {
        const struct delivered_run *r = delivered_find(d, &topics[i]);

        assert_non_null(r);
        assert_ptr_equal(r->topic, &topics[i]);
        assert_int_equal(r->first, i + 1);
        assert_int_equal(r->last, i + 2);
    }
    delivered_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_many_topics),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
