/*
 * hub_fake.c: the fake store and transport that test_hub drives the hub
 * with (see hub_fake.h). It owns the pending job FIFO, the in-memory rows
 * standing in for SQLite, and the record of HTTP results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_fake.h"

#include "cmd.h"
#include "errors.h"
#include "http_reply.h"

static char *fake_strdup(const char *s)
{
    char *p = NULL;
    size_t n = 0;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, s, n + 1);
    return p;
}

/* ---- hub_ops (transport) ---------------------------------------------- */

static void op_wake(void *ctx, struct conn *c)
{
    struct fake *f = ctx;

    (void)c;
    f->wakes++;
}

/* ---- the fake storage (storage.h) --------------------------------------- */

static void op_submit(void *engine, struct store_job *job)
{
    struct fake *f = engine;
    struct store_job **pp = &f->jobs;

    while (*pp != NULL)
        pp = &(*pp)->next;
    job->next = NULL;
    *pp = job;
    f->n_jobs++;
}

static size_t op_store_pending(void *engine)
{
    struct fake *f = engine;

    return f->n_jobs;
}

/* The tests make topics known with fake_load_topic, complete jobs with
 * fake_complete and never start or stop anything: the rest of the
 * interface has nothing to do. */
static int op_load(void *engine, storage_topic_cb cb, void *arg)
{
    (void)engine;
    (void)cb;
    (void)arg;
    return 0;
}

static int op_start(void *engine)
{
    (void)engine;
    return 0;
}

static void op_nothing(void *engine)
{
    (void)engine;
}

static struct store_job *op_take(void *engine)
{
    (void)engine;
    return NULL;
}

static const struct storage_ops fake_storage_ops = {
    .load = op_load,
    .start = op_start,
    .submit = op_submit,
    .flush = op_nothing,
    .take_completions = op_take,
    .pending = op_store_pending,
    .stop = op_nothing,
};

void fake_storage_ops_copy(struct storage_ops *out)
{
    *out = fake_storage_ops;
}

/* ---- hub_ops ---------------------------------------------------------- */

static int64_t op_now_ms(void *ctx)
{
    struct fake *f = ctx;

    return f->now;
}

/* ---- life cycle ------------------------------------------------------- */

void fake_config(struct hub_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->queue_bytes = 8u << 20;
    cfg->queue_msgs = 100000;
    cfg->max_subs = 10000;
    cfg->recent_msgs = 64;
    cfg->recent_bytes = 1u << 20;
    cfg->store_pending_max = 200000;
    cfg->max_depth = 64;
    cfg->persist = true;
}

void fake_init(struct fake *f, const struct hub_config *cfg)
{
    assert_int_equal(msg_live_count(), 0);
    memset(f, 0, sizeof(*f));
    f->ops.wake = op_wake;
    f->ops.now_ms = op_now_ms;
    f->now = FAKE_T0;
    f->storage.ops = &fake_storage_ops;
    f->storage.engine = f;
    f->hub = hub_new(cfg, &f->ops, f, &f->storage);
    assert_non_null(f->hub);
}

void fake_cleanup(struct fake *f)
{
    size_t i;

    fake_complete_all(f);
    hub_free(&f->hub);
    assert_null(f->hub);
    for (i = 0; i < f->n_rows; i++) {
        free(f->rows[i].topic);
        free(f->rows[i].from);
        free(f->rows[i].data);
        free(f->rows[i].key);
    }
    free(f->rows);
    free(f->http_body);
    memset(f, 0, sizeof(*f));
    assert_int_equal(msg_live_count(), 0);
}

int fake_setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

int fake_teardown(void **state)
{
    struct fake *f = *state;
    size_t i;

    *state = NULL;
    if (f == NULL)
        return -1;
    if (f->hub != NULL) {
        /* The test stopped midway: fail what is pending (so the hub drops
         * the references jobs carry), then free without asserting. */
        while (f->jobs != NULL) {
            struct store_job *job = f->jobs;

            f->jobs = job->next;
            job->next = NULL;
            f->n_jobs--;
            job->err = PL_ERR_INTERNAL;
            hub_store_done(f->hub, job);
        }
        hub_free(&f->hub);
    }
    for (i = 0; i < f->n_rows; i++) {
        free(f->rows[i].topic);
        free(f->rows[i].from);
        free(f->rows[i].data);
        free(f->rows[i].key);
    }
    free(f->rows);
    free(f->http_body);
    free(f);
    return msg_live_count() == 0 ? 0 : -1;
}

struct conn *fake_open(struct fake *f)
{
    struct conn *c = hub_conn_open(f->hub, CONN_WS, NULL);

    assert_non_null(c);
    return c;
}

void fake_send(struct fake *f, struct conn *c, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    int n = 0;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n > 0);
    text = malloc((size_t)n + 1);
    assert_non_null(text);
    va_start(ap, fmt);
    assert_int_equal(vsnprintf(text, (size_t)n + 1, fmt, ap), n);
    va_end(ap);
    hub_conn_text(f->hub, c, text, (size_t)n);
    free(text);
}

/* ---- the fake store --------------------------------------------------- */

static struct fake_row *row_add(struct fake *f)
{
    struct fake_row *r = NULL;

    if (f->n_rows == f->rows_cap) {
        size_t ncap = f->rows_cap ? f->rows_cap * 2 : 16;

        r = realloc(f->rows, ncap * sizeof(*r));
        assert_non_null(r);
        f->rows = r;
        f->rows_cap = ncap;
    }
    r = &f->rows[f->n_rows++];
    memset(r, 0, sizeof(*r));
    return r;
}

void fake_store_put(struct fake *f, const char *topic, int64_t seq,
                    const char *from, const char *data)
{
    struct fake_row *r = row_add(f);

    r->topic = fake_strdup(topic);
    r->seq = seq;
    r->ts = f->now;
    r->from = fake_strdup(from);
    r->data = fake_strdup(data);
}

void fake_store_prune(struct fake *f, const char *topic, int64_t below)
{
    size_t i = 0;
    size_t j = 0;

    for (i = 0; i < f->n_rows; i++) {
        struct fake_row *r = &f->rows[i];

        if (strcmp(r->topic, topic) == 0 && r->seq < below) {
            free(r->topic);
            free(r->from);
            free(r->data);
            free(r->key);
            continue;
        }
        f->rows[j++] = *r;
    }
    f->n_rows = j;
}

int64_t fake_store_last(struct fake *f, const char *topic)
{
    int64_t last = 0;
    size_t i;

    for (i = 0; i < f->n_rows; i++)
        if (strcmp(f->rows[i].topic, topic) == 0 && f->rows[i].seq > last)
            last = f->rows[i].seq;
    return last;
}

static int64_t store_first(struct fake *f, const char *topic)
{
    int64_t first = 0;
    size_t i;

    for (i = 0; i < f->n_rows; i++)
        if (strcmp(f->rows[i].topic, topic) == 0 &&
            (first == 0 || f->rows[i].seq < first))
            first = f->rows[i].seq;
    return first;
}

void fake_load_topic(struct fake *f, const char *topic)
{
    struct store_topic_info info;

    memset(&info, 0, sizeof(info));
    info.name = topic;
    info.last_seq = fake_store_last(f, topic);
    assert_int_equal(hub_load_topic(f->hub, &info), 0);
}

static const struct fake_row *row_by_seq(struct fake *f, const char *topic,
                                         int64_t seq)
{
    size_t i;

    for (i = 0; i < f->n_rows; i++)
        if (strcmp(f->rows[i].topic, topic) == 0 && f->rows[i].seq == seq)
            return &f->rows[i];
    return NULL;
}

static void job_add_row(struct store_job *job, const struct fake_row *r)
{
    struct store_row *out = NULL;

    out = realloc(job->rows, (job->n_rows + 1) * sizeof(*out));
    assert_non_null(out);
    job->rows = out;
    out = &job->rows[job->n_rows++];
    memset(out, 0, sizeof(*out));
    out->seq = r->seq;
    out->ts = r->ts;
    out->from = fake_strdup(r->from);
    out->data = fake_strdup(r->data);
    out->data_len = strlen(r->data);
}

/* PUB: dedupe by key, else the topic's next seq and a new row. */
static void complete_pub(struct fake *f, struct store_job *job)
{
    struct fake_row *r = NULL;
    size_t i;

    if (job->key != NULL) {
        for (i = 0; i < f->n_rows; i++) {
            if (f->rows[i].key != NULL &&
                strcmp(f->rows[i].key, job->key) == 0 &&
                strcmp(f->rows[i].topic, job->topic) == 0) {
                job->seq = f->rows[i].seq;
                job->duplicate = true;
                return;
            }
        }
    }
    job->seq = fake_store_last(f, job->topic) + 1;
    r = row_add(f);
    r->topic = fake_strdup(job->topic);
    r->seq = job->seq;
    r->ts = job->ts;
    r->from = fake_strdup(job->from);
    r->data = fake_strdup(job->data);
    r->key = fake_strdup(job->key);
}

static void complete_read(struct fake *f, struct store_job *job)
{
    int64_t last = fake_store_last(f, job->topic);
    int64_t first = store_first(f, job->topic);
    int64_t lo = 0;
    int64_t s = 0;

    job->first_seq = first;
    job->last_seq = last;
    if (first == 0 || job->limit <= 0)
        return;
    if (job->kind == STORE_JOB_AFTER) {
        for (s = job->after + 1; s <= job->upto && s <= last &&
                                 job->n_rows < (size_t)job->limit; s++) {
            const struct fake_row *r = row_by_seq(f, job->topic, s);

            if (r != NULL)
                job_add_row(job, r);
        }
        return;
    }
    /* BEFORE: the newest `limit` rows below `before`, ascending. */
    s = job->before > 0 ? job->before - 1 : last;
    if (s > last)
        s = last;
    lo = s;
    {
        size_t n = 0;

        for (; lo >= first && n < (size_t)job->limit; lo--)
            if (row_by_seq(f, job->topic, lo) != NULL)
                n++;
    }
    for (lo = lo + 1; lo <= s; lo++) {
        const struct fake_row *r = row_by_seq(f, job->topic, lo);

        if (r != NULL)
            job_add_row(job, r);
    }
}

struct store_job *fake_job(struct fake *f, size_t i)
{
    struct store_job *job = f->jobs;

    while (job != NULL && i-- > 0)
        job = job->next;
    assert_non_null(job);
    return job;
}

/* Detach the n oldest jobs as a list. */
static struct store_job *take_jobs(struct fake *f, size_t n)
{
    struct store_job *list = f->jobs;
    struct store_job *job = f->jobs;
    size_t i;

    assert_true(n <= f->n_jobs);
    if (n == 0)
        return NULL;
    for (i = 1; i < n; i++)
        job = job->next;
    f->jobs = job->next;
    job->next = NULL;
    f->n_jobs -= n;
    return list;
}

struct store_job *fake_finish(struct fake *f, size_t n)
{
    struct store_job *list = take_jobs(f, n);
    struct store_job *job = NULL;

    for (job = list; job != NULL; job = job->next) {
        if (job->kind == STORE_JOB_PUB)
            complete_pub(f, job);
        else if (job->kind == STORE_JOB_AFTER ||
                 job->kind == STORE_JOB_BEFORE)
            complete_read(f, job);
        /* MARK, UNREAD: the test fills in what the store would. */
    }
    return list;
}

void fake_complete(struct fake *f, size_t n)
{
    struct store_job *list = fake_finish(f, n);

    if (list != NULL)
        hub_store_done(f->hub, list);
}

void fake_complete_all(struct fake *f)
{
    /* Completions may submit more jobs (replay pages): loop, bounded. */
    int rounds = 0;

    while (f->n_jobs > 0 && rounds++ < 10000)
        fake_complete(f, f->n_jobs);
    assert_int_equal(f->n_jobs, 0);
}

void fake_fail(struct fake *f, int err)
{
    struct store_job *job = take_jobs(f, 1);

    job->err = err;
    hub_store_done(f->hub, job);
}

/* ---- API requests (what http.c does with a reply) --------------------- */

/* Keep a NUL-terminated copy of the response body in b. */
static void fake_set_body(struct fake *f, const struct pl_buf *b)
{
    assert_false(pl_buf_failed(b));
    free(f->http_body);
    f->http_body = malloc(b->len + 1);
    assert_non_null(f->http_body);
    memcpy(f->http_body, pl_buf_data(b), b->len);
    f->http_body[b->len] = '\0';
}

struct conn *fake_request(struct fake *f)
{
    struct conn *c = hub_conn_open(f->hub, CONN_REQUEST, NULL);
    static char http_name[] = "http";
    struct pl_cmd hello;

    assert_non_null(c);
    if (!hub_auth_enabled(f->hub)) {
        memset(&hello, 0, sizeof(hello));
        hello.op = PL_OP_HELLO;
        hello.name = http_name;
        hub_conn_cmd(f->hub, c, &hello);
    }
    return c;
}

void fake_request_publish(struct fake *f, struct conn *c, const char *body)
{
    struct pl_parse_opts opts = {64};
    const char *why = "bad request";
    struct pl_cmd cmd;
    enum pl_err err;

    memset(&cmd, 0, sizeof(cmd));
    err = pl_cmd_parse_pub_body(body, strlen(body), &opts, &cmd, &why);
    if (err != PL_OK) {
        struct pl_buf b;

        pl_buf_init(&b, 256);
        f->http_status = http_reply_error(err, why, &b);
        f->http_calls++;
        f->http_conn = c;
        fake_set_body(f, &b);
        pl_buf_cleanup(&b);
        return;
    }
    cmd.id = 1;
    hub_conn_cmd(f->hub, c, &cmd);
    pl_cmd_cleanup(&cmd);
    fake_take_reply(f, c);
}

bool fake_take_reply(struct fake *f, struct conn *c)
{
    struct pl_buf b;
    const char *json = NULL;
    size_t len = 0;

    if (c->q.count == 0)
        return false;
    json = msg_payload(outq_peek(&c->q), &len);
    if (json == NULL)
        return false; /* a placeholder: the store has not answered */
    pl_buf_init(&b, len + 16);
    f->http_status = http_reply_from_frame(json, len, &b);
    assert_true(f->http_status > 0);
    fake_set_body(f, &b);
    pl_buf_cleanup(&b);
    f->http_calls++;
    f->http_conn = c;
    outq_pop(&c->q);
    expect_empty(c); /* one command, one reply */
    return true;
}

/* ---- frames ----------------------------------------------------------- */

cJSON *fake_parse(const struct msg *m)
{
    const unsigned char *p = m->frame;
    size_t hdr = 2;
    size_t plen = 0;
    cJSON *o = NULL;

    assert_false(m->placeholder);
    assert_non_null(p);
    assert_true(m->len >= 2);
    assert_int_equal(p[0], 0x81); /* FIN + text */
    plen = p[1] & 0x7f;
    if (plen == 126) {
        hdr = 4;
        plen = ((size_t)p[2] << 8) | p[3];
    } else if (plen == 127) {
        size_t i;

        hdr = 10;
        plen = 0;
        for (i = 0; i < 8; i++)
            plen = (plen << 8) | p[2 + i];
    }
    assert_int_equal(hdr + plen, m->len);
    o = cJSON_ParseWithLength((const char *)p + hdr, plen);
    assert_non_null(o);
    assert_true(cJSON_IsObject(o));
    return o;
}

bool fake_empty(const struct conn *c)
{
    return c->q.count == 0;
}

bool fake_pending(const struct conn *c)
{
    const struct msg *m = outq_peek(&c->q);

    return m != NULL && m->placeholder;
}

cJSON *fake_pop(struct fake *f, struct conn *c)
{
    struct msg *m = outq_peek(&c->q);
    struct hub_out out;
    cJSON *o = NULL;

    assert_non_null(m);
    assert_false(m->placeholder);
    /* Through the transport's API (hub_out.c): a cap of 0 hands out the
     * head frame alone, in place. */
    assert_int_equal(hub_conn_take(f->hub, c, NULL, 0, &out), 1);
    assert_int_equal(out.frames, 1);
    assert_ptr_equal(out.data, m->frame);
    o = fake_parse(m);
    (void)hub_conn_wrote(f->hub, c, &out);
    return o;
}

size_t fake_drain(struct fake *f, struct conn *c)
{
    size_t n = 0;

    while (!fake_empty(c) && !fake_pending(c)) {
        cJSON_Delete(fake_pop(f, c));
        n++;
    }
    return n;
}

/* ---- expectations ----------------------------------------------------- */

int64_t json_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL || !cJSON_IsNumber(v))
        fail_msg("field %s missing or not a number", key);
    return (int64_t)v->valuedouble;
}

bool json_has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL || !cJSON_IsString(v))
        fail_msg("field %s missing or not a string", key);
    return v->valuestring;
}

cJSON *expect_op(struct fake *f, struct conn *c, const char *op)
{
    cJSON *o = NULL;
    char *text = NULL;

    if (fake_empty(c))
        fail_msg("expected a %s frame, the queue is empty", op);
    if (fake_pending(c))
        fail_msg("expected a %s frame, a reply is pending", op);
    o = fake_pop(f, c);
    if (strcmp(json_str(o, "op"), op) != 0) {
        text = cJSON_PrintUnformatted(o);
        print_error("got %s\n", text);
        free(text);
        fail_msg("expected op %s", op);
    }
    return o;
}

cJSON *expect_ok(struct fake *f, struct conn *c, int64_t id)
{
    cJSON *o = expect_op(f, c, "ok");

    assert_int_equal(json_int(o, "id"), id);
    return o;
}

void expect_ok_only(struct fake *f, struct conn *c, int64_t id)
{
    cJSON_Delete(expect_ok(f, c, id));
}

void expect_error(struct fake *f, struct conn *c, int64_t id,
                  const char *code)
{
    cJSON *o = expect_op(f, c, "error");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");

    assert_non_null(v);
    if (id == 0)
        assert_true(cJSON_IsNull(v));
    else
        assert_int_equal(json_int(o, "id"), id);
    assert_string_equal(json_str(o, "code"), code);
    assert_non_null(json_str(o, "message"));
    cJSON_Delete(o);
}

cJSON *expect_msg(struct fake *f, struct conn *c, const char *topic,
                  int64_t seq)
{
    cJSON *o = expect_op(f, c, "msg");

    assert_string_equal(json_str(o, "topic"), topic);
    if (json_int(o, "seq") != seq)
        fail_msg("%s: expected seq %lld, got %lld", topic, (long long)seq,
                 (long long)json_int(o, "seq"));
    assert_false(json_has(o, "retained"));
    assert_true(json_has(o, "data"));
    assert_non_null(json_str(o, "from"));
    (void)json_int(o, "ts");
    return o;
}

void expect_msg_only(struct fake *f, struct conn *c, const char *topic,
                     int64_t seq)
{
    cJSON_Delete(expect_msg(f, c, topic, seq));
}

void expect_presence(struct fake *f, struct conn *c, const char *op,
                     const char *topic, const char *user)
{
    cJSON *o = expect_op(f, c, op);

    assert_string_equal(json_str(o, "topic"), topic);
    assert_string_equal(json_str(o, "user"), user);
    cJSON_Delete(o);
}

void expect_empty(const struct conn *c)
{
    if (!fake_empty(c)) {
        const struct msg *m = outq_peek(&c->q);

        if (m->placeholder)
            fail_msg("expected an empty queue, a placeholder is queued");
        else
            fail_msg("expected an empty queue, %u frames are queued: %.*s",
                     c->q.count, (int)m->len, (const char *)m->frame);
    }
}
