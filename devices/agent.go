package devices

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// Agent is the long-running toy: it keeps a connection to the hub, plays
// and confirms what arrives, and sends the WAV files dropped into its
// outbox. A toy's firmware does the same with a microphone and a speaker.
type Agent struct {
	Bundle  *certs.Bundle
	Options Options
	Outbox  string   // WAV files to send; sent ones move to Outbox/sent
	Inbox   string   // received messages
	Play    []string // command to play a file; its path is appended
	To      []string // recipients of outbox messages; none means every contact
	Poll    time.Duration
	Resync  time.Duration
	// RenewCheck is how often to check whether the certificate is due
	// for renewal (after two thirds of its life). Default 1h.
	RenewCheck time.Duration
	// Hold is how long the outbox waits after the hub said it cannot take
	// a message now (its storage is full, or a limit): the message is
	// kept, not given up. Default 1 minute.
	Hold time.Duration

	mu        sync.Mutex // guards Bundle once Run has started
	holdUntil time.Time  // the send loop's only
}

func (a *Agent) bundle() *certs.Bundle {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Bundle
}

// Run serves until ctx ends, reconnecting with backoff. It returns early
// only if the hub refuses the device.
func (a *Agent) Run(ctx context.Context) error {
	a.Options.defaults()
	log := a.Options.Logger
	if a.Hold <= 0 {
		a.Hold = time.Minute
	}
	if a.Poll <= 0 {
		a.Poll = 2 * time.Second
	}
	if a.RenewCheck <= 0 {
		a.RenewCheck = time.Hour
	}
	for _, d := range []string{a.Inbox, a.Outbox, filepath.Join(a.Outbox, "sent"), filepath.Join(a.Outbox, "rejected")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("devices: %w", err)
		}
	}
	bo := backoff{max: time.Minute}
	for ctx.Err() == nil {
		c, err := Dial(ctx, a.bundle(), a.Options)
		if err != nil {
			if errors.Is(err, ErrRefused) {
				return err
			}
			log.Warn("Hub not reachable", "error", err)
			if bo.sleep(ctx) != nil {
				break
			}
			continue
		}
		bo = backoff{max: time.Minute}
		log.Info("Connected to the hub", "device", c.ID())
		err = a.serve(ctx, c)
		c.Close()
		if errors.Is(err, ErrRefused) {
			return err
		}
		if ctx.Err() == nil {
			log.Warn("Disconnected from the hub", "error", err)
			if bo.sleep(ctx) != nil {
				break
			}
		}
	}
	return nil
}

func (a *Agent) serve(ctx context.Context, c *Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() {
		errs <- c.Receive(ctx, Inbox{Dir: a.Inbox, Resync: a.Resync, Play: a.play})
	}()
	go func() {
		errs <- a.sendLoop(ctx, c)
	}()
	go a.renewLoop(ctx, c)
	for {
		select {
		case err := <-errs:
			return err
		case st := <-c.Statuses():
			a.Options.Logger.Info("Message "+st.State, "message", st.ID.String(), "by", st.To)
		}
	}
}

// renewLoop renews the certificate over the connection once it is due,
// checking at once, then when it falls due or every RenewCheck, whichever
// comes first.
func (a *Agent) renewLoop(ctx context.Context, c *Client) {
	for {
		due := RenewalDue(a.bundle())
		if !time.Now().Before(due) {
			nb, err := c.Renew(ctx)
			if err != nil {
				a.Options.Logger.Warn("Certificate not renewed", "error", err)
			} else {
				a.mu.Lock()
				a.Bundle = nb
				a.mu.Unlock()
				a.Options.Logger.Info("Certificate renewed", "not_after", nb.Cert.Leaf.NotAfter.Format(time.RFC3339))
				due = RenewalDue(nb)
			}
		}
		wake := min(a.RenewCheck, max(time.Until(due), time.Second))
		select {
		case <-time.After(wake):
		case <-ctx.Done():
			return
		}
	}
}

func (a *Agent) play(r Received) error {
	if len(a.Play) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.Play[0], append(slices.Clone(a.Play[1:]), r.Path)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", a.Play[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (a *Agent) sendLoop(ctx context.Context, c *Client) error {
	t := time.NewTicker(a.Poll)
	defer t.Stop()
	for {
		if err := a.sendOutbox(ctx, c); err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Lost():
			return ErrConnectionLost
		}
	}
}

// sendOutbox sends each settled WAV file in the outbox. The message ID is
// chosen once and kept beside the file, so a crash between the hub's
// commit and moving the file re-sends under the same ID and the hub
// recognises it instead of storing it twice.
func (a *Agent) sendOutbox(ctx context.Context, c *Client) error {
	if time.Now().Before(a.holdUntil) {
		return nil
	}
	paths, err := filepath.Glob(filepath.Join(a.Outbox, "*.wav"))
	if err != nil {
		return err
	}
	slices.Sort(paths)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || time.Since(st.ModTime()) < time.Second {
			continue // still being written
		}
		id, fresh, err := outboxID(p)
		if err != nil {
			return err
		}
		wav, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		base := filepath.Base(p)
		if _, err := wire.ParseWAV(wav, int64(len(wav))); err != nil {
			a.Options.Logger.Warn("Outbox file is not a WAV the hub accepts", "file", base, "error", err)
			a.moveOut(p, "rejected")
			continue
		}
		// A message never tried before sends its first chunks behind
		// its header; one tried before (its ID kept beside it) resumes.
		send := c.Send
		if fresh {
			send = c.SendNew
		}
		err = send(ctx, id, wav, a.To)
		var we *wire.Error
		switch {
		case err == nil:
			a.Options.Logger.Info("Message sent", "message", id.String(), "file", base)
			a.moveOut(p, "sent")
		case errors.As(err, &we) && we.Code == wire.CodeIDInUse:
			// Another message has this ID: choose a new one and send again.
			a.Options.Logger.Warn("Message ID in use: sending under a new one", "message", id.String(), "file", base)
			if err := os.Remove(p + ".id"); err != nil {
				return err
			}
			return nil
		case errors.As(err, &we) && (we.Code == wire.CodeFull || we.Code == wire.CodeLimit):
			a.Options.Logger.Warn("Message kept for later: the hub cannot take it now", "message", id.String(), "code", we.Code, "error", we.Message, "retry_in", a.Hold)
			a.holdUntil = time.Now().Add(a.Hold)
			return nil
		case errors.As(err, &we) && !IsRetryable(err):
			a.Options.Logger.Warn("Message refused by the hub", "message", id.String(), "code", we.Code, "error", we.Message)
			a.moveOut(p, "rejected")
		default:
			return err
		}
	}
	return nil
}

// outboxID is the ID kept beside an outbox file, made and kept now
// (fresh) if it has none.
func outboxID(wavPath string) (id wire.MessageID, fresh bool, err error) {
	idPath := wavPath + ".id"
	if b, err := os.ReadFile(idPath); err == nil {
		id, err := wire.ParseMessageID(strings.TrimSpace(string(b)))
		return id, false, err
	}
	id = wire.NewMessageID()
	if err := certs.WriteFileAtomic(idPath, []byte(id.String()+"\n"), 0o600); err != nil {
		return id, false, err
	}
	return id, true, nil
}

func (a *Agent) moveOut(p, sub string) {
	dst := filepath.Join(a.Outbox, sub, filepath.Base(p))
	if err := os.Rename(p, dst); err != nil {
		a.Options.Logger.Error("Outbox file not moved", "file", filepath.Base(p), "error", err)
		return
	}
	_ = os.Remove(p + ".id")
}
