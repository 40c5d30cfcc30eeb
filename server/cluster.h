/*
 * cluster.h: parleyd's cluster mode glue (--redis): the start-up check of
 * Redis, the Redis engine as the hub's storage, and its health and
 * metrics. cluster.c is built when hiredis is found; cluster_none.c, which
 * refuses --redis, otherwise. Service thread only.
 */
#ifndef PL_CLUSTER_H
#define PL_CLUSTER_H

#include "frame.h"

struct server;

/* --redis given: check Redis (refusing to start, with the reason, when it
 * cannot keep --durability's promise), make the engine and set
 * srv->storage. Returns 0, or -1 (logged). */
int cluster_open(struct server *srv);

/* The service loop exists: the engine runs on it. Before storage_start. */
void cluster_attach(struct server *srv);

/* Prometheus lines about the cluster (nothing in single-node mode). */
void cluster_metrics(struct server *srv, struct pl_buf *b);

/* Live nodes at the last heartbeat: 0 in single-node mode, -1 before
 * the first heartbeat answered. */
long long cluster_live_nodes(struct server *srv);

/* Free the engine (after storage_stop). NULL engine is fine. */
void cluster_free(struct server *srv);

#endif
