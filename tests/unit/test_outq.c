/*
 * test_outq.c: the per-connection ring of message pointers: FIFO order,
 * growth while the ring is wrapped, byte accounting (placeholders too),
 * shrinking when drained, and reference counting (msg_live_count() is
 * back to 0 after every test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "msg.h"
#include "outq.h"

/* A message whose payload is {"op":"t","n":<n>} padded to at least pad
 * bytes; its seq is n so order can be checked. */
static struct msg *test_msg(int64_t n, size_t pad)
{
    struct pl_buf b;
    struct msg *m = NULL;
    char filler[512];

    assert_true(pad < sizeof(filler));
    memset(filler, 'x', pad);
    filler[pad] = '\0';
    assert_int_equal(pl_buf_init(&b, 64), 0);
    pl_frame_begin(&b, "t");
    pl_frame_kv_int(&b, "n", n);
    pl_frame_kv_str(&b, "pad", filler);
    pl_frame_end(&b);
    m = msg_from_buf(&b, n);
    pl_buf_cleanup(&b);
    assert_non_null(m);
    assert_int_equal(m->refs, 1);
    return m;
}

static int setup(void **state)
{
    (void)state;
    return msg_live_count() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return msg_live_count() == 0 ? 0 : -1;
}

static void test_push_pop_order(void **state)
{
    struct outq q;
    struct msg *m = NULL;
    int64_t i;

    (void)state;
    outq_init(&q);
    assert_null(outq_peek(&q));
    assert_int_equal(q.cap, 0);   /* an idle queue allocates nothing */
    assert_null(q.ring);
    for (i = 1; i <= 5; i++) {
        m = test_msg(i, 0);
        assert_int_equal(outq_push(&q, m), 0);
        assert_int_equal(m->refs, 2); /* the queue's and ours */
        msg_unref(&m);
        assert_null(m);
    }
    assert_int_equal(q.count, 5);
    assert_int_equal(msg_live_count(), 5);
    for (i = 1; i <= 5; i++) {
        assert_int_equal(outq_at(&q, (uint32_t)(i - 1))->seq, i);
    }
    for (i = 1; i <= 5; i++) {
        assert_int_equal(outq_peek(&q)->seq, i);
        outq_pop(&q);
        assert_int_equal(msg_live_count(), (uint64_t)(5 - i));
    }
    assert_null(outq_peek(&q));
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    outq_cleanup(&q);
}

/* Keep the ring wrapped (head in the middle) when it has to grow: the
 * entries must come out in push order across every doubling. */
static void test_growth_across_wrap(void **state)
{
    struct outq q;
    struct msg *m = NULL;
    int64_t next_in = 1;
    int64_t next_out = 1;
    int round;

    (void)state;
    outq_init(&q);
    for (round = 0; round < 12; round++) {
        int k;
        int pushes = 3 + round * 3;
        int pops = 2 + round;

        for (k = 0; k < pushes; k++) {
            m = test_msg(next_in++, 0);
            assert_int_equal(outq_push(&q, m), 0);
            msg_unref(&m);
        }
        /* cap is a power of two and holds everything */
        assert_true(q.cap >= q.count);
        assert_int_equal(q.cap & (q.cap - 1), 0);
        for (k = 0; k < pops; k++) {
            assert_int_equal(outq_peek(&q)->seq, next_out);
            next_out++;
            outq_pop(&q);
        }
        if (round == 1)
            assert_true(q.head != 0); /* really wrapped */
    }
    for (; next_out < next_in; next_out++) {
        uint32_t i;

        /* outq_at agrees with pop order everywhere in the ring */
        for (i = 0; i < q.count; i++)
            assert_int_equal(outq_at(&q, i)->seq, next_out + i);
        assert_int_equal(outq_peek(&q)->seq, next_out);
        outq_pop(&q);
    }
    assert_int_equal(q.count, 0);
    assert_int_equal(msg_live_count(), 0);
    outq_cleanup(&q);
}

/* A small wrapped ring growing exactly when head != 0. */
static void test_grow_when_full_and_wrapped(void **state)
{
    struct outq q;
    struct msg *m = NULL;
    int64_t i;

    (void)state;
    outq_init(&q);
    for (i = 1; i <= 8; i++) {
        m = test_msg(i, 0);
        assert_int_equal(outq_push(&q, m), 0);
        msg_unref(&m);
    }
    assert_int_equal(q.cap, 8);
    for (i = 1; i <= 5; i++)
        outq_pop(&q);
    for (i = 9; i <= 13; i++) { /* fills the ring again, wrapped */
        m = test_msg(i, 0);
        assert_int_equal(outq_push(&q, m), 0);
        msg_unref(&m);
    }
    assert_int_equal(q.count, 8);
    assert_int_equal(q.cap, 8);
    assert_int_equal(q.head, 5);
    m = test_msg(14, 0); /* forces a grow of a wrapped, full ring */
    assert_int_equal(outq_push(&q, m), 0);
    msg_unref(&m);
    assert_int_equal(q.cap, 16);
    for (i = 6; i <= 14; i++) {
        assert_int_equal(outq_peek(&q)->seq, i);
        outq_pop(&q);
    }
    outq_cleanup(&q);
    assert_int_equal(msg_live_count(), 0);
}

static void test_byte_accounting(void **state)
{
    struct outq q;
    struct msg *a = test_msg(1, 10);
    struct msg *b = test_msg(2, 300); /* a 4-byte WebSocket header */
    struct msg *ph = msg_placeholder();
    struct pl_buf buf;
    size_t expect = 0;

    (void)state;
    assert_non_null(ph);
    assert_true(ph->placeholder);
    assert_int_equal(ph->len, 0);
    outq_init(&q);
    assert_int_equal(outq_push(&q, a), 0);
    expect += a->len;
    assert_int_equal(q.bytes, expect);
    assert_int_equal(outq_push_paced(&q, ph), 0);
    assert_int_equal(q.bytes, expect); /* a placeholder weighs nothing */
    assert_int_equal(outq_push(&q, b), 0);
    expect += b->len;
    assert_int_equal(q.bytes, expect);
    assert_int_equal(outq_push(&q, a), 0); /* the same msg twice */
    expect += a->len;
    assert_int_equal(q.bytes, expect);
    assert_int_equal(a->refs, 3);

    /* The placeholder is filled later: its bytes are added then. */
    assert_int_equal(pl_buf_init(&buf, 64), 0);
    pl_frame_begin(&buf, "ok");
    pl_frame_id(&buf, 9);
    pl_frame_end(&buf);
    assert_int_equal(msg_fill(ph, &buf), 0);
    pl_buf_cleanup(&buf);
    assert_false(ph->placeholder);
    outq_add_paced_bytes(&q, ph->len);
    expect += ph->len;
    assert_int_equal(q.bytes, expect);
    /* A filled reply is paced: it never counts toward the bound. */
    assert_int_equal(q.paced_bytes, ph->len);
    assert_int_equal(outq_live_bytes(&q), expect - ph->len);

    outq_pop(&q);
    expect -= a->len;
    assert_int_equal(q.bytes, expect);
    outq_pop(&q); /* the filled placeholder */
    expect -= ph->len;
    assert_int_equal(q.bytes, expect);
    assert_int_equal(q.paced_bytes, 0);
    outq_pop(&q);
    expect -= b->len;
    assert_int_equal(q.bytes, expect);
    outq_pop(&q);
    assert_int_equal(q.bytes, 0);
    assert_int_equal(a->refs, 1);
    msg_unref(&a);
    msg_unref(&b);
    msg_unref(&ph);
    outq_cleanup(&q);
    assert_int_equal(msg_live_count(), 0);
}

/* cleanup drops one reference per entry, however often a msg is queued;
 * messages still referenced elsewhere survive it. */
static void test_cleanup_drops_refs(void **state)
{
    struct outq q;
    struct outq q2;
    struct msg *keep = test_msg(1, 0);
    struct msg *m = NULL;
    int i;

    (void)state;
    outq_init(&q);
    outq_init(&q2);
    for (i = 0; i < 100; i++) {
        m = test_msg(i + 2, 0);
        assert_int_equal(outq_push(&q, m), 0);
        assert_int_equal(outq_push(&q2, m), 0); /* shared by two queues */
        msg_unref(&m);
        assert_int_equal(outq_push(&q, keep), 0);
    }
    assert_int_equal(keep->refs, 101);
    assert_int_equal(msg_live_count(), 101);
    outq_cleanup(&q);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_null(q.ring);
    assert_int_equal(keep->refs, 1);
    assert_int_equal(msg_live_count(), 101); /* q2 still holds 100 */
    outq_cleanup(&q2);
    assert_int_equal(msg_live_count(), 1);
    msg_unref(&keep);
    assert_int_equal(msg_live_count(), 0);
    /* a small ring (kept when drained by pops) is freed by cleanup */
    m = test_msg(1, 0);
    assert_int_equal(outq_push(&q, m), 0);
    assert_int_equal(outq_push(&q, m), 0);
    outq_pop(&q);
    assert_int_equal(q.cap, 8);
    outq_cleanup(&q);
    assert_null(q.ring);
    assert_int_equal(q.cap, 0);
    assert_int_equal(q.count, 0);
    assert_int_equal(m->refs, 1);
    msg_unref(&m);
    /* cleanup of an empty, never used queue is harmless, twice */
    outq_cleanup(&q);
    outq_cleanup(&q);
}

/* A big ring that drains gives its memory back; a small one is kept. */
static void test_shrink_when_drained(void **state)
{
    struct outq q;
    struct msg *m = test_msg(1, 0);
    int i;

    (void)state;
    outq_init(&q);
    for (i = 0; i < 8; i++)
        assert_int_equal(outq_push(&q, m), 0);
    while (q.count > 0)
        outq_pop(&q);
    assert_int_equal(q.cap, 8);
    for (i = 0; i < 1000; i++)
        assert_int_equal(outq_push(&q, m), 0);
    assert_int_equal(q.cap, 1024);
    assert_int_equal(q.bytes, (size_t)1000 * m->len);
    while (q.count > 0)
        outq_pop(&q);
    assert_int_equal(q.cap, 0);
    assert_null(q.ring);
    assert_int_equal(q.bytes, 0);
    /* and it works again from nothing */
    assert_int_equal(outq_push(&q, m), 0);
    assert_ptr_equal(outq_peek(&q), m);
    outq_cleanup(&q);
    assert_int_equal(m->refs, 1);
    msg_unref(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_pop_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growth_across_wrap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grow_when_full_and_wrapped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_accounting, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_drops_refs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shrink_when_drained, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
