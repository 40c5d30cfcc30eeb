/*
 * cmd.c: owns the parsing of one client text frame into a typed struct
 * pl_cmd, with every rule of protocol-v1 "Frames" and "Commands".
 *
 * DESIGN: a frame goes through three gates, cheapest first.
 *   1. json_check(): a strict, iterative RFC 8259 validator over exactly
 *      `len` bytes: UTF-8, grammar, numbers, escapes, no raw control
 *      characters in strings, nothing after the value (-> bad_json). It
 *      also enforces the nesting limit as it goes (-> bad_request), with
 *      a bit stack instead of recursion, so hostile nesting never reaches
 *      cJSON's recursive parser. cJSON alone is more lenient ("01", "1.",
 *      raw tabs in strings).
 *   2. cJSON builds the tree; the top-level object's members are walked
 *      together with their raw text (cmd_fields()), so each known field
 *      has both its cJSON item and its exact source bytes.
 *   3. Per-op validation. Integers are read from their source text, so
 *      1.5, 1.0000000000000001 and 2^53 are judged exactly, and "3.0" or
 *      "1e2" count as the integers they are. `data` is kept as its source
 *      text minus insignificant whitespace: numbers keep every digit and
 *      "\u0000" inside strings survives (cJSON would truncate it).
 * Field order of checks: object, id, op, then the op's fields, so an error
 * found after a valid id carries it.
 *
 * No globals; any thread. cJSON allocates with the default allocator.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "topic.h"

#define CMD_DEPTH_MIN 32
#define CMD_DEPTH_MAX 1000 /* cJSON's own nesting limit */

static const char *const cmd_op_names[] = {
    [PL_OP_HELLO] = "hello",
    [PL_OP_SUB] = "sub",
    [PL_OP_UNSUB] = "unsub",
    [PL_OP_PUB] = "pub",
    [PL_OP_HISTORY] = "history",
    [PL_OP_PRESENCE] = "presence",
    [PL_OP_PING] = "ping",
    [PL_OP_TOPICS] = "topics",
};

#define CMD_N_OPS (sizeof(cmd_op_names) / sizeof(cmd_op_names[0]))

const char *pl_op_name(enum pl_op op)
{
    if ((unsigned)op >= CMD_N_OPS)
        return "?";
    return cmd_op_names[op];
}

/* ------------------------------------------------------------------ */
/* Depth guard and strict validation                                  */
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

static bool json_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t json_skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && json_is_ws(s[i]))
        i++;
    return i;
}

static int json_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at s[i..i+4); returns the value or -1. */
static long json_hex4(const char *s, size_t len, size_t i)
{
    long v = 0;

    if (i > len || len - i < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        int h = json_hex(s[i + k]);

        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Checks the string starting at s[i] == '"'. Returns the index after the
 * closing quote, or 0 when it is malformed (raw control character, bad
 * escape, unpaired UTF-16 surrogate escape, unterminated).
 */
static size_t json_check_string(const char *s, size_t len, size_t i)
{
    i++;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return 0;
        c = (unsigned char)s[i + 1];
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
        } else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
            i += 2;
        } else {
            return 0;
        }
    }
    return 0;
}

static bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Checks the RFC 8259 number at s[i]; returns the index after it or 0. */
static size_t json_check_number(const char *s, size_t len, size_t i)
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

/* Checks the literal word at s[i]; returns the index after it or 0. */
static size_t json_check_word(const char *s, size_t len, size_t i,
                              const char *word)
{
    size_t n = strlen(word);

    if (len - i < n || memcmp(s + i, word, n) != 0)
        return 0;
    return i + n;
}

enum json_verdict {
    JSON_OK,
    JSON_BAD,  /* not JSON */
    JSON_DEEP, /* nested deeper than the limit (checked as it is met) */
};

/*
 * Checks that s[0..len) is exactly one JSON value (RFC 8259) with optional
 * surrounding whitespace, in valid UTF-8, nested at most `limit` deep
 * (limit <= CMD_DEPTH_MAX). Iterative: one bit per open container
 * (1 = object), so hostile input cannot exhaust the stack.
 */
static enum json_verdict json_check(const char *s, size_t len, size_t limit)
{
    unsigned char stack[(CMD_DEPTH_MAX + 7) / 8] = {0};
    size_t depth = 0;
    size_t i;

    if (!pl_utf8_valid(s, len))
        return JSON_BAD;
    i = json_skip_ws(s, len, 0);

value:
    if (i >= len)
        return JSON_BAD;
    switch (s[i]) {
    case '{':
    case '[':
        if (depth >= limit)
            return JSON_DEEP;
        if (s[i] == '{')
            stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
        else
            stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
        depth++;
        i = json_skip_ws(s, len, i + 1);
        if (i < len && (s[i] == '}' || s[i] == ']')) {
            bool obj = s[i] == '}';

            if (obj != ((stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1))
                return JSON_BAD;
            depth--;
            i++;
            goto after;
        }
        if ((stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1)
            goto key;
        goto value;
    case '"':
        i = json_check_string(s, len, i);
        break;
    case 't':
        i = json_check_word(s, len, i, "true");
        break;
    case 'f':
        i = json_check_word(s, len, i, "false");
        break;
    case 'n':
        i = json_check_word(s, len, i, "null");
        break;
    default:
        i = json_check_number(s, len, i);
        break;
    }
    if (i == 0)
        return JSON_BAD;

after:
    i = json_skip_ws(s, len, i);
    if (depth == 0)
        return i == len ? JSON_OK : JSON_BAD;
    if (i >= len)
        return JSON_BAD;
    {
        bool obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;

        if (s[i] == ',') {
            i = json_skip_ws(s, len, i + 1);
            if (obj)
                goto key;
            goto value;
        }
        if (s[i] == (obj ? '}' : ']')) {
            depth--;
            i++;
            goto after;
        }
        return JSON_BAD;
    }

key:
    if (i >= len || s[i] != '"')
        return JSON_BAD;
    i = json_check_string(s, len, i);
    if (i == 0)
        return JSON_BAD;
    i = json_skip_ws(s, len, i);
    if (i >= len || s[i] != ':')
        return JSON_BAD;
    i = json_skip_ws(s, len, i + 1);
    goto value;
}

/* ------------------------------------------------------------------ */
/* Raw members of the (already validated) top-level object            */
/* ------------------------------------------------------------------ */

/* Index after the string starting at s[i] == '"' (validated text). */
static size_t raw_skip_string(const char *s, size_t len, size_t i)
{
    i++;
    while (i < len && s[i] != '"') {
        if (s[i] == '\\')
            i++;
        i++;
    }
    return i + 1;
}

/* Index after the value starting at s[i] (validated text). */
static size_t raw_skip_value(const char *s, size_t len, size_t i)
{
    size_t depth = 0;

    if (s[i] == '"')
        return raw_skip_string(s, len, i);
    if (s[i] != '{' && s[i] != '[') {
        while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
               !json_is_ws(s[i]))
            i++;
        return i;
    }
    while (i < len) {
        char c = s[i];

        if (c == '"') {
            i = raw_skip_string(s, len, i);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        i++;
        if (depth == 0)
            break;
    }
    return i;
}

/* True when the raw string s[0..len) (quotes included) holds a \u0000
 * escape, which cJSON would decode into a truncating NUL. */
static bool raw_has_nul(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 6 <= len &&
            memcmp(s + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character */
    }
    return false;
}

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
    F__COUNT
};

static const char *const cmd_field_names[F__COUNT] = {
    [F_OP] = "op", [F_ID] = "id", [F_TOPIC] = "topic", [F_NAME] = "name",
    [F_TOKEN] = "token", [F_SINCE] = "since", [F_HISTORY] = "history",
    [F_PRESENCE] = "presence", [F_DATA] = "data", [F_RETAIN] = "retain",
    [F_KEY] = "key", [F_BEFORE] = "before", [F_LIMIT] = "limit",
    [F_PREFIX] = "prefix",
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
};

/* One known member: its cJSON item and its exact source text. */
struct cmd_member {
    const cJSON *item;
    const char *raw;
    size_t raw_len;
};

/*
 * Walks the members of the top-level object in root (parsed from the
 * validated text s[0..len)) together with their source text, and records
 * the first occurrence of every known field. A key holding \u0000 is never
 * a known field. Returns false if cJSON and the text disagree (never for
 * validated text).
 */
static bool cmd_fields(const cJSON *root, const char *s, size_t len,
                       struct cmd_member *m)
{
    const cJSON *child = NULL;
    size_t i = json_skip_ws(s, len, 0);

    memset(m, 0, sizeof(*m) * F__COUNT);
    if (i >= len || s[i] != '{')
        return false;
    i++;
    for (child = root->child; child != NULL; child = child->next) {
        size_t k0, k1, v0, v1;

        i = json_skip_ws(s, len, i);
        if (i < len && s[i] == ',')
            i = json_skip_ws(s, len, i + 1);
        if (i >= len || s[i] != '"')
            return false;
        k0 = i;
        k1 = raw_skip_string(s, len, i);
        i = json_skip_ws(s, len, k1);
        if (i >= len || s[i] != ':')
            return false;
        v0 = json_skip_ws(s, len, i + 1);
        if (v0 >= len)
            return false;
        v1 = raw_skip_value(s, len, v0);
        i = v1;
        if (child->string == NULL || raw_has_nul(s + k0, k1 - k0))
            continue;
        for (int f = 0; f < F__COUNT; f++) {
            if (m[f].item == NULL &&
                strcmp(child->string, cmd_field_names[f]) == 0) {
                m[f].item = child;
                m[f].raw = s + v0;
                m[f].raw_len = v1 - v0;
                break;
            }
        }
    }
    return true;
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

    if (i < len && s[i] == '-') {
        neg = true;
        i++;
    }
    for (; i < len && json_is_digit(s[i]); i++) {
        if (nd == 0 && s[i] == '0')
            continue;
        if (nd < sizeof(digits))
            digits[nd++] = s[i];
        else
            exp10++; /* more than 24 significant digits: huge anyway */
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && json_is_digit(s[i]); i++) {
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
        for (; i < len && json_is_digit(s[i]); i++) {
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
static enum pl_err cmd_get_int(const struct cmd_member *m, enum cmd_field f,
                               int64_t lo, int64_t hi, bool clamp_lo,
                               bool clamp_hi, bool *present, int64_t *out,
                               const char **why)
{
    int64_t v = 0;
    enum cmd_num kind;

    *present = false;
    if (m[f].item == NULL)
        return PL_OK;
    if (!cJSON_IsNumber(m[f].item))
        goto bad;
    kind = cmd_number(m[f].raw, m[f].raw_len, &v);
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

static enum pl_err cmd_get_bool(const struct cmd_member *m, enum cmd_field f,
                                bool *out, const char **why)
{
    if (m[f].item == NULL)
        return PL_OK;
    if (!cJSON_IsBool(m[f].item)) {
        *why = cmd_msg_type[f];
        return PL_ERR_BAD_REQUEST;
    }
    *out = cJSON_IsTrue(m[f].item);
    return PL_OK;
}

/*
 * Reads string field f into a fresh copy (*out, owned by the caller) when
 * present; absent and not required leaves *out NULL. A string holding
 * U+0000 is refused with nul_err (it can be neither a topic nor a name).
 * Lengths are checked by the callers.
 */
static enum pl_err cmd_get_str(const struct cmd_member *m, enum cmd_field f,
                               bool required, enum pl_err nul_err,
                               const char *nul_why, char **out,
                               size_t *out_len, const char **why)
{
    size_t n;

    *out = NULL;
    if (m[f].item == NULL) {
        if (!required)
            return PL_OK;
        *why = cmd_msg_missing[f];
        return PL_ERR_BAD_REQUEST;
    }
    if (!cJSON_IsString(m[f].item) || m[f].item->valuestring == NULL) {
        *why = cmd_msg_type[f];
        return PL_ERR_BAD_REQUEST;
    }
    if (raw_has_nul(m[f].raw, m[f].raw_len)) {
        *why = nul_why;
        return nul_err;
    }
    n = strlen(m[f].item->valuestring);
    *out = malloc(n + 1);
    if (*out == NULL) {
        *why = "out of memory";
        return PL_ERR_INTERNAL;
    }
    memcpy(*out, m[f].item->valuestring, n + 1);
    if (out_len != NULL)
        *out_len = n;
    return PL_OK;
}

/*
 * Reads the required `topic` field into cmd->topic and validates it as a
 * pattern (wildcards true) or a concrete topic.
 */
static enum pl_err cmd_get_topic(const struct cmd_member *m, bool wildcards,
                                 struct pl_cmd *cmd, const char **why)
{
    enum pl_err err;

    err = cmd_get_str(m, F_TOPIC, true, PL_ERR_INVALID_TOPIC,
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
 * Copies the validated JSON value raw[0..n) into *out without
 * insignificant whitespace. The copy is NUL-terminated and owned by the
 * caller.
 */
static enum pl_err cmd_compact(const char *raw, size_t n, char **out,
                               size_t *out_len)
{
    char *w = malloc(n + 1);
    size_t k = 0;
    bool in_str = false;

    *out = w;
    if (w == NULL)
        return PL_ERR_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];

        if (in_str) {
            w[k++] = c;
            if (c == '\\') {
                w[k++] = raw[++i];
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (json_is_ws(c))
            continue;
        if (c == '"')
            in_str = true;
        w[k++] = c;
    }
    w[k] = '\0';
    *out_len = k;
    return PL_OK;
}

/* ------------------------------------------------------------------ */
/* Per-op validation                                                  */
/* ------------------------------------------------------------------ */

static enum pl_err cmd_hello(const struct cmd_member *m, struct pl_cmd *cmd,
                             const char **why)
{
    enum pl_err err;
    size_t name_len = 0;

    err = cmd_get_str(m, F_TOKEN, false, PL_ERR_BAD_REQUEST,
                      "field 'token' must not contain U+0000", &cmd->token,
                      NULL, why);
    if (err != PL_OK)
        return err;
    err = cmd_get_str(m, F_NAME, false, PL_ERR_BAD_REQUEST,
                      "field 'name' must not contain U+0000", &cmd->name,
                      &name_len, why);
    if (err != PL_OK)
        return err;
    if (cmd->name != NULL && (name_len < 1 || name_len > PL_NAME_MAX)) {
        if (cmd->token != NULL) {
            /* With a token the name is ignored: drop, don't refuse. */
            free(cmd->name);
            cmd->name = NULL;
            return PL_OK;
        }
        *why = "field 'name' must be 1-64 bytes";
        return PL_ERR_BAD_REQUEST;
    }
    return PL_OK;
}

static enum pl_err cmd_sub(const struct cmd_member *m, struct pl_cmd *cmd,
                           const char **why)
{
    enum pl_err err;

    err = cmd_get_topic(m, true, cmd, why);
    if (err == PL_OK)
        err = cmd_get_int(m, F_SINCE, 0, PL_ID_MAX, false, true,
                          &cmd->has_since, &cmd->since, why);
    if (err == PL_OK)
        err = cmd_get_int(m, F_HISTORY, 0, PL_ID_MAX, false, true,
                          &cmd->has_history, &cmd->history, why);
    if (err == PL_OK)
        err = cmd_get_bool(m, F_PRESENCE, &cmd->presence, why);
    return err;
}

static enum pl_err cmd_pub(const struct cmd_member *m, struct pl_cmd *cmd,
                           const char **why)
{
    enum pl_err err;
    size_t key_len = 0;

    err = cmd_get_topic(m, false, cmd, why);
    if (err != PL_OK)
        return err;
    if (m[F_DATA].item == NULL) {
        *why = cmd_msg_missing[F_DATA];
        return PL_ERR_BAD_REQUEST;
    }
    err = cmd_get_bool(m, F_RETAIN, &cmd->retain, why);
    if (err != PL_OK)
        return err;
    err = cmd_get_str(m, F_KEY, false, PL_ERR_BAD_REQUEST,
                      "field 'key' must not contain U+0000", &cmd->key,
                      &key_len, why);
    if (err != PL_OK)
        return err;
    if (cmd->key != NULL && (key_len < 1 || key_len > PL_KEY_MAX)) {
        *why = "field 'key' must be 1-128 bytes";
        return PL_ERR_BAD_REQUEST;
    }
    if (cmd_compact(m[F_DATA].raw, m[F_DATA].raw_len, &cmd->data,
                    &cmd->data_len) != PL_OK) {
        *why = "out of memory";
        return PL_ERR_INTERNAL;
    }
    cmd->data_is_null = cJSON_IsNull(m[F_DATA].item);
    return PL_OK;
}

static enum pl_err cmd_history(const struct cmd_member *m, struct pl_cmd *cmd,
                               const char **why)
{
    enum pl_err err;
    bool has_limit = false;
    int64_t limit = PL_HISTORY_LIMIT_DEFAULT;

    err = cmd_get_topic(m, false, cmd, why);
    if (err == PL_OK)
        err = cmd_get_int(m, F_BEFORE, -PL_ID_MAX, PL_ID_MAX, true, true,
                          &cmd->has_before, &cmd->before, why);
    if (err == PL_OK)
        err = cmd_get_int(m, F_LIMIT, 1, PL_HISTORY_LIMIT_MAX, false, true,
                          &has_limit, &limit, why);
    cmd->limit = (int)limit;
    return err;
}

static enum pl_err cmd_topics(const struct cmd_member *m, struct pl_cmd *cmd,
                              const char **why)
{
    enum pl_err err;

    err = cmd_get_str(m, F_PREFIX, false, PL_ERR_BAD_REQUEST,
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

static enum pl_err cmd_op_fields(const struct cmd_member *m,
                                 struct pl_cmd *cmd, const char **why)
{
    switch (cmd->op) {
    case PL_OP_HELLO:
        return cmd_hello(m, cmd, why);
    case PL_OP_SUB:
        return cmd_sub(m, cmd, why);
    case PL_OP_UNSUB:
        return cmd_get_topic(m, true, cmd, why);
    case PL_OP_PUB:
        return cmd_pub(m, cmd, why);
    case PL_OP_HISTORY:
        return cmd_history(m, cmd, why);
    case PL_OP_PRESENCE:
        return cmd_get_topic(m, false, cmd, why);
    case PL_OP_PING:
        return PL_OK;
    case PL_OP_TOPICS:
        return cmd_topics(m, cmd, why);
    }
    *why = "unknown op";
    return PL_ERR_UNKNOWN_OP;
}

/* Reads `id` (when present) and `op` into cmd. */
static enum pl_err cmd_id_op(const struct cmd_member *m, struct pl_cmd *cmd,
                             const char **why)
{
    bool has_id = false;
    int64_t id = 0;
    enum pl_err err;
    const char *op = NULL;

    err = cmd_get_int(m, F_ID, 1, PL_ID_MAX, false, false, &has_id, &id, why);
    if (err != PL_OK)
        return err;
    if (has_id)
        cmd->id = id; /* from here on, errors carry the id */

    if (m[F_OP].item == NULL) {
        *why = cmd_msg_missing[F_OP];
        return PL_ERR_BAD_REQUEST;
    }
    if (!cJSON_IsString(m[F_OP].item) || m[F_OP].item->valuestring == NULL) {
        *why = cmd_msg_type[F_OP];
        return PL_ERR_BAD_REQUEST;
    }
    op = m[F_OP].item->valuestring;
    if (!raw_has_nul(m[F_OP].raw, m[F_OP].raw_len)) {
        for (size_t k = 0; k < CMD_N_OPS; k++) {
            if (strcmp(op, cmd_op_names[k]) == 0) {
                cmd->op = (enum pl_op)k;
                return PL_OK;
            }
        }
    }
    *why = "unknown op";
    return PL_ERR_UNKNOWN_OP;
}

/*
 * The shared body of pl_cmd_parse() and pl_cmd_parse_pub_body(): with
 * pub_body, `id` and `op` are not read and the fields are those of pub.
 */
static enum pl_err cmd_parse(const char *text, size_t len,
                             const struct pl_parse_opts *opts, bool pub_body,
                             struct pl_cmd *cmd, const char **why)
{
    struct cmd_member m[F__COUNT];
    cJSON *root = NULL;
    const char *dummy = NULL;
    enum pl_err err = PL_OK;
    int limit = PL_DEPTH_DEFAULT;

    if (why == NULL)
        why = &dummy;
    *why = NULL;
    memset(cmd, 0, sizeof(*cmd));
    if (opts != NULL && opts->max_depth > 0)
        limit = opts->max_depth;
    if (limit < CMD_DEPTH_MIN)
        limit = CMD_DEPTH_MIN;
    if (limit > CMD_DEPTH_MAX)
        limit = CMD_DEPTH_MAX;
    if (text == NULL)
        len = 0;

    /* One pass checks both the syntax and the depth, without recursion
     * (pl_json_depth() is the same depth rule for callers that only
     * want that). cJSON only ever sees text that passed. */
    switch (json_check(text, len, (size_t)limit)) {
    case JSON_OK:
        break;
    case JSON_DEEP:
        *why = "JSON nested too deeply";
        return PL_ERR_BAD_REQUEST;
    case JSON_BAD:
        *why = "not valid JSON";
        return PL_ERR_BAD_JSON;
    }
    root = cJSON_ParseWithLength(text, len);
    if (root == NULL) {
        /* Valid JSON that cJSON cannot hold: out of memory, or a number
         * longer than cJSON reads. */
        *why = "JSON could not be parsed";
        return PL_ERR_BAD_JSON;
    }
    if (!cJSON_IsObject(root)) {
        *why = "the value must be a JSON object";
        err = PL_ERR_BAD_REQUEST;
        goto out;
    }
    if (!cmd_fields(root, text, len, m)) {
        *why = "internal parser error";
        err = PL_ERR_INTERNAL;
        goto out;
    }
    if (pub_body) {
        cmd->op = PL_OP_PUB;
        err = cmd_pub(m, cmd, why);
    } else {
        err = cmd_id_op(m, cmd, why);
        if (err == PL_OK)
            err = cmd_op_fields(m, cmd, why);
    }

out:
    cJSON_Delete(root);
    if (err != PL_OK) {
        int64_t id = cmd->id;

        pl_cmd_cleanup(cmd);
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

/* Frees what pl_cmd_parse() allocated and zeroes the struct. Safe on a
 * zeroed or already cleaned-up struct. */
void pl_cmd_cleanup(struct pl_cmd *cmd)
{
    free(cmd->topic);
    free(cmd->name);
    free(cmd->token);
    free(cmd->data);
    free(cmd->key);
    memset(cmd, 0, sizeof(*cmd));
}
