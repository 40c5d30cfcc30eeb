/*
 * frame.h: build server frames (JSON objects) into a growable buffer that
 * keeps headroom for the WebSocket header, so a frame is encoded once and
 * then written as-is to any number of connections.
 *
 * Usage:
 *     struct pl_buf b;
 *     pl_buf_init(&b, 256);
 *     pl_frame_begin(&b, "ok");
 *     pl_frame_id(&b, 7);
 *     pl_frame_kv_str(&b, "topic", "chat/general");
 *     pl_frame_end(&b);
 *     if (pl_buf_failed(&b)) ...               // allocation failed somewhere
 *     pl_buf_ws_finish(&b, &frame, &frame_len); // text-frame header prepended
 *
 * Every append is a no-op once an allocation has failed; check once at the
 * end with pl_buf_failed().
 */
#ifndef PL_FRAME_H
#define PL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define PL_WS_HDR_MAX 10 /* largest unmasked server frame header */

struct pl_buf {
    unsigned char *base; /* allocation; payload starts at base + PL_WS_HDR_MAX */
    size_t cap;          /* bytes allocated after the headroom */
    size_t len;          /* payload bytes written */
    bool failed;         /* an allocation failed */
};

/* Allocates the headroom plus `hint` bytes. Returns 0 or -ENOMEM (then
 * the buffer is marked failed but still safe to use and clean up). */
int pl_buf_init(struct pl_buf *b, size_t hint);
void pl_buf_cleanup(struct pl_buf *b);
/* Forget the content, keep the allocation. */
void pl_buf_reset(struct pl_buf *b);
bool pl_buf_failed(const struct pl_buf *b);
/* The payload written so far (not NUL-terminated). */
const char *pl_buf_data(const struct pl_buf *b);

void pl_buf_raw(struct pl_buf *b, const void *p, size_t n);
void pl_buf_cstr(struct pl_buf *b, const char *s);        /* raw, no quoting */
void pl_buf_json_str(struct pl_buf *b, const char *s, size_t n); /* quoted, escaped */
void pl_buf_int(struct pl_buf *b, int64_t v);
/* base64 of p[0..n): RFC 4648 section 4 with '=' padding, or with url
 * section 5 (base64url) without padding. */
void pl_buf_base64(struct pl_buf *b, const void *p, size_t n, bool url);

/* Room for n more bytes at the end (NULL once the buffer failed); write up
 * to n bytes there, then count them with pl_buf_commit(). */
void *pl_buf_room(struct pl_buf *b, size_t n);
void pl_buf_commit(struct pl_buf *b, size_t n);

/* {"op":"<op>" */
void pl_frame_begin(struct pl_buf *b, const char *op);
/* ,"id":<id> or ,"id":null when id == 0 */
void pl_frame_id(struct pl_buf *b, int64_t id);
void pl_frame_kv_str(struct pl_buf *b, const char *key, const char *val);
void pl_frame_kv_int(struct pl_buf *b, const char *key, int64_t val);
void pl_frame_kv_bool(struct pl_buf *b, const char *key, bool val);
/* ,"key":<json> where json is already valid JSON text */
void pl_frame_kv_raw(struct pl_buf *b, const char *key, const char *json, size_t n);
void pl_frame_end(struct pl_buf *b); /* } */

/* A whole {"op":"error","id":..,"code":..,"message":..} frame. */
void pl_frame_error(struct pl_buf *b, int64_t id, enum pl_err err, const char *message);

/* A whole {"op":"msg","topic":..,"seq":..,"ts":..,"from":..,"data":..} frame,
 * with ,"retained":true when retained. data is JSON text. */
void pl_frame_msg(struct pl_buf *b, const char *topic, int64_t seq, int64_t ts,
                  const char *from, const char *data, size_t data_len,
                  bool retained);

/* A message object as it appears inside a history reply's "messages"
 * array: {"seq":..,"ts":..,"from":..,"data":..} */
void pl_frame_history_item(struct pl_buf *b, int64_t seq, int64_t ts,
                           const char *from, const char *data, size_t data_len);

/* How a chat message relates to others (#16); all zero for a plain one.
 * Each non-zero field adds an optional member to the message object. */
struct pl_msg_refs {
    int64_t edit_of;     /* ,"edit_of":N: this message edits seq N */
    int64_t redacts;     /* ,"redacts":N: this message deletes seq N */
    int64_t reply_to;    /* ,"reply_to":N: this message answers seq N */
    bool redacted;       /* ,"redacted":true: a later one deleted this */
};

/* pl_frame_msg and pl_frame_history_item with refs' members appended
 * (refs may be NULL: none). */
void pl_frame_msg_refs(struct pl_buf *b, const char *topic, int64_t seq,
                       int64_t ts, const char *from, const char *data,
                       size_t data_len, bool retained,
                       const struct pl_msg_refs *refs);
void pl_frame_history_item_refs(struct pl_buf *b, int64_t seq, int64_t ts,
                                const char *from, const char *data,
                                size_t data_len,
                                const struct pl_msg_refs *refs);
/* A message object with its topic, as search results list them:
 * {"topic":..,"seq":..,"ts":..,"from":..,"data":..[, refs]} */
void pl_frame_topic_item(struct pl_buf *b, const char *topic, int64_t seq,
                         int64_t ts, const char *from, const char *data,
                         size_t data_len, const struct pl_msg_refs *refs);

/* Write an unmasked, final text-frame header into the headroom just before
 * the payload; *frame and *frame_len then cover header + payload. */
void pl_buf_ws_finish(struct pl_buf *b, unsigned char **frame, size_t *frame_len);

/* Size of the unmasked header for a payload of n bytes (2, 4 or 10). */
size_t pl_ws_header_len(size_t n);

/* The most bytes pl_ws_close_frame writes: a 2-byte header and a control
 * frame's largest payload (125 bytes: the code and 123 of reason). */
#define PL_WS_CLOSE_MAX 127

/* Write an unmasked close frame (RFC 6455 5.5.1) with code and reason
 * (cut at 123 bytes) into out; returns its length. */
size_t pl_ws_close_frame(unsigned char out[PL_WS_CLOSE_MAX], int code,
                         const char *reason);

#endif
