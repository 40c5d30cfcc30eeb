/*
 * http_reply.h: the HTTP API's responses, made from the reply frames the
 * hub gives every connection. An API call is a hub connection that sends
 * one command and takes one reply; this turns that "ok" or "error" frame
 * into a status and a JSON body, so the hub writes each reply once, in
 * the protocol's own format. No lws, no I/O.
 *
 *   {"op":"ok","id":1,"topic":"t","seq":3}  -> 200 {"topic":"t","seq":3}
 *   {"op":"error","id":1,"code":"forbidden","message":"m"}
 *                                  -> 403 {"error":"forbidden","message":"m"}
 */
#ifndef PL_HTTP_REPLY_H
#define PL_HTTP_REPLY_H

#include <stddef.h>

#include "errors.h"
#include "frame.h"

/* The response for one reply frame's JSON text (as the hub's frame
 * encoder writes it: "op" first, then "id"). Appends the body to b and
 * returns the status, or -EINVAL for anything else (b untouched; the
 * caller answers 500). */
int http_reply_from_frame(const char *json, size_t len, struct pl_buf *b);

/* Append {"error":code,"message":message} to b; returns err's status. */
int http_reply_error(enum pl_err err, const char *message, struct pl_buf *b);

#endif
