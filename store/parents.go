package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Retention values besides a number of days.
const (
	RetainForever    = 0
	RetainOncePlayed = -1
)

// DefaultRetentionDays is how long a toy keeps its messages unless a
// parent chooses otherwise.
const DefaultRetentionDays = 90

// Settings are what parents decide for a device.
type Settings struct {
	// RetentionDays is how long the messages a toy sent or received are
	// kept: a number of days, RetainForever, or RetainOncePlayed.
	RetentionDays int
	// Quiet hours, in minutes after local midnight; Quiet false means none.
	// Messages for the toy are held during them and delivered afterwards.
	Quiet                bool
	QuietStart, QuietEnd int
	// DailyLimit bounds the messages the device may send in 24 hours; 0
	// means no limit.
	DailyLimit int
}

// InQuiet reports whether t (local time) is within the quiet hours.
func (s Settings) InQuiet(t time.Time) bool {
	if !s.Quiet || s.QuietStart == s.QuietEnd {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	if s.QuietStart < s.QuietEnd {
		return m >= s.QuietStart && m < s.QuietEnd
	}
	return m >= s.QuietStart || m < s.QuietEnd // across midnight
}

// DeviceSettings returns a device's settings.
func (s *Store) DeviceSettings(ctx context.Context, id string) (Settings, error) {
	var st Settings
	var qs, qe sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT retention_days, quiet_start, quiet_end, daily_limit FROM devices WHERE id = ?", id).
		Scan(&st.RetentionDays, &qs, &qe, &st.DailyLimit)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("store: settings of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("store: settings of %s: %w", id, err)
	}
	if qs.Valid && qe.Valid {
		st.Quiet, st.QuietStart, st.QuietEnd = true, int(qs.Int64), int(qe.Int64)
	}
	return st, nil
}

// SetDeviceSettings records a device's settings.
func (s *Store) SetDeviceSettings(ctx context.Context, id string, st Settings) error {
	if st.RetentionDays < RetainOncePlayed || st.RetentionDays > 36500 {
		return fmt.Errorf("store: retention %d days", st.RetentionDays)
	}
	if st.DailyLimit < 0 || (st.Quiet && (st.QuietStart < 0 || st.QuietStart >= 1440 || st.QuietEnd < 0 || st.QuietEnd >= 1440)) {
		return errors.New("store: bad quiet hours or daily limit")
	}
	var qs, qe any
	if st.Quiet {
		qs, qe = st.QuietStart, st.QuietEnd
	}
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("UPDATE devices SET retention_days = ?, quiet_start = ?, quiet_end = ?, daily_limit = ? WHERE id = ?",
			st.RetentionDays, qs, qe, st.DailyLimit, id)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: settings of %s: %w", id, err)
	}
	return nil
}

// ErrDailyLimit means a sender has sent its messages for the day.
var ErrDailyLimit = errors.New("store: daily message limit reached")

// ErrRateLimit means a sender sends faster, or more, than any toy should.
var ErrRateLimit = errors.New("store: sending too fast")

// checkRate applies the hub's own bounds on one sender: messages a minute
// and bytes a day. It returns the messages the sender began in the last
// 24 hours, for the parents' daily limit.
func (s *Store) checkRate(tx *Tx, sender string, size, now int64) (today int, err error) {
	n, _, err := sentSince(tx, sender, now-60)
	if err != nil {
		return 0, err
	}
	if n >= s.opt.MaxMessagesPerMinute {
		return 0, fmt.Errorf("%w: %d messages in the last minute", ErrRateLimit, n)
	}
	today, bytes, err := sentSince(tx, sender, now-86400)
	if err != nil {
		return 0, err
	}
	if bytes+size > s.opt.MaxBytesPerDay {
		return 0, fmt.Errorf("%w: %d MB in the last day", ErrRateLimit, bytes>>20)
	}
	return today, nil
}

// sentSinceQuery reads only the window's entries of the covering index
// messages_sender_created, however many messages the sender has kept.
const sentSinceQuery = "SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE sender_id = ? AND created_at > ?"

// sentSince counts the messages a sender began after since, and their bytes.
func sentSince(tx *Tx, sender string, since int64) (n int, bytes int64, err error) {
	err = tx.QueryRow(sentSinceQuery, sender, since).Scan(&n, &bytes)
	return n, bytes, err
}

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

// LinkState is a link as a parent manages it.
type LinkState struct {
	A, B     string
	Approved bool
	Muted    bool
}

// LinksOf lists the links of a device, with their state.
func (s *Store) LinksOf(ctx context.Context, id string) ([]LinkState, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT a, b, approved, muted FROM links WHERE a = ? OR b = ? ORDER BY a, b", id, id)
	if err != nil {
		return nil, fmt.Errorf("store: links: %w", err)
	}
	defer rows.Close()
	var out []LinkState
	for rows.Next() {
		var l LinkState
		if err := rows.Scan(&l.A, &l.B, &l.Approved, &l.Muted); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// PendingLinks lists the links waiting for a parent's approval.
func (s *Store) PendingLinks(ctx context.Context) ([]LinkState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.a, l.b FROM links l JOIN devices x ON x.id = l.a JOIN devices y ON y.id = l.b
		WHERE l.approved = 0 AND x.revoked_at IS NULL AND y.revoked_at IS NULL ORDER BY l.created_at`)
	if err != nil {
		return nil, fmt.Errorf("store: pending links: %w", err)
	}
	defer rows.Close()
	var out []LinkState
	for rows.Next() {
		var l LinkState
		if err := rows.Scan(&l.A, &l.B); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// SetMuted mutes or unmutes a link: a muted contact's messages neither
// reach the toy nor are sent to it, until unmuted.
func (s *Store) SetMuted(ctx context.Context, a, b string, muted bool) error {
	x, y := order(a, b)
	err := s.w.do(ctx, func(tx *Tx) error {
		return tx.execOne("UPDATE links SET muted = ? WHERE a = ? AND b = ?", muted, x, y)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: mute: %w", err)
	}
	return nil
}

// RemoveDevice removes a device for good: its certificates are revoked
// and, with keepMessages, its name is replaced by an anonymous one while
// the messages it sent or received stay; without, the device and every
// message it sent or received are deleted.
func (s *Store) RemoveDevice(ctx context.Context, id string, keepMessages bool) error {
	now := s.now()
	var msgs []string
	err := s.w.do(ctx, func(tx *Tx) error {
		if keepMessages {
			var dek []byte
			if err := tx.QueryRow("SELECT dek FROM devices WHERE id = ?", id).Scan(&dek); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return ErrNotFound
				}
				return err
			}
			aead, err := s.keys.dataKey("devices", id, dek)
			if err != nil {
				return err
			}
			anon := "removed " + id[:min(len(id), 8)]
			if _, err := tx.Exec(`UPDATE devices SET name = ?, name_hash = ?, revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
				seal(aead, []byte(anon), ad("devices", id, "name")), s.keys.nameHash("device", anon+" "+id), now, id); err != nil {
				return err
			}
			_, err = tx.Exec("UPDATE certificates SET revoked_at = coalesce(revoked_at, ?) WHERE device_id = ?", now, id)
			return err
		}
		rows, err := tx.Query(`SELECT id FROM messages WHERE sender_id = ?1
			UNION SELECT message_id FROM deliveries WHERE recipient_id = ?1`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			msgs = append(msgs, m)
		}
		rows.Close()
		for _, m := range msgs {
			if _, err := tx.Exec("DELETE FROM messages WHERE id = ?", m); err != nil {
				return err
			}
		}
		if _, err := tx.Exec("UPDATE users SET device_id = NULL WHERE device_id = ?", id); err != nil {
			return err
		}
		return tx.execOne("DELETE FROM devices WHERE id = ?", id)
	}, nil)
	if err != nil {
		return fmt.Errorf("store: remove device %s: %w", id, err)
	}
	for _, m := range msgs {
		s.hot.evict(m)
	}
	return s.truncateWAL(ctx)
}
