package store

import (
	"errors"
	"fmt"
)

// ErrDailyLimit means a sender has sent its messages for the day.
var ErrDailyLimit = errors.New("store: daily message limit reached")

// ErrRateLimit means a sender sends faster, or more, than any toy should.
var ErrRateLimit = errors.New("store: sending too fast")

// checkRate applies the hub's own bounds on one sender: messages a minute
// and bytes a day. It returns the messages the sender began in the last
// 24 hours, for the parents' daily limit.
func (s *Store) checkRate(tx *Tx, sender string, size, now int64) (today int, err error) {
	today, lastMinute, bytes, err := sentSince(tx, sender, now-86400, now-60)
	if err != nil {
		return 0, err
	}
	if lastMinute >= s.opt.MaxMessagesPerMinute {
		return 0, fmt.Errorf("%w: %d messages in the last minute", ErrRateLimit, lastMinute)
	}
	if bytes+size > s.opt.MaxBytesPerDay {
		return 0, fmt.Errorf("%w: %d MB in the last day", ErrRateLimit, bytes>>20)
	}
	return today, nil
}

// sentSinceQuery reads only the day's entries of the covering index
// messages_sender_created, however many messages the sender has kept,
// and reads them once for both windows: a sender's day holds as many
// entries as the limits let it send, thousands in a benchmark.
const sentSinceQuery = "SELECT count(*), coalesce(sum(created_at > ?), 0), coalesce(sum(size), 0) FROM messages WHERE sender_id = ? AND created_at > ?"

// sentSince counts the messages a sender began after day, those of them
// begun after minute, and the bytes of all of them.
func sentSince(tx *Tx, sender string, day, minute int64) (n, recent int, bytes int64, err error) {
	err = tx.QueryRow(sentSinceQuery, minute, sender, day).Scan(&n, &recent, &bytes)
	return n, recent, bytes, err
}
