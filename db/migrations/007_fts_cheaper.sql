-- 007_fts_cheaper: a search index that costs publishing less (#16).
--
-- Measured with 004's msg_fts (docs/benchmarks.md, "Chat search and its
-- index"): 1.1-1.4x the server CPU and 2.2-3.3x the bytes written per
-- stored message. Two changes:
--   columnsize = 0: no msg_fts_docsize row per message (one more B-tree
--     page per commit). Only bm25()/rank read it; search orders by rowid.
--   log_state.fts_upto: msg_fts now covers the messages with id <= it,
--     and the store adds newer ones in bulk (every STORE_SQL_FTS_BATCH
--     messages, at maintenance, and before a search), not in every group
--     commit: FTS5 writes a new segment (pages in msg_fts_data and
--     msg_fts_idx, and its structure record) at each commit that touched
--     it, so indexing a few hundred messages at once writes about as much
--     as indexing twenty.
-- The rebuild itself happens at the next open, in C (store_sql.c,
-- sql_fts_catch_up) with the same text extraction the store indexes and
-- unindexes with: fts_upto starts at 0, so every stored message's latest
-- version is indexed again, in one transaction, with a log line.
DROP TABLE msg_fts;
CREATE VIRTUAL TABLE msg_fts USING fts5(body, content = '',
    columnsize = 0, tokenize = 'unicode61 remove_diacritics 2');
ALTER TABLE log_state ADD COLUMN fts_upto INTEGER NOT NULL DEFAULT 0;
