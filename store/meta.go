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

// SetHousehold records the household's name (a family name, say), sealed
// like every other name; "" removes it.
func (s *Store) SetHousehold(ctx context.Context, name string) error {
	name = CleanName(name)
	if name != "" {
		if err := CheckName(name); err != nil {
			return fmt.Errorf("store: household name: %w", err)
		}
	}
	wrapped, aead, err := s.keys.newDataKey("meta", "household")
	if err != nil {
		return err
	}
	err = s.w.do(ctx, func(tx *Tx) error {
		if _, err := tx.Exec("DELETE FROM meta WHERE key IN ('household', 'household_dek')"); err != nil || name == "" {
			return err
		}
		if _, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('household_dek', ?)", wrapped); err != nil {
			return err
		}
		_, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('household', ?)", seal(aead, []byte(name), ad("meta", "household", "value")))
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: set household name: %w", err)
	}
	return nil
}

// Household returns the household's name, or "" if none was given.
func (s *Store) Household(ctx context.Context) (string, error) {
	var wrapped, sealed []byte
	err := s.db.QueryRowContext(ctx, "SELECT (SELECT value FROM meta WHERE key = 'household_dek'), (SELECT value FROM meta WHERE key = 'household')").Scan(&wrapped, &sealed)
	if err != nil {
		return "", fmt.Errorf("store: household name: %w", err)
	}
	if wrapped == nil || sealed == nil {
		return "", nil
	}
	aead, err := s.keys.dataKey("meta", "household", wrapped)
	if err != nil {
		return "", err
	}
	plain, err := open(aead, sealed, ad("meta", "household", "value"))
	if err != nil {
		return "", fmt.Errorf("store: household name: %w", err)
	}
	return string(plain), nil
}
