/*
 * test_mqtt_inflight.c: unit tests of server/mqtt_inflight.c: packet ids
 * (sequential, wrapping, skipping those in use), the bounded window and
 * its holes, the QoS 1 and QoS 2 flows with every out-of-turn ack, retry
 * order on a timer and on reconnect, restoring a stored session, and the
 * inbound QoS 2 set that stores a retried publish once. A seeded random
 * run checks the window against a plain model. The packet-id lease: its
 * arithmetic across the 65535 -> 1 wrap, the restart's sweep and its owed
 * PUBRELs, and a random run with crashes against a Method B client.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt_inflight.h"

/* Items are small ints; releasing one counts it. */
struct owner {
    unsigned released;
    unsigned last;
};

static void release(void *item, void *ctx)
{
    struct owner *o = ctx;

    o->released++;
    o->last = (unsigned)(uintptr_t)item;
}

#define ITEM(n) ((void *)(uintptr_t)(n))

static void test_init(void **state)
{
    struct mqtt_inflight w;

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 0, NULL, NULL), -EINVAL);
    assert_int_equal(
        mqtt_inflight_init(&w, MQTT_INFLIGHT_WINDOW_MAX + 1, NULL, NULL),
        -EINVAL);
    assert_int_equal(mqtt_inflight_init(&w, MQTT_INFLIGHT_WINDOW_MAX, NULL,
                                        NULL),
                     0);
    mqtt_inflight_cleanup(&w);
    assert_int_equal(mqtt_inflight_init(&w, 1, NULL, NULL), 0);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(1), 0, 0), -EINVAL);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(1), 3, 0), -EINVAL);
    assert_int_equal(mqtt_inflight_count(&w), 0);
    mqtt_inflight_cleanup(&w);
}

static void test_qos1_window(void **state)
{
    struct owner o = {0};
    struct mqtt_inflight w;

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 3, release, &o), 0);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(10), 1, 0), 1);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(11), 1, 0), 2);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(12), 1, 0), 3);
    assert_true(mqtt_inflight_full(&w));
    assert_int_equal(mqtt_inflight_add(&w, ITEM(13), 1, 0), -EAGAIN);
    assert_int_equal(o.released, 0); /* a refused item is not taken */

    /* a hole in the middle does not open the window ... */
    assert_int_equal(mqtt_inflight_puback(&w, 2), 0);
    assert_int_equal(o.last, 11);
    assert_int_equal(mqtt_inflight_count(&w), 2);
    assert_true(mqtt_inflight_full(&w));
    assert_int_equal(mqtt_inflight_puback(&w, 2), -ENOENT);
    /* ... the oldest one's ack does, past the hole */
    assert_int_equal(mqtt_inflight_puback(&w, 1), 0);
    assert_false(mqtt_inflight_full(&w));
    assert_int_equal(mqtt_inflight_add(&w, ITEM(13), 1, 0), 4);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(14), 1, 0), 5);
    assert_true(mqtt_inflight_full(&w));
    /* the newest one's ack shrinks the window from its end */
    assert_int_equal(mqtt_inflight_puback(&w, 5), 0);
    assert_false(mqtt_inflight_full(&w));
    assert_int_equal(mqtt_inflight_puback(&w, 0), -ENOENT);
    assert_int_equal(mqtt_inflight_puback(&w, 99), -ENOENT);
    assert_int_equal(o.released, 3);
    mqtt_inflight_cleanup(&w); /* 12 and 13 still held */
    assert_int_equal(o.released, 5);
}

static void test_qos2_flow(void **state)
{
    struct owner o = {0};
    struct mqtt_inflight w;
    int id1;
    int id2;

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 4, release, &o), 0);
    id1 = mqtt_inflight_add(&w, ITEM(20), 2, 0);
    id2 = mqtt_inflight_add(&w, ITEM(21), 1, 0);
    assert_int_equal(id1, 1);
    assert_int_equal(id2, 2);

    /* acks of the wrong kind or out of turn */
    assert_int_equal(mqtt_inflight_puback(&w, (uint16_t)id1), -EPROTO);
    assert_int_equal(mqtt_inflight_pubcomp(&w, (uint16_t)id1), -EPROTO);
    assert_int_equal(mqtt_inflight_pubrec(&w, (uint16_t)id2, 0), -EPROTO);
    assert_int_equal(mqtt_inflight_pubcomp(&w, (uint16_t)id2), -EPROTO);
    assert_int_equal(mqtt_inflight_pubrec(&w, 77, 0), -ENOENT);
    assert_int_equal(mqtt_inflight_pubcomp(&w, 77), -ENOENT);
    assert_int_equal(o.released, 0);

    /* PUBREC: the message and the id stay until PUBCOMP */
    assert_int_equal(mqtt_inflight_pubrec(&w, (uint16_t)id1, 5), 0);
    assert_int_equal(o.released, 0);
    assert_int_equal(mqtt_inflight_count(&w), 2);
    assert_int_equal(mqtt_inflight_pubrec(&w, (uint16_t)id1, 6), 0); /* again */
    assert_int_equal(o.released, 0);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(22), 2, 0), 3);
    assert_int_equal(mqtt_inflight_pubcomp(&w, (uint16_t)id1), 0);
    assert_int_equal(o.released, 1);
    assert_int_equal(o.last, 20);
    assert_int_equal(mqtt_inflight_pubcomp(&w, (uint16_t)id1), -ENOENT);
    assert_int_equal(mqtt_inflight_count(&w), 2);
    mqtt_inflight_cleanup(&w);
    assert_int_equal(o.released, 3);
}

/* Ids wrap from 65535 to 1 and skip one still in flight. */
static void test_ids_wrap_and_skip(void **state)
{
    struct mqtt_inflight w;
    int id = 0;

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 2, NULL, NULL), 0);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(1), 1, 0), 1); /* stuck */
    for (unsigned i = 2; i <= UINT16_MAX; i++) {
        id = mqtt_inflight_add(&w, ITEM(i), 1, 0);
        assert_int_equal(id, (int)i);
        assert_int_equal(mqtt_inflight_puback(&w, (uint16_t)id), 0);
    }
    /* after 65535 comes 1, which is in use: 2 */
    assert_int_equal(mqtt_inflight_add(&w, ITEM(2), 2, 0), 2);
    assert_int_equal(mqtt_inflight_count(&w), 2);
    mqtt_inflight_cleanup(&w);
}

struct resent {
    uint16_t ids[16];
    uint8_t states[16];
    unsigned n;
};

static void on_resend(const struct mqtt_inflight_entry *e, void *arg)
{
    struct resent *r = arg;

    assert_true(r->n < 16);
    r->ids[r->n] = e->packet_id;
    r->states[r->n] = e->state;
    r->n++;
}

static void test_resend_order(void **state)
{
    struct mqtt_inflight w;
    struct resent r = {0};

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 8, NULL, NULL), 0);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(1), 1, 0), 1);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(2), 2, 10), 2);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(3), 1, 20), 3);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(4), 2, 30), 4);

    /* a timer at 25 with a 10 ms timeout: the two oldest, in order */
    assert_int_equal(mqtt_inflight_resend(&w, 25, 10, on_resend, &r), 2);
    assert_int_equal(r.ids[0], 1);
    assert_int_equal(r.ids[1], 2);
    /* at 32: 3 is due (12 ms) but 1 (7 ms) is not, and nothing passes it */
    r.n = 0;
    assert_int_equal(mqtt_inflight_resend(&w, 32, 10, on_resend, &r), 0);
    /* a clock that went back resends nothing */
    assert_int_equal(mqtt_inflight_resend(&w, 5, 10, on_resend, &r), 0);

    /* 2 reaches PUBREL, 1 is acked: a reconnect resends all, oldest
     * first, PUBREL for 2 and PUBLISH for the others */
    assert_int_equal(mqtt_inflight_pubrec(&w, 2, 40), 0);
    assert_int_equal(mqtt_inflight_puback(&w, 1), 0);
    r.n = 0;
    assert_int_equal(mqtt_inflight_resend(&w, 41, 0, on_resend, &r), 3);
    assert_int_equal(r.ids[0], 2);
    assert_int_equal(r.states[0], MQTT_INFLIGHT_WAIT_COMP);
    assert_int_equal(r.ids[1], 3);
    assert_int_equal(r.states[1], MQTT_INFLIGHT_WAIT_ACK);
    assert_int_equal(r.ids[2], 4);
    assert_int_equal(r.states[2], MQTT_INFLIGHT_WAIT_ACK);
    mqtt_inflight_cleanup(&w);
}

static void test_restore(void **state)
{
    static const struct {
        void *item;
        uint8_t qos;
        enum mqtt_inflight_state state;
        uint16_t id;
        int want;
    } bad[] = {
        {ITEM(2), 1, MQTT_INFLIGHT_WAIT_ACK, 9, -EEXIST},
        {ITEM(2), 1, MQTT_INFLIGHT_WAIT_COMP, 10, -EINVAL},
        {ITEM(2), 2, MQTT_INFLIGHT_WAIT_COMP, 10, -EINVAL}, /* no message
                                                             * past PUBREC */
        {ITEM(2), 1, MQTT_INFLIGHT_FREE, 10, -EINVAL},
        {ITEM(2), 1, MQTT_INFLIGHT_WAIT_ACK, 0, -EINVAL},
        {ITEM(2), 3, MQTT_INFLIGHT_WAIT_ACK, 10, -EINVAL},
    };
    struct owner o = {0};
    struct mqtt_inflight w;
    struct resent r = {0};

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 3, release, &o), 0);
    assert_int_equal(mqtt_inflight_restore(&w, ITEM(1), 1,
                                           MQTT_INFLIGHT_WAIT_ACK, 700, 0),
                     0);
    assert_int_equal(mqtt_inflight_restore(&w, NULL, 2,
                                           MQTT_INFLIGHT_WAIT_COMP, 9, 0),
                     0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(mqtt_inflight_restore(&w, bad[i].item, bad[i].qos,
                                               bad[i].state, bad[i].id, 0),
                         bad[i].want);
    /* new ids continue after the last restored one */
    assert_int_equal(mqtt_inflight_add(&w, ITEM(3), 1, 0), 10);
    assert_int_equal(mqtt_inflight_restore(&w, ITEM(4), 1,
                                           MQTT_INFLIGHT_WAIT_ACK, 11, 0),
                     -EAGAIN);
    assert_int_equal(mqtt_inflight_resend(&w, 1, 0, on_resend, &r), 3);
    assert_int_equal(r.ids[0], 700);
    assert_int_equal(r.ids[1], 9);
    assert_int_equal(r.ids[2], 10);
    assert_int_equal(mqtt_inflight_pubcomp(&w, 9), 0);
    assert_int_equal(o.released, 0);
    mqtt_inflight_cleanup(&w);
    assert_int_equal(o.released, 2);
}

/* Random adds and acks against a model: ids unique among those in
 * flight, every item released exactly once, counts agree. */
static void test_random_model(void **state)
{
    enum { WIN = 7, STEPS = 20000 };
    struct owner o = {0};
    struct mqtt_inflight w;
    uint16_t ids[WIN * 2];
    uint8_t qos[WIN * 2];
    uint8_t recd[WIN * 2];
    unsigned n = 0;
    unsigned added = 0;
    unsigned seed = 1234;

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, WIN, release, &o), 0);
    for (unsigned step = 0; step < STEPS; step++) {
        unsigned r;

        seed = seed * 1103515245u + 12345u;
        r = (seed >> 16) & 0x7fff;
        if (r % 2 == 0) {
            uint8_t q = (uint8_t)(1 + r / 2 % 2);
            int id = mqtt_inflight_add(&w, ITEM(added + 1), q, step);

            if (id == -EAGAIN) {
                assert_true(mqtt_inflight_full(&w));
                continue;
            }
            assert_true(id > 0);
            for (unsigned i = 0; i < n; i++)
                assert_int_not_equal(ids[i], id);
            assert_true(n < WIN);
            ids[n] = (uint16_t)id;
            qos[n] = q;
            recd[n] = 0;
            n++;
            added++;
        } else if (n > 0) {
            unsigned i = r / 2 % n;

            if (qos[i] == 1) {
                assert_int_equal(mqtt_inflight_puback(&w, ids[i]), 0);
            } else if (!recd[i]) {
                assert_int_equal(mqtt_inflight_pubrec(&w, ids[i], step), 0);
                recd[i] = 1;
                continue;
            } else {
                assert_int_equal(mqtt_inflight_pubcomp(&w, ids[i]), 0);
            }
            n--;
            ids[i] = ids[n];
            qos[i] = qos[n];
            recd[i] = recd[n];
        }
        assert_int_equal(mqtt_inflight_count(&w), n);
    }
    mqtt_inflight_cleanup(&w);
    assert_int_equal(o.released, added);
}

/* Counts to ids: 1..65535, then 1 again, never 0; and back. */
static void test_pid_wrap(void **state)
{
    (void)state;
    assert_int_equal(mqtt_pid_of(1), 1);
    assert_int_equal(mqtt_pid_of(65535), 65535);
    assert_int_equal(mqtt_pid_of(65536), 1);
    assert_int_equal(mqtt_pid_of(131070), 65535);
    assert_int_equal(mqtt_pid_of(131071), 1);
    for (uint64_t n = 65500; n < 65600; n++)
        assert_int_not_equal(mqtt_pid_of(n), 0);
    assert_true(mqtt_pid_count(65536, 1) == 65536);
    assert_true(mqtt_pid_count(65536, 65535) == 65535);
    assert_true(mqtt_pid_count(65536, 2) == 2);
    assert_true(mqtt_pid_count(70000, mqtt_pid_of(69990)) == 69990);
    assert_true(mqtt_pid_count(10, 10) == 10);
}

/* A window hands out no id past its lease, across the wrap too, and
 * counts an id skipped because it is in use against the lease. */
static void test_lease_window(void **state)
{
    struct mqtt_inflight w;

    (void)state;
    assert_int_equal(mqtt_inflight_init(&w, 8, NULL, NULL), 0);
    w.lease = 2;
    assert_int_equal(mqtt_inflight_add(&w, ITEM(1), 2, 0), 1);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(2), 1, 0), 2);
    assert_true(mqtt_inflight_full(&w));
    assert_int_equal(mqtt_inflight_add(&w, ITEM(3), 1, 0), -EAGAIN);
    assert_int_equal(mqtt_inflight_count(&w), 2);
    assert_int_equal(mqtt_inflight_puback(&w, 2), 0);
    assert_true(mqtt_inflight_full(&w)); /* room, but no lease */
    /* past the wrap: counts 65534.. are ids 65534, 65535, 1 (in use:
     * skipped, and counted), 2 */
    w.issued = 65533;
    w.lease = 65536;
    assert_int_equal(mqtt_inflight_add(&w, ITEM(4), 2, 0), 65534);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(5), 2, 0), 65535);
    assert_int_equal(mqtt_inflight_add(&w, ITEM(6), 2, 0), -EAGAIN);
    w.lease = 65537;
    assert_int_equal(mqtt_inflight_add(&w, ITEM(6), 2, 0), 2);
    assert_true(w.issued == 65537);
    assert_true(mqtt_inflight_oldest_qos2(&w) == 65536); /* id 1, taken
                                                            as the latest
                                                            count */
    mqtt_inflight_cleanup(&w);
}

/* When a lease is asked for, and which ids a restart sweeps. */
static void test_lease_arithmetic(void **state)
{
    const uint64_t s = MQTT_PID_LEASE_STEP;
    uint64_t from = 0, n = 0;

    (void)state;
    assert_true(mqtt_pid_hold_bound(64) == 3 * s / 2 + 64);
    /* a new session: nothing held, the first lease at once */
    assert_true(mqtt_pid_lease_next(0, 0, 1, 64) == s);
    /* not within half a step yet */
    assert_true(mqtt_pid_lease_next(s / 2 - 1, s, s / 2, 64) == 0);
    assert_true(mqtt_pid_lease_next(s / 2, s, s / 2 + 1, 64) == 2 * s);
    /* held back while the client may hold a count R or more below the
     * new lease: 2s - R = 64 */
    assert_true(mqtt_pid_lease_next(s, s, 64, 64) == 0);
    assert_true(mqtt_pid_lease_next(s, s, 65, 64) == 2 * s);
    /* a full window at the ask never holds it back */
    assert_true(mqtt_pid_lease_next(s / 2, s, s / 2 - 64 + 1, 64) == 2 * s);

    mqtt_pid_sweep(0, 64, &from, &n);
    assert_true(n == 0);
    mqtt_pid_sweep(s, 64, &from, &n);
    assert_true(from == 1 && n == s);
    mqtt_pid_sweep(1000, 64, &from, &n);
    assert_true(from == 1000 - 448 + 1 && n == 448);
    /* across the wrap: ids 65153..65535, then 1..65 */
    mqtt_pid_sweep(65600, 64, &from, &n);
    assert_true(from == 65153 && n == 448);
    assert_int_equal(mqtt_pid_of(from + n - 1), 65);
}

static void collect(uint16_t pid, void *arg)
{
    struct resent *r = arg;

    if (r->n < 16)
        r->ids[r->n] = pid;
    r->n++;
}

/* The PUBRELs owed after a restart, across the wrap, answered in any
 * order; a PUBCOMP for another id is not one of them. */
static void test_owed(void **state)
{
    struct mqtt_pid_owed o;
    struct resent r = {0};
    uint32_t next = 0;

    (void)state;
    assert_int_equal(mqtt_pid_owed_init(&o, 65533, 5), 0); /* 65533..2 */
    assert_true(mqtt_pid_owed_oldest(&o) == 65533);
    assert_false(mqtt_pid_owed_done(&o, 3));
    assert_false(mqtt_pid_owed_done(&o, 65532));
    assert_false(mqtt_pid_owed_done(&o, 0));
    assert_true(mqtt_pid_owed_done(&o, 1));
    assert_false(mqtt_pid_owed_done(&o, 1)); /* once */
    mqtt_pid_owed_each(&o, &next, 2, collect, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ids[0], 65533);
    assert_int_equal(r.ids[1], 65534);
    mqtt_pid_owed_each(&o, &next, 100, collect, &r);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.ids[2], 65535);
    assert_int_equal(r.ids[3], 2);
    assert_true(next == 5);
    assert_true(mqtt_pid_owed_done(&o, 65533));
    assert_true(mqtt_pid_owed_oldest(&o) == 65534);
    assert_true(mqtt_pid_owed_done(&o, 65534));
    assert_true(mqtt_pid_owed_done(&o, 2));
    assert_true(mqtt_pid_owed_done(&o, 65535));
    assert_true(mqtt_pid_owed_oldest(&o) == UINT64_MAX);
    assert_null(o.bits);
    mqtt_pid_owed_cleanup(&o);
    assert_int_equal(mqtt_pid_owed_init(&o, 1, 65536), -EINVAL);
}

/* A client keeping QoS 2 ids as 4.3.3 Method B does, and the server's
 * side of the lease, with commits that lag and crashes at random. */
struct crash_model {
    struct mqtt_inflight w;
    struct mqtt_pid_owed owed;
    uint64_t lease;   /* committed, as the process knows it */
    uint64_t db;      /* committed in the store */
    uint64_t want;    /* asked for, 0: none */
    unsigned delay;   /* turns until the ask commits */
    bool held[65536];
    uint64_t held_n[65536];
    unsigned crashes, sweeps_pending;
};

static void model_crash(struct crash_model *m, unsigned window)
{
    uint64_t from = 0, n = 0;

    mqtt_pid_sweep(m->db, window, &from, &n);
    /* the property: every id the client holds gets a PUBREL */
    for (unsigned id = 1; id <= UINT16_MAX; id++)
        if (m->held[id])
            assert_true(m->held_n[id] >= from && m->held_n[id] < from + n);
    m->sweeps_pending += m->owed.left > 0;
    mqtt_inflight_cleanup(&m->w);
    assert_int_equal(mqtt_inflight_init(&m->w, window, NULL, NULL), 0);
    mqtt_pid_owed_cleanup(&m->owed);
    if (n > 0)
        assert_int_equal(mqtt_pid_owed_init(&m->owed, from, (uint32_t)n),
                         0);
    m->lease = m->db;
    m->w.issued = m->db;
    m->want = 0;
    m->crashes++;
}

static void test_lease_crash_model(void **state)
{
    enum { WIN = 8, STEPS = 2000000 };
    struct crash_model *m = calloc(1, sizeof(*m));
    unsigned seed = 77;
    unsigned sent = 0;

    (void)state;
    assert_non_null(m);
    assert_int_equal(mqtt_inflight_init(&m->w, WIN, NULL, NULL), 0);
    m->w.lease = 0;
    for (unsigned step = 0; step < STEPS; step++) {
        unsigned r = 0;

        seed = seed * 1103515245u + 12345u;
        r = (seed >> 8) & 0xffffff;
        if (r % 8 < 3) { /* a delivery: the lease first */
            uint64_t oldest = mqtt_inflight_oldest_qos2(&m->w);
            uint64_t owed = mqtt_pid_owed_oldest(&m->owed);
            uint64_t next = 0;
            uint8_t q = (uint8_t)(1 + r / 8 % 2);
            int id = 0;

            m->w.lease = m->lease;
            if (m->want == 0) {
                next = mqtt_pid_lease_next(m->w.issued, m->lease,
                                           owed < oldest ? owed : oldest,
                                           WIN);
                if (next != 0) {
                    m->want = next;
                    m->delay = r / 16 % 6;
                }
            }
            id = mqtt_inflight_add(&m->w, NULL, q, 0);
            if (id < 0)
                continue;
            sent++;
            assert_true(m->w.issued <= m->db);
            if (q == 2) {
                assert_false(m->held[id]); /* never reused while held */
                m->held[id] = true;
                m->held_n[id] = m->w.issued;
            }
        } else if (r % 8 < 5 && mqtt_inflight_count(&m->w) > 0) {
            const struct mqtt_inflight_entry *e = NULL;
            unsigned k = r / 8 % WIN;

            while ((e = mqtt_inflight_at(&m->w, k)) == NULL ||
                   e->state == MQTT_INFLIGHT_FREE)
                k = k == 0 ? WIN : k - 1;
            if (e->qos == 1) {
                assert_int_equal(mqtt_inflight_puback(&m->w, e->packet_id),
                                 0);
            } else if (e->state == MQTT_INFLIGHT_WAIT_ACK) {
                mqtt_inflight_pubrec(&m->w, e->packet_id, 0);
            } else { /* PUBREL reached the client: it lets go */
                m->held[e->packet_id] = false;
                assert_int_equal(mqtt_inflight_pubcomp(&m->w, e->packet_id),
                                 0);
            }
        } else if (r % 8 == 5 && m->want != 0) {
            if (m->delay > 0) {
                m->delay--;
            } else if (m->db < m->want) {
                m->db = m->want; /* committed; heard of next turn */
            } else {
                m->lease = m->db;
                m->want = 0;
            }
        } else if (r % 8 == 6 && m->owed.left > 0) {
            /* a PUBREL of the sweep reached the client, PUBCOMP back */
            uint16_t pid = mqtt_pid_of(mqtt_pid_owed_oldest(&m->owed));

            m->held[pid] = false;
            assert_true(mqtt_pid_owed_done(&m->owed, pid));
        } else if (r % 8 == 7 && r / 8 % 3000 == 0) {
            model_crash(m, WIN);
        }
    }
    /* the run went round the ids several times, through many crashes,
     * some of them with a sweep still unanswered */
    assert_true(m->w.issued > 3 * 65535);
    assert_true(sent > 200000);
    assert_true(m->crashes > 20);
    assert_true(m->sweeps_pending > 0);
    mqtt_inflight_cleanup(&m->w);
    mqtt_pid_owed_cleanup(&m->owed);
    free(m);
}

static void test_qos2_rx(void **state)
{
    struct mqtt_qos2_rx rx;

    (void)state;
    assert_int_equal(mqtt_qos2_rx_init(&rx, 0), -EINVAL);
    assert_int_equal(mqtt_qos2_rx_init(&rx, 2), 0);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 0), -EINVAL);

    /* first copy: store it; a retry while it is stored: nothing */
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 5), MQTT_QOS2_RX_NEW);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 5), MQTT_QOS2_RX_STORING);
    assert_int_equal(mqtt_qos2_rx_release(&rx, 5), -EPROTO);
    assert_int_equal(mqtt_qos2_rx_stored(&rx, 5), 0);
    /* a retry after commit: PUBREC again, never stored again */
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 5), MQTT_QOS2_RX_STORED);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 5), MQTT_QOS2_RX_STORED);

    /* bounded: a third unreleased id is a flood */
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 6), MQTT_QOS2_RX_NEW);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 7), -ENOSPC);

    /* PUBREL releases; the id may then carry a new message */
    assert_int_equal(mqtt_qos2_rx_release(&rx, 5), 0);
    assert_int_equal(mqtt_qos2_rx_release(&rx, 5), -ENOENT);
    assert_int_equal(mqtt_qos2_rx_stored(&rx, 5), -ENOENT);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 7), MQTT_QOS2_RX_NEW);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 6), MQTT_QOS2_RX_STORING);

    /* a failed store is forgotten: the client's retry is new again */
    mqtt_qos2_rx_forget(&rx, 6);
    mqtt_qos2_rx_forget(&rx, 6);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 6), MQTT_QOS2_RX_NEW);
    assert_int_equal(mqtt_qos2_rx_stored(&rx, 7), 0);
    assert_int_equal(mqtt_qos2_rx_release(&rx, 7), 0);
    assert_int_equal(mqtt_qos2_rx_publish(&rx, 5), MQTT_QOS2_RX_NEW);
    mqtt_qos2_rx_cleanup(&rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_qos1_window),
        cmocka_unit_test(test_qos2_flow),
        cmocka_unit_test(test_ids_wrap_and_skip),
        cmocka_unit_test(test_resend_order),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_random_model),
        cmocka_unit_test(test_pid_wrap),
        cmocka_unit_test(test_lease_window),
        cmocka_unit_test(test_lease_arithmetic),
        cmocka_unit_test(test_owed),
        cmocka_unit_test(test_lease_crash_model),
        cmocka_unit_test(test_qos2_rx),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
