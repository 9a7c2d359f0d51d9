package devices

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// backoff is an exponential delay with jitter, so that a houseful of toys
// does not reconnect in lock-step after the Wi-Fi returns.
type backoff struct{ d, max time.Duration }

func (b *backoff) sleep(ctx context.Context) error {
	if b.d == 0 {
		b.d = 500 * time.Millisecond
	}
	d := b.d/2 + rand.N(b.d)
	b.d = min(2*b.d, b.max)
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Deliver sends a recording, reconnecting and resuming until the hub has
// committed it, the hub refuses it, or ctx ends.
func Deliver(ctx context.Context, b *certs.Bundle, opt Options, id wire.MessageID, wav []byte, to []string) error {
	bo := backoff{max: 30 * time.Second}
	for {
		c, err := Dial(ctx, b, opt)
		if err == nil {
			err = c.Send(ctx, id, wav, to)
			c.Close()
			if err == nil {
				return nil
			}
		}
		if !IsRetryable(err) {
			return err
		}
		opt.defaultsLogger().Info("Retrying", "message", id.String(), "error", err)
		if serr := bo.sleep(ctx); serr != nil {
			return fmt.Errorf("%w (last error: %v)", serr, err)
		}
	}
}

func (o Options) defaultsLogger() interface{ Info(string, ...any) } {
	o.defaults()
	return o.Logger
}

// Received is a message written to disk.
type Received struct {
	ID   wire.MessageID
	From string // device ID
	Path string
}

// Inbox says where and how Receive handles messages.
type Inbox struct {
	Dir    string        // each message is written as <Dir>/<message-id>.wav
	Resync time.Duration // how often to ask the hub for anything missed
	// Play, if set, plays a message after it is written; the message is
	// confirmed as played only if Play succeeds.
	Play func(Received) error
	// Done, if set, is called after each confirmation; returning true
	// stops Receive.
	Done func(Received) bool
}

// Receive fetches every message the hub notifies, writes it, plays it and
// confirms it. It syncs at the start and every Resync, so nothing waits
// for a missed notification. It returns nil when Done says so, or an error
// when ctx ends or the connection drops.
func (c *Client) Receive(ctx context.Context, in Inbox) error {
	if in.Resync <= 0 {
		in.Resync = 5 * time.Minute
	}
	if _, err := c.Sync(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(in.Resync)
	defer tick.Stop()
	for {
		select {
		case n := <-c.notify:
			r, err := c.receiveOne(ctx, in, n)
			if err != nil {
				var we *wire.Error
				if errors.As(err, &we) || errors.Is(err, ErrCorrupt) {
					// The hub refused this one (for instance it was
					// deleted), or its bytes came wrong: others may still
					// arrive, and this one comes again at the next sync.
					c.log.Warn("Message not received", "message", n.ID.String(), "error", err)
					continue
				}
				return err
			}
			if r == nil {
				continue
			}
			c.log.Info("Message received", "message", r.ID.String(), "from", r.From)
			if in.Done != nil && in.Done(*r) {
				return nil
			}
		case <-tick.C:
			if _, err := c.Sync(ctx); err != nil {
				return err
			}
		case <-c.lost:
			return ErrConnectionLost
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// receiveOne handles one notification. A message already on disk is only
// confirmed again, so a notification repeated after a crash neither
// duplicates a file nor plays twice.
func (c *Client) receiveOne(ctx context.Context, in Inbox, n wire.Notify) (*Received, error) {
	path := filepath.Join(in.Dir, n.ID.String()+".wav")
	r := Received{ID: n.ID, From: n.From, Path: path}
	if _, err := os.Stat(path); err == nil {
		return nil, c.Played(ctx, n.ID)
	}
	data, err := c.Fetch(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := certs.WriteFileAtomic(path, data, 0o600); err != nil {
		return nil, err
	}
	if in.Play != nil {
		if err := in.Play(r); err != nil {
			c.log.Warn("Message not played", "message", n.ID.String(), "error", err)
			// Not confirmed, and removed so that the next notification
			// fetches and plays it again rather than confirming it unplayed.
			_ = os.Remove(path)
			return nil, nil
		}
	}
	if err := c.Played(ctx, n.ID); err != nil {
		return nil, err
	}
	return &r, nil
}
