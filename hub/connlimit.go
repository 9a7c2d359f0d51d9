package hub

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// perSource counts what each client address holds (connections opening,
// or open), so that one machine on the LAN cannot take every slot: a
// flood of half-open TLS connections, or a slowloris on the web port,
// from one address is refused beyond max while everyone else carries on.
type perSource struct {
	max  int
	mu   sync.Mutex
	held map[netip.Addr]int
}

func newPerSource(max int) *perSource {
	return &perSource{max: max, held: map[netip.Addr]int{}}
}

func sourceOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// acquire takes one of src's places, or reports that it has none left.
func (p *perSource) acquire(src netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[src] >= p.max {
		return false
	}
	p.held[src]++
	return true
}

func (p *perSource) release(src netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[src]--; p.held[src] <= 0 {
		delete(p.held, src)
	}
}

// limitListener refuses a connection from an address that already holds
// max open ones.
type limitListener struct {
	net.Listener
	src     *perSource
	refused func(remote string)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr())
		if !l.src.acquire(src) {
			c.Close()
			l.refused(c.RemoteAddr().String())
			continue
		}
		return &releasingConn{Conn: c, release: func() { l.src.release(src) }}, nil
	}
}

type releasingConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *releasingConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// logLimiter lets a burst of like log lines through, then counts the rest
// and reports them once a window: a flood must not fill the disk with
// logs (journald rate-limits too, but drops without saying).
type logLimiter struct {
	log        *slog.Logger
	burst      int
	window     time.Duration
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed atomic.Int64
}

func newLogLimiter(log *slog.Logger, burst int, window time.Duration) *logLimiter {
	return &logLimiter{log: log, burst: burst, window: window}
}

// allow reports whether a line may be logged now.
func (l *logLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.window {
		if n := l.suppressed.Swap(0); n > 0 {
			l.log.Warn("Refusals not logged one by one", "count", n, "window", l.window)
		}
		l.start, l.n = now, 0
	}
	if l.n < l.burst {
		l.n++
		return true
	}
	l.suppressed.Add(1)
	return false
}
