/*
 * server.h: run a real parleyd for an integration test.
 *
 * The binary comes from the PARLEYD environment variable (set by CMake's
 * parley_add_itest). Each server gets its own mkdtemp() directory holding
 * its database, is started with
 *     --port 0 --bind 127.0.0.1 --db <dir>/p.db --mqtt-port 0 <extra>
 * and is ready when its output shows "listening on http://HOST:PORT". Its
 * later output is forwarded, line by line, to the test's stderr.
 *
 * Call from the test's main thread (the child dies with it: PDEATHSIG).
 *
 * Cluster mode: with PARLEY_TEST_CLUSTER=3 in the environment, server_start
 * starts a whole cluster instead (tests/cluster/cluster_server.c: a
 * redis-server with AOF, three `parleyd --redis` nodes given the same extra
 * arguments, and haproxy round-robin in front), and the functions below
 * act on all of it:
 *   server_port       haproxy's port: each new connection lands on the
 *                     next node (plain HTTP requests too);
 *   server_mqtt_port, server_mqtts_port   -1 (MQTT is not balanced);
 *   server_pid        the first node's;
 *   server_db         "" (there is no database file: Redis holds it all);
 *   server_stop       stops haproxy, SIGTERMs every node (the status is the
 *                     first unclean one's); Redis keeps running;
 *   server_kill9      stops haproxy, SIGKILLs every node; Redis keeps its
 *                     data, which is what survives a crash in a cluster;
 *   server_restart    restarts the nodes on the same Redis, and haproxy in
 *                     front of their new ports (the port changes);
 *   server_watch ...  watch every node's output; a line on any one counts;
 *   server_free       kills everything, Redis included.
 * Tests that need one process or the SQLite file say so with
 * itest_cluster_excluded (itest.h) and are skipped, never silently.
 */
#ifndef PARLEY_TEST_SERVER_H
#define PARLEY_TEST_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

struct server;

/* Start parleyd with the extra arguments (a NULL-terminated array, or NULL)
 * and wait up to 10 s for its listening line. Returns 0 with *out owned by
 * the caller (server_free), or a negative -errno with the reason on stderr.
 */
int server_start(struct server **out, const char *const *extra);

/* As server_start, but always exactly one parleyd, whatever
 * PARLEY_TEST_CLUSTER says (the cluster's own nodes, and tests that need a
 * single process by design). */
int server_start_one(struct server **out, const char *const *extra);

/* True when PARLEY_TEST_CLUSTER asks server_start for a cluster. */
bool server_cluster_mode(void);

/* The TCP port the running server listens on. */
int server_port(const struct server *s);

/* The MQTT port it listens on (started with --mqtt-port 0 unless the
 * extra arguments say otherwise), or -1 when MQTT is off. */
int server_mqtt_port(const struct server *s);
/* The same for MQTT over TLS (--mqtts-port 0 with --cert/--key). */
int server_mqtts_port(const struct server *s);

/* The server's process id, or -1 when it is not running. */
pid_t server_pid(const struct server *s);

/* The database path (<dir>/p.db). Borrowed; valid until server_free. */
const char *server_db(const struct server *s);

/* Send SIGTERM and wait up to timeout_ms for the exit; past that, SIGKILL.
 * Returns 0 and the waitpid status in *wstatus, or -ETIMEDOUT (killed; the
 * status of the kill is still written), or -ECHILD when it was not running.
 */
int server_stop(struct server *s, int timeout_ms, int *wstatus);

/* Describe a waitpid status ("exit 0", "signal 9") into buf; returns buf. */
const char *server_status_str(int wstatus, char *buf, size_t n);

/* True when wstatus is a normal exit with code 0. */
bool server_exited_cleanly(int wstatus);

/* SIGKILL the server and reap it. Returns 0 or -ECHILD. */
int server_kill9(struct server *s);

/* Start the server again on the same database and with the same extra
 * arguments (after server_stop or server_kill9). The port may change.
 * Returns 0 or as server_start. */
int server_restart(struct server *s);

/* Count the server's output lines that contain text from now on (copied;
 * replaces an earlier watch). Call it before causing the line. Returns 0
 * or -ENAMETOOLONG. */
int server_watch(struct server *s, const char *text);

/* Wait up to timeout_ms until a watched line has been seen. Returns 0, or
 * -ETIMEDOUT (said on stderr). */
int server_wait_watched(struct server *s, int timeout_ms);

/* Copy the first line the current watch counted into buf (n bytes).
 * Returns 0, or -ENOENT when none has been seen yet. */
int server_watched_line(struct server *s, char *buf, size_t n);

/* Kill the server if it still runs, remove its directory, free s, and set
 * *sp to NULL. NULL is allowed. */
void server_free(struct server **sp);

#endif
