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

/* A new client subscribed to topic's channel (redis_layout), or NULL
 * (reason on stderr). Caller redisFree()s. */
redisContext *redis_fix_listen(const struct redis_fix *f, const char *topic);

/* The next pub/sub payload on s (the client's 2 s timeout), copied into buf
 * (size n). 0, or -1 (printed) when none came or it was not a message. */
int redis_fix_next_payload(redisContext *s, char *buf, size_t n);

#endif
