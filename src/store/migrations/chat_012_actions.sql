-- chat.db version 12: edits, deletes, reactions and read receipts (docs/PROTOCOL.md section 13).
--
-- Packets that act on an earlier message (E edit, D delete, X reaction), sent and received.
-- Own ones wait for their receipt like messages (the outbox columns mean the same); every one
-- is kept so that a packet arriving twice is taken once, and one that arrives before its
-- message is applied when the message comes (`applied` 0). `applied`: 0 waiting for its
-- message, 1 applied, 2 refused (not from the message's sender, too late, too many edits).
CREATE TABLE action
(
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    dt       INTEGER NOT NULL,
    topic    CHAR(66) NOT NULL,
    pk       CHAR(66) NOT NULL,
    hash     CHAR(64) NOT NULL UNIQUE,
    type     CHAR(1) NOT NULL CHECK (type IN ('E', 'D', 'X')),
    target   CHAR(64) NOT NULL,
    ts       INTEGER NOT NULL,
    stat     CHAR(1) NOT NULL CHECK (stat IN ('N', 'S', 'C')),
    val      BLOB NOT NULL,
    tries    INTEGER NOT NULL DEFAULT 0,
    next_try INTEGER,
    applied  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX action_outbox ON action (stat, next_try) WHERE stat IN ('N', 'S');
CREATE INDEX action_waiting ON action (target) WHERE applied = 0;

-- One reaction per person per message: the newest by the reactor's clock (then by hash).
-- An empty emoji is a removed reaction, kept so that an older one arriving late loses.
CREATE TABLE reaction
(
    msg   INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    pk    CHAR(66) NOT NULL,
    emoji TEXT NOT NULL,
    ts    INTEGER NOT NULL,
    hash  CHAR(64) NOT NULL,
    PRIMARY KEY (msg, pk)
) WITHOUT ROWID;

-- The edit history of a text message; the text shown is the newest (by the sender's clock,
-- then by hash).
CREATE TABLE message_edit
(
    msg  INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    hash CHAR(64) NOT NULL,
    ts   INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (msg, hash)
) WITHOUT ROWID;

-- How many edits a message has; 1: deleted for everyone (its content gone), 2: deleted here
-- only (not shown); `seen`: an own message, when the peer said it displayed it (read
-- receipts).
ALTER TABLE message ADD COLUMN edits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN seen INTEGER;

-- The newest message whose display was reported to the other party: what came before this
-- version is not reported.
ALTER TABLE talk ADD COLUMN seen_upto INTEGER NOT NULL DEFAULT 0;
UPDATE talk SET seen_upto = coalesce((SELECT max(id) FROM message WHERE message.chat = talk.id), 0);
