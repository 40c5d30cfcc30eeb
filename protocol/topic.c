/*
 * topic.c: owns the topic and pattern rules of protocol-v1 ("Topics"),
 * which are MQTT's: validation of topics and patterns, matching one pattern
 * against one concrete topic, and pattern coverage for access lists.
 *
 * DESIGN: a topic is 1..255 bytes of strict UTF-8 split into levels by '/'.
 *
 *   valid topics:    "chat/general"  "a"  "$SYS/uptime"  "a b/c"  "é/ü"
 *   invalid topics:  ""  "/a"  "a/"  "a//b"  "a\tb"  "a+b"  "a/#"  (pub)
 *   valid patterns:  "+"  "#"  "a/+/c"  "a/#"  "+/+"  "$SYS/#"
 *   invalid:         "a+b"  "a/b#"  "a/#/b"  "##"  "a/++"
 *
 * Matching: '+' is exactly one level, '#' (last level only) zero or more
 * levels, so "a/#" matches "a", "a/b" and "a/b/c". A pattern whose first
 * level is a wildcard never matches a topic that begins with '$'
 * ("#" does not match "$SYS/x"; "$SYS/#" does).
 *
 * Everything here is pure: no allocation, no globals, any thread.
 */
#include <stdint.h>
#include <string.h>

#include "topic.h"

/*
 * Returns true when s[0..len) is well-formed UTF-8 per RFC 3629: no
 * overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF, no truncated sequence. NUL bytes are valid UTF-8.
 */
bool pl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the 2nd byte */

        if (c < 0x80) {
            /* ASCII fast path: 8 bytes at a time. */
            uint64_t w;

            i++;
            while (len - i >= 8) {
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;       /* overlong below U+0800 */
            else if (c == 0xED)
                hi = 0x9F;       /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;       /* overlong below U+10000 */
            else if (c == 0xF4)
                hi = 0x8F;       /* above U+10FFFF */
        } else {
            return false;        /* 0x80..0xC1 lead, 0xF5..0xFF */
        }
        if (len - i <= need)
            return false;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        }
        i += need + 1;
    }
    return true;
}

/*
 * Returns PL_OK when t[0..len) is a valid topic (allow_wildcards false) or
 * pattern (allow_wildcards true), else PL_ERR_INVALID_TOPIC. t need not be
 * NUL-terminated; an embedded NUL is a control character and so invalid.
 */
enum pl_err pl_topic_validate(const char *t, size_t len, bool allow_wildcards)
{
    const unsigned char *p = (const unsigned char *)t;
    size_t level_start = 0;
    bool seen_hash = false;

    if (t == NULL || len == 0 || len > PL_TOPIC_MAX)
        return PL_ERR_INVALID_TOPIC;
    if (!pl_utf8_valid(t, len))
        return PL_ERR_INVALID_TOPIC;

    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? p[i] : '/';

        if (c < 0x20 || c == 0x7F)
            return PL_ERR_INVALID_TOPIC;
        /* U+0080..U+009F are C2 80..C2 9F (UTF-8 already checked). */
        if (c == 0xC2 && i + 1 < len && p[i + 1] <= 0x9F)
            return PL_ERR_INVALID_TOPIC;
        if (c == '+' || c == '#') {
            size_t end = i + 1;

            if (!allow_wildcards || seen_hash)
                return PL_ERR_INVALID_TOPIC;
            /* A wildcard must be the whole level. */
            if (i != level_start || (end < len && p[end] != '/'))
                return PL_ERR_INVALID_TOPIC;
            if (c == '#') {
                if (end != len)
                    return PL_ERR_INVALID_TOPIC; /* '#' only last */
                seen_hash = true;
            }
            continue;
        }
        if (c == '/') {
            if (i == level_start)
                return PL_ERR_INVALID_TOPIC; /* empty level */
            level_start = i + 1;
        }
    }
    return PL_OK;
}

/* True when t[0..len) holds a '+' or '#' (in a valid pattern, always a
 * whole level). */
bool pl_topic_is_pattern(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '+' || t[i] == '#')
            return true;
    }
    return false;
}

/* True when the level starting at s is exactly the wildcard w. */
static bool topic_level_is(const char *s, char w)
{
    return s[0] == w && (s[1] == '/' || s[1] == '\0');
}

/*
 * True when the valid pattern matches the valid concrete topic (both
 * NUL-terminated). Walks both strings level by level, no allocation.
 */
bool pl_topic_match(const char *pattern, const char *topic)
{
    const char *p = pattern;
    const char *t = topic;

    if (t[0] == '$' && (topic_level_is(p, '+') || topic_level_is(p, '#')))
        return false;

    for (;;) {
        /* Both p and t are at the start of a level. */
        if (topic_level_is(p, '#'))
            return true;
        if (topic_level_is(p, '+')) {
            p++;
            while (*t != '\0' && *t != '/')
                t++;
        } else {
            while (*p != '\0' && *p != '/' && *p == *t) {
                p++;
                t++;
            }
            if (!((*p == '\0' || *p == '/') && (*t == '\0' || *t == '/')))
                return false;
        }
        /* Both are at the end of a level. */
        if (*p == '\0' && *t == '\0')
            return true;
        if (*t == '\0')
            return strcmp(p, "/#") == 0; /* "a/#" matches "a" */
        if (*p == '\0')
            return false;
        p++;
        t++;
    }
}

/* Length of the level starting at s. */
static size_t topic_level_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0' && s[n] != '/')
        n++;
    return n;
}

/*
 * True when every topic that the valid pattern `inner` can match is also
 * matched by the valid pattern `outer`. Level by level: '#' in outer covers
 * the rest; '+' in outer covers '+' or one literal level; a literal in
 * outer covers only the same literal; '#' in inner is covered only by '#'
 * (or by a whole "+/#", which equals "#").
 * A leading wildcard in outer does not cover inner topics beginning with
 * '$', since it never matches them.
 */
bool pl_pattern_covers(const char *outer, const char *inner)
{
    const char *o = outer;
    const char *i = inner;

    if (inner[0] == '$' && (topic_level_is(o, '+') || topic_level_is(o, '#')))
        return false;
    /* Every topic has at least one level, so a whole "+/#" is "#". */
    if (strcmp(o, "+/#") == 0)
        o = "#";

    for (;;) {
        /* Both o and i are at the start of a level. */
        if (topic_level_is(o, '#'))
            return true;
        if (topic_level_is(i, '#'))
            return false;
        if (topic_level_is(o, '+')) {
            o++;
            i += topic_level_len(i);
        } else {
            size_t ol = topic_level_len(o);
            size_t il = topic_level_len(i);

            if (topic_level_is(i, '+') || ol != il || memcmp(o, i, ol) != 0)
                return false;
            o += ol;
            i += il;
        }
        if (*o == '\0' && *i == '\0')
            return true;
        if (*i == '\0')
            return strcmp(o, "/#") == 0; /* outer "a/#" covers inner "a" */
        if (*o == '\0')
            return false;
        o++;
        i++;
    }
}
