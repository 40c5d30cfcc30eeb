/*
 * redis_pview.c: owns one topic's view of the cluster's members as told
 * to this node's presence subscribers, and the difference to tell after
 * a read (see the header). The set is a sorted array: a join or leave is
 * a binary search and a move; a read's difference is one merge walk.
 */
#include "redis_pview.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pview_event {
    struct pview_event *next;
    bool join;
    char user[];
};

struct uset {
    char **users;
    size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Where user is, or would go, in s; *found says which. */
static size_t uset_pos(const struct uset *s, const char *user, bool *found)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->users[mid], user);

        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Put user in s (join) or take it out. 0 or -ENOMEM. */
static int uset_apply(struct uset *s, const char *user, bool join)
{
    bool found = false;
    size_t i = uset_pos(s, user, &found);

    if (found == join)
        return 0;
    if (!join) {
        free(s->users[i]);
        memmove(&s->users[i], &s->users[i + 1],
                (s->n - i - 1) * sizeof(*s->users));
        s->n--;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap > 0 ? s->cap * 2 : 8;
        char **u = realloc(s->users, cap * sizeof(*u));

        if (u == NULL)
            return -ENOMEM;
        s->users = u;
        s->cap = cap;
    }
    {
        char *copy = strdup(user);

        if (copy == NULL)
            return -ENOMEM;
        memmove(&s->users[i + 1], &s->users[i], (s->n - i) * sizeof(*s->users));
        s->users[i] = copy;
        s->n++;
    }
    return 0;
}

static void uset_free(struct uset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->users[i]);
    free(s->users);
    memset(s, 0, sizeof(*s));
}

/* users[0..n) as a sorted set without repeats. 0 or -ENOMEM. */
static int uset_from(struct uset *s, const char *const *users, size_t n)
{
    size_t k = 0;

    memset(s, 0, sizeof(*s));
    if (n == 0)
        return 0;
    s->users = calloc(n, sizeof(*s->users));
    if (s->users == NULL)
        return -ENOMEM;
    s->cap = n;
    for (size_t i = 0; i < n; i++) {
        if ((s->users[i] = strdup(users[i])) == NULL) {
            s->n = i;
            uset_free(s);
            return -ENOMEM;
        }
    }
    s->n = n;
    qsort(s->users, n, sizeof(*s->users), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(s->users[k - 1], s->users[i]) == 0) {
            free(s->users[i]);
            continue;
        }
        s->users[k++] = s->users[i];
    }
    s->n = k;
    return 0;
}

static void window_clear(struct redis_pview *v)
{
    while (v->window != NULL) {
        struct pview_event *e = v->window;

        v->window = e->next;
        free(e);
    }
    v->window_tail = &v->window;
}

void redis_pview_init(struct redis_pview *v)
{
    memset(v, 0, sizeof(*v));
    v->window_tail = &v->window;
}

int redis_pview_heard(struct redis_pview *v, const char *user, bool join)
{
    struct uset s = {v->users, v->n, v->cap};
    int rc = uset_apply(&s, user, join);

    v->users = s.users;
    v->n = s.n;
    v->cap = s.cap;
    if (rc == 0 && v->reading) {
        size_t n = strlen(user);
        struct pview_event *e = malloc(sizeof(*e) + n + 1);

        if (e == NULL) {
            rc = -ENOMEM;
        } else {
            e->next = NULL;
            e->join = join;
            memcpy(e->user, user, n + 1);
            *v->window_tail = e;
            v->window_tail = &e->next;
        }
    }
    if (rc != 0)
        v->stale = true;
    return rc;
}

bool redis_pview_due(const struct redis_pview *v)
{
    return !v->reading && (!v->known || v->stale);
}

void redis_pview_read_begin(struct redis_pview *v)
{
    window_clear(v);
    v->reading = true;
    v->stale = false;
}

/* Tell every difference between what was told (old) and what is (now):
 * one merge walk over the two sorted sets. */
static void tell_diff(const struct uset *old, const struct uset *now,
                      redis_pview_tell_fn tell, void *ud)
{
    size_t i = 0, j = 0;

    while (i < old->n || j < now->n) {
        int c = i == old->n   ? 1
                : j == now->n ? -1
                              : strcmp(old->users[i], now->users[j]);

        if (c < 0)
            tell(ud, old->users[i++], false);
        else if (c > 0)
            tell(ud, now->users[j++], true);
        else
            i++, j++;
    }
}

int redis_pview_read_done(struct redis_pview *v, const char *const *users,
                          size_t n, redis_pview_tell_fn tell, void *ud)
{
    struct uset now;
    struct uset old = {v->users, v->n, v->cap};
    const struct pview_event *e = NULL;
    int rc = uset_from(&now, users, n);

    for (e = v->window; rc == 0 && e != NULL; e = e->next)
        rc = uset_apply(&now, e->user, e->join);
    window_clear(v);
    v->reading = false;
    if (rc != 0) {
        uset_free(&now);
        v->stale = true;
        return rc;
    }
    if (v->known && tell != NULL)
        tell_diff(&old, &now, tell, ud);
    uset_free(&old);
    v->users = now.users;
    v->n = now.n;
    v->cap = now.cap;
    v->known = true;
    return 0;
}

void redis_pview_read_failed(struct redis_pview *v)
{
    window_clear(v);
    v->reading = false;
    v->stale = true;
}

void redis_pview_clear(struct redis_pview *v)
{
    struct uset s = {v->users, v->n, v->cap};

    uset_free(&s);
    window_clear(v);
    redis_pview_init(v);
}
