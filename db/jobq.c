/*
 * jobq.c: owns a locked FIFO of store jobs. The lock guards only list
 * splices: nobody calls SQLite, lws or a callback while holding it. A
 * consumer takes the whole list in one swap, so wake-ups may coalesce and
 * the consumer always drains everything it finds. Waits use
 * CLOCK_MONOTONIC so a wall-clock jump neither shortens nor stretches them.
 */
#include "jobq.h"

#include <errno.h>
#include <time.h>

int jobq_init(struct jobq *q)
{
    pthread_condattr_t attr;
    int rc = 0;

    q->head = NULL;
    q->tail = NULL;
    q->len = 0;
    q->closed = false;
    rc = pthread_mutex_init(&q->lock, NULL);
    if (rc != 0)
        return -rc;
    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        goto fail_mutex;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        goto fail_mutex;
    return 0;

fail_mutex:
    pthread_mutex_destroy(&q->lock);
    return -rc;
}

void jobq_cleanup(struct jobq *q)
{
    struct store_job *job = q->head;

    while (job != NULL) {
        struct store_job *next = job->next;

        store_job_free(&job);
        job = next;
    }
    q->head = NULL;
    q->tail = NULL;
    q->len = 0;
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
}

void jobq_push(struct jobq *q, struct store_job *job)
{
    job->next = NULL;
    jobq_push_list(q, job, job, 1);
}

void jobq_push_list(struct jobq *q, struct store_job *head,
                    struct store_job *tail, size_t n)
{
    if (head == NULL)
        return;
    tail->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail != NULL)
        q->tail->next = head;
    else
        q->head = head;
    q->tail = tail;
    q->len += n;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* Swap the list out. Caller holds q->lock. */
static struct store_job *jobq_swap_locked(struct jobq *q, size_t *n)
{
    struct store_job *head = q->head;

    if (n != NULL)
        *n = q->len;
    q->head = NULL;
    q->tail = NULL;
    q->len = 0;
    return head;
}

struct store_job *jobq_take_all(struct jobq *q, size_t *n)
{
    struct store_job *head = NULL;

    pthread_mutex_lock(&q->lock);
    head = jobq_swap_locked(q, n);
    pthread_mutex_unlock(&q->lock);
    return head;
}

struct store_job *jobq_wait_all(struct jobq *q, int timeout_ms, size_t *n,
                                bool *closed)
{
    struct store_job *head = NULL;
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && !q->closed && timeout_ms != 0) {
        int rc = 0;

        if (timeout_ms < 0) {
            pthread_cond_wait(&q->cond, &q->lock);
            continue;
        }
        rc = pthread_cond_timedwait(&q->cond, &q->lock, &deadline);
        if (rc == ETIMEDOUT)
            break;
    }
    head = jobq_swap_locked(q, n);
    if (closed != NULL)
        *closed = q->closed;
    pthread_mutex_unlock(&q->lock);
    return head;
}

size_t jobq_len(struct jobq *q)
{
    size_t len = 0;

    pthread_mutex_lock(&q->lock);
    len = q->len;
    pthread_mutex_unlock(&q->lock);
    return len;
}

void jobq_close(struct jobq *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}
