package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web"
)

// parentLoops enforce retention (at least hourly) and release the
// messages held during quiet hours when they end.
func (h *Hub) parentLoops() {
	defer h.wg.Done()
	ret := time.NewTicker(h.cfg.RetentionEvery)
	defer ret.Stop()
	quiet := time.NewTicker(h.cfg.QuietEvery)
	defer quiet.Stop()
	h.sweepRetention(h.ctx)
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-ret.C:
			h.sweepRetention(h.ctx)
		case <-quiet.C:
			h.router.releaseQuiet(h.ctx)
		}
	}
}

// sweepRetention deletes every message past its toy's retention.
func (h *Hub) sweepRetention(ctx context.Context) {
	ids, err := h.store.ExpiredMessages(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("Retention not enforced", "error", err)
		}
		return
	}
	if len(ids) == 0 {
		return
	}
	if _, err := h.deleteMessages(ctx, ids, web.Actor{}, "retention"); err != nil && ctx.Err() == nil {
		h.log.Error("Retention not enforced", "error", err)
	}
}

// deleteMessages deletes messages for good and records who did it and why.
func (h *Hub) deleteMessages(ctx context.Context, ids []string, by web.Actor, why string) (int, error) {
	n, err := h.store.DeleteMessages(ctx, ids)
	if err != nil {
		return n, err
	}
	h.log.Info("Messages deleted", "count", n, "why", why)
	h.store.Audit(store.Event{Kind: store.EvMessagesDeleted, User: by.User, Remote: by.Remote,
		Detail: fmt.Sprintf("%s: %d: %s", why, n, strings.Join(ids[:min(len(ids), 20)], ","))})
	h.changes.Publish()
	return n, nil
}

// ParseRetention reads "90d", "forever" or "played".
func ParseRetention(s string) (int, error) {
	switch s {
	case "forever":
		return store.RetainForever, nil
	case "played", "once-played":
		return store.RetainOncePlayed, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 1 && n <= 36500 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("retention %q: want a number of days such as 90d, forever, or played", s)
}

// FormatRetention writes a retention as ParseRetention reads it.
func FormatRetention(days int) string {
	switch days {
	case store.RetainForever:
		return "forever"
	case store.RetainOncePlayed:
		return "played"
	}
	return strconv.Itoa(days) + "d"
}

// ParseQuiet reads quiet hours such as "20:00-07:00", or "" for none.
func ParseQuiet(s string) (on bool, start, end int, err error) {
	if s == "" || s == "none" || s == "off" {
		return false, 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	ta, err1 := time.Parse("15:04", strings.TrimSpace(a))
	tb, err2 := time.Parse("15:04", strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || ta.Equal(tb) {
		return false, 0, 0, fmt.Errorf("quiet hours %q: want a range such as 20:00-07:00, or none", s)
	}
	return true, ta.Hour()*60 + ta.Minute(), tb.Hour()*60 + tb.Minute(), nil
}

// FormatQuiet writes quiet hours as ParseQuiet reads them.
func FormatQuiet(st store.Settings) string {
	if !st.Quiet {
		return "none"
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", st.QuietStart/60, st.QuietStart%60, st.QuietEnd/60, st.QuietEnd%60)
}

// SettingsArgs change a device's settings; empty fields stay as they are.
type SettingsArgs struct {
	Name       string `json:"name"`
	Retention  string `json:"retention,omitempty"`
	Quiet      string `json:"quiet,omitempty"`
	DailyLimit *int   `json:"daily_limit,omitempty"`
}

// SettingsView is a device's settings as the CLI shows them.
type SettingsView struct {
	Name       string `json:"name"`
	Retention  string `json:"retention"`
	Quiet      string `json:"quiet"`
	DailyLimit int    `json:"daily_limit"`
}

func (h *Hub) setSettings(ctx context.Context, a SettingsArgs, by web.Actor) (SettingsView, error) {
	d, err := h.byName(ctx, a.Name)
	if err != nil {
		return SettingsView{}, err
	}
	st, err := h.store.DeviceSettings(ctx, d.ID)
	if err != nil {
		return SettingsView{}, err
	}
	if a.Retention != "" {
		if st.RetentionDays, err = ParseRetention(a.Retention); err != nil {
			return SettingsView{}, err
		}
	}
	if a.Quiet != "" {
		if st.Quiet, st.QuietStart, st.QuietEnd, err = ParseQuiet(a.Quiet); err != nil {
			return SettingsView{}, err
		}
	}
	if a.DailyLimit != nil {
		if *a.DailyLimit < 0 {
			return SettingsView{}, errors.New("daily limit: want 0 (none) or more")
		}
		st.DailyLimit = *a.DailyLimit
	}
	if err := h.store.SetDeviceSettings(ctx, d.ID, st); err != nil {
		return SettingsView{}, err
	}
	v := SettingsView{Name: d.Name, Retention: FormatRetention(st.RetentionDays), Quiet: FormatQuiet(st), DailyLimit: st.DailyLimit}
	h.store.Audit(store.Event{Kind: store.EvSettingsChanged, User: by.User, Device: d.ID, Remote: by.Remote,
		Detail: fmt.Sprintf("retention %s, quiet %s, daily limit %d", v.Retention, v.Quiet, v.DailyLimit)})
	h.configChanged()
	return v, nil
}

// MessageView is a message as 'toyhub messages' lists it.
type MessageView struct {
	ID       string    `json:"id"`
	From     string    `json:"from"`
	To       []string  `json:"to"`
	SentAt   time.Time `json:"sent_at"`
	Seconds  int       `json:"seconds"`
	Played   bool      `json:"played"`    // by every recipient
	DeleteAt time.Time `json:"delete_at"` // zero: kept forever, or until played
}

func (h *Hub) listMessages(ctx context.Context, toyName string) ([]MessageView, error) {
	toy, err := h.byName(ctx, toyName)
	if err != nil {
		return nil, err
	}
	ms, err := h.store.Conversation(ctx, toy.ID, store.Viewer{All: true}, 1000)
	if err != nil {
		return nil, err
	}
	st, err := h.store.DeviceSettings(ctx, toy.ID)
	if err != nil {
		return nil, err
	}
	out := make([]MessageView, 0, len(ms))
	for _, m := range ms {
		v := MessageView{ID: m.ID, From: m.SenderName, SentAt: m.SentAt, Seconds: int(m.Duration.Round(time.Second) / time.Second), Played: true}
		for _, d := range m.Deliveries {
			v.To = append(v.To, d.RecipientName)
			v.Played = v.Played && !d.PlayedAt.IsZero()
		}
		if st.RetentionDays > 0 {
			v.DeleteAt = m.SentAt.Add(time.Duration(st.RetentionDays) * 24 * time.Hour)
		}
		out = append(out, v)
	}
	return out, nil
}

// removeDevice revokes a device for good, keeping or deleting its
// messages; an account's device takes its account with it.
func (h *Hub) removeDevice(ctx context.Context, id string, keepMessages bool, by web.Actor) error {
	d, err := h.store.Device(ctx, id)
	if err != nil {
		return err
	}
	if d.Account != "" {
		if err := h.store.DeleteUser(ctx, d.Account); err != nil {
			return err
		}
	}
	if err := h.store.RemoveDevice(ctx, id, keepMessages); err != nil {
		return err
	}
	h.disconnect(id)
	h.log.Info("Device removed", "device", id, "kept_messages", keepMessages)
	h.store.Audit(store.Event{Kind: store.EvDeviceRemoved, User: by.User, Device: id, Remote: by.Remote,
		Detail: "messages " + map[bool]string{true: "kept", false: "deleted"}[keepMessages]})
	h.changes.Publish(id)
	h.configChanged()
	return nil
}

// PendingView is a link that waits for a parent's approval.
type PendingView struct {
	Person string `json:"person"`
	Toy    string `json:"toy"`
}

func (h *Hub) pendingLinks(ctx context.Context) ([]PendingView, error) {
	ls, err := h.store.PendingLinks(ctx)
	if err != nil {
		return nil, err
	}
	var out []PendingView
	for _, l := range ls {
		a, errA := h.store.Device(ctx, l.A)
		b, errB := h.store.Device(ctx, l.B)
		if errA != nil || errB != nil {
			continue
		}
		if a.Kind == store.KindToy {
			a, b = b, a
		}
		out = append(out, PendingView{Person: a.Name, Toy: b.Name})
	}
	return out, nil
}
