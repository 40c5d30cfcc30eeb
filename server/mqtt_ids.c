/*
 * mqtt_ids.c: the client id -> session table that makes takeover work: a
 * CONNECT whose client id is live finds the connection to close. A fixed
 * array of chained buckets; entries live inside the sessions, so adding
 * and removing allocate nothing. Service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_ids.h"

#define MQTT_IDS_BUCKETS 4096 /* a power of two */

struct mqtt_ids {
    struct mqtt_id_entry *buckets[MQTT_IDS_BUCKETS];
};

static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *id != '\0'; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h & (MQTT_IDS_BUCKETS - 1);
}

struct mqtt_ids *mqtt_ids_new(void)
{
    return calloc(1, sizeof(struct mqtt_ids));
}

void mqtt_ids_free(struct mqtt_ids **ids)
{
    free(*ids);
    *ids = NULL;
}

struct mqtt_id_entry *mqtt_ids_find(struct mqtt_ids *ids, const char *id)
{
    struct mqtt_id_entry *e = ids->buckets[id_hash(id)];

    while (e != NULL && strcmp(e->id, id) != 0)
        e = e->next;
    return e;
}

void mqtt_ids_add(struct mqtt_ids *ids, struct mqtt_id_entry *e)
{
    struct mqtt_id_entry **head = &ids->buckets[id_hash(e->id)];

    e->next = *head;
    *head = e;
}

void mqtt_ids_remove(struct mqtt_ids *ids, struct mqtt_id_entry *e)
{
    struct mqtt_id_entry **p = &ids->buckets[id_hash(e->id)];

    while (*p != NULL && *p != e)
        p = &(*p)->next;
    if (*p == e)
        *p = e->next;
    e->next = NULL;
}
