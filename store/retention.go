package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DeleteMessages deletes messages for good: the rows go (the chunks and
// deliveries with them, and with the message row its wrapped data key, so
// whatever copy of a chunk survives anywhere can no longer be decrypted),
// secure_delete overwrites the freed pages, and the WAL is checkpointed
// and truncated so that no older page images remain in it.
func (s *Store) DeleteMessages(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	err := s.w.do(ctx, func(tx *Tx) error {
		for _, id := range ids {
			r, err := tx.Exec("DELETE FROM messages WHERE id = ?", id)
			if err != nil {
				return err
			}
			k, _ := r.RowsAffected()
			n += int(k)
		}
		return nil
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("store: delete messages: %w", err)
	}
	for _, id := range ids {
		s.hot.evict(id)
	}
	return n, s.truncateWAL(ctx)
}

// truncateWAL checkpoints the WAL into the database and empties it,
// retrying while readers hold older snapshots.
func (s *Store) truncateWAL(ctx context.Context) error {
	if s.opt.Journal != "wal" {
		return nil
	}
	for i := 0; ; i++ {
		var busy, log, done int
		err := s.w.do(ctx, nil, func(c *sql.Conn) error {
			return c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done)
		})
		if err != nil {
			return fmt.Errorf("store: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if i == 50 {
			return errors.New("store: checkpoint: readers kept the WAL busy")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// expiredQuery selects the committed messages that a toy's retention
// says should go: older than its days, or, for "once played", those it
// played and those it sent that every recipient played.
const expiredQuery = `
	SELECT DISTINCT m.id FROM messages m JOIN devices d ON d.kind = 'toy'
	  AND (m.sender_id = d.id OR EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.recipient_id = d.id))
	WHERE m.state = 'committed' AND (
	  (d.retention_days > 0 AND m.committed_at <= ?1 - d.retention_days * 86400)
	  OR (d.retention_days = -1 AND (
	    (m.sender_id = d.id AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.played_at IS NULL))
	    OR EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.recipient_id = d.id AND x.played_at IS NOT NULL))))`

// ExpiredMessages lists the messages retention says to delete now.
func (s *Store) ExpiredMessages(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, expiredQuery, s.now())
	if err != nil {
		return nil, fmt.Errorf("store: expired messages: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Deletion is when retention will delete a message of a toy.
type Deletion struct {
	MessageID  string
	SenderName string
	SentAt     time.Time
	// At is when it will be deleted; zero means once it is played.
	At time.Time
}

// NextDeletions lists the toy's messages that retention will delete
// soonest, soonest first.
func (s *Store) NextDeletions(ctx context.Context, toy string, limit int) ([]Deletion, error) {
	st, err := s.DeviceSettings(ctx, toy)
	if err != nil || st.RetentionDays == RetainForever {
		return nil, err
	}
	ms, err := s.Conversation(ctx, toy, Viewer{All: true}, 1000)
	if err != nil {
		return nil, err
	}
	var out []Deletion
	for _, m := range ms {
		d := Deletion{MessageID: m.ID, SenderName: m.SenderName, SentAt: m.SentAt}
		if st.RetentionDays > 0 {
			d.At = m.SentAt.Add(time.Duration(st.RetentionDays) * 24 * time.Hour)
		}
		out = append(out, d)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// Retention in words, for parents: how long a toy's messages are kept,
// and when retention will delete one. Both the web app and the console
// say it this way, from here, so that they cannot disagree.

// KeptText says how long a toy's messages are kept: "for 30 days",
// "forever" or "until played".
func KeptText(days int) string {
	switch {
	case days == RetainForever:
		return "forever"
	case days == RetainOncePlayed:
		return "until played"
	case days == 1:
		return "for 1 day"
	}
	return fmt.Sprintf("for %d days", days)
}

// DeletionText says when retention will delete a message of a toy that
// keeps messages for days: "never" (kept forever), "once it has been
// played", "soon: it has been played" (at the next clean-up), or the
// date, as layout writes it.
func DeletionText(days int, m MessageInfo, toy string, layout string) string {
	switch days {
	case RetainForever:
		return "never"
	case RetainOncePlayed:
		if playedFor(m, toy) {
			return "soon: it has been played"
		}
		return "once it has been played"
	}
	return "on " + m.SentAt.Add(time.Duration(days)*24*time.Hour).Local().Format(layout)
}

// playedFor reports whether retention "until played" lets a toy's
// message go: the toy played it, or every recipient played what the toy
// sent (as expiredQuery).
func playedFor(m MessageInfo, toy string) bool {
	if m.Sender == toy {
		for _, d := range m.Deliveries {
			if d.PlayedAt.IsZero() {
				return false
			}
		}
		return true
	}
	for _, d := range m.Deliveries {
		if d.Recipient == toy && !d.PlayedAt.IsZero() {
			return true
		}
	}
	return false
}
