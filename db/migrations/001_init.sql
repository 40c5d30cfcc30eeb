-- 001_init: the first schema.
--
-- topics: one row per topic ever published to; last_seq is the newest
--   seq handed out (messages may have been pruned since).
-- messages: an append-only rowid log. Rows stay packed in insert order;
--   only the (topic_id, seq) index is scattered across topics, which is
--   2-3x faster than a WITHOUT ROWID table keyed by (topic, seq).
-- retained: the topic's retained message, never pruned.
-- dedupe: idempotency keys, apart from messages so that pruning messages
--   never shortens the dedupe window.
CREATE TABLE topics (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    last_seq INTEGER NOT NULL
);

CREATE TABLE messages (
    id       INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    sender   TEXT NOT NULL,
    data     TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_topic_seq ON messages(topic_id, seq);

CREATE TABLE retained (
    topic_id INTEGER PRIMARY KEY,
    seq      INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    sender   TEXT NOT NULL,
    data     TEXT NOT NULL
);

CREATE TABLE dedupe (
    topic_id INTEGER NOT NULL,
    key      TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    ts       INTEGER NOT NULL,
    PRIMARY KEY (topic_id, key)
) WITHOUT ROWID;
CREATE INDEX dedupe_ts ON dedupe(ts);
