/*
 * mosq.c: real MQTT clients for the tests (see mosq.h).
 */
#include "mosq.h"

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

bool mosq_available(const char *test)
{
    if (access(MOSQUITTO_PUB, X_OK) == 0 && access(MOSQUITTO_SUB, X_OK) == 0)
        return true;
    fprintf(stderr, "%s: needs %s and %s (scripts/install-deps.sh --test)\n",
            test, MOSQUITTO_PUB, MOSQUITTO_SUB);
    return false;
}

/* Run argv (NULL-terminated) with its stdout on a pipe. */
void child_start(struct child *ch, const char *const *argv)
{
    int fds[2] = {-1, -1};

    memset(ch, 0, sizeof(*ch));
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    ch->pid = fork();
    assert_true(ch->pid >= 0);
    if (ch->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    ch->out = fds[0];
}

/* The next line of its output (without the newline) into line, waiting
 * until the deadline. false at EOF or the deadline. */
bool child_line(struct child *ch, char *line, size_t cap, int timeout_ms)
{
    int64_t deadline = itest_mono_ms() + timeout_ms;

    for (;;) {
        char *nl = memchr(ch->buf, '\n', ch->len);
        struct pollfd pf = {ch->out, POLLIN, 0};
        ssize_t n = 0;

        if (nl != NULL) {
            size_t k = (size_t)(nl - ch->buf);

            assert_true(k < cap);
            memcpy(line, ch->buf, k);
            line[k] = '\0';
            memmove(ch->buf, nl + 1, ch->len - k - 1);
            ch->len -= k + 1;
            return true;
        }
        if (ch->len == sizeof(ch->buf) ||
            poll(&pf, 1, itest_left_ms(deadline)) != 1)
            return false;
        n = read(ch->out, ch->buf + ch->len, sizeof(ch->buf) - ch->len);
        if (n <= 0)
            return false;
        ch->len += (size_t)n;
    }
}

/* Wait for its exit; returns the exit code (-1: signal). Killed and
 * failed at the deadline. */
int child_wait(struct child *ch, int timeout_ms)
{
    int64_t deadline = itest_mono_ms() + timeout_ms;
    int st = 0;

    for (;;) {
        pid_t r = waitpid(ch->pid, &st, WNOHANG);

        if (r == ch->pid)
            break;
        if (itest_left_ms(deadline) == 0) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &st, 0);
            ch->pid = -1;
            fail_msg("a client did not exit in time");
        }
        poll(NULL, 0, 10); /* re-check, bounded by the deadline */
    }
    ch->pid = -1;
    if (ch->out >= 0)
        close(ch->out);
    ch->out = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void child_kill(struct child *ch)
{
    if (ch->pid > 0) {
        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, NULL, 0);
        ch->pid = -1;
    }
    if (ch->out >= 0)
        close(ch->out);
    ch->out = -1;
}

/* mosquitto_pub with these arguments after -h/-p; returns its exit code. */
int mosq_pub(int port, const char *const *args)
{
    const char *argv[32];
    char p[16];
    struct child ch;
    size_t n = 0;

    snprintf(p, sizeof(p), "%d", port);
    argv[n++] = MOSQUITTO_PUB;
    argv[n++] = "-h";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = p;
    while (*args != NULL && n < 31)
        argv[n++] = *args++;
    argv[n] = NULL;
    child_start(&ch, argv);
    return child_wait(&ch, MOSQ_WAIT_MS);
}

/* Publish a retained "ready" on ready_topic, then start mosquitto_sub
 * with opts (NULL-terminated) on filter (which must match ready_topic)
 * with extra args (NULL: none). */
void mosq_sub_after_ready(struct child *ch, int port, const char *const *opts,
                          const char *filter, const char *ready_topic,
                          const char *const *extra)
{
    const char *argv[40];
    const char *ready[] = {"-t", ready_topic, "-m", "ready",
                           "-r", "-q",        "1",  NULL};
    char p[16];
    size_t n = 0;

    assert_int_equal(mosq_pub(port, ready), 0);
    snprintf(p, sizeof(p), "%d", port);
    argv[n++] = MOSQUITTO_SUB;
    argv[n++] = "-h";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = p;
    while (*opts != NULL && n < 30)
        argv[n++] = *opts++;
    argv[n++] = "-t";
    argv[n++] = filter;
    while (extra != NULL && *extra != NULL && n < 39)
        argv[n++] = *extra++;
    argv[n] = NULL;
    child_start(ch, argv);
}

/* "topic hex" as mosquitto_sub -F '%t %x' prints it. */
void mosq_hex_line(char *out, size_t cap, const char *topic, const char *bytes,
                   size_t len)
{
    size_t n = (size_t)snprintf(out, cap, "%s ", topic);
    size_t i = 0;

    for (i = 0; i < len && n + 3 < cap; i++)
        n +=
            (size_t)snprintf(out + n, cap - n, "%02x", (unsigned char)bytes[i]);
}

void mosq_pub_bytes(int port, const char *topic, const char *bytes, size_t len,
                    bool retain)
{
    char path[] = "/tmp/it_mqtt_raw_XXXXXX";
    int fd = mkstemp(path);
    const char *args[] = {
        "-q", "1", "-t", topic, "-f", path, retain ? "-r" : NULL, NULL};

    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
    assert_int_equal(mosq_pub(port, args), 0);
    unlink(path);
}
