/*
 * it_07_recovery: catching up on stored messages, against a real parleyd.
 * A `sub` with `since` (or `history`) must deliver the stored part in order
 * and then the live part, with no gap and no duplicate between the two,
 * while another client keeps publishing at a steady rate: one thread
 * interleaves the publisher's sends and both clients' reads under poll()
 * deadlines. The same runs with --recent 0 and --recent 4, so the stored
 * part comes from SQLite in several pages; with --retain-messages 10 (and
 * --retain-age 1s), lost messages give "recovered":false and delivery from
 * the oldest stored one. Also: a client that reconnects after seeing seq N
 * gets exactly what it missed; `since` above the latest seq; wildcard
 * `since`; the reply comes before the messages it delivers; replays are
 * paced and do not count toward --queue-bytes; and the `history`
 * command's before and limit rules and reply order.
 *
 * Each group runs its own parleyd with a fresh database; tests use fresh
 * topics. Single-threaded: every wait has a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "itest.h"

#define W_REC ITEST_WAIT_MS
#define WINDOW 64            /* the feeder's pubs in flight at once */
#define RUN_MS 30000         /* bound of one catch-up scenario */
#define LEAD 100             /* steady pubs sent before the sub */

static int group_setup(void **state)
{
    return itest_setup(state, NULL);
}

static int group_setup_recent0(void **state)
{
    static const char *const extra[] = { "--recent", "0", NULL };

    return itest_setup(state, extra);
}

static int group_setup_recent4(void **state)
{
    static const char *const extra[] = { "--recent", "4", NULL };

    return itest_setup(state, extra);
}

static int group_setup_retain10(void **state)
{
    static const char *const extra[] = { "--retain-messages", "10", NULL };

    return itest_setup(state, extra);
}

static int group_setup_retain10_recent0(void **state)
{
    static const char *const extra[] = { "--retain-messages", "10",
                                         "--recent", "0", NULL };

    return itest_setup(state, extra);
}

static int group_setup_age1s(void **state)
{
    static const char *const extra[] = { "--retain-age", "1s", NULL };

    return itest_setup(state, extra);
}

static int group_setup_age1s_recent0(void **state)
{
    static const char *const extra[] = { "--retain-age", "1s",
                                         "--recent", "0", NULL };

    return itest_setup(state, extra);
}

static int group_setup_small_queue(void **state)
{
    static const char *const extra[] = { "--queue-bytes", "65536", NULL };

    return itest_setup(state, extra);
}

static int group_teardown(void **state)
{
    return itest_teardown(state);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Wait until one of the clients (NULL entries skipped) has bytes to read,
 * at most wait_ms. */
static void wait_readable(struct rawws *a, struct rawws *b, int wait_ms)
{
    struct pollfd pfd[2];
    nfds_t n = 0;

    if (a)
        pfd[n++] = (struct pollfd){ .fd = a->fd, .events = POLLIN };
    if (b)
        pfd[n++] = (struct pollfd){ .fd = b->fd, .events = POLLIN };
    if (n == 0)
        sleep_ms(wait_ms);
    else
        poll(pfd, n, wait_ms);
}

/* Wait (bounded) until the kernel holds at least want unread bytes for c:
 * the server has written into c's receive buffer until it is (about)
 * full, while c reads nothing. Returns the bytes unread, or -1. */
static int wait_unread(struct rawws *c, int want, int wait_ms)
{
    int64_t deadline = itest_mono_ms() + wait_ms;
    int n = 0;

    for (;;) {
        if (ioctl(c->fd, FIONREAD, &n) < 0)
            return -1;
        if (n >= want || itest_left_ms(deadline) == 0)
            return n;
        wait_readable(NULL, NULL, 5);
    }
}

/* The next frame if one is already here (no waiting), parsed. Returns 1
 * with *out (caller frees; NULL when the text is no JSON), 0 when nothing
 * is waiting, or a negative rawws error. */
static int try_recv(struct rawws *c, cJSON **out)
{
    struct rawws_frame f;
    int rc = rawws_recv(c, &f, 0);

    *out = NULL;
    if (rc == -ETIMEDOUT)
        return 0;
    if (rc < 0)
        return rc;
    if (f.opcode != RAWWS_OP_TEXT) {
        fprintf(stderr, "try_recv: opcode %d close %d\n", f.opcode,
                f.close_code);
        rawws_frame_cleanup(&f);
        return -EBADMSG;
    }
    *out = tj_parse((const char *)f.payload);
    if (!*out)
        fprintf(stderr, "try_recv: not JSON: %.300s\n",
                (const char *)f.payload);
    rawws_frame_cleanup(&f);
    return 1;
}

/* ---- the steady publisher ---- */

/* One connection publishing {"n":k} with id k to a fresh topic; message k
 * must get seq k. Up to WINDOW pubs in flight; with rate > 0, pubs past
 * `base` are sent at rate per second from t0. */
struct feed {
    struct rawws *c;
    const char *topic;
    int64_t total;
    int64_t sent;
    int64_t acked;
    int64_t base;
    int64_t t0_ms;
    int rate;
    const char *pad;         /* a string added to each data, or NULL */
    unsigned char *seen;     /* by id, total_max + 1 entries */
    int64_t total_max;
    char err[256];
};

/* Send what is due and read every ack already here. Returns how many
 * frames moved (>= 0) or -1 with f->err set. */
static int feed_step(struct feed *f)
{
    int64_t due = f->total;
    int64_t id = 0;
    int64_t seq = 0;
    cJSON *j = NULL;
    int moved = 0;
    int rc = 0;

    if (f->err[0])
        return -1;
    if (f->rate > 0) {
        due = f->base + (itest_mono_ms() - f->t0_ms) * f->rate / 1000;
        if (due > f->total)
            due = f->total;
    }
    while (f->sent < due && f->sent - f->acked < WINDOW) {
        if (rawws_send_textf(f->c, "{\"op\":\"pub\",\"id\":%lld,\"topic\":"
                             "\"%s\",\"data\":{\"n\":%lld%s%s%s}}",
                             (long long)f->sent + 1, f->topic,
                             (long long)f->sent + 1,
                             f->pad ? ",\"pad\":\"" : "",
                             f->pad ? f->pad : "", f->pad ? "\"" : "") < 0) {
            snprintf(f->err, sizeof(f->err), "feed: send failed");
            return -1;
        }
        f->sent++;
        moved++;
    }
    for (;;) {
        rc = try_recv(f->c, &j);
        if (rc == 0)
            break;
        if (rc < 0 || !tj_str_is(j, "op", "ok") || !tj_int(j, "id", &id) ||
            id < 1 || id > f->sent || f->seen[id] ||
            !tj_str_is(j, "topic", f->topic) || !tj_int(j, "seq", &seq) ||
            seq != id) {
            snprintf(f->err, sizeof(f->err), "feed: bad ack after %lld "
                     "(%s)", (long long)f->acked, rawws_strerror(rc));
            tj_dump(f->err, j);
            cJSON_Delete(j);
            return -1;
        }
        f->seen[id] = 1;
        f->acked++;
        moved++;
        cJSON_Delete(j);
    }
    return moved;
}

static void feed_open(struct feed *f, int port, const char *topic,
                      int64_t total_max)
{
    memset(f, 0, sizeof(*f));
    f->topic = topic;
    f->total_max = total_max;
    f->seen = calloc((size_t)total_max + 1, 1);
    assert_non_null(f->seen);
    f->c = itest_hello(port, "feeder");
    assert_non_null(f->c);
}

static void feed_close(struct feed *f)
{
    rawws_close(f->c);
    f->c = NULL;
    free(f->seen);
    f->seen = NULL;
}

/* Publish up to total as fast as the window allows and wait for the
 * acks. */
static void feed_burst(struct feed *f, int64_t total)
{
    int64_t deadline = itest_mono_ms() + RUN_MS;

    assert_true(total <= f->total_max);
    f->total = total;
    f->rate = 0;
    while (f->acked < total && itest_mono_ms() < deadline) {
        if (feed_step(f) < 0)
            break;
        if (f->acked < total)
            wait_readable(f->c, NULL, 5);
    }
    if (f->err[0])
        fprintf(stderr, "%s\n", f->err);
    assert_int_equal(f->acked, total);
}

/* Continue up to total at rate per second, starting now. */
static void feed_steady(struct feed *f, int64_t total, int rate)
{
    assert_true(total <= f->total_max);
    f->total = total;
    f->rate = rate;
    f->base = f->sent;
    f->t0_ms = itest_mono_ms();
}

/* ---- a catching-up subscriber ---- */

/* Expects the ok of sub_id first, then msgs of topic with seq next,
 * next+1, ... each {"n":seq} from "feeder". next 0 means "from the
 * first delivered seq", which must then be at least min_first; with
 * history > 0 the first must be reply seq - history + 1. */
struct reader {
    struct rawws *c;
    const char *topic;
    int64_t sub_id;
    bool replied;
    int64_t reply_seq;
    bool lost;               /* a reply said "recovered":false */
    int64_t history;
    int64_t next;
    int64_t min_first;
    int64_t first;           /* first seq delivered after the reply */
    int64_t count;
    char err[256];
};

/* Send {"op":"sub",...,opts} and reset the reader to expect its reply. */
static void reader_sub(struct reader *r, int64_t id, const char *opts,
                       int64_t next)
{
    r->sub_id = id;
    r->replied = false;
    r->next = next;
    r->first = 0;
    assert_int_equal(rawws_send_textf(r->c, "{\"op\":\"sub\",\"id\":%lld,"
                                      "\"topic\":\"%s\"%s}", (long long)id,
                                      r->topic, opts), 0);
}

/* Read every frame already here and check it. Returns the count read
 * (>= 0) or -1 with r->err set. */
static int reader_step(struct reader *r)
{
    const cJSON *rec = NULL;
    int64_t seq = 0;
    cJSON *j = NULL;
    int moved = 0;
    int rc = 0;

    if (r->err[0])
        return -1;
    for (;;) {
        rc = try_recv(r->c, &j);
        if (rc == 0)
            return moved;
        if (rc < 0 || !j) {
            snprintf(r->err, sizeof(r->err), "reader: %s after seq %lld",
                     rawws_strerror(rc), (long long)r->next - 1);
            return -1;
        }
        moved++;
        if (!r->replied) {
            if (!tj_str_is(j, "op", "ok") ||
                tj_int_or(j, "id", -1) != r->sub_id ||
                !tj_str_is(j, "topic", r->topic) ||
                !tj_int(j, "seq", &r->reply_seq)) {
                snprintf(r->err, sizeof(r->err), "reader: wanted the ok of "
                         "sub %lld first", (long long)r->sub_id);
                tj_dump(r->err, j);
                cJSON_Delete(j);
                return -1;
            }
            rec = cJSON_GetObjectItemCaseSensitive(j, "recovered");
            if (cJSON_IsFalse(rec))
                r->lost = true;
            if (r->history > 0) {
                r->next = r->reply_seq - r->history + 1;
                if (r->next < 1)
                    r->next = 1;
            }
            r->replied = true;
            cJSON_Delete(j);
            continue;
        }
        if (!tj_str_is(j, "op", "msg") || !tj_str_is(j, "topic", r->topic) ||
            !tj_int(j, "seq", &seq) || (r->next > 0 && seq != r->next) ||
            (r->next == 0 && seq < r->min_first) ||
            tj_int_or(cJSON_GetObjectItemCaseSensitive(j, "data"), "n",
                      -1) != seq || !tj_str_is(j, "from", "feeder")) {
            snprintf(r->err, sizeof(r->err), "reader: wanted msg seq %lld "
                     "(reply seq %lld)", (long long)r->next,
                     (long long)r->reply_seq);
            tj_dump(r->err, j);
            cJSON_Delete(j);
            return -1;
        }
        if (r->first == 0)
            r->first = seq;
        r->next = seq + 1;
        r->count++;
        cJSON_Delete(j);
    }
}

/* ---- since while publishing ---- */

struct catch_up {
    int64_t pre;             /* published before the sub */
    const char *opts;        /* the sub's options, e.g. ",\"since\":10" */
    int64_t next;            /* first seq expected (0: any >= min_first) */
    int64_t min_first;
    int64_t history;         /* the sub's history option, for the start */
    int64_t total;           /* published in all */
    int rate;                /* pubs per second after the sub */
    int64_t drop_after;      /* drop the reader once it saw this seq */
    int64_t away;            /* pubs acked while it is away */
    bool expect_lost;        /* recovered:false expected */
    bool wait_pruned;        /* after pre, wait until 10 are stored */
};

/* Poll the history until exactly keep messages are stored (pruning runs
 * every ~250 ms), at most 5 s. Returns the count last seen. */
static int wait_stored(struct rawws *c, const char *topic, int keep)
{
    int64_t deadline = itest_mono_ms() + 5000;
    int64_t id = 900000;
    cJSON *ok = NULL;
    int n = -1;

    while (itest_mono_ms() < deadline) {
        assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":"
                                          "%lld,\"topic\":\"%s\",\"limit\":"
                                          "1000}", (long long)++id, topic),
                         0);
        ok = rawws_expect_ok(c, id, W_REC);
        assert_non_null(ok);
        n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "messages"));
        cJSON_Delete(ok);
        if (n == keep)
            return n;
        sleep_ms(50);
    }
    fprintf(stderr, "wait_stored: still %d stored after 5 s\n", n);
    return n;
}

static void run_catch_up(int port, const struct catch_up *cu)
{
    char topic[128];
    struct feed f;
    struct reader r;
    struct rawws *h = NULL;
    int64_t deadline = 0;
    int64_t saw = 0;
    bool dropped = false;
    int subs = 1;
    int moved = 0;

    itest_topic(topic, sizeof(topic), "catch");
    feed_open(&f, port, topic, cu->total);
    feed_burst(&f, cu->pre);
    if (cu->wait_pruned) {
        h = itest_hello(port, "pruned");
        assert_non_null(h);
        assert_int_equal(wait_stored(h, topic, 10), 10);
        rawws_close(h);
    }

    memset(&r, 0, sizeof(r));
    r.topic = topic;
    r.history = cu->history;
    r.min_first = cu->min_first;
    r.c = itest_hello(port, "reader");
    assert_non_null(r.c);
    feed_steady(&f, cu->total, cu->rate);
    /* The sub goes out while the steady pubs are already in flight. */
    deadline = itest_mono_ms() + RUN_MS;
    while (f.sent < cu->pre + LEAD && !f.err[0] && itest_mono_ms() < deadline) {
        if (feed_step(&f) == 0)
            wait_readable(f.c, NULL, 1);
    }
    assert_int_equal(f.err[0], '\0');
    reader_sub(&r, 2, cu->opts, cu->next);
    while ((r.next <= cu->total || f.acked < cu->total || !r.c) &&
           itest_mono_ms() < deadline) {
        moved = feed_step(&f);
        if (moved < 0)
            break;
        if (r.c) {
            int rm = reader_step(&r);

            if (rm < 0)
                break;
            moved += rm;
        }
        if (r.c && r.replied && r.first > 0 && r.reply_seq < cu->pre) {
            snprintf(r.err, sizeof(r.err), "reply seq %lld below %lld",
                     (long long)r.reply_seq, (long long)cu->pre);
            break;
        }
        if (cu->drop_after > 0 && !dropped && r.next - 1 >= cu->drop_after) {
            /* Gone without a word; it saw everything up to r.next - 1. */
            saw = r.next - 1;
            rawws_close(r.c);
            r.c = NULL;
            dropped = true;
        }
        if (dropped && !r.c && (f.acked >= saw + cu->away ||
                                f.acked == cu->total)) {
            char opts[64];

            r.c = itest_hello(port, "reader");
            assert_non_null(r.c);
            snprintf(opts, sizeof(opts), ",\"since\":%lld", (long long)saw);
            r.history = 0;
            reader_sub(&r, 3, opts, saw + 1);
            subs++;
            moved++;
        }
        if (moved == 0)
            wait_readable(f.c, r.c, 2);
    }
    if (f.err[0])
        fprintf(stderr, "%s\n", f.err);
    if (r.err[0])
        fprintf(stderr, "%s\n", r.err);
    if (r.next != cu->total + 1 || f.acked != cu->total)
        fprintf(stderr, "catch-up on %s: acked %lld of %lld, reader next "
                "%lld, first %lld, reply seq %lld\n", topic,
                (long long)f.acked, (long long)cu->total, (long long)r.next,
                (long long)r.first, (long long)r.reply_seq);
    assert_int_equal(f.err[0], '\0');
    assert_int_equal(r.err[0], '\0');
    assert_int_equal(f.acked, cu->total);
    assert_int_equal(r.next, cu->total + 1);
    assert_true(r.replied);
    if (cu->drop_after > 0) {
        assert_true(dropped);
        assert_int_equal(subs, 2);
        assert_true(r.reply_seq >= saw);
    }
    if (r.lost != cu->expect_lost)
        fprintf(stderr, "catch-up: recovered:false %s\n",
                cu->expect_lost ? "missing" : "unexpected");
    assert_true(r.lost == cu->expect_lost);
    assert_true(itest_nothing_more(r.c, 9, ITEST_QUIET_MS));
    rawws_close(r.c);
    feed_close(&f);
}

/* since:100 with 300 missed (beyond the in-memory ring) and live pubs. */
static void test_since_while_publishing(void **state)
{
    const struct catch_up cu = {
        .pre = 400, .opts = ",\"since\":100", .next = 101,
        .total = 2500, .rate = 2000,
    };

    run_catch_up(itest_port(state), &cu);
}

/* since close to the latest seq (served from memory by default). */
static void test_since_recent_while_publishing(void **state)
{
    const struct catch_up cu = {
        .pre = 200, .opts = ",\"since\":190", .next = 191,
        .total = 1500, .rate = 2000,
    };

    run_catch_up(itest_port(state), &cu);
}

/* More than 256 missed messages from SQLite: several pages. */
static void test_since_many_pages(void **state)
{
    const struct catch_up cu = {
        .pre = 1000, .opts = ",\"since\":10", .next = 11,
        .total = 3000, .rate = 2500,
    };

    run_catch_up(itest_port(state), &cu);
}

/* A client that saw seq N drops, misses some, and recovers with since:N.
 * Before dropping it followed live delivery only (since = latest). */
static void test_reconnect_gets_what_it_missed(void **state)
{
    const struct catch_up cu = {
        .pre = 100, .opts = ",\"since\":100", .next = 101,
        .total = 2200, .rate = 2000, .drop_after = 500, .away = 600,
    };

    run_catch_up(itest_port(state), &cu);
}

/* history:200 under load: the last 200 up to the reply's seq, then live. */
static void test_sub_history_while_publishing(void **state)
{
    const struct catch_up cu = {
        .pre = 300, .opts = ",\"history\":200", .history = 200,
        .total = 1500, .rate = 2000,
    };

    run_catch_up(itest_port(state), &cu);
}

/* --retain-messages 10: since:5 after 100 lost 5..90: recovered:false,
 * delivery from the oldest stored one, then live without a gap. */
static void test_since_pruned_while_publishing(void **state)
{
    const struct catch_up cu = {
        .pre = 100, .opts = ",\"since\":5", .next = 0, .min_first = 91,
        .total = 1200, .rate = 2000, .expect_lost = true,
        .wait_pruned = true,
    };

    run_catch_up(itest_port(state), &cu);
}

/* ---- since edge cases ---- */

/* Subscribe c to topic with opts and expect the ok; returns it. */
static cJSON *sub_opts(struct rawws *c, int64_t id, const char *topic,
                       const char *opts)
{
    cJSON *ok = NULL;

    if (rawws_send_textf(c, "{\"op\":\"sub\",\"id\":%lld,\"topic\":\"%s\"%s}",
                         (long long)id, topic, opts) < 0)
        return NULL;
    ok = rawws_expect_ok(c, id, W_REC);
    if (ok && !tj_str_is(ok, "topic", topic)) {
        tj_dump("sub_opts: ok without the topic", ok);
        cJSON_Delete(ok);
        ok = NULL;
    }
    return ok;
}

/* Publish {"n":k} for k = from..to and expect each ok with seq k. */
static void pub_range(struct rawws *p, const char *topic, int from, int to)
{
    char data[32];
    int k = 0;

    for (k = from; k <= to; k++) {
        snprintf(data, sizeof(data), "{\"n\":%d}", k);
        assert_int_equal(itest_pub(p, 1000 + k, topic, data), k);
    }
}

/* The next frames are msgs of topic with seqs from..to, {"n":seq}. */
static void expect_range(struct rawws *c, const char *topic, int64_t from,
                         int64_t to)
{
    cJSON *m = NULL;
    int64_t k = 0;

    for (k = from; k <= to; k++) {
        m = itest_expect_msg(c, topic, k, W_REC);
        assert_non_null(m);
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "data"),
                                   "n", -1), k);
        assert_false(tj_is_true(m, "retained"));
        cJSON_Delete(m);
    }
}

static void test_since_edges(void **state)
{
    int port = itest_port(state);
    char topic[128];
    char fresh[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;

    itest_topic(topic, sizeof(topic), "edge");
    itest_topic(fresh, sizeof(fresh), "edge");
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    pub_range(p, topic, 1, 5);

    /* Above the latest: recovered:false, then live only. */
    s = itest_hello(port, "above");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"since\":100");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 5);
    if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "recovered")))
        tj_dump("since above latest: wanted recovered:false", ok);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "recovered")));
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    pub_range(p, topic, 6, 6);
    expect_range(s, topic, 6, 6);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));
    rawws_close(s);

    /* Equal to the latest: nothing missed, nothing lost. */
    s = itest_hello(port, "equal");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"since\":6");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 6);
    assert_false(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "recovered")));
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    pub_range(p, topic, 7, 7);
    expect_range(s, topic, 7, 7);
    rawws_close(s);

    /* since:0 delivers everything from seq 1. */
    s = itest_hello(port, "zero");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"since\":0");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 7);
    assert_false(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "recovered")));
    cJSON_Delete(ok);
    expect_range(s, topic, 1, 7);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);

    /* A topic with no messages: since:0 is not above its seq 0. */
    s = itest_hello(port, "fresh");
    assert_non_null(s);
    ok = sub_opts(s, 2, fresh, ",\"since\":0");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 0);
    assert_false(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "recovered")));
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    pub_range(p, fresh, 1, 1);
    expect_range(s, fresh, 1, 1);
    rawws_close(s);
    rawws_close(p);
}

/* sub with history: the last N stored oldest first, then live; N above
 * the count gives all; since wins over history. */
static void test_sub_history(void **state)
{
    int port = itest_port(state);
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    struct rawws *s2 = NULL;
    cJSON *ok = NULL;

    itest_topic(topic, sizeof(topic), "subh");
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    pub_range(p, topic, 1, 20);

    s = itest_hello(port, "last5");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"history\":5");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 20);
    cJSON_Delete(ok);
    expect_range(s, topic, 16, 20);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    pub_range(p, topic, 21, 22);
    expect_range(s, topic, 21, 22);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));

    s2 = itest_hello(port, "all");
    assert_non_null(s2);
    ok = sub_opts(s2, 2, topic, ",\"history\":100");
    assert_non_null(ok);
    cJSON_Delete(ok);
    expect_range(s2, topic, 1, 22);
    assert_true(itest_nothing_more(s2, 3, ITEST_QUIET_MS));
    rawws_close(s2);

    s2 = itest_hello(port, "both");
    assert_non_null(s2);
    ok = sub_opts(s2, 2, topic, ",\"since\":19,\"history\":10");
    assert_non_null(ok);
    cJSON_Delete(ok);
    expect_range(s2, topic, 20, 22);
    assert_true(itest_nothing_more(s2, 3, ITEST_QUIET_MS));
    pub_range(p, topic, 23, 23);
    expect_range(s2, topic, 23, 23);
    expect_range(s, topic, 23, 23);
    rawws_close(s2);
    rawws_close(s);
    rawws_close(p);
}

/* ---- wildcard since ---- */

/* Collect n msgs; per topic (tops[0..nt)) the seqs must run from[i]..to[i]
 * in order, and nothing else may come. */
static void expect_per_topic(struct rawws *c, char tops[][128], int nt,
                             const int64_t *from, const int64_t *to)
{
    int64_t next[8];
    int64_t seq = 0;
    int total = 0;
    int got = 0;
    int i = 0;
    cJSON *m = NULL;

    assert_true(nt <= 8);
    for (i = 0; i < nt; i++) {
        next[i] = from[i];
        total += (int)(to[i] - from[i] + 1);
    }
    for (got = 0; got < total; got++) {
        m = rawws_expect_op(c, "msg", W_REC);
        assert_non_null(m);
        for (i = 0; i < nt; i++)
            if (tj_str_is(m, "topic", tops[i]))
                break;
        if (i == nt || !tj_int(m, "seq", &seq) || seq != next[i] ||
            seq > to[i])
            tj_dump("expect_per_topic: out of order or unexpected", m);
        assert_true(i < nt);
        assert_int_equal(seq, next[i]);
        assert_true(seq <= to[i]);
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "data"),
                                   "n", -1), seq);
        next[i]++;
        cJSON_Delete(m);
    }
}

static void test_wildcard_since(void **state)
{
    int port = itest_port(state);
    char base[96];
    char tops[3][128];
    char other[128];
    char pat[128];
    const int64_t from[3] = { 3, 3, 3 };
    const int64_t to[3] = { 5, 5, 5 };
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;
    char data[32];
    int k = 0;
    int i = 0;

    itest_topic(base, sizeof(base), "wild");
    for (i = 0; i < 3; i++)
        snprintf(tops[i], sizeof(tops[i]), "%s/%c", base, 'a' + i);
    snprintf(other, sizeof(other), "%sz/a", base);
    snprintf(pat, sizeof(pat), "%s/#", base);
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    for (k = 1; k <= 5; k++) {
        snprintf(data, sizeof(data), "{\"n\":%d}", k);
        for (i = 0; i < 3; i++)
            assert_int_equal(itest_pub(p, 100 * k + i, tops[i], data), k);
        assert_int_equal(itest_pub(p, 100 * k + 9, other, data), k);
    }
    s = itest_hello(port, "wild");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"since\":2}", pat), 0);
    ok = rawws_expect_ok(s, 2, W_REC);
    assert_non_null(ok);
    assert_false(tj_has(ok, "seq"));
    assert_false(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "recovered")));
    cJSON_Delete(ok);
    expect_per_topic(s, tops, 3, from, to);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    /* Then live, and nothing of the topic outside the pattern. */
    assert_int_equal(itest_pub(p, 900, other, "{\"n\":6}"), 6);
    assert_int_equal(itest_pub(p, 901, tops[1], "{\"n\":6}"), 6);
    expect_range(s, tops[1], 6, 6);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));
    rawws_close(s);

    /* history applies per matching topic too: each topic's last 2. */
    s = itest_hello(port, "wildh");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"history\":2}", pat), 0);
    ok = rawws_expect_ok(s, 2, W_REC);
    assert_non_null(ok);
    cJSON_Delete(ok);
    {
        const int64_t hfrom[3] = { 4, 5, 4 };
        const int64_t hto[3] = { 5, 6, 5 };

        expect_per_topic(s, tops, 3, hfrom, hto);
    }
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
    rawws_close(p);
}

/* --retain-messages 10: topic a got n_a messages (10 kept), b got 5; a
 * pattern sub with since:3 is recovered:false and delivers a's 10 and b's
 * 4..5, each in order, then live. */
static void run_wildcard_since_lost(int port, int n_a)
{
    char base[96];
    char tops[2][128];
    char pat[128];
    const int64_t from[2] = { n_a - 9, 4 };
    const int64_t to[2] = { n_a, 5 };
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;

    itest_topic(base, sizeof(base), "wlost");
    snprintf(tops[0], sizeof(tops[0]), "%s/a", base);
    snprintf(tops[1], sizeof(tops[1]), "%s/b", base);
    snprintf(pat, sizeof(pat), "%s/+", base);
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    pub_range(p, tops[0], 1, n_a);
    pub_range(p, tops[1], 1, 5);
    assert_int_equal(wait_stored(p, tops[0], 10), 10);
    s = itest_hello(port, "wild");
    assert_non_null(s);
    assert_int_equal(rawws_send_textf(s, "{\"op\":\"sub\",\"id\":2,\"topic\":"
                                      "\"%s\",\"since\":3}", pat), 0);
    ok = rawws_expect_ok(s, 2, W_REC);
    assert_non_null(ok);
    if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "recovered")))
        tj_dump("wildcard with a lost topic: wanted recovered:false", ok);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "recovered")));
    cJSON_Delete(ok);
    expect_per_topic(s, tops, 2, from, to);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    pub_range(p, tops[0], n_a + 1, n_a + 1);
    expect_range(s, tops[0], n_a + 1, n_a + 1);
    rawws_close(s);
    rawws_close(p);
}

/* The lost messages are beyond the in-memory ring too. */
static void test_wildcard_since_lost(void **state)
{
    run_wildcard_since_lost(itest_port(state), 100);
}

/* All 30 messages still fit the in-memory ring (--recent 64); only 10 are
 * stored. */
static void test_wildcard_since_lost_short(void **state)
{
    run_wildcard_since_lost(itest_port(state), 30);
}

/* --retain-messages 10: 100 published, 10 kept; since:5 is
 * recovered:false from 91, then live without a gap; since:90 lost
 * nothing. */
static void test_pruned_since(void **state)
{
    int port = itest_port(state);
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    struct rawws *s2 = NULL;
    cJSON *ok = NULL;
    const cJSON *msgs = NULL;
    int i = 0;

    itest_topic(topic, sizeof(topic), "pruned");
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    pub_range(p, topic, 1, 100);
    assert_int_equal(wait_stored(p, topic, 10), 10);
    assert_int_equal(rawws_send_textf(p, "{\"op\":\"history\",\"id\":5,"
                                      "\"topic\":\"%s\"}", topic), 0);
    ok = rawws_expect_ok(p, 5, W_REC);
    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 10);
    for (i = 0; i < 10; i++)
        assert_int_equal(tj_int_or(cJSON_GetArrayItem(msgs, i), "seq", -1),
                         91 + i);
    cJSON_Delete(ok);

    s = itest_hello(port, "since5");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"since\":5");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 100);
    if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "recovered")))
        tj_dump("since:5 with 91..100 stored: wanted recovered:false", ok);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "recovered")));
    cJSON_Delete(ok);
    expect_range(s, topic, 91, 100);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));

    s2 = itest_hello(port, "since90");
    assert_non_null(s2);
    ok = sub_opts(s2, 2, topic, ",\"since\":90");
    assert_non_null(ok);
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "recovered")))
        tj_dump("since:90 with 91..100 stored lost nothing", ok);
    assert_false(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                               "recovered")));
    cJSON_Delete(ok);
    expect_range(s2, topic, 91, 100);
    assert_true(itest_nothing_more(s2, 3, ITEST_QUIET_MS));

    /* Then live, without a gap, on both. */
    pub_range(p, topic, 101, 120);
    expect_range(s, topic, 101, 120);
    expect_range(s2, topic, 101, 120);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));
    rawws_close(s2);
    rawws_close(s);
    rawws_close(p);
}

/* --retain-messages 10, 100 published: seq 90 is no longer stored, so
 * since:89 lost it (recovered:false, delivery from 91), and history:15
 * can only deliver the 10 stored ones, 91..100. */
static void test_pruned_boundary(void **state)
{
    int port = itest_port(state);
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    cJSON *ok = NULL;

    itest_topic(topic, sizeof(topic), "prunedb");
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    pub_range(p, topic, 1, 100);
    assert_int_equal(wait_stored(p, topic, 10), 10);

    s = itest_hello(port, "since89");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"since\":89");
    assert_non_null(ok);
    if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "recovered")))
        tj_dump("since:89 with 91..100 stored: wanted recovered:false", ok);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "recovered")));
    cJSON_Delete(ok);
    expect_range(s, topic, 91, 100);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);

    s = itest_hello(port, "history15");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"history\":15");
    assert_non_null(ok);
    cJSON_Delete(ok);
    expect_range(s, topic, 91, 100);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));
    rawws_close(s);
    rawws_close(p);
}

/* The same with the default recent ring (64), which still holds messages
 * --retain-messages pruned from SQLite: the ring must not serve them
 * (regression: since:89 used to get seq 90 and no recovered:false). */
static void test_pruned_boundary_ring(void **state)
{
    test_pruned_boundary(state);
}

/* The same for a pattern sub. */
static void test_wildcard_since_lost_short_ring(void **state)
{
    test_wildcard_since_lost_short(state);
}

/* --retain-age 1s: once all 5 messages aged out (history is empty),
 * since:2 lost 3..5: recovered:false and live delivery only; history:3
 * has nothing to deliver; the next pub is seq 6 on both. */
static void test_aged_out(void **state)
{
    int port = itest_port(state);
    char topic[128];
    struct rawws *p = NULL;
    struct rawws *s = NULL;
    struct rawws *s2 = NULL;
    cJSON *ok = NULL;

    itest_topic(topic, sizeof(topic), "aged");
    p = itest_hello(port, "feeder");
    assert_non_null(p);
    pub_range(p, topic, 1, 5);
    assert_int_equal(wait_stored(p, topic, 0), 0);

    s = itest_hello(port, "since2");
    assert_non_null(s);
    ok = sub_opts(s, 2, topic, ",\"since\":2");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 5);
    if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok, "recovered")))
        tj_dump("since:2 with nothing stored: wanted recovered:false", ok);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "recovered")));
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(s, 3, ITEST_QUIET_MS));

    s2 = itest_hello(port, "history3");
    assert_non_null(s2);
    ok = sub_opts(s2, 2, topic, ",\"history\":3");
    assert_non_null(ok);
    assert_int_equal(tj_int_or(ok, "seq", -1), 5);
    cJSON_Delete(ok);
    assert_true(itest_nothing_more(s2, 3, ITEST_QUIET_MS));

    pub_range(p, topic, 6, 6);
    expect_range(s, topic, 6, 6);
    expect_range(s2, topic, 6, 6);
    assert_true(itest_nothing_more(s, 4, ITEST_QUIET_MS));
    assert_true(itest_nothing_more(s2, 4, ITEST_QUIET_MS));
    rawws_close(s2);
    rawws_close(s);
    rawws_close(p);
}

/* test_aged_out with the default recent ring: messages past --retain-age
 * must not come back from memory (regression). */
static void test_aged_out_ring(void **state)
{
    test_aged_out(state);
}

/* ---- replays are paced ---- */

#define PACED_N 2000
#define PACED_PAD 3000
/* Unread bytes that show the server writing into a paced client's 4 KiB
 * receive buffer: the sub's ok and the first replayed message. */
#define PACED_UNREAD 3072

/* Read seqs from..to from a client that reads slowly (pauses every 100
 * msgs); no close may come in between. */
static void read_slowly(struct rawws *c, const char *topic, int64_t from,
                        int64_t to)
{
    cJSON *m = NULL;
    int64_t k = 0;

    for (k = from; k <= to; k++) {
        m = itest_expect_msg(c, topic, k, W_REC);
        if (!m)
            fprintf(stderr, "read_slowly: no seq %lld (culled?)\n",
                    (long long)k);
        assert_non_null(m);
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "data"),
                                   "n", -1), k);
        cJSON_Delete(m);
        if (k % 100 == 0)
            sleep_ms(5);
    }
}

/* --queue-bytes 65536: a since:0 replay (about 90 times the bound, more
 * than the 4 MiB a loopback socket can buffer) and a history:1200 replay
 * reach clients with a 4 KiB receive buffer that start reading only once
 * the server has filled that buffer, complete and in order, without a
 * 4008 close; live
 * delivery follows. The control: a client that got the same messages live
 * and never read is closed with 4008, so the volume does exceed what the
 * bound and the sockets absorb. */
static void test_replay_paced(void **state)
{
    int port = itest_port(state);
    struct rawws_opts o = { .port = port, .protocols = "parley.v1",
                            .rcvbuf = 4096 };
    char topic[128];
    char *pad = NULL;
    struct rawws *c[2] = { NULL, NULL };
    struct rawws *live = NULL;
    struct feed f;
    cJSON *ok = NULL;
    cJSON *m = NULL;
    int64_t next = 1;
    int code = -1;
    int i = 0;

    if (itest_cluster_excluded("test assumption: the slow-consumer cull "
                               "needs the unread bytes to back up into the "
                               "node; haproxy's own buffers absorb them"))
        skip();
    pad = malloc(PACED_PAD + 1);
    assert_non_null(pad);
    memset(pad, 'p', PACED_PAD);
    pad[PACED_PAD] = '\0';
    itest_topic(topic, sizeof(topic), "paced");
    assert_int_equal(rawws_open(&live, &o), 0);
    assert_int_equal(live->status, 101);
    ok = itest_sub(live, 2, topic);
    assert_non_null(ok);
    cJSON_Delete(ok);
    feed_open(&f, port, topic, PACED_N + 1);
    f.pad = pad;
    feed_burst(&f, PACED_N);
    for (i = 0; i < 2; i++) {
        assert_int_equal(rawws_open(&c[i], &o), 0);
        assert_int_equal(c[i]->status, 101);
        assert_int_equal(rawws_send_textf(c[i], "{\"op\":\"sub\",\"id\":2,"
                                          "\"topic\":\"%s\",%s}", topic,
                                          i == 0 ? "\"since\":0" :
                                          "\"history\":1200"), 0);
    }
    /* Neither reads until the server has filled its receive buffer, so
     * the replays pile up on the server side, far past the queue bound. */
    for (i = 0; i < 2; i++)
        assert_true(wait_unread(c[i], PACED_UNREAD, W_REC) >= PACED_UNREAD);
    for (i = 0; i < 2; i++) {
        ok = rawws_expect_ok(c[i], 2, W_REC);
        assert_non_null(ok);
        assert_int_equal(tj_int_or(ok, "seq", -1), PACED_N);
        cJSON_Delete(ok);
        read_slowly(c[i], topic, i == 0 ? 1 : PACED_N - 1200 + 1, PACED_N);
    }
    feed_burst(&f, PACED_N + 1);
    for (i = 0; i < 2; i++) {
        read_slowly(c[i], topic, PACED_N + 1, PACED_N + 1);
        assert_true(itest_nothing_more(c[i], 3, ITEST_QUIET_MS));
        rawws_close(c[i]);
    }
    /* The control: culled with 4008 after a gapless prefix. */
    for (;;) {
        struct rawws_frame fr;
        int rc = rawws_recv(live, &fr, W_REC);

        if (rc < 0) {
            fprintf(stderr, "live control: %s after seq %lld\n",
                    rawws_strerror(rc), (long long)next - 1);
            break;
        }
        if (fr.opcode == RAWWS_OP_CLOSE) {
            code = fr.close_code;
            rawws_frame_cleanup(&fr);
            break;
        }
        m = tj_parse((const char *)fr.payload);
        rawws_frame_cleanup(&fr);
        if (!tj_str_is(m, "op", "msg") || tj_int_or(m, "seq", -1) != next) {
            tj_dump("live control: wanted the next msg or a close", m);
            cJSON_Delete(m);
            break;
        }
        cJSON_Delete(m);
        next++;
    }
    fprintf(stderr, "paced: the live control got %lld msgs, close %d\n",
            (long long)next - 1, code);
    assert_true(next <= PACED_N);
    assert_int_equal(code, 4008);
    rawws_close(live);
    feed_close(&f);
    free(pad);
}

/* ---- the history command ---- */

static cJSON *history_cmd(struct rawws *c, int64_t id, const char *topic,
                          const char *opts)
{
    cJSON *ok = NULL;

    if (rawws_send_textf(c, "{\"op\":\"history\",\"id\":%lld,\"topic\":"
                         "\"%s\"%s}", (long long)id, topic, opts) < 0)
        return NULL;
    ok = rawws_expect_ok(c, id, W_REC);
    if (ok && (!tj_str_is(ok, "topic", topic) ||
               !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ok,
                                                              "messages")))) {
        tj_dump("history_cmd: ok without topic or messages", ok);
        cJSON_Delete(ok);
        ok = NULL;
    }
    return ok;
}

/* The history reply holds exactly seqs from..to (from > to: none), each
 * with ts, from "feeder" and data {"n":seq}. */
static void expect_history(struct rawws *c, int64_t id, const char *topic,
                           const char *opts, int64_t from, int64_t to)
{
    cJSON *ok = history_cmd(c, id, topic, opts);
    const cJSON *msgs = NULL;
    const cJSON *m = NULL;
    int64_t want = to >= from ? to - from + 1 : 0;
    int i = 0;

    assert_non_null(ok);
    msgs = cJSON_GetObjectItemCaseSensitive(ok, "messages");
    if (cJSON_GetArraySize(msgs) != want ||
        (want > 0 && (tj_int_or(cJSON_GetArrayItem(msgs, 0), "seq", -1) !=
                      from)))
        fprintf(stderr, "history %s: wanted seq %lld..%lld, got %d "
                "messages from seq %lld\n", opts, (long long)from,
                (long long)to, cJSON_GetArraySize(msgs),
                (long long)tj_int_or(cJSON_GetArrayItem(msgs, 0), "seq",
                                     -1));
    assert_int_equal(cJSON_GetArraySize(msgs), want);
    for (i = 0; i < (int)want; i++) {
        m = cJSON_GetArrayItem(msgs, i);
        assert_int_equal(tj_int_or(m, "seq", -1), from + i);
        assert_true(tj_int_or(m, "ts", -1) > 0);
        assert_true(tj_str_is(m, "from", "feeder"));
        assert_int_equal(tj_int_or(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "data"),
                                   "n", -1), from + i);
    }
    cJSON_Delete(ok);
}

static void test_history_cmd(void **state)
{
    int port = itest_port(state);
    char topic[128];
    char pat[160];
    char unused[128];
    struct feed f;
    struct rawws *c = NULL;
    cJSON *e = NULL;
    cJSON *ok = NULL;
    int i = 0;

    itest_topic(topic, sizeof(topic), "hist");
    itest_topic(unused, sizeof(unused), "hist");
    feed_open(&f, port, topic, 1100);
    feed_burst(&f, 1100);
    c = itest_hello(port, "historian");
    assert_non_null(c);

    expect_history(c, 2, topic, "", 1051, 1100);
    expect_history(c, 3, topic, ",\"limit\":10,\"before\":60", 50, 59);
    expect_history(c, 4, topic, ",\"before\":60", 10, 59);
    expect_history(c, 5, topic, ",\"before\":3", 1, 2);
    expect_history(c, 6, topic, ",\"before\":1", 1, 0);
    expect_history(c, 7, topic, ",\"limit\":1", 1100, 1100);
    expect_history(c, 8, topic, ",\"limit\":1000", 101, 1100);
    expect_history(c, 9, topic, ",\"limit\":5000", 101, 1100);
    expect_history(c, 10, topic, ",\"limit\":5000,\"before\":1050", 50,
                   1049);
    expect_history(c, 11, topic, ",\"before\":5000,\"limit\":3", 1098,
                   1100);
    expect_history(c, 12, unused, "", 1, 0);

    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":20,"
                                      "\"topic\":\"%s\",\"limit\":0}", topic),
                     0);
    e = rawws_expect_error(c, 20, "bad_request", W_REC);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":21,"
                                      "\"topic\":\"%s\",\"limit\":-3}",
                                      topic), 0);
    e = rawws_expect_error(c, 21, "bad_request", W_REC);
    assert_non_null(e);
    cJSON_Delete(e);
    snprintf(pat, sizeof(pat), "%s/+", topic);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":22,"
                                      "\"topic\":\"%s\"}", pat), 0);
    e = rawws_expect_error(c, 22, "invalid_topic", W_REC);
    assert_non_null(e);
    cJSON_Delete(e);
    snprintf(pat, sizeof(pat), "%s/#", topic);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":23,"
                                      "\"topic\":\"%s\"}", pat), 0);
    e = rawws_expect_error(c, 23, "invalid_topic", W_REC);
    assert_non_null(e);
    cJSON_Delete(e);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"history\",\"id\":24}"),
                     0);
    e = rawws_expect_error(c, 24, "bad_request", W_REC);
    assert_non_null(e);
    cJSON_Delete(e);

    /* Replies keep the command order: a big history, then pings. */
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":30,"
                                      "\"topic\":\"%s\",\"limit\":1000}"
                                      "", topic), 0);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":31}"), 0);
    assert_int_equal(rawws_send_textf(c, "{\"op\":\"history\",\"id\":32,"
                                      "\"topic\":\"%s\",\"limit\":2,"
                                      "\"before\":10}", topic), 0);
    assert_int_equal(rawws_send_text(c, "{\"op\":\"ping\",\"id\":33}"), 0);
    for (i = 30; i <= 33; i++) {
        ok = rawws_expect_ok(c, i, W_REC);
        assert_non_null(ok);
        if (i == 30)
            assert_int_equal(cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(ok, "messages")), 1000);
        if (i == 32)
            assert_int_equal(cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(ok, "messages")), 2);
        cJSON_Delete(ok);
    }
    assert_true(itest_nothing_more(c, 40, ITEST_QUIET_MS));
    rawws_close(c);
    feed_close(&f);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_since_while_publishing),
        cmocka_unit_test(test_since_recent_while_publishing),
        cmocka_unit_test(test_reconnect_gets_what_it_missed),
        cmocka_unit_test(test_sub_history_while_publishing),
        cmocka_unit_test(test_since_edges),
        cmocka_unit_test(test_sub_history),
        cmocka_unit_test(test_wildcard_since),
        cmocka_unit_test(test_history_cmd),
    };
    const struct CMUnitTest recent0[] = {
        cmocka_unit_test(test_since_many_pages),
        cmocka_unit_test(test_reconnect_gets_what_it_missed),
        cmocka_unit_test(test_sub_history_while_publishing),
        cmocka_unit_test(test_sub_history),
        cmocka_unit_test(test_wildcard_since),
        cmocka_unit_test(test_history_cmd),
    };
    const struct CMUnitTest recent4[] = {
        cmocka_unit_test(test_since_recent_while_publishing),
        cmocka_unit_test(test_sub_history),
    };
    const struct CMUnitTest retain10[] = {
        cmocka_unit_test(test_pruned_since),
        cmocka_unit_test(test_since_pruned_while_publishing),
        cmocka_unit_test(test_wildcard_since_lost),
        cmocka_unit_test(test_pruned_boundary_ring),
        cmocka_unit_test(test_wildcard_since_lost_short_ring),
    };
    const struct CMUnitTest retain10_recent0[] = {
        cmocka_unit_test(test_pruned_since),
        cmocka_unit_test(test_pruned_boundary),
        cmocka_unit_test(test_wildcard_since_lost_short),
    };
    const struct CMUnitTest age1s[] = {
        cmocka_unit_test(test_aged_out_ring),
    };
    const struct CMUnitTest age1s_recent0[] = {
        cmocka_unit_test(test_aged_out),
    };
    const struct CMUnitTest small_queue[] = {
        cmocka_unit_test(test_replay_paced),
    };
    int rc = 0;

    rc |= cmocka_run_group_tests_name("recovery", plain, group_setup,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("recent0", recent0,
                                      group_setup_recent0, group_teardown);
    rc |= cmocka_run_group_tests_name("recent4", recent4,
                                      group_setup_recent4, group_teardown);
    rc |= cmocka_run_group_tests_name("retain10", retain10,
                                      group_setup_retain10, group_teardown);
    rc |= cmocka_run_group_tests_name("retain10_recent0", retain10_recent0,
                                      group_setup_retain10_recent0,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("small_queue", small_queue,
                                      group_setup_small_queue,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("age1s", age1s, group_setup_age1s,
                                      group_teardown);
    rc |= cmocka_run_group_tests_name("age1s_recent0", age1s_recent0,
                                      group_setup_age1s_recent0,
                                      group_teardown);
    return itest_exit_code(rc);
}
