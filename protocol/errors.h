/*
 * errors.h: the protocol's error codes, one enum and one table of the
 * strings the contract puts on the wire (protocol-v1 "Error codes").
 */
#ifndef PL_ERRORS_H
#define PL_ERRORS_H

enum pl_err {
    PL_OK = 0,
    PL_ERR_BAD_JSON,
    PL_ERR_BAD_REQUEST,
    PL_ERR_UNKNOWN_OP,
    PL_ERR_UNAUTHORIZED,
    PL_ERR_FORBIDDEN,
    PL_ERR_INVALID_TOPIC,
    PL_ERR_TOO_LARGE,
    PL_ERR_RATE_LIMITED,
    PL_ERR_OVERLOADED,
    PL_ERR_INTERNAL,
    PL_ERR__COUNT
};

/* The wire string of an error code ("bad_json", ...); "internal" for an
 * out-of-range value. Never NULL. */
const char *pl_err_code(enum pl_err err);

/* The HTTP status the HTTP API uses for an error code (400, 401, 403, 413,
 * 429, 503, 500). */
int pl_err_http_status(enum pl_err err);

#endif
