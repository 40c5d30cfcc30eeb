/*
 * cmd.c: owns the parsing of one client text frame into a typed struct
 * pl_cmd, with every rule of protocol-v1 "Frames" and "Commands".
 *
 * DESIGN: one pass over the text, then typed reads of a few spans.
 *   1. cmd_scan() is a strict, iterative RFC 8259 scanner over exactly
 *      `len` bytes: UTF-8 (checked inside strings; outside them any byte
 *      >= 0x80 is a syntax error anyway), grammar, numbers, escapes and
 *      UTF-16 surrogate pairs, no raw control characters in strings,
 *      nothing after the value (-> bad_json). It enforces the nesting
 *      limit as it goes (-> bad_request) with a byte per open container
 *      instead of recursion, so hostile nesting costs nothing. While it
 *      walks the top-level object it records, for the first occurrence of
 *      every known key (keys compared after unescaping, so "\u006fp" is
 *      "op"), the value's kind, its exact source span, whether a string
 *      holds escapes and how much insignificant whitespace the value
 *      holds. Nothing is allocated and no tree is built.
 *   2. Per-op validation reads those spans. Integers are judged from
 *      their source text, so 1.5, 1.0000000000000001 and 2^53 are judged
 *      exactly, and "3.0" or "1e2" count as the integers they are.
 *      Strings are unescaped (a \u0000 escape is refused there). `data`
 *      is kept as its source text minus insignificant whitespace, so
 *      numbers keep every digit and "\u0000" inside strings survives.
 *   3. Every string of the command (topic, token, name, key, data) lives
 *      in one block, allocated once at the first copy with room for all
 *      of them, laid out in that order; pl_cmd_cleanup() frees the block
 *      through the first non-NULL pointer in that order.
 * Field order of checks: object, id, op, then the op's fields, so an error
 * found after a valid id carries it.
 *
 * This replaced a validator followed by a cJSON parse and keeps all of
 * its verdicts (a differential fuzz compared the two on tens of millions
 * of mutated frames when it was written).
 *
 * No globals; any thread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "topic.h"

#define CMD_DEPTH_MIN 32
#define CMD_DEPTH_MAX 1000  /* the old cJSON parser's own nesting limit */
#define CMD_NAME_RAW_MAX 48 /* raw key/op longer than this decodes > 8 */

static const char *const cmd_op_names[] = {
    [PL_OP_HELLO] = "hello",
    [PL_OP_SUB] = "sub",
    [PL_OP_UNSUB] = "unsub",
    [PL_OP_PUB] = "pub",
    [PL_OP_HISTORY] = "history",
    [PL_OP_PRESENCE] = "presence",
    [PL_OP_PING] = "ping",
    [PL_OP_TOPICS] = "topics",
    [PL_OP_EDIT] = "edit",
    [PL_OP_DELETE] = "delete",
    [PL_OP_MARK] = "mark",
    [PL_OP_UNREAD] = "unread",
    [PL_OP_SEARCH] = "search",
};

#define CMD_N_OPS (sizeof(cmd_op_names) / sizeof(cmd_op_names[0]))

const char *pl_op_name(enum pl_op op)
{
    if ((unsigned)op >= CMD_N_OPS)
        return "?";
    return cmd_op_names[op];
}

/* ------------------------------------------------------------------ */
/* Depth guard                                                        */
/* ------------------------------------------------------------------ */

/*
 * Returns the deepest nesting of '{'/'[' in text[0..len), strings (with
 * escapes) skipped, counting the outermost container as 1. Stops and
 * returns limit+1 as soon as the depth passes limit. No validation.
 */
int pl_json_depth(const char *text, size_t len, int limit)
{
    int depth = 0;
    int max = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            break;
        case '{':
        case '[':
            depth++;
            if (depth > max) {
                max = depth;
                if (max > limit)
                    return limit + 1;
            }
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return max;
}

/* ------------------------------------------------------------------ */
/* Fields                                                             */
/* ------------------------------------------------------------------ */

enum cmd_field {
    F_OP,
    F_ID,
    F_TOPIC,
    F_NAME,
    F_TOKEN,
    F_SINCE,
    F_HISTORY,
    F_PRESENCE,
    F_DATA,
    F_RETAIN,
    F_KEY,
    F_BEFORE,
    F_LIMIT,
    F_PREFIX,
    F_SEQ,
    F_REPLY_TO,
    F_Q,
    F__COUNT
};

static const char *const cmd_msg_missing[F__COUNT] = {
    [F_OP] = "field 'op' is required",
    [F_ID] = "field 'id' is required",
    [F_TOPIC] = "field 'topic' is required",
    [F_NAME] = "field 'name' is required",
    [F_TOKEN] = "field 'token' is required",
    [F_SINCE] = "field 'since' is required",
    [F_HISTORY] = "field 'history' is required",
    [F_PRESENCE] = "field 'presence' is required",
    [F_DATA] = "field 'data' is required",
    [F_RETAIN] = "field 'retain' is required",
    [F_KEY] = "field 'key' is required",
    [F_BEFORE] = "field 'before' is required",
    [F_LIMIT] = "field 'limit' is required",
    [F_PREFIX] = "field 'prefix' is required",
    [F_SEQ] = "field 'seq' is required",
    [F_REPLY_TO] = "field 'reply_to' is required",
    [F_Q] = "field 'q' is required",
};

static const char *const cmd_msg_type[F__COUNT] = {
    [F_OP] = "field 'op' must be a string",
    [F_ID] = "field 'id' must be an integer from 1 to 2^53-1",
    [F_TOPIC] = "field 'topic' must be a string",
    [F_NAME] = "field 'name' must be a string",
    [F_TOKEN] = "field 'token' must be a string",
    [F_SINCE] = "field 'since' must be an integer >= 0",
    [F_HISTORY] = "field 'history' must be an integer >= 0",
    [F_PRESENCE] = "field 'presence' must be a boolean",
    [F_DATA] = "field 'data' is required",
    [F_RETAIN] = "field 'retain' must be a boolean",
    [F_KEY] = "field 'key' must be a string",
    [F_BEFORE] = "field 'before' must be an integer",
    [F_LIMIT] = "field 'limit' must be an integer >= 1",
    [F_PREFIX] = "field 'prefix' must be a string",
    [F_SEQ] = "field 'seq' must be an integer from 1 to 2^53-1",
    [F_REPLY_TO] = "field 'reply_to' must be an integer from 1 to 2^53-1",
    [F_Q] = "field 'q' must be a string",
};

/* The kind of a JSON value, told by its first byte. */
enum json_kind {
    JK_NONE, /* absent */
    JK_OBJECT,
    JK_ARRAY,
    JK_STRING,
    JK_NUMBER,
    JK_TRUE,
    JK_FALSE,
    JK_NULL,
};

/* One known member of the top-level object: its first occurrence. */
struct cmd_member {
    const char *raw;    /* the value's source text (strings: quotes too) */
    size_t raw_len;
    size_t ws;          /* insignificant whitespace bytes inside it */
    unsigned char kind; /* enum json_kind; JK_NONE when absent */
    bool esc;           /* a string holding at least one escape */
};

/* What cmd_scan() learns, and the string block cmd_parse() fills. */
struct cmd_scan {
    struct cmd_member m[F__COUNT];
    unsigned char top; /* enum json_kind of the whole value */
    unsigned fields;   /* bits of the fields whose strings are kept */
    char *block;       /* every string of the command; owned */
    size_t used;
    size_t cap;
};

/*
 * Returns the field named by the decoded key k[0..n), or -1. A key
 * holding U+0000 never matches (the names hold none).
 */
static int cmd_field_find(const char *k, size_t n)
{
    switch (n) {
    case 1:
        return k[0] == 'q' ? F_Q : -1;
    case 2:
        if (k[0] == 'o' && k[1] == 'p')
            return F_OP;
        if (k[0] == 'i' && k[1] == 'd')
            return F_ID;
        return -1;
    case 3:
        if (memcmp(k, "seq", 3) == 0)
            return F_SEQ;
        return memcmp(k, "key", 3) == 0 ? F_KEY : -1;
    case 4:
        if (memcmp(k, "data", 4) == 0)
            return F_DATA;
        if (memcmp(k, "name", 4) == 0)
            return F_NAME;
        return -1;
    case 5:
        if (memcmp(k, "topic", 5) == 0)
            return F_TOPIC;
        if (memcmp(k, "token", 5) == 0)
            return F_TOKEN;
        if (memcmp(k, "since", 5) == 0)
            return F_SINCE;
        if (memcmp(k, "limit", 5) == 0)
            return F_LIMIT;
        return -1;
    case 6:
        if (memcmp(k, "retain", 6) == 0)
            return F_RETAIN;
        if (memcmp(k, "before", 6) == 0)
            return F_BEFORE;
        if (memcmp(k, "prefix", 6) == 0)
            return F_PREFIX;
        return -1;
    case 7:
        return memcmp(k, "history", 7) == 0 ? F_HISTORY : -1;
    case 8:
        if (memcmp(k, "reply_to", 8) == 0)
            return F_REPLY_TO;
        return memcmp(k, "presence", 8) == 0 ? F_PRESENCE : -1;
    default:
        return -1;
    }
}

/* ------------------------------------------------------------------ */
/* Scanning                                                           */
/* ------------------------------------------------------------------ */

static unsigned char json_kind_of(unsigned char c)
{
    switch (c) {
    case '{':
        return JK_OBJECT;
    case '[':
        return JK_ARRAY;
    case '"':
        return JK_STRING;
    case 't':
        return JK_TRUE;
    case 'f':
        return JK_FALSE;
    case 'n':
        return JK_NULL;
    default:
        return JK_NUMBER;
    }
}

static bool json_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Index of the first non-whitespace byte at or after i; adds the bytes
 * skipped to *nws. */
static inline size_t json_ws(const unsigned char *s, size_t len, size_t i,
                             size_t *nws)
{
    size_t i0 = i;

    if (i < len && s[i] > ' ')
        return i; /* the usual case: compact JSON */
    while (i < len && json_is_ws(s[i]))
        i++;
    *nws += i - i0;
    return i;
}

int pl_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at s[i..i+4) (within len); the value or -1. */
static long json_hex4(const unsigned char *s, size_t len, size_t i)
{
    long v = 0;

    if (i > len || len - i < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        int h = pl_hex_digit(s[i + k]);

        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

#define JSON_ONES 0x0101010101010101ULL
#define JSON_HIGH 0x8080808080808080ULL

/*
 * Index of the first byte at or after i that is not plain string text
 * (plain: 0x20..0x7F but '"' and '\\'), or len. Eight bytes at a time
 * while none of them is special, then byte by byte. Never reads past len.
 */
static inline size_t json_plain_run(const unsigned char *s, size_t len,
                                    size_t i)
{
    while (len - i >= 8) {
        uint64_t w;
        uint64_t q;
        uint64_t b;
        uint64_t t;

        memcpy(&w, s + i, 8);
        q = w ^ (JSON_ONES * '"');
        b = w ^ (JSON_ONES * '\\');
        t = ((q - JSON_ONES) & ~q) | ((b - JSON_ONES) & ~b) |
            (w - JSON_ONES * 0x20) | w;
        t &= JSON_HIGH;
        if (t != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* Borrows only run upwards, so the lowest flag is exact. */
            return i + (size_t)(__builtin_ctzll(t) >> 3);
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' &&
           s[i] != '\\')
        i++;
    return i;
}

/*
 * Length of the valid UTF-8 sequence at s[i] (lead byte >= 0x80), or 0:
 * no overlongs, no surrogates, nothing above U+10FFFF, nothing cut short
 * by len (the rules of pl_utf8_valid()).
 */
static size_t json_utf8_seq(const unsigned char *s, size_t len, size_t i)
{
    unsigned char c = s[i];
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t need;

    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (len - i <= need)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
    }
    return need + 1;
}

/*
 * Checks the string starting at s[i] == '"'. Returns the index after the
 * closing quote, or 0 when it is malformed (raw control character, bad
 * escape, unpaired UTF-16 surrogate escape, invalid UTF-8, unterminated).
 * Sets *esc when it holds an escape (leaves it alone otherwise).
 */
static size_t json_string(const unsigned char *s, size_t len, size_t i,
                          bool *esc)
{
    i++;
    for (;;) {
        unsigned char c;

        i = json_plain_run(s, len, i);
        if (i >= len)
            return 0;
        c = s[i];
        if (c == '"')
            return i + 1;
        if (c >= 0x80) {
            size_t n = json_utf8_seq(s, len, i);

            if (n == 0)
                return 0;
            i += n;
            continue;
        }
        if (c != '\\')
            return 0; /* a raw control character */
        *esc = true;
        if (i + 1 >= len)
            return 0;
        c = s[i + 1];
        if (c == 'u') {
            long u = json_hex4(s, len, i + 2);

            if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return 0;
            i += 6;
            if (u >= 0xD800 && u <= 0xDBFF) {
                long lo = -1;

                if (i + 1 < len && s[i] == '\\' && s[i + 1] == 'u')
                    lo = json_hex4(s, len, i + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return 0;
                i += 6;
            }
            continue;
        }
        switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i += 2;
            break;
        default:
            return 0;
        }
    }
}

static bool json_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Checks the RFC 8259 number at s[i]; returns the index after it or 0. */
static size_t json_number(const unsigned char *s, size_t len, size_t i)
{
    if (i < len && s[i] == '-')
        i++;
    if (i >= len || !json_is_digit(s[i]))
        return 0;
    if (s[i] == '0') {
        i++;
    } else {
        while (i < len && json_is_digit(s[i]))
            i++;
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !json_is_digit(s[i]))
            return 0;
        while (i < len && json_is_digit(s[i]))
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !json_is_digit(s[i]))
            return 0;
        while (i < len && json_is_digit(s[i]))
            i++;
    }
    return i;
}

/* Checks the literal word[0..n) at s[i]; returns the index after it or 0. */
static size_t json_word(const unsigned char *s, size_t len, size_t i,
                        const char *word, size_t n)
{
    if (len - i < n || memcmp(s + i, word, n) != 0)
        return 0;
    return i + n;
}

/* Appends code point cp (<= 0x10FFFF, no surrogate) as UTF-8 at out;
 * returns the bytes written. */
static size_t json_put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Decodes the body in[0..n) (no quotes) of a string that json_string()
 * accepted into out, which has room for n bytes (decoding never grows a
 * string). Returns the decoded length; sets *nul when the string holds a
 * \u0000 escape. No NUL terminator is written.
 */
static size_t json_unescape(const char *in, size_t n, char *out, bool *nul)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    size_t k = 0;

    while (i < n) {
        const char *bs = memchr(in + i, '\\', n - i);
        size_t run = bs != NULL ? (size_t)(bs - (in + i)) : n - i;
        unsigned long cp;

        memcpy(out + k, in + i, run);
        k += run;
        i += run;
        if (i >= n)
            break;
        switch (s[i + 1]) {
        case 'b':
            out[k++] = '\b';
            break;
        case 'f':
            out[k++] = '\f';
            break;
        case 'n':
            out[k++] = '\n';
            break;
        case 'r':
            out[k++] = '\r';
            break;
        case 't':
            out[k++] = '\t';
            break;
        case 'u':
            cp = (unsigned long)json_hex4(s, n, i + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned long lo = (unsigned long)json_hex4(s, n, i + 8);

                cp = 0x10000 + (((cp & 0x3FF) << 10) | (lo & 0x3FF));
                i += 6;
            }
            if (cp == 0)
                *nul = true;
            k += json_put_utf8(out + k, cp);
            i += 4;
            break;
        default: /* '"', '\\', '/' */
            out[k++] = (char)s[i + 1];
            break;
        }
        i += 2;
    }
    return k;
}

/*
 * The member slot for the key whose body (no quotes) is k[0..n), or NULL
 * when the key is not a known field or was already seen (the first
 * occurrence counts).
 */
static struct cmd_member *cmd_scan_key(struct cmd_scan *sc, const char *k,
                                       size_t n, bool esc)
{
    char buf[CMD_NAME_RAW_MAX];
    bool nul = false;
    int f;

    if (esc) {
        if (n > CMD_NAME_RAW_MAX)
            return NULL; /* decodes to more than 8 bytes */
        n = json_unescape(k, n, buf, &nul);
        k = buf;
    }
    f = cmd_field_find(k, n);
    if (f < 0 || sc->m[f].kind != JK_NONE)
        return NULL;
    return &sc->m[f];
}

enum json_verdict {
    JSON_OK,
    JSON_BAD,  /* not JSON */
    JSON_DEEP, /* nested deeper than the limit (checked as it is met) */
};

/*
 * Checks that text[0..len) is exactly one JSON value (RFC 8259) with
 * optional surrounding whitespace, in valid UTF-8, nested at most `limit`
 * deep (limit <= CMD_DEPTH_MAX), and fills sc (member kinds cleared by
 * the caller) with the top-level kind and the known members of a
 * top-level object.
 * JSON_DEEP is returned as soon as the limit is passed, provided the text
 * up to there is valid and the whole text is valid UTF-8. Iterative, one
 * byte per open container (1 = object). Allocates nothing.
 */
static enum json_verdict cmd_scan(struct cmd_scan *sc, const char *text,
                                  size_t len, size_t limit)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char stack[CMD_DEPTH_MAX];
    struct cmd_member *cur = NULL; /* the known member being read */
    size_t depth = 0;
    size_t nws = 0;
    size_t i;
    bool esc = false;

    i = json_ws(s, len, 0, &nws);
    if (i < len)
        sc->top = json_kind_of(s[i]);

value:
    if (i >= len)
        return JSON_BAD;
    switch (s[i]) {
    case '{':
    case '[':
        if (depth >= limit)
            goto deep;
        stack[depth++] = s[i] == '{';
        i = json_ws(s, len, i + 1, &nws);
        if (i < len && (s[i] == '}' || s[i] == ']')) {
            if ((s[i] == '}') != stack[depth - 1])
                return JSON_BAD;
            depth--;
            i++;
            goto after;
        }
        if (stack[depth - 1])
            goto key;
        goto value;
    case '"':
        i = json_string(s, len, i, &esc);
        break;
    case 't':
        i = json_word(s, len, i, "true", 4);
        break;
    case 'f':
        i = json_word(s, len, i, "false", 5);
        break;
    case 'n':
        i = json_word(s, len, i, "null", 4);
        break;
    default:
        i = json_number(s, len, i);
        break;
    }
    if (i == 0)
        return JSON_BAD;

after:
    if (cur != NULL && depth == 1) {
        cur->raw_len = (size_t)(text + i - cur->raw);
        cur->ws = nws - cur->ws;
        cur->esc = esc;
        cur = NULL;
    }
    i = json_ws(s, len, i, &nws);
    if (depth == 0)
        return i == len ? JSON_OK : JSON_BAD;
    if (i >= len)
        return JSON_BAD;
    if (s[i] == ',') {
        i = json_ws(s, len, i + 1, &nws);
        if (stack[depth - 1])
            goto key;
        goto value;
    }
    if (s[i] == (stack[depth - 1] ? '}' : ']')) {
        depth--;
        i++;
        goto after;
    }
    return JSON_BAD;

key:
    if (i >= len || s[i] != '"')
        return JSON_BAD;
    {
        size_t k0 = i;
        size_t k1;

        esc = false;
        k1 = json_string(s, len, i, &esc);
        if (k1 == 0)
            return JSON_BAD;
        i = json_ws(s, len, k1, &nws);
        if (i >= len || s[i] != ':')
            return JSON_BAD;
        if (depth == 1) {
            cur = cmd_scan_key(sc, text + k0 + 1, k1 - k0 - 2, esc);
            i = json_ws(s, len, i + 1, &nws);
            if (cur != NULL && i < len) {
                cur->raw = text + i;
                cur->kind = json_kind_of(s[i]);
                cur->ws = nws;
            }
        } else {
            i = json_ws(s, len, i + 1, &nws);
        }
    }
    esc = false;
    goto value;

deep:
    /* Everything before i is valid UTF-8 and i starts a character. */
    return pl_utf8_valid(text + i, len - i) ? JSON_DEEP : JSON_BAD;
}

/* ------------------------------------------------------------------ */
/* Typed field readers                                                */
/* ------------------------------------------------------------------ */

enum cmd_num {
    NUM_INT,      /* an integer in [-PL_ID_MAX, PL_ID_MAX], in *v */
    NUM_HUGE_POS, /* an integer above PL_ID_MAX */
    NUM_HUGE_NEG, /* an integer below -PL_ID_MAX */
    NUM_FRAC,     /* not an integer */
};

/*
 * Classifies the validated JSON number s[0..len) exactly from its text:
 * digits d (integer and fraction parts) times 10^e. No floating point, so
 * 1.5, 1.0000000000000001 and 9007199254740993 are judged correctly and
 * 3.0, 1e2, 0.5e1 count as integers.
 */
static enum cmd_num cmd_number(const char *s, size_t len, int64_t *v)
{
    char digits[24];
    size_t nd = 0;
    bool neg = false;
    bool dropped = false; /* a non-zero digit did not fit in digits[] */
    long long exp10 = 0;
    size_t i = 0;
    uint64_t u = 0;

    /* The usual case: a plain non-negative integer of at most 15 digits
     * (below 2^53 - 1; a valid JSON number has no leading zero). */
    if (len <= 15) {
        for (i = 0; i < len && json_is_digit((unsigned char)s[i]); i++)
            u = u * 10 + (uint64_t)(s[i] - '0');
        if (i == len) {
            *v = (int64_t)u;
            return NUM_INT;
        }
        i = 0;
        u = 0;
    }
    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && json_is_digit((unsigned char)s[i]); i++) {
        if (nd == 0 && s[i] == '0')
            continue;
        if (nd < sizeof(digits))
            digits[nd++] = s[i];
        else
            exp10++; /* more than 24 significant digits: huge anyway */
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && json_is_digit((unsigned char)s[i]); i++) {
            if (nd == 0 && s[i] == '0') {
                exp10--;
                continue;
            }
            if (nd < sizeof(digits)) {
                digits[nd++] = s[i];
                exp10--;
            } else if (s[i] != '0') {
                dropped = true;
            }
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        long long e = 0;

        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < len && json_is_digit((unsigned char)s[i]); i++) {
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        }
        exp10 += eneg ? -e : e;
    }
    /* Trailing zeros of the digits move into the exponent. */
    while (nd > 0 && digits[nd - 1] == '0') {
        nd--;
        exp10++;
    }
    if (nd == 0) {
        *v = 0;
        return dropped ? NUM_FRAC : NUM_INT;
    }
    if (exp10 < 0 || dropped)
        return NUM_FRAC;
    if ((long long)nd + exp10 > 16)
        return neg ? NUM_HUGE_NEG : NUM_HUGE_POS;
    for (size_t k = 0; k < nd; k++)
        u = u * 10 + (uint64_t)(digits[k] - '0');
    for (long long k = 0; k < exp10; k++)
        u *= 10;
    if (u > (uint64_t)PL_ID_MAX)
        return neg ? NUM_HUGE_NEG : NUM_HUGE_POS;
    *v = neg ? -(int64_t)u : (int64_t)u;
    return NUM_INT;
}

/*
 * Reads field f as an integer in [lo, hi]. A value above hi becomes hi
 * when clamp_hi, else it is refused; likewise below lo with clamp_lo.
 * Returns PL_OK with *present false when the field is absent.
 */
static enum pl_err cmd_get_int(const struct cmd_scan *sc, enum cmd_field f,
                               int64_t lo, int64_t hi, bool clamp_lo,
                               bool clamp_hi, bool *present, int64_t *out,
                               const char **why)
{
    const struct cmd_member *m = &sc->m[f];
    int64_t v = 0;
    enum cmd_num kind;

    *present = false;
    if (m->kind == JK_NONE)
        return PL_OK;
    if (m->kind != JK_NUMBER)
        goto bad;
    kind = cmd_number(m->raw, m->raw_len, &v);
    if (kind == NUM_FRAC)
        goto bad;
    if (kind == NUM_HUGE_NEG || (kind == NUM_INT && v < lo)) {
        if (!clamp_lo)
            goto bad;
        v = lo;
    } else if (kind == NUM_HUGE_POS || v > hi) {
        if (!clamp_hi)
            goto bad;
        v = hi;
    }
    *present = true;
    *out = v;
    return PL_OK;

bad:
    *why = cmd_msg_type[f];
    return PL_ERR_BAD_REQUEST;
}

static enum pl_err cmd_get_bool(const struct cmd_scan *sc, enum cmd_field f,
                                bool *out, const char **why)
{
    unsigned char kind = sc->m[f].kind;

    if (kind == JK_NONE)
        return PL_OK;
    if (kind != JK_TRUE && kind != JK_FALSE) {
        *why = cmd_msg_type[f];
        return PL_ERR_BAD_REQUEST;
    }
    *out = kind == JK_TRUE;
    return PL_OK;
}

#define CMD_BIT(f) (1u << (f))

/* The fields whose strings each op keeps (see cmd_parse()). */
static const unsigned cmd_op_fields_kept[CMD_N_OPS] = {
    [PL_OP_HELLO] = CMD_BIT(F_TOKEN) | CMD_BIT(F_NAME),
    [PL_OP_SUB] = CMD_BIT(F_TOPIC),
    [PL_OP_UNSUB] = CMD_BIT(F_TOPIC),
    [PL_OP_PUB] = CMD_BIT(F_TOPIC) | CMD_BIT(F_KEY) | CMD_BIT(F_DATA),
    [PL_OP_HISTORY] = CMD_BIT(F_TOPIC),
    [PL_OP_PRESENCE] = CMD_BIT(F_TOPIC),
    [PL_OP_PING] = 0,
    [PL_OP_TOPICS] = CMD_BIT(F_PREFIX),
    [PL_OP_EDIT] = CMD_BIT(F_TOPIC) | CMD_BIT(F_DATA),
    [PL_OP_DELETE] = CMD_BIT(F_TOPIC),
    [PL_OP_MARK] = CMD_BIT(F_TOPIC),
    [PL_OP_UNREAD] = CMD_BIT(F_TOPIC),
    [PL_OP_SEARCH] = CMD_BIT(F_TOPIC) | CMD_BIT(F_Q),
};

/* Index of the lowest set bit of bits (not 0). */
static int cmd_lowest_bit(unsigned bits)
{
#if defined(__GNUC__)
    return __builtin_ctz(bits);
#else
    int k = 0;

    while ((bits & 1u) == 0) {
        bits >>= 1;
        k++;
    }
    return k;
#endif
}

/*
 * Room in sc->block for n more bytes. The block is allocated once, at the
 * first call, with room for every field of sc->fields that is present:
 * string bodies (decoding never grows them) and data, each plus a NUL.
 * Returns the place to write, or NULL when out of memory.
 */
static char *cmd_block_room(struct cmd_scan *sc, size_t n)
{
    char *p = NULL;

    if (sc->block == NULL) {
        size_t cap = 0;

        for (unsigned bits = sc->fields; bits != 0; bits &= bits - 1) {
            const struct cmd_member *m = &sc->m[cmd_lowest_bit(bits)];

            if (m->kind != JK_NONE)
                cap += m->raw_len + 1;
        }
        if (cap < n || cap == 0)
            cap = n + 1; /* a field outside sc->fields: never, but safe */
        sc->block = malloc(cap);
        if (sc->block == NULL)
            return NULL;
        sc->cap = cap;
    }
    if (sc->cap - sc->used < n)
        return NULL;
    p = sc->block + sc->used;
    sc->used += n;
    return p;
}

/*
 * Reads string field f, unescaped, into the command's block (*out) when
 * present; absent and not required leaves *out NULL. A string holding
 * U+0000 is refused with nul_err (it can be neither a topic nor a name).
 * Lengths are checked by the callers.
 */
static enum pl_err cmd_get_str(struct cmd_scan *sc, enum cmd_field f,
                               bool required, enum pl_err nul_err,
                               const char *nul_why, char **out,
                               size_t *out_len, const char **why)
{
    const struct cmd_member *m = &sc->m[f];
    const char *body = NULL;
    size_t body_len;
    size_t n;
    bool nul = false;
    char *w = NULL;

    *out = NULL;
    if (m->kind == JK_NONE) {
        if (!required)
            return PL_OK;
        *why = cmd_msg_missing[f];
        return PL_ERR_BAD_REQUEST;
    }
    if (m->kind != JK_STRING) {
        *why = cmd_msg_type[f];
        return PL_ERR_BAD_REQUEST;
    }
    body = m->raw + 1;
    body_len = m->raw_len - 2;
    if (m->esc) {
        /* Decode first into the block's free space; check for U+0000
         * before keeping it. */
        w = cmd_block_room(sc, 0);
        if (w == NULL || sc->cap - sc->used < body_len + 1)
            goto oom;
        n = json_unescape(body, body_len, w, &nul);
        if (nul) {
            *why = nul_why;
            return nul_err;
        }
        sc->used += n + 1;
    } else {
        n = body_len;
        w = cmd_block_room(sc, n + 1);
        if (w == NULL)
            goto oom;
        memcpy(w, body, n);
    }
    w[n] = '\0';
    *out = w;
    if (out_len != NULL)
        *out_len = n;
    return PL_OK;

oom:
    *why = "out of memory";
    return PL_ERR_INTERNAL;
}

/*
 * Reads the required `topic` field into cmd->topic and validates it as a
 * pattern (wildcards true) or a concrete topic.
 */
static enum pl_err cmd_get_topic(struct cmd_scan *sc, bool wildcards,
                                 struct pl_cmd *cmd, const char **why)
{
    enum pl_err err;

    err = cmd_get_str(sc, F_TOPIC, true, PL_ERR_INVALID_TOPIC,
                      "topic must not contain control characters",
                      &cmd->topic, &cmd->topic_len, why);
    if (err != PL_OK)
        return err;
    if (pl_topic_validate(cmd->topic, cmd->topic_len, true) != PL_OK) {
        *why = "topic must be 1-255 bytes of UTF-8 with no empty level, "
               "no control characters, and '+'/'#' only as whole levels "
               "('#' last)";
        return PL_ERR_INVALID_TOPIC;
    }
    if (!wildcards && pl_topic_is_pattern(cmd->topic, cmd->topic_len)) {
        *why = "wildcards ('+', '#') are not allowed in this topic";
        return PL_ERR_INVALID_TOPIC;
    }
    return PL_OK;
}

/*
 * Copies the validated data value into the command's block without
 * insignificant whitespace (a plain copy when the scan met none), NUL-
 * terminated, into cmd->data and cmd->data_len.
 */
static enum pl_err cmd_get_data(struct cmd_scan *sc, struct pl_cmd *cmd)
{
    const struct cmd_member *m = &sc->m[F_DATA];
    const char *raw = m->raw;
    size_t n = m->raw_len;
    char *w = cmd_block_room(sc, n + 1);
    size_t k = 0;

    if (w == NULL)
        return PL_ERR_INTERNAL;
    if (m->ws == 0) {
        memcpy(w, raw, n);
        k = n;
    } else {
        k = pl_json_compact(raw, n, w);
    }
    w[k] = '\0';
    cmd->data = w;
    cmd->data_len = k;
    cmd->data_is_null = m->kind == JK_NULL;
    return PL_OK;
}

/* ------------------------------------------------------------------ */
/* Per-op validation                                                  */
/* ------------------------------------------------------------------ */

static enum pl_err cmd_hello(struct cmd_scan *sc, struct pl_cmd *cmd,
                             const char **why)
{
    enum pl_err err;
    size_t name_len = 0;

    /* token before name: the block's layout order (see pl_cmd_cleanup) */
    err = cmd_get_str(sc, F_TOKEN, false, PL_ERR_BAD_REQUEST,
                      "field 'token' must not contain U+0000", &cmd->token,
                      NULL, why);
    if (err != PL_OK)
        return err;
    err = cmd_get_str(sc, F_NAME, false, PL_ERR_BAD_REQUEST,
                      "field 'name' must not contain U+0000", &cmd->name,
                      &name_len, why);
    if (err != PL_OK)
        return err;
    if (cmd->name != NULL && (name_len < 1 || name_len > PL_NAME_MAX)) {
        if (cmd->token != NULL) {
            /* With a token the name is ignored: drop, don't refuse. The
             * bytes stay in the block, which the token heads. */
            cmd->name = NULL;
            return PL_OK;
        }
        *why = "field 'name' must be 1-64 bytes";
        return PL_ERR_BAD_REQUEST;
    }
    return PL_OK;
}

static enum pl_err cmd_sub(struct cmd_scan *sc, struct pl_cmd *cmd,
                           const char **why)
{
    enum pl_err err;

    err = cmd_get_topic(sc, true, cmd, why);
    if (err == PL_OK)
        err = cmd_get_int(sc, F_SINCE, 0, PL_ID_MAX, false, true,
                          &cmd->has_since, &cmd->since, why);
    if (err == PL_OK)
        err = cmd_get_int(sc, F_HISTORY, 0, PL_ID_MAX, false, true,
                          &cmd->has_history, &cmd->history, why);
    if (err == PL_OK)
        err = cmd_get_bool(sc, F_PRESENCE, &cmd->presence, why);
    return err;
}

/* Optional "reply_to" (pub, edit): a seq, 1..2^53-1; 0 when absent. */
static enum pl_err cmd_get_reply_to(struct cmd_scan *sc, struct pl_cmd *cmd,
                                    const char **why)
{
    bool present = false;

    return cmd_get_int(sc, F_REPLY_TO, 1, PL_ID_MAX, false, false, &present,
                       &cmd->reply_to, why);
}

/* Required "seq" (edit, delete): the message acted on. */
static enum pl_err cmd_get_seq(struct cmd_scan *sc, struct pl_cmd *cmd,
                               const char **why)
{
    bool present = false;
    enum pl_err err = cmd_get_int(sc, F_SEQ, 1, PL_ID_MAX, false, false,
                                  &present, &cmd->seq, why);

    if (err == PL_OK && !present) {
        *why = cmd_msg_missing[F_SEQ];
        err = PL_ERR_BAD_REQUEST;
    }
    return err;
}

/* Required "data" (pub, edit), copied into the command's block. */
static enum pl_err cmd_require_data(struct cmd_scan *sc, struct pl_cmd *cmd,
                                    const char **why)
{
    if (sc->m[F_DATA].kind == JK_NONE) {
        *why = cmd_msg_missing[F_DATA];
        return PL_ERR_BAD_REQUEST;
    }
    if (cmd_get_data(sc, cmd) != PL_OK) {
        *why = "out of memory";
        return PL_ERR_INTERNAL;
    }
    return PL_OK;
}

static enum pl_err cmd_pub(struct cmd_scan *sc, struct pl_cmd *cmd,
                           const char **why)
{
    enum pl_err err;
    size_t key_len = 0;

    err = cmd_get_topic(sc, false, cmd, why);
    if (err != PL_OK)
        return err;
    if (sc->m[F_DATA].kind == JK_NONE) {
        *why = cmd_msg_missing[F_DATA];
        return PL_ERR_BAD_REQUEST;
    }
    err = cmd_get_bool(sc, F_RETAIN, &cmd->retain, why);
    if (err != PL_OK)
        return err;
    err = cmd_get_str(sc, F_KEY, false, PL_ERR_BAD_REQUEST,
                      "field 'key' must not contain U+0000", &cmd->key,
                      &key_len, why);
    if (err != PL_OK)
        return err;
    if (cmd->key != NULL && (key_len < 1 || key_len > PL_KEY_MAX)) {
        *why = "field 'key' must be 1-128 bytes";
        return PL_ERR_BAD_REQUEST;
    }
    err = cmd_get_reply_to(sc, cmd, why);
    if (err != PL_OK)
        return err;
    return cmd_require_data(sc, cmd, why);
}

/* edit: a concrete topic, the seq edited, the new data, maybe reply_to.
 * Who may edit what is the store's to judge (it knows the original). */
static enum pl_err cmd_edit(struct cmd_scan *sc, struct pl_cmd *cmd,
                            const char **why)
{
    enum pl_err err;

    err = cmd_get_topic(sc, false, cmd, why);
    if (err == PL_OK)
        err = cmd_get_seq(sc, cmd, why);
    if (err == PL_OK)
        err = cmd_get_reply_to(sc, cmd, why);
    if (err == PL_OK)
        err = cmd_require_data(sc, cmd, why);
    return err;
}

/* delete, mark: a concrete topic and a seq (delete: stored with data
 * null). */
static enum pl_err cmd_topic_seq(struct cmd_scan *sc, struct pl_cmd *cmd,
                                 const char **why)
{
    enum pl_err err;

    err = cmd_get_topic(sc, false, cmd, why);
    if (err == PL_OK)
        err = cmd_get_seq(sc, cmd, why);
    if (err == PL_OK && cmd->op == PL_OP_DELETE)
        cmd->data_is_null = true;
    return err;
}

static enum pl_err cmd_history(struct cmd_scan *sc, struct pl_cmd *cmd,
                               const char **why)
{
    enum pl_err err;
    bool has_limit = false;
    int64_t limit = PL_HISTORY_LIMIT_DEFAULT;

    err = cmd_get_topic(sc, false, cmd, why);
    if (err == PL_OK)
        err = cmd_get_int(sc, F_BEFORE, -PL_ID_MAX, PL_ID_MAX, true, true,
                          &cmd->has_before, &cmd->before, why);
    if (err == PL_OK)
        err = cmd_get_int(sc, F_LIMIT, 1, PL_HISTORY_LIMIT_MAX, false, true,
                          &has_limit, &limit, why);
    cmd->limit = (int)limit;
    return err;
}

/* search: a topic or pattern, the query q (its syntax is the store's to
 * read), limit 1..100 (default 20, more clamped), before (a ts). */
static enum pl_err cmd_search(struct cmd_scan *sc, struct pl_cmd *cmd,
                              const char **why)
{
    enum pl_err err;
    bool has_limit = false;
    int64_t limit = PL_SEARCH_LIMIT_DEFAULT;
    size_t q_len = 0;

    err = cmd_get_topic(sc, true, cmd, why);
    if (err == PL_OK)
        err = cmd_get_str(sc, F_Q, true, PL_ERR_BAD_REQUEST,
                          "field 'q' must not contain U+0000", &cmd->query,
                          &q_len, why);
    if (err == PL_OK && (q_len < 1 || q_len > PL_SEARCH_Q_MAX)) {
        *why = "field 'q' must be 1-256 bytes";
        err = PL_ERR_BAD_REQUEST;
    }
    if (err == PL_OK)
        err = cmd_get_int(sc, F_BEFORE, 0, PL_ID_MAX, false, true,
                          &cmd->has_before, &cmd->before, why);
    if (err == PL_OK)
        err = cmd_get_int(sc, F_LIMIT, 1, PL_SEARCH_LIMIT_MAX, false, true,
                          &has_limit, &limit, why);
    cmd->limit = (int)limit;
    return err;
}

static enum pl_err cmd_topics(struct cmd_scan *sc, struct pl_cmd *cmd,
                              const char **why)
{
    enum pl_err err;

    err = cmd_get_str(sc, F_PREFIX, false, PL_ERR_BAD_REQUEST,
                      "field 'prefix' must not contain U+0000", &cmd->topic,
                      &cmd->topic_len, why);
    if (err != PL_OK)
        return err;
    if (cmd->topic != NULL && cmd->topic_len > PL_TOPIC_MAX) {
        *why = "field 'prefix' must be at most 255 bytes";
        return PL_ERR_BAD_REQUEST;
    }
    return PL_OK;
}

static enum pl_err cmd_op_fields(struct cmd_scan *sc, struct pl_cmd *cmd,
                                 const char **why)
{
    switch (cmd->op) {
    case PL_OP_HELLO:
        return cmd_hello(sc, cmd, why);
    case PL_OP_SUB:
        return cmd_sub(sc, cmd, why);
    case PL_OP_UNSUB:
        return cmd_get_topic(sc, true, cmd, why);
    case PL_OP_PUB:
        return cmd_pub(sc, cmd, why);
    case PL_OP_HISTORY:
        return cmd_history(sc, cmd, why);
    case PL_OP_PRESENCE:
        return cmd_get_topic(sc, false, cmd, why);
    case PL_OP_PING:
        return PL_OK;
    case PL_OP_TOPICS:
        return cmd_topics(sc, cmd, why);
    case PL_OP_EDIT:
        return cmd_edit(sc, cmd, why);
    case PL_OP_DELETE:
    case PL_OP_MARK:
        return cmd_topic_seq(sc, cmd, why);
    case PL_OP_UNREAD:
        return cmd_get_topic(sc, true, cmd, why);
    case PL_OP_SEARCH:
        return cmd_search(sc, cmd, why);
    }
    *why = "unknown op";
    return PL_ERR_UNKNOWN_OP;
}

/* The op named by the decoded string o[0..n), or -1. */
static int cmd_op_find(const char *o, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(o, "pub", 3) == 0)
            return PL_OP_PUB;
        if (memcmp(o, "sub", 3) == 0)
            return PL_OP_SUB;
        return -1;
    case 4:
        if (memcmp(o, "edit", 4) == 0)
            return PL_OP_EDIT;
        if (memcmp(o, "mark", 4) == 0)
            return PL_OP_MARK;
        return memcmp(o, "ping", 4) == 0 ? PL_OP_PING : -1;
    case 5:
        if (memcmp(o, "hello", 5) == 0)
            return PL_OP_HELLO;
        if (memcmp(o, "unsub", 5) == 0)
            return PL_OP_UNSUB;
        return -1;
    case 6:
        if (memcmp(o, "delete", 6) == 0)
            return PL_OP_DELETE;
        if (memcmp(o, "unread", 6) == 0)
            return PL_OP_UNREAD;
        if (memcmp(o, "search", 6) == 0)
            return PL_OP_SEARCH;
        return memcmp(o, "topics", 6) == 0 ? PL_OP_TOPICS : -1;
    case 7:
        return memcmp(o, "history", 7) == 0 ? PL_OP_HISTORY : -1;
    case 8:
        return memcmp(o, "presence", 8) == 0 ? PL_OP_PRESENCE : -1;
    default:
        return -1;
    }
}

/* Reads `id` (when present) and `op` into cmd. */
static enum pl_err cmd_id_op(struct cmd_scan *sc, struct pl_cmd *cmd,
                             const char **why)
{
    const struct cmd_member *m = &sc->m[F_OP];
    bool has_id = false;
    int64_t id = 0;
    enum pl_err err;
    char buf[CMD_NAME_RAW_MAX];
    const char *op = NULL;
    size_t n;
    bool nul = false;
    int k;

    err = cmd_get_int(sc, F_ID, 1, PL_ID_MAX, false, false, &has_id, &id, why);
    if (err != PL_OK)
        return err;
    if (has_id)
        cmd->id = id; /* from here on, errors carry the id */

    if (m->kind == JK_NONE) {
        *why = cmd_msg_missing[F_OP];
        return PL_ERR_BAD_REQUEST;
    }
    if (m->kind != JK_STRING) {
        *why = cmd_msg_type[F_OP];
        return PL_ERR_BAD_REQUEST;
    }
    op = m->raw + 1;
    n = m->raw_len - 2;
    if (m->esc) {
        if (n > CMD_NAME_RAW_MAX)
            goto unknown; /* decodes to more than 8 bytes */
        n = json_unescape(op, n, buf, &nul);
        op = buf;
    }
    /* A decoded U+0000 makes the op unknown: no name holds one. */
    k = cmd_op_find(op, n);
    if (k >= 0) {
        cmd->op = (enum pl_op)k;
        return PL_OK;
    }

unknown:
    *why = "unknown op";
    return PL_ERR_UNKNOWN_OP;
}

/* The nesting limit for a requested one: <= 0 is the default, and it is
 * kept within CMD_DEPTH_MIN..CMD_DEPTH_MAX. */
static size_t cmd_depth_limit(int max_depth)
{
    if (max_depth <= 0)
        max_depth = PL_DEPTH_DEFAULT;
    if (max_depth < CMD_DEPTH_MIN)
        max_depth = CMD_DEPTH_MIN;
    if (max_depth > CMD_DEPTH_MAX)
        max_depth = CMD_DEPTH_MAX;
    return (size_t)max_depth;
}

/*
 * The shared body of pl_cmd_parse() and pl_cmd_parse_pub_body(): with
 * pub_body, `id` and `op` are not read and the fields are those of pub.
 */
static enum pl_err cmd_parse(const char *text, size_t len,
                             const struct pl_parse_opts *opts, bool pub_body,
                             struct pl_cmd *cmd, const char **why)
{
    struct cmd_scan sc;
    const char *dummy = NULL;
    enum pl_err err = PL_OK;

    if (why == NULL)
        why = &dummy;
    *why = NULL;
    memset(cmd, 0, sizeof(*cmd));
    /* Only the kinds need clearing: the rest of a member is written when
     * its kind is. */
    for (int f = 0; f < F__COUNT; f++)
        sc.m[f].kind = JK_NONE;
    sc.top = JK_NONE;
    sc.fields = 0;
    sc.block = NULL;
    sc.used = 0;
    sc.cap = 0;
    if (text == NULL)
        len = 0;

    switch (cmd_scan(&sc, text, len,
                     cmd_depth_limit(opts != NULL ? opts->max_depth : 0))) {
    case JSON_OK:
        break;
    case JSON_DEEP:
        *why = "JSON nested too deeply";
        return PL_ERR_BAD_REQUEST;
    case JSON_BAD:
        *why = "not valid JSON";
        return PL_ERR_BAD_JSON;
    }
    if (sc.top != JK_OBJECT) {
        *why = "the value must be a JSON object";
        return PL_ERR_BAD_REQUEST;
    }
    if (pub_body) {
        cmd->op = PL_OP_PUB;
        sc.fields = cmd_op_fields_kept[PL_OP_PUB];
        err = cmd_pub(&sc, cmd, why);
    } else {
        err = cmd_id_op(&sc, cmd, why);
        if (err == PL_OK) {
            sc.fields = cmd_op_fields_kept[cmd->op];
            err = cmd_op_fields(&sc, cmd, why);
        }
    }
    if (err != PL_OK) {
        int64_t id = cmd->id;

        free(sc.block);
        memset(cmd, 0, sizeof(*cmd));
        cmd->id = id;
    }
    return err;
}

/*
 * Parses one text frame text[0..len) (need not be NUL-terminated).
 * Returns PL_OK with *cmd filled (release with pl_cmd_cleanup()), or an
 * error with nothing to release, cmd->id set when a valid id was read,
 * and *why (if not NULL) a static message. Any thread.
 */
enum pl_err pl_cmd_parse(const char *text, size_t len,
                         const struct pl_parse_opts *opts,
                         struct pl_cmd *cmd, const char **why)
{
    return cmd_parse(text, len, opts, false, cmd, why);
}

/*
 * Parses the body of POST /api/publish ({"topic","data","retain","key"})
 * with exactly the rules of pub; `op` and `id` in the body are ignored.
 * On PL_OK cmd->op is PL_OP_PUB and cmd->id 0. Same ownership as
 * pl_cmd_parse().
 */
enum pl_err pl_cmd_parse_pub_body(const char *text, size_t len,
                                  const struct pl_parse_opts *opts,
                                  struct pl_cmd *cmd, const char **why)
{
    return cmd_parse(text, len, opts, true, cmd, why);
}

/* ------------------------------------------------------------------ */
/* JSON helpers for other front doors (MQTT payloads)                  */
/* ------------------------------------------------------------------ */

/*
 * True when text[0..len) is exactly one JSON value of any kind, by the
 * same strict scan as commands (RFC 8259, UTF-8, nothing after it),
 * nested at most max_depth deep (<= 0: the default; kept within
 * 32..1000). Allocates nothing.
 */
bool pl_json_valid(const char *text, size_t len, int max_depth)
{
    struct cmd_scan sc;

    for (int f = 0; f < F__COUNT; f++)
        sc.m[f].kind = JK_NONE;
    sc.top = JK_NONE;
    if (text == NULL)
        len = 0;
    return cmd_scan(&sc, text, len, cmd_depth_limit(max_depth)) == JSON_OK;
}

/*
 * Copies the valid JSON text in[0..n) to out (room for n bytes) without
 * the whitespace outside strings; returns the bytes written (no NUL).
 */
size_t pl_json_compact(const char *in, size_t n, char *out)
{
    size_t k = 0;
    bool in_str = false;

    for (size_t i = 0; i < n; i++) {
        char c = in[i];

        if (in_str) {
            out[k++] = c;
            if (c == '\\' && i + 1 < n)
                out[k++] = in[++i];
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (json_is_ws((unsigned char)c))
            continue;
        if (c == '"')
            in_str = true;
        out[k++] = c;
    }
    return k;
}

/*
 * The text of the valid JSON value in[0..n): every string that is a
 * value (object keys are not), decoded, in order, one space between them,
 * into out (room for n bytes: quotes become separators, escapes only
 * shrink). A decoded U+0000 becomes a space. Returns the length (no NUL
 * written); 0 when there is no string. For search indexing (#16).
 */
size_t pl_json_strings(const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t k = 0;
    size_t i = 0;

    while (i < n) {
        bool esc = false;
        bool nul = false;
        size_t end = 0;
        size_t ws = 0;
        size_t j = 0;

        if (s[i] != '"') {
            i++;
            continue;
        }
        end = json_string(s, n, i, &esc);
        if (end == 0)
            break; /* not valid after all: keep what was found */
        j = json_ws(s, n, end, &ws);
        if (j < n && s[j] == ':') {
            i = j + 1; /* a key */
            continue;
        }
        if (k > 0)
            out[k++] = ' ';
        if (esc) {
            size_t m = json_unescape(in + i + 1, end - i - 2, out + k, &nul);

            for (size_t z = 0; nul && z < m; z++)
                if (out[k + z] == '\0')
                    out[k + z] = ' ';
            k += m;
        } else {
            memcpy(out + k, in + i + 1, end - i - 2);
            k += end - i - 2;
        }
        i = end;
    }
    return k;
}

/*
 * Decodes the body in[0..n) (no quotes) of a valid JSON string into out
 * (room for n bytes); returns the decoded length and sets *nul when it
 * held a \u0000 escape.
 */
size_t pl_json_unescape(const char *in, size_t n, char *out, bool *nul)
{
    return json_unescape(in, n, out, nul);
}

/*
 * Frees what pl_cmd_parse() allocated and zeroes the struct. Safe on a
 * zeroed or already cleaned-up struct. All strings share one block laid
 * out as topic, token, name, key, data (search: topic, query), so the
 * first non-NULL of those is its start (a dropped name is never the
 * first).
 */
void pl_cmd_cleanup(struct pl_cmd *cmd)
{
    char *block = cmd->topic;

    if (block == NULL)
        block = cmd->token;
    if (block == NULL)
        block = cmd->name;
    if (block == NULL)
        block = cmd->key;
    if (block == NULL)
        block = cmd->data;
    if (block == NULL)
        block = cmd->query;
    free(block);
    memset(cmd, 0, sizeof(*cmd));
}
