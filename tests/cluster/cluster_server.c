/*
 * cluster_server.c: the cluster mode of tests/support/server.c. It owns a
 * cluster_rig that stands in for one parleyd when PARLEY_TEST_CLUSTER=3:
 * redis-server (AOF, appendfsync always), three `parleyd --redis` nodes
 * with the test's own arguments, and haproxy round-robin in front, whose
 * port the test gets. So a protocol test, unchanged, puts each new
 * connection on the next node. What each server.h call means here is
 * listed in server.h; this file only maps them onto the rig.
 *
 * Linked into the integration tests as an object (parley_clusterserver),
 * so its strong server_cluster_ops() replaces server.c's weak reference.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_rig.h"
#include "server_cluster.h"

#define CLUSTER_MAX_EXTRA 24

struct server_cluster {
    struct cluster_rig rig;
};

static int64_t cs_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the rig with "--redis {redis}" before the test's arguments. */
static int cs_start(struct server_cluster **out, int nodes,
                    const char *const *extra)
{
    const char *node_extra[CLUSTER_MAX_EXTRA + 1];
    struct server_cluster *c = NULL;
    int n = 0;
    int i = 0;
    int rc = 0;

    if (nodes != RIG_NODES) {
        fprintf(stderr, "cluster_server: PARLEY_TEST_CLUSTER=%d: only %d "
                "nodes are supported (scripts/haproxy-parley.cfg names "
                "%d)\n", nodes, RIG_NODES, RIG_NODES);
        return -EINVAL;
    }
    node_extra[n++] = "--redis";
    node_extra[n++] = "{redis}";
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (n == CLUSTER_MAX_EXTRA)
            return -E2BIG;
        node_extra[n++] = extra[i];
    }
    node_extra[n] = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    rc = cluster_rig_start(&c->rig, node_extra);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int cs_port(const struct server_cluster *c)
{
    return c->rig.lb_port;
}

static pid_t cs_pid(const struct server_cluster *c)
{
    return server_pid(c->rig.nodes[0]);
}

/* SIGTERM each node in turn; the status and rc are the first bad ones. */
static int cs_stop(struct server_cluster *c, int timeout_ms, int *wstatus)
{
    bool have = false;
    int result = -ECHILD;
    int i;

    cluster_rig_stop_lb(&c->rig);
    *wstatus = 0;
    for (i = 0; i < RIG_NODES; i++) {
        int st = 0;
        int rc = server_stop(c->rig.nodes[i], timeout_ms, &st);

        if (rc == -ECHILD)
            continue;
        if (result == -ECHILD || (result == 0 && rc < 0))
            result = rc;
        if (!have || (server_exited_cleanly(*wstatus) &&
                      !server_exited_cleanly(st)))
            *wstatus = st;
        have = true;
    }
    return result;
}

static int cs_kill9(struct server_cluster *c)
{
    int result = -ECHILD;
    int i;

    cluster_rig_stop_lb(&c->rig);
    for (i = 0; i < RIG_NODES; i++)
        if (server_kill9(c->rig.nodes[i]) == 0)
            result = 0;
    return result;
}

/* The nodes again on the same Redis, then haproxy before their ports. */
static int cs_restart(struct server_cluster *c)
{
    int rc = 0;
    int i;

    for (i = 0; i < RIG_NODES; i++) {
        rc = server_restart(c->rig.nodes[i]);
        if (rc < 0)
            return rc;
    }
    return cluster_rig_start_lb(&c->rig);
}

static int cs_watch(struct server_cluster *c, const char *text)
{
    int rc = 0;
    int i;

    for (i = 0; i < RIG_NODES && rc == 0; i++)
        rc = server_watch(c->rig.nodes[i], text);
    return rc;
}

static int cs_watched_line(struct server_cluster *c, char *buf, size_t n)
{
    int i;

    for (i = 0; i < RIG_NODES; i++)
        if (server_watched_line(c->rig.nodes[i], buf, n) == 0)
            return 0;
    return -ENOENT;
}

/* Poll the nodes until one has seen the watched text. */
static int cs_wait_watched(struct server_cluster *c, int timeout_ms)
{
    int64_t deadline = cs_mono_ms() + timeout_ms;
    struct timespec nap = {0, 10 * 1000000};
    char line[64];

    for (;;) {
        if (cs_watched_line(c, line, sizeof(line)) == 0)
            return 0;
        if (cs_mono_ms() >= deadline)
            break;
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "cluster_server: no node printed the watched line in "
            "%d ms\n", timeout_ms);
    return -ETIMEDOUT;
}

static void cs_free(struct server_cluster **cp)
{
    struct server_cluster *c = *cp;
    int i;

    if (c == NULL)
        return;
    cluster_rig_stop_lb(&c->rig);
    for (i = 0; i < RIG_NODES; i++)
        server_free(&c->rig.nodes[i]);
    redis_proc_free(&c->rig.redis);
    free(c);
    *cp = NULL;
}

static const struct server_cluster_ops cs_ops = {
    .start = cs_start,
    .port = cs_port,
    .pid = cs_pid,
    .stop = cs_stop,
    .kill9 = cs_kill9,
    .restart = cs_restart,
    .watch = cs_watch,
    .wait_watched = cs_wait_watched,
    .watched_line = cs_watched_line,
    .free = cs_free,
};

const struct server_cluster_ops *server_cluster_ops(void)
{
    return &cs_ops;
}
