-- Schema 6: the history of the hub's security self-checks. Reports hold
-- IDs, addresses and ports, never names.

CREATE TABLE checks (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    high    INTEGER NOT NULL,
    medium  INTEGER NOT NULL,
    low     INTEGER NOT NULL,
    report  BLOB NOT NULL              -- JSON
) STRICT;
CREATE INDEX checks_at ON checks (at);
