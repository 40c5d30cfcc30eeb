/*
 * test_mqtt_payload.c: unit tests of protocol/mqtt_payload.c, the mapping
 * between MQTT payload bytes and a message's JSON `data`, and of the JSON
 * helpers it borrows from cmd.c (pl_json_valid, pl_json_compact,
 * pl_json_unescape). Tables of payloads and data both ways; every data
 * text produced must be accepted as a `pub`'s data unchanged; and the
 * cases where the mapping does not round-trip are pinned as documented in
 * protocol/README.md ("MQTT").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd.h"
#include "mqtt_payload.h"

#define JSON PL_MQTT_PAYLOAD_JSON
#define TEXT PL_MQTT_PAYLOAD_TEXT
#define BINARY PL_MQTT_PAYLOAD_BINARY

struct to_data_row {
    const char *payload;
    size_t len;          /* 0: strlen(payload) */
    const char *data;    /* expected JSON text */
    size_t data_len;     /* 0: strlen(data) */
    enum pl_mqtt_payload_kind kind;
};

static const struct to_data_row to_data_rows[] = {
    /* JSON text: its value, without insignificant whitespace */
    {"21.5", 0, "21.5", 0, JSON},
    {" 21.5\n", 0, "21.5", 0, JSON},
    {"-0.5e+3", 0, "-0.5e+3", 0, JSON},
    {"12345678901234567890123", 0, "12345678901234567890123", 0, JSON},
    {"{\"t\": 21.5, \"u\": \"C\"}", 0, "{\"t\":21.5,\"u\":\"C\"}", 0, JSON},
    {"{ \"s\" : \"a b\" }", 0, "{\"s\":\"a b\"}", 0, JSON},
    {"[1, 2,\t3]", 0, "[1,2,3]", 0, JSON},
    {"\"hello\"", 0, "\"hello\"", 0, JSON},
    {"\"a\\u0000b\"", 0, "\"a\\u0000b\"", 0, JSON},
    {"true", 0, "true", 0, JSON},
    {"null", 0, "null", 0, JSON},
    {"{}", 0, "{}", 0, JSON},
    /* other UTF-8: a JSON string of it */
    {"", 0, "\"\"", 0, TEXT},
    {"hello", 0, "\"hello\"", 0, TEXT},
    {"21.5 C", 0, "\"21.5 C\"", 0, TEXT},
    {"ON", 0, "\"ON\"", 0, TEXT},
    {"01", 0, "\"01\"", 0, TEXT},
    {"1.", 0, "\"1.\"", 0, TEXT},
    {"NaN", 0, "\"NaN\"", 0, TEXT},
    {"{\"a\":1} x", 0, "\"{\\\"a\\\":1} x\"", 0, TEXT},
    {"{'a':1}", 0, "\"{'a':1}\"", 0, TEXT},
    {"[1,]", 0, "\"[1,]\"", 0, TEXT},
    {"\"\\ud800\"", 0, "\"\\\"\\\\ud800\\\"\"", 0, TEXT},
    {"line\nbreak\t", 0, "\"line\\nbreak\\t\"", 0, TEXT},
    {"a\"b\\c", 0, "\"a\\\"b\\\\c\"", 0, TEXT},
    {"\xc3\xa9t\xc3\xa9", 0, "\"\xc3\xa9t\xc3\xa9\"", 0, TEXT},
    {"a\0b", 3, "\"a\\u0000b\"", 0, TEXT},
    {"\x01\x1f\x7f", 0, "\"\\u0001\\u001f\x7f\"", 0, TEXT},
    {"\xef\xbb\xbf{}", 0, "\"\xef\xbb\xbf{}\"", 0, TEXT}, /* BOM: not JSON */
    /* not UTF-8: base64 (RFC 4648 section 4, padded) */
    {"\xff", 0, "{\"base64\":\"/w==\"}", 0, BINARY},
    {"\x00\xff", 2, "{\"base64\":\"AP8=\"}", 0, BINARY},
    {"\x00\xff\x10", 3, "{\"base64\":\"AP8Q\"}", 0, BINARY},
    {"\xfb\xff\xbf\x00", 4, "{\"base64\":\"+/+/AA==\"}", 0, BINARY},
    {"\xc0\xaf", 0, "{\"base64\":\"wK8=\"}", 0, BINARY},       /* overlong */
    {"\xed\xa0\x80", 0, "{\"base64\":\"7aCA\"}", 0, BINARY},   /* surrogate */
    {"caf\xe9", 0, "{\"base64\":\"Y2Fm6Q==\"}", 0, BINARY},    /* Latin-1 */
    {"\xe2\x82", 0, "{\"base64\":\"4oI=\"}", 0, BINARY},       /* cut */
};

/* data accepted by `pub` as is: parse a pub frame around it. */
static void assert_pub_data(const char *data, size_t n)
{
    static const char head[] = "{\"op\":\"pub\",\"topic\":\"a\",\"data\":";
    size_t hl = sizeof(head) - 1;
    char *frame = malloc(hl + n + 1);
    struct pl_cmd cmd;
    const char *why = NULL;

    assert_non_null(frame);
    memcpy(frame, head, hl);
    memcpy(frame + hl, data, n);
    frame[hl + n] = '}';
    if (pl_cmd_parse(frame, hl + n + 1, NULL, &cmd, &why) != PL_OK)
        fail_msg("data %.*s refused by pub: %s", (int)n, data, why);
    assert_int_equal(cmd.data_len, n);
    assert_memory_equal(cmd.data, data, n);
    pl_cmd_cleanup(&cmd);
    free(frame);
}

static void test_payload_to_data(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(to_data_rows) / sizeof(to_data_rows[0]);
         i++) {
        const struct to_data_row *r = &to_data_rows[i];
        size_t len = r->len != 0 ? r->len : strlen(r->payload);
        size_t dlen = r->data_len != 0 ? r->data_len : strlen(r->data);
        struct pl_buf b;
        enum pl_mqtt_payload_kind kind;

        assert_int_equal(pl_buf_init(&b, 16), 0);
        kind = pl_mqtt_payload_to_data(&b, r->payload, len, 0);
        assert_false(pl_buf_failed(&b));
        if (kind != r->kind || b.len != dlen ||
            memcmp(pl_buf_data(&b), r->data, dlen) != 0)
            fail_msg("row %zu: payload '%.*s' gave %d '%.*s', want %d '%s'",
                     i, (int)len, r->payload, kind, (int)b.len,
                     pl_buf_data(&b), r->kind, r->data);
        assert_pub_data(pl_buf_data(&b), b.len);
        /* text comes back as the same bytes (strings unescape) */
        if (kind == TEXT) {
            char *out = malloc(b.len);
            size_t n;

            assert_non_null(out);
            n = pl_mqtt_data_to_payload(pl_buf_data(&b), b.len, out);
            assert_int_equal(n, len);
            assert_memory_equal(out, r->payload, len);
            free(out);
        }
        pl_buf_cleanup(&b);
    }
}

struct to_payload_row {
    const char *data;
    const char *payload;
    size_t len;          /* 0: strlen(payload) */
    bool verbatim;
};

static const struct to_payload_row to_payload_rows[] = {
    {"\"hello\"", "hello", 0, false},
    {"\"\"", "", 0, false},
    {"\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d", 0, false},
    {"\"\\u00e9\\n\"", "\xc3\xa9\n", 0, false},
    {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 0, false},
    {"\"a\\u0000b\"", "a\0b", 3, false},
    {"21.5", "21.5", 0, true},
    {"-1e-7", "-1e-7", 0, true},
    {"{\"t\":21.5}", "{\"t\":21.5}", 0, true},
    {"[\"a\",1]", "[\"a\",1]", 0, true},
    {"null", "null", 0, true},
    {"true", "true", 0, true},
    {"false", "false", 0, true},
    {"{\"base64\":\"/w==\"}", "{\"base64\":\"/w==\"}", 0, true},
};

static void test_data_to_payload(void **state)
{
    (void)state;
    for (size_t i = 0;
         i < sizeof(to_payload_rows) / sizeof(to_payload_rows[0]); i++) {
        const struct to_payload_row *r = &to_payload_rows[i];
        size_t dlen = strlen(r->data);
        size_t want = r->len != 0 ? r->len : strlen(r->payload);
        char *out = malloc(dlen);
        size_t n;

        assert_non_null(out);
        assert_int_equal(pl_mqtt_data_is_verbatim(r->data, dlen), r->verbatim);
        n = pl_mqtt_data_to_payload(r->data, dlen, out);
        if (n != want || memcmp(out, r->payload, n) != 0)
            fail_msg("data %s: payload '%.*s', want '%.*s'", r->data, (int)n,
                     out, (int)want, r->payload);
        free(out);
    }
}

/* A compact JSON value that is not a string survives both ways. */
static void test_json_round_trip(void **state)
{
    static const char *const values[] = {
        "0", "21.5", "{\"t\":21.5,\"u\":\"C\"}", "[[],{},\"\"]", "null",
        "{\"a\":{\"b\":[1,2,{\"c\":\"\\u0000\"}]}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        const char *v = values[i];
        size_t n = strlen(v);
        struct pl_buf b;
        char *out = malloc(n);

        assert_non_null(out);
        assert_int_equal(pl_buf_init(&b, 0), 0);
        assert_int_equal(pl_mqtt_payload_to_data(&b, v, n, 0), JSON);
        assert_int_equal(b.len, n);
        assert_memory_equal(pl_buf_data(&b), v, n);
        assert_int_equal(pl_mqtt_data_to_payload(pl_buf_data(&b), b.len, out),
                         n);
        assert_memory_equal(out, v, n);
        pl_buf_cleanup(&b);
        free(out);
    }
}

/* Maps payload to data, then data back to a payload (NUL-terminated). */
static char *there_and_back(const char *payload, size_t len,
                            enum pl_mqtt_payload_kind *kind, size_t *out_len)
{
    struct pl_buf b;
    char *out = NULL;

    assert_int_equal(pl_buf_init(&b, 0), 0);
    *kind = pl_mqtt_payload_to_data(&b, payload, len, 0);
    out = malloc(b.len + 1);
    assert_non_null(out);
    *out_len = pl_mqtt_data_to_payload(pl_buf_data(&b), b.len, out);
    out[*out_len] = '\0';
    pl_buf_cleanup(&b);
    return out;
}

/*
 * Where the mapping is lossy, as protocol/README.md says, which is why a
 * message published over MQTT keeps its own bytes for MQTT subscribers.
 */
static void test_not_a_bijection(void **state)
{
    enum pl_mqtt_payload_kind kind;
    size_t n = 0;
    char *p = NULL;

    (void)state;
    /* a payload that is a JSON string loses its quotes */
    p = there_and_back("\"hi\"", 4, &kind, &n);
    assert_int_equal(kind, JSON);
    assert_string_equal(p, "hi");
    free(p);
    /* JSON with whitespace comes back compact */
    p = there_and_back("{ \"a\": 1 }", 10, &kind, &n);
    assert_string_equal(p, "{\"a\":1}");
    free(p);
    /* binary comes back as the JSON text of its base64 object */
    p = there_and_back("\xff\xfe", 2, &kind, &n);
    assert_int_equal(kind, BINARY);
    assert_string_equal(p, "{\"base64\":\"//4=\"}");
    free(p);
    /* a JSON string whose text is JSON: data "123" goes out as 123, which
     * reads back as the number */
    {
        char out[8];
        struct pl_buf b;

        n = pl_mqtt_data_to_payload("\"123\"", 5, out);
        assert_int_equal(n, 3);
        assert_int_equal(pl_buf_init(&b, 0), 0);
        assert_int_equal(pl_mqtt_payload_to_data(&b, out, n, 0), JSON);
        assert_int_equal(b.len, 3);
        assert_memory_equal(pl_buf_data(&b), "123", 3);
        pl_buf_cleanup(&b);
    }
}

/* The "needs raw?" rule: a payload keeps its exact bytes with the message
 * exactly when payload -> data -> what an MQTT subscriber is sent
 * (pl_mqtt_data_to_wire) changes them. */
struct raw_row {
    const char *payload;
    size_t len;          /* 0: strlen(payload) */
    bool needs_raw;
};

static const struct raw_row raw_rows[] = {
    /* the common cases cost nothing: they come back as themselves */
    {"21.5", 0, false},
    {"{\"t\":21.5}", 0, false},
    {"[1,2,{\"a\":null}]", 0, false},
    {"hello", 0, false},
    {"ON", 0, false},
    {"21.5 C", 0, false},
    {"01", 0, false},
    {"line\nbreak", 0, false},
    {"caf\xc3\xa9", 0, false},
    {"", 0, false},
    {"\xff\x00\x10", 3, false},   /* binary: base64 object, decoded back */
    {"caf\xe9", 0, false},
    {"true", 0, false},
    /* the lossy ones keep their bytes */
    {"{\"t\": 21.5}", 0, true},  /* whitespace */
    {" 21.5\n", 0, true},
    {"\"hi\"", 0, true},          /* a JSON string: quotes */
    {"\"\"", 0, true},
    {"\"caf\\u00e9\"", 0, true},  /* an escape */
    {"null", 0, true},             /* goes out empty */
    {"{\"base64\":\"/w==\"}", 0, true}, /* would be decoded to FF */
    {"123", 0, false},
};

static void test_needs_raw(void **state)
{
    struct pl_buf b;
    unsigned char back[64];
    size_t i = 0;

    (void)state;
    assert_int_equal(pl_buf_init(&b, 0), 0);
    for (i = 0; i < sizeof(raw_rows) / sizeof(raw_rows[0]); i++) {
        const struct raw_row *r = &raw_rows[i];
        size_t len = r->len ? r->len : strlen(r->payload);
        size_t n = 0;
        int got = 0;

        pl_buf_reset(&b);
        pl_mqtt_payload_to_data(&b, r->payload, len, 0);
        assert_false(pl_buf_failed(&b));
        got = pl_mqtt_payload_needs_raw(r->payload, len, pl_buf_data(&b),
                                        b.len);
        if (got != (int)r->needs_raw)
            fail_msg("row %zu (%.*s): needs_raw %d, want %d", i, (int)len,
                     r->payload, got, r->needs_raw);
        /* the rule is the round trip: no raw means the bytes come back */
        assert_true(b.len <= sizeof(back));
        n = pl_mqtt_data_to_wire(pl_buf_data(&b), b.len, back);
        assert_int_equal(!r->needs_raw,
                         n == len && memcmp(back, r->payload, len) == 0);
    }
    /* an empty retained payload is data null (it clears the value): the
     * subscriber gets it empty, as sent */
    assert_int_equal(pl_mqtt_payload_needs_raw("", 0, "null", 4), 0);
    /* past the stack buffer (256 bytes): the same answers */
    for (i = 0; i < 2; i++) {
        char text[600];

        memset(text, 'a', sizeof(text));
        if (i == 1) { /* a quoted string: kept */
            text[0] = '"';
            text[sizeof(text) - 1] = '"';
        }
        pl_buf_reset(&b);
        pl_mqtt_payload_to_data(&b, text, sizeof(text), 0);
        assert_true(b.len > 256);
        assert_int_equal(pl_mqtt_payload_needs_raw(text, sizeof(text),
                                                   pl_buf_data(&b), b.len),
                         (int)i);
    }
    pl_buf_cleanup(&b);
}

/* JSON nested past the limit is text, not refused; the limit is the
 * command parser's (default 64, at least 32). */
static void test_depth(void **state)
{
    char deep[2 * 100];
    struct pl_buf b;

    (void)state;
    for (int d = 0; d < 100; d++) {
        deep[d] = '[';
        deep[199 - d] = ']';
    }
    assert_int_equal(pl_buf_init(&b, 0), 0);
    assert_int_equal(pl_mqtt_payload_to_data(&b, deep + 100 - 64, 128, 0),
                     JSON);
    assert_int_equal(b.len, 128);
    pl_buf_reset(&b);
    assert_int_equal(pl_mqtt_payload_to_data(&b, deep + 100 - 65, 130, 0),
                     TEXT);
    assert_int_equal(b.len, 132);
    pl_buf_reset(&b);
    assert_int_equal(pl_mqtt_payload_to_data(&b, deep, 200, 100), JSON);
    pl_buf_reset(&b);
    assert_int_equal(pl_mqtt_payload_to_data(&b, deep, 200, 99), TEXT);
    pl_buf_cleanup(&b);

    assert_true(pl_json_valid(deep + 100 - 32, 64, 1));  /* 1 -> 32 */
    assert_false(pl_json_valid(deep + 100 - 33, 66, 1));
}

static void test_json_helpers(void **state)
{
    char out[64];
    bool nul = false;

    (void)state;
    assert_true(pl_json_valid("1", 1, 0));
    assert_true(pl_json_valid(" \"x\" ", 5, 0));
    assert_false(pl_json_valid("", 0, 0));
    assert_false(pl_json_valid(NULL, 0, 0));
    assert_false(pl_json_valid(" ", 1, 0));
    assert_false(pl_json_valid("1 2", 3, 0));
    assert_false(pl_json_valid("\"\xff\"", 3, 0));
    assert_int_equal(pl_json_compact(" { \"a b\" : [ 1 , \"\\\" \" ] } ", 28,
                                     out),
                     18);
    assert_memory_equal(out, "{\"a b\":[1,\"\\\" \"]}", 18);
    assert_int_equal(pl_json_unescape("a\\tb", 4, out, &nul), 3);
    assert_memory_equal(out, "a\tb", 3);
    assert_false(nul);
    assert_int_equal(pl_json_unescape("\\u0000", 6, out, &nul), 1);
    assert_true(nul);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_to_data),
        cmocka_unit_test(test_data_to_payload),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_not_a_bijection),
        cmocka_unit_test(test_needs_raw),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_json_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
