/*
 * tjson.c: typed, NULL-tolerant accessors over cJSON for the integration
 * tests, plus a compact dump for failure messages. Stateless; any thread.
 */
#include "tjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tj_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool tj_str_is(const cJSON *o, const char *key, const char *want)
{
    const char *s = tj_str(o, key);

    return s && strcmp(s, want) == 0;
}

bool tj_int(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    double d = 0;

    if (!cJSON_IsNumber(v))
        return false;
    d = v->valuedouble;
    if (d != floor(d) || d > 9007199254740992.0 || d < -9007199254740992.0)
        return false;
    *out = (int64_t)d;
    return true;
}

int64_t tj_int_or(const cJSON *o, const char *key, int64_t def)
{
    int64_t v = 0;

    return tj_int(o, key, &v) ? v : def;
}

bool tj_has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

bool tj_is_null(const cJSON *o, const char *key)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

bool tj_is_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

void tj_dump(const char *label, const cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;

    fprintf(stderr, "%s: %.800s\n", label, s ? s : "(null)");
    free(s);
}

cJSON *tj_parse(const char *text)
{
    return cJSON_Parse(text);
}

bool tj_equal(const cJSON *a, const cJSON *b)
{
    return cJSON_Compare(a, b, true);
}
