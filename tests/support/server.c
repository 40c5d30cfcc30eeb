/*
 * server.c: owns the parleyd child processes of the integration tests: the
 * temporary directory and database of each, its argv, the pipe carrying its
 * stdout and stderr, the wait for its "listening on" line, a thread that
 * forwards its later output to our stderr, and stopping it (SIGTERM with a
 * deadline, or SIGKILL) and reaping it. Main-thread API; the forwarder
 * thread only reads the pipe, writes our stderr and counts the lines that
 * contain the watched text (server_watch), under watch_lock.
 *
 * Cluster mode (PARLEY_TEST_CLUSTER=N, see server.h): s->cluster stands in
 * for the one child, and each public function hands over to the cluster's
 * ops (server_cluster.h); the child fields stay unused.
 */
#include "server.h"
#include "server_cluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER_READY_MS 10000
#define SERVER_MAX_EXTRA 32
#define SERVER_LINE_MAX 4096

struct server {
    pid_t pid;
    pid_t tag;                  /* pid shown on forwarded lines */
    int port;
    int mqtt_port;              /* -1: no MQTT listener */
    int mqtts_port;             /* -1: no MQTT over TLS */
    char dir[PATH_MAX - 64];
    char db[PATH_MAX];
    char *extra[SERVER_MAX_EXTRA + 1];
    int out_fd;                 /* read end of the child's stdout+stderr */
    pthread_t fwd;
    bool fwd_running;
    atomic_bool fwd_stop;
    char pending[SERVER_LINE_MAX]; /* partial line, handed to the thread */
    size_t pending_len;
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    char watch[256];            /* {watch_lock} text to look for, "" none */
    unsigned watch_hits;        /* {watch_lock} lines that contained it */
    char watch_line[SERVER_LINE_MAX + 1]; /* {watch_lock} the first one */
    struct server_cluster *cluster; /* cluster mode: NULL for one child */
};

/* The cluster behind the balancer, in cluster mode (set by server_start). */
static const struct server_cluster_ops *cluster_ops;

static int64_t server_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void server_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Forward one line of output (not terminated) and count it when it
 * contains the watched text. */
static void server_emit_line(struct server *s, const char *line, size_t n)
{
    char copy[SERVER_LINE_MAX + 1];

    fprintf(stderr, "[parleyd %d] %.*s\n", (int)s->tag, (int)n, line);
    memcpy(copy, line, n);
    copy[n] = '\0';
    pthread_mutex_lock(&s->watch_lock);
    if (s->watch[0] != '\0' && strstr(copy, s->watch) != NULL) {
        if (s->watch_hits == 0)
            memcpy(s->watch_line, copy, n + 1);
        s->watch_hits++;
        pthread_cond_broadcast(&s->watch_cond);
    }
    pthread_mutex_unlock(&s->watch_lock);
}

/* Write complete lines of s->pending to stderr with a prefix; keep the
 * unfinished tail (or flush it all when force). */
static void server_emit_lines(struct server *s, bool force)
{
    size_t start = 0;
    size_t i = 0;

    for (i = 0; i < s->pending_len; i++) {
        if (s->pending[i] != '\n')
            continue;
        server_emit_line(s, s->pending + start, i - start);
        start = i + 1;
    }
    if (force && start < s->pending_len) {
        server_emit_line(s, s->pending + start, s->pending_len - start);
        start = s->pending_len;
    }
    if (start == 0 && s->pending_len == sizeof(s->pending)) {
        server_emit_line(s, s->pending, s->pending_len);
        start = s->pending_len;
    }
    memmove(s->pending, s->pending + start, s->pending_len - start);
    s->pending_len -= start;
}

/* Read what the pipe has into pending (waiting up to wait_ms). Returns the
 * byte count, 0 on EOF, -ETIMEDOUT, or -errno. */
static int server_read_pipe(struct server *s, int wait_ms)
{
    struct pollfd pfd = { .fd = s->out_fd, .events = POLLIN };
    ssize_t n = 0;
    int rc = 0;

    rc = poll(&pfd, 1, wait_ms);
    if (rc < 0)
        return errno == EINTR ? -ETIMEDOUT : -errno;
    if (rc == 0)
        return -ETIMEDOUT;
    n = read(s->out_fd, s->pending + s->pending_len,
             sizeof(s->pending) - s->pending_len);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? -ETIMEDOUT : -errno;
    s->pending_len += (size_t)n;
    return (int)n;
}

/* Forwarder thread: copies the child's output to stderr until EOF, or
 * until fwd_stop is set and the pipe has nothing more right now. */
static void *server_forward(void *arg)
{
    struct server *s = arg;
    int rc = 0;

    for (;;) {
        rc = server_read_pipe(s, 100);
        if (rc > 0) {
            server_emit_lines(s, false);
            continue;
        }
        if (rc == 0 || (rc < 0 && rc != -ETIMEDOUT))
            break;
        if (atomic_load(&s->fwd_stop))
            break;
    }
    server_emit_lines(s, true);
    return NULL;
}

/* The port the listening line names for scheme ("mqtt://" in "MQTT on
 * mqtt://HOST:PORT", or "mqtts://"), or -1. */
static int server_find_scheme_port(const struct server *s, const char *scheme)
{
    size_t sl = strlen(scheme);
    const char *line = NULL;
    const char *p = NULL;
    const char *end = s->pending + s->pending_len;
    long port = -1;

    line = memmem(s->pending, s->pending_len, "listening on http", 17);
    if (line == NULL)
        return -1;
    for (p = line; p < end && *p != '\n'; p++) {
        if ((size_t)(end - p) > sl && memcmp(p, scheme, sl) == 0) {
            const char *colon = NULL;

            for (p += sl; p < end && *p != ')' && *p != ',' && *p != '\n'; p++)
                if (*p == ':')
                    colon = p;
            if (colon != NULL)
                port = strtol(colon + 1, NULL, 10);
            break;
        }
    }
    return port > 0 && port < 65536 ? (int)port : -1;
}

/* Find the listening line among the complete lines in pending; returns the
 * port or 0. */
static int server_find_port(const struct server *s)
{
    char line[SERVER_LINE_MAX + 1];
    const char *p = NULL;
    const char *colon = NULL;
    size_t i = 0;
    size_t start = 0;
    long port = 0;

    for (i = 0; i < s->pending_len; i++) {
        if (s->pending[i] != '\n')
            continue;
        memcpy(line, s->pending + start, i - start);
        line[i - start] = '\0';
        start = i + 1;
        p = strstr(line, "listening on http");
        if (!p)
            continue;
        p = strstr(p, "://");
        if (!p)
            continue;
        colon = NULL;
        for (p += 3; *p && *p != ' ' && *p != '\t' && *p != '\r'; p++)
            if (*p == ':')
                colon = p;
        if (!colon)
            continue;
        port = strtol(colon + 1, NULL, 10);
        if (port > 0 && port < 65536)
            return (int)port;
    }
    return 0;
}

/* Reap the child within timeout_ms. Returns 0 with *wstatus, or
 * -ETIMEDOUT. */
static int server_reap(struct server *s, int timeout_ms, int *wstatus)
{
    int64_t deadline = server_now_ms() + timeout_ms;
    pid_t r = 0;

    for (;;) {
        r = waitpid(s->pid, wstatus, WNOHANG);
        if (r == s->pid) {
            s->pid = -1;
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            s->pid = -1;
            return -ECHILD;
        }
        if (server_now_ms() >= deadline)
            return -ETIMEDOUT;
        server_sleep_ms(10);
    }
}

/* Stop the forwarder and close the pipe (after the child is gone). */
static void server_end_output(struct server *s)
{
    if (s->fwd_running) {
        atomic_store(&s->fwd_stop, true);
        pthread_join(s->fwd, NULL);
        s->fwd_running = false;
    } else {
        server_emit_lines(s, true);
    }
    if (s->out_fd >= 0)
        close(s->out_fd);
    s->out_fd = -1;
    s->pending_len = 0;
}

/* Fork and exec parleyd with s's arguments, then wait for its port. */
static int server_spawn(struct server *s)
{
    const char *bin = getenv("PARLEYD");
    const char *argv[16 + SERVER_MAX_EXTRA];
    int64_t deadline = 0;
    int pfd[2] = { -1, -1 };
    int wst = 0;
    int n = 0;
    int i = 0;
    int rc = 0;
    pid_t parent = getpid();

    if (!bin || !*bin) {
        fprintf(stderr, "server_start: PARLEYD is not set\n");
        return -ENOENT;
    }
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--db";
    argv[n++] = s->db;
    /* The log level is parleyd's default (notice), left unset so that a
     * test's --config file can choose it. Never the shared 1883: tests
     * run in parallel. */
    argv[n++] = "--mqtt-port";
    argv[n++] = "0";
    for (i = 0; s->extra[i]; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0) {
        rc = -errno;
        close(pfd[0]);
        close(pfd[1]);
        return rc;
    }
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    s->tag = s->pid;
    s->out_fd = pfd[0];
    s->pending_len = 0;
    s->port = 0;
    atomic_store(&s->fwd_stop, false);
    deadline = server_now_ms() + SERVER_READY_MS;
    while (s->port == 0) {
        int64_t left = deadline - server_now_ms();

        if (left <= 0) {
            fprintf(stderr, "server_start: no \"listening on\" line from "
                    "%s within %d ms\n", bin, SERVER_READY_MS);
            rc = -ETIMEDOUT;
            goto fail;
        }
        rc = server_read_pipe(s, (int)left);
        if (rc == 0) {
            fprintf(stderr, "server_start: %s closed its output before "
                    "listening\n", bin);
            rc = -EPIPE;
            goto fail;
        }
        if (rc < 0 && rc != -ETIMEDOUT)
            goto fail;
        s->port = server_find_port(s);
        s->mqtt_port = server_find_scheme_port(s, "mqtt://");
        s->mqtts_port = server_find_scheme_port(s, "mqtts://");
        server_emit_lines(s, false);
    }
    if (pthread_create(&s->fwd, NULL, server_forward, s) != 0) {
        rc = -EAGAIN;
        goto fail;
    }
    s->fwd_running = true;
    return 0;
fail:
    kill(s->pid, SIGKILL);
    server_reap(s, 5000, &wst);
    server_end_output(s);
    return rc;
}

/* A zeroed server with its lock and "not running" markers, or NULL. */
static struct server *server_new(void)
{
    struct server *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    pthread_mutex_init(&s->watch_lock, NULL);
    pthread_cond_init(&s->watch_cond, NULL);
    s->pid = -1;
    s->out_fd = -1;
    s->mqtt_port = -1;
    s->mqtts_port = -1;
    return s;
}

int server_start_one(struct server **out, const char *const *extra)
{
    struct server *s = NULL;
    int n = 0;
    int rc = 0;

    s = server_new();
    if (!s)
        return -ENOMEM;
    snprintf(s->dir, sizeof(s->dir), "%s/parley-it-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(s->dir)) {
        rc = -errno;
        s->dir[0] = '\0';
        server_free(&s);
        return rc;
    }
    snprintf(s->db, sizeof(s->db), "%s/p.db", s->dir);
    for (n = 0; extra && extra[n]; n++) {
        if (n == SERVER_MAX_EXTRA) {
            rc = -E2BIG;
            goto fail;
        }
        s->extra[n] = strdup(extra[n]);
        if (!s->extra[n]) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    rc = server_spawn(s);
    if (rc < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    server_free(&s);
    return rc;
}

/* The node count PARLEY_TEST_CLUSTER asks for, 0 for one parleyd. */
static int server_cluster_nodes(void)
{
    const char *v = getenv("PARLEY_TEST_CLUSTER");

    return v != NULL && *v != '\0' ? atoi(v) : 0;
}

/* Start a cluster in place of one parleyd (cluster mode). */
static int server_start_cluster(struct server **out, int nodes,
                                const char *const *extra)
{
    struct server *s = NULL;
    int rc = 0;

    cluster_ops = server_cluster_ops != NULL ? server_cluster_ops() : NULL;
    if (cluster_ops == NULL) {
        fprintf(stderr, "server_start: PARLEY_TEST_CLUSTER is set but this "
                "test binary has no cluster mode (link "
                "parley_clusterserver; needs hiredis)\n");
        return -ENOTSUP;
    }
    s = server_new();
    if (!s)
        return -ENOMEM;
    rc = cluster_ops->start(&s->cluster, nodes, extra);
    if (rc < 0) {
        server_free(&s);
        return rc;
    }
    s->port = cluster_ops->port(s->cluster);
    *out = s;
    return 0;
}

int server_start(struct server **out, const char *const *extra)
{
    int nodes = server_cluster_nodes();

    if (nodes > 0)
        return server_start_cluster(out, nodes, extra);
    return server_start_one(out, extra);
}

bool server_cluster_mode(void)
{
    return server_cluster_nodes() > 0;
}

int server_port(const struct server *s)
{
    return s->port;
}

int server_mqtt_port(const struct server *s)
{
    return s->mqtt_port;
}

int server_mqtts_port(const struct server *s)
{
    return s->mqtts_port;
}

pid_t server_pid(const struct server *s)
{
    if (s->cluster)
        return cluster_ops->pid(s->cluster);
    return s->pid;
}

const char *server_db(const struct server *s)
{
    return s->db;
}

int server_stop(struct server *s, int timeout_ms, int *wstatus)
{
    int rc = 0;

    *wstatus = 0;
    if (s->cluster)
        return cluster_ops->stop(s->cluster, timeout_ms, wstatus);
    if (s->pid <= 0)
        return -ECHILD;
    kill(s->pid, SIGTERM);
    rc = server_reap(s, timeout_ms, wstatus);
    if (rc == -ETIMEDOUT) {
        fprintf(stderr, "server_stop: parleyd %d still runs %d ms after "
                "SIGTERM; killing it\n", (int)s->pid, timeout_ms);
        kill(s->pid, SIGKILL);
        server_reap(s, 5000, wstatus);
        rc = -ETIMEDOUT;
    }
    server_end_output(s);
    return rc;
}

const char *server_status_str(int wstatus, char *buf, size_t n)
{
    if (WIFEXITED(wstatus))
        snprintf(buf, n, "exit %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, n, "signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(buf, n, "status 0x%x", (unsigned)wstatus);
    return buf;
}

bool server_exited_cleanly(int wstatus)
{
    return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
}

int server_kill9(struct server *s)
{
    int wst = 0;
    int rc = 0;

    if (s->cluster)
        return cluster_ops->kill9(s->cluster);
    if (s->pid <= 0)
        return -ECHILD;
    kill(s->pid, SIGKILL);
    rc = server_reap(s, 5000, &wst);
    server_end_output(s);
    return rc;
}

int server_restart(struct server *s)
{
    int rc = 0;

    if (s->cluster) {
        rc = cluster_ops->restart(s->cluster);
        if (rc == 0)
            s->port = cluster_ops->port(s->cluster);
        return rc;
    }
    if (s->pid > 0)
        return -EBUSY;
    return server_spawn(s);
}

/* Remove the files of the flat temporary directory, then the directory. */
static void server_rmdir(const char *dir)
{
    char path[PATH_MAX + 256];
    struct dirent *e = NULL;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void server_free(struct server **sp)
{
    struct server *s = sp ? *sp : NULL;
    int i = 0;

    if (!s)
        return;
    if (s->cluster)
        cluster_ops->free(&s->cluster);
    if (s->pid > 0)
        server_kill9(s);
    server_end_output(s);
    for (i = 0; s->extra[i]; i++)
        free(s->extra[i]);
    if (s->dir[0] && !getenv("PARLEY_KEEP_TMP"))
        server_rmdir(s->dir);
    pthread_cond_destroy(&s->watch_cond);
    pthread_mutex_destroy(&s->watch_lock);
    free(s);
    *sp = NULL;
}

int server_watch(struct server *s, const char *text)
{
    if (s->cluster)
        return cluster_ops->watch(s->cluster, text);
    if (strlen(text) >= sizeof(s->watch))
        return -ENAMETOOLONG;
    pthread_mutex_lock(&s->watch_lock);
    strcpy(s->watch, text);
    s->watch_hits = 0;
    pthread_mutex_unlock(&s->watch_lock);
    return 0;
}

int server_watched_line(struct server *s, char *buf, size_t n)
{
    int rc = -ENOENT;

    if (s->cluster)
        return cluster_ops->watched_line(s->cluster, buf, n);
    pthread_mutex_lock(&s->watch_lock);
    if (s->watch_hits > 0) {
        snprintf(buf, n, "%s", s->watch_line);
        rc = 0;
    }
    pthread_mutex_unlock(&s->watch_lock);
    return rc;
}

int server_wait_watched(struct server *s, int timeout_ms)
{
    struct timespec until;
    int rc = 0;

    if (s->cluster)
        return cluster_ops->wait_watched(s->cluster, timeout_ms);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->watch_lock);
    while (s->watch_hits == 0 && rc == 0)
        rc = pthread_cond_timedwait(&s->watch_cond, &s->watch_lock, &until);
    rc = s->watch_hits > 0 ? 0 : -ETIMEDOUT;
    pthread_mutex_unlock(&s->watch_lock);
    if (rc < 0)
        fprintf(stderr, "server_wait_watched: no line with \"%s\" in %d ms\n",
                s->watch, timeout_ms);
    return rc;
}
