/*
 * topic_tree.h: the subscription index.
 *
 * Concrete topics live in a hash map (name -> struct topic); each topic keeps
 * the list of its exact subscriptions. Wildcard patterns live in a trie with
 * one node per level ("+" and "#" are ordinary child names), so a publish
 * visits O(levels) nodes and never looks at patterns that cannot match.
 * The topic names live in a second level trie, so a pattern sub finds the
 * known topics it matches by walking only the branches the pattern allows.
 * Service thread only.
 */
#ifndef PL_TOPIC_TREE_H
#define PL_TOPIC_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub_types.h"

struct tnode;

struct topic_tree {
    struct topic **topics;    /* open hash, chained by topic->hash_next */
    uint32_t topics_cap;      /* power of two */
    uint32_t topics_count;
    struct tnode **nodes;     /* (parent, level) -> trie node */
    uint32_t nodes_cap;
    uint32_t nodes_count;
    struct tnode *root;       /* the trie of wildcard patterns */
    struct tnode *names;      /* the trie of known topic names */
    uint32_t patterns;        /* wildcard subscriptions in the trie */
    /* Name-trie nodes the last topic_tree_foreach_match() looked at: what
     * a pattern sub cost, for tests and benchmarks. */
    uint64_t walk_nodes;
};

int topic_tree_init(struct topic_tree *tree);
/* Frees the index. Topics are freed through free_topic (may be NULL). */
void topic_tree_cleanup(struct topic_tree *tree,
                        void (*free_topic)(struct topic *t));

uint32_t topic_hash(const char *s, size_t n);

/* The topic called name, or NULL. */
struct topic *topic_tree_find(struct topic_tree *tree, const char *name,
                              size_t len);
/* Index a new topic (its name/hash already set). Returns 0, or -ENOMEM
 * with nothing indexed. */
int topic_tree_insert(struct topic_tree *tree, struct topic *t);
/* Remove t from the index (does not free it). */
void topic_tree_remove(struct topic_tree *tree, struct topic *t);
/* Visit every topic; stop when cb returns non-zero and return that. */
int topic_tree_foreach(struct topic_tree *tree,
                       int (*cb)(void *arg, struct topic *t), void *arg);

/* Visit every known topic the valid pattern matches (pl_topic_match()
 * rules: `a/#` matches `a`, leading wildcards skip `$` topics), walking
 * only the name-trie branches the pattern allows: `sensors/kitchen/+`
 * looks at the children of `sensors/kitchen`, not at every topic. Stops
 * when cb returns non-zero and returns that. cb must not add or remove
 * topics. Order: depth first, unspecified among siblings. */
int topic_tree_foreach_match(struct topic_tree *tree, const char *pattern,
                             int (*cb)(void *arg, struct topic *t),
                             void *arg);

/* The trie node's subscription list for pattern, created on demand
 * (NULL on allocation failure). The caller links its sub into it and must
 * call topic_tree_pattern_release() after unlinking. */
struct sub_list *topic_tree_pattern_list(struct topic_tree *tree,
                                         const char *pattern);
/* Prune empty nodes on the way from the pattern's node to the root. */
void topic_tree_pattern_release(struct topic_tree *tree, struct sub_list *list);

/* Call cb for each pattern subscription list whose pattern matches topic
 * (`a/#` matches `a`; leading wildcards never match `$` topics). */
void topic_tree_match(struct topic_tree *tree, const char *topic,
                      void (*cb)(void *arg, struct sub_list *list), void *arg);

#endif
