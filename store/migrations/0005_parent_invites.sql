-- Schema 5: an invite may make a parent's account as well as a family
-- member's. SQLite cannot change a CHECK, so the table is rebuilt.

CREATE TABLE invites_new (
    id          TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL UNIQUE,
    name        BLOB NOT NULL,
    name_hash   BLOB NOT NULL,
    dek         BLOB NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('family', 'parent')),
    toys        TEXT NOT NULL DEFAULT '',  -- device IDs, comma-separated
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER,
    device_id   TEXT REFERENCES devices (id) ON DELETE SET NULL,
    revoked_at  INTEGER
) STRICT;
INSERT INTO invites_new SELECT id, secret_hash, name, name_hash, dek, role, toys, created_at, expires_at, redeemed_at, device_id, revoked_at FROM invites;
DROP TABLE invites;
ALTER TABLE invites_new RENAME TO invites;
