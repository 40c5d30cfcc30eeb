/*
 * it_redis_lua.c: the Lua library (db/redis/parley.lua) and the durability
 * check against a real redis-server, driven with hiredis's synchronous API.
 * Keys are named with redis_layout, so the test also proves that the C
 * side and the Lua side agree on the layout.
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

#include "redis_durability.h"
#include "redis_layout.h"
#include "redis_fix.h"

#define fix redis_fix

static int n_topic;

static void topic_name(char *buf, size_t n, const char *prefix)
{
    snprintf(buf, n, "%s/%d-%d", prefix, (int)getpid(), ++n_topic);
}

static int load_library(redisContext *c)
{
    const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", redis_lua_library};
    redisReply *r = redisCommandArgv(c, 4, argv, NULL);
    int rc = r != NULL && r->type != REDIS_REPLY_ERROR ? 0 : -1;

    if (rc != 0)
        fprintf(stderr, "FUNCTION LOAD: %s\n", r != NULL ? r->str : "?");
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

static int setup(void **state)
{
    struct fix *f = NULL;

    if (redis_fix_setup(state) != 0)
        return -1;
    f = *state;
    return load_library(f->c);
}

struct pub {
    const char *key; /* NULL: none */
    const char *from;
    const char *data;
    const char *retain; /* "0", "1", "2" */
    const char *maxlen;
    const char *epoch;
    const char *ts;
    const char *min_ts;
};

struct pub_result {
    long long seq;
    long long dup;
    char epoch[64];
};

/* FCALL pl_publish; 0 or -1 (printed). */
static int publish(redisContext *c, const char *topic, const struct pub *p,
                   struct pub_result *out)
{
    char keys[5][REDIS_NAME_MAX];
    char channel[REDIS_NAME_MAX];
    const char *argv[32];
    int argc = 0;
    int nkeys = p->key != NULL ? 5 : 4;
    char nk[4];
    redisReply *r = NULL;
    int i;

    redis_layout_topic_key(keys[0], sizeof(keys[0]), topic, REDIS_KEY_SEQ);
    redis_layout_topic_key(keys[1], sizeof(keys[1]), topic, REDIS_KEY_LOG);
    redis_layout_topic_key(keys[2], sizeof(keys[2]), topic, REDIS_KEY_RET);
    redis_layout_topic_key(keys[3], sizeof(keys[3]), topic, REDIS_KEY_EPOCH);
    if (p->key != NULL)
        redis_layout_idem_key(keys[4], sizeof(keys[4]), topic, p->key);
    redis_layout_channel(channel, sizeof(channel), topic);
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = "FCALL";
    argv[argc++] = "pl_publish";
    argv[argc++] = nk;
    for (i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    argv[argc++] = channel;
    argv[argc++] = p->ts != NULL ? p->ts : "1764130000123";
    argv[argc++] = p->from != NULL ? p->from : "alice";
    argv[argc++] = p->data != NULL ? p->data : "{\"t\":1}";
    argv[argc++] = p->retain != NULL ? p->retain : "0";
    argv[argc++] = p->maxlen != NULL ? p->maxlen : "0";
    argv[argc++] = p->epoch != NULL ? p->epoch : "e1";
    argv[argc++] = "86400";
    argv[argc++] = p->min_ts != NULL ? p->min_ts : "0";
    r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        fprintf(stderr, "pl_publish: %s\n",
                r == NULL                      ? c->errstr
                : r->type == REDIS_REPLY_ERROR ? r->str
                                               : "shape");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    out->seq = r->element[0]->integer;
    out->dup = r->element[1]->integer;
    snprintf(out->epoch, sizeof(out->epoch), "%s", r->element[2]->str);
    freeReplyObject(r);
    return 0;
}

static long long pub_seq(redisContext *c, const char *topic,
                         const struct pub *p)
{
    struct pub_result res;

    if (publish(c, topic, p, &res) != 0)
        return -1;
    return res.seq;
}

/* FCALL fn with the topic's keys of kinds k[0..nk) and args. The reply is
 * the caller's (freeReplyObject). */
static redisReply *read_fn(redisContext *c, const char *fn, const char *topic,
                           const enum redis_topic_key *k, int nk,
                           const char *a1, const char *a2)
{
    char keys[4][REDIS_NAME_MAX];
    const char *argv[12];
    char nks[4];
    int argc = 0;
    int i;

    snprintf(nks, sizeof(nks), "%d", nk);
    argv[argc++] = "FCALL";
    argv[argc++] = fn;
    argv[argc++] = nks;
    for (i = 0; i < nk; i++) {
        redis_layout_topic_key(keys[i], sizeof(keys[i]), topic, k[i]);
        argv[argc++] = keys[i];
    }
    if (a1 != NULL)
        argv[argc++] = a1;
    if (a2 != NULL)
        argv[argc++] = a2;
    return redisCommandArgv(c, argc, argv, NULL);
}

static const enum redis_topic_key since_keys[3] = {
    REDIS_KEY_SEQ,
    REDIS_KEY_LOG,
    REDIS_KEY_EPOCH,
};

/* The seq inside payload reply element e. */
static long long payload_seq(const redisReply *e)
{
    struct redis_event ev;

    assert_int_equal(e->type, REDIS_REPLY_STRING);
    assert_int_equal(redis_event_parse(e->str, e->len, &ev), 0);
    return (long long)ev.seq;
}

static void test_publish_appends_in_order(void **state)
{
    struct fix *f = *state;
    struct pub p = {.from = "bob 2", .data = "[1,\"x y\"]"};
    char topic[64];
    char key[REDIS_NAME_MAX];
    redisReply *r = NULL;
    struct redis_event ev;
    int i;

    topic_name(topic, sizeof(topic), "lua/order");
    for (i = 1; i <= 3; i++)
        assert_int_equal(pub_seq(f->c, topic, &p), i);
    redis_layout_topic_key(key, sizeof(key), topic, REDIS_KEY_SEQ);
    r = redisCommand(f->c, "GET %s", key);
    assert_string_equal(r->str, "3");
    freeReplyObject(r);
    redis_layout_topic_key(key, sizeof(key), topic, REDIS_KEY_LOG);
    r = redisCommand(f->c, "XRANGE %s - +", key);
    assert_int_equal(r->elements, 3);
    for (i = 0; i < 3; i++) {
        char id[16];
        const redisReply *fields = r->element[i]->element[1];

        snprintf(id, sizeof(id), "%d-0", i + 1);
        assert_string_equal(r->element[i]->element[0]->str, id);
        assert_string_equal(fields->element[0]->str, "t");
        assert_string_equal(fields->element[2]->str, "m");
        assert_int_equal(redis_event_parse(fields->element[3]->str,
                                           fields->element[3]->len, &ev),
                         0);
        assert_int_equal(ev.seq, i + 1);
        assert_int_equal(ev.ts, 1764130000123LL);
        assert_false(ev.retain);
        assert_int_equal(ev.from_len, 5);
        assert_memory_equal(ev.from, "bob 2", 5);
        assert_int_equal(ev.data_len, strlen("[1,\"x y\"]"));
        assert_memory_equal(ev.data, "[1,\"x y\"]", ev.data_len);
    }
    freeReplyObject(r);
}

static redisContext *subscriber(struct fix *f, const char *topic)
{
    redisContext *s = redis_fix_listen(f, topic);

    assert_non_null(s);
    return s;
}

static void next_payload(redisContext *s, char *buf, size_t n)
{
    assert_int_equal(redis_fix_next_payload(s, buf, n), 0);
}

static void test_publish_reaches_the_channel(void **state)
{
    struct fix *f = *state;
    struct pub p = {.data = "\"hello\""};
    char topic[64];
    char got[256];
    struct redis_event ev;
    redisContext *s = NULL;

    topic_name(topic, sizeof(topic), "lua/chan");
    s = subscriber(f, topic);
    assert_int_equal(pub_seq(f->c, topic, &p), 1);
    next_payload(s, got, sizeof(got));
    assert_int_equal(redis_event_parse(got, strlen(got), &ev), 0);
    assert_int_equal(ev.seq, 1);
    assert_memory_equal(ev.data, "\"hello\"", 7);
    assert_memory_equal(ev.epoch, "e1", 2);
    redisFree(s);
}

static void test_idempotent_key(void **state)
{
    struct fix *f = *state;
    struct pub keyed = {.key = "k-1"};
    struct pub plain = {0};
    struct pub_result res;
    char topic[64];
    char key[REDIS_NAME_MAX];
    char got[256];
    redisContext *s = NULL;
    redisReply *r = NULL;

    topic_name(topic, sizeof(topic), "lua/idem");
    s = subscriber(f, topic);
    assert_int_equal(publish(f->c, topic, &keyed, &res), 0);
    assert_int_equal(res.seq, 1);
    assert_int_equal(res.dup, 0);
    assert_int_equal(publish(f->c, topic, &keyed, &res), 0);
    assert_int_equal(res.seq, 1);
    assert_int_equal(res.dup, 1);
    assert_string_equal(res.epoch, "e1");
    assert_int_equal(pub_seq(f->c, topic, &plain), 2);
    /* The retry published nothing: the channel saw 1, then 2. */
    next_payload(s, got, sizeof(got));
    assert_true(strncmp(got, "m 1 ", 4) == 0);
    next_payload(s, got, sizeof(got));
    assert_true(strncmp(got, "m 2 ", 4) == 0);
    redisFree(s);
    redis_layout_topic_key(key, sizeof(key), topic, REDIS_KEY_LOG);
    r = redisCommand(f->c, "XLEN %s", key);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    /* The key lives for the dedupe window. */
    redis_layout_idem_key(key, sizeof(key), topic, "k-1");
    r = redisCommand(f->c, "TTL %s", key);
    assert_true(r->integer > 86000 && r->integer <= 86400);
    freeReplyObject(r);
}

static void test_retention_by_count(void **state)
{
    struct fix *f = *state;
    struct pub p = {.maxlen = "3"};
    char topic[64];
    redisReply *r = NULL;
    int i;

    topic_name(topic, sizeof(topic), "lua/keep");
    for (i = 1; i <= 5; i++)
        assert_int_equal(pub_seq(f->c, topic, &p), i);
    r = read_fn(f->c, "pl_since", topic, since_keys, 3, "0", "100");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 6);
    assert_int_equal(r->element[0]->integer, 5);   /* latest */
    assert_string_equal(r->element[1]->str, "e1"); /* epoch */
    assert_int_equal(r->element[2]->integer, 3);   /* oldest kept */
    assert_int_equal(payload_seq(r->element[3]), 3);
    assert_int_equal(payload_seq(r->element[5]), 5);
    freeReplyObject(r);
    /* since inside the kept range, with a limit. */
    r = read_fn(f->c, "pl_since", topic, since_keys, 3, "3", "1");
    assert_int_equal(r->elements, 4);
    assert_int_equal(payload_seq(r->element[3]), 4);
    freeReplyObject(r);
    /* since at the latest: nothing to send. */
    r = read_fn(f->c, "pl_since", topic, since_keys, 3, "5", "100");
    assert_int_equal(r->elements, 3);
    freeReplyObject(r);
}

static void test_retention_by_age(void **state)
{
    struct fix *f = *state;
    struct pub old1 = {.ts = "1000"};
    struct pub old2 = {.ts = "2000"};
    struct pub young = {.ts = "10000", .min_ts = "5000"};
    char topic[64];
    redisReply *r = NULL;

    topic_name(topic, sizeof(topic), "lua/age");
    assert_int_equal(pub_seq(f->c, topic, &old1), 1);
    assert_int_equal(pub_seq(f->c, topic, &old2), 2);
    assert_int_equal(pub_seq(f->c, topic, &young), 3);
    r = read_fn(f->c, "pl_since", topic, since_keys, 3, "0", "100");
    assert_int_equal(r->element[2]->integer, 3);
    assert_int_equal(r->elements, 4);
    freeReplyObject(r);
}

static void test_retained(void **state)
{
    static const enum redis_topic_key keys[3] = {
        REDIS_KEY_SEQ,
        REDIS_KEY_RET,
        REDIS_KEY_EPOCH,
    };
    struct fix *f = *state;
    struct pub set = {.retain = "1", .data = "21.5"};
    struct pub plain = {.data = "22"};
    struct pub clear = {.retain = "2", .data = "null"};
    char topic[64];
    struct redis_event ev;
    redisReply *r = NULL;

    topic_name(topic, sizeof(topic), "lua/ret");
    r = read_fn(f->c, "pl_retained", topic, keys, 3, NULL, NULL);
    assert_int_equal(r->element[0]->integer, 0);
    assert_string_equal(r->element[1]->str, "");
    assert_string_equal(r->element[2]->str, "");
    freeReplyObject(r);
    assert_int_equal(pub_seq(f->c, topic, &set), 1);
    assert_int_equal(pub_seq(f->c, topic, &plain), 2);
    r = read_fn(f->c, "pl_retained", topic, keys, 3, NULL, NULL);
    assert_int_equal(r->element[0]->integer, 2);
    assert_int_equal(
        redis_event_parse(r->element[2]->str, r->element[2]->len, &ev), 0);
    assert_int_equal(ev.seq, 1);
    assert_true(ev.retain);
    assert_memory_equal(ev.data, "21.5", 4);
    freeReplyObject(r);
    assert_int_equal(pub_seq(f->c, topic, &clear), 3);
    r = read_fn(f->c, "pl_retained", topic, keys, 3, NULL, NULL);
    assert_int_equal(r->element[0]->integer, 3);
    assert_string_equal(r->element[2]->str, "");
    freeReplyObject(r);
}

static void test_history(void **state)
{
    struct fix *f = *state;
    struct pub p = {0};
    char topic[64];
    redisReply *r = NULL;
    int i;

    topic_name(topic, sizeof(topic), "lua/hist");
    for (i = 1; i <= 5; i++)
        assert_int_equal(pub_seq(f->c, topic, &p), i);
    r = read_fn(f->c, "pl_history", topic, since_keys, 3, "", "2");
    assert_int_equal(r->elements, 4);
    assert_int_equal(r->element[0]->integer, 5);
    assert_int_equal(payload_seq(r->element[2]), 4);
    assert_int_equal(payload_seq(r->element[3]), 5);
    freeReplyObject(r);
    r = read_fn(f->c, "pl_history", topic, since_keys, 3, "4", "2");
    assert_int_equal(r->elements, 4);
    assert_int_equal(payload_seq(r->element[2]), 2);
    assert_int_equal(payload_seq(r->element[3]), 3);
    freeReplyObject(r);
    r = read_fn(f->c, "pl_history", topic, since_keys, 3, "1", "50");
    assert_int_equal(r->elements, 2);
    freeReplyObject(r);
}

/* The library and the data survive a SIGKILL of redis-server (AOF with
 * appendfsync always); a restart without data gets a new epoch. */
static void test_epoch_and_restarts(void **state)
{
    struct fix *f = *state;
    struct pub first = {.epoch = "aaa"};
    struct pub later = {.epoch = "bbb"};
    struct pub after = {.epoch = "ccc"};
    struct pub_result res;
    char topic[64];

    topic_name(topic, sizeof(topic), "lua/epoch");
    assert_int_equal(publish(f->c, topic, &first, &res), 0);
    assert_string_equal(res.epoch, "aaa");
    assert_int_equal(publish(f->c, topic, &later, &res), 0);
    assert_string_equal(res.epoch, "aaa");
    assert_int_equal(res.seq, 2);

    redisFree(f->c);
    assert_int_equal(redis_proc_restart(f->redis, 0), 0);
    f->c = redis_proc_connect(f->redis);
    assert_non_null(f->c);
    /* No FUNCTION LOAD: the library came back with the AOF. */
    assert_int_equal(publish(f->c, topic, &later, &res), 0);
    assert_int_equal(res.seq, 3);
    assert_string_equal(res.epoch, "aaa");

    redisFree(f->c);
    assert_int_equal(redis_proc_restart(f->redis, 1), 0);
    f->c = redis_proc_connect(f->redis);
    assert_non_null(f->c);
    assert_int_equal(load_library(f->c), 0);
    assert_int_equal(publish(f->c, topic, &after, &res), 0);
    assert_int_equal(res.seq, 1);
    assert_string_equal(res.epoch, "ccc");
}

/* The durability promise under appendfsync always: whatever pl_publish
 * acknowledged is there after a SIGKILL of redis-server right after the
 * last ack. Pipelined, so that Redis has many writes in flight when the
 * kill comes. */
static void test_acked_survives_kill9(void **state)
{
    struct fix *f = *state;
    char keys[4][REDIS_NAME_MAX];
    char channel[REDIS_NAME_MAX];
    char topic[64];
    redisReply *r = NULL;
    int i;
    enum { N = 500 };

    topic_name(topic, sizeof(topic), "lua/kill9");
    redis_layout_topic_key(keys[0], sizeof(keys[0]), topic, REDIS_KEY_SEQ);
    redis_layout_topic_key(keys[1], sizeof(keys[1]), topic, REDIS_KEY_LOG);
    redis_layout_topic_key(keys[2], sizeof(keys[2]), topic, REDIS_KEY_RET);
    redis_layout_topic_key(keys[3], sizeof(keys[3]), topic, REDIS_KEY_EPOCH);
    redis_layout_channel(channel, sizeof(channel), topic);
    for (i = 0; i < N; i++)
        assert_int_equal(redisAppendCommand(f->c,
                                            "FCALL pl_publish 4 %s %s"
                                            " %s %s %s 1 k %d 0 0 e 60 0",
                                            keys[0], keys[1], keys[2], keys[3],
                                            channel, i),
                         REDIS_OK);
    for (i = 0; i < N; i++) {
        assert_int_equal(redisGetReply(f->c, (void **)&r), REDIS_OK);
        assert_int_equal(r->element[0]->integer, i + 1);
        freeReplyObject(r);
    }
    redisFree(f->c);
    assert_int_equal(redis_proc_restart(f->redis, 0), 0);
    f->c = redis_proc_connect(f->redis);
    assert_non_null(f->c);
    r = redisCommand(f->c, "GET %s", keys[0]);
    assert_string_equal(r->str, "500");
    freeReplyObject(r);
    r = redisCommand(f->c, "XLEN %s", keys[1]);
    assert_int_equal(r->integer, N);
    freeReplyObject(r);
}

/* FCALL a presence function: KEYS topic pres, node pres; ARGV field, user,
 * channel. Returns its integer. */
static long long pres(redisContext *c, const char *fn, const char *node,
                      const char *topic, const char *user)
{
    char k1[REDIS_NAME_MAX];
    char k2[REDIS_NAME_MAX];
    char field[REDIS_NAME_MAX];
    char channel[REDIS_NAME_MAX];
    const char *argv[8] = {"FCALL", fn, "2", k1, k2, field, user, channel};
    redisReply *r = NULL;
    long long v = -1;

    redis_layout_topic_key(k1, sizeof(k1), topic, REDIS_KEY_PRES);
    redis_layout_node_pres_key(k2, sizeof(k2), node);
    redis_layout_pres_field(field, sizeof(field), topic, user);
    redis_layout_channel(channel, sizeof(channel), topic);
    r = redisCommandArgv(c, 8, argv, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else
        fprintf(stderr, "%s: %s\n", fn, r->str);
    freeReplyObject(r);
    return v;
}

static redisReply *members(redisContext *c, const char *topic)
{
    static const enum redis_topic_key k[1] = {REDIS_KEY_PRES};

    return read_fn(c, "pl_pres_members", topic, k, 1, NULL, NULL);
}

static long long beat(redisContext *c, const char *node, const char *ttl)
{
    char hb[REDIS_NAME_MAX];
    redisReply *r = NULL;
    long long v = -1;

    redis_layout_node_key(hb, sizeof(hb), node);
    r = redisCommand(c, "FCALL pl_node_beat 2 %s %s %s %s info",
                     REDIS_LAYOUT_NODES, hb, node, ttl);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static void test_presence_across_nodes(void **state)
{
    struct fix *f = *state;
    char topic[64];
    char got[256];
    redisContext *s = NULL;
    redisReply *r = NULL;

    topic_name(topic, sizeof(topic), "lua/pres");
    s = subscriber(f, topic);
    assert_int_equal(pres(f->c, "pl_pres_join", "nA", topic, "alice"), 1);
    assert_int_equal(pres(f->c, "pl_pres_join", "nA", topic, "alice"), 0);
    assert_int_equal(pres(f->c, "pl_pres_join", "nB", topic, "alice"), 0);
    r = members(f->c, topic);
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "alice");
    freeReplyObject(r);
    assert_int_equal(pres(f->c, "pl_pres_leave", "nA", topic, "alice"), 0);
    assert_int_equal(pres(f->c, "pl_pres_leave", "nA", topic, "alice"), 0);
    assert_int_equal(pres(f->c, "pl_pres_leave", "nB", topic, "alice"), 1);
    r = members(f->c, topic);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    /* One join and one leave crossed the channel, whatever the nodes. */
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "j alice");
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "l alice");
    redisFree(s);
}

static void test_dead_node_is_reaped_once(void **state)
{
    struct fix *f = *state;
    char topic[64];
    char got[256];
    char node[32];
    redisContext *s = NULL;
    redisReply *r = NULL;
    struct timespec t0;
    struct timespec now;
    bool reaped = false;
    long long live = 0;

    snprintf(node, sizeof(node), "dead%d", (int)getpid());
    topic_name(topic, sizeof(topic), "lua/reap");
    s = subscriber(f, topic);
    live = beat(f->c, "keeper", "30000");
    assert_true(beat(f->c, node, "150") == live + 1);
    assert_int_equal(pres(f->c, "pl_pres_join", node, topic, "bob"), 1);
    assert_int_equal(pres(f->c, "pl_pres_join", "keeper", topic, "carol"), 1);
    /* The heartbeat is not refreshed: poll the reaper, bounded. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct timespec nap = {0, 20 * 1000000};

        r = redisCommand(f->c, "FCALL pl_node_reap 1 %s 16",
                         REDIS_LAYOUT_NODES);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        for (size_t i = 0; i < r->elements; i++)
            if (strcmp(r->element[i]->str, node) == 0)
                reaped = true;
        freeReplyObject(r);
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (!reaped && now.tv_sec - t0.tv_sec < 5);
    assert_true(reaped);
    r = members(f->c, topic);
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "carol");
    freeReplyObject(r);
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "j bob");
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "j carol");
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "l bob");
    /* Forgotten once: a second reap finds nothing of it. */
    r = redisCommand(f->c, "FCALL pl_node_reap 1 %s 16", REDIS_LAYOUT_NODES);
    for (size_t i = 0; i < r->elements; i++)
        assert_string_not_equal(r->element[i]->str, node);
    freeReplyObject(r);
    r = redisCommand(f->c, "EXISTS pl:node:%s:pres", node);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* A draining node forgets itself at once. */
    r = redisCommand(f->c, "FCALL pl_node_leave 1 %s keeper",
                     REDIS_LAYOUT_NODES);
    freeReplyObject(r);
    next_payload(s, got, sizeof(got));
    assert_string_equal(got, "l carol");
    redisFree(s);
}

static void set_config(redisContext *c, const char *name, const char *v)
{
    redisReply *r = redisCommand(c, "CONFIG SET %s %s", name, v);

    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static void test_durability_check(void **state)
{
    struct fix *f = *state;
    char why[512];

    assert_int_equal(
        redis_durability_check(f->c, REDIS_DURABILITY_STRICT, why, sizeof(why)),
        0);
    set_config(f->c, "appendfsync", "everysec");
    assert_int_equal(
        redis_durability_check(f->c, REDIS_DURABILITY_STRICT, why, sizeof(why)),
        -EPERM);
    print_message("strict on everysec: %s\n", why);
    assert_non_null(strstr(why, "appendfsync always"));
    assert_int_equal(redis_durability_check(f->c, REDIS_DURABILITY_RELAXED, why,
                                            sizeof(why)),
                     0);
    assert_non_null(strstr(why, "second or two"));
    set_config(f->c, "appendonly", "no");
    assert_int_equal(redis_durability_check(f->c, REDIS_DURABILITY_RELAXED, why,
                                            sizeof(why)),
                     -EPERM);
    assert_non_null(strstr(why, "appendonly yes"));
    assert_int_equal(
        redis_durability_check(f->c, REDIS_DURABILITY_NONE, why, sizeof(why)),
        0);
    set_config(f->c, "appendonly", "yes");
    set_config(f->c, "appendfsync", "always");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_appends_in_order),
        cmocka_unit_test(test_publish_reaches_the_channel),
        cmocka_unit_test(test_idempotent_key),
        cmocka_unit_test(test_retention_by_count),
        cmocka_unit_test(test_retention_by_age),
        cmocka_unit_test(test_retained),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_presence_across_nodes),
        cmocka_unit_test(test_dead_node_is_reaped_once),
        cmocka_unit_test(test_epoch_and_restarts),
        cmocka_unit_test(test_acked_survives_kill9),
        /* Last: it turns the AOF off and on, which makes Redis rewrite it
         * in the background (a restart then would test Redis, not us). */
        cmocka_unit_test(test_durability_check),
    };

    return cmocka_run_group_tests(tests, setup, redis_fix_teardown);
}
