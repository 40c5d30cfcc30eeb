/*
 * topic_tree.c: the hash map of concrete topics and the level trie of
 * wildcard subscriptions.
 *
 * DESIGN. Exact topics are looked up in one hash map, so a publish to
 * "chat/general" finds its exact subscribers in O(1) however many other
 * topics exist. Patterns are stored by level in a trie whose edges are kept
 * in a second hash map keyed by (parent node, level text); "+" and "#" are
 * just edges with those names. Matching "a/b/c" walks:
 *
 *     root -> "a" -> "b" -> "c"      exact edges
 *          -> "+" ...                one-level wildcard at each depth
 *          -> "#"                    at any depth, matches the rest
 *                                    (including nothing: "a/#" gets "a")
 *
 * so a publish costs O(levels x wildcard branches actually present), and
 * a pattern like "x/+/y" never slows down publishes under "chat/".
 * Patterns whose first level is a wildcard skip topics beginning with '$'.
 *
 * The known topic names live in a second trie of the same nodes (its own
 * root, `names`), the other way round: a pattern sub with history, since or
 * retained values walks it with the pattern. A literal level is one hash
 * lookup, "+" enumerates that node's children and "#" the whole subtree, so
 * with 100,000 topics "sensors/kitchen/+" looks at the kitchen's children
 * and nothing else. Both tries keep each node's children in a list as well
 * as in the hash map, for that enumeration.
 *
 *     valid:   "a/+/c", "a/#", "#", "+/+", "$SYS/#"
 *     invalid: "a/#/c", "a+", "a/b#"   (rejected earlier by pl_topic_validate)
 */
#include "topic_tree.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hub_types.h"

struct tnode {
    struct tnode *parent;
    struct tnode *hash_next;
    /* The children as a list too, so a wildcard level can enumerate
     * them: the hash map only answers "which child is called x". */
    struct tnode *first_child;
    struct tnode *next_sib, *prev_sib;
    uint32_t hash;
    uint32_t children;
    struct sub_list subs;    /* pattern trie: subscriptions ending here */
    struct topic *topic;     /* name trie: the topic ending here, or NULL */
    size_t level_len;
    char level[];
};

uint32_t topic_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t node_hash(const struct tnode *parent, const char *level,
                          size_t len)
{
    uintptr_t p = (uintptr_t)parent;

    return topic_hash(level, len) ^ (uint32_t)(p >> 4) ^ (uint32_t)(p >> 32);
}

int topic_tree_init(struct topic_tree *tree)
{
    memset(tree, 0, sizeof(*tree));
    tree->topics_cap = 64;
    tree->topics = calloc(tree->topics_cap, sizeof(*tree->topics));
    tree->nodes_cap = 64;
    tree->nodes = calloc(tree->nodes_cap, sizeof(*tree->nodes));
    tree->root = calloc(1, sizeof(*tree->root));
    tree->names = calloc(1, sizeof(*tree->names));
    if (tree->topics == NULL || tree->nodes == NULL || tree->root == NULL ||
        tree->names == NULL) {
        topic_tree_cleanup(tree, NULL);
        return -ENOMEM;
    }
    return 0;
}

void topic_tree_cleanup(struct topic_tree *tree,
                        void (*free_topic)(struct topic *t))
{
    uint32_t i;

    for (i = 0; tree->topics != NULL && i < tree->topics_cap; i++) {
        struct topic *t = tree->topics[i];

        while (t != NULL) {
            struct topic *next = t->hash_next;

            if (free_topic != NULL)
                free_topic(t);
            t = next;
        }
    }
    for (i = 0; tree->nodes != NULL && i < tree->nodes_cap; i++) {
        struct tnode *n = tree->nodes[i];

        while (n != NULL) {
            struct tnode *next = n->hash_next;

            free(n);
            n = next;
        }
    }
    free(tree->topics);
    free(tree->nodes);
    free(tree->root);
    free(tree->names);
    memset(tree, 0, sizeof(*tree));
}

struct topic *topic_tree_find(struct topic_tree *tree, const char *name,
                              size_t len)
{
    uint32_t h = topic_hash(name, len);
    struct topic *t = tree->topics[h & (tree->topics_cap - 1)];

    for (; t != NULL; t = t->hash_next)
        if (t->hash == h && t->name_len == len &&
            memcmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

static int topics_grow(struct topic_tree *tree)
{
    uint32_t ncap = tree->topics_cap * 2;
    struct topic **nt = calloc(ncap, sizeof(*nt));
    uint32_t i;

    if (nt == NULL)
        return -ENOMEM;
    for (i = 0; i < tree->topics_cap; i++) {
        struct topic *t = tree->topics[i];

        while (t != NULL) {
            struct topic *next = t->hash_next;

            t->hash_next = nt[t->hash & (ncap - 1)];
            nt[t->hash & (ncap - 1)] = t;
            t = next;
        }
    }
    free(tree->topics);
    tree->topics = nt;
    tree->topics_cap = ncap;
    return 0;
}

static struct tnode *node_child(struct topic_tree *tree, struct tnode *parent,
                                const char *level, size_t len);
static struct tnode *node_add(struct topic_tree *tree, struct tnode *parent,
                              const char *level, size_t len);
static void prune_from(struct topic_tree *tree, struct tnode *n);

/* The name-trie node for name, created on demand, or NULL (nothing
 * created) when out of memory. */
static struct tnode *name_node(struct topic_tree *tree, const char *name,
                               size_t name_len)
{
    struct tnode *n = tree->names;
    const char *p = name;
    const char *end = name + name_len;

    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);
        struct tnode *child = node_child(tree, n, p, len);

        if (child == NULL)
            child = node_add(tree, n, p, len);
        if (child == NULL) {
            prune_from(tree, n);
            return NULL;
        }
        n = child;
        if (slash == NULL)
            return n;
        p = slash + 1;
    }
}

int topic_tree_insert(struct topic_tree *tree, struct topic *t)
{
    struct topic **slot = NULL;
    struct tnode *n = name_node(tree, t->name, t->name_len);

    if (n == NULL)
        return -ENOMEM;
    assert(n->topic == NULL);
    n->topic = t;
    t->name_node = n;
    /* A failed grow only makes chains longer; the insert still works. */
    if (tree->topics_count >= tree->topics_cap)
        (void)topics_grow(tree);
    slot = &tree->topics[t->hash & (tree->topics_cap - 1)];
    t->hash_next = *slot;
    *slot = t;
    tree->topics_count++;
    return 0;
}

void topic_tree_remove(struct topic_tree *tree, struct topic *t)
{
    struct topic **pp = &tree->topics[t->hash & (tree->topics_cap - 1)];

    for (; *pp != NULL; pp = &(*pp)->hash_next) {
        if (*pp == t) {
            *pp = t->hash_next;
            t->hash_next = NULL;
            tree->topics_count--;
            break;
        }
    }
    if (t->name_node != NULL) {
        t->name_node->topic = NULL;
        prune_from(tree, t->name_node);
        t->name_node = NULL;
    }
}

int topic_tree_foreach(struct topic_tree *tree,
                       int (*cb)(void *arg, struct topic *t), void *arg)
{
    uint32_t i;
    int rc = 0;

    for (i = 0; i < tree->topics_cap; i++) {
        struct topic *t = tree->topics[i];

        while (t != NULL) {
            struct topic *next = t->hash_next;

            rc = cb(arg, t);
            if (rc != 0)
                return rc;
            t = next;
        }
    }
    return 0;
}

static struct tnode *node_child(struct topic_tree *tree, struct tnode *parent,
                                const char *level, size_t len)
{
    uint32_t h = node_hash(parent, level, len);
    struct tnode *n = tree->nodes[h & (tree->nodes_cap - 1)];

    for (; n != NULL; n = n->hash_next)
        if (n->hash == h && n->parent == parent && n->level_len == len &&
            memcmp(n->level, level, len) == 0)
            return n;
    return NULL;
}

static void nodes_grow(struct topic_tree *tree)
{
    uint32_t ncap = tree->nodes_cap * 2;
    struct tnode **nn = calloc(ncap, sizeof(*nn));
    uint32_t i;

    if (nn == NULL)
        return;
    for (i = 0; i < tree->nodes_cap; i++) {
        struct tnode *n = tree->nodes[i];

        while (n != NULL) {
            struct tnode *next = n->hash_next;

            n->hash_next = nn[n->hash & (ncap - 1)];
            nn[n->hash & (ncap - 1)] = n;
            n = next;
        }
    }
    free(tree->nodes);
    tree->nodes = nn;
    tree->nodes_cap = ncap;
}

static struct tnode *node_add(struct topic_tree *tree, struct tnode *parent,
                              const char *level, size_t len)
{
    struct tnode *n = calloc(1, sizeof(*n) + len + 1);

    if (n == NULL)
        return NULL;
    if (tree->nodes_count >= tree->nodes_cap)
        nodes_grow(tree);
    n->parent = parent;
    n->hash = node_hash(parent, level, len);
    n->level_len = len;
    memcpy(n->level, level, len);
    n->hash_next = tree->nodes[n->hash & (tree->nodes_cap - 1)];
    tree->nodes[n->hash & (tree->nodes_cap - 1)] = n;
    tree->nodes_count++;
    n->next_sib = parent->first_child;
    if (parent->first_child != NULL)
        parent->first_child->prev_sib = n;
    parent->first_child = n;
    parent->children++;
    return n;
}

static void node_unlink(struct topic_tree *tree, struct tnode *n)
{
    struct tnode **pp = &tree->nodes[n->hash & (tree->nodes_cap - 1)];

    for (; *pp != NULL; pp = &(*pp)->hash_next) {
        if (*pp == n) {
            *pp = n->hash_next;
            break;
        }
    }
    tree->nodes_count--;
    if (n->prev_sib != NULL)
        n->prev_sib->next_sib = n->next_sib;
    else
        n->parent->first_child = n->next_sib;
    if (n->next_sib != NULL)
        n->next_sib->prev_sib = n->prev_sib;
    n->parent->children--;
}

static void prune_from(struct topic_tree *tree, struct tnode *n)
{
    /* Only the two roots have no parent. */
    while (n->parent != NULL && n->children == 0 && n->subs.count == 0 &&
           n->topic == NULL) {
        struct tnode *parent = n->parent;

        node_unlink(tree, n);
        free(n);
        n = parent;
    }
}

struct sub_list *topic_tree_pattern_list(struct topic_tree *tree,
                                         const char *pattern)
{
    struct tnode *n = tree->root;
    struct tnode *created = NULL;
    const char *p = pattern;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        struct tnode *child = node_child(tree, n, p, len);

        if (child == NULL) {
            child = node_add(tree, n, p, len);
            if (child == NULL) {
                if (created != NULL)
                    prune_from(tree, n);
                return NULL;
            }
            created = child;
        }
        n = child;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return &n->subs;
}

void topic_tree_pattern_release(struct topic_tree *tree, struct sub_list *list)
{
    struct tnode *n = (struct tnode *)((char *)list -
                                       offsetof(struct tnode, subs));

    prune_from(tree, n);
}

/* Cut name at each '/' into levels[] and lens[] (*n of them). Returns 0,
 * or -EINVAL past PL_TOPIC_LEVELS_MAX levels (validated names never are). */
static int split_levels(const char *name, const char **levels, size_t *lens,
                        size_t *n)
{
    const char *p = name;

    *n = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (*n == PL_TOPIC_LEVELS_MAX)
            return -EINVAL;
        levels[*n] = p;
        lens[*n] = len;
        (*n)++;
        if (slash == NULL)
            return 0;
        p = slash + 1;
    }
}

struct match_walk {
    struct topic_tree *tree;
    const char *levels[PL_TOPIC_LEVELS_MAX];
    size_t lens[PL_TOPIC_LEVELS_MAX];
    size_t n;
    bool dollar;
    void (*cb)(void *arg, struct sub_list *list);
    void *arg;
};

static void match_at(struct match_walk *w, struct tnode *n, size_t depth)
{
    struct tnode *child = NULL;
    bool wild_ok = !(depth == 0 && w->dollar);

    if (n->children == 0)
        return;
    if (wild_ok) {
        child = node_child(w->tree, n, "#", 1);
        if (child != NULL && child->subs.count > 0)
            w->cb(w->arg, &child->subs);
    }
    if (depth == w->n)
        return;
    child = node_child(w->tree, n, w->levels[depth], w->lens[depth]);
    if (child != NULL) {
        if (depth + 1 == w->n) {
            if (child->subs.count > 0)
                w->cb(w->arg, &child->subs);
        }
        match_at(w, child, depth + 1);
    }
    if (wild_ok) {
        child = node_child(w->tree, n, "+", 1);
        if (child != NULL) {
            if (depth + 1 == w->n && child->subs.count > 0)
                w->cb(w->arg, &child->subs);
            match_at(w, child, depth + 1);
        }
    }
}

void topic_tree_match(struct topic_tree *tree, const char *topic,
                      void (*cb)(void *arg, struct sub_list *list), void *arg)
{
    struct match_walk w;

    if (tree->patterns == 0 || tree->root->children == 0)
        return;
    w.tree = tree;
    w.dollar = topic[0] == '$';
    w.cb = cb;
    w.arg = arg;
    if (split_levels(topic, w.levels, w.lens, &w.n) != 0)
        return;
    match_at(&w, tree->root, 0);
}

/* ---- pattern -> known topics (the name trie) ------------------------- */

struct name_walk {
    struct topic_tree *tree;
    const char *levels[PL_TOPIC_LEVELS_MAX];
    size_t lens[PL_TOPIC_LEVELS_MAX];
    size_t n;
    int (*cb)(void *arg, struct topic *t);
    void *arg;
};

static bool level_is(const char *level, size_t len, char c)
{
    return len == 1 && level[0] == c;
}

/* A leading wildcard never matches a topic whose first level starts with
 * '$' (pl_topic_match()). */
static bool skip_dollar(const struct tnode *n, size_t depth)
{
    return depth == 0 && n->level_len > 0 && n->level[0] == '$';
}

static int visit(struct name_walk *w, struct tnode *n)
{
    return n->topic != NULL ? w->cb(w->arg, n->topic) : 0;
}

/* "#" at node top (depth levels down): top's own topic ("a/#" matches
 * "a"), then every topic below, preorder without recursion. */
static int walk_rest(struct name_walk *w, struct tnode *top, size_t depth)
{
    struct tnode *c = NULL;
    int rc = visit(w, top);

    for (c = top->first_child; c != NULL && rc == 0; c = c->next_sib) {
        struct tnode *n = c;

        if (skip_dollar(c, depth))
            continue;
        for (;;) {
            w->tree->walk_nodes++;
            rc = visit(w, n);
            if (rc != 0)
                return rc;
            if (n->first_child != NULL) {
                n = n->first_child;
                continue;
            }
            while (n != c && n->next_sib == NULL)
                n = n->parent;
            if (n == c)
                break;
            n = n->next_sib;
        }
    }
    return rc;
}

/* Match the pattern's levels [depth, w->n) below node n. */
static int walk_at(struct name_walk *w, struct tnode *n, size_t depth)
{
    const char *level = NULL;
    size_t len = 0;
    struct tnode *c = NULL;
    int rc = 0;

    if (depth == w->n)
        return visit(w, n);
    level = w->levels[depth];
    len = w->lens[depth];
    if (level_is(level, len, '#'))
        return walk_rest(w, n, depth);
    if (level_is(level, len, '+')) {
        for (c = n->first_child; c != NULL && rc == 0; c = c->next_sib) {
            w->tree->walk_nodes++;
            if (!skip_dollar(c, depth))
                rc = walk_at(w, c, depth + 1);
        }
        return rc;
    }
    c = node_child(w->tree, n, level, len);
    if (c == NULL)
        return 0;
    w->tree->walk_nodes++;
    return walk_at(w, c, depth + 1);
}

int topic_tree_foreach_match(struct topic_tree *tree, const char *pattern,
                             int (*cb)(void *arg, struct topic *t),
                             void *arg)
{
    struct name_walk w;

    tree->walk_nodes = 0;
    w.tree = tree;
    w.cb = cb;
    w.arg = arg;
    if (split_levels(pattern, w.levels, w.lens, &w.n) != 0)
        return 0;
    return walk_at(&w, tree->names, 0);
}
