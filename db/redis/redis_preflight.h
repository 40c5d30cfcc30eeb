/*
 * redis_preflight.h: the start-up check of a node in cluster mode, before
 * it accepts a client: Redis is reachable, the credentials and database in
 * the --redis URL work, Redis is 7.0 or newer (Functions), its AOF settings
 * keep the --durability promise, and the Lua library is loaded. Blocking
 * (hiredis's synchronous API, bounded by timeout_ms per step): run it from
 * main before the service loop starts, never on the loop.
 */
#ifndef PARLEY_REDIS_PREFLIGHT_H
#define PARLEY_REDIS_PREFLIGHT_H

#include <stddef.h>

#include "redis_durability.h"
#include "redis_url.h"

/* Returns 0 (why then holds the durability line for the start-up log), or
 * a negative errno with a one-line reason in why that says what to change:
 * -ECONNREFUSED / -ETIMEDOUT / -EIO (cannot reach or talk to Redis),
 * -EACCES (authentication), -EINVAL (the database number), -ENOTSUP
 * (Redis older than 7.0), -EPERM (durability). */
int redis_preflight(const struct redis_url *u, enum redis_durability want,
                    int timeout_ms, char *why, size_t why_n);

#endif
