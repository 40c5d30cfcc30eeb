/*
 * it_14_backup.c: the online backup (POST /api/backup, db/store_backup.c)
 * of a real parleyd under publishing load. A publisher thread keeps
 * publishing over several topics, recording every acknowledged (topic,
 * seq, n); meanwhile the test asks for a backup. A fresh parleyd started
 * on the copy must hold every message acknowledged before the request
 * with its seq and data, gapless per topic, and continue each topic's
 * seq. With auth on, only a token that may read everything may back up.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"
#include "jwt.h"

#define W ITEST_WAIT_MS
#define TOPICS 5
#define BATCH 20
#define MAX_ACKS 200000
#define PAD 600            /* bytes of padding: the copy takes many steps */
#define BEFORE_BACKUP 3000 /* acks before the backup is asked for */

struct ack {
    int topic;
    int64_t seq;
    int64_t n;
    int64_t at_us;         /* when the ack arrived (monotonic) */
};

struct load {
    int port;
    char topics[TOPICS][128];
    struct ack *acks;
    atomic_size_t n_acks;
    atomic_bool stop;
    int failed;
};

/* name, in the directory of the group's server (removed with it). */
static void path_in_server_dir(void **state, const char *name, char *buf,
                               size_t n)
{
    const struct itest *t = *state;
    const char *db = server_db(t->srv);
    const char *slash = strrchr(db, '/');

    snprintf(buf, n, "%.*s/%s", (int)(slash - db), db, name);
}

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The publisher: batches of BATCH pubs, round-robin over the topics,
 * each ack recorded, until told to stop or MAX_ACKS. */
static void *publisher(void *arg)
{
    struct load *l = arg;
    struct rawws *p = itest_hello(l->port, "loader");
    char pad[PAD + 1];
    int64_t n = 0;
    int i = 0;

    memset(pad, 'p', PAD);
    pad[PAD] = '\0';
    if (p == NULL) {
        l->failed = 1;
        return NULL;
    }
    while (!atomic_load(&l->stop) &&
           atomic_load(&l->n_acks) + BATCH <= MAX_ACKS) {
        for (i = 0; i < BATCH; i++) {
            n++;
            if (rawws_send_textf(p, "{\"op\":\"pub\",\"id\":%lld,\"topic\":"
                                 "\"%s\",\"data\":{\"n\":%lld,\"pad\":\"%s\"}}",
                                 (long long)n, l->topics[n % TOPICS],
                                 (long long)n, pad) != 0) {
                l->failed = 2;
                goto out;
            }
        }
        for (i = 0; i < BATCH; i++) {
            cJSON *ok = rawws_expect_op(p, "ok", W);
            int64_t id = 0;
            size_t k = atomic_load(&l->n_acks);

            if (ok == NULL || !tj_int(ok, "id", &id)) {
                cJSON_Delete(ok);
                l->failed = 3;
                goto out;
            }
            l->acks[k].topic = (int)(id % TOPICS);
            l->acks[k].n = id;
            tj_int(ok, "seq", &l->acks[k].seq);
            l->acks[k].at_us = mono_us();
            atomic_store(&l->n_acks, k + 1);
            cJSON_Delete(ok);
        }
    }
out:
    rawws_close(p);
    return NULL;
}

/* Every message of topic on the server at port, by seq: data.n in
 * out[seq] (0: absent), up to max_seq. Returns the topic's last seq. */
static int64_t read_topic(int port, const char *topic, int64_t *out,
                          int64_t max_seq)
{
    struct rawws *c = itest_hello(port, "checker");
    cJSON *ok = NULL;
    int64_t last = 0;
    int64_t seen = 0;

    assert_non_null(c);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"since\":0}", topic), 0);
    ok = rawws_expect_ok(c, 2, W);
    assert_non_null(ok);
    assert_true(tj_int(ok, "seq", &last));
    cJSON_Delete(ok);
    assert_true(last <= max_seq);
    while (seen < last) {
        cJSON *m = rawws_expect_op(c, "msg", W);
        const cJSON *d = NULL;
        int64_t seq = 0;
        int64_t n = 0;

        assert_non_null(m);
        assert_true(tj_int(m, "seq", &seq));
        assert_int_equal(seq, seen + 1); /* gapless, in order */
        d = cJSON_GetObjectItemCaseSensitive(m, "data");
        assert_true(tj_int(d, "n", &n));
        out[seq] = n;
        seen = seq;
        cJSON_Delete(m);
    }
    rawws_close(c);
    return last;
}

static void test_backup_under_load(void **state)
{
    int port = itest_port(state);
    struct load *l = calloc(1, sizeof(*l));
    struct server *restored = NULL;
    struct httpc_resp r;
    pthread_t th;
    char path[512];
    char req[700];
    const char *extra[3] = {"--db", path, NULL};
    int64_t requested_us = 0;
    int64_t *byseq = NULL;
    int64_t last[TOPICS];
    int64_t step_us = 0;
    cJSON *o = NULL;
    size_t n_acks = 0;
    size_t before = 0;
    size_t i = 0;
    int t = 0;

    assert_non_null(l);
    l->acks = calloc(MAX_ACKS, sizeof(*l->acks));
    byseq = calloc(MAX_ACKS + 1, sizeof(*byseq));
    assert_non_null(l->acks);
    assert_non_null(byseq);
    l->port = port;
    for (t = 0; t < TOPICS; t++)
        itest_topic(l->topics[t], sizeof(l->topics[t]), "backup");
    assert_int_equal(pthread_create(&th, NULL, publisher, l), 0);
    {
        int64_t deadline = itest_mono_ms() + 6 * W;

        while (atomic_load(&l->n_acks) < BEFORE_BACKUP && l->failed == 0 &&
               itest_left_ms(deadline) > 0)
            usleep(2000);
    }
    assert_int_equal(l->failed, 0);
    assert_true(atomic_load(&l->n_acks) >= BEFORE_BACKUP);

    path_in_server_dir(state, "copy.db", path, sizeof(path));
    snprintf(req, sizeof(req), "/api/backup?file=%s", path);
    requested_us = mono_us();
    assert_int_equal(httpc_request(port, "POST", req, NULL, NULL, 0, &r,
                                   6 * W), 0);
    fprintf(stderr, "backup: %d %s (%zu acks so far)\n", r.status, r.body,
            atomic_load(&l->n_acks));
    assert_int_equal(r.status, 200);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_true(tj_int(o, "max_step_us", &step_us));
    cJSON_Delete(o);
    httpc_resp_cleanup(&r);
    /* Keep the load on a little after the copy, then stop. */
    n_acks = atomic_load(&l->n_acks);
    while (atomic_load(&l->n_acks) < n_acks + 200 && l->failed == 0)
        usleep(2000);
    atomic_store(&l->stop, true);
    pthread_join(th, NULL);
    assert_int_equal(l->failed, 0);
    n_acks = atomic_load(&l->n_acks);
    /* A step holds the store thread; a commit waits at most that long. */
    assert_true(step_us < 100000);

    /* A second backup to the same file is refused, the first untouched. */
    assert_int_equal(httpc_request(port, "POST", req, NULL, NULL, 0, &r, W),
                     0);
    assert_int_equal(r.status, 409);
    httpc_resp_cleanup(&r);

    /* Restore: a fresh parleyd on the copy. */
    assert_int_equal(server_start(&restored, extra), 0);
    for (t = 0; t < TOPICS; t++) {
        memset(byseq, 0, (MAX_ACKS + 1) * sizeof(*byseq));
        last[t] = read_topic(server_port(restored), l->topics[t], byseq,
                             MAX_ACKS);
        for (i = 0; i < n_acks; i++) {
            const struct ack *a = &l->acks[i];

            if (a->topic != t)
                continue;
            if (a->at_us < requested_us) {
                before++;
                /* acknowledged before the backup: there, same seq */
                assert_true(a->seq <= last[t]);
                assert_int_equal(byseq[a->seq], a->n);
            } else if (a->seq <= last[t]) {
                /* in the copy or not, but never another message */
                assert_int_equal(byseq[a->seq], a->n);
            }
        }
        /* the restored server continues the topic's seq */
        {
            struct rawws *p = itest_hello(server_port(restored), "after");

            assert_non_null(p);
            assert_int_equal(itest_pub(p, 9, l->topics[t], "1"), last[t] + 1);
            rawws_close(p);
        }
    }
    fprintf(stderr, "restored: %zu acked before the backup, all there; "
            "%zu acked in total; longest step %lld us\n", before, n_acks,
            (long long)step_us);
    assert_true(before >= BEFORE_BACKUP);
    {
        int ws = 0;

        assert_int_equal(server_stop(restored, 10000, &ws), 0);
        assert_true(server_exited_cleanly(ws));
    }
    server_free(&restored);
    free(byseq);
    free(l->acks);
    free(l);
}

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

#define SECRET "it14-secret"

static int auth_setup(void **state)
{
    static const char *const extra[] = {"--secret", SECRET, NULL};

    return itest_setup(state, extra);
}

/* POST /api/backup with token (NULL: none); returns the status. */
static int backup_with(int port, const char *path, const char *token)
{
    struct httpc_resp r;
    char req[600];
    char hdr[1200] = "";
    int status = 0;

    snprintf(req, sizeof(req), "/api/backup?file=%s", path);
    if (token != NULL)
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
    assert_int_equal(httpc_request(port, "POST", req, token ? hdr : NULL,
                                   NULL, 0, &r, 2 * W), 0);
    status = r.status;
    httpc_resp_cleanup(&r);
    return status;
}

static void test_backup_needs_a_full_token(void **state)
{
    int port = itest_port(state);
    const char *chat[] = {"chat/#"};
    const char *all[] = {"#", "$SYS/#"};
    char *narrow = pl_jwt_sign(SECRET, strlen(SECRET), "ann", 0, NULL, 0,
                               chat, 1);
    char *full = pl_jwt_sign(SECRET, strlen(SECRET), "root", 0, NULL, 0,
                             all, 2);
    char path[256];

    assert_non_null(narrow);
    assert_non_null(full);
    path_in_server_dir(state, "copy.db", path, sizeof(path));
    assert_int_equal(backup_with(port, path, NULL), 401);
    assert_int_equal(backup_with(port, path, "not.a.token"), 401);
    assert_int_equal(backup_with(port, path, narrow), 403);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(backup_with(port, "relative.db", full), 400);
    /* through a proxy on this machine: not local, whatever the token */
    {
        struct httpc_resp r;
        char req[300];
        char hdr[1200];

        snprintf(req, sizeof(req), "/api/backup?file=%s", path);
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n"
                 "X-Forwarded-For: 203.0.113.9\r\n", full);
        assert_int_equal(httpc_request(port, "POST", req, hdr, NULL, 0, &r,
                                       2 * W), 0);
        assert_int_equal(r.status, 403);
        httpc_resp_cleanup(&r);
    }
    assert_int_equal(backup_with(port, path, full), 200);
    assert_int_equal(access(path, F_OK), 0);
    free(narrow);
    free(full);
}

int main(void)
{
    const struct CMUnitTest load_tests[] = {
        cmocka_unit_test(test_backup_under_load),
    };
    const struct CMUnitTest auth_tests[] = {
        cmocka_unit_test(test_backup_needs_a_full_token),
    };
    int rc = 0;

    rc |= cmocka_run_group_tests_name("backup", load_tests, group_setup,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("backup_auth", auth_tests, auth_setup,
                                      group_teardown);
    return itest_exit_code(rc);
}
