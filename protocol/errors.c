/*
 * errors.c: owns the table that maps enum pl_err to the wire code strings of
 * protocol-v1 ("Error codes") and to the HTTP statuses the HTTP API uses.
 * One table, so a new code is one new row here and one in errors.h.
 */
#include "errors.h"

struct err_row {
    const char *code;
    int http_status;
};

static const struct err_row err_table[PL_ERR__COUNT] = {
    [PL_OK] = {"ok", 200},
    [PL_ERR_BAD_JSON] = {"bad_json", 400},
    [PL_ERR_BAD_REQUEST] = {"bad_request", 400},
    [PL_ERR_UNKNOWN_OP] = {"unknown_op", 400},
    [PL_ERR_UNAUTHORIZED] = {"unauthorized", 401},
    [PL_ERR_FORBIDDEN] = {"forbidden", 403},
    [PL_ERR_INVALID_TOPIC] = {"invalid_topic", 400},
    [PL_ERR_TOO_LARGE] = {"too_large", 413},
    [PL_ERR_RATE_LIMITED] = {"rate_limited", 429},
    [PL_ERR_OVERLOADED] = {"overloaded", 503},
    [PL_ERR_INTERNAL] = {"internal", 500},
};

/* Returns the wire string of err; "internal" for a value out of range.
 * Never NULL; the string is static. Any thread. */
const char *pl_err_code(enum pl_err err)
{
    if ((int)err < 0 || err >= PL_ERR__COUNT)
        return err_table[PL_ERR_INTERNAL].code;
    return err_table[err].code;
}

/* Returns the HTTP status for err (200 for PL_OK, 500 when out of range).
 * Any thread. */
int pl_err_http_status(enum pl_err err)
{
    if ((int)err < 0 || err >= PL_ERR__COUNT)
        return err_table[PL_ERR_INTERNAL].http_status;
    return err_table[err].http_status;
}
