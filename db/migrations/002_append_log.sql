-- 002_append_log: take the per-topic index off the commit path.
--
-- With messages_topic_seq on the log, every group commit dirtied about one
-- index page per topic it touched (plus one topics page per few topics for
-- last_seq), and each dirty page went to the WAL whole: 2.6-2.9 KB written
-- per 100-byte message at 2000 topics. Now a commit appends to `messages`
-- only (rowids in arrival order, a few pages at the end of the file), and
-- the store writes the per-topic lookup into msg_index later, in bulk, from
-- in-memory per-topic tails (store_sql.c, "index tails").
--
-- msg_index: one row per topic per index write (a "chunk"), not per
--   message: ids lists the messages.id of seqs first_seq, first_seq + 1,
--   ... (decimal, comma-separated), every one of them a row of messages.
--   first_id (the list's first id) lets age pruning find the chunks it
--   cuts into. A topic's chunks cover its stored seqs up to
--   topics.last_seq without overlap. Rows written here from a version 1
--   log get one chunk each.
-- topics.last_seq: now the newest seq that msg_index covers. Newer rows
--   exist only in the log; the store finds them at open by reading the log
--   after log_state.indexed_upto.
-- log_state.indexed_upto: every messages row with id <= it has a seq at or
--   below its topic's last_seq (it is indexed or pruned).
--
-- The whole step runs in one transaction with the user_version bump: a
-- crash in the middle leaves version 1 intact, and the next start runs it
-- again.
CREATE TABLE msg_index (
    topic_id  INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    first_id  INTEGER NOT NULL,
    ids       TEXT NOT NULL,
    PRIMARY KEY (topic_id, first_seq)
) WITHOUT ROWID;
INSERT INTO msg_index(topic_id, first_seq, first_id, ids)
    SELECT topic_id, seq, id, CAST(id AS TEXT) FROM messages
    ORDER BY topic_id, seq;
CREATE INDEX msg_index_first_id ON msg_index(first_id);
DROP INDEX messages_topic_seq;

CREATE TABLE log_state (
    one          INTEGER PRIMARY KEY CHECK (one = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO log_state(one, indexed_upto)
    SELECT 1, coalesce(max(id), 0) FROM messages;

-- A topic's last_seq may trail its newest row only if a v1 file was
-- edited by hand; make "every seq <= last_seq is indexed" hold regardless.
UPDATE topics SET last_seq = max(last_seq,
    coalesce((SELECT max(first_seq) FROM msg_index i
              WHERE i.topic_id = topics.id), 0));
