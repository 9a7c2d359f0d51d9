package store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
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

// CurrentCertificate is the newest unrevoked certificate of a device that
// is not revoked.
type CurrentCertificate struct {
	Device   string
	Serial   string
	NotAfter time.Time
}

// CurrentCertificates lists each enrolled device's newest valid-looking
// certificate (expired ones included, so that they can be reported).
func (s *Store) CurrentCertificates(ctx context.Context) ([]CurrentCertificate, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT c.device_id, c.serial, max(c.not_after) FROM certificates c JOIN devices d ON d.id = c.device_id
		WHERE c.revoked_at IS NULL AND d.revoked_at IS NULL GROUP BY c.device_id ORDER BY c.device_id`)
	if err != nil {
		return nil, fmt.Errorf("store: certificates: %w", err)
	}
	defer rows.Close()
	var out []CurrentCertificate
	for rows.Next() {
		var c CurrentCertificate
		var na int64
		if err := rows.Scan(&c.Device, &c.Serial, &na); err != nil {
			return nil, err
		}
		c.NotAfter = time.Unix(na, 0)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteDevice removes a device and everything that refers to it: its
// certificates, links, and the messages it sent or was sent.
func (s *Store) DeleteDevice(ctx context.Context, id string) error {
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("DELETE FROM devices WHERE id = ?", id) // the rest cascades
	}, nil)
	if err != nil {
		return fmt.Errorf("store: delete device %s: %w", id, err)
	}
	return nil
}

// Names lists every name the store holds sealed: of devices, accounts
// (and their e-mail addresses), invites and the household. The audit
// looks for them in clear in the database files.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	var out []string
	ds, err := s.Devices(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		out = append(out, d.Name)
	}
	us, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range us {
		out = append(out, u.Login)
		if u.Email != "" {
			out = append(out, u.Email)
		}
	}
	invs, err := s.Invites(ctx)
	if err != nil {
		return nil, err
	}
	for _, i := range invs {
		out = append(out, i.Name)
	}
	h, err := s.Household(ctx)
	if err != nil {
		return nil, err
	}
	if h != "" {
		out = append(out, h)
	}
	return out, nil
}

// MasterKeyForms reads the master key file and returns the key in each
// form a copy of it could take: raw, base64 and hex.
func MasterKeyForms(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	key, err := parseMasterKey(path, b)
	if err != nil {
		return nil, err
	}
	return [][]byte{key, []byte(base64.StdEncoding.EncodeToString(key)), []byte(base64.RawURLEncoding.EncodeToString(key)),
		[]byte(hex.EncodeToString(key))}, nil
}

// CountMessages counts the committed messages.
func (s *Store) CountMessages(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM messages WHERE state = 'committed'").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count messages: %w", err)
	}
	return n, nil
}

// CommittedMessages lists the committed messages' IDs with their senders,
// oldest first.
func (s *Store) CommittedMessages(ctx context.Context) ([][2]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, sender_id FROM messages WHERE state = 'committed' ORDER BY committed_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var m [2]string
		if err := rows.Scan(&m[0], &m[1]); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
