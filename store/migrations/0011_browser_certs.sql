-- The certificates of people's browsers, for remote access: each names an
-- account, and a parent can revoke one. They are not devices'
-- certificates: the broker knows none of them.
CREATE TABLE browser_certs (
    serial     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX browser_certs_user ON browser_certs (user_id);
