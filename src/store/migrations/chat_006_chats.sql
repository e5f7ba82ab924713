-- chat.db version 6: conversations by id, not by the peer's address (a group is a conversation
-- that is not a contact), their members, and receipts per member.
--
-- talk: rebuilt so that pk may be NULL (a group) and a conversation has a kind.
CREATE TABLE talk_v6
(
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    CHAR(1) NOT NULL DEFAULT 'D' CHECK (kind IN ('D', 'G')),
    pk      CHAR(66) UNIQUE,
    name    TEXT,
    last_dt INTEGER NOT NULL DEFAULT 0,
    unread  INTEGER NOT NULL DEFAULT 0,
    request INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind = 'D') = (pk IS NOT NULL))
);
INSERT INTO talk_v6 (id, kind, pk, last_dt, unread, request)
    SELECT id, 'D', pk, last_dt, unread, request FROM talk;
-- Messages whose peer had no talk row (none are expected) get one, so every message has a chat.
INSERT INTO talk_v6 (kind, pk, last_dt)
    SELECT 'D', peer, max(dt) FROM message WHERE peer NOT IN (SELECT pk FROM talk) GROUP BY peer;
-- Friends without messages get their (empty) conversation, so that opening one has an id.
INSERT INTO talk_v6 (kind, pk)
    SELECT 'D', pk FROM friend WHERE stat = 'A' AND pk NOT IN (SELECT pk FROM talk_v6);
DROP TABLE talk;
ALTER TABLE talk_v6 RENAME TO talk;
CREATE INDEX talk_last_dt ON talk (last_dt);

-- Everyone in a conversation but this account: the peer of a direct one.
CREATE TABLE chat_member
(
    chat INTEGER NOT NULL REFERENCES talk (id) ON DELETE CASCADE,
    pk   CHAR(66) NOT NULL,
    dt   INTEGER NOT NULL,
    PRIMARY KEY (chat, pk)
) WITHOUT ROWID;
INSERT INTO chat_member (chat, pk, dt) SELECT id, pk, last_dt FROM talk WHERE kind = 'D';

-- Who has confirmed (receipted) an own message; it is C once every member has.
CREATE TABLE receipt
(
    msg INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    pk  CHAR(66) NOT NULL,
    dt  INTEGER NOT NULL,
    PRIMARY KEY (msg, pk)
) WITHOUT ROWID;
-- Own messages are those whose peer is their recipient.
INSERT INTO receipt (msg, pk, dt) SELECT id, topic, dt FROM message WHERE stat = 'C' AND peer = topic;

-- message.peer becomes message.chat.
ALTER TABLE message ADD COLUMN chat INTEGER REFERENCES talk (id);
UPDATE message SET chat = (SELECT id FROM talk WHERE talk.pk = message.peer);
DROP INDEX message_peer_id;
ALTER TABLE message DROP COLUMN peer;
CREATE INDEX message_chat_id ON message (chat, id);
