/*
 * ready.c: the readiness of parleyd from its parts' reports (ready.h).
 * Plain C, no lws and no I/O: http.c asks it and answers /readyz.
 */
#include "ready.h"

#include <stdatomic.h>
#include <stdio.h>

void ready_init(struct ready *r)
{
    atomic_init(&r->link_down, NULL);
    atomic_init(&r->draining, false);
}

void ready_set_link_down(struct ready *r, const char *why)
{
    atomic_store(&r->link_down, why);
}

void ready_set_draining(struct ready *r, bool on)
{
    atomic_store(&r->draining, on);
}

bool ready_check(struct ready *r, size_t pending, size_t bound, char *buf,
                 size_t n)
{
    const char *link = atomic_load(&r->link_down);

    if (atomic_load(&r->draining)) {
        snprintf(buf, n, "shutting down");
        return false;
    }
    if (link != NULL) {
        snprintf(buf, n, "storage unreachable: %s", link);
        return false;
    }
    if (pending >= bound) {
        snprintf(buf, n, "store behind: %zu writes pending, bound %zu",
                 pending, bound);
        return false;
    }
    return true;
}
