/*
 * it_cluster_chaos.c: keyed publishers and resuming subscribers spread over
 * three --redis nodes, while nodes are SIGKILLed and restarted and
 * redis-server is SIGKILLed and restarted on its AOF (appendfsync always),
 * for a bounded time (PARLEY_CHAOS_SECS, default 20). Afterwards:
 *  - no acknowledged message is lost: each acked key is stored, at the seq
 *    its ack gave;
 *  - no key is stored twice (publishers retry a failed or unanswered
 *    publish with the same key, on whichever node is up);
 *  - the topic's seq is gapless (history 1..N, every seq once);
 *  - every subscriber's stream, across its moves between nodes (`since`
 *    with the last seq it saw), is gapless and duplicate-free.
 * One thread drives everything in rounds, each wait bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>

#include "itest.h"
#include "rig_fixture.h"

#define PUBS 2
#define SUBS 3
#define KEYS_MAX 200000
#define REPLY_WAIT_MS 3000

static bool node_down[RIG_NODES];

struct pubr {
    struct rawws *c;
    int node;
    int next;            /* the key index being published */
    int64_t next_id;
    int acked;
    int retries;         /* errors and unanswered publishes, retried */
    int duplicates;      /* retries that found their key stored already */
    int64_t *seq_of;     /* [key index] -> acked seq */
};

struct subr {
    struct rawws *c;
    int node;
    int64_t last;        /* the last seq seen, across connections */
    int moves;
    bool broken;         /* a gap or a duplicate was seen */
};

static int setup(void **state)
{
    static const char *const extra[] = {"--redis", "{redis}",
                                        "--retain-messages", "1000000", NULL};

    (void)state;
    return rig_setup_with(extra);
}

/* Connect to the next live node after *node (round-robin). */
static struct rawws *connect_next(int *node, const char *name)
{
    int i;

    for (i = 0; i < RIG_NODES; i++) {
        *node = (*node + 1) % RIG_NODES;
        if (!node_down[*node]) {
            struct rawws *c =
                itest_hello(cluster_rig_node_port(&rig, *node), name);

            if (c != NULL)
                return c;
        }
    }
    return NULL;
}

/* The next text frame as JSON within ms; NULL on timeout, EOF or error
 * (*gone set for the latter two). */
static cJSON *next_json(struct rawws *c, int ms, bool *gone)
{
    struct rawws_frame f;
    int rc = rawws_recv(c, &f, ms);
    cJSON *j = NULL;

    if (rc == -ETIMEDOUT)
        return NULL;
    if (rc < 0) {
        *gone = true;
        return NULL;
    }
    if (f.opcode == RAWWS_OP_CLOSE)
        *gone = true;
    else if (f.opcode == RAWWS_OP_TEXT)
        j = cJSON_Parse((const char *)f.payload);
    rawws_frame_cleanup(&f);
    return j;
}

static void drop(struct rawws **c)
{
    rawws_close(*c);
    *c = NULL;
}

/* One publish of the publisher's current key; on an ack, move on. */
static void pub_round(struct pubr *p, int idx, const char *topic)
{
    int64_t id = 0;
    int64_t deadline = 0;
    bool gone = false;

    if (p->c == NULL && (p->c = connect_next(&p->node, "pub")) == NULL)
        return;
    id = p->next_id++;
    if (rawws_send_textf(p->c,
                         "{\"op\":\"pub\",\"id\":%lld,\"topic\":\"%s\","
                         "\"data\":{\"k\":\"p%d-%d\"},\"key\":\"p%d-%d\"}",
                         (long long)id, topic, idx, p->next, idx,
                         p->next) < 0) {
        drop(&p->c);
        return;
    }
    deadline = itest_mono_ms() + REPLY_WAIT_MS;
    while (!gone && itest_left_ms(deadline) > 0) {
        cJSON *j = next_json(p->c, itest_left_ms(deadline), &gone);
        int64_t rid = 0;
        int64_t seq = 0;

        if (j == NULL)
            continue;
        if (!tj_int(j, "id", &rid) || rid != id) {
            cJSON_Delete(j);
            continue;
        }
        if (tj_str_is(j, "op", "ok") && tj_int(j, "seq", &seq)) {
            p->seq_of[p->next++] = seq;
            p->acked++;
            p->duplicates += tj_is_true(j, "duplicate");
        } else {
            p->retries++;
            (void)poll(NULL, 0, 20); /* storage out of reach: retry soon */
        }
        cJSON_Delete(j);
        return;
    }
    p->retries++;
    drop(&p->c); /* no answer: the same key again, elsewhere */
}

/* Take what arrived; (re)subscribe with since after a move. */
static void sub_round(struct subr *s, const char *topic)
{
    bool gone = false;
    cJSON *j = NULL;
    int n = 0;

    if (s->c == NULL) {
        if ((s->c = connect_next(&s->node, "sub")) == NULL)
            return;
        s->moves++;
        if (rawws_send_textf(s->c,
                             "{\"op\":\"sub\",\"id\":2,\"topic\":\"%s\","
                             "\"since\":%lld}",
                             topic, (long long)s->last) < 0) {
            drop(&s->c);
            return;
        }
        j = next_json(s->c, REPLY_WAIT_MS, &gone);
        if (j == NULL || !tj_str_is(j, "op", "ok")) {
            cJSON_Delete(j);
            drop(&s->c); /* storage out of reach, or node gone: again */
            return;
        }
        if (tj_has(j, "recovered")) {
            tj_dump("chaos: a since could not be recovered", j);
            s->broken = true;
        }
        cJSON_Delete(j);
    }
    while (n++ < 1000 && (j = next_json(s->c, 1, &gone)) != NULL) {
        int64_t seq = 0;

        if (tj_str_is(j, "op", "msg") && tj_int(j, "seq", &seq)) {
            if (seq != s->last + 1) {
                fprintf(stderr, "chaos: subscriber got seq %lld after %lld\n",
                        (long long)seq, (long long)s->last);
                s->broken = true;
            }
            s->last = seq;
        }
        cJSON_Delete(j);
    }
    if (gone)
        drop(&s->c);
}

/* One disruption per tick: bring a dead node back, else kill Redis (every
 * fourth tick) or a node. */
static void chaos_tick(unsigned *rnd, int tick)
{
    int i;

    for (i = 0; i < RIG_NODES; i++) {
        if (node_down[i]) {
            assert_int_equal(server_restart(rig.nodes[i]), 0);
            node_down[i] = false;
            return;
        }
    }
    if (tick % 4 == 3) {
        assert_int_equal(redis_proc_kill9(rig.redis), 0);
        assert_int_equal(redis_proc_restart(rig.redis, 0), 0);
        return;
    }
    i = (int)(rand_r(rnd) % RIG_NODES);
    assert_int_equal(server_kill9(rig.nodes[i]), 0);
    node_down[i] = true;
}

/* Every stored message of topic, 1..latest, by history pages: returns the
 * count, with keys[seq] = "p<i>-<n>" (malloc'd). */
static int64_t read_all(const char *topic, char **keys, int64_t max)
{
    struct rawws *c = itest_hello(cluster_rig_node_port(&rig, 0), "audit");
    int64_t before = 0;
    int64_t count = 0;
    int64_t id = 10;

    assert_non_null(c);
    for (;;) {
        cJSON *ok = NULL;
        const cJSON *msgs = NULL;
        const cJSON *m = NULL;
        int64_t oldest = 0;

        assert_int_equal(rawws_send_textf(c,
                                          "{\"op\":\"history\",\"id\":%lld,"
                                          "\"topic\":\"%s\",\"before\":%lld,"
                                          "\"limit\":1000}",
                                          (long long)id, topic,
                                          (long long)before),
                         0);
        ok = rawws_expect_ok(c, id++, ITEST_WAIT_MS);
        assert_non_null(ok);
        msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
        cJSON_ArrayForEach(m, msgs)
        {
            int64_t seq = tj_int_or(m, "seq", 0);
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");
            const char *k = tj_str(d, "k");

            assert_true(seq >= 1 && seq < max && k != NULL);
            assert_null(keys[seq]); /* each seq once */
            keys[seq] = strdup(k);
            count++;
            if (oldest == 0 || seq < oldest)
                oldest = seq;
        }
        cJSON_Delete(ok);
        if (oldest <= 1)
            break;
        before = oldest;
    }
    rawws_close(c);
    return count;
}

static void test_chaos(void **state)
{
    const char *env = getenv("PARLEY_CHAOS_SECS");
    int secs = env != NULL ? atoi(env) : 20;
    char topic[96];
    struct pubr pubs[PUBS];
    struct subr subs[SUBS];
    unsigned rnd = 12345;
    int64_t end = 0;
    int64_t next_tick = 0;
    int64_t latest = 0;
    int64_t stored = 0;
    char **keys = NULL;
    int tick = 0;
    int i, k;

    (void)state;
    if (secs < 1 || secs > 600)
        secs = 20;
    itest_topic(topic, sizeof(topic), "chaos/t");
    memset(pubs, 0, sizeof(pubs));
    memset(subs, 0, sizeof(subs));
    for (i = 0; i < PUBS; i++) {
        pubs[i].node = i;
        pubs[i].next_id = 100;
        pubs[i].seq_of = calloc(KEYS_MAX, sizeof(int64_t));
        assert_non_null(pubs[i].seq_of);
    }
    for (i = 0; i < SUBS; i++)
        subs[i].node = i + 1;

    end = itest_mono_ms() + (int64_t)secs * 1000;
    next_tick = itest_mono_ms() + 1500;
    while (itest_mono_ms() < end) {
        for (i = 0; i < PUBS; i++)
            if (pubs[i].next < KEYS_MAX - 1)
                pub_round(&pubs[i], i, topic);
        for (i = 0; i < SUBS; i++)
            sub_round(&subs[i], topic);
        if (itest_mono_ms() >= next_tick) {
            chaos_tick(&rnd, tick++);
            next_tick = itest_mono_ms() + 1500;
        }
    }
    /* calm: every node up, the last pending keys acked */
    for (i = 0; i < RIG_NODES; i++) {
        if (node_down[i]) {
            assert_int_equal(server_restart(rig.nodes[i]), 0);
            node_down[i] = false;
        }
    }
    for (i = 0; i < PUBS; i++) {
        int target = pubs[i].next + 1;
        int64_t deadline = itest_mono_ms() + 15000;

        while (pubs[i].next < target && itest_left_ms(deadline) > 0)
            pub_round(&pubs[i], i, topic);
        assert_int_equal(pubs[i].next, target);
    }

    latest = itest_topic_seq(cluster_rig_node_port(&rig, 1), topic);
    fprintf(stderr,
            "chaos: %d s, %d disruptions, %lld stored, acked %d + %d, "
            "retried %d + %d (found stored already: %d + %d)\n",
            secs, tick, (long long)latest, pubs[0].acked, pubs[1].acked,
            pubs[0].retries, pubs[1].retries, pubs[0].duplicates,
            pubs[1].duplicates);
    assert_true(latest > 0 && latest < KEYS_MAX);
    keys = calloc((size_t)latest + 1, sizeof(char *));
    assert_non_null(keys);
    stored = read_all(topic, keys, latest + 1);
    /* gapless: every seq 1..latest once */
    assert_int_equal(stored, latest);
    /* every ack is stored at its seq; no key twice */
    for (i = 0; i < PUBS; i++) {
        for (k = 0; k < pubs[i].next; k++) {
            char want[32];
            int64_t seq = pubs[i].seq_of[k];

            snprintf(want, sizeof(want), "p%d-%d", i, k);
            assert_true(seq >= 1 && seq <= latest);
            assert_string_equal(keys[seq], want);
        }
    }
    /* Every key was acked at last (the calm phase), each at its own seq:
     * anything stored beyond them would be a key stored twice. */
    assert_int_equal(latest, pubs[0].next + pubs[1].next);
    /* every subscriber catches up, gapless across its moves */
    for (i = 0; i < SUBS; i++) {
        int64_t deadline = itest_mono_ms() + 15000;

        while (subs[i].last < latest && itest_left_ms(deadline) > 0)
            sub_round(&subs[i], topic);
        fprintf(stderr, "chaos: subscriber %d moved %d times, at %lld\n", i,
                subs[i].moves, (long long)subs[i].last);
        assert_false(subs[i].broken);
        assert_int_equal(subs[i].last, latest);
        if (subs[i].c != NULL)
            rawws_close(subs[i].c);
    }
    for (i = 0; i < PUBS; i++) {
        if (pubs[i].c != NULL)
            rawws_close(pubs[i].c);
        free(pubs[i].seq_of);
    }
    for (k = 0; k <= latest; k++)
        free(keys[k]);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chaos),
    };

    return itest_exit_code(cmocka_run_group_tests(tests, setup, rig_teardown));
}
