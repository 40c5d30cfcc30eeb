/*
 * it_redis_calls.c: the typed calls over the link against a real
 * redis-server: what each returns, parsed, and how errors come back (a
 * refused call never calls back; a Redis error is -EPROTO).
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
#include "redis_proc.h"

#define WAIT_MS 8000

/* What one call brought back, copied out of the borrowed result. */
struct got {
    int calls;
    int err;
    uint64_t seq;
    bool dup;
    char epoch[32];
    uint64_t latest;
    uint64_t oldest;
    size_t n;
    uint64_t seqs[16];
    bool retain[16];
    char first_from[32];
    char first_data[64];
    long long value;
    char items[8][32];
    int refused;       /* pl_publish refused an edit or a deletion */
    bool redacted[16]; /* rows: a deleted message's stub */
    uint64_t edit_of[16];
    long long ints[8]; /* pl_mark, pl_unread */
    char raw[16][16];  /* rows: the exact MQTT payload, hex ("": none) */
};

static int n_topic;

static void topic_name(char *buf, size_t n, const char *prefix)
{
    snprintf(buf, n, "%s/%d-%d", prefix, (int)getpid(), ++n_topic);
}

static void on_pub(int err, const struct redis_pub_result *r, void *ud)
{
    struct got *g = ud;

    g->calls++;
    g->err = err;
    if (r != NULL) {
        g->seq = r->seq;
        g->dup = r->duplicate;
        g->refused = (int)r->refused;
        snprintf(g->epoch, sizeof(g->epoch), "%s", r->epoch);
    }
}

/* bytes[0..n) in hex into out (cap), cut short when it does not fit. */
static void hex(char *out, size_t cap, const char *bytes, size_t n)
{
    size_t i = 0;

    out[0] = '\0';
    for (i = 0; i < n && 2 * i + 2 < cap; i++)
        snprintf(out + 2 * i, cap - 2 * i, "%02x", (unsigned char)bytes[i]);
}

static void on_rows(int err, const struct redis_rows *r, void *ud)
{
    struct got *g = ud;
    size_t i;

    g->calls++;
    g->err = err;
    if (r == NULL)
        return;
    g->latest = r->latest;
    g->oldest = r->oldest;
    g->n = r->n;
    snprintf(g->epoch, sizeof(g->epoch), "%s", r->epoch);
    for (i = 0; i < r->n && i < 16; i++) {
        g->seqs[i] = r->rows[i].seq;
        g->retain[i] = r->rows[i].retain;
        g->redacted[i] = r->rows[i].redacted;
        g->edit_of[i] = r->rows[i].edit_of;
        hex(g->raw[i], sizeof(g->raw[i]), r->rows[i].raw,
            r->rows[i].raw_len);
    }
    if (r->n > 0) {
        snprintf(g->first_from, sizeof(g->first_from), "%.*s",
                 (int)r->rows[0].from_len, r->rows[0].from);
        snprintf(g->first_data, sizeof(g->first_data), "%.*s",
                 (int)r->rows[0].data_len, r->rows[0].data);
    }
}

static void on_int(int err, long long v, void *ud)
{
    struct got *g = ud;

    g->calls++;
    g->err = err;
    g->value = v;
}

static void on_list(int err, size_t n, const char *const *items, void *ud)
{
    struct got *g = ud;
    size_t i;

    g->calls++;
    g->err = err;
    g->n = n;
    for (i = 0; i < n && i < 8; i++)
        snprintf(g->items[i], sizeof(g->items[i]), "%s", items[i]);
}

static void on_ints(int err, size_t n, const long long *v, void *ud)
{
    struct got *g = ud;

    g->calls++;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        g->ints[i] = v[i];
}

static void wait_for(struct link_fix *f, struct got *g)
{
    assert_true(link_loop_until(&f->ll, &g->calls, 1, WAIT_MS));
    assert_int_equal(g->calls, 1);
}

/* Publish data on topic (key may be NULL); returns the seq. */
static uint64_t pub(struct link_fix *f, const char *topic, const char *key,
                    const char *data, int retain, struct got *g)
{
    struct redis_pub_req req = {
        .topic = topic,
        .key = key,
        .from = "alice",
        .data = data,
        .data_len = strlen(data),
        .retain = retain,
        .ts = 1764130000123LL,
        .maxlen = 100,
        .window_s = 3600,
        .epoch = "feedfacefeedface",
    };

    memset(g, 0, sizeof(*g));
    assert_int_equal(redis_call_publish(f->link, &req, on_pub, g), 0);
    wait_for(f, g);
    assert_int_equal(g->err, 0);
    return g->seq;
}

static void test_publish(void **state)
{
    struct link_fix *f = *state;
    struct redis_pub_req req = {
        .from = "bob",
        .data = "[1,2]trailing",
        .data_len = 5,
        .ts = 5,
        .window_s = 60,
        .epoch = "feedfacefeedface",
    };
    char topic[64];
    struct got g;

    topic_name(topic, sizeof(topic), "calls/pub");
    assert_int_equal(pub(f, topic, "k1", "1", 0, &g), 1);
    assert_false(g.dup);
    assert_string_equal(g.epoch, "feedfacefeedface");
    assert_int_equal(pub(f, topic, "k1", "1", 0, &g), 1);
    assert_true(g.dup);
    /* data_len, not the NUL, bounds the data. */
    req.topic = topic;
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_publish(f->link, &req, on_pub, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.seq, 2);
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_since(f->link, topic, 1, 10, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.first_from, "bob");
    assert_string_equal(g.first_data, "[1,2]");
}

static void test_since_history_retained(void **state)
{
    struct link_fix *f = *state;
    char topic[64];
    struct got g;

    topic_name(topic, sizeof(topic), "calls/read");
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_retained(f->link, topic, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.latest, 0);
    assert_int_equal(g.n, 0);
    assert_string_equal(g.epoch, "");

    pub(f, topic, NULL, "{\"a\":1}", 1, &g);
    pub(f, topic, NULL, "2", 0, &g);
    pub(f, topic, NULL, "3", 0, &g);

    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_since(f->link, topic, 1, 10, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.latest, 3);
    assert_int_equal(g.oldest, 1);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.seqs[0], 2);
    assert_int_equal(g.seqs[1], 3);
    assert_string_equal(g.epoch, "feedfacefeedface");

    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_history(f->link, topic, 3, 10, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.seqs[0], 1);
    assert_int_equal(g.seqs[1], 2);
    assert_true(g.retain[0]);
    assert_string_equal(g.first_data, "{\"a\":1}");

    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_history(f->link, topic, 0, 1, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seqs[0], 3);

    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_retained(f->link, topic, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.latest, 3);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seqs[0], 1);
    assert_true(g.retain[0]);
}

/* A chat publish (#16): from, relations and history bound as given; a
 * topic's first message is retained. Returns the seq (0 when refused:
 * g->refused says why). */
static uint64_t chat_pub_at(struct link_fix *f, const char *topic, const char *from,
                            const char *data, int64_t edit_of, int64_t redacts,
                            uint32_t maxlen, int64_t ts, int64_t min_ts,
                            struct got *g)
{
    struct redis_pub_req req = {
        .topic = topic,
        .from = from,
        .data = data,
        .data_len = strlen(data),
        .retain = strcmp(data, "{\"t\":\"a\"}") == 0 ? 1 : 0,
        .ts = ts,
        .min_ts = min_ts,
        .maxlen = maxlen,
        .window_s = 3600,
        .epoch = "feedfacefeedface",
        .edit_of = edit_of,
        .redacts = redacts,
    };

    memset(g, 0, sizeof(*g));
    assert_int_equal(redis_call_publish(f->link, &req, on_pub, g), 0);
    wait_for(f, g);
    assert_int_equal(g->err, 0);
    return g->seq;
}

static uint64_t chat_pub(struct link_fix *f, const char *topic, const char *from,
                         const char *data, int64_t edit_of, int64_t redacts,
                         uint32_t maxlen, struct got *g)
{
    return chat_pub_at(f, topic, from, data, edit_of, redacts, maxlen,
                       1764130000123LL, 0, g);
}

static void since_rows(struct link_fix *f, const char *topic, uint64_t since,
                       uint32_t limit, struct got *g)
{
    memset(g, 0, sizeof(*g));
    assert_int_equal(redis_call_since(f->link, topic, since, limit, on_rows, g),
                     0);
    wait_for(f, g);
    assert_int_equal(g->err, 0);
}

/* A message published over MQTT whose payload its data does not give
 * back (#14) keeps the exact bytes (any: here a NUL and "m 1 "): in the
 * stream, as the retained value and through an edit; a deletion's stub
 * drops them with the data. */
static void test_raw(void **state)
{
    static const char raw[] = {'{', '\0', 'm', ' ', '1', ' '};
    struct link_fix *f = *state;
    struct redis_pub_req req = {
        .from = "dev",
        .data = "{\"t\":21.5}",
        .data_len = 10,
        .retain = 1,
        .ts = 5,
        .window_s = 60,
        .epoch = "feedfacefeedface",
        .raw = (const unsigned char *)raw,
        .raw_len = sizeof(raw),
    };
    char topic[64];
    struct got g;

    topic_name(topic, sizeof(topic), "calls/raw");
    req.topic = topic;
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_publish(f->link, &req, on_pub, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.seq, 1);
    pub(f, topic, NULL, "2", 0, &g);
    since_rows(f, topic, 0, 10, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.raw[0], "7b006d203120");
    assert_string_equal(g.first_data, "{\"t\":21.5}");
    assert_string_equal(g.raw[1], "");
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_retained(f->link, topic, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.raw[0], "7b006d203120");
    /* its author may edit it (the target's fields are read past the
     * bytes), then delete it: the stub has neither data nor bytes, and
     * the retained value (it) is gone */
    assert_int_equal(chat_pub(f, topic, "dev", "1", 1, 0, 0, &g), 3);
    assert_int_equal(chat_pub(f, topic, "eve", "1", 1, 0, 0, &g), 0);
    assert_int_equal(g.refused, REDIS_PUB_NOT_AUTHOR);
    assert_int_equal(chat_pub(f, topic, "dev", "null", 0, 1, 0, &g), 4);
    since_rows(f, topic, 0, 10, &g);
    assert_int_equal(g.seqs[0], 1);
    assert_true(g.redacted[0]);
    assert_string_equal(g.first_data, "null");
    assert_string_equal(g.raw[0], "");
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_retained(f->link, topic, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 0);
}

/* Edits and deletions inside pl_publish: the checks, the stubs merged
 * back into reads in seq order under their limits, retention by seq, and
 * the registry, markers and unread counts. */
static void test_chat(void **state)
{
    struct link_fix *f = *state;
    char topic[64];
    struct got g;
    const char *names[1];

    topic_name(topic, sizeof(topic), "calls/chat");
    assert_int_equal(chat_pub(f, topic, "alice", "{\"t\":\"a\"}", 0, 0, 5, &g),
                     1); /* retained */
    assert_int_equal(chat_pub(f, topic, "alice", "2", 0, 0, 5, &g), 2);
    assert_int_equal(chat_pub(f, topic, "bob", "3", 0, 0, 5, &g), 3);
    /* refused: someone else's, no such seq; nothing stored */
    assert_int_equal(chat_pub(f, topic, "bob", "x", 1, 0, 5, &g), 0);
    assert_int_equal(g.refused, REDIS_PUB_NOT_AUTHOR);
    assert_int_equal(chat_pub(f, topic, "alice", "x", 99, 0, 5, &g), 0);
    assert_int_equal(g.refused, REDIS_PUB_BAD_TARGET);
    assert_int_equal(chat_pub(f, topic, "alice", "{\"t\":\"b\"}", 1, 0, 5, &g),
                     4);
    assert_int_equal(chat_pub(f, topic, "alice", "x", 4, 0, 5, &g), 0);
    assert_int_equal(g.refused, REDIS_PUB_BAD_TARGET); /* an edit */
    assert_int_equal(chat_pub(f, topic, "alice", "null", 0, 1, 5, &g), 5);
    assert_int_equal(chat_pub(f, topic, "alice", "null", 0, 1, 5, &g), 0);
    assert_int_equal(g.refused, REDIS_PUB_BAD_TARGET); /* deleted */

    /* 1 and its edit 4 are stubs now, in place, under the limit */
    since_rows(f, topic, 0, 2, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.oldest, 1);
    assert_int_equal(g.seqs[0], 1);
    assert_true(g.redacted[0]);
    assert_string_equal(g.first_data, "null");
    assert_int_equal(g.seqs[1], 2);
    assert_false(g.redacted[1]);
    since_rows(f, topic, 2, 10, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.seqs[1], 4);
    assert_true(g.redacted[1]);
    assert_int_equal(g.edit_of[1], 1);
    assert_int_equal(g.seqs[2], 5);
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_history(f->link, topic, 0, 2, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.seqs[0], 4);
    assert_int_equal(g.seqs[1], 5);
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_history(f->link, topic, 4, 2, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.seqs[0], 2);
    assert_int_equal(g.seqs[1], 3);
    memset(&g, 0, sizeof(g)); /* the retained message was 1: gone */
    assert_int_equal(redis_call_retained(f->link, topic, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 0);

    /* history keeps the newest 5 seqs: stub 1 goes with 2 and 3, stub 4
     * stays */
    for (uint64_t s = 6; s <= 8; s++)
        assert_int_equal(chat_pub(f, topic, "alice", "7", 0, 0, 5, &g), s);
    since_rows(f, topic, 0, 10, &g);
    assert_int_equal(g.oldest, 4);
    assert_int_equal(g.n, 5);
    assert_int_equal(g.seqs[0], 4);
    assert_true(g.redacted[0]);
    assert_int_equal(g.seqs[4], 8);

    /* markers: forward only, capped at the latest seq */
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_mark(f->link, topic, "carol", 5, "n1", on_ints, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.ints[0], 5);
    assert_int_equal(g.ints[1], 1);
    assert_int_equal(g.ints[2], 8);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_mark(f->link, topic, "carol", 2, "n1", on_ints, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.ints[0], 5);
    assert_int_equal(g.ints[1], 0);
    /* unread after 5: 6, 7, 8 by alice; as alice herself: none */
    names[0] = topic;
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_unread(f->link, names, 1, "carol", 1000, 4000, on_ints, &g),
        0);
    wait_for(f, &g);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.ints[0], 8);
    assert_int_equal(g.ints[1], 5);
    assert_int_equal(g.ints[2], 3);
    assert_int_equal(g.ints[3], 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_unread(f->link, names, 1, "alice", 2, 4000, on_ints, &g), 0);
    wait_for(f, &g);
    /* bob's 3 was trimmed, 4 is a stub, 5 a deletion, 6-8 hers */
    assert_int_equal(g.ints[1], 0);
    assert_int_equal(g.ints[2], 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_unread(f->link, names, 1, "dave", 2, 4000, on_ints, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.ints[2], 2); /* stopped at max */
    assert_int_equal(g.ints[3], 1);

    /* the registry lists the topic under its prefix, not elsewhere */
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_topics(f->link, "calls/chat", NULL, 10, on_list, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.items[0], topic);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_topics(f->link, "calls/chat", topic, 10, on_list, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_topics(f->link, "calls/pub", NULL, 10, on_list, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 1); /* test_publish's topic */
}

/* --retain-age takes a deleted message's stub with the entries of its
 * time, and the edit index with them. */
static void test_chat_retention_by_age(void **state)
{
    struct link_fix *f = *state;
    char topic[64];
    struct got g;

    topic_name(topic, sizeof(topic), "calls/chatage");
    assert_int_equal(chat_pub_at(f, topic, "al", "1", 0, 0, 0, 1000, 0, &g), 1);
    assert_int_equal(chat_pub_at(f, topic, "al", "2", 1, 0, 0, 1000, 0, &g), 2);
    assert_int_equal(chat_pub_at(f, topic, "al", "null", 0, 1, 0, 3000, 0, &g),
                     3);
    since_rows(f, topic, 0, 10, &g);
    assert_int_equal(g.n, 3);
    assert_true(g.redacted[0]);
    assert_true(g.redacted[1]);
    /* at 5000 with a 2 s bound: 1 and 2 (stubs of ts 1000) go, 3 stays */
    assert_int_equal(chat_pub_at(f, topic, "al", "4", 0, 0, 0, 5000, 3000, &g),
                     4);
    since_rows(f, topic, 0, 10, &g);
    assert_int_equal(g.oldest, 3);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.seqs[0], 3);
    assert_int_equal(g.seqs[1], 4);
}

static void test_presence_and_nodes(void **state)
{
    struct link_fix *f = *state;
    char topic[64];
    char node[32];
    struct got g;
    int64_t deadline = 0;
    bool reaped = false;

    topic_name(topic, sizeof(topic), "calls/pres");
    snprintf(node, sizeof(node), "n%d", (int)getpid());
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_node_beat(f->link, node, 100, on_int, &g), 0);
    wait_for(f, &g);
    assert_true(g.value >= 1);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_pres_join(f->link, node, topic, "dora", on_int, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.value, 1);
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_pres_members(f->link, topic, on_list, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.items[0], "dora");
    /* The node stops beating: the reaper forgets it and its member. */
    deadline = link_loop_ms() + 5000;
    while (!reaped && link_loop_ms() < deadline) {
        size_t i;

        memset(&g, 0, sizeof(g));
        assert_int_equal(redis_call_node_reap(f->link, 16, on_list, &g), 0);
        wait_for(f, &g);
        for (i = 0; i < g.n && i < 8; i++)
            reaped = reaped || strcmp(g.items[i], node) == 0;
        link_loop_for(&f->ll, 20);
    }
    assert_true(reaped);
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_pres_members(f->link, topic, on_list, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.n, 0);
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        redis_call_pres_leave(f->link, node, topic, "dora", on_int, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.value, 0);
}

static void test_errors(void **state)
{
    struct link_fix *f = *state;
    char topic[600];
    struct got g;
    redisContext *c = NULL;
    redisReply *r = NULL;
    const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", redis_lua_library};

    /* A name too long for the layout is refused before Redis. */
    memset(topic, 'a', sizeof(topic) - 1);
    topic[sizeof(topic) - 1] = '\0';
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_retained(f->link, topic, on_rows, &g),
                     -ENAMETOOLONG);
    /* Redis answers an error: -EPROTO, once. */
    c = redis_proc_connect(f->redis);
    assert_non_null(c);
    r = redisCommand(c, "FUNCTION DELETE parley");
    freeReplyObject(r);
    topic_name(topic, sizeof(topic), "calls/err");
    assert_int_equal(redis_call_since(f->link, topic, 0, 10, on_rows, &g), 0);
    wait_for(f, &g);
    assert_int_equal(g.err, -EPROTO);
    r = redisCommandArgv(c, 4, argv, NULL);
    freeReplyObject(r);
    redisFree(c);
    /* Redis gone: refused at once, no callback. */
    assert_int_equal(redis_proc_kill9(f->redis), 0);
    assert_true(link_loop_until_up(&f->ll, f->link, false, WAIT_MS));
    memset(&g, 0, sizeof(g));
    assert_int_equal(redis_call_since(f->link, topic, 0, 10, on_rows, &g),
                     -ENOTCONN);
    link_loop_for(&f->ll, 50);
    assert_int_equal(g.calls, 0);
    assert_int_equal(redis_proc_restart(f->redis, 0), 0);
    assert_true(link_loop_until_up(&f->ll, f->link, true, WAIT_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_since_history_retained),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_chat_retention_by_age),
        cmocka_unit_test(test_presence_and_nodes),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, link_fix_setup, link_fix_teardown);
}
