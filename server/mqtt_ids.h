/*
 * mqtt_ids.h: client id -> live MQTT session, for takeover (MQTT 3.1.1
 * section 3.1.4: a second connection with the same client id closes the
 * first). Intrusive: the entry lives in the session. Service thread only.
 */
#ifndef PL_MQTT_IDS_H
#define PL_MQTT_IDS_H

#include <stdint.h>

struct mqtt_ids;

struct mqtt_id_entry {
    struct mqtt_id_entry *next; /* bucket chain */
    const char *id;             /* NUL-terminated, owned by the session */
    void *owner;                /* the session */
};

struct mqtt_ids *mqtt_ids_new(void);
void mqtt_ids_free(struct mqtt_ids **ids);

/* The live entry for id, or NULL. */
struct mqtt_id_entry *mqtt_ids_find(struct mqtt_ids *ids, const char *id);
/* Add e (its id not present: remove the old one first). */
void mqtt_ids_add(struct mqtt_ids *ids, struct mqtt_id_entry *e);
/* Remove e if present. */
void mqtt_ids_remove(struct mqtt_ids *ids, struct mqtt_id_entry *e);

#endif
