/*
 * test_redis_gap.c: the gap rule, case by case: in order, stale, a gap and
 * its fill, messages heard during a fill, a fill cut by its limit, history
 * trimmed away, a failed fill, and Redis losing the topic (new epoch).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "redis_gap.h"

static struct redis_event msg(uint64_t seq, const char *epoch)
{
    struct redis_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = REDIS_EVENT_MSG;
    ev.seq = seq;
    ev.epoch = epoch;
    ev.epoch_len = strlen(epoch);
    return ev;
}

static enum redis_gap_verdict live(struct redis_gap *g, uint64_t seq,
                                   const char *epoch)
{
    struct redis_event ev = msg(seq, epoch);

    return redis_gap_live(g, &ev);
}

static enum redis_gap_verdict row(struct redis_gap *g, uint64_t seq,
                                  const char *epoch)
{
    struct redis_event ev = msg(seq, epoch);

    return redis_gap_fill_row(g, &ev);
}

static void test_in_order_and_stale(void **state)
{
    struct redis_gap g;

    (void)state;
    redis_gap_init(&g, 5, "e", 1);
    assert_int_equal(live(&g, 6, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(live(&g, 7, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(live(&g, 7, "e"), REDIS_GAP_STALE);
    assert_int_equal(live(&g, 3, "e"), REDIS_GAP_STALE);
    assert_int_equal(g.last, 7);
    assert_false(g.filling);
}

static void test_gap_is_filled_before_newer(void **state)
{
    struct redis_gap g;

    (void)state;
    redis_gap_init(&g, 5, "e", 1);
    assert_int_equal(live(&g, 8, "e"), REDIS_GAP_FILL);
    assert_int_equal(g.last, 5);
    assert_true(g.filling);
    /* Heard while the fill runs: left to the fill. */
    assert_int_equal(live(&g, 9, "e"), REDIS_GAP_WAIT);
    assert_int_equal(live(&g, 6, "e"), REDIS_GAP_WAIT);
    redis_gap_fill_head(&g, 9, "e", 1);
    assert_int_equal(row(&g, 6, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 7, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 8, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 9, "e"), REDIS_GAP_DELIVER);
    assert_false(redis_gap_fill_end(&g));
    /* The late pub/sub copies are stale; the next is live again. */
    assert_int_equal(live(&g, 8, "e"), REDIS_GAP_STALE);
    assert_int_equal(live(&g, 10, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(g.lost, 0);
}

static void test_fill_again_when_cut_or_newer(void **state)
{
    struct redis_gap g;

    (void)state;
    redis_gap_init(&g, 0, "e", 1);
    assert_int_equal(live(&g, 3, "e"), REDIS_GAP_FILL);
    /* The reply is cut by its limit at 2 of 3. */
    redis_gap_fill_head(&g, 3, "e", 1);
    assert_int_equal(row(&g, 1, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 2, "e"), REDIS_GAP_DELIVER);
    assert_true(redis_gap_fill_end(&g));
    assert_true(g.filling);
    /* The second fill reads 3; 4 was heard meanwhile, published after
     * the read: a third fill. */
    assert_int_equal(live(&g, 4, "e"), REDIS_GAP_WAIT);
    redis_gap_fill_head(&g, 3, "e", 1);
    assert_int_equal(row(&g, 3, "e"), REDIS_GAP_DELIVER);
    assert_true(redis_gap_fill_end(&g));
    redis_gap_fill_head(&g, 4, "e", 1);
    assert_int_equal(row(&g, 4, "e"), REDIS_GAP_DELIVER);
    assert_false(redis_gap_fill_end(&g));
    assert_int_equal(g.last, 4);
}

static void test_trimmed_history_counts_loss(void **state)
{
    struct redis_gap g;

    (void)state;
    redis_gap_init(&g, 2, "e", 1);
    assert_int_equal(live(&g, 10, "e"), REDIS_GAP_FILL);
    /* Only 8.. is still stored. */
    redis_gap_fill_head(&g, 10, "e", 1);
    assert_int_equal(row(&g, 8, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(g.lost, 5);
    assert_int_equal(row(&g, 9, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 10, "e"), REDIS_GAP_DELIVER);
    assert_false(redis_gap_fill_end(&g));
    /* Nothing stored after last at all: no endless fills. */
    redis_gap_init(&g, 2, "e", 1);
    assert_int_equal(live(&g, 4, "e"), REDIS_GAP_FILL);
    redis_gap_fill_head(&g, 4, "e", 1);
    assert_false(redis_gap_fill_end(&g));
    assert_int_equal(g.last, 4);
    assert_int_equal(g.lost, 2);
}

static void test_failed_fill_and_reconnect(void **state)
{
    struct redis_gap g;

    (void)state;
    redis_gap_init(&g, 1, "e", 1);
    assert_int_equal(live(&g, 3, "e"), REDIS_GAP_FILL);
    redis_gap_fill_failed(&g);
    assert_false(g.filling);
    /* The reconnect fills every active topic. */
    assert_true(redis_gap_fill_begin(&g));
    assert_false(redis_gap_fill_begin(&g));
    redis_gap_fill_head(&g, 3, "e", 1);
    assert_int_equal(row(&g, 2, "e"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 3, "e"), REDIS_GAP_DELIVER);
    assert_false(redis_gap_fill_end(&g));
    /* A reconnect fill that finds nothing new changes nothing. */
    assert_true(redis_gap_fill_begin(&g));
    redis_gap_fill_head(&g, 3, "e", 1);
    assert_false(redis_gap_fill_end(&g));
    assert_int_equal(g.last, 3);
    assert_int_equal(g.lost, 0);
}

static void test_new_epoch_starts_over(void **state)
{
    struct redis_gap g;

    (void)state;
    /* A topic with no epoch yet adopts the first one it sees. */
    redis_gap_init(&g, 0, "", 0);
    assert_int_equal(live(&g, 1, "old"), REDIS_GAP_DELIVER);
    assert_int_equal(g.epoch_changes, 0);
    assert_int_equal(live(&g, 2, "old"), REDIS_GAP_DELIVER);
    /* Redis restarted empty: seq 1 of the new epoch is new, not stale. */
    assert_int_equal(live(&g, 1, "new"), REDIS_GAP_DELIVER);
    assert_int_equal(g.epoch_changes, 1);
    assert_string_equal(g.epoch, "new");
    assert_int_equal(g.last, 1);
    /* Found by a fill's head instead. */
    redis_gap_init(&g, 7, "new", 3);
    assert_true(redis_gap_fill_begin(&g));
    redis_gap_fill_head(&g, 2, "newer", 5);
    assert_int_equal(g.last, 0);
    assert_int_equal(row(&g, 1, "newer"), REDIS_GAP_DELIVER);
    assert_int_equal(row(&g, 2, "newer"), REDIS_GAP_DELIVER);
    assert_false(redis_gap_fill_end(&g));
    assert_int_equal(g.epoch_changes, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_stale),
        cmocka_unit_test(test_gap_is_filled_before_newer),
        cmocka_unit_test(test_fill_again_when_cut_or_newer),
        cmocka_unit_test(test_trimmed_history_counts_loss),
        cmocka_unit_test(test_failed_fill_and_reconnect),
        cmocka_unit_test(test_new_epoch_starts_over),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
