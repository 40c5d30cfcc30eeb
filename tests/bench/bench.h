/*
 * bench.h: what parley-bench's scenarios (scenario.c) and its front end
 * (main.c: options, reports) share.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net.h"

enum bench_scenario {
    SCEN_FANOUT = 1,
    SCEN_FANIN,
    SCEN_CONNS,
    SCEN_DURABLE,
    SCEN_RECOVER,
    SCEN_PATSUB,
};

struct bench_opts {
    enum bench_scenario scenario;
    const char *scenario_name;
    const char *label;          /* the server's name in reports */
    struct net_target url;      /* --url: every connection, unless */
    struct net_target pub_url;  /* --pub-url: publishers' (cross-node runs) */
    bool has_pub_url;
    double duration;            /* seconds of publishing */
    double drain;               /* seconds to wait for stragglers, at most */
    double timeout;             /* seconds for the whole run, hard */
    uint64_t count;             /* messages to publish at most (0: no cap) */
    uint32_t subs;
    uint32_t pubs;
    double rate;                /* publishes per second, all publishers */
    bool rate_set;              /* --rate given (durable: open loop) */
    uint32_t size;              /* bytes of the `data` JSON value */
    const char *topic;
    uint32_t conns;             /* conns scenario */
    double hold;                /* conns: seconds idle before reading RSS */
    uint32_t window;            /* durable: outstanding pubs per publisher */
    uint32_t missed;            /* recover: messages published while away */
    uint32_t topics;            /* patsub: unrelated topics the server knows */
    uint32_t match;             /* patsub: topics the pattern matches */
    uint32_t extra_subs;        /* subscriptions on unrelated topics */
    uint32_t concurrency;       /* handshakes in flight */
    bool ack;                   /* pubs carry ids (and get replies) */
    bool find_max;
    double max_p99_ms;
    double start_rate;
    double max_rate;
    double trial;               /* seconds per find-max trial */
    int bisect;                 /* find-max bisection steps */
    uint32_t kill_subs;         /* self-test: close K subscribers midway */
    pid_t server_pid;           /* 0: unknown */
    bool quiet;                 /* JSON lines only */
    const char *json_out;       /* also append JSON lines here */
    const char *tag;            /* copied into the JSON lines */
};

/* One measurement: a run, a find-max trial, or a scenario's result. */
struct bench_result {
    const char *phase;          /* "run", "trial", "max" */
    double target_rate;         /* publishes/s asked for (0: closed loop) */
    double pub_rate;            /* publishes/s achieved */
    double seconds;             /* first publish to last delivery */
    uint64_t sent;
    uint64_t acked;
    uint64_t errors;            /* error replies */
    uint64_t expected;          /* deliveries that should have happened */
    uint64_t delivered;
    uint64_t lost;              /* not delivered by the end of --drain */
    bool still_arriving;        /* ... while deliveries were still coming */
    uint64_t dup;               /* duplicates or reordered deliveries */
    uint64_t closed;            /* connections the server closed */
    uint64_t slow_closes;       /* of which with 4008 */
    double deliveries_per_s;
    uint64_t n_lat;
    double p50_ms, p90_ms, p99_ms, max_ms, mean_ms;
    double server_cpu;          /* % of one core, -1 unknown */
    double gen_cpu;             /* % of one core */
    long rss_before_kb;         /* conns: server VmRSS */
    long rss_after_kb;
    long rss_closed_kb;
    double bytes_per_conn;
    uint64_t extra_subs;
    const char *limit;          /* find-max: what stopped the ramp */
    const char *first_error;    /* first error code seen, or NULL */
};

/* Run the scenario o describes; each measurement goes to report(). Returns
 * 0 when every measurement was clean (nothing lost, no errors), 1 when one
 * was not, 3 when the run could not be set up or timed out. */
int scenario_run(const struct bench_opts *o,
                 void (*report)(const struct bench_opts *o,
                                const struct bench_result *r));

/* The patsub scenario (patsub.c): same contract as scenario_run(). */
int patsub_run(const struct bench_opts *o,
               void (*report)(const struct bench_opts *o,
                              const struct bench_result *r));

/* Helpers of scenario.c that patsub.c shares: a server frame's op ('m'
 * msg, 'o' ok, 'e' error, 0 other), a reply's id (0: none), and an error
 * frame's code copied into out (left alone when there is none). */
int scenario_op(const char *text, size_t len);
uint64_t scenario_reply_id(const char *text, size_t len);
void scenario_error_code(const char *text, size_t len, char *out,
                         size_t cap);

#endif
