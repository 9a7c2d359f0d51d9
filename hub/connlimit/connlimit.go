// Package connlimit bounds what one client address, and one connection,
// may cost the hub: connections opening or open per address, new
// connections a second per address, bytes and packets a second per
// connection, and log lines per minute for refusals. Every listener of
// the hub (the broker, the web app, the enrollment endpoint) uses these,
// so that one machine on the LAN cannot take every slot while everyone
// else waits.
//
// PerSource, Listener and LogLimiter are safe for concurrent use; a
// Bucket belongs to one connection's reading goroutine.
package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// PerSource counts what each client address holds (connections opening,
// or open), so that one machine on the LAN cannot take every slot: a
// flood of half-open TLS connections, or a slowloris on the web port,
// from one address is refused beyond max while everyone else carries on.
type PerSource struct {
	max  int
	mu   sync.Mutex
	held map[netip.Addr]int
	// New connections a second per address, max at once: a client that
	// reconnects in a loop (to send garbage after each handshake) costs
	// the hub a bounded share of its CPU.
	rates map[netip.Addr]*Bucket
	// Refused connections are held, unread, until the deadline instead of
	// closed at once, up to maxHeld of them: closed at once, a flooding
	// client only reconnects faster, and both sides burn CPU on it.
	pitted  atomic.Int64
	maxHeld int64
}

// NewPerSource allows max connections per address, and max new ones a
// second.
func NewPerSource(max int) *PerSource {
	return &PerSource{max: max, held: map[netip.Addr]int{}, rates: map[netip.Addr]*Bucket{}, maxHeld: 1024}
}

// AllowNew reports whether src may open another connection now.
func (p *PerSource) AllowNew(src netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.rates[src]
	if b == nil {
		if len(p.rates) >= 4096 { // forget addresses whose buckets are full again
			for a, o := range p.rates {
				if o.Full(now) {
					delete(p.rates, a)
				}
			}
		}
		b = NewBucket(float64(p.max), 1)
		b.last = now
		p.rates[src] = b
	}
	return b.Take(now)
}

// Refuse holds a refused connection until d has passed, or closes it now
// when too many are held already.
func (p *PerSource) Refuse(c net.Conn, d time.Duration) {
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

// SourceOf is where a connection comes from, for the per-address bounds:
// its address, IPv4 unmapped, or for IPv6 its /64 (as its first
// address), since one machine commonly holds a whole /64.
func SourceOf(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

// Acquire takes one of src's places, or reports that it has none left.
func (p *PerSource) Acquire(src netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[src] >= p.max {
		return false
	}
	p.held[src]++
	return true
}

// Release gives back one of src's places.
func (p *PerSource) Release(src netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[src]--; p.held[src] <= 0 {
		delete(p.held, src)
	}
}

// Listener refuses a connection from an address that already holds its
// PerSource's max open ones.
type Listener struct {
	net.Listener
	src     *PerSource
	refused func(remote string)
}

// NewListener wraps ln; refused hears of each connection it refuses.
func NewListener(ln net.Listener, src *PerSource, refused func(remote string)) *Listener {
	return &Listener{Listener: ln, src: src, refused: refused}
}

func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := SourceOf(c.RemoteAddr())
		if !l.src.Acquire(src) {
			l.src.Refuse(c, 10*time.Second)
			l.refused(c.RemoteAddr().String())
			continue
		}
		return &releasingConn{Conn: c, release: func() { l.src.Release(src) }}, nil
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

// LogLimiter lets a burst of like log lines through, then counts the rest
// and reports them once a window: a flood must not fill the disk with
// logs (journald rate-limits too, but drops without saying).
type LogLimiter struct {
	log        *slog.Logger
	burst      int
	window     time.Duration
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed atomic.Int64
}

// NewLogLimiter lets burst lines through each window.
func NewLogLimiter(log *slog.Logger, burst int, window time.Duration) *LogLimiter {
	return &LogLimiter{log: log, burst: burst, window: window}
}

// Allow reports whether a line may be logged now.
func (l *LogLimiter) Allow(now time.Time) bool {
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

// Bucket is a token bucket for one connection, used by its reading
// goroutine alone: a device that sends too much is slowed down (TCP then
// pushes back on it) while the hub goes on serving everyone else.
type Bucket struct {
	rate, burst float64 // per second; 0 rate: unlimited
	tokens      float64
	last        time.Time
}

// NewBucket allows rate a second (0: unlimited), burstSeconds' worth at once.
func NewBucket(rate float64, burstSeconds float64) *Bucket {
	return &Bucket{rate: rate, burst: rate * burstSeconds, tokens: rate * burstSeconds, last: time.Now()}
}

func (b *Bucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// Take takes a token if there is one.
func (b *Bucket) Take(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Full reports whether the bucket holds its whole burst.
func (b *Bucket) Full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= b.burst
}

// Wait takes n tokens, sleeping until the bucket has refilled enough.
func (b *Bucket) Wait(n float64) {
	if b == nil || b.rate <= 0 {
		return
	}
	b.refill(time.Now())
	b.tokens -= n
	if b.tokens < 0 {
		time.Sleep(time.Duration(-b.tokens / b.rate * float64(time.Second)))
	}
}
