-- Schema 4: each account has its own device identity, so that what a
-- person sends or receives in the web app takes the same message path,
-- links and authorization as a toy or a family device; and TOTP replay
-- protection.

ALTER TABLE users ADD COLUMN device_id TEXT REFERENCES devices (id);
ALTER TABLE users ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0; -- last time step accepted
CREATE UNIQUE INDEX users_device ON users (device_id);
