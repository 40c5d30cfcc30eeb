/*
 * redis_url.c: owns the parsing of the --redis URL into host, port,
 * credentials and database number. Strict on purpose: a typo in a cluster's
 * address must stop the node at start, not send it to another Redis.
 */
#include "redis_url.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(char *why, size_t why_n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_n, const char *fmt, ...)
{
    va_list ap;

    if (why_n > 0) {
        va_start(ap, fmt);
        vsnprintf(why, why_n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode src[0..n) into dst (size dst_n, NUL-terminated). Returns
 * 0, or -1 on a bad escape, a decoded NUL, or when it does not fit. */
static int decode(const char *src, size_t n, char *dst, size_t dst_n)
{
    size_t i = 0;
    size_t o = 0;

    while (i < n) {
        char c = src[i];

        if (c == '%') {
            int hi = -1;
            int lo = -1;

            if (i + 2 >= n)
                return -1;
            hi = hexval(src[i + 1]);
            lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 3;
        } else {
            i++;
        }
        if (o + 1 >= dst_n)
            return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

/* Parse the decimal number s[0..n) into *out within [lo, hi]. */
static bool number(const char *s, size_t n, long lo, long hi, int *out)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 6)
        return false;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static bool host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int redis_url_parse(const char *text, struct redis_url *out, char *why,
                    size_t why_n)
{
    static const char scheme[] = "redis://";
    struct redis_url u;
    const char *p = NULL;
    const char *end = NULL;
    const char *at = NULL;
    const char *slash = NULL;
    const char *hp_end = NULL;
    const char *port_s = NULL;
    size_t i;

    memset(&u, 0, sizeof(u));
    u.port = REDIS_URL_DEFAULT_PORT;
    if (why_n > 0)
        why[0] = '\0';
    if (text == NULL || strncmp(text, scheme, sizeof(scheme) - 1) != 0)
        return fail(why, why_n, "the Redis URL must start with redis://");
    p = text + sizeof(scheme) - 1;
    end = p + strlen(p);
    if (strpbrk(p, "?#") != NULL)
        return fail(why, why_n, "the Redis URL takes no query or fragment");

    /* The userinfo ends at the last '@' before the path. */
    slash = strchr(p, '/');
    hp_end = slash != NULL ? slash : end;
    for (i = 0; p + i < hp_end; i++)
        if (p[i] == '@')
            at = p + i;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        if (colon == NULL)
            return fail(why, why_n,
                        "write the password as redis://:PASSWORD@HOST"
                        " (or USER:PASSWORD@)");
        if (decode(p, (size_t)(colon - p), u.user, sizeof(u.user)) < 0 ||
            decode(colon + 1, (size_t)(at - colon - 1), u.password,
                   sizeof(u.password)) < 0)
            return fail(why, why_n,
                        "bad user or password in the Redis URL"
                        " (too long, or a bad %%XX escape)");
        if (u.password[0] == '\0')
            return fail(why, why_n, "empty password in the Redis URL");
        p = at + 1;
    }

    /* Host: a name, an IPv4 address or a bracketed IPv6 address. */
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(hp_end - p));
        size_t n = close != NULL ? (size_t)(close - p - 1) : 0;

        if (close == NULL || n == 0 || n >= sizeof(u.host))
            return fail(why, why_n, "bad IPv6 host in the Redis URL");
        for (i = 0; i < n; i++)
            if (!isxdigit((unsigned char)p[1 + i]) && p[1 + i] != ':' &&
                p[1 + i] != '.')
                return fail(why, why_n, "bad IPv6 host in the Redis URL");
        memcpy(u.host, p + 1, n);
        p = close + 1;
        if (p < hp_end && *p != ':')
            return fail(why, why_n, "bad text after the host in the Redis URL");
    } else {
        const char *colon = memchr(p, ':', (size_t)(hp_end - p));
        const char *h_end = colon != NULL ? colon : hp_end;
        size_t n = (size_t)(h_end - p);

        if (n == 0 || n >= sizeof(u.host))
            return fail(why, why_n, "the Redis URL needs a host");
        for (i = 0; i < n; i++)
            if (!host_char_ok(p[i]))
                return fail(why, why_n,
                            "bad character in the Redis URL's host");
        memcpy(u.host, p, n);
        p = h_end;
    }
    if (p < hp_end) {
        port_s = p + 1;
        if (!number(port_s, (size_t)(hp_end - port_s), 1, 65535, &u.port))
            return fail(why, why_n, "the Redis URL's port must be 1 to 65535");
    }

    if (slash != NULL && slash + 1 < end &&
        !number(slash + 1, (size_t)(end - slash - 1), 0, REDIS_URL_MAX_DB,
                &u.db))
        return fail(why, why_n,
                    "the Redis URL's database must be a number"
                    " from 0 to %d",
                    REDIS_URL_MAX_DB);
    *out = u;
    return 0;
}
