/*
 * test_hub.c: the hub (server/hub.c) driven through a fake hub_ops
 * (hub_fake.c): no sockets, no lws, no store thread. Each test builds a
 * hub, plays clients by feeding command text, plays the store by
 * completing the jobs the hub submitted, and reads what each connection
 * would receive by popping its out-queue. Every test ends with hub_free()
 * and msg_live_count() == 0 (fake_cleanup asserts it).
 *
 * The test_bug_* tests reproduce hub defects found while writing this
 * suite (since-replay deadlocks, a pattern's replay dropped by an unsub,
 * replays counted toward the slow-consumer bound); they stay as
 * regression tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd.h"
#include "hub_fake.h"

#include "errors.h"

/* ---- helpers ---------------------------------------------------------- */

static void default_hub(struct fake *f)
{
    struct hub_config cfg;

    fake_config(&cfg);
    fake_init(f, &cfg);
}

/* A connection that said hello as name (id 1 answered and popped). */
static struct conn *hello(struct fake *f, const char *name)
{
    struct conn *c = fake_open(f);
    cJSON *o = NULL;

    fake_send(f, c, "{\"op\":\"hello\",\"id\":1,\"name\":\"%s\"}", name);
    o = expect_ok(f, c, 1);
    assert_string_equal(json_str(o, "user"), name);
    cJSON_Delete(o);
    return c;
}

/* sub with id; expects the ok (seq checked when seq >= 0, absent when
 * seq == -1) and returns it (caller deletes). */
static cJSON *sub_ok(struct fake *f, struct conn *c, int64_t id,
                     const char *topic, int64_t seq)
{
    cJSON *o = NULL;

    fake_send(f, c, "{\"op\":\"sub\",\"id\":%lld,\"topic\":\"%s\"}",
              (long long)id, topic);
    o = expect_ok(f, c, id);
    assert_string_equal(json_str(o, "topic"), topic);
    if (seq >= 0)
        assert_int_equal(json_int(o, "seq"), seq);
    else
        assert_false(json_has(o, "seq"));
    assert_false(json_has(o, "recovered"));
    return o;
}

static void sub_ok_only(struct fake *f, struct conn *c, int64_t id,
                        const char *topic, int64_t seq)
{
    cJSON_Delete(sub_ok(f, c, id, topic, seq));
}

/* Publish data on topic without id and let the store commit it. */
static void pub_commit(struct fake *f, struct conn *c, const char *topic,
                       const char *data)
{
    size_t before = f->n_jobs;

    fake_send(f, c, "{\"op\":\"pub\",\"topic\":\"%s\",\"data\":%s}", topic,
              data);
    assert_int_equal(f->n_jobs, before + 1);
    fake_complete(f, f->n_jobs);
}

/* What a connection received, sorted by kind. */
struct seen {
    int64_t oks[64];
    size_t n_ok;
    int64_t seqs[4096];
    size_t n_seq;
    size_t others;
};

/* Pop every ready frame of c: ok ids and the seqs of topic's msgs are
 * recorded; any other frame is counted. Errors fail the test. */
static void collect(struct fake *f, struct conn *c, const char *topic,
                    struct seen *s)
{
    while (!fake_empty(c) && !fake_pending(c)) {
        cJSON *o = fake_pop(f, c);
        const char *op = json_str(o, "op");

        if (strcmp(op, "ok") == 0) {
            assert_true(s->n_ok < 64);
            s->oks[s->n_ok++] = json_int(o, "id");
        } else if (strcmp(op, "msg") == 0 &&
                   strcmp(json_str(o, "topic"), topic) == 0) {
            assert_true(s->n_seq < 4096);
            s->seqs[s->n_seq++] = json_int(o, "seq");
        } else if (strcmp(op, "error") == 0) {
            fail_msg("unexpected error frame: %s", json_str(o, "code"));
        } else {
            s->others++;
        }
        cJSON_Delete(o);
    }
}

/* The recorded seqs are exactly first..last, in order. */
static void assert_seqs(const struct seen *s, int64_t first, int64_t last)
{
    size_t i;

    for (i = 0; i < s->n_seq; i++)
        if (s->seqs[i] != first + (int64_t)i)
            fail_msg("delivery #%zu has seq %lld, want %lld (gap, "
                     "duplicate or reorder)", i, (long long)s->seqs[i],
                     (long long)(first + (int64_t)i));
    if ((int64_t)s->n_seq != last - first + 1)
        fail_msg("%zu messages delivered, want %lld..%lld", s->n_seq,
                 (long long)first, (long long)last);
}

/* Put rows 1..n of topic into the store, data being a string of size
 * bytes (so replays weigh what a test needs), and load the topic as at
 * start-up: the hub knows its seq, its recent ring is empty. */
static void stored_topic(struct fake *f, const char *topic, int64_t first,
                         int64_t n, size_t size)
{
    char *data = malloc(size + 3);
    int64_t s;

    assert_non_null(data);
    data[0] = '"';
    memset(data + 1, 'x', size);
    data[size + 1] = '"';
    data[size + 2] = '\0';
    for (s = first; s <= n; s++)
        fake_store_put(f, topic, s, "old", data);
    free(data);
    fake_load_topic(f, topic);
}

/* Drive c until nothing moves: pop what is ready, complete one job,
 * repeat (bounded). */
static void pump(struct fake *f, struct conn *c, const char *topic,
                 struct seen *s)
{
    int rounds = 0;

    for (rounds = 0; rounds < 10000; rounds++) {
        collect(f, c, topic, s);
        if (f->n_jobs == 0)
            break;
        fake_complete(f, 1);
    }
    collect(f, c, topic, s);
}

/* ---- hello ------------------------------------------------------------ */

static void test_hello(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct conn *c = NULL;
    struct conn *d = NULL;
    cJSON *o = NULL;
    char bname[64];
    char cname[64];

    default_hub(f);
    a = fake_open(f);
    fake_send(f, a, "{\"op\":\"hello\",\"id\":1,\"name\":\"alice\"}");
    o = expect_ok(f, a, 1);
    assert_string_equal(json_str(o, "user"), "alice");
    assert_true(strlen(json_str(o, "session")) > 0);
    assert_string_equal(json_str(o, "server"), "parley/" PARLEY_VERSION);
    assert_int_equal(json_int(o, "protocol"), 1);
    cJSON_Delete(o);
    expect_empty(a);

    /* A second hello is bad_request; the connection stays usable and
     * keeps its name. */
    fake_send(f, a, "{\"op\":\"hello\",\"id\":2,\"name\":\"mallory\"}");
    expect_error(f, a, 2, "bad_request");
    fake_send(f, a, "{\"op\":\"hello\",\"name\":\"mallory\"}");
    expect_error(f, a, 0, "bad_request");
    fake_send(f, a, "{\"op\":\"ping\",\"id\":3}");
    expect_ok_only(f, a, 3);
    expect_empty(a);
    assert_string_equal(a->user, "alice");

    /* Without a name (no auth) the user is anon-<n>, unique per
     * connection, also after an earlier connection is gone. */
    b = fake_open(f);
    c = fake_open(f);
    fake_send(f, b, "{\"op\":\"hello\",\"id\":1}");
    o = expect_ok(f, b, 1);
    snprintf(bname, sizeof(bname), "%s", json_str(o, "user"));
    cJSON_Delete(o);
    fake_send(f, c, "{\"op\":\"hello\",\"id\":1}");
    o = expect_ok(f, c, 1);
    snprintf(cname, sizeof(cname), "%s", json_str(o, "user"));
    cJSON_Delete(o);
    assert_memory_equal(bname, "anon-", 5);
    assert_memory_equal(cname, "anon-", 5);
    assert_string_not_equal(bname, cname);
    hub_conn_close(f->hub, &b);
    assert_null(b);
    d = fake_open(f);
    assert_string_not_equal(d->user, bname);
    assert_string_not_equal(d->user, cname);
    assert_memory_equal(d->user, "anon-", 5);
    /* Sessions differ too. */
    fake_send(f, d, "{\"op\":\"hello\",\"id\":4}");
    cJSON_Delete(expect_ok(f, d, 4));
    fake_cleanup(f);
}

/* Bad commands get errors and never close the connection. */
static void test_bad_commands(void **state)
{
    static const struct {
        const char *text;
        int64_t id;
        const char *code;
    } rows[] = {
        { "not json", 0, "bad_json" },
        { "[1,2]", 0, "bad_request" },
        { "{\"id\":3}", 3, "bad_request" },
        { "{\"op\":\"dance\",\"id\":4}", 4, "unknown_op" },
        { "{\"op\":\"sub\",\"id\":5}", 5, "bad_request" },
        { "{\"op\":\"sub\",\"id\":6,\"topic\":\"a//b\"}", 6, "invalid_topic" },
        { "{\"op\":\"pub\",\"id\":7,\"topic\":\"a/+\",\"data\":1}", 7,
          "invalid_topic" },
        { "{\"op\":\"pub\",\"id\":8,\"topic\":\"a\"}", 8, "bad_request" },
        { "{\"op\":\"history\",\"id\":9,\"topic\":\"a/#\"}", 9,
          "invalid_topic" },
        { "{\"op\":\"history\",\"id\":10,\"topic\":\"a\",\"limit\":0}", 10,
          "bad_request" },
        { "{\"op\":\"presence\",\"id\":11,\"topic\":\"a/+\"}", 11,
          "invalid_topic" },
        { "{\"op\":\"ping\",\"id\":0}", 0, "bad_request" },
        { "{\"op\":\"ping\",\"id\":\"x\"}", 0, "bad_request" },
    };
    struct fake *f = *state;
    struct conn *c = NULL;
    size_t i;

    default_hub(f);
    c = fake_open(f);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        hub_conn_text(f->hub, c, rows[i].text, strlen(rows[i].text));
        expect_error(f, c, rows[i].id, rows[i].code);
        expect_empty(c);
        assert_int_equal(c->close_code, 0);
    }
    hub_conn_binary(f->hub, c);
    expect_error(f, c, 0, "bad_request");
    assert_int_equal(f->n_jobs, 0);
    fake_send(f, c, "{\"op\":\"ping\",\"id\":99}");
    expect_ok_only(f, c, 99);
    assert_int_equal(c->close_code, 0);
    fake_cleanup(f);
}

/* ---- publish and subscribe -------------------------------------------- */

static void test_pub_roundtrip_persist(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct store_job *job = NULL;
    cJSON *o = NULL;
    const cJSON *data = NULL;

    default_hub(f);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, a, 2, "chat/general", 0);

    f->now = FAKE_T0 + 5;
    fake_send(f, b, "{\"op\":\"pub\",\"id\":4,\"topic\":\"chat/general\","
                     "\"data\":{\"text\":\"hi\"},\"retain\":false}");
    /* The pub became a store job carrying its own copies. */
    assert_int_equal(f->n_jobs, 1);
    job = fake_job(f, 0);
    assert_int_equal(job->kind, STORE_JOB_PUB);
    assert_string_equal(job->topic, "chat/general");
    assert_string_equal(job->data, "{\"text\":\"hi\"}");
    assert_string_equal(job->from, "bob");
    assert_int_equal(job->ts, FAKE_T0 + 5);
    assert_false(job->retain);
    assert_null(job->key);
    /* Nothing reaches anyone before the store commits. */
    expect_empty(a);
    expect_empty(b);

    fake_complete(f, 1);
    o = expect_msg(f, a, "chat/general", 1);
    assert_string_equal(json_str(o, "from"), "bob");
    assert_int_equal(json_int(o, "ts"), FAKE_T0 + 5);
    data = cJSON_GetObjectItemCaseSensitive(o, "data");
    assert_string_equal(json_str(data, "text"), "hi");
    cJSON_Delete(o);
    expect_empty(a);
    o = expect_ok(f, b, 4);
    assert_string_equal(json_str(o, "topic"), "chat/general");
    assert_int_equal(json_int(o, "seq"), 1);
    assert_false(json_has(o, "duplicate"));
    cJSON_Delete(o);
    expect_empty(b);

    /* The publisher receives its own message too when subscribed: the
     * msg, then the ack. Several pending pubs commit in order. */
    sub_ok_only(f, b, 5, "chat/general", 1);
    fake_send(f, b, "{\"op\":\"pub\",\"id\":6,\"topic\":\"chat/general\","
                     "\"data\":2}");
    fake_send(f, b, "{\"op\":\"pub\",\"topic\":\"chat/general\","
                     "\"data\":3}");
    fake_send(f, b, "{\"op\":\"pub\",\"id\":8,\"topic\":\"chat/general\","
                     "\"data\":4}");
    assert_int_equal(f->n_jobs, 3);
    expect_empty(a);
    expect_empty(b);
    fake_complete(f, 1);
    expect_msg_only(f, a, "chat/general", 2);
    expect_empty(a);
    fake_complete(f, 2);
    expect_msg_only(f, a, "chat/general", 3);
    expect_msg_only(f, a, "chat/general", 4);
    expect_empty(a);
    expect_msg_only(f, b, "chat/general", 2);
    o = expect_ok(f, b, 6);
    assert_int_equal(json_int(o, "seq"), 2);
    cJSON_Delete(o);
    expect_msg_only(f, b, "chat/general", 3); /* no id: no ack */
    expect_msg_only(f, b, "chat/general", 4);
    o = expect_ok(f, b, 8);
    assert_int_equal(json_int(o, "seq"), 4);
    cJSON_Delete(o);
    expect_empty(b);

    /* unsub stops delivery; a new sub reports the latest seq. */
    fake_send(f, a, "{\"op\":\"unsub\",\"id\":9,\"topic\":\"chat/general\"}");
    expect_ok_only(f, a, 9);
    pub_commit(f, b, "chat/general", "5");
    expect_empty(a);
    expect_msg_only(f, b, "chat/general", 5);
    sub_ok_only(f, a, 10, "chat/general", 5);
    expect_empty(a);
    /* unsub of something never subscribed is still ok */
    fake_send(f, a, "{\"op\":\"unsub\",\"id\":11,\"topic\":\"nope\"}");
    expect_ok_only(f, a, 11);
    fake_cleanup(f);
}

/* Idempotent publish: a repeated key gets the original seq and
 * duplicate:true, and subscribers see the message once. */
static void test_pub_key_duplicate(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    cJSON *o = NULL;

    default_hub(f);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, a, 2, "s/t", 0);
    fake_send(f, b, "{\"op\":\"pub\",\"id\":2,\"topic\":\"s/t\",\"data\":1,"
                     "\"key\":\"k-1\"}");
    assert_string_equal(fake_job(f, 0)->key, "k-1");
    fake_complete(f, 1);
    expect_msg_only(f, a, "s/t", 1);
    o = expect_ok(f, b, 2);
    assert_int_equal(json_int(o, "seq"), 1);
    cJSON_Delete(o);
    fake_send(f, b, "{\"op\":\"pub\",\"id\":3,\"topic\":\"s/t\",\"data\":1,"
                     "\"key\":\"k-1\"}");
    fake_complete(f, 1);
    expect_empty(a);
    o = expect_ok(f, b, 3);
    assert_int_equal(json_int(o, "seq"), 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "duplicate")));
    cJSON_Delete(o);
    /* the next message still gets seq 2 */
    pub_commit(f, b, "s/t", "2");
    expect_msg_only(f, a, "s/t", 2);
    fake_cleanup(f);
}

/* persist=false: no store at all; delivered and acked at once. */
static void test_persist_false(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *a = NULL;
    struct conn *b = NULL;
    cJSON *o = NULL;
    int i;

    fake_config(&cfg);
    cfg.persist = false;
    fake_init(f, &cfg);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, a, 2, "t", 0);
    for (i = 1; i <= 3; i++) {
        fake_send(f, b, "{\"op\":\"pub\",\"id\":%d,\"topic\":\"t\","
                         "\"data\":%d}", 10 + i, i);
        assert_int_equal(f->n_jobs, 0);
        expect_msg_only(f, a, "t", i);
        o = expect_ok(f, b, 10 + i);
        assert_int_equal(json_int(o, "seq"), i);
        cJSON_Delete(o);
    }
    /* history has nothing stored to read: an empty answer at once */
    fake_send(f, b, "{\"op\":\"history\",\"id\":20,\"topic\":\"t\"}");
    assert_int_equal(f->n_jobs, 0);
    o = expect_ok(f, b, 20);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")),
                     0);
    cJSON_Delete(o);
    fake_cleanup(f);
}

/* Ephemeral topics skip the store even with persist on: delivered and
 * acked at once, seq gapless per topic; since/history return nothing. */
static void test_ephemeral(void **state)
{
    static const char *const eph[] = { "typing/#" };
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *a = NULL;
    struct conn *b = NULL;
    cJSON *o = NULL;
    int i;

    fake_config(&cfg);
    cfg.ephemeral = eph;
    cfg.n_ephemeral = 1;
    fake_init(f, &cfg);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, a, 2, "typing/#", -1);
    sub_ok_only(f, a, 3, "chat/x", 0);
    for (i = 1; i <= 5; i++) {
        fake_send(f, b, "{\"op\":\"pub\",\"id\":%d,\"topic\":\"typing/r1\","
                         "\"data\":true}", i);
        assert_int_equal(f->n_jobs, 0);
        expect_msg_only(f, a, "typing/r1", i);
        o = expect_ok(f, b, i);
        assert_int_equal(json_int(o, "seq"), i);
        cJSON_Delete(o);
    }
    /* seq is per topic */
    fake_send(f, b, "{\"op\":\"pub\",\"topic\":\"typing/r2\",\"data\":1}");
    expect_msg_only(f, a, "typing/r2", 1);
    /* a stored topic on the same hub still goes to the store */
    fake_send(f, b, "{\"op\":\"pub\",\"id\":9,\"topic\":\"chat/x\","
                     "\"data\":1}");
    assert_int_equal(f->n_jobs, 1);
    expect_empty(a);
    expect_empty(b);
    fake_complete(f, 1);
    expect_msg_only(f, a, "chat/x", 1);
    expect_ok_only(f, b, 9);

    /* since and history return nothing for them, without the store */
    fake_send(f, b, "{\"op\":\"sub\",\"id\":10,\"topic\":\"typing/r1\","
                     "\"since\":0}");
    o = expect_ok(f, b, 10);
    assert_int_equal(json_int(o, "seq"), 5);
    cJSON_Delete(o);
    expect_empty(b);
    fake_send(f, b, "{\"op\":\"sub\",\"id\":11,\"topic\":\"typing/r2\","
                     "\"history\":10}");
    cJSON_Delete(expect_ok(f, b, 11));
    expect_empty(b);
    fake_send(f, b, "{\"op\":\"history\",\"id\":12,\"topic\":\"typing/r1\"}");
    o = expect_ok(f, b, 12);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")),
                     0);
    cJSON_Delete(o);
    assert_int_equal(f->n_jobs, 0);
    fake_cleanup(f);
}

/* A connection gets each message once however many of its patterns
 * match; the generation stamp is per publish, so the next one arrives. */
static void test_overlapping_patterns_once(void **state)
{
    static const char *const pats[] = { "a/#", "a/+", "a/b", "#", "+/b",
                                        "+/+", "+/#" };
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct conn *p = NULL;
    size_t i;

    default_hub(f);
    a = hello(f, "alice");
    b = hello(f, "bob");
    p = hello(f, "pub");
    for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
        sub_ok_only(f, a, (int64_t)(10 + i), pats[i],
                    strchr(pats[i], '+') || strchr(pats[i], '#') ? -1 : 0);
    sub_ok_only(f, b, 2, "+/b", -1);
    pub_commit(f, p, "a/b", "1");
    expect_msg_only(f, a, "a/b", 1);
    expect_empty(a);
    expect_msg_only(f, b, "a/b", 1);
    expect_empty(b);
    pub_commit(f, p, "a/b", "2");
    expect_msg_only(f, a, "a/b", 2);
    expect_empty(a);
    expect_msg_only(f, b, "a/b", 2);
    /* a topic only some patterns match */
    pub_commit(f, p, "a/c/d", "1");
    expect_msg_only(f, a, "a/c/d", 1);
    expect_empty(a);
    expect_empty(b);
    expect_empty(p);
    fake_cleanup(f);
}

/* ---- retained --------------------------------------------------------- */

/* The next frame is the retained copy of topic at seq with data. */
static void expect_retained(struct fake *f, struct conn *c, const char *topic,
                            int64_t seq, int64_t data)
{
    cJSON *o = expect_op(f, c, "msg");

    assert_string_equal(json_str(o, "topic"), topic);
    assert_int_equal(json_int(o, "seq"), seq);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "retained")));
    assert_int_equal(json_int(o, "data"), data);
    cJSON_Delete(o);
}

static void test_retained(void **state)
{
    struct fake *f = *state;
    struct conn *p = NULL;
    struct conn *live = NULL;
    struct conn *c = NULL;
    struct conn *c2 = NULL;
    struct conn *c3 = NULL;
    cJSON *o = NULL;

    default_hub(f);
    p = hello(f, "pub");
    live = hello(f, "live");
    sub_ok_only(f, live, 2, "r/t", 0);

    fake_send(f, p, "{\"op\":\"pub\",\"id\":2,\"topic\":\"r/t\",\"data\":1,"
                     "\"retain\":true}");
    assert_true(fake_job(f, 0)->retain);
    fake_complete(f, 1);
    /* the live delivery of a retained publish is not marked */
    expect_msg_only(f, live, "r/t", 1);
    expect_ok_only(f, p, 2);

    /* a new sub: the reply first, then the retained copy */
    c = hello(f, "c1");
    sub_ok_only(f, c, 2, "r/t", 1);
    expect_retained(f, c, "r/t", 1, 1);
    expect_empty(c);
    /* subscribing again, by the topic, a pattern or with history, does
     * not send it a second time (at most once per connection) */
    sub_ok_only(f, c, 3, "r/t", 1);
    expect_empty(c);
    sub_ok_only(f, c, 4, "r/#", -1);
    expect_empty(c);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":5,\"topic\":\"r/t\","
                     "\"history\":5}");
    expect_ok_only(f, c, 5);
    expect_empty(c);
    /* a pattern delivers it too, and has no seq in its reply */
    c2 = hello(f, "c2");
    sub_ok_only(f, c2, 2, "r/#", -1);
    expect_retained(f, c2, "r/t", 1, 1);
    expect_empty(c2);
    /* with history (or since) the stored messages come instead */
    c3 = hello(f, "c3");
    fake_send(f, c3, "{\"op\":\"sub\",\"id\":2,\"topic\":\"r/t\","
                      "\"history\":5}");
    cJSON_Delete(expect_ok(f, c3, 2));
    expect_msg_only(f, c3, "r/t", 1);
    expect_empty(c3);

    /* retain:false leaves the retained message alone */
    pub_commit(f, p, "r/t", "2");
    expect_msg_only(f, live, "r/t", 2);
    expect_msg_only(f, c, "r/t", 2);
    expect_msg_only(f, c2, "r/t", 2);
    expect_msg_only(f, c3, "r/t", 2);
    sub_ok_only(f, c3, 3, "r/+", -1);
    expect_empty(c3); /* it has seq 1 already */
    c2 = hello(f, "c4");
    sub_ok_only(f, c2, 3, "r/+", -1);
    expect_retained(f, c2, "r/t", 1, 1);
    /* retain:true replaces it */
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"r/t\",\"data\":3,"
                     "\"retain\":true}");
    fake_complete(f, 1);
    expect_msg_only(f, live, "r/t", 3);
    expect_msg_only(f, c, "r/t", 3);
    sub_ok_only(f, live, 4, "r/t", 3); /* re-sub: it has seq 3 already */
    expect_empty(live);
    sub_ok_only(f, p, 3, "r/t", 3); /* a new sub: the retained copy */
    expect_retained(f, p, "r/t", 3, 3);
    expect_empty(p);
    sub_ok_only(f, p, 4, "r/t", 3);
    expect_empty(p);
    fake_send(f, p, "{\"op\":\"unsub\",\"id\":8,\"topic\":\"r/t\"}");
    expect_ok_only(f, p, 8);

    /* retain:true with data:null is a stored message that clears it */
    fake_send(f, p, "{\"op\":\"pub\",\"id\":5,\"topic\":\"r/t\","
                     "\"data\":null,\"retain\":true}");
    assert_true(fake_job(f, 0)->data_is_null);
    fake_complete(f, 1);
    o = expect_msg(f, live, "r/t", 4);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "data")));
    cJSON_Delete(o);
    expect_ok_only(f, p, 5);
    sub_ok_only(f, p, 6, "r/t", 4);
    expect_empty(p);
    sub_ok_only(f, p, 7, "r/#", -1);
    expect_empty(p);
    fake_cleanup(f);
}

/* ---- $ topics --------------------------------------------------------- */

static void test_dollar_topics(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct store_topic_info info;

    default_hub(f);
    /* a server topic known from the store, with a retained message */
    memset(&info, 0, sizeof(info));
    info.name = "$SYS/uptime";
    info.last_seq = 7;
    info.has_retained = true;
    info.r_seq = 7;
    info.r_ts = FAKE_T0;
    info.r_from = "server";
    info.r_data = "42";
    info.r_data_len = 2;
    assert_int_equal(hub_load_topic(f->hub, &info), 0);

    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, a, 2, "#", -1);
    expect_empty(a);               /* `#` does not match $SYS/... */
    sub_ok_only(f, a, 3, "+/uptime", -1);
    expect_empty(a);               /* nor does a leading `+` */
    sub_ok_only(f, a, 4, "$SYS/#", -1);
    expect_retained(f, a, "$SYS/uptime", 7, 42);
    expect_empty(a);

    /* clients may not publish there, over WebSocket */
    fake_send(f, b, "{\"op\":\"pub\",\"id\":5,\"topic\":\"$SYS/uptime\","
                     "\"data\":1}");
    expect_error(f, b, 5, "forbidden");
    fake_send(f, b, "{\"op\":\"pub\",\"topic\":\"$x\",\"data\":1}");
    expect_error(f, b, 0, "forbidden");
    assert_int_equal(f->n_jobs, 0);
    expect_empty(a);
    /* an ordinary topic reaches `#` */
    pub_commit(f, b, "x/uptime", "1");
    expect_msg_only(f, a, "x/uptime", 1);
    expect_empty(a);
    fake_cleanup(f);
}

/* ---- presence --------------------------------------------------------- */

/* The members of topic per the presence op, as a sorted, comma-joined
 * string. */
static void presence_members(struct fake *f, struct conn *c, int64_t id,
                             const char *topic, char *out, size_t cap)
{
    cJSON *o = NULL;
    const cJSON *arr = NULL;
    const cJSON *it = NULL;
    const char *names[16];
    int n = 0;
    int i;
    int j;

    fake_send(f, c, "{\"op\":\"presence\",\"id\":%lld,\"topic\":\"%s\"}",
              (long long)id, topic);
    o = expect_ok(f, c, id);
    assert_string_equal(json_str(o, "topic"), topic);
    arr = cJSON_GetObjectItemCaseSensitive(o, "members");
    assert_true(cJSON_IsArray(arr));
    cJSON_ArrayForEach(it, arr) {
        assert_true(cJSON_IsString(it));
        assert_true(n < 16);
        names[n++] = it->valuestring;
    }
    for (i = 1; i < n; i++)
        for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];

            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = '\0';
    for (i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s",
                 i ? "," : "", names[i]);
    cJSON_Delete(o);
}

static void test_presence(void **state)
{
    struct fake *f = *state;
    struct conn *bob = NULL;
    struct conn *al1 = NULL;
    struct conn *al2 = NULL;
    struct conn *carol = NULL;
    char members[256];

    default_hub(f);
    bob = hello(f, "bob");
    al1 = hello(f, "alice");
    al2 = hello(f, "alice");
    carol = hello(f, "carol");
    sub_ok_only(f, carol, 2, "chat/p", 0); /* no presence asked */

    fake_send(f, bob, "{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/p\","
                       "\"presence\":true}");
    cJSON_Delete(expect_ok(f, bob, 2));
    expect_empty(bob);                      /* no join for itself */

    fake_send(f, al1, "{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/p\","
                       "\"presence\":true}");
    cJSON_Delete(expect_ok(f, al1, 2));
    expect_empty(al1);
    expect_presence(f, bob, "join", "chat/p", "alice");
    expect_empty(bob);

    /* a second connection of the same user is the same member */
    fake_send(f, al2, "{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/p\","
                       "\"presence\":true}");
    cJSON_Delete(expect_ok(f, al2, 2));
    expect_empty(bob);
    expect_empty(al1);                      /* its own user: nothing */
    expect_empty(al2);
    expect_empty(carol);                    /* did not ask */

    presence_members(f, carol, 3, "chat/p", members, sizeof(members));
    assert_string_equal(members, "alice,bob");

    /* the first alice leaves: still a member */
    fake_send(f, al1, "{\"op\":\"unsub\",\"id\":3,\"topic\":\"chat/p\"}");
    expect_ok_only(f, al1, 3);
    expect_empty(bob);
    expect_empty(al2);
    presence_members(f, bob, 3, "chat/p", members, sizeof(members));
    assert_string_equal(members, "alice,bob");

    /* the last alice disconnects: leave */
    hub_conn_close(f->hub, &al2);
    expect_presence(f, bob, "leave", "chat/p", "alice");
    expect_empty(bob);
    expect_empty(al1);
    expect_empty(carol);
    presence_members(f, carol, 4, "chat/p", members, sizeof(members));
    assert_string_equal(members, "bob");

    /* re-sub without presence withdraws it: leave for the others */
    fake_send(f, al1, "{\"op\":\"sub\",\"id\":4,\"topic\":\"chat/p\","
                       "\"presence\":true}");
    cJSON_Delete(expect_ok(f, al1, 4));
    expect_presence(f, bob, "join", "chat/p", "alice");
    fake_send(f, bob, "{\"op\":\"sub\",\"id\":5,\"topic\":\"chat/p\","
                       "\"presence\":false}");
    cJSON_Delete(expect_ok(f, bob, 5));
    expect_presence(f, al1, "leave", "chat/p", "bob");
    expect_empty(bob);   /* no longer asked for join/leave */
    presence_members(f, bob, 6, "chat/p", members, sizeof(members));
    assert_string_equal(members, "alice");

    /* unknown topic: no members */
    presence_members(f, bob, 7, "chat/none", members, sizeof(members));
    assert_string_equal(members, "");
    fake_cleanup(f);
}

/* ---- since / history on sub ------------------------------------------- */

/* Chat ops (#16): edit and delete are publishes the store judges; their
 * frames carry edit_of / redacts / reply_to; a committed deletion empties
 * the recent ring, so replays read the erased rows from the store. */
static void test_chat_edit_delete(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct conn *c = NULL;
    struct store_job *job = NULL;
    cJSON *o = NULL;

    default_hub(f);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, b, 2, "chat/x", 0);
    pub_commit(f, a, "chat/x", "{\"text\":\"hi\"}");
    expect_msg_only(f, b, "chat/x", 1);

    fake_send(f, a, "{\"op\":\"edit\",\"id\":5,\"topic\":\"chat/x\","
                     "\"seq\":1,\"data\":{\"text\":\"hi!\"},\"reply_to\":1}");
    job = fake_job(f, 0);
    assert_int_equal(job->kind, STORE_JOB_PUB);
    assert_int_equal(job->edit_of, 1);
    assert_int_equal(job->redacts, 0);
    assert_int_equal(job->reply_to, 1);
    assert_string_equal(job->from, "alice");
    fake_complete(f, 1);
    o = expect_msg(f, b, "chat/x", 2);
    assert_int_equal(json_int(o, "edit_of"), 1);
    assert_int_equal(json_int(o, "reply_to"), 1);
    assert_false(json_has(o, "redacts"));
    cJSON_Delete(o);
    o = expect_ok(f, a, 5);
    assert_int_equal(json_int(o, "seq"), 2);
    cJSON_Delete(o);

    /* The store refuses bob's edit of alice's message: only bob hears. */
    fake_send(f, b, "{\"op\":\"edit\",\"id\":6,\"topic\":\"chat/x\","
                     "\"seq\":1,\"data\":1}");
    fake_fail(f, PL_ERR_FORBIDDEN);
    expect_error(f, b, 6, "forbidden");
    fake_send(f, a, "{\"op\":\"delete\",\"id\":7,\"topic\":\"chat/x\","
                     "\"seq\":2}");
    fake_fail(f, PL_ERR_BAD_REQUEST);
    expect_error(f, a, 7, "bad_request");
    expect_empty(a);
    expect_empty(b);

    /* Before the deletion the ring serves since:0 ... */
    c = hello(f, "carol");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"chat/x\","
                     "\"since\":0}");
    assert_int_equal(f->n_jobs, 0);
    assert_int_equal(fake_drain(f, c), 3);
    fake_send(f, c, "{\"op\":\"unsub\",\"id\":3,\"topic\":\"chat/x\"}");
    expect_ok_only(f, c, 3);

    fake_send(f, a, "{\"op\":\"delete\",\"id\":8,\"topic\":\"chat/x\","
                     "\"seq\":1}");
    job = fake_job(f, 0);
    assert_int_equal(job->redacts, 1);
    assert_true(job->data_is_null);
    fake_complete(f, 1);
    o = expect_msg(f, b, "chat/x", 3);
    assert_int_equal(json_int(o, "redacts"), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "data")));
    cJSON_Delete(o);
    o = expect_ok(f, a, 8);
    assert_int_equal(json_int(o, "seq"), 3);
    cJSON_Delete(o);

    /* ... after it, the erased messages come from the store. */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":4,\"topic\":\"chat/x\","
                     "\"since\":0}");
    assert_int_equal(f->n_jobs, 1);
    assert_int_equal(fake_job(f, 0)->kind, STORE_JOB_AFTER);
    fake_complete_all(f);
    fake_drain(f, c);
    fake_cleanup(f);
}

/* Read markers (#16): mark waits for the store behind a placeholder,
 * answers with the marker, and tells the user's other connections only;
 * unread asks the store about the stored topics the pattern covers. */
static void test_chat_markers(void **state)
{
    struct fake *f = *state;
    struct conn *a1 = NULL;
    struct conn *a2 = NULL;
    struct conn *b = NULL;
    struct store_job *job = NULL;
    cJSON *o = NULL;
    cJSON *topics = NULL;

    default_hub(f);
    a1 = hello(f, "alice");
    a2 = hello(f, "alice");
    b = hello(f, "bob");
    pub_commit(f, b, "chat/x", "1");
    pub_commit(f, b, "chat/x", "2");
    pub_commit(f, b, "chat/y", "3");
    pub_commit(f, b, "other", "4");

    fake_send(f, a1, "{\"op\":\"mark\",\"id\":3,\"topic\":\"chat/x\","
                      "\"seq\":2}");
    fake_send(f, a1, "{\"op\":\"ping\",\"id\":4}");
    assert_true(fake_pending(a1));
    job = fake_job(f, 0);
    assert_int_equal(job->kind, STORE_JOB_MARK);
    assert_string_equal(job->from, "alice");
    assert_int_equal(job->mark_seq, 2);
    job->seq = 2;
    fake_complete(f, 1);
    o = expect_ok(f, a1, 3);
    assert_int_equal(json_int(o, "seq"), 2);
    assert_string_equal(json_str(o, "topic"), "chat/x");
    cJSON_Delete(o);
    expect_ok_only(f, a1, 4);
    o = expect_op(f, a2, "marked");
    assert_int_equal(json_int(o, "seq"), 2);
    assert_string_equal(json_str(o, "topic"), "chat/x");
    cJSON_Delete(o);
    expect_empty(a2);
    expect_empty(b);

    /* A marker that did not move tells nobody else. */
    fake_send(f, a2, "{\"op\":\"mark\",\"id\":5,\"topic\":\"chat/x\","
                      "\"seq\":1}");
    job = fake_job(f, 0);
    job->seq = 2;
    job->duplicate = true;
    fake_complete(f, 1);
    o = expect_ok(f, a2, 5);
    assert_int_equal(json_int(o, "seq"), 2);
    cJSON_Delete(o);
    expect_empty(a1);

    /* Nothing stored there: no marker. */
    fake_send(f, a1, "{\"op\":\"mark\",\"id\":6,\"topic\":\"chat/none\","
                      "\"seq\":1}");
    expect_error(f, a1, 6, "bad_request");
    assert_int_equal(f->n_jobs, 0);

    fake_send(f, a1, "{\"op\":\"unread\",\"id\":7,\"topic\":\"chat/#\"}");
    job = fake_job(f, 0);
    assert_int_equal(job->kind, STORE_JOB_UNREAD);
    assert_string_equal(job->from, "alice");
    assert_int_equal(job->n_marks, 2);
    for (size_t i = 0; i < job->n_marks; i++) {
        assert_int_equal(strncmp(job->marks[i].topic, "chat/", 5), 0);
        job->marks[i].seq = 2;
        job->marks[i].marked = 1;
        job->marks[i].unread = 1;
    }
    job->marks[1].more = true;
    fake_complete(f, 1);
    o = expect_ok(f, a1, 7);
    topics = cJSON_GetObjectItem(o, "topics");
    assert_int_equal(cJSON_GetArraySize(topics), 2);
    assert_int_equal(json_int(cJSON_GetArrayItem(topics, 0), "marked"), 1);
    assert_int_equal(json_int(cJSON_GetArrayItem(topics, 0), "unread"), 1);
    assert_false(json_has(cJSON_GetArrayItem(topics, 0), "more"));
    assert_true(json_has(cJSON_GetArrayItem(topics, 1), "more"));
    cJSON_Delete(o);
    fake_cleanup(f);
}

/* With storage off (or an ephemeral topic) nothing chat-like reaches
 * the store: edits, deletions and markers are refused, unread and search
 * answer empty lists. */
static void test_chat_without_store(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *a = NULL;
    cJSON *o = NULL;

    fake_config(&cfg);
    cfg.persist = false;
    fake_init(f, &cfg);
    a = hello(f, "alice");
    fake_send(f, a, "{\"op\":\"pub\",\"id\":2,\"topic\":\"chat/x\","
                     "\"data\":1,\"reply_to\":1}");
    expect_ok_only(f, a, 2);
    fake_send(f, a, "{\"op\":\"edit\",\"id\":3,\"topic\":\"chat/x\","
                     "\"seq\":1,\"data\":2}");
    expect_error(f, a, 3, "bad_request");
    fake_send(f, a, "{\"op\":\"delete\",\"id\":4,\"topic\":\"chat/x\","
                     "\"seq\":1}");
    expect_error(f, a, 4, "bad_request");
    fake_send(f, a, "{\"op\":\"mark\",\"id\":5,\"topic\":\"chat/x\","
                     "\"seq\":1}");
    expect_error(f, a, 5, "bad_request");
    fake_send(f, a, "{\"op\":\"unread\",\"id\":6,\"topic\":\"chat/#\"}");
    o = expect_ok(f, a, 6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "topics")), 0);
    cJSON_Delete(o);
    fake_send(f, a, "{\"op\":\"search\",\"id\":7,\"topic\":\"chat/#\","
                     "\"q\":\"x\"}");
    o = expect_ok(f, a, 7);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")),
                     0);
    cJSON_Delete(o);
    assert_int_equal(f->n_jobs, 0);
    fake_cleanup(f);
}

/* `since` inside the recent ring is served without touching the store. */
static void test_since_from_ring(void **state)
{
    struct fake *f = *state;
    struct conn *p = NULL;
    struct conn *c = NULL;
    struct conn *c2 = NULL;
    cJSON *o = NULL;
    struct seen s;
    int i;

    default_hub(f);
    p = hello(f, "pub");
    for (i = 1; i <= 5; i++)
        pub_commit(f, p, "t", "1");
    c = hello(f, "c");

    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":2}");
    assert_int_equal(f->n_jobs, 0);
    o = expect_ok(f, c, 2);
    assert_int_equal(json_int(o, "seq"), 5);
    assert_false(json_has(o, "recovered"));
    cJSON_Delete(o);
    expect_msg_only(f, c, "t", 3);
    expect_msg_only(f, c, "t", 4);
    expect_msg_only(f, c, "t", 5);
    expect_empty(c);
    pub_commit(f, p, "t", "1");
    expect_msg_only(f, c, "t", 6);
    expect_empty(c);

    /* since == latest: nothing to replay, recovered */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\",\"since\":6}");
    o = expect_ok(f, c, 3);
    assert_false(json_has(o, "recovered"));
    cJSON_Delete(o);
    expect_empty(c);

    /* since above the latest: recovered:false and live delivery */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":4,\"topic\":\"t\",\"since\":9}");
    o = expect_ok(f, c, 4);
    assert_int_equal(json_int(o, "seq"), 6);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "recovered")));
    cJSON_Delete(o);
    expect_empty(c);
    pub_commit(f, p, "t", "1");
    expect_msg_only(f, c, "t", 7);

    /* history: the last N, oldest first; c has them already */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":5,\"topic\":\"t\","
                     "\"history\":2}");
    expect_ok_only(f, c, 5);
    expect_empty(c);
    c2 = hello(f, "c2");
    fake_send(f, c2, "{\"op\":\"sub\",\"id\":5,\"topic\":\"t\","
                      "\"history\":2}");
    o = expect_ok(f, c2, 5);
    assert_false(json_has(o, "recovered"));
    cJSON_Delete(o);
    expect_msg_only(f, c2, "t", 6);
    expect_msg_only(f, c2, "t", 7);
    expect_empty(c2);

    /* since and history: since wins; only what c2 has not seen yet */
    memset(&s, 0, sizeof(s));
    fake_send(f, c2, "{\"op\":\"sub\",\"id\":6,\"topic\":\"t\","
                      "\"since\":1,\"history\":1}");
    collect(f, c2, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_int_equal(s.oks[0], 6);
    assert_seqs(&s, 2, 5);
    assert_int_equal(f->n_jobs, 0);
    fake_cleanup(f);
}

/* `since` older than the ring: a placeholder reply until the store's
 * first AFTER page, then the reply, then the stored messages in order. */
static void test_since_from_store(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct store_job *job = NULL;
    cJSON *o = NULL;
    int i;

    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":3}");
    assert_true(fake_pending(c));
    assert_int_equal(f->n_jobs, 1);
    job = fake_job(f, 0);
    assert_int_equal(job->kind, STORE_JOB_AFTER);
    assert_string_equal(job->topic, "t");
    assert_int_equal(job->after, 3);
    assert_int_equal(job->upto, 10);
    assert_true(job->limit > 0);
    /* a later command's reply waits behind the pending one */
    fake_send(f, c, "{\"op\":\"ping\",\"id\":3}");
    assert_true(fake_pending(c));
    fake_complete(f, 1);
    o = expect_ok(f, c, 2);
    assert_int_equal(json_int(o, "seq"), 10);
    assert_false(json_has(o, "recovered"));
    cJSON_Delete(o);
    /* the ping's ok was queued before the replay started */
    expect_ok_only(f, c, 3);
    for (i = 4; i <= 10; i++) {
        o = expect_msg(f, c, "t", i);
        assert_string_equal(json_str(o, "from"), "old");
        cJSON_Delete(o);
    }
    expect_empty(c);
    assert_int_equal(f->n_jobs, 0);
    fake_cleanup(f);
}

/* Messages after since were pruned: recovered:false, delivery from the
 * oldest stored one. */
static void test_since_lost(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    cJSON *o = NULL;
    struct seen s;

    default_hub(f);
    stored_topic(f, "t", 6, 10, 4); /* 1..5 are gone */
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":2}");
    assert_true(fake_pending(c));
    fake_complete(f, 1);
    o = expect_ok(f, c, 2);
    assert_int_equal(json_int(o, "seq"), 10);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "recovered")));
    cJSON_Delete(o);
    memset(&s, 0, sizeof(s));
    collect(f, c, "t", &s);
    assert_seqs(&s, 6, 10);

    /* since:5 needs 6.., which is stored: recovered; c has them */
    memset(&s, 0, sizeof(s));
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\",\"since\":5}");
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_int_equal(s.n_seq, 0);
    /* a new connection: the ring holds 6..10 now (read back from the
     * store) or the store answers; either way nothing was lost */
    c = hello(f, "c2");
    memset(&s, 0, sizeof(s));
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\",\"since\":5}");
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_int_equal(s.oks[0], 3);
    assert_seqs(&s, 6, 10);
    fake_cleanup(f);
}

/* A re-sub while a store replay is under way replaces it without a gap
 * (the new since is later than what the first still owed) and without a
 * repeat (then an earlier since, once the first was delivered). */
static void test_resub_during_replay(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct seen s;

    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":3}");
    assert_true(fake_pending(c));
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\",\"since\":8}");
    memset(&s, 0, sizeof(s));
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 2);
    assert_seqs(&s, 4, 10);
    /* everything after 0 again: only 1..3 are new to c */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":4,\"topic\":\"t\",\"since\":0}");
    memset(&s, 0, sizeof(s));
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_seqs(&s, 1, 3);
    /* and a pattern covering it adds nothing */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":5,\"topic\":\"#\",\"history\":50}");
    memset(&s, 0, sizeof(s));
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_int_equal(s.n_seq, 0);
    expect_empty(c);
    fake_cleanup(f);
}

/* Live messages committed while a store replay is under way come right
 * after the replayed ones: no gap, no duplicate. Both completion orders. */
static void test_since_live_during_replay(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct conn *p = NULL;
    struct seen s;

    /* 1. a pub already in the store's queue commits before the page */
    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    p = hello(f, "pub");
    c = hello(f, "c");
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":11}");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":3}");
    assert_int_equal(f->n_jobs, 2);
    fake_complete(f, 1); /* seq 11 commits: held for c */
    assert_true(fake_pending(c));
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":12}");
    fake_complete(f, 1); /* the AFTER page */
    memset(&s, 0, sizeof(s));
    collect(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_seqs(&s, 4, 11);
    fake_complete(f, 1); /* seq 12, live */
    collect(f, c, "t", &s);
    assert_seqs(&s, 4, 12);
    expect_empty(c);
    fake_cleanup(f);

    /* 2. the page first, then pubs */
    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    p = hello(f, "pub");
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":3}");
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":11}");
    fake_complete(f, 2);
    memset(&s, 0, sizeof(s));
    collect(f, c, "t", &s);
    assert_seqs(&s, 4, 11);
    fake_cleanup(f);
}

/* A replay of several pages (600 rows), with live messages committed
 * between pages and the client reading as it goes. */
static void test_since_paged_replay(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct conn *p = NULL;
    struct seen s;
    int rounds = 0;
    int pubs = 0;

    default_hub(f);
    stored_topic(f, "t", 1, 600, 8);
    p = hello(f, "pub");
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\",\"since\":0}");
    memset(&s, 0, sizeof(s));
    for (rounds = 0; rounds < 1000 && (f->n_jobs > 0 || pubs < 5); rounds++) {
        if (pubs < 5) {
            fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":0}");
            pubs++;
        }
        fake_complete(f, 1);
        collect(f, c, "t", &s);
    }
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_int_equal(s.oks[0], 2);
    assert_seqs(&s, 1, 605);
    assert_false(fake_pending(c));
    expect_empty(c);
    fake_cleanup(f);
}

/* Replays are paced by the client's reading: the hub stops fetching
 * pages (store) or copying from the ring once the queue holds enough,
 * and goes on as the client drains. */
static void test_replay_paced(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *c = NULL;
    struct conn *p = NULL;
    struct seen s;
    char *data = NULL;
    int i;

    /* 1. from the store: 1000 rows of 1 KiB */
    default_hub(f);
    stored_topic(f, "t", 1, 1000, 1024);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\","
                    "\"since\":0}");
    fake_complete_all(f); /* the client reads nothing meanwhile */
    assert_int_equal(f->n_jobs, 0);
    assert_true(c->q.count > 1);
    assert_true(c->q.bytes < 600 * 1024); /* about one page, not 1 MiB */
    assert_int_equal(c->close_code, 0);
    memset(&s, 0, sizeof(s));
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_seqs(&s, 1, 1000);
    fake_cleanup(f);

    /* 2. from the recent ring: 60 messages of 16 KiB */
    fake_config(&cfg);
    cfg.persist = false;
    cfg.recent_bytes = 2u << 20;
    fake_init(f, &cfg);
    p = hello(f, "p");
    data = malloc(16 * 1024 + 3);
    assert_non_null(data);
    memset(data, 'x', 16 * 1024 + 2);
    data[0] = '"';
    data[16 * 1024 + 1] = '"';
    data[16 * 1024 + 2] = '\0';
    for (i = 0; i < 60; i++)
        fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":%s}",
                  data);
    free(data);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\","
                    "\"since\":0}");
    assert_true(c->q.count < 40);
    assert_true(c->q.bytes < 400 * 1024);
    memset(&s, 0, sizeof(s));
    pump(f, c, "t", &s);
    assert_seqs(&s, 1, 60);
    fake_cleanup(f);
}

/* A pattern with since covers every matching topic. */
static void test_since_pattern(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct seen sa;
    struct seen sb;
    cJSON *o = NULL;

    default_hub(f);
    stored_topic(f, "room/a", 1, 4, 4);
    stored_topic(f, "room/b", 3, 6, 4); /* 1, 2 pruned */
    stored_topic(f, "other/c", 1, 4, 4);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"room/+\","
                     "\"since\":0}");
    fake_complete_all(f);
    o = expect_ok(f, c, 2);
    assert_false(json_has(o, "seq"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "recovered")));
    cJSON_Delete(o);
    /* both topics replayed, each in order; nothing from other/c */
    memset(&sa, 0, sizeof(sa));
    memset(&sb, 0, sizeof(sb));
    while (!fake_empty(c) && !fake_pending(c)) {
        o = fake_pop(f, c);
        assert_string_equal(json_str(o, "op"), "msg");
        if (strcmp(json_str(o, "topic"), "room/a") == 0)
            sa.seqs[sa.n_seq++] = json_int(o, "seq");
        else if (strcmp(json_str(o, "topic"), "room/b") == 0)
            sb.seqs[sb.n_seq++] = json_int(o, "seq");
        else
            fail_msg("unexpected topic %s", json_str(o, "topic"));
        cJSON_Delete(o);
    }
    assert_seqs(&sa, 1, 4);
    assert_seqs(&sb, 3, 6);
    fake_cleanup(f);
}

/* p publishes seqs from..to of topic; c, subscribed, receives each live. */
static void pub_live(struct fake *f, struct conn *p, struct conn *c,
                     const char *topic, int64_t from, int64_t to)
{
    int64_t i;

    for (i = from; i <= to; i++) {
        pub_commit(f, p, topic, "1");
        expect_msg_only(f, c, topic, i);
    }
}

/*
 * At most once per connection, also across `since`: c already receives
 * room/a live through an exact sub; a pattern sub with since 0 replays
 * only what that sub never sent, then both deliver each new message once.
 */
static void test_since_overlapping_live_sub(void **state)
{
    struct fake *f = *state;
    struct conn *p = NULL;
    struct conn *c = NULL;
    struct seen sa;
    struct seen sb;
    cJSON *o = NULL;
    int i;

    default_hub(f);
    p = hello(f, "pub");
    c = hello(f, "c");
    for (i = 1; i <= 3; i++)
        pub_commit(f, p, "room/a", "1");
    sub_ok_only(f, c, 2, "room/a", 3);
    pub_live(f, p, c, "room/a", 4, 6);
    pub_commit(f, p, "room/b", "1");
    expect_empty(c);

    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"room/+\","
                     "\"since\":0}");
    fake_complete_all(f);
    o = expect_ok(f, c, 3);
    assert_false(json_has(o, "recovered"));
    cJSON_Delete(o);
    memset(&sa, 0, sizeof(sa));
    memset(&sb, 0, sizeof(sb));
    while (!fake_empty(c) && !fake_pending(c)) {
        o = fake_pop(f, c);
        assert_string_equal(json_str(o, "op"), "msg");
        if (strcmp(json_str(o, "topic"), "room/a") == 0)
            sa.seqs[sa.n_seq++] = json_int(o, "seq");
        else
            sb.seqs[sb.n_seq++] = json_int(o, "seq");
        cJSON_Delete(o);
    }
    assert_seqs(&sa, 1, 3); /* 4..6 came live already */
    assert_seqs(&sb, 1, 1); /* nothing of room/b came before */

    /* new messages: once each, through either sub */
    pub_commit(f, p, "room/a", "1");
    expect_msg_only(f, c, "room/a", 7);
    pub_commit(f, p, "room/b", "1");
    expect_msg_only(f, c, "room/b", 2);
    expect_empty(c);
    fake_cleanup(f);
}

/* The same with the store: the replay's pages stop before the live run,
 * and a live message published while the replay runs comes once, after
 * it. */
static void test_since_overlapping_from_store(void **state)
{
    struct fake *f = *state;
    struct conn *p = NULL;
    struct conn *c = NULL;
    struct seen s;
    int i;

    default_hub(f);
    stored_topic(f, "t/x", 1, 100, 4); /* older than the ring */
    p = hello(f, "pub");
    c = hello(f, "c");
    sub_ok_only(f, c, 2, "t/x", 100);
    pub_live(f, p, c, "t/x", 101, 103);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t/#\","
                     "\"since\":90}");
    /* live while the replay waits for the store: held, then once */
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t/x\",\"data\":1}");
    memset(&s, 0, sizeof(s));
    pump(f, c, "t/x", &s);
    assert_int_equal(s.n_ok, 1);
    assert_int_equal(s.oks[0], 3);
    /* 91..100 replayed, 101..103 not again, then 104 live */
    assert_int_equal(s.n_seq, 11);
    for (i = 0; i < 10; i++)
        assert_int_equal(s.seqs[i], 91 + i);
    assert_int_equal(s.seqs[10], 104);
    expect_empty(c);
    fake_cleanup(f);
}

/* Without another sub delivering the topic live, `since` replays all of
 * it, also what an earlier (since ended) sub had sent. */
static void test_since_after_unsub_replays(void **state)
{
    struct fake *f = *state;
    struct conn *p = NULL;
    struct conn *c = NULL;
    struct seen s;

    default_hub(f);
    p = hello(f, "pub");
    c = hello(f, "c");
    sub_ok_only(f, c, 2, "t", 0);
    pub_live(f, p, c, "t", 1, 3);
    fake_send(f, c, "{\"op\":\"unsub\",\"id\":3,\"topic\":\"t\"}");
    cJSON_Delete(expect_ok(f, c, 3));
    pub_commit(f, p, "t", "1");
    expect_empty(c);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":4,\"topic\":\"t\","
                     "\"since\":0}");
    memset(&s, 0, sizeof(s));
    pump(f, c, "t", &s);
    assert_int_equal(s.n_ok, 1);
    assert_seqs(&s, 1, 4);
    fake_cleanup(f);
}

/*
 * The rings of all topics together stay under recent_memory: the least
 * recently published topic loses its ring first, and recovering it then
 * reads the store, while the busy topic is still served from memory.
 */
static void test_recent_memory_bound(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *p = NULL;
    struct conn *c = NULL;
    struct seen s;
    uint64_t one = 0;
    int i;

    fake_config(&cfg);
    cfg.recent_memory = 1024;
    fake_init(f, &cfg);
    p = hello(f, "pub");
    c = hello(f, "c");
    pub_commit(f, p, "quiet", "1");
    one = hub_get_stats(f->hub)->recent_bytes;
    assert_true(one > 0 && one < 256);
    for (i = 2; i <= 3; i++)
        pub_commit(f, p, "quiet", "1");
    for (i = 1; i <= 200; i++) {
        pub_commit(f, p, "busy", "1");
        assert_true(hub_get_stats(f->hub)->recent_bytes <= 1024);
    }
    /* busy: recent, from memory, no store read */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"busy\","
                     "\"since\":199}");
    assert_int_equal(f->n_jobs, 0);
    cJSON_Delete(expect_ok(f, c, 2));
    expect_msg_only(f, c, "busy", 200);
    /* quiet: its ring went to make room; the store still has it all */
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"quiet\","
                     "\"since\":0}");
    assert_true(f->n_jobs > 0);
    memset(&s, 0, sizeof(s));
    pump(f, c, "quiet", &s);
    assert_int_equal(s.n_ok, 1);
    assert_seqs(&s, 1, 3);
    fake_cleanup(f);
}

/* ---- history op ------------------------------------------------------- */

static void expect_history(struct fake *f, struct conn *c, int64_t id,
                           int64_t first, int64_t last)
{
    cJSON *o = expect_ok(f, c, id);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "messages");
    const cJSON *it = NULL;
    int64_t want = first;

    assert_string_equal(json_str(o, "topic"), "t");
    assert_true(cJSON_IsArray(arr));
    cJSON_ArrayForEach(it, arr) {
        assert_int_equal(json_int(it, "seq"), want);
        assert_int_equal(json_int(it, "ts"), FAKE_T0);
        assert_string_equal(json_str(it, "from"), "old");
        assert_true(json_has(it, "data"));
        want++;
    }
    assert_int_equal(want, last + 1);
    cJSON_Delete(o);
}

static void test_history_op(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct store_job *job = NULL;

    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    c = hello(f, "c");

    fake_send(f, c, "{\"op\":\"history\",\"id\":5,\"topic\":\"t\","
                     "\"limit\":3}");
    assert_true(fake_pending(c));
    assert_int_equal(f->n_jobs, 1);
    job = fake_job(f, 0);
    assert_int_equal(job->kind, STORE_JOB_BEFORE);
    assert_int_equal(job->before, 0);
    assert_int_equal(job->limit, 3);
    /* reply order: the ping's ok waits behind history's */
    fake_send(f, c, "{\"op\":\"ping\",\"id\":6}");
    assert_true(fake_pending(c));
    assert_int_equal(c->q.count, 2);
    fake_complete(f, 1);
    expect_history(f, c, 5, 8, 10);
    expect_ok_only(f, c, 6);
    expect_empty(c);

    fake_send(f, c, "{\"op\":\"history\",\"id\":7,\"topic\":\"t\","
                     "\"before\":9,\"limit\":3}");
    assert_int_equal(fake_job(f, 0)->before, 9);
    fake_complete(f, 1);
    expect_history(f, c, 7, 6, 8);

    /* default limit 50 covers all ten; > 1000 is treated as 1000 */
    fake_send(f, c, "{\"op\":\"history\",\"id\":8,\"topic\":\"t\"}");
    assert_int_equal(fake_job(f, 0)->limit, 50);
    fake_complete(f, 1);
    expect_history(f, c, 8, 1, 10);
    fake_send(f, c, "{\"op\":\"history\",\"id\":9,\"topic\":\"t\","
                     "\"limit\":5000}");
    assert_int_equal(fake_job(f, 0)->limit, 1000);
    fake_complete(f, 1);
    expect_history(f, c, 9, 1, 10);

    /* an unknown topic: empty at once */
    fake_send(f, c, "{\"op\":\"history\",\"id\":10,\"topic\":\"none\"}");
    assert_int_equal(f->n_jobs, 0);
    {
        cJSON *o = expect_ok(f, c, 10);

        assert_int_equal(
            cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")), 0);
        cJSON_Delete(o);
    }

    /* a store error answers the history command with an error */
    fake_send(f, c, "{\"op\":\"history\",\"id\":11,\"topic\":\"t\"}");
    fake_send(f, c, "{\"op\":\"ping\",\"id\":12}");
    fake_fail(f, PL_ERR_INTERNAL);
    expect_error(f, c, 11, "internal");
    expect_ok_only(f, c, 12);
    expect_empty(c);
    fake_cleanup(f);
}

/* ---- limits ----------------------------------------------------------- */

/* A connection that never drains is culled with 4008; another one,
 * reading as it goes, gets everything. */
static void test_slow_consumer(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *slow = NULL;
    struct conn *fast = NULL;
    struct conn *p = NULL;
    struct seen s;
    int i;

    fake_config(&cfg);
    cfg.queue_bytes = 4096;
    fake_init(f, &cfg);
    slow = hello(f, "slow");
    fast = hello(f, "fast");
    p = hello(f, "pub");
    sub_ok_only(f, slow, 2, "t", 0);
    sub_ok_only(f, fast, 2, "t", 0);
    memset(&s, 0, sizeof(s));
    for (i = 1; i <= 200; i++) {
        fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":"
                         "\"0123456789012345678901234567890123456789"
                         "0123456789012345678901234567890123456789\"}");
        fake_complete(f, 1);
        collect(f, fast, "t", &s);
        if (slow->close_code == 0)
            assert_true(slow->q.bytes <= cfg.queue_bytes);
    }
    assert_int_equal(slow->close_code, 4008);
    assert_int_equal(slow->q.count, 0);   /* its queue was dropped */
    assert_int_equal(slow->q.bytes, 0);
    assert_true(f->wakes > 0);
    assert_int_equal(hub_get_stats(f->hub)->slow_consumers, 1);
    assert_true(hub_get_stats(f->hub)->queue_drops > 0);
    assert_int_equal(fast->close_code, 0);
    assert_seqs(&s, 1, 200);
    /* a culled connection takes no more commands */
    fake_send(f, slow, "{\"op\":\"ping\",\"id\":9}");
    expect_empty(slow);
    hub_conn_close(f->hub, &slow);
    pub_commit(f, p, "t", "1");
    collect(f, fast, "t", &s);
    assert_seqs(&s, 1, 201);
    fake_cleanup(f);
}

static void test_max_subs(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *c = NULL;

    fake_config(&cfg);
    cfg.max_subs = 3;
    fake_init(f, &cfg);
    c = hello(f, "c");
    sub_ok_only(f, c, 2, "a", 0);
    sub_ok_only(f, c, 3, "b/+", -1);
    sub_ok_only(f, c, 4, "c", 0);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":5,\"topic\":\"d\"}");
    expect_error(f, c, 5, "overloaded");
    /* re-subscribing an existing one is not a new subscription */
    sub_ok_only(f, c, 6, "a", 0);
    fake_send(f, c, "{\"op\":\"unsub\",\"id\":7,\"topic\":\"b/+\"}");
    expect_ok_only(f, c, 7);
    sub_ok_only(f, c, 8, "d", 0);
    assert_int_equal(c->n_subs, 3);
    fake_cleanup(f);
}

static void test_rate_limit(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *c = NULL;

    fake_config(&cfg);
    cfg.persist = false;
    cfg.rate = 1.0;
    cfg.burst = 2.0;
    fake_init(f, &cfg);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"pub\",\"id\":2,\"topic\":\"t\",\"data\":1}");
    cJSON_Delete(expect_ok(f, c, 2));
    fake_send(f, c, "{\"op\":\"pub\",\"id\":3,\"topic\":\"t\",\"data\":1}");
    cJSON_Delete(expect_ok(f, c, 3));
    fake_send(f, c, "{\"op\":\"pub\",\"id\":4,\"topic\":\"t\",\"data\":1}");
    expect_error(f, c, 4, "rate_limited");
    f->now += 1000;
    fake_send(f, c, "{\"op\":\"pub\",\"id\":5,\"topic\":\"t\",\"data\":1}");
    cJSON_Delete(expect_ok(f, c, 5));
    fake_cleanup(f);
}

/* Past store_pending_max pending jobs, pub is overloaded. */
static void test_store_backpressure(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *c = NULL;

    fake_config(&cfg);
    cfg.store_pending_max = 2;
    fake_init(f, &cfg);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"pub\",\"id\":2,\"topic\":\"t\",\"data\":1}");
    fake_send(f, c, "{\"op\":\"pub\",\"id\":3,\"topic\":\"t\",\"data\":1}");
    fake_send(f, c, "{\"op\":\"pub\",\"id\":4,\"topic\":\"t\",\"data\":1}");
    assert_int_equal(f->n_jobs, 2);
    expect_error(f, c, 4, "overloaded");
    fake_complete_all(f);
    cJSON_Delete(expect_ok(f, c, 2));
    cJSON_Delete(expect_ok(f, c, 3));
    fake_send(f, c, "{\"op\":\"pub\",\"id\":5,\"topic\":\"t\",\"data\":1}");
    fake_complete(f, 1);
    cJSON_Delete(expect_ok(f, c, 5));
    fake_cleanup(f);
}

/* A failed commit: the publisher gets `internal`, nobody sees the
 * message, and no seq was used. */
static void test_store_error(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    cJSON *o = NULL;

    default_hub(f);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, a, 2, "t", 0);
    sub_ok_only(f, b, 2, "t", 0);
    fake_send(f, b, "{\"op\":\"pub\",\"id\":3,\"topic\":\"t\",\"data\":1}");
    fake_send(f, b, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":1}");
    fake_fail(f, PL_ERR_INTERNAL);
    expect_error(f, b, 3, "internal");
    expect_empty(a);
    expect_empty(b);
    fake_fail(f, PL_ERR_INTERNAL); /* without id: error with id null */
    expect_error(f, b, 0, "internal");
    expect_empty(a);
    assert_int_equal(hub_get_stats(f->hub)->publish_failures, 2);
    fake_send(f, b, "{\"op\":\"pub\",\"id\":4,\"topic\":\"t\",\"data\":2}");
    fake_complete(f, 1);
    expect_msg_only(f, a, "t", 1);
    expect_empty(a);
    expect_msg_only(f, b, "t", 1);
    o = expect_ok(f, b, 4);
    assert_int_equal(json_int(o, "seq"), 1);
    cJSON_Delete(o);
    fake_cleanup(f);
}

/* hub_store_done_some() stops after about `budget` bytes and returns the
 * rest; fed in again, the rest is handled as if in one go. */
static void test_store_done_some(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *p = NULL;
    struct store_job *rest = NULL;
    struct seen s;
    int i;
    int rounds = 0;

    default_hub(f);
    a = hello(f, "alice");
    p = hello(f, "pub");
    sub_ok_only(f, a, 2, "t", 0);
    for (i = 1; i <= 10; i++)
        fake_send(f, p, "{\"op\":\"pub\",\"id\":%d,\"topic\":\"t\","
                        "\"data\":\"0123456789012345678901234567890123"
                        "4567890123456789\"}", i + 10);
    rest = fake_finish(f, 10);
    memset(&s, 0, sizeof(s));
    while (rest != NULL && rounds++ < 20) {
        size_t before = s.n_seq;

        rest = hub_store_done_some(f->hub, rest, 200);
        collect(f, a, "t", &s);
        /* a budget of 200 bytes lets a few jobs through, never all */
        assert_true(s.n_seq > before);
        if (rest != NULL)
            assert_true(s.n_seq < 10);
    }
    assert_null(rest);
    assert_true(rounds > 1);
    assert_seqs(&s, 1, 10);
    memset(&s, 0, sizeof(s));
    collect(f, p, "none", &s);
    assert_int_equal(s.n_ok, 10);
    for (i = 0; i < 10; i++)
        assert_int_equal(s.oks[i], 11 + i);
    fake_cleanup(f);
}

/* ---- HTTP API --------------------------------------------------------- */

static void test_http_publish(void **state)
{
    static const struct {
        const char *body;
        int status;
        const char *code;
    } bad[] = {
        { "", 400, "bad_json" },
        { "   ", 400, "bad_json" },
        { "not json", 400, "bad_json" },
        { "{not json", 400, "bad_json" },
        { "[1,2]", 400, "bad_request" },
        { "{}", 400, "bad_request" },
        { " { } ", 400, "bad_request" },
        { "{\"topic\":\"a\"}", 400, "bad_request" },
        { "{\"data\":1}", 400, "bad_request" },
        { "{\"topic\":\"a/+\",\"data\":1}", 400, "invalid_topic" },
        { "{\"topic\":\"a//b\",\"data\":1}", 400, "invalid_topic" },
        { "{\"topic\":7,\"data\":1}", 400, "bad_request" },
        { "{\"topic\":\"a\",\"data\":1,\"key\":\"\"}", 400, "bad_request" },
        { "{\"topic\":\"$SYS/x\",\"data\":1}", 403, "forbidden" },
    };
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *h = NULL;
    cJSON *o = NULL;
    size_t i;

    default_hub(f);
    a = hello(f, "alice");
    sub_ok_only(f, a, 2, "sensors/#", -1);

    h = fake_request(f);
    assert_non_null(h);
    {
        const char *body = "{\"topic\":\"sensors/t1\",\"data\":21.5,"
                           "\"retain\":true,\"key\":\"t1-000042\"}";

        fake_request_publish(f, h, body);
    }
    assert_int_equal(f->http_calls, 0); /* waits for durability */
    assert_int_equal(f->n_jobs, 1);
    assert_string_equal(fake_job(f, 0)->from, "http");
    expect_empty(a);
    fake_complete(f, 1);
    assert_true(fake_take_reply(f, h));
    assert_int_equal(f->http_calls, 1);
    assert_ptr_equal(f->http_conn, h);
    assert_int_equal(f->http_status, 200);
    o = cJSON_Parse(f->http_body);
    assert_non_null(o);
    assert_string_equal(json_str(o, "topic"), "sensors/t1");
    assert_int_equal(json_int(o, "seq"), 1);
    assert_false(json_has(o, "duplicate"));
    cJSON_Delete(o);
    o = expect_msg(f, a, "sensors/t1", 1);
    assert_string_equal(json_str(o, "from"), "http");
    assert_true(cJSON_GetObjectItem(o, "data")->valuedouble == 21.5);
    cJSON_Delete(o);
    hub_conn_close(f->hub, &h);

    /* the same key again: the original seq, duplicate:true */
    h = fake_request(f);
    {
        const char *body = "{\"topic\":\"sensors/t1\",\"data\":21.5,"
                           "\"key\":\"t1-000042\"}";

        fake_request_publish(f, h, body);
    }
    fake_complete(f, 1);
    assert_true(fake_take_reply(f, h));
    assert_int_equal(f->http_status, 200);
    o = cJSON_Parse(f->http_body);
    assert_non_null(o);
    assert_int_equal(json_int(o, "seq"), 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "duplicate")));
    cJSON_Delete(o);
    expect_empty(a);
    hub_conn_close(f->hub, &h);

    /* bad bodies: answered at once, nothing submitted */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned calls = f->http_calls;

        h = fake_request(f);
        fake_request_publish(f, h, bad[i].body);
        if (f->http_calls != calls + 1)
            fail_msg("body '%s': http_done called %u times", bad[i].body,
                     f->http_calls - calls);
        if (f->http_status != bad[i].status)
            fail_msg("body '%s': status %d, want %d", bad[i].body,
                     f->http_status, bad[i].status);
        o = cJSON_Parse(f->http_body);
        assert_non_null(o);
        if (strcmp(json_str(o, "error"), bad[i].code) != 0)
            fail_msg("body '%s': error %s, want %s", bad[i].body,
                     json_str(o, "error"), bad[i].code);
        assert_non_null(json_str(o, "message"));
        cJSON_Delete(o);
        assert_int_equal(f->n_jobs, 0);
        hub_conn_close(f->hub, &h);
    }

    /* a store failure is a 500 with `internal` */
    h = fake_request(f);
    {
        const char *body = "{\"topic\":\"sensors/t2\",\"data\":1}";

        fake_request_publish(f, h, body);
    }
    fake_fail(f, PL_ERR_INTERNAL);
    assert_true(fake_take_reply(f, h));
    assert_int_equal(f->http_status, 500);
    o = cJSON_Parse(f->http_body);
    assert_non_null(o);
    assert_string_equal(json_str(o, "error"), "internal");
    cJSON_Delete(o);
    expect_empty(a);
    hub_conn_close(f->hub, &h);
    fake_cleanup(f);
}

static void test_http_history(void **state)
{
    struct fake *f = *state;
    static char topic[] = "t";
    static char unused[] = "never";
    struct pl_cmd cmd;
    struct conn *h = NULL;
    cJSON *o = NULL;

    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    h = fake_request(f);
    /* GET /api/history?topic=t&before=9&limit=3, as http.c sends it */
    memset(&cmd, 0, sizeof(cmd));
    cmd.op = PL_OP_HISTORY;
    cmd.id = 1;
    cmd.topic = topic;
    cmd.topic_len = 1;
    cmd.has_before = true;
    cmd.before = 9;
    cmd.limit = 3;
    hub_conn_cmd(f->hub, h, &cmd);
    assert_false(fake_take_reply(f, h)); /* waits for the store */
    assert_int_equal(f->http_calls, 0);
    fake_complete(f, 1);
    assert_true(fake_take_reply(f, h));
    assert_int_equal(f->http_status, 200);
    o = cJSON_Parse(f->http_body);
    assert_non_null(o);
    assert_string_equal(json_str(o, "topic"), "t");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")),
                     3);
    assert_int_equal(
        json_int(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "messages"), 0),
                 "seq"), 6);
    cJSON_Delete(o);
    hub_conn_close(f->hub, &h);

    /* a topic nobody used: answered at once, nothing stored to read */
    h = fake_request(f);
    cmd.topic = unused;
    cmd.topic_len = strlen(unused);
    hub_conn_cmd(f->hub, h, &cmd);
    assert_int_equal(f->n_jobs, 0);
    assert_true(fake_take_reply(f, h));
    assert_int_equal(f->http_status, 200);
    assert_string_equal(f->http_body, "{\"topic\":\"never\",\"messages\":[]}");
    hub_conn_close(f->hub, &h);
    fake_cleanup(f);
}

/* ---- auth gate (without tokens) --------------------------------------- */

static void test_auth_required(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *c = NULL;
    struct conn *h = NULL;

    fake_config(&cfg);
    cfg.secret = "s3cret";
    cfg.secret_len = 6;
    fake_init(f, &cfg);
    assert_true(hub_auth_enabled(f->hub));
    c = fake_open(f);
    fake_send(f, c, "{\"op\":\"ping\",\"id\":1}");
    expect_error(f, c, 1, "unauthorized");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t\"}");
    expect_error(f, c, 2, "unauthorized");
    fake_send(f, c, "{\"op\":\"hello\",\"id\":3,\"name\":\"x\"}");
    expect_error(f, c, 3, "unauthorized");
    fake_send(f, c, "{\"op\":\"hello\",\"id\":4,\"token\":\"a.b.c\"}");
    expect_error(f, c, 4, "unauthorized");
    assert_int_equal(hub_conn_token(f->hub, c, "garbage"),
                     PL_ERR_UNAUTHORIZED);
    h = fake_request(f);
    {
        const char *body = "{\"topic\":\"t\",\"data\":1}";

        fake_request_publish(f, h, body);
    }
    assert_int_equal(f->http_status, 401);
    hub_conn_close(f->hub, &h);
    assert_int_equal(f->n_jobs, 0);
    fake_cleanup(f);
}

/* ---- lifetimes -------------------------------------------------------- */

/* A connection that goes away with jobs in flight: the completions find
 * nothing to answer, the pub still reaches the others, nothing leaks. */
static void test_close_with_pending(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;

    default_hub(f);
    stored_topic(f, "t", 1, 10, 4);
    a = hello(f, "alice");
    b = hello(f, "bob");
    sub_ok_only(f, b, 2, "t", 10);
    fake_send(f, a, "{\"op\":\"history\",\"id\":2,\"topic\":\"t\"}");
    fake_send(f, a, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\","
                     "\"since\":1}");
    fake_send(f, a, "{\"op\":\"pub\",\"id\":4,\"topic\":\"t\","
                     "\"data\":1}");
    assert_int_equal(f->n_jobs, 3);
    hub_conn_close(f->hub, &a);
    assert_null(a);
    fake_complete_all(f);
    expect_msg_only(f, b, "t", 11);
    expect_empty(b);
    /* the connection's id is never found again */
    assert_int_equal(hub_get_stats(f->hub)->connections, 1);
    fake_cleanup(f);
}

/* Subscribing to and leaving random names does not keep topics. */
static void test_idle_topics_forgotten(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    char topic[32];
    int i;

    default_hub(f);
    c = hello(f, "c");
    for (i = 0; i < 100; i++) {
        snprintf(topic, sizeof(topic), "rnd/%d", i);
        fake_send(f, c, "{\"op\":\"sub\",\"topic\":\"%s\","
                         "\"presence\":true}", topic);
    }
    assert_int_equal(hub_get_stats(f->hub)->topics, 100);
    assert_int_equal(hub_get_stats(f->hub)->subscriptions, 100);
    for (i = 0; i < 50; i++) {
        snprintf(topic, sizeof(topic), "rnd/%d", i);
        fake_send(f, c, "{\"op\":\"unsub\",\"topic\":\"%s\"}", topic);
    }
    assert_int_equal(hub_get_stats(f->hub)->topics, 50);
    hub_conn_close(f->hub, &c);
    assert_int_equal(hub_get_stats(f->hub)->topics, 0);
    assert_int_equal(hub_get_stats(f->hub)->subscriptions, 0);
    fake_cleanup(f);
}

static void test_close_all(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct conn *h = NULL;

    default_hub(f);
    a = fake_open(f);
    b = fake_open(f);
    h = fake_request(f);
    hub_close_all(f->hub, 1001);
    assert_int_equal(a->close_code, 1001);
    assert_int_equal(b->close_code, 1001);
    assert_int_equal(h->close_code, 0);
    assert_ptr_equal(hub_conn_find(f->hub, a->id), a);
    fake_cleanup(f);
}

/* ---- regressions ------------------------------------------------------- */

/*
 * Regression (fixed bug 1) (deadlock). A `sub` reply placeholder that
 * waits for a later replay's first page sits in the out-queue in front
 * of the paced pages of an earlier replay. Once those pages reach
 * REPLAY_LOW_BYTES the earlier replay stops, the writer stops at the
 * placeholder, and the later replay never starts: the connection
 * receives nothing ever again.
 * Spec: "since: first deliver, in order, every stored message with
 * seq > since, then live messages"; "The reply comes before any message
 * that the sub delivers."
 * Case a: one pattern sub whose two topics both need the store.
 */
static void test_bug_pattern_since_deadlock(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct seen sa;

    default_hub(f);
    stored_topic(f, "big/a", 1, 300, 1024);
    stored_topic(f, "big/b", 1, 300, 1024);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"big/+\","
                     "\"since\":0}");
    memset(&sa, 0, sizeof(sa));
    pump(f, c, "big/a", &sa);
    if (fake_pending(c))
        fail_msg("stuck: the sub reply is still a placeholder, %u frames "
                 "(%zu bytes) queued behind it, no store job pending",
                 c->q.count, c->q.bytes);
    assert_int_equal(sa.n_ok, 1);
    assert_seqs(&sa, 1, 300);
    fake_cleanup(f);
}

/* Regression (fixed bug 1), case b: two subs with since on two concrete
 * topics, sent back to back (a client reconnecting to two rooms). */
static void test_bug_two_since_subs_deadlock(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct seen sa;

    default_hub(f);
    stored_topic(f, "room/a", 1, 300, 1024);
    stored_topic(f, "room/b", 1, 5, 16);
    c = hello(f, "c");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"room/a\","
                     "\"since\":0}");
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"room/b\","
                     "\"since\":0}");
    memset(&sa, 0, sizeof(sa));
    pump(f, c, "room/a", &sa);
    if (fake_pending(c))
        fail_msg("stuck: sub 3's reply is still a placeholder, %u frames "
                 "(%zu bytes) queued behind it, no store job pending",
                 c->q.count, c->q.bytes);
    assert_int_equal(sa.n_ok, 2);
    assert_seqs(&sa, 1, 300);
    assert_int_equal(sa.others, 5); /* room/b's five */
    fake_cleanup(f);
}

/*
 * Regression (fixed bug 2) (gap). unsub of a concrete topic drops *every*
 * replay of that topic on the connection (sub_remove ->
 * replay_drop_topic), also the one a still-active pattern subscription
 * with `since` started. The
 * stored messages it was about to deliver and the live ones it held are
 * lost. Spec: "since: first deliver, in order, every stored message with
 * seq > since, then live messages, with no gap and no duplicate".
 */
static void test_bug_unsub_drops_pattern_replay(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct conn *p = NULL;
    struct seen s;

    default_hub(f);
    stored_topic(f, "chat/a", 1, 5, 4);
    p = hello(f, "pub");
    c = hello(f, "c");
    sub_ok_only(f, c, 2, "chat/a", 5);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"chat/#\","
                     "\"since\":0}");
    fake_send(f, c, "{\"op\":\"unsub\",\"id\":4,\"topic\":\"chat/a\"}");
    memset(&s, 0, sizeof(s));
    pump(f, c, "chat/a", &s);
    pub_commit(f, p, "chat/a", "6");
    collect(f, c, "chat/a", &s);
    assert_int_equal(s.n_ok, 2);
    assert_int_equal(s.oks[0], 3);
    assert_int_equal(s.oks[1], 4);
    assert_seqs(&s, 1, 6);
    fake_cleanup(f);
}

/*
 * Regression (fixed bug 3) (wrong 4008). Replay frames (paced `since`/`history`
 * messages, and a filled history reply) stay in c->q.bytes, and the
 * bound check for every later non-paced frame counts them, so a client
 * that just asked for a replay is culled as a slow consumer by the next
 * live message. Spec: "Replays for since and history are paced by how
 * fast the client reads and do not count toward the bound."
 */
static void test_bug_replay_counts_toward_bound(void **state)
{
    struct fake *f = *state;
    struct hub_config cfg;
    struct conn *c = NULL;
    struct conn *h = NULL;
    struct conn *p = NULL;
    struct seen s;
    char data[1100];
    int i;

    fake_config(&cfg);
    cfg.persist = false;      /* the recent ring serves the replay */
    cfg.queue_bytes = 16384;
    fake_init(f, &cfg);
    p = hello(f, "pub");
    memset(data, 'x', 1000);
    data[0] = '"';
    data[999] = '"';
    data[1000] = '\0';
    for (i = 0; i < 40; i++) /* 40 KB in the ring of t */
        fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"t\",\"data\":%s}",
                  data);
    c = hello(f, "c");
    sub_ok_only(f, c, 2, "other", 0);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\","
                     "\"since\":0}");
    /* one small live message before the client had a chance to read */
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"other\",\"data\":1}");
    h = hello(f, "h");
    sub_ok_only(f, h, 2, "other", 1);
    fake_send(f, h, "{\"op\":\"sub\",\"id\":3,\"topic\":\"t\","
                     "\"history\":40}");
    fake_send(f, p, "{\"op\":\"pub\",\"topic\":\"other\",\"data\":2}");
    if (c->close_code != 0 || h->close_code != 0)
        fail_msg("culled: c with %d, h with %d, right after a replay",
                 c->close_code, h->close_code);
    memset(&s, 0, sizeof(s));
    collect(f, c, "t", &s);
    assert_seqs(&s, 1, 40);
    assert_int_equal(s.others, 2); /* other's seq 1 and 2 */
    fake_cleanup(f);
}

/* Each test gets a zeroed struct fake in *state; the teardown frees
 * whatever a failed test left behind, so one failure does not cascade. */
#define HUB_TEST(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, \
                                                     fake_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_hello),
        HUB_TEST(test_bad_commands),
        HUB_TEST(test_pub_roundtrip_persist),
        HUB_TEST(test_pub_key_duplicate),
        HUB_TEST(test_persist_false),
        HUB_TEST(test_ephemeral),
        HUB_TEST(test_overlapping_patterns_once),
        HUB_TEST(test_retained),
        HUB_TEST(test_dollar_topics),
        HUB_TEST(test_presence),
        HUB_TEST(test_chat_edit_delete),
        HUB_TEST(test_chat_markers),
        HUB_TEST(test_chat_without_store),
        HUB_TEST(test_since_from_ring),
        HUB_TEST(test_since_from_store),
        HUB_TEST(test_since_lost),
        HUB_TEST(test_since_live_during_replay),
        HUB_TEST(test_resub_during_replay),
        HUB_TEST(test_since_paged_replay),
        HUB_TEST(test_replay_paced),
        HUB_TEST(test_since_pattern),
        HUB_TEST(test_since_overlapping_live_sub),
        HUB_TEST(test_since_overlapping_from_store),
        HUB_TEST(test_since_after_unsub_replays),
        HUB_TEST(test_recent_memory_bound),
        HUB_TEST(test_history_op),
        HUB_TEST(test_slow_consumer),
        HUB_TEST(test_max_subs),
        HUB_TEST(test_rate_limit),
        HUB_TEST(test_store_backpressure),
        HUB_TEST(test_store_error),
        HUB_TEST(test_store_done_some),
        HUB_TEST(test_http_publish),
        HUB_TEST(test_http_history),
        HUB_TEST(test_auth_required),
        HUB_TEST(test_close_with_pending),
        HUB_TEST(test_idle_topics_forgotten),
        HUB_TEST(test_close_all),
        HUB_TEST(test_bug_pattern_since_deadlock),
        HUB_TEST(test_bug_two_since_subs_deadlock),
        HUB_TEST(test_bug_unsub_drops_pattern_replay),
        HUB_TEST(test_bug_replay_counts_toward_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
