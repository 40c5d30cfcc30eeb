/*
 * http_query.c: owns the parsed arguments of one HTTP query string. It
 * exists because reading arguments one by one into small fixed buffers
 * (lws_get_urlarg_by_name) silently lost every argument after a long one
 * (issue #12): here each argument is kept whole, once, whatever its place.
 * No lws, no I/O.
 */
#include "http_query.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

void http_query_init(struct http_query *q)
{
    q->args = NULL;
    q->n = 0;
    q->cap = 0;
}

void http_query_cleanup(struct http_query *q)
{
    size_t i;

    for (i = 0; i < q->n; i++) {
        free(q->args[i].name);
        free(q->args[i].value);
    }
    free(q->args);
    http_query_init(q);
}

/* Append (name, value), taking ownership of both on success only. */
static int query_push(struct http_query *q, char *name, char *value)
{
    if (q->n >= HTTP_QUERY_ARGS_MAX)
        return -E2BIG;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 4;
        struct http_query_arg *na = realloc(q->args, ncap * sizeof(*na));

        if (na == NULL)
            return -ENOMEM;
        q->args = na;
        q->cap = ncap;
    }
    q->args[q->n].name = name;
    q->args[q->n].value = value;
    q->n++;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Add a decoded name and value (copied). */
static int query_add_pair(struct http_query *q, const char *name,
                          size_t name_len, const char *value,
                          size_t value_len)
{
    char *n = dup_n(name, name_len);
    char *v = dup_n(value, value_len);
    int rc = -ENOMEM;

    if (n != NULL && v != NULL)
        rc = query_push(q, n, v);
    if (rc != 0) {
        free(n);
        free(v);
    }
    return rc;
}

int http_query_add(struct http_query *q, const char *arg, size_t len)
{
    const char *eq = memchr(arg, '=', len);

    if (eq == NULL)
        return 0;
    return query_add_pair(q, arg, (size_t)(eq - arg), eq + 1,
                          len - (size_t)(eq - arg) - 1);
}

/* Decode s[0..len) into out (room for len bytes): %XX and '+'. Returns
 * the decoded length, or -EINVAL. */
static long decode(const char *s, size_t len, char *out)
{
    size_t i = 0;
    size_t o = 0;

    while (i < len) {
        if (s[i] == '%') {
            int hi = len - i >= 3 ? pl_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = len - i >= 3 ? pl_hex_digit((unsigned char)s[i + 2]) : -1;

            /* A NUL would cut the C string the routes read. */
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            out[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
            i++;
        }
    }
    return (long)o;
}

/* One raw "name=value" piece. */
static int query_add_raw(struct http_query *q, const char *piece, size_t len,
                         char *scratch)
{
    const char *eq = memchr(piece, '=', len);
    size_t name_raw = 0;
    long name_len = 0;
    long value_len = 0;

    if (eq == NULL)
        return 0;
    name_raw = (size_t)(eq - piece);
    name_len = decode(piece, name_raw, scratch);
    if (name_len < 0)
        return (int)name_len;
    value_len = decode(eq + 1, len - name_raw - 1, scratch + name_len);
    if (value_len < 0)
        return (int)value_len;
    return query_add_pair(q, scratch, (size_t)name_len, scratch + name_len,
                          (size_t)value_len);
}

int http_query_parse(struct http_query *q, const char *s, size_t len)
{
    size_t had = q->n;
    char *scratch = malloc(len + 1);
    size_t start = 0;
    int rc = 0;

    if (scratch == NULL)
        return -ENOMEM;
    while (rc == 0 && start <= len) {
        const char *amp = memchr(s + start, '&', len - start);
        size_t end = amp != NULL ? (size_t)(amp - s) : len;

        if (end > start)
            rc = query_add_raw(q, s + start, end - start, scratch);
        start = end + 1;
    }
    free(scratch);
    while (rc != 0 && q->n > had) {
        q->n--;
        free(q->args[q->n].name);
        free(q->args[q->n].value);
    }
    return rc;
}

int http_query_get(const struct http_query *q, const char *name,
                   const char **value)
{
    const char *found = NULL;
    size_t i;

    for (i = 0; i < q->n; i++) {
        if (strcmp(q->args[i].name, name) != 0)
            continue;
        if (found != NULL)
            return -EEXIST;
        found = q->args[i].value;
    }
    if (found == NULL)
        return -ENOENT;
    *value = found;
    return 0;
}

int http_query_int(const struct http_query *q, const char *name,
                   int64_t *out)
{
    const char *v = NULL;
    char *end = NULL;
    long long n = 0;
    int rc = http_query_get(q, name, &v);

    if (rc != 0)
        return rc;
    n = strtoll(v, &end, 10);
    if (end == v || *end != '\0')
        return -EINVAL;
    *out = (int64_t)n;
    return 0;
}
