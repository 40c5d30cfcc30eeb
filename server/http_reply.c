/*
 * http_reply.c: owns the mapping from the hub's reply frames to the HTTP
 * API's status and body (see http_reply.h). It relies on the frame
 * encoder's fixed layout ({"op":..,"id":.. first) rather than parsing the
 * JSON: the rest of the frame is copied as it is, so a reply of 1000
 * history messages costs one copy.
 */
#include "http_reply.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* If s[*i..len) starts with lit, step over it. */
static bool skip(const char *s, size_t len, size_t *i, const char *lit)
{
    size_t n = strlen(lit);

    if (len - *i < n || memcmp(s + *i, lit, n) != 0)
        return false;
    *i += n;
    return true;
}

/* The error code whose wire string is code[0..n), or PL_ERR__COUNT. */
static enum pl_err code_of(const char *code, size_t n)
{
    int e;

    for (e = PL_ERR_BAD_JSON; e < PL_ERR__COUNT; e++) {
        const char *s = pl_err_code((enum pl_err)e);

        if (strlen(s) == n && memcmp(s, code, n) == 0)
            return (enum pl_err)e;
    }
    return PL_ERR__COUNT;
}

int http_reply_from_frame(const char *json, size_t len, struct pl_buf *b)
{
    size_t i = 0;
    bool ok = false;
    size_t code_at = 0;
    const char *q = NULL;
    enum pl_err err = PL_ERR__COUNT;

    if (skip(json, len, &i, "{\"op\":\"ok\""))
        ok = true;
    else if (!skip(json, len, &i, "{\"op\":\"error\""))
        return -EINVAL;
    if (skip(json, len, &i, ",\"id\":")) {
        if (!skip(json, len, &i, "null"))
            while (i < len && json[i] >= '0' && json[i] <= '9')
                i++;
    }
    if (len == 0 || json[len - 1] != '}' || i >= len ||
        (json[i] != ',' && json[i] != '}'))
        return -EINVAL;
    if (ok) {
        /* The fields after op and id are the body's. */
        pl_buf_cstr(b, "{");
        if (json[i] == ',')
            i++;
        pl_buf_raw(b, json + i, len - i);
        return 200;
    }
    if (!skip(json, len, &i, ",\"code\":\""))
        return -EINVAL;
    code_at = i;
    q = memchr(json + i, '"', len - i);
    if (q != NULL)
        err = code_of(json + code_at, (size_t)(q - (json + code_at)));
    if (err == PL_ERR__COUNT)
        return -EINVAL;
    /* Same fields, with "code" named "error" as the HTTP API has it. */
    pl_buf_cstr(b, "{\"error\":\"");
    pl_buf_raw(b, json + code_at, len - code_at);
    return pl_err_http_status(err);
}

int http_reply_error(enum pl_err err, const char *message, struct pl_buf *b)
{
    const char *code = pl_err_code(err);

    pl_buf_cstr(b, "{\"error\":");
    pl_buf_json_str(b, code, strlen(code));
    pl_buf_cstr(b, ",\"message\":");
    pl_buf_json_str(b, message, strlen(message));
    pl_buf_cstr(b, "}");
    return pl_err_http_status(err);
}
