-- chat.db version 5: messages are indexed for search in the background, in batches (an FTS5
-- insert per message made each commit merge index segments: stalls of tens of ms). This row
-- remembers the last message id indexed; everything up to now was indexed by version 4.
CREATE TABLE search_state
(
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO search_state (id, indexed_upto) VALUES (1, (SELECT coalesce(max(id), 0) FROM message));
