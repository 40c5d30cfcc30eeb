/*
 * redis_fix.c: owns the shared Redis group fixture (see redis_fix.h).
 */
#include "redis_fix.h"

#include <stdlib.h>

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
