-- Schema 1: devices, certificates, links and the message path.
-- Every name and every recording is sealed (see keys.go); IDs, sizes,
-- hashes and times are not personal and stay in clear so the hub can
-- route and verify without decrypting.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('toy', 'family')),
    name_hash  BLOB NOT NULL UNIQUE,   -- keyed hash of the normalised name
    name       BLOB NOT NULL,          -- sealed under this row's data key
    dek        BLOB NOT NULL,          -- this row's data key, wrapped
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_seen  INTEGER
) STRICT;

CREATE TABLE certificates (
    serial     TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX certificates_device ON certificates (device_id);

-- A link lets two devices message each other; stored once, a < b.
CREATE TABLE links (
    a          TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    b          TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (a, b),
    CHECK (a < b)
) STRICT, WITHOUT ROWID;
CREATE INDEX links_b ON links (b);

CREATE TABLE messages (
    id           TEXT PRIMARY KEY,     -- chosen by the sender
    sender_id    TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    state        TEXT NOT NULL CHECK (state IN ('uploading', 'committed')),
    format       TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size > 0),
    sha256       BLOB NOT NULL CHECK (length(sha256) = 32),
    chunk_size   INTEGER NOT NULL CHECK (chunk_size > 0),
    next_seq     INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER,
    dek          BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    committed_at INTEGER
) STRICT;
CREATE INDEX messages_sender ON messages (sender_id, state);

CREATE TABLE chunks (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,          -- sealed under the message's data key
    PRIMARY KEY (message_id, seq)
) STRICT;

-- One row per recipient, created with the upload; the message is
-- delivered once played_at is set. told records what the sender has been
-- told: 0 nothing, 1 delivered, 2 played.
CREATE TABLE deliveries (
    message_id   TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    delivered_at INTEGER,
    played_at    INTEGER,
    told         INTEGER NOT NULL DEFAULT 0 CHECK (told BETWEEN 0 AND 2),
    PRIMARY KEY (message_id, recipient_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX deliveries_waiting ON deliveries (recipient_id) WHERE played_at IS NULL;
