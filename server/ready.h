/*
 * ready.h: whether parleyd should get traffic now (GET /readyz), for load
 * balancers and Kubernetes. /healthz says the process lives; this says it
 * can do its job: not while the store is behind its bound (publishes
 * would be refused as overloaded), not while a storage engine's link is
 * down (the hook below), not while draining for a shutdown.
 */
#ifndef PL_READY_H
#define PL_READY_H

#include <stdbool.h>
#include <stddef.h>

struct ready {
    /* A static reason why storage is unreachable, or NULL. Written by
     * whichever thread sees the link change, read by the service thread:
     * an atomic. */
    const char *_Atomic link_down;
    _Atomic bool draining;
};

void ready_init(struct ready *r);

/*
 * The hook for a storage engine with a link to lose (the cluster engine's
 * Redis connection): call it with a reason ("redis unreachable"), which
 * must stay valid (a string literal), when the link goes down, and with
 * NULL when it is back. Any thread may call it.
 */
void ready_set_link_down(struct ready *r, const char *why);

/* Shutting down: no longer ready, whatever else holds. */
void ready_set_draining(struct ready *r, bool on);

/* Ready, given pending store writes and their bound (--store-pending-max,
 * from which publishes are refused)? Returns true, or false with the
 * reason written into buf (n bytes). */
bool ready_check(struct ready *r, size_t pending, size_t bound, char *buf,
                 size_t n);

#endif
