-- 003_mqtt_sessions: MQTT persistent sessions, clean session 0 (#14).
--
-- There is no offline queue: every message is in the log before anyone
-- receives it, so a session is what it subscribed to and, per topic, how
-- far it got. On reconnect the server replays each topic from its cursor
-- (docs/mqtt-plan.md, "Persistent sessions in SQLite").
--   mqtt_sessions: one row per client id with clean session 0.
--   mqtt_subs:     its filters and granted QoS.
--   mqtt_cursors:  per topic, the last seq it acknowledged (QoS 1/2) or
--                  was sent (QoS 0); moved up only, written in batches.
-- Keyed by the topic's name, not topics.id: a cursor may be written for a
-- topic before its first message is committed.
-- IF NOT EXISTS: a file created at version 4 by a build without this
-- migration skipped it; store_mqtt.c runs it again when its tables are
-- missing.
CREATE TABLE IF NOT EXISTS mqtt_sessions (
    client_id TEXT PRIMARY KEY,
    user      TEXT NOT NULL,
    last_seen INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS mqtt_subs (
    client_id TEXT NOT NULL,
    filter    TEXT NOT NULL,
    qos       INTEGER NOT NULL,
    PRIMARY KEY (client_id, filter)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS mqtt_cursors (
    client_id TEXT NOT NULL,
    topic     TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (client_id, topic)
) WITHOUT ROWID;
