package devices

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// ErrCorrupt means a fetched message does not match the SHA-256 the hub
// announced: it is neither kept nor confirmed, and is fetched again at the
// next notification.
var ErrCorrupt = errors.New("devices: the message does not match its SHA-256")

// Fetch pulls a notified message from the hub with up to Window requests
// in flight, and verifies it against the SHA-256 the hub announced. The
// bytes are held in memory (at most the hub's message limit); a toy with
// little RAM would write each frame out as it arrives instead.
func (c *Client) Fetch(ctx context.Context, n wire.Notify) ([]byte, error) {
	if n.Size <= 0 || n.Chunk <= 0 || n.Size > 64<<20 {
		return nil, fmt.Errorf("devices: notification for %s has size %d, chunk %d", n.ID, n.Size, n.Chunk)
	}
	frames := make(chan fetched, 2*c.opt.Window+8)
	defer track(c, c.fetches, n.ID, frames)()

	data := make([]byte, n.Size)
	// The pieces to ask for: the sender's stored chunks, each cut into
	// pieces of this device's chunk size if that is smaller, so that no
	// answer is larger than the device asked for.
	type piece struct{ off, n int64 }
	var pieces []piece
	step := min(int64(n.Chunk), int64(c.opt.Chunk))
	for start := int64(0); start < n.Size; start += int64(n.Chunk) {
		end := min(start+int64(n.Chunk), n.Size)
		for off := start; off < end; off += step {
			pieces = append(pieces, piece{off, min(step, end-off)})
		}
	}
	index := make(map[int64]int, len(pieces))
	for i, p := range pieces {
		index[p.off] = i
	}
	limit := 0
	if step < int64(n.Chunk) {
		limit = int(step)
	}
	have := make([]bool, len(pieces))
	missing, next := len(pieces), 0
	inFlight := map[int]bool{}
	// request asks for k pieces from piece i: in one fetch from a hub
	// that takes a count, in k fetches from one that does not.
	batch := c.Limits().Batch
	request := func(i, k int) error {
		for j := i; j < i+k; j++ {
			inFlight[j] = true
		}
		if batch && k > 1 {
			return c.post(wire.UpFetch, wire.Encode(wire.Fetch{ID: n.ID, Offset: pieces[i].off, Max: limit, Count: k}))
		}
		for j := i; j < i+k; j++ {
			if err := c.post(wire.UpFetch, wire.Encode(wire.Fetch{ID: n.ID, Offset: pieces[j].off, Max: limit})); err != nil {
				return err
			}
		}
		return nil
	}
	for missing > 0 {
		// The next run of missing pieces that fits the window.
		for next < len(pieces) && have[next] {
			next++
		}
		if k := 0; next < len(pieces) && len(inFlight) < c.opt.Window {
			for next+k < len(pieces) && !have[next+k] && len(inFlight)+k < c.opt.Window {
				k++
			}
			if err := request(next, k); err != nil {
				return nil, err
			}
			next += k
		}
		select {
		case f := <-frames:
			if f.err != nil {
				return nil, f.err
			}
			off := int64(f.chunk.Offset)
			i, ok := index[off]
			if !ok || have[i] || int64(len(f.chunk.Data)) != pieces[i].n {
				continue
			}
			copy(data[off:], f.chunk.Data)
			have[i] = true
			delete(inFlight, i)
			missing--
		case <-time.After(c.opt.Timeout):
			for i := range inFlight {
				if err := request(i, 1); err != nil {
					return nil, err
				}
			}
		case <-c.lost:
			return nil, ErrConnectionLost
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if sha256.Sum256(data) != n.SHA256 {
		return nil, fmt.Errorf("%w: message %s", ErrCorrupt, n.ID)
	}
	return data, nil
}

// Played confirms that a message was received whole and played.
func (c *Client) Played(ctx context.Context, id wire.MessageID) error {
	acks := make(chan wire.Ack, 4)
	defer track(c, c.played, id, acks)()
	for {
		if err := c.publish(ctx, wire.UpPlayed, wire.Encode(wire.Played{ID: id})); err != nil {
			return err
		}
		select {
		case a := <-acks:
			if a.Status == wire.StatusPlayed {
				return nil
			}
			return hubError(a)
		case <-time.After(c.opt.Timeout):
		case <-c.lost:
			return ErrConnectionLost
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
