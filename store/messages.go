package store

import (
	"bytes"
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Delivery states, as reported to senders.
const (
	StateDelivered = "delivered"
	StatePlayed    = "played"
)

// UploadSpec is what a sender declares about a message before its bytes.
type UploadSpec struct {
	ID        string // chosen by the sender
	Sender    string
	To        []string // device IDs; empty means every contact
	Format    string
	Size      int64
	SHA256    [32]byte
	ChunkSize int
}

// Chunks is the number of chunks the message has.
func (u UploadSpec) Chunks() int {
	return int((u.Size + int64(u.ChunkSize) - 1) / int64(u.ChunkSize))
}

// Upload is a message being received. Next is the first chunk not yet
// durably stored. It belongs to the goroutine serving the sender.
type Upload struct {
	UploadSpec
	Next      int
	Committed bool
	// Evicted is the sender's unfinished upload that this one replaced
	// (the one untouched the longest), when the sender already had
	// MaxUploadsPerDevice of them; "" otherwise.
	Evicted string
	aead    cipher.AEAD
	sealed  [][]byte // chunks sealed since StartUpload, for the hot cache
}

func chunkAD(id string, seq int) []byte {
	return ad("chunks", id+"/"+strconv.Itoa(seq), "data")
}

// StartUpload opens an upload, or finds the one already under this ID so
// the sender can resume (or learn that it is already committed). It checks
// that every recipient is a linked, unrevoked contact of the sender, and
// bounds the uploads a sender may have in progress.
func (s *Store) StartUpload(ctx context.Context, spec UploadSpec) (*Upload, error) {
	wrapped, aead, err := s.keys.newDataKey("messages", spec.ID)
	if err != nil {
		return nil, err
	}
	up := &Upload{UploadSpec: spec, aead: aead}
	now := s.now()
	// Lazy: a header lost in a power cut is sent again by the device,
	// whose chunks are answered "unknown" until it does; the first chunk's
	// synced commit makes it durable.
	err = s.w.doLazy(ctx, func(tx *Tx) error {
		var (
			sender, format, state string
			size                  int64
			sum, dek              []byte
			chunk, next           int
		)
		err := tx.QueryRow("SELECT sender_id, state, format, size, sha256, chunk_size, next_seq, dek FROM messages WHERE id = ?", spec.ID).
			Scan(&sender, &state, &format, &size, &sum, &chunk, &next, &dek)
		if err == nil {
			if sender != spec.Sender {
				return ErrIDInUse
			}
			if format != spec.Format || size != spec.Size || !bytes.Equal(sum, spec.SHA256[:]) || chunk != spec.ChunkSize {
				return ErrMismatch
			}
			stored, err := recipientsTx(tx, spec.ID)
			if err != nil {
				return err
			}
			if len(spec.To) > 0 && !sameSet(stored, spec.To) {
				return ErrMismatch
			}
			up.To = stored
			up.Next, up.Committed = next, state == "committed"
			up.aead, err = s.keys.dataKey("messages", spec.ID, dek)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}

		var inProgress int
		if err := tx.QueryRow("SELECT count(*) FROM messages WHERE sender_id = ? AND state = 'uploading'", spec.Sender).Scan(&inProgress); err != nil {
			return err
		}
		if inProgress >= s.opt.MaxUploadsPerDevice {
			// A device that restarted in the middle of its uploads
			// must not lock itself out: the newest takes the place of
			// the one untouched the longest.
			if err := tx.QueryRow("SELECT id FROM messages WHERE sender_id = ? AND state = 'uploading' ORDER BY updated_at, created_at, rowid LIMIT 1",
				spec.Sender).Scan(&up.Evicted); err != nil {
				return err
			}
			if _, err := tx.Exec("DELETE FROM messages WHERE id = ? AND state = 'uploading'", up.Evicted); err != nil {
				return err
			}
		}
		today, err := s.checkRate(tx, spec.Sender, spec.Size, now)
		if err != nil {
			return err
		}
		if s.opt.MinFreeBytes >= 0 {
			if err := s.checkSpace(spec.Size); err != nil {
				return err
			}
		}
		var limit int
		if err := tx.QueryRow("SELECT daily_limit FROM devices WHERE id = ?", spec.Sender).Scan(&limit); err != nil {
			return err
		}
		if limit > 0 && today >= limit {
			return fmt.Errorf("%w: %d messages in the last 24 hours", ErrDailyLimit, limit)
		}
		contacts, err := contacts(ctx, tx, spec.Sender)
		if err != nil {
			return err
		}
		to := spec.To
		if len(to) == 0 {
			to = contacts
		}
		if len(to) == 0 {
			return fmt.Errorf("%w: the sender has no contacts", ErrNotContact)
		}
		for _, r := range to {
			if !slices.Contains(contacts, r) {
				return ErrNotContact
			}
		}
		up.To = dedupe(to)
		if _, err := tx.Exec(`INSERT INTO messages (id, sender_id, state, format, size, sha256, chunk_size, dek, created_at, updated_at)
			VALUES (?, ?, 'uploading', ?, ?, ?, ?, ?, ?, ?)`,
			spec.ID, spec.Sender, spec.Format, spec.Size, spec.SHA256[:], spec.ChunkSize, wrapped, now, now); err != nil {
			return err
		}
		for _, r := range up.To {
			if _, err := tx.Exec("INSERT INTO deliveries (message_id, recipient_id) VALUES (?, ?)", spec.ID, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: start upload %s: %w", spec.ID, err)
	}
	if up.Evicted != "" {
		s.hot.evict(up.Evicted)
	}
	return up, nil
}

func recipientsTx(tx *Tx, id string) ([]string, error) {
	rows, err := tx.Query("SELECT recipient_id FROM deliveries WHERE message_id = ? ORDER BY recipient_id", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func sameSet(a, b []string) bool { return slices.Equal(dedupe(a), dedupe(b)) }

// ChunkResult is what PutChunk reports once its chunk is durable (or not).
type ChunkResult struct {
	Err        error
	Committed  bool     // the chunk completed the message, which is now committed
	Recipients []string // when Committed
	// Waiting is, when Committed, the message as its recipients are told
	// of it: read in the commit, so that telling them asks no reader.
	Waiting Waiting
	// More says a later chunk of the same upload was made durable in the
	// same commit: its result follows at once.
	More bool
}

// PutChunk seals chunk seq of an upload and queues it for the next group
// commit; done is called on the writer goroutine once the chunk is durable
// or has failed, and must not block. If commit is true, the same
// transaction marks the message committed, so a message is never
// committed without all of its chunks. The caller verifies the message
// (hash, format) before asking to commit.
//
// Chunks must arrive in order: the write succeeds only if seq is the
// upload's next chunk in the database, whatever was queued before it.
func (s *Store) PutChunk(u *Upload, seq int, data []byte, commit bool, duration time.Duration, done func(ChunkResult)) {
	sealed := seal(u.aead, data, chunkAD(u.ID, seq))
	id, sender, chunks := u.ID, u.Sender, u.Chunks()
	if seq == 0 && u.sealed == nil {
		u.sealed = make([][]byte, chunks)
	}
	if u.sealed != nil {
		u.sealed[seq] = sealed
	}
	var hot *hotMessage
	if commit {
		hot = s.hotCandidate(u)
	}
	var res ChunkResult
	op := &writeOp{size: len(sealed), group: u}
	op.done = func(err error) {
		res.More = op.more
		if err != nil {
			res = ChunkResult{Err: fmt.Errorf("store: chunk %d of %s: %w", seq, id, err)}
		}
		if res.Committed && hot != nil {
			for _, r := range res.Recipients {
				hot.recipients[r] = true
			}
			s.hot.put(hot)
		}
		done(res)
	}
	op.tx = func(tx *Tx) error {
		now := s.now()
		r, err := tx.Exec("UPDATE messages SET next_seq = next_seq + 1, updated_at = ? WHERE id = ? AND sender_id = ? AND next_seq = ? AND state = 'uploading'",
			now, id, sender, seq)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrOutOfOrder
		}
		if _, err := tx.Exec("INSERT INTO chunks (message_id, seq, data) VALUES (?, ?, ?)", id, seq, sealed); err != nil {
			return err
		}
		if !commit {
			return nil
		}
		r, err = tx.Exec("UPDATE messages SET state = 'committed', committed_at = ?, duration_ms = ? WHERE id = ? AND next_seq = ?",
			now, duration.Milliseconds(), id, chunks)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: commit before the last chunk", ErrOutOfOrder)
		}
		res.Committed = true
		if res.Recipients, err = recipientsTx(tx, id); err != nil {
			return err
		}
		res.Waiting, err = s.committedAs(tx, u, now)
		return err
	}
	if err := s.w.submit(op); err != nil {
		done(ChunkResult{Err: err})
	}
}

// Buffered is how many bytes of sealed chunks the handle holds for the
// hot cache.
func (u *Upload) Buffered() int {
	n := 0
	for _, c := range u.sealed {
		n += len(c)
	}
	return n
}

// DropBuffered releases the chunks held for the hot cache, for an upload
// that may never finish: the message, if it is committed later, is then
// read from the database.
func (u *Upload) DropBuffered() { u.sealed = nil }

// hotCandidate prepares a message for the hot cache if this handle sealed
// every one of its chunks (after a restart, the early ones are only on
// disk).
func (s *Store) hotCandidate(u *Upload) *hotMessage {
	if len(u.sealed) != u.Chunks() {
		return nil
	}
	m := &hotMessage{id: u.ID, aead: u.aead, size: u.Size, chunkSize: u.ChunkSize, chunks: u.sealed, recipients: map[string]bool{}}
	for _, c := range u.sealed {
		if c == nil {
			return nil
		}
		m.bytes += len(c)
	}
	u.sealed = nil
	return m
}

// ReadUpload calls fn with each stored chunk of an upload in order, for
// instance to rebuild the running hash after a restart.
func (s *Store) ReadUpload(ctx context.Context, u *Upload, fn func(seq int, data []byte) error) error {
	rows, err := s.db.QueryContext(ctx, "SELECT seq, data FROM chunks WHERE message_id = ? AND seq < ? ORDER BY seq", u.ID, u.Next)
	if err != nil {
		return fmt.Errorf("store: read upload %s: %w", u.ID, err)
	}
	defer rows.Close()
	want := 0
	for rows.Next() {
		var (
			seq    int
			sealed []byte
		)
		if err := rows.Scan(&seq, &sealed); err != nil {
			return err
		}
		if seq != want {
			return fmt.Errorf("store: read upload %s: chunk %d missing", u.ID, want)
		}
		want++
		data, err := open(u.aead, sealed, chunkAD(u.ID, seq))
		if err != nil {
			return fmt.Errorf("store: read upload %s chunk %d: %w", u.ID, seq, err)
		}
		if err := fn(seq, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if want != u.Next {
		return fmt.Errorf("store: read upload %s: %d of %d chunks", u.ID, want, u.Next)
	}
	return nil
}

// DiscardUpload deletes an upload that is not committed, with its chunks.
func (s *Store) DiscardUpload(ctx context.Context, sender, id string) error {
	s.hot.evict(id)
	err := s.w.do(ctx, func(tx *Tx) error {
		_, err := tx.Exec("DELETE FROM messages WHERE id = ? AND sender_id = ? AND state = 'uploading'", id, sender)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("store: discard upload %s: %w", id, err)
	}
	return nil
}

// DiscardStaleUploads deletes uploads untouched since before, and returns
// how many it deleted. Senders that come back later start again.
func (s *Store) DiscardStaleUploads(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.w.do(ctx, func(tx *Tx) error {
		r, err := tx.Exec("DELETE FROM messages WHERE state = 'uploading' AND updated_at < ?", before.Unix())
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("store: discard stale uploads: %w", err)
	}
	return n, nil
}

// Waiting is a committed message that a recipient has not yet played.
type Waiting struct {
	MessageID  string
	Sender     string
	SenderName string
	Format     string
	Size       int64
	SHA256     [32]byte
	ChunkSize  int
	SentAt     time.Time
}

const waitingQuery = `
	SELECT m.id, m.sender_id, m.format, m.size, m.sha256, m.chunk_size, m.committed_at, s.name, s.dek
	FROM deliveries d
	JOIN messages m ON m.id = d.message_id
	JOIN devices s ON s.id = m.sender_id
	WHERE d.recipient_id = ? AND d.played_at IS NULL AND m.state = 'committed'`

// WaitingFor lists the messages waiting for a recipient, oldest first.
func (s *Store) WaitingFor(ctx context.Context, recipient string) ([]Waiting, error) {
	return s.waiting(ctx, waitingQuery+" ORDER BY m.committed_at, m.id", recipient)
}

// committedAs is the message of upload u, committed at now in tx, as
// waitingQuery would read it for each of its recipients.
func (s *Store) committedAs(tx *Tx, u *Upload, now int64) (Waiting, error) {
	var name, dek []byte
	if err := tx.QueryRow("SELECT name, dek FROM devices WHERE id = ?", u.Sender).Scan(&name, &dek); err != nil {
		return Waiting{}, err
	}
	sender, err := s.senderName(u.Sender, name, dek)
	return Waiting{MessageID: u.ID, Sender: u.Sender, SenderName: sender, Format: u.Format, Size: u.Size,
		SHA256: u.SHA256, ChunkSize: u.ChunkSize, SentAt: time.Unix(now, 0)}, err
}

// senderName opens the sealed name of device id.
func (s *Store) senderName(id string, name, dek []byte) (string, error) {
	aead, err := s.keys.dataKey("devices", id, dek)
	if err != nil {
		return "", err
	}
	plain, err := open(aead, name, ad("devices", id, "name"))
	if err != nil {
		return "", fmt.Errorf("store: name of device %s: %w", id, err)
	}
	return string(plain), nil
}

func (s *Store) waiting(ctx context.Context, query string, args ...any) ([]Waiting, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: waiting messages: %w", err)
	}
	defer rows.Close()
	var out []Waiting
	for rows.Next() {
		var (
			w              Waiting
			sum, name, dek []byte
			sent           int64
		)
		if err := rows.Scan(&w.MessageID, &w.Sender, &w.Format, &w.Size, &sum, &w.ChunkSize, &sent, &name, &dek); err != nil {
			return nil, err
		}
		copy(w.SHA256[:], sum)
		w.SentAt = time.Unix(sent, 0)
		if w.SenderName, err = s.senderName(w.Sender, name, dek); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// Piece is part of a message read for its recipient.
type Piece struct {
	Seq    int
	Offset int64 // of Data within the message
	Data   []byte
	Size   int64 // of the whole message
}

// Last reports whether the piece ends the message.
func (p Piece) Last() bool { return p.Offset+int64(len(p.Data)) == p.Size }

// ReadFor returns the bytes of a committed message from offset to the end
// of the stored chunk that holds it, but only to a recipient of the
// message: authorization is decided here, on every read.
func (s *Store) ReadFor(ctx context.Context, recipient, id string, offset int64) (Piece, error) {
	p, _, err := s.AppendFor(ctx, nil, recipient, id, offset)
	return p, err
}

// AppendFor is ReadFor for a caller that reuses its buffers: it opens the
// bytes into dst's spare capacity when there is enough, and returns dst
// extended by them; p.Data is that extension.
func (s *Store) AppendFor(ctx context.Context, dst []byte, recipient, id string, offset int64) (Piece, []byte, error) {
	if m := s.hot.get(id); m != nil {
		return m.read(dst, recipient, offset)
	}
	var (
		dek, sealed []byte
		p           Piece
		chunkSize   int64
	)
	err := s.db.QueryRowContext(ctx, `
		SELECT m.dek, m.size, m.chunk_size, c.seq, c.data
		FROM deliveries d
		JOIN messages m ON m.id = d.message_id
		JOIN chunks c ON c.message_id = m.id AND c.seq = ?2 / m.chunk_size
		WHERE d.message_id = ?1 AND d.recipient_id = ?3 AND m.state = 'committed' AND ?2 >= 0 AND ?2 < m.size`,
		id, offset, recipient).Scan(&dek, &p.Size, &chunkSize, &p.Seq, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		// Past the end of a message this recipient may read, or no
		// such message for it: told apart only for its recipient.
		var size int64
		if s.db.QueryRowContext(ctx, `SELECT m.size FROM deliveries d JOIN messages m ON m.id = d.message_id
			WHERE d.message_id = ? AND d.recipient_id = ? AND m.state = 'committed'`, id, recipient).Scan(&size) == nil && offset >= size {
			return Piece{}, dst, fmt.Errorf("store: read %s at %d: %w (%d bytes)", id, offset, ErrPastEnd, size)
		}
		return Piece{}, dst, fmt.Errorf("store: read %s at %d for %s: %w", id, offset, recipient, ErrNotFound)
	}
	if err != nil {
		return Piece{}, dst, fmt.Errorf("store: read %s: %w", id, err)
	}
	aead, err := s.keys.dataKey("messages", id, dek)
	if err != nil {
		return Piece{}, dst, err
	}
	return appendPiece(dst, aead, sealed, id, p.Seq, chunkSize, offset, p.Size)
}

func (m *hotMessage) read(dst []byte, recipient string, offset int64) (Piece, []byte, error) {
	if _, ok := m.recipients[recipient]; !ok || offset < 0 {
		return Piece{}, dst, fmt.Errorf("store: read %s at %d for %s: %w", m.id, offset, recipient, ErrNotFound)
	}
	if offset >= m.size {
		return Piece{}, dst, fmt.Errorf("store: read %s at %d: %w (%d bytes)", m.id, offset, ErrPastEnd, m.size)
	}
	seq := int(offset / int64(m.chunkSize))
	return appendPiece(dst, m.aead, m.chunks[seq], m.id, seq, int64(m.chunkSize), offset, m.size)
}

// appendPiece opens chunk seq of a message onto dst and keeps its bytes
// from offset on.
func appendPiece(dst []byte, aead cipher.AEAD, sealed []byte, id string, seq int, chunkSize, offset, size int64) (Piece, []byte, error) {
	out, err := openAppend(dst, aead, sealed, chunkAD(id, seq))
	if err != nil {
		return Piece{}, dst, fmt.Errorf("store: read %s chunk %d: %w", id, seq, err)
	}
	if skip := int(offset - int64(seq)*chunkSize); skip > 0 {
		n := copy(out[len(dst):], out[len(dst)+skip:])
		out = out[:len(dst)+n]
	}
	return Piece{Seq: seq, Offset: offset, Data: out[len(dst):], Size: size}, out, nil
}

// Status is a change in a delivery that its sender should hear of.
type Status struct {
	MessageID string
	Sender    string
	Recipient string
	State     string // StateDelivered or StatePlayed
	At        time.Time
}

func (st Status) level() int {
	if st.State == StatePlayed {
		return 2
	}
	return 1
}

// MarkDelivered records that a recipient has fetched the whole message. It
// does not wait; done (on the writer goroutine, must not block) receives
// the status change, or ok=false if there was none.
func (s *Store) MarkDelivered(recipient, id string, done func(st Status, ok bool, err error)) {
	var (
		st Status
		ok bool
	)
	// Lazy: lost in a power cut, it is recorded again when the recipient
	// fetches the message again or says it played it.
	op := &writeOp{lazy: true, done: func(err error) { done(st, ok && err == nil, err) }}
	op.tx = func(tx *Tx) error {
		now := s.now()
		r, err := tx.Exec("UPDATE deliveries SET delivered_at = ? WHERE message_id = ? AND recipient_id = ? AND delivered_at IS NULL", now, id, recipient)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil
		}
		if err := tx.QueryRow("SELECT sender_id FROM messages WHERE id = ?", id).Scan(&st.Sender); err != nil {
			return err
		}
		st.MessageID, st.Recipient, st.State, st.At, ok = id, recipient, StateDelivered, time.Unix(now, 0), true
		return nil
	}
	if err := s.w.submit(op); err != nil {
		done(Status{}, false, err)
	}
}

// MarkPlayed records that a recipient played a message, and returns the
// status for its sender. Confirming twice is not an error (changed is then
// false); confirming a message that was never for this recipient is
// ErrNotFound.
func (s *Store) MarkPlayed(ctx context.Context, recipient, id string) (st Status, changed bool, err error) {
	now := s.now()
	err = s.w.do(ctx, func(tx *Tx) error {
		var played sql.NullInt64
		err := tx.QueryRow(`SELECT d.played_at, m.sender_id FROM deliveries d JOIN messages m ON m.id = d.message_id
			WHERE d.message_id = ? AND d.recipient_id = ? AND m.state = 'committed'`, id, recipient).Scan(&played, &st.Sender)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		st.MessageID, st.Recipient, st.State = id, recipient, StatePlayed
		if played.Valid {
			st.At = time.Unix(played.Int64, 0)
			return nil
		}
		if _, err := tx.Exec("UPDATE deliveries SET played_at = ?, delivered_at = coalesce(delivered_at, ?) WHERE message_id = ? AND recipient_id = ?",
			now, now, id, recipient); err != nil {
			return err
		}
		st.At, changed = time.Unix(now, 0), true
		return nil
	}, nil)
	if err != nil {
		return Status{}, false, fmt.Errorf("store: mark played %s: %w", id, err)
	}
	s.hot.played(id, recipient)
	return st, changed, nil
}

// StatusKeep is how long a status waits for its sender to hear it. A
// device that never says it heard one (up/heard) is sent it at each sync
// until then, and no longer after.
const StatusKeep = 30 * 24 * time.Hour

// untoldQuery looks only among the deliveries with news for their sender
// (the partial index deliveries_untold, whose condition it repeats), which
// senders' acknowledgements keep few, rather than among all of the
// sender's messages, which grow for as long as they are kept. The CROSS
// JOIN keeps deliveries the outer loop.
const untoldQuery = `
	SELECT d.message_id, d.recipient_id, d.delivered_at, d.played_at
	FROM deliveries d INDEXED BY deliveries_untold CROSS JOIN messages m ON m.id = d.message_id
	WHERE ((d.played_at IS NOT NULL AND d.told < 2) OR (d.delivered_at IS NOT NULL AND d.told < 1))
	  AND coalesce(d.played_at, d.delivered_at) >= ?
	  AND m.sender_id = ? AND m.state = 'committed'
	ORDER BY coalesce(d.played_at, d.delivered_at), d.message_id`

// Untold lists the newest state of each delivery of sender's messages that
// the sender has not yet said it heard, up to StatusKeep old.
func (s *Store) Untold(ctx context.Context, sender string) ([]Status, error) {
	cutoff := s.opt.Now().Add(-StatusKeep).Unix()
	rows, err := s.db.QueryContext(ctx, untoldQuery, cutoff, sender)
	if err != nil {
		return nil, fmt.Errorf("store: untold statuses: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		st := Status{Sender: sender}
		var delivered, played sql.NullInt64
		if err := rows.Scan(&st.MessageID, &st.Recipient, &delivered, &played); err != nil {
			return nil, err
		}
		if played.Valid {
			st.State, st.At = StatePlayed, time.Unix(played.Int64, 0)
		} else {
			st.State, st.At = StateDelivered, time.Unix(delivered.Int64, 0)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// heardQuery marks a delivery's status heard at level (1 delivered, 2
// played) once it has reached it, if the message is the sender's. The
// message is looked up by its ID: asked as "the ID is among the sender's
// messages", SQLite listed all of them for every Heard, and a sender's
// history made each one slower (82% of a soak's time at 21,000 kept).
func heardQuery(level int) string {
	col := "delivered_at"
	if level == 2 {
		col = "played_at"
	}
	return `UPDATE deliveries SET told = max(told, ?)
		WHERE message_id = ? AND recipient_id = ? AND ` + col + ` IS NOT NULL
		  AND EXISTS (SELECT 1 FROM messages WHERE id = ? AND sender_id = ? AND state = 'committed')`
}

// Heard records that a message's sender heard a status of it, so that it
// is not sent again. Hearing "played" covers "delivered"; hearing a state
// twice, or an older one, changes nothing. A delivery that is not of one
// of sender's messages, or a state it has not reached, is ErrNotFound.
func (s *Store) Heard(ctx context.Context, sender string, st Status) error {
	if st.State != StateDelivered && st.State != StatePlayed {
		return fmt.Errorf("store: heard %q: %w", st.State, ErrNotFound)
	}
	// Lazy: lost in a power cut, the status is sent again and heard again.
	err := s.w.doLazy(ctx, func(tx *Tx) error {
		r, err := tx.Exec(heardQuery(st.level()), st.level(), st.MessageID, st.Recipient, st.MessageID, sender)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: heard %s: %w", st.MessageID, err)
	}
	return nil
}

// CountMessages counts the committed messages.
func (s *Store) CountMessages(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM messages WHERE state = 'committed'").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count messages: %w", err)
	}
	return n, nil
}

// CommittedMessages lists the committed messages' IDs with their senders,
// oldest first.
func (s *Store) CommittedMessages(ctx context.Context) ([][2]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, sender_id FROM messages WHERE state = 'committed' ORDER BY committed_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var m [2]string
		if err := rows.Scan(&m[0], &m[1]); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
