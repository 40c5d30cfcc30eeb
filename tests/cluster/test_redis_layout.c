/*
 * test_redis_layout.c: key and channel names (unambiguous whatever a topic
 * holds) and the payload decoder, against well-formed and broken text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "redis_layout.h"

static void test_keys(void **state)
{
    char a[REDIS_NAME_MAX];
    char b[REDIS_NAME_MAX];
    char small[8];

    (void)state;
    assert_int_equal(
        redis_layout_topic_key(a, sizeof(a), "chat/general", REDIS_KEY_SEQ),
        24);
    assert_string_equal(a, "pl:12:{chat/general}:seq");
    redis_layout_topic_key(a, sizeof(a), "a", REDIS_KEY_LOG);
    assert_string_equal(a, "pl:1:{a}:log");
    redis_layout_topic_key(a, sizeof(a), "a", REDIS_KEY_RET);
    assert_string_equal(a, "pl:1:{a}:ret");
    redis_layout_topic_key(a, sizeof(a), "a", REDIS_KEY_EPOCH);
    assert_string_equal(a, "pl:1:{a}:epoch");
    redis_layout_topic_key(a, sizeof(a), "a", REDIS_KEY_PRES);
    assert_string_equal(a, "pl:1:{a}:pres");
    redis_layout_idem_key(a, sizeof(a), "s/t1", "k-1");
    assert_string_equal(a, "pl:4:{s/t1}:idem:k-1");
    /* A topic holding '}' and ':' cannot collide with another topic's key:
     * the length tells them apart. */
    redis_layout_idem_key(a, sizeof(a), "a}:idem:x", "y");
    redis_layout_idem_key(b, sizeof(b), "a", "x}:idem:y");
    assert_string_not_equal(a, b);
    assert_int_equal(
        redis_layout_topic_key(small, sizeof(small), "abc", REDIS_KEY_SEQ),
        -ENAMETOOLONG);
    redis_layout_node_key(a, sizeof(a), "ab12");
    assert_string_equal(a, "pl:node:ab12");
    redis_layout_node_pres_key(a, sizeof(a), "ab12");
    assert_string_equal(a, "pl:node:ab12:pres");
    redis_layout_pres_field(a, sizeof(a), "chat/x", "bob");
    assert_string_equal(a, "6:chat/xbob");
}

static void test_channels(void **state)
{
    char a[REDIS_NAME_MAX];
    char tiny[8];

    (void)state;
    redis_layout_channel(a, sizeof(a), "chat/general");
    assert_string_equal(a, "pl:ch:chat/general");
    assert_string_equal(redis_layout_channel_topic(a), "chat/general");
    assert_null(redis_layout_channel_topic("pl:ch:"));
    assert_null(redis_layout_channel_topic("other:chat"));
    assert_int_equal(redis_layout_channel_pattern(a, sizeof(a), "chat/"), 12);
    assert_string_equal(a, "pl:ch:chat/*");
    redis_layout_channel_pattern(a, sizeof(a), "");
    assert_string_equal(a, "pl:ch:*");
    redis_layout_channel_pattern(a, sizeof(a), "a*b?[c]\\/");
    assert_string_equal(a, "pl:ch:a\\*b\\?\\[c\\]\\\\/*");
    assert_int_equal(redis_layout_channel_pattern(tiny, sizeof(tiny), "ab"),
                     -ENAMETOOLONG);
}

static void test_parse_msg(void **state)
{
    static const char p[] = "m 58 1764130000123 1 e0f1 5 alice{\"t\":\"hi\"}";
    struct redis_event ev;

    (void)state;
    assert_int_equal(redis_event_parse(p, strlen(p), &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_MSG);
    assert_int_equal(ev.seq, 58);
    assert_int_equal(ev.ts, 1764130000123LL);
    assert_true(ev.retain);
    assert_int_equal(ev.epoch_len, 4);
    assert_memory_equal(ev.epoch, "e0f1", 4);
    assert_int_equal(ev.from_len, 5);
    assert_memory_equal(ev.from, "alice", 5);
    assert_int_equal(ev.data_len, 10);
    assert_memory_equal(ev.data, "{\"t\":\"hi\"}", 10);
}

static void test_parse_from_with_spaces(void **state)
{
    /* The from length, not a separator, ends the user: spaces and digits
     * in it are data. */
    static const char p[] = "m 1 5 0 e 7 a 2 b c42";
    struct redis_event ev;

    (void)state;
    assert_int_equal(redis_event_parse(p, strlen(p), &ev), 0);
    assert_int_equal(ev.from_len, 7);
    assert_memory_equal(ev.from, "a 2 b c", 7);
    assert_int_equal(ev.data_len, 2);
    assert_memory_equal(ev.data, "42", 2);
}

static void test_parse_presence(void **state)
{
    struct redis_event ev;

    (void)state;
    assert_int_equal(redis_event_parse("j bob", 5, &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_JOIN);
    assert_int_equal(ev.user_len, 3);
    assert_memory_equal(ev.user, "bob", 3);
    assert_int_equal(redis_event_parse("l a b", 5, &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_LEAVE);
    assert_int_equal(ev.user_len, 3);
}

/* A chat payload (#16): a plain message's fields, then its relations. */
static void test_parse_chat(void **state)
{
    static const char p[] = "c 57 1764130000123 0 e0f1 42 0 7 0 5 alice"
                            "{\"t\":\"fixed\"}";
    static const char stub[] = "c 42 9 0 e0f1 0 0 0 1 3 bobnull";
    struct redis_event ev;

    (void)state;
    assert_int_equal(redis_event_parse(p, strlen(p), &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_MSG);
    assert_int_equal(ev.seq, 57);
    assert_int_equal(ev.edit_of, 42);
    assert_int_equal(ev.redacts, 0);
    assert_int_equal(ev.reply_to, 7);
    assert_false(ev.redacted);
    assert_int_equal(ev.from_len, 5);
    assert_memory_equal(ev.from, "alice", 5);
    assert_int_equal(ev.data_len, 13);
    assert_int_equal(redis_event_parse(stub, strlen(stub), &ev), 0);
    assert_true(ev.redacted);
    assert_int_equal(ev.data_len, 4);
    assert_memory_equal(ev.data, "null", 4);
    /* a plain message has no relations */
    assert_int_equal(redis_event_parse("m 1 5 0 e 1 a1", 14, &ev), 0);
    assert_int_equal(ev.edit_of + ev.redacts + ev.reply_to, 0);
    assert_false(ev.redacted);
}

/* A moved read marker on pl:marked: numbered in the marked log under its
 * epoch; the user's length ends the user. */
static void test_parse_marked(void **state)
{
    static const char p[] = "k 7 e9 0a1b 12 5 a licchat/x";
    struct redis_event ev;

    (void)state;
    assert_int_equal(redis_event_parse(p, strlen(p), &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_MARKED);
    assert_int_equal(ev.node_len, 4);
    assert_memory_equal(ev.node, "0a1b", 4);
    assert_int_equal(ev.seq, 7); /* its number in the marked log */
    assert_int_equal(ev.epoch_len, 2);
    assert_memory_equal(ev.epoch, "e9", 2);
    assert_int_equal(ev.marker, 12);
    assert_int_equal(ev.user_len, 5);
    assert_memory_equal(ev.user, "a lic", 5);
    assert_int_equal(ev.topic_len, 6);
    assert_memory_equal(ev.topic, "chat/x", 6);
}

/* An ephemeral message: encoded by the node in C, read back by every
 * other node; from may hold spaces and digits, data is kept byte for
 * byte. */
static void test_ephemeral_round_trip(void **state)
{
    static const char data[] = "{\"typing\":true}";
    size_t len = 0;
    char *p = redis_event_ephemeral("0a1b2c3d4e5f6071", 42, 1764130000123LL,
                                    true, "a 2 b", data, strlen(data), NULL, 0,
                                    &len);
    struct redis_event ev;

    (void)state;
    assert_non_null(p);
    assert_int_equal(redis_event_parse(p, len, &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_EPHEMERAL);
    assert_int_equal(ev.node_len, 16);
    assert_memory_equal(ev.node, "0a1b2c3d4e5f6071", 16);
    assert_int_equal(ev.seq, 42);
    assert_int_equal(ev.ts, 1764130000123LL);
    assert_true(ev.retain);
    assert_int_equal(ev.from_len, 5);
    assert_memory_equal(ev.from, "a 2 b", 5);
    assert_int_equal(ev.data_len, strlen(data));
    assert_memory_equal(ev.data, data, strlen(data));
    assert_null(ev.raw);
    free(p);
    assert_int_equal(redis_event_parse("e n1 1 5 0 0 7", 14, &ev), 0);
    assert_int_equal(ev.from_len, 0);
    assert_int_equal(ev.data_len, 1);
}

/* The exact MQTT payload (#14) rides in front of a message as an `r`
 * prefix, any bytes (here a space, a NUL and "m 1 "), read back exactly;
 * the message behind it decodes as without. */
static void test_raw_prefix(void **state)
{
    static const char raw[] = {'{', ' ', '\0', 'm', ' ', '1', ' ', '}'};
    static const char data[] = "{\"t\":21.5}";
    char stored[96];
    size_t len = 0;
    int n = 0;
    char *p = redis_event_ephemeral("0a1b2c3d4e5f6071", 7, 5, false, "bob",
                                    data, strlen(data), raw, sizeof(raw),
                                    &len);
    struct redis_event ev;

    (void)state;
    assert_non_null(p);
    assert_int_equal(redis_event_parse(p, len, &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_EPHEMERAL);
    assert_int_equal(ev.seq, 7);
    assert_int_equal(ev.raw_len, sizeof(raw));
    assert_memory_equal(ev.raw, raw, sizeof(raw));
    assert_int_equal(ev.data_len, strlen(data));
    assert_memory_equal(ev.data, data, strlen(data));
    free(p);
    /* a stored message, as pl_publish writes it */
    n = snprintf(stored, sizeof(stored), "r%zu ", sizeof(raw));
    memcpy(stored + n, raw, sizeof(raw));
    n += (int)sizeof(raw);
    n += snprintf(stored + n, sizeof(stored) - (size_t)n,
                  "c 9 5 0 ep 0 0 4 0 3 bob%s", data);
    assert_int_equal(redis_event_parse(stored, (size_t)n, &ev), 0);
    assert_int_equal(ev.kind, REDIS_EVENT_MSG);
    assert_int_equal(ev.seq, 9);
    assert_int_equal(ev.reply_to, 4);
    assert_int_equal(ev.from_len, 3);
    assert_memory_equal(ev.raw, raw, sizeof(raw));
    assert_int_equal(ev.data_len, strlen(data));
    /* a message without one has none */
    assert_int_equal(redis_event_parse("m 1 5 0 e 1 a1", 14, &ev), 0);
    assert_null(ev.raw);
    assert_int_equal(ev.raw_len, 0);
}

static void test_parse_bad(void **state)
{
    static const char *const bads[] = {
        "",
        "m",
        "m ",
        "j ",
        "x bob",
        "mm 1 2 0 e 1 a1",
        "m 0 5 0 e 1 a1",
        "m 1 5 2 e 1 a1",
        "m 1 5 0 e 1 a",
        "m 1 5 0 e 9 a1",
        "m 1 5 0  1 a1",
        "m 1 5 0 e",
        "m a 5 0 e 1 a1",
        "m 1 5 0 e 1a1",
        "m 99999999999999999999 5 0 e 1 a1",
        "c 1 5 0 e 1 a1",         /* a c payload needs its relations */
        "c 1 5 0 e 0 0 0 2 1 a1", /* redacted is 0 or 1 */
        "c 1 5 0 e 0 0 x 0 1 a1",
        "k 1 e n1 3 0 ab", /* a marker's user is not empty */
        "k 1 e n1 3 5 ab", /* nor longer than what follows */
        "k 1 e  3 1 ab",
        "k 1  n1 3 1 ab",  /* the log's epoch is not empty */
        "k x e n1 3 1 ab", /* its number is a number */
        "e  1 5 0 1 a1",  /* an ephemeral message names its node */
        "e n1 1 5 2 1 a1", /* retain is 0 or 1 */
        "e n1 1 5 0 2 a1", /* data is not empty */
        "e n1 1 5 0 1a1",
        "e n1 x 5 0 1 a1",
        "r0 m 1 5 0 e 1 a1",   /* a raw prefix is not empty */
        "r5 ab",               /* nor longer than what follows */
        "r2 abj bob",          /* and only in front of a message */
        "r2 abr2 abm 1 5 0 e 1 a1", /* once */
        "r2 abm 1 5 0 e 1 a",  /* the message behind it is checked */
        "rx m 1 5 0 e 1 a1",
    };
    struct redis_event ev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        print_message("'%s'\n", bads[i]);
        assert_int_equal(redis_event_parse(bads[i], strlen(bads[i]), &ev),
                         -EINVAL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_parse_msg),
        cmocka_unit_test(test_parse_from_with_spaces),
        cmocka_unit_test(test_parse_presence),
        cmocka_unit_test(test_parse_chat),
        cmocka_unit_test(test_parse_marked),
        cmocka_unit_test(test_ephemeral_round_trip),
        cmocka_unit_test(test_raw_prefix),
        cmocka_unit_test(test_parse_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
