package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// EndUserSession ends one of a user's sessions; a session of someone else
// is ErrNotFound.
func (s *Store) EndUserSession(ctx context.Context, userID string, tokenHash []byte) error {
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("DELETE FROM sessions WHERE token_hash = ? AND user_id = ?", tokenHash, userID)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return nil
}

// Session is a logged-in browser.
type Session struct {
	UserID    string
	CreatedAt time.Time
	LastSeen  time.Time
	Remote    string
	TokenHash []byte // identifies the session to end it; the token itself is never stored
}

// CreateSession records a session under the hash of its token.
func (s *Store) CreateSession(ctx context.Context, token, userID, remote string) error {
	now := s.now()
	err := s.w.do(ctx, func(tx *Tx) error {
		_, err := tx.Exec("INSERT INTO sessions (token_hash, user_id, created_at, last_seen, remote) VALUES (?, ?, ?, ?, ?)",
			SecretHash(token), userID, now, now, remote)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionUser returns the session for a token and its user, if the
// session exists and has been idle less than idle and lived less than
// absolute; it then records the use. An expired session is deleted.
func (s *Store) SessionUser(ctx context.Context, token string, idle, absolute time.Duration) (Session, User, error) {
	hash := SecretHash(token)
	var ses Session
	var created, seen int64
	err := s.db.QueryRowContext(ctx, "SELECT user_id, created_at, last_seen, remote FROM sessions WHERE token_hash = ?", hash).
		Scan(&ses.UserID, &created, &seen, &ses.Remote)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, User{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("store: session: %w", err)
	}
	now := s.opt.Now()
	ses.CreatedAt, ses.LastSeen, ses.TokenHash = time.Unix(created, 0), time.Unix(seen, 0), hash
	if now.Sub(ses.LastSeen) > idle || now.Sub(ses.CreatedAt) > absolute {
		_ = s.EndSession(ctx, hash)
		return Session{}, User{}, fmt.Errorf("store: session: %w", ErrRevoked)
	}
	u, err := s.User(ctx, ses.UserID)
	if err != nil {
		return Session{}, User{}, err
	}
	if now.Sub(ses.LastSeen) > time.Minute {
		_ = s.w.submit(&writeOp{tx: func(tx *Tx) error {
			_, err := tx.Exec("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", now.Unix(), hash)
			return err
		}, done: func(error) {}})
	}
	return ses, u, nil
}

// Sessions lists a user's sessions, newest first.
func (s *Store) Sessions(ctx context.Context, userID string) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT token_hash, created_at, last_seen, remote FROM sessions WHERE user_id = ? ORDER BY created_at DESC", userID)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		ses := Session{UserID: userID}
		var created, seen int64
		if err := rows.Scan(&ses.TokenHash, &created, &seen, &ses.Remote); err != nil {
			return nil, err
		}
		ses.CreatedAt, ses.LastSeen = time.Unix(created, 0), time.Unix(seen, 0)
		out = append(out, ses)
	}
	return out, rows.Err()
}

// EndSession ends a session by the hash of its token.
func (s *Store) EndSession(ctx context.Context, tokenHash []byte) error {
	err := s.w.do(ctx, func(tx *Tx) error {
		_, err := tx.Exec("DELETE FROM sessions WHERE token_hash = ?", tokenHash)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return nil
}

// EndSessions ends every session of an account.
func (s *Store) EndSessions(ctx context.Context, userID string) error {
	err := s.w.do(ctx, func(tx *Tx) error {
		_, err := tx.Exec("DELETE FROM sessions WHERE user_id = ?", userID)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: end sessions: %w", err)
	}
	return nil
}
