/*
 * it_06_durable: what the spec promises about stored messages, against a
 * real parleyd that is killed and restarted on the same database: every
 * acknowledged pub survives SIGKILL with its seq, from and data; seq keeps
 * growing by exactly one across restarts and is never reused; a publisher
 * that does not wait for acks and loses the server mid-stream finds a
 * gapless 1..M that holds every acked message; retained messages (the
 * retained:true copy, clearing with data null, surviving a restart);
 * idempotent publish keys (duplicate:true, across a restart, per topic,
 * the 128-byte bound, the dedupe window); ephemeral topics; and a SIGTERM
 * shutdown that exits 0 and keeps everything acked.
 *
 * Each group runs its own parleyd with a fresh database in a temporary
 * directory; tests in a group use fresh topics. Single-threaded: every
 * wait has a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

#define W_DUR ITEST_WAIT_MS
#define ACKED_N 500          /* pubs in the acked-then-SIGKILL test */
#define WINDOW 64            /* pubs in flight at once */
#define MIDSTREAM_N 1500     /* pubs sent before the mid-stream SIGKILL */
#define HIST_PAGE 1000       /* the largest history page the spec grants */
#define RUN_MS 20000

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_setup_window(void **state)
{
    static const char *const extra[] = { "--dedupe-window", "1s", NULL };

    return itest_setup(state, extra);
}

static int group_setup_power(void **state)
{
    static const char *const extra[] = { "--durability", "power", NULL };

    return itest_setup(state, extra);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Send a history command (before 0: absent; limit 0: absent) and expect
 * its ok with the topic and a "messages" array. Returns the ok (caller
 * frees) or NULL with the reason on stderr. */
static cJSON *history_req(struct rawws *c, int64_t id, const char *topic,
                          int64_t before, int64_t limit)
{
    char extra[96] = "";
    size_t n = 0;
    cJSON *ok = NULL;

    if (before > 0)
        n += (size_t)snprintf(extra + n, sizeof(extra) - n,
                              ",\"before\":%lld", (long long)before);
    if (limit > 0)
        snprintf(extra + n, sizeof(extra) - n, ",\"limit\":%lld",
                 (long long)limit);
    if (rawws_send_textf(c, "{\"op\":\"history\",\"id\":%lld,\"topic\":"
                         "\"%s\"%s}", (long long)id, topic, extra) < 0)
        return NULL;
    ok = rawws_expect_ok(c, id, W_DUR);
    if (ok && (!tj_str_is(ok, "topic", topic) ||
               !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "messages")))) {
        tj_dump("history_req: ok without topic or messages", ok);
        cJSON_Delete(ok);
        ok = NULL;
    }
    return ok;
}

/* Every stored message of topic, oldest first, as a new cJSON array
 * (caller frees), read page by page backwards with `before`. Each page
 * must hold seqs below the previous page's first. NULL on failure. */
static cJSON *history_all(struct rawws *c, int64_t *id, const char *topic)
{
    cJSON *all = cJSON_CreateArray();
    cJSON *ok = NULL;
    cJSON *msgs = NULL;
    cJSON *item = NULL;
    int64_t before = 0;
    int64_t seq = 0;
    int pages = 0;
    int n = 0;

    if (!all)
        return NULL;
    for (pages = 0; pages < 100; pages++) {
        ok = history_req(c, (*id)++, topic, before, HIST_PAGE);
        if (!ok)
            goto fail;
        msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
        n = cJSON_GetArraySize(msgs);
        if (n == 0) {
            cJSON_Delete(ok);
            return all;
        }
        if (!tj_int(cJSON_GetArrayItem(msgs, 0), "seq", &seq) ||
            (before > 0 && seq >= before)) {
            tj_dump("history_all: bad page start", cJSON_GetArrayItem(msgs,
                                                                     0));
            goto fail;
        }
        before = seq;
        while (n > 0) {
            item = cJSON_DetachItemFromArray(msgs, --n);
            cJSON_InsertItemInArray(all, 0, item);
        }
        cJSON_Delete(ok);
        ok = NULL;
    }
    fprintf(stderr, "history_all: more than 100 pages\n");
fail:
    cJSON_Delete(ok);
    cJSON_Delete(all);
    return NULL;
}

/* Expect the ok of a pub with id on topic; returns it (caller frees) after
 * checking its seq is >= 1, or NULL. */
static cJSON *expect_pub_ok(struct rawws *c, int64_t id, const char *topic)
{
    cJSON *ok = rawws_expect_ok(c, id, W_DUR);
    int64_t seq = 0;

    if (ok && (!tj_str_is(ok, "topic", topic) || !tj_int(ok, "seq", &seq) ||
               seq < 1)) {
        tj_dump("expect_pub_ok: ok without topic or seq >= 1", ok);
        cJSON_Delete(ok);
        ok = NULL;
    }
    return ok;
}

/* Publish with a key and expect the ok; returns the seq and writes whether
 * the reply said duplicate:true, or -1. */
static int64_t pub_key(struct rawws *c, int64_t id, const char *topic,
                       const char *data, const char *key, bool *duplicate)
{
    cJSON *ok = NULL;
    int64_t seq = -1;

    if (rawws_send_textf(c, "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\","
                         "\"data\":%s,\"key\":\"%s\"}", (long long)id, topic,
                         data, key) < 0)
        return -1;
    ok = expect_pub_ok(c, id, topic);
    if (!ok)
        return -1;
    seq = tj_int_or(ok, "seq", -1);
    *duplicate = tj_is_true(ok, "duplicate");
    if (!*duplicate && tj_has(ok, "duplicate") &&
        !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "duplicate"))) {
        tj_dump("pub_key: duplicate is neither true nor false", ok);
        seq = -1;
    }
    cJSON_Delete(ok);
    return seq;
}

/* Check one stored or delivered message against what was published. */
static void assert_msg_is(const cJSON *m, int64_t seq, const char *from,
                          const char *data_json, int64_t t0_ms)
{
    cJSON *want = tj_parse(data_json);
    int64_t ts = 0;
    bool same = false;

    assert_non_null(want);
    same = tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"), want);
    if (tj_int_or(m, "seq", -1) != seq || !tj_str_is(m, "from", from) ||
        !same || !tj_int(m, "ts", &ts) || ts < t0_ms - 5000 ||
        ts > itest_now_ms() + 5000) {
        fprintf(stderr, "wanted seq %lld from %s data %s ts >= %lld\n",
                (long long)seq, from, data_json, (long long)t0_ms);
        tj_dump("got", m);
    }
    assert_int_equal(tj_int_or(m, "seq", -1), seq);
    assert_true(tj_str_is(m, "from", from));
    assert_true(same);
    assert_true(tj_int(m, "ts", &ts));
    assert_true(ts >= t0_ms - 5000 && ts <= itest_now_ms() + 5000);
    cJSON_Delete(want);
}

/* ---- acked messages survive SIGKILL ---- */

/* 500 pubs with ids over two topics, up to WINDOW in flight; SIGKILL right
 * after the last ack; history on the restarted server returns every acked
 * message exactly; the sub reply's seq is the last acked seq; the next pub
 * gets last+1, and a second SIGKILL does not make a seq come back. */
static void test_acked_survive_kill9(void **state)
{
    char topic[2][128];
    int64_t seq_of[ACKED_N + 1];
    int64_t id_of[2][ACKED_N + 1];
    int64_t last[2] = { 0, 0 };
    int64_t deadline = itest_mono_ms() + RUN_MS;
    int64_t t0 = itest_now_ms();
    int64_t hid = 100;
    struct rawws *p = NULL;
    struct rawws *w = NULL;
    cJSON *ok = NULL;
    cJSON *all = NULL;
    int sent = 0;
    int acked = 0;
    int t = 0;
    int i = 0;

    memset(seq_of, 0, sizeof(seq_of));
    memset(id_of, 0, sizeof(id_of));
    itest_topic(topic[0], sizeof(topic[0]), "dur");
    itest_topic(topic[1], sizeof(topic[1]), "dur");
    p = itest_hello(itest_port(state), "writer");
    assert_non_null(p);
    while (acked < ACKED_N) {
        int64_t id = 0;
        int64_t seq = 0;

        while (sent < ACKED_N && sent - acked < WINDOW) {
            sent++;
            assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                             "\"topic\":\"%s\",\"data\":{\"n\":%d,"
                             "\"s\":\"v%d\"}}", sent, topic[sent & 1], sent,
                             sent), 0);
        }
        ok = rawws_expect_op(p, "ok", itest_left_ms(deadline));
        assert_non_null(ok);
        if (!tj_int(ok, "id", &id) || id < 1 || id > ACKED_N ||
            seq_of[id] != 0 || !tj_str_is(ok, "topic", topic[id & 1]) ||
            !tj_int(ok, "seq", &seq) || seq < 1 || seq > ACKED_N)
            tj_dump("bad ack", ok);
        assert_true(id >= 1 && id <= ACKED_N && seq_of[id] == 0);
        assert_true(tj_str_is(ok, "topic", topic[id & 1]));
        assert_true(seq >= 1 && seq <= ACKED_N);
        /* One seq per message on its topic. */
        assert_int_equal(id_of[id & 1][seq], 0);
        id_of[id & 1][seq] = id;
        seq_of[id] = seq;
        if (seq > last[id & 1])
            last[id & 1] = seq;
        cJSON_Delete(ok);
        acked++;
    }
    assert_int_equal(itest_restart(state, true), 0);
    rawws_close(p);

    /* Each topic got ACKED_N / 2 pubs; one connection's pubs to one topic
     * are numbered in command order. */
    for (t = 0; t < 2; t++) {
        int64_t prev = 0;

        assert_int_equal(last[t], ACKED_N / 2);
        for (i = 1; i <= ACKED_N; i++) {
            if ((i & 1) != t)
                continue;
            assert_true(seq_of[i] > prev);
            prev = seq_of[i];
        }
    }

    p = itest_hello(itest_port(state), "reader");
    assert_non_null(p);
    for (t = 0; t < 2; t++) {
        all = history_all(p, &hid, topic[t]);
        assert_non_null(all);
        assert_int_equal(cJSON_GetArraySize(all), last[t]);
        for (i = 0; i < cJSON_GetArraySize(all); i++) {
            const cJSON *m = cJSON_GetArrayItem(all, i);
            int64_t id = id_of[t][i + 1];
            char data[64];

            assert_true(id > 0);
            snprintf(data, sizeof(data), "{\"n\":%lld,\"s\":\"v%lld\"}",
                     (long long)id, (long long)id);
            assert_msg_is(m, i + 1, "writer", data, t0);
        }
        cJSON_Delete(all);
        all = NULL;
        assert_int_equal(itest_topic_seq(itest_port(state), topic[t]), last[t]);
    }
    /* A since on the restarted server replays from storage, then live. */
    w = itest_hello(itest_port(state), "since");
    assert_non_null(w);
    assert_int_equal(rawws_send_textf(w, "{\"op\":\"sub\",\"id\":2,"
                                      "\"topic\":\"%s\",\"since\":%lld}",
                                      topic[0], (long long)last[0] - 10), 0);
    ok = rawws_expect_ok(w, 2, W_DUR);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), last[0]);
    assert_false(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "recovered")));
    cJSON_Delete(ok);
    for (i = 9; i >= 0; i--) {
        cJSON *m = itest_expect_msg(w, topic[0], last[0] - i, W_DUR);
        char data[64];
        int64_t id = id_of[0][last[0] - i];

        assert_non_null(m);
        snprintf(data, sizeof(data), "{\"n\":%lld,\"s\":\"v%lld\"}",
                 (long long)id, (long long)id);
        assert_msg_is(m, last[0] - i, "writer", data, t0);
        cJSON_Delete(m);
    }
    /* The next pub continues the sequence. */
    assert_int_equal(itest_pub(p, 10, topic[0], "\"after\""), last[0] + 1);
    ok = itest_expect_msg(w, topic[0], last[0] + 1, W_DUR);
    assert_non_null(ok);
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(w, 3, ITEST_QUIET_MS));
    rawws_close(w);
    rawws_close(p);

    /* A seq acked just before another SIGKILL is not handed out again. */
    assert_int_equal(itest_restart(state, true), 0);
    p = itest_hello(itest_port(state), "again");
    assert_non_null(p);
    assert_int_equal(itest_topic_seq(itest_port(state), topic[0]), last[0] + 1);
    assert_int_equal(itest_pub(p, 2, topic[0], "\"again\""), last[0] + 2);
    assert_int_equal(itest_pub(p, 3, topic[1], "\"again\""), last[1] + 1);
    ok = history_req(p, 4, topic[0], 0, 2);
    assert_non_null(ok);
    {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");

        assert_int_equal(cJSON_GetArraySize(msgs), 2);
        assert_msg_is(cJSON_GetArrayItem(msgs, 0), last[0] + 1, "reader",
                      "\"after\"", t0);
        assert_msg_is(cJSON_GetArrayItem(msgs, 1), last[0] + 2, "again",
                      "\"again\"", t0);
    }
    cJSON_Delete(ok);
    rawws_close(p);
}

/* ---- publishing without waiting, SIGKILL mid-stream ---- */

/* Read every ok that is already here (or arrives within wait_ms) and
 * record its seq by id. Returns the count read, or -1 on a bad frame. */
static int drain_acks(struct rawws *c, const char *topic, int64_t *seq_of,
                      int max_id, int wait_ms)
{
    struct rawws_frame f;
    cJSON *j = NULL;
    int64_t id = 0;
    int64_t seq = 0;
    int count = 0;
    int rc = 0;

    for (;;) {
        rc = rawws_recv(c, &f, count == 0 ? wait_ms : 0);
        if (rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -ECONNRESET)
            return count;
        if (rc < 0) {
            fprintf(stderr, "drain_acks: %s\n", rawws_strerror(rc));
            return -1;
        }
        if (f.opcode == RAWWS_OP_CLOSE) {
            rawws_frame_cleanup(&f);
            return count;
        }
        j = tj_parse((const char *)f.payload);
        rawws_frame_cleanup(&f);
        if (!tj_str_is(j, "op", "ok") || !tj_int(j, "id", &id) || id < 1 ||
            id > max_id || seq_of[id] != 0 || !tj_str_is(j, "topic", topic) ||
            !tj_int(j, "seq", &seq) || seq < 1) {
            tj_dump("drain_acks: not an expected ack", j);
            cJSON_Delete(j);
            return -1;
        }
        seq_of[id] = seq;
        cJSON_Delete(j);
        count++;
    }
}

/* Read every msg of topic already here (or arriving within wait_ms):
 * each must carry seq *next (then *next grows) and data {"n":k}; records
 * n_of[seq] = k. Returns the count read, or -1 on a bad frame. */
static int drain_msgs(struct rawws *c, const char *topic, int64_t *n_of,
                      int max_seq, int64_t *next, int wait_ms)
{
    struct rawws_frame f;
    cJSON *j = NULL;
    int64_t seq = 0;
    int64_t n = 0;
    int count = 0;
    int rc = 0;

    for (;;) {
        rc = rawws_recv(c, &f, count == 0 ? wait_ms : 0);
        if (rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -ECONNRESET)
            return count;
        if (rc < 0) {
            fprintf(stderr, "drain_msgs: %s\n", rawws_strerror(rc));
            return -1;
        }
        if (f.opcode == RAWWS_OP_CLOSE) {
            rawws_frame_cleanup(&f);
            return count;
        }
        j = tj_parse((const char *)f.payload);
        rawws_frame_cleanup(&f);
        if (!tj_str_is(j, "op", "msg") || !tj_str_is(j, "topic", topic) ||
            !tj_int(j, "seq", &seq) || seq != *next || seq > max_seq ||
            !tj_int(cJSON_GetObjectItemCaseSensitive(j, "data"), "n", &n)) {
            fprintf(stderr, "drain_msgs: wanted seq %lld\n",
                    (long long)*next);
            tj_dump("drain_msgs: got", j);
            cJSON_Delete(j);
            return -1;
        }
        n_of[seq] = n;
        (*next)++;
        cJSON_Delete(j);
        count++;
    }
}

/* Pubs are sent as fast as the socket takes them, acks are only drained
 * in passing, and the server is SIGKILLed as soon as the last pub is
 * written. After the restart the topic must hold exactly seq 1..M, each
 * acked message at its acked seq with its data, and the next pub gets
 * M+1. A subscriber reads along: every message it was shown before the
 * kill must be stored too (delivery only after commit). */
static void test_unacked_kill9_midstream(void **state)
{
    struct itest *t = *state;
    char topic[128];
    int64_t *seq_of = calloc(MIDSTREAM_N + 1, sizeof(*seq_of));
    int64_t *n_of = calloc(MIDSTREAM_N + 1, sizeof(*n_of));
    int64_t next_seen = 1;
    int64_t hid = 100;
    int64_t prev_n = 0;
    int64_t max_acked = 0;
    int64_t t0 = itest_now_ms();
    struct rawws *p = NULL;
    struct rawws *w = NULL;
    cJSON *all = NULL;
    int acked = 0;
    int sent = 0;
    int rc = 0;
    int m = 0;
    int i = 0;

    assert_non_null(seq_of);
    assert_non_null(n_of);
    itest_topic(topic, sizeof(topic), "mid");
    w = itest_hello(itest_port(state), "witness");
    assert_non_null(w);
    all = itest_sub(w, 2, topic);
    assert_non_null(all);
    cJSON_Delete(all);
    all = NULL;
    p = itest_hello(itest_port(state), "streamer");
    assert_non_null(p);
    while (sent < MIDSTREAM_N) {
        sent++;
        assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                         "\"topic\":\"%s\",\"data\":{\"n\":%d}}", sent, topic,
                         sent), 0);
        if (sent % 16 == 0) {
            rc = drain_acks(p, topic, seq_of, MIDSTREAM_N, 0);
            assert_true(rc >= 0);
            acked += rc;
            assert_true(drain_msgs(w, topic, n_of, MIDSTREAM_N, &next_seen,
                                   0) >= 0);
        }
    }
    assert_int_equal(server_kill9(t->srv), 0);
    /* Acks and msgs that reached our sockets before the kill count too. */
    rc = drain_acks(p, topic, seq_of, MIDSTREAM_N, 200);
    assert_true(rc >= 0);
    acked += rc;
    assert_true(drain_msgs(w, topic, n_of, MIDSTREAM_N, &next_seen, 200) >=
                0);
    rawws_close(p);
    rawws_close(w);
    assert_int_equal(server_restart(t->srv), 0);
    t->port = server_port(t->srv);
    fprintf(stderr, "midstream: sent %d, acked %d, %lld delivered before "
            "SIGKILL\n", sent, acked, (long long)next_seen - 1);

    p = itest_hello(itest_port(state), "checker");
    assert_non_null(p);
    all = history_all(p, &hid, topic);
    assert_non_null(all);
    m = cJSON_GetArraySize(all);
    fprintf(stderr, "midstream: %d stored after restart\n", m);
    for (i = 0; i < m; i++) {
        const cJSON *h = cJSON_GetArrayItem(all, i);
        int64_t n = tj_int_or(cJSON_GetObjectItemCaseSensitive(h, "data"),
                              "n", -1);

        if (tj_int_or(h, "seq", -1) != i + 1)
            tj_dump("midstream: gap or disorder at", h);
        assert_int_equal(tj_int_or(h, "seq", -1), i + 1);
        assert_true(tj_str_is(h, "from", "streamer"));
        /* Stored in the order the pubs were sent, each at most once. */
        assert_true(n > prev_n && n <= sent);
        prev_n = n;
        if (n >= 1 && n <= MIDSTREAM_N && seq_of[n] != 0)
            assert_int_equal(seq_of[n], i + 1);
    }
    for (i = 1; i <= MIDSTREAM_N; i++) {
        if (seq_of[i] == 0)
            continue;
        if (seq_of[i] > max_acked)
            max_acked = seq_of[i];
        if (seq_of[i] > m)
            fprintf(stderr, "midstream: id %d was acked with seq %lld but "
                    "only %d are stored\n", i, (long long)seq_of[i], m);
        assert_true(seq_of[i] <= m);
        {
            const cJSON *h = cJSON_GetArrayItem(all, (int)seq_of[i] - 1);
            char data[32];

            snprintf(data, sizeof(data), "{\"n\":%d}", i);
            assert_msg_is(h, seq_of[i], "streamer", data, t0);
        }
    }
    assert_true(max_acked <= m);
    /* Whatever a subscriber was shown is stored, as shown. */
    if (next_seen - 1 > m)
        fprintf(stderr, "midstream: seq %lld was delivered but only %d are "
                "stored\n", (long long)next_seen - 1, m);
    assert_true(next_seen - 1 <= m);
    for (i = 1; i < next_seen; i++)
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(
                             cJSON_GetArrayItem(all, i - 1), "data"), "n",
                                   -1), n_of[i]);
    cJSON_Delete(all);
    assert_int_equal(itest_topic_seq(itest_port(state), topic), m);
    assert_int_equal(itest_pub(p, 2, topic, "\"next\""), m + 1);
    rawws_close(p);
    free(n_of);
    free(seq_of);
}

/* ---- retained messages ---- */

/* Subscribe (no since, no history) on a fresh connection and expect the
 * ok, then one retained copy with seq and data (seq 0: expect none), and
 * nothing more. */
static void expect_retained(int port, const char *topic, int64_t seq,
                            const char *from, const char *data)
{
    struct rawws *c = itest_hello(port, "late");
    cJSON *ok = NULL;
    cJSON *m = NULL;
    cJSON *want = NULL;

    assert_non_null(c);
    ok = itest_sub(c, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    if (seq > 0) {
        m = itest_expect_msg(c, topic, seq, W_DUR);
        assert_non_null(m);
        want = tj_parse(data);
        assert_non_null(want);
        if (!tj_is_true(m, "retained") || !tj_str_is(m, "from", from) ||
            !tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"), want))
            tj_dump("expect_retained: wanted a retained copy, got", m);
        assert_true(tj_is_true(m, "retained"));
        assert_true(tj_str_is(m, "from", from));
        assert_true(tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"),
                             want));
        cJSON_Delete(want);
        cJSON_Delete(m);
    }
    assert_true(itest_nothing_more(c, 3, ITEST_QUIET_MS));
    rawws_close(c);
}

/* A live delivery: seq and data, and not marked retained. */
static void expect_live(struct rawws *c, const char *topic, int64_t seq,
                        const char *data)
{
    cJSON *m = itest_expect_msg(c, topic, seq, W_DUR);
    cJSON *want = tj_parse(data);

    assert_non_null(m);
    assert_non_null(want);
    if (tj_is_true(m, "retained"))
        tj_dump("expect_live: a live delivery marked retained", m);
    assert_false(tj_is_true(m, "retained"));
    assert_true(tj_equal(cJSON_GetObjectItemCaseSensitive(m, "data"), want));
    cJSON_Delete(want);
    cJSON_Delete(m);
}

static void test_retained(void **state)
{
    char topic[128];
    struct rawws *live = NULL;
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;
    cJSON *m = NULL;
    const cJSON *msgs = NULL;

    itest_topic(topic, sizeof(topic), "ret");
    live = itest_hello(itest_port(state), "live");
    assert_non_null(live);
    ok = itest_sub(live, 2, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 0);
    cJSON_Delete(ok);
    p = itest_hello(itest_port(state), "keeper");
    assert_non_null(p);

    /* No retained message yet: a later sub gets nothing. */
    expect_retained(itest_port(state), topic, 0, NULL, NULL);

    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":2,\"topic\":"
                     "\"%s\",\"data\":{\"v\":1},\"retain\":true}", topic), 0);
    ok = expect_pub_ok(p, 2, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 1);
    cJSON_Delete(ok);
    expect_live(live, topic, 1, "{\"v\":1}");
    /* An ordinary pub does not replace the retained message. */
    assert_int_equal(itest_pub(p, 3, topic, "{\"v\":2}"), 2);
    expect_live(live, topic, 2, "{\"v\":2}");
    expect_retained(itest_port(state), topic, 1, "keeper", "{\"v\":1}");

    /* With since or history there is no retained copy. */
    s = itest_hello(itest_port(state), "since");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"since\":1}", topic), 0);
    ok = rawws_expect_ok(s, 2, W_DUR);
    assert_non_null(ok);
    cJSON_Delete(ok);
    expect_live(s, topic, 2, "{\"v\":2}");
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
    s = itest_hello(itest_port(state), "hist");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"history\":1}", topic), 0);
    ok = rawws_expect_ok(s, 2, W_DUR);
    assert_non_null(ok);
    cJSON_Delete(ok);
    expect_live(s, topic, 2, "{\"v\":2}");
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
    rawws_close(p);
    rawws_close(live);

    /* The retained message survives SIGKILL. */
    assert_int_equal(itest_restart(state, true), 0);
    expect_retained(itest_port(state), topic, 1, "keeper", "{\"v\":1}");

    /* retain:true with data null clears it and is stored like any other. */
    live = itest_hello(itest_port(state), "live2");
    assert_non_null(live);
    ok = itest_sub(live, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    m = itest_expect_msg(live, topic, 1, W_DUR);
    assert_non_null(m);
    assert_true(tj_is_true(m, "retained"));
    cJSON_Delete(m);
    p = itest_hello(itest_port(state), "clearer");
    assert_non_null(p);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":2,\"topic\":"
                     "\"%s\",\"data\":null,\"retain\":true}", topic), 0);
    ok = expect_pub_ok(p, 2, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 3);
    cJSON_Delete(ok);
    expect_live(live, topic, 3, "null");
    expect_retained(itest_port(state), topic, 0, NULL, NULL);
    ok = history_req(p, 3, topic, 0, 0);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 3);
    assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, 2), "seq", -1), 3);
    assert_true(tj_is_null(cJSON_GetArrayItem(msgs, 2), "data"));
    assert_true(tj_str_is(cJSON_GetArrayItem(msgs, 2), "from", "clearer"));
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(live, 4, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(live);

    /* Still cleared after another SIGKILL. */
    assert_int_equal(itest_restart(state, true), 0);
    expect_retained(itest_port(state), topic, 0, NULL, NULL);
}

/* A pattern sub gets the retained copy of each matching topic (the latest
 * retained publish of each), and none of a topic without one. */
static void test_retained_pattern(void **state)
{
    char base[128];
    char ta[160];
    char tb[160];
    char tc[160];
    char pat[160];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *got[2] = { NULL, NULL };
    cJSON *ok = NULL;
    int i = 0;

    itest_topic(base, sizeof(base), "rpat");
    snprintf(ta, sizeof(ta), "%s/a", base);
    snprintf(tb, sizeof(tb), "%s/b", base);
    snprintf(tc, sizeof(tc), "%s/c", base);
    snprintf(pat, sizeof(pat), "%s/#", base);
    p = itest_hello(itest_port(state), "rp");
    assert_non_null(p);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":2,\"topic\":"
                     "\"%s\",\"data\":\"a1\",\"retain\":true}", ta), 0);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":3,\"topic\":"
                     "\"%s\",\"data\":\"b1\",\"retain\":true}", tb), 0);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":4,\"topic\":"
                     "\"%s\",\"data\":\"b2\",\"retain\":true}", tb), 0);
    for (i = 0; i < 3; i++) {
        ok = rawws_expect_op(p, "ok", W_DUR);
        assert_non_null(ok);
        cJSON_Delete(ok);
    }
    assert_int_equal(itest_pub(p, 5, tb, "\"b3\""), 3);
    assert_int_equal(itest_pub(p, 6, tc, "\"c1\""), 1);

    s = itest_hello(itest_port(state), "rs");
    assert_non_null(s);
    ok = itest_sub(s, 2, pat);
    assert_non_null(ok);
    assert_false(tj_has(ok, "seq"));
    cJSON_Delete(ok);
    assert_int_equal(itest_collect(s, got, 2, W_DUR), 2);
    for (i = 0; i < 2; i++) {
        assert_true(tj_str_is(got[i], "op", "msg"));
        assert_true(tj_is_true(got[i], "retained"));
    }
    ok = itest_find_msg(got, 2, ta, 1);
    assert_non_null(ok);
    assert_true(tj_str_is(ok, "data", "a1"));
    ok = itest_find_msg(got, 2, tb, 2);
    if (!ok)
        tj_dump("wanted the latest retained of b (seq 2)", got[1]);
    assert_non_null(ok);
    assert_true(tj_str_is(ok, "data", "b2"));
    itest_free_all(got, 2);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
    rawws_close(p);
}

/* ---- idempotent publish ---- */

static void test_idempotent(void **state)
{
    char t1[128];
    char t2[128];
    char key128[129];
    char key129[130];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;
    cJSON *e = NULL;
    cJSON *m = NULL;
    const cJSON *msgs = NULL;
    bool dup = false;
    int64_t seq128 = 0;

    memset(key128, 'k', 128);
    key128[128] = '\0';
    memset(key129, 'k', 129);
    key129[129] = '\0';
    itest_topic(t1, sizeof(t1), "idem");
    itest_topic(t2, sizeof(t2), "idem");
    s = itest_hello(itest_port(state), "watch");
    assert_non_null(s);
    ok = itest_sub(s, 2, t1);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = itest_sub(s, 3, t2);
    assert_non_null(ok);
    cJSON_Delete(ok);
    p = itest_hello(itest_port(state), "sensor");
    assert_non_null(p);

    assert_int_equal(pub_key(p, 2, t1, "{\"r\":1}", "k-1", &dup), 1);
    assert_false(dup);
    assert_int_equal(pub_key(p, 3, t1, "{\"r\":2}", "k-1", &dup), 1);
    assert_true(dup);
    assert_int_equal(pub_key(p, 4, t1, "{\"r\":3}", "k-2", &dup), 2);
    assert_false(dup);
    /* The same key on another topic is a new message. */
    assert_int_equal(pub_key(p, 5, t2, "{\"r\":4}", "k-1", &dup), 1);
    assert_false(dup);
    /* 128 bytes is a key; 129 bytes and the empty string are not. */
    seq128 = pub_key(p, 6, t1, "{\"r\":5}", key128, &dup);
    assert_int_equal(seq128, 3);
    assert_false(dup);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":7,\"topic\":"
                     "\"%s\",\"data\":1,\"key\":\"%s\"}", t1, key129), 0);
    e = rawws_expect_error(p, 7, "bad_request", W_DUR);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":8,\"topic\":"
                     "\"%s\",\"data\":1,\"key\":\"\"}", t1), 0);
    e = rawws_expect_error(p, 8, "bad_request", W_DUR);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":9,\"topic\":"
                     "\"%s\",\"data\":1,\"key\":42}", t1), 0);
    e = rawws_expect_error(p, 9, "bad_request", W_DUR);
    assert_non_null(e);
    cJSON_Delete(e);

    /* The subscriber saw each stored message once, the duplicate never. */
    m = itest_expect_msg(s, t1, 1, W_DUR);
    assert_non_null(m);
    assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m, "data"),
                               "r", -1), 1);
    cJSON_Delete(m);
    m = itest_expect_msg(s, t1, 2, W_DUR);
    assert_non_null(m);
    cJSON_Delete(m);
    m = itest_expect_msg(s, t2, 1, W_DUR);
    assert_non_null(m);
    cJSON_Delete(m);
    m = itest_expect_msg(s, t1, 3, W_DUR);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));
    /* History holds the first data under the key, not the retry's. */
    ok = history_req(p, 10, t1, 0, 0);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 3);
    assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetArrayItem(msgs, 0), "data"), "r", -1), 1);
    cJSON_Delete(ok);
    rawws_close(p);
    rawws_close(s);

    /* The dedupe window survives SIGKILL. */
    assert_int_equal(itest_restart(state, true), 0);
    s = itest_hello(itest_port(state), "watch2");
    assert_non_null(s);
    ok = itest_sub(s, 2, t1);
    assert_non_null(ok);
    cJSON_Delete(ok);
    p = itest_hello(itest_port(state), "sensor");
    assert_non_null(p);
    assert_int_equal(pub_key(p, 2, t1, "{\"r\":6}", "k-1", &dup), 1);
    assert_true(dup);
    assert_int_equal(pub_key(p, 3, t1, "{\"r\":7}", key128, &dup), seq128);
    assert_true(dup);
    assert_int_equal(pub_key(p, 4, t2, "{\"r\":8}", "k-1", &dup), 1);
    assert_true(dup);
    assert_int_equal(pub_key(p, 5, t1, "{\"r\":9}", "k-3", &dup), 4);
    assert_false(dup);
    m = itest_expect_msg(s, t1, 4, W_DUR);
    assert_non_null(m);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

/* A retry sent before the first attempt's ack (both in flight) still
 * stores the reading once: one ack is new, the other is its duplicate. */
static void test_idempotent_in_flight(void **state)
{
    char topic[128];
    struct rawws *p = NULL;
    cJSON *a = NULL;
    cJSON *b = NULL;
    cJSON *ok = NULL;
    int i = 0;

    itest_topic(topic, sizeof(topic), "idemf");
    p = itest_hello(itest_port(state), "retrier");
    assert_non_null(p);
    for (i = 0; i < 2; i++)
        assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                         "\"topic\":\"%s\",\"data\":%d,\"key\":\"same\"}",
                         2 + i, topic, i), 0);
    for (i = 0; i < 2; i++) {
        ok = rawws_expect_op(p, "ok", W_DUR);
        assert_non_null(ok);
        if (tj_int_or(ok, "id", -1) == 2)
            a = ok;
        else if (tj_int_or(ok, "id", -1) == 3)
            b = ok;
        else
            cJSON_Delete(ok);
    }
    assert_non_null(a);
    assert_non_null(b);
    if (tj_int_or(a, "seq", -1) != 1 || tj_int_or(b, "seq", -1) != 1 ||
        tj_is_true(a, "duplicate") == tj_is_true(b, "duplicate")) {
        tj_dump("in-flight first", a);
        tj_dump("in-flight second", b);
    }
    assert_int_equal(tj_int_or(a, "seq", -1), 1);
    assert_int_equal(tj_int_or(b, "seq", -1), 1);
    assert_int_not_equal(tj_is_true(a, "duplicate"),
                         tj_is_true(b, "duplicate"));
    cJSON_Delete(a);
    cJSON_Delete(b);
    assert_int_equal(itest_pub(p, 4, topic, "\"next\""), 2);
    rawws_close(p);
}

/* With --dedupe-window 1s a key is forgotten after the window. */
static void test_dedupe_window(void **state)
{
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;
    cJSON *m = NULL;
    bool dup = false;

    itest_topic(topic, sizeof(topic), "win");
    s = itest_hello(itest_port(state), "watch");
    assert_non_null(s);
    ok = itest_sub(s, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    p = itest_hello(itest_port(state), "sensor");
    assert_non_null(p);
    assert_int_equal(pub_key(p, 2, topic, "1", "w-1", &dup), 1);
    assert_false(dup);
    assert_int_equal(pub_key(p, 3, topic, "2", "w-1", &dup), 1);
    assert_true(dup);
    sleep_ms(1500);
    assert_int_equal(pub_key(p, 4, topic, "3", "w-1", &dup), 2);
    assert_false(dup);
    m = itest_expect_msg(s, topic, 1, W_DUR);
    assert_non_null(m);
    cJSON_Delete(m);
    m = itest_expect_msg(s, topic, 2, W_DUR);
    assert_non_null(m);
    assert_int_equal(tj_int_or(m, "data", -1), 3);
    cJSON_Delete(m);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);
}

/* ---- ephemeral topics ---- */

/* Subscribe with an option on a fresh connection: the ok comes and then
 * nothing (an ephemeral topic has nothing stored). */
static void expect_nothing_stored(int port, const char *topic,
                                  const char *opt)
{
    struct rawws *c = itest_hello(port, "eph-late");
    cJSON *ok = NULL;

    assert_non_null(c);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\"%s}", topic, opt), 0);
    ok = rawws_expect_ok(c, 2, W_DUR);
    assert_non_null(ok);
    cJSON_Delete(ok);
    ok = history_req(c, 3, topic, 0, 0);
    assert_non_null(ok);
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok,
                                                            "messages")) != 0)
        tj_dump("ephemeral history is not empty", ok);
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(ok, "messages")), 0);
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(c, 4, ITEST_QUIET_MS));
    rawws_close(c);
}

static void test_ephemeral(void **state)
{
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;
    int64_t first = 0;
    int i = 0;

    itest_topic(topic, sizeof(topic), "typing");
    s = itest_hello(itest_port(state), "eph-sub");
    assert_non_null(s);
    ok = itest_sub(s, 2, topic);
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 0);
    cJSON_Delete(ok);
    p = itest_hello(itest_port(state), "typist");
    assert_non_null(p);
    for (i = 1; i <= 5; i++) {
        char data[32];

        snprintf(data, sizeof(data), "{\"typing\":%d}", i);
        assert_int_equal(itest_pub(p, 10 + i, topic, data), i);
        expect_live(s, topic, i, data);
    }
    expect_nothing_stored(itest_port(state), topic, ",\"since\":0");
    expect_nothing_stored(itest_port(state), topic, ",\"history\":10");
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(p);
    rawws_close(s);

    assert_int_equal(itest_restart(state, true), 0);
    expect_nothing_stored(itest_port(state), topic, ",\"since\":0");
    expect_nothing_stored(itest_port(state), topic, "");
    p = itest_hello(itest_port(state), "typist");
    assert_non_null(p);
    first = itest_pub(p, 2, topic, "1");
    assert_true(first >= 1);
    if (first != 1)
        fprintf(stderr, "ephemeral: first seq after restart is %lld\n",
                (long long)first);
    assert_int_equal(itest_pub(p, 3, topic, "2"), first + 1);
    assert_int_equal(itest_pub(p, 4, topic, "3"), first + 2);
    expect_nothing_stored(itest_port(state), topic, ",\"history\":10");
    rawws_close(p);
}

/* ---- SIGTERM ---- */

/* A SIGTERM with pubs in flight exits 0; every acked message is there
 * afterwards, gapless, and so is everything acked before. */
static void test_sigterm_keeps_acked(void **state)
{
    char topic[128];
    int64_t seq_of[601];
    int64_t hid = 100;
    int64_t t0 = itest_now_ms();
    struct rawws *p = NULL;
    cJSON *all = NULL;
    int acked = 0;
    int rc = 0;
    int m = 0;
    int i = 0;

    memset(seq_of, 0, sizeof(seq_of));
    itest_topic(topic, sizeof(topic), "term");
    p = itest_hello(itest_port(state), "termer");
    assert_non_null(p);
    /* 300 pubs, all acked before the signal. */
    for (i = 1; i <= 300; i++) {
        assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                         "\"topic\":\"%s\",\"data\":{\"n\":%d}}", i, topic,
                         i), 0);
        if (i % 16 == 0) {
            rc = drain_acks(p, topic, seq_of, 600, 0);
            assert_true(rc >= 0);
            acked += rc;
        }
    }
    while (acked < 300) {
        rc = drain_acks(p, topic, seq_of, 600, W_DUR);
        assert_true(rc > 0);
        acked += rc;
    }
    /* 300 more sent right before SIGTERM, acked or not. */
    for (i = 301; i <= 600; i++)
        assert_int_equal(rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%d,"
                         "\"topic\":\"%s\",\"data\":{\"n\":%d}}", i, topic,
                         i), 0);
    {
        struct itest *t = *state;
        int wst = 0;
        char desc[64];

        rc = server_stop(t->srv, 10000, &wst);
        if (rc < 0 || !server_exited_cleanly(wst))
            fprintf(stderr, "SIGTERM: %s\n", server_status_str(wst, desc,
                                                              sizeof(desc)));
        assert_int_equal(rc, 0);
        assert_true(server_exited_cleanly(wst));
        rc = drain_acks(p, topic, seq_of, 600, 200);
        assert_true(rc >= 0);
        acked += rc;
        rawws_close(p);
        assert_int_equal(server_restart(t->srv), 0);
        t->port = server_port(t->srv);
    }
    fprintf(stderr, "sigterm: %d of 600 acked\n", acked);
    p = itest_hello(itest_port(state), "after");
    assert_non_null(p);
    all = history_all(p, &hid, topic);
    assert_non_null(all);
    m = cJSON_GetArraySize(all);
    fprintf(stderr, "sigterm: %d stored after restart\n", m);
    assert_true(m >= 300);
    for (i = 0; i < m; i++)
        assert_int_equal(tj_int_or(cJSON_GetArrayItem(all, i), "seq", -1),
                         i + 1);
    for (i = 1; i <= 600; i++) {
        char data[32];

        if (seq_of[i] == 0)
            continue;
        assert_true(seq_of[i] <= m);
        snprintf(data, sizeof(data), "{\"n\":%d}", i);
        assert_msg_is(cJSON_GetArrayItem(all, (int)seq_of[i] - 1),
                      seq_of[i], "termer", data, t0);
    }
    cJSON_Delete(all);
    assert_int_equal(itest_pub(p, 2, topic, "\"next\""), m + 1);
    rawws_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acked_survive_kill9),
        cmocka_unit_test(test_unacked_kill9_midstream),
        cmocka_unit_test(test_retained),
        cmocka_unit_test(test_retained_pattern),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_idempotent_in_flight),
        cmocka_unit_test(test_ephemeral),
        cmocka_unit_test(test_sigterm_keeps_acked),
    };
    const struct CMUnitTest window_tests[] = {
        cmocka_unit_test(test_dedupe_window),
    };
    const struct CMUnitTest power_tests[] = {
        cmocka_unit_test(test_acked_survive_kill9),
    };
    int rc = cmocka_run_group_tests_name("durable", tests, group_setup,
                                         group_teardown);

    rc |= cmocka_run_group_tests_name("durability_power", power_tests,
                                      group_setup_power, group_teardown);

    rc |= cmocka_run_group_tests_name("dedupe_window", window_tests,
                                      group_setup_window, group_teardown);
    return itest_exit_code(rc);
}
