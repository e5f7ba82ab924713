-- chat.db version 7: protocol v2 (forward-secret Olm sessions, docs/PROTOCOL.md).
-- This account's Olm account (its "device"): identity keys, one-time and fallback keys.
CREATE TABLE olm_account
(
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    pickle    TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    created   INTEGER NOT NULL
);
-- Olm sessions with peers, several per peer (a race, a reset); one is preferred for sending.
CREATE TABLE olm_session
(
    peer      CHAR(66) NOT NULL,
    sid       TEXT NOT NULL,
    ik        BLOB NOT NULL,
    pickle    TEXT NOT NULL,
    mine      INTEGER NOT NULL,
    created   INTEGER NOT NULL,
    used      INTEGER NOT NULL,
    preferred INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (peer, sid)
) WITHOUT ROWID;
-- Peers' devices from verified key bundles. A peer with a row here has been seen speaking v2
-- and is never spoken to in v1 again.
CREATE TABLE peer_device
(
    peer   CHAR(66) NOT NULL,
    dev    BLOB NOT NULL,
    ik     BLOB NOT NULL,
    bundle BLOB NOT NULL,
    otk    BLOB NOT NULL,
    ts     INTEGER NOT NULL,
    seen   INTEGER NOT NULL,
    PRIMARY KEY (peer, dev)
) WITHOUT ROWID;
-- When a session reset was last asked of a peer, and last honoured for a peer (rate limits).
CREATE TABLE session_reset
(
    peer     CHAR(66) PRIMARY KEY,
    asked    INTEGER NOT NULL DEFAULT 0,
    honoured INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Small settings of the account's protocol state.
CREATE TABLE meta
(
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
