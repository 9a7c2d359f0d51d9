package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrFull means the disk holding the database is full, or has less free
// space than the store keeps in reserve (Options.MinFreeBytes).
var ErrFull = errors.New("store: the disk is full")

// DefaultMinFreeBytes is the space new messages may not use: room left
// for deleting (SQLite needs space in its WAL to delete), for the
// pre-migration backup and for the rest of the system.
const DefaultMinFreeBytes = 64 << 20

// asFull marks an error that SQLite or the kernel gave for a full disk.
func asFull(err error) error {
	if err == nil || errors.Is(err, ErrFull) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL || errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (%v)", ErrFull, err)
	}
	return err
}

// FreeBytes is the space left for the store on its disk.
func (s *Store) FreeBytes() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(s.opt.Path), &st); err != nil {
		return 0, fmt.Errorf("store: free space: %w", err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkSpace refuses a message of size bytes that would eat into the
// reserve.
func (s *Store) checkSpace(size int64) error {
	free, err := s.FreeBytes()
	if err != nil {
		return err
	}
	if free-size < s.opt.MinFreeBytes {
		return fmt.Errorf("%w: %d MB free, %d MB kept in reserve", ErrFull, free>>20, s.opt.MinFreeBytes>>20)
	}
	return nil
}

// Space is the disk space left for messages, as parents are told of it.
type Space struct {
	Free    int64 // bytes free on the store's disk
	Reserve int64 // bytes new messages may not use
	Full    bool  // new messages are refused
	Low     bool  // less than twice the reserve is free
}

// Space reports the disk space left for messages.
func (s *Store) Space() (Space, error) {
	free, err := s.FreeBytes()
	if err != nil {
		return Space{}, err
	}
	r := max(s.opt.MinFreeBytes, 0)
	// Full: not even a short message fits above the reserve.
	return Space{Free: free, Reserve: r, Full: free-r < 1<<20, Low: free < 2*r+(16<<20)}, nil
}
