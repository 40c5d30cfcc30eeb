/*
 * test_topic_tree.c: the subscription index on its own. Pattern matching
 * through topic_tree_match() against MQTT's rules (table-driven, then
 * cross-checked with pl_topic_match() on generated patterns), pruning of
 * trie nodes on release, the hash map of concrete topics at 10k
 * entries, and the name trie a pattern sub walks: the same answers as
 * pl_topic_match() over every topic, at the cost of the matched branches
 * only (100k topics). The tests play the hub's part: they link struct sub entries
 * into the lists and keep tree->patterns, as hub.c does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub_types.h"
#include "topic.h"
#include "topic_tree.h"

#define MAX_PATTERNS 512

/* The patterns added to one tree, each with one sub linked in. */
struct fixture {
    struct topic_tree tree;
    struct sub *subs[MAX_PATTERNS];
    size_t n;
    unsigned visits[MAX_PATTERNS];
};

static struct sub *sub_for(const char *pattern)
{
    size_t n = strlen(pattern);
    struct sub *s = calloc(1, sizeof(*s) + n + 1);

    assert_non_null(s);
    memcpy(s->pattern, pattern, n + 1);
    s->is_pattern = true;
    return s;
}

/* Subscribe one more sub to pattern, as hub.c's sub_add does. */
static size_t fx_add(struct fixture *fx, const char *pattern)
{
    struct sub_list *l = topic_tree_pattern_list(&fx->tree, pattern);
    struct sub *s = sub_for(pattern);

    assert_non_null(l);
    assert_true(fx->n < MAX_PATTERNS);
    s->list = l;
    s->t_next = l->head;
    if (l->head != NULL)
        l->head->t_prev = s;
    l->head = s;
    l->count++;
    fx->tree.patterns++;
    fx->subs[fx->n] = s;
    return fx->n++;
}

/* Unsubscribe sub i, as hub.c's sub_remove does. */
static void fx_remove(struct fixture *fx, size_t i)
{
    struct sub *s = fx->subs[i];
    struct sub_list *l = NULL;

    assert_non_null(s);
    l = s->list;
    if (s->t_prev != NULL)
        s->t_prev->t_next = s->t_next;
    else
        l->head = s->t_next;
    if (s->t_next != NULL)
        s->t_next->t_prev = s->t_prev;
    l->count--;
    topic_tree_pattern_release(&fx->tree, l);
    fx->tree.patterns--;
    free(s);
    fx->subs[i] = NULL;
}

static void fx_init(struct fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    assert_int_equal(topic_tree_init(&fx->tree), 0);
}

static void fx_cleanup(struct fixture *fx)
{
    size_t i;

    for (i = 0; i < fx->n; i++)
        if (fx->subs[i] != NULL)
            fx_remove(fx, i);
    assert_int_equal(fx->tree.patterns, 0);
    assert_int_equal(fx->tree.nodes_count, 0);
    topic_tree_cleanup(&fx->tree, NULL);
}

static size_t fx_index(const struct fixture *fx, const struct sub *s)
{
    size_t i;

    for (i = 0; i < fx->n; i++)
        if (fx->subs[i] == s)
            return i;
    fail_msg("callback got a list that holds no known sub");
    return 0;
}

static void count_cb(void *arg, struct sub_list *l)
{
    struct fixture *fx = arg;
    struct sub *s = NULL;

    assert_true(l->count > 0); /* empty lists are never reported */
    for (s = l->head; s != NULL; s = s->t_next)
        fx->visits[fx_index(fx, s)]++;
}

static void fx_match(struct fixture *fx, const char *topic)
{
    memset(fx->visits, 0, sizeof(fx->visits));
    topic_tree_match(&fx->tree, topic, count_cb, fx);
}

/* ---- matching, table-driven ------------------------------------------- */

static const char *const table_patterns[] = {
    "#", "+", "+/+", "+/#", "a/#", "a/+", "a/+/c", "a/b/#", "+/b/+",
    "$SYS/#", "$SYS/+", "+/+/+/#", "a/+/+", "chat/#", "x/+/y",
};
#define N_TABLE_PATTERNS (sizeof(table_patterns) / sizeof(table_patterns[0]))

static const struct {
    const char *topic;
    const char *matches[16]; /* NULL-terminated */
} match_table[] = {
    { "a", { "#", "+", "+/#", "a/#", NULL } },
    { "b", { "#", "+", "+/#", NULL } },
    { "a/b", { "#", "+/+", "+/#", "a/#", "a/+", "a/b/#", NULL } },
    { "a/b/c", { "#", "+/#", "a/#", "a/+/c", "a/b/#", "+/b/+", "+/+/+/#",
                 "a/+/+", NULL } },
    { "a/x/c/d", { "#", "+/#", "a/#", "+/+/+/#", NULL } },
    { "x/y", { "#", "+/+", "+/#", NULL } },
    { "x/q/y", { "#", "+/#", "+/+/+/#", "x/+/y", NULL } },
    { "chat/general", { "#", "+/+", "+/#", "chat/#", NULL } },
    { "chat", { "#", "+", "+/#", "chat/#", NULL } },
    /* `#` and `+` as the first level never match `$` topics */
    { "$SYS/x", { "$SYS/#", "$SYS/+", NULL } },
    { "$SYS", { "$SYS/#", NULL } },
    { "$SYS/x/y", { "$SYS/#", NULL } },
    { "$other/b/c", { NULL } },
    /* `$` inside a topic is an ordinary character */
    { "a/$b", { "#", "+/+", "+/#", "a/#", "a/+", NULL } },
    { "ab", { "#", "+", "+/#", NULL } },
    { "a/bb", { "#", "+/+", "+/#", "a/#", "a/+", NULL } },
};

static void test_match_table(void **state)
{
    struct fixture fx;
    size_t i;
    size_t k;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < N_TABLE_PATTERNS; i++)
        fx_add(&fx, table_patterns[i]);
    for (i = 0; i < sizeof(match_table) / sizeof(match_table[0]); i++) {
        const char *topic = match_table[i].topic;

        fx_match(&fx, topic);
        for (k = 0; k < N_TABLE_PATTERNS; k++) {
            const char *p = table_patterns[k];
            unsigned want = 0;
            size_t j;

            for (j = 0; match_table[i].matches[j] != NULL; j++)
                if (strcmp(match_table[i].matches[j], p) == 0)
                    want = 1;
            if (fx.visits[k] != want)
                fail_msg("topic %s pattern %s: visited %u times, want %u",
                         topic, p, fx.visits[k], want);
            /* The table and the protocol library agree. */
            assert_int_equal(pl_topic_match(p, topic), want == 1);
        }
    }
    fx_cleanup(&fx);
}

/* Several subscribers on one pattern share one list: one callback. */
static void test_shared_list(void **state)
{
    struct fixture fx;
    size_t a = 0;
    size_t b = 0;
    size_t c = 0;

    (void)state;
    fx_init(&fx);
    a = fx_add(&fx, "s/+");
    b = fx_add(&fx, "s/+");
    c = fx_add(&fx, "s/#");
    assert_ptr_equal(fx.subs[a]->list, fx.subs[b]->list);
    assert_ptr_not_equal(fx.subs[a]->list, fx.subs[c]->list);
    fx_match(&fx, "s/1");
    assert_int_equal(fx.visits[a], 1);
    assert_int_equal(fx.visits[b], 1);
    assert_int_equal(fx.visits[c], 1);
    fx_remove(&fx, a);
    fx_match(&fx, "s/1");
    assert_int_equal(fx.visits[b], 1);
    assert_int_equal(fx.visits[c], 1);
    fx_cleanup(&fx);
}

/* Callbacks record which lists were visited, to prove that unrelated
 * patterns are never even looked at. */
struct visit_log {
    unsigned calls;
};

static void log_cb(void *arg, struct sub_list *l)
{
    struct visit_log *v = arg;

    (void)l;
    v->calls++;
}

static void test_unrelated_not_visited(void **state)
{
    struct fixture fx;
    struct visit_log v = { 0 };
    static const char *const unrelated[] = {
        "chat/general", "chat/x/y", "x", "x/y", "x/y/z/w", "y/q/x",
        "$SYS/x/y", "sensors/t1",
    };
    size_t i;

    (void)state;
    fx_init(&fx);
    fx_add(&fx, "x/+/y");
    fx_add(&fx, "sensors/+/temp/#");
    for (i = 0; i < sizeof(unrelated) / sizeof(unrelated[0]); i++) {
        v.calls = 0;
        topic_tree_match(&fx.tree, unrelated[i], log_cb, &v);
        if (v.calls != 0)
            fail_msg("%s visited %u pattern lists", unrelated[i], v.calls);
    }
    v.calls = 0;
    topic_tree_match(&fx.tree, "x/q/y", log_cb, &v);
    assert_int_equal(v.calls, 1);
    v.calls = 0;
    topic_tree_match(&fx.tree, "sensors/a/temp", log_cb, &v);
    assert_int_equal(v.calls, 1);
    fx_cleanup(&fx);

    /* An empty tree visits nothing and does not crash. */
    fx_init(&fx);
    v.calls = 0;
    topic_tree_match(&fx.tree, "a/b", log_cb, &v);
    assert_int_equal(v.calls, 0);
    fx_cleanup(&fx);
}

/* The deepest legal topic (128 levels, 255 bytes) still matches. */
static void test_deep_topic(void **state)
{
    struct fixture fx;
    char topic[256];
    char pattern[256];
    size_t i;
    size_t all = 0;
    size_t hash = 0;
    size_t plus = 0;
    size_t wrong = 0;

    (void)state;
    for (i = 0; i < 128; i++) {
        topic[2 * i] = 'a';
        pattern[2 * i] = '+';
        topic[2 * i + 1] = '/';
        pattern[2 * i + 1] = '/';
    }
    topic[255] = '\0';
    pattern[255] = '\0';
    assert_int_equal(strlen(topic), 255);
    assert_int_equal(pl_topic_validate(topic, 255, false), PL_OK);
    fx_init(&fx);
    all = fx_add(&fx, "#");
    hash = fx_add(&fx, "a/a/#");
    plus = fx_add(&fx, pattern);
    pattern[253] = '\0'; /* 127 levels: one short */
    wrong = fx_add(&fx, pattern);
    fx_match(&fx, topic);
    assert_int_equal(fx.visits[all], 1);
    assert_int_equal(fx.visits[hash], 1);
    assert_int_equal(fx.visits[plus], 1);
    assert_int_equal(fx.visits[wrong], 0);
    fx_cleanup(&fx);
}

/* ---- generated cross-check against pl_topic_match --------------------- */

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void gen(char *out, size_t cap, bool pattern)
{
    static const char *const words[] = { "a", "b", "c", "$SYS", "$x" };
    size_t levels = 1 + rng() % 4;
    size_t i;
    size_t n = 0;

    out[0] = '\0';
    for (i = 0; i < levels; i++) {
        const char *w = words[rng() % 5];
        uint32_t r = rng() % 10;

        if (i > 0 && w[0] == '$')
            w = "d";
        if (pattern && r < 3)
            w = "+";
        else if (pattern && r == 3 && i + 1 == levels)
            w = "#";
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "/" : "", w);
    }
}

static void test_match_generated(void **state)
{
    struct fixture fx;
    char buf[64];
    size_t i;
    size_t k;
    unsigned matched = 0;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < 300; i++) {
        gen(buf, sizeof(buf), true);
        if (!pl_topic_is_pattern(buf, strlen(buf)))
            continue; /* concrete subs live in the topic map, not here */
        assert_int_equal(pl_topic_validate(buf, strlen(buf), true), PL_OK);
        fx_add(&fx, buf);
    }
    assert_true(fx.n > 100);
    for (i = 0; i < 3000; i++) {
        gen(buf, sizeof(buf), false);
        fx_match(&fx, buf);
        for (k = 0; k < fx.n; k++) {
            unsigned want = pl_topic_match(fx.subs[k]->pattern, buf) ? 1 : 0;

            if (fx.visits[k] != want)
                fail_msg("topic %s pattern %s: visited %u times, want %u",
                         buf, fx.subs[k]->pattern, fx.visits[k], want);
            matched += want;
        }
    }
    assert_true(matched > 1000); /* the check really exercised matches */
    fx_cleanup(&fx);
}

/* ---- pruning ---------------------------------------------------------- */

static void test_prune_on_release(void **state)
{
    struct fixture fx;
    size_t ab = 0;
    size_t ap = 0;
    size_t abc = 0;
    size_t h = 0;
    struct visit_log v = { 0 };
    uint32_t nodes = 0;

    (void)state;
    fx_init(&fx);
    ab = fx_add(&fx, "a/b/#");
    assert_int_equal(fx.tree.nodes_count, 3);
    ap = fx_add(&fx, "a/+");
    assert_int_equal(fx.tree.nodes_count, 4); /* shares "a" */
    abc = fx_add(&fx, "a/b/c/+");
    assert_int_equal(fx.tree.nodes_count, 6); /* shares "a", "b" */
    h = fx_add(&fx, "#");
    assert_int_equal(fx.tree.nodes_count, 7);
    nodes = fx.tree.nodes_count;

    /* The same pattern again reuses its node. */
    assert_ptr_equal(topic_tree_pattern_list(&fx.tree, "a/+"),
                     fx.subs[ap]->list);
    assert_int_equal(fx.tree.nodes_count, nodes);

    fx_remove(&fx, ab);      /* "#" under b goes; b stays for c/+ */
    assert_int_equal(fx.tree.nodes_count, 6);
    fx_remove(&fx, abc);     /* b, c, + go; "a", its "+" and "#" stay */
    assert_int_equal(fx.tree.nodes_count, 3);
    fx_match(&fx, "a/b/c/d");
    assert_int_equal(fx.visits[h], 1);
    fx_remove(&fx, ap);
    assert_int_equal(fx.tree.nodes_count, 1);
    fx_remove(&fx, h);
    assert_int_equal(fx.tree.nodes_count, 0);
    assert_int_equal(fx.tree.patterns, 0);
    topic_tree_match(&fx.tree, "a/b", log_cb, &v);
    assert_int_equal(v.calls, 0);

    /* A pattern list asked for and released unused leaves nothing. */
    topic_tree_pattern_release(&fx.tree,
                               topic_tree_pattern_list(&fx.tree, "q/r/s/#"));
    assert_int_equal(fx.tree.nodes_count, 0);
    fx_cleanup(&fx);
}

/* Many patterns added and removed in a scrambled order: the trie is
 * empty again and matching stays right in between. */
static void test_prune_many(void **state)
{
    struct fixture fx;
    char buf[64];
    size_t order[MAX_PATTERNS];
    size_t i;

    (void)state;
    fx_init(&fx);
    for (i = 0; i < 400; i++) {
        snprintf(buf, sizeof(buf), "p%zu/+/l%zu/#", i % 17, i % 5);
        fx_add(&fx, buf);
        order[i] = i;
    }
    for (i = 399; i > 0; i--) {
        size_t j = rng() % (i + 1);
        size_t t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    for (i = 0; i < 400; i++) {
        fx_remove(&fx, order[i]);
        if (i == 200) {
            size_t k;

            fx_match(&fx, "p3/x/l3/z");
            for (k = 0; k < fx.n; k++) {
                unsigned want = fx.subs[k] != NULL &&
                    pl_topic_match(fx.subs[k]->pattern, "p3/x/l3/z");

                assert_int_equal(fx.visits[k], want);
            }
        }
    }
    assert_int_equal(fx.tree.patterns, 0);
    assert_int_equal(fx.tree.nodes_count, 0);
    fx_cleanup(&fx);
}

/* ---- the topic map ---------------------------------------------------- */

static struct topic *topic_for(const char *name)
{
    struct topic *t = calloc(1, sizeof(*t));
    size_t n = strlen(name);

    assert_non_null(t);
    t->name = malloc(n + 1);
    assert_non_null(t->name);
    memcpy(t->name, name, n + 1);
    t->name_len = n;
    t->hash = topic_hash(name, n);
    return t;
}

static unsigned topics_freed;

static void free_topic(struct topic *t)
{
    topics_freed++;
    free(t->name);
    free(t);
}

static int count_topic(void *arg, struct topic *t)
{
    unsigned *n = arg;

    assert_non_null(t->name);
    (*n)++;
    return 0;
}

static int stop_at_three(void *arg, struct topic *t)
{
    unsigned *n = arg;

    (void)t;
    return ++(*n) == 3 ? 42 : 0;
}

#define N_TOPICS 10000

static void test_many_topics(void **state)
{
    struct topic_tree tree;
    static struct topic *ts[N_TOPICS];
    char name[64];
    unsigned n = 0;
    size_t i;

    (void)state;
    assert_int_equal(topic_tree_init(&tree), 0);
    for (i = 0; i < N_TOPICS; i++) {
        snprintf(name, sizeof(name), "room/%zu/x", i);
        assert_null(topic_tree_find(&tree, name, strlen(name)));
        ts[i] = topic_for(name);
        assert_int_equal(topic_tree_insert(&tree, ts[i]), 0);
    }
    assert_int_equal(tree.topics_count, N_TOPICS);
    assert_true(tree.topics_cap >= N_TOPICS); /* the map grew */
    for (i = 0; i < N_TOPICS; i++) {
        snprintf(name, sizeof(name), "room/%zu/x", i);
        assert_ptr_equal(topic_tree_find(&tree, name, strlen(name)), ts[i]);
    }
    /* A prefix or a longer name is another topic. */
    assert_null(topic_tree_find(&tree, "room/1", 6));
    assert_null(topic_tree_find(&tree, "room/1/x/y", 10));
    /* len counts, not the NUL: "room/1/xyz" cut at 8 is "room/1/x" */
    assert_ptr_equal(topic_tree_find(&tree, "room/1/xyz", 8), ts[1]);
    assert_int_equal(topic_tree_foreach(&tree, count_topic, &n), 0);
    assert_int_equal(n, N_TOPICS);
    n = 0;
    assert_int_equal(topic_tree_foreach(&tree, stop_at_three, &n), 42);
    assert_int_equal(n, 3);

    /* Remove the even ones. */
    for (i = 0; i < N_TOPICS; i += 2) {
        topic_tree_remove(&tree, ts[i]);
        free_topic(ts[i]);
        ts[i] = NULL;
    }
    assert_int_equal(tree.topics_count, N_TOPICS / 2);
    for (i = 0; i < N_TOPICS; i++) {
        snprintf(name, sizeof(name), "room/%zu/x", i);
        if (i % 2 == 0)
            assert_null(topic_tree_find(&tree, name, strlen(name)));
        else
            assert_ptr_equal(topic_tree_find(&tree, name, strlen(name)),
                             ts[i]);
    }
    /* cleanup frees what is left through the callback */
    topics_freed = 0;
    topic_tree_cleanup(&tree, free_topic);
    assert_int_equal(topics_freed, N_TOPICS / 2);
}

/* ---- the name trie: pattern -> known topics ---------------------------- */

#define MAX_NAMES 256

struct name_set {
    struct topic *ts[MAX_NAMES];
    unsigned seen[MAX_NAMES];
    size_t n;
};

static int note_seen(void *arg, struct topic *t)
{
    struct name_set *ns = arg;
    size_t i;

    for (i = 0; i < ns->n; i++) {
        if (ns->ts[i] == t) {
            ns->seen[i]++;
            return 0;
        }
    }
    fail_msg("visited a topic that is not indexed: %s", t->name);
    return 0;
}

/* Every pattern finds exactly the topics pl_topic_match() accepts, each
 * once, however they share prefixes ("a", "a/b", "$SYS/a", ...). */
static void test_names_match_generated(void **state)
{
    struct topic_tree tree;
    struct name_set ns;
    char buf[64];
    size_t i;
    size_t k;
    unsigned matched = 0;

    (void)state;
    memset(&ns, 0, sizeof(ns));
    assert_int_equal(topic_tree_init(&tree), 0);
    for (i = 0; i < 2000 && ns.n < MAX_NAMES; i++) {
        gen(buf, sizeof(buf), false);
        if (topic_tree_find(&tree, buf, strlen(buf)) != NULL)
            continue;
        ns.ts[ns.n] = topic_for(buf);
        assert_int_equal(topic_tree_insert(&tree, ns.ts[ns.n]), 0);
        ns.n++;
    }
    assert_true(ns.n > 100);
    for (i = 0; i < 500; i++) {
        gen(buf, sizeof(buf), true);
        assert_int_equal(pl_topic_validate(buf, strlen(buf), true), PL_OK);
        memset(ns.seen, 0, sizeof(ns.seen));
        assert_int_equal(topic_tree_foreach_match(&tree, buf, note_seen, &ns),
                         0);
        for (k = 0; k < ns.n; k++) {
            unsigned want = pl_topic_match(buf, ns.ts[k]->name) ? 1 : 0;

            if (ns.seen[k] != want)
                fail_msg("pattern %s topic %s: visited %u times, want %u",
                         buf, ns.ts[k]->name, ns.seen[k], want);
            matched += want;
        }
    }
    assert_true(matched > 1000);
    /* Removing every topic leaves no name node behind. */
    for (k = 0; k < ns.n; k++) {
        topic_tree_remove(&tree, ns.ts[k]);
        free_topic(ns.ts[k]);
    }
    assert_int_equal(tree.topics_count, 0);
    assert_int_equal(tree.nodes_count, 0);
    topic_tree_cleanup(&tree, NULL);
}

#define N_ROOMS 1000
#define N_PER_ROOM 100
#define N_KITCHEN 10

static int count_kitchen(void *arg, struct topic *t)
{
    unsigned *n = arg;

    assert_true(pl_topic_match("sensors/kitchen/+", t->name));
    (*n)++;
    return 0;
}

/* With 100,000 other topics, `sensors/kitchen/+` looks at the kitchen's
 * branch only: the node count is what the matched topics cost. */
static void test_names_walk_cost(void **state)
{
    struct topic_tree tree;
    static struct topic *ts[N_ROOMS * N_PER_ROOM + N_KITCHEN];
    char name[64];
    unsigned n = 0;
    size_t nt = 0;
    size_t r;
    size_t i;

    (void)state;
    assert_int_equal(topic_tree_init(&tree), 0);
    for (r = 0; r < N_ROOMS; r++) {
        for (i = 0; i < N_PER_ROOM; i++) {
            snprintf(name, sizeof(name), "sensors/room%zu/%zu", r, i);
            ts[nt] = topic_for(name);
            assert_int_equal(topic_tree_insert(&tree, ts[nt]), 0);
            nt++;
        }
    }
    for (i = 0; i < N_KITCHEN; i++) {
        snprintf(name, sizeof(name), "sensors/kitchen/%zu", i);
        ts[nt] = topic_for(name);
        assert_int_equal(topic_tree_insert(&tree, ts[nt]), 0);
        nt++;
    }
    assert_int_equal(topic_tree_foreach_match(&tree, "sensors/kitchen/+",
                                              count_kitchen, &n), 0);
    assert_int_equal(n, N_KITCHEN);
    /* "sensors", "kitchen" and its ten children */
    assert_int_equal(tree.walk_nodes, 2 + N_KITCHEN);

    n = 0;
    assert_int_equal(topic_tree_foreach_match(&tree, "sensors/kitchen/#",
                                              count_kitchen, &n), 0);
    assert_int_equal(n, N_KITCHEN);
    assert_int_equal(tree.walk_nodes, 2 + N_KITCHEN);

    /* An unknown branch costs the lookups down to where it ends. */
    assert_int_equal(topic_tree_foreach_match(&tree, "sensors/attic/+",
                                              count_kitchen, &n), 0);
    assert_int_equal(tree.walk_nodes, 1);

    /* A wildcard in the middle pays for the level it enumerates, and one
     * lookup per branch below it. */
    n = 0;
    assert_int_equal(topic_tree_foreach_match(&tree, "sensors/+/3",
                                              count_topic, &n), 0);
    assert_int_equal(n, N_ROOMS + 1);
    assert_int_equal(tree.walk_nodes, 1 + (N_ROOMS + 1) + (N_ROOMS + 1));

    /* A non-zero return stops the walk. */
    n = 0;
    assert_int_equal(topic_tree_foreach_match(&tree, "#", stop_at_three, &n),
                     42);
    assert_int_equal(n, 3);

    for (i = 0; i < nt; i++) {
        topic_tree_remove(&tree, ts[i]);
        free_topic(ts[i]);
    }
    assert_int_equal(tree.nodes_count, 0);
    topic_tree_cleanup(&tree, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_shared_list),
        cmocka_unit_test(test_unrelated_not_visited),
        cmocka_unit_test(test_deep_topic),
        cmocka_unit_test(test_match_generated),
        cmocka_unit_test(test_prune_on_release),
        cmocka_unit_test(test_prune_many),
        cmocka_unit_test(test_many_topics),
        cmocka_unit_test(test_names_match_generated),
        cmocka_unit_test(test_names_walk_cost),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
