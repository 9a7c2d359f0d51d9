package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OpenReadOnly opens a database to read it beside the hub that owns it
// (for an export, from another process): it never writes, never
// migrates, and checks that the master key is the database's. Writing
// methods fail on it.
func OpenReadOnly(ctx context.Context, opt Options) (*Store, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	master, err := loadMasterKey(opt.MasterKeyPath, false)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(master)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(opt.Path, opt, true))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}
	var version int
	var check []byte
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}
	if version != SchemaVersion() {
		db.Close()
		return nil, fmt.Errorf("store: %s is at schema %d, this program reads %d; run the hub of this version first", opt.Path, version, SchemaVersion())
	}
	err = db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'key_check'").Scan(&check)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !keys.matches(check)) {
		db.Close()
		return nil, fmt.Errorf("%w: %s", ErrWrongMasterKey, opt.MasterKeyPath)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", opt.Path, err)
	}
	s := &Store{db: db, keys: keys, opt: opt, hot: newHotCache(-1), w: newClosedWriter()}
	return s, nil
}
