/*
 * cli.c: owns the small helpers every `parley` subcommand shares: the
 * common options' environment defaults, stderr messages, duration and
 * integer parsing, clocks, and typed access to fields of received frames.
 * No state of its own.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void cli_common_init(struct cli_common *co)
{
    const char *url = getenv("PARLEY_URL");
    const char *token = getenv("PARLEY_TOKEN");

    memset(co, 0, sizeof(*co));
    co->url = url != NULL && url[0] != '\0' ? url : CLI_URL_DEFAULT;
    co->token = token != NULL && token[0] != '\0' ? token : NULL;
}

bool cli_common_option(struct cli_common *co, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_NAME:
        co->name = arg;
        return true;
    case CLI_OPT_TOKEN:
        co->token = arg;
        return true;
    case 'k':
        co->insecure = true;
        return true;
    case 'v':
        co->verbose = true;
        return true;
    default:
        return false;
    }
}

bool cli_is_url(const char *s)
{
    return strstr(s, "://") != NULL;
}

void cli_err(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("parley: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v = 0;

    if (s == NULL || s[0] == '\0')
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int cli_parse_duration(const char *s, int64_t *secs)
{
    char *end = NULL;
    long long v = 0;
    int64_t mult = 1;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || v < 0)
        return -EINVAL;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60;
    else if (strcmp(end, "h") == 0)
        mult = 3600;
    else if (strcmp(end, "d") == 0)
        mult = 86400;
    else
        return -EINVAL;
    if (v > INT64_MAX / mult / 2)
        return -EINVAL;
    *secs = v * mult;
    return 0;
}

int64_t cli_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cli_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_json_int(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    double d = 0;

    if (!cJSON_IsNumber(v))
        return -ENOENT;
    d = v->valuedouble;
    if (d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
        return -ENOENT;
    *out = (int64_t)d;
    return 0;
}

const char *cli_json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool cli_json_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

const char *cli_error_text(const cJSON *frame, char *buf, size_t size)
{
    const char *code = cli_json_str(frame, "code");
    const char *msg = cli_json_str(frame, "message");

    snprintf(buf, size, "%s%s%s", code ? code : "error",
             msg && msg[0] ? ": " : "", msg ? msg : "");
    return buf;
}
