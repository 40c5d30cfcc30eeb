/*
 * mqtt_saved.c: MQTT persistent sessions kept across connections and
 * restarts (see mqtt_saved.h). Small linear tables: a session has a few
 * filters and one cursor per topic it receives. Service thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mqtt_saved.h"
#include "store_job.h"

void mqtt_saved_table_init(struct mqtt_saved_table *t)
{
    memset(t, 0, sizeof(*t));
}

static void saved_free(struct mqtt_saved *s)
{
    size_t i = 0;

    for (i = 0; i < s->n_subs; i++)
        free(s->subs[i].filter);
    for (i = 0; i < s->n_cursors; i++)
        free(s->cursors[i].topic);
    if (s->has_window)
        mqtt_inflight_cleanup(&s->window);
    mqtt_pid_owed_cleanup(&s->owed);
    free(s->subs);
    free(s->cursors);
    free(s->client_id);
    free(s->user);
    free(s->gap);
    free(s);
}

void mqtt_saved_table_cleanup(struct mqtt_saved_table *t)
{
    size_t i = 0;

    free(t->hash);
    while (t->list != NULL) {
        struct mqtt_saved *s = t->list;

        t->list = s->next;
        saved_free(s);
    }
    for (i = 0; i < t->n_dropped; i++)
        free(t->dropped[i]);
    free(t->dropped);
    memset(t, 0, sizeof(*t));
}

static size_t id_hash(const char *id)
{
    size_t h = 14695981039346656037ULL; /* FNV-1a */

    while (*id != '\0')
        h = (h ^ (unsigned char)*id++) * 1099511628211ULL;
    return h;
}

static struct mqtt_saved **hash_slot(struct mqtt_saved_table *t,
                                     const char *client_id)
{
    struct mqtt_saved **pp = &t->hash[id_hash(client_id) & (t->nbuckets - 1)];

    while (*pp != NULL && strcmp((*pp)->client_id, client_id) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

/* Room for one more session in the hash (doubled past one per bucket).
 * Returns 0 or -1 (OOM). */
static int hash_grow(struct mqtt_saved_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    struct mqtt_saved *s = NULL;

    if (t->count < t->nbuckets)
        return 0;
    free(t->hash);
    t->hash = calloc(n, sizeof(*t->hash));
    if (t->hash == NULL) {
        t->nbuckets = 0;
        return -1;
    }
    t->nbuckets = n;
    for (s = t->list; s != NULL; s = s->next) {
        struct mqtt_saved **pp = hash_slot(t, s->client_id);

        s->hnext = NULL;
        *pp = s;
    }
    return 0;
}

struct mqtt_saved *mqtt_saved_find(struct mqtt_saved_table *t,
                                   const char *client_id)
{
    return t->nbuckets > 0 ? *hash_slot(t, client_id) : NULL;
}

static void mark_dirty(struct mqtt_saved_table *t, struct mqtt_saved *s)
{
    if (s->is_dirty)
        return;
    s->is_dirty = true;
    s->dirty_next = t->dirty;
    t->dirty = s;
}

static struct mqtt_saved *saved_new(struct mqtt_saved_table *t,
                                    const char *client_id, const char *user)
{
    struct mqtt_saved *s = NULL;

    if (hash_grow(t) < 0 || (s = calloc(1, sizeof(*s))) == NULL)
        return NULL;
    s->client_id = strdup(client_id);
    s->user = strdup(user != NULL ? user : "");
    if (s->client_id == NULL || s->user == NULL) {
        saved_free(s);
        return NULL;
    }
    s->next = t->list;
    if (s->next != NULL)
        s->next->pprev = &s->next;
    s->pprev = &t->list;
    t->list = s;
    *hash_slot(t, client_id) = s;
    t->count++;
    return s;
}

bool mqtt_saved_full(const struct mqtt_saved_table *t)
{
    return t->count >= MQTT_SAVED_MAX;
}

struct mqtt_saved *mqtt_saved_add(struct mqtt_saved_table *t,
                                  const char *client_id, const char *user)
{
    struct mqtt_saved *s =
        mqtt_saved_full(t) ? NULL : saved_new(t, client_id, user);

    if (s != NULL) {
        s->subs_dirty = true; /* writes the session row, with no filter */
        s->lease_known = true; /* and its lease row, 0 */
        mark_dirty(t, s);
    }
    return s;
}

/* Take dead out of the list, the hash, the dirty list and the sweep, and
 * free it. O(1) but for the dirty list (sessions changed this turn). */
static void saved_remove(struct mqtt_saved_table *t, struct mqtt_saved *dead)
{
    struct mqtt_saved **dp = &t->dirty;

    if (t->sweep == dead)
        t->sweep = dead->next;
    *dead->pprev = dead->next;
    if (dead->next != NULL)
        dead->next->pprev = dead->pprev;
    *hash_slot(t, dead->client_id) = dead->hnext;
    t->count--;
    while (*dp != NULL && *dp != dead)
        dp = &(*dp)->dirty_next;
    if (*dp != NULL)
        *dp = dead->dirty_next;
    saved_free(dead);
}

void mqtt_saved_drop(struct mqtt_saved_table *t, const char *client_id)
{
    struct mqtt_saved *dead = mqtt_saved_find(t, client_id);
    char *id = NULL;

    if (dead == NULL && !t->shared)
        return; /* the common case (clean session 1), in O(1) */
    if (t->n_dropped == t->cap_dropped) {
        size_t cap = t->cap_dropped ? t->cap_dropped * 2 : 8;
        char **p = realloc(t->dropped, cap * sizeof(*p));

        if (p == NULL)
            return; /* OOM: kept, so nothing is lost */
        t->dropped = p;
        t->cap_dropped = cap;
    }
    id = strdup(client_id);
    if (id == NULL)
        return;
    t->dropped[t->n_dropped++] = id;
    if (dead != NULL)
        saved_remove(t, dead);
}

void mqtt_saved_attach(struct mqtt_saved_table *t, struct mqtt_saved *s,
                       bool on)
{
    s->attached = on;
    mark_dirty(t, s);
}

size_t mqtt_saved_expire(struct mqtt_saved_table *t, int64_t now_ms,
                         int64_t expiry_ms, size_t budget, bool *more)
{
    struct mqtt_saved *s = t->sweep != NULL ? t->sweep : t->list;
    size_t dropped = 0;

    for (; s != NULL && budget > 0; budget--) {
        struct mqtt_saved *next = s->next;
        /* A dirty one is written, last_seen now, at the next flush. */
        /* Shared: the store's TTL is the expiry itself, renewed well
         * before it runs out. */
        int64_t held = t->shared ? expiry_ms / 4 : expiry_ms / 2;
        bool stale = !s->is_dirty &&
                     now_ms - s->last_seen >
                         (s->attached ? held : expiry_ms);

        if (stale && s->attached) {
            mark_dirty(t, s);
        } else if (stale && t->shared) {
            /* Not held here: the store's TTL expires it, not this node. */
            saved_remove(t, s);
        } else if (stale) {
            size_t before = t->count;

            mqtt_saved_drop(t, s->client_id);
            dropped += t->count < before ? 1 : 0; /* not kept by an OOM */
        }
        s = next;
    }
    t->sweep = s;
    *more = s != NULL;
    return dropped;
}

int mqtt_saved_set_user(struct mqtt_saved_table *t, struct mqtt_saved *s,
                        const char *user)
{
    char *u = NULL;

    if (strcmp(s->user, user) == 0)
        return 0;
    u = strdup(user);
    if (u == NULL)
        return -1;
    free(s->user);
    s->user = u;
    s->subs_dirty = true;
    mark_dirty(t, s);
    return 0;
}

static struct mqtt_saved_sub *sub_find(struct mqtt_saved *s,
                                       const char *filter)
{
    size_t i = 0;

    for (i = 0; i < s->n_subs; i++)
        if (strcmp(s->subs[i].filter, filter) == 0)
            return &s->subs[i];
    return NULL;
}

static int sub_put(struct mqtt_saved *s, const char *filter, uint8_t qos)
{
    struct mqtt_saved_sub *sub = sub_find(s, filter);
    char *f = NULL;

    if (sub != NULL) {
        sub->qos = qos;
        return 0;
    }
    if (s->n_subs == s->cap_subs) {
        size_t cap = s->cap_subs ? s->cap_subs * 2 : 4;
        struct mqtt_saved_sub *p = realloc(s->subs, cap * sizeof(*p));

        if (p == NULL)
            return -1;
        s->subs = p;
        s->cap_subs = cap;
    }
    f = strdup(filter);
    if (f == NULL)
        return -1;
    s->subs[s->n_subs].filter = f;
    s->subs[s->n_subs].qos = qos;
    s->n_subs++;
    return 0;
}

int mqtt_saved_sub_set(struct mqtt_saved_table *t, struct mqtt_saved *s,
                       const char *filter, uint8_t qos)
{
    struct mqtt_saved_sub *sub = sub_find(s, filter);

    if (sub != NULL && sub->qos == qos)
        return 0;
    if (sub_put(s, filter, qos) < 0)
        return -1;
    s->subs_dirty = true;
    mark_dirty(t, s);
    return 0;
}

void mqtt_saved_sub_drop(struct mqtt_saved_table *t, struct mqtt_saved *s,
                         const char *filter)
{
    struct mqtt_saved_sub *sub = sub_find(s, filter);

    if (sub == NULL)
        return;
    free(sub->filter);
    *sub = s->subs[--s->n_subs];
    s->subs_dirty = true;
    mark_dirty(t, s);
}

static struct mqtt_saved_cursor *cursor_find(const struct mqtt_saved *s,
                                             const char *topic)
{
    size_t i = 0;

    for (i = 0; i < s->n_cursors; i++)
        if (strcmp(s->cursors[i].topic, topic) == 0)
            return &s->cursors[i];
    return NULL;
}

bool mqtt_saved_cursor(const struct mqtt_saved *s, const char *topic,
                       int64_t *seq)
{
    const struct mqtt_saved_cursor *c = cursor_find(s, topic);

    if (c == NULL)
        return false;
    *seq = c->seq;
    return true;
}

static struct mqtt_saved_cursor *cursor_add(struct mqtt_saved *s,
                                            const char *topic)
{
    struct mqtt_saved_cursor *c = NULL;

    if (s->n_cursors == s->cap_cursors) {
        size_t cap = s->cap_cursors ? s->cap_cursors * 2 : 8;
        struct mqtt_saved_cursor *p = realloc(s->cursors, cap * sizeof(*p));

        if (p == NULL)
            return NULL;
        s->cursors = p;
        s->cap_cursors = cap;
    }
    c = &s->cursors[s->n_cursors];
    c->topic = strdup(topic);
    if (c->topic == NULL)
        return NULL;
    c->seq = 0;
    c->dirty = false;
    s->n_cursors++;
    return c;
}

int mqtt_saved_cursor_set(struct mqtt_saved_table *t, struct mqtt_saved *s,
                          const char *topic, int64_t seq, bool only_new)
{
    struct mqtt_saved_cursor *c = cursor_find(s, topic);

    if (c != NULL && (only_new || c->seq >= seq))
        return 0;
    if (c == NULL && (c = cursor_add(s, topic)) == NULL)
        return -1;
    c->seq = seq;
    c->dirty = true;
    mark_dirty(t, s);
    return 0;
}

void mqtt_saved_lease_ask(struct mqtt_saved_table *t, struct mqtt_saved *s,
                          uint64_t want)
{
    if (want <= s->pid_want)
        return;
    s->pid_want = want;
    mark_dirty(t, s);
}

int mqtt_saved_sweep(struct mqtt_saved *s, unsigned window)
{
    uint64_t from = 1, n = UINT16_MAX;

    if (!s->restarted)
        return 0;
    /* No lease row: stored by a build that kept none, so any id may be
     * held. As if the lease were 65535 with all of it to sweep; its row
     * is written once that is done (lease_writable). */
    if (s->lease_known)
        mqtt_pid_sweep(s->pid_lease, window, &from, &n);
    else
        s->pid_lease = s->pid_want = UINT16_MAX;
    mqtt_pid_owed_cleanup(&s->owed);
    if (n > 0 && mqtt_pid_owed_init(&s->owed, from, (uint32_t)n) < 0)
        return -1;
    s->pid_issued = s->pid_lease;
    s->restarted = false;
    return 0;
}

/* Whether the job may write the lease: not for a session with no lease
 * row while its sweep of every id is unanswered (a crash then must sweep
 * every id again), unless it asks for more (its sweep is then done up to
 * R below, mqtt_pid_lease_next). */
static bool lease_writable(const struct mqtt_saved *s)
{
    return s->lease_known || s->owed.left == 0 || s->pid_want > UINT16_MAX;
}

/* The job carrying s's lease ask committed (or not). */
static void lease_done(struct mqtt_saved_table *t, struct store_job *job)
{
    struct mqtt_saved *s = mqtt_saved_find(t, job->mqtt->client_id);

    if (s == NULL || s->lease_job != job)
        return; /* dropped since, or a later job carries the ask */
    s->lease_job = NULL;
    if (job->err != 0) {
        mark_dirty(t, s); /* asked again at the next flush */
        return;
    }
    s->lease_known = true;
    if ((uint64_t)job->mqtt->lease > s->pid_lease)
        s->pid_lease = (uint64_t)job->mqtt->lease;
    if (t->leased != NULL)
        t->leased(t->leased_arg, s);
}

/* Shared storage: a session is forgotten here once its connection left
 * and its last write is in the store (the next connection, on any node,
 * reads it there). A failed write (Redis out of reach) is made again,
 * whole, from the next flush on, until it is stored: the session stays
 * here meanwhile, so no filter or cursor is lost with it. Said once per
 * spell of failures. */
static void shared_write_done(struct mqtt_saved_table *t,
                              struct store_job *job)
{
    struct mqtt_saved *s = mqtt_saved_find(t, job->mqtt->client_id);
    size_t i = 0;

    if (job->err == 0) {
        t->failing = false;
        if (s != NULL && !s->attached && !s->is_dirty)
            saved_remove(t, s);
        return;
    }
    t->write_errors++;
    if (!t->failing)
        log_warn("mqtt: storing the session of %s failed; it is written "
                 "again until it is stored",
                 job->mqtt->client_id);
    t->failing = true;
    if (s == NULL || job->mqtt->drop)
        return;
    s->subs_dirty = true;
    for (i = 0; i < s->n_cursors; i++)
        s->cursors[i].dirty = true;
    mark_dirty(t, s);
}

/* A write failed: the cursors are moved again by the next acks, and a
 * resume after a restart replays from the older stored ones (a duplicate,
 * never a loss); said in the log and counted. */
static void write_done(void *ctx, struct store_job *job)
{
    struct mqtt_saved_table *t = ctx;

    if (job->mqtt != NULL && job->mqtt->set_lease)
        lease_done(t, job);
    if (t->shared) {
        shared_write_done(t, job);
        return;
    }
    if (job->err == 0)
        return;
    t->write_errors++;
    log_warn("mqtt: storing the session of %s failed; after a restart it "
             "may receive some messages again",
             job->mqtt != NULL ? job->mqtt->client_id : "?");
}

/* A STORE_JOB_MQTT for client_id with nothing in it yet; NULL on OOM. */
static struct store_job *bare_job(const char *client_id)
{
    struct store_job *job = store_job_new(STORE_JOB_MQTT, NULL);

    if (job == NULL)
        return NULL;
    job->mqtt = calloc(1, sizeof(*job->mqtt));
    if (job->mqtt == NULL ||
        (job->mqtt->client_id = strdup(client_id)) == NULL)
        store_job_free(&job);
    return job;
}

struct store_job *mqtt_saved_release_job(const char *client_id,
                                         uint16_t packet_id)
{
    struct store_job *job = bare_job(client_id);

    if (job != NULL)
        job->mqtt->qos2_release = packet_id;
    return job;
}

static struct store_job *job_new(struct mqtt_saved_table *t,
                                 const char *client_id, int64_t now_ms)
{
    struct store_job *job = bare_job(client_id);

    if (job == NULL)
        return NULL;
    job->mqtt->now_ms = now_ms;
    job->done = write_done;
    job->done_ctx = t;
    return job;
}

/* The job carrying s's changes; NULL on OOM (s stays dirty). */
static struct store_job *saved_job(struct mqtt_saved_table *t,
                                   struct mqtt_saved *s, int64_t now_ms)
{
    struct store_job *job = job_new(t, s->client_id, now_ms);
    struct store_mqtt *m = NULL;
    size_t i = 0, n = 0;

    if (job == NULL)
        return NULL;
    m = job->mqtt;
    if ((m->user = strdup(s->user)) == NULL)
        goto oom;
    m->set_lease = lease_writable(s);
    m->lease = (int64_t)s->pid_want;
    if (s->subs_dirty) {
        m->set_subs = true;
        m->subs = calloc(s->n_subs + 1, sizeof(*m->subs));
        if (m->subs == NULL)
            goto oom;
        for (i = 0; i < s->n_subs; i++) {
            m->subs[i].filter = strdup(s->subs[i].filter);
            if (m->subs[i].filter == NULL)
                goto oom;
            m->subs[i].qos = s->subs[i].qos;
            m->n_subs++;
        }
    }
    for (i = 0; i < s->n_cursors; i++)
        n += s->cursors[i].dirty ? 1 : 0;
    m->cursors = calloc(n + 1, sizeof(*m->cursors));
    if (m->cursors == NULL)
        goto oom;
    for (i = 0; i < s->n_cursors; i++) {
        if (!s->cursors[i].dirty)
            continue;
        m->cursors[m->n_cursors].topic = strdup(s->cursors[i].topic);
        if (m->cursors[m->n_cursors].topic == NULL)
            goto oom;
        m->cursors[m->n_cursors++].seq = s->cursors[i].seq;
    }
    return job;
oom:
    store_job_free(&job);
    return NULL;
}

void mqtt_saved_flush(struct mqtt_saved_table *t,
                      const struct storage *storage, int64_t now_ms)
{
    size_t i = 0;

    /* Deletions first: a session dropped and made again in one turn is
     * deleted, then written anew. */
    for (i = 0; i < t->n_dropped; i++) {
        struct store_job *job = job_new(t, t->dropped[i], now_ms);

        if (job == NULL)
            break;
        job->mqtt->drop = true;
        storage_submit(storage, job);
        free(t->dropped[i]);
        t->dropped[i] = NULL;
    }
    if (i > 0) {
        memmove(t->dropped, t->dropped + i,
                (t->n_dropped - i) * sizeof(*t->dropped));
        t->n_dropped -= i;
    }
    while (t->dirty != NULL) {
        struct mqtt_saved *s = t->dirty;
        struct store_job *job = saved_job(t, s, now_ms);

        if (job == NULL)
            return; /* OOM: try again next turn */
        t->dirty = s->dirty_next;
        s->dirty_next = NULL;
        s->is_dirty = false;
        s->last_seen = now_ms; /* what the job writes */
        s->subs_dirty = false;
        for (i = 0; i < s->n_cursors; i++)
            s->cursors[i].dirty = false;
        if (job->mqtt->set_lease && s->pid_want > s->pid_lease)
            s->lease_job = job;
        storage_submit(storage, job);
    }
}

struct store_job *mqtt_saved_read_job(const char *client_id,
                                      void (*done)(void *, struct store_job *),
                                      void *ctx)
{
    struct store_job *job = bare_job(client_id);

    if (job == NULL)
        return NULL;
    job->mqtt->read = true;
    job->done = done;
    job->done_ctx = ctx;
    return job;
}

struct mqtt_saved *mqtt_saved_load_job(struct mqtt_saved_table *t,
                                       const struct store_job *job,
                                       bool *oom)
{
    const struct store_mqtt *m = job->mqtt;
    const char *id = m->client_id;
    struct mqtt_saved *s = mqtt_saved_find(t, id);
    uint64_t held_lease = s != NULL ? s->pid_lease : 0;
    bool q2 = false;
    size_t i = 0;

    *oom = false;
    if (!m->found)
        return NULL;
    if (mqtt_saved_load_row(t, 0, id, m->user != NULL ? m->user : "",
                            m->now_ms) < 0)
        goto oom;
    for (i = 0; i < m->n_subs; i++)
        if (mqtt_saved_load_row(t, 1, id, m->subs[i].filter,
                                m->subs[i].qos) < 0)
            goto oom;
    for (i = 0; i < m->n_cursors; i++)
        if (mqtt_saved_load_row(t, 2, id, m->cursors[i].topic,
                                m->cursors[i].seq) < 0)
            goto oom;
    s = mqtt_saved_find(t, id);
    /* Read from the store, not held here since (or another node handed
     * out ids meanwhile: its lease is past ours): the client may hold ids
     * of a QoS 2 exchange another node's end cut, so they get their
     * PUBREL (mqtt_saved_sweep) as after a restart. Only a session with a
     * filter granted QoS 2 can have been sent QoS 2 deliveries (a client
     * holds no id of QoS 1 ones), so the others, most devices, skip the
     * sweep on every move between nodes. */
    for (i = 0; s != NULL && i < s->n_subs && !q2; i++)
        q2 = s->subs[i].qos == 2;
    if (s != NULL && q2 &&
        (held_lease == 0 ||
         (m->set_lease && (uint64_t)m->lease > held_lease))) {
        s->restarted = true;
        s->lease_known = m->set_lease;
        if (m->set_lease)
            s->pid_lease = s->pid_want = (uint64_t)m->lease;
    }
    return s;
oom:
    *oom = true;
    if (mqtt_saved_find(t, id) != NULL)
        saved_remove(t, mqtt_saved_find(t, id)); /* never half of it */
    return NULL;
}

int mqtt_saved_load_row(struct mqtt_saved_table *t, int kind,
                        const char *client_id, const char *name,
                        int64_t value)
{
    struct mqtt_saved *s = mqtt_saved_find(t, client_id);
    struct mqtt_saved_cursor *c = NULL;

    if (kind == 0) {
        if (s == NULL && (s = saved_new(t, client_id, name)) == NULL)
            return -1;
        s->last_seen = value;
        /* Loaded at start from the process's own store. A shared store's
         * session, read at connect, keeps no lease to sweep from. */
        s->restarted = !t->shared;
        return 0;
    }
    if (s == NULL)
        return 0; /* a row whose session is gone: ignored */
    if (kind == 3) {
        s->lease_known = true;
        s->pid_lease = s->pid_want = value > 0 ? (uint64_t)value : 0;
        return 0;
    }
    if (kind == 1)
        return sub_put(s, name, value >= 0 && value <= 2 ? (uint8_t)value : 0);
    c = cursor_find(s, name);
    if (c == NULL && (c = cursor_add(s, name)) == NULL)
        return -1;
    if (value > c->seq)
        c->seq = value;
    return 0;
}
