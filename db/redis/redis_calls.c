/*
 * redis_calls.c: owns the translation between typed calls and the Lua
 * library's FCALLs: argument vectors in (names from redis_layout), reply
 * shapes checked and parsed out. One small context per call carries the
 * typed callback through the link's generic one.
 */
#include "redis_calls.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* The most arguments any call sends. */
#define CALL_MAX_ARGS 32

enum call_kind {
    CALL_PUB,
    CALL_ROWS,
    CALL_INT,
    CALL_LIST,
    CALL_INTS,
};

struct call {
    enum call_kind kind;
    bool with_oldest; /* pl_since's reply carries the oldest seq */
    bool single;      /* pl_retained: one payload or '' */
    enum redis_event_kind row_kind; /* rows' kind: MSG, or MARKED */
    union {
        redis_pub_cb pub;
        redis_rows_cb rows;
        redis_int_cb num;
        redis_list_cb list;
        redis_ints_cb ints;
    } cb;
    void *ud;
};

void redis_epoch_new(char out[REDIS_EPOCH_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[REDIS_EPOCH_LEN / 2];
    size_t i;

    /* getrandom only fails before the pool is ready at boot, where a
     * weaker source still tells epochs apart. */
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        for (i = 0; i < sizeof(raw); i++)
            raw[i] = (unsigned char)(rand() ^ (int)(uintptr_t)out);
    for (i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[REDIS_EPOCH_LEN] = '\0';
}

static void fail(struct call *c, int err)
{
    switch (c->kind) {
    case CALL_PUB:
        c->cb.pub(err, NULL, c->ud);
        break;
    case CALL_ROWS:
        c->cb.rows(err, NULL, c->ud);
        break;
    case CALL_INT:
        c->cb.num(err, 0, c->ud);
        break;
    case CALL_LIST:
        c->cb.list(err, 0, NULL, c->ud);
        break;
    case CALL_INTS:
        c->cb.ints(err, 0, NULL, c->ud);
        break;
    }
}

static bool is_int(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER && r->integer >= 0;
}

static bool is_str(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING;
}

static void pub_done(struct call *c, const redisReply *r)
{
    struct redis_pub_result res;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        !is_int(r->element[0]) || !is_int(r->element[1]) ||
        !is_str(r->element[2]) ||
        (r->element[0]->integer == 0 && r->element[1]->integer != 1 &&
         r->element[1]->integer != 2)) {
        fail(c, -EPROTO);
        return;
    }
    memset(&res, 0, sizeof(res));
    res.seq = (uint64_t)r->element[0]->integer;
    if (res.seq == 0)
        res.refused = (enum redis_pub_refusal)r->element[1]->integer;
    else
        res.duplicate = r->element[1]->integer != 0;
    res.epoch = r->element[2]->str;
    c->cb.pub(0, &res, c->ud);
}

static void rows_done(struct call *c, const redisReply *r)
{
    size_t head = c->with_oldest ? 3 : 2;
    struct redis_event *rows = NULL;
    struct redis_rows res;
    size_t i;

    memset(&res, 0, sizeof(res));
    if (r->type != REDIS_REPLY_ARRAY || r->elements < head ||
        !is_int(r->element[0]) || !is_str(r->element[1]) ||
        (c->with_oldest && !is_int(r->element[2]))) {
        fail(c, -EPROTO);
        return;
    }
    res.latest = (uint64_t)r->element[0]->integer;
    res.epoch = r->element[1]->str;
    if (c->with_oldest)
        res.oldest = (uint64_t)r->element[2]->integer;
    if (c->single && r->elements == 3 && is_str(r->element[2]) &&
        r->element[2]->len == 0)
        head = 3; /* no retained message */
    if (r->elements > head) {
        rows = calloc(r->elements - head, sizeof(*rows));
        if (rows == NULL) {
            fail(c, -ENOMEM);
            return;
        }
    }
    for (i = head; i < r->elements; i++) {
        const redisReply *e = r->element[i];

        if (!is_str(e) ||
            redis_event_parse(e->str, e->len, &rows[i - head]) < 0 ||
            rows[i - head].kind != c->row_kind) {
            free(rows);
            fail(c, -EPROTO);
            return;
        }
    }
    res.n = r->elements - head;
    res.rows = rows;
    c->cb.rows(0, &res, c->ud);
    free(rows);
}

static void list_done(struct call *c, const redisReply *r)
{
    const char **items = NULL;
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY) {
        fail(c, -EPROTO);
        return;
    }
    if (r->elements > 0) {
        items = calloc(r->elements, sizeof(*items));
        if (items == NULL) {
            fail(c, -ENOMEM);
            return;
        }
    }
    for (i = 0; i < r->elements; i++) {
        if (!is_str(r->element[i])) {
            free(items);
            fail(c, -EPROTO);
            return;
        }
        items[i] = r->element[i]->str;
    }
    c->cb.list(0, r->elements, items, c->ud);
    free(items);
}

static void ints_done(struct call *c, const redisReply *r)
{
    long long *v = NULL;
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY) {
        fail(c, -EPROTO);
        return;
    }
    v = calloc(r->elements > 0 ? r->elements : 1, sizeof(*v));
    if (v == NULL) {
        fail(c, -ENOMEM);
        return;
    }
    for (i = 0; i < r->elements; i++) {
        if (!is_int(r->element[i])) {
            free(v);
            fail(c, -EPROTO);
            return;
        }
        v[i] = r->element[i]->integer;
    }
    c->cb.ints(0, r->elements, v, c->ud);
    free(v);
}

static void on_reply(const redisReply *r, int err, void *ud)
{
    struct call *c = ud;

    if (err < 0) {
        fail(c, err);
    } else if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis: %s\n", r->str);
        fail(c, -EPROTO);
    } else {
        switch (c->kind) {
        case CALL_PUB:
            pub_done(c, r);
            break;
        case CALL_ROWS:
            rows_done(c, r);
            break;
        case CALL_INT:
            if (is_int(r))
                c->cb.num(0, r->integer, c->ud);
            else
                fail(c, -EPROTO);
            break;
        case CALL_LIST:
            list_done(c, r);
            break;
        case CALL_INTS:
            ints_done(c, r);
            break;
        }
    }
    free(c);
}

/* Send argv through the link with c as its context; frees c when the link
 * refuses. */
static int call_send(struct redis_link *l, struct call *c, int argc,
                     const char **argv, const size_t *argvlen)
{
    int rc = redis_link_command(l, on_reply, c, argc, argv, argvlen);

    if (rc != 0)
        free(c);
    return rc;
}

static struct call *call_new(enum call_kind kind, void *ud)
{
    struct call *c = calloc(1, sizeof(*c));

    if (c != NULL) {
        c->kind = kind;
        c->ud = ud;
    }
    return c;
}

/* Write the topic's keys of kinds k[0..n) into keys. 0 or -ENAMETOOLONG. */
static int topic_keys(char (*keys)[REDIS_NAME_MAX], const char *topic,
                      const enum redis_topic_key *k, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (redis_layout_topic_key(keys[i], REDIS_NAME_MAX, topic, k[i]) < 0)
            return -ENAMETOOLONG;
    return 0;
}

int redis_call_publish(struct redis_link *l, const struct redis_pub_req *req,
                       redis_pub_cb cb, void *ud)
{
    static const enum redis_topic_key kinds[6] = {
        REDIS_KEY_SEQ,   REDIS_KEY_LOG, REDIS_KEY_RET,
        REDIS_KEY_EPOCH, REDIS_KEY_RED, REDIS_KEY_EDITS,
    };
    char keys[9][REDIS_NAME_MAX];
    char channel[REDIS_NAME_MAX];
    char ts[24], retain[4], maxlen[16], window[16], min_ts[24];
    char q2_id[8], q2_ttl[24];
    char edit_of[24], redacts[24], reply_to[24];
    const char *argv[CALL_MAX_ARGS];
    size_t argvlen[CALL_MAX_ARGS];
    int nkeys = req->key != NULL ? 8 : 7;
    struct call *c = NULL;
    int argc = 0;
    int data_arg = 0;
    int raw_arg = 0;
    int i;

    if (topic_keys(keys, req->topic, kinds, 6) < 0 ||
        (req->key != NULL && redis_layout_idem_key(keys[7], REDIS_NAME_MAX,
                                                   req->topic, req->key) < 0) ||
        redis_layout_channel(channel, sizeof(channel), req->topic) < 0)
        return -ENAMETOOLONG;
    snprintf(keys[6], REDIS_NAME_MAX, "%s", REDIS_LAYOUT_TOPICS);
    if (req->qos2_client != NULL && req->qos2_id != 0) {
        if (redis_layout_msess_key(keys[nkeys], REDIS_NAME_MAX,
                                   req->qos2_client, REDIS_MSESS_Q2) < 0)
            return -ENAMETOOLONG;
        nkeys++;
    }
    snprintf(ts, sizeof(ts), "%" PRId64, req->ts);
    snprintf(retain, sizeof(retain), "%d", req->retain);
    snprintf(maxlen, sizeof(maxlen), "%" PRIu32, req->maxlen);
    snprintf(window, sizeof(window), "%" PRIu32, req->window_s);
    snprintf(min_ts, sizeof(min_ts), "%" PRId64, req->min_ts);
    snprintf(edit_of, sizeof(edit_of), "%" PRId64,
             req->edit_of > 0 ? req->edit_of : 0);
    snprintf(redacts, sizeof(redacts), "%" PRId64,
             req->redacts > 0 ? req->redacts : 0);
    snprintf(reply_to, sizeof(reply_to), "%" PRId64,
             req->reply_to > 0 ? req->reply_to : 0);
    argv[argc++] = "FCALL";
    argv[argc++] = "pl_publish";
    argv[argc++] = nkeys == 9 ? "9" : nkeys == 8 ? "8" : "7";
    for (i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    argv[argc++] = channel;
    argv[argc++] = ts;
    argv[argc++] = req->from;
    data_arg = argc;
    argv[argc++] = req->data;
    argv[argc++] = retain;
    argv[argc++] = maxlen;
    argv[argc++] = req->epoch;
    argv[argc++] = window;
    argv[argc++] = min_ts;
    argv[argc++] = edit_of;
    argv[argc++] = redacts;
    argv[argc++] = reply_to;
    argv[argc++] = req->topic;
    raw_arg = argc;
    argv[argc++] = "";
    if (req->qos2_client != NULL && req->qos2_id != 0) {
        snprintf(q2_id, sizeof(q2_id), "%u", (unsigned)req->qos2_id);
        snprintf(q2_ttl, sizeof(q2_ttl), "%" PRId64,
                 req->qos2_ttl_ms > 0 ? req->qos2_ttl_ms : 0);
        argv[argc++] = q2_id;
        argv[argc++] = q2_ttl;
    }
    for (i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    /* data may be any JSON text, raw any bytes: their lengths are the
     * caller's. */
    argvlen[data_arg] = req->data_len;
    if (req->raw != NULL && req->raw_len > 0) {
        argv[raw_arg] = (const char *)req->raw;
        argvlen[raw_arg] = req->raw_len;
    }
    c = call_new(CALL_PUB, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.pub = cb;
    return call_send(l, c, argc, argv, argvlen);
}

/* FCALL fn with the topic's keys k[0..nk) and up to two arguments. */
static int topic_call(struct redis_link *l, struct call *c, const char *fn,
                      const char *topic, const enum redis_topic_key *k, int nk,
                      const char *a1, const char *a2)
{
    char keys[4][REDIS_NAME_MAX];
    const char *argv[CALL_MAX_ARGS];
    char nks[4];
    int argc = 0;
    int i;

    if (c == NULL)
        return -ENOMEM;
    if (topic_keys(keys, topic, k, nk) < 0) {
        free(c);
        return -ENAMETOOLONG;
    }
    snprintf(nks, sizeof(nks), "%d", nk);
    argv[argc++] = "FCALL";
    argv[argc++] = fn;
    argv[argc++] = nks;
    for (i = 0; i < nk; i++)
        argv[argc++] = keys[i];
    if (a1 != NULL)
        argv[argc++] = a1;
    if (a2 != NULL)
        argv[argc++] = a2;
    return call_send(l, c, argc, argv, NULL);
}

/* The reads' keys; red puts deleted messages' stubs in place. */
static const enum redis_topic_key read_kinds[4] = {
    REDIS_KEY_SEQ,
    REDIS_KEY_LOG,
    REDIS_KEY_EPOCH,
    REDIS_KEY_RED,
};

static struct call *rows_call(redis_rows_cb cb, void *ud)
{
    struct call *c = call_new(CALL_ROWS, ud);

    if (c != NULL) {
        c->cb.rows = cb;
        c->row_kind = REDIS_EVENT_MSG;
    }
    return c;
}

int redis_call_since(struct redis_link *l, const char *topic, uint64_t since,
                     uint32_t limit, redis_rows_cb cb, void *ud)
{
    struct call *c = rows_call(cb, ud);
    char a1[24], a2[16];

    snprintf(a1, sizeof(a1), "%" PRIu64, since);
    snprintf(a2, sizeof(a2), "%" PRIu32, limit);
    if (c != NULL)
        c->with_oldest = true;
    return topic_call(l, c, "pl_since", topic, read_kinds, 4, a1, a2);
}

int redis_call_marked_since(struct redis_link *l, uint64_t since,
                            uint32_t limit, redis_rows_cb cb, void *ud)
{
    struct call *c = rows_call(cb, ud);
    char a1[24], a2[16];
    const char *argv[8] = {"FCALL",
                           "pl_since",
                           "3",
                           REDIS_LAYOUT_MARKED_SEQ,
                           REDIS_LAYOUT_MARKED_LOG,
                           REDIS_LAYOUT_MARKED_EPOCH,
                           a1,
                           a2};

    if (c == NULL)
        return -ENOMEM;
    c->with_oldest = true;
    c->row_kind = REDIS_EVENT_MARKED;
    snprintf(a1, sizeof(a1), "%" PRIu64, since);
    snprintf(a2, sizeof(a2), "%" PRIu32, limit);
    return call_send(l, c, 8, argv, NULL);
}

int redis_call_history(struct redis_link *l, const char *topic, uint64_t before,
                       uint32_t limit, redis_rows_cb cb, void *ud)
{
    char a1[24] = "";
    char a2[16];

    if (before > 0)
        snprintf(a1, sizeof(a1), "%" PRIu64, before);
    snprintf(a2, sizeof(a2), "%" PRIu32, limit);
    return topic_call(l, rows_call(cb, ud), "pl_history", topic, read_kinds, 4,
                      a1, a2);
}

int redis_call_retained(struct redis_link *l, const char *topic,
                        redis_rows_cb cb, void *ud)
{
    static const enum redis_topic_key kinds[3] = {
        REDIS_KEY_SEQ,
        REDIS_KEY_RET,
        REDIS_KEY_EPOCH,
    };
    struct call *c = rows_call(cb, ud);

    if (c != NULL)
        c->single = true;
    return topic_call(l, c, "pl_retained", topic, kinds, 3, NULL, NULL);
}

static int pres_call(struct redis_link *l, const char *fn, const char *node,
                     const char *topic, const char *user, redis_int_cb cb,
                     void *ud)
{
    char k1[REDIS_NAME_MAX], k2[REDIS_NAME_MAX];
    char field[REDIS_NAME_MAX], channel[REDIS_NAME_MAX];
    const char *argv[8] = {"FCALL", fn, "2", k1, k2, field, user, channel};
    struct call *c = NULL;

    if (redis_layout_topic_key(k1, sizeof(k1), topic, REDIS_KEY_PRES) < 0 ||
        redis_layout_node_pres_key(k2, sizeof(k2), node) < 0 ||
        redis_layout_pres_field(field, sizeof(field), topic, user) < 0 ||
        redis_layout_channel(channel, sizeof(channel), topic) < 0)
        return -ENAMETOOLONG;
    c = call_new(CALL_INT, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.num = cb;
    return call_send(l, c, 8, argv, NULL);
}

int redis_call_pres_join(struct redis_link *l, const char *node,
                         const char *topic, const char *user, redis_int_cb cb,
                         void *ud)
{
    return pres_call(l, "pl_pres_join", node, topic, user, cb, ud);
}

int redis_call_pres_leave(struct redis_link *l, const char *node,
                          const char *topic, const char *user, redis_int_cb cb,
                          void *ud)
{
    return pres_call(l, "pl_pres_leave", node, topic, user, cb, ud);
}

int redis_call_node_beat(struct redis_link *l, const char *node,
                         uint32_t ttl_ms, redis_int_cb cb, void *ud)
{
    char hb[REDIS_NAME_MAX];
    char ttl[16];
    const char *argv[8] = {
        "FCALL", "pl_node_beat", "2", REDIS_LAYOUT_NODES,
        hb,      node,           ttl, "parleyd " PARLEY_VERSION};
    struct call *c = NULL;

    if (redis_layout_node_key(hb, sizeof(hb), node) < 0)
        return -ENAMETOOLONG;
    snprintf(ttl, sizeof(ttl), "%" PRIu32, ttl_ms);
    c = call_new(CALL_INT, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.num = cb;
    return call_send(l, c, 8, argv, NULL);
}

int redis_call_pres_members(struct redis_link *l, const char *topic,
                            redis_list_cb cb, void *ud)
{
    static const enum redis_topic_key kinds[1] = {REDIS_KEY_PRES};
    struct call *c = call_new(CALL_LIST, ud);

    if (c != NULL)
        c->cb.list = cb;
    return topic_call(l, c, "pl_pres_members", topic, kinds, 1, NULL, NULL);
}

int redis_call_node_reap(struct redis_link *l, uint32_t limit, redis_list_cb cb,
                         void *ud)
{
    char n[16];
    const char *argv[5] = {"FCALL", "pl_node_reap", "1", REDIS_LAYOUT_NODES, n};
    struct call *c = call_new(CALL_LIST, ud);

    if (c == NULL)
        return -ENOMEM;
    c->cb.list = cb;
    snprintf(n, sizeof(n), "%" PRIu32, limit);
    return call_send(l, c, 5, argv, NULL);
}

int redis_call_node_leave(struct redis_link *l, const char *node,
                          redis_int_cb cb, void *ud)
{
    const char *argv[5] = {"FCALL", "pl_node_leave", "1", REDIS_LAYOUT_NODES,
                           node};
    struct call *c = call_new(CALL_INT, ud);

    if (c == NULL)
        return -ENOMEM;
    c->cb.num = cb;
    return call_send(l, c, 5, argv, NULL);
}

int redis_call_mark(struct redis_link *l, const char *topic, const char *user,
                    int64_t seq, const char *node, redis_ints_cb cb, void *ud)
{
    static const enum redis_topic_key kinds[2] = {REDIS_KEY_SEQ,
                                                  REDIS_KEY_MARKS};
    char keys[2][REDIS_NAME_MAX];
    char want[24];
    const char *argv[13] = {"FCALL",
                            "pl_mark",
                            "5",
                            keys[0],
                            keys[1],
                            REDIS_LAYOUT_MARKED_SEQ,
                            REDIS_LAYOUT_MARKED_LOG,
                            REDIS_LAYOUT_MARKED_EPOCH,
                            user,
                            want,
                            node,
                            REDIS_LAYOUT_MARKED,
                            topic};
    struct call *c = NULL;

    if (topic_keys(keys, topic, kinds, 2) < 0)
        return -ENAMETOOLONG;
    snprintf(want, sizeof(want), "%" PRId64, seq > 0 ? seq : 0);
    c = call_new(CALL_INTS, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.ints = cb;
    return call_send(l, c, 13, argv, NULL);
}

/* FCALL fn with kinds[0..nk) of each of topics[0..n) as its keys, then
 * args[0..na). */
static int topics_call(struct redis_link *l, struct call *c, const char *fn,
                       const char *const *topics, size_t n,
                       const enum redis_topic_key *kinds, size_t nk,
                       const char *const *args, size_t na)
{
    size_t argc = 3 + nk * n + na;
    const char **argv = calloc(argc, sizeof(*argv));
    char(*keys)[REDIS_NAME_MAX] = calloc(nk * n + 1, sizeof(*keys));
    char nks[24];
    size_t i, a = 0;
    int rc = -ENOMEM;

    if (c == NULL || argv == NULL || keys == NULL)
        goto fail;
    rc = -ENAMETOOLONG;
    for (i = 0; i < n; i++)
        if (topic_keys(&keys[nk * i], topics[i], kinds, (int)nk) < 0)
            goto fail;
    snprintf(nks, sizeof(nks), "%zu", nk * n);
    argv[a++] = "FCALL";
    argv[a++] = fn;
    argv[a++] = nks;
    for (i = 0; i < nk * n; i++)
        argv[a++] = keys[i];
    for (i = 0; i < na; i++)
        argv[a++] = args[i];
    rc = call_send(l, c, (int)a, argv, NULL); /* frees c on refusal */
    c = NULL;
fail:
    free(c);
    free(keys);
    free(argv);
    return rc;
}

static struct call *ints_call(redis_ints_cb cb, void *ud)
{
    struct call *c = call_new(CALL_INTS, ud);

    if (c != NULL)
        c->cb.ints = cb;
    return c;
}

int redis_call_unread(struct redis_link *l, const char *const *topics, size_t n,
                      const char *user, int max, int budget, redis_ints_cb cb,
                      void *ud)
{
    static const enum redis_topic_key kinds[3] = {REDIS_KEY_SEQ, REDIS_KEY_LOG,
                                                  REDIS_KEY_MARKS};
    char smax[16], sbudget[16];
    const char *args[3] = {user, smax, sbudget};

    snprintf(smax, sizeof(smax), "%d", max);
    snprintf(sbudget, sizeof(sbudget), "%d", budget);
    return topics_call(l, ints_call(cb, ud), "pl_unread", topics, n, kinds, 3,
                       args, 3);
}

int redis_call_topic_info(struct redis_link *l, const char *const *topics,
                          size_t n, redis_ints_cb cb, void *ud)
{
    static const enum redis_topic_key kinds[3] = {REDIS_KEY_SEQ, REDIS_KEY_RET,
                                                  REDIS_KEY_PRES};

    return topics_call(l, ints_call(cb, ud), "pl_topic_info", topics, n, kinds,
                       3, NULL, 0);
}

int redis_call_topics(struct redis_link *l, const char *prefix,
                      const char *after, uint32_t count, redis_list_cb cb,
                      void *ud)
{
    char lo[REDIS_NAME_MAX], hi[REDIS_NAME_MAX], n[16];
    const char *argv[7] = {
        "ZRANGEBYLEX", REDIS_LAYOUT_TOPICS, lo, hi, "LIMIT", "0", n};
    struct call *c = NULL;
    int w = 0;

    /* Topic names are UTF-8, which never holds the byte 0xff: prefix
     * followed by it bounds every name that starts with prefix. */
    if (after != NULL)
        w = snprintf(lo, sizeof(lo), "(%s", after);
    else if (prefix[0] == '\0')
        w = snprintf(lo, sizeof(lo), "-");
    else
        w = snprintf(lo, sizeof(lo), "[%s", prefix);
    if (w < 0 || (size_t)w >= sizeof(lo))
        return -ENAMETOOLONG;
    w = snprintf(hi, sizeof(hi), "[%s\xff", prefix);
    if (w < 0 || (size_t)w >= sizeof(hi))
        return -ENAMETOOLONG;
    snprintf(n, sizeof(n), "%" PRIu32, count);
    c = call_new(CALL_LIST, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.list = cb;
    return call_send(l, c, 7, argv, NULL);
}

int redis_call_sweep_age(struct redis_link *l, int64_t min_ts,
                         uint32_t topics, uint32_t budget, redis_ints_cb cb,
                         void *ud)
{
    char ts[24], n[16], b[16];
    const char *argv[8] = {"FCALL", "pl_sweep_age", "2", REDIS_LAYOUT_TOPICS,
                           REDIS_LAYOUT_SWEEP, ts, n, b};
    struct call *c = ints_call(cb, ud);

    if (c == NULL)
        return -ENOMEM;
    snprintf(ts, sizeof(ts), "%" PRId64, min_ts);
    snprintf(n, sizeof(n), "%" PRIu32, topics);
    snprintf(b, sizeof(b), "%" PRIu32, budget);
    return call_send(l, c, 8, argv, NULL);
}

int redis_call_backfill(struct redis_link *l, uint32_t count, redis_ints_cb cb,
                        void *ud)
{
    char n[16];
    const char *argv[6] = {"FCALL", "pl_backfill", "2", REDIS_LAYOUT_TOPICS,
                           REDIS_LAYOUT_BACKFILL, n};
    struct call *c = ints_call(cb, ud);

    if (c == NULL)
        return -ENOMEM;
    snprintf(n, sizeof(n), "%" PRIu32, count);
    return call_send(l, c, 6, argv, NULL);
}

/* The keys of client_id's session, kinds 0..n. 0 or -ENAMETOOLONG. */
static int msess_keys(char (*keys)[REDIS_NAME_MAX], const char *client_id,
                      int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (redis_layout_msess_key(keys[i], REDIS_NAME_MAX, client_id,
                                   (enum redis_msess_key)i) < 0)
            return -ENAMETOOLONG;
    return 0;
}

int redis_call_msess_read(struct redis_link *l, const char *client_id,
                          redis_list_cb cb, void *ud)
{
    char keys[3][REDIS_NAME_MAX];
    const char *argv[6] = {"FCALL", "pl_msess_read", "3",
                           keys[0], keys[1], keys[2]};
    struct call *c = NULL;

    if (msess_keys(keys, client_id, 3) < 0)
        return -ENAMETOOLONG;
    c = call_new(CALL_LIST, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.list = cb;
    return call_send(l, c, 6, argv, NULL);
}

int redis_call_msess_release(struct redis_link *l, const char *client_id,
                             uint16_t packet_id, redis_int_cb cb, void *ud)
{
    char key[REDIS_NAME_MAX], id[8];
    const char *argv[3] = {"HDEL", key, id};
    struct call *c = NULL;

    if (redis_layout_msess_key(key, sizeof(key), client_id, REDIS_MSESS_Q2) <
        0)
        return -ENAMETOOLONG;
    snprintf(id, sizeof(id), "%u", (unsigned)packet_id);
    c = call_new(CALL_INT, ud);
    if (c == NULL)
        return -ENOMEM;
    c->cb.num = cb;
    return call_send(l, c, 3, argv, NULL);
}

int redis_call_msess_write(struct redis_link *l, const struct store_mqtt *m,
                           int64_t ttl_ms, redis_int_cb cb, void *ud)
{
    char keys[4][REDIS_NAME_MAX];
    char last_seen[24], ttl[24], nsubs[24], lease[24];
    size_t nsub = m->set_subs ? m->n_subs : 0;
    size_t argc = 14 + 2 * nsub + 2 * m->n_cursors;
    const char **argv = NULL;
    char(*nums)[24] = NULL;
    struct call *c = NULL;
    size_t a = 0, i;
    int rc = -ENOMEM;

    if (msess_keys(keys, m->client_id, 4) < 0)
        return -ENAMETOOLONG;
    argv = calloc(argc, sizeof(*argv));
    nums = calloc(nsub + m->n_cursors + 1, sizeof(*nums));
    c = call_new(CALL_INT, ud);
    if (argv == NULL || nums == NULL || c == NULL)
        goto out;
    c->cb.num = cb;
    snprintf(last_seen, sizeof(last_seen), "%" PRId64, m->now_ms);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms > 0 ? ttl_ms : 0);
    snprintf(nsubs, sizeof(nsubs), "%zu", nsub);
    lease[0] = '\0'; /* not set: unchanged */
    if (m->set_lease)
        snprintf(lease, sizeof(lease), "%" PRId64,
                 m->lease > 0 ? m->lease : 0);
    argv[a++] = "FCALL";
    argv[a++] = "pl_msess_write";
    argv[a++] = "4";
    for (i = 0; i < 4; i++)
        argv[a++] = keys[i];
    argv[a++] = m->drop ? "1" : "0";
    argv[a++] = m->user != NULL ? m->user : "";
    argv[a++] = last_seen;
    argv[a++] = ttl;
    argv[a++] = lease;
    argv[a++] = m->set_subs ? "1" : "0";
    argv[a++] = nsubs;
    for (i = 0; i < nsub; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%d", m->subs[i].qos);
        argv[a++] = m->subs[i].filter;
        argv[a++] = nums[i];
    }
    for (i = 0; i < m->n_cursors; i++) {
        snprintf(nums[nsub + i], sizeof(nums[0]), "%" PRId64,
                 m->cursors[i].seq);
        argv[a++] = m->cursors[i].topic;
        argv[a++] = nums[nsub + i];
    }
    rc = call_send(l, c, (int)a, argv, NULL); /* frees c on refusal */
    c = NULL;
out:
    free(c);
    free(nums);
    free(argv);
    return rc;
}
