package store

import (
	"context"
	"fmt"
	"time"
)

// Event is one entry of the audit log: what happened, to which device,
// from where. Never a name.
type Event struct {
	At     time.Time
	Event  string
	Device string
	Remote string
	Detail string
}

// Audit records an event. It does not wait for the write.
func (s *Store) Audit(e Event) {
	if e.At.IsZero() {
		e.At = s.opt.Now()
	}
	_ = s.w.submit(&writeOp{tx: func(tx *Tx) error {
		_, err := tx.Exec("INSERT INTO audit (at, event, device, remote, detail) VALUES (?, ?, ?, ?, ?)",
			e.At.Unix(), e.Event, e.Device, e.Remote, e.Detail)
		return err
	}, done: func(error) {}})
}

// AuditLog returns the newest events, newest first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT at, event, device, remote, detail FROM audit ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&at, &e.Event, &e.Device, &e.Remote, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0)
		out = append(out, e)
	}
	return out, rows.Err()
}
