/*
 * rawws.h: a small synchronous WebSocket client for the integration tests.
 *
 * Plain blocking sockets with poll() deadlines and no libwebsockets, so a
 * test controls every byte on the wire: it can send well-formed masked
 * frames, fragmented messages, or hostile raw bytes, and it sees every frame
 * the server sends (nothing is skipped silently, except pings answered
 * automatically when auto_pong is on).
 *
 * One struct rawws belongs to one thread at a time. No globals.
 */
#ifndef PARLEY_TEST_RAWWS_H
#define PARLEY_TEST_RAWWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* WebSocket opcodes (RFC 6455 5.2). */
#define RAWWS_OP_CONT 0x0
#define RAWWS_OP_TEXT 0x1
#define RAWWS_OP_BINARY 0x2
#define RAWWS_OP_CLOSE 0x8
#define RAWWS_OP_PING 0x9
#define RAWWS_OP_PONG 0xA

/* Default deadline of the helpers that take none, in milliseconds. */
#define RAWWS_TIMEOUT_MS 5000

struct rawws_opts {
    const char *host;          /* "127.0.0.1" (default) or "::1" */
    int port;
    const char *path;          /* default "/ws" */
    const char *protocols;     /* Sec-WebSocket-Protocol list; NULL: none */
    const char *extra_headers; /* "Name: value\r\n"... appended; or NULL */
    int rcvbuf;                /* SO_RCVBUF before connect; 0: default */
    int timeout_ms;            /* connect + handshake; 0: RAWWS_TIMEOUT_MS */
    const char *source;        /* IPv4 source address to bind; NULL: any */
    const char *preamble;      /* bytes sent before the request (a PROXY
                                * protocol header); NULL: none */
};

struct rawws {
    int fd;
    int status;           /* HTTP status of the upgrade response */
    char protocol[64];    /* selected subprotocol, "" when none */
    bool has_protocol;    /* the response carried Sec-WebSocket-Protocol */
    bool accept_ok;       /* Sec-WebSocket-Accept matched our key */
    char *resp_head;      /* the full response head, NUL-terminated */
    bool auto_pong;       /* answer pings and skip them in rawws_recv */
    bool eof;             /* the peer closed or reset the TCP stream */
    uint32_t rng;         /* masking key generator state */
    unsigned char *rx;    /* receive buffer: rx[rx_off..rx_len) unread */
    size_t rx_off;
    size_t rx_len;
    size_t rx_cap;
    unsigned char *frag;  /* a fragmented message being joined */
    size_t frag_len;
    int frag_opcode;
    bool frag_active;
};

/* One received frame or message. payload is heap memory owned by the frame
 * (free it with rawws_frame_cleanup), always followed by a NUL byte. */
struct rawws_frame {
    int opcode;
    bool fin;
    int rsv;              /* the three RSV bits, 0..7 */
    bool masked;          /* the server masked it (a protocol violation) */
    unsigned char *payload;
    size_t len;
    int close_code;       /* close frames: the code, -1 when none */
    const char *close_reason; /* close frames: points into payload */
};

/* Connect to o->host:o->port and send the HTTP upgrade. Returns 0 when an
 * HTTP response head was read (whatever its status: check c->status), with
 * *out owned by the caller (rawws_close). Returns -errno when the TCP
 * connection or the response failed (-ETIMEDOUT after the deadline). */
int rawws_open(struct rawws **out, const struct rawws_opts *o);

/* Connect to 127.0.0.1:port on /ws offering "parley.v1". Returns the client
 * only when the server answered 101, else NULL (the reason on stderr). */
struct rawws *rawws_connect(int port);

/* Close the socket (no close frame) and free c. NULL is allowed. */
void rawws_close(struct rawws *c);

/* Send a close frame (code < 0: empty payload), wait up to timeout_ms for
 * the server's close frame or EOF, then free c. NULL is allowed. */
void rawws_close_gracefully(struct rawws *c, int code, int timeout_ms);

/* Send one frame, masked unless masked is false. rsv is the 3 RSV bits.
 * Returns 0 or -errno. Blocks at most a few seconds (SO_SNDTIMEO). */
int rawws_send_frame_ex(struct rawws *c, bool fin, int rsv, int opcode,
                        bool masked, const void *payload, size_t len);
/* Send one final, masked frame. */
int rawws_send_frame(struct rawws *c, int opcode, const void *payload,
                     size_t len);
int rawws_send_text(struct rawws *c, const char *text);
int rawws_send_textf(struct rawws *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int rawws_send_binary(struct rawws *c, const void *payload, size_t len);
int rawws_send_ping(struct rawws *c, const void *payload, size_t len);
/* code < 0 sends an empty close payload. */
int rawws_send_close(struct rawws *c, int code, const char *reason);
/* Send one message as fragments of at most frag bytes (the first carries
 * opcode, the others are continuations, the last has FIN). */
int rawws_send_fragmented(struct rawws *c, int opcode, const void *payload,
                          size_t len, size_t frag);
/* Send bytes exactly as given. */
int rawws_send_raw(struct rawws *c, const void *bytes, size_t len);

/* Receive the next single frame as it came (no joining, no auto pong).
 * Returns 0, -ETIMEDOUT, -ENOTCONN on EOF, -ECONNRESET, -EPROTO for bytes
 * that are no valid server frame, or -ENOMEM. On 0 the caller owns f. */
int rawws_recv_frame(struct rawws *c, struct rawws_frame *f, int timeout_ms);

/* Receive the next message: data fragments are joined (f->opcode is the
 * first fragment's), control frames are returned as they come except pings
 * when c->auto_pong (answered and skipped). Same returns as above; the
 * deadline covers the whole message. */
int rawws_recv(struct rawws *c, struct rawws_frame *f, int timeout_ms);

void rawws_frame_cleanup(struct rawws_frame *f);

/* True when no byte arrives for quiet_ms and the stream is still open.
 * Anything that arrived stays buffered for the next receive. */
bool rawws_is_quiet(struct rawws *c, int quiet_ms);

/* Name of a rawws return value for diagnostics ("timeout", "eof", ...). */
const char *rawws_strerror(int rc);

/* ---- JSON helpers (each prints what came on stderr when it fails) ---- */

/* The next message parsed as a JSON object. NULL (and a diagnostic) on a
 * timeout, EOF, a non-text frame, or text that is not a JSON object. The
 * caller owns the result (cJSON_Delete). */
cJSON *rawws_recv_json(struct rawws *c, int timeout_ms);

/* The next message if it is a JSON object whose "op" is op, else NULL with
 * the frame that came printed on stderr. Nothing is skipped. */
cJSON *rawws_expect_op(struct rawws *c, const char *op, int timeout_ms);

/* The next message if it is {"op":"ok","id":id,...}, else NULL. */
cJSON *rawws_expect_ok(struct rawws *c, int64_t id, int timeout_ms);

/* The next message if it is {"op":"error","id":id,"code":code,...} with a
 * string "message"; id 0 means "id":null. Else NULL. */
cJSON *rawws_expect_error(struct rawws *c, int64_t id, const char *code,
                          int timeout_ms);

/* Read the next message; it must be a close frame. Returns its code (-1 for
 * an empty close payload) or a negative rawws error (-ENOTCONN when the
 * stream ended without a close frame, -EBADMSG when a data frame came,
 * which is printed). */
int rawws_expect_close(struct rawws *c, int timeout_ms);

/* Send {"op":"ping","id":id} and expect its ok. Returns true on success. */
bool rawws_ping_ok(struct rawws *c, int64_t id, int timeout_ms);

#endif
