/*
 * itest.h: glue shared by the integration tests: cmocka group fixtures that
 * run one parleyd per group, unique topic names, wall-clock time, and
 * short protocol conversations (hello, sub, pub, "nothing else came")
 * that print what came whenever it is not what was expected.
 */
#ifndef PARLEY_TEST_ITEST_H
#define PARLEY_TEST_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "httpc.h"
#include "rawws.h"
#include "server.h"
#include "tjson.h"

/* The default wait for one expected frame, in milliseconds. */
#define ITEST_WAIT_MS 5000
/* How long "nothing more arrives" is watched, in milliseconds. */
#define ITEST_QUIET_MS 250

struct itest {
    struct server *srv;
    int port;
};

/* cmocka group setup: start parleyd with extra (NULL-terminated or NULL)
 * and store a struct itest * in *state. Returns 0 or -1. */
int itest_setup(void **state, const char *const *extra);

/* cmocka group teardown: SIGTERM the server, wait, and require exit 0.
 * Records a failure for itest_exit_code (cmocka 1.1 does not count a
 * failed group teardown in its result). Returns 0 or -1. */
int itest_teardown(void **state);

/* The exit code of a test binary: nonzero when cmocka_rc is, or when any
 * itest_teardown failed. */
int itest_exit_code(int cmocka_rc);

/* Restart the group's server on the same database and arguments: SIGKILL
 * when kill9, else SIGTERM, after which it must exit 0. The port may
 * change (itest_port follows). Returns 0 or -1 (reason on stderr). */
int itest_restart(void **state, bool kill9);

/* In cluster mode (server_cluster_mode(): PARLEY_TEST_CLUSTER set), print
 * "excluded in cluster mode: <why>" and return true; otherwise false. The
 * first statement of a test that needs one process or the SQLite file:
 *     if (itest_cluster_excluded("reads the SQLite file"))
 *         skip();
 * so every exclusion is explicit, printed, and found by grep. */
bool itest_cluster_excluded(const char *why);

/* The port of the group's server. */
int itest_port(void **state);

/* Write a fresh, valid topic "<prefix>/<pid>x<n>" into buf. */
void itest_topic(char *buf, size_t n, const char *prefix);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t itest_now_ms(void);

/* Monotonic milliseconds, for deadlines. */
int64_t itest_mono_ms(void);

/* Milliseconds left until the monotonic deadline, 0 when past it. */
int itest_left_ms(int64_t deadline);

/* Connect (parley.v1) and say hello as name with id 1; NULL on failure. */
struct rawws *itest_hello(int port, const char *name);

/* Send {"op":"sub","id":id,"topic":topic} and expect its ok carrying the
 * topic. Returns the ok (caller frees) or NULL. */
cJSON *itest_sub(struct rawws *c, int64_t id, const char *topic);

/* Publish data_json to topic with id and expect the ok; returns its seq, or
 * -1. Only for a connection that does not receive the message itself. */
int64_t itest_pub(struct rawws *c, int64_t id, const char *topic,
                  const char *data_json);

/* The next frame, which must be a msg on topic with seq (seq 0: any).
 * Returns it (caller frees) or NULL. */
cJSON *itest_expect_msg(struct rawws *c, const char *topic, int64_t seq,
                        int timeout_ms);

/* Send a ping with ping_id; the next frame must be its ok, and then no
 * byte may arrive for quiet_ms. True when so. */
bool itest_nothing_more(struct rawws *c, int64_t ping_id, int quiet_ms);

/* Receive n JSON objects into out[0..n). Returns how many arrived (< n
 * after a failure, which is printed). */
int itest_collect(struct rawws *c, cJSON **out, int n, int timeout_ms);

/* In arr[0..n): the ok with id, or the msg on topic with seq. NULL when
 * absent. Borrowed pointers. */
cJSON *itest_find_ok(cJSON **arr, int n, int64_t id);
cJSON *itest_find_msg(cJSON **arr, int n, const char *topic, int64_t seq);

/* The topic's latest seq, as a fresh connection's sub reply reports it;
 * -1 on failure (printed). */
int64_t itest_topic_seq(int port, const char *topic);

/* A bystander that must stay unaffected by what a test does to other
 * connections: subscribed to its own topic, it publishes and receives one
 * message with the next seq each time it is checked. */
struct itest_bystander {
    struct rawws *c;
    char topic[128];
    int64_t seq;
    int64_t id;
};

/* Connect and subscribe a bystander. Returns 0 or -1 (reason printed). */
int itest_bystander_start(int port, struct itest_bystander *b);

/* Publish the bystander's next message; true when its ok and the msg with
 * the next seq both arrive. */
bool itest_bystander_ok(struct itest_bystander *b);

/* Delete arr[0..n) and set them to NULL. */
void itest_free_all(cJSON **arr, int n);

#endif
