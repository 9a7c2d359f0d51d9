package devices

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// Send uploads a recording under id to the named recipients (names or
// device IDs; none means every contact) and returns once the hub has
// committed it. Calling it again with the same id after a failure resumes
// the upload; calling it after success returns at once.
//
// Errors from the hub are *wire.Error; ErrConnectionLost means reconnect
// and call Send again.
func (c *Client) Send(ctx context.Context, id wire.MessageID, wav []byte, to []string) error {
	return c.send(ctx, id, wav, to, false)
}

// SendNew is Send for an id never sent before: the first window of chunks
// follows the header without waiting for its answer, which saves a round
// trip. After a failure, resume with Send, never with SendNew: a resumed
// upload continues from the hub's next, not from chunk 0.
func (c *Client) SendNew(ctx context.Context, id wire.MessageID, wav []byte, to []string) error {
	return c.send(ctx, id, wav, to, true)
}

func (c *Client) send(ctx context.Context, id wire.MessageID, wav []byte, to []string, fresh bool) error {
	h := wire.Header{V: wire.Version, ID: id, To: to, Format: wire.FormatWAV, Size: int64(len(wav)),
		SHA256: sha256.Sum256(wav), Chunk: c.opt.Chunk, Batch: c.Limits().Batch}
	acks := make(chan wire.Ack, 4*c.opt.Window+8)
	defer track(c, c.uploads, id, acks)()

	mismatches := 0
	for {
		// Chunks sent ahead of the header's answer: only for a new
		// upload, whose next can only be 0.
		ahead := 0
		if fresh {
			ahead, fresh = min(h.Chunks(), c.opt.Window), false
		}
		next, attempt, done, err := c.sendHeader(ctx, h, wav, ahead, acks)
		if err != nil || done {
			return err
		}
		// The hub refused a chunk for a reason that a resume cures (it
		// lost a write, chunks crossed, or it forgot the upload): send
		// the header again. Answers to this attempt that arrive later
		// carry its number, and are ignored.
		done, err = c.stream(ctx, h, wav, next, max(next, ahead), attempt, acks)
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeHashMismatch && mismatches == 0 {
			// Bytes changed on the way: the hub dropped the upload, and
			// one fresh start from chunk 0 cures that. Twice is a bug.
			mismatches++
			continue
		}
		if err != nil || done {
			return err
		}
	}
}

// postChunk sends chunk seq of the recording without waiting.
func (c *Client) postChunk(h wire.Header, wav []byte, seq int) error {
	start := seq * h.Chunk
	end := min(start+h.Chunk, len(wav))
	frame := wire.AppendChunk(make([]byte, 0, wire.ChunkHeaderLen+end-start), wire.Chunk{ID: h.ID, Seq: uint32(seq), Offset: uint32(start), Data: wav[start:end]})
	return c.post(wire.UpChunk, frame)
}

// sendHeader publishes the header, then the first ahead chunks at once
// (the hub handles a device's requests in order, so they find the upload
// the header starts), and waits for the header's answer.
func (c *Client) sendHeader(ctx context.Context, h wire.Header, wav []byte, ahead int, acks chan wire.Ack) (next int, attempt uint32, done bool, err error) {
	for {
		if ahead > 0 {
			// Not waiting for the PUBACK either: the answer says it all.
			if err := c.postQoS(1, wire.UpHeader, wire.Encode(h)); err != nil {
				return 0, 0, false, err
			}
			for seq := range ahead {
				if err := c.postChunk(h, wav, seq); err != nil {
					return 0, 0, false, err
				}
			}
			ahead = 0 // a header repeated after a timeout waits for its answer
		} else if err := c.publish(ctx, wire.UpHeader, wire.Encode(h)); err != nil {
			return 0, 0, false, err
		}
		timeout := time.After(c.opt.Timeout)
		for {
			select {
			case a := <-acks:
				if a.Op != wire.OpHeader {
					continue // stale chunk acks from before a resume
				}
				switch a.Status {
				case wire.StatusCommitted:
					return 0, 0, true, nil
				case wire.StatusAccepted:
					if a.Next > 0 {
						c.log.Debug("Upload resumed", "message", h.ID.String(), "chunk", a.Next)
					}
					return a.Next, a.Attempt, false, nil
				}
				return 0, 0, false, hubError(a)
			case <-timeout:
			case <-c.lost:
				return 0, 0, false, ErrConnectionLost
			case <-ctx.Done():
				return 0, 0, false, ctx.Err()
			}
			break
		}
	}
}

// stream sends chunks from sent on (those from next were sent already)
// with up to Window unacknowledged. It returns done once the hub says
// committed, or done=false, err=nil when the upload should resume from a
// new header.
func (c *Client) stream(ctx context.Context, h wire.Header, wav []byte, next, sent int, attempt uint32, acks chan wire.Ack) (bool, error) {
	n := h.Chunks()
	acked := next
	for {
		for sent < n && sent-acked < c.opt.Window {
			if err := c.postChunk(h, wav, sent); err != nil {
				return false, err
			}
			sent++
		}
		select {
		case a := <-acks:
			if a.Op != wire.OpChunk || a.Attempt != attempt && a.Status != wire.StatusCommitted && a.Attempt != 0 {
				continue // an answer to an earlier attempt
			}
			switch a.Status {
			case wire.StatusCommitted:
				return true, nil
			case wire.StatusStored:
				acked = max(acked, a.Next)
				continue
			}
			if a.Error != nil && (a.Error.Code == wire.CodeOutOfOrder || a.Error.Code == wire.CodeStorage || a.Error.Code == wire.CodeUnknown) {
				c.log.Debug("Upload resuming", "message", h.ID.String(), "code", a.Error.Code)
				return false, nil
			}
			return false, hubError(a)
		case <-time.After(c.opt.Timeout):
			return false, nil // resume: the hub's Next says where
		case <-c.lost:
			return false, ErrConnectionLost
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

func hubError(a wire.Ack) error {
	if a.Error != nil {
		return a.Error
	}
	return fmt.Errorf("devices: unexpected answer %q to %s", a.Status, a.Op)
}

// IsRetryable reports whether an error from Send, Receive or Sync is worth
// retrying after reconnecting.
func IsRetryable(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code == wire.CodeStorage || we.Code == wire.CodeLimit || we.Code == wire.CodeFull
	}
	return err != nil && !errors.Is(err, ErrRefused) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
