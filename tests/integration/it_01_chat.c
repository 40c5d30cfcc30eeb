/*
 * it_01_chat: the basic conversation of protocol-v1 against a real parleyd:
 * the WebSocket handshake and subprotocol choice, hello, anonymous names,
 * sub/pub/msg between two clients, pub without id, unsub, ping, the order
 * of replies, and the plain HTTP endpoints (/, /healthz, /metrics).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
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

static void test_handshake_selects_parley_v1(void **state)
{
    struct rawws_opts o = { .port = itest_port(state),
                            .protocols = "parley.v1" };
    struct rawws *c = NULL;

    assert_int_equal(rawws_open(&c, &o), 0);
    assert_int_equal(c->status, 101);
    assert_true(c->accept_ok);
    assert_true(c->has_protocol);
    assert_string_equal(c->protocol, "parley.v1");
    assert_true(rawws_ping_ok(c, 1, W));
    rawws_close(c);

    /* Offered among others, it is still the one selected. */
    o.protocols = "chat.v9, parley.v1";
    assert_int_equal(rawws_open(&c, &o), 0);
    assert_int_equal(c->status, 101);
    assert_true(c->has_protocol);
    assert_string_equal(c->protocol, "parley.v1");
    assert_true(rawws_ping_ok(c, 2, W));
    rawws_close(c);
}

static void test_handshake_without_subprotocol(void **state)
{
    struct rawws_opts o = { .port = itest_port(state) };
    struct rawws *c = NULL;

    assert_int_equal(rawws_open(&c, &o), 0);
    assert_int_equal(c->status, 101);
    assert_true(c->accept_ok);
    /* RFC 6455 4.1: a subprotocol the client did not offer fails it. */
    if (c->has_protocol)
        fprintf(stderr, "selected \"%s\" though none was offered\n",
                c->protocol);
    assert_false(c->has_protocol);
    assert_true(rawws_ping_ok(c, 1, W));
    rawws_close(c);
}

static void test_handshake_other_subprotocol_refused(void **state)
{
    struct rawws_opts o = { .port = itest_port(state),
                            .protocols = "chat.v9, mqtt" };
    struct rawws *c = NULL;
    int rc = rawws_open(&c, &o);

    /* Refused: either an HTTP answer other than 101, or the server closing
     * the stream. Silence (a timeout) or no server at all is no refusal. */
    if (rc == 0) {
        if (c->status == 101)
            fprintf(stderr, "upgraded with only other subprotocols:\n%s",
                    c->resp_head);
        assert_int_not_equal(c->status, 101);
        rawws_close(c);
    } else {
        fprintf(stderr, "handshake refused without HTTP answer: %s\n",
                rawws_strerror(rc));
        assert_true(rc == -ENOTCONN || rc == -ECONNRESET);
    }
    /* The server that refused still serves the right subprotocol. */
    o.protocols = "parley.v1";
    assert_int_equal(rawws_open(&c, &o), 0);
    assert_int_equal(c->status, 101);
    assert_true(rawws_ping_ok(c, 1, W));
    rawws_close(c);
}

static void test_hello(void **state)
{
    struct rawws *c = rawws_connect(itest_port(state));
    const char *server = NULL;
    const char *session = NULL;
    cJSON *ok = NULL;
    cJSON *err = NULL;

    assert_non_null(c);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"hello\",\"id\":1,"
                                        "\"name\":\"alice\"}"), 0);
    ok = rawws_expect_ok(c, 1, W);
    assert_non_null(ok);
    session = tj_str(ok, "session");
    assert_non_null(session);
    assert_true(strlen(session) > 0);
    assert_true(tj_str_is(ok, "user", "alice"));
    server = tj_str(ok, "server");
    assert_non_null(server);
    assert_true(strncmp(server, "parley/", 7) == 0);
    assert_true(strlen(server) > 7);
    assert_int_equal(tj_int_or(ok, "protocol", -1), 1);
    cJSON_Delete(ok);

    /* A second hello is bad_request, and the connection stays usable. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"hello\",\"id\":2,"
                                        "\"name\":\"mallory\"}"), 0);
    err = rawws_expect_error(c, 2, "bad_request", W);
    assert_non_null(err);
    cJSON_Delete(err);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"hello\","
                                        "\"name\":\"mallory\"}"), 0);
    err = rawws_expect_error(c, 0, "bad_request", W);
    assert_non_null(err);
    cJSON_Delete(err);
    assert_true(rawws_ping_ok(c, 3, W));
    rawws_close(c);
}

static void test_hello_without_id_is_silent(void **state)
{
    struct rawws *c = rawws_connect(itest_port(state));
    struct rawws *w = itest_hello(itest_port(state), "hwatch");
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m = NULL;

    assert_non_null(c);
    assert_non_null(w);
    itest_topic(topic, sizeof(topic), "chat");
    ok = itest_sub(w, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"hello\","
                                        "\"name\":\"quiet\"}"), 0);
    assert_true(itest_nothing_more(c, 5, ITEST_QUIET_MS));
    /* The name took effect. */
    assert_int_equal(itest_pub(c, 6, topic, "1"), 1);
    m = itest_expect_msg(w, topic, 1, W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "quiet"));
    cJSON_Delete(m);
    rawws_close(c);
    rawws_close(w);
}

/* n of "anon-<n>", or -1 when from is not of that form. */
static long anon_number(const char *from)
{
    regex_t re;
    long n = -1;

    if (!from)
        return -1;
    if (regcomp(&re, "^anon-[0-9]+$", REG_EXTENDED | REG_NOSUB) != 0)
        return -1;
    if (regexec(&re, from, 0, NULL, 0) == 0)
        n = strtol(from + 5, NULL, 10);
    regfree(&re);
    return n;
}

static void test_anonymous_names(void **state)
{
    int port = itest_port(state);
    struct rawws *w = itest_hello(port, "watcher");
    struct rawws *a = rawws_connect(port);
    struct rawws *b = rawws_connect(port);
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m1 = NULL;
    cJSON *m2 = NULL;
    cJSON *m3 = NULL;
    long n1 = 0;
    long n2 = 0;

    assert_non_null(w);
    assert_non_null(a);
    assert_non_null(b);
    itest_topic(topic, sizeof(topic), "chat");
    ok = itest_sub(w, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);

    assert_int_equal(itest_pub(a, 1, topic, "\"from a\""), 1);
    m1 = itest_expect_msg(w, topic, 1, W);
    assert_non_null(m1);
    assert_int_equal(itest_pub(b, 1, topic, "\"from b\""), 2);
    m2 = itest_expect_msg(w, topic, 2, W);
    assert_non_null(m2);
    assert_int_equal(itest_pub(a, 2, topic, "\"a again\""), 3);
    m3 = itest_expect_msg(w, topic, 3, W);
    assert_non_null(m3);

    n1 = anon_number(tj_str(m1, "from"));
    n2 = anon_number(tj_str(m2, "from"));
    if (n1 < 0 || n2 < 0 || n1 == n2) {
        tj_dump("first anonymous", m1);
        tj_dump("second anonymous", m2);
    }
    assert_true(n1 >= 0);
    assert_true(n2 >= 0);
    assert_true(n1 != n2);
    /* The same connection keeps its name. */
    assert_string_equal(tj_str(m3, "from"), tj_str(m1, "from"));
    cJSON_Delete(m1);
    cJSON_Delete(m2);
    cJSON_Delete(m3);
    rawws_close(a);
    rawws_close(b);
    rawws_close(w);
}

/* Check a msg frame: topic, seq, from, ts near now, data equal to want. */
static void check_msg(const cJSON *m, const char *topic, int64_t seq,
                      const char *from, const cJSON *want)
{
    int64_t ts = 0;
    int64_t now = itest_now_ms();

    assert_non_null(m);
    assert_true(tj_str_is(m, "op", "msg"));
    assert_true(tj_str_is(m, "topic", topic));
    assert_int_equal(tj_int_or(m, "seq", -1), seq);
    assert_true(tj_str_is(m, "from", from));
    assert_true(tj_int(m, "ts", &ts));
    if (ts < now - 10000 || ts > now + 5000)
        fprintf(stderr, "ts %lld is far from now %lld\n", (long long)ts,
                (long long)now);
    assert_true(ts >= now - 10000 && ts <= now + 5000);
    assert_true(tj_has(m, "data"));
    if (!tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"), want)) {
        tj_dump("data wanted", want);
        tj_dump("msg got", m);
        fail_msg("data differs");
    }
    assert_false(tj_is_true(m, "retained"));
}

static void test_two_clients_chat(void **state)
{
    int port = itest_port(state);
    struct rawws *alice = itest_hello(port, "alice");
    struct rawws *bob = itest_hello(port, "bob");
    const char *data = "{\"text\":\"hi \\u00e9\\u2713\",\"n\":[1,2.5,"
                       "{\"x\":null,\"t\":true}],\"neg\":-7}";
    cJSON *want = tj_parse(data);
    cJSON *want2 = tj_parse("\"plain string\"");
    char topic[128];
    cJSON *got[2] = { NULL, NULL };
    cJSON *ok = NULL;
    cJSON *m = NULL;

    assert_non_null(alice);
    assert_non_null(bob);
    assert_non_null(want);
    itest_topic(topic, sizeof(topic), "chat");

    /* A new topic: seq 0 in the sub reply. */
    ok = itest_sub(bob, 2, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 0);
    cJSON_Delete(ok);
    ok = itest_sub(alice, 2, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 0);
    cJSON_Delete(ok);

    /* alice publishes with an id: her ok (seq 1) and her own copy. */
    assert_int_equal(rawws_send_textf(alice, "{\"op\":\"pub\",\"id\":3,"
                                      "\"topic\":\"%s\",\"data\":%s}",
                                      topic, data), 0);
    assert_int_equal(itest_collect(alice, got, 2, W), 2);
    ok = itest_find_ok(got, 2, 3);
    assert_non_null(ok);
    assert_true(tj_str_is(ok, "topic", topic));
    assert_int_equal(tj_int_or(ok, "seq", -1), 1);
    check_msg(itest_find_msg(got, 2, topic, 1), topic, 1, "alice", want);
    itest_free_all(got, 2);

    m = itest_expect_msg(bob, topic, 1, W);
    check_msg(m, topic, 1, "alice", want);
    cJSON_Delete(m);

    /* bob publishes without an id: delivered, no reply. His ping's ok and
     * his own copy may come in either order. */
    assert_int_equal(rawws_send_textf(bob, "{\"op\":\"pub\",\"topic\":\"%s\","
                                      "\"data\":\"plain string\"}", topic),
                     0);
    assert_int_equal(rawws_send_text(bob, "{\"op\":\"ping\",\"id\":4}"), 0);
    assert_int_equal(itest_collect(bob, got, 2, W), 2);
    assert_non_null(itest_find_ok(got, 2, 4));
    check_msg(itest_find_msg(got, 2, topic, 2), topic, 2, "bob", want2);
    itest_free_all(got, 2);
    m = itest_expect_msg(alice, topic, 2, W);
    check_msg(m, topic, 2, "bob", want2);
    cJSON_Delete(m);

    assert_true(itest_nothing_more(alice, 10, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(bob, 10, ITEST_QUIET_MS));
    cJSON_Delete(want);
    cJSON_Delete(want2);
    rawws_close(alice);
    rawws_close(bob);
}

static void test_pub_without_id_gets_no_reply(void **state)
{
    int port = itest_port(state);
    struct rawws *carol = itest_hello(port, "carol");
    struct rawws *dave = itest_hello(port, "dave");
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m = NULL;

    assert_non_null(carol);
    assert_non_null(dave);
    itest_topic(topic, sizeof(topic), "chat");
    ok = itest_sub(dave, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(rawws_send_textf(carol, "{\"op\":\"pub\",\"topic\":"
                                      "\"%s\",\"data\":{\"k\":[]}}", topic),
                     0);
    m = itest_expect_msg(dave, topic, 1, W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "carol"));
    cJSON_Delete(m);
    assert_true(itest_nothing_more(carol, 3, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(dave, 3, ITEST_QUIET_MS));
    rawws_close(carol);
    rawws_close(dave);
}

static void test_unsub_stops_delivery(void **state)
{
    int port = itest_port(state);
    struct rawws *s = itest_hello(port, "erin");
    struct rawws *p = itest_hello(port, "frank");
    struct rawws *w = itest_hello(port, "grace");
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m = NULL;

    assert_non_null(s);
    assert_non_null(p);
    assert_non_null(w);
    itest_topic(topic, sizeof(topic), "chat");
    ok = itest_sub(s, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(w, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);

    assert_int_equal(itest_pub(p, 2, topic, "1"), 1);
    m = itest_expect_msg(s, topic, 1, W);
    assert_non_null(m);
    cJSON_Delete(m);
    m = itest_expect_msg(w, topic, 1, W);
    assert_non_null(m);
    cJSON_Delete(m);

    assert_int_equal(rawws_send_textf(s, "{\"op\":\"unsub\",\"id\":3,"
                                      "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(s, 3, W);
    assert_non_null(ok);
    cJSON_Delete(ok);

    /* The witness w still gets seq 2; erin must not. */
    assert_int_equal(itest_pub(p, 3, topic, "2"), 2);
    m = itest_expect_msg(w, topic, 2, W);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));

    /* unsub of a topic not subscribed is harmless (no reply asserted
     * beyond a well-formed one); the connection keeps working. */
    rawws_close(s);
    rawws_close(p);
    rawws_close(w);
}

static void test_ping(void **state)
{
    struct rawws *c = rawws_connect(itest_port(state));
    cJSON *ok = NULL;

    assert_non_null(c);
    assert_true(rawws_ping_ok(c, 42, W));
    /* The largest id allowed, 2^53-1, comes back exactly. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\","
                                        "\"id\":9007199254740991}"), 0);
    ok = rawws_expect_ok(c, 9007199254740991LL, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    /* A ping without id has no reply. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\"}"), 0);
    assert_true(itest_nothing_more(c, 43, ITEST_QUIET_MS));
    rawws_close(c);
}

static void test_replies_in_command_order(void **state)
{
    struct rawws *c = itest_hello(itest_port(state), "henry");
    char topic[128];
    cJSON *ok = NULL;
    int64_t id = 0;

    assert_non_null(c);
    itest_topic(topic, sizeof(topic), "chat");
    /* Sent back to back, without waiting; no pub among them. */
    assert_int_equal(rawws_send_textf(c,
        "{\"op\":\"sub\",\"id\":10,\"topic\":\"%s\"}", topic), 0);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":11}"), 0);
    assert_int_equal(rawws_send_textf(c,
        "{\"op\":\"history\",\"id\":12,\"topic\":\"%s\"}", topic), 0);
    assert_int_equal(rawws_send_textf(c,
        "{\"op\":\"presence\",\"id\":13,\"topic\":\"%s\"}", topic), 0);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":14}"), 0);
    assert_int_equal(rawws_send_textf(c,
        "{\"op\":\"unsub\",\"id\":15,\"topic\":\"%s\"}", topic), 0);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":16}"), 0);
    for (id = 10; id <= 16; id++) {
        ok = rawws_expect_ok(c, id, W);
        assert_non_null(ok);
        if (id == 12) {
            const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(ok,
                                                                 "messages");

            assert_true(cJSON_IsArray(msgs));
            assert_int_equal(cJSON_GetArraySize(msgs), 0);
        }
        if (id == 13)
            assert_true(cJSON_IsArray(
                cJSON_GetObjectItemCaseSensitive(ok, "members")));
        cJSON_Delete(ok);
    }
    assert_true(itest_nothing_more(c, 17, ITEST_QUIET_MS));
    rawws_close(c);
}

static void test_http_healthz(void **state)
{
    struct httpc_resp r;

    assert_int_equal(httpc_get(itest_port(state), "/healthz", &r, W), 0);
    assert_int_equal(r.status, 200);
    assert_true(strcmp(r.body, "ok") == 0 || strcmp(r.body, "ok\n") == 0);
    httpc_resp_cleanup(&r);
}

static void test_http_metrics(void **state)
{
    struct httpc_resp r;
    char ctype[128];
    const char *line = NULL;
    int parley_lines = 0;

    assert_int_equal(httpc_get(itest_port(state), "/metrics", &r, W), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(httpc_header(&r, "Content-Type", ctype, sizeof(ctype)));
    assert_true(strncmp(ctype, "text/plain", 10) == 0);
    /* Prometheus text: "name{labels} value" lines; ours start parley_. */
    for (line = r.body; line && *line; line = strchr(line, '\n')) {
        char name[256];
        double v = 0;

        if (*line == '\n')
            line++;
        if (strncmp(line, "parley_", 7) != 0)
            continue;
        if (sscanf(line, "%255[^ {]%*[^ ] %lf", name, &v) == 2 ||
            sscanf(line, "%255s %lf", name, &v) == 2)
            parley_lines++;
    }
    if (parley_lines == 0)
        fprintf(stderr, "/metrics body:\n%.2000s\n", r.body);
    assert_true(parley_lines > 0);
    httpc_resp_cleanup(&r);
}

static void test_http_index(void **state)
{
    struct httpc_resp r;
    char ctype[128];

    assert_int_equal(httpc_get(itest_port(state), "/", &r, W), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(httpc_header(&r, "Content-Type", ctype, sizeof(ctype)));
    assert_true(strncmp(ctype, "text/html", 9) == 0);
    assert_true(r.body_len > 0);
    httpc_resp_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_selects_parley_v1),
        cmocka_unit_test(test_handshake_without_subprotocol),
        cmocka_unit_test(test_handshake_other_subprotocol_refused),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_hello_without_id_is_silent),
        cmocka_unit_test(test_anonymous_names),
        cmocka_unit_test(test_two_clients_chat),
        cmocka_unit_test(test_pub_without_id_gets_no_reply),
        cmocka_unit_test(test_unsub_stops_delivery),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_replies_in_command_order),
        cmocka_unit_test(test_http_healthz),
        cmocka_unit_test(test_http_metrics),
        cmocka_unit_test(test_http_index),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    return itest_exit_code(rc);
}
