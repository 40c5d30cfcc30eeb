/*
 * itest.c: the integration tests' shared fixtures and conversations. It
 * owns the count of failed group teardowns (the only global: tests run
 * their groups on the main thread) and the unique-topic counter.
 */
#include "itest.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tjson.h"

#define ITEST_STOP_MS 10000

static int itest_teardown_failures;
static atomic_uint itest_topic_counter;

int itest_setup(void **state, const char *const *extra)
{
    struct itest *t = NULL;
    int rc = 0;

    signal(SIGPIPE, SIG_IGN);
    t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    rc = server_start(&t->srv, extra);
    if (rc < 0) {
        fprintf(stderr, "itest_setup: parleyd did not start: %s\n",
                strerror(-rc));
        free(t);
        return -1;
    }
    t->port = server_port(t->srv);
    *state = t;
    return 0;
}

int itest_teardown(void **state)
{
    struct itest *t = *state;
    char desc[64];
    int wst = 0;
    int rc = 0;

    if (!t)
        return 0;
    rc = server_stop(t->srv, ITEST_STOP_MS, &wst);
    if (rc < 0 || !server_exited_cleanly(wst)) {
        fprintf(stderr, "itest_teardown: parleyd did not exit 0 after "
                "SIGTERM: %s%s\n", server_status_str(wst, desc,
                sizeof(desc)), rc == -ETIMEDOUT ? " (timed out)" : "");
        itest_teardown_failures++;
        rc = -1;
    }
    server_free(&t->srv);
    free(t);
    *state = NULL;
    return rc < 0 ? -1 : 0;
}

int itest_restart(void **state, bool kill9)
{
    struct itest *t = *state;
    char desc[64];
    int wst = 0;
    int rc = 0;

    if (kill9) {
        rc = server_kill9(t->srv);
    } else {
        rc = server_stop(t->srv, ITEST_STOP_MS, &wst);
        if (rc == 0 && !server_exited_cleanly(wst)) {
            fprintf(stderr, "itest_restart: parleyd did not exit 0 after "
                    "SIGTERM: %s\n", server_status_str(wst, desc,
                    sizeof(desc)));
            rc = -1;
        }
    }
    if (rc < 0)
        return -1;
    rc = server_restart(t->srv);
    if (rc < 0) {
        fprintf(stderr, "itest_restart: parleyd did not start again: %s\n",
                strerror(-rc));
        return -1;
    }
    t->port = server_port(t->srv);
    return 0;
}

int itest_exit_code(int cmocka_rc)
{
    if (itest_teardown_failures)
        fprintf(stderr, "%d group teardown(s) failed\n",
                itest_teardown_failures);
    return cmocka_rc != 0 || itest_teardown_failures != 0;
}

bool itest_cluster_excluded(const char *why)
{
    if (!server_cluster_mode())
        return false;
    fprintf(stderr, "excluded in cluster mode: %s\n", why);
    return true;
}

int itest_port(void **state)
{
    const struct itest *t = *state;

    return t->port;
}

void itest_topic(char *buf, size_t n, const char *prefix)
{
    unsigned k = atomic_fetch_add(&itest_topic_counter, 1) + 1;

    snprintf(buf, n, "%s/%dx%u", prefix, (int)getpid(), k);
}

int64_t itest_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t itest_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int itest_left_ms(int64_t deadline)
{
    int64_t l = deadline - itest_mono_ms();

    return l > 0 ? (int)l : 0;
}

struct rawws *itest_hello(int port, const char *name)
{
    struct rawws *c = rawws_connect(port);
    cJSON *ok = NULL;

    if (!c)
        return NULL;
    if (rawws_send_textf(c, "{\"op\":\"hello\",\"id\":1,\"name\":\"%s\"}",
                         name) < 0)
        goto fail;
    ok = rawws_expect_ok(c, 1, ITEST_WAIT_MS);
    if (!ok || !tj_str_is(ok, "user", name)) {
        tj_dump("itest_hello: expected ok with user", ok);
        goto fail;
    }
    cJSON_Delete(ok);
    return c;
fail:
    cJSON_Delete(ok);
    rawws_close(c);
    return NULL;
}

cJSON *itest_sub(struct rawws *c, int64_t id, const char *topic)
{
    cJSON *ok = NULL;

    if (rawws_send_textf(c, "{\"op\":\"sub\",\"id\":%lld,\"topic\":\"%s\"}",
                         (long long)id, topic) < 0)
        return NULL;
    ok = rawws_expect_ok(c, id, ITEST_WAIT_MS);
    if (ok && !tj_str_is(ok, "topic", topic)) {
        tj_dump("itest_sub: ok without the topic", ok);
        cJSON_Delete(ok);
        ok = NULL;
    }
    return ok;
}

int64_t itest_pub(struct rawws *c, int64_t id, const char *topic,
                  const char *data_json)
{
    cJSON *ok = NULL;
    int64_t seq = -1;

    if (rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\","
                         "\"data\":%s}", (long long)id, topic,
                         data_json) < 0)
        return -1;
    ok = rawws_expect_ok(c, id, ITEST_WAIT_MS);
    if (!ok)
        return -1;
    if (!tj_str_is(ok, "topic", topic) || !tj_int(ok, "seq", &seq) ||
        seq < 1) {
        tj_dump("itest_pub: ok without topic or seq >= 1", ok);
        seq = -1;
    }
    cJSON_Delete(ok);
    return seq;
}

cJSON *itest_expect_msg(struct rawws *c, const char *topic, int64_t seq,
                        int timeout_ms)
{
    cJSON *m = rawws_expect_op(c, "msg", timeout_ms);
    int64_t got = 0;

    if (!m)
        return NULL;
    if (!tj_str_is(m, "topic", topic) || !tj_int(m, "seq", &got) ||
        (seq != 0 && got != seq)) {
        fprintf(stderr, "itest_expect_msg: wanted topic %s seq %lld\n",
                topic, (long long)seq);
        tj_dump("itest_expect_msg: got", m);
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

bool itest_nothing_more(struct rawws *c, int64_t ping_id, int quiet_ms)
{
    struct rawws_frame f;
    int rc = 0;

    if (!rawws_ping_ok(c, ping_id, ITEST_WAIT_MS))
        return false;
    if (rawws_is_quiet(c, quiet_ms))
        return true;
    rc = rawws_recv(c, &f, 100);
    if (rc < 0) {
        fprintf(stderr, "itest_nothing_more: %s\n", rawws_strerror(rc));
        return false;
    }
    fprintf(stderr, "itest_nothing_more: unexpected frame (opcode %d): "
            "%.400s\n", f.opcode, (const char *)f.payload);
    rawws_frame_cleanup(&f);
    return false;
}

int itest_collect(struct rawws *c, cJSON **out, int n, int timeout_ms)
{
    int i = 0;

    for (i = 0; i < n; i++) {
        out[i] = rawws_recv_json(c, timeout_ms);
        if (!out[i]) {
            fprintf(stderr, "itest_collect: got %d of %d frames\n", i, n);
            return i;
        }
    }
    return n;
}

cJSON *itest_find_ok(cJSON **arr, int n, int64_t id)
{
    int64_t got = 0;
    int i = 0;

    for (i = 0; i < n; i++)
        if (arr[i] && tj_str_is(arr[i], "op", "ok") &&
            tj_int(arr[i], "id", &got) && got == id)
            return arr[i];
    return NULL;
}

cJSON *itest_find_msg(cJSON **arr, int n, const char *topic, int64_t seq)
{
    int64_t got = 0;
    int i = 0;

    for (i = 0; i < n; i++)
        if (arr[i] && tj_str_is(arr[i], "op", "msg") &&
            tj_str_is(arr[i], "topic", topic) &&
            tj_int(arr[i], "seq", &got) && got == seq)
            return arr[i];
    return NULL;
}

void itest_free_all(cJSON **arr, int n)
{
    int i = 0;

    for (i = 0; i < n; i++) {
        cJSON_Delete(arr[i]);
        arr[i] = NULL;
    }
}

int itest_bystander_start(int port, struct itest_bystander *b)
{
    cJSON *ok = NULL;

    memset(b, 0, sizeof(*b));
    b->c = itest_hello(port, "bystander");
    if (b->c == NULL)
        return -1;
    itest_topic(b->topic, sizeof(b->topic), "bystand");
    ok = itest_sub(b->c, 2, b->topic);
    if (ok == NULL)
        return -1;
    cJSON_Delete(ok);
    b->id = 10;
    return 0;
}

bool itest_bystander_ok(struct itest_bystander *b)
{
    cJSON *got[2] = { NULL, NULL };
    bool ok = false;

    b->seq++;
    b->id++;
    if (rawws_send_textf(b->c, "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\","
                         "\"data\":%lld}", (long long)b->id, b->topic,
                         (long long)b->seq) != 0)
        return false;
    if (itest_collect(b->c, got, 2, ITEST_WAIT_MS) == 2)
        ok = itest_find_ok(got, 2, b->id) != NULL &&
             itest_find_msg(got, 2, b->topic, b->seq) != NULL;
    itest_free_all(got, 2);
    return ok;
}

int64_t itest_topic_seq(int port, const char *topic)
{
    struct rawws *c = itest_hello(port, "seqcheck");
    cJSON *ok = NULL;
    int64_t seq = -1;

    if (c == NULL)
        return -1;
    ok = itest_sub(c, 2, topic);
    if (ok == NULL || !tj_int(ok, "seq", &seq))
        seq = -1;
    cJSON_Delete(ok);
    rawws_close(c);
    return seq;
}
