/*
 * redis_storage.c: the Redis engine behind storage.h (see the header and
 * docs/design.md, "Cluster mode"). It owns the link, this node's heartbeat,
 * the in-order queue of submitted jobs, and one record per topic this node
 * hears (struct rtopic), which holds the topic's gap state.
 *
 * DESIGN
 *
 * Order. Submitted jobs wait in `queued` until flush, which sends each as
 * one FCALL on the command connection (hiredis writes a turn's worth in one
 * write()). They then sit in `inflight`, oldest first; a reply marks its
 * job ready, and ready jobs leave from the head only, so completions keep
 * submission order even when a STATE job must wait (below).
 *
 * Hearing. Pub/sub messages (and rows read back to fill a gap) become
 * HEARD jobs, appended straight to the completion list in seq order per
 * topic: redis_gap decides what is delivered, dropped or filled first.
 * A topic is tracked from a STATE reply (its latest seq then) or, heard
 * through a pattern with no STATE before, from the first message heard.
 *
 * Ephemeral topics. Never stored: relay() PUBLISHes them on the topic's
 * channel and a node that hears one hands it to the hub as a HEARD job
 * marked ephemeral, past the gap state (there is no seq to order by), at
 * most once (redis_relay.h).
 *
 * STATE. The hub answers a sub only after it knows the topic's latest seq.
 * A STATE job for a topic already tracked completes only when the gap state
 * has handed the hub every message up to the latest seq pl_retained saw,
 * so the hub's seq for the topic then equals it and a replay's fence is
 * right; the engine fills from the stream if pub/sub has not brought them.
 */
#include "redis_storage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "redis_backfill.h"
#include "redis_calls.h"
#include "redis_gap.h"
#include "redis_layout.h"
#include "redis_link.h"
#include "redis_marked.h"
#include "redis_node.h"
#include "redis_presence.h"
#include "redis_pview.h"
#include "redis_relay.h"
#include "redis_sweep.h"
#include "topic.h"

#define RTOPIC_BUCKETS 1024
#define FILL_ROWS 256
/* unread on a pattern: registry pages of this many names, at most
 * UNREAD_PAGES of them per request (a bounded read of pl:topics). */
#define UNREAD_PAGE 500
#define UNREAD_PAGES 20
/* unread: topics per pl_unread call, and what each may look at. */
#define UNREAD_CHUNK 8
#define UNREAD_BUDGET (4 * STORE_UNREAD_MAX)
/* Bounded wait in stop for replies still in flight. */
#define STOP_WAIT_MS 5000
/* Member reads in flight at most (presence views, after a lost
 * connection every topic with presence subscribers here reads once). */
#define PRES_READS_MAX 32

/* A submitted job and what the engine needs to finish it in order. */
struct rjob {
    struct rjob *next;
    struct redis_storage *rs;
    struct store_job *job;
    bool ready;
    bool parked;       /* STATE: waits for its subscription to be active */
    uint64_t wait_seq; /* STATE: ready once the topic reached this seq */
    unsigned calls;    /* UNREAD: pl_unread calls in flight */
    unsigned pages;    /* UNREAD: registry pages read */
};

struct rtopic {
    struct rtopic *next;
    char *name;
    unsigned watchers;  /* the hub's watch count for this exact topic */
    bool tracked;       /* gap holds a start point */
    bool sub_active;    /* Redis confirmed the channel's SUBSCRIBE */
    uint64_t heard_max; /* highest seq heard before it was tracked */
    struct redis_gap gap;
    unsigned pres_local; /* users here with a presence subscription */
    bool pres_queued;    /* its member read waits in pres_due */
    uint64_t pres_gen;   /* the member read in flight (0: none) */
    struct redis_pview pres; /* the members told to them */
};

/* A topic whose member read waits for a free slot (by name: the topic may
 * be gone by then). */
struct pres_due {
    struct pres_due *next;
    char name[];
};

/* One MQTT pattern watched under a prefix, and how many watch it. */
struct rpat_name {
    struct rpat_name *next;
    unsigned refs;
    char pattern[];
};

struct rpattern {
    struct rpattern *next;
    char *prefix;       /* the literal part before the first wildcard */
    struct rpat_name *names; /* the patterns sharing the prefix */
    unsigned refs;
    bool active;        /* Redis confirmed its PSUBSCRIBE */
    bool relist;        /* deaf for a while: topics new to it are owed */
    bool relisting;     /* its registry listing is in flight */
};

struct redis_storage {
    struct redis_storage_config cfg;
    struct ev_loop *loop;
    struct redis_link *link;
    struct redis_node *node;
    bool stopping;
    bool leaving;     /* pl_node_leave in flight (stop) */
    /* submitted, not yet sent */
    struct store_job *queued, **queued_tail;
    /* sent, in submission order */
    struct rjob *inflight, **inflight_tail;
    size_t n_inflight;
    size_t n_waiting; /* STATE jobs waiting for their topic to catch up */
    /* completed, oldest first */
    struct store_job *done, **done_tail;
    void (*listener)(void *ctx, struct store_job *job);
    void *listener_ctx;
    /* MQTT takeover: every claim heard */
    void (*taken)(void *ctx, const char *client_id, bool mine);
    void *taken_ctx;
    struct rtopic *topics[RTOPIC_BUCKETS];
    struct rpattern *patterns;
    struct redis_presence pres; /* this node's members in Redis */
    struct redis_marked marked; /* moved read markers, gap-filled */
    bool marked_active;         /* pl:marked's SUBSCRIBE is confirmed */
    bool marked_due;            /* and the marked log must be read */
    unsigned pres_reads;        /* member reads in flight */
    uint64_t pres_gen;          /* the last member read's number */
    struct pres_due *pres_due, **pres_due_tail;
    struct redis_relay relay;   /* ephemeral messages across nodes */
    struct redis_sweep *sweep;  /* --retain-age for idle topics; NULL: 0 */
    struct redis_backfill *backfill; /* old topics into the registry */
    struct redis_storage_stats stats;
};

static const char *const setup_argv[] = {"FUNCTION", "LOAD", "REPLACE",
                                        redis_lua_library};
static size_t setup_argvlen[4] = {8, 4, 7, 0};

/* ------------------------------------------------------------------ */
/* topics and patterns                                                 */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % RTOPIC_BUCKETS;
}

static struct rtopic *rtopic_find(struct redis_storage *rs, const char *name)
{
    struct rtopic *t = rs->topics[name_hash(name)];

    while (t != NULL && strcmp(t->name, name) != 0)
        t = t->next;
    return t;
}

static struct rtopic *rtopic_get(struct redis_storage *rs, const char *name)
{
    struct rtopic *t = rtopic_find(rs, name);
    uint32_t h = 0;

    if (t != NULL)
        return t;
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->name = strdup(name)) == NULL) {
        free(t);
        return NULL;
    }
    redis_pview_init(&t->pres);
    h = name_hash(name);
    t->next = rs->topics[h];
    rs->topics[h] = t;
    return t;
}

static bool covered_by_pattern(const struct redis_storage *rs,
                               const char *name)
{
    const struct rpattern *p = NULL;

    for (p = rs->patterns; p != NULL; p = p->next)
        if (strncmp(name, p->prefix, strlen(p->prefix)) == 0)
            return true;
    return false;
}

/* Forget a topic nobody here listens to any more (no fill may be running:
 * a fill's reply finds its topic by name and copes with its absence). */
static void rtopic_maybe_free(struct redis_storage *rs, struct rtopic *t)
{
    struct rtopic **pp = &rs->topics[name_hash(t->name)];

    if (t->watchers > 0 || t->gap.filling || t->pres_local > 0 ||
        covered_by_pattern(rs, t->name))
        return;
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
    redis_pview_clear(&t->pres);
    free(t->name);
    free(t);
}

/* The literal prefix of an MQTT pattern: everything before the level that
 * holds the first wildcard ("a/b/+/c" -> "a/b/"; "#" -> ""), less the
 * '/' before a '#', which also matches its parent level ("a/b/#" -> "a/b",
 * so topic "a/b" is heard too; the hub's own matching drops "a/bc"). */
static void pattern_prefix(const char *pattern, char *out, size_t n)
{
    size_t keep = 0;
    size_t i = 0;

    for (i = 0; pattern[i] != '\0'; i++) {
        if (pattern[i] == '+' || pattern[i] == '#')
            break;
        if (pattern[i] == '/')
            keep = i + 1;
    }
    if (pattern[i] == '\0')
        keep = i;
    else if (pattern[i] == '#' && keep > 0)
        keep--;
    if (keep >= n)
        keep = n - 1;
    memcpy(out, pattern, keep);
    out[keep] = '\0';
}

/* ------------------------------------------------------------------ */
/* completions                                                         */

static void done_append(struct redis_storage *rs, struct store_job *job)
{
    job->next = NULL;
    *rs->done_tail = job;
    rs->done_tail = &job->next;
}

/* Move the ready jobs at the head of inflight to the completion list. */
static void inflight_advance(struct redis_storage *rs)
{
    while (rs->inflight != NULL && rs->inflight->ready) {
        struct rjob *r = rs->inflight;

        rs->inflight = r->next;
        if (rs->inflight == NULL)
            rs->inflight_tail = &rs->inflight;
        rs->n_inflight--;
        done_append(rs, r->job);
        free(r);
    }
}

/* A link error as the protocol's code: out of reach is `overloaded` (try
 * again), anything else `internal`. */
static int link_err(int err)
{
    return err == -ENOTCONN || err == -ETIMEDOUT || err == -ECANCELED
               ? PL_ERR_OVERLOADED
               : PL_ERR_INTERNAL;
}

static int copy_text(char **dst, const char *src, size_t n)
{
    *dst = malloc(n + 1);
    if (*dst == NULL)
        return -ENOMEM;
    memcpy(*dst, src, n);
    (*dst)[n] = '\0';
    return 0;
}

/* A stored message as a row. 0 or -ENOMEM. */
static int row_from_event(struct store_row *row, const struct redis_event *ev)
{
    row->seq = (int64_t)ev->seq;
    row->ts = ev->ts;
    row->data_len = ev->data_len;
    row->edit_of = (int64_t)ev->edit_of;
    row->redacts = (int64_t)ev->redacts;
    row->reply_to = (int64_t)ev->reply_to;
    row->redacted = ev->redacted;
    if (copy_text(&row->from, ev->from, ev->from_len) < 0)
        return -ENOMEM;
    if (copy_text(&row->data, ev->data, ev->data_len) < 0)
        goto fail_from;
    if (ev->raw_len > 0) {
        row->raw = malloc(ev->raw_len);
        if (row->raw == NULL)
            goto fail_data;
        memcpy(row->raw, ev->raw, ev->raw_len);
        row->raw_len = ev->raw_len;
    }
    return 0;

fail_data:
    free(row->data);
    row->data = NULL;
fail_from:
    free(row->from);
    row->from = NULL;
    return -ENOMEM;
}

static int rows_copy(struct store_job *job, const struct redis_rows *res,
                     int64_t upto)
{
    size_t i;

    job->rows = calloc(res->n > 0 ? res->n : 1, sizeof(*job->rows));
    if (job->rows == NULL)
        return -ENOMEM;
    for (i = 0; i < res->n; i++) {
        if (upto > 0 && (int64_t)res->rows[i].seq > upto)
            break;
        if (row_from_event(&job->rows[job->n_rows], &res->rows[i]) < 0)
            return -ENOMEM;
        job->n_rows++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* hearing: messages to the listener, in order, gap-filled             */

static void state_check_waiting(struct redis_storage *rs, struct rtopic *t);
static void fill_start(struct redis_storage *rs, struct rtopic *t);
static void state_unpark(struct redis_storage *rs, bool fail);

/* A HEARD job carrying ev's message (data, from, ts, retain), addressed
 * to the listener; NULL when out of memory (the message is then lost: a
 * stored one shows as a gap the next message fills). */
static struct store_job *heard_msg(struct redis_storage *rs, const char *topic,
                                   const struct redis_event *ev)
{
    struct store_job *job = store_job_new(STORE_JOB_HEARD, topic);

    if (job == NULL ||
        store_job_set_pub(job, ev->data, ev->data_len,
                          ev->data_len == 4 && memcmp(ev->data, "null", 4) == 0,
                          ev->retain, "", NULL, ev->ts) < 0) {
        store_job_free(&job);
        return NULL;
    }
    free(job->from);
    job->from = NULL;
    if (copy_text(&job->from, ev->from, ev->from_len) < 0 ||
        store_job_set_raw(job, ev->raw, ev->raw_len) < 0) {
        store_job_free(&job);
        return NULL;
    }
    job->done = rs->listener;
    job->done_ctx = rs->listener_ctx;
    return job;
}

static void hand_over(struct redis_storage *rs, const char *topic,
                      const struct redis_event *ev, bool epoch_reset)
{
    struct store_job *job = NULL;

    if (rs->listener == NULL)
        return;
    job = heard_msg(rs, topic, ev);
    if (job == NULL)
        return; /* the next message finds a gap the hub can show: logged */
    job->seq = (int64_t)ev->seq;
    job->epoch_reset = epoch_reset;
    job->edit_of = (int64_t)ev->edit_of;
    job->redacts = (int64_t)ev->redacts;
    job->reply_to = (int64_t)ev->reply_to;
    job->redacted = ev->redacted;
    done_append(rs, job);
}

/* Tell the hub that user joined or left topic (the hub tells the topic's
 * presence subscribers here). */
static void hand_presence(struct redis_storage *rs, const char *topic,
                          const char *user, size_t user_len, bool join)
{
    struct store_job *job = NULL;

    if (rs->listener == NULL)
        return;
    job = store_job_new(STORE_JOB_HEARD, topic);
    if (job == NULL || copy_text(&job->from, user, user_len) < 0) {
        store_job_free(&job);
        return;
    }
    job->presence = join ? 1 : -1;
    job->done = rs->listener;
    job->done_ctx = rs->listener_ctx;
    done_append(rs, job);
}

/* A join or leave, published by Redis once for the whole cluster. Only
 * exact subscriptions take presence, so pattern copies are ignored. The
 * topic's view follows it, to tell only what changed after a lost
 * connection. */
static void heard_presence(struct redis_storage *rs, const char *topic,
                           const struct redis_event *ev)
{
    bool join = ev->kind == REDIS_EVENT_JOIN;
    struct rtopic *t = rtopic_find(rs, topic);

    hand_presence(rs, topic, ev->user, ev->user_len, join);
    if (t != NULL && t->pres_local > 0) {
        char *user = NULL;

        if (copy_text(&user, ev->user, ev->user_len) < 0) {
            t->pres.stale = true;
            return;
        }
        (void)redis_pview_heard(&t->pres, user, join);
        free(user);
    }
}

/* A read marker another node moved: the hub tells the user's connections
 * here. This node's own marks are told by the hub as they complete. */
static void hand_marked(void *ud, const struct redis_event *ev)
{
    struct redis_storage *rs = ud;
    const char *me = rs->node != NULL ? redis_node_id(rs->node) : "";
    struct store_job *job = NULL;

    if (rs->listener == NULL ||
        (strlen(me) == ev->node_len && memcmp(me, ev->node, ev->node_len) == 0))
        return;
    job = store_job_new(STORE_JOB_HEARD, NULL);
    if (job == NULL || copy_text(&job->topic, ev->topic, ev->topic_len) < 0 ||
        copy_text(&job->from, ev->user, ev->user_len) < 0) {
        store_job_free(&job);
        return;
    }
    job->seq = (int64_t)ev->marker;
    job->marked = true;
    job->done = rs->listener;
    job->done_ctx = rs->listener_ctx;
    done_append(rs, job);
}

/* An ephemeral message another node published: no seq, no gap state;
 * the hub numbers it. Heard on the topic's channel or through a pattern
 * alike: whichever copy comes first is the one (redis_relay_heard). */
static void hand_ephemeral(struct redis_storage *rs, const char *topic,
                           const struct redis_event *ev)
{
    struct store_job *job = NULL;

    if (rs->listener == NULL || rs->node == NULL ||
        !redis_relay_heard(&rs->relay, redis_node_id(rs->node), ev))
        return;
    job = heard_msg(rs, topic, ev);
    if (job == NULL)
        return; /* ephemeral: a lost one is not owed */
    job->ephemeral = true;
    rs->stats.heard_ephemeral++;
    done_append(rs, job);
}

/* Deliver ev on t after the gap said so; an epoch change first tells the
 * hub that the seqs it saw for t mean nothing any more. */
static void deliver(struct redis_storage *rs, struct rtopic *t,
                    const struct redis_event *ev, uint64_t changes_before)
{
    bool reset = t->gap.epoch_changes != changes_before;

    if (reset)
        rs->stats.epoch_resets++;
    hand_over(rs, t->name, ev, reset);
}

struct fill_ctx {
    struct redis_storage *rs;
    char name[];
};

static void fill_done(int err, const struct redis_rows *res, void *ud)
{
    struct fill_ctx *fc = ud;
    struct redis_storage *rs = fc->rs;
    struct rtopic *t = rtopic_find(rs, fc->name);
    size_t i;

    free(fc);
    if (t == NULL)
        return;
    if (err != 0) {
        redis_gap_fill_failed(&t->gap);
        /* A waiting STATE cannot be served now; the link's error fails it
         * through its own call, or the next reconnect fills again. */
        state_check_waiting(rs, t);
        rtopic_maybe_free(rs, t);
        return;
    }
    {
        uint64_t before = t->gap.epoch_changes;
        uint64_t lost = t->gap.lost;

        redis_gap_fill_head(&t->gap, res->latest, res->epoch,
                            strlen(res->epoch));
        for (i = 0; i < res->n; i++) {
            if (redis_gap_fill_row(&t->gap, &res->rows[i]) ==
                REDIS_GAP_DELIVER) {
                rs->stats.filled++;
                deliver(rs, t, &res->rows[i], before);
                before = t->gap.epoch_changes;
            }
        }
        if (redis_gap_fill_end(&t->gap))
            fill_start(rs, t);
        rs->stats.lost += t->gap.lost - lost;
    }
    state_check_waiting(rs, t);
    rtopic_maybe_free(rs, t);
}

/* Read t's stream after what was delivered (the gap state is filling). */
static void fill_start(struct redis_storage *rs, struct rtopic *t)
{
    size_t n = strlen(t->name);
    struct fill_ctx *fc = malloc(sizeof(*fc) + n + 1);

    if (fc == NULL) {
        redis_gap_fill_failed(&t->gap);
        return;
    }
    fc->rs = rs;
    memcpy(fc->name, t->name, n + 1);
    if (redis_call_since(rs->link, t->name, t->gap.last, FILL_ROWS, fill_done,
                         fc) != 0) {
        free(fc);
        redis_gap_fill_failed(&t->gap);
    }
}

/* Whether a pattern covering name was deaf and has not listed its
 * topics again yet. */
static bool relist_covers(const struct redis_storage *rs, const char *name)
{
    const struct rpattern *p = NULL;

    for (p = rs->patterns; p != NULL; p = p->next)
        if ((p->relist || p->relisting) &&
            strncmp(name, p->prefix, strlen(p->prefix)) == 0)
            return true;
    return false;
}

/* A client connected with an id, on this node (mine) or another. */
static void claim_heard(struct redis_storage *rs, const char *p, size_t len)
{
    const char *me = rs->node != NULL ? redis_node_id(rs->node) : "";
    const char *sp = memchr(p, ' ', len);
    char id[REDIS_NAME_MAX];
    size_t n = 0;

    if (sp == NULL || rs->taken == NULL)
        return;
    n = len - (size_t)(sp - p) - 1;
    if (n >= sizeof(id))
        return;
    memcpy(id, sp + 1, n);
    id[n] = '\0';
    rs->taken(rs->taken_ctx, id,
              (size_t)(sp - p) == strlen(me) &&
                  memcmp(p, me, strlen(me)) == 0);
}

static void on_message(void *ud, const char *channel, const char *pattern,
                       const char *payload, size_t len)
{
    struct redis_storage *rs = ud;
    const char *topic = redis_layout_channel_topic(channel);
    struct redis_event ev;
    struct rtopic *t = NULL;
    uint64_t before = 0;

    if (topic == NULL) {
        if (strcmp(channel, REDIS_LAYOUT_MQTT_CLAIM) == 0) {
            claim_heard(rs, payload, len);
            return;
        }
        if (strcmp(channel, REDIS_LAYOUT_MARKED) == 0 &&
            redis_event_parse(payload, len, &ev) == 0 &&
            ev.kind == REDIS_EVENT_MARKED)
            redis_marked_heard(&rs->marked, &ev);
        return;
    }
    if (redis_event_parse(payload, len, &ev) < 0)
        return;
    if (ev.kind == REDIS_EVENT_EPHEMERAL) {
        hand_ephemeral(rs, topic, &ev);
        return;
    }
    if (ev.kind != REDIS_EVENT_MSG) {
        if (pattern == NULL)
            heard_presence(rs, topic, &ev);
        return;
    }
    t = rtopic_find(rs, topic);
    if (t == NULL && pattern != NULL && covered_by_pattern(rs, topic))
        t = rtopic_get(rs, topic);
    if (t == NULL)
        return; /* unsubscribed meanwhile */
    if (!t->tracked) {
        if (t->watchers > 0) {
            /* a STATE read is on its way: it settles the start */
            if (ev.seq > t->heard_max)
                t->heard_max = ev.seq;
            return;
        }
        /* First heard through a pattern: what came before is not owed,
         * unless the pattern was deaf meanwhile (the topic may be new
         * since, its first messages unheard): then from the start. */
        redis_gap_init(&t->gap, relist_covers(rs, topic) ? 0 : ev.seq - 1,
                       ev.epoch, ev.epoch_len);
        t->tracked = true;
    }
    before = t->gap.epoch_changes;
    switch (redis_gap_live(&t->gap, &ev)) {
    case REDIS_GAP_DELIVER:
        rs->stats.heard++;
        deliver(rs, t, &ev, before);
        state_check_waiting(rs, t);
        break;
    case REDIS_GAP_FILL:
        fill_start(rs, t);
        break;
    case REDIS_GAP_STALE:
    case REDIS_GAP_WAIT:
        break;
    }
}

static void pres_maybe_read(struct redis_storage *rs, struct rtopic *t);
static void marked_sync(struct redis_storage *rs);
static void pattern_relist(struct redis_storage *rs, struct rpattern *p);

/* After a lost connection every tracked topic may have missed messages,
 * and presence and marker events. */
static void on_state(void *ud, bool up)
{
    struct redis_storage *rs = ud;
    size_t i;

    if (!up) {
        /* Subscriptions are restored (and confirmed again) on the new
         * connection; until then no STATE may read. */
        struct rpattern *p = NULL;

        for (i = 0; i < RTOPIC_BUCKETS; i++) {
            struct rtopic *t = NULL;

            for (t = rs->topics[i]; t != NULL; t = t->next) {
                t->sub_active = false;
                /* join/leave events are lost until it is back */
                if (t->pres_local > 0)
                    t->pres.stale = true;
            }
        }
        for (p = rs->patterns; p != NULL; p = p->next) {
            p->active = false;
            p->relist = true;
        }
        rs->marked_active = false;
        rs->marked_due = true;
        state_unpark(rs, true);
        return;
    }
    for (i = 0; i < RTOPIC_BUCKETS; i++) {
        struct rtopic *t = NULL;

        for (t = rs->topics[i]; t != NULL; t = t->next) {
            if (t->tracked && redis_gap_fill_begin(&t->gap))
                fill_start(rs, t);
            pres_maybe_read(rs, t); /* if its SUBSCRIBE came first */
        }
    }
    marked_sync(rs);
    {
        struct rpattern *p = NULL;

        for (p = rs->patterns; p != NULL; p = p->next)
            pattern_relist(rs, p);
    }
    if (rs->node != NULL)
        redis_presence_repair(&rs->pres, rs->link, redis_node_id(rs->node));
}

/* ------------------------------------------------------------------ */
/* the jobs                                                            */

static void pub_done(int err, const struct redis_pub_result *res, void *ud)
{
    struct rjob *r = ud;

    if (err != 0) {
        r->job->err = link_err(err);
    } else if (res->refused != REDIS_PUB_STORED) {
        r->job->err = res->refused == REDIS_PUB_NOT_AUTHOR
                          ? PL_ERR_FORBIDDEN
                          : PL_ERR_BAD_REQUEST;
    } else {
        r->job->seq = (int64_t)res->seq;
        r->job->duplicate = res->duplicate;
        r->job->relayed = true;
    }
    r->ready = true;
    inflight_advance(r->rs);
}

static void rows_done(int err, const struct redis_rows *res, void *ud)
{
    struct rjob *r = ud;
    struct store_job *job = r->job;

    if (err != 0) {
        job->err = link_err(err);
    } else {
        job->last_seq = (int64_t)res->latest;
        job->first_seq = (int64_t)res->oldest;
        if (rows_copy(job, res, job->kind == STORE_JOB_AFTER ? job->upto : 0) <
            0)
            job->err = PL_ERR_INTERNAL;
        if (job->kind == STORE_JOB_BEFORE && job->n_rows > 0)
            job->first_seq = job->rows[0].seq;
    }
    r->ready = true;
    inflight_advance(r->rs);
}

/* The topic caught up (or cannot now): release STATE jobs waiting on it. */
static void state_check_waiting(struct redis_storage *rs, struct rtopic *t)
{
    struct rjob *r = NULL;

    if (rs->n_waiting == 0)
        return;
    for (r = rs->inflight; r != NULL; r = r->next) {
        if (r->ready || r->wait_seq == 0 ||
            strcmp(r->job->topic, t->name) != 0)
            continue;
        if (t->gap.last >= r->wait_seq || !t->gap.filling) {
            if (t->gap.last < r->wait_seq)
                r->job->err = PL_ERR_OVERLOADED;
            r->wait_seq = 0;
            r->ready = true;
            rs->n_waiting--;
        }
    }
    inflight_advance(rs);
}

static void state_done(int err, const struct redis_rows *res, void *ud)
{
    struct rjob *r = ud;
    struct redis_storage *rs = r->rs;
    struct store_job *job = r->job;
    struct rtopic *t = NULL;

    if (err != 0) {
        job->err = link_err(err);
        r->ready = true;
        inflight_advance(rs);
        return;
    }
    job->last_seq = (int64_t)res->latest;
    if (rows_copy(job, res, 0) < 0)
        job->err = PL_ERR_INTERNAL;
    t = rtopic_find(rs, job->topic);
    if (t != NULL && !t->tracked) {
        redis_gap_init(&t->gap, res->latest, res->epoch, strlen(res->epoch));
        t->tracked = true;
        if (t->heard_max > res->latest && redis_gap_fill_begin(&t->gap))
            fill_start(rs, t);
    } else if (t != NULL && t->gap.last < res->latest) {
        /* Tracked, and behind what Redis holds: answer once the messages
         * up to latest were handed over (a fill brings them if pub/sub
         * does not). */
        r->wait_seq = res->latest;
        rs->n_waiting++;
        if (redis_gap_fill_begin(&t->gap))
            fill_start(rs, t);
        state_check_waiting(rs, t);
        return;
    }
    r->ready = true;
    inflight_advance(rs);
}

static bool is_pattern(const char *topic)
{
    return strpbrk(topic, "+#") != NULL;
}

static struct rpattern *rpattern_of(struct redis_storage *rs,
                                    const char *pattern)
{
    char prefix[256];
    struct rpattern *p = NULL;

    pattern_prefix(pattern, prefix, sizeof(prefix));
    for (p = rs->patterns; p != NULL; p = p->next)
        if (strcmp(p->prefix, prefix) == 0)
            return p;
    return NULL;
}

/* Whether the subscription a STATE job is about is active in Redis. */
static bool state_sub_active(struct redis_storage *rs, const char *topic)
{
    if (is_pattern(topic)) {
        const struct rpattern *p = rpattern_of(rs, topic);

        return p != NULL && p->active;
    }
    {
        const struct rtopic *t = rtopic_find(rs, topic);

        return t != NULL && t->sub_active;
    }
}

static int state_list(struct redis_storage *rs, struct rjob *r);

/*
 * A STATE job reads only once the topic's (or pattern's) subscription is
 * active: a message published after the read is then sure to be heard,
 * so nothing falls between the state and the live messages. A pattern
 * lists the registry once its PSUBSCRIBE is active; an ephemeral topic
 * or pattern (job->ephemeral) reads nothing and completes then.
 */
static int state_send(struct redis_storage *rs, struct rjob *r)
{
    if (!redis_link_up(rs->link))
        return -ENOTCONN;
    if (!state_sub_active(rs, r->job->topic)) {
        r->parked = true;
        return 0;
    }
    if (r->job->ephemeral) {
        /* not stored: nothing to read, its subscription is the state */
        r->ready = true;
        return 0;
    }
    if (is_pattern(r->job->topic))
        return state_list(rs, r);
    return redis_call_retained(rs->link, r->job->topic, state_done, r);
}

/* Send the STATE jobs parked for a subscription that became active (or
 * fail them all when fail is set: the link went down). */
static void state_unpark(struct redis_storage *rs, bool fail)
{
    struct rjob *r = NULL;

    for (r = rs->inflight; r != NULL; r = r->next) {
        int rc = 0;

        if (!r->parked)
            continue;
        if (!fail && !state_sub_active(rs, r->job->topic))
            continue;
        r->parked = false;
        rc = fail ? -ENOTCONN : state_send(rs, r);
        if (rc != 0) {
            r->job->err = link_err(rc);
            r->ready = true;
        }
    }
    inflight_advance(rs);
}

/* ------------------------------------------------------------------ */
/* patterns after a deaf spell: topics new to them are owed from seq 1  */

/*
 * A pattern's node follows only the topics it heard or listed; a topic
 * whose first messages were published while the pub/sub connection was
 * down is neither, and its first message heard would start it there,
 * losing the earlier ones. So once the link is up and the PSUBSCRIBE
 * confirmed again, the pattern lists the registry under its prefix (as
 * a pattern sub does, at most UNREAD_PAGES pages) and fills every topic
 * it does not follow from the start: such a topic is new since the
 * pattern's sub (one older would have been listed then, or heard), so
 * all of it is owed. Until the listing is in, a topic first heard under
 * the pattern starts from the start too (relist_covers).
 */
struct relist_ctx {
    struct redis_storage *rs;
    unsigned pages;
    char prefix[];
};

static struct rpattern *rpattern_by_prefix(struct redis_storage *rs,
                                           const char *prefix)
{
    struct rpattern *p = rs->patterns;

    while (p != NULL && strcmp(p->prefix, prefix) != 0)
        p = p->next;
    return p;
}

/* Follow name from its start when one of p's patterns matches it and
 * nothing here follows it yet. */
static void relist_follow(struct redis_storage *rs, const struct rpattern *p,
                          const char *name)
{
    struct rtopic *t = rtopic_find(rs, name);
    const struct rpat_name *pn = p->names;

    if (t != NULL && (t->tracked || t->watchers > 0))
        return; /* followed, or a STATE read settles its start */
    while (pn != NULL && !pl_topic_match(pn->pattern, name))
        pn = pn->next;
    if (pn == NULL)
        return; /* under the prefix, matched by none: nobody's here */
    t = rtopic_get(rs, name);
    if (t == NULL)
        return;
    redis_gap_init(&t->gap, 0, "", 0);
    t->tracked = true;
    if (redis_gap_fill_begin(&t->gap))
        fill_start(rs, t);
}

static void relist_done(int err, size_t n, const char *const *items, void *ud)
{
    struct relist_ctx *rc = ud;
    struct redis_storage *rs = rc->rs;
    struct rpattern *p = rpattern_by_prefix(rs, rc->prefix);

    if (p == NULL || err != 0) {
        if (p != NULL)
            p->relisting = false; /* relist stays set: the next link-up */
        free(rc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        relist_follow(rs, p, items[i]);
    if (n == UNREAD_PAGE && ++rc->pages < UNREAD_PAGES &&
        redis_call_topics(rs->link, rc->prefix, items[n - 1], UNREAD_PAGE,
                          relist_done, rc) == 0)
        return;
    p->relisting = false;
    free(rc);
}

static void pattern_relist(struct redis_storage *rs, struct rpattern *p)
{
    size_t n = strlen(p->prefix);
    struct relist_ctx *rc = NULL;

    if (!p->relist || p->relisting || !p->active || !redis_link_up(rs->link))
        return;
    rc = calloc(1, sizeof(*rc) + n + 1);
    if (rc == NULL)
        return;
    rc->rs = rs;
    memcpy(rc->prefix, p->prefix, n + 1);
    if (redis_call_topics(rs->link, rc->prefix, NULL, UNREAD_PAGE, relist_done,
                          rc) != 0) {
        free(rc);
        return;
    }
    p->relist = false;
    p->relisting = true;
}

/* ------------------------------------------------------------------ */
/* presence views: after a lost connection, what changed is told        */

struct pres_read {
    struct redis_storage *rs;
    uint64_t gen;
    char name[];
};

static void pres_tell(void *ud, const char *user, bool join)
{
    struct pres_read *pr = ud;

    pr->rs->stats.presence_told++;
    hand_presence(pr->rs, pr->name, user, strlen(user), join);
}

static void pres_next(struct redis_storage *rs);

/* The members of a topic with presence subscribers here: the view takes
 * them, and the subscribers hear each join and leave they missed. */
static void pres_read_done(int err, size_t n, const char *const *items,
                           void *ud)
{
    struct pres_read *pr = ud;
    struct redis_storage *rs = pr->rs;
    struct rtopic *t = rtopic_find(rs, pr->name);

    rs->pres_reads--;
    if (t != NULL && t->pres_gen == pr->gen) {
        t->pres_gen = 0;
        if (err != 0)
            redis_pview_read_failed(&t->pres);
        else
            (void)redis_pview_read_done(&t->pres, items, n, pres_tell, pr);
    }
    free(pr);
    if (rs->link != NULL && !rs->stopping)
        pres_next(rs);
}

static void pres_read_send(struct redis_storage *rs, struct rtopic *t)
{
    size_t n = strlen(t->name);
    struct pres_read *pr = malloc(sizeof(*pr) + n + 1);

    if (pr == NULL)
        return; /* stays due: the next link-up or new member reads */
    pr->rs = rs;
    pr->gen = ++rs->pres_gen;
    memcpy(pr->name, t->name, n + 1);
    redis_pview_read_begin(&t->pres);
    if (redis_call_pres_members(rs->link, t->name, pres_read_done, pr) != 0) {
        redis_pview_read_failed(&t->pres);
        free(pr);
        return;
    }
    t->pres_gen = pr->gen;
    rs->pres_reads++;
}

/* Read t's members when it needs it: presence subscribers here, its
 * SUBSCRIBE confirmed (so no event falls between the read and what is
 * heard), and nothing known yet or events possibly missed. At most
 * PRES_READS_MAX at once; the others wait in pres_due, in order. */
static void pres_maybe_read(struct redis_storage *rs, struct rtopic *t)
{
    struct pres_due *d = NULL;
    size_t n = 0;

    if (t->pres_local == 0 || !t->sub_active || t->pres_queued ||
        !redis_pview_due(&t->pres) || !redis_link_up(rs->link))
        return; /* a SUBSCRIBE confirmed before the link is up: on_state */
    if (rs->pres_reads < PRES_READS_MAX) {
        pres_read_send(rs, t);
        return;
    }
    n = strlen(t->name);
    d = malloc(sizeof(*d) + n + 1);
    if (d == NULL)
        return;
    d->next = NULL;
    memcpy(d->name, t->name, n + 1);
    *rs->pres_due_tail = d;
    rs->pres_due_tail = &d->next;
    t->pres_queued = true;
}

/* A read slot is free: the next waiting topic that still needs it. */
static void pres_next(struct redis_storage *rs)
{
    while (rs->pres_due != NULL && rs->pres_reads < PRES_READS_MAX) {
        struct pres_due *d = rs->pres_due;
        struct rtopic *t = rtopic_find(rs, d->name);

        rs->pres_due = d->next;
        if (rs->pres_due == NULL)
            rs->pres_due_tail = &rs->pres_due;
        free(d);
        if (t == NULL)
            continue;
        t->pres_queued = false;
        pres_maybe_read(rs, t);
    }
}

static void pres_due_free(struct redis_storage *rs)
{
    while (rs->pres_due != NULL) {
        struct pres_due *d = rs->pres_due;

        rs->pres_due = d->next;
        free(d);
    }
    rs->pres_due_tail = &rs->pres_due;
}

/* Read the marked log when pl:marked is heard again and the link is up
 * (the two come in either order). */
static void marked_sync(struct redis_storage *rs)
{
    if (rs->marked_due && rs->marked_active && redis_link_up(rs->link) &&
        redis_marked_sync(&rs->marked))
        rs->marked_due = false;
}

static void on_subscribed(void *ud, const char *channel, bool pattern)
{
    struct redis_storage *rs = ud;

    if (pattern) {
        struct rpattern *p = NULL;
        char glob[REDIS_NAME_MAX];

        for (p = rs->patterns; p != NULL; p = p->next)
            if (redis_layout_channel_pattern(glob, sizeof(glob), p->prefix) >
                    0 &&
                strcmp(glob, channel) == 0) {
                p->active = true;
                pattern_relist(rs, p);
            }
    } else {
        const char *topic = redis_layout_channel_topic(channel);
        struct rtopic *t = topic != NULL ? rtopic_find(rs, topic) : NULL;

        if (topic == NULL && strcmp(channel, REDIS_LAYOUT_MARKED) == 0) {
            rs->marked_active = true;
            marked_sync(rs);
        }
        if (t != NULL && t->watchers > 0) {
            t->sub_active = true;
            pres_maybe_read(rs, t);
        }
    }
    state_unpark(rs, false);
}

static void members_done(int err, size_t n, const char *const *items,
                         void *ud)
{
    struct rjob *r = ud;
    struct store_job *job = r->job;
    size_t i;

    if (err != 0) {
        job->err = link_err(err);
    } else if ((job->rows = calloc(n > 0 ? n : 1, sizeof(*job->rows))) ==
               NULL) {
        job->err = PL_ERR_INTERNAL;
    } else {
        for (i = 0; i < n; i++) {
            if (copy_text(&job->rows[i].from, items[i], strlen(items[i])) < 0 ||
                copy_text(&job->rows[i].data, "", 0) < 0) {
                job->err = PL_ERR_INTERNAL;
                break;
            }
            job->n_rows++;
        }
    }
    r->ready = true;
    inflight_advance(r->rs);
}

static void op_presence(void *engine, const char *topic, const char *user,
                        bool join)
{
    struct redis_storage *rs = engine;
    struct rtopic *t = NULL;

    if (rs->link == NULL || rs->node == NULL)
        return;
    redis_presence_change(&rs->pres, rs->link, redis_node_id(rs->node), topic,
                          user, join);
    /* The topic has presence subscribers here while it has members here:
     * its view lives as long (read once its SUBSCRIBE is confirmed). */
    if (join && (t = rtopic_get(rs, topic)) != NULL) {
        t->pres_local++;
        pres_maybe_read(rs, t);
    } else if (!join && (t = rtopic_find(rs, topic)) != NULL &&
               t->pres_local > 0 && --t->pres_local == 0) {
        redis_pview_clear(&t->pres);
        t->pres_gen = 0;
        rtopic_maybe_free(rs, t);
    }
}

/* ------------------------------------------------------------------ */
/* chat (#16): read markers, unread counts; and topic listings, which  */
/* read the same registry (pl:topics) and count the same way           */

static void job_ready(struct redis_storage *rs, struct rjob *r)
{
    r->ready = true;
    inflight_advance(rs);
}

static void mark_done(int err, size_t n, const long long *v, void *ud)
{
    struct rjob *r = ud;
    struct store_job *job = r->job;

    if (err != 0)
        job->err = link_err(err);
    else if (n != 3)
        job->err = PL_ERR_INTERNAL;
    else if (v[2] == 0)
        job->err = PL_ERR_BAD_REQUEST; /* nothing stored in the topic */
    else {
        job->seq = v[0];
        job->duplicate = v[1] == 0;
    }
    job_ready(r->rs, r);
}

static int mark_send(struct redis_storage *rs, struct rjob *r)
{
    const char *node = rs->node != NULL ? redis_node_id(rs->node) : "-";

    return redis_call_mark(rs->link, r->job->topic,
                           r->job->from != NULL ? r->job->from : "",
                           r->job->mark_seq, node, mark_done, r);
}

/* One pl_unread call's share of an UNREAD job's marks. */
struct list_chunk {
    struct rjob *r;
    size_t first, n;
};

/* Whether a listed topic holds anything: UNREAD wants messages, TOPICS
 * (as the hub's own list) messages, a retained value or members. */
static bool list_keeps(const struct store_job *job, const struct store_mark *m)
{
    if (job->kind == STORE_JOB_TOPICS)
        return m->seq > 0 || m->retained || m->members > 0;
    return m->seq > 0;
}

/* Every count is in: drop the topics with nothing stored, then done. */
static void list_finish(struct redis_storage *rs, struct rjob *r)
{
    struct store_job *job = r->job;
    size_t keep = 0;

    for (size_t i = 0; i < job->n_marks; i++) {
        if (job->err == 0 && list_keeps(job, &job->marks[i])) {
            job->marks[keep++] = job->marks[i];
            continue;
        }
        free(job->marks[i].topic);
    }
    job->n_marks = keep;
    job_ready(rs, r);
}

static void list_counted(int err, size_t n, const long long *v, void *ud)
{
    struct list_chunk *ch = ud;
    struct rjob *r = ch->r;
    struct store_job *job = r->job;

    size_t w = job->kind == STORE_JOB_TOPICS ? 3 : 4; /* ints per topic */

    if (err != 0) {
        job->err = link_err(err);
    } else if (n != w * ch->n) {
        job->err = PL_ERR_INTERNAL;
    } else {
        for (size_t i = 0; i < ch->n; i++) {
            struct store_mark *m = &job->marks[ch->first + i];
            const long long *x = &v[w * i];

            m->seq = x[0];
            if (w == 3) {
                m->retained = x[1] != 0;
                m->members = x[2];
                continue;
            }
            m->marked = x[1];
            m->unread = x[2];
            m->more = x[3] != 0;
        }
    }
    free(ch);
    if (--r->calls == 0)
        list_finish(r->rs, r);
}

/* Count every mark's topic, UNREAD_CHUNK topics per call, all sent at
 * once (Redis runs them one after another, each short). */
static void list_count(struct redis_storage *rs, struct rjob *r)
{
    struct store_job *job = r->job;
    const char *names[UNREAD_CHUNK];

    for (size_t i = 0; i < job->n_marks && job->err == 0; i += UNREAD_CHUNK) {
        struct list_chunk *ch = calloc(1, sizeof(*ch));
        size_t k;
        int rc = -ENOMEM;

        if (ch != NULL) {
            ch->r = r;
            ch->first = i;
            ch->n = job->n_marks - i < UNREAD_CHUNK ? job->n_marks - i
                                                     : UNREAD_CHUNK;
            for (k = 0; k < ch->n; k++)
                names[k] = job->marks[i + k].topic;
            if (job->kind == STORE_JOB_TOPICS)
                rc = redis_call_topic_info(rs->link, names, ch->n,
                                           list_counted, ch);
            else
                rc = redis_call_unread(rs->link, names, ch->n,
                                       job->from != NULL ? job->from : "",
                                       STORE_UNREAD_MAX, UNREAD_BUDGET,
                                       list_counted, ch);
        }
        if (rc != 0) {
            free(ch);
            job->err = link_err(rc);
            break;
        }
        r->calls++;
    }
    if (r->calls == 0)
        list_finish(rs, r);
}

/* Add topic name to an UNREAD job's marks. 0 or -ENOMEM. */
static int list_add(struct store_job *job, const char *name)
{
    struct store_mark *m =
        realloc(job->marks, (job->n_marks + 1) * sizeof(*job->marks));

    if (m == NULL)
        return -ENOMEM;
    job->marks = m;
    memset(&m[job->n_marks], 0, sizeof(*m));
    if ((m[job->n_marks].topic = strdup(name)) == NULL)
        return -ENOMEM;
    job->n_marks++;
    return 0;
}

/* The registry range a listing reads: the pattern's literal prefix
 * (UNREAD), or the prefix itself (TOPICS). */
static void list_prefix(const struct store_job *job, char *out, size_t n)
{
    if (job->kind == STORE_JOB_TOPICS)
        snprintf(out, n, "%s", job->topic != NULL ? job->topic : "");
    else
        pattern_prefix(job->topic, out, n);
}

/* Whether a registered name belongs in the listing: UNREAD, matched by the
 * pattern and allowed; TOPICS, allowed, and no $ topic unless asked for
 * by prefix (as the hub's own list). */
static bool list_wants(const struct store_job *job, const char *name)
{
    if (job->kind != STORE_JOB_TOPICS)
        return store_job_allows(job, name);
    if (name[0] == '$' && (job->topic == NULL || job->topic[0] == '\0'))
        return false;
    return store_job_allows_name(job, name);
}

static void state_list_read(struct redis_storage *rs, struct rjob *r);

static void list_names_done(int err, size_t n, const char *const *items,
                            void *ud)
{
    struct rjob *r = ud;
    struct store_job *job = r->job;
    size_t cap = job->limit > 0 ? (size_t)job->limit : STORE_UNREAD_MAX;
    size_t i;

    if (err != 0) {
        job->err = link_err(err);
        job_ready(r->rs, r);
        return;
    }
    for (i = 0; i < n && job->n_marks < cap; i++) {
        if (!list_wants(job, items[i]))
            continue;
        if (list_add(job, items[i]) < 0) {
            job->err = PL_ERR_INTERNAL;
            job_ready(r->rs, r);
            return;
        }
    }
    if (n == UNREAD_PAGE && job->n_marks < cap && ++r->pages < UNREAD_PAGES) {
        char prefix[256];
        int rc = 0;

        list_prefix(job, prefix, sizeof(prefix));
        rc = redis_call_topics(r->rs->link, prefix, items[n - 1], UNREAD_PAGE,
                               list_names_done, r);
        if (rc == 0)
            return;
        job->err = link_err(rc);
        job_ready(r->rs, r);
        return;
    }
    if (job->kind == STORE_JOB_STATE)
        state_list_read(r->rs, r);
    else
        list_count(r->rs, r);
}

/*
 * UNREAD. The hub of a shared engine cannot list the stored topics (it
 * knows only those it heard), so it sends the pattern with no marks and
 * the engine lists the topics from the registry (pl:topics, by the
 * pattern's literal prefix, matched and allowed here), then counts.
 */
static int unread_send(struct redis_storage *rs, struct rjob *r)
{
    struct store_job *job = r->job;
    char prefix[256];

    if (job->marks != NULL || job->topic == NULL) {
        list_count(rs, r);
        return 0;
    }
    if (!is_pattern(job->topic)) {
        if (store_job_allows(job, job->topic) &&
            list_add(job, job->topic) < 0)
            return -ENOMEM;
        list_count(rs, r);
        return 0;
    }
    pattern_prefix(job->topic, prefix, sizeof(prefix));
    return redis_call_topics(rs->link, prefix, NULL, UNREAD_PAGE,
                             list_names_done, r);
}

/* A pattern STATE's read of one registered topic: start tracking it at
 * the seq read (a topic tracked meanwhile keeps its own start, and the
 * hub learns nothing new of it), and keep its retained value for the
 * hub. */
struct state_read {
    struct rjob *r;
    size_t i; /* in job->marks */
};

static void state_list_done(int err, const struct redis_rows *res, void *ud)
{
    struct state_read *sr = ud;
    struct rjob *r = sr->r;
    struct store_job *job = r->job;
    struct store_mark *m = &job->marks[sr->i];
    struct rtopic *t = NULL;

    free(sr);
    if (err != 0) {
        job->err = link_err(err);
    } else if ((t = rtopic_get(r->rs, m->topic)) == NULL) {
        job->err = PL_ERR_INTERNAL;
    } else if (!t->tracked) {
        redis_gap_init(&t->gap, res->latest, res->epoch, strlen(res->epoch));
        t->tracked = true;
        m->seq = (int64_t)res->latest;
        if (res->n > 0) {
            struct store_row *rows =
                realloc(job->rows, (job->n_rows + 1) * sizeof(*rows));

            if (rows == NULL) {
                job->err = PL_ERR_INTERNAL;
            } else {
                job->rows = rows;
                memset(&rows[job->n_rows], 0, sizeof(*rows));
                if (row_from_event(&rows[job->n_rows], &res->rows[0]) < 0 ||
                    (rows[job->n_rows].topic = strdup(m->topic)) == NULL) {
                    free(rows[job->n_rows].from);
                    free(rows[job->n_rows].data);
                    job->err = PL_ERR_INTERNAL;
                } else {
                    job->n_rows++;
                }
            }
        }
    }
    if (--r->calls == 0)
        list_finish(r->rs, r);
}

/* A pattern STATE, its registry names listed: read each topic this node
 * does not follow yet (the ones it follows, it delivers already). */
static void state_list_read(struct redis_storage *rs, struct rjob *r)
{
    struct store_job *job = r->job;

    for (size_t i = 0; i < job->n_marks && job->err == 0; i++) {
        const struct rtopic *t = rtopic_find(rs, job->marks[i].topic);
        struct state_read *sr = NULL;

        if (t != NULL && t->tracked)
            continue; /* seq 0: dropped by list_finish */
        sr = malloc(sizeof(*sr));
        if (sr == NULL) {
            job->err = PL_ERR_INTERNAL;
            break;
        }
        sr->r = r;
        sr->i = i;
        if (redis_call_retained(rs->link, job->marks[i].topic,
                                state_list_done, sr) != 0) {
            free(sr);
            job->err = PL_ERR_OVERLOADED;
            break;
        }
        r->calls++;
    }
    if (r->calls == 0)
        list_finish(rs, r);
}

/*
 * A pattern STATE (its PSUBSCRIBE active): the registered topics the
 * pattern matches that this node does not follow yet, each with its
 * latest seq (marks[]) and retained value (rows[], by topic), so a sub
 * with since or history on a pattern covers the cluster's topics, not
 * only those this node heard. Tracking starts at the seq read, after the
 * PSUBSCRIBE, so nothing falls between the read and what is heard.
 */
static int state_list(struct redis_storage *rs, struct rjob *r)
{
    char prefix[256];

    pattern_prefix(r->job->topic, prefix, sizeof(prefix));
    return redis_call_topics(rs->link, prefix, NULL, UNREAD_PAGE,
                             list_names_done, r);
}

/* TOPICS: the registry's names under the prefix, then their state. */
static int topics_send(struct redis_storage *rs, struct rjob *r)
{
    char prefix[256];

    if (r->job->topic != NULL && strlen(r->job->topic) >= sizeof(prefix)) {
        list_finish(rs, r); /* longer than any topic: none */
        return 0;
    }
    list_prefix(r->job, prefix, sizeof(prefix));
    return redis_call_topics(rs->link, prefix, NULL, UNREAD_PAGE,
                             list_names_done, r);
}

/* Send one job; a refusal completes it at once with an error. */
/* An MQTT session read back (pl_msess_read's list): into job->mqtt. */
static void msess_read_done(int err, size_t n, const char *const *items,
                            void *ud)
{
    struct rjob *r = ud;
    struct store_mqtt *m = r->job->mqtt;
    size_t nsubs = 0, i = 0, k = 0;

    if (err != 0) {
        r->job->err = link_err(err);
    } else if (n > 0) {
        nsubs = n >= 4 ? strtoul(items[3], NULL, 10) : 0;
        if (n < 4 || 4 + 2 * nsubs > n || (n - 4 - 2 * nsubs) % 2 != 0) {
            r->job->err = PL_ERR_INTERNAL;
            goto out;
        }
        m->found = true;
        m->now_ms = strtoll(items[1], NULL, 10);
        /* a session written before leases were kept has none ('') */
        m->set_lease = items[2][0] != '\0';
        m->lease = m->set_lease ? strtoll(items[2], NULL, 10) : 0;
        m->subs = calloc(nsubs + 1, sizeof(*m->subs));
        m->cursors = calloc((n - 4 - 2 * nsubs) / 2 + 1, sizeof(*m->cursors));
        if ((m->user = strdup(items[0])) == NULL || m->subs == NULL ||
            m->cursors == NULL) {
            r->job->err = PL_ERR_INTERNAL;
            goto out;
        }
        for (i = 0, k = 4; i < nsubs; i++, k += 2) {
            if ((m->subs[i].filter = strdup(items[k])) == NULL) {
                r->job->err = PL_ERR_INTERNAL;
                goto out;
            }
            m->subs[i].qos = atoi(items[k + 1]);
            m->n_subs++;
        }
        for (; k + 1 < n; k += 2) {
            struct store_mqtt_cursor *c = &m->cursors[m->n_cursors];

            if ((c->topic = strdup(items[k])) == NULL) {
                r->job->err = PL_ERR_INTERNAL;
                goto out;
            }
            c->seq = strtoll(items[k + 1], NULL, 10);
            m->n_cursors++;
        }
    }
out:
    job_ready(r->rs, r);
}

static void msess_write_done(int err, long long value, void *ud)
{
    struct rjob *r = ud;

    (void)value;
    if (err != 0)
        r->job->err = link_err(err);
    job_ready(r->rs, r);
}

/* STORE_JOB_MQTT: one session read, or one change batch written. */
static int msess_send(struct redis_storage *rs, struct rjob *r)
{
    const struct store_mqtt *m = r->job->mqtt;

    if (m == NULL)
        return -EINVAL;
    if (m->read)
        return redis_call_msess_read(rs->link, m->client_id, msess_read_done,
                                     r);
    if (m->qos2_release != 0)
        return redis_call_msess_release(rs->link, m->client_id,
                                        m->qos2_release, msess_write_done, r);
    return redis_call_msess_write(rs->link, m, rs->cfg.mqtt_session_ttl_ms,
                                  msess_write_done, r);
}

static void send_job(struct redis_storage *rs, struct store_job *job)
{
    struct rjob *r = calloc(1, sizeof(*r));
    int rc = -ENOMEM;

    if (r == NULL) {
        job->err = PL_ERR_INTERNAL;
        done_append(rs, job);
        return;
    }
    r->rs = rs;
    r->job = job;
    *rs->inflight_tail = r;
    rs->inflight_tail = &r->next;
    rs->n_inflight++;
    switch (job->kind) {
    case STORE_JOB_PUB: {
        struct redis_pub_req req;
        char epoch[REDIS_EPOCH_LEN + 1];

        redis_epoch_new(epoch);
        memset(&req, 0, sizeof(req));
        req.topic = job->topic;
        req.key = job->key;
        req.from = job->from;
        req.data = job->data;
        req.data_len = job->data_len;
        req.retain = !job->retain ? 0 : job->data_is_null ? 2 : 1;
        req.ts = job->ts;
        req.maxlen = rs->cfg.retain_messages;
        req.min_ts =
            rs->cfg.retain_age_ms > 0 ? job->ts - rs->cfg.retain_age_ms : 0;
        req.window_s = (uint32_t)(rs->cfg.dedupe_window_ms / 1000);
        if (req.window_s == 0)
            req.window_s = 1;
        req.epoch = epoch;
        req.edit_of = job->edit_of;
        req.redacts = job->redacts;
        req.reply_to = job->reply_to;
        req.raw = job->raw;
        req.raw_len = job->raw_len;
        req.qos2_client = job->qos2_client;
        req.qos2_id = job->qos2_id;
        req.qos2_ttl_ms = rs->cfg.mqtt_session_ttl_ms;
        rc = redis_call_publish(rs->link, &req, pub_done, r);
        break;
    }
    case STORE_JOB_MARK:
        rc = mark_send(rs, r);
        break;
    case STORE_JOB_UNREAD:
        rc = unread_send(rs, r);
        break;
    case STORE_JOB_TOPICS:
        rc = topics_send(rs, r);
        break;
    case STORE_JOB_SEARCH:
        /* No full-text index in Redis: said, not failed (docs/design.md,
         * "Chat in a cluster"). */
        job->err = PL_ERR_BAD_REQUEST;
        job->unsupported = true;
        r->ready = true;
        rc = 0;
        break;
    case STORE_JOB_AFTER:
        rc = redis_call_since(rs->link, job->topic, (uint64_t)job->after,
                              (uint32_t)job->limit, rows_done, r);
        break;
    case STORE_JOB_BEFORE:
        rc = redis_call_history(rs->link, job->topic, (uint64_t)job->before,
                                (uint32_t)job->limit, rows_done, r);
        break;
    case STORE_JOB_STATE:
        rc = state_send(rs, r);
        break;
    case STORE_JOB_MEMBERS:
        rc = redis_call_pres_members(rs->link, job->topic, members_done, r);
        break;
    case STORE_JOB_MQTT:
        rc = msess_send(rs, r);
        break;
    case STORE_JOB_HEARD:
        rc = -EINVAL;
        break;
    default:
        /* A kind this engine does not serve (yet): refused, never lost. */
        rc = -EINVAL;
        break;
    }
    if (rc != 0) {
        job->err = rc == -ENOTCONN ? PL_ERR_OVERLOADED : PL_ERR_INTERNAL;
        r->ready = true;
    }
    inflight_advance(rs);
}

/* ------------------------------------------------------------------ */
/* storage ops                                                         */

static int op_load(void *engine, storage_topic_cb cb, void *arg)
{
    /* Nothing to load: a node cannot trust a state read once, as other
     * nodes move it on. The hub asks per topic (STORE_JOB_STATE). */
    (void)engine;
    (void)cb;
    (void)arg;
    return 0;
}

static int op_start(void *engine)
{
    struct redis_storage *rs = engine;
    struct redis_link_config lc;
    struct redis_node_config nc;
    /* One call a second, 100 topics or about 1024 stream entries read,
     * whichever comes first: a walk of 10000 idle topics takes under two
     * minutes on one node, and no call holds Redis for long (design.md,
     * "The age sweep"). */
    struct redis_sweep_config sweep_cfg = {
        .retain_age_ms = rs->cfg.retain_age_ms,
        .every_ms = 1000,
        .topics = 100,
        .budget = 1024,
    };
    int rc = 0;

    if (rs->loop == NULL)
        return -EINVAL;
    memset(&lc, 0, sizeof(lc));
    lc.url = rs->cfg.url;
    lc.timeout_ms = rs->cfg.timeout_ms > 0 ? rs->cfg.timeout_ms : 2000;
    lc.backoff_min_ms = 50;
    lc.backoff_max_ms = 2000;
    setup_argvlen[3] = redis_lua_library_len;
    lc.setup_argc = 4;
    lc.setup_argv = setup_argv;
    lc.setup_argvlen = setup_argvlen;
    lc.on_message = on_message;
    lc.on_state = on_state;
    lc.on_subscribed = on_subscribed;
    lc.ud = rs;
    rc = redis_link_new(&rs->link, rs->loop, &lc);
    if (rc < 0)
        return rc;
    redis_marked_init(&rs->marked, rs->link, hand_marked, rs);
    rs->marked_due = true;
    /* Moved read markers reach every node: a user's connections may sit
     * on any of them. */
    rc = redis_link_subscribe(rs->link, REDIS_LAYOUT_MARKED, false);
    if (rc < 0)
        return rc;
    /* An MQTT client id is connected on one node at a time. */
    rc = redis_link_subscribe(rs->link, REDIS_LAYOUT_MQTT_CLAIM, false);
    if (rc < 0)
        return rc;
    memset(&nc, 0, sizeof(nc));
    nc.beat_ms = rs->cfg.beat_ms > 0 ? rs->cfg.beat_ms : 10000;
    nc.ttl_ms = rs->cfg.node_ttl_ms > 0 ? rs->cfg.node_ttl_ms : 30000;
    nc.reap_limit = 16;
    rc = redis_node_new(&rs->node, rs->loop, rs->link, &nc);
    if (rc < 0)
        return rc;
    /* A step of about 250 keys every 20 ms: under a millisecond of Redis
     * each (tests/bench/backfill-cost.sh), 12,500 keys a second for one
     * node (more with more nodes); once over, one step per node start. */
    rc = redis_backfill_new(&rs->backfill, rs->loop, rs->link, 20, 250);
    if (rc < 0 || rs->cfg.retain_age_ms <= 0)
        return rc;
    return redis_sweep_new(&rs->sweep, rs->loop, rs->link, &sweep_cfg);
}

static void op_submit(void *engine, struct store_job *job)
{
    struct redis_storage *rs = engine;

    job->next = NULL;
    *rs->queued_tail = job;
    rs->queued_tail = &job->next;
}

static void op_flush(void *engine)
{
    struct redis_storage *rs = engine;
    struct store_job *list = rs->queued;

    rs->queued = NULL;
    rs->queued_tail = &rs->queued;
    while (list != NULL) {
        struct store_job *job = list;

        list = job->next;
        job->next = NULL;
        if (rs->link == NULL || rs->stopping) {
            job->err = PL_ERR_OVERLOADED;
            done_append(rs, job);
            continue;
        }
        send_job(rs, job);
    }
}

static struct store_job *op_take(void *engine)
{
    struct redis_storage *rs = engine;
    struct store_job *list = rs->done;

    rs->done = NULL;
    rs->done_tail = &rs->done;
    return list;
}

static size_t op_pending(void *engine)
{
    struct redis_storage *rs = engine;
    size_t n = rs->n_inflight;
    const struct store_job *j = NULL;

    for (j = rs->queued; j != NULL; j = j->next)
        n++;
    return n;
}

static void node_left(int err, long long value, void *ud)
{
    struct redis_storage *rs = ud;

    (void)err;
    (void)value;
    rs->leaving = false;
}

static void op_stop(void *engine)
{
    struct redis_storage *rs = engine;
    ev_tstamp deadline = 0;

    op_flush(rs);
    rs->stopping = true;
    /* A node that stops on purpose leaves the cluster now: its users'
     * leaves go out at once, not after its ttl. */
    if (rs->node != NULL && redis_link_up(rs->link) &&
        redis_node_leave(rs->node, node_left, rs) == 0)
        rs->leaving = true;
    if (rs->loop != NULL) {
        deadline = ev_time() + STOP_WAIT_MS / 1000.0;
        while ((rs->n_inflight > 0 || rs->leaving) && ev_time() < deadline)
            ev_run(rs->loop, EVRUN_ONCE);
    }
    redis_node_free(&rs->node);
    redis_sweep_free(&rs->sweep);
    redis_backfill_free(&rs->backfill);
    /* Anything still in flight fails (-ECANCELED) into the list. */
    redis_link_free(&rs->link);
}

/* Count a watch of pattern under p (on), or drop one. */
static void rpat_name_ref(struct rpattern *p, const char *pattern, bool on)
{
    struct rpat_name **pp = &p->names;
    size_t n = strlen(pattern);

    while (*pp != NULL && strcmp((*pp)->pattern, pattern) != 0)
        pp = &(*pp)->next;
    if (on && *pp == NULL) {
        struct rpat_name *pn = calloc(1, sizeof(*pn) + n + 1);

        if (pn == NULL)
            return; /* its topics are not followed after a deaf spell */
        memcpy(pn->pattern, pattern, n + 1);
        *pp = pn;
    }
    if (on) {
        (*pp)->refs++;
    } else if (*pp != NULL && --(*pp)->refs == 0) {
        struct rpat_name *pn = *pp;

        *pp = pn->next;
        free(pn);
    }
}

static void rpattern_free(struct rpattern *p)
{
    while (p->names != NULL) {
        struct rpat_name *pn = p->names;

        p->names = pn->next;
        free(pn);
    }
    free(p->prefix);
    free(p);
}

static void op_watch(void *engine, const char *pattern, bool is_pattern,
                     bool on)
{
    struct redis_storage *rs = engine;
    char chan[REDIS_NAME_MAX];

    if (is_pattern) {
        char prefix[256];
        struct rpattern **pp = &rs->patterns;

        pattern_prefix(pattern, prefix, sizeof(prefix));
        while (*pp != NULL && strcmp((*pp)->prefix, prefix) != 0)
            pp = &(*pp)->next;
        if (redis_layout_channel_pattern(chan, sizeof(chan), prefix) < 0)
            return;
        if (on) {
            if (*pp == NULL) {
                struct rpattern *p = calloc(1, sizeof(*p));

                if (p == NULL || (p->prefix = strdup(prefix)) == NULL) {
                    free(p);
                    return;
                }
                *pp = p;
            }
            (*pp)->refs++;
            rpat_name_ref(*pp, pattern, true);
            (void)redis_link_subscribe(rs->link, chan, true);
        } else if (*pp != NULL) {
            struct rpattern *p = *pp;

            (void)redis_link_unsubscribe(rs->link, chan, true);
            rpat_name_ref(p, pattern, false);
            if (--p->refs == 0) {
                *pp = p->next;
                rpattern_free(p);
            }
        }
        return;
    }
    if (redis_layout_channel(chan, sizeof(chan), pattern) < 0)
        return;
    if (on) {
        struct rtopic *t = rtopic_get(rs, pattern);

        if (t == NULL)
            return;
        if (t->watchers++ == 0 && !t->tracked)
            t->heard_max = 0;
        (void)redis_link_subscribe(rs->link, chan, false);
    } else {
        struct rtopic *t = rtopic_find(rs, pattern);

        if (t == NULL || t->watchers == 0)
            return;
        (void)redis_link_unsubscribe(rs->link, chan, false);
        if (--t->watchers == 0) {
            t->sub_active = false;
            /* A new first subscriber starts again from a STATE read. */
            t->tracked = t->gap.filling || covered_by_pattern(rs, t->name);
            rtopic_maybe_free(rs, t);
        }
    }
}

static void op_relay(void *engine, const struct storage_relay_msg *m)
{
    struct redis_storage *rs = engine;

    if (rs->link == NULL || rs->node == NULL) {
        rs->relay.unsent++;
        return;
    }
    (void)redis_relay_send(&rs->relay, rs->link, redis_node_id(rs->node), m);
}

static void claim_sent(const redisReply *reply, int err, void *ud)
{
    (void)reply;
    (void)err;
    (void)ud;
}

/* Fire and forget, as a relay: while the link is down no other node
 * hears it (its client's keepalive closes that connection then). */
static int op_mqtt_claim(void *engine, const char *client_id)
{
    struct redis_storage *rs = engine;
    const char *argv[3] = {"PUBLISH", REDIS_LAYOUT_MQTT_CLAIM, NULL};
    size_t argvlen[3] = {7, sizeof(REDIS_LAYOUT_MQTT_CLAIM) - 1, 0};
    char *payload = NULL;
    int n = 0;

    if (rs->link == NULL || rs->node == NULL)
        return -1;
    n = asprintf(&payload, "%s %s", redis_node_id(rs->node), client_id);
    if (n < 0)
        return -1;
    argv[2] = payload;
    argvlen[2] = (size_t)n;
    n = redis_link_command(rs->link, claim_sent, NULL, 3, argv, argvlen);
    free(payload);
    return n == 0 ? 0 : -1;
}

static void op_mqtt_taken(void *engine,
                          void (*cb)(void *ctx, const char *client_id,
                                     bool mine),
                          void *ctx)
{
    struct redis_storage *rs = engine;

    rs->taken = cb;
    rs->taken_ctx = ctx;
}

static void op_listen(void *engine, void (*done)(void *, struct store_job *),
                      void *ctx)
{
    struct redis_storage *rs = engine;

    rs->listener = done;
    rs->listener_ctx = ctx;
}

static bool op_healthy(void *engine)
{
    struct redis_storage *rs = engine;

    return rs->link != NULL && redis_link_up(rs->link);
}

static const struct storage_ops redis_storage_ops = {
    .load = op_load,
    .start = op_start,
    .submit = op_submit,
    .flush = op_flush,
    .take_completions = op_take,
    .pending = op_pending,
    .stop = op_stop,
    .watch = op_watch,
    .listen = op_listen,
    .presence = op_presence,
    .mqtt_claim = op_mqtt_claim,
    .mqtt_taken = op_mqtt_taken,
    .relay = op_relay,
    .healthy = op_healthy,
};

/* ------------------------------------------------------------------ */
/* life cycle                                                          */

int redis_storage_new(struct redis_storage **out,
                      const struct redis_storage_config *cfg)
{
    struct redis_storage *rs = calloc(1, sizeof(*rs));

    if (rs == NULL)
        return -ENOMEM;
    rs->cfg = *cfg;
    rs->queued_tail = &rs->queued;
    rs->inflight_tail = &rs->inflight;
    rs->done_tail = &rs->done;
    rs->pres_due_tail = &rs->pres_due;
    rs->stats.live_nodes = -1;
    *out = rs;
    return 0;
}

void redis_storage_set_loop(struct redis_storage *rs, struct ev_loop *loop)
{
    rs->loop = loop;
}

void redis_storage_as_storage(struct redis_storage *rs, struct storage *out)
{
    out->ops = &redis_storage_ops;
    out->engine = rs;
}

void redis_storage_get_stats(const struct redis_storage *rs,
                             struct redis_storage_stats *out)
{
    *out = rs->stats;
    out->relayed = rs->relay.sent;
    out->relay_unsent = rs->relay.unsent;
    out->marked_filled = rs->marked.filled;
    out->marked_lost = rs->marked.gap.lost;
    out->up = rs->link != NULL && redis_link_up(rs->link);
    if (rs->link != NULL) {
        struct redis_link_stats ls;

        redis_link_get_stats(rs->link, &ls);
        out->link_drops = ls.drops;
        out->timeouts = ls.timeouts;
    }
    if (rs->node != NULL) {
        struct redis_node_stats ns;

        redis_node_get_stats(rs->node, &ns);
        out->live_nodes = ns.live;
    }
}

void redis_storage_free(struct redis_storage **rsp)
{
    struct redis_storage *rs = *rsp;
    struct store_job *j = NULL;
    size_t i;

    if (rs == NULL)
        return;
    *rsp = NULL;
    redis_node_free(&rs->node);
    redis_sweep_free(&rs->sweep);
    redis_backfill_free(&rs->backfill);
    redis_link_free(&rs->link);
    while (rs->inflight != NULL) {
        struct rjob *r = rs->inflight;

        rs->inflight = r->next;
        store_job_free(&r->job);
        free(r);
    }
    while ((j = rs->queued) != NULL) {
        rs->queued = j->next;
        store_job_free(&j);
    }
    while ((j = rs->done) != NULL) {
        rs->done = j->next;
        store_job_free(&j);
    }
    for (i = 0; i < RTOPIC_BUCKETS; i++) {
        while (rs->topics[i] != NULL) {
            struct rtopic *t = rs->topics[i];

            rs->topics[i] = t->next;
            redis_pview_clear(&t->pres);
            free(t->name);
            free(t);
        }
    }
    redis_presence_cleanup(&rs->pres);
    pres_due_free(rs);
    while (rs->patterns != NULL) {
        struct rpattern *p = rs->patterns;

        rs->patterns = p->next;
        rpattern_free(p);
    }
    free(rs);
}
