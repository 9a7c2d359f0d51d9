-- Schema 2: enrollment (pairing codes, invites) and the audit log.

-- A pairing code is single-use: its hash is kept once it has paired a toy.
CREATE TABLE pairing_codes (
    code_hash BLOB PRIMARY KEY,
    device_id TEXT REFERENCES devices (id) ON DELETE SET NULL,
    used_at   INTEGER NOT NULL
) STRICT;

-- An invite lets one person's device join. Only a hash of the secret is
-- kept; the name is sealed like every other name.
CREATE TABLE invites (
    id          TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL UNIQUE,
    name        BLOB NOT NULL,
    name_hash   BLOB NOT NULL,
    dek         BLOB NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('family')),
    toys        TEXT NOT NULL DEFAULT '',  -- device IDs, comma-separated
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER,
    device_id   TEXT REFERENCES devices (id) ON DELETE SET NULL,
    revoked_at  INTEGER
) STRICT;

-- Security-relevant events. IDs, addresses and outcomes only, never names.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    event  TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    remote TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_at ON audit (at);
