package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Meta returns a value the hub recorded about itself, or ErrNotFound.
// Keys starting with "key_" are the store's own and are not readable.
func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, "key_") {
		return nil, fmt.Errorf("store: meta %s: reserved", key)
	}
	var v []byte
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: meta %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: meta %s: %w", key, err)
	}
	return v, nil
}

// SetMeta records a value about the hub. It must not be personal: meta
// values are stored in clear.
func (s *Store) SetMeta(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, "key_") {
		return fmt.Errorf("store: meta %s: reserved", key)
	}
	err := s.w.do(ctx, func(tx *Tx) error {
		_, err := tx.Exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: set meta %s: %w", key, err)
	}
	return nil
}
