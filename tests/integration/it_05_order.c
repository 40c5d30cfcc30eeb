/*
 * it_05_order: sequence numbers under concurrent publishers, against a real
 * parleyd. Four threads each publish 500 messages with ids to one topic;
 * two subscribers must each see seq 1..2000 exactly once, in order, each
 * carrying the data its publisher's ack promised; every publisher's acks
 * must grow with its command order, and together cover 1..2000.
 *
 * The same sequence continues across a SIGKILL and a SIGTERM restart.
 *
 * Worker threads never call cmocka: they record results, and the main
 * thread asserts after joining them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define PUBLISHERS 4
#define PER_PUB 500
#define TOTAL (PUBLISHERS * PER_PUB)
#define SUBSCRIBERS 2
#define WINDOW 50
#define RUN_MS 20000
#define W_ORDER ITEST_WAIT_MS

struct pub_job {
    int port;
    int index;                  /* 0..PUBLISHERS-1 */
    const char *topic;
    int64_t seq_of[PER_PUB + 1]; /* by id: the acked seq */
    char err[256];
};

struct sub_job {
    struct rawws *c;
    const char *topic;
    int64_t deadline_ms;
    int count;
    int pub_of[TOTAL + 1];      /* by seq: publisher index from data */
    int n_of[TOTAL + 1];        /* by seq: the publisher's id from data */
    char err[256];
};

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

/* Publisher thread: keeps up to WINDOW pubs in flight, records each ack's
 * seq by id. Stops at the first problem, described in job->err. */
static void *publisher(void *arg)
{
    struct pub_job *job = arg;
    int64_t deadline = itest_mono_ms() + RUN_MS;
    char name[32];
    struct rawws *c = NULL;
    cJSON *ok = NULL;
    int64_t id = 0;
    int64_t seq = 0;
    int sent = 0;
    int acked = 0;

    snprintf(name, sizeof(name), "p%d", job->index);
    c = itest_hello(job->port, name);
    if (!c) {
        snprintf(job->err, sizeof(job->err), "%s: no connection", name);
        return NULL;
    }
    while (acked < PER_PUB) {
        while (sent < PER_PUB && sent - acked < WINDOW) {
            sent++;
            if (rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%d,\"topic\":"
                                 "\"%s\",\"data\":{\"p\":%d,\"n\":%d}}",
                                 sent, job->topic, job->index, sent) < 0) {
                snprintf(job->err, sizeof(job->err), "%s: send failed",
                         name);
                goto out;
            }
        }
        ok = rawws_expect_op(c, "ok", itest_left_ms(deadline));
        if (!ok || !tj_int(ok, "id", &id) || !tj_int(ok, "seq", &seq) ||
            id < 1 || id > PER_PUB || job->seq_of[id] != 0 ||
            !tj_str_is(ok, "topic", job->topic)) {
            snprintf(job->err, sizeof(job->err), "%s: bad or missing ack "
                     "after %d acks", name, acked);
            tj_dump(job->err, ok);
            cJSON_Delete(ok);
            goto out;
        }
        job->seq_of[id] = seq;
        cJSON_Delete(ok);
        acked++;
    }
out:
    rawws_close(c);
    return NULL;
}

/* Subscriber thread: reads TOTAL msgs, each must have the next seq. */
static void *subscriber(void *arg)
{
    struct sub_job *job = arg;
    cJSON *m = NULL;
    const cJSON *d = NULL;
    int64_t seq = 0;
    int64_t p = 0;
    int64_t n = 0;

    while (job->count < TOTAL) {
        m = rawws_expect_op(job->c, "msg", itest_left_ms(job->deadline_ms));
        if (!m) {
            snprintf(job->err, sizeof(job->err), "no msg after %d",
                     job->count);
            return NULL;
        }
        d = cJSON_GetObjectItemCaseSensitive(m, "data");
        if (!tj_str_is(m, "topic", job->topic) || !tj_int(m, "seq", &seq) ||
            seq != job->count + 1 || !tj_int(d, "p", &p) ||
            !tj_int(d, "n", &n) || p < 0 || p >= PUBLISHERS) {
            snprintf(job->err, sizeof(job->err), "wanted seq %d",
                     job->count + 1);
            tj_dump(job->err, m);
            cJSON_Delete(m);
            return NULL;
        }
        {
            char from[32];

            snprintf(from, sizeof(from), "p%d", (int)p);
            if (!tj_str_is(m, "from", from)) {
                snprintf(job->err, sizeof(job->err), "seq %lld: from is "
                         "not %s", (long long)seq, from);
                cJSON_Delete(m);
                return NULL;
            }
        }
        job->pub_of[seq] = (int)p;
        job->n_of[seq] = (int)n;
        job->count++;
        cJSON_Delete(m);
    }
    return NULL;
}

static void test_concurrent_publishers(void **state)
{
    int port = itest_port(state);
    char topic[128];
    struct pub_job *pubs = calloc(PUBLISHERS, sizeof(*pubs));
    struct sub_job *subs = calloc(SUBSCRIBERS, sizeof(*subs));
    pthread_t pt[PUBLISHERS];
    pthread_t st[SUBSCRIBERS];
    unsigned char *seen = calloc(TOTAL + 1, 1);
    int64_t prev = 0;
    cJSON *ok = NULL;
    int i = 0;
    int k = 0;
    int s = 0;

    assert_non_null(pubs);
    assert_non_null(subs);
    assert_non_null(seen);
    itest_topic(topic, sizeof(topic), "order");
    for (s = 0; s < SUBSCRIBERS; s++) {
        char name[16];

        snprintf(name, sizeof(name), "sub%d", s);
        subs[s].c = itest_hello(port, name);
        assert_non_null(subs[s].c);
        ok = itest_sub(subs[s].c, 2, topic);
        assert_non_null(ok);
        assert_int_equal(tj_int_or(ok, "seq", -1), 0);
        cJSON_Delete(ok);
        subs[s].topic = topic;
        subs[s].deadline_ms = itest_mono_ms() + RUN_MS;
    }
    for (s = 0; s < SUBSCRIBERS; s++)
        assert_int_equal(pthread_create(&st[s], NULL, subscriber, &subs[s]),
                         0);
    for (i = 0; i < PUBLISHERS; i++) {
        pubs[i].port = port;
        pubs[i].index = i;
        pubs[i].topic = topic;
        assert_int_equal(pthread_create(&pt[i], NULL, publisher, &pubs[i]),
                         0);
    }
    for (i = 0; i < PUBLISHERS; i++)
        pthread_join(pt[i], NULL);
    for (s = 0; s < SUBSCRIBERS; s++)
        pthread_join(st[s], NULL);

    for (i = 0; i < PUBLISHERS; i++) {
        if (pubs[i].err[0])
            fprintf(stderr, "publisher %d: %s\n", i, pubs[i].err);
        assert_int_equal(pubs[i].err[0], '\0');
        /* Acks grow with the publisher's command order. */
        prev = 0;
        for (k = 1; k <= PER_PUB; k++) {
            int64_t q = pubs[i].seq_of[k];

            if (q <= prev || q > TOTAL)
                fprintf(stderr, "publisher %d: id %d got seq %lld after "
                        "%lld\n", i, k, (long long)q, (long long)prev);
            assert_true(q > prev && q <= TOTAL);
            assert_int_equal(seen[q], 0);
            seen[q] = 1;
            prev = q;
        }
    }
    /* All acks together are exactly 1..TOTAL (each seen once above). */
    for (k = 1; k <= TOTAL; k++)
        assert_int_equal(seen[k], 1);

    for (s = 0; s < SUBSCRIBERS; s++) {
        if (subs[s].err[0])
            fprintf(stderr, "subscriber %d: %s\n", s, subs[s].err);
        assert_int_equal(subs[s].err[0], '\0');
        assert_int_equal(subs[s].count, TOTAL);
        /* Each seq carries what its publisher's ack said. */
        for (k = 1; k <= TOTAL; k++) {
            int p = subs[s].pub_of[k];
            int n = subs[s].n_of[k];

            assert_true(n >= 1 && n <= PER_PUB);
            if (pubs[p].seq_of[n] != k)
                fprintf(stderr, "subscriber %d: seq %d holds p%d #%d, "
                        "whose ack said seq %lld\n", s, k, p, n,
                        (long long)pubs[p].seq_of[n]);
            assert_int_equal(pubs[p].seq_of[n], k);
        }
        assert_true(itest_nothing_more(subs[s].c, 3, ITEST_QUIET_MS));
        rawws_close(subs[s].c);
    }
    free(seen);
    free(pubs);
    free(subs);
}

/* seq keeps growing by one across a SIGKILL and a SIGTERM restart, and
 * every acknowledged message is still there. */
static void test_seq_across_restarts(void **state)
{
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;
    cJSON *m = NULL;
    const cJSON *msgs = NULL;
    int i = 0;

    itest_topic(topic, sizeof(topic), "restart");
    p = itest_hello(itest_port(state), "before");
    assert_non_null(p);
    for (i = 1; i <= 3; i++) {
        char data[32];

        snprintf(data, sizeof(data), "{\"n\":%d}", i);
        assert_int_equal(itest_pub(p, 10 + i, topic, data), i);
    }
    rawws_close(p);

    assert_int_equal(itest_restart(state, true), 0);
    assert_int_equal(itest_topic_seq(itest_port(state), topic), 3);
    s = itest_hello(itest_port(state), "after");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"history\",\"id\":2,"
                                      "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(s, 2, W_ORDER);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 3);
    for (i = 0; i < 3; i++) {
        const cJSON *h = cJSON_GetArrayItem(msgs, i);

        assert_int_equal(tj_int_or(h, "seq", -1), i + 1);
        assert_true(tj_str_is(h, "from", "before"));
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(h,
                                                                    "data"),
                                   "n", -1), i + 1);
    }
    cJSON_Delete(ok);
    assert_int_equal(itest_pub(s, 3, topic, "4"), 4);
    rawws_close(s);

    assert_int_equal(itest_restart(state, false), 0);
    assert_int_equal(itest_topic_seq(itest_port(state), topic), 4);
    s = itest_hello(itest_port(state), "later");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"sub\",\"id\":2,"
                                      "\"topic\":\"%s\",\"since\":3}",
                                      topic), 0);
    ok = rawws_expect_ok(s, 2, W_ORDER);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 4);
    cJSON_Delete(ok);
    m = itest_expect_msg(s, topic, 4, W_ORDER);
    assert_non_null(m);
    assert_true(tj_str_is(m, "from", "after"));
    cJSON_Delete(m);
    p = itest_hello(itest_port(state), "last");
    assert_non_null(p);
    assert_int_equal(itest_pub(p, 2, topic, "5"), 5);
    m = itest_expect_msg(s, topic, 5, W_ORDER);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 9, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_publishers),
        cmocka_unit_test(test_seq_across_restarts),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

    return itest_exit_code(rc);
}
