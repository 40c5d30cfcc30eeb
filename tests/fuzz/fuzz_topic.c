/*
 * fuzz_topic.c: libFuzzer target for topic rules and matching
 * (protocol/topic.c). The input is up to three strings separated by '\n':
 * a, b and t. Each is validated as a topic and as a pattern, straight
 * from the input buffer (no NUL: the validator must respect len). When
 * they are valid, the matcher and pl_pattern_covers must agree with each
 * other:
 *   - a valid topic is a valid pattern, and matches itself;
 *   - every pattern covers itself, and '#' covers every pattern that
 *     does not start with '$';
 *   - covers(a, b) and match(b, t) imply match(a, t) (allow_sub relies on
 *     this: a sub allowed by covers never sees a topic outside allow_sub);
 *   - match(a, t) and t concrete: covers(a, t).
 * A broken rule aborts, which libFuzzer reports like a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_str {
    const char *p;     /* into the input */
    size_t len;
    char *z;           /* NUL-terminated copy */
    int topic;         /* valid topic */
    int pattern;       /* valid pattern */
};

static void fuzz_require(int ok, const char *what, const struct fuzz_str *a,
                         const struct fuzz_str *b)
{
    if (!ok) {
        fprintf(stderr, "fuzz_topic: broken rule: %s ('%s', '%s')\n", what,
                a ? a->z : "", b ? b->z : "");
        abort();
    }
}

static int fuzz_split(const uint8_t *data, size_t size, struct fuzz_str *s,
                      int max)
{
    size_t start = 0;
    size_t i = 0;
    int n = 0;

    for (i = 0; i <= size && n < max; i++) {
        if (i == size || data[i] == '\n') {
            s[n].p = (const char *)data + start;
            s[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

static void fuzz_classify(struct fuzz_str *s)
{
    /* validate on an exact-size copy: ASan sees any read past len */
    char *exact = malloc(s->len ? s->len : 1);

    s->z = malloc(s->len + 1);
    if (exact == NULL || s->z == NULL)
        abort();
    memcpy(exact, s->p, s->len);
    memcpy(s->z, s->p, s->len);
    s->z[s->len] = '\0';
    s->topic = pl_topic_validate(exact, s->len, false) == PL_OK;
    s->pattern = pl_topic_validate(exact, s->len, true) == PL_OK;
    if (s->pattern)
        (void)pl_topic_is_pattern(exact, s->len);
    (void)pl_utf8_valid(exact, s->len);
    free(exact);
    /* an embedded NUL makes the C string another one: judge that one */
    if (strlen(s->z) != s->len)
        s->topic = s->pattern = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_str s[3];
    const struct fuzz_str *a = &s[0];
    const struct fuzz_str *b = &s[1];
    const struct fuzz_str *t = &s[2];
    int n = 0;
    int i = 0;

    memset(s, 0, sizeof(s));
    n = fuzz_split(data, size, s, 3);
    for (i = 0; i < n; i++) {
        fuzz_classify(&s[i]);
        if (s[i].topic) {
            fuzz_require(s[i].pattern, "a topic is a pattern", &s[i], NULL);
            fuzz_require(!pl_topic_is_pattern(s[i].z, s[i].len),
                         "a topic has no wildcard", &s[i], NULL);
            fuzz_require(pl_topic_match(s[i].z, s[i].z),
                         "a topic matches itself", &s[i], NULL);
        }
        if (s[i].pattern) {
            fuzz_require(pl_pattern_covers(s[i].z, s[i].z),
                         "a pattern covers itself", &s[i], NULL);
            if (s[i].z[0] != '$')
                fuzz_require(pl_pattern_covers("#", s[i].z),
                             "# covers it", &s[i], NULL);
        }
    }
    if (n == 3 && a->pattern && b->pattern && t->topic) {
        int ab = pl_pattern_covers(a->z, b->z);
        int bt = pl_topic_match(b->z, t->z);
        int at = pl_topic_match(a->z, t->z);

        fuzz_require(!(ab && bt) || at, "covers(a,b) and match(b,t) but "
                     "not match(a,t)", a, b);
        fuzz_require(!at || pl_pattern_covers(a->z, t->z),
                     "match(a,t) but not covers(a,t)", a, t);
        fuzz_require(pl_topic_match(t->z, t->z), "t matches itself", t,
                     NULL);
    }
    if (n >= 2 && a->pattern && b->topic)
        fuzz_require(pl_topic_match(a->z, b->z) ==
                     pl_pattern_covers(a->z, b->z),
                     "match and covers agree on a topic", a, b);
    for (i = 0; i < n; i++)
        free(s[i].z);
    return 0;
}
