/*
 * link_loop.h: a libev loop for the link tests, with a 10 ms tick so that
 * a bounded wait never sleeps past its deadline, and the link settings the
 * tests share (the Lua library as setup command, 50 ms to 2 s backoff).
 */
#ifndef PARLEY_TEST_LINK_LOOP_H
#define PARLEY_TEST_LINK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "redis_link.h"
#include "redis_proc.h"

struct link_loop {
    struct ev_loop *loop;
    ev_timer tick;
};

/* 0, or -1 when no loop could be made. */
int link_loop_init(struct link_loop *ll);
void link_loop_cleanup(struct link_loop *ll);

/* Monotonic milliseconds. */
int64_t link_loop_ms(void);

/* Run until *flag >= want or ms pass; true when it got there. */
bool link_loop_until(struct link_loop *ll, const int *flag, int want, int ms);

/* Run until the link's up state is up, or ms pass. */
bool link_loop_until_up(struct link_loop *ll, const struct redis_link *l,
                        bool up, int ms);

/* Run for ms, whatever happens. */
void link_loop_for(struct link_loop *ll, int ms);

/* Fill cfg for 127.0.0.1:port with timeout_ms and the tests' defaults;
 * callbacks and ud are the caller's to set. */
void link_loop_config(struct redis_link_config *cfg, int port, int timeout_ms);

/* The cmocka group fixture of the tests that call Redis through a link:
 * one redis-server (appendfsync always), a link to it that is up, and a
 * plain client to look at what it holds. */
struct link_fix {
    struct redis_proc *redis;
    struct link_loop ll;
    struct redis_link *link;
    redisContext *c;
};

/* *state becomes a struct link_fix * whose link is up (waited for 8 s at
 * most). 0 or -1. */
int link_fix_setup(void **state);
/* Frees the link, the loop, the client and the server. Always 0. */
int link_fix_teardown(void **state);

#endif
