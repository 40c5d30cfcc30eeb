/*
 * jobq.h: a locked FIFO of struct store_job, linked through job->next.
 * Used twice by the store: service thread -> store thread (jobs) and store
 * thread -> service thread (completions). Producers push; the consumer
 * swaps the whole list out under the lock and works on it outside the lock.
 */
#ifndef PL_JOBQ_H
#define PL_JOBQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "store_job.h"

struct jobq {
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* signalled on push and on close */
    struct store_job *head;      /* {lock} */
    struct store_job *tail;      /* {lock} */
    size_t len;                  /* {lock} */
    bool closed;                 /* {lock} */
};

/* Initialise an empty, open queue. Returns 0 or -errno. */
int jobq_init(struct jobq *q);
/* Destroy the queue, freeing (store_job_free) any job still in it. No other
 * thread may use the queue any more. */
void jobq_cleanup(struct jobq *q);

/* Append one job (takes ownership). Any thread. Works on a closed queue
 * too: closing only tells the consumer to stop waiting. */
void jobq_push(struct jobq *q, struct store_job *job);
/* Append a list head..tail (linked by ->next, tail->next NULL) of n jobs in
 * one locked splice. head NULL: nothing happens. Any thread. */
void jobq_push_list(struct jobq *q, struct store_job *head,
                    struct store_job *tail, size_t n);

/* Take every queued job, oldest first (NULL when empty), without waiting;
 * *n (if not NULL) gets their count. The caller owns the list. */
struct store_job *jobq_take_all(struct jobq *q, size_t *n);
/* Like jobq_take_all, but first wait up to timeout_ms (< 0: no limit) for
 * the queue to be non-empty or closed. *closed (if not NULL) is set when
 * the queue was closed and this call emptied it, i.e. the consumer is
 * done. */
struct store_job *jobq_wait_all(struct jobq *q, int timeout_ms, size_t *n,
                                bool *closed);

/* Jobs queued right now (a snapshot). Any thread. */
size_t jobq_len(struct jobq *q);
/* Mark the queue closed and wake every waiter. Any thread. */
void jobq_close(struct jobq *q);

#endif
