/*
 * test_hub_shared.c: the hub over a *shared* storage (storage.h's optional
 * ops, as the Redis engine sets them), driven by hand: no Redis, no lws.
 * The fake transport and job FIFO are hub_fake's; the optional ops here
 * record watches and presence calls, and the tests complete the jobs and
 * hand HEARD messages to the hub's listener themselves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hub_fake.h"
#include "hub_internal.h"

struct shared {
    int watches;          /* on minus off */
    int presence_joins;
    int presence_leaves;
    void (*listener)(void *ctx, struct store_job *job);
    void *listener_ctx;
};

static struct shared sh;

static void op_watch(void *engine, const char *pattern, bool is_pattern,
                     bool on)
{
    (void)engine;
    (void)pattern;
    (void)is_pattern;
    sh.watches += on ? 1 : -1;
}

static void op_listen(void *engine, void (*done)(void *, struct store_job *),
                      void *ctx)
{
    (void)engine;
    sh.listener = done;
    sh.listener_ctx = ctx;
}

static void op_presence(void *engine, const char *topic, const char *user,
                        bool join)
{
    (void)engine;
    (void)topic;
    (void)user;
    if (join)
        sh.presence_joins++;
    else
        sh.presence_leaves++;
}

static struct storage_ops shared_ops;

/* The fake's hub, made again over the shared storage. */
static void shared_init(struct fake *f)
{
    struct hub_config cfg;

    memset(&sh, 0, sizeof(sh));
    fake_storage_ops_copy(&shared_ops);
    shared_ops.watch = op_watch;
    shared_ops.listen = op_listen;
    shared_ops.presence = op_presence;
    fake_config(&cfg);
    fake_init(f, &cfg);
    hub_free(&f->hub);
    f->storage.ops = &shared_ops;
    f->storage.engine = f;
    f->hub = hub_new(&cfg, &f->ops, f, &f->storage);
    assert_non_null(f->hub);
    assert_non_null(sh.listener);
}

/* Take the oldest pending job (asserting its kind). */
static struct store_job *take(struct fake *f, enum store_job_kind kind)
{
    struct store_job *job = f->jobs;

    assert_non_null(job);
    assert_int_equal(job->kind, kind);
    f->jobs = job->next;
    job->next = NULL;
    f->n_jobs--;
    return job;
}

/* Answer the oldest job, a STATE, with the topic's latest seq. */
static void answer_state(struct fake *f, int64_t latest)
{
    struct store_job *job = take(f, STORE_JOB_STATE);

    job->last_seq = latest;
    hub_store_done(f->hub, job);
}

/* Hand the hub a message some node stored (or a reset). */
static void hear(const char *topic, int64_t seq, bool reset)
{
    struct store_job *job = store_job_new(STORE_JOB_HEARD, topic);

    assert_non_null(job);
    assert_int_equal(store_job_set_pub(job, "{\"n\":1}", 7, false, false,
                                       "bob", NULL, FAKE_T0),
                     0);
    job->seq = seq;
    job->epoch_reset = reset;
    job->done = sh.listener;
    job->done_ctx = sh.listener_ctx;
    hub_store_done(((struct hub *)sh.listener_ctx), job);
}

/* A sub waits for its topic's state; the replies keep command order. */
static void test_sub_waits_for_state(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    cJSON *ok = NULL;
    int64_t seq = -1;

    shared_init(f);
    c = fake_open(f);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t/a\"}");
    fake_send(f, c, "{\"op\":\"ping\",\"id\":3}");
    assert_true(fake_pending(c)); /* the sub's reply holds its place */
    assert_int_equal(sh.watches, 1);
    answer_state(f, 41);
    ok = expect_ok(f, c, 2);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(ok, "seq")));
    seq = (int64_t)cJSON_GetObjectItem(ok, "seq")->valuedouble;
    assert_int_equal(seq, 41);
    cJSON_Delete(ok);
    expect_ok_only(f, c, 3);
    assert_int_equal(sh.watches, 1); /* the wait's own watch was given back */
    /* A message at or below the state was the state's: not delivered. */
    hear("t/a", 41, false);
    assert_true(fake_empty(c));
    hear("t/a", 42, false);
    cJSON_Delete(expect_msg(f, c, "t/a", 42));
    hub_conn_close(f->hub, &c);
    assert_int_equal(sh.watches, 0);
    fake_cleanup(f);
}

/* A relayed publish only acks: its message comes back as HEARD. */
static void test_relayed_pub_only_acks(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;
    struct store_job *job = NULL;
    cJSON *ok = NULL;

    shared_init(f);
    c = fake_open(f);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t/b\"}");
    answer_state(f, 0);
    cJSON_Delete(expect_ok(f, c, 2));
    fake_send(f, c, "{\"op\":\"pub\",\"id\":3,\"topic\":\"t/b\",\"data\":1}");
    job = take(f, STORE_JOB_PUB);
    job->seq = 1;
    job->relayed = true;
    hub_store_done(f->hub, job);
    ok = expect_ok(f, c, 3);
    cJSON_Delete(ok);
    assert_true(fake_empty(c)); /* no fan-out from the completion */
    hear("t/b", 1, false);
    cJSON_Delete(expect_msg(f, c, "t/b", 1));
    assert_true(fake_empty(c));
    hub_conn_close(f->hub, &c);
    fake_cleanup(f);
}

/* Storage lost the topic: its subscribers are closed with 1001. */
static void test_epoch_reset_closes_subscribers(void **state)
{
    struct fake *f = *state;
    struct conn *c = NULL;

    shared_init(f);
    c = fake_open(f);
    fake_send(f, c, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t/c\"}");
    answer_state(f, 5);
    cJSON_Delete(expect_ok(f, c, 2));
    hear("t/c", 1, true);
    assert_int_equal(c->close_code, 1001);
    hub_conn_close(f->hub, &c);
    fake_cleanup(f);
}

/* Presence goes to the storage; a cluster-wide join comes back once. */
static void test_presence_through_storage(void **state)
{
    struct fake *f = *state;
    struct conn *a = NULL;
    struct conn *b = NULL;
    struct store_job *job = NULL;
    cJSON *j = NULL;

    shared_init(f);
    a = fake_open(f);
    b = fake_open(f);
    fake_send(f, a, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t/p\","
                    "\"presence\":true}");
    answer_state(f, 0);
    cJSON_Delete(expect_ok(f, a, 2));
    assert_int_equal(sh.presence_joins, 1);
    fake_send(f, b, "{\"op\":\"sub\",\"id\":2,\"topic\":\"t/p\","
                    "\"presence\":true}");
    answer_state(f, 0);
    cJSON_Delete(expect_ok(f, b, 2));
    assert_int_equal(sh.presence_joins, 2); /* two users */
    assert_true(fake_empty(a));             /* nothing local: it waits */
    job = store_job_new(STORE_JOB_HEARD, "t/p");
    assert_non_null(job);
    job->from = strdup(b->user);
    job->presence = 1;
    job->done = sh.listener;
    job->done_ctx = sh.listener_ctx;
    hub_store_done(f->hub, job);
    j = expect_op(f, a, "join");
    cJSON_Delete(j);
    assert_true(fake_empty(b)); /* not to the user's own connection */
    hub_conn_close(f->hub, &b);
    assert_int_equal(sh.presence_leaves, 1);
    hub_conn_close(f->hub, &a);
    fake_cleanup(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sub_waits_for_state, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_relayed_pub_only_acks,
                                        fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_epoch_reset_closes_subscribers,
                                        fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_presence_through_storage,
                                        fake_setup, fake_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
