package store

import (
	"context"
	"fmt"
	"time"
)

// CheckRun is one run of the security self-check, as kept in its history.
type CheckRun struct {
	ID                int64
	At                time.Time
	Trigger           string
	High, Medium, Low int
	Report            []byte // JSON, as the audit wrote it
}

// keptChecks is how many runs the history keeps (about three months of
// daily runs and the changes between them).
const keptChecks = 200

// SaveCheck adds a run to the history, dropping the oldest beyond
// keptChecks.
func (s *Store) SaveCheck(ctx context.Context, c CheckRun) error {
	err := s.w.do(ctx, func(tx *Tx) error {
		if _, err := tx.Exec("INSERT INTO checks (at, trigger, high, medium, low, report) VALUES (?, ?, ?, ?, ?, ?)",
			c.At.Unix(), c.Trigger, c.High, c.Medium, c.Low, c.Report); err != nil {
			return err
		}
		_, err := tx.Exec("DELETE FROM checks WHERE id NOT IN (SELECT id FROM checks ORDER BY at DESC, id DESC LIMIT ?)", keptChecks)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: save check: %w", err)
	}
	return nil
}

// Checks lists the newest runs, newest first; with reports only if full.
func (s *Store) Checks(ctx context.Context, limit int, full bool) ([]CheckRun, error) {
	col := "x''"
	if full {
		col = "report"
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, at, trigger, high, medium, low, "+col+" FROM checks ORDER BY at DESC, id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("store: checks: %w", err)
	}
	defer rows.Close()
	var out []CheckRun
	for rows.Next() {
		var c CheckRun
		var at int64
		if err := rows.Scan(&c.ID, &at, &c.Trigger, &c.High, &c.Medium, &c.Low, &c.Report); err != nil {
			return nil, err
		}
		c.At = time.Unix(at, 0)
		out = append(out, c)
	}
	return out, rows.Err()
}
