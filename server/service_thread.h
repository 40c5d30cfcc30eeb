/*
 * service_thread.h: which thread is the service thread, for assert()s.
 * The hub, every conn and every msg belong to that one thread (the store
 * thread never touches them); their entry points assert
 * pl_on_service_thread(), as SQLite asserts sqlite3_mutex_held(). The
 * asserts are compiled out with NDEBUG (release builds) and active in
 * Debug ones (the ASan build).
 */
#ifndef PL_SERVICE_THREAD_H
#define PL_SERVICE_THREAD_H

#include <stdbool.h>

/* The calling thread is the service thread from now on (parleyd: before
 * the store thread starts). */
void pl_service_thread_claim(void);
/* True on the service thread, and on any thread before one claimed it
 * (unit tests that run everything on one thread need not claim). */
bool pl_on_service_thread(void);

#endif
