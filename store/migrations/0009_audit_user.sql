-- Schema 9: the audit log names the account that acted apart from the
-- device an event concerns. Entries before it hold an account's ID in
-- device, as they were written; the chain covers them unchanged.
ALTER TABLE audit ADD COLUMN account TEXT NOT NULL DEFAULT '';
