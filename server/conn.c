/*
 * conn.c: allocation of connections and the table that finds them by id.
 * Ids grow monotonically and are never reused while the server runs.
 */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "service_thread.h"

static uint32_t id_slot(const struct conn_table *t, uint64_t id)
{
    return (uint32_t)((id * 11400714819323198485ull) >> 32) & (t->cap - 1);
}

int conn_table_init(struct conn_table *t)
{
    memset(t, 0, sizeof(*t));
    t->cap = 256;
    t->next_id = 1;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    return t->slots ? 0 : -ENOMEM;
}

void conn_table_cleanup(struct conn_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
}

static void conn_table_grow(struct conn_table *t)
{
    uint32_t ocap = t->cap;
    struct conn **old = t->slots;
    struct conn **ns = calloc((size_t)ocap * 2, sizeof(*ns));
    uint32_t i;

    if (ns == NULL)
        return; /* chains get longer; still correct */
    t->slots = ns;
    t->cap = ocap * 2;
    for (i = 0; i < ocap; i++) {
        struct conn *c = old[i];

        while (c != NULL) {
            struct conn *next = c->hash_next;
            uint32_t s = id_slot(t, c->id);

            c->hash_next = ns[s];
            ns[s] = c;
            c = next;
        }
    }
    free(old);
}

struct conn *conn_new(struct conn_table *t, enum conn_origin origin,
                      void *transport)
{
    struct conn *c = NULL;
    uint32_t s;

    assert(pl_on_service_thread());
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (t->count >= t->cap)
        conn_table_grow(t);
    c->id = t->next_id++;
    c->origin = origin;
    c->transport = transport;
    outq_init(&c->q);
    s = id_slot(t, c->id);
    c->hash_next = t->slots[s];
    t->slots[s] = c;
    t->count++;
    return c;
}

struct conn *conn_find(const struct conn_table *t, uint64_t id)
{
    struct conn *c = NULL;

    assert(pl_on_service_thread());
    c = t->slots[id_slot(t, id)];
    while (c != NULL && c->id != id)
        c = c->hash_next;
    return c;
}

void conn_free(struct conn_table *t, struct conn **cp)
{
    struct conn *c = *cp;
    struct conn **pp = NULL;

    if (c == NULL)
        return;
    *cp = NULL;
    assert(pl_on_service_thread());
    /* the hub detached these first (hub_conn_close) */
    assert(c->subs == NULL && c->n_subs == 0 && c->replays == NULL);
    assert(t->count > 0);
    for (pp = &t->slots[id_slot(t, c->id)]; *pp != NULL;
         pp = &(*pp)->hash_next) {
        if (*pp == c) {
            *pp = c->hash_next;
            t->count--;
            break;
        }
    }
    outq_cleanup(&c->q);
    delivered_free(&c->delivered);
    if (c->claims != NULL) {
        pl_claims_cleanup(c->claims);
        free(c->claims);
    }
    free(c->user);
    free(c);
}

void conn_table_foreach(struct conn_table *t,
                        void (*cb)(void *arg, struct conn *c), void *arg)
{
    uint32_t i;

    for (i = 0; i < t->cap; i++) {
        struct conn *c = t->slots[i];

        while (c != NULL) {
            struct conn *next = c->hash_next;

            cb(arg, c);
            c = next;
        }
    }
}
