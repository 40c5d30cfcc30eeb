/*
 * cluster_rig.h: a whole cluster for a test, from real parts on loopback:
 * one redis-server (redis_proc: AOF on, temp dir), RIG_NODES parleyd nodes
 * (tests/support/server: each in its own temp dir) and haproxy with the
 * shipped scripts/haproxy-parley.cfg, round-robin over the nodes with
 * health checks on /healthz. Call from the test's main thread.
 */
#ifndef PARLEY_TEST_CLUSTER_RIG_H
#define PARLEY_TEST_CLUSTER_RIG_H

#include <stdbool.h>
#include <sys/types.h>

#include "redis_proc.h"
#include "server.h"

/* The shipped config names three nodes. */
#define RIG_NODES 3

struct cluster_rig {
    struct redis_proc *redis;
    struct server *nodes[RIG_NODES];
    pid_t lb_pid;
    int lb_port;
};

/* Start Redis, the nodes (each with node_extra, a NULL-terminated array or
 * NULL; "{redis}" in it is replaced by Redis's URL) and haproxy, and wait
 * until haproxy answers /healthz with 200. Returns 0, or -errno with the
 * reason on stderr (what started is stopped again). */
int cluster_rig_start(struct cluster_rig *rig, const char *const *node_extra);

/* The port of node i. */
int cluster_rig_node_port(const struct cluster_rig *rig, int i);

/* Wait (bounded by ms) until node i's /healthz answers 200: a restarted
 * node listens before its Redis link is up, and answers overloaded until
 * then (the contract for storage out of reach). */
bool cluster_rig_node_healthy(const struct cluster_rig *rig, int i, int ms);

/* Start haproxy on a free port in front of the nodes' current ports and
 * wait for a 200 from /healthz through it. 0 or -errno. */
int cluster_rig_start_lb(struct cluster_rig *rig);

/* SIGKILL haproxy and reap it (nothing when it is not running). */
void cluster_rig_stop_lb(struct cluster_rig *rig);

/* Stop haproxy, SIGTERM the nodes (each must exit 0 within 10 s), and stop
 * Redis. Returns 0, or -1 when a node did not exit cleanly. */
int cluster_rig_stop(struct cluster_rig *rig);

#endif
