package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"
)

// Viewer is who reads a toy's conversation in the web app: a parent sees
// every message the toy sent or received; anyone else (All false) sees
// only the messages between the toy and their own device identity.
type Viewer struct {
	Device string
	All    bool
}

// Delivery is the state of a message for one recipient.
type Delivery struct {
	Recipient     string
	RecipientName string
	DeliveredAt   time.Time
	PlayedAt      time.Time
}

// MessageInfo describes a committed message, without its audio.
type MessageInfo struct {
	ID         string
	Sender     string
	SenderName string
	SentAt     time.Time
	Size       int64
	Duration   time.Duration
	Deliveries []Delivery
}

// visibleClause selects messages m that involve toy ?1 and, unless the
// viewer sees everything (?3 = 1), also the viewer's device ?2, one as
// sender and the other as a recipient.
const visibleClause = `m.state = 'committed' AND (
	(?3 = 1 AND (m.sender_id = ?1 OR EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.recipient_id = ?1)))
	OR (m.sender_id = ?1 AND EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.recipient_id = ?2))
	OR (m.sender_id = ?2 AND EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.recipient_id = ?1)))`

func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Conversation lists the newest messages of a toy that the viewer may
// see, oldest first.
func (s *Store) Conversation(ctx context.Context, toy string, v Viewer, limit int) ([]MessageInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (
		SELECT m.id, m.sender_id, m.committed_at, m.size, coalesce(m.duration_ms, 0)
		FROM messages m WHERE `+visibleClause+`
		ORDER BY m.committed_at DESC, m.id DESC LIMIT ?4) ORDER BY 3, 1`, toy, v.Device, boolArg(v.All), limit)
	if err != nil {
		return nil, fmt.Errorf("store: conversation: %w", err)
	}
	var out []MessageInfo
	for rows.Next() {
		var m MessageInfo
		var sent, ms int64
		if err := rows.Scan(&m.ID, &m.Sender, &sent, &m.Size, &ms); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: conversation: %w", err)
		}
		m.SentAt, m.Duration = time.Unix(sent, 0), time.Duration(ms)*time.Millisecond
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: conversation: %w", err)
	}
	names := map[string]string{}
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		d, err := s.Device(ctx, id)
		if err != nil {
			return ""
		}
		names[id] = d.Name
		return d.Name
	}
	for i := range out {
		m := &out[i]
		m.SenderName = name(m.Sender)
		ds, err := s.db.QueryContext(ctx, "SELECT recipient_id, delivered_at, played_at FROM deliveries WHERE message_id = ? ORDER BY recipient_id", m.ID)
		if err != nil {
			return nil, fmt.Errorf("store: deliveries: %w", err)
		}
		for ds.Next() {
			var d Delivery
			var delivered, played sql.NullInt64
			if err := ds.Scan(&d.Recipient, &delivered, &played); err != nil {
				ds.Close()
				return nil, err
			}
			if !v.All && d.Recipient != toy && d.Recipient != v.Device {
				continue // someone else's copy is not this viewer's business
			}
			d.DeliveredAt, d.PlayedAt = unixOrZero(delivered), unixOrZero(played)
			m.Deliveries = append(m.Deliveries, d)
		}
		ds.Close()
		for j := range m.Deliveries {
			m.Deliveries[j].RecipientName = name(m.Deliveries[j].Recipient)
		}
	}
	return out, nil
}

// Audio is a message opened for playback in the web app.
type Audio struct {
	ID        string
	Size      int64
	Recipient bool // the viewer's device is one of its recipients
	chunks    int
	aead      cipher.AEAD
}

// OpenAudio authorizes a viewer to play a message of a toy, as
// Conversation would list it: a message outside the viewer's view is
// ErrNotFound, whether or not it exists.
func (s *Store) OpenAudio(ctx context.Context, id, toy string, v Viewer) (Audio, error) {
	var (
		a         Audio
		dek       []byte
		chunkSize int64
		mine      int
	)
	err := s.db.QueryRowContext(ctx, `SELECT m.size, m.chunk_size, m.dek,
		EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id AND x.recipient_id = ?2)
		FROM messages m WHERE m.id = ?5 AND `+visibleClause, toy, v.Device, boolArg(v.All), 0, id).Scan(&a.Size, &chunkSize, &dek, &mine)
	if errors.Is(err, sql.ErrNoRows) {
		return Audio{}, fmt.Errorf("store: audio %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Audio{}, fmt.Errorf("store: audio %s: %w", id, err)
	}
	if a.aead, err = s.keys.dataKey("messages", id, dek); err != nil {
		return Audio{}, err
	}
	a.ID, a.Recipient = id, mine == 1
	a.chunks = int((a.Size + chunkSize - 1) / chunkSize)
	return a, nil
}

// WriteAudio decrypts an opened message chunk by chunk into w, holding
// one chunk in memory at a time.
func (s *Store) WriteAudio(ctx context.Context, a Audio, w io.Writer) error {
	for seq := 0; seq < a.chunks; seq++ {
		var sealed []byte
		if err := s.db.QueryRowContext(ctx, "SELECT data FROM chunks WHERE message_id = ? AND seq = ?", a.ID, seq).Scan(&sealed); err != nil {
			return fmt.Errorf("store: audio %s chunk %d: %w", a.ID, seq, err)
		}
		data, err := open(a.aead, sealed, chunkAD(a.ID, seq))
		if err != nil {
			return fmt.Errorf("store: audio %s chunk %d: %w", a.ID, seq, err)
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// Message describes one committed message with all its deliveries.
func (s *Store) Message(ctx context.Context, id string) (MessageInfo, error) {
	var m MessageInfo
	var sent, ms int64
	err := s.db.QueryRowContext(ctx, "SELECT id, sender_id, committed_at, size, coalesce(duration_ms, 0) FROM messages WHERE id = ? AND state = 'committed'", id).
		Scan(&m.ID, &m.Sender, &sent, &m.Size, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("store: message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("store: message %s: %w", id, err)
	}
	m.SentAt, m.Duration = time.Unix(sent, 0), time.Duration(ms)*time.Millisecond
	rows, err := s.db.QueryContext(ctx, "SELECT recipient_id, delivered_at, played_at FROM deliveries WHERE message_id = ? ORDER BY recipient_id", id)
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var d Delivery
		var delivered, played sql.NullInt64
		if err := rows.Scan(&d.Recipient, &delivered, &played); err != nil {
			return m, err
		}
		d.DeliveredAt, d.PlayedAt = unixOrZero(delivered), unixOrZero(played)
		m.Deliveries = append(m.Deliveries, d)
	}
	return m, rows.Err()
}
