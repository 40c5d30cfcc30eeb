/*
 * redis_preflight.c: owns the node's one synchronous conversation with
 * Redis at start-up, so that every reason to refuse to start is found
 * before a client connects, and said in words an operator can act on.
 */
#include "redis_preflight.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "redis_layout.h"

/* Run argv; returns the reply (caller frees) or NULL with why written. */
static redisReply *ask(redisContext *c, int argc, const char **argv, char *why,
                       size_t why_n)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);

    if (r == NULL)
        snprintf(why, why_n, "Redis stopped answering during %s: %s", argv[0],
                 c->errstr[0] != '\0' ? c->errstr : "no reply");
    return r;
}

static int authenticate(redisContext *c, const struct redis_url *u, char *why,
                        size_t why_n)
{
    const char *argv[3] = {"AUTH", u->user, u->password};
    redisReply *r = NULL;
    int rc = 0;

    if (u->password[0] == '\0')
        return 0;
    if (u->user[0] == '\0')
        argv[1] = u->password;
    r = ask(c, u->user[0] == '\0' ? 2 : 3, argv, why, why_n);
    if (r == NULL)
        return -EIO;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_n, "Redis refused the password in --redis: %s",
                 r->str);
        rc = -EACCES;
    }
    freeReplyObject(r);
    return rc;
}

static int select_db(redisContext *c, const struct redis_url *u, char *why,
                     size_t why_n)
{
    char db[16];
    const char *argv[2] = {"SELECT", db};
    redisReply *r = NULL;
    int rc = 0;

    if (u->db == 0)
        return 0;
    snprintf(db, sizeof(db), "%d", u->db);
    r = ask(c, 2, argv, why, why_n);
    if (r == NULL)
        return -EIO;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_n,
                 "Redis has no database %d (--redis .../%d):"
                 " %s",
                 u->db, u->db, r->str);
        rc = -EINVAL;
    }
    freeReplyObject(r);
    return rc;
}

/* Redis Functions arrived in 7.0. INFO server holds redis_version:X.Y.Z. */
static int check_version(redisContext *c, char *why, size_t why_n)
{
    const char *argv[2] = {"INFO", "server"};
    redisReply *r = ask(c, 2, argv, why, why_n);
    const char *v = NULL;
    int major = 0;
    int rc = 0;

    if (r == NULL)
        return -EIO;
    if (r->type == REDIS_REPLY_ERROR) {
        /* NOAUTH and ACL refusals land here first. */
        snprintf(why, why_n, "Redis refused INFO: %s%s", r->str,
                 strncasecmp(r->str, "NOAUTH", 6) == 0
                     ? " (put the password in --redis: redis://:PASSWORD@HOST)"
                     : "");
        rc = strncasecmp(r->str, "NOAUTH", 6) == 0 ? -EACCES : -EIO;
    } else if (r->type == REDIS_REPLY_STRING &&
               (v = strstr(r->str, "redis_version:")) != NULL) {
        major = atoi(v + strlen("redis_version:"));
        if (major < 7) {
            snprintf(why, why_n,
                     "Redis %d is too old: cluster mode needs"
                     " Redis 7.0 or newer (Redis Functions)",
                     major);
            rc = -ENOTSUP;
        }
    } else {
        snprintf(why, why_n, "Redis's INFO server has no redis_version");
        rc = -EIO;
    }
    freeReplyObject(r);
    return rc;
}

static int load_library(redisContext *c, char *why, size_t why_n)
{
    const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", redis_lua_library};
    redisReply *r = ask(c, 4, argv, why, why_n);
    int rc = 0;

    if (r == NULL)
        return -EIO;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_n,
                 "Redis refused Parley's functions (FUNCTION"
                 " LOAD): %s",
                 r->str);
        rc = -EIO;
    }
    freeReplyObject(r);
    return rc;
}

int redis_preflight(const struct redis_url *u, enum redis_durability want,
                    int timeout_ms, char *why, size_t why_n)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    char durability[512] = "";
    int rc = 0;

    if (why_n > 0)
        why[0] = '\0';
    if (c == NULL || c->err != 0) {
        rc = c != NULL && c->err == REDIS_ERR_IO && errno == ETIMEDOUT
                 ? -ETIMEDOUT
                 : -ECONNREFUSED;
        snprintf(why, why_n, "cannot reach Redis at %s:%d: %s", u->host,
                 u->port, c != NULL ? c->errstr : "out of memory");
        goto out;
    }
    redisSetTimeout(c, tv);
    rc = authenticate(c, u, why, why_n);
    if (rc == 0)
        rc = select_db(c, u, why, why_n);
    if (rc == 0)
        rc = check_version(c, why, why_n);
    if (rc == 0) {
        rc = redis_durability_check(c, want, durability, sizeof(durability));
        snprintf(why, why_n, "%s", durability);
    }
    if (rc == 0)
        rc = load_library(c, why, why_n);
    if (rc == 0)
        snprintf(why, why_n, "%s", durability);
out:
    if (c != NULL)
        redisFree(c);
    return rc;
}
