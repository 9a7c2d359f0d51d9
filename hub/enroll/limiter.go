package enroll

import (
	"sync"
	"time"
)

// limiter counts failed attempts per source address and in all over a
// sliding window. Success does not count, so a family pairing its toys is
// never slowed, while guessing is: a few tries per address, and a bound
// for the whole LAN.
type limiter struct {
	mu        sync.Mutex
	perSource int
	global    int
	window    time.Duration
	bySource  map[string][]time.Time
	all       []time.Time
}

func newLimiter(perSource, global int, window time.Duration) *limiter {
	return &limiter{perSource: perSource, global: global, window: window, bySource: map[string][]time.Time{}}
}

func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

func (l *limiter) allowed(source string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	since := now.Add(-l.window)
	l.all = recent(l.all, since)
	l.bySource[source] = recent(l.bySource[source], since)
	if len(l.bySource[source]) == 0 {
		delete(l.bySource, source)
	}
	return len(l.all) < l.global && len(l.bySource[source]) < l.perSource
}

func (l *limiter) failed(source string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, now)
	if len(l.bySource) > 10000 {
		// A flood of sources: the global bound alone applies.
		return
	}
	l.bySource[source] = append(l.bySource[source], now)
}
