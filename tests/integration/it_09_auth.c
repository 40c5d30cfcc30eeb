/*
 * it_09_auth: auth and transport security against a real parleyd started
 * with --secret (and, in the TLS group, --secret-file, --cert and --key).
 * Tokens are minted here with protocol/jwt.h, and forged by hand where a
 * test needs one the library would never make (alg none, HS512, a wrong
 * signature). Covers: unauthorized before hello; hello with a token
 * (user = sub); bad, expired and foreign-alg tokens; allow_pub/allow_sub
 * for pub, sub (patterns only within allow_sub), history and presence;
 * ?token= on the upgrade (valid counts as hello, invalid gets HTTP 401);
 * Authorization: Bearer on the HTTP API (401/403); the open endpoints;
 * the Origin check (with and without --allow-origin); and wss:// and
 * https:// on one port with a throwaway certificate made by `openssl`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include "itest.h"
#include "jwt.h"

#define W ITEST_WAIT_MS
#define SECRET "it09-secret-do-not-use"
#define TLS_SECRET "it09-tls-secret-from-a-file"

/* ------------------------------------------------------------------ */
/* tokens                                                              */

/* A token signed with SECRET for sub, expiring at exp (0: never), with
 * the allow lists (NULL: claim absent). Caller frees. */
static char *mint(const char *sub, int64_t exp, const char *const *pub,
                  size_t n_pub, const char *const *subs, size_t n_sub)
{
    char *tok = pl_jwt_sign(SECRET, strlen(SECRET), sub, exp, pub, n_pub,
                            subs, n_sub);

    assert_non_null(tok);
    return tok;
}

/* base64url of data[0..n) without padding into out (4n/3 + 4 bytes). */
static void b64url(const void *data, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    int i = 0;

    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
}

/*
 * A token the library would never make: header and payload as given,
 * signed with md under key (md NULL: an empty signature, as alg "none"
 * has). Caller frees.
 */
static char *forge(const char *header, const char *payload, const EVP_MD *md,
                   const char *key)
{
    char h[512];
    char p[1024];
    char sig[256];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char *signing = NULL;
    char *tok = NULL;

    assert_true(strlen(header) < 300 && strlen(payload) < 700);
    b64url(header, strlen(header), h);
    b64url(payload, strlen(payload), p);
    assert_true(asprintf(&signing, "%s.%s", h, p) > 0);
    sig[0] = '\0';
    if (md != NULL) {
        assert_non_null(HMAC(md, key, (int)strlen(key),
                             (const unsigned char *)signing, strlen(signing),
                             mac, &mac_len));
        b64url(mac, mac_len, sig);
    }
    assert_true(asprintf(&tok, "%s.%s", signing, sig) > 0);
    free(signing);
    return tok;
}

/* ------------------------------------------------------------------ */
/* conversations                                                       */

static struct rawws *connect_ok(int port)
{
    struct rawws *c = rawws_connect(port);

    assert_non_null(c);
    return c;
}

static void expect_error(struct rawws *c, int64_t id, const char *code)
{
    cJSON *e = rawws_expect_error(c, id, code, W);

    if (e == NULL)
        fprintf(stderr, "wanted error %s for id %lld\n", code,
                (long long)id);
    assert_non_null(e);
    cJSON_Delete(e);
}

/* hello with token (NULL: none) and a name the server must ignore. */
static void send_hello(struct rawws *c, int64_t id, const char *token)
{
    if (token != NULL)
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"hello\",\"id\":%lld,"
                                          "\"name\":\"mallory\","
                                          "\"token\":\"%s\"}",
                                          (long long)id, token), 0);
    else
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"hello\",\"id\":%lld,"
                                          "\"name\":\"mallory\"}",
                                          (long long)id), 0);
}

static void hello_ok(struct rawws *c, int64_t id, const char *token,
                     const char *user)
{
    cJSON *ok = NULL;

    send_hello(c, id, token);
    ok = rawws_expect_ok(c, id, W);
    assert_non_null(ok);
    if (!tj_str_is(ok, "user", user))
        tj_dump("hello: wanted user", ok);
    assert_true(tj_str_is(ok, "user", user));
    cJSON_Delete(ok);
}

/* A connection that said hello with a token minted for user. */
static struct rawws *authed(int port, const char *user, const char *const *pub,
                            size_t n_pub, const char *const *subs,
                            size_t n_sub)
{
    struct rawws *c = connect_ok(port);
    char *tok = mint(user, 0, pub, n_pub, subs, n_sub);

    hello_ok(c, 1, tok, user);
    free(tok);
    return c;
}

static void send_op_topic(struct rawws *c, const char *op, int64_t id,
                          const char *topic)
{
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"%s\",\"id\":%lld,"
                                      "\"topic\":\"%s\"}", op,
                                      (long long)id, topic), 0);
}

static void pub_forbidden(struct rawws *c, int64_t id, const char *topic)
{
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%lld,"
                                      "\"topic\":\"%s\",\"data\":1}",
                                      (long long)id, topic), 0);
    expect_error(c, id, "forbidden");
}

/* The status of an upgrade to path (origin: an Origin header or NULL). */
static int upgrade_status(int port, const char *path, const char *origin)
{
    char hdr[256];
    struct rawws_opts o;
    struct rawws *c = NULL;
    int status = 0;
    int rc = 0;

    memset(&o, 0, sizeof(o));
    o.port = port;
    o.path = path;
    o.protocols = "parley.v1";
    if (origin != NULL) {
        snprintf(hdr, sizeof(hdr), "Origin: %s\r\n", origin);
        o.extra_headers = hdr;
    }
    rc = rawws_open(&c, &o);
    if (rc < 0) {
        fprintf(stderr, "upgrade %s: %s\n", path, rawws_strerror(rc));
        return rc;
    }
    status = c->status;
    rawws_close(c);
    return status;
}

/* ------------------------------------------------------------------ */
/* group: auth                                                         */

static int group_setup(void **state)
{
    static const char *const extra[] = { "--secret", SECRET, NULL };

    return itest_setup(state, extra);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

static void test_unauthorized_before_hello(void **state)
{
    int port = itest_port(state);
    struct rawws *c = connect_ok(port);
    char *tok = mint("alice", 0, NULL, 0, NULL, 0);
    cJSON *ok = NULL;

    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":2}"), 0);
    expect_error(c, 2, "unauthorized");
    send_op_topic(c, "sub", 3, "chat/x");
    expect_error(c, 3, "unauthorized");
    assert_int_equal(rawws_send_text(c, "{\"op\":\"pub\",\"id\":4,"
                                     "\"topic\":\"chat/x\",\"data\":1}"), 0);
    expect_error(c, 4, "unauthorized");
    send_op_topic(c, "history", 5, "chat/x");
    expect_error(c, 5, "unauthorized");
    send_op_topic(c, "presence", 6, "chat/x");
    expect_error(c, 6, "unauthorized");
    /* A hello without a token is refused too... */
    send_hello(c, 7, NULL);
    expect_error(c, 7, "unauthorized");
    /* ...one with a token names the user after sub, not name. */
    send_hello(c, 8, tok);
    ok = rawws_expect_ok(c, 8, W);
    assert_non_null(ok);
    assert_true(tj_str_is(ok, "user", "alice"));
    assert_true(tj_has(ok, "session"));
    cJSON_Delete(ok);
    assert_true(rawws_ping_ok(c, 9, W));
    /* A second hello is bad_request, as without auth. */
    send_hello(c, 10, tok);
    expect_error(c, 10, "bad_request");
    assert_true(itest_nothing_more(c, 11, ITEST_QUIET_MS));
    free(tok);
    rawws_close(c);
}

static void test_bad_tokens(void **state)
{
    int port = itest_port(state);
    int64_t now = (int64_t)time(NULL);
    char payload[256];
    char *bad[10];
    char *good = mint("bob", now + 3600, NULL, 0, NULL, 0);
    char root[64];
    const char *dot1 = NULL;
    const char *dot2 = NULL;
    struct rawws *c = NULL;
    size_t i = 0;

    snprintf(payload, sizeof(payload), "{\"sub\":\"bob\",\"exp\":%lld}",
             (long long)(now + 3600));
    bad[0] = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, "");
    bad[1] = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", payload,
                   EVP_sha512(), SECRET);
    bad[2] = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload,
                   EVP_sha256(), "not-the-secret");
    bad[3] = mint("bob", now - 1, NULL, 0, NULL, 0);      /* expired */
    bad[4] = mint("bob", now, NULL, 0, NULL, 0);          /* exp == now */
    bad[5] = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"exp\":9e9}",
                   EVP_sha256(), SECRET);                 /* no sub */
    bad[6] = strdup("not.a.token");
    bad[7] = forge("{\"typ\":\"JWT\"}", payload, EVP_sha256(), SECRET);
    bad[8] = forge("{\"alg\":\"hs256\"}", payload, EVP_sha256(), SECRET);
    /* good's payload swapped for another user's: the signature fails. */
    dot1 = strchr(good, '.');
    assert_non_null(dot1);
    dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    b64url("{\"sub\":\"root\"}", 14, root);
    assert_true(asprintf(&bad[9], "%.*s.%s%s", (int)(dot1 - good), good,
                         root, dot2) > 0);

    c = connect_ok(port);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_non_null(bad[i]);
        send_hello(c, (int64_t)(10 + i), bad[i]);
        expect_error(c, (int64_t)(10 + i), "unauthorized");
    }
    /* Still unauthenticated, still usable: a good token works now. */
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":30}"), 0);
    expect_error(c, 30, "unauthorized");
    hello_ok(c, 31, good, "bob");
    assert_true(itest_nothing_more(c, 32, ITEST_QUIET_MS));
    rawws_close(c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        free(bad[i]);
    free(good);
}

static void test_allow_pub(void **state)
{
    static const char *const pub[] = { "chat/+", "sensors/#" };
    int port = itest_port(state);
    struct rawws *c = authed(port, "carol", pub, 2, NULL, 0);
    struct rawws *s = authed(port, "watcher", NULL, 0, NULL, 0);
    char topic[128];
    cJSON *ok = NULL;
    cJSON *m = NULL;

    itest_topic(topic, sizeof(topic), "chat");
    ok = itest_sub(s, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_true(itest_pub(c, 2, topic, "{\"t\":1}") >= 1);
    m = itest_expect_msg(s, topic, 1, W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "carol"));
    cJSON_Delete(m);
    assert_true(itest_pub(c, 3, "sensors/a/b/c", "1") >= 1);
    pub_forbidden(c, 4, "other/x");
    pub_forbidden(c, 5, "chat/x/y");
    pub_forbidden(c, 6, "chat");
    pub_forbidden(c, 7, "$SYS/x");
    /* A token without allow_pub may publish anywhere but $. */
    assert_true(itest_pub(s, 3, "other/x", "1") >= 1);
    pub_forbidden(s, 4, "$SYS/x");
    assert_true(itest_nothing_more(c, 8, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(s, 5, ITEST_QUIET_MS));
    rawws_close(c);
    rawws_close(s);
}

static void test_allow_sub(void **state)
{
    static const char *const subs[] = { "chat/#", "news/+" };
    static const char *const allowed[] = {
        "chat", "chat/a", "chat/a/b", "chat/#", "chat/+", "chat/+/b",
        "news/x", "news/+",
    };
    static const char *const refused[] = {
        "#", "+", "+/x", "news/#", "news", "news/x/y", "news/+/y", "other",
        "other/#", "$SYS/#", "c/#",
    };
    int port = itest_port(state);
    struct rawws *c = authed(port, "dave", NULL, 0, subs, 2);
    struct rawws *p = authed(port, "pubber", NULL, 0, NULL, 0);
    cJSON *ok = NULL;
    cJSON *m = NULL;
    int64_t id = 10;
    size_t i = 0;

    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        ok = itest_sub(c, id++, allowed[i]);
        if (ok == NULL)
            fprintf(stderr, "sub %s should be allowed\n", allowed[i]);
        assert_non_null(ok);
        cJSON_Delete(ok);
    }
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        send_op_topic(c, "sub", id, refused[i]);
        expect_error(c, id++, "forbidden");
    }
    /* history and presence obey allow_sub too */
    assert_true(itest_pub(p, 2, "chat/a", "{\"n\":1}") >= 1);
    m = itest_expect_msg(c, "chat/a", 0, W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "pubber"));
    cJSON_Delete(m);
    assert_true(itest_pub(p, 3, "other", "{\"n\":2}") >= 1);
    send_op_topic(c, "history", id, "chat/a");
    ok = rawws_expect_ok(c, id++, W);
    assert_non_null(ok);
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(ok, "messages")), 1);
    cJSON_Delete(ok);
    send_op_topic(c, "history", id, "other");
    expect_error(c, id++, "forbidden");
    send_op_topic(c, "history", id, "news/x/y");
    expect_error(c, id++, "forbidden");
    send_op_topic(c, "presence", id, "news/x");
    ok = rawws_expect_ok(c, id++, W);
    assert_non_null(ok);
    cJSON_Delete(ok);
    send_op_topic(c, "presence", id, "other");
    expect_error(c, id++, "forbidden");
    /* nothing from "other" arrived */
    assert_true(itest_nothing_more(c, id++, ITEST_QUIET_MS));
    rawws_close(c);
    rawws_close(p);
}

static void test_query_token(void **state)
{
    static const char *const subs[] = { "q/#" };
    int port = itest_port(state);
    int64_t now = (int64_t)time(NULL);
    char path[1024];
    char topic[128];
    char *tok = mint("erin", now + 600, NULL, 0, subs, 1);
    char *expired = mint("erin", now - 10, NULL, 0, NULL, 0);
    char *none = forge("{\"alg\":\"none\"}", "{\"sub\":\"erin\"}", NULL, "");
    struct rawws *c = NULL;
    struct rawws *p = authed(port, "qpub", NULL, 0, NULL, 0);
    struct rawws_opts o;
    cJSON *got[2] = { NULL, NULL };
    cJSON *ok = NULL;
    cJSON *m = NULL;

    /* A valid token counts as hello: commands work at once. */
    snprintf(path, sizeof(path), "/ws?token=%s", tok);
    memset(&o, 0, sizeof(o));
    o.port = port;
    o.path = path;
    o.protocols = "parley.v1";
    assert_int_equal(rawws_open(&c, &o), 0);
    assert_int_equal(c->status, 101);
    assert_true(rawws_ping_ok(c, 2, W));
    itest_topic(topic, sizeof(topic), "q");
    ok = itest_sub(c, 3, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    send_op_topic(c, "sub", 4, "other/x");   /* its claims apply */
    expect_error(c, 4, "forbidden");
    assert_true(itest_pub(p, 2, topic, "5") >= 1);
    m = itest_expect_msg(c, topic, 1, W);
    assert_non_null(m);
    cJSON_Delete(m);
    /* its own message comes back from the token's user */
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":5,"
                                      "\"topic\":\"%s\",\"data\":6}", topic),
                     0);
    assert_int_equal(itest_collect(c, got, 2, W), 2);
    assert_non_null(itest_find_ok(got, 2, 5));
    m = itest_find_msg(got, 2, topic, 2);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "erin"));
    itest_free_all(got, 2);
    send_hello(c, 6, tok);                   /* it was the hello */
    expect_error(c, 6, "bad_request");
    rawws_close(c);
    c = NULL;

    /* Invalid ones fail the handshake with 401. */
    snprintf(path, sizeof(path), "/ws?token=%s", expired);
    assert_int_equal(upgrade_status(port, path, NULL), 401);
    snprintf(path, sizeof(path), "/ws?token=%s", none);
    assert_int_equal(upgrade_status(port, path, NULL), 401);
    assert_int_equal(upgrade_status(port, "/ws?token=garbage", NULL), 401);
    assert_int_equal(upgrade_status(port, "/ws?token=", NULL), 401);
    assert_true(itest_nothing_more(p, 3, ITEST_QUIET_MS));
    rawws_close(p);
    free(tok);
    free(expired);
    free(none);
}

/* POST /api/publish or GET /api/history with auth (a full header line, or
 * NULL); returns the status, and the error code into code (if any). */
static int api_call(int port, bool publish, const char *topic,
                    const char *auth, char *code, size_t code_n)
{
    struct httpc_resp r;
    char body[256];
    char path[256];
    cJSON *j = NULL;
    int status = 0;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    code[0] = '\0';
    if (publish) {
        snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"data\":42}",
                 topic);
        rc = httpc_request(port, "POST", "/api/publish", auth, body,
                           strlen(body), &r, W);
    } else {
        snprintf(path, sizeof(path), "/api/history?topic=%s", topic);
        rc = httpc_request(port, "GET", path, auth, NULL, 0, &r, W);
    }
    assert_int_equal(rc, 0);
    status = r.status;
    j = tj_parse(r.body);
    if (j != NULL && tj_str(j, "error") != NULL)
        snprintf(code, code_n, "%s", tj_str(j, "error"));
    cJSON_Delete(j);
    httpc_resp_cleanup(&r);
    return status;
}

static void test_http_bearer(void **state)
{
    static const char *const pub[] = { "api/#" };
    static const char *const subs[] = { "api/#" };
    int port = itest_port(state);
    char *tok = mint("frank", 0, pub, 1, subs, 1);
    char *expired = mint("frank", (int64_t)time(NULL) - 5, NULL, 0, NULL, 0);
    char hdr[1024];
    char code[64];
    struct rawws *s = authed(port, "apiwatch", NULL, 0, NULL, 0);
    cJSON *ok = NULL;
    cJSON *m = NULL;

    ok = itest_sub(s, 2, "api/t");
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_int_equal(api_call(port, true, "api/t", NULL, code, sizeof(code)),
                     401);
    assert_string_equal(code, "unauthorized");
    assert_int_equal(api_call(port, true, "api/t",
                              "Authorization: Bearer nope\r\n", code,
                              sizeof(code)), 401);
    assert_string_equal(code, "unauthorized");
    snprintf(hdr, sizeof(hdr), "Authorization: Basic %s\r\n", tok);
    assert_int_equal(api_call(port, true, "api/t", hdr, code, sizeof(code)),
                     401);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", expired);
    assert_int_equal(api_call(port, true, "api/t", hdr, code, sizeof(code)),
                     401);
    assert_int_equal(api_call(port, false, "api/t", hdr, code, sizeof(code)),
                     401);

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", tok);
    assert_int_equal(api_call(port, true, "api/t", hdr, code, sizeof(code)),
                     200);
    m = itest_expect_msg(s, "api/t", 1, W);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "frank"));
    cJSON_Delete(m);
    assert_int_equal(api_call(port, true, "elsewhere", hdr, code,
                              sizeof(code)), 403);
    assert_string_equal(code, "forbidden");
    assert_int_equal(api_call(port, false, "api/t", NULL, code, sizeof(code)),
                     401);
    assert_int_equal(api_call(port, false, "api/t", hdr, code, sizeof(code)),
                     200);
    assert_int_equal(api_call(port, false, "elsewhere", hdr, code,
                              sizeof(code)), 403);
    assert_string_equal(code, "forbidden");
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
    free(tok);
    free(expired);
}

/* GET /api/topics lists only what the bearer's allow_sub covers, as the
 * topics command does; without a token it is refused. */
static void test_http_topics_acl(void **state)
{
    static const char *const seen[] = { "tl/seen/#" };
    static const char *const both[] = { "tl/#" };
    int port = itest_port(state);
    char *tok = NULL;
    struct rawws *w = NULL;
    struct httpc_resp r;
    char hdr[1024];

    tok = mint("gina", 0, NULL, 0, seen, 1);
    w = authed(port, "tlwriter", both, 1, NULL, 0);
    assert_true(itest_pub(w, 2, "tl/seen/a", "1") >= 1);
    assert_true(itest_pub(w, 3, "tl/hidden/b", "2") >= 1);

    memset(&r, 0, sizeof(r));
    assert_int_equal(httpc_request(port, "GET", "/api/topics?prefix=tl/",
                                   NULL, NULL, 0, &r, W), 0);
    assert_int_equal(r.status, 401);
    httpc_resp_cleanup(&r);

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", tok);
    memset(&r, 0, sizeof(r));
    assert_int_equal(httpc_request(port, "GET", "/api/topics?prefix=tl/",
                                   hdr, NULL, 0, &r, W), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"tl/seen/a\""));
    assert_null(strstr(r.body, "tl/hidden"));
    httpc_resp_cleanup(&r);
    rawws_close(w);
    free(tok);
}

static void test_open_endpoints(void **state)
{
    static const char *const paths[] = { "/", "/healthz", "/metrics" };
    int port = itest_port(state);
    struct httpc_resp r;
    size_t i = 0;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        memset(&r, 0, sizeof(r));
        assert_int_equal(httpc_get(port, paths[i], &r, W), 0);
        if (r.status != 200)
            fprintf(stderr, "GET %s: %d\n", paths[i], r.status);
        assert_int_equal(r.status, 200);
        httpc_resp_cleanup(&r);
    }
}

static void test_origin_default(void **state)
{
    int port = itest_port(state);
    char own[64];

    snprintf(own, sizeof(own), "http://127.0.0.1:%d", port);
    assert_int_equal(upgrade_status(port, "/ws", NULL), 101);
    assert_int_equal(upgrade_status(port, "/ws", own), 101);
    assert_int_equal(upgrade_status(port, "/ws", "http://evil.example"), 403);
    assert_int_equal(upgrade_status(port, "/ws", "null"), 403);
    assert_int_equal(upgrade_status(port, "/ws",
                                     "http://127.0.0.1:1"), 403);
}

/* ------------------------------------------------------------------ */
/* group: --allow-origin                                               */

static int group_setup_origin(void **state)
{
    static const char *const extra[] = {
        "--allow-origin", "https://app.example", NULL };

    return itest_setup(state, extra);
}

static void test_allow_origin(void **state)
{
    int port = itest_port(state);
    char own[64];
    struct rawws *c = NULL;

    snprintf(own, sizeof(own), "http://127.0.0.1:%d", port);
    assert_int_equal(upgrade_status(port, "/ws", "https://app.example"), 101);
    assert_int_equal(upgrade_status(port, "/ws", own), 101);
    assert_int_equal(upgrade_status(port, "/ws", "https://evil.example"),
                     403);
    assert_int_equal(upgrade_status(port, "/ws",
                                     "https://app.example.evil"), 403);
    /* Without --secret, ?token= is never valid. */
    assert_int_equal(upgrade_status(port, "/ws?token=x.y.z", NULL), 401);
    /* And no hello is needed. */
    c = connect_ok(port);
    assert_true(rawws_ping_ok(c, 1, W));
    rawws_close(c);
}

/* ------------------------------------------------------------------ */
/* group: TLS with --secret-file                                       */

struct tls_state {
    struct itest *it;
    char dir[64];
};

static void tls_rmdir(struct tls_state *ts)
{
    static const char *const files[] = { "cert.pem", "key.pem", "secret" };
    char path[128];
    size_t i = 0;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", ts->dir, files[i]);
        unlink(path);
    }
    rmdir(ts->dir);
}

static int group_setup_tls(void **state)
{
    struct tls_state *ts = calloc(1, sizeof(*ts));
    char cmd[512];
    char cert[96];
    char key[96];
    char secret[96];
    const char *extra[9];
    void *it = NULL;
    FILE *f = NULL;

    if (ts == NULL)
        return -1;
    if (server_cluster_mode()) { /* test_tls says why it is skipped */
        free(ts);
        *state = NULL;
        return 0;
    }
    snprintf(ts->dir, sizeof(ts->dir), "/tmp/parley-it09.XXXXXX");
    if (mkdtemp(ts->dir) == NULL)
        goto fail;
    snprintf(cert, sizeof(cert), "%s/cert.pem", ts->dir);
    snprintf(key, sizeof(key), "%s/key.pem", ts->dir);
    snprintf(secret, sizeof(secret), "%s/secret", ts->dir);
    snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "
             "/CN=127.0.0.1 -keyout %s -out %s >/dev/null 2>&1", key, cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not make a certificate with openssl\n");
        goto fail;
    }
    f = fopen(secret, "w");
    if (f == NULL)
        goto fail;
    fputs(TLS_SECRET "\n", f);
    fclose(f);
    extra[0] = "--cert";
    extra[1] = cert;
    extra[2] = "--key";
    extra[3] = key;
    extra[4] = "--secret-file";
    extra[5] = secret;
    extra[6] = NULL;
    if (itest_setup(&it, extra) < 0)
        goto fail;
    ts->it = it;
    *state = ts;
    return 0;
fail:
    tls_rmdir(ts);
    free(ts);
    return -1;
}

static int group_teardown_tls(void **state)
{
    struct tls_state *ts = *state;
    void *it = NULL;
    int rc = 0;

    if (ts == NULL)
        return 0;
    it = ts->it;
    rc = itest_teardown(&it);
    tls_rmdir(ts);
    free(ts);
    return rc;
}

struct tls_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

static void tls_close(struct tls_conn *t)
{
    if (t->ssl != NULL)
        SSL_free(t->ssl);
    if (t->ctx != NULL)
        SSL_CTX_free(t->ctx);
    if (t->fd >= 0)
        close(t->fd);
    t->ssl = NULL;
    t->ctx = NULL;
    t->fd = -1;
}

/* A TLS connection to 127.0.0.1:port offering h2 and http/1.1, with 5 s
 * socket deadlines. Returns 0 or -1. */
static int tls_open(struct tls_conn *t, int port)
{
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    struct sockaddr_in sa;
    struct timeval tv = { 5, 0 };

    t->ssl = NULL;
    t->ctx = NULL;
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t->fd < 0)
        return -1;
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto fail;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL)
        goto fail;
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);  /* self-signed */
    if (SSL_CTX_set_alpn_protos(t->ctx, alpn, sizeof(alpn) - 1) != 0)
        goto fail;
    t->ssl = SSL_new(t->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1 ||
        SSL_connect(t->ssl) != 1)
        goto fail;
    return 0;
fail:
    tls_close(t);
    return -1;
}

static void tls_send(struct tls_conn *t, const void *buf, size_t len)
{
    assert_int_equal(SSL_write(t->ssl, buf, (int)len), (int)len);
}

/* Read until the head ends (and, when all, until EOF) into buf. Returns
 * the bytes read. */
static size_t tls_read(struct tls_conn *t, char *buf, size_t n, bool all)
{
    size_t got = 0;
    int r = 0;

    while (got + 1 < n) {
        r = SSL_read(t->ssl, buf + got, (int)(n - 1 - got));
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (!all && strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    buf[got] = '\0';
    return got;
}

/* Send text as one masked frame. */
static void tls_send_text(struct tls_conn *t, const char *text)
{
    unsigned char frame[256];
    size_t len = strlen(text);
    size_t i = 0;

    assert_true(len < 126);
    frame[0] = 0x81;
    frame[1] = (unsigned char)(0x80 | len);
    memcpy(frame + 2, "\x11\x22\x33\x44", 4);
    for (i = 0; i < len; i++)
        frame[6 + i] = (unsigned char)text[i] ^ frame[2 + (i & 3)];
    tls_send(t, frame, 6 + len);
}

/* Read exactly n bytes; false on EOF, error or the socket deadline. */
static bool tls_read_exact(struct tls_conn *t, void *buf, size_t n)
{
    size_t got = 0;
    int r = 0;

    while (got < n) {
        r = SSL_read(t->ssl, (char *)buf + got, (int)(n - got));
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* Receive one short unmasked text frame as a JSON object. */
static cJSON *tls_recv_json(struct tls_conn *t)
{
    unsigned char hdr[2];
    char payload[128];
    size_t len = 0;

    if (!tls_read_exact(t, hdr, 2) || hdr[0] != 0x81 || hdr[1] >= 126)
        return NULL;
    len = hdr[1];
    if (!tls_read_exact(t, payload, len))
        return NULL;
    payload[len] = '\0';
    return tj_parse(payload);
}

static void run_tls(void **state)
{
    struct tls_state *ts = *state;
    int port = ts->it->port;
    struct tls_conn t;
    struct httpc_resp r;
    char buf[2048];
    char *tok = pl_jwt_sign(TLS_SECRET, strlen(TLS_SECRET), "grace", 0,
                            NULL, 0, NULL, 0);
    char *wrong = mint("grace", 0, NULL, 0, NULL, 0);
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    cJSON *j = NULL;
    int rc = 0;

    assert_non_null(tok);
    /* https:// on the port, HTTP/1.1 even when h2 is offered. */
    assert_int_equal(tls_open(&t, port), 0);
    SSL_get0_alpn_selected(t.ssl, &alpn, &alpn_len);
    assert_true(alpn_len == 8 && memcmp(alpn, "http/1.1", 8) == 0);
    snprintf(buf, sizeof(buf), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Connection: close\r\n\r\n");
    tls_send(&t, buf, strlen(buf));
    tls_read(&t, buf, sizeof(buf), true);
    assert_non_null(strstr(buf, " 200 "));
    assert_non_null(strstr(buf, "\r\n\r\nok"));
    tls_close(&t);

    /* wss:// with ?token= signed with the secret from the file */
    assert_int_equal(tls_open(&t, port), 0);
    snprintf(buf, sizeof(buf), "GET /ws?token=%s HTTP/1.1\r\n"
             "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: parley.v1\r\n\r\n", tok, port);
    tls_send(&t, buf, strlen(buf));
    tls_read(&t, buf, sizeof(buf), false);
    assert_non_null(strstr(buf, " 101 "));
    tls_send_text(&t, "{\"op\":\"ping\",\"id\":7}");
    j = tls_recv_json(&t);
    assert_non_null(j);
    assert_true(tj_str_is(j, "op", "ok"));
    assert_int_equal(tj_int_or(j, "id", 0), 7);
    cJSON_Delete(j);
    tls_close(&t);

    /* a token signed with another secret is refused with 401 */
    assert_int_equal(tls_open(&t, port), 0);
    snprintf(buf, sizeof(buf), "GET /ws?token=%s HTTP/1.1\r\n"
             "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n", wrong, port);
    tls_send(&t, buf, strlen(buf));
    tls_read(&t, buf, sizeof(buf), false);
    assert_non_null(strstr(buf, " 401 "));
    tls_close(&t);

    /* plain HTTP on the TLS port gets no HTTP answer */
    memset(&r, 0, sizeof(r));
    rc = httpc_get(port, "/healthz", &r, 3000);
    assert_true(rc < 0 || r.status != 200);
    if (rc == 0)
        httpc_resp_cleanup(&r);
    free(tok);
    free(wrong);
}

static void test_tls(void **state)
{
    if (itest_cluster_excluded("test assumption: the nodes' own TLS; the "
                               "shipped haproxy config balances plain HTTP "
                               "(TLS would end at the balancer)"))
        skip();
    run_tls(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauthorized_before_hello),
        cmocka_unit_test(test_bad_tokens),
        cmocka_unit_test(test_allow_pub),
        cmocka_unit_test(test_allow_sub),
        cmocka_unit_test(test_query_token),
        cmocka_unit_test(test_http_bearer),
        cmocka_unit_test(test_http_topics_acl),
        cmocka_unit_test(test_open_endpoints),
        cmocka_unit_test(test_origin_default),
    };
    const struct CMUnitTest origin_tests[] = {
        cmocka_unit_test(test_allow_origin),
    };
    const struct CMUnitTest tls_tests[] = {
        cmocka_unit_test(test_tls),
    };
    int rc = 0;

    rc |= cmocka_run_group_tests_name("auth", tests, group_setup,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("allow_origin", origin_tests,
                                      group_setup_origin, group_teardown);
    rc |= cmocka_run_group_tests_name("tls", tls_tests, group_setup_tls,
                                      group_teardown_tls);
    return itest_exit_code(rc);
}
