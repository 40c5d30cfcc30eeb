/*
 * it_redis_gapfill.c: no silent loss, end to end below the hub. A small
 * "node" (the link, the typed calls and redis_gap, wired as the engine will
 * wire them) follows one topic while a publisher keeps publishing through
 * pl_publish and the test cuts the node's pub/sub connection (CLIENT KILL)
 * and SIGKILLs redis-server (AOF always). Messages published while the node
 * was deaf must still reach it: every seq exactly once, in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "link_loop.h"
#include "redis_calls.h"
#include "redis_gap.h"
#include "redis_proc.h"

#define WAIT_MS 15000
#define MAX_SEQ 400
/* Rows per fill: small, so fills are cut by their limit and repeat. */
#define FILL_LIMIT 16

struct node {
    struct link_loop ll;
    struct redis_link *link;
    struct redis_gap gap;
    char topic[64];
    char channel[REDIS_NAME_MAX];
    int delivered; /* how many seqs reached "clients" */
    uint64_t order[MAX_SEQ + 1];
    int fills;
    int errors; /* out-of-order or duplicate deliveries */
};

static void deliver(struct node *n, uint64_t seq)
{
    if (n->delivered >= MAX_SEQ || seq != (uint64_t)n->delivered + 1) {
        fprintf(stderr, "delivered seq %llu after %d\n",
                (unsigned long long)seq, n->delivered);
        n->errors++;
        return;
    }
    n->order[++n->delivered] = seq;
}

static void start_fill(struct node *n);

static void on_fill(int err, const struct redis_rows *r, void *ud)
{
    struct node *n = ud;
    size_t i;

    if (err < 0) {
        /* The link is down; its coming back starts a new fill. */
        redis_gap_fill_failed(&n->gap);
        return;
    }
    redis_gap_fill_head(&n->gap, r->latest, r->epoch, strlen(r->epoch));
    for (i = 0; i < r->n; i++)
        if (redis_gap_fill_row(&n->gap, &r->rows[i]) == REDIS_GAP_DELIVER)
            deliver(n, r->rows[i].seq);
    if (redis_gap_fill_end(&n->gap))
        start_fill(n);
}

static void start_fill(struct node *n)
{
    n->fills++;
    if (redis_call_since(n->link, n->topic, n->gap.last, FILL_LIMIT, on_fill,
                         n) != 0)
        redis_gap_fill_failed(&n->gap);
}

static void on_message(void *ud, const char *channel, const char *pattern,
                       const char *payload, size_t len)
{
    struct node *n = ud;
    struct redis_event ev;

    (void)pattern;
    if (strcmp(channel, n->channel) != 0 ||
        redis_event_parse(payload, len, &ev) < 0 || ev.kind != REDIS_EVENT_MSG)
        return;
    switch (redis_gap_live(&n->gap, &ev)) {
    case REDIS_GAP_DELIVER:
        deliver(n, ev.seq);
        break;
    case REDIS_GAP_FILL:
        start_fill(n);
        break;
    case REDIS_GAP_STALE:
    case REDIS_GAP_WAIT:
        break;
    }
}

static void on_state(void *ud, bool up)
{
    struct node *n = ud;

    /* Back from a loss: anything may have been missed, on any topic. */
    if (up && redis_gap_fill_begin(&n->gap))
        start_fill(n);
}

/* The publisher: a plain client calling pl_publish. */
struct publisher {
    struct redis_proc *redis;
    redisContext *c;
    const char *topic;
    int published;
};

static void publish_some(struct publisher *p, int count)
{
    char keys[4][REDIS_NAME_MAX];
    char channel[REDIS_NAME_MAX];
    static const enum redis_topic_key k[4] = {
        REDIS_KEY_SEQ,
        REDIS_KEY_LOG,
        REDIS_KEY_RET,
        REDIS_KEY_EPOCH,
    };
    int i;

    for (i = 0; i < 4; i++)
        redis_layout_topic_key(keys[i], sizeof(keys[i]), p->topic, k[i]);
    redis_layout_channel(channel, sizeof(channel), p->topic);
    for (i = 0; i < count; i++) {
        redisReply *r = redisCommand(
            p->c, "FCALL pl_publish 4 %s %s %s %s %s 1 pub %d 0 0 ep 60 0",
            keys[0], keys[1], keys[2], keys[3], channel, p->published + 1);

        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->element[0]->integer, p->published + 1);
        freeReplyObject(r);
        p->published++;
    }
}

static void kill_pubsub(struct publisher *p)
{
    redisReply *r = redisCommand(p->c, "CLIENT KILL TYPE pubsub");

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer >= 1);
    freeReplyObject(r);
}

static void test_no_silent_loss(void **state)
{
    struct node n;
    struct publisher p;
    struct redis_link_config cfg;
    int round;

    (void)state;
    memset(&n, 0, sizeof(n));
    memset(&p, 0, sizeof(p));
    snprintf(n.topic, sizeof(n.topic), "gap/%d", (int)getpid());
    redis_layout_channel(n.channel, sizeof(n.channel), n.topic);
    assert_int_equal(redis_proc_start(&p.redis, "always"), 0);
    p.c = redis_proc_connect(p.redis);
    assert_non_null(p.c);
    p.topic = n.topic;
    assert_int_equal(link_loop_init(&n.ll), 0);
    link_loop_config(&cfg, redis_proc_port(p.redis), 2000);
    cfg.on_message = on_message;
    cfg.on_state = on_state;
    cfg.ud = &n;
    redis_gap_init(&n.gap, 0, "", 0);
    assert_int_equal(redis_link_new(&n.link, n.ll.loop, &cfg), 0);
    assert_int_equal(redis_link_subscribe(n.link, n.channel, false), 0);
    assert_true(link_loop_until_up(&n.ll, n.link, true, WAIT_MS));
    /* The link loaded the library before it reported up, and its
     * subscription is restored by then: the publisher may start. */
    {
        redisReply *r = redisCommand(p.c, "FUNCTION LIST LIBRARYNAME parley");

        assert_non_null(r);
        assert_int_equal(r->elements, 1);
        freeReplyObject(r);
    }

    for (round = 0; round < 6; round++) {
        publish_some(&p, 20);
        link_loop_for(&n.ll, 20);
        /* Deaf: these 30 go out while the node has no subscription. */
        kill_pubsub(&p);
        publish_some(&p, 30);
        assert_true(link_loop_until(&n.ll, &n.delivered, p.published, WAIT_MS));
    }
    /* redis-server itself dies and comes back on its AOF. */
    publish_some(&p, 10);
    redisFree(p.c);
    assert_int_equal(redis_proc_kill9(p.redis), 0);
    assert_true(link_loop_until_up(&n.ll, n.link, false, WAIT_MS));
    assert_int_equal(redis_proc_restart(p.redis, 0), 0);
    p.c = redis_proc_connect(p.redis);
    assert_non_null(p.c);
    publish_some(&p, 20);
    assert_true(link_loop_until(&n.ll, &n.delivered, p.published, WAIT_MS));

    link_loop_for(&n.ll, 100);
    assert_int_equal(n.errors, 0);
    assert_int_equal(n.delivered, p.published);
    assert_int_equal(n.gap.lost, 0);
    assert_int_equal(n.gap.epoch_changes, 0);
    print_message("%d messages, %d fills\n", p.published, n.fills);
    assert_true(n.fills > 6);

    redis_link_free(&n.link);
    link_loop_cleanup(&n.ll);
    redisFree(p.c);
    redis_proc_free(&p.redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_silent_loss),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
