/*
 * jwt.c: owns HS256 JSON Web Tokens (RFC 7519 / RFC 7515 compact form):
 * verification for the server (hello, ?token=, HTTP Bearer), signing for
 * the CLI and tests, and the access checks of the allow_pub / allow_sub
 * claims (protocol-v1 "Auth").
 *
 * Only alg "HS256" is accepted: "none", "HS512", "RS256", a missing alg
 * or a "crit" header are all refused, so an attacker cannot pick the
 * algorithm. The signature is compared in constant time (CRYPTO_memcmp)
 * before any claim is looked at. Every failure is PL_ERR_UNAUTHORIZED.
 *
 * No globals; any thread. Uses OpenSSL's libcrypto for HMAC-SHA256.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cmd.h"
#include "frame.h"
#include "jwt.h"
#include "topic.h"

#define JWT_MAX_LEN 65536 /* longest token we look at */
#define JWT_DEPTH_MAX 16  /* claims are flat; arrays of strings at most */
#define JWT_SIG_LEN 32    /* SHA-256 */

static int jwt_b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/*
 * Decodes unpadded base64url s[0..n) into out (room for n * 3 / 4 bytes).
 * Refuses padding, other alphabets, a length of 1 mod 4 and non-zero
 * unused trailing bits (so each byte string has one encoding). Returns the
 * decoded length or -1.
 */
static long jwt_b64_decode(const char *s, size_t n, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t w = 0;

    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = jwt_b64_val((unsigned char)s[i]);

        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1; /* non-canonical trailing bits */
    return (long)w;
}

/* HMAC-SHA256 of msg under secret into mac[32]. Returns true on success. */
static bool jwt_hmac(const void *secret, size_t secret_len, const void *msg,
                     size_t msg_len, unsigned char *mac)
{
    static const unsigned char empty_key = 0;
    unsigned int mac_len = 0;
    const void *key = secret_len > 0 ? secret : &empty_key;

    if (secret_len > INT32_MAX)
        return false;
    if (HMAC(EVP_sha256(), key, (int)secret_len, msg, msg_len, mac,
             &mac_len) == NULL)
        return false;
    return mac_len == JWT_SIG_LEN;
}

/*
 * Decodes base64url s[0..n) and parses it as a JSON object. Returns the
 * cJSON tree (caller deletes) or NULL.
 */
static cJSON *jwt_json_part(const char *s, size_t n)
{
    unsigned char *raw = NULL;
    long raw_len;
    cJSON *obj = NULL;

    raw = malloc(n * 3 / 4 + 1);
    if (raw == NULL)
        return NULL;
    raw_len = jwt_b64_decode(s, n, raw);
    if (raw_len <= 0)
        goto out;
    if (pl_json_depth((const char *)raw, (size_t)raw_len, JWT_DEPTH_MAX) >
        JWT_DEPTH_MAX)
        goto out;
    if (!pl_utf8_valid((const char *)raw, (size_t)raw_len))
        goto out;
    obj = cJSON_ParseWithLength((const char *)raw, (size_t)raw_len);
    if (obj != NULL && !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        obj = NULL;
    }

out:
    free(raw);
    return obj;
}

/* Copies the C string s; NULL on failure. */
static char *jwt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/*
 * Reads an allow_* claim: absent is fine (*has false); otherwise it must
 * be an array of strings that are valid patterns. Fills *list and *n (owned
 * by the claims). Returns false to refuse the token.
 */
static bool jwt_allow_list(const cJSON *payload, const char *name,
                           bool *has, char ***list, size_t *n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(payload, name);
    const cJSON *el = NULL;
    int count;
    size_t k = 0;

    *has = false;
    *list = NULL;
    *n = 0;
    if (arr == NULL)
        return true;
    if (!cJSON_IsArray(arr))
        return false;
    count = cJSON_GetArraySize(arr);
    *has = true;
    if (count == 0)
        return true;
    *list = calloc((size_t)count, sizeof(char *));
    if (*list == NULL)
        return false;
    cJSON_ArrayForEach(el, arr) {
        if (!cJSON_IsString(el) || el->valuestring == NULL)
            return false;
        if (pl_topic_validate(el->valuestring, strlen(el->valuestring),
                              true) != PL_OK)
            return false;
        (*list)[k] = jwt_strdup(el->valuestring);
        if ((*list)[k] == NULL)
            return false;
        k++;
        *n = k;
    }
    return true;
}

/*
 * Verifies token[0..token_len) (HS256 under secret) at time `now` in
 * seconds. On PL_OK *claims is filled and owned by the caller (release
 * with pl_claims_cleanup()); on PL_ERR_UNAUTHORIZED *claims is zeroed and
 * needs no release. Any thread.
 */
enum pl_err pl_jwt_verify(const char *token, size_t token_len,
                          const void *secret, size_t secret_len, int64_t now,
                          struct pl_claims *claims)
{
    const char *dot1 = NULL;
    const char *dot2 = NULL;
    unsigned char sig[JWT_SIG_LEN + 3];
    unsigned char mac[JWT_SIG_LEN];
    cJSON *header = NULL;
    cJSON *payload = NULL;
    const cJSON *it = NULL;
    enum pl_err err = PL_ERR_UNAUTHORIZED;
    size_t sig_b64_len;

    memset(claims, 0, sizeof(*claims));
    if (token == NULL || token_len == 0 || token_len > JWT_MAX_LEN)
        return PL_ERR_UNAUTHORIZED;
    dot1 = memchr(token, '.', token_len);
    if (dot1 == NULL)
        return PL_ERR_UNAUTHORIZED;
    dot2 = memchr(dot1 + 1, '.', token_len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL)
        return PL_ERR_UNAUTHORIZED;
    sig_b64_len = token_len - (size_t)(dot2 + 1 - token);
    /* 32 bytes are exactly 43 base64url characters. */
    if (sig_b64_len != 43 || memchr(dot2 + 1, '.', sig_b64_len) != NULL)
        return PL_ERR_UNAUTHORIZED;
    if (jwt_b64_decode(dot2 + 1, sig_b64_len, sig) != JWT_SIG_LEN)
        return PL_ERR_UNAUTHORIZED;

    /* The header first: refuse any alg but HS256 before trusting it. */
    header = jwt_json_part(token, (size_t)(dot1 - token));
    if (header == NULL)
        goto out;
    it = cJSON_GetObjectItemCaseSensitive(header, "alg");
    if (!cJSON_IsString(it) || it->valuestring == NULL ||
        strcmp(it->valuestring, "HS256") != 0)
        goto out;
    if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL)
        goto out;

    if (!jwt_hmac(secret, secret_len, token, (size_t)(dot2 - token), mac))
        goto out;
    if (CRYPTO_memcmp(mac, sig, JWT_SIG_LEN) != 0)
        goto out;

    payload = jwt_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (payload == NULL)
        goto out;
    it = cJSON_GetObjectItemCaseSensitive(payload, "sub");
    if (!cJSON_IsString(it) || it->valuestring == NULL ||
        it->valuestring[0] == '\0')
        goto out;
    claims->sub = jwt_strdup(it->valuestring);
    if (claims->sub == NULL)
        goto out;
    it = cJSON_GetObjectItemCaseSensitive(payload, "exp");
    if (it != NULL) {
        double exp;

        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
            goto out;
        exp = it->valuedouble;
        if (exp <= (double)now)
            goto out; /* expired, no leeway */
        claims->has_exp = true;
        if (exp >= 9.2e18) {
            claims->exp = INT64_MAX;
        } else {
            claims->exp = (int64_t)exp; /* round up: still valid until */
            if ((double)claims->exp < exp)
                claims->exp++;
        }
    }
    if (!jwt_allow_list(payload, "allow_pub", &claims->has_allow_pub,
                        &claims->allow_pub, &claims->n_allow_pub))
        goto out;
    if (!jwt_allow_list(payload, "allow_sub", &claims->has_allow_sub,
                        &claims->allow_sub, &claims->n_allow_sub))
        goto out;
    err = PL_OK;

out:
    cJSON_Delete(header);
    cJSON_Delete(payload);
    if (err != PL_OK)
        pl_claims_cleanup(claims);
    return err;
}

static void jwt_free_list(char **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Frees everything in claims and zeroes it. Safe on a zeroed struct. */
void pl_claims_cleanup(struct pl_claims *claims)
{
    free(claims->sub);
    jwt_free_list(claims->allow_pub, claims->n_allow_pub);
    jwt_free_list(claims->allow_sub, claims->n_allow_sub);
    memset(claims, 0, sizeof(*claims));
}

/* Appends ,"name":["p1","p2"] to b. */
static void jwt_put_list(struct pl_buf *b, const char *name,
                         const char *const *list, size_t n)
{
    pl_buf_cstr(b, ",\"");
    pl_buf_cstr(b, name);
    pl_buf_cstr(b, "\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pl_buf_cstr(b, ",");
        pl_buf_json_str(b, list[i], strlen(list[i]));
    }
    pl_buf_cstr(b, "]");
}

/*
 * Mints an HS256 token for sub, with exp when exp > 0 and allow_pub /
 * allow_sub when not NULL. Returns a malloc'd NUL-terminated token (the
 * caller frees it) or NULL on allocation failure or a NULL sub.
 */
char *pl_jwt_sign(const void *secret, size_t secret_len, const char *sub,
                  int64_t exp, const char *const *allow_pub, size_t n_pub,
                  const char *const *allow_sub, size_t n_sub)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    struct pl_buf claims;
    struct pl_buf tok;
    unsigned char mac[JWT_SIG_LEN];
    char *out = NULL;

    if (sub == NULL)
        return NULL;
    pl_buf_init(&claims, 256);
    pl_buf_init(&tok, 512);

    pl_buf_cstr(&claims, "{\"sub\":");
    pl_buf_json_str(&claims, sub, strlen(sub));
    if (exp > 0) {
        pl_buf_cstr(&claims, ",\"exp\":");
        pl_buf_int(&claims, exp);
    }
    if (allow_pub != NULL)
        jwt_put_list(&claims, "allow_pub", allow_pub, n_pub);
    if (allow_sub != NULL)
        jwt_put_list(&claims, "allow_sub", allow_sub, n_sub);
    pl_buf_cstr(&claims, "}");

    pl_buf_base64(&tok, header, sizeof(header) - 1, true);
    pl_buf_cstr(&tok, ".");
    pl_buf_base64(&tok, pl_buf_data(&claims), claims.len, true);
    if (pl_buf_failed(&claims) || pl_buf_failed(&tok))
        goto out;
    if (!jwt_hmac(secret, secret_len, pl_buf_data(&tok), tok.len, mac))
        goto out;
    pl_buf_cstr(&tok, ".");
    pl_buf_base64(&tok, mac, sizeof(mac), true);
    if (pl_buf_failed(&tok))
        goto out;
    out = malloc(tok.len + 1);
    if (out == NULL)
        goto out;
    memcpy(out, pl_buf_data(&tok), tok.len);
    out[tok.len] = '\0';

out:
    pl_buf_cleanup(&claims);
    pl_buf_cleanup(&tok);
    return out;
}

/* True when claims allow publishing to the concrete topic: no allow_pub
 * claim, or one of its patterns matches. */
bool pl_claims_may_pub(const struct pl_claims *claims, const char *topic)
{
    if (claims == NULL || !claims->has_allow_pub)
        return true;
    for (size_t i = 0; i < claims->n_allow_pub; i++) {
        if (pl_topic_match(claims->allow_pub[i], topic))
            return true;
    }
    return false;
}

/* True when claims allow subscribing to pattern: no allow_sub claim, or
 * one of its patterns covers every topic the pattern can match. */
bool pl_claims_may_sub(const struct pl_claims *claims, const char *pattern)
{
    if (claims == NULL || !claims->has_allow_sub)
        return true;
    for (size_t i = 0; i < claims->n_allow_sub; i++) {
        if (pl_pattern_covers(claims->allow_sub[i], pattern))
            return true;
    }
    return false;
}
