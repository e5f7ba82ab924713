-- chat.db version 1: message, friend, talk.
CREATE TABLE message
(
    id    INTEGER PRIMARY KEY AUTOINCREMENT,    -- 1, 2, 3, ...
    dt    INTEGER NOT NULL,                     -- when the message was stored here
    topic CHAR(66) NOT NULL,                    -- recipient address, also the MQTT topic
    pk    CHAR(66) NOT NULL,                    -- sender address
    -- design: "SHA256 of the unencrypted message". Here SHA256 of the CBOR packet exactly as
    -- sent (PROTOCOL.md section 6), lowercase hex; UNIQUE makes a redelivery a no-op.
    hash  CHAR(64) NOT NULL UNIQUE,
    size  INTEGER NOT NULL,                     -- bytes of the CBOR packet
    type  CHAR(1) NOT NULL CHECK (type IN ('T', 'I', 'G', 'M', 'F')),
    stat  CHAR(1) NOT NULL CHECK (stat IN ('N', 'S', 'C')),  -- N stored, S broker acked, C receipt
    -- design: "the message body, stored encrypted". Here the CBOR packet; the whole chat.db is
    -- encrypted by SQLCipher, so no second layer is needed.
    val   BLOB NOT NULL,
    -- added: the other party of the conversation (topic when sent, pk when received), so a
    -- talk's history is one index range.
    peer  CHAR(66) NOT NULL
);
CREATE INDEX message_peer_id ON message (peer, id);

CREATE TABLE friend
(
    id    INTEGER PRIMARY KEY AUTOINCREMENT,    -- 1, 2, 3, ...
    dt    INTEGER NOT NULL,                     -- when the row was created
    pk    CHAR(66) NOT NULL UNIQUE,             -- the friend's address
    name  VARCHAR(128) NOT NULL,                -- display name
    birth INTEGER,                              -- birthday (optional)
    sex   CHAR(1),                              -- (optional)
    -- design: "status, blocked or not". A = active, B = blocked.
    stat  CHAR(1) NOT NULL DEFAULT 'A' CHECK (stat IN ('A', 'B'))
);

CREATE TABLE talk
(
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- 1, 2, 3, ...
    pk      CHAR(66) NOT NULL UNIQUE,           -- the other party's address
    -- added: last activity (orders the talk list) and the unread count.
    last_dt INTEGER NOT NULL DEFAULT 0,
    unread  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX talk_last_dt ON talk (last_dt);
