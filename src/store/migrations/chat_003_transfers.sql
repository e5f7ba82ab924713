-- chat.db version 3: attachments and their transfers.
ALTER TABLE message ADD COLUMN obj CHAR(64);
CREATE INDEX message_obj ON message (obj) WHERE obj IS NOT NULL;
CREATE TABLE transfer
(
    obj        CHAR(64) NOT NULL,
    peer       CHAR(66) NOT NULL,
    dir        CHAR(1) NOT NULL CHECK (dir IN ('I', 'O')),
    msg        CHAR(64) NOT NULL,
    size       INTEGER NOT NULL,
    chunks     INTEGER NOT NULL,
    have       BLOB NOT NULL DEFAULT x'',
    done       INTEGER NOT NULL DEFAULT 0,
    state      CHAR(1) NOT NULL CHECK (state IN ('W', 'A', 'C', 'F')),
    error      TEXT,
    activity   INTEGER NOT NULL DEFAULT 0,
    need_tries INTEGER NOT NULL DEFAULT 0,
    display    CHAR(64),
    avatar     CHAR(64),
    PRIMARY KEY (obj, peer, dir)
);
