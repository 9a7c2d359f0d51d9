package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

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

// CertificateError explains why a certificate is refused.
type CertificateError struct {
	Serial string
	Reason string // "unknown", "revoked", "device revoked", "expired"
	Err    error  // ErrNotFound or ErrRevoked
}

func (e *CertificateError) Error() string {
	return "certificate " + e.Serial + ": " + e.Reason
}

func (e *CertificateError) Unwrap() error { return e.Err }

// CheckCertificate is the handshake-time check: the certificate with this
// serial must be one the hub issued, to deviceID, and neither it nor its
// device may be revoked. The database, not the certificate, is the source
// of truth.
func (s *Store) CheckCertificate(ctx context.Context, serial, deviceID string) error {
	var (
		owner                 string
		certRevoked, devRevkd sql.NullInt64
		notAfter              int64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT c.device_id, c.revoked_at, c.not_after, d.revoked_at
		FROM certificates c JOIN devices d ON d.id = c.device_id
		WHERE c.serial = ?`, serial).Scan(&owner, &certRevoked, &notAfter, &devRevkd)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &CertificateError{serial, "unknown", ErrNotFound}
	case err != nil:
		return fmt.Errorf("store: check certificate: %w", err)
	case owner != deviceID:
		return &CertificateError{serial, "issued to another device", ErrNotFound}
	case devRevkd.Valid:
		return &CertificateError{serial, "device revoked", ErrRevoked}
	case certRevoked.Valid:
		return &CertificateError{serial, "revoked", ErrRevoked}
	case s.now() > notAfter:
		return &CertificateError{serial, "expired", ErrRevoked}
	}
	return nil
}

// AddCertificate records a renewed certificate of a device that is not
// revoked.
func (s *Store) AddCertificate(ctx context.Context, deviceID, serial string, notAfter time.Time) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM devices WHERE id = ? AND revoked_at IS NULL", deviceID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrRevoked
		}
		_, err := tx.Exec("INSERT INTO certificates (serial, device_id, issued_at, not_after) VALUES (?, ?, ?, ?)", serial, deviceID, now, notAfter.Unix())
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: add certificate for %s: %w", deviceID, err)
	}
	return nil
}
