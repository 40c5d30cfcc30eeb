/*
 * link_loop.c: owns the link tests' event loop and its bounded waits.
 */
#include "link_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_layout.h"

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

int link_loop_init(struct link_loop *ll)
{
    ll->loop = ev_loop_new(EVFLAG_AUTO);
    if (ll->loop == NULL)
        return -1;
    ev_timer_init(&ll->tick, tick_cb, 0.01, 0.01);
    ev_timer_start(ll->loop, &ll->tick);
    return 0;
}

void link_loop_cleanup(struct link_loop *ll)
{
    if (ll->loop == NULL)
        return;
    ev_timer_stop(ll->loop, &ll->tick);
    ev_loop_destroy(ll->loop);
    ll->loop = NULL;
}

int64_t link_loop_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool link_loop_until(struct link_loop *ll, const int *flag, int want, int ms)
{
    int64_t deadline = link_loop_ms() + ms;

    while (*flag < want && link_loop_ms() < deadline)
        ev_run(ll->loop, EVRUN_ONCE);
    return *flag >= want;
}

bool link_loop_until_up(struct link_loop *ll, const struct redis_link *l,
                        bool up, int ms)
{
    int64_t deadline = link_loop_ms() + ms;

    while (redis_link_up(l) != up && link_loop_ms() < deadline)
        ev_run(ll->loop, EVRUN_ONCE);
    return redis_link_up(l) == up;
}

void link_loop_for(struct link_loop *ll, int ms)
{
    int64_t until = link_loop_ms() + ms;

    while (link_loop_ms() < until)
        ev_run(ll->loop, EVRUN_ONCE);
}

void link_loop_config(struct redis_link_config *cfg, int port, int timeout_ms)
{
    static const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", NULL};

    argv[3] = redis_lua_library;
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->url.host, sizeof(cfg->url.host), "127.0.0.1");
    cfg->url.port = port;
    cfg->timeout_ms = timeout_ms;
    cfg->backoff_min_ms = 50;
    cfg->backoff_max_ms = 2000;
    cfg->setup_argc = 4;
    cfg->setup_argv = argv;
}

int link_fix_setup(void **state)
{
    struct link_fix *f = calloc(1, sizeof(*f));
    struct redis_link_config cfg;

    *state = f;
    if (f == NULL || redis_proc_start(&f->redis, "always") != 0 ||
        link_loop_init(&f->ll) != 0)
        return -1;
    link_loop_config(&cfg, redis_proc_port(f->redis), 2000);
    if (redis_link_new(&f->link, f->ll.loop, &cfg) != 0 ||
        !link_loop_until_up(&f->ll, f->link, true, 8000))
        return -1;
    f->c = redis_proc_connect(f->redis);
    return f->c != NULL ? 0 : -1;
}

int link_fix_teardown(void **state)
{
    struct link_fix *f = *state;

    if (f == NULL)
        return 0;
    if (f->c != NULL)
        redisFree(f->c);
    redis_link_free(&f->link);
    link_loop_cleanup(&f->ll);
    redis_proc_free(&f->redis);
    free(f);
    *state = NULL;
    return 0;
}
