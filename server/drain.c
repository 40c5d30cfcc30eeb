/*
 * drain.c: the store's completions into the hub, a budget at a time.
 * Service thread only.
 */
#include <assert.h>

#include "server.h"
#include "service_thread.h"

/*
 * Completions arrive in batches as large as a group commit (thousands of
 * messages). Fanning out a whole batch at once would put it on every
 * subscriber's queue before any of them could write, so a fast reader
 * would look like a slow one. We handle a budget's worth per loop
 * iteration and wake ourselves for the rest, letting writes happen in
 * between. Called when the store wakes the loop, and at the end of every
 * turn (service_turn), for commits that finished during it.
 */
void drain_store(struct server *srv)
{
    struct store_job *done = NULL;
    struct store_job **tail = &srv->backlog;

    assert(pl_on_service_thread());
    if (srv->storage.ops == NULL || srv->hub == NULL || srv->hold_store)
        return;
    done = storage_take_completions(&srv->storage);
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = done;
    srv->backlog =
        hub_store_done_some(srv->hub, srv->backlog, srv->fanout_budget);
    if (srv->backlog != NULL)
        lws_cancel_service(srv->ctx);
}
