/*
 * service_thread.c: remembers the service thread, so that the core's
 * entry points can assert they run on it. A thread-local flag makes the
 * check one load; `claimed` tells the check apart from "nobody claimed".
 */
#include "service_thread.h"

#include <stdatomic.h>

static _Thread_local bool is_service_thread;
static atomic_bool claimed;

void pl_service_thread_claim(void)
{
    is_service_thread = true;
    atomic_store(&claimed, true);
}

bool pl_on_service_thread(void)
{
    return is_service_thread ||
           !atomic_load_explicit(&claimed, memory_order_relaxed);
}
