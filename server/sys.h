/*
 * sys.h: the server's own `$SYS/...` topics, as Mosquitto's users know
 * them (part of the hub, in sys.c). The glue ticks a timer and passes in
 * what only it can read (bytes written, the store's counters); the core
 * turns the hub's counters into retained `$SYS/broker/...` messages and
 * queues `$SYS/events/...` as they happen. Nothing is encoded or sent
 * while no connection subscribes to a `$` pattern. Service thread only.
 */
#ifndef PL_SYS_H
#define PL_SYS_H

#include <stdbool.h>
#include <stdint.h>

#include "sys_state.h"

struct hub;

/* Every --sys-interval: take s (copied), compute the rates and, when
 * someone subscribes to `$SYS`, publish every value, retained. */
void hub_sys_tick(struct hub *hub, const struct hub_sys_sample *s);
/* Publish the events queued since the last call (the glue calls this once
 * per loop turn, outside any fan-out). Cheap when there are none. */
void hub_sys_flush(struct hub *hub);
/* The transport refused a connection from addr (may be NULL) for reason
 * (a short sentence), with code (an HTTP status or a close code; 0: the
 * TCP connection was dropped). */
void hub_sys_refused(struct hub *hub, const char *addr, const char *reason,
                     int code);
/* True when a `$` subscription exists (events are worth building). */
bool hub_sys_wanted(const struct hub *hub);

#endif
