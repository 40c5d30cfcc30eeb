/*
 * test_topic.c: unit tests of protocol/topic.c, table-driven from
 * protocol-v1 "Topics" and the examples of MQTT 3.1.1 section 4.7, plus an
 * exhaustive cross-check of pl_pattern_covers() against pl_topic_match()
 * over a small universe of topics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "topic.h"

struct valid_row {
    const char *t;
    size_t len;      /* 0: strlen(t) */
    bool wildcards;
    bool ok;
};

static const struct valid_row valid_rows[] = {
    /* concrete topics: valid */
    {"a", 0, false, true},
    {"chat/general", 0, false, true},
    {"sensors/t1", 0, false, true},
    {"$SYS/uptime", 0, false, true},
    {"$", 0, false, true},
    {"a$b", 0, false, true},
    {"a b/c d", 0, false, true},
    {"sport/tennis/player1", 0, false, true},
    {"\xc3\xa9/\xc3\xbc", 0, false, true},                 /* é/ü */
    {"\xe6\x97\xa5\xe6\x9c\xac", 0, false, true},          /* 日本 */
    {"\xf0\x9f\x98\x80", 0, false, true},                  /* U+1F600 */
    {"\xf4\x8f\xbf\xbf", 0, false, true},                  /* U+10FFFF */
    {"\xc2\xa0", 0, false, true},                          /* U+00A0 */
    {"\xed\x9f\xbf", 0, false, true},                      /* U+D7FF */
    {"\xee\x80\x80", 0, false, true},                      /* U+E000 */
    {"\x7e", 0, false, true},                              /* '~' */
    /* concrete topics: invalid (spec examples first) */
    {"a//b", 0, false, false},
    {"/a", 0, false, false},
    {"a/", 0, false, false},
    {"", 0, false, false},
    {"/", 0, false, false},
    {"//", 0, false, false},
    {"a+b", 0, false, false},
    {"a/b#", 0, false, false},
    {"a/#", 0, false, false},
    {"a/+", 0, false, false},
    {"+", 0, false, false},
    {"#", 0, false, false},
    {"a\tb", 0, false, false},
    {"a\nb", 0, false, false},
    {"\x01", 0, false, false},
    {"\x1f", 0, false, false},
    {"a\x7f", 0, false, false},
    {"a\xc2\x80", 0, false, false},                        /* U+0080 */
    {"\xc2\x9f", 0, false, false},                         /* U+009F */
    {"a\0b", 3, false, false},                             /* U+0000 */
    {"\xc0\xaf", 0, false, false},                         /* overlong '/' */
    {"\xc1\xbf", 0, false, false},                         /* overlong */
    {"\xe0\x80\xaf", 0, false, false},                     /* overlong */
    {"\xe0\x9f\xbf", 0, false, false},                     /* overlong */
    {"\xf0\x8f\xbf\xbf", 0, false, false},                 /* overlong */
    {"\xed\xa0\x80", 0, false, false},                     /* U+D800 */
    {"\xed\xbf\xbf", 0, false, false},                     /* U+DFFF */
    {"\xf4\x90\x80\x80", 0, false, false},                 /* U+110000 */
    {"\xf5\x80\x80\x80", 0, false, false},
    {"\xff", 0, false, false},
    {"\x80", 0, false, false},                             /* lone cont. */
    {"a\xe2\x82", 0, false, false},                        /* truncated */
    {"\xe2\x28\xa1", 0, false, false},                     /* bad cont. */
    /* patterns: valid (spec + MQTT 4.7) */
    {"+", 0, true, true},
    {"#", 0, true, true},
    {"a/+", 0, true, true},
    {"+/a", 0, true, true},
    {"a/#", 0, true, true},
    {"+/+", 0, true, true},
    {"+/#", 0, true, true},
    {"a/+/c", 0, true, true},
    {"$SYS/#", 0, true, true},
    {"sport/tennis/#", 0, true, true},
    {"sport/+/player1", 0, true, true},
    {"+/tennis/#", 0, true, true},
    {"chat/general", 0, true, true},
    /* patterns: invalid */
    {"a+b", 0, true, false},
    {"a/b#", 0, true, false},
    {"a/#/b", 0, true, false},
    {"sport/tennis#", 0, true, false},
    {"sport/tennis/#/ranking", 0, true, false},
    {"##", 0, true, false},
    {"++", 0, true, false},
    {"a/++", 0, true, false},
    {"+a", 0, true, false},
    {"a+", 0, true, false},
    {"#/a", 0, true, false},
    {"#/#", 0, true, false},
    {"/+", 0, true, false},
    {"+/", 0, true, false},
    {"a//#", 0, true, false},
    {"", 0, true, false},
    {"+\x01", 0, true, false},
};

static void test_validate_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_rows) / sizeof(valid_rows[0]); i++) {
        const struct valid_row *r = &valid_rows[i];
        size_t len = r->len ? r->len : strlen(r->t);
        enum pl_err got = pl_topic_validate(r->t, len, r->wildcards);
        enum pl_err want = r->ok ? PL_OK : PL_ERR_INVALID_TOPIC;

        if (got != want)
            fail_msg("row %zu: validate(\"%s\", wildcards=%d) = %d, want %d",
                     i, r->t, r->wildcards, got, want);
    }
}

static void test_validate_lengths(void **state)
{
    char t[300];

    (void)state;
    memset(t, 'x', sizeof(t));
    assert_int_equal(pl_topic_validate(t, 1, false), PL_OK);
    assert_int_equal(pl_topic_validate(t, 255, false), PL_OK);
    assert_int_equal(pl_topic_validate(t, 256, false), PL_ERR_INVALID_TOPIC);
    assert_int_equal(pl_topic_validate(t, 256, true), PL_ERR_INVALID_TOPIC);
    assert_int_equal(pl_topic_validate(t, 0, false), PL_ERR_INVALID_TOPIC);
    /* The length is what counts, not a NUL: "xx/" cut to "xx" is fine. */
    memcpy(t, "xx/", 3);
    assert_int_equal(pl_topic_validate(t, 2, false), PL_OK);
    assert_int_equal(pl_topic_validate(t, 3, false), PL_ERR_INVALID_TOPIC);
    /* 255 bytes of 2-byte characters do not fit; 254 do. */
    for (int i = 0; i < 254; i += 2)
        memcpy(t + i, "\xc3\xa9", 2);
    assert_int_equal(pl_topic_validate(t, 254, false), PL_OK);
    t[254] = 'a';
    t[255] = 'b';
    assert_int_equal(pl_topic_validate(t, 256, false), PL_ERR_INVALID_TOPIC);
    assert_int_equal(pl_topic_validate(NULL, 0, false), PL_ERR_INVALID_TOPIC);
}

static void test_is_pattern(void **state)
{
    (void)state;
    assert_true(pl_topic_is_pattern("+", 1));
    assert_true(pl_topic_is_pattern("a/#", 3));
    assert_true(pl_topic_is_pattern("a/+/b", 5));
    assert_false(pl_topic_is_pattern("a/b", 3));
    assert_false(pl_topic_is_pattern("$SYS/x", 6));
}

struct match_row {
    const char *pattern;
    const char *topic;
    bool match;
};

static const struct match_row match_rows[] = {
    /* MQTT 3.1.1 4.7.1.2 */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"#", "sport", true},
    {"#", "sport/tennis/player1", true},
    /* MQTT 3.1.1 4.7.1.3 */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"+", "sport", true},
    {"+", "sport/tennis", false},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/golf", false},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport/tennis/player2", false},
    /* MQTT 3.1.1 4.7.2: '$' topics and leading wildcards */
    {"#", "$SYS/monitor/Clients", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"+", "$SYS", false},
    {"+/#", "$SYS/x", false},
    {"$SYS/x", "$SYS/x", true},
    {"a/+", "a/$b", true},
    {"a/#", "a/$b/c", true},
    /* spec: a/# matches a, a/b, a/b/c */
    {"a/#", "a", true},
    {"a/#", "a/b", true},
    {"a/#", "a/b/c", true},
    {"a/#", "ab", false},
    {"a/#", "b", false},
    {"a/#", "b/a", false},
    /* '+' is exactly one level */
    {"a/+/c", "a/b/c", true},
    {"a/+/c", "a/b/d", false},
    {"a/+/c", "a/b/c/d", false},
    {"a/+/c", "a/c", false},
    {"a/+", "a", false},
    {"a/+", "a/b", true},
    {"a/+/#", "a", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a/b/c/d", true},
    {"+/+", "a/b", true},
    {"+/+", "a", false},
    {"+/+", "a/b/c", false},
    {"+/#", "a", true},
    {"+/#", "a/b/c", true},
    /* concrete against concrete */
    {"chat/general", "chat/general", true},
    {"chat/general", "chat/generals", false},
    {"chat/generals", "chat/general", false},
    {"chat", "chat/general", false},
    {"chat/general", "chat", false},
    {"Chat/general", "chat/general", false},
    {"a/b", "a/b/", false},
    {"\xc3\xa9/+", "\xc3\xa9/x", true},
};

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(match_rows) / sizeof(match_rows[0]); i++) {
        const struct match_row *r = &match_rows[i];
        bool got = pl_topic_match(r->pattern, r->topic);

        if (got != r->match)
            fail_msg("row %zu: match(\"%s\", \"%s\") = %d, want %d", i,
                     r->pattern, r->topic, got, r->match);
    }
}

struct covers_row {
    const char *outer;
    const char *inner;
    bool covers;
};

static const struct covers_row covers_rows[] = {
    {"a/#", "a/+/b", true},
    {"a/+", "a/#", false},
    {"#", "$SYS/x", false},
    {"$SYS/#", "$SYS/a", true},
    {"#", "a/b", true},
    {"#", "#", true},
    {"#", "+/x", true},
    {"#", "+", true},
    {"+", "a", true},
    {"+", "+", true},
    {"+", "a/b", false},
    {"+", "#", false},
    {"+", "$SYS", false},
    {"a", "+", false},
    {"a", "a", true},
    {"a/+", "a/b", true},
    {"a/+", "a/+", true},
    {"a/+", "a/b/c", false},
    {"a/+", "a", false},
    {"a/#", "a", true},
    {"a/#", "a/#", true},
    {"a/#", "#", false},
    {"a/#", "+", false},
    {"a/#", "a/b/c/d", true},
    {"a/#", "ab", false},
    {"a/b", "a/b", true},
    {"a/b", "a/c", false},
    {"+/#", "a", true},
    {"+/#", "#", true},
    {"+/#", "$SYS/a", false},
    {"$SYS/#", "#", false},
    {"$SYS/#", "$SYS/+", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/+", "$SYS/+", true},
    {"$SYS/+", "$SYS/#", false},
    {"a/+/#", "a", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a/+/c/#", true},
    {"+/+", "a/+", true},
    {"+/+", "+/+", true},
    {"a/+/c", "a/b/+", false},
    {"chat/#", "chat/general", true},
    {"chat/#", "news/x", false},
};

static void test_covers_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(covers_rows) / sizeof(covers_rows[0]);
         i++) {
        const struct covers_row *r = &covers_rows[i];
        bool got = pl_pattern_covers(r->outer, r->inner);

        if (got != r->covers)
            fail_msg("row %zu: covers(\"%s\", \"%s\") = %d, want %d", i,
                     r->outer, r->inner, got, r->covers);
    }
}

/*
 * Exhaustive check: for every pair of patterns of up to 3 levels over
 * {a, $s, +, #}, covers(o, i) holds exactly when every topic of up to 4
 * levels over {a, z, $s} matched by i is matched by o. 'z' appears in no
 * pattern, so it stands for "any other level".
 */
#define U_MAX 4096

static size_t gen(const char *const *alpha, size_t n_alpha, int max_levels,
                  bool wildcards, char out[][32], size_t cap)
{
    size_t count = 0;
    size_t first = 0;

    /* Level 1 */
    for (size_t k = 0; k < n_alpha && count < cap; k++)
        snprintf(out[count++], 32, "%s", alpha[k]);
    for (int lvl = 2; lvl <= max_levels; lvl++) {
        size_t end = count;

        for (size_t j = first; j < end; j++) {
            /* Patterns here are a few levels of 1-2 bytes: no overflow.
             * Built with memcpy: snprintf from one row of out into
             * another trips -Wrestrict. */
            size_t plen = strlen(out[j]);

            for (size_t k = 0; k < n_alpha && count < cap; k++) {
                size_t alen = strlen(alpha[k]);

                assert_true(plen + 1 + alen < 32);
                memcpy(out[count], out[j], plen);
                out[count][plen] = '/';
                memcpy(out[count] + plen + 1, alpha[k], alen + 1);
                count++;
            }
        }
        first = end;
    }
    /* Keep only valid ones. */
    size_t w = 0;

    for (size_t j = 0; j < count; j++) {
        if (pl_topic_validate(out[j], strlen(out[j]), wildcards) == PL_OK) {
            if (w != j)
                memcpy(out[w], out[j], 32);
            w++;
        }
    }
    return w;
}

static char u_patterns[U_MAX][32];
static char u_topics[U_MAX][32];

static void test_covers_exhaustive(void **state)
{
    static const char *const p_alpha[] = {"a", "$s", "+", "#"};
    static const char *const t_alpha[] = {"a", "z", "$s"};
    size_t np;
    size_t nt;
    size_t checked = 0;

    (void)state;
    np = gen(p_alpha, 4, 3, true, u_patterns, U_MAX);
    nt = gen(t_alpha, 3, 4, false, u_topics, U_MAX);
    assert_true(np > 50);
    assert_true(nt > 100);
    for (size_t o = 0; o < np; o++) {
        for (size_t i = 0; i < np; i++) {
            bool want = true;
            bool got = pl_pattern_covers(u_patterns[o], u_patterns[i]);

            for (size_t t = 0; t < nt && want; t++) {
                if (pl_topic_match(u_patterns[i], u_topics[t]) &&
                    !pl_topic_match(u_patterns[o], u_topics[t]))
                    want = false;
            }
            if (got != want)
                fail_msg("covers(\"%s\", \"%s\") = %d, brute force %d",
                         u_patterns[o], u_patterns[i], got, want);
            checked++;
        }
    }
    assert_true(checked == np * np);
}

/* A concrete topic is covered by exactly the patterns that match it. */
static void test_covers_concrete_is_match(void **state)
{
    static const char *const p_alpha[] = {"a", "$s", "+", "#"};
    static const char *const t_alpha[] = {"a", "z", "$s"};
    size_t np;
    size_t nt;

    (void)state;
    np = gen(p_alpha, 4, 3, true, u_patterns, U_MAX);
    nt = gen(t_alpha, 3, 3, false, u_topics, U_MAX);
    for (size_t o = 0; o < np; o++) {
        for (size_t t = 0; t < nt; t++) {
            assert_int_equal(pl_pattern_covers(u_patterns[o], u_topics[t]),
                             pl_topic_match(u_patterns[o], u_topics[t]));
        }
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(pl_utf8_valid("", 0));
    assert_true(pl_utf8_valid("abc", 3));
    assert_true(pl_utf8_valid("a\0b", 3));
    assert_true(pl_utf8_valid("\xc2\x80", 2));
    assert_true(pl_utf8_valid("\xef\xbf\xbf", 3));
    assert_false(pl_utf8_valid("\xc2", 1));
    assert_false(pl_utf8_valid("\xc2\x80", 1));  /* cut by len */
    assert_false(pl_utf8_valid("\xed\xa0\x80", 3));
    assert_false(pl_utf8_valid("\xe0\x80\x80", 3));
    assert_false(pl_utf8_valid("\xf8\x88\x80\x80\x80", 5));
    assert_false(pl_utf8_valid("\xf0\x9f\x98", 3));
    assert_false(pl_utf8_valid("\xf0\x9f\x98\x41", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_table),
        cmocka_unit_test(test_validate_lengths),
        cmocka_unit_test(test_is_pattern),
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_covers_table),
        cmocka_unit_test(test_covers_exhaustive),
        cmocka_unit_test(test_covers_concrete_is_match),
        cmocka_unit_test(test_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
