/*
 * redis_proc.c: owns the redis-server child processes of the cluster tests:
 * their temp directories, ports, start, readiness, kill and restart.
 */
#include "redis_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

struct redis_proc {
    pid_t pid;
    int port;
    char fsync[16];
    char dir[128];
    char url[64];
};

int redis_proc_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (fd < 0)
        return -errno;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    else
        port = -errno;
    close(fd);
    return port;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

redisContext *redis_proc_connect(const struct redis_proc *r)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);

    if (c == NULL || c->err != 0) {
        fprintf(stderr, "redis_proc: connect to %d: %s\n", r->port,
                c != NULL ? c->errstr : "no memory");
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* True once the server answers PING with PONG. */
static int answers(const struct redis_proc *r)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply *rep = NULL;
    int ok = 0;

    if (c == NULL)
        return 0;
    if (c->err == 0) {
        redisSetTimeout(c, tv);
        rep = redisCommand(c, "PING");
        ok = rep != NULL && rep->type == REDIS_REPLY_STATUS &&
             strcmp(rep->str, "PONG") == 0;
        if (rep != NULL)
            freeReplyObject(rep);
    }
    redisFree(c);
    return ok;
}

static int spawn(struct redis_proc *r)
{
    char port[16];
    char log[160];
    const char *argv[] = {
        "redis-server",
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--dir",
        r->dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        r->fsync,
        "--save",
        "",
        "--logfile",
        log,
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
        NULL,
    };
    int64_t deadline = mono_ms() + 10000;
    pid_t pid;

    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    while (mono_ms() < deadline) {
        int st = 0;
        struct timespec nap = {0, 20 * 1000000};

        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = -1;
            fprintf(stderr,
                    "redis_proc: redis-server exited at start"
                    " (status %d); see %s\n",
                    st, log);
            return -EIO;
        }
        if (answers(r))
            return 0;
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "redis_proc: redis-server not ready in 10 s\n");
    redis_proc_kill9(r);
    return -ETIMEDOUT;
}

int redis_proc_start(struct redis_proc **out, const char *fsync)
{
    struct redis_proc *r = calloc(1, sizeof(*r));
    const char *tmp = getenv("TMPDIR");
    int attempt;
    int rc = -EIO;

    if (r == NULL)
        return -ENOMEM;
    r->pid = -1;
    snprintf(r->fsync, sizeof(r->fsync), "%s", fsync);
    if (tmp == NULL || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(r->dir, sizeof(r->dir), "%s/pl-redis-XXXXXX", tmp);
    if (mkdtemp(r->dir) == NULL) {
        rc = -errno;
        free(r);
        return rc;
    }
    /* Another process may take the port between its probe and the bind:
     * try a few fresh ones. */
    for (attempt = 0; attempt < 3; attempt++) {
        r->port = redis_proc_free_port();
        if (r->port < 0)
            continue;
        snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
        rc = spawn(r);
        if (rc == 0) {
            *out = r;
            return 0;
        }
    }
    redis_proc_free(&r);
    return rc;
}

int redis_proc_port(const struct redis_proc *r)
{
    return r->port;
}

pid_t redis_proc_pid(const struct redis_proc *r)
{
    return r->pid;
}

const char *redis_proc_url(const struct redis_proc *r)
{
    return r->url;
}

int redis_proc_kill9(struct redis_proc *r)
{
    int st = 0;

    if (r->pid <= 0)
        return -ECHILD;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &st, 0);
    r->pid = -1;
    return 0;
}

static void remove_tree(const char *dir)
{
    char cmd[300];

    /* The AOF lives in a subdirectory (appendonlydir) in Redis 7. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "redis_proc: could not remove %s\n", dir);
}

int redis_proc_restart(struct redis_proc *r, int empty)
{
    int attempt;
    int rc = -EIO;

    redis_proc_kill9(r);
    if (empty) {
        remove_tree(r->dir);
        if (mkdir(r->dir, 0700) != 0)
            return -errno;
    }
    /* The same port, so clients reconnect to where they were; it may need
     * a moment if something probed it meanwhile. */
    for (attempt = 0; attempt < 3 && rc != 0; attempt++)
        rc = spawn(r);
    return rc;
}

void redis_proc_free(struct redis_proc **rp)
{
    struct redis_proc *r = rp != NULL ? *rp : NULL;

    if (r == NULL)
        return;
    redis_proc_kill9(r);
    remove_tree(r->dir);
    free(r);
    *rp = NULL;
}
