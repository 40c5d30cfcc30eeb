/*
 * redis_storage.h: the cluster engine behind db/storage.h. Every node
 * given the same Redis stores through it: a publish is one FCALL
 * pl_publish (pipelined per loop turn), reads are pl_since / pl_history /
 * pl_retained, and messages stored by any node reach this node's
 * subscribers through Redis pub/sub, gap-filled from the topic's stream
 * (redis_gap.h) before the hub fans them out. Ephemeral topics' messages
 * are PUBLISHed only, never stored (redis_relay.h).
 *
 * Service thread only: the link runs on the service loop, so completions
 * are ready on the thread that takes them and need no wake-up.
 */
#ifndef PARLEY_REDIS_STORAGE_H
#define PARLEY_REDIS_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "redis_url.h"
#include "storage.h"

struct redis_storage;

struct redis_storage_config {
    struct redis_url url;
    int timeout_ms;          /* each command, each connection attempt */
    uint32_t retain_messages; /* stream MAXLEN per topic; 0: unbounded */
    int64_t retain_age_ms;   /* 0: no age bound */
    int64_t dedupe_window_ms;
    uint32_t beat_ms;        /* node heartbeat (0: 10 s) */
    uint32_t node_ttl_ms;    /* a silent node is dead after this (0: 30 s) */
    int64_t mqtt_session_ttl_ms; /* MQTT persistent sessions' keys live
                                    this long past their last write (0:
                                    forever) */
};

/* Create the engine; nothing connects before start. Returns 0 with *out
 * owned by the caller, or -ENOMEM. */
int redis_storage_new(struct redis_storage **out,
                      const struct redis_storage_config *cfg);

/* The loop the link runs on (the service loop). Before start. */
void redis_storage_set_loop(struct redis_storage *rs, struct ev_loop *loop);

/* This engine as the hub's storage. rs stays owned by the caller. */
void redis_storage_as_storage(struct redis_storage *rs, struct storage *out);

struct redis_storage_stats {
    bool up;             /* both connections ready */
    long long live_nodes; /* at the last heartbeat; -1: unknown */
    uint64_t link_drops;
    uint64_t timeouts;
    uint64_t heard;      /* messages handed to the hub from pub/sub */
    uint64_t filled;     /* messages read back from streams to fill gaps */
    uint64_t lost;       /* seqs trimmed away before a fill could read them */
    uint64_t epoch_resets; /* topics Redis lost */
    uint64_t relayed;      /* ephemeral messages PUBLISHed to other nodes */
    uint64_t relay_unsent; /* ephemeral messages not sent: link down */
    uint64_t heard_ephemeral; /* other nodes' ephemeral messages handed
                                 to the hub */
    uint64_t marked_filled; /* moved markers read back from the log */
    uint64_t marked_lost;   /* moved markers trimmed before a fill */
    uint64_t presence_told; /* joins and leaves told after a re-read */
};
void redis_storage_get_stats(const struct redis_storage *rs,
                             struct redis_storage_stats *out);

/* Free (after stop), NULLing the caller's pointer. NULL is allowed. */
void redis_storage_free(struct redis_storage **rsp);

#endif
