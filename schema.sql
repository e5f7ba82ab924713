-- WoChat database schema: the state after the newest migration.
--
-- Two databases, following the WoChat database design (seeds/002): the `keys` table lives in
-- the plain `wochat.db` of the data home (it feeds the login dropdown); `message`, `friend` and
-- `talk` live in each account's SQLCipher-encrypted `accounts/<address>/chat.db`.
--
-- The program builds fresh databases from this file and upgrades older ones with the numbered
-- migrations in src/store/migrations.rs; a test checks that both roads end at the same schema.
-- Every difference from the design is written as a comment next to it ("design:").
--
-- Times are INTEGER milliseconds since the Unix epoch (design: TIME, which SQLite does not have).
-- `id INTEGER PRIMARY KEY AUTOINCREMENT` is SQLite's 64-bit row id (design: BIGINT, which SQLite
-- does not accept with AUTOINCREMENT).

-- @database wochat.db

CREATE TABLE keys
(
    id     INTEGER PRIMARY KEY AUTOINCREMENT,   -- 1, 2, 3, ...
    dt     INTEGER NOT NULL,                    -- when the key was created
    -- design: CHAR(64) "AES256-encrypted secret key". Here: nonce (12) || ciphertext (32) ||
    -- GCM tag (16) = 60 bytes of AES-256-GCM, with the public key as associated data.
    sk     BLOB NOT NULL UNIQUE,
    pk     CHAR(66) NOT NULL UNIQUE,            -- the public key (the address), lowercase hex
    name   VARCHAR(128) NOT NULL UNIQUE,        -- UTF-8 display name, trimmed, 1 to 128 bytes
    -- design: active CHAR(1), nullable. Here it is never NULL.
    active CHAR(1) NOT NULL DEFAULT 'Y' CHECK (active IN ('Y', 'N')),
    -- design: the key was SHA256(password). Here Argon2id with these parameters and salt
    -- derives it, so that a stolen wochat.db resists password guessing.
    kdf_m  INTEGER NOT NULL,                    -- Argon2id memory, KiB (default 65536)
    kdf_t  INTEGER NOT NULL,                    -- Argon2id passes (default 3)
    kdf_p  INTEGER NOT NULL,                    -- Argon2id lanes (default 1)
    salt   BLOB NOT NULL                        -- random, 16 bytes
);

-- @database chat.db

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
    -- (v13) the checks of one letter among several are written as comparisons, not as IN
    -- lists: SQLite builds a temporary index for a list of more than two values at every check.
    type  CHAR(1) NOT NULL CHECK (type = 'T' OR type = 'I' OR type = 'G' OR type = 'M' OR type = 'F'),
    stat  CHAR(1) NOT NULL CHECK (stat = 'N' OR stat = 'S' OR stat = 'C'),  -- N stored, S broker acked, C receipt
    -- design: "the message body, stored encrypted". Here the CBOR packet; the whole chat.db is
    -- encrypted by SQLCipher, so no second layer is needed.
    val   BLOB NOT NULL,
    -- added (v2): the sender's clock from the packet (`ts`), ms.
    ts    INTEGER NOT NULL DEFAULT 0,
    -- added (v2), outgoing messages only: how often the message was published again without
    -- a receipt, and when to publish it again (PROTOCOL.md section 6: 30 s, doubling to 1 h,
    -- for 7 days).
    tries    INTEGER NOT NULL DEFAULT 0,
    next_try INTEGER,
    -- added (v3): for I, G, M, F, the SHA-256 (hex) of the attached file: the object in
    -- objects/ (WoChat's design keeps large payloads out of SQLite, like git).
    obj      CHAR(64),
    -- added (v6): the conversation (talk.id) the message belongs to, so a talk's history is one
    -- index range. (v1 to v5 had `peer`, the other party's address, in its place: a group
    -- conversation has no single other party.) Set on every row.
    chat     INTEGER REFERENCES talk (id),
    -- added (v8): 1 for a message that arrived while its sender was not a friend (a message
    -- request); what strangers leave is bounded by dropping the oldest of these. Adding the
    -- sender as a friend sets it to 0.
    req      INTEGER NOT NULL DEFAULT 0,
    -- added (v10): where the message stands in its conversation: the sender's clock (`ts`)
    -- clamped to [arrival - 7 days, arrival] (docs/PROTOCOL.md section 12), ms.
    ord      INTEGER NOT NULL DEFAULT 0,
    -- added (v12): how many edits the message has (message_edit); 1 when it was deleted for
    -- everyone (its content is gone: `val` is empty), 2 when deleted here only (not shown);
    -- `seen`: an own message, when the peer said it displayed it (read receipts,
    -- docs/PROTOCOL.md section 13), ms.
    edits    INTEGER NOT NULL DEFAULT 0,
    deleted  INTEGER NOT NULL DEFAULT 0,
    seen     INTEGER
);
CREATE INDEX message_chat_id ON message (chat, id);
CREATE INDEX message_chat_ord ON message (chat, ord, id);
CREATE INDEX message_req ON message (chat, id) WHERE req = 1;
CREATE INDEX message_outbox ON message (stat, next_try) WHERE stat IN ('N', 'S');
CREATE INDEX message_obj ON message (obj) WHERE obj IS NOT NULL;

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

-- A conversation. Its id (the ChatId) names it everywhere: in `message.chat`, in events, in the
-- window. (v1 to v5 named a conversation by the peer's address.)
CREATE TABLE talk
(
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- 1, 2, 3, ...
    -- added (v6): D a direct conversation with one peer, G a group (a later version).
    kind    CHAR(1) NOT NULL DEFAULT 'D' CHECK (kind IN ('D', 'G')),
    -- the other party's address for a direct conversation (one per peer); NULL for a group.
    pk      CHAR(66) UNIQUE,
    -- added (v6): a group's title (NULL for a direct conversation: the friend's name is shown).
    name    TEXT,
    -- added: last activity (orders the talk list) and the unread count.
    last_dt INTEGER NOT NULL DEFAULT 0,
    unread  INTEGER NOT NULL DEFAULT 0,
    -- added (v2): 1 while the talk is a message request (an unknown sender wrote first),
    -- until the user adds the sender as a friend or blocks them.
    request INTEGER NOT NULL DEFAULT 0,
    -- added (v11): how the user keeps it in the list. `pinned`: when it was pinned (0: not);
    -- pinned talks first, the last pinned on top. Muted: no notifications. Archived: out of
    -- the list until a new message. Marked unread: shown unread until opened. `draft`: the
    -- composer's unsent text.
    pinned        INTEGER NOT NULL DEFAULT 0,
    muted         INTEGER NOT NULL DEFAULT 0,
    archived      INTEGER NOT NULL DEFAULT 0,
    marked_unread INTEGER NOT NULL DEFAULT 0,
    draft         TEXT,
    -- added (v12): the newest message row id whose display was reported to the other party
    -- (read receipts): what comes after it is reported when the talk is read next.
    seen_upto     INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind = 'D') = (pk IS NOT NULL))
);
CREATE INDEX talk_last_dt ON talk (last_dt);

-- added (v6): the members of a conversation other than this account (the peer of a direct
-- conversation).
CREATE TABLE chat_member
(
    chat INTEGER NOT NULL REFERENCES talk (id) ON DELETE CASCADE,
    pk   CHAR(66) NOT NULL,                     -- the member's address
    dt   INTEGER NOT NULL,                      -- when they joined (ms)
    PRIMARY KEY (chat, pk)
) WITHOUT ROWID;

-- added (v6): who has receipted an own message. The message turns C once every member of its
-- conversation has. Kept for conversations of several members only: in a direct conversation
-- the peer's receipt turns the message C at once, and `stat` says all a row would (rows that
-- migration 6 wrote for direct conversations stay).
CREATE TABLE receipt
(
    msg INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    pk  CHAR(66) NOT NULL,                      -- the member who confirmed
    dt  INTEGER NOT NULL,                       -- when the receipt arrived (ms)
    PRIMARY KEY (msg, pk)
) WITHOUT ROWID;

-- added (v4): full-text search of message text (a text message, or an attachment's caption
-- and file name); rowid = message.id. The trigram tokenizer finds any substring of three or
-- more characters in any script, case-insensitively.
CREATE VIRTUAL TABLE message_text USING fts5(text, tokenize = 'trigram');

-- added (v5): messages are indexed in the background, in batches, not in the transaction that
-- stores them (an FTS5 insert per commit made commits merge index segments). One row: the
-- last message id indexed; a search first indexes what came after it.
CREATE TABLE search_state
(
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);

-- added (v3): the chunked transfer of each attachment, one row per file, peer and direction.
CREATE TABLE transfer
(
    obj        CHAR(64) NOT NULL,                 -- SHA-256 of the file (hex)
    peer       CHAR(66) NOT NULL,                 -- the other party
    dir        CHAR(1) NOT NULL CHECK (dir IN ('I', 'O')),  -- incoming, outgoing
    msg        CHAR(64) NOT NULL,                 -- hash of the attachment message
    size       INTEGER NOT NULL,                  -- bytes
    chunks     INTEGER NOT NULL,                  -- 64 KiB chunks
    have       BLOB NOT NULL DEFAULT x'',         -- incoming: bitmap of chunks written
    done       INTEGER NOT NULL DEFAULT 0,        -- chunks received, or (outgoing) acknowledged
    -- W waits for the user to accept (over media.auto_download_mb), A active, C complete,
    -- F failed (see error).
    state      CHAR(1) NOT NULL CHECK (state = 'W' OR state = 'A' OR state = 'C' OR state = 'F'),
    error      TEXT,
    activity   INTEGER NOT NULL DEFAULT 0,        -- last chunk (ms), for the "need" timer
    need_tries INTEGER NOT NULL DEFAULT 0,        -- N packets sent since the last chunk
    display    CHAR(64),                          -- object id of the 1080 px display version
    avatar     CHAR(64),                          -- object id of the square crop
    root       BLOB,                              -- (v9) Merkle root the message named, 32 bytes
    PRIMARY KEY (obj, peer, dir)
);

-- added (v9): the Merkle leaf hash of each chunk of a file we send (32 bytes each, in order),
-- to prove every chunk (docs/PROTOCOL.md section 9). Written once per file.
CREATE TABLE object_tree
(
    obj    TEXT PRIMARY KEY,                      -- SHA-256 of the file (hex)
    leaves BLOB NOT NULL
);

-- added (v7): protocol v2 (docs/PROTOCOL.md). This account's Olm account (its "device"), as a
-- vodozemac pickle encrypted under HKDF(secret key, "wochat/v2/pickle"); `published` is when
-- its key bundle was last published (0: publish it again).
CREATE TABLE olm_account
(
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    pickle    TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    created   INTEGER NOT NULL
);

-- added (v7): Olm sessions with peers (encrypted pickles), several per peer after a race or a
-- reset; `mine` if this account started it; the `preferred` one encrypts what is sent.
CREATE TABLE olm_session
(
    peer      CHAR(66) NOT NULL,
    sid       TEXT NOT NULL,                    -- vodozemac's session id (same on both sides)
    ik        BLOB NOT NULL,                    -- the peer device's Curve25519 identity key
    pickle    TEXT NOT NULL,
    mine      INTEGER NOT NULL,
    created   INTEGER NOT NULL,
    used      INTEGER NOT NULL,
    preferred INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (peer, sid)
) WITHOUT ROWID;

-- added (v7): peers' devices from verified key bundles (`bundle` as signed); `otk` the peer's
-- one-time keys not yet used by this account. A peer with a row has been seen speaking v2 and
-- is never spoken to in v1 again.
CREATE TABLE peer_device
(
    peer   CHAR(66) NOT NULL,
    dev    BLOB NOT NULL,
    ik     BLOB NOT NULL,
    bundle BLOB NOT NULL,
    otk    BLOB NOT NULL,
    ts     INTEGER NOT NULL,                    -- the bundle's creation time
    seen   INTEGER NOT NULL,                    -- when it arrived here
    PRIMARY KEY (peer, dev)
) WITHOUT ROWID;

-- added (v7): rate limits of session resets: when one was last asked of a peer, and last
-- honoured for a peer (ms).
CREATE TABLE session_reset
(
    peer     CHAR(66) PRIMARY KEY,
    asked    INTEGER NOT NULL DEFAULT 0,
    honoured INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- added (v7): small settings of the account's state: whether the broker session under the
-- old, public client id was drained; `clean_shutdown` (1 once the engine stopped cleanly, 0
-- while it runs: partial files are checked again after a crash); `requests_dropped` (how many
-- stranger messages were dropped to keep message requests within their limits).
CREATE TABLE meta
(
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- added (v12): packets that act on an earlier message (E edit, D delete, X reaction;
-- docs/PROTOCOL.md section 13), sent and received. Own ones wait for their receipt like
-- messages (the outbox columns mean the same); every one is kept so that a packet arriving
-- twice is taken once, and one that arrives before its message is applied when it comes.
-- `applied`: 0 waiting for its message, 1 applied, 2 refused (not from the message's sender,
-- too late, too many edits).
CREATE TABLE action
(
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    dt       INTEGER NOT NULL,
    topic    CHAR(66) NOT NULL,
    pk       CHAR(66) NOT NULL,
    hash     CHAR(64) NOT NULL UNIQUE,
    type     CHAR(1) NOT NULL CHECK (type = 'E' OR type = 'D' OR type = 'X'),
    target   CHAR(64) NOT NULL,
    ts       INTEGER NOT NULL,
    stat     CHAR(1) NOT NULL CHECK (stat = 'N' OR stat = 'S' OR stat = 'C'),
    val      BLOB NOT NULL,
    tries    INTEGER NOT NULL DEFAULT 0,
    next_try INTEGER,
    applied  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX action_outbox ON action (stat, next_try) WHERE stat IN ('N', 'S');
CREATE INDEX action_waiting ON action (target) WHERE applied = 0;

-- added (v12): one reaction per person per message, the newest by the reactor's clock (then
-- by hash); an empty emoji is a removed reaction, kept so that an older one arriving late
-- loses.
CREATE TABLE reaction
(
    msg   INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    pk    CHAR(66) NOT NULL,
    emoji TEXT NOT NULL,
    ts    INTEGER NOT NULL,
    hash  CHAR(64) NOT NULL,
    PRIMARY KEY (msg, pk)
) WITHOUT ROWID;

-- added (v12): the edit history of a text message; the text shown is the newest (by the
-- sender's clock, then by hash).
CREATE TABLE message_edit
(
    msg  INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    hash CHAR(64) NOT NULL,
    ts   INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (msg, hash)
) WITHOUT ROWID;
