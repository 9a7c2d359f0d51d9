-- Schema 3: people's accounts for the web app, and their sessions.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'parent', 'family')),
    login_hash     BLOB NOT NULL UNIQUE, -- keyed hash of the login name
    name           BLOB NOT NULL,        -- sealed
    email          BLOB,                 -- sealed, optional
    dek            BLOB NOT NULL,
    password_hash  TEXT NOT NULL,        -- Argon2id, PHC form
    policy_version INTEGER NOT NULL,     -- password policy it was checked against
    totp_secret    BLOB,                 -- sealed, when a second factor is set
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- Only a hash of each session token is kept: a copy of the database
-- opens no session.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    remote     TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);
