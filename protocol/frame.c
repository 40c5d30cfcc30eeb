/*
 * frame.c: owns struct pl_buf, the growable byte buffer server frames are
 * encoded into, and the encoders of the frames the server sends (ok, error,
 * msg, history items). The payload starts PL_WS_HDR_MAX bytes into the
 * allocation, so pl_buf_ws_finish() can put the WebSocket header right in
 * front of it and the frame is encoded once, then written as-is to any
 * number of connections.
 *
 * Failure model: the first failed allocation sets b->failed, and from then
 * on every append is a no-op; the caller checks pl_buf_failed() once at the
 * end. No globals; a buffer belongs to one thread at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define BUF_MIN_CAP 64

/*
 * Allocates the headroom plus `hint` payload bytes (at least BUF_MIN_CAP).
 * Returns 0, or -ENOMEM with the buffer marked failed (still safe to use
 * and to clean up). The caller owns the buffer until pl_buf_cleanup().
 */
int pl_buf_init(struct pl_buf *b, size_t hint)
{
    size_t cap = hint < BUF_MIN_CAP ? BUF_MIN_CAP : hint;

    b->base = NULL;
    b->cap = 0;
    b->len = 0;
    b->failed = false;
    if (cap > SIZE_MAX - PL_WS_HDR_MAX) {
        b->failed = true;
        return -ENOMEM;
    }
    b->base = malloc(PL_WS_HDR_MAX + cap);
    if (b->base == NULL) {
        b->failed = true;
        return -ENOMEM;
    }
    b->cap = cap;
    return 0;
}

void pl_buf_cleanup(struct pl_buf *b)
{
    free(b->base);
    b->base = NULL;
    b->cap = 0;
    b->len = 0;
}

/* Forget the content and a past failure; keep the allocation. */
void pl_buf_reset(struct pl_buf *b)
{
    b->len = 0;
    b->failed = b->base == NULL;
}

bool pl_buf_failed(const struct pl_buf *b)
{
    return b->failed;
}

const char *pl_buf_data(const struct pl_buf *b)
{
    if (b->base == NULL)
        return "";
    return (const char *)b->base + PL_WS_HDR_MAX;
}

/*
 * Makes room for n more payload bytes, growing geometrically. Returns
 * false (and marks the buffer failed) when that is impossible.
 */
static bool buf_reserve(struct pl_buf *b, size_t n)
{
    size_t need;
    size_t cap;
    unsigned char *nb = NULL;

    if (b->failed)
        return false;
    if (n <= b->cap - b->len)
        return true;
    if (n > SIZE_MAX - PL_WS_HDR_MAX - b->len)
        goto fail;
    need = b->len + n;
    cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need) {
        if (cap > (SIZE_MAX - PL_WS_HDR_MAX) / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    nb = realloc(b->base, PL_WS_HDR_MAX + cap);
    if (nb == NULL)
        goto fail;
    b->base = nb;
    b->cap = cap;
    return true;

fail:
    b->failed = true;
    return false;
}

/* The next free payload byte; only valid after buf_reserve(). */
static unsigned char *buf_tail(struct pl_buf *b)
{
    return b->base + PL_WS_HDR_MAX + b->len;
}

void pl_buf_raw(struct pl_buf *b, const void *p, size_t n)
{
    if (n == 0 || !buf_reserve(b, n))
        return;
    memcpy(buf_tail(b), p, n);
    b->len += n;
}

void pl_buf_cstr(struct pl_buf *b, const char *s)
{
    pl_buf_raw(b, s, strlen(s));
}

/*
 * Room for n more payload bytes at the end of b: the caller writes at most
 * n bytes there, then counts the ones it wrote with pl_buf_commit(). NULL
 * when the buffer has failed (or fails now).
 */
void *pl_buf_room(struct pl_buf *b, size_t n)
{
    if (!buf_reserve(b, n))
        return NULL;
    return buf_tail(b);
}

void pl_buf_commit(struct pl_buf *b, size_t n)
{
    if (b->failed || n > b->cap - b->len)
        return;
    b->len += n;
}

/*
 * Appends the base64 text of p[0..n) (RFC 4648): section 4's alphabet
 * with '=' padding, or with url section 5's alphabet and no padding (as
 * JWTs want). The output is sized first and written in one pass.
 */
void pl_buf_base64(struct pl_buf *b, const void *p, size_t n, bool url)
{
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char web[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *abc = url ? web : std;
    const unsigned char *s = p;
    size_t rest = n % 3;
    size_t out_len;
    unsigned char *w = NULL;
    size_t i = 0;

    if (n / 3 >= SIZE_MAX / 4 - 1) {
        b->failed = true;
        return;
    }
    out_len = n / 3 * 4;
    if (rest != 0)
        out_len += url ? rest + 1 : 4;
    if (out_len == 0 || !buf_reserve(b, out_len))
        return;
    w = buf_tail(b);
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

        *w++ = (unsigned char)abc[v >> 18];
        *w++ = (unsigned char)abc[(v >> 12) & 63];
        *w++ = (unsigned char)abc[(v >> 6) & 63];
        *w++ = (unsigned char)abc[v & 63];
    }
    if (rest != 0) {
        uint32_t v = (uint32_t)s[i] << 16;

        if (rest == 2)
            v |= (uint32_t)s[i + 1] << 8;
        *w++ = (unsigned char)abc[v >> 18];
        *w++ = (unsigned char)abc[(v >> 12) & 63];
        if (rest == 2)
            *w++ = (unsigned char)abc[(v >> 6) & 63];
        if (!url) {
            if (rest == 1)
                *w++ = '=';
            *w++ = '=';
        }
    }
    b->len += out_len;
}

static void buf_byte(struct pl_buf *b, unsigned char c)
{
    if (!buf_reserve(b, 1))
        return;
    *buf_tail(b) = c;
    b->len++;
}

/*
 * Appends s[0..n) as a quoted JSON string. '"' and '\\' are escaped, control
 * characters below 0x20 become \b \f \n \r \t or \u00XX; every other byte
 * (including UTF-8 sequences) passes through unchanged.
 */
void pl_buf_json_str(struct pl_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0;

    size_t extra = 0;

    /* Size the output exactly first, so a long string does not reserve
     * six times its length. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];

        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
            c == '\r' || c == '\t')
            extra += 1;
        else if (c < 0x20)
            extra += 5;
    }
    if (n > SIZE_MAX - 2 - extra) {
        b->failed = true;
        return;
    }
    if (!buf_reserve(b, n + extra + 2))
        return;

    unsigned char *out = buf_tail(b);
    unsigned char *w = out;

    *w++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        char esc = 0;

        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        if (run > 0) {
            memcpy(w, p + i - run, run);
            w += run;
            run = 0;
        }
        switch (c) {
        case '"': esc = '"'; break;
        case '\\': esc = '\\'; break;
        case '\b': esc = 'b'; break;
        case '\f': esc = 'f'; break;
        case '\n': esc = 'n'; break;
        case '\r': esc = 'r'; break;
        case '\t': esc = 't'; break;
        default: break;
        }
        *w++ = '\\';
        if (esc != 0) {
            *w++ = (unsigned char)esc;
        } else {
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = (unsigned char)hex[c >> 4];
            *w++ = (unsigned char)hex[c & 0xF];
        }
    }
    if (run > 0) {
        memcpy(w, p + n - run, run);
        w += run;
    }
    *w++ = '"';
    b->len += (size_t)(w - out);
}

/* Writes the decimal text of v into out (at least 20 bytes), returns its
 * length. Two digits per step from a pair table. */
static size_t buf_itoa(char *out, int64_t v)
{
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324"
        "25262728293031323334353637383940414243444546474849"
        "50515253545556575859606162636465666768697071727374"
        "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    char *e = tmp + sizeof(tmp);
    char *w = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n;

    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;

        u /= 100;
        *--w = pairs[d + 1];
        *--w = pairs[d];
    }
    if (u >= 10) {
        unsigned d = (unsigned)u * 2;

        *--w = pairs[d + 1];
        *--w = pairs[d];
    } else {
        *--w = (char)('0' + u);
    }
    if (v < 0)
        *--w = '-';
    n = (size_t)(e - w);
    memcpy(out, w, n);
    return n;
}

void pl_buf_int(struct pl_buf *b, int64_t v)
{
    char tmp[24];
    size_t n = buf_itoa(tmp, v);

    pl_buf_raw(b, tmp, n);
}

/* Appends ,"key": (keys are ours: plain ASCII, no escaping needed). */
static void frame_key(struct pl_buf *b, const char *key)
{
    buf_byte(b, ',');
    buf_byte(b, '"');
    pl_buf_cstr(b, key);
    pl_buf_raw(b, "\":", 2);
}

void pl_frame_begin(struct pl_buf *b, const char *op)
{
    pl_buf_raw(b, "{\"op\":", 6);
    pl_buf_json_str(b, op, strlen(op));
}

void pl_frame_id(struct pl_buf *b, int64_t id)
{
    if (id == 0) {
        pl_buf_raw(b, ",\"id\":null", 10);
        return;
    }
    frame_key(b, "id");
    pl_buf_int(b, id);
}

/* ,"key":"val" ; a NULL val is written as null. */
void pl_frame_kv_str(struct pl_buf *b, const char *key, const char *val)
{
    frame_key(b, key);
    if (val == NULL)
        pl_buf_raw(b, "null", 4);
    else
        pl_buf_json_str(b, val, strlen(val));
}

void pl_frame_kv_int(struct pl_buf *b, const char *key, int64_t val)
{
    frame_key(b, key);
    pl_buf_int(b, val);
}

void pl_frame_kv_bool(struct pl_buf *b, const char *key, bool val)
{
    frame_key(b, key);
    if (val)
        pl_buf_raw(b, "true", 4);
    else
        pl_buf_raw(b, "false", 5);
}

/* ,"key":<json>; json must already be valid JSON text (n == 0 writes
 * null, so the frame stays valid). */
void pl_frame_kv_raw(struct pl_buf *b, const char *key, const char *json,
                     size_t n)
{
    frame_key(b, key);
    if (json == NULL || n == 0)
        pl_buf_raw(b, "null", 4);
    else
        pl_buf_raw(b, json, n);
}

void pl_frame_end(struct pl_buf *b)
{
    buf_byte(b, '}');
}

/* {"op":"error","id":<id|null>,"code":"<code>","message":"<message>"};
 * a NULL message is written as the code string. */
void pl_frame_error(struct pl_buf *b, int64_t id, enum pl_err err,
                    const char *message)
{
    const char *code = pl_err_code(err);

    pl_frame_begin(b, "error");
    pl_frame_id(b, id);
    pl_frame_kv_str(b, "code", code);
    pl_frame_kv_str(b, "message", message != NULL ? message : code);
    pl_frame_end(b);
}

/* The optional members of refs (NULL: none), in one fixed order. */
static void frame_refs(struct pl_buf *b, const struct pl_msg_refs *refs)
{
    if (refs == NULL)
        return;
    if (refs->edit_of > 0)
        pl_frame_kv_int(b, "edit_of", refs->edit_of);
    if (refs->redacts > 0)
        pl_frame_kv_int(b, "redacts", refs->redacts);
    if (refs->reply_to > 0)
        pl_frame_kv_int(b, "reply_to", refs->reply_to);
    if (refs->redacted)
        pl_frame_kv_bool(b, "redacted", true);
}

void pl_frame_msg_refs(struct pl_buf *b, const char *topic, int64_t seq,
                       int64_t ts, const char *from, const char *data,
                       size_t data_len, bool retained,
                       const struct pl_msg_refs *refs)
{
    pl_frame_begin(b, "msg");
    pl_frame_kv_str(b, "topic", topic);
    pl_frame_kv_int(b, "seq", seq);
    pl_frame_kv_int(b, "ts", ts);
    pl_frame_kv_str(b, "from", from);
    pl_frame_kv_raw(b, "data", data, data_len);
    if (retained)
        pl_frame_kv_bool(b, "retained", true);
    frame_refs(b, refs);
    pl_frame_end(b);
}

void pl_frame_msg(struct pl_buf *b, const char *topic, int64_t seq,
                  int64_t ts, const char *from, const char *data,
                  size_t data_len, bool retained)
{
    pl_frame_msg_refs(b, topic, seq, ts, from, data, data_len, retained,
                      NULL);
}

void pl_frame_history_item_refs(struct pl_buf *b, int64_t seq, int64_t ts,
                                const char *from, const char *data,
                                size_t data_len,
                                const struct pl_msg_refs *refs)
{
    pl_buf_raw(b, "{\"seq\":", 7);
    pl_buf_int(b, seq);
    pl_frame_kv_int(b, "ts", ts);
    pl_frame_kv_str(b, "from", from);
    pl_frame_kv_raw(b, "data", data, data_len);
    frame_refs(b, refs);
    pl_frame_end(b);
}

void pl_frame_topic_item(struct pl_buf *b, const char *topic, int64_t seq,
                         int64_t ts, const char *from, const char *data,
                         size_t data_len, const struct pl_msg_refs *refs)
{
    pl_buf_raw(b, "{\"topic\":", 9);
    pl_buf_json_str(b, topic, strlen(topic));
    pl_frame_kv_int(b, "seq", seq);
    pl_frame_kv_int(b, "ts", ts);
    pl_frame_kv_str(b, "from", from);
    pl_frame_kv_raw(b, "data", data, data_len);
    frame_refs(b, refs);
    pl_frame_end(b);
}

void pl_frame_history_item(struct pl_buf *b, int64_t seq, int64_t ts,
                           const char *from, const char *data,
                           size_t data_len)
{
    pl_frame_history_item_refs(b, seq, ts, from, data, data_len, NULL);
}

size_t pl_ws_header_len(size_t n)
{
    if (n < 126)
        return 2;
    if (n < 65536)
        return 4;
    return 10;
}

size_t pl_ws_close_frame(unsigned char out[PL_WS_CLOSE_MAX], int code,
                         const char *reason)
{
    size_t n = strlen(reason);

    if (n > PL_WS_CLOSE_MAX - 4)
        n = PL_WS_CLOSE_MAX - 4;
    out[0] = 0x88; /* FIN, close */
    out[1] = (unsigned char)(2 + n);
    out[2] = (unsigned char)((code >> 8) & 0xff);
    out[3] = (unsigned char)(code & 0xff);
    memcpy(out + 4, reason, n);
    return 4 + n;
}

/*
 * Writes an unmasked FIN text-frame header (RFC 6455 5.2) into the headroom
 * just before the payload. *frame and *frame_len then cover header + payload;
 * they point into b and stay valid until the next append, reset or
 * cleanup. On a failed buffer *frame is NULL and *frame_len 0.
 */
void pl_buf_ws_finish(struct pl_buf *b, unsigned char **frame,
                      size_t *frame_len)
{
    size_t n = b->len;
    size_t h = pl_ws_header_len(n);
    unsigned char *p = NULL;

    if (b->failed || b->base == NULL) {
        *frame = NULL;
        *frame_len = 0;
        return;
    }
    p = b->base + PL_WS_HDR_MAX - h;
    p[0] = 0x81; /* FIN + text */
    if (h == 2) {
        p[1] = (unsigned char)n;
    } else if (h == 4) {
        p[1] = 126;
        p[2] = (unsigned char)(n >> 8);
        p[3] = (unsigned char)n;
    } else {
        uint64_t v = (uint64_t)n;

        p[1] = 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (unsigned char)(v >> (56 - 8 * i));
    }
    *frame = p;
    *frame_len = h + n;
}
