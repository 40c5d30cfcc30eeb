/*
 * it_redis_sweep.c: --retain-age for idle topics against a real
 * redis-server. Topics holding aged messages, none published to again,
 * lose them to the sweep (stream entries, deleted messages' stubs and
 * edits alike); a topic's recent messages stay; a topic with more aged
 * entries than one call's budget is finished over several calls; two
 * nodes share one walk through the registry. Topics an older release
 * stored without registering them are found by the backfill (two nodes
 * sharing its SCAN) and then swept.
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
#include "redis_backfill.h"
#include "redis_calls.h"
#include "redis_layout.h"
#include "redis_proc.h"
#include "redis_sweep.h"

#define WAIT_MS 8000
#define AGE_MS 30000 /* the bound; "old" messages are twice as old */
#define N_IDLE 12    /* idle topics: three calls' worth at 4 a call */
#define N_DEEP 200   /* aged entries in one topic: above a call's budget */

/* Small slices and a tight period, so the walk wraps and continues
 * across calls within the test's time. */
static const struct redis_sweep_config small = {
    .retain_age_ms = AGE_MS,
    .every_ms = 20,
    .topics = 4,
    .budget = 100,
};

static int64_t wall_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct got {
    int calls;
    int err;
    uint64_t seq;
};

static void on_pub(int err, const struct redis_pub_result *r, void *ud)
{
    struct got *g = ud;

    g->calls++;
    g->err = err;
    g->seq = r != NULL ? r->seq : 0;
}

/* Publish at ts with no age bound (as if every publish came before the
 * messages aged). Returns the seq. */
static uint64_t pub_at(struct link_fix *f, const char *topic, int64_t ts,
                       int64_t edit_of, int64_t redacts)
{
    struct redis_pub_req req = {
        .topic = topic,
        .from = "alice",
        .data = "{\"t\":1}",
        .data_len = 7,
        .ts = ts,
        .maxlen = 10000,
        .window_s = 3600,
        .epoch = "feedfacefeedface",
        .edit_of = edit_of,
        .redacts = redacts,
    };
    struct got g = {0};

    assert_int_equal(redis_call_publish(f->link, &req, on_pub, &g), 0);
    assert_true(link_loop_until(&f->ll, &g.calls, 1, WAIT_MS));
    assert_int_equal(g.err, 0);
    assert_true(g.seq > 0);
    return g.seq;
}

/* A topic key's integer reply to cmd (XLEN, ZCARD, EXISTS). */
static long long key_int(struct link_fix *f, const char *cmd, const char *topic,
                         enum redis_topic_key kind)
{
    char key[REDIS_NAME_MAX];
    redisReply *r = NULL;
    long long v = -1;

    assert_true(redis_layout_topic_key(key, sizeof(key), topic, kind) > 0);
    r = redisCommand(f->c, "%s %s", cmd, key);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    freeReplyObject(r);
    return v;
}

static long long xlen(struct link_fix *f, const char *topic)
{
    return key_int(f, "XLEN", topic, REDIS_KEY_LOG);
}

/* Whether every idle topic and the deep one are empty, the chat keys
 * gone, and the recent topic holds just its recent messages. */
static bool swept(struct link_fix *f, char idle[][64], const char *deep,
                  const char *chat, const char *recent)
{
    int i;

    for (i = 0; i < N_IDLE; i++)
        if (xlen(f, idle[i]) != 0)
            return false;
    return xlen(f, deep) == 0 && xlen(f, chat) == 0 &&
           key_int(f, "EXISTS", chat, REDIS_KEY_RED) == 0 &&
           key_int(f, "EXISTS", chat, REDIS_KEY_EDITS) == 0 &&
           xlen(f, recent) == 3;
}

/* Run the loop until swept() or WAIT_MS. */
static bool until_swept(struct link_fix *f, char idle[][64], const char *deep,
                        const char *chat, const char *recent)
{
    int64_t deadline = link_loop_ms() + WAIT_MS;

    while (!swept(f, idle, deep, chat, recent) && link_loop_ms() < deadline)
        link_loop_for(&f->ll, 20);
    return swept(f, idle, deep, chat, recent);
}

/* Topics with aged messages and no publish since, in one test's names. */
static void fill(struct link_fix *f, const char *tag, char idle[][64], char *deep,
                 char *chat, char *recent)
{
    int64_t old = wall_ms() - 2 * AGE_MS;
    uint64_t s = 0;
    int i;

    for (i = 0; i < N_IDLE; i++) {
        snprintf(idle[i], 64, "sweep/%s/%d/idle%02d", tag, (int)getpid(), i);
        pub_at(f, idle[i], old, 0, 0);
        pub_at(f, idle[i], old, 0, 0);
    }
    snprintf(deep, 64, "sweep/%s/%d/deep", tag, (int)getpid());
    for (i = 0; i < N_DEEP; i++)
        pub_at(f, deep, old, 0, 0);
    /* A deleted message leaves a stub in red, an edit a row in edits:
     * the publish path trims both by age with the stream. */
    snprintf(chat, 64, "sweep/%s/%d/chat", tag, (int)getpid());
    s = pub_at(f, chat, old, 0, 0);
    pub_at(f, chat, old, (int64_t)pub_at(f, chat, old, 0, 0), 0);
    pub_at(f, chat, old, 0, (int64_t)s);
    assert_int_equal(key_int(f, "ZCARD", chat, REDIS_KEY_RED), 1);
    assert_int_equal(key_int(f, "ZCARD", chat, REDIS_KEY_EDITS), 1);
    /* Old, then recent: the recent ones are kept. */
    snprintf(recent, 64, "sweep/%s/%d/recent", tag, (int)getpid());
    for (i = 0; i < 3; i++)
        pub_at(f, recent, old, 0, 0);
    for (i = 0; i < 3; i++)
        pub_at(f, recent, wall_ms(), 0, 0);
    assert_int_equal(xlen(f, recent), 6);
}

static void test_idle_topics_aged_out(void **state)
{
    struct link_fix *f = *state;
    struct redis_sweep *sw = NULL;
    struct redis_sweep_stats st;
    char idle[N_IDLE][64], deep[64], chat[64], recent[64];
    redisReply *r = NULL;

    fill(f, "one", idle, deep, chat, recent);
    assert_int_equal(redis_sweep_new(&sw, f->ll.loop, f->link, &small), 0);
    assert_true(until_swept(f, idle, deep, chat, recent));
    /* The recent ones, by seq: 4..6. */
    {
        char key[REDIS_NAME_MAX];

        assert_true(redis_layout_topic_key(key, sizeof(key), recent,
                                           REDIS_KEY_LOG) > 0);
        r = redisCommand(f->c, "XRANGE %s - + COUNT 1", key);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 1);
        assert_string_equal(r->element[0]->element[0]->str, "4-0");
        freeReplyObject(r);
    }
    /* Messages age out; the seq does not go back. */
    assert_int_equal(pub_at(f, deep, wall_ms(), 0, 0), N_DEEP + 1);
    redis_sweep_get_stats(sw, &st);
    assert_true(st.calls > 0);
    assert_true(st.wraps > 0);
    assert_int_equal(st.failures, 0);
    redis_sweep_free(&sw);
    assert_null(sw);
}

/* Two nodes, one walk: both sweep some topics, and together all. */
static void test_nodes_share_the_walk(void **state)
{
    struct link_fix *f = *state;
    struct redis_sweep *a = NULL;
    struct redis_sweep *b = NULL;
    struct redis_sweep_stats sa, sb;
    char idle[N_IDLE][64], deep[64], chat[64], recent[64];

    fill(f, "two", idle, deep, chat, recent);
    assert_int_equal(redis_sweep_new(&a, f->ll.loop, f->link, &small), 0);
    assert_int_equal(redis_sweep_new(&b, f->ll.loop, f->link, &small), 0);
    assert_true(until_swept(f, idle, deep, chat, recent));
    redis_sweep_get_stats(a, &sa);
    redis_sweep_get_stats(b, &sb);
    assert_true(sa.topics > 0);
    assert_true(sb.topics > 0);
    redis_sweep_free(&a);
    redis_sweep_free(&b);
}

#define N_OLD 24 /* topics an older release stored: several SCAN steps */

/* What a release before the registry did: the 4-key pl_publish (no
 * registry key), at ts. */
static void old_pub(struct link_fix *f, const char *topic, int64_t ts)
{
    char keys[4][REDIS_NAME_MAX];
    char channel[REDIS_NAME_MAX];
    static const enum redis_topic_key k[4] = {
        REDIS_KEY_SEQ,
        REDIS_KEY_LOG,
        REDIS_KEY_RET,
        REDIS_KEY_EPOCH,
    };
    redisReply *r = NULL;
    int i;

    for (i = 0; i < 4; i++)
        assert_true(redis_layout_topic_key(keys[i], sizeof(keys[i]), topic,
                                           k[i]) > 0);
    assert_true(redis_layout_channel(channel, sizeof(channel), topic) > 0);
    r = redisCommand(f->c,
                     "FCALL pl_publish 4 %s %s %s %s %s %lld old {} 0 100 "
                     "ep 60 0",
                     keys[0], keys[1], keys[2], keys[3], channel,
                     (long long)ts);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
}

static bool registered(struct link_fix *f, const char *topic)
{
    redisReply *r = redisCommand(f->c, "ZSCORE %s %s", REDIS_LAYOUT_TOPICS,
                                 topic);
    bool yes = false;

    assert_non_null(r);
    yes = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    return yes;
}

static bool backfills_over(struct redis_backfill *a, struct redis_backfill *b)
{
    struct redis_backfill_stats sa, sb;

    redis_backfill_get_stats(a, &sa);
    redis_backfill_get_stats(b, &sb);
    return sa.over && sb.over;
}

static void test_old_topics_backfilled(void **state)
{
    struct link_fix *f = *state;
    struct redis_backfill *a = NULL;
    struct redis_backfill *b = NULL;
    struct redis_backfill_stats sa, sb;
    struct redis_sweep *sw = NULL;
    char old[N_OLD][64];
    int64_t then = wall_ms() - 2 * AGE_MS;
    int64_t deadline = 0;
    redisReply *r = NULL;
    int i;

    for (i = 0; i < N_OLD; i++) {
        /* one name holds what ends a key ("}:seq"): still one topic */
        snprintf(old[i], sizeof(old[i]), "old/%d/%02d%s", (int)getpid(), i,
                 i == 0 ? "}:seq" : "");
        old_pub(f, old[i], then);
        old_pub(f, old[i], then);
        assert_false(registered(f, old[i]));
    }
    /* keys that end like a seq key but name no topic's seq */
    r = redisCommand(f->c, "SET pl:1:{z}:idem:k:seq 1");
    freeReplyObject(r);
    r = redisCommand(f->c, "SET pl:marked:seq 1");
    freeReplyObject(r);

    /* two nodes, steps of about 5 keys: they share one SCAN */
    assert_int_equal(redis_backfill_new(&a, f->ll.loop, f->link, 20, 5), 0);
    assert_int_equal(redis_backfill_new(&b, f->ll.loop, f->link, 20, 5), 0);
    deadline = link_loop_ms() + WAIT_MS;
    while (!backfills_over(a, b) && link_loop_ms() < deadline)
        link_loop_for(&f->ll, 20);
    assert_true(backfills_over(a, b));
    redis_backfill_get_stats(a, &sa);
    redis_backfill_get_stats(b, &sb);
    assert_true(sa.steps + sb.steps > 2);
    for (i = 0; i < N_OLD; i++)
        assert_true(registered(f, old[i]));
    assert_false(registered(f, "z"));
    assert_false(registered(f, "marked"));
    redis_backfill_free(&a);
    redis_backfill_free(&b);

    /* registered, the old topics are swept like any other */
    assert_int_equal(redis_sweep_new(&sw, f->ll.loop, f->link, &small), 0);
    deadline = link_loop_ms() + WAIT_MS;
    for (i = 0; i < N_OLD && link_loop_ms() < deadline;)
        if (xlen(f, old[i]) == 0)
            i++;
        else
            link_loop_for(&f->ll, 20);
    assert_int_equal(i, N_OLD);
    redis_sweep_free(&sw);

    /* the walk is over for the cluster: a node started now stops at its
     * first step */
    assert_int_equal(redis_backfill_new(&a, f->ll.loop, f->link, 20, 5), 0);
    deadline = link_loop_ms() + WAIT_MS;
    do {
        link_loop_for(&f->ll, 20);
        redis_backfill_get_stats(a, &sa);
    } while (!sa.over && link_loop_ms() < deadline);
    assert_true(sa.over);
    assert_int_equal(sa.steps, 1);
    assert_int_equal(sa.added, 0);
    redis_backfill_free(&a);
}

/* No age bound: no sweep; a bad setting is refused. */
static void test_config(void **state)
{
    struct link_fix *f = *state;
    struct redis_sweep *sw = NULL;
    struct redis_sweep_config c = small;

    c.retain_age_ms = 0;
    assert_int_equal(redis_sweep_new(&sw, f->ll.loop, f->link, &c), -EINVAL);
    c = small;
    c.budget = 10;
    assert_int_equal(redis_sweep_new(&sw, f->ll.loop, f->link, &c), -EINVAL);
    assert_null(sw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_topics_aged_out),
        cmocka_unit_test(test_nodes_share_the_walk),
        cmocka_unit_test(test_old_topics_backfilled),
        cmocka_unit_test(test_config),
    };

    return cmocka_run_group_tests(tests, link_fix_setup, link_fix_teardown);
}
