/*
 * log.h: readable log lines on stderr: "2026-11-26T05:40:00.123Z notice
 * listening on ...". libwebsockets' own lines are routed here too.
 */
#ifndef PL_LOG_H
#define PL_LOG_H

enum log_level {
    LOG_ERROR,
    LOG_WARN,
    LOG_NOTICE,
    LOG_INFO,
    LOG_DEBUG,
};

/* Parse "error", "warn", "notice", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
