/*
 * redis_fix.c: owns the shared Redis group fixture (see redis_fix.h).
 */
#include "redis_fix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_layout.h"

int redis_fix_setup(void **state)
{
    struct redis_fix *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    if (redis_proc_start(&f->redis, "always") != 0)
        return -1;
    f->c = redis_proc_connect(f->redis);
    return f->c != NULL ? 0 : -1;
}

int redis_fix_teardown(void **state)
{
    struct redis_fix *f = *state;

    if (f == NULL)
        return 0;
    if (f->c != NULL)
        redisFree(f->c);
    redis_proc_free(&f->redis);
    free(f);
    *state = NULL;
    return 0;
}

redisContext *redis_fix_listen(const struct redis_fix *f, const char *topic)
{
    char channel[REDIS_NAME_MAX];
    redisContext *s = redis_proc_connect(f->redis);
    redisReply *r = NULL;

    if (s == NULL)
        return NULL;
    redis_layout_channel(channel, sizeof(channel), topic);
    r = redisCommand(s, "SUBSCRIBE %s", channel);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "redis_fix: SUBSCRIBE %s failed\n", channel);
        if (r != NULL)
            freeReplyObject(r);
        redisFree(s);
        return NULL;
    }
    freeReplyObject(r);
    return s;
}

int redis_fix_next_payload(redisContext *s, char *buf, size_t n)
{
    redisReply *r = NULL;
    int rc = -1;

    if (redisGetReply(s, (void **)&r) != REDIS_OK || r == NULL) {
        fprintf(stderr, "redis_fix: no message: %s\n", s->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        strcmp(r->element[0]->str, "message") == 0) {
        snprintf(buf, n, "%.*s", (int)r->element[2]->len, r->element[2]->str);
        rc = 0;
    } else {
        fprintf(stderr, "redis_fix: not a message\n");
    }
    freeReplyObject(r);
    return rc;
}
