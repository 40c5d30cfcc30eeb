/*
 * outq.c: the per-connection ring of message pointers. Growth doubles the
 * ring and unwraps it; entries are never copied otherwise.
 */
#include "outq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void outq_init(struct outq *q)
{
    memset(q, 0, sizeof(*q));
}

void outq_cleanup(struct outq *q)
{
    while (q->count > 0)
        outq_pop(q);
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
    q->head = 0;
    q->bytes = 0;
    q->paced_bytes = 0;
}

static int outq_grow(struct outq *q)
{
    uint32_t ncap = q->cap ? q->cap * 2 : 8;
    uintptr_t *nring = NULL;
    uint32_t i;

    if (ncap < q->cap)
        return -ENOMEM;
    nring = malloc(sizeof(*nring) * ncap);
    if (nring == NULL)
        return -ENOMEM;
    for (i = 0; i < q->count; i++)
        nring[i] = q->ring[(q->head + i) & (q->cap - 1)];
    free(q->ring);
    q->ring = nring;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

static int outq_append(struct outq *q, struct msg *m, uintptr_t tag)
{
    int rc = 0;

    /* the lowest bit is ours (OUTQ_PACED): msgs are malloc-aligned */
    assert(((uintptr_t)m & OUTQ_PACED) == 0);
    if (q->count == q->cap) {
        rc = outq_grow(q);
        if (rc < 0)
            return rc;
    }
    assert(q->count < q->cap && (q->cap & (q->cap - 1)) == 0);
    q->ring[(q->head + q->count) & (q->cap - 1)] = (uintptr_t)msg_ref(m) | tag;
    q->count++;
    q->bytes += m->len;
    if (tag)
        q->paced_bytes += m->len;
    return 0;
}

int outq_push(struct outq *q, struct msg *m)
{
    return outq_append(q, m, 0);
}

int outq_push_paced(struct outq *q, struct msg *m)
{
    return outq_append(q, m, OUTQ_PACED);
}

void outq_pop(struct outq *q)
{
    uintptr_t e = 0;
    struct msg *m = NULL;

    assert(q->count > 0);
    e = q->ring[q->head];
    m = outq_entry_msg(e);
    assert(q->bytes >= m->len);
    q->bytes -= m->len;
    if (e & OUTQ_PACED) {
        assert(q->paced_bytes >= m->len);
        q->paced_bytes -= m->len;
    }
    assert(q->paced_bytes <= q->bytes);
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    msg_unref(&m);
    /* Give the memory of a drained, large ring back: idle must be cheap. */
    if (q->count == 0 && q->cap > 64) {
        free(q->ring);
        q->ring = NULL;
        q->cap = 0;
        q->head = 0;
    }
}

void outq_add_paced_bytes(struct outq *q, size_t n)
{
    q->bytes += n;
    q->paced_bytes += n;
}
