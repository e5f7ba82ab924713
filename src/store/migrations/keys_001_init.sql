-- wochat.db version 1: the keys table.
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
