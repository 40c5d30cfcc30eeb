/*
 * redis_fix.h: the cmocka group fixture most Redis tests share: one
 * redis-server (appendfsync always) and a synchronous client to it.
 */
#ifndef PARLEY_TEST_REDIS_FIX_H
#define PARLEY_TEST_REDIS_FIX_H

#include "redis_proc.h"

struct redis_fix {
    struct redis_proc *redis;
    redisContext *c;
};

/* *state becomes a struct redis_fix *. 0 or -1. */
int redis_fix_setup(void **state);

/* Closes the client, stops the server, frees. Always 0. */
int redis_fix_teardown(void **state);

#endif
