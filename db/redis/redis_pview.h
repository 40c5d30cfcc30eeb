/*
 * redis_pview.h: what a node's presence subscribers of one topic have
 * been told about the cluster's members, so that after its pub/sub
 * connection was lost (join and leave events published meanwhile never
 * reach it) the node can read the member set again and tell them only
 * the difference: a `join` for each user present now and not told, a
 * `leave` for each told and gone.
 *
 * The view is a set of users. It starts from a read of the members
 * (pl_pres_members) and follows the join/leave events heard after it.
 * A read and the events travel on two connections, so an event heard
 * while a read is in flight may have happened before or after the read:
 * those events are kept (the window) and applied again on top of the
 * read's answer; the last event per user wins, which is the present state
 * either way, as one connection hears a topic's events in order.
 *
 * Pure: no I/O. Allocates; service thread only.
 */
#ifndef PARLEY_REDIS_PVIEW_H
#define PARLEY_REDIS_PVIEW_H

#include <stdbool.h>
#include <stddef.h>

struct pview_event;

struct redis_pview {
    char **users;   /* sorted (strcmp); n of them */
    size_t n, cap;
    bool known;     /* a read answered since the view began */
    bool stale;     /* events may have been missed: read again */
    bool reading;   /* a read is in flight */
    struct pview_event *window, **window_tail; /* heard while reading */
};

/* Tell: a user to announce as joined (join) or left, to the topic's
 * presence subscribers on this node. */
typedef void (*redis_pview_tell_fn)(void *ud, const char *user, bool join);

/* An empty view, not known. */
void redis_pview_init(struct redis_pview *v);

/* A join or leave heard (and told to the subscribers). 0 or -ENOMEM (the
 * view is then marked stale). */
int redis_pview_heard(struct redis_pview *v, const char *user, bool join);

/* Whether a read should be sent now: nothing known yet, or stale, and
 * no read in flight. */
bool redis_pview_due(const struct redis_pview *v);

/* A read is sent: events heard from now on go to the window too. */
void redis_pview_read_begin(struct redis_pview *v);

/* The read answered users[0..n) (any order). The view becomes those
 * users with the window's events applied; when the view was known
 * before, tell() gets each difference from what was told. 0, or
 * -ENOMEM (the view is then stale, to be read again). */
int redis_pview_read_done(struct redis_pview *v, const char *const *users,
                          size_t n, redis_pview_tell_fn tell, void *ud);

/* The read failed: stale, to be read again. */
void redis_pview_read_failed(struct redis_pview *v);

/* Free everything; the view is empty and not known again. */
void redis_pview_clear(struct redis_pview *v);

#endif
