/*
 * server_cluster.h: the hook through which server.c runs a whole cluster
 * in place of one parleyd (PARLEY_TEST_CLUSTER=N).
 *
 * server.c stays free of Redis and haproxy: the cluster comes from
 * tests/cluster/cluster_server.c (object library parley_clusterserver,
 * built with hiredis), which defines server_cluster_ops(). A test binary
 * that links it can run in cluster mode; in one that does not, the weak
 * reference is NULL and server_start refuses PARLEY_TEST_CLUSTER loudly.
 * Main-thread API, like server.h.
 */
#ifndef PARLEY_TEST_SERVER_CLUSTER_H
#define PARLEY_TEST_SERVER_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

struct server_cluster;

/* What server.c's public functions do in cluster mode; each mirrors the
 * server.h function of the same name. */
struct server_cluster_ops {
    /* Start nodes parleyd nodes on one Redis (each with extra, the test's
     * arguments) and a round-robin balancer in front. 0 or -errno. */
    int (*start)(struct server_cluster **out, int nodes,
                 const char *const *extra);
    /* The balancer's port: each new connection lands on the next node. */
    int (*port)(const struct server_cluster *c);
    pid_t (*pid)(const struct server_cluster *c);
    int (*stop)(struct server_cluster *c, int timeout_ms, int *wstatus);
    int (*kill9)(struct server_cluster *c);
    int (*restart)(struct server_cluster *c);
    int (*watch)(struct server_cluster *c, const char *text);
    int (*wait_watched)(struct server_cluster *c, int timeout_ms);
    int (*watched_line)(struct server_cluster *c, char *buf, size_t n);
    void (*free)(struct server_cluster **cp);
};

/* Defined only by tests/cluster/cluster_server.c; weak, so that a binary
 * without it links and sees NULL. */
const struct server_cluster_ops *server_cluster_ops(void)
    __attribute__((weak));

#endif
