/*
 * log.h: the process's log lines on stderr, one per call, either readable
 * text ("2026-11-26T05:40:00.123Z notice listening on ...", the default)
 * or one JSON object per line for log shippers (--log-format json).
 * libwebsockets' own lines are routed here too.
 */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_ERROR,
    LOG_WARN,
    LOG_NOTICE,
    LOG_INFO,
    LOG_DEBUG,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/* What a line is about, for the JSON format's fields: each member is
 * optional (NULL or 0: left out). Text lines carry only the message, which
 * already names these in words. */
struct log_ctx {
    const char *event;   /* a stable name to filter on: "slow_consumer" */
    uint64_t conn;       /* connection id */
    const char *user;
    const char *topic;
};

/* Parse "error", "warn", "notice", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);
/* Parse "text" or "json"; -1 if unknown. */
int log_format_parse(const char *s);
/* The level's and the format's names ("notice", "json"). */
const char *log_level_name(enum log_level level);
const char *log_format_name(enum log_format format);

/* Level and format may change while other threads log (SIGHUP reload):
 * they are atomics. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_format(enum log_format format);
enum log_format log_get_format(void);

/* Bytes of a message, and of each log_ctx string, a line keeps. */
#define LOG_MSG_MAX 1023
#define LOG_FIELD_MAX 256
/* Room for any line: every byte escaped as \u00XX, plus the keys. */
#define LOG_LINE_MAX ((LOG_MSG_MAX + 3 * LOG_FIELD_MAX) * 6 + 256)

/* Write one line into out (cap bytes, always NUL-terminated; whole, ending
 * in '\n', when cap >= LOG_LINE_MAX) for msg at (sec, usec) since the
 * epoch: log_at's formatting, apart for the tests. Returns strlen(out). */
size_t log_format_line(char *out, size_t cap, enum log_format format,
                       enum log_level level, int64_t sec, int usec,
                       const struct log_ctx *ctx, const char *msg);

/* Log a line about ctx (may be NULL) when level is enabled. */
void log_at(enum log_level level, const struct log_ctx *ctx,
            const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
