package selfcheck

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Refusals counts refused TLS handshakes and connections per hour, for a
// day, in memory: counting must not cost a database write per junk
// connection. The self-check's own probes (from this machine, while a
// check runs) are not counted. Safe for concurrent use.
type Refusals struct {
	now     func() time.Time
	probing atomic.Bool // a check runs: its refused probes do not count
	mu      sync.Mutex
	hours   [24]struct {
		hour int64
		n    int
	}
}

// NewRefusals counts by the hub's clock.
func NewRefusals(now func() time.Time) *Refusals { return &Refusals{now: now} }

// Refused counts a refused handshake or connection from remote.
func (r *Refusals) Refused(remote string) {
	if r.probing.Load() {
		if ap, err := netip.ParseAddrPort(remote); err == nil && ap.Addr().Unmap().IsLoopback() {
			return
		}
	}
	h := r.now().Unix() / 3600
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &r.hours[h%24]
	if b.hour != h {
		b.hour, b.n = h, 0
	}
	b.n++
}

// Since counts the refusals since t (at most a day ago), by the hour.
func (r *Refusals) Since(t time.Time) int {
	from := t.Unix() / 3600
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.hours {
		if b.hour >= from {
			n += b.n
		}
	}
	return n
}
