/*
 * conn.h: struct conn's lifetime and the id -> conn table. Completions
 * from the store name connections by 64-bit id, never by pointer, so a
 * connection that went away simply is not found. Service thread only.
 */
#ifndef PL_CONN_H
#define PL_CONN_H

#include <stdint.h>

#include "hub_types.h"

struct conn_table {
    struct conn **slots;     /* chained by conn->hash_next */
    uint32_t cap;            /* power of two */
    uint32_t count;
    uint64_t next_id;
};

int conn_table_init(struct conn_table *t);
void conn_table_cleanup(struct conn_table *t);

/* A zeroed connection with the next id, added to the table. NULL on OOM. */
struct conn *conn_new(struct conn_table *t, enum conn_origin origin,
                      void *transport);
struct conn *conn_find(const struct conn_table *t, uint64_t id);
/* Remove from the table and free the struct, its queue and its name. The
 * caller has already detached subscriptions and replays. NULLs *c. */
void conn_free(struct conn_table *t, struct conn **c);
/* Visit every connection (cb must not free). */
void conn_table_foreach(struct conn_table *t,
                        void (*cb)(void *arg, struct conn *c), void *arg);

#endif
