/*
 * store_mqtt.h: MQTT persistent sessions in SQLite (#14; tables of
 * migration 003): the write one STORE_JOB_MQTT makes inside the group
 * commit's transaction, and the start-up read of every session. Called by
 * store_sql.c with its connection, on the thread that owns it.
 */
#ifndef PL_STORE_MQTT_H
#define PL_STORE_MQTT_H

#include <stdint.h>

#include <sqlite3.h>

#include "store_job.h"

/* One stored row, as the start-up read hands it over (borrowed for the
 * call): a session, one of its filters, or one of its cursors. */
enum store_mqtt_row_kind {
    STORE_MQTT_SESSION, /* name: the user */
    STORE_MQTT_SUB,     /* name: the filter, value: the granted QoS */
    STORE_MQTT_CURSOR,  /* name: the topic, value: the seq */
};
struct store_mqtt_row {
    enum store_mqtt_row_kind kind;
    const char *client_id;
    const char *name;
    int64_t value;
};
/* Non-zero stops the walk (and is returned). */
typedef int (*store_mqtt_cb)(void *arg, const struct store_mqtt_row *row);

/* Create the tables, running migration (003's text), when a file skipped
 * that migration (it was made at version 4 by a build without it).
 * Returns an SQLite code. */
int store_mqtt_schema(sqlite3 *db, const char *migration);
/* Apply m inside the caller's open transaction. Returns an SQLite code. */
int store_mqtt_write(sqlite3 *db, const struct store_mqtt *m);
/* Every session, then every filter, then every cursor (each ordered by
 * client id). Returns 0, the callback's non-zero value, or -1 (SQLite). */
int store_mqtt_load(sqlite3 *db, store_mqtt_cb cb, void *arg);

#endif
