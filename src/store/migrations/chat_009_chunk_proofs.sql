-- chat.db version 9: chunks checked one by one (docs/PROTOCOL.md section 9). An incoming
-- transfer keeps the Merkle root its message named; a file we send keeps its chunks' leaf
-- hashes (32 bytes each, in order), to prove every chunk it sends, written once.
ALTER TABLE transfer ADD COLUMN root BLOB;
CREATE TABLE object_tree (obj TEXT PRIMARY KEY, leaves BLOB NOT NULL);
