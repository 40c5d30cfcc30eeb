/*
 * it_08_http: the HTTP API against a real parleyd, next to WebSocket
 * clients on the same port. POST /api/publish answers 200 {"topic","seq"}
 * after the commit (the message survives SIGKILL) and subscribers get it
 * with from "http"; a repeated key is a duplicate with the original seq;
 * bad bodies are 400 {"error":<code>,"message":...} with the protocol's
 * codes ($SYS is 403 forbidden, a body over 64 KiB is 413 too_large);
 * GET /api/history mirrors the history command; GET /api/topics lists
 * topics by prefix with their seq; GET /healthz is "ok". WebSocket clients
 * stay served throughout.
 *
 * One parleyd per group with a fresh database; fresh topics per test.
 * Single-threaded: every wait has a deadline.
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

/* The contract's topic limit (protocol/topic.h). */
#define PL_TOPIC_MAX 255

#define W_HTTP ITEST_WAIT_MS
#define MAX_MESSAGE 65536

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* POST body to /api/publish; returns the status (resp filled, caller
 * cleans up) or fails the test when no HTTP answer came. */
static int post_publish(int port, const char *body, size_t len,
                        struct httpc_resp *r)
{
    int rc = httpc_request(port, "POST", "/api/publish", NULL, body, len, r,
                           W_HTTP);

    if (rc < 0)
        fprintf(stderr, "POST /api/publish: %s\n", strerror(-rc));
    assert_int_equal(rc, 0);
    return r->status;
}

/* GET path; returns the parsed JSON body (caller frees) after checking
 * the status, or fails the test. */
static cJSON *get_json(int port, const char *path, int status)
{
    struct httpc_resp r;
    cJSON *j = NULL;
    int rc = httpc_get(port, path, &r, W_HTTP);

    if (rc < 0)
        fprintf(stderr, "GET %s: %s\n", path, strerror(-rc));
    assert_int_equal(rc, 0);
    if (r.status != status)
        fprintf(stderr, "GET %s: wanted %d, got %d: %.300s\n", path, status,
                r.status, r.body);
    assert_int_equal(r.status, status);
    j = tj_parse(r.body);
    if (!cJSON_IsObject(j))
        fprintf(stderr, "GET %s: body is no JSON object: %.300s\n", path,
                r.body);
    assert_true(cJSON_IsObject(j));
    httpc_resp_cleanup(&r);
    return j;
}

/* POST a body that must be accepted; returns the parsed 200 body (caller
 * frees), which carries the topic and a seq >= 1. */
static cJSON *publish_ok(int port, const char *body, const char *topic)
{
    struct httpc_resp r;
    cJSON *j = NULL;
    int64_t seq = 0;

    if (post_publish(port, body, strlen(body), &r) != 200)
        fprintf(stderr, "POST %.200s: got %d: %.300s\n", body, r.status,
                r.body);
    assert_int_equal(r.status, 200);
    j = tj_parse(r.body);
    if (!tj_str_is(j, "topic", topic) || !tj_int(j, "seq", &seq) || seq < 1)
        fprintf(stderr, "POST %.200s: body %.300s\n", body, r.body);
    assert_true(tj_str_is(j, "topic", topic));
    assert_true(tj_int(j, "seq", &seq) && seq >= 1);
    httpc_resp_cleanup(&r);
    return j;
}

/* The error body of a refused request: {"error":code,"message":string}. */
static void assert_error_body(const struct httpc_resp *r, int status,
                              const char *code, const char *what)
{
    cJSON *j = tj_parse(r->body);

    if (r->status != status || !tj_str_is(j, "error", code) ||
        !tj_str(j, "message"))
        fprintf(stderr, "%s: wanted %d {\"error\":\"%s\",\"message\":...}, "
                "got %d: %.300s\n", what, status, code, r->status, r->body);
    assert_int_equal(r->status, status);
    assert_true(tj_str_is(j, "error", code));
    assert_non_null(tj_str(j, "message"));
    cJSON_Delete(j);
}

/* The history command's messages array on a WebSocket connection (a
 * detached copy, caller frees). */
static cJSON *ws_history(struct rawws *c, int64_t id, const char *topic,
                         const char *opts)
{
    cJSON *ok = NULL;
    cJSON *msgs = NULL;

    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":%lld,"
                                      "\"topic\":\"%s\"%s}", (long long)id,
                                      topic, opts), 0);
    ok = rawws_expect_ok(c, id, W_HTTP);
    assert_non_null(ok);
    msgs = cJSON_DetachItemFromObjectCaseSensitive(ok, "messages");
    assert_true(cJSON_IsArray(msgs));
    cJSON_Delete(ok);
    return msgs;
}

static void test_healthz(void **state)
{
    struct httpc_resp r;

    assert_int_equal(httpc_get(itest_port(state), "/healthz", &r, W_HTTP),
                     0);
    assert_int_equal(r.status, 200);
    if (strcmp(r.body, "ok") != 0 && strcmp(r.body, "ok\n") != 0)
        fprintf(stderr, "/healthz body: \"%.100s\"\n", r.body);
    assert_true(strcmp(r.body, "ok") == 0 || strcmp(r.body, "ok\n") == 0);
    httpc_resp_cleanup(&r);
}

/* 200 {"topic","seq"} once committed; the subscriber gets it from "http";
 * it survives SIGKILL right after the 200. */
static void test_publish(void **state)
{
    char topic[128];
    char body[256];
    struct rawws *s = NULL;
    cJSON *j = NULL;
    cJSON *m = NULL;
    cJSON *want = NULL;
    cJSON *msgs = NULL;
    int64_t t0 = itest_now_ms();
    int i = 0;

    itest_topic(topic, sizeof(topic), "hpub");
    s = itest_hello(itest_port(state), "watcher");
    assert_non_null(s);
    j = itest_sub(s, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);

    for (i = 1; i <= 3; i++) {
        snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":{\"t\":%d,"
                 "\"s\":\"caf\\u00e9\",\"f\":21.5}}", topic, i);
        j = publish_ok(itest_port(state), body, topic);
        assert_int_equal(tj_int_or(j, "seq", -1), i);
        assert_false(tj_is_true(j, "duplicate"));
        cJSON_Delete(j);
        m = itest_expect_msg(s, topic, i, W_HTTP);
        assert_non_null(m);
        assert_true(tj_str_is(m, "from", "http"));
        assert_true(tj_int_or(m, "ts", -1) >= t0 - 5000);
        snprintf(body, sizeof(body), "{\"t\":%d,\"s\":\"caf\\u00e9\","
                 "\"f\":21.5}", i);
        want = tj_parse(body);
        assert_true(tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"),
                             want));
        cJSON_Delete(want);
        cJSON_Delete(m);
    }
    /* data may be any JSON value, null included. */
    snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":null}", topic);
    j = publish_ok(itest_port(state), body, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 4);
    cJSON_Delete(j);
    m = itest_expect_msg(s, topic, 4, W_HTTP);
    assert_non_null(m);
    assert_true(tj_is_null(m, "data"));
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);

    /* Acknowledged means committed: SIGKILL right after the 200. */
    snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":\"last\"}",
             topic);
    j = publish_ok(itest_port(state), body, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 5);
    cJSON_Delete(j);
    assert_int_equal(itest_restart(state, true), 0);
    s = itest_hello(itest_port(state), "after");
    assert_non_null(s);
    msgs = ws_history(s, 2, topic, "");
    assert_int_equal(cJSON_GetArraySize(msgs), 5);
    for (i = 0; i < 5; i++) {
        assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, i), "seq", -1),
                         i + 1);
        assert_true(tj_str_is(cJSON_GetArrayItem(msgs, i), "from", "http"));
    }
    assert_true(tj_str_is(cJSON_GetArrayItem(msgs, 4), "data", "last"));
    cJSON_Delete(msgs);
    assert_true(rawws_ping_ok(s, 3, W_HTTP));
    rawws_close(s);
}

/* A repeated key: 200 with the original seq and duplicate:true, delivered
 * once; keys are shared with WebSocket pubs on the same topic. */
static void test_publish_key(void **state)
{
    int port = itest_port(state);
    char topic[128];
    char body[256];
    struct rawws *s = NULL;
    struct rawws *p = NULL;
    cJSON *j = NULL;
    cJSON *m = NULL;
    int i = 0;

    itest_topic(topic, sizeof(topic), "hkey");
    s = itest_hello(port, "watcher");
    assert_non_null(s);
    j = itest_sub(s, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);
    snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":21.5,"
             "\"retain\":true,\"key\":\"t1-000042\"}", topic);
    for (i = 0; i < 3; i++) {
        j = publish_ok(port, body, topic);
        assert_int_equal(tj_int_or(j, "seq", -1), 1);
        if (i == 0)
            assert_false(tj_is_true(j, "duplicate"));
        else
            assert_true(tj_is_true(j, "duplicate"));
        cJSON_Delete(j);
    }
    m = itest_expect_msg(s, topic, 1, W_HTTP);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "http"));
    assert_false(tj_is_true(m, "retained"));
    cJSON_Delete(m);
    /* retain:true over HTTP made it the retained message. */
    p = itest_hello(port, "late");
    assert_non_null(p);
    j = itest_sub(p, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);
    m = itest_expect_msg(p, topic, 1, W_HTTP);
    assert_non_null(m);
    assert_true(tj_is_true(m, "retained"));
    assert_true(tj_str_is(m, "from", "http"));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, "data")));
    cJSON_Delete(m);
    assert_true(itest_nothing_more(p, 3, ITEST_QUIET_MS));
    rawws_close(p);

    /* The same key over WebSocket is the same message... */
    p = itest_hello(port, "wsp");
    assert_non_null(p);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"data\":1,\"key\":"
                                      "\"t1-000042\"}", topic), 0);
    j = rawws_expect_ok(p, 2, W_HTTP);
    assert_non_null(j);
    assert_int_equal(tj_int_or(j, "seq", -1), 1);
    assert_true(tj_is_true(j, "duplicate"));
    cJSON_Delete(j);
    /* ...and a WebSocket key seen later over HTTP too. */
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":3,\"topic\":"
                                      "\"%s\",\"data\":2,\"key\":\"w-7\"}",
                                      topic), 0);
    j = rawws_expect_ok(p, 3, W_HTTP);
    assert_non_null(j);
    assert_int_equal(tj_int_or(j, "seq", -1), 2);
    cJSON_Delete(j);
    m = itest_expect_msg(s, topic, 2, W_HTTP);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "wsp"));
    cJSON_Delete(m);
    snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":3,\"key\":"
             "\"w-7\"}", topic);
    j = publish_ok(port, body, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 2);
    assert_true(tj_is_true(j, "duplicate"));
    cJSON_Delete(j);
    /* A new key is a new message. */
    snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":4,\"key\":"
             "\"t1-000043\"}", topic);
    j = publish_ok(port, body, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 3);
    assert_false(tj_is_true(j, "duplicate"));
    cJSON_Delete(j);
    m = itest_expect_msg(s, topic, 3, W_HTTP);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

struct bad_body {
    const char *body;    /* %s is replaced by the test's topic */
    int status;
    const char *code;
};

static void test_publish_bad_bodies(void **state)
{
    static const struct bad_body cases[] = {
        { "not json", 400, "bad_json" },
        { "{\"topic\":\"%s\",\"data\":1", 400, "bad_json" },
        { "{\"topic\":\"%s\",\"data\":1} x", 400, "bad_json" },
        { "[1,2]", 400, "bad_request" },
        { "\"%s\"", 400, "bad_request" },
        { "{\"data\":1}", 400, "bad_request" },
        { "{\"topic\":\"%s\"}", 400, "bad_request" },
        { "{\"topic\":5,\"data\":1}", 400, "bad_request" },
        { "{\"topic\":\"%s\",\"data\":1,\"retain\":\"yes\"}", 400,
          "bad_request" },
        { "{\"topic\":\"%s\",\"data\":1,\"key\":\"\"}", 400,
          "bad_request" },
        { "{\"topic\":\"%s\",\"data\":1,\"key\":\"%0129d\"}", 400,
          "bad_request" },
        { "{\"topic\":\"%s//x\",\"data\":1}", 400, "invalid_topic" },
        { "{\"topic\":\"\",\"data\":1}", 400, "invalid_topic" },
        { "{\"topic\":\"%s/+\",\"data\":1}", 400, "invalid_topic" },
        { "{\"topic\":\"%s/#\",\"data\":1}", 400, "invalid_topic" },
        { "{\"topic\":\"$SYS/x\",\"data\":1}", 403, "forbidden" },
        { "{\"topic\":\"$SYS/%s\",\"data\":1}", 403, "forbidden" },
    };
    int port = itest_port(state);
    char topic[128];
    char sys[160];
    char body[512];
    struct httpc_resp r;
    struct rawws *s = NULL;
    cJSON *j = NULL;
    size_t i = 0;

    itest_topic(topic, sizeof(topic), "hbad");
    snprintf(sys, sizeof(sys), "$SYS/%s", topic);
    s = itest_hello(port, "watcher");
    assert_non_null(s);
    j = itest_sub(s, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);
    j = itest_sub(s, 3, "$SYS/x");
    assert_non_null(j);
    cJSON_Delete(j);
    j = itest_sub(s, 4, sys);
    assert_non_null(j);
    cJSON_Delete(j);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strstr(cases[i].body, "%0129d"))
            snprintf(body, sizeof(body), cases[i].body, topic, 7);
        else
            snprintf(body, sizeof(body), cases[i].body, topic);
        post_publish(port, body, strlen(body), &r);
        assert_error_body(&r, cases[i].status, cases[i].code, body);
        httpc_resp_cleanup(&r);
    }
    /* The 128-byte key of the 129-byte case is fine. */
    snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":1,\"key\":\"%0128d"
             "\"}", topic, 7);
    j = publish_ok(port, body, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 1);
    cJSON_Delete(j);
    /* Nothing was published by the refused requests. */
    j = itest_expect_msg(s, topic, 1, W_HTTP);
    assert_non_null(j);
    cJSON_Delete(j);
    assert_true(itest_nothing_more(s, 5, ITEST_QUIET_MS));
    rawws_close(s);
}

/* A publish to an ephemeral topic (typing/# by default) is answered and
 * delivered, but not stored (in a cluster: delivered from any node). */
static void test_publish_ephemeral(void **state)
{
    int port = itest_port(state);
    char topic[128];
    char body[256];
    char path[256];
    struct rawws *s = NULL;
    cJSON *j = NULL;
    int k = 0;

    itest_topic(topic, sizeof(topic), "typing");
    s = itest_hello(port, "watcher");
    assert_non_null(s);
    j = itest_sub(s, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);
    for (k = 1; k <= 2; k++) {
        snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":%d}",
                 topic, k);
        j = publish_ok(port, body, topic);
        /* The ack carries the seq of the node that took the request; in a
         * cluster each node numbers an ephemeral topic itself, and each
         * request may land on another node. The subscriber's node's
         * numbering is gapless either way. */
        if (server_cluster_mode())
            assert_true(tj_int_or(j, "seq", -1) >= 1);
        else
            assert_int_equal(tj_int_or(j, "seq", -1), k);
        cJSON_Delete(j);
        j = itest_expect_msg(s, topic, k, W_HTTP);
        assert_non_null(j);
        assert_true(tj_str_is(j, "from", "http"));
        cJSON_Delete(j);
    }
    snprintf(path, sizeof(path), "/api/history?topic=%s", topic);
    j = get_json(port, path, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
                                                                "messages")),
                     0);
    cJSON_Delete(j);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
}

/* An empty body (Content-Length: 0) is no JSON. Last in the group: under
 * -DPARLEY_SANITIZE=address,undefined parleyd aborted on it (memcpy from
 * a NULL body chunk in http_body), reported to the lead. */
static void test_publish_empty_body(void **state)
{
    struct httpc_resp r;
    struct rawws *c = NULL;

    c = itest_hello(itest_port(state), "bystander");
    assert_non_null(c);
    post_publish(itest_port(state), "", 0, &r);
    assert_error_body(&r, 400, "bad_json", "an empty body");
    httpc_resp_cleanup(&r);
    assert_true(rawws_ping_ok(c, 2, W_HTTP));
    rawws_close(c);
    test_healthz(state);
}

/* Write a publish body of exactly len bytes (len >= 64) into a new
 * buffer: {"topic":"<topic>","data":"xxx..."}. */
static char *body_of_size(const char *topic, size_t len)
{
    char head[256];
    size_t hl = (size_t)snprintf(head, sizeof(head),
                                 "{\"topic\":\"%s\",\"data\":\"", topic);
    char *b = malloc(len + 1);

    assert_non_null(b);
    assert_true(len > hl + 2);
    memcpy(b, head, hl);
    memset(b + hl, 'x', len - hl - 2);
    memcpy(b + len - 2, "\"}", 2);
    b[len] = '\0';
    return b;
}

/* The message size limit (64 KiB by default) bounds the body: 65536 bytes
 * are published, 65537 and far more are 413 too_large. */
static void test_publish_too_large(void **state)
{
    int port = itest_port(state);
    char topic[128];
    struct httpc_resp r;
    struct rawws *s = NULL;
    cJSON *j = NULL;
    char *b = NULL;

    itest_topic(topic, sizeof(topic), "hbig");
    s = itest_hello(port, "watcher");
    assert_non_null(s);
    j = itest_sub(s, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);

    b = body_of_size(topic, MAX_MESSAGE);
    j = publish_ok(port, b, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 1);
    cJSON_Delete(j);
    free(b);
    j = itest_expect_msg(s, topic, 1, W_HTTP);
    assert_non_null(j);
    assert_int_equal(strlen(tj_str(j, "data")),
                     MAX_MESSAGE - strlen(topic) - 22);
    cJSON_Delete(j);

    b = body_of_size(topic, MAX_MESSAGE + 1);
    post_publish(port, b, MAX_MESSAGE + 1, &r);
    assert_error_body(&r, 413, "too_large", "body of 65537 bytes");
    httpc_resp_cleanup(&r);
    free(b);
    b = body_of_size(topic, 200000);
    post_publish(port, b, 200000, &r);
    assert_error_body(&r, 413, "too_large", "body of 200000 bytes");
    httpc_resp_cleanup(&r);
    free(b);

    /* Nothing more was published; both protocols still work. */
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    test_healthz(state);
    b = body_of_size(topic, 100);
    j = publish_ok(port, b, topic);
    assert_int_equal(tj_int_or(j, "seq", -1), 2);
    cJSON_Delete(j);
    free(b);
    j = itest_expect_msg(s, topic, 2, W_HTTP);
    assert_non_null(j);
    cJSON_Delete(j);
    rawws_close(s);
}

/* GET /api/history returns what the history command returns. */
static void test_history(void **state)
{
    static const char *const opts[][2] = {
        { "", "" },
        { "&limit=5", ",\"limit\":5" },
        { "&limit=5&before=20", ",\"limit\":5,\"before\":20" },
        { "&before=20&limit=5", ",\"limit\":5,\"before\":20" },
        { "&before=3", ",\"before\":3" },
        { "&before=1", ",\"before\":1" },
        { "&limit=5000", ",\"limit\":5000" },
        { "&limit=1000&before=61", ",\"limit\":1000,\"before\":61" },
    };
    int port = itest_port(state);
    char topic[128];
    char unused[128];
    char path[512];
    char data[32];
    char *enc = NULL;
    struct rawws *c = NULL;
    cJSON *j = NULL;
    cJSON *msgs = NULL;
    size_t i = 0;
    int k = 0;

    itest_topic(topic, sizeof(topic), "hhist");
    itest_topic(unused, sizeof(unused), "hhist");
    c = itest_hello(port, "historian");
    assert_non_null(c);
    for (k = 1; k <= 60; k++) {
        snprintf(data, sizeof(data), "{\"n\":%d}", k);
        assert_int_equal(itest_pub(c, 100 + k, topic, data), k);
    }
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        snprintf(path, sizeof(path), "/api/history?topic=%s%s", topic,
                 opts[i][0]);
        j = get_json(port, path, 200);
        msgs = ws_history(c, 10 + (int64_t)i, topic, opts[i][1]);
        assert_true(tj_str_is(j, "topic", topic));
        if (!tj_equal(cJSON_GetObjectItemCaseSensitive(j, "messages"),
                      msgs)) {
            fprintf(stderr, "GET %s differs from the history command\n",
                    path);
            tj_dump("http", j);
            tj_dump("ws", msgs);
        }
        assert_true(tj_equal(cJSON_GetObjectItemCaseSensitive(j, "messages"),
                             msgs));
        cJSON_Delete(msgs);
        cJSON_Delete(j);
    }
    /* A check that the comparison above compares something. */
    snprintf(path, sizeof(path), "/api/history?topic=%s&limit=5&before=20",
             topic);
    j = get_json(port, path, 200);
    msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 5);
    for (k = 0; k < 5; k++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, k);

        assert_int_equal(tj_int_or(m, "seq", -1), 15 + k);
        assert_true(tj_str_is(m, "from", "historian"));
        assert_true(tj_int_or(m, "ts", -1) > 0);
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "data"),
                                   "n", -1), 15 + k);
    }
    cJSON_Delete(j);
    snprintf(path, sizeof(path), "/api/history?topic=%s", topic);
    j = get_json(port, path, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
                                                                "messages")),
                     50);
    cJSON_Delete(j);
    /* The topic may be percent-encoded like any query value. */
    enc = strdup(topic);
    assert_non_null(enc);
    snprintf(path, sizeof(path), "/api/history?limit=2&topic=");
    for (k = 0; enc[k]; k++) {
        size_t n = strlen(path);

        if (enc[k] == '/')
            snprintf(path + n, sizeof(path) - n, "%%2F");
        else
            snprintf(path + n, sizeof(path) - n, "%c", enc[k]);
    }
    free(enc);
    j = get_json(port, path, 200);
    assert_true(tj_str_is(j, "topic", topic));
    msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 2);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 1), "seq", -1), 60);
    cJSON_Delete(j);
    /* A topic nobody used has no messages. */
    snprintf(path, sizeof(path), "/api/history?topic=%s", unused);
    j = get_json(port, path, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j,
                                                                "messages")),
                     0);
    cJSON_Delete(j);
    assert_true(rawws_ping_ok(c, 99, W_HTTP));
    rawws_close(c);
}

static void test_history_bad_queries(void **state)
{
    int port = itest_port(state);
    char topic[128];
    char path[512];
    struct httpc_resp r;
    struct rawws *c = NULL;
    const char *cases[][3] = {
        { "/api/history", "400", "bad_request" },
        { "/api/history?limit=5", "400", "bad_request" },
        { "/api/history?topic=%s&limit=0", "400", "bad_request" },
        { "/api/history?topic=%s&limit=-1", "400", "bad_request" },
        { "/api/history?topic=%s&limit=abc", "400", "bad_request" },
        { "/api/history?topic=%s/%%2B", "400", "invalid_topic" },
        { "/api/history?topic=%s/%%23", "400", "invalid_topic" },
        { "/api/history?topic=%s//x", "400", "invalid_topic" },
        { "/api/history?topic=%s&before=x", "400", "bad_request" },
        { "/api/history?topic=%s&limit=2.5", "400", "bad_request" },
    };
    size_t i = 0;

    itest_topic(topic, sizeof(topic), "hbadq");
    c = itest_hello(port, "bystander");
    assert_non_null(c);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), cases[i][0], topic);
        assert_int_equal(httpc_get(port, path, &r, W_HTTP), 0);
        assert_error_body(&r, atoi(cases[i][1]), cases[i][2], path);
        httpc_resp_cleanup(&r);
    }
    assert_true(rawws_ping_ok(c, 2, W_HTTP));
    rawws_close(c);
}

/* Percent-encode every byte of s that is not unreserved into out; with
 * all, encode every byte (so a 255-byte topic becomes 765 characters).
 * A space becomes '+' unless all is set. */
static void url_encode(char *out, size_t n, const char *s, bool all)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0' && o + 3 < n; s++) {
        unsigned char c = (unsigned char)*s;

        if (!all && c == ' ') {
            out[o++] = '+';
        } else if (!all && ((c >= 'a' && c <= 'z') ||
                            (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.')) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    assert_true(*s == '\0');
    out[o] = '\0';
}

/* GET path must answer 200 with exactly the seqs first..last of topic. */
static void assert_history_seqs(int port, const char *path, const char *topic,
                                int first, int last)
{
    cJSON *j = get_json(port, path, 200);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    int k = 0;

    if (!tj_str_is(j, "topic", topic) ||
        cJSON_GetArraySize(msgs) != last - first + 1) {
        fprintf(stderr, "GET %.200s...: wanted seqs %d..%d\n", path, first,
                last);
        tj_dump("got", j);
    }
    assert_true(tj_str_is(j, "topic", topic));
    assert_int_equal(cJSON_GetArraySize(msgs), last - first + 1);
    for (k = first; k <= last; k++)
        assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, k - first),
                                   "seq", -1), k);
    cJSON_Delete(j);
}

/* Realistic topics are long and percent-encoded: every argument counts
 * whatever its place, however long the ones before it (issue #12: a long
 * topic used to hide limit and before). */
static void test_history_long_topics(void **state)
{
    /* Every order of the three arguments; %s is the encoded topic. */
    static const char *const orders[] = {
        "topic=%s&limit=2&before=5", "topic=%s&before=5&limit=2",
        "limit=2&topic=%s&before=5", "limit=2&before=5&topic=%s",
        "before=5&topic=%s&limit=2", "before=5&limit=2&topic=%s",
        "pad=%s&topic=%s&before=5&limit=2",
        "topic=%s&x=1&limit=2&y&before=5&z=%%41",
    };
    /* Invalid or repeated arguments after the long topic: 400. */
    static const char *const bad[] = {
        "topic=%s&limit=abc", "topic=%s&before=5&limit=abc",
        "topic=%s&before=x", "topic=%s&limit=2&before=-1",
        "topic=%s&limit=2.5", "topic=%s&limit=2&limit=3",
        "topic=%s&topic=%s", "topic=%s&before=5&before=6",
        "topic=%s&limit=",
    };
    int port = itest_port(state);
    char base[128];
    char topic[PL_TOPIC_MAX + 1];
    char spaced[160];
    char enc[3 * PL_TOPIC_MAX + 1];
    char path[4096];
    char q[4000];
    char data[32];
    struct httpc_resp r;
    struct rawws *c = NULL;
    size_t i = 0;
    int k = 0;

    itest_topic(base, sizeof(base), "site/building-7/floor-2/kitchen/temp");
    c = itest_hello(port, "thermometer");
    assert_non_null(c);
    for (k = 1; k <= 8; k++) {
        snprintf(data, sizeof(data), "%d", 20 + k);
        assert_int_equal(itest_pub(c, 100 + k, base, data), k);
    }
    url_encode(enc, sizeof(enc), base, false);
    for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
        if (strncmp(orders[i], "pad=", 4) == 0) {
            char all[sizeof(enc)];

            url_encode(all, sizeof(all), base, true);
            snprintf(q, sizeof(q), orders[i], all, enc);
        } else {
            snprintf(q, sizeof(q), orders[i], enc);
        }
        snprintf(path, sizeof(path), "/api/history?%s", q);
        assert_history_seqs(port, path, base, 3, 4);
    }
    /* Every byte encoded (765 characters for a 255-byte topic). */
    url_encode(enc, sizeof(enc), base, true);
    snprintf(path, sizeof(path), "/api/history?topic=%s&limit=3", enc);
    assert_history_seqs(port, path, base, 6, 8);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(q, sizeof(q), bad[i], enc, enc);
        snprintf(path, sizeof(path), "/api/history?%s", q);
        assert_int_equal(httpc_get(port, path, &r, W_HTTP), 0);
        assert_error_body(&r, 400, "bad_request", bad[i]);
        httpc_resp_cleanup(&r);
    }

    /* '+' is a space, as in any form-encoded query. */
    snprintf(spaced, sizeof(spaced), "%s/living room", base);
    assert_int_equal(itest_pub(c, 200, spaced, "1"), 1);
    assert_int_equal(itest_pub(c, 201, spaced, "2"), 2);
    url_encode(enc, sizeof(enc), spaced, false);
    assert_non_null(strchr(enc, '+'));
    snprintf(path, sizeof(path), "/api/history?topic=%s&limit=1", enc);
    assert_history_seqs(port, path, spaced, 2, 2);

    /* The longest topic there is: 255 bytes, 765 characters encoded. */
    snprintf(topic, sizeof(topic), "%s/", base);
    for (k = (int)strlen(topic); k < PL_TOPIC_MAX; k++)
        topic[k] = k % 16 == 0 && topic[k - 1] != '/' && k < PL_TOPIC_MAX - 1
                       ? '/' : (char)('a' + k % 26);
    topic[PL_TOPIC_MAX] = '\0';
    assert_int_equal(strlen(topic), PL_TOPIC_MAX);
    for (k = 1; k <= 4; k++)
        assert_int_equal(itest_pub(c, 300 + k, topic, "true"), k);
    url_encode(enc, sizeof(enc), topic, true);
    assert_int_equal(strlen(enc), 3 * PL_TOPIC_MAX);
    for (i = 0; i < 6; i++) {
        snprintf(q, sizeof(q), orders[i], enc);
        snprintf(path, sizeof(path), "/api/history?%s", q);
        assert_history_seqs(port, path, topic, 3, 4);
    }
    assert_true(rawws_ping_ok(c, 99, W_HTTP));
    rawws_close(c);
}

/* GET /api/topics?prefix= lists exactly the topics with that prefix,
 * each with its latest seq. */
static void test_topics(void **state)
{
    int port = itest_port(state);
    char base[96];
    char ta[128];
    char tb[128];
    char other[128];
    char path[256];
    struct rawws *c = NULL;
    cJSON *j = NULL;
    cJSON *ok = NULL;
    const cJSON *list = NULL;
    const cJSON *it = NULL;
    bool seen_a = false;
    bool seen_b = false;

    itest_topic(base, sizeof(base), "chat");
    snprintf(ta, sizeof(ta), "%s/a", base);
    snprintf(tb, sizeof(tb), "%s/b", base);
    snprintf(other, sizeof(other), "room/%s", base);
    c = itest_hello(port, "lister");
    assert_non_null(c);
    assert_int_equal(itest_pub(c, 2, ta, "1"), 1);
    assert_int_equal(itest_pub(c, 3, ta, "2"), 2);
    assert_int_equal(itest_pub(c, 4, ta, "3"), 3);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":5,\"topic\":"
                                      "\"%s\",\"data\":1,\"retain\":true}",
                                      tb), 0);
    ok = rawws_expect_ok(c, 5, W_HTTP);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 1);
    cJSON_Delete(ok);
    assert_int_equal(itest_pub(c, 6, other, "1"), 1);

    snprintf(path, sizeof(path), "/api/topics?prefix=%s/", base);
    j = get_json(port, path, 200);
    list = cJSON_GetObjectItemCaseSensitive(j, "topics");
    assert_true(cJSON_IsArray(list));
    cJSON_ArrayForEach(it, list) {
        if (tj_str_is(it, "topic", ta)) {
            assert_false(seen_a);
            seen_a = true;
            assert_int_equal(tj_int_or(it, "seq", -1), 3);
            assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(it,
                                                               "retained")));
        } else if (tj_str_is(it, "topic", tb)) {
            assert_false(seen_b);
            seen_b = true;
            assert_int_equal(tj_int_or(it, "seq", -1), 1);
            assert_true(tj_is_true(it, "retained"));
        } else {
            tj_dump("a topic outside the prefix", it);
            fail();
        }
    }
    if (!seen_a || !seen_b)
        tj_dump("wanted both topics", j);
    assert_true(seen_a && seen_b);
    cJSON_Delete(j);

    /* A prefix nothing has. */
    snprintf(path, sizeof(path), "/api/topics?prefix=%s/zz", base);
    j = get_json(port, path, 200);
    list = cJSON_GetObjectItemCaseSensitive(j, "topics");
    assert_true(cJSON_IsArray(list));
    assert_int_equal(cJSON_GetArraySize(list), 0);
    cJSON_Delete(j);
    assert_true(rawws_ping_ok(c, 7, W_HTTP));
    rawws_close(c);
}

/* HTTP and WebSocket publishes interleaved on one topic: the subscriber
 * sees one gapless sequence, each from the right publisher, while a
 * second WebSocket connection keeps answering pings. */
static void test_ws_alongside_http(void **state)
{
    int port = itest_port(state);
    char topic[128];
    char body[256];
    struct rawws *s = NULL;
    struct rawws *p = NULL;
    cJSON *j = NULL;
    cJSON *m = NULL;
    int k = 0;

    itest_topic(topic, sizeof(topic), "hmix");
    s = itest_hello(port, "watcher");
    assert_non_null(s);
    j = itest_sub(s, 2, topic);
    assert_non_null(j);
    cJSON_Delete(j);
    p = itest_hello(port, "wsp");
    assert_non_null(p);
    for (k = 1; k <= 60; k++) {
        snprintf(body, sizeof(body), "{\"k\":%d}", k);
        if (k % 2) {
            char req[512];

            snprintf(req, sizeof(req), "{\"topic\":\"%s\",\"data\":%s}",
                     topic, body);
            j = publish_ok(port, req, topic);
            assert_int_equal(tj_int_or(j, "seq", -1), k);
            cJSON_Delete(j);
        } else {
            assert_int_equal(itest_pub(p, 100 + k, topic, body), k);
        }
        m = itest_expect_msg(s, topic, k, W_HTTP);
        assert_non_null(m);
        assert_true(tj_str_is(m, "from", k % 2 ? "http" : "wsp"));
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "data"),
                                   "k", -1), k);
        cJSON_Delete(m);
        if (k % 10 == 0)
            assert_true(rawws_ping_ok(p, 1000 + k, W_HTTP));
    }
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_publish_key),
        cmocka_unit_test(test_publish_bad_bodies),
        cmocka_unit_test(test_publish_too_large),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_history_bad_queries),
        cmocka_unit_test(test_history_long_topics),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_ws_alongside_http),
        cmocka_unit_test(test_publish_ephemeral),
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_publish_empty_body),
    };
    int rc = cmocka_run_group_tests_name("http", tests, group_setup,
                                         group_teardown);

    return itest_exit_code(rc);
}
