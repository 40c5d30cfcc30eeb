/*
 * redis_durability.c: owns the rule that decides whether Redis's AOF
 * settings keep the promise a node's --durability makes to its clients.
 * The decision is a pure function so its table is unit-tested; the check
 * around it only reads the two settings.
 *
 * Why `always` for strict: with `everysec`, Redis 7.0 may answer (and
 * PUBLISH) before its AOF write() when a background fsync is slow, so a
 * SIGKILL of redis-server can take back writes already acknowledged; 7.0
 * has no WAITAOF to wait for the sync either.
 */
#include "redis_durability.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int redis_durability_parse(const char *text, enum redis_durability *out)
{
    if (text == NULL)
        return -EINVAL;
    if (strcmp(text, "strict") == 0)
        *out = REDIS_DURABILITY_STRICT;
    else if (strcmp(text, "relaxed") == 0)
        *out = REDIS_DURABILITY_RELAXED;
    else if (strcmp(text, "none") == 0)
        *out = REDIS_DURABILITY_NONE;
    else
        return -EINVAL;
    return 0;
}

const char *redis_durability_name(enum redis_durability d)
{
    switch (d) {
    case REDIS_DURABILITY_STRICT:
        return "strict";
    case REDIS_DURABILITY_RELAXED:
        return "relaxed";
    case REDIS_DURABILITY_NONE:
        return "none";
    }
    return "?";
}

static bool is(const char *value, const char *want)
{
    return value != NULL && strcasecmp(value, want) == 0;
}

/* The one refusal sentence: which mode, what it needs from Redis, what
 * Redis has, the setting to change and the weaker mode to choose instead. */
static void refuse(char *why, size_t why_n, const char *mode,
                   const char *needs, const char *appendonly,
                   const char *appendfsync, const char *set,
                   const char *instead)
{
    snprintf(why, why_n,
             "--durability %s needs Redis to %s, but Redis has appendonly"
             " %s, appendfsync %s: set %s (in redis.conf, or CONFIG SET"
             " then CONFIG REWRITE), or start with %s",
             mode, needs, appendonly != NULL ? appendonly : "?",
             appendfsync != NULL ? appendfsync : "?", set, instead);
}

int redis_durability_decide(enum redis_durability want, const char *appendonly,
                            const char *appendfsync, char *why, size_t why_n)
{
    bool aof = is(appendonly, "yes");
    bool always = aof && is(appendfsync, "always");
    bool everysec = aof && is(appendfsync, "everysec");

    switch (want) {
    case REDIS_DURABILITY_STRICT:
        if (always) {
            snprintf(why, why_n,
                     "durability strict: Redis syncs its AOF"
                     " before it answers (appendfsync always)");
            return 0;
        }
        refuse(why, why_n, "strict", "sync its AOF before it answers",
               appendonly, appendfsync,
               aof ? "appendfsync always"
                   : "appendonly yes and appendfsync always",
               "--durability relaxed (everysec) or none");
        return -EPERM;
    case REDIS_DURABILITY_RELAXED:
        if (always) {
            snprintf(why, why_n,
                     "durability relaxed: Redis has appendfsync"
                     " always, so acks are as safe as in strict");
            return 0;
        }
        if (everysec) {
            snprintf(why, why_n,
                     "durability relaxed: Redis has appendfsync"
                     " everysec, so a crash of redis-server may lose about"
                     " the last second or two of acknowledged messages");
            return 0;
        }
        refuse(why, why_n, "relaxed", "keep an AOF synced at least every"
               " second", appendonly, appendfsync,
               aof ? "appendfsync everysec (or always)"
                   : "appendonly yes and appendfsync everysec (or always)",
               "--durability none");
        return -EPERM;
    case REDIS_DURABILITY_NONE:
        if (aof)
            snprintf(why, why_n,
                     "durability none: Redis has appendonly yes,"
                     " appendfsync %s, but acks do not wait for it",
                     appendfsync != NULL ? appendfsync : "?");
        else
            snprintf(why, why_n,
                     "durability none: Redis has no AOF"
                     " (appendonly no), so a restart of redis-server loses"
                     " every message, retained value and dedupe key");
        return 0;
    }
    snprintf(why, why_n, "unknown durability mode");
    return -EINVAL;
}

/* CONFIG GET name into value (size n). 0, or -EIO with why written. */
static int config_get(redisContext *c, const char *name, char *value, size_t n,
                      char *why, size_t why_n)
{
    redisReply *r = redisCommand(c, "CONFIG GET %s", name);
    int rc = -EIO;

    if (r == NULL) {
        snprintf(why, why_n, "cannot read Redis's %s: %s", name,
                 c->errstr[0] != '\0' ? c->errstr : "no reply");
        return -EIO;
    }
    if (r->type == REDIS_REPLY_ERROR)
        snprintf(why, why_n, "cannot read Redis's %s: %s", name, r->str);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
             r->element[1]->type != REDIS_REPLY_STRING)
        snprintf(why, why_n,
                 "cannot read Redis's %s: CONFIG GET gave no"
                 " value (is the command renamed or denied by an ACL?)",
                 name);
    else {
        snprintf(value, n, "%s", r->element[1]->str);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int redis_durability_check(redisContext *c, enum redis_durability want,
                           char *why, size_t why_n)
{
    char appendonly[16];
    char appendfsync[16];
    int rc = 0;

    rc =
        config_get(c, "appendonly", appendonly, sizeof(appendonly), why, why_n);
    if (rc == 0)
        rc = config_get(c, "appendfsync", appendfsync, sizeof(appendfsync), why,
                        why_n);
    if (rc < 0) {
        if (want == REDIS_DURABILITY_NONE) {
            snprintf(why, why_n,
                     "durability none: Redis's persistence"
                     " settings are unknown (CONFIG GET failed)");
            return 0;
        }
        return rc;
    }
    return redis_durability_decide(want, appendonly, appendfsync, why, why_n);
}
