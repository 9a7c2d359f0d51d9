package household

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
)

// Send sends a recording made in the web app from the actor's device to a
// toy, through the same message path as a toy's. A parent may talk to any
// toy: the link is made, as a parent could.
func (s *Service) Send(ctx context.Context, by Actor, toy string, wav []byte) (string, error) {
	u, err := s.allow(ctx, by, member)
	if err != nil {
		return "", err
	}
	if u.DeviceID == "" {
		return "", refuse("this account has no device to send from")
	}
	if u.Role == store.RoleOwner || u.Role == store.RoleParent {
		if err := s.st.Link(ctx, toy, u.DeviceID); err != nil {
			return "", err
		}
	}
	return s.d.Messages.Send(ctx, u.DeviceID, []string{toy}, wav)
}

// Fetched records that a device has received a whole message (the web
// app streamed its audio), and tells its sender.
func (s *Service) Fetched(device, id string) { s.d.Messages.Delivered(device, id) }

// Played records that a device has played a message, and tells its
// sender; a message that is not the device's is store.ErrNotFound.
func (s *Service) Played(ctx context.Context, device, id string) error {
	return s.d.Messages.Played(ctx, device, id)
}

// Message is a message as a parent lists it.
type Message struct {
	ID       string
	From     string
	To       []string
	SentAt   time.Time
	Seconds  int
	Played   bool      // by every recipient
	DeleteAt time.Time // zero: kept forever, or until played
	Deletion string    // when retention deletes it, in words (store.DeletionText)
}

// Messages lists a toy's messages, sent and received, newest first.
func (s *Service) Messages(ctx context.Context, toy string) ([]Message, error) {
	ms, err := s.st.Conversation(ctx, toy, store.Viewer{All: true}, 1000)
	if err != nil {
		return nil, err
	}
	st, err := s.st.DeviceSettings(ctx, toy)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		v := Message{ID: m.ID, From: m.SenderName, SentAt: m.SentAt, Seconds: int(m.Duration.Round(time.Second) / time.Second), Played: true}
		for _, d := range m.Deliveries {
			v.To = append(v.To, d.RecipientName)
			v.Played = v.Played && !d.PlayedAt.IsZero()
		}
		if st.RetentionDays > 0 {
			v.DeleteAt = m.SentAt.Add(time.Duration(st.RetentionDays) * 24 * time.Hour)
		}
		v.Deletion = store.DeletionText(st.RetentionDays, m, toy, time.DateTime)
		out = append(out, v)
	}
	return out, nil
}

// DeleteMessages deletes messages for good, and says how many there were.
func (s *Service) DeleteMessages(ctx context.Context, by Actor, ids []string) (int, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return 0, err
	}
	why := "deleted in the web app"
	if by.console() {
		why = "deleted from the console"
	}
	return s.deleteMessages(ctx, by, ids, why)
}

func (s *Service) deleteMessages(ctx context.Context, by Actor, ids []string, why string) (int, error) {
	n, err := s.st.DeleteMessages(ctx, ids)
	if err != nil || n == 0 {
		return n, err // nothing deleted: nothing for the log to say
	}
	s.log.Info("Messages deleted", "count", n, "why", why)
	s.audit(by, store.EvMessagesDeleted, "", fmt.Sprintf("%s: %d: %s", why, n, strings.Join(ids[:min(len(ids), 20)], ",")))
	s.d.Live.Publish()
	return n, nil
}

// Run enforces retention, at least hourly, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetentionEvery)
	defer t.Stop()
	for {
		s.sweepRetention(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepRetention deletes every message past its toy's retention.
func (s *Service) sweepRetention(ctx context.Context) {
	ids, err := s.st.ExpiredMessages(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("Retention not enforced", "error", err)
		}
		return
	}
	if len(ids) == 0 {
		return
	}
	if _, err := s.deleteMessages(ctx, Actor{}, ids, "retention"); err != nil && ctx.Err() == nil {
		s.log.Error("Retention not enforced", "error", err)
	}
}
