/*
 * sys_state.h: the records of the `$SYS` topics (sys.c) that the hub
 * embeds, apart from sys.h so that the hub's own headers need not include
 * the module that includes them. Service thread only.
 */
#ifndef PL_SYS_STATE_H
#define PL_SYS_STATE_H

#include <stdbool.h>
#include <stdint.h>

struct topic;

/* What the glue reads outside the core at each tick (all totals since
 * start, except store_pending). */
struct hub_sys_sample {
    uint64_t bytes_out;        /* bytes written to clients */
    uint64_t store_pending;    /* store jobs in flight now */
    uint64_t store_batches;    /* commits so far */
    uint64_t store_commit_us;  /* time those commits took, microseconds */
    uint64_t refused;          /* connections refused so far */
    int64_t cluster_nodes;     /* live cluster nodes (--redis); 0 when
                                  not clustered, -1 not known yet */
};

/* Events waiting for hub_sys_flush (bounded; see sys.c). */
#define SYS_EVENTS_MAX 64

struct sys_event {
    char *topic;               /* "$SYS/events/..." */
    char *data;                /* JSON text */
};

/* The hub's $SYS state (inside struct hub). */
struct sys_state {
    uint64_t dollar_subs;      /* subscriptions whose pattern starts '$' */
    uint64_t sys_topics;       /* topics starting '$' (not counted) */
    int64_t started_ms;
    int64_t last_tick_ms;      /* 0 before the first tick */
    int64_t last_walk_ms;      /* last busiest-topics walk */
    bool published;            /* the last tick's values were sent */
    struct hub_sys_sample prev_sample, sample;
    uint64_t prev_in, prev_out, prev_bytes_in;  /* hub counters at prev */
    /* computed at the last tick */
    double in_rate, out_rate, bytes_in_rate, bytes_out_rate;
    double commit_ms;
    const struct topic *fanning; /* the topic being fanned out, or NULL */
    struct sys_event events[SYS_EVENTS_MAX];
    uint32_t n_events;
    uint64_t events_dropped;
};

#endif
