/*
 * hub_fake.h: a fake transport and a fake store around a real struct hub,
 * so test_hub can drive the hub with no lws, no thread and no SQLite.
 *
 * The fake's storage keeps every submitted store job in a FIFO. A test
 * completes them itself, in order, with fake_complete(): PUB jobs get the
 * topic's next seq and become rows of an in-memory "store"; AFTER and
 * BEFORE jobs are answered from those rows, exactly as store.h describes.
 * Frames a connection would receive are read one at a time through the
 * transport's API (hub_conn_take, hub_conn_wrote); a placeholder at the
 * head means "a reply is pending, stop here".
 *
 * Everything here asserts with cmocka, so a helper that finds the wrong
 * frame fails the calling test. Single thread.
 */
#ifndef PL_HUB_FAKE_H
#define PL_HUB_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "conn.h"
#include "hub.h"

#define FAKE_T0 1764130000000LL /* the fake clock's start, ms */

/* One stored message of the fake store. */
struct fake_row {
    char *topic;
    int64_t seq;
    int64_t ts;
    char *from;
    char *data;
    char *key;               /* NULL when published without a key */
};

struct fake {
    struct hub *hub;
    struct hub_ops ops;
    struct storage storage;  /* the fake store below, as the hub sees it */
    struct store_job *jobs;  /* submitted, not completed, oldest first */
    size_t n_jobs;
    int64_t now;             /* the clock now_ms returns */
    struct fake_row *rows;   /* the fake store, in insertion order */
    size_t n_rows;
    size_t rows_cap;
    unsigned wakes;
    unsigned http_calls;     /* API replies taken (fake_take_reply) */
    struct conn *http_conn;  /* the last reply's connection */
    int http_status;         /* its HTTP status (http_reply.c) */
    char *http_body;         /* NUL-terminated copy of its HTTP body */
};

/* Defaults like parleyd's, with persist on and no ephemeral topics. */
void fake_config(struct hub_config *cfg);

/* cmocka setup/teardown: *state becomes a zeroed, heap-allocated struct
 * fake; the teardown completes pending jobs with errors, frees the hub if
 * the test did not (it failed midway), frees the fake, and fails when
 * messages are still alive. */
int fake_setup(void **state);
int fake_teardown(void **state);

/* The fake store's storage ops, copied into out: a test may add the
 * optional ones (shared storage) and make a hub over them itself. */
void fake_storage_ops_copy(struct storage_ops *out);

/* Create the hub around f (asserts msg_live_count() == 0 first). */
void fake_init(struct fake *f, const struct hub_config *cfg);
/* Complete any job still pending (the store drains at shutdown), free the
 * hub, the store rows and the jobs, and assert msg_live_count() == 0. */
void fake_cleanup(struct fake *f);

/* A new WebSocket connection (asserted non-NULL). */
struct conn *fake_open(struct fake *f);
/* Send one command text, printf-style, as a client would. */
void fake_send(struct fake *f, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- API requests: what http.c does ---- */

/* A CONN_REQUEST connection, named "http" by a hello when auth is off. */
struct conn *fake_request(struct fake *f);
/* POST /api/publish with body: parse it, answer a parse error at once,
 * else run the pub and take the reply if it is there already. */
void fake_request_publish(struct fake *f, struct conn *c, const char *body);
/* If c's reply is queued (not a placeholder), turn it into http_status
 * and http_body (http_reply.c), pop it and return true. */
bool fake_take_reply(struct fake *f, struct conn *c);

/* ---- the store side ---- */

/* The i-th pending job (0 = oldest), asserted to exist. */
struct store_job *fake_job(struct fake *f, size_t i);
/* Complete the n oldest jobs successfully, as the store would, and hand
 * them back to the hub in one hub_store_done() list. MARK and UNREAD jobs
 * go back as they are: the test fills in their results first. */
void fake_complete(struct fake *f, size_t n);
/* Complete the n oldest jobs like fake_complete() but return them as a
 * list (the caller hands it to the hub). */
struct store_job *fake_finish(struct fake *f, size_t n);
void fake_complete_all(struct fake *f);
/* Complete the oldest job with err (an enum pl_err value): nothing stored. */
void fake_fail(struct fake *f, int err);
/* Put a row into the store directly (a message from before a restart). */
void fake_store_put(struct fake *f, const char *topic, int64_t seq,
                    const char *from, const char *data);
/* Forget the topic's rows with seq < below (retention pruned them). */
void fake_store_prune(struct fake *f, const char *topic, int64_t below);
/* The newest stored seq of topic, 0 if none. */
int64_t fake_store_last(struct fake *f, const char *topic);
/* Tell the hub about topic as at start-up, from the store's rows. */
void fake_load_topic(struct fake *f, const char *topic);

/* ---- the transport side ---- */

/* The frame's JSON (caller deletes); m must not be a placeholder. */
cJSON *fake_parse(const struct msg *m);
/* True when c's queue is empty. */
bool fake_empty(const struct conn *c);
/* True when the head of c's queue is a placeholder. */
bool fake_pending(const struct conn *c);
/* Take and parse the head frame (asserted present and not a placeholder),
 * then tell the hub it was written, as ws_tx.c does. */
cJSON *fake_pop(struct fake *f, struct conn *c);
/* Pop and drop every ready frame; returns how many. */
size_t fake_drain(struct fake *f, struct conn *c);

/* ---- expectations (each pops one frame and checks it) ---- */

/* A frame with this op; returns it (caller deletes). */
cJSON *expect_op(struct fake *f, struct conn *c, const char *op);
/* {"op":"ok","id":id}; returns the frame (caller deletes). */
cJSON *expect_ok(struct fake *f, struct conn *c, int64_t id);
void expect_ok_only(struct fake *f, struct conn *c, int64_t id);
/* {"op":"error","id":id or null when 0,"code":code}. */
void expect_error(struct fake *f, struct conn *c, int64_t id,
                  const char *code);
/* {"op":"msg","topic":topic,"seq":seq} without retained:true; returns the
 * frame (caller deletes). */
cJSON *expect_msg(struct fake *f, struct conn *c, const char *topic,
                  int64_t seq);
void expect_msg_only(struct fake *f, struct conn *c, const char *topic,
                     int64_t seq);
/* A presence frame: op is "join" or "leave". */
void expect_presence(struct fake *f, struct conn *c, const char *op,
                     const char *topic, const char *user);
/* Nothing ready: the queue is empty. */
void expect_empty(const struct conn *c);

/* JSON helpers: the number field (asserted present), or a default. */
int64_t json_int(const cJSON *o, const char *key);
bool json_has(const cJSON *o, const char *key);
const char *json_str(const cJSON *o, const char *key);

#endif
