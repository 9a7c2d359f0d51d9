package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Event is one entry of the audit log: what happened, who did it, to
// which device, from where. IDs only, never a name.
type Event struct {
	ID   int64
	At   time.Time
	Kind EventKind
	// User is the account that acted, if an account did.
	User string
	// Device is the device the event concerns (or, for a device's own
	// request, the device that asked).
	Device string
	Remote string // an address, or "console"
	Detail string
}

// The audit log is a keyed hash chain: each entry's mac is an HMAC (under
// a key derived from the master key) of the previous entry's mac and of
// this entry, and meta "audit_head" holds the last entry's ID and mac
// under the same key. Editing, inserting or removing an entry anywhere,
// the last ones included, breaks the chain; forging it needs the master
// key.

func (s *Store) entryMAC(prev []byte, e Event) []byte {
	m := hmac.New(sha256.New, s.keys.audit)
	field := func(b []byte) {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		m.Write(b)
	}
	field(prev)
	field(binary.BigEndian.AppendUint64(nil, uint64(e.ID)))
	field(binary.BigEndian.AppendUint64(nil, uint64(e.At.Unix())))
	for _, f := range []string{string(e.Kind), e.Device, e.Remote, e.Detail} {
		field([]byte(f))
	}
	if e.User != "" {
		// A field of its own, after the others, so that entries written
		// before schema 9 (which have none) verify as they were chained.
		field([]byte(e.User))
	}
	return m.Sum(nil)
}

func (s *Store) headValue(id int64, mac []byte) []byte {
	m := hmac.New(sha256.New, s.keys.audit)
	m.Write([]byte("head"))
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(id)))
	m.Write(mac)
	return append(binary.BigEndian.AppendUint64(nil, uint64(id)), m.Sum(nil)...)
}

// appendAudit adds an entry to the chain inside a write transaction.
func (s *Store) appendAudit(tx *Tx, e Event) error {
	var prev []byte
	var prevID int64
	err := tx.QueryRow("SELECT id, mac FROM audit ORDER BY id DESC LIMIT 1").Scan(&prevID, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	e.ID = prevID + 1
	mac := s.entryMAC(prev, e)
	if _, err := tx.Exec("INSERT INTO audit (id, at, event, account, device, remote, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, e.At.Unix(), e.Kind, e.User, e.Device, e.Remote, e.Detail, mac); err != nil {
		return err
	}
	_, err = tx.Exec("INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", s.headValue(e.ID, mac))
	return err
}

// Audit records an event. It does not wait for the write.
func (s *Store) Audit(e Event) {
	if e.At.IsZero() {
		e.At = s.opt.Now()
	}
	_ = s.w.submit(&writeOp{tx: func(tx *Tx) error { return s.appendAudit(tx, e) }, done: func(error) {}})
}

// AuditSync records an event and waits until it is durable.
func (s *Store) AuditSync(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = s.opt.Now()
	}
	return s.w.do(ctx, func(tx *Tx) error { return s.appendAudit(tx, e) }, nil)
}

// chainAudit brings entries written before schema 7 into the chain, once.
func (s *Store) chainAudit(ctx context.Context) error {
	return s.w.do(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM audit WHERE mac IS NULL").Scan(&n); err != nil || n == 0 {
			return err
		}
		rows, err := tx.Query("SELECT id, at, event, account, device, remote, detail FROM audit ORDER BY id")
		if err != nil {
			return err
		}
		var evs []Event
		for rows.Next() {
			var e Event
			var at int64
			if err := rows.Scan(&e.ID, &at, &e.Kind, &e.User, &e.Device, &e.Remote, &e.Detail); err != nil {
				rows.Close()
				return err
			}
			e.At = time.Unix(at, 0)
			evs = append(evs, e)
		}
		rows.Close()
		var prev []byte
		for _, e := range evs {
			prev = s.entryMAC(prev, e)
			if _, err := tx.Exec("UPDATE audit SET mac = ? WHERE id = ?", prev, e.ID); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			_, err = tx.Exec("INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
				s.headValue(evs[len(evs)-1].ID, prev))
		}
		return err
	}, nil)
}

// AuditLog returns the newest events, newest first. Events recorded
// before it was called are in it, including those Audit did not wait
// for: the writer commits in order, so an empty write queued behind them
// returns once they are visible. It is lazy: visible is all it waits
// for, so it does not switch the writer's sync level. (A read-only store
// has no writer, and nothing of its own to wait for.)
func (s *Store) AuditLog(ctx context.Context, limit int) ([]Event, error) {
	if err := s.w.doLazy(ctx, func(*Tx) error { return nil }); err != nil && !errors.Is(err, ErrClosed) {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, at, event, account, device, remote, detail FROM audit ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.User, &e.Device, &e.Remote, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditProblem is where the chain breaks.
type AuditProblem struct {
	ID     int64  // the first entry that does not verify (0: the head)
	Reason string // "changed", "missing before it", "missing at the end", ...
}

func (p *AuditProblem) Error() string {
	if p.ID == 0 {
		return "audit log: " + p.Reason
	}
	return fmt.Sprintf("audit log: entry %d: %s", p.ID, p.Reason)
}

// VerifyAudit walks the whole chain; it returns the number of entries,
// and an *AuditProblem at the first entry that was edited, inserted or
// removed.
//
// The entries and the head are read in one read transaction, as of one
// moment: read apart, an entry recorded between the two reads would make
// a whole chain look cut short.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	rtx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("store: audit log: %w", err)
	}
	defer rtx.Rollback()
	rows, err := rtx.QueryContext(ctx, "SELECT id, at, event, account, device, remote, detail, mac FROM audit ORDER BY id")
	if err != nil {
		return 0, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var (
		prev   []byte
		lastID int64
		n      int
	)
	for rows.Next() {
		var e Event
		var at int64
		var mac []byte
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.User, &e.Device, &e.Remote, &e.Detail, &mac); err != nil {
			return n, err
		}
		e.At = time.Unix(at, 0)
		if e.ID != lastID+1 {
			return n, &AuditProblem{e.ID, fmt.Sprintf("entries %d to %d are missing", lastID+1, e.ID-1)}
		}
		if want := s.entryMAC(prev, e); !hmac.Equal(want, mac) {
			return n, &AuditProblem{e.ID, "changed (or an entry before it was)"}
		}
		prev, lastID = mac, e.ID
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	var head []byte
	err = rtx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'audit_head'").Scan(&head)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	switch {
	case errors.Is(err, ErrNotFound) && n == 0:
		return 0, nil
	case err != nil:
		return n, &AuditProblem{0, "its head record is missing"}
	case !hmac.Equal(head, s.headValue(lastID, prev)):
		return n, &AuditProblem{0, "entries are missing at the end, or the head was changed"}
	}
	return n, nil
}

// CountEvents counts audit-log events of the given kinds since t.
func (s *Store) CountEvents(ctx context.Context, since time.Time, kinds ...EventKind) (int, error) {
	n := 0
	for _, k := range kinds {
		var c int
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM audit WHERE at >= ? AND event = ?", since.Unix(), k).Scan(&c); err != nil {
			return 0, fmt.Errorf("store: count events: %w", err)
		}
		n += c
	}
	return n, nil
}

// LastRecorded is the time of the newest audit entry, or the zero time.
// A clock earlier than it has gone backwards.
func (s *Store) LastRecorded(ctx context.Context) (time.Time, error) {
	var at sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT max(at) FROM audit").Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("store: %w", err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return time.Unix(at.Int64, 0), nil
}
