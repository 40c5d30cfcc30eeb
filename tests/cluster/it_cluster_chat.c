/*
 * it_cluster_chat.c: the chat additions of #16 in cluster mode: three real
 * parleyd nodes with --redis on one real redis-server, each client on the
 * node a test names. Edit and delete (author only, targets that are no
 * plain message refused, checked inside the publish function), replies,
 * and what a deletion leaves (the original as {"data":null,
 * "redacted":true} in history and replays read on other nodes, and its
 * text gone from Redis); read markers kept in Redis (marked reaching the
 * user's connections on every node, unread over topics this node never
 * heard, markers surviving a SIGKILLed node); search answering a clear
 * bad_request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <poll.h>

#include <hiredis/hiredis.h>

#include "itest.h"
#include "rig_fixture.h"

#define W ITEST_WAIT_MS

/* Send a command made of fmt (a literal: id, topic, seq). */
#define SEND(c, fmt, id, topic, n)                                             \
    assert_int_equal(                                                          \
        rawws_send_textf((c), fmt, (long long)(id), (topic), (long long)(n)),  \
        0)

/* The next frame must be the ok of id; returns its seq, or -1. */
static int64_t ok_seq(struct rawws *c, int64_t id)
{
    cJSON *ok = rawws_expect_ok(c, id, W);
    int64_t seq = -1;

    if (ok != NULL)
        seq = tj_int_or(ok, "seq", -1);
    cJSON_Delete(ok);
    return seq;
}

/* The next frame must be the error of id with code; returns it. */
static cJSON *refused(struct rawws *c, int64_t id, const char *code)
{
    cJSON *err = rawws_expect_error(c, id, code, W);

    assert_non_null(err);
    return err;
}

#define EDIT                                                                   \
    "{\"op\":\"edit\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld,"              \
    "\"data\":{\"text\":\"secretplan v2\"}}"
#define DELETE "{\"op\":\"delete\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld}"
#define REPLY                                                                  \
    "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\","                            \
    "\"data\":{\"text\":\"why?\"},\"reply_to\":%lld}"
#define MARK "{\"op\":\"mark\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld}"

/* The four messages of test_edit_delete_reply, however they are read:
 * 1 deleted, 2 a reply to 1, 3 an edit of 1 (erased with it), 4 the
 * deletion. */
static void check_chat_rows(cJSON **m, int n)
{
    assert_int_equal(n, 4);
    assert_int_equal(tj_int_or(m[0], "seq", -1), 1);
    assert_true(tj_is_null(m[0], "data"));
    assert_true(tj_is_true(m[0], "redacted"));
    assert_true(tj_str_is(m[0], "from", "alice"));
    assert_true(tj_has(m[0], "ts"));
    assert_int_equal(tj_int_or(m[1], "reply_to", -1), 1);
    assert_false(tj_has(m[1], "redacted"));
    assert_true(tj_str_is(m[1], "from", "bob"));
    assert_int_equal(tj_int_or(m[2], "seq", -1), 3);
    assert_int_equal(tj_int_or(m[2], "edit_of", -1), 1);
    assert_true(tj_is_null(m[2], "data"));
    assert_true(tj_is_true(m[2], "redacted"));
    assert_int_equal(tj_int_or(m[3], "redacts", -1), 1);
    assert_true(tj_is_null(m[3], "data"));
    assert_false(tj_has(m[3], "redacted"));
}

/* history, then a since replay, on node i, from a new connection. */
static void check_history(int i, const char *topic)
{
    struct rawws *c = rig_hello(i, "reader");
    cJSON *ok = NULL;
    cJSON *msgs = NULL;
    cJSON *m[4];
    int n = 0;

    assert_int_equal(rawws_send_textf(c,
                                      "{\"op\":\"history\",\"id\":2,"
                                      "\"topic\":\"%s\"}",
                                      topic),
                     0);
    ok = rawws_expect_ok(c, 2, W);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_true(cJSON_IsArray(msgs));
    n = cJSON_GetArraySize(msgs);
    assert_int_equal(n, 4);
    for (int k = 0; k < n; k++)
        m[k] = cJSON_GetArrayItem(msgs, k);
    check_chat_rows(m, n);
    cJSON_Delete(ok);

    /* history paging back from 3 sees the stub in place */
    assert_int_equal(rawws_send_textf(c,
                                      "{\"op\":\"history\",\"id\":3,"
                                      "\"topic\":\"%s\",\"before\":3,"
                                      "\"limit\":1}",
                                      topic),
                     0);
    ok = rawws_expect_ok(c, 3, W);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 1);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 0), "seq", -1), 2);
    cJSON_Delete(ok);

    assert_int_equal(rawws_send_textf(c,
                                      "{\"op\":\"sub\",\"id\":4,"
                                      "\"topic\":\"%s\",\"since\":0}",
                                      topic),
                     0);
    ok = rawws_expect_ok(c, 4, W);
    assert_non_null(ok);
    assert_false(tj_has(ok, "recovered"));
    cJSON_Delete(ok);
    assert_int_equal(itest_collect(c, m, 4, W), 4);
    check_chat_rows(m, 4);
    itest_free_all(m, 4);
    rawws_close(c);
}

/* Whether any key of Redis holds needle (SCAN, then every stream entry,
 * string and zset member). */
static bool redis_holds(const char *needle)
{
    redisContext *rc = redisConnect("127.0.0.1", redis_proc_port(rig.redis));
    redisReply *keys = NULL;
    bool found = false;

    assert_non_null(rc);
    assert_int_equal(rc->err, 0);
    keys = redisCommand(rc, "KEYS pl:*");
    assert_non_null(keys);
    for (size_t i = 0; i < keys->elements && !found; i++) {
        const char *k = keys->element[i]->str;
        redisReply *t = redisCommand(rc, "TYPE %s", k);
        redisReply *v = NULL;

        assert_non_null(t);
        if (strcmp(t->str, "stream") == 0)
            v = redisCommand(rc, "XRANGE %s - +", k);
        else if (strcmp(t->str, "string") == 0)
            v = redisCommand(rc, "GET %s", k);
        else if (strcmp(t->str, "zset") == 0)
            v = redisCommand(rc, "ZRANGE %s 0 -1", k);
        else if (strcmp(t->str, "hash") == 0)
            v = redisCommand(rc, "HGETALL %s", k);
        freeReplyObject(t);
        if (v == NULL)
            continue;
        /* Flatten the reply: any string in it holding needle counts. */
        {
            redisReply *stack[64];
            int top = 0;

            stack[top++] = v;
            while (top > 0 && !found) {
                redisReply *r = stack[--top];

                if (r->type == REDIS_REPLY_STRING)
                    found = strstr(r->str, needle) != NULL;
                for (size_t j = 0; j < r->elements && top < 64; j++)
                    stack[top++] = r->element[j];
            }
        }
        freeReplyObject(v);
    }
    freeReplyObject(keys);
    redisFree(rc);
    return found;
}

/* Alice writes on node 0, bob answers and listens on node 1, carol
 * listens on node 2: the same checks as it_15_chat, across nodes. */
static void test_edit_delete_reply(void **state)
{
    struct rawws *alice = rig_hello(0, "alice");
    struct rawws *bob = rig_hello(1, "bob");
    struct rawws *carol = rig_hello(2, "carol");
    char topic[96];
    cJSON *ok = NULL;
    cJSON *got[2];
    cJSON *m = NULL;

    (void)state;
    itest_topic(topic, sizeof(topic), "cchat");
    ok = itest_sub(bob, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(carol, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);

    assert_int_equal(itest_pub(alice, 3, topic, "{\"text\":\"secretplan\"}"),
                     1);
    cJSON_Delete(itest_expect_msg(bob, topic, 1, W));
    cJSON_Delete(itest_expect_msg(carol, topic, 1, W));

    /* bob answers 1 from node 1: he hears his own message and his ok,
     * carol on node 2 hears the reply with its reply_to. */
    SEND(bob, REPLY, 4, topic, 1);
    assert_int_equal(itest_collect(bob, got, 2, W), 2);
    m = itest_find_msg(got, 2, topic, 2);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "reply_to", -1), 1);
    assert_int_equal(tj_int_or(itest_find_ok(got, 2, 4), "seq", -1), 2);
    itest_free_all(got, 2);
    m = itest_expect_msg(carol, topic, 2, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "reply_to", -1), 1);
    cJSON_Delete(m);

    /* Only the author edits, whichever node she is on; a missing seq or
     * an edit is no target. */
    SEND(bob, EDIT, 5, topic, 1);
    cJSON_Delete(refused(bob, 5, "forbidden"));
    SEND(bob, DELETE, 6, topic, 1);
    cJSON_Delete(refused(bob, 6, "forbidden"));
    SEND(alice, EDIT, 7, topic, 99);
    cJSON_Delete(refused(alice, 7, "bad_request"));
    SEND(alice, EDIT, 8, topic, 1);
    assert_int_equal(ok_seq(alice, 8), 3);
    m = itest_expect_msg(bob, topic, 3, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "edit_of", -1), 1);
    assert_true(tj_str_is(m, "from", "alice"));
    cJSON_Delete(m);
    m = itest_expect_msg(carol, topic, 3, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "edit_of", -1), 1);
    cJSON_Delete(m);
    SEND(alice, EDIT, 9, topic, 3);
    cJSON_Delete(refused(alice, 9, "bad_request"));
    SEND(alice, DELETE, 10, topic, 3);
    cJSON_Delete(refused(alice, 10, "bad_request"));

    /* Deletion: a message of its own, the original and its edit erased. */
    SEND(alice, DELETE, 11, topic, 1);
    assert_int_equal(ok_seq(alice, 11), 4);
    m = itest_expect_msg(bob, topic, 4, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "redacts", -1), 1);
    assert_true(tj_is_null(m, "data"));
    cJSON_Delete(m);
    m = itest_expect_msg(carol, topic, 4, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "redacts", -1), 1);
    cJSON_Delete(m);
    SEND(alice, DELETE, 12, topic, 1);
    cJSON_Delete(refused(alice, 12, "bad_request"));
    SEND(alice, EDIT, 13, topic, 1);
    cJSON_Delete(refused(alice, 13, "bad_request"));
    SEND(alice, DELETE, 14, topic, 4);
    cJSON_Delete(refused(alice, 14, "bad_request"));
    assert_true(itest_nothing_more(bob, 15, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(carol, 15, ITEST_QUIET_MS));

    /* Read back on every node: node 1 and 2 heard it all live (their
     * rings were emptied by the deletion), node 0 only published. */
    for (int i = 0; i < RIG_NODES; i++)
        check_history(i, topic);
    assert_false(redis_holds("secretplan"));
    rawws_close(alice);
    rawws_close(bob);
    rawws_close(carol);
}

/* The next frame on c must be marked for topic at seq. */
static void expect_marked(struct rawws *c, const char *topic, int64_t seq)
{
    cJSON *m = rawws_expect_op(c, "marked", W);

    assert_non_null(m);
    assert_true(tj_str_is(m, "topic", topic));
    assert_int_equal(tj_int_or(m, "seq", -1), seq);
    cJSON_Delete(m);
}

/* unread on pattern: topic x must be listed with these numbers, and the
 * list must hold n topics. */
static void expect_unread(struct rawws *c, int64_t id, const char *pattern,
                          int n, const char *x, int64_t seq, int64_t marked,
                          int64_t unread)
{
    cJSON *ok = NULL;
    cJSON *topics = NULL;
    cJSON *t = NULL;
    bool seen = false;

    assert_int_equal(rawws_send_textf(c,
                                      "{\"op\":\"unread\",\"id\":%lld,"
                                      "\"topic\":\"%s\"}",
                                      (long long)id, pattern),
                     0);
    ok = rawws_expect_ok(c, id, W);
    assert_non_null(ok);
    topics = cJSON_GetObjectItemCaseSensitive(ok, "topics");
    assert_int_equal(cJSON_GetArraySize(topics), n);
    cJSON_ArrayForEach(t, topics)
    {
        if (!tj_str_is(t, "topic", x))
            continue;
        seen = true;
        assert_int_equal(tj_int_or(t, "seq", -1), seq);
        assert_int_equal(tj_int_or(t, "marked", -1), marked);
        assert_int_equal(tj_int_or(t, "unread", -1), unread);
    }
    assert_true(seen);
    cJSON_Delete(ok);
}

/* Markers live in Redis: alice's windows on nodes 0, 0 and 1 stay in
 * step, bob on node 2 hears nothing of them; they never move back, count
 * others' messages only (not edits, deletions or deleted ones), cover
 * topics a node never heard, and survive a SIGKILLed node. */
static void test_markers(void **state)
{
    struct rawws *a1 = rig_hello(0, "alice");
    struct rawws *a2 = rig_hello(1, "alice");
    struct rawws *a3 = rig_hello(0, "alice");
    struct rawws *bob = rig_hello(2, "bob");
    char base[96], x[128], y[128], pat[128];

    (void)state;
    itest_topic(base, sizeof(base), "cmk");
    snprintf(x, sizeof(x), "%s/x", base);
    snprintf(y, sizeof(y), "%s/y", base);
    snprintf(pat, sizeof(pat), "%s/#", base);

    /* nothing stored yet: no marker, no topic listed */
    SEND(a1, MARK, 2, x, 1);
    cJSON_Delete(refused(a1, 2, "bad_request"));
    assert_int_equal(rawws_send_textf(a1,
                                      "{\"op\":\"unread\",\"id\":3,"
                                      "\"topic\":\"%s\"}",
                                      pat),
                     0);
    {
        cJSON *ok = rawws_expect_ok(a1, 3, W);

        assert_non_null(ok);
        assert_int_equal(
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok, "topics")),
            0);
        cJSON_Delete(ok);
    }

    /* Only node 2 (bob) and node 0 (alice, on x) ever see these. */
    assert_int_equal(itest_pub(bob, 2, x, "{\"text\":\"one\"}"), 1);
    assert_int_equal(itest_pub(bob, 3, x, "{\"text\":\"two\"}"), 2);
    assert_int_equal(itest_pub(a1, 4, x, "{\"text\":\"three\"}"), 3);
    assert_int_equal(itest_pub(bob, 5, x, "{\"text\":\"four\"}"), 4);
    /* y: two of bob's, an edit and a deletion (neither counts), and the
     * deleted message (no more) */
    assert_int_equal(itest_pub(bob, 6, y, "{\"text\":\"why\"}"), 1);
    assert_int_equal(itest_pub(bob, 7, y, "{\"text\":\"edit me\"}"), 2);
    SEND(bob, EDIT, 8, y, 2);
    assert_int_equal(ok_seq(bob, 8), 3);
    assert_int_equal(itest_pub(bob, 9, y, "{\"text\":\"gone\"}"), 4);
    SEND(bob, DELETE, 10, y, 4);
    assert_int_equal(ok_seq(bob, 10), 5);

    /* node 1 never heard x or y: the registry in Redis lists them */
    expect_unread(a2, 2, pat, 2, x, 4, 0, 3);
    expect_unread(a2, 3, pat, 2, y, 5, 0, 2);
    expect_unread(a2, 4, x, 1, x, 4, 0, 3); /* a topic, not a pattern */

    /* a1 marks on node 0: a3 (node 0) and a2 (node 1) are told, a1 gets
     * the ok, bob nothing */
    SEND(a1, MARK, 5, x, 2);
    assert_int_equal(ok_seq(a1, 5), 2);
    expect_marked(a3, x, 2);
    expect_marked(a2, x, 2);
    assert_true(itest_nothing_more(bob, 11, ITEST_QUIET_MS));

    /* never backwards: the ok says where it stays, nobody is told */
    SEND(a2, MARK, 6, x, 1);
    assert_int_equal(ok_seq(a2, 6), 2);
    assert_true(itest_nothing_more(a1, 7, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(a3, 8, ITEST_QUIET_MS));

    /* a mark from node 1 on a topic it never heard, past the end */
    SEND(a2, MARK, 7, y, 99);
    assert_int_equal(ok_seq(a2, 7), 5);
    expect_marked(a1, y, 5);
    expect_marked(a3, y, 5);

    expect_unread(a2, 8, pat, 2, x, 4, 2, 1); /* 3 is alice's own */
    expect_unread(a3, 9, pat, 2, y, 5, 5, 0);
    expect_unread(bob, 12, pat, 2, x, 4, 0, 1); /* bob: only alice's */
    expect_unread(bob, 13, pat, 2, y, 5, 0, 0);
    rawws_close(a1);
    rawws_close(a2);
    rawws_close(a3);
    rawws_close(bob);

    /* markers are the cluster's: a SIGKILLed node loses none */
    assert_int_equal(server_kill9(rig.nodes[1]), 0);
    assert_int_equal(server_restart(rig.nodes[1]), 0);
    assert_true(cluster_rig_node_healthy(&rig, 1, W));
    a2 = rig_hello(1, "alice");
    expect_unread(a2, 20, pat, 2, x, 4, 2, 1);
    rawws_close(a2);
}

/* search: a clear bad_request in cluster mode, never internal. */
static void test_search_refused(void **state)
{
    struct rawws *c = rig_hello(1, "alice");
    cJSON *err = NULL;

    (void)state;
    assert_int_equal(rawws_send_text(c, "{\"op\":\"search\",\"id\":2,"
                                        "\"topic\":\"#\",\"q\":\"plan\"}"),
                     0);
    err = refused(c, 2, "bad_request");
    assert_true(
        tj_str_is(err, "message", "search is not available in cluster mode"));
    cJSON_Delete(err);
    rawws_close(c);

    /* GET /api/search: the same answer, as HTTP 400 */
    {
        struct httpc_resp r;

        assert_int_equal(httpc_get(cluster_rig_node_port(&rig, 2),
                                   "/api/search?q=plan", &r, W),
                         0);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "bad_request"));
        assert_non_null(
            strstr(r.body, "search is not available in cluster mode"));
        httpc_resp_cleanup(&r);
    }
}

/* The topics op and GET /api/topics on a node that never heard the
 * topics list the cluster's (the registry in Redis). */
static void test_topics_from_any_node(void **state)
{
    struct rawws *bob = rig_hello(2, "bob");
    struct rawws *carol = rig_hello(1, "carol");
    struct rawws *dave = rig_hello(0, "dave");
    char base[96], a[128], b[128], path[192];
    cJSON *ok = NULL;
    const cJSON *t = NULL;
    struct httpc_resp r;
    int n = 0;

    (void)state;
    itest_topic(base, sizeof(base), "ctop");
    snprintf(a, sizeof(a), "%s/a", base);
    snprintf(b, sizeof(b), "%s/b", base);
    assert_int_equal(itest_pub(bob, 2, a, "1"), 1);
    assert_int_equal(itest_pub(bob, 3, a, "2"), 2);
    assert_int_equal(rawws_send_textf(bob,
                                      "{\"op\":\"pub\",\"id\":4,"
                                      "\"topic\":\"%s\",\"data\":1,"
                                      "\"retain\":true}",
                                      b),
                     0);
    assert_int_equal(ok_seq(bob, 4), 1);
    /* carol is present in a, on node 1 */
    assert_int_equal(rawws_send_textf(carol,
                                      "{\"op\":\"sub\",\"id\":2,"
                                      "\"topic\":\"%s\","
                                      "\"presence\":true}",
                                      a),
                     0);
    ok = rawws_expect_ok(carol, 2, W);
    assert_non_null(ok);
    cJSON_Delete(ok);

    /* carol's join reaches Redis on node 1's own link, in no order with
     * dave's question: ask again (bounded) until it is counted */
    for (int64_t id = 10, deadline = itest_mono_ms() + W; n < 3; id++) {
        assert_true(itest_left_ms(deadline) > 0);
        n = 0;
        assert_int_equal(rawws_send_textf(dave,
                                          "{\"op\":\"topics\","
                                          "\"id\":%lld,\"prefix\":"
                                          "\"%s/\"}",
                                          (long long)id, base),
                         0);
        ok = rawws_expect_ok(dave, id, W);
        assert_non_null(ok);
        assert_int_equal(
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok, "topics")),
            2);
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ok, "topics"))
        {
            if (tj_str_is(t, "topic", a)) {
                assert_int_equal(tj_int_or(t, "seq", -1), 2);
                assert_false(tj_is_true(t, "retained"));
                n += 1 + (tj_int_or(t, "members", -1) == 1);
            } else {
                assert_true(tj_str_is(t, "topic", b));
                assert_int_equal(tj_int_or(t, "seq", -1), 1);
                assert_true(tj_is_true(t, "retained"));
                assert_int_equal(tj_int_or(t, "members", -1), 0);
                n++;
            }
        }
        cJSON_Delete(ok);
        if (n < 3)
            (void)poll(NULL, 0, 20); /* a poll interval */
    }

    snprintf(path, sizeof(path), "/api/topics?prefix=%s/b", base);
    assert_int_equal(httpc_get(cluster_rig_node_port(&rig, 0), path, &r, W), 0);
    assert_int_equal(r.status, 200);
    ok = tj_parse(r.body);
    httpc_resp_cleanup(&r);
    assert_non_null(ok);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok, "topics")), 1);
    t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ok, "topics"), 0);
    assert_true(tj_str_is(t, "topic", b));
    assert_true(tj_is_true(t, "retained"));
    cJSON_Delete(ok);
    rawws_close(bob);
    rawws_close(carol);
    rawws_close(dave);
}

/* A sub on a pattern, with since or without, on a node that never heard
 * the topics: replays and retained values cover the cluster's topics,
 * and what follows is live, once. */
static void test_pattern_sub_from_any_node(void **state)
{
    struct rawws *bob = rig_hello(2, "bob");
    struct rawws *dave = rig_hello(0, "dave");
    struct rawws *erin = rig_hello(0, "erin");
    char base[96], a[128], b[128];
    cJSON *ok = NULL;
    cJSON *got[5];
    cJSON *m = NULL;

    (void)state;
    itest_topic(base, sizeof(base), "cpat");
    snprintf(a, sizeof(a), "%s/a", base);
    snprintf(b, sizeof(b), "%s/b", base);
    assert_int_equal(itest_pub(bob, 2, a, "1"), 1);
    assert_int_equal(itest_pub(bob, 3, a, "2"), 2);
    assert_int_equal(rawws_send_textf(bob,
                                      "{\"op\":\"pub\",\"id\":4,"
                                      "\"topic\":\"%s\",\"data\":3,"
                                      "\"retain\":true}",
                                      a),
                     0);
    assert_int_equal(ok_seq(bob, 4), 3);
    assert_int_equal(itest_pub(bob, 5, b, "1"), 1);
    assert_int_equal(itest_pub(bob, 6, b, "2"), 2);

    /* since 0 on node 0: all five, recovered */
    assert_int_equal(rawws_send_textf(dave,
                                      "{\"op\":\"sub\",\"id\":2,"
                                      "\"topic\":\"%s/#\","
                                      "\"since\":0}",
                                      base),
                     0);
    ok = rawws_expect_ok(dave, 2, W);
    assert_non_null(ok);
    assert_false(tj_has(ok, "recovered"));
    cJSON_Delete(ok);
    assert_int_equal(itest_collect(dave, got, 5, W), 5);
    for (int s = 1; s <= 3; s++)
        assert_non_null(itest_find_msg(got, 5, a, s));
    for (int s = 1; s <= 2; s++)
        assert_non_null(itest_find_msg(got, 5, b, s));
    itest_free_all(got, 5);

    /* no since, same node: the retained value of a */
    assert_int_equal(rawws_send_textf(erin,
                                      "{\"op\":\"sub\",\"id\":2,"
                                      "\"topic\":\"%s/#\"}",
                                      base),
                     0);
    ok = rawws_expect_ok(erin, 2, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    m = itest_expect_msg(erin, a, 3, W);
    assert_non_null(m);
    cJSON_Delete(m);

    /* then live, once, on both */
    assert_int_equal(itest_pub(bob, 7, b, "3"), 3);
    cJSON_Delete(itest_expect_msg(dave, b, 3, W));
    cJSON_Delete(itest_expect_msg(erin, b, 3, W));
    assert_true(itest_nothing_more(dave, 9, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(erin, 9, ITEST_QUIET_MS));
    rawws_close(bob);
    rawws_close(dave);
    rawws_close(erin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_delete_reply),
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_search_refused),
        cmocka_unit_test(test_topics_from_any_node),
        cmocka_unit_test(test_pattern_sub_from_any_node),
    };

    return itest_exit_code(
        cmocka_run_group_tests(tests, rig_setup, rig_teardown));
}
