/*
 * it_15_chat: the chat additions of #16 against a real parleyd: edit and
 * delete (author only, targets that are no plain message refused, the
 * new message's seq in the ok, msg frames with edit_of / redacts),
 * replies (reply_to stored, delivered, in history), and what a deletion
 * leaves: the original as {"data":null,"redacted":true} in history and in
 * replays, across a SIGKILL restart, and its text gone from the file.
 * Read markers: mark, marked on the user's other connections, unread.
 * Search, over WebSocket and GET /api/search.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define W ITEST_WAIT_MS

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* Send a command made of fmt (a literal: id, topic, seq). */
#define SEND(c, fmt, id, topic, n)                                          \
    assert_int_equal(rawws_send_textf((c), fmt, (long long)(id), (topic),  \
                                      (long long)(n)), 0)

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

/* The next frame must be the error of id with code. */
static void refused(struct rawws *c, int64_t id, const char *code)
{
    cJSON *err = rawws_expect_error(c, id, code, W);

    assert_non_null(err);
    cJSON_Delete(err);
}

#define EDIT "{\"op\":\"edit\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld," \
             "\"data\":{\"text\":\"secretplan v2\"}}"
#define DELETE "{\"op\":\"delete\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld}"
#define REPLY "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\"," \
              "\"data\":{\"text\":\"why?\"},\"reply_to\":%lld}"

/* The four messages of test_edit_delete_reply, however they are read
 * (history items or msg frames): 1 deleted, 2 a reply to 1, 3 an edit
 * of 1 (erased with it), 4 the deletion. */
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
    assert_int_equal(tj_int_or(m[2], "edit_of", -1), 1);
    assert_true(tj_is_null(m[2], "data"));
    assert_true(tj_is_true(m[2], "redacted"));
    assert_int_equal(tj_int_or(m[3], "redacts", -1), 1);
    assert_true(tj_is_null(m[3], "data"));
    assert_false(tj_has(m[3], "redacted"));
}

static void check_history(int port, const char *topic)
{
    struct rawws *c = itest_hello(port, "reader");
    cJSON *ok = NULL;
    cJSON *msgs = NULL;
    cJSON *m[4];
    int n = 0;

    assert_non_null(c);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":2,"
                                         "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(c, 2, W);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_true(cJSON_IsArray(msgs));
    n = cJSON_GetArraySize(msgs);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++)
        m[i] = cJSON_GetArrayItem(msgs, i);
    check_chat_rows(m, n);
    cJSON_Delete(ok);

    /* A replay (since) says the same in msg frames. */
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"sub\",\"id\":3,"
                                         "\"topic\":\"%s\",\"since\":0}",
                                      topic), 0);
    ok = rawws_expect_ok(c, 3, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(itest_collect(c, m, 4, W), 4);
    check_chat_rows(m, 4);
    itest_free_all(m, 4);
    rawws_close(c);
}

/* Whether the bytes of needle occur in the file at path. */
static bool file_holds(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    size_t nlen = strlen(needle);
    char *buf = NULL;
    long len = 0;
    bool found = false;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    assert_true(len > 0);
    rewind(fp);
    buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    for (long i = 0; i + (long)nlen <= len && !found; i++)
        found = memcmp(buf + i, needle, nlen) == 0;
    free(buf);
    return found;
}

static void test_edit_delete_reply(void **state)
{
    struct itest *it = *state;
    struct rawws *alice = itest_hello(itest_port(state), "alice");
    struct rawws *bob = itest_hello(itest_port(state), "bob");
    char topic[128];
    cJSON *ok = NULL;
    cJSON *got[2];
    cJSON *m = NULL;

    assert_non_null(alice);
    assert_non_null(bob);
    itest_topic(topic, sizeof(topic), "chat");
    ok = itest_sub(bob, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);

    assert_int_equal(itest_pub(alice, 3, topic,
                               "{\"text\":\"secretplan\"}"), 1);
    cJSON_Delete(itest_expect_msg(bob, topic, 1, W));

    /* bob answers 1: he hears his own message and his ok. */
    SEND(bob, REPLY, 4, topic, 1);
    assert_int_equal(itest_collect(bob, got, 2, W), 2);
    m = itest_find_msg(got, 2, topic, 2);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "reply_to", -1), 1);
    assert_int_equal(tj_int_or(itest_find_ok(got, 2, 4), "seq", -1), 2);
    itest_free_all(got, 2);

    /* Only the author edits; a missing seq or an edit is no target. */
    SEND(bob, EDIT, 5, topic, 1);
    refused(bob, 5, "forbidden");
    SEND(bob, DELETE, 6, topic, 1);
    refused(bob, 6, "forbidden");
    SEND(alice, EDIT, 7, topic, 99);
    refused(alice, 7, "bad_request");
    SEND(alice, EDIT, 8, topic, 1);
    assert_int_equal(ok_seq(alice, 8), 3);
    m = itest_expect_msg(bob, topic, 3, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "edit_of", -1), 1);
    assert_true(tj_str_is(m, "from", "alice"));
    cJSON_Delete(m);
    SEND(alice, EDIT, 9, topic, 3);
    refused(alice, 9, "bad_request");
    SEND(alice, DELETE, 10, topic, 3);
    refused(alice, 10, "bad_request");

    /* Deletion: a message of its own, the original erased. */
    SEND(alice, DELETE, 11, topic, 1);
    assert_int_equal(ok_seq(alice, 11), 4);
    m = itest_expect_msg(bob, topic, 4, W);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "redacts", -1), 1);
    assert_true(tj_is_null(m, "data"));
    cJSON_Delete(m);
    SEND(alice, DELETE, 12, topic, 1);
    refused(alice, 12, "bad_request");
    SEND(alice, EDIT, 13, topic, 1);
    refused(alice, 13, "bad_request");
    SEND(alice, DELETE, 14, topic, 4);
    refused(alice, 14, "bad_request");
    assert_true(itest_nothing_more(bob, 15, ITEST_QUIET_MS));
    check_history(itest_port(state), topic);
    rawws_close(alice);
    rawws_close(bob);

    /* The same after a crash; after a clean stop (checkpointed), the
     * erased data is nowhere in the database file. (The search index may
     * keep the bare words, matching no message, until FTS5 merges its
     * segments: protocol/README.md says so.) */
    assert_int_equal(itest_restart(state, true), 0);
    check_history(itest_port(state), topic);
    assert_int_equal(itest_restart(state, false), 0);
    check_history(itest_port(state), topic);
    assert_false(file_holds(server_db(it->srv), "\"text\":\"secretplan"));
}

#define MARK "{\"op\":\"mark\",\"id\":%lld,\"topic\":\"%s\",\"seq\":%lld}"

/* unread over "mk/#" must list exactly topic with these numbers. */
static void expect_unread(struct rawws *c, int64_t id, const char *topic,
                          int64_t seq, int64_t marked, int64_t unread)
{
    cJSON *ok = NULL;
    cJSON *topics = NULL;
    cJSON *t = NULL;

    assert_int_equal(rawws_send_textf(c, "{\"op\":\"unread\",\"id\":%lld,"
                                         "\"topic\":\"mk/#\"}",
                                      (long long)id), 0);
    ok = rawws_expect_ok(c, id, W);
    assert_non_null(ok);
    topics = cJSON_GetObjectItemCaseSensitive(ok, "topics");
    assert_int_equal(cJSON_GetArraySize(topics), 1);
    t = cJSON_GetArrayItem(topics, 0);
    assert_true(tj_str_is(t, "topic", topic));
    assert_int_equal(tj_int_or(t, "seq", -1), seq);
    assert_int_equal(tj_int_or(t, "marked", -1), marked);
    assert_int_equal(tj_int_or(t, "unread", -1), unread);
    cJSON_Delete(ok);
}

/* Markers are per user (two windows of alice stay in step), never move
 * back, count others' messages only, and survive a SIGKILL. */
static void test_markers(void **state)
{
    struct rawws *a1 = itest_hello(itest_port(state), "alice");
    struct rawws *a2 = itest_hello(itest_port(state), "alice");
    struct rawws *bob = itest_hello(itest_port(state), "bob");
    char topic[128];
    cJSON *m = NULL;

    assert_non_null(a1);
    assert_non_null(a2);
    assert_non_null(bob);
    itest_topic(topic, sizeof(topic), "mk");
    assert_int_equal(itest_pub(bob, 2, topic, "1"), 1);
    assert_int_equal(itest_pub(bob, 3, topic, "2"), 2);
    assert_int_equal(itest_pub(a1, 4, topic, "3"), 3);
    assert_int_equal(itest_pub(bob, 5, topic, "4"), 4);
    expect_unread(a1, 6, topic, 4, 0, 3);

    SEND(a1, MARK, 7, topic, 2);
    assert_int_equal(ok_seq(a1, 7), 2);
    m = rawws_expect_op(a2, "marked", W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "topic", topic));
    assert_int_equal(tj_int_or(m, "seq", -1), 2);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(bob, 8, ITEST_QUIET_MS));

    SEND(a2, MARK, 9, topic, 1);                 /* never backwards */
    assert_int_equal(ok_seq(a2, 9), 2);
    assert_true(itest_nothing_more(a1, 10, ITEST_QUIET_MS));
    expect_unread(a2, 11, topic, 4, 2, 1);       /* 3 is alice's own */
    expect_unread(bob, 12, topic, 4, 0, 1);      /* bob: only alice's */
    rawws_close(a1);
    rawws_close(a2);
    rawws_close(bob);

    assert_int_equal(itest_restart(state, true), 0);
    a1 = itest_hello(itest_port(state), "alice");
    assert_non_null(a1);
    expect_unread(a1, 2, topic, 4, 2, 1);
    rawws_close(a1);
}

/* search over a real store: words, phrases, prefixes, newest first,
 * edits by their new text, deletions gone, paging with before, the
 * pattern; and GET /api/search answering the same. */
static void test_search(void **state)
{
    struct rawws *a = itest_hello(itest_port(state), "alice");
    char t1[128], t2[128], path[512];
    struct httpc_resp r;
    cJSON *ok = NULL;
    cJSON *msgs = NULL;
    cJSON *body = NULL;
    int64_t ts2 = 0;

    assert_non_null(a);
    itest_topic(t1, sizeof(t1), "srch");
    itest_topic(t2, sizeof(t2), "srch");
    assert_int_equal(itest_pub(a, 2, t1, "{\"text\":\"zebra deploy failed\"}"),
                     1);
    assert_int_equal(itest_pub(a, 3, t2, "{\"text\":\"zebra lunch\"}"), 1);
    assert_int_equal(itest_pub(a, 4, t1, "{\"text\":\"zebras deploy ok\"}"),
                     2);
    assert_int_equal(itest_pub(a, 5, t1, "{\"text\":\"quagga\"}"), 3);
    SEND(a, EDIT, 6, t1, 3);                     /* 3 -> "secretplan v2" */
    assert_int_equal(ok_seq(a, 6), 4);
    SEND(a, DELETE, 7, t2, 1);
    assert_int_equal(ok_seq(a, 7), 2);

    assert_int_equal(rawws_send_text(a, "{\"op\":\"search\",\"id\":8,"
                                        "\"topic\":\"srch/#\","
                                        "\"q\":\"zebra*\"}"), 0);
    ok = rawws_expect_ok(a, 8, W);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 2);   /* t2's is deleted */
    assert_true(tj_str_is(cJSON_GetArrayItem(msgs, 0), "topic", t1));
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 0), "seq", -1), 2);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 1), "seq", -1), 1);
    assert_true(tj_str_is(cJSON_GetArrayItem(msgs, 1), "from", "alice"));
    ts2 = tj_int_or(cJSON_GetArrayItem(msgs, 0), "ts", -1);
    cJSON_Delete(ok);

    assert_int_equal(rawws_send_textf(a, "{\"op\":\"search\",\"id\":9,"
                                         "\"topic\":\"%s\",\"q\":\"v2\"}",
                                      t1), 0);
    ok = rawws_expect_ok(a, 9, W);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 1);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 0), "seq", -1), 4);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 0), "edit_of", -1),
                     3);
    cJSON_Delete(ok);
    assert_int_equal(rawws_send_text(a, "{\"op\":\"search\",\"id\":10,"
                                        "\"topic\":\"srch/#\","
                                        "\"q\":\"quagga\"}"), 0);
    ok = rawws_expect_ok(a, 10, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(ok, "messages")), 0);
    cJSON_Delete(ok);
    assert_int_equal(rawws_send_text(a, "{\"op\":\"search\",\"id\":11,"
                                        "\"topic\":\"srch/#\",\"q\":\"*\"}"),
                     0);
    refused(a, 11, "bad_request");

    /* HTTP: "deploy failed" as a phrase, then paging past the newest. */
    snprintf(path, sizeof(path),
             "/api/search?topic=srch/%%23&q=%%22deploy%%20failed%%22");
    assert_int_equal(httpc_get(itest_port(state), path, &r, W), 0);
    assert_int_equal(r.status, 200);
    body = tj_parse(r.body);
    httpc_resp_cleanup(&r);
    assert_non_null(body);
    msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 1);
    assert_true(tj_str_is(cJSON_GetArrayItem(msgs, 0), "topic", t1));
    cJSON_Delete(body);
    snprintf(path, sizeof(path), "/api/search?q=zebra*&limit=1&before=%lld",
             (long long)ts2 + 1);
    assert_int_equal(httpc_get(itest_port(state), path, &r, W), 0);
    assert_int_equal(r.status, 200);
    body = tj_parse(r.body);
    httpc_resp_cleanup(&r);
    msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 1);
    cJSON_Delete(body);
    assert_int_equal(httpc_get(itest_port(state), "/api/search?topic=a", &r,
                               W), 0);
    assert_int_equal(r.status, 400);
    httpc_resp_cleanup(&r);
    rawws_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_delete_reply),
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_search),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    return itest_exit_code(rc);
}
