/*
 * log.c: the process's single logger. One line per call, written with one
 * fputs so lines from the store thread never interleave mid-line. The
 * line is made by log_format_line: readable text, or a JSON object whose
 * fields (time, level, event, conn, user, topic, msg) a log shipper can
 * index without parsing our prose.
 */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static _Atomic int log_level = LOG_NOTICE;
static _Atomic int log_format = LOG_FORMAT_TEXT;
static const char *const log_names[] = { "error", "warn", "notice", "info",
                                         "debug" };
static const char *const format_names[] = { "text", "json" };

/* The index of s in names[0..n), or -1. */
static int name_index(const char *const *names, int n, const char *s)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int log_level_parse(const char *s)
{
    return name_index(log_names, LOG_DEBUG + 1, s);
}

int log_format_parse(const char *s)
{
    return name_index(format_names, LOG_FORMAT_JSON + 1, s);
}

const char *log_level_name(enum log_level level)
{
    return log_names[level];
}

const char *log_format_name(enum log_format format)
{
    return format_names[format];
}

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&log_level);
}

void log_set_format(enum log_format format)
{
    atomic_store(&log_format, (int)format);
}

enum log_format log_get_format(void)
{
    return (enum log_format)atomic_load(&log_format);
}

/* A bounded writer into a caller's buffer: what does not fit is dropped,
 * and the buffer stays NUL-terminated. */
struct line {
    char *p;
    size_t len, cap;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + 1 >= l->cap)
        return;
    if (n > l->cap - 1 - l->len)
        n = l->cap - 1 - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
    l->p[l->len] = '\0';
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* s (its first max bytes) as a JSON string, quotes included. Control
 * characters are escaped; other bytes pass as they are (our messages are
 * UTF-8). */
static void put_json_string(struct line *l, const char *s, size_t max)
{
    const char *end = s + strnlen(s, max);
    char esc[8];

    put(l, "\"", 1);
    for (; s < end; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(l, esc, 2);
        } else if (ch == '\n') {
            put(l, "\\n", 2);
        } else if (ch == '\t') {
            put(l, "\\t", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put(l, esc, 6);
        } else {
            put(l, s, 1);
        }
    }
    put(l, "\"", 1);
}

/* ,"key":"value" when value is set. */
static void put_json_field(struct line *l, const char *key, const char *value,
                           size_t max)
{
    if (value == NULL)
        return;
    put(l, ",\"", 2);
    puts_(l, key);
    put(l, "\":", 2);
    put_json_string(l, value, max);
}

size_t log_format_line(char *out, size_t cap, enum log_format format,
                       enum log_level level, int64_t sec, int usec,
                       const struct log_ctx *ctx, const char *msg)
{
    struct line l = { out, 0, cap };
    char stamp[48];
    char num[32];
    time_t t = (time_t)sec;
    struct tm tm;
    size_t n = 0;

    if (cap == 0)
        return 0;
    out[0] = '\0';
    gmtime_r(&t, &tm);
    n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ", usec / 1000);
    if (format == LOG_FORMAT_TEXT) {
        puts_(&l, stamp);
        put(&l, " ", 1);
        puts_(&l, log_names[level]);
        put(&l, " ", 1);
        puts_(&l, msg);
        put(&l, "\n", 1);
        return l.len;
    }
    puts_(&l, "{\"time\":\"");
    puts_(&l, stamp);
    puts_(&l, "\",\"level\":\"");
    puts_(&l, log_names[level]);
    put(&l, "\"", 1);
    if (ctx != NULL) {
        put_json_field(&l, "event", ctx->event, LOG_FIELD_MAX);
        if (ctx->conn != 0) {
            snprintf(num, sizeof(num), ",\"conn\":%" PRIu64, ctx->conn);
            puts_(&l, num);
        }
        put_json_field(&l, "user", ctx->user, LOG_FIELD_MAX);
        put_json_field(&l, "topic", ctx->topic, LOG_FIELD_MAX);
    }
    put_json_field(&l, "msg", msg, LOG_MSG_MAX);
    put(&l, "}\n", 2);
    return l.len;
}

static void log_emit(enum log_level level, const struct log_ctx *ctx,
                     const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX + 1];
    char line[LOG_LINE_MAX];
    struct timeval tv;

    gettimeofday(&tv, NULL);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_format_line(line, sizeof(line), log_get_format(), level,
                    (int64_t)tv.tv_sec, (int)tv.tv_usec, ctx, msg);
    fputs(line, stderr);
}

void log_at(enum log_level level, const struct log_ctx *ctx,
            const char *fmt, ...)
{
    va_list ap;

    if ((int)level > atomic_load(&log_level))
        return;
    va_start(ap, fmt);
    log_emit(level, ctx, fmt, ap);
    va_end(ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level > atomic_load(&log_level))
        return;
    va_start(ap, fmt);
    log_emit(level, NULL, fmt, ap);
    va_end(ap);
}
