/*
 * test_hub_out.c: the hub's writing API (server/hub_out.c), as the
 * WebSocket transport uses it: hub_conn_take hands out whole frames up to
 * a cap (or one big frame in place), stops at a reply still waiting for
 * the store, and ends the wake-up episode; hub_conn_wrote drops what was
 * written and says whether the transport must ask to write again. Driven
 * through the fake transport and store of hub_fake.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hub_fake.h"

static struct conn *open_hello(struct fake *f)
{
    struct hub_config cfg;
    struct conn *c = NULL;

    fake_config(&cfg);
    fake_init(f, &cfg);
    c = fake_open(f);
    fake_send(f, c, "{\"op\":\"hello\",\"id\":1,\"name\":\"w\"}");
    fake_drain(f, c);
    expect_empty(c);
    return c;
}

static void ping(struct fake *f, struct conn *c, int id)
{
    fake_send(f, c, "{\"op\":\"ping\",\"id\":%d}", id);
}

/* Three replies fit a large cap: one take, one write, nothing left. */
static void test_take_coalesces(void **state)
{
    struct fake *f = *state;
    struct conn *c = open_hello(f);
    unsigned char buf[4096];
    struct hub_out out;
    size_t sum = 0;
    uint32_t i = 0;

    for (i = 0; i < 3; i++)
        ping(f, c, 10 + (int)i);
    assert_int_equal(hub_conn_queued(c), 3);
    for (i = 0; i < 3; i++)
        sum += outq_at(&c->q, i)->len;
    assert_int_equal(hub_conn_take(f->hub, c, buf, sizeof(buf), &out), 1);
    assert_int_equal(out.frames, 3);
    assert_int_equal(out.len, sum);
    assert_ptr_equal(out.data, buf);
    assert_memory_equal(buf, outq_peek(&c->q)->frame, outq_peek(&c->q)->len);
    /* taking does not dequeue: the frames stay until written */
    assert_int_equal(hub_conn_queued(c), 3);
    assert_false(hub_conn_wrote(f->hub, c, &out));
    assert_int_equal(hub_conn_queued(c), 0);
    fake_cleanup(f);
}

/* A cap of one frame and a half takes one frame; the rest is reported
 * as ready, so the transport asks for a writeable callback. */
static void test_take_cap_and_more(void **state)
{
    struct fake *f = *state;
    struct conn *c = open_hello(f);
    unsigned char buf[4096];
    struct hub_out out;
    size_t cap = 0;

    ping(f, c, 10);
    ping(f, c, 11);
    cap = outq_peek(&c->q)->len + outq_peek(&c->q)->len / 2;
    assert_int_equal(hub_conn_take(f->hub, c, buf, cap, &out), 1);
    assert_int_equal(out.frames, 1);
    assert_true(hub_conn_wrote(f->hub, c, &out));
    assert_int_equal(hub_conn_queued(c), 1);
    /* more is ready, and the transport was told: queueing wakes nobody */
    f->wakes = 0;
    ping(f, c, 12);
    assert_int_equal(f->wakes, 0);
    cJSON_Delete(expect_ok(f, c, 11));
    cJSON_Delete(expect_ok(f, c, 12));
    fake_cleanup(f);
}

/* A frame larger than the cap is handed out in place, alone. */
static void test_take_big_frame_in_place(void **state)
{
    struct fake *f = *state;
    struct conn *c = open_hello(f);
    unsigned char buf[8];
    struct hub_out out;

    ping(f, c, 10);
    ping(f, c, 11);
    assert_int_equal(hub_conn_take(f->hub, c, buf, sizeof(buf), &out), 1);
    assert_int_equal(out.frames, 1);
    assert_ptr_equal(out.data, outq_peek(&c->q)->frame);
    assert_int_equal(out.len, outq_peek(&c->q)->len);
    assert_true(hub_conn_wrote(f->hub, c, &out));
    cJSON_Delete(expect_ok(f, c, 11));
    fake_cleanup(f);
}

/* A reply waiting for the store stops the take; once it is filled, the
 * hub wakes the transport again. */
static void test_take_stops_at_placeholder(void **state)
{
    struct fake *f = *state;
    struct conn *c = open_hello(f);
    unsigned char buf[4096];
    struct hub_out out;

    /* stored before a restart: only the store can answer history */
    fake_store_put(f, "t", 1, "old", "1");
    fake_load_topic(f, "t");
    fake_send(f, c, "{\"op\":\"history\",\"id\":3,\"topic\":\"t\"}");
    ping(f, c, 4);
    assert_true(fake_pending(c));
    assert_int_equal(hub_conn_take(f->hub, c, buf, sizeof(buf), &out), 0);
    assert_int_equal(out.frames, 0);
    assert_int_equal(out.len, 0);
    assert_false(hub_conn_wrote(f->hub, c, &out));
    assert_int_equal(hub_conn_queued(c), 2);
    f->wakes = 0;
    fake_complete_all(f);
    assert_int_equal(f->wakes, 1);
    assert_int_equal(hub_conn_take(f->hub, c, buf, sizeof(buf), &out), 1);
    assert_int_equal(out.frames, 2);
    assert_false(hub_conn_wrote(f->hub, c, &out));
    fake_cleanup(f);
}

/* One wake per episode: queueing again before the transport took the
 * queue does not call ops->wake again; after a take it does. */
static void test_wake_once_per_episode(void **state)
{
    struct fake *f = *state;
    struct conn *c = open_hello(f);
    unsigned char buf[4096];
    struct hub_out out;

    f->wakes = 0;
    ping(f, c, 10);
    ping(f, c, 11);
    assert_int_equal(f->wakes, 1);
    assert_int_equal(hub_conn_take(f->hub, c, buf, sizeof(buf), &out), 1);
    ping(f, c, 12);
    assert_int_equal(f->wakes, 2);
    /* the written two go; the third was queued after the take and stays,
     * and the transport was already woken for it */
    assert_false(hub_conn_wrote(f->hub, c, &out));
    assert_int_equal(hub_conn_queued(c), 1);
    cJSON_Delete(expect_ok(f, c, 12));
    fake_cleanup(f);
}

/* A transport that stops taking for a reason of its own (an MQTT
 * window) while more is ready would not hear of a cull, as the episode
 * is still open; hub_conn_wait closes it, so the cull wakes it. */
static void test_wait_hears_cull(void **state)
{
    struct fake *f = *state;
    struct conn *c = open_hello(f);
    unsigned char buf[4096];
    struct hub_out out;
    unsigned wakes = 0;

    ping(f, c, 10);
    ping(f, c, 11);
    assert_int_equal(hub_conn_take(f->hub, c, buf, sizeof(buf), &out), 1);
    out.frames = 1; /* the transport wrote one and stopped */
    assert_true(hub_conn_wrote(f->hub, c, &out));
    wakes = f->wakes;
    hub_conn_wait(f->hub, c);
    assert_int_equal(f->wakes, wakes);
    hub_conn_kill(f->hub, c, 4008);
    assert_int_equal(f->wakes, wakes + 1);
    fake_cleanup(f);
}

#define OUT_TEST(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, \
                                                     fake_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        OUT_TEST(test_take_coalesces),
        OUT_TEST(test_take_cap_and_more),
        OUT_TEST(test_take_big_frame_in_place),
        OUT_TEST(test_take_stops_at_placeholder),
        OUT_TEST(test_wake_once_per_episode),
        OUT_TEST(test_wait_hears_cull),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
