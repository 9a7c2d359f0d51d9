package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// SecretHash is how the store keeps pairing codes and invite secrets: they
// carry 130 random bits, so a plain SHA-256 cannot be reversed.
func SecretHash(secret string) []byte {
	sum := sha256.Sum256([]byte("toyhub secret v1\x00" + secret))
	return sum[:]
}

// PairingCodeUsed reports whether a code has paired a toy already.
func (s *Store) PairingCodeUsed(ctx context.Context, code string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM pairing_codes WHERE code_hash = ?", SecretHash(code)).Scan(&n); err != nil {
		return false, fmt.Errorf("store: pairing code: %w", err)
	}
	return n > 0, nil
}

// PairDevice enrolls a toy that proved its pairing code, and spends the
// code, in one transaction: a code pairs one toy, once.
func (s *Store) PairDevice(ctx context.Context, code string, nd NewDevice) (Device, error) {
	return s.addDevice(ctx, nd, nil, func(tx *Tx, now int64) error {
		_, err := tx.Exec("INSERT INTO pairing_codes (code_hash, device_id, used_at) VALUES (?, ?, ?)", SecretHash(code), nd.ID, now)
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return ErrCodeUsed
		}
		return err
	})
}

// ErrCodeUsed means a pairing code has paired a toy already.
var ErrCodeUsed = errors.New("store: pairing code already used")
