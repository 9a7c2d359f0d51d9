package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

func order(a, b string) (string, string) {
	if a > b {
		return b, a
	}
	return a, b
}

// Link lets two devices message each other, as a parent decides: it
// approves the link if it was waiting. Linking twice is not an error.
func (s *Store) Link(ctx context.Context, a, b string) error {
	if a == b {
		return errors.New("store: a device cannot be linked to itself")
	}
	x, y := order(a, b)
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM devices WHERE id IN (?, ?) AND revoked_at IS NULL", x, y).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return fmt.Errorf("%w: both devices must exist and not be revoked", ErrNotFound)
		}
		// A parent's link approves a link that was waiting.
		_, err := tx.Exec("INSERT INTO links (a, b, created_at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET approved = 1", x, y, now)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: link: %w", err)
	}
	return nil
}

// Unlink removes a link. Messages already committed are still delivered.
func (s *Store) Unlink(ctx context.Context, a, b string) error {
	x, y := order(a, b)
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("DELETE FROM links WHERE a = ? AND b = ?", x, y)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: unlink: %w", err)
	}
	return nil
}

// Contacts lists the IDs of the devices linked to id that are not revoked,
// whose link a parent approved and has not muted: those it may message.
func (s *Store) Contacts(ctx context.Context, id string) ([]string, error) {
	return contacts(ctx, s.db, id)
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func contacts(ctx context.Context, q querier, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT l.b FROM links l JOIN devices d ON d.id = l.b WHERE l.a = ? AND d.revoked_at IS NULL AND l.approved = 1 AND l.muted = 0
		UNION
		SELECT l.a FROM links l JOIN devices d ON d.id = l.a WHERE l.b = ? AND d.revoked_at IS NULL AND l.approved = 1 AND l.muted = 0
		ORDER BY 1`, id, id)
	if err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// LinkState is a link as a parent manages it.
type LinkState struct {
	A, B     string
	Approved bool
	Muted    bool
}

// LinksOf lists the links of a device, with their state.
func (s *Store) LinksOf(ctx context.Context, id string) ([]LinkState, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT a, b, approved, muted FROM links WHERE a = ? OR b = ? ORDER BY a, b", id, id)
	if err != nil {
		return nil, fmt.Errorf("store: links: %w", err)
	}
	defer rows.Close()
	var out []LinkState
	for rows.Next() {
		var l LinkState
		if err := rows.Scan(&l.A, &l.B, &l.Approved, &l.Muted); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// PendingLinks lists the links waiting for a parent's approval.
func (s *Store) PendingLinks(ctx context.Context) ([]LinkState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.a, l.b FROM links l JOIN devices x ON x.id = l.a JOIN devices y ON y.id = l.b
		WHERE l.approved = 0 AND x.revoked_at IS NULL AND y.revoked_at IS NULL ORDER BY l.created_at`)
	if err != nil {
		return nil, fmt.Errorf("store: pending links: %w", err)
	}
	defer rows.Close()
	var out []LinkState
	for rows.Next() {
		var l LinkState
		if err := rows.Scan(&l.A, &l.B); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// SetMuted mutes or unmutes a link: a muted contact's messages neither
// reach the toy nor are sent to it, until unmuted.
func (s *Store) SetMuted(ctx context.Context, a, b string, muted bool) error {
	x, y := order(a, b)
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("UPDATE links SET muted = ? WHERE a = ? AND b = ?", muted, x, y)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: mute: %w", err)
	}
	return nil
}
