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
    STORE_MQTT_SESSION, /* name: the user, value: last_seen (ms) */
    STORE_MQTT_SUB,     /* name: the filter, value: the granted QoS */
    STORE_MQTT_CURSOR,  /* name: the topic, value: the seq */
    STORE_MQTT_LEASE,   /* name: "", value: the packet-id lease */
};
struct store_mqtt_row {
    enum store_mqtt_row_kind kind;
    const char *client_id;
    const char *name;
    int64_t value;
};
/* Non-zero stops the walk (and is returned). */
typedef int (*store_mqtt_cb)(void *arg, const struct store_mqtt_row *row);

/* The inbound QoS 2 statements a publish runs (migration 006's table),
 * prepared at first use and kept by the caller's connection. */
struct store_mqtt_stmts {
    sqlite3_stmt *find;
    sqlite3_stmt *put;
};
void store_mqtt_stmts_cleanup(struct store_mqtt_stmts *c);

/* Create the tables, running a migration's text (sessions: 003's, qos2:
 * 006's, lease: 008's) when a file skipped it (it was made at a later
 * version by a build without it). Returns an SQLite code. */
int store_mqtt_schema(sqlite3 *db, const char *sessions, const char *qos2,
                      const char *lease);
/* Apply m inside the caller's open transaction. Returns an SQLite code. */
int store_mqtt_write(sqlite3 *db, const struct store_mqtt *m);
/* Inside the caller's transaction: the message stored for client's QoS 2
 * packet_id and not released yet. SQLITE_ROW and *seq when there is
 * one, SQLITE_DONE when not, else an SQLite error code. */
int store_mqtt_qos2_find(sqlite3 *db, struct store_mqtt_stmts *c,
                         const char *client, uint16_t packet_id,
                         int64_t *seq);
/* Inside the transaction that stores the message (topic, seq): remember
 * it for client's packet_id until its release. Returns an SQLite code. */
int store_mqtt_qos2_put(sqlite3 *db, struct store_mqtt_stmts *c,
                        const char *client, uint16_t packet_id,
                        const char *topic, int64_t seq);
/* Every session, then every filter, then every cursor, then every lease
 * (each ordered by client id). Returns 0, the callback's non-zero value,
 * or -1 (SQLite). */
int store_mqtt_load(sqlite3 *db, store_mqtt_cb cb, void *arg);

#endif
