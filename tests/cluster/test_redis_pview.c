/*
 * test_redis_pview.c: the presence view of a node's subscribers, case by
 * case: the first read tells nothing (they asked for the members), a read
 * after missed events tells exactly the difference, and events heard
 * while a read is in flight are neither lost nor told twice, whether they
 * happened before or after the read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "redis_pview.h"

struct told {
    char log[256];
};

static void tell(void *ud, const char *user, bool join)
{
    struct told *t = ud;
    size_t n = strlen(t->log);

    snprintf(t->log + n, sizeof(t->log) - n, "%s%c%s", n > 0 ? " " : "",
             join ? '+' : '-', user);
}

static void read_as(struct redis_pview *v, struct told *t,
                    const char *const *users, size_t n)
{
    assert_int_equal(redis_pview_read_done(v, users, n, tell, t), 0);
}

static void test_first_read_tells_nothing(void **state)
{
    struct redis_pview v;
    struct told t = {""};
    static const char *const now[] = {"bob", "alice", "bob"};

    (void)state;
    redis_pview_init(&v);
    assert_true(redis_pview_due(&v));
    redis_pview_read_begin(&v);
    assert_false(redis_pview_due(&v));
    read_as(&v, &t, now, 3);
    assert_string_equal(t.log, "");
    assert_int_equal(v.n, 2); /* one member per user */
    assert_false(redis_pview_due(&v));
    redis_pview_clear(&v);
}

static void test_missed_events_told_once(void **state)
{
    struct redis_pview v;
    struct told t = {""};
    static const char *const before[] = {"alice", "carol"};
    static const char *const after[] = {"alice", "dave", "erin"};

    (void)state;
    redis_pview_init(&v);
    redis_pview_read_begin(&v);
    read_as(&v, &t, before, 2);
    assert_int_equal(redis_pview_heard(&v, "erin", true), 0); /* live */
    v.stale = true; /* the link was lost */
    assert_true(redis_pview_due(&v));
    redis_pview_read_begin(&v);
    read_as(&v, &t, after, 3);
    assert_string_equal(t.log, "-carol +dave"); /* erin was told live */
    /* nothing changed: a read tells nothing */
    t.log[0] = '\0';
    v.stale = true;
    redis_pview_read_begin(&v);
    read_as(&v, &t, after, 3);
    assert_string_equal(t.log, "");
    redis_pview_clear(&v);
}

/* The read answered {alice} at some instant; bob's join and alice's leave
 * were heard while it was in flight: the last event per user wins. */
static void test_events_during_read(void **state)
{
    struct redis_pview v;
    struct told t = {""};
    static const char *const first[] = {"alice", "zed"};
    static const char *const snap[] = {"alice"};

    (void)state;
    redis_pview_init(&v);
    redis_pview_read_begin(&v);
    read_as(&v, &t, first, 2);
    v.stale = true;
    redis_pview_read_begin(&v);
    assert_int_equal(redis_pview_heard(&v, "bob", true), 0);
    assert_int_equal(redis_pview_heard(&v, "alice", false), 0);
    read_as(&v, &t, snap, 1);
    /* zed left unheard; bob and alice were told live, not again */
    assert_string_equal(t.log, "-zed");
    assert_int_equal(v.n, 1);
    assert_string_equal(v.users[0], "bob");
    redis_pview_clear(&v);
}

static void test_failed_read_stays_due(void **state)
{
    struct redis_pview v;

    (void)state;
    redis_pview_init(&v);
    redis_pview_read_begin(&v);
    redis_pview_read_failed(&v);
    assert_true(redis_pview_due(&v));
    assert_false(v.known);
    redis_pview_clear(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_read_tells_nothing),
        cmocka_unit_test(test_missed_events_told_once),
        cmocka_unit_test(test_events_during_read),
        cmocka_unit_test(test_failed_read_stays_due),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
