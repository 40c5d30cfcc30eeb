/*
 * it_13_ops.c: what an operator sees of a real parleyd: JSON log lines
 * (--log-format json) that a log shipper can parse, with the connection
 * and the user as fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

static struct server *srv_of(void **state)
{
    return ((struct itest *)*state)->srv;
}

/* Wait for the watched line and parse it as one JSON object. */
static cJSON *watched_json(struct server *s)
{
    char line[4096];
    cJSON *o = NULL;

    assert_int_equal(server_wait_watched(s, ITEST_WAIT_MS), 0);
    assert_int_equal(server_watched_line(s, line, sizeof(line)), 0);
    o = cJSON_Parse(line);
    if (o == NULL)
        fprintf(stderr, "not JSON: %s\n", line);
    assert_non_null(o);
    return o;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static int json_setup(void **state)
{
    const char *const extra[] = { "--log-format", "json", "--log-level",
                                  "debug", NULL };

    return itest_setup(state, extra);
}

/* A connection opened and closed by "alice" logs two JSON lines naming
 * the same connection id, the second also her name. */
static void test_json_lines(void **state)
{
    struct server *s = srv_of(state);
    struct rawws *c = NULL;
    cJSON *open = NULL;
    cJSON *close = NULL;
    const cJSON *id = NULL;

    assert_int_equal(server_watch(s, "\"event\":\"conn_open\""), 0);
    c = itest_hello(itest_port(state), "alice");
    assert_non_null(c);
    open = watched_json(s);
    assert_string_equal(jstr(open, "level"), "debug");
    assert_int_equal(strlen(jstr(open, "time")), 24);
    assert_int_equal(jstr(open, "time")[23], 'Z');
    id = cJSON_GetObjectItemCaseSensitive(open, "conn");
    assert_true(cJSON_IsNumber(id));
    assert_non_null(strstr(jstr(open, "msg"), "open"));

    assert_int_equal(server_watch(s, "\"event\":\"conn_close\""), 0);
    rawws_close_gracefully(c, 1000, ITEST_WAIT_MS);
    close = watched_json(s);
    assert_string_equal(jstr(close, "user"), "alice");
    assert_true(cJSON_GetObjectItemCaseSensitive(close, "conn")->valuedouble ==
                id->valuedouble);
    cJSON_Delete(open);
    cJSON_Delete(close);
}

/* The reload group's config file. */
static char conf_path[64];

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int reload_setup(void **state)
{
    const char *const extra[] = { "--config", conf_path, NULL };
    FILE *f = NULL;
    int fd = 0;

    snprintf(conf_path, sizeof(conf_path), "/tmp/parley-it13-XXXXXX");
    fd = mkstemp(conf_path);
    if (fd < 0)
        return -1;
    f = fdopen(fd, "w");
    if (f == NULL)
        return -1;
    fputs("# the reload test's settings\n"
          "log-level = notice\n"
          "max-subs = 2\n", f);
    fclose(f);
    return itest_setup(state, extra);
}

static int reload_teardown(void **state)
{
    unlink(conf_path);
    return itest_teardown(state);
}

/* Subscribe c to n fresh topics (ids from *id on); all must be accepted. */
static void sub_n(struct rawws *c, int64_t *id, int n)
{
    char topic[128];
    int i = 0;

    for (i = 0; i < n; i++) {
        itest_topic(topic, sizeof(topic), "reload");
        cJSON_Delete(itest_sub(c, (*id)++, topic));
    }
}

/* One more subscription must be refused: the connection is at the limit. */
static void sub_refused(struct rawws *c, int64_t *id)
{
    char topic[128];
    int64_t my = (*id)++;

    itest_topic(topic, sizeof(topic), "reload");
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"sub\",\"id\":%lld,"
                                      "\"topic\":\"%s\"}", (long long)my,
                                      topic), 0);
    cJSON_Delete(rawws_expect_error(c, my, "overloaded", ITEST_WAIT_MS));
}

/* A WebSocket upgrade from a foreign origin, refused with a line at info
 * level: true when that line is logged within wait_ms. */
static bool refusal_logged(void **state, int wait_ms)
{
    struct server *s = srv_of(state);
    struct rawws_opts o = { 0 };
    struct rawws *c = NULL;

    o.port = itest_port(state);
    o.protocols = "parley.v1";
    o.extra_headers = "Origin: http://elsewhere.example\r\n";
    assert_int_equal(server_watch(s, "refusing a WebSocket upgrade"), 0);
    assert_int_equal(rawws_open(&c, &o), 0);
    assert_int_equal(c->status, 403);
    rawws_close(c);
    return server_wait_watched(s, wait_ms) == 0;
}

/* Send sig to the server and wait for its line containing watch. */
static void signal_and_wait(void **state, int sig, const char *watch)
{
    struct server *s = srv_of(state);

    assert_int_equal(server_watch(s, watch), 0);
    assert_int_equal(kill(server_pid(s), sig), 0);
    assert_int_equal(server_wait_watched(s, ITEST_WAIT_MS), 0);
}

static void send_hup(void **state, const char *watch)
{
    signal_and_wait(state, SIGHUP, watch);
}

/* SIGHUP applies a new log level and a new limit to the running server;
 * a broken file is refused, naming its line, and changes nothing. */
static void test_sighup_reload(void **state)
{
    struct rawws *c = itest_hello(itest_port(state), "op");
    char line[4096];
    int64_t id = 10;

    assert_non_null(c);
    sub_n(c, &id, 2);
    sub_refused(c, &id);
    /* at notice level, the info line stays out */
    assert_false(refusal_logged(state, ITEST_QUIET_MS));

    write_conf("log-level = info\nmax-subs = 3\n");
    send_hup(state, "config: reload done, 2 settings applied");
    sub_n(c, &id, 1);
    sub_refused(c, &id);
    assert_true(refusal_logged(state, ITEST_WAIT_MS));

    write_conf("log-level = debug\nmax-subs = lots\n");
    send_hup(state, "invalid value for max-subs");
    assert_int_equal(server_watched_line(srv_of(state), line, sizeof(line)),
                     0);
    assert_non_null(strstr(line, conf_path));
    assert_non_null(strstr(line, ":2: "));
    /* still as it was: three subscriptions, info level, same connection */
    sub_refused(c, &id);
    assert_true(refusal_logged(state, ITEST_WAIT_MS));
    assert_true(itest_nothing_more(c, 99, ITEST_QUIET_MS));
    rawws_close_gracefully(c, 1000, ITEST_WAIT_MS);

    /* and a good file is taken again after the bad one */
    write_conf("log-level = notice\nmax-subs = 3\n");
    send_hup(state, "config: reload done, 1 setting applied");
    assert_false(refusal_logged(state, ITEST_QUIET_MS));
}

/* A server with the test hooks on (PARLEY_TEST_HOOKS=1) and extra. */
static int hooks_setup_with(void **state, const char *const *extra)
{
    int rc = 0;

    setenv("PARLEY_TEST_HOOKS", "1", 1);
    rc = itest_setup(state, extra);
    unsetenv("PARLEY_TEST_HOOKS");
    return rc;
}

static int ready_setup(void **state)
{
    const char *const extra[] = { "--store-pending-max", "4", NULL };

    return hooks_setup_with(state, extra);
}

static int hooks_setup(void **state)
{
    return hooks_setup_with(state, NULL);
}

/* Poll GET path until it answers status with a body containing needle
 * (NULL: any), a bounded wait; returns that body (caller frees) or NULL. */
static char *wait_body(int port, const char *path, int status,
                       const char *needle)
{
    int64_t deadline = itest_mono_ms() + ITEST_WAIT_MS;
    struct httpc_resp r;
    char *body = NULL;

    while (body == NULL && itest_left_ms(deadline) > 0) {
        struct timespec nap = { 0, 10 * 1000 * 1000 };

        if (httpc_get(port, path, &r, ITEST_WAIT_MS) == 0) {
            if (r.status == status &&
                (needle == NULL || strstr(r.body, needle) != NULL)) {
                body = r.body;
                r.body = NULL;
            }
            httpc_resp_cleanup(&r);
        }
        if (body == NULL)
            nanosleep(&nap, NULL);
    }
    if (body == NULL)
        fprintf(stderr, "%s never answered %d with '%s'\n", path, status,
                needle ? needle : "");
    return body;
}

static char *wait_status(int port, const char *path, int status)
{
    return wait_body(port, path, status, NULL);
}

static void toggle_hold(void **state, const char *watch)
{
    signal_and_wait(state, SIGUSR2, watch);
}

/* /readyz is 503 while the store's pending writes reach the bound, and
 * 200 again once they complete; /healthz stays 200 throughout. */
static void test_readyz_follows_store(void **state)
{
    int port = itest_port(state);
    struct rawws *c = itest_hello(port, "pub");
    cJSON *got[4] = { NULL };
    char topic[128];
    char *body = NULL;
    int i = 0;

    assert_non_null(c);
    itest_topic(topic, sizeof(topic), "ready");
    body = wait_status(port, "/readyz", 200);
    assert_non_null(body);
    assert_string_equal(body, "ready\n");
    free(body);

    toggle_hold(state, "store completions held");
    for (i = 0; i < 4; i++)
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%d,"
                                          "\"topic\":\"%s\",\"data\":%d}",
                                          i + 1, topic, i), 0);
    body = wait_status(port, "/readyz", 503);
    assert_non_null(body);
    assert_non_null(strstr(body, "store behind"));
    free(body);
    body = wait_status(port, "/healthz", 200);
    assert_non_null(body);
    free(body);
    /* no ack came while held */
    assert_true(rawws_is_quiet(c, ITEST_QUIET_MS));

    toggle_hold(state, "store completions released");
    assert_int_equal(itest_collect(c, got, 4, ITEST_WAIT_MS), 4);
    for (i = 0; i < 4; i++)
        assert_non_null(itest_find_ok(got, 4, i + 1));
    itest_free_all(got, 4);
    body = wait_status(port, "/readyz", 200);
    assert_non_null(body);
    free(body);
    rawws_close_gracefully(c, 1000, ITEST_WAIT_MS);
}

/* The value of a counter in /metrics, or -1. */
static long long metric(int port, const char *name)
{
    struct httpc_resp r;
    char needle[128];
    const char *at = NULL;
    long long v = -1;

    if (httpc_get(port, "/metrics", &r, ITEST_WAIT_MS) != 0)
        return -1;
    snprintf(needle, sizeof(needle), "\n%s ", name);
    at = r.body != NULL ? strstr(r.body, needle) : NULL;
    if (at != NULL)
        v = strtoll(at + strlen(needle), NULL, 10);
    httpc_resp_cleanup(&r);
    return v;
}

/* Retention changed by a reload reaches the store: with retain-messages
 * lowered to 2, the older rows of a topic are deleted (pruned counter)
 * and history serves only the newest two. */
static void test_reload_retention(void **state)
{
    int port = itest_port(state);
    struct rawws *c = itest_hello(port, "keeper");
    int64_t deadline = 0;
    cJSON *ok = NULL;
    const cJSON *m = NULL;
    char topic[128];
    int n = 0;
    int i = 0;

    assert_non_null(c);
    itest_topic(topic, sizeof(topic), "retain");
    for (i = 1; i <= 4; i++)
        assert_int_equal(itest_pub(c, i, topic, "1"), i);
    assert_int_equal(metric(port, "parley_store_pruned_total"), 0);
    write_conf("log-level = notice\nmax-subs = 3\nretain-messages = 2\n");
    send_hup(state, "config: retain-messages = 2 (applied)");
    assert_int_equal(itest_pub(c, 5, topic, "1"), 5);
    deadline = itest_mono_ms() + 4 * ITEST_WAIT_MS;
    while (metric(port, "parley_store_pruned_total") < 3 &&
           itest_left_ms(deadline) > 0) {
        struct timespec nap = { 0, 20 * 1000 * 1000 };

        nanosleep(&nap, NULL);
    }
    assert_int_equal(metric(port, "parley_store_pruned_total"), 3);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":9,"
                                      "\"topic\":\"%s\",\"limit\":10}",
                                      topic), 0);
    ok = rawws_expect_ok(c, 9, ITEST_WAIT_MS);
    assert_non_null(ok);
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ok, "messages")) {
        assert_true(cJSON_GetObjectItem(m, "seq")->valuedouble >= 4);
        n++;
    }
    assert_int_equal(n, 2);
    cJSON_Delete(ok);
    rawws_close_gracefully(c, 1000, ITEST_WAIT_MS);
}

#define DRAIN_PUBS 60

/* The acks of the publishes with ids 1..DRAIN_PUBS as they come, then the
 * close frame's code. seqs[id] is the acked seq (0: no ack). */
static int read_acks_until_close(struct rawws *c, int64_t *seqs)
{
    int64_t deadline = itest_mono_ms() + 3 * ITEST_WAIT_MS;

    while (itest_left_ms(deadline) > 0) {
        struct rawws_frame f;
        cJSON *j = NULL;
        const cJSON *id = NULL;
        const cJSON *seq = NULL;

        if (rawws_recv(c, &f, itest_left_ms(deadline)) < 0)
            return -1;
        if (f.opcode == RAWWS_OP_CLOSE) {
            int code = f.close_code;

            rawws_frame_cleanup(&f);
            return code;
        }
        j = cJSON_Parse((const char *)f.payload);
        rawws_frame_cleanup(&f);
        id = cJSON_GetObjectItemCaseSensitive(j, "id");
        seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
        if (cJSON_IsNumber(id) && cJSON_IsNumber(seq) &&
            id->valuedouble >= 1 && id->valuedouble <= DRAIN_PUBS)
            seqs[(int)id->valuedouble] = (int64_t)seq->valuedouble;
        cJSON_Delete(j);
    }
    return -1;
}

/* A publisher mid-stream when SIGTERM comes (its publishes held unacked
 * by the store hook): the server stops accepting at once, finishes those
 * publishes, acks them, closes with 1001 and exits 0; after a restart,
 * every acknowledged message is there with its seq and data. */
static void test_sigterm_drain(void **state)
{
    struct itest *t = *state;
    struct server *s = t->srv;
    int64_t seqs[DRAIN_PUBS + 1] = { 0 };
    struct rawws_opts o = { 0 };
    struct rawws *late = NULL;
    struct rawws *c = itest_hello(t->port, "pub");
    struct rawws *r = NULL;
    char *body = NULL;
    cJSON *ok = NULL;
    const cJSON *m = NULL;
    char topic[128];
    int wst = 0;
    int acked = 0;
    int i = 0;

    assert_non_null(c);
    itest_topic(topic, sizeof(topic), "drain");
    toggle_hold(state, "store completions held");
    for (i = 1; i <= DRAIN_PUBS / 2; i++)
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%d,"
                                          "\"topic\":\"%s\",\"data\":%d}",
                                          i, topic, i), 0);
    /* the server has them all (unacked) before SIGTERM */
    body = wait_body(t->port, "/metrics", 200, "\nparley_store_pending 30\n");
    assert_non_null(body);
    free(body);
    signal_and_wait(state, SIGTERM, "stopped accepting connections");
    /* still publishing: these reach the server during the drain */
    for (; i <= DRAIN_PUBS; i++)
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%d,"
                                          "\"topic\":\"%s\",\"data\":%d}",
                                          i, topic, i), 0);
    o.port = t->port;
    o.protocols = "parley.v1";
    o.timeout_ms = 1000;
    assert_int_equal(rawws_open(&late, &o), -ECONNREFUSED);
    toggle_hold(state, "store completions released");

    assert_int_equal(read_acks_until_close(c, seqs), 1001);
    rawws_close(c);
    assert_int_equal(server_stop(s, 10000, &wst), 0);
    assert_true(server_exited_cleanly(wst));

    assert_int_equal(server_restart(s), 0);
    t->port = server_port(s);
    r = itest_hello(t->port, "check");
    assert_non_null(r);
    assert_int_equal(rawws_send_textf(r, "{\"op\":\"history\",\"id\":7,"
                                      "\"topic\":\"%s\",\"limit\":100}",
                                      topic), 0);
    ok = rawws_expect_ok(r, 7, ITEST_WAIT_MS);
    assert_non_null(ok);
    for (i = 1; i <= DRAIN_PUBS; i++) {
        bool found = false;

        if (seqs[i] == 0)
            continue;
        acked++;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ok, "messages"))
            if ((int64_t)cJSON_GetObjectItem(m, "seq")->valuedouble ==
                    seqs[i] &&
                (int)cJSON_GetObjectItem(m, "data")->valuedouble == i)
                found = true;
        if (!found)
            fail_msg("acked publish %d (seq %lld) was not stored", i,
                     (long long)seqs[i]);
    }
    /* the ones received before SIGTERM were all finished and acked */
    for (i = 1; i <= DRAIN_PUBS / 2; i++)
        assert_true(seqs[i] > 0);
    assert_true(acked >= DRAIN_PUBS / 2);
    cJSON_Delete(ok);
    rawws_close_gracefully(r, 1000, ITEST_WAIT_MS);
}

/* A WebSocket upgrade from source, after preamble (NULL: none), with
 * X-Forwarded-For xff (NULL: none). Returns the HTTP status, or 0 when
 * the TCP connection was refused or hung up before an answer; *out keeps
 * an upgraded connection open. */
static int connect_via(int port, const char *source, const char *preamble,
                       const char *xff, struct rawws **out)
{
    char headers[128] = "";
    struct rawws_opts o = { 0 };
    struct rawws *c = NULL;
    int status = 0;

    if (xff != NULL)
        snprintf(headers, sizeof(headers), "X-Forwarded-For: %s\r\n", xff);
    o.port = port;
    o.source = source;
    o.preamble = preamble;
    o.protocols = "parley.v1";
    o.extra_headers = headers;
    if (rawws_open(&c, &o) < 0) {
        rawws_close(c);
        return 0;
    }
    status = c->status;
    if (status == 101)
        *out = c;
    else
        rawws_close(c);
    return status;
}

static int connect_from(int port, const char *source, const char *xff,
                        struct rawws **out)
{
    return connect_via(port, source, NULL, xff, out);
}

static int proxy_setup(void **state)
{
    const char *const extra[] = { "--max-conns-per-ip", "2",
                                  "--per-ip-exempt", "none",
                                  "--trusted-proxy", "127.0.0.2/32", NULL };

    return itest_setup(state, extra);
}

/* Behind the trusted proxy (127.0.0.2), each client address named in
 * X-Forwarded-For has its own limit of 2 and the proxy none; a direct
 * client (127.0.0.1) cannot choose its address with the header. */
static void test_trusted_proxy(void **state)
{
    int port = itest_port(state);
    struct rawws *open[8] = { NULL };
    size_t n = 0;
    size_t i = 0;

    /* two from 203.0.113.7 through the proxy; a third is refused */
    assert_int_equal(connect_from(port, "127.0.0.2", "203.0.113.7",
                                  &open[n++]), 101);
    assert_int_equal(connect_from(port, "127.0.0.2",
                                  "198.51.100.1, 203.0.113.7", &open[n++]),
                     101);
    assert_int_equal(connect_from(port, "127.0.0.2", "203.0.113.7", &open[n]),
                     503);
    /* another client through the same proxy is not affected, and the
     * proxy's own hop in the list is skipped */
    assert_int_equal(connect_from(port, "127.0.0.2",
                                  "203.0.113.8, 127.0.0.2", &open[n++]), 101);
    /* direct from 127.0.0.1: the header is ignored, the peer counts */
    assert_int_equal(connect_from(port, "127.0.0.1", "203.0.113.20",
                                  &open[n++]), 101);
    assert_int_equal(connect_from(port, "127.0.0.1", "203.0.113.21",
                                  &open[n++]), 101);
    assert_int_equal(connect_from(port, "127.0.0.1", "203.0.113.22",
                                  &open[n]), 0);
    for (i = 0; i < n; i++)
        rawws_close_gracefully(open[i], 1000, ITEST_WAIT_MS);
}

static int pp_setup(void **state)
{
    const char *const extra[] = { "--max-conns-per-ip", "2",
                                  "--per-ip-exempt", "none",
                                  "--trusted-proxy", "127.0.0.2/32",
                                  "--proxy-protocol", NULL };

    return itest_setup(state, extra);
}

#define PP_7 "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
#define PP_8 "PROXY TCP4 203.0.113.8 127.0.0.1 5556 80\r\n"

/* With --proxy-protocol, the trusted proxy (127.0.0.2) names each client
 * in a PROXY line, which the per-address limit counts; without the line
 * it is hung up on; other peers send none and count as themselves. */
static void test_proxy_protocol(void **state)
{
    int port = itest_port(state);
    struct rawws *open[8] = { NULL };
    size_t n = 0;
    size_t i = 0;

    assert_int_equal(connect_via(port, "127.0.0.2", PP_7, NULL, &open[n++]),
                     101);
    assert_int_equal(connect_via(port, "127.0.0.2", PP_7, NULL, &open[n++]),
                     101);
    assert_int_equal(connect_via(port, "127.0.0.2", PP_7, NULL, &open[n]), 0);
    assert_int_equal(connect_via(port, "127.0.0.2", PP_8, NULL, &open[n++]),
                     101);
    /* UNKNOWN: the proxy's own address counts */
    assert_int_equal(connect_via(port, "127.0.0.2", "PROXY UNKNOWN\r\n",
                                 NULL, &open[n++]), 101);
    /* the proxy without a header, or a bad one: hung up on */
    assert_int_equal(connect_via(port, "127.0.0.2", NULL, NULL, &open[n]), 0);
    assert_int_equal(connect_via(port, "127.0.0.2",
                                 "PROXY TCP4 nonsense\r\n", NULL, &open[n]),
                     0);
    /* a direct client sends none, and cannot pretend with one: lws 4.1.6
     * lets the line through as noise, but 127.0.0.1 is what counts, so
     * its third connection is over the limit whatever it claims */
    assert_int_equal(connect_via(port, "127.0.0.1", NULL, NULL, &open[n++]),
                     101);
    assert_int_equal(connect_via(port, "127.0.0.1", PP_8, NULL, &open[n++]),
                     101);
    assert_int_equal(connect_via(port, "127.0.0.1",
                                 "PROXY TCP4 203.0.113.9 127.0.0.1 1 80\r\n",
                                 NULL, &open[n]), 0);
    for (i = 0; i < n; i++)
        rawws_close_gracefully(open[i], 1000, ITEST_WAIT_MS);
}

/* A port nothing listens on now (the kernel's pick, released). */
static int free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Two parleyd with --reuse-port on one port both start, and new
 * connections reach both; without the flag a third cannot bind. */
static void test_reuse_port(void **state)
{
    char port_text[16];
    const char *extra[] = { "--reuse-port", "--port", port_text,
                            "--log-level", "debug", NULL };
    const char *plain[] = { "--port", port_text, NULL };
    struct server *a = NULL;
    struct server *b = NULL;
    struct server *c = NULL;
    struct rawws *conns[200] = { NULL };
    int port = free_port();
    int n = 0;
    bool a_saw = false;
    bool b_saw = false;
    int wst = 0;

    (void)state;
    assert_true(port > 0);
    snprintf(port_text, sizeof(port_text), "%d", port);
    assert_int_equal(server_start(&a, extra), 0);
    assert_int_equal(server_start(&b, extra), 0);
    assert_int_equal(server_port(a), port);
    assert_int_equal(server_port(b), port);
    assert_true(server_start(&c, plain) < 0);
    assert_int_equal(server_watch(a, "debug conn "), 0);
    assert_int_equal(server_watch(b, "debug conn "), 0);
    /* the kernel hashes each new connection to one of them: within 200,
     * both get some unless something is wrong (odds 2^-199) */
    while (n < 200 && !(a_saw && b_saw)) {
        conns[n] = itest_hello(port, "spread");
        assert_non_null(conns[n]);
        n++;
        a_saw = a_saw || server_wait_watched(a, 0) == 0;
        b_saw = b_saw || server_wait_watched(b, 0) == 0;
    }
    /* the last one's line may still be on its way */
    a_saw = a_saw || server_wait_watched(a, ITEST_WAIT_MS) == 0;
    b_saw = b_saw || server_wait_watched(b, ITEST_WAIT_MS) == 0;
    assert_true(a_saw && b_saw);
    while (n > 0)
        rawws_close(conns[--n]);
    /* and each drains and exits cleanly, closing its own listener */
    assert_int_equal(server_stop(a, 10000, &wst), 0);
    assert_true(server_exited_cleanly(wst));
    assert_int_equal(server_stop(b, 10000, &wst), 0);
    assert_true(server_exited_cleanly(wst));
    server_free(&a);
    server_free(&b);
    server_free(&c);
}

int main(void)
{
    const struct CMUnitTest json_tests[] = {
        cmocka_unit_test(test_json_lines),
    };
    const struct CMUnitTest reload_tests[] = {
        cmocka_unit_test(test_sighup_reload),
        cmocka_unit_test(test_reload_retention),
    };
    const struct CMUnitTest ready_tests[] = {
        cmocka_unit_test(test_readyz_follows_store),
    };
    const struct CMUnitTest drain_tests[] = {
        cmocka_unit_test(test_sigterm_drain),
    };
    const struct CMUnitTest proxy_tests[] = {
        cmocka_unit_test(test_trusted_proxy),
    };
    const struct CMUnitTest pp_tests[] = {
        cmocka_unit_test(test_proxy_protocol),
    };
    const struct CMUnitTest port_tests[] = {
        cmocka_unit_test(test_reuse_port),
    };
    int rc = cmocka_run_group_tests_name("json-logs", json_tests, json_setup,
                                         itest_teardown);

    rc |= cmocka_run_group_tests_name("reload", reload_tests, reload_setup,
                                      reload_teardown);
    rc |= cmocka_run_group_tests_name("readyz", ready_tests, ready_setup,
                                      itest_teardown);
    rc |= cmocka_run_group_tests_name("drain", drain_tests, hooks_setup,
                                      itest_teardown);
    rc |= cmocka_run_group_tests_name("trusted-proxy", proxy_tests,
                                      proxy_setup, itest_teardown);
    rc |= cmocka_run_group_tests_name("proxy-protocol", pp_tests, pp_setup,
                                      itest_teardown);
    rc |= cmocka_run_group_tests_name("reuse-port", port_tests, NULL, NULL);

    return itest_exit_code(rc);
}
