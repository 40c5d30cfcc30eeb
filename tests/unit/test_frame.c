/*
 * test_frame.c: unit tests of protocol/frame.c: exact server frames, JSON
 * string escaping (checked byte for byte and by round trip through cJSON),
 * integer text, buffer growth and failure, and the WebSocket header at the
 * 125/126 and 65535/65536 length boundaries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "frame.h"

/* The payload as a NUL-terminated copy (caller frees). */
static char *payload(const struct pl_buf *b)
{
    char *s = malloc(b->len + 1);

    assert_non_null(s);
    memcpy(s, pl_buf_data(b), b->len);
    s[b->len] = '\0';
    return s;
}

static void assert_payload(const struct pl_buf *b, const char *want)
{
    char *got = payload(b);

    assert_false(pl_buf_failed(b));
    if (strcmp(got, want) != 0)
        fail_msg("payload\n  got  %s\n  want %s", got, want);
    free(got);
}

static void test_usage_example(void **state)
{
    struct pl_buf b;

    (void)state;
    assert_int_equal(pl_buf_init(&b, 256), 0);
    pl_frame_begin(&b, "ok");
    pl_frame_id(&b, 7);
    pl_frame_kv_str(&b, "topic", "chat/general");
    pl_frame_kv_int(&b, "seq", 57);
    pl_frame_kv_bool(&b, "recovered", false);
    pl_frame_kv_bool(&b, "duplicate", true);
    pl_frame_kv_raw(&b, "members", "[\"alice\",\"bob\"]", 15);
    pl_frame_end(&b);
    assert_payload(&b, "{\"op\":\"ok\",\"id\":7,\"topic\":\"chat/general\","
                       "\"seq\":57,\"recovered\":false,\"duplicate\":true,"
                       "\"members\":[\"alice\",\"bob\"]}");
    pl_buf_reset(&b);
    assert_int_equal(b.len, 0);
    pl_frame_begin(&b, "ok");
    pl_frame_id(&b, 0);
    pl_frame_end(&b);
    assert_payload(&b, "{\"op\":\"ok\",\"id\":null}");
    pl_buf_cleanup(&b);
    pl_buf_cleanup(&b); /* twice is harmless */
}

static void test_error_frame(void **state)
{
    struct pl_buf b;

    (void)state;
    pl_buf_init(&b, 0);
    pl_frame_error(&b, 7, PL_ERR_INVALID_TOPIC, "topic \"a//b\" is bad");
    assert_payload(&b, "{\"op\":\"error\",\"id\":7,\"code\":\"invalid_topic\","
                       "\"message\":\"topic \\\"a//b\\\" is bad\"}");
    pl_buf_reset(&b);
    pl_frame_error(&b, 0, PL_ERR_BAD_JSON, NULL);
    assert_payload(&b, "{\"op\":\"error\",\"id\":null,\"code\":\"bad_json\","
                       "\"message\":\"bad_json\"}");
    pl_buf_reset(&b);
    pl_frame_error(&b, 9007199254740991LL, PL_ERR_RATE_LIMITED, "slow down");
    assert_payload(&b, "{\"op\":\"error\",\"id\":9007199254740991,"
                       "\"code\":\"rate_limited\",\"message\":\"slow down\"}");
    pl_buf_cleanup(&b);
}

static void test_msg_frames(void **state)
{
    struct pl_buf b;

    (void)state;
    pl_buf_init(&b, 16);
    pl_frame_msg(&b, "chat/general", 58, 1764130000123LL, "alice",
                 "{\"text\":\"hi\"}", 13, false);
    assert_payload(&b, "{\"op\":\"msg\",\"topic\":\"chat/general\",\"seq\":58,"
                       "\"ts\":1764130000123,\"from\":\"alice\","
                       "\"data\":{\"text\":\"hi\"}}");
    pl_buf_reset(&b);
    pl_frame_msg(&b, "sensors/t1", 12, 5, "http", "21.5", 4, true);
    assert_payload(&b, "{\"op\":\"msg\",\"topic\":\"sensors/t1\",\"seq\":12,"
                       "\"ts\":5,\"from\":\"http\",\"data\":21.5,"
                       "\"retained\":true}");
    pl_buf_reset(&b);
    pl_frame_begin(&b, "ok");
    pl_frame_id(&b, 5);
    pl_frame_kv_str(&b, "topic", "chat/general");
    pl_buf_cstr(&b, ",\"messages\":[");
    pl_frame_history_item(&b, 8, 100, "bob", "null", 4);
    pl_buf_cstr(&b, ",");
    pl_frame_history_item(&b, 9, 101, "al\"ice", "[1,2]", 5);
    pl_buf_cstr(&b, "]");
    pl_frame_end(&b);
    assert_payload(&b, "{\"op\":\"ok\",\"id\":5,\"topic\":\"chat/general\","
                       "\"messages\":[{\"seq\":8,\"ts\":100,\"from\":\"bob\","
                       "\"data\":null},{\"seq\":9,\"ts\":101,"
                       "\"from\":\"al\\\"ice\",\"data\":[1,2]}]}");
    pl_buf_cleanup(&b);
}

/* Escapes s[0..n), checks the output text, and checks that cJSON reads
 * back exactly s. */
static void check_escape(const char *s, size_t n, const char *want)
{
    struct pl_buf b;
    char *text = NULL;
    cJSON *j = NULL;

    pl_buf_init(&b, 8);
    pl_buf_json_str(&b, s, n);
    text = payload(&b);
    if (want != NULL && strcmp(text, want) != 0)
        fail_msg("escape: got %s want %s", text, want);
    j = cJSON_ParseWithLength(text, b.len);
    assert_non_null(j);
    assert_true(cJSON_IsString(j));
    /* cJSON stops at a decoded NUL; compare what it can hold. */
    if (memchr(s, '\0', n) == NULL) {
        assert_int_equal(strlen(j->valuestring), n);
        assert_memory_equal(j->valuestring, s, n);
    }
    cJSON_Delete(j);
    free(text);
    pl_buf_cleanup(&b);
}

/* Chat relations (#16) are optional members after the v1 ones. */
static void test_msg_refs(void **state)
{
    struct pl_buf b;
    struct pl_msg_refs edit = {42, 0, 7, false};
    struct pl_msg_refs del = {0, 42, 0, false};
    struct pl_msg_refs gone = {0, 0, 0, true};
    struct pl_msg_refs none = {0, 0, 0, false};

    (void)state;
    pl_buf_init(&b, 16);
    pl_frame_msg_refs(&b, "chat/x", 57, 9, "al", "{\"t\":1}", 7, false,
                      &edit);
    assert_payload(&b, "{\"op\":\"msg\",\"topic\":\"chat/x\",\"seq\":57,"
                       "\"ts\":9,\"from\":\"al\",\"data\":{\"t\":1},"
                       "\"edit_of\":42,\"reply_to\":7}");
    pl_buf_reset(&b);
    pl_frame_msg_refs(&b, "chat/x", 58, 9, "al", "null", 4, false, &del);
    assert_payload(&b, "{\"op\":\"msg\",\"topic\":\"chat/x\",\"seq\":58,"
                       "\"ts\":9,\"from\":\"al\",\"data\":null,"
                       "\"redacts\":42}");
    pl_buf_reset(&b);
    pl_frame_history_item_refs(&b, 42, 8, "al", "null", 4, &gone);
    assert_payload(&b, "{\"seq\":42,\"ts\":8,\"from\":\"al\",\"data\":null,"
                       "\"redacted\":true}");
    pl_buf_reset(&b);
    pl_frame_history_item_refs(&b, 1, 2, "x", "3", 1, &none);
    assert_payload(&b, "{\"seq\":1,\"ts\":2,\"from\":\"x\",\"data\":3}");
    pl_buf_cleanup(&b);
}

static void test_json_escape(void **state)
{
    char all[256];

    (void)state;
    check_escape("", 0, "\"\"");
    check_escape("plain text", 10, "\"plain text\"");
    check_escape("a\"b", 3, "\"a\\\"b\"");
    check_escape("a\\b", 3, "\"a\\\\b\"");
    check_escape("/", 1, "\"/\"");
    check_escape("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    check_escape("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    check_escape("a\0b", 3, "\"a\\u0000b\"");
    check_escape("\x7f", 1, "\"\x7f\"");
    check_escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    check_escape("\xe2\x80\xa8", 3, "\"\xe2\x80\xa8\"");
    /* every control character and every ASCII byte round-trips */
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    check_escape(all, 127, NULL);
    for (int c = 1; c < 0x20; c++) {
        char one[1] = {(char)c};

        check_escape(one, 1, NULL);
    }
}

static void test_int(void **state)
{
    static const int64_t vals[] = {
        0, 1, -1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, -12345,
        1764130000123LL, 9007199254740991LL, -9007199254740991LL,
        INT64_MAX, INT64_MIN, INT64_MIN + 1, 4294967296LL, 1000000000000LL,
    };
    struct pl_buf b;
    char want[32];

    (void)state;
    pl_buf_init(&b, 4);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        pl_buf_reset(&b);
        pl_buf_int(&b, vals[i]);
        snprintf(want, sizeof(want), "%lld", (long long)vals[i]);
        assert_payload(&b, want);
    }
    /* every power of ten and its neighbours */
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) {
        for (int64_t d = -1; d <= 1; d++) {
            pl_buf_reset(&b);
            pl_buf_int(&b, p + d);
            snprintf(want, sizeof(want), "%lld", (long long)(p + d));
            assert_payload(&b, want);
        }
    }
    /* a pseudo-random sweep */
    {
        uint64_t x = 88172645463325252ULL;

        for (int i = 0; i < 100000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pl_buf_reset(&b);
            int64_t v = (int64_t)(x >> (i % 64));

            pl_buf_int(&b, v);
            snprintf(want, sizeof(want), "%lld", (long long)v);
            assert_payload(&b, want);
        }
    }
    pl_buf_cleanup(&b);
}

static void test_growth(void **state)
{
    struct pl_buf b;
    size_t total = 0;

    (void)state;
    assert_int_equal(pl_buf_init(&b, 1), 0);
    for (int i = 0; i < 100000; i++) {
        char chunk[16];
        int n = snprintf(chunk, sizeof(chunk), "%d,", i);

        pl_buf_raw(&b, chunk, (size_t)n);
        total += (size_t)n;
    }
    assert_false(pl_buf_failed(&b));
    assert_int_equal(b.len, total);
    assert_true(b.cap >= b.len);
    /* content intact: re-read the numbers */
    {
        char *s = payload(&b);
        char *p = s;

        for (int i = 0; i < 100000; i++) {
            char *end = NULL;

            assert_int_equal(strtol(p, &end, 10), i);
            assert_int_equal(*end, ',');
            p = end + 1;
        }
        free(s);
    }
    pl_buf_cleanup(&b);
}

static void test_failure(void **state)
{
    struct pl_buf b;
    unsigned char *frame = (unsigned char *)"x";
    size_t frame_len = 99;

    (void)state;
    /* an impossible allocation fails cleanly */
    assert_int_equal(pl_buf_init(&b, SIZE_MAX - 4), -ENOMEM);
    assert_true(pl_buf_failed(&b));
    pl_frame_begin(&b, "ok");
    pl_buf_int(&b, 5);
    pl_buf_json_str(&b, "x", 1);
    assert_int_equal(b.len, 0);
    assert_string_equal(pl_buf_data(&b), "");
    pl_buf_ws_finish(&b, &frame, &frame_len);
    assert_null(frame);
    assert_int_equal(frame_len, 0);
    pl_buf_cleanup(&b);

    /* a failure in the middle makes later appends no-ops */
    pl_buf_init(&b, 64);
    pl_buf_cstr(&b, "abc");
    pl_buf_raw(&b, "x", SIZE_MAX - 8); /* cannot be reserved */
    assert_true(pl_buf_failed(&b));
    pl_buf_cstr(&b, "def");
    assert_int_equal(b.len, 3);
    frame = (unsigned char *)"x";
    pl_buf_ws_finish(&b, &frame, &frame_len);
    assert_null(frame);
    /* reset forgets the failure and keeps the allocation */
    pl_buf_reset(&b);
    assert_false(pl_buf_failed(&b));
    pl_buf_cstr(&b, "ok");
    assert_payload(&b, "ok");
    pl_buf_cleanup(&b);
}

static void check_ws(size_t n)
{
    struct pl_buf b;
    unsigned char *frame = NULL;
    size_t frame_len = 0;
    size_t h;
    char *fill = malloc(n + 1);

    assert_non_null(fill);
    memset(fill, 'a', n);
    pl_buf_init(&b, 0);
    pl_buf_raw(&b, fill, n);
    pl_buf_ws_finish(&b, &frame, &frame_len);
    assert_non_null(frame);
    h = pl_ws_header_len(n);
    assert_int_equal(frame_len, h + n);
    assert_int_equal(frame[0], 0x81);   /* FIN, text, no RSV */
    assert_int_equal(frame[1] & 0x80, 0); /* unmasked */
    if (n < 126) {
        assert_int_equal(h, 2);
        assert_int_equal(frame[1], n);
    } else if (n < 65536) {
        assert_int_equal(h, 4);
        assert_int_equal(frame[1], 126);
        assert_int_equal(((size_t)frame[2] << 8) | frame[3], n);
    } else {
        uint64_t v = 0;

        assert_int_equal(h, 10);
        assert_int_equal(frame[1], 127);
        for (int i = 0; i < 8; i++)
            v = (v << 8) | frame[2 + i];
        assert_int_equal(v, n);
        assert_int_equal(frame[2] & 0x80, 0); /* MSB must be 0 */
    }
    assert_ptr_equal(frame + h, pl_buf_data(&b));
    assert_memory_equal(frame + h, fill, n);
    pl_buf_cleanup(&b);
    free(fill);
}

static void test_ws_header(void **state)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536,
                                  70000, 1 << 20};

    (void)state;
    assert_int_equal(pl_ws_header_len(0), 2);
    assert_int_equal(pl_ws_header_len(125), 2);
    assert_int_equal(pl_ws_header_len(126), 4);
    assert_int_equal(pl_ws_header_len(65535), 4);
    assert_int_equal(pl_ws_header_len(65536), 10);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        check_ws(lens[i]);

    /* exact bytes for a small frame */
    {
        struct pl_buf b;
        unsigned char *frame = NULL;
        size_t frame_len = 0;
        static const unsigned char want[] = {0x81, 0x0B, '{', '"', 'o', 'p',
                                             '"', ':', '"', 'o', 'k', '"',
                                             '}'};

        pl_buf_init(&b, 0);
        pl_frame_begin(&b, "ok");
        pl_frame_end(&b);
        pl_buf_ws_finish(&b, &frame, &frame_len);
        assert_int_equal(frame_len, sizeof(want));
        assert_memory_equal(frame, want, sizeof(want));
        pl_buf_cleanup(&b);
    }
}

/* Every frame this module builds is valid JSON. */
static void test_frames_are_json(void **state)
{
    struct pl_buf b;
    cJSON *j = NULL;

    (void)state;
    pl_buf_init(&b, 0);
    pl_frame_msg(&b, "t/\x01\"\\", 1, 2, "x\ny", "{\"a\":[1,{}]}", 12, true);
    j = cJSON_ParseWithLength(pl_buf_data(&b), b.len);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "topic")->valuestring,
                        "t/\x01\"\\");
    assert_string_equal(cJSON_GetObjectItem(j, "from")->valuestring, "x\ny");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "retained")));
    cJSON_Delete(j);
    pl_buf_reset(&b);
    pl_frame_begin(&b, "ok");
    pl_frame_kv_str(&b, "user", NULL);
    pl_frame_kv_raw(&b, "data", NULL, 0);
    pl_frame_end(&b);
    assert_payload(&b, "{\"op\":\"ok\",\"user\":null,\"data\":null}");
    pl_buf_cleanup(&b);
}

static void test_errors_table(void **state)
{
    static const struct {
        enum pl_err err;
        const char *code;
        int status;
    } rows[] = {
        {PL_ERR_BAD_JSON, "bad_json", 400},
        {PL_ERR_BAD_REQUEST, "bad_request", 400},
        {PL_ERR_UNKNOWN_OP, "unknown_op", 400},
        {PL_ERR_UNAUTHORIZED, "unauthorized", 401},
        {PL_ERR_FORBIDDEN, "forbidden", 403},
        {PL_ERR_INVALID_TOPIC, "invalid_topic", 400},
        {PL_ERR_TOO_LARGE, "too_large", 413},
        {PL_ERR_RATE_LIMITED, "rate_limited", 429},
        {PL_ERR_OVERLOADED, "overloaded", 503},
        {PL_ERR_INTERNAL, "internal", 500},
    };

    (void)state;
    assert_int_equal(sizeof(rows) / sizeof(rows[0]), PL_ERR__COUNT - 1);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_string_equal(pl_err_code(rows[i].err), rows[i].code);
        assert_int_equal(pl_err_http_status(rows[i].err), rows[i].status);
    }
    assert_string_equal(pl_err_code(PL_ERR__COUNT), "internal");
    assert_string_equal(pl_err_code((enum pl_err)-1), "internal");
    assert_int_equal(pl_err_http_status(PL_ERR__COUNT), 500);
}

/* RFC 4648 section 10's vectors in both alphabets, and bytes that differ
 * between them. */
static void test_base64(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *std;
        const char *url;
    } v[] = {
        {"", 0, "", ""},
        {"f", 1, "Zg==", "Zg"},
        {"fo", 2, "Zm8=", "Zm8"},
        {"foo", 3, "Zm9v", "Zm9v"},
        {"foob", 4, "Zm9vYg==", "Zm9vYg"},
        {"fooba", 5, "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
        {"\xfb\xff\xbf", 3, "+/+/", "-_-_"},
        {"\0\0", 2, "AAA=", "AAA"},
    };
    struct pl_buf b;

    (void)state;
    assert_int_equal(pl_buf_init(&b, 0), 0);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        pl_buf_reset(&b);
        pl_buf_base64(&b, v[i].in, v[i].n, false);
        assert_payload(&b, v[i].std);
        pl_buf_reset(&b);
        pl_buf_cstr(&b, "x");
        pl_buf_base64(&b, v[i].in, v[i].n, true);
        assert_int_equal(b.len, 1 + strlen(v[i].url));
        assert_memory_equal(pl_buf_data(&b) + 1, v[i].url, b.len - 1);
    }
    pl_buf_cleanup(&b);
}

/* A close frame: header, code in network order, the reason, and a reason
 * too long for a control frame cut to fit. */
static void test_close_frame(void **state)
{
    unsigned char f[PL_WS_CLOSE_MAX];
    char long_reason[200];
    size_t n = 0;

    (void)state;
    n = pl_ws_close_frame(f, 1009, "message too large");
    assert_int_equal(n, 4 + 17);
    assert_int_equal(f[0], 0x88);
    assert_int_equal(f[1], 2 + 17);
    assert_int_equal(f[2] << 8 | f[3], 1009);
    assert_memory_equal(f + 4, "message too large", 17);

    n = pl_ws_close_frame(f, 4008, "");
    assert_int_equal(n, 4);
    assert_int_equal(f[1], 2);
    assert_int_equal(f[2] << 8 | f[3], 4008);

    memset(long_reason, 'r', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    n = pl_ws_close_frame(f, 1000, long_reason);
    assert_int_equal(n, PL_WS_CLOSE_MAX);
    assert_int_equal(f[1], 125);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),
        cmocka_unit_test(test_error_frame),
        cmocka_unit_test(test_msg_frames),
        cmocka_unit_test(test_msg_refs),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_ws_header),
        cmocka_unit_test(test_frames_are_json),
        cmocka_unit_test(test_errors_table),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_close_frame),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
