/*
 * store_mqtt.c: MQTT persistent sessions in SQLite (see store_mqtt.h).
 * Statements are prepared per job: a job carries one session's changes of
 * a whole loop turn (its cursors coalesced), so there are few of them.
 */
#include "store_mqtt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>


/* Prepare sql, bind ?1 to client_id; NULL on failure (*rc says why). */
static sqlite3_stmt *prep(sqlite3 *db, const char *sql, const char *client_id,
                          int *rc)
{
    sqlite3_stmt *st = NULL;

    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc != SQLITE_OK)
        return NULL;
    if (client_id != NULL)
        sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    return st;
}

/* Step a statement that returns no row, then finalize it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int exec1(sqlite3 *db, const char *sql, const char *client_id)
{
    int rc = SQLITE_OK;
    sqlite3_stmt *st = prep(db, sql, client_id, &rc);

    return st != NULL ? run(st) : rc;
}

/* Run migration when table is missing. Returns an SQLite code. */
static int schema_table(sqlite3 *db, const char *table, const char *migration)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT 1 FROM sqlite_master WHERE name = ?1",
                                -1, &st, NULL);
    bool have = false;

    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have || migration == NULL)
        return SQLITE_OK;
    return sqlite3_exec(db, migration, NULL, NULL, NULL);
}

int store_mqtt_schema(sqlite3 *db, const char *sessions, const char *qos2,
                      const char *lease)
{
    int rc = schema_table(db, "mqtt_cursors", sessions);

    if (rc == SQLITE_OK)
        rc = schema_table(db, "mqtt_qos2", qos2);
    return rc == SQLITE_OK ? schema_table(db, "mqtt_pid_lease", lease) : rc;
}

void store_mqtt_stmts_cleanup(struct store_mqtt_stmts *c)
{
    sqlite3_finalize(c->find);
    sqlite3_finalize(c->put);
    c->find = c->put = NULL;
}

/* *st prepared from sql at its first use, then reset for the next.
 * Returns an SQLite code. */
static int cached(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    if (*st != NULL)
        return SQLITE_OK;
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                              NULL);
}

int store_mqtt_qos2_find(sqlite3 *db, struct store_mqtt_stmts *c,
                         const char *client, uint16_t packet_id,
                         int64_t *seq)
{
    int rc = cached(db, &c->find,
                    "SELECT seq FROM mqtt_qos2"
                    " WHERE client_id = ?1 AND packet_id = ?2");

    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(c->find, 1, client, -1, SQLITE_STATIC);
    sqlite3_bind_int(c->find, 2, packet_id);
    rc = sqlite3_step(c->find);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(c->find, 0);
    sqlite3_reset(c->find);
    sqlite3_clear_bindings(c->find);
    return rc;
}

int store_mqtt_qos2_put(sqlite3 *db, struct store_mqtt_stmts *c,
                        const char *client, uint16_t packet_id,
                        const char *topic, int64_t seq)
{
    int rc = cached(db, &c->put,
                    "INSERT OR REPLACE INTO mqtt_qos2(client_id, packet_id,"
                    " topic, seq) VALUES(?1, ?2, ?3, ?4)");

    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(c->put, 1, client, -1, SQLITE_STATIC);
    sqlite3_bind_int(c->put, 2, packet_id);
    sqlite3_bind_text(c->put, 3, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->put, 4, seq);
    rc = sqlite3_step(c->put);
    sqlite3_reset(c->put);
    sqlite3_clear_bindings(c->put);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int write_subs(sqlite3 *db, const struct store_mqtt *m)
{
    int rc = exec1(db, "DELETE FROM mqtt_subs WHERE client_id = ?1",
                   m->client_id);
    size_t i = 0;

    for (i = 0; i < m->n_subs && rc == SQLITE_OK; i++) {
        sqlite3_stmt *st = prep(db,
                                "INSERT OR REPLACE INTO mqtt_subs(client_id,"
                                " filter, qos) VALUES(?1, ?2, ?3)",
                                m->client_id, &rc);

        if (st == NULL)
            break;
        sqlite3_bind_text(st, 2, m->subs[i].filter, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, m->subs[i].qos);
        rc = run(st);
    }
    return rc;
}

static int write_cursors(sqlite3 *db, const struct store_mqtt *m)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    size_t i = 0;

    if (m->n_cursors == 0)
        return SQLITE_OK;
    st = prep(db,
              "INSERT INTO mqtt_cursors(client_id, topic, seq)"
              " VALUES(?1, ?2, ?3) ON CONFLICT(client_id, topic)"
              " DO UPDATE SET seq = max(seq, excluded.seq)",
              m->client_id, &rc);
    if (st == NULL)
        return rc;
    for (i = 0; i < m->n_cursors && rc == SQLITE_OK; i++) {
        sqlite3_bind_text(st, 2, m->cursors[i].topic, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, m->cursors[i].seq);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* In the same transaction as the session's other changes: the lease is
 * on disk before any id under it is sent (the caller waits for the
 * commit). Moved up only, so a job written late cannot lower it. */
static int write_lease(sqlite3 *db, const struct store_mqtt *m)
{
    int rc = SQLITE_OK;
    sqlite3_stmt *st = prep(db,
                            "INSERT INTO mqtt_pid_lease(client_id, lease)"
                            " VALUES(?1, ?2) ON CONFLICT(client_id)"
                            " DO UPDATE SET lease = max(lease, excluded.lease)",
                            m->client_id, &rc);

    if (st == NULL)
        return rc;
    sqlite3_bind_int64(st, 2, m->lease);
    return run(st);
}

int store_mqtt_write(sqlite3 *db, const struct store_mqtt *m)
{
    static const char *const drop[] = {
        "DELETE FROM mqtt_pid_lease WHERE client_id = ?1",
        "DELETE FROM mqtt_qos2 WHERE client_id = ?1",
        "DELETE FROM mqtt_cursors WHERE client_id = ?1",
        "DELETE FROM mqtt_subs WHERE client_id = ?1",
        "DELETE FROM mqtt_sessions WHERE client_id = ?1",
    };
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    size_t i = 0;

    if (m->read)
        return SQLITE_OK; /* loaded at start here: never asked (found 0) */
    if (m->qos2_release != 0) {
        st = prep(db,
                  "DELETE FROM mqtt_qos2 WHERE client_id = ?1"
                  " AND packet_id = ?2",
                  m->client_id, &rc);
        if (st == NULL)
            return rc;
        sqlite3_bind_int(st, 2, m->qos2_release);
        return run(st);
    }
    if (m->drop) {
        for (i = 0; i < sizeof(drop) / sizeof(drop[0]) && rc == SQLITE_OK;
             i++)
            rc = exec1(db, drop[i], m->client_id);
        return rc;
    }
    st = prep(db,
              "INSERT INTO mqtt_sessions(client_id, user, last_seen)"
              " VALUES(?1, ?2, ?3) ON CONFLICT(client_id)"
              " DO UPDATE SET user = excluded.user,"
              " last_seen = excluded.last_seen",
              m->client_id, &rc);
    if (st == NULL)
        return rc;
    sqlite3_bind_text(st, 2, m->user != NULL ? m->user : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, m->now_ms);
    rc = run(st);
    if (rc == SQLITE_OK && m->set_lease)
        rc = write_lease(db, m);
    if (rc == SQLITE_OK && m->set_subs)
        rc = write_subs(db, m);
    if (rc == SQLITE_OK)
        rc = write_cursors(db, m);
    return rc;
}

int store_mqtt_load(sqlite3 *db, store_mqtt_cb cb, void *arg)
{
    static const struct {
        enum store_mqtt_row_kind kind;
        const char *sql;
    } q[] = {
        {STORE_MQTT_SESSION, "SELECT client_id, user, last_seen"
                             " FROM mqtt_sessions"
                             " ORDER BY client_id"},
        {STORE_MQTT_SUB, "SELECT client_id, filter, qos FROM mqtt_subs"
                         " ORDER BY client_id, filter"},
        {STORE_MQTT_CURSOR, "SELECT client_id, topic, seq FROM mqtt_cursors"
                            " ORDER BY client_id, topic"},
        {STORE_MQTT_LEASE, "SELECT client_id, '', lease FROM mqtt_pid_lease"
                           " ORDER BY client_id"},
    };
    size_t i = 0;
    int ret = 0;

    for (i = 0; i < sizeof(q) / sizeof(q[0]) && ret == 0; i++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, q[i].sql, -1, &st, NULL);

        if (rc != SQLITE_OK)
            return -1;
        while (ret == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct store_mqtt_row row;

            row.kind = q[i].kind;
            row.client_id = (const char *)sqlite3_column_text(st, 0);
            row.name = (const char *)sqlite3_column_text(st, 1);
            row.value = sqlite3_column_int64(st, 2);
            if (row.client_id != NULL && row.name != NULL)
                ret = cb(arg, &row);
        }
        sqlite3_finalize(st);
        if (ret == 0 && rc != SQLITE_DONE)
            return -1;
    }
    return ret;
}
