/*
 * jwt.h: HS256 JSON Web Tokens (verify for the server, sign for the CLI).
 * Any alg other than HS256 (including "none") is refused.
 */
#ifndef PL_JWT_H
#define PL_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct pl_claims {
    char *sub;             /* the user (required) */
    bool has_exp;
    int64_t exp;           /* seconds since the epoch */
    bool has_allow_pub;    /* absent means: everything allowed */
    char **allow_pub;      /* valid patterns */
    size_t n_allow_pub;
    bool has_allow_sub;
    char **allow_sub;
    size_t n_allow_sub;
};

/* Verify an HS256 token against secret at time `now` (seconds). PL_OK and
 * *claims filled (release with pl_claims_cleanup) or PL_ERR_UNAUTHORIZED
 * (bad form, bad alg, bad signature, missing sub, expired: exp <= now is
 * expired, no leeway; an invalid pattern in allow_* is also refused). */
enum pl_err pl_jwt_verify(const char *token, size_t token_len,
                          const void *secret, size_t secret_len, int64_t now,
                          struct pl_claims *claims);

void pl_claims_cleanup(struct pl_claims *claims);

/* Mint a token. exp <= 0 means no exp claim; allow_* NULL means claim
 * absent. Returns a malloc'd NUL-terminated token or NULL. */
char *pl_jwt_sign(const void *secret, size_t secret_len, const char *sub,
                  int64_t exp, const char *const *allow_pub, size_t n_pub,
                  const char *const *allow_sub, size_t n_sub);

/* True when claims allow publishing to the concrete topic. */
bool pl_claims_may_pub(const struct pl_claims *claims, const char *topic);
/* True when claims allow subscribing to pattern (every topic it can match
 * is inside allow_sub). */
bool pl_claims_may_sub(const struct pl_claims *claims, const char *pattern);

#endif
