/*
 * cmd.h: client command frames (JSON text) parsed and validated into a
 * typed struct pl_cmd, exactly as protocol-v1 "Commands" describes.
 */
#ifndef PL_CMD_H
#define PL_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define PL_ID_MAX 9007199254740991LL /* 2^53 - 1 */
#define PL_NAME_MAX 64
#define PL_KEY_MAX 128
#define PL_HISTORY_LIMIT_DEFAULT 50
#define PL_HISTORY_LIMIT_MAX 1000
#define PL_DEPTH_DEFAULT 64
#define PL_SEARCH_LIMIT_DEFAULT 20
#define PL_SEARCH_LIMIT_MAX 100
#define PL_SEARCH_Q_MAX 256

enum pl_op {
    PL_OP_HELLO,
    PL_OP_SUB,
    PL_OP_UNSUB,
    PL_OP_PUB,
    PL_OP_HISTORY,
    PL_OP_PRESENCE,
    PL_OP_PING,
    PL_OP_TOPICS,   /* addition: list known topics under a prefix */
    PL_OP_EDIT,     /* addition (#16): a new message replacing seq's data */
    PL_OP_DELETE,   /* addition (#16): a new message erasing seq's data */
    PL_OP_MARK,     /* addition (#16): the user's read marker in a topic */
    PL_OP_UNREAD,   /* addition (#16): markers and unread counts, pattern */
    PL_OP_SEARCH,   /* addition (#16): full-text search over a pattern */
};

/*
 * A parsed command. Strings point into storage owned by the struct and are
 * NUL-terminated; they live until pl_cmd_cleanup(). Fields that the op does
 * not use are zero/NULL.
 */
struct pl_cmd {
    enum pl_op op;
    int64_t id;          /* 0 when the command has no (valid) id */

    char *topic;         /* sub, unsub, pub, history, presence; topics: prefix (may be NULL) */
    size_t topic_len;

    char *name;          /* hello: display name, or NULL */
    char *token;         /* hello: JWT, or NULL */

    bool has_since;      /* sub */
    int64_t since;
    bool has_history;
    int64_t history;     /* >= 0 */
    bool presence;

    char *data;          /* pub: the data value as compact JSON text */
    size_t data_len;
    bool data_is_null;
    bool retain;
    char *key;           /* pub: idempotency key (1..128 bytes) or NULL */
    /* pub from the MQTT listener only (never parsed from JSON): the exact
     * MQTT payload when mapping data back would not give these bytes
     * (pl_mqtt_payload_needs_raw), else NULL/0. Borrowed: the caller's,
     * valid for the hub_conn_cmd call; pl_cmd_cleanup leaves it alone. */
    const unsigned char *raw;
    size_t raw_len;
    /* pub from the MQTT listener only: a persistent session's client id
     * and the QoS 2 packet id that makes a retry of this message a
     * duplicate until PUBREL (#14), else NULL/0. Borrowed, like raw. */
    const char *qos2_client;
    uint16_t qos2_id;

    bool has_before;     /* history; search (a ts, ms) */
    int64_t before;
    int limit;           /* history: 1..1000 (default 50, >1000 clamped);
                            search: 1..100 (default 20, >100 clamped) */
    char *query;         /* search: q, 1..256 bytes */

    int64_t seq;         /* edit, delete: the message acted on (>= 1);
                            mark: the newest seq read (>= 1) */
    int64_t reply_to;    /* pub, edit: the seq answered, 0 when none */
};

struct pl_parse_opts {
    int max_depth;       /* JSON nesting limit (>= 32); 0 means default */
};

/*
 * Parse one text frame. On PL_OK *cmd is filled and must be released with
 * pl_cmd_cleanup(). On error nothing needs releasing; cmd->id still holds
 * the command's id when a valid one was found before the error (so the
 * error reply can carry it) and 0 otherwise, and *why (if not NULL) points
 * to a static human-readable message.
 */
enum pl_err pl_cmd_parse(const char *text, size_t len,
                         const struct pl_parse_opts *opts,
                         struct pl_cmd *cmd, const char **why);

/*
 * Added: parse the body of POST /api/publish
 * ({"topic":..,"data":..,"retain":..,"key":..}) with exactly the rules of
 * a pub command; "op" and "id" in the body are ignored. On PL_OK
 * cmd->op == PL_OP_PUB. Errors and ownership as pl_cmd_parse().
 */
enum pl_err pl_cmd_parse_pub_body(const char *text, size_t len,
                                  const struct pl_parse_opts *opts,
                                  struct pl_cmd *cmd, const char **why);

void pl_cmd_cleanup(struct pl_cmd *cmd);

/* The op's wire name ("hello", ...). */
const char *pl_op_name(enum pl_op op);

/* Depth of JSON nesting in text without parsing it (strings respected);
 * stops counting at limit+1. A cheap guard for callers that hold JSON
 * they have not parsed yet. */
int pl_json_depth(const char *text, size_t len, int limit);

/* True when text[0..len) is exactly one JSON value of any kind, by the
 * strict rules commands are parsed with, nested at most max_depth deep
 * (<= 0: PL_DEPTH_DEFAULT; kept within 32..1000). */
bool pl_json_valid(const char *text, size_t len, int max_depth);

/* Copies valid JSON text in[0..n) into out (room for n bytes) without
 * insignificant whitespace, as `data` is kept; returns the length (no
 * NUL is written). */
size_t pl_json_compact(const char *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1 (JSON \u escapes, URL
 * percent-escapes). */
int pl_hex_digit(unsigned char c);

/* The strings of the valid JSON value in[0..n) that are values (not
 * keys), decoded and space-separated, into out (room for n bytes);
 * returns the length (no NUL is written), 0 when there is none. */
size_t pl_json_strings(const char *in, size_t n, char *out);

/* Decodes the body in[0..n) (quotes excluded) of a valid JSON string into
 * out (room for n bytes: decoding never grows it); returns the decoded
 * length and sets *nul when it holds U+0000. */
size_t pl_json_unescape(const char *in, size_t n, char *out, bool *nul);

#endif
