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
	// New connections a second per address, max at once: a client that
	// reconnects in a loop (to send garbage after each handshake) costs
	// the hub a bounded share of its CPU.
	rates map[netip.Addr]*bucket
	// Refused connections are held, unread, until the deadline instead of
	// closed at once, up to maxHeld of them: closed at once, a flooding
	// client only reconnects faster, and both sides burn CPU on it.
	pitted  atomic.Int64
	maxHeld int64
}

func newPerSource(max int) *perSource {
	return &perSource{max: max, held: map[netip.Addr]int{}, rates: map[netip.Addr]*bucket{}, maxHeld: 1024}
}

// allowNew reports whether src may open another connection now.
func (p *perSource) allowNew(src netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.rates[src]
	if b == nil {
		if len(p.rates) >= 4096 { // forget addresses whose buckets are full again
			for a, o := range p.rates {
				if o.full(now) {
					delete(p.rates, a)
				}
			}
		}
		b = newBucket(float64(p.max), 1)
		b.last = now
		p.rates[src] = b
	}
	return b.take(now)
}

// refuse holds a refused connection until d has passed, or closes it now
// when too many are held already.
func (p *perSource) refuse(c net.Conn, d time.Duration) {
	if p.pitted.Add(1) > p.maxHeld {
		p.pitted.Add(-1)
		c.Close()
		return
	}
	time.AfterFunc(d, func() {
		c.Close()
		p.pitted.Add(-1)
	})
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
			l.src.refuse(c, 10*time.Second)
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

// bucket is a token bucket for one connection, used by its reading
// goroutine alone: a device that sends too much is slowed down (TCP then
// pushes back on it) while the hub goes on serving everyone else.
type bucket struct {
	rate, burst float64 // per second; 0 rate: unlimited
	tokens      float64
	last        time.Time
}

func newBucket(rate float64, burstSeconds float64) *bucket {
	return &bucket{rate: rate, burst: rate * burstSeconds, tokens: rate * burstSeconds, last: time.Now()}
}

func (b *bucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// take takes a token if there is one.
func (b *bucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= b.burst
}

// wait takes n tokens, sleeping until the bucket has refilled enough.
func (b *bucket) wait(n float64) {
	if b == nil || b.rate <= 0 {
		return
	}
	b.refill(time.Now())
	b.tokens -= n
	if b.tokens < 0 {
		time.Sleep(time.Duration(-b.tokens / b.rate * float64(time.Second)))
	}
}
