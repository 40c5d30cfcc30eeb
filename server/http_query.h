/*
 * http_query.h: the arguments of one HTTP query string, parsed once into
 * decoded (name, value) pairs for every /api/ route. No lws, no I/O.
 *
 * A route asks for the arguments it knows; anything else is ignored. An
 * argument given twice is an error the route reports (bad_request), so
 * "which limit did you mean?" is never guessed.
 */
#ifndef PL_HTTP_QUERY_H
#define PL_HTTP_QUERY_H

#include <stddef.h>
#include <stdint.h>

/* Arguments kept per query, at most: more is -E2BIG (a bad request). */
#define HTTP_QUERY_ARGS_MAX 64

struct http_query_arg {
    char *name;                  /* decoded, NUL-terminated */
    char *value;                 /* decoded, NUL-terminated */
};

struct http_query {
    struct http_query_arg *args;
    size_t n;
    size_t cap;
};

void http_query_init(struct http_query *q);
/* Free every argument; q is empty (and reusable) afterwards. */
void http_query_cleanup(struct http_query *q);

/* Parse a raw query string (without the '?'): arguments split on '&',
 * each "name=value" percent-decoded, '+' read as a space. Empty pieces
 * and pieces without '=' are skipped. Returns 0, -EINVAL (a broken %
 * escape, or one that decodes to NUL), -E2BIG or -ENOMEM; on failure q
 * keeps what it had before the call. */
int http_query_parse(struct http_query *q, const char *s, size_t len);

/* Add one argument "name=value" that is already decoded (lws decodes the
 * query while it parses the request; its fragments split only on a
 * literal '&', so a decoded '&' or '=' inside a value stays there). The
 * name ends at the first '='; without one the piece is skipped. Returns 0,
 * -E2BIG or -ENOMEM. */
int http_query_add(struct http_query *q, const char *arg, size_t len);

/* The value of name (borrowed until q changes): 0 and *value set, -ENOENT
 * when absent, -EEXIST when given more than once. */
int http_query_get(const struct http_query *q, const char *name,
                   const char **value);

/* name as a whole decimal integer (an optional sign and leading blanks as
 * strtoll reads them; out of range saturates): 0 and *out set, -ENOENT,
 * -EEXIST, or -EINVAL when it is not an integer. */
int http_query_int(const struct http_query *q, const char *name,
                   int64_t *out);

#endif
