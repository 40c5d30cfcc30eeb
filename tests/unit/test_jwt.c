/*
 * test_jwt.c: unit tests of protocol/jwt.c. A known vector (the jwt.io
 * HS256 example), tokens built here with an independent encoder
 * (OpenSSL's EVP_EncodeBlock + HMAC) to probe every refusal (alg none,
 * HS512, RS256, bad signature, expiry, missing sub, bad allow lists,
 * malformed tokens), sign/verify round trips, and the ACL helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"

#define SECRET "s3cret-for-tests"
#define NOW 1764130000LL

static const char jwtio_token[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
    "aWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
static const char jwtio_secret[] = "your-256-bit-secret";

/* base64url without padding, via OpenSSL's standard encoder. */
static void b64url(const void *p, size_t n, char *out)
{
    size_t w = 0;
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);

    for (int i = 0; i < len; i++) {
        char c = out[i];

        if (c == '=')
            break;
        out[w++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[w] = '\0';
}

/*
 * Builds header.payload.signature from JSON texts, signed with HMAC of
 * `md` (NULL: signature given as sig_b64 text). Returns a static buffer.
 */
static const char *make_token(const char *header, const char *payload,
                              const EVP_MD *md, const char *secret,
                              const char *sig_b64)
{
    static char tok[8192];
    char part[4096];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    b64url(header, strlen(header), part);
    strcpy(tok, part);
    strcat(tok, ".");
    b64url(payload, strlen(payload), part);
    strcat(tok, part);
    if (md != NULL) {
        assert_non_null(HMAC(md, secret, (int)strlen(secret),
                             (unsigned char *)tok, strlen(tok), mac,
                             &mac_len));
        b64url(mac, mac_len, part);
        sig_b64 = part;
    }
    strcat(tok, ".");
    strcat(tok, sig_b64);
    return tok;
}

static enum pl_err verify(const char *tok, const char *secret,
                          struct pl_claims *c)
{
    return pl_jwt_verify(tok, strlen(tok), secret, strlen(secret), NOW, c);
}

static void test_known_vector(void **state)
{
    struct pl_claims c;
    char tok[sizeof(jwtio_token)];

    (void)state;
    assert_int_equal(pl_jwt_verify(jwtio_token, strlen(jwtio_token),
                                   jwtio_secret, strlen(jwtio_secret), NOW,
                                   &c), PL_OK);
    assert_string_equal(c.sub, "1234567890");
    assert_false(c.has_exp);
    assert_false(c.has_allow_pub);
    assert_false(c.has_allow_sub);
    assert_true(pl_claims_may_pub(&c, "anything/at/all"));
    assert_true(pl_claims_may_sub(&c, "#"));
    pl_claims_cleanup(&c);
    pl_claims_cleanup(&c);

    /* the wrong secret */
    assert_int_equal(verify(jwtio_token, "your-256-bit-secreT", &c),
                     PL_ERR_UNAUTHORIZED);
    assert_null(c.sub);
    assert_int_equal(verify(jwtio_token, "", &c), PL_ERR_UNAUTHORIZED);

    /* any single changed character anywhere is refused */
    for (size_t i = 0; i < strlen(jwtio_token); i++) {
        if (jwtio_token[i] == '.')
            continue;
        memcpy(tok, jwtio_token, sizeof(tok));
        tok[i] = tok[i] == 'A' ? 'B' : 'A';
        if (verify(tok, jwtio_secret, &c) != PL_ERR_UNAUTHORIZED)
            fail_msg("changed byte %zu accepted: %s", i, tok);
    }
    /* truncated at every length */
    for (size_t n = 0; n < strlen(jwtio_token); n++) {
        assert_int_equal(pl_jwt_verify(jwtio_token, n, jwtio_secret,
                                       strlen(jwtio_secret), NOW, &c),
                         PL_ERR_UNAUTHORIZED);
    }
}

static void test_alg(void **state)
{
    static const char *payload = "{\"sub\":\"alice\"}";
    struct pl_claims c;

    (void)state;
    /* our own encoder agrees with the library */
    assert_int_equal(verify(make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                                       payload, EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_OK);
    assert_string_equal(c.sub, "alice");
    pl_claims_cleanup(&c);
    assert_int_equal(verify(make_token("{\"alg\":\"HS256\"}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_OK);
    pl_claims_cleanup(&c);

    /* alg none, with an empty signature or a valid HS256 one */
    assert_int_equal(verify(make_token("{\"alg\":\"none\"}", payload, NULL,
                                       NULL, ""), SECRET, &c),
                     PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":\"none\"}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    /* other algorithms, even correctly signed with the secret */
    assert_int_equal(verify(make_token("{\"alg\":\"HS512\"}", payload,
                                       EVP_sha512(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":\"HS384\"}", payload,
                                       EVP_sha384(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":\"RS256\"}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":\"hs256\"}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"typ\":\"JWT\"}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":null}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":[\"HS256\"]}", payload,
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("{\"alg\":\"HS256\",\"crit\":[\"x\"]}",
                                       payload, EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("[\"HS256\"]", payload, EVP_sha256(),
                                       SECRET, NULL), SECRET, &c),
                     PL_ERR_UNAUTHORIZED);
    assert_int_equal(verify(make_token("not json", payload, EVP_sha256(),
                                       SECRET, NULL), SECRET, &c),
                     PL_ERR_UNAUTHORIZED);
    assert_null(c.sub);
}

static void test_claims(void **state)
{
    static const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const struct {
        const char *payload;
        enum pl_err err;
    } rows[] = {
        {"{\"sub\":\"alice\"}", PL_OK},
        {"{\"sub\":\"alice\",\"exp\":1764130001}", PL_OK},
        {"{\"sub\":\"alice\",\"exp\":1764130000.5}", PL_OK},
        {"{\"sub\":\"alice\",\"exp\":1764130000}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"exp\":1764129999}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"exp\":0}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"exp\":\"1764130001\"}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"exp\":null}", PL_ERR_UNAUTHORIZED},
        {"{}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"\"}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":5}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":null}", PL_ERR_UNAUTHORIZED},
        {"[\"alice\"]", PL_ERR_UNAUTHORIZED},
        {"\"alice\"", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\"", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":[]}", PL_OK},
        {"{\"sub\":\"alice\",\"allow_pub\":[\"chat/#\",\"sensors/+\"]}", PL_OK},
        {"{\"sub\":\"alice\",\"allow_sub\":[\"#\",\"$SYS/#\"]}", PL_OK},
        {"{\"sub\":\"alice\",\"allow_pub\":\"chat/#\"}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":[\"a/#/b\"]}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":[\"ok\",\"a//b\"]}",
         PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":[\"\"]}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":[5]}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":[null]}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_pub\":null}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_sub\":{}}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_sub\":[\"a+\"]}", PL_ERR_UNAUTHORIZED},
        {"{\"sub\":\"alice\",\"allow_sub\":[[\"a\"]]}", PL_ERR_UNAUTHORIZED},
        /* unknown claims are ignored */
        {"{\"sub\":\"alice\",\"iat\":1,\"nbf\":\"x\",\"name\":{}}", PL_OK},
    };
    struct pl_claims c;

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *tok = make_token(hdr, rows[i].payload, EVP_sha256(),
                                     SECRET, NULL);
        enum pl_err err = verify(tok, SECRET, &c);

        if (err != rows[i].err)
            fail_msg("row %zu: %s -> %s", i, rows[i].payload,
                     pl_err_code(err));
        if (err == PL_OK)
            assert_string_equal(c.sub, "alice");
        else
            assert_null(c.sub);
        pl_claims_cleanup(&c);
    }

    /* the parsed lists */
    assert_int_equal(verify(make_token(hdr, "{\"sub\":\"bob\",\"exp\":"
                                       "1764130060,\"allow_pub\":[\"chat/#\","
                                       "\"sensors/+\"],\"allow_sub\":[]}",
                                       EVP_sha256(), SECRET, NULL),
                            SECRET, &c), PL_OK);
    assert_string_equal(c.sub, "bob");
    assert_true(c.has_exp);
    assert_int_equal(c.exp, 1764130060);
    assert_true(c.has_allow_pub);
    assert_int_equal(c.n_allow_pub, 2);
    assert_string_equal(c.allow_pub[0], "chat/#");
    assert_string_equal(c.allow_pub[1], "sensors/+");
    assert_true(c.has_allow_sub);
    assert_int_equal(c.n_allow_sub, 0);
    /* an empty allow_sub allows nothing */
    assert_false(pl_claims_may_sub(&c, "chat/general"));
    pl_claims_cleanup(&c);
}

static void test_malformed(void **state)
{
    static const char *const toks[] = {
        "",
        ".",
        "..",
        "abc",
        "abc.def",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9..",
        /* padding is not base64url-without-padding */
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c=",
        /* standard base64 alphabet */
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV/adQssw5c",
        /* a fourth part */
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c.x",
        /* whitespace */
        " eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        /* Bearer prefix belongs to HTTP, not to the token */
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    };
    struct pl_claims c;

    (void)state;
    for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
        if (verify(toks[i], jwtio_secret, &c) != PL_ERR_UNAUTHORIZED)
            fail_msg("row %zu accepted: %s", i, toks[i]);
    }
    assert_int_equal(pl_jwt_verify(NULL, 0, SECRET, 6, NOW, &c),
                     PL_ERR_UNAUTHORIZED);
}

/* Checks tok's signature with our own HMAC and returns its payload JSON. */
static cJSON *independent_check(const char *tok, const char *secret)
{
    const char *dot2 = strrchr(tok, '.');
    const char *dot1 = strchr(tok, '.');
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char sig[128];
    char b64[4096];
    unsigned char raw[4096];
    size_t n;
    int len;

    assert_non_null(dot1);
    assert_true(dot2 > dot1);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok,
         (size_t)(dot2 - tok), mac, &mac_len);
    b64url(mac, mac_len, sig);
    assert_string_equal(dot2 + 1, sig);
    /* decode the payload with OpenSSL after restoring the alphabet */
    n = (size_t)(dot2 - dot1 - 1);
    memcpy(b64, dot1 + 1, n);
    for (size_t i = 0; i < n; i++)
        b64[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
    while (n % 4 != 0)
        b64[n++] = '=';
    len = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)n);
    assert_true(len > 0);
    while (len > 0 && raw[len - 1] == '\0')
        len--;
    return cJSON_ParseWithLength((const char *)raw, (size_t)len);
}

static void test_sign_roundtrip(void **state)
{
    const char *pubs[] = {"chat/#", "sensors/\"q\"/+"};
    const char *subs[] = {"chat/+", "$SYS/#"};
    struct pl_claims c;
    char *tok = NULL;
    cJSON *j = NULL;

    (void)state;
    tok = pl_jwt_sign(SECRET, strlen(SECRET), "alice", NOW + 60, pubs, 2,
                      subs, 2);
    assert_non_null(tok);
    j = independent_check(tok, SECRET);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "sub")->valuestring, "alice");
    assert_true(cJSON_GetObjectItem(j, "exp")->valuedouble ==
                (double)(NOW + 60));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "allow_pub")),
                     2);
    cJSON_Delete(j);
    assert_int_equal(verify(tok, SECRET, &c), PL_OK);
    assert_string_equal(c.sub, "alice");
    assert_true(c.has_exp);
    assert_int_equal(c.exp, NOW + 60);
    assert_int_equal(c.n_allow_pub, 2);
    assert_string_equal(c.allow_pub[1], "sensors/\"q\"/+");
    assert_int_equal(c.n_allow_sub, 2);
    pl_claims_cleanup(&c);
    /* expired later on */
    assert_int_equal(pl_jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET),
                                   NOW + 60, &c), PL_ERR_UNAUTHORIZED);
    assert_int_equal(pl_jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET),
                                   NOW + 59, &c), PL_OK);
    pl_claims_cleanup(&c);
    free(tok);

    /* no exp, no lists, odd user name */
    tok = pl_jwt_sign(SECRET, strlen(SECRET), "b\xc3\xb6" "b \"the\" \\user",
                      0, NULL, 0, NULL, 0);
    assert_non_null(tok);
    j = independent_check(tok, SECRET);
    assert_non_null(j);
    assert_null(cJSON_GetObjectItem(j, "exp"));
    assert_null(cJSON_GetObjectItem(j, "allow_pub"));
    cJSON_Delete(j);
    assert_int_equal(verify(tok, SECRET, &c), PL_OK);
    assert_string_equal(c.sub, "b\xc3\xb6" "b \"the\" \\user");
    assert_false(c.has_exp);
    assert_false(c.has_allow_pub);
    assert_false(c.has_allow_sub);
    pl_claims_cleanup(&c);
    assert_int_equal(verify(tok, "other", &c), PL_ERR_UNAUTHORIZED);
    free(tok);

    /* empty lists are present-but-empty */
    tok = pl_jwt_sign(SECRET, strlen(SECRET), "carol", 0, pubs, 0, subs, 0);
    assert_int_equal(verify(tok, SECRET, &c), PL_OK);
    assert_true(c.has_allow_pub);
    assert_int_equal(c.n_allow_pub, 0);
    assert_false(pl_claims_may_pub(&c, "chat/general"));
    pl_claims_cleanup(&c);
    free(tok);

    /* a binary secret with NUL bytes */
    {
        static const unsigned char key[] = {0, 1, 2, 0, 255};
        struct pl_claims c2;

        tok = pl_jwt_sign(key, sizeof(key), "dave", 0, NULL, 0, NULL, 0);
        assert_int_equal(pl_jwt_verify(tok, strlen(tok), key, sizeof(key),
                                       NOW, &c2), PL_OK);
        pl_claims_cleanup(&c2);
        assert_int_equal(pl_jwt_verify(tok, strlen(tok), key, 3, NOW, &c2),
                         PL_ERR_UNAUTHORIZED);
        free(tok);
    }
    assert_null(pl_jwt_sign(SECRET, strlen(SECRET), NULL, 0, NULL, 0, NULL,
                            0));
}

static void test_acl(void **state)
{
    const char *pubs[] = {"chat/#", "sensors/+/temp"};
    const char *subs[] = {"chat/+", "$SYS/#", "sensors/#"};
    static const struct {
        const char *topic;
        bool pub;
    } pub_rows[] = {
        {"chat/general", true},
        {"chat", true},
        {"chat/a/b", true},
        {"sensors/t1/temp", true},
        {"sensors/t1/hum", false},
        {"sensors/temp", false},
        {"news/x", false},
        {"$SYS/x", false},
    };
    static const struct {
        const char *pattern;
        bool sub;
    } sub_rows[] = {
        {"chat/general", true},
        {"chat/+", true},
        {"chat/#", false},        /* matches chat and chat/a/b */
        {"chat", false},
        {"chat/a/b", false},
        {"$SYS/#", true},
        {"$SYS/uptime", true},
        {"#", false},
        {"+/+", false},
        {"sensors/#", true},
        {"sensors/+/temp", true},
        {"sensors", true},
        {"news/#", false},
    };
    struct pl_claims c;
    char *tok = pl_jwt_sign(SECRET, strlen(SECRET), "eve", 0, pubs, 2, subs,
                            3);

    (void)state;
    assert_int_equal(verify(tok, SECRET, &c), PL_OK);
    for (size_t i = 0; i < sizeof(pub_rows) / sizeof(pub_rows[0]); i++) {
        if (pl_claims_may_pub(&c, pub_rows[i].topic) != pub_rows[i].pub)
            fail_msg("may_pub(%s) != %d", pub_rows[i].topic, pub_rows[i].pub);
    }
    for (size_t i = 0; i < sizeof(sub_rows) / sizeof(sub_rows[0]); i++) {
        if (pl_claims_may_sub(&c, sub_rows[i].pattern) != sub_rows[i].sub)
            fail_msg("may_sub(%s) != %d", sub_rows[i].pattern,
                     sub_rows[i].sub);
    }
    pl_claims_cleanup(&c);
    free(tok);

    /* no claims at all, or no lists: everything allowed */
    assert_true(pl_claims_may_pub(NULL, "x"));
    assert_true(pl_claims_may_sub(NULL, "#"));
    memset(&c, 0, sizeof(c));
    assert_true(pl_claims_may_pub(&c, "x"));
    assert_true(pl_claims_may_sub(&c, "$SYS/#"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),
        cmocka_unit_test(test_alg),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sign_roundtrip),
        cmocka_unit_test(test_acl),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
