/*
 * hub_types.h: the records the hub keeps, shared by hub.c, conn.c,
 * topic_tree.c and their tests. Service thread only.
 */
#ifndef PL_HUB_TYPES_H
#define PL_HUB_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivered.h"
#include "jwt.h"
#include "msg.h"
#include "outq.h"

#define PL_TOPIC_LEVELS_MAX 128

struct sub;
struct tnode;

/* Intrusive list of subscriptions attached to a topic or a trie node
 * (topic_tree.c keeps the latter). Defined here, not in topic_tree.h, so
 * that the index depends on these records and not the other way round. */
struct sub_list {
    struct sub *head;
    uint32_t count;
};

/* A user present in a topic: counted once however many connections. */
struct member {
    struct member *next;
    uint32_t conns;          /* presence subscriptions of this user here */
    char user[];
};

struct topic {
    struct topic *hash_next;
    struct tnode *name_node; /* its node in topic_tree's name trie */
    uint32_t hash;
    size_t name_len;
    char *name;
    int64_t seq;             /* latest committed seq (ephemeral: latest sent) */
    int64_t first_seq;       /* oldest stored seq known, 0 if unknown/none */
    bool ephemeral;
    struct sub_list subs;    /* exact subscriptions */
    /* The recent-message ring: the last committed messages, so most
     * `since` recoveries never touch the disk. Contiguous seqs, oldest
     * first; the same pointer ring as a connection's out-queue. */
    struct outq recent;
    struct topic *lru_prev, *lru_next; /* in hub's ring LRU while non-empty */
    struct msg *retained;    /* the retained copy, framed with retained:true */
    struct member *members;
    uint32_t n_members;
    uint32_t pubs;           /* messages since the last $SYS walk (sys.c) */
};

/* One subscription of one connection to a topic or a pattern. */
struct sub {
    struct conn *conn;
    struct sub_list *list;   /* topic->subs or a trie node's list */
    struct topic *topic;     /* concrete subscriptions only */
    struct sub *t_prev, *t_next;  /* in list */
    struct sub *c_prev, *c_next;  /* in conn->subs */
    struct sub *h_next;      /* in the hub's (conn, pattern) index */
    uint32_t hash;
    bool is_pattern;
    bool presence;           /* concrete topics only */
    char pattern[];
};

/* A sub reply that waits for the store (recovered flag, first pages). */
struct pending_reply {
    struct msg *placeholder; /* queued on the connection, filled when ready */
    uint32_t waiting;        /* replays still waiting for their first page */
    bool recovered;
    bool want_recovered;     /* since was given */
    int64_t id;
    int64_t seq;             /* concrete topics: seq for the reply, else -1 */
    char *pattern;
};

/* Delivery of stored messages (seq next..fence) to one connection before
 * its live messages of that topic, which are held meanwhile. */
struct replay {
    struct replay *next;
    struct topic *topic;
    int64_t next_seq;
    int64_t fence;
    bool inflight;           /* a store page request is out */
    bool probing;            /* a first-row probe is out (see hub.c) */
    bool first_page_done;
    struct pending_reply *reply; /* NULL once counted */
    struct outq held;        /* live messages of topic, seq > fence */
};

/* How long a connection lives; the reply format is the same for both. */
enum conn_origin {
    CONN_WS,                 /* a client session (WebSocket) */
    CONN_REQUEST,            /* one command, one reply, then gone: an API
                                call (the HTTP glue turns the reply frame
                                into its own response). Not counted as a
                                connection, not rate limited. */
    CONN_MQTT,               /* an MQTT session: mqtt_session.c turns its
                                reply and msg frames into MQTT packets */
};

/* Fields ordered by size, so that 19,000 idle ones pay no padding. */
struct conn {
    uint64_t id;
    struct conn *hash_next;  /* id table */
    void *transport;         /* the lws wsi, opaque to the hub */
    char *user;              /* display name or token subject */
    struct pl_claims *claims;/* NULL when auth is off or before hello */
    struct outq q;
    struct sub *subs;
    struct replay *replays;  /* FIFO: head first */
    uint64_t gen;            /* last publish generation that reached us */
    struct delivered *delivered; /* live seqs sent per topic (replays) */
    double tokens;           /* publish rate limit bucket */
    int64_t tokens_at;       /* ms */
    uint64_t pending_pubs;   /* publishes waiting for the store */
    enum conn_origin origin;
    uint32_t n_subs;
    int close_code;          /* non-zero: closing with this WebSocket code */
    uint32_t pending_reads;  /* history reads waiting for the store */
    bool said_hello;
    bool wake_pending;       /* the transport asked to be told when writable */
};

#endif
