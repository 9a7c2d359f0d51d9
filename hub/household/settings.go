package household

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
)

// Settings are what parents decide for a device, in the words a parent
// types and reads: how long its messages are kept ("90d", "forever",
// "played"), its quiet hours ("20:00-07:00", "none") and how many
// messages it may send a day ("0": no limit).
type Settings struct {
	Retention  string
	Quiet      string
	DailyLimit string
	Kept       string // how long messages are kept, in words (store.KeptText)
}

// Change changes some of a device's settings, as a parent typed them; a
// nil field stays as it was.
type Change struct {
	Retention  *string
	Quiet      *string
	DailyLimit *string
}

// MaxDailyLimit is the highest daily limit a parent may set.
const MaxDailyLimit = 10000

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

// ParseQuiet reads quiet hours such as "20:00-07:00", or "none".
func ParseQuiet(s string) (on bool, start, end int, err error) {
	if s == "none" || s == "off" {
		return false, 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	ta, err1 := time.Parse("15:04", strings.TrimSpace(a))
	tb, err2 := time.Parse("15:04", strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || ta.Equal(tb) {
		return false, 0, 0, fmt.Errorf("quiet hours %q: want a start and an end, such as 20:00-07:00, or none", s)
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

// ParseDailyLimit reads a number of messages a day, 0 for none.
func ParseDailyLimit(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > MaxDailyLimit {
		return 0, fmt.Errorf("the daily limit is a number of messages up to %d, 0 for none", MaxDailyLimit)
	}
	return n, nil
}

// apply reads a change into st, naming every bad field.
func (c Change) apply(st *store.Settings) error {
	var errs []string
	var err error
	if c.Retention != nil {
		if st.RetentionDays, err = ParseRetention(*c.Retention); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if c.Quiet != nil {
		if st.Quiet, st.QuietStart, st.QuietEnd, err = ParseQuiet(*c.Quiet); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if c.DailyLimit != nil {
		if st.DailyLimit, err = ParseDailyLimit(*c.DailyLimit); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return refuse("%s", strings.Join(errs, "; "))
	}
	return nil
}

func settingsOf(st store.Settings) Settings {
	return Settings{Retention: FormatRetention(st.RetentionDays), Quiet: FormatQuiet(st), DailyLimit: strconv.Itoa(st.DailyLimit),
		Kept: store.KeptText(st.RetentionDays)}
}

// DeviceSettings are a device's settings.
func (s *Service) DeviceSettings(ctx context.Context, id string) (Settings, error) {
	st, err := s.st.DeviceSettings(ctx, id)
	if err != nil {
		return Settings{}, err
	}
	return settingsOf(st), nil
}

// SetSettings changes some of a device's settings, and returns them all.
func (s *Service) SetSettings(ctx context.Context, by Actor, id string, change Change) (Settings, error) {
	if _, err := s.allow(ctx, by, parent); err != nil {
		return Settings{}, err
	}
	if _, err := s.device(ctx, id); err != nil {
		return Settings{}, err
	}
	st, err := s.st.DeviceSettings(ctx, id)
	if err != nil {
		return Settings{}, err
	}
	if err := change.apply(&st); err != nil {
		return Settings{}, err
	}
	if err := s.st.SetDeviceSettings(ctx, id, st); err != nil {
		return Settings{}, err
	}
	v := settingsOf(st)
	s.audit(by, store.EvSettingsChanged, id, fmt.Sprintf("retention %s, quiet %s, daily limit %s", v.Retention, v.Quiet, v.DailyLimit))
	s.changed(id)
	return v, nil
}
