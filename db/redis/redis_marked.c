/*
 * redis_marked.c: owns the delivery position in the cluster's log of
 * moved read markers, and the reads that fill a gap in it (see the
 * header). The rule itself is redis_gap's, as for a topic.
 */
#include "redis_marked.h"

#include <string.h>

#include "redis_calls.h"

/* Moves read per fill; a longer gap takes several fills. */
#define MARKED_FILL_ROWS 256
/* A since above any log number: the read answers the log's end only. */
#define MARKED_FAR 1000000000000000ull

static void fill_start(struct redis_marked *m);

static void fill_done(int err, const struct redis_rows *res, void *ud)
{
    struct redis_marked *m = ud;

    if (err != 0) {
        /* The link's loss: its next SUBSCRIBE confirmation fills again. */
        redis_gap_fill_failed(&m->gap);
        return;
    }
    redis_gap_fill_head(&m->gap, res->latest, res->epoch, strlen(res->epoch));
    for (size_t i = 0; i < res->n; i++) {
        if (redis_gap_fill_row(&m->gap, &res->rows[i]) == REDIS_GAP_DELIVER) {
            m->filled++;
            m->deliver(m->ud, &res->rows[i]);
        }
    }
    if (redis_gap_fill_end(&m->gap))
        fill_start(m);
}

static void fill_start(struct redis_marked *m)
{
    if (redis_call_marked_since(m->link, m->gap.last, MARKED_FILL_ROWS,
                                fill_done, m) != 0)
        redis_gap_fill_failed(&m->gap);
}

/* The log's end when this node first listened: moves before it are not
 * owed (this node had nobody to tell), moves after it are. */
static void located(int err, const struct redis_rows *res, void *ud)
{
    struct redis_marked *m = ud;
    uint64_t from = 0;

    m->locating = false;
    if (err != 0)
        return; /* the next confirmation tries again */
    from = res->latest > m->heard_max ? res->latest : m->heard_max;
    redis_gap_init(&m->gap, from, res->epoch, strlen(res->epoch));
    m->tracked = true;
}

void redis_marked_init(struct redis_marked *m, struct redis_link *link,
                       redis_marked_fn deliver, void *ud)
{
    memset(m, 0, sizeof(*m));
    m->link = link;
    m->deliver = deliver;
    m->ud = ud;
}

void redis_marked_heard(struct redis_marked *m, const struct redis_event *ev)
{
    if (ev->seq == 0 || !m->tracked) {
        /* not logged (an old caller), or before the log's end is known */
        if (ev->seq > m->heard_max)
            m->heard_max = ev->seq;
        m->deliver(m->ud, ev);
        return;
    }
    switch (redis_gap_live(&m->gap, ev)) {
    case REDIS_GAP_DELIVER:
        m->deliver(m->ud, ev);
        break;
    case REDIS_GAP_FILL:
        fill_start(m);
        break;
    case REDIS_GAP_STALE:
    case REDIS_GAP_WAIT:
        break;
    }
}

bool redis_marked_sync(struct redis_marked *m)
{
    if (!m->tracked) {
        if (!m->locating &&
            redis_call_marked_since(m->link, MARKED_FAR, 1, located, m) == 0)
            m->locating = true;
        return m->locating;
    }
    if (!redis_gap_fill_begin(&m->gap))
        return true; /* a fill runs: it reads up to the log's end */
    if (redis_call_marked_since(m->link, m->gap.last, MARKED_FILL_ROWS,
                                fill_done, m) != 0) {
        redis_gap_fill_failed(&m->gap);
        return false;
    }
    return true;
}
