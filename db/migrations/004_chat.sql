-- 004_chat: edits, deletions and replies (#16).
--
-- A chat relation is a column of the message that carries it, NULL for
-- a plain message (SQLite stores a NULL in one header byte):
--   edit_of:  this message replaces the data of seq edit_of (same topic);
--   redacts:  this message deletes seq redacts (its data is null);
--   reply_to: this message answers seq reply_to;
--   redacted: 1 once a later message deleted this one (or the message it
--             edits); its data was overwritten with null then.
-- messages_edit_of lists only edits (a partial index), so publishing a
-- plain message writes no index entry, and a deletion finds the edits of
-- its target without a scan.
-- (003 belongs to the MQTT session migration on another branch; the
-- runner applies every version above the file's, gaps allowed.)
ALTER TABLE messages ADD COLUMN edit_of INTEGER;
ALTER TABLE messages ADD COLUMN redacts INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN redacted INTEGER;
CREATE INDEX messages_edit_of ON messages(topic_id, edit_of)
    WHERE edit_of IS NOT NULL;

-- markers: each user's read position per topic (op mark), never moved
-- back. Keyed by user first: op unread reads one user's markers.
CREATE TABLE markers (
    user     TEXT NOT NULL,
    topic_id INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (user, topic_id)
) WITHOUT ROWID;

-- msg_fts: full-text search over the strings anywhere in a message's data
-- (op search). Contentless (content=''): the text lives in messages only,
-- the index holds tokens and rowids (= messages.id). It holds the latest
-- version of each message: an edit takes its original's (or the previous
-- edit's) entry out, a deletion takes the latest out, so an edited message
-- is found by its new text and a deleted one not at all. The store keeps
-- it in the same transaction as the messages it indexes (store_sql.c).
CREATE VIRTUAL TABLE msg_fts USING fts5(body, content = '',
    tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO msg_fts(rowid, body)
    SELECT id, body FROM (
        SELECT id, (SELECT group_concat(value, ' ') FROM json_tree(data)
                    WHERE type = 'text') AS body
        FROM messages)
    WHERE body IS NOT NULL;
