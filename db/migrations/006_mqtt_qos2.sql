-- 006_mqtt_qos2: the QoS 2 publishes of MQTT persistent sessions that were
-- stored and not yet released (#14, "a QoS 2 retry is stored once").
--
-- A client with clean session 0 that sent a QoS 2 PUBLISH and got PUBREC
-- may, after a reconnect, send it again with DUP until it has sent PUBREL
-- (MQTT 3.1.1 4.3.3, 4.4): it must not be stored twice, also across a
-- parleyd crash. So the row is written in the same transaction as the
-- message (both or neither survive), and the store answers a PUBLISH whose
-- (client_id, packet_id) has a row as a duplicate of that message. PUBREL
-- deletes the row, and PUBCOMP goes out after that commit: the client may
-- reuse the packet id only after PUBCOMP, and a new message on it is then
-- stored. Dropped with the session (clean session 1, expiry).
--   topic, seq: the message stored (the duplicate's answer; diagnostics).
-- IF NOT EXISTS: store_mqtt.c runs it again when a file skipped it.
CREATE TABLE IF NOT EXISTS mqtt_qos2 (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL,
    topic     TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
