package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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

// settingsCache keeps the settings read last of each device: the router
// asks for a device's quiet hours at every fetch, and they change only
// through SetDeviceSettings or a device's removal, which forget them.
type settingsCache struct {
	mu  sync.Mutex
	gen uint64 // counts forgettings, so that a read that raced one is not kept
	m   map[string]Settings
}

func (c *settingsCache) get(id string) (Settings, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[id]
	return st, c.gen, ok
}

func (c *settingsCache) putAll(all map[string]Settings, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = map[string]Settings{}
	}
	for id, st := range all {
		c.m[id] = st
	}
}

func (c *settingsCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
}

// DeviceSettings returns a device's settings. The first that is not
// known reads every device's at once.
func (s *Store) DeviceSettings(ctx context.Context, id string) (Settings, error) {
	st, gen, ok := s.settings.get(id)
	if ok {
		return st, nil
	}
	all, err := s.readSettings(ctx, gen)
	if err != nil {
		return st, fmt.Errorf("store: settings of %s: %w", id, err)
	}
	st, ok = all[id]
	if !ok {
		return st, fmt.Errorf("store: settings of %s: %w", id, ErrNotFound)
	}
	return st, nil
}

// readSettings reads every device's settings and keeps them, unless a
// change was forgotten since gen. Once they are known, an idle hub asks
// SQLite nothing: its minute's look at quiet hours once brought back
// about 5 MB of SQLite's code that the start's pageout had handed back.
func (s *Store) readSettings(ctx context.Context, gen uint64) (map[string]Settings, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, retention_days, quiet_start, quiet_end, daily_limit FROM devices")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	all := map[string]Settings{}
	for rows.Next() {
		var (
			id     string
			st     Settings
			qs, qe sql.NullInt64
		)
		if err := rows.Scan(&id, &st.RetentionDays, &qs, &qe, &st.DailyLimit); err != nil {
			return nil, err
		}
		if qs.Valid && qe.Valid {
			st.Quiet, st.QuietStart, st.QuietEnd = true, int(qs.Int64), int(qe.Int64)
		}
		all[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.settings.putAll(all, gen)
	return all, nil
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
	err := s.w.doThen(ctx, func(tx *Tx) error {
		return tx.execOne("UPDATE devices SET retention_days = ?, quiet_start = ?, quiet_end = ?, daily_limit = ? WHERE id = ?",
			st.RetentionDays, qs, qe, st.DailyLimit, id)
	}, nil, func() { s.settings.forget(id) })
	if err != nil {
		return fmt.Errorf("store: settings of %s: %w", id, err)
	}
	return nil
}

// QuietEnds is when the quiet hours under way at t (local time) end, or
// zero when t is not within them.
func (s Settings) QuietEnds(t time.Time) time.Time {
	if !s.InQuiet(t) {
		return time.Time{}
	}
	t = t.Local()
	end := time.Date(t.Year(), t.Month(), t.Day(), s.QuietEnd/60, s.QuietEnd%60, 0, 0, time.Local)
	if !end.After(t) {
		end = end.AddDate(0, 0, 1)
	}
	return end
}
