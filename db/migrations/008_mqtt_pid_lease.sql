-- 008_mqtt_pid_lease: the packet-id lease of each MQTT persistent session
-- (#14, "QoS 2 to a device, across a crash").
--
-- A session hands out packet ids as a count (1, 2, 3, ...; the id is the
-- count wrapped into 1..65535) and never one past its lease, which is
-- raised a step (256) at a time in the store's group commit, before the
-- ids are used. After a crash the ids the old process may have sent are
-- thus at or below the stored lease, so a resumed session sends PUBREL
-- for the few a client may still hold (MQTT 3.1.1 4.3.3, Method B) and
-- hands out new ids above it (server/mqtt_inflight.h).
--   lease: the highest count that may have been handed out.
-- A session with no row here was stored by a build without this table:
-- after a restart it gets a PUBREL for every id, once.
-- Its own table, not a column of mqtt_sessions: store_mqtt.c runs this
-- again when a file skipped it, and CREATE TABLE IF NOT EXISTS may run
-- twice where ALTER TABLE ADD COLUMN may not. Dropped with the session.
CREATE TABLE IF NOT EXISTS mqtt_pid_lease (
    client_id TEXT PRIMARY KEY,
    lease     INTEGER NOT NULL
) WITHOUT ROWID;
