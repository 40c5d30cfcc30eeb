/*
 * cluster_rig.c: owns a test cluster's processes (redis-server, parleyd
 * nodes, haproxy), their start order and readiness, and their stop.
 */
#include "cluster_rig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"
#include "itest.h"

#define RIG_READY_MS 10000
#define RIG_MAX_EXTRA 24

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000};

    nanosleep(&ts, NULL);
}

void cluster_rig_stop_lb(struct cluster_rig *rig)
{
    int st = 0;

    if (rig->lb_pid <= 0)
        return;
    kill(rig->lb_pid, SIGKILL);
    waitpid(rig->lb_pid, &st, 0);
    rig->lb_pid = -1;
}

bool cluster_rig_node_healthy(const struct cluster_rig *rig, int i, int ms)
{
    int64_t deadline = itest_mono_ms() + ms;

    while (itest_left_ms(deadline) > 0) {
        struct httpc_resp r;

        if (httpc_get(cluster_rig_node_port(rig, i), "/healthz", &r, 2000) ==
            0) {
            int status = r.status;

            httpc_resp_cleanup(&r);
            if (status == 200)
                return true;
        }
        (void)poll(NULL, 0, 20); /* a poll interval, not a wait for it */
    }
    return false;
}

int cluster_rig_start_lb(struct cluster_rig *rig)
{
    char env[RIG_NODES + 1][64];
    int64_t deadline = 0;
    pid_t pid;
    int i;

    rig->lb_port = redis_proc_free_port();
    if (rig->lb_port < 0)
        return rig->lb_port;
    snprintf(env[0], sizeof(env[0]), "127.0.0.1:%d", rig->lb_port);
    for (i = 0; i < RIG_NODES; i++)
        snprintf(env[i + 1], sizeof(env[i + 1]), "127.0.0.1:%d",
                 server_port(rig->nodes[i]));
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        char name[16];

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("PARLEY_LB_BIND", env[0], 1);
        for (i = 0; i < RIG_NODES; i++) {
            snprintf(name, sizeof(name), "PARLEY_NODE%d", i + 1);
            setenv(name, env[i + 1], 1);
        }
        execlp("haproxy", "haproxy", "-db", "-q", "-f", PARLEY_HAPROXY_CFG,
               (char *)NULL);
        _exit(127);
    }
    rig->lb_pid = pid;
    deadline = mono_ms() + RIG_READY_MS;
    while (mono_ms() < deadline) {
        struct httpc_resp r;
        int st = 0;

        if (waitpid(pid, &st, WNOHANG) == pid) {
            rig->lb_pid = -1;
            fprintf(stderr, "cluster_rig: haproxy exited (status %d)\n", st);
            return -EIO;
        }
        memset(&r, 0, sizeof(r));
        if (httpc_get(rig->lb_port, "/healthz", &r, 500) == 0) {
            int status = r.status;

            httpc_resp_cleanup(&r);
            if (status == 200)
                return 0;
        }
        nap_ms(20);
    }
    fprintf(stderr, "cluster_rig: haproxy not ready in %d ms\n", RIG_READY_MS);
    cluster_rig_stop_lb(rig);
    return -ETIMEDOUT;
}

int cluster_rig_start(struct cluster_rig *rig, const char *const *node_extra)
{
    const char *extra[RIG_MAX_EXTRA + 1];
    int rc = 0;
    int i;
    int n = 0;

    memset(rig, 0, sizeof(*rig));
    rig->lb_pid = -1;
    rc = redis_proc_start(&rig->redis, "always");
    if (rc < 0)
        return rc;
    for (i = 0; node_extra != NULL && node_extra[i] != NULL; i++) {
        if (n == RIG_MAX_EXTRA) {
            rc = -E2BIG;
            goto fail;
        }
        extra[n++] = strcmp(node_extra[i], "{redis}") == 0
                         ? redis_proc_url(rig->redis)
                         : node_extra[i];
    }
    extra[n] = NULL;
    for (i = 0; i < RIG_NODES; i++) {
        rc = server_start_one(&rig->nodes[i], extra);
        if (rc < 0)
            goto fail;
    }
    rc = cluster_rig_start_lb(rig);
    if (rc < 0)
        goto fail;
    return 0;

fail:
    cluster_rig_stop(rig);
    return rc;
}

int cluster_rig_node_port(const struct cluster_rig *rig, int i)
{
    return server_port(rig->nodes[i]);
}

int cluster_rig_stop(struct cluster_rig *rig)
{
    int rc = 0;
    int i;

    cluster_rig_stop_lb(rig);
    for (i = 0; i < RIG_NODES; i++) {
        int st = 0;

        if (rig->nodes[i] == NULL)
            continue;
        if (server_pid(rig->nodes[i]) > 0 &&
            (server_stop(rig->nodes[i], 10000, &st) != 0 ||
             !server_exited_cleanly(st))) {
            char why[64];

            fprintf(stderr, "cluster_rig: node %d: %s\n", i,
                    server_status_str(st, why, sizeof(why)));
            rc = -1;
        }
        server_free(&rig->nodes[i]);
    }
    redis_proc_free(&rig->redis);
    return rc;
}
