/*
 * test_jobq.c: the locked FIFO: order, swap-all, timed waits, close, and
 * many producers against one consumer (run it under TSan too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "jobq.h"

static int64_t test_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct store_job *test_job(int tag)
{
    struct store_job *job = store_job_new(STORE_JOB_PUB, "t");

    assert_non_null(job);
    job->conn_id = (uint64_t)tag;
    return job;
}

static void free_list(struct store_job *list)
{
    while (list != NULL) {
        struct store_job *next = list->next;

        store_job_free(&list);
        list = next;
    }
}

static void test_fifo_order(void **state)
{
    struct jobq q;
    struct store_job *list = NULL;
    struct store_job *job = NULL;
    size_t n = 0;
    int i = 0;

    (void)state;
    assert_int_equal(jobq_init(&q), 0);
    assert_null(jobq_take_all(&q, &n));
    assert_int_equal(n, 0);
    for (i = 0; i < 5; i++)
        jobq_push(&q, test_job(i));
    assert_int_equal(jobq_len(&q), 5);
    list = jobq_take_all(&q, &n);
    assert_int_equal(n, 5);
    assert_int_equal(jobq_len(&q), 0);
    for (i = 0, job = list; job != NULL; job = job->next, i++)
        assert_int_equal(job->conn_id, i);
    assert_int_equal(i, 5);
    free_list(list);

    /* A pushed list keeps its order and joins after what is queued. */
    jobq_push(&q, test_job(0));
    {
        struct store_job *a = test_job(1);
        struct store_job *b = test_job(2);

        a->next = b;
        jobq_push_list(&q, a, b, 2);
    }
    jobq_push(&q, test_job(3));
    list = jobq_take_all(&q, &n);
    assert_int_equal(n, 4);
    for (i = 0, job = list; job != NULL; job = job->next, i++)
        assert_int_equal(job->conn_id, i);
    free_list(list);

    /* Cleanup frees what is still queued (valgrind/ASan check it). */
    jobq_push(&q, test_job(9));
    jobq_cleanup(&q);
}

static void test_wait_timeout_and_close(void **state)
{
    struct jobq q;
    bool closed = true;
    size_t n = 7;
    int64_t t0 = 0;
    int64_t waited = 0;
    struct store_job *list = NULL;

    (void)state;
    assert_int_equal(jobq_init(&q), 0);
    t0 = test_mono_ms();
    assert_null(jobq_wait_all(&q, 50, &n, &closed));
    waited = test_mono_ms() - t0;
    assert_true(waited >= 45);
    assert_true(waited < 5000);
    assert_int_equal(n, 0);
    assert_false(closed);

    /* Zero timeout: no wait at all. */
    assert_null(jobq_wait_all(&q, 0, &n, &closed));

    jobq_push(&q, test_job(1));
    jobq_close(&q);
    /* Closed with a job left: the job comes out, with closed set. */
    list = jobq_wait_all(&q, -1, &n, &closed);
    assert_non_null(list);
    assert_int_equal(n, 1);
    assert_true(closed);
    free_list(list);
    /* Closed and empty: an unbounded wait returns at once. */
    assert_null(jobq_wait_all(&q, -1, &n, &closed));
    assert_true(closed);
    jobq_cleanup(&q);
}

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct producer {
    struct jobq *q;
    int id;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    int i = 0;

    for (i = 0; i < PER_PRODUCER; i++) {
        struct store_job *job = store_job_new(STORE_JOB_PUB, NULL);

        if (job == NULL)
            abort();
        job->conn_id = (uint64_t)p->id;
        job->req_id = i;
        jobq_push(p->q, job);
    }
    return NULL;
}

static void test_many_producers(void **state)
{
    struct jobq q;
    pthread_t th[PRODUCERS];
    struct producer prod[PRODUCERS];
    int64_t next[PRODUCERS] = { 0 };
    size_t total = 0;
    int takes = 0;
    int64_t deadline = test_mono_ms() + 60000;
    int i = 0;

    (void)state;
    assert_int_equal(jobq_init(&q), 0);
    for (i = 0; i < PRODUCERS; i++) {
        prod[i].q = &q;
        prod[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, producer_main,
                                        &prod[i]), 0);
    }
    while (total < (size_t)PRODUCERS * PER_PRODUCER) {
        size_t n = 0;
        struct store_job *list = jobq_wait_all(&q, 100, &n, NULL);
        struct store_job *job = NULL;
        size_t seen = 0;

        assert_true(test_mono_ms() < deadline);
        for (job = list; job != NULL; job = job->next) {
            /* Each producer's jobs arrive in its order, none lost. */
            assert_int_equal(job->req_id, next[job->conn_id]);
            next[job->conn_id]++;
            seen++;
        }
        assert_int_equal(seen, n);
        total += n;
        takes += list != NULL;
        free_list(list);
    }
    for (i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(next[i], PER_PRODUCER);
    }
    assert_null(jobq_take_all(&q, NULL));
    print_message("jobq: %zu jobs in %d takes\n", total, takes);
    jobq_cleanup(&q);
}

struct done_record {
    int calls;
    int64_t req_id;
};

static void record_done(void *arg, struct store_job *job)
{
    struct done_record *rec = arg;

    rec->calls++;
    rec->req_id = job->req_id;
}

/* A finished job goes to the done callback its submitter gave it, once,
 * and is freed; a job without one is only freed. */
static void test_finish_calls_done(void **state)
{
    struct done_record rec = { 0, 0 };
    struct store_job *job = test_job(1);

    (void)state;
    job->req_id = 42;
    job->done = record_done;
    job->done_ctx = &rec;
    store_job_finish(&job);
    assert_null(job);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.req_id, 42);
    job = test_job(2);
    store_job_finish(&job);
    assert_null(job);
    assert_int_equal(rec.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_wait_timeout_and_close),
        cmocka_unit_test(test_many_producers),
        cmocka_unit_test(test_finish_calls_done),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
