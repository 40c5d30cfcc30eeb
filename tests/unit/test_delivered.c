/*
 * test_delivered.c: a connection's record of the seqs it was sent per
 * topic (server/delivered.c): runs extend and join, out-of-order seqs
 * (a retained copy, then a replay of older ones) are kept, the unseen
 * bounds a replay uses skip what was sent, one run too many joins the
 * closest two, forgetting starts afresh, and all of it survives the
 * table growing and being rebuilt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "delivered.h"

/* Note seqs that are all new. */
static void note_all(struct delivered **d, const void *t, const int64_t *seqs,
                     size_t n)
{
    size_t i = 0;

    for (i = 0; i < n; i++)
        assert_int_equal(delivered_note(d, t, seqs[i]), 1);
}

static void test_runs_extend_and_join(void **state)
{
    struct delivered *d = NULL;
    int a = 0;
    int b = 0;
    const int64_t seqs[] = {5, 6, 7, 3, 9, 8};

    (void)state;
    assert_false(delivered_has(d, &a, 1));
    assert_int_equal(delivered_count(d), 0);
    note_all(&d, &a, seqs, 3);
    assert_int_equal(delivered_runs(d, &a), 1);
    assert_true(delivered_has(d, &a, 5));
    assert_true(delivered_has(d, &a, 7));
    assert_false(delivered_has(d, &a, 4));
    assert_false(delivered_has(d, &a, 8));
    assert_false(delivered_has(d, &b, 5));
    /* 3 is a run of its own; 9 another; 8 joins 5..7 and 9. */
    note_all(&d, &a, seqs + 3, 2);
    assert_int_equal(delivered_runs(d, &a), 3);
    note_all(&d, &a, seqs + 5, 1);
    assert_int_equal(delivered_runs(d, &a), 2);
    assert_true(delivered_has(d, &a, 9));
    /* 4 joins 3 and 5..9 into one. */
    assert_int_equal(delivered_note(&d, &a, 4), 1);
    assert_int_equal(delivered_runs(d, &a), 1);
    /* noting a seq again changes nothing, and says so */
    assert_int_equal(delivered_note(&d, &a, 6), 0);
    assert_int_equal(delivered_note(&d, &a, 3), 0);
    assert_int_equal(delivered_note(&d, &a, 9), 0);
    assert_int_equal(delivered_runs(d, &a), 1);
    assert_false(delivered_has(d, &a, 2));
    assert_false(delivered_has(d, &a, 10));
    assert_int_equal(delivered_count(d), 1);
    delivered_free(&d);
    assert_null(d);
}

/* The bounds a since/history replay asks for: 1 retained, 2 live, then
 * since:0 wants 1..2 and gets nothing; a gap 3..4 is what it gets. */
static void test_unseen_bounds(void **state)
{
    struct delivered *d = NULL;
    int a = 0;
    const int64_t seqs[] = {1, 2, 5, 6};

    (void)state;
    assert_int_equal(delivered_next_unseen(d, &a, 1), 1);
    assert_int_equal(delivered_prev_unseen(d, &a, 7), 7);
    note_all(&d, &a, seqs, 2);
    assert_int_equal(delivered_next_unseen(d, &a, 1), 3);
    assert_int_equal(delivered_prev_unseen(d, &a, 2), 0);
    note_all(&d, &a, seqs + 2, 2);
    assert_int_equal(delivered_next_unseen(d, &a, 1), 3);
    assert_int_equal(delivered_next_unseen(d, &a, 5), 7);
    assert_int_equal(delivered_prev_unseen(d, &a, 6), 4);
    assert_int_equal(delivered_prev_unseen(d, &a, 8), 8);
    assert_int_equal(delivered_prev_unseen(d, &a, 0), 0);
    delivered_free(&d);
}

/* Past DELIVERED_RUNS_MAX the two closest runs join: every seq noted is
 * still recorded (at most once holds), the gap between them too. */
static void test_too_many_runs_join_closest(void **state)
{
    struct delivered *d = NULL;
    int a = 0;
    const int64_t seqs[] = {10, 20, 22, 40, 60};
    size_t i = 0;

    (void)state;
    assert_int_equal(DELIVERED_RUNS_MAX, 4);
    note_all(&d, &a, seqs, 5);
    assert_int_equal(delivered_runs(d, &a), 4);
    for (i = 0; i < 5; i++)
        assert_true(delivered_has(d, &a, seqs[i]));
    assert_true(delivered_has(d, &a, 21));   /* 20 and 22 joined */
    assert_false(delivered_has(d, &a, 30));
    assert_false(delivered_has(d, &a, 11));
    assert_false(delivered_has(d, &a, 50));
    delivered_free(&d);
}

static bool drop_odd(void *arg, const void *topic)
{
    const char *base = arg;

    return ((const char *)topic - base) % 2 == 1;
}

/* Forgetting one topic or many: a fresh record after, others intact. */
static void test_forget(void **state)
{
    static char topics[64];
    struct delivered *d = NULL;
    int i = 0;

    (void)state;
    delivered_forget(d, &topics[0]);
    for (i = 0; i < 64; i++)
        assert_int_equal(delivered_note(&d, &topics[i], 7), 1);
    delivered_forget(d, &topics[0]);
    assert_false(delivered_has(d, &topics[0], 7));
    assert_int_equal(delivered_count(d), 63);
    delivered_forget_if(d, drop_odd, topics);
    assert_int_equal(delivered_count(d), 31);
    for (i = 1; i < 64; i++)
        assert_int_equal(delivered_has(d, &topics[i], 7), i % 2 == 0);
    /* a forgotten topic records afresh */
    assert_int_equal(delivered_note(&d, &topics[1], 7), 1);
    assert_int_equal(delivered_note(&d, &topics[1], 9), 1);
    assert_true(delivered_has(d, &topics[1], 9));
    assert_false(delivered_has(d, &topics[1], 8));
    delivered_free(&d);
}

/* Many topics, and forgetting and recording in turn: every record still
 * found after the table has grown and been rebuilt. */
static void test_many_topics(void **state)
{
    static char topics[5000];
    struct delivered *d = NULL;
    int i = 0;
    int round = 0;

    (void)state;
    for (i = 0; i < 5000; i++) {
        assert_int_equal(delivered_note(&d, &topics[i], i + 1), 1);
        assert_int_equal(delivered_note(&d, &topics[i], i + 2), 1);
    }
    assert_int_equal(delivered_count(d), 5000);
    for (i = 0; i < 5000; i++) {
        assert_true(delivered_has(d, &topics[i], i + 1));
        assert_true(delivered_has(d, &topics[i], i + 2));
        assert_false(delivered_has(d, &topics[i], i + 3));
        assert_int_equal(delivered_runs(d, &topics[i]), 1);
    }
    for (round = 0; round < 20; round++) {
        for (i = 0; i < 5000; i += 2)
            delivered_forget(d, &topics[i]);
        for (i = 0; i < 5000; i += 2)
            assert_int_equal(delivered_note(&d, &topics[i], round + 1), 1);
    }
    assert_int_equal(delivered_count(d), 5000);
    for (i = 0; i < 5000; i++)
        assert_true(delivered_has(d, &topics[i], i % 2 ? i + 1 : 20));
    delivered_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_extend_and_join),
        cmocka_unit_test(test_unseen_bounds),
        cmocka_unit_test(test_too_many_runs_join_closest),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_many_topics),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
