/*
 * mosq.h: real MQTT clients for the tests: Debian's mosquitto_pub and
 * mosquitto_sub run as child programs, their output read line by line
 * with a deadline. cmocka asserts inside: call from a test.
 */
#ifndef PARLEY_TEST_MOSQ_H
#define PARLEY_TEST_MOSQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
/* How long a client may take to say or do what is expected. */
#define MOSQ_WAIT_MS 10000

struct child {
    pid_t pid;
    int out; /* its stdout, or -1 */
    char buf[8192];
    size_t len;
};

/* Whether mosquitto_pub and mosquitto_sub can be run; when not, says so on
 * stderr for test (its name) with where they come from. A test returns 77
 * (skipped) then: a build that promises every suite refuses that. */
bool mosq_available(const char *test);

/* Run argv (NULL-terminated) with its stdout on a pipe. */
void child_start(struct child *ch, const char *const *argv);
/* The next line of its output (without the newline) into line, waiting
 * until the deadline. false at EOF or the deadline. */
bool child_line(struct child *ch, char *line, size_t cap, int timeout_ms);
/* Wait for its exit; returns the exit code (-1: signal). Killed and
 * failed at the deadline. */
int child_wait(struct child *ch, int timeout_ms);
/* SIGKILL it (if running) and close its output. */
void child_kill(struct child *ch);

/* mosquitto_pub with these arguments after -h/-p; returns its exit code. */
int mosq_pub(int port, const char *const *args);
/* Publish a retained "ready" on ready_topic, then start mosquitto_sub
 * with opts (NULL-terminated) on filter (which must match ready_topic)
 * with extra args (NULL: none). */
void mosq_sub_after_ready(struct child *ch, int port, const char *const *opts,
                          const char *filter, const char *ready_topic,
                          const char *const *extra);
/* mosquitto_pub of bytes[0..len) exactly (from a file) to topic at QoS 1. */
void mosq_pub_bytes(int port, const char *topic, const char *bytes, size_t len,
                    bool retain);
/* "topic hex" as mosquitto_sub -F '%t %x' prints it. */
void mosq_hex_line(char *out, size_t cap, const char *topic, const char *bytes,
                   size_t len);

#endif
