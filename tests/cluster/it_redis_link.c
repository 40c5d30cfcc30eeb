/*
 * it_redis_link.c: the link (two hiredis async connections on libev)
 * against a real redis-server that the test SIGKILLs and restarts: commands
 * fail while it is gone and succeed once it is back, subscriptions come
 * back by themselves, a silent command times out, and every pending
 * callback runs exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "link_loop.h"
#include "redis_layout.h"
#include "redis_link.h"
#include "redis_proc.h"

#define WAIT_MS 8000

struct fix {
    struct redis_proc *redis;
    redisContext *c; /* a plain client, to publish and look */
    struct link_loop ll;
    struct redis_link *link;
    /* What the link told us. */
    int ups;
    int downs;
    int messages;
    char last_channel[256];
    char last_pattern[256];
    char last_payload[256];
};

/* One command's outcome. */
struct outcome {
    int calls;
    int err;
    int type;
    char str[128];
};

static void on_message(void *ud, const char *channel, const char *pattern,
                       const char *payload, size_t len)
{
    struct fix *f = ud;

    f->messages++;
    snprintf(f->last_channel, sizeof(f->last_channel), "%s", channel);
    snprintf(f->last_pattern, sizeof(f->last_pattern), "%s",
             pattern != NULL ? pattern : "");
    snprintf(f->last_payload, sizeof(f->last_payload), "%.*s", (int)len,
             payload);
}

static void on_state(void *ud, bool up)
{
    struct fix *f = ud;

    if (up)
        f->ups++;
    else
        f->downs++;
}

static void on_reply(const redisReply *r, int err, void *ud)
{
    struct outcome *o = ud;

    o->calls++;
    o->err = err;
    if (r != NULL) {
        o->type = r->type;
        snprintf(o->str, sizeof(o->str), "%s", r->str != NULL ? r->str : "");
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0)
            o->type = -(int)r->elements;
        if (r->type == REDIS_REPLY_INTEGER)
            snprintf(o->str, sizeof(o->str), "%lld", r->integer);
    }
}

static bool run_until(struct fix *f, const int *flag, int want, int ms)
{
    return link_loop_until(&f->ll, flag, want, ms);
}

static bool wait_up(struct fix *f, bool up, int ms)
{
    return link_loop_until_up(&f->ll, f->link, up, ms);
}

static void link_config(struct fix *f, struct redis_link_config *cfg, int port,
                        int timeout_ms)
{
    link_loop_config(cfg, port, timeout_ms);
    cfg->on_message = on_message;
    cfg->on_state = on_state;
    cfg->ud = f;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    struct redis_link_config cfg;

    if (f == NULL || redis_proc_start(&f->redis, "always") != 0)
        return -1;
    f->c = redis_proc_connect(f->redis);
    if (f->c == NULL || link_loop_init(&f->ll) != 0)
        return -1;
    link_config(f, &cfg, redis_proc_port(f->redis), 2000);
    if (redis_link_new(&f->link, f->ll.loop, &cfg) != 0 ||
        !wait_up(f, true, WAIT_MS))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    redis_link_free(&f->link);
    link_loop_cleanup(&f->ll);
    if (f->c != NULL)
        redisFree(f->c);
    redis_proc_free(&f->redis);
    free(f);
    return 0;
}

static int command(struct fix *f, struct outcome *o, const char *a0,
                   const char *a1, const char *a2)
{
    const char *argv[3] = {a0, a1, a2};
    int argc = a2 != NULL ? 3 : a1 != NULL ? 2 : 1;

    memset(o, 0, sizeof(*o));
    return redis_link_command(f->link, on_reply, o, argc, argv, NULL);
}

/* Publish with the plain client; returns how many subscribers got it. */
static long long publish(struct fix *f, const char *channel,
                         const char *payload)
{
    redisReply *r = redisCommand(f->c, "PUBLISH %s %s", channel, payload);
    long long n = -1;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

/* Run the loop until Redis counts want subscribers of channel (pattern:
 * patterns in total), bounded. */
static bool wait_subscribers(struct fix *f, const char *channel, bool pattern,
                             long long want)
{
    int64_t deadline = link_loop_ms() + WAIT_MS;
    long long n = -1;

    do {
        redisReply *r = pattern
                            ? redisCommand(f->c, "PUBSUB NUMPAT")
                            : redisCommand(f->c, "PUBSUB NUMSUB %s", channel);

        if (r == NULL)
            return false;
        n = pattern ? r->integer : r->element[1]->integer;
        freeReplyObject(r);
        if (n == want)
            return true;
        ev_run(f->ll.loop, EVRUN_ONCE);
    } while (link_loop_ms() < deadline);
    return false;
}

static void test_commands_and_the_library(void **state)
{
    struct fix *f = *state;
    struct outcome o;

    assert_int_equal(command(f, &o, "PING", NULL, NULL), 0);
    assert_true(run_until(f, &o.calls, 1, WAIT_MS));
    assert_int_equal(o.err, 0);
    assert_string_equal(o.str, "PONG");
    /* The setup command loaded the library on connect. */
    assert_int_equal(command(f, &o, "FUNCTION", "LIST", NULL), 0);
    assert_true(run_until(f, &o.calls, 1, WAIT_MS));
    assert_int_equal(o.type, -1);
}

static void test_subscriptions_are_counted(void **state)
{
    struct fix *f = *state;
    int before = f->messages;

    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:count", false), 0);
    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:count", false), 0);
    assert_int_equal(redis_link_refs(f->link, "pl:ch:count", false), 2);
    assert_true(wait_subscribers(f, "pl:ch:count", false, 1));
    assert_int_equal(publish(f, "pl:ch:count", "one"), 1);
    assert_true(run_until(f, &f->messages, before + 1, WAIT_MS));
    assert_string_equal(f->last_payload, "one");
    assert_string_equal(f->last_pattern, "");
    assert_int_equal(redis_link_unsubscribe(f->link, "pl:ch:count", false), 0);
    assert_int_equal(publish(f, "pl:ch:count", "two"), 1);
    assert_true(run_until(f, &f->messages, before + 2, WAIT_MS));
    assert_int_equal(redis_link_unsubscribe(f->link, "pl:ch:count", false), 0);
    assert_int_equal(redis_link_unsubscribe(f->link, "pl:ch:count", false),
                     -ENOENT);
    assert_true(wait_subscribers(f, "pl:ch:count", false, 0));
    assert_int_equal(f->messages, before + 2);
}

/* Unsubscribe and subscribe again in one breath: the channel must still
 * deliver (older hiredis releases dropped its callback here). */
static void test_resubscribe_at_once(void **state)
{
    struct fix *f = *state;
    int before = f->messages;

    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:flip", false), 0);
    assert_true(wait_subscribers(f, "pl:ch:flip", false, 1));
    assert_int_equal(redis_link_unsubscribe(f->link, "pl:ch:flip", false), 0);
    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:flip", false), 0);
    /* Let the unsubscribe and the renewed subscribe go through. */
    {
        struct outcome o;

        assert_int_equal(command(f, &o, "PING", NULL, NULL), 0);
        assert_true(run_until(f, &o.calls, 1, WAIT_MS));
    }
    assert_true(wait_subscribers(f, "pl:ch:flip", false, 1));
    assert_int_equal(publish(f, "pl:ch:flip", "still here"), 1);
    assert_true(run_until(f, &f->messages, before + 1, WAIT_MS));
    assert_string_equal(f->last_payload, "still here");
    assert_int_equal(redis_link_unsubscribe(f->link, "pl:ch:flip", false), 0);
    assert_true(wait_subscribers(f, "pl:ch:flip", false, 0));
}

static void test_kill9_and_back(void **state)
{
    struct fix *f = *state;
    struct outcome blocked;
    struct outcome o;
    struct redis_link_stats st0;
    struct redis_link_stats st1;
    int before = 0;
    int downs = f->downs;

    redis_link_get_stats(f->link, &st0);
    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:k9", false), 0);
    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:k9/*", true), 0);
    assert_true(wait_subscribers(f, "pl:ch:k9", false, 1));
    assert_true(wait_subscribers(f, NULL, true, 1));
    /* A command Redis holds (and, with the link's 2 s timeout, still in
     * flight) when the server dies: it must fail, not hang. */
    assert_int_equal(command(f, &blocked, "BLPOP", "pl:nothing", "0"), 0);
    redisFree(f->c);
    f->c = NULL;
    assert_int_equal(redis_proc_kill9(f->redis), 0);
    assert_true(run_until(f, &blocked.calls, 1, WAIT_MS));
    assert_int_equal(blocked.err, -ENOTCONN);
    assert_true(run_until(f, &f->downs, downs + 1, WAIT_MS));
    assert_false(redis_link_up(f->link));
    assert_int_equal(command(f, &o, "PING", NULL, NULL), -ENOTCONN);
    /* Some reconnection attempts fail while it is down. */
    link_loop_for(&f->ll, 300);
    assert_int_equal(redis_proc_restart(f->redis, 0), 0);
    f->c = redis_proc_connect(f->redis);
    assert_non_null(f->c);
    assert_true(wait_up(f, true, WAIT_MS));
    assert_int_equal(command(f, &o, "PING", NULL, NULL), 0);
    assert_true(run_until(f, &o.calls, 1, WAIT_MS));
    assert_string_equal(o.str, "PONG");
    /* The subscriptions came back by themselves. */
    assert_true(wait_subscribers(f, "pl:ch:k9", false, 1));
    assert_true(wait_subscribers(f, NULL, true, 1));
    before = f->messages;
    assert_int_equal(publish(f, "pl:ch:k9", "back"), 1);
    assert_true(run_until(f, &f->messages, before + 1, WAIT_MS));
    assert_string_equal(f->last_payload, "back");
    assert_int_equal(publish(f, "pl:ch:k9/a", "pat"), 1);
    assert_true(run_until(f, &f->messages, before + 2, WAIT_MS));
    assert_string_equal(f->last_channel, "pl:ch:k9/a");
    assert_string_equal(f->last_pattern, "pl:ch:k9/*");
    redis_link_get_stats(f->link, &st1);
    assert_true(st1.drops >= st0.drops + 2);
    assert_true(st1.connects >= st0.connects + 2);
    assert_int_equal(blocked.calls, 1);
    redis_link_unsubscribe(f->link, "pl:ch:k9", false);
    redis_link_unsubscribe(f->link, "pl:ch:k9/*", true);
}

static void test_silent_command_times_out(void **state)
{
    struct fix *f = *state;
    struct redis_link_config cfg;
    struct redis_link *saved = f->link;
    struct outcome slow;
    struct outcome o;
    struct redis_link_stats st;
    int64_t t0 = 0;

    /* A link of its own with a short timeout. */
    link_config(f, &cfg, redis_proc_port(f->redis), 300);
    assert_int_equal(redis_link_new(&f->link, f->ll.loop, &cfg), 0);
    assert_true(wait_up(f, true, WAIT_MS));
    assert_int_equal(command(f, &slow, "BLPOP", "pl:nothing", "0"), 0);
    t0 = link_loop_ms();
    assert_true(run_until(f, &slow.calls, 1, WAIT_MS));
    assert_int_equal(slow.err, -ETIMEDOUT);
    assert_true(link_loop_ms() - t0 < 2000);
    redis_link_get_stats(f->link, &st);
    assert_int_equal(st.timeouts, 1);
    /* The link remade the connection and works again. */
    assert_true(wait_up(f, true, WAIT_MS));
    {
        int64_t deadline = link_loop_ms() + WAIT_MS;
        int rc = -ENOTCONN;

        while (rc != 0 && link_loop_ms() < deadline) {
            rc = command(f, &o, "PING", NULL, NULL);
            if (rc != 0)
                ev_run(f->ll.loop, EVRUN_ONCE);
        }
        assert_int_equal(rc, 0);
    }
    assert_true(run_until(f, &o.calls, 1, WAIT_MS));
    assert_string_equal(o.str, "PONG");
    assert_int_equal(slow.calls, 1);
    redis_link_free(&f->link);
    f->link = saved;
}

static void test_free_cancels_pending(void **state)
{
    struct fix *f = *state;
    struct redis_link_config cfg;
    struct redis_link *saved = f->link;
    struct outcome blocked;

    link_config(f, &cfg, redis_proc_port(f->redis), 5000);
    assert_int_equal(redis_link_new(&f->link, f->ll.loop, &cfg), 0);
    assert_true(wait_up(f, true, WAIT_MS));
    assert_int_equal(command(f, &blocked, "BLPOP", "pl:nothing", "0"), 0);
    redis_link_free(&f->link);
    assert_int_equal(blocked.calls, 1);
    assert_int_equal(blocked.err, -ECANCELED);
    f->link = saved;
}

static void test_nobody_listening(void **state)
{
    struct fix *f = *state;
    struct redis_link_config cfg;
    struct redis_link *saved = f->link;
    struct redis_link_stats st;
    struct outcome o;
    int port = redis_proc_free_port();

    assert_true(port > 0);
    link_config(f, &cfg, port, 500);
    assert_int_equal(redis_link_new(&f->link, f->ll.loop, &cfg), 0);
    link_loop_for(&f->ll, 500);
    assert_false(redis_link_up(f->link));
    assert_int_equal(command(f, &o, "PING", NULL, NULL), -ENOTCONN);
    /* It keeps trying, backing off: 50+100+200 ms fit in 500 ms, a few
     * attempts per connection but not dozens. */
    redis_link_get_stats(f->link, &st);
    assert_true(st.drops >= 4);
    assert_true(st.drops <= 16);
    assert_int_equal(redis_link_subscribe(f->link, "pl:ch:x", false), 0);
    redis_link_free(&f->link);
    f->link = saved;
}

/* A password in the URL: both connections authenticate; a wrong one never
 * counts as up. */
static void test_password(void **state)
{
    struct fix *f = *state;
    struct redis_link_config cfg;
    struct redis_link *saved = f->link;
    struct outcome o;
    redisReply *r = redisCommand(f->c, "CONFIG SET requirepass s3cret");

    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    link_config(f, &cfg, redis_proc_port(f->redis), 2000);
    snprintf(cfg.url.password, sizeof(cfg.url.password), "wrong");
    assert_int_equal(redis_link_new(&f->link, f->ll.loop, &cfg), 0);
    link_loop_for(&f->ll, 300);
    assert_false(redis_link_up(f->link));
    redis_link_free(&f->link);
    snprintf(cfg.url.password, sizeof(cfg.url.password), "s3cret");
    assert_int_equal(redis_link_new(&f->link, f->ll.loop, &cfg), 0);
    assert_true(wait_up(f, true, WAIT_MS));
    assert_int_equal(command(f, &o, "PING", NULL, NULL), 0);
    assert_true(run_until(f, &o.calls, 1, WAIT_MS));
    assert_string_equal(o.str, "PONG");
    redis_link_free(&f->link);
    f->link = saved;
    r = redisCommand(f->c, "AUTH s3cret");
    freeReplyObject(r);
    r = redisCommand(f->c, "CONFIG SET requirepass %s", "");
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_and_the_library),
        cmocka_unit_test(test_subscriptions_are_counted),
        cmocka_unit_test(test_resubscribe_at_once),
        cmocka_unit_test(test_kill9_and_back),
        cmocka_unit_test(test_silent_command_times_out),
        cmocka_unit_test(test_free_cancels_pending),
        cmocka_unit_test(test_nobody_listening),
        cmocka_unit_test(test_password),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
