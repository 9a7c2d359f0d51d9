package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BrowserCert is a person's browser certificate, for remote access.
type BrowserCert struct {
	Serial    string
	User      string
	IssuedAt  time.Time
	NotAfter  time.Time
	RevokedAt time.Time // zero while valid
}

// AddBrowserCert records a browser certificate issued for an account.
func (s *Store) AddBrowserCert(ctx context.Context, user, serial string, notAfter time.Time) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		_, err := tx.Exec("INSERT INTO browser_certs (serial, user_id, issued_at, not_after) VALUES (?, ?, ?, ?)", serial, user, now, notAfter.Unix())
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: add browser certificate: %w", err)
	}
	return nil
}

// BrowserCerts lists an account's browser certificates, newest first;
// with user "", everyone's.
func (s *Store) BrowserCerts(ctx context.Context, user string) ([]BrowserCert, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT serial, user_id, issued_at, not_after, revoked_at FROM browser_certs
		WHERE ?1 = '' OR user_id = ?1 ORDER BY issued_at DESC, serial`, user)
	if err != nil {
		return nil, fmt.Errorf("store: browser certificates: %w", err)
	}
	defer rows.Close()
	var out []BrowserCert
	for rows.Next() {
		var c BrowserCert
		var issued, notAfter int64
		var revoked sql.NullInt64
		if err := rows.Scan(&c.Serial, &c.User, &issued, &notAfter, &revoked); err != nil {
			return nil, err
		}
		c.IssuedAt, c.NotAfter = time.Unix(issued, 0), time.Unix(notAfter, 0)
		if revoked.Valid {
			c.RevokedAt = time.Unix(revoked.Int64, 0)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeBrowserCert revokes a browser certificate and returns whose it
// was; ErrNotFound if there is none with that serial.
func (s *Store) RevokeBrowserCert(ctx context.Context, serial string) (string, error) {
	var user string
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		if err := tx.QueryRow("SELECT user_id FROM browser_certs WHERE serial = ?", serial).Scan(&user); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		_, err := tx.Exec("UPDATE browser_certs SET revoked_at = coalesce(revoked_at, ?) WHERE serial = ?", now, serial)
		return err
	}, nil)
	if err != nil {
		return "", fmt.Errorf("store: revoke browser certificate: %w", err)
	}
	return user, nil
}

// CheckBrowserCert is the handshake-time check of a browser's
// certificate: one the hub issued, to this account, not revoked, not
// expired, and the account still there.
func (s *Store) CheckBrowserCert(ctx context.Context, serial, user string) error {
	var owner string
	var notAfter int64
	var revoked sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT user_id, not_after, revoked_at FROM browser_certs WHERE serial = ?", serial).Scan(&owner, &notAfter, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return &CertificateError{serial, "unknown", ErrNotFound}
	case err != nil:
		return fmt.Errorf("store: check browser certificate: %w", err)
	case owner != user:
		return &CertificateError{serial, "issued to another account", ErrNotFound}
	case revoked.Valid:
		return &CertificateError{serial, "revoked", ErrRevoked}
	case s.now() > notAfter:
		return &CertificateError{serial, "expired", ErrRevoked}
	}
	return nil
}
