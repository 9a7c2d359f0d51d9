-- Schema 7: parents in control. Retention, quiet hours and a daily limit
-- per device; links that wait for a parent's approval, or are muted; and
-- a keyed hash chain over the audit log.

ALTER TABLE devices ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 90; -- 0: forever; -1: once played
ALTER TABLE devices ADD COLUMN quiet_start INTEGER;                        -- minutes after local midnight
ALTER TABLE devices ADD COLUMN quiet_end INTEGER;
ALTER TABLE devices ADD COLUMN daily_limit INTEGER NOT NULL DEFAULT 0;     -- messages a day it may send; 0: no limit

ALTER TABLE links ADD COLUMN approved INTEGER NOT NULL DEFAULT 1;
ALTER TABLE links ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;

ALTER TABLE audit ADD COLUMN mac BLOB;   -- HMAC over the previous entry's mac and this entry

CREATE INDEX messages_committed ON messages (committed_at);
