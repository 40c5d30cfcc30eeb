/*
 * store_job.c: owns a store job's memory: its copied inputs, the rows a
 * read returns, and the hand-over of a finished job to whoever submitted
 * it (its done callback), and which topics a job covers. No threads, no
 * SQLite.
 */
#include "store_job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

/* strdup that keeps NULL. Returns 0, or -ENOMEM. */
static int store_dup(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst != NULL ? 0 : -ENOMEM;
}

struct store_job *store_job_new(enum store_job_kind kind, const char *topic)
{
    struct store_job *job = calloc(1, sizeof(*job));

    if (job == NULL)
        return NULL;
    job->kind = kind;
    if (store_dup(&job->topic, topic) != 0) {
        free(job);
        return NULL;
    }
    return job;
}

int store_job_set_pub(struct store_job *job, const char *data, size_t data_len,
                      bool data_is_null, bool retain, const char *from,
                      const char *key, int64_t ts)
{
    char *d = NULL;
    char *f = NULL;
    char *k = NULL;

    if (data == NULL) {
        data = "null";
        data_len = 4;
    }
    d = malloc(data_len + 1);
    if (d == NULL)
        goto fail;
    memcpy(d, data, data_len);
    d[data_len] = '\0';
    if (store_dup(&f, from) != 0 || store_dup(&k, key) != 0)
        goto fail;
    free(job->data);
    free(job->from);
    free(job->key);
    job->data = d;
    job->data_len = data_len;
    job->data_is_null = data_is_null;
    job->retain = retain;
    job->from = f;
    job->key = k;
    job->ts = ts;
    return 0;

fail:
    free(d);
    free(f);
    free(k);
    return -ENOMEM;
}

int store_job_set_qos2(struct store_job *job, const char *client,
                       uint16_t packet_id)
{
    char *c = NULL;

    if (store_dup(&c, client) != 0)
        return -ENOMEM;
    free(job->qos2_client);
    job->qos2_client = c;
    job->qos2_id = c != NULL ? packet_id : 0;
    return 0;
}

int store_job_set_raw(struct store_job *job, const void *raw, size_t len)
{
    unsigned char *r = NULL;

    if (len > 0) {
        r = malloc(len);
        if (r == NULL)
            return -ENOMEM;
        memcpy(r, raw, len);
    }
    free(job->raw);
    job->raw = r;
    job->raw_len = len;
    return 0;
}

int store_job_set_marks(struct store_job *job, size_t n)
{
    struct store_mark *m = calloc(n > 0 ? n : 1, sizeof(*m));

    if (m == NULL)
        return -ENOMEM;
    job->marks = m;
    job->n_marks = n;
    return 0;
}

int store_job_set_search(struct store_job *job, const char *query,
                         char *const *allow, size_t n_allow, bool has_allow)
{
    size_t i = 0;

    if (store_dup(&job->query, query) != 0)
        return -ENOMEM;
    job->has_allow = has_allow;
    if (n_allow == 0)
        return 0;
    job->allow = calloc(n_allow, sizeof(*job->allow));
    if (job->allow == NULL)
        return -ENOMEM;
    for (i = 0; i < n_allow; i++) {
        if (store_dup(&job->allow[i], allow[i]) != 0)
            return -ENOMEM; /* store_job_free frees what was copied */
        job->n_allow = i + 1;
    }
    return 0;
}

bool store_job_allows(const struct store_job *job, const char *name)
{
    return job->topic != NULL && pl_topic_match(job->topic, name) &&
           store_job_allows_name(job, name);
}

bool store_job_allows_name(const struct store_job *job, const char *name)
{
    if (!job->has_allow)
        return true;
    for (size_t i = 0; i < job->n_allow; i++)
        if (pl_topic_match(job->allow[i], name))
            return true;
    return false;
}

void store_job_free(struct store_job **jobp)
{
    struct store_job *job = *jobp;
    size_t i = 0;

    if (job == NULL)
        return;
    for (i = 0; i < job->n_rows; i++) {
        free(job->rows[i].from);
        free(job->rows[i].data);
        free(job->rows[i].topic);
        free(job->rows[i].raw);
    }
    free(job->rows);
    for (i = 0; i < job->n_allow; i++)
        free(job->allow[i]);
    free(job->allow);
    free(job->query);
    for (i = 0; i < job->n_marks; i++)
        free(job->marks[i].topic);
    free(job->marks);
    store_mqtt_free(&job->mqtt);
    free(job->topic);
    free(job->data);
    free(job->raw);
    free(job->from);
    free(job->key);
    free(job->qos2_client);
    free(job);
    *jobp = NULL;
}

void store_mqtt_free(struct store_mqtt **mp)
{
    struct store_mqtt *m = *mp;
    size_t i = 0;

    if (m == NULL)
        return;
    for (i = 0; i < m->n_subs; i++)
        free(m->subs[i].filter);
    for (i = 0; i < m->n_cursors; i++)
        free(m->cursors[i].topic);
    free(m->subs);
    free(m->cursors);
    free(m->client_id);
    free(m->user);
    free(m);
    *mp = NULL;
}

void store_job_finish(struct store_job **jobp)
{
    struct store_job *job = *jobp;

    if (job == NULL)
        return;
    job->next = NULL;
    if (job->done != NULL)
        job->done(job->done_ctx, job);
    store_job_free(jobp);
}
