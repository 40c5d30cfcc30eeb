/*
 * log.c: the process's single logger. One line per call, written with one
 * fprintf so lines from the store thread never interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level log_level = LOG_NOTICE;
static const char *const log_names[] = { "error", "warn", "notice", "info",
                                         "debug" };

int log_level_parse(const char *s)
{
    int i;

    for (i = 0; i <= LOG_DEBUG; i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    char stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (level > log_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03dZ %s %s\n", stamp, (int)(tv.tv_usec / 1000),
            log_names[level], line);
}
