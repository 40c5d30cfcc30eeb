-- 005_mqtt_raw: the exact MQTT payload of a message (#14).
--
-- A message published over MQTT is stored as its `data` (the payload
-- mapped to JSON, protocol/README.md section 11). Mapping that back does
-- not always give the same bytes (`{"t": 21.5}` comes back compact, `"hi"`
-- comes back as hi, `null` as an empty payload), so those messages keep the
-- publisher's bytes here and MQTT subscribers get them, live and replayed.
-- NULL for every other message: a JSON pub, and the MQTT payloads that the
-- mapping gives back unchanged (compact JSON, plain text, binary), which is
-- nearly all of them, so the common case writes no payload twice.
-- JSON clients never see this column; a deletion (#16) clears it with data.
ALTER TABLE messages ADD COLUMN raw BLOB;
ALTER TABLE retained ADD COLUMN raw BLOB;
