-- What each name looks like (a keyed hash of its Unicode skeleton), so
-- that a new name that imitates another is refused. Filled for existing
-- rows when the store opens (Store.foldNames).
ALTER TABLE devices ADD COLUMN look_hash BLOB;
ALTER TABLE invites ADD COLUMN look_hash BLOB;
CREATE INDEX devices_look ON devices (look_hash);
