/*
 * redis_url.h: the --redis flag, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB].
 *
 * The password travels in the URL's userinfo, percent-encoded where it
 * holds reserved characters (%40 for '@'). HOST may be a bracketed IPv6
 * address ([::1]). PORT defaults to 6379 and DB to 0.
 */
#ifndef PARLEY_REDIS_URL_H
#define PARLEY_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_DEFAULT_PORT 6379
/* Redis's own limit is its `databases` setting; this only keeps it sane. */
#define REDIS_URL_MAX_DB 9999

struct redis_url {
    char host[256]; /* without IPv6 brackets */
    int port;
    char user[128];     /* "" for none: AUTH with the password alone */
    char password[256]; /* "" for none: no AUTH */
    int db;
};

/* Parse text into *out. Returns 0, or -EINVAL with a one-line reason in
 * why (which is always written when why_n > 0). *out is written only on
 * success. */
int redis_url_parse(const char *text, struct redis_url *out, char *why,
                    size_t why_n);

#endif
