package audit

import (
	"context"
	"net"
	"sync"
	"time"
)

// Probes are the self-check's own connections to the hub. Many are meant
// to be refused (no certificate, an outdated TLS version, plain text on a
// TLS port), so the hub's listeners ask Own and neither warn about them
// nor count them as refused handshakes: the log and the metrics keep to
// what others do. A nil *Probes dials without keeping track.
type Probes struct {
	mu sync.Mutex
	m  map[string]time.Time // a probe's local address → until when it counts as one
}

// NewProbes makes an empty set.
func NewProbes() *Probes { return &Probes{m: map[string]time.Time{}} }

// probeMemory is how long after its close a probe's address stays known:
// the listener may refuse it a little after the probe gave up. The
// address is forgotten soon after, since the system gives it to other
// connections again.
const probeMemory = 2 * time.Second

// dial opens a TCP connection to addr and, before anything is sent on it,
// records its local address, which the listener sees as its remote one.
func (p *Probes) dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil || p == nil {
		return c, err
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, until := range p.m {
		if now.After(until) {
			delete(p.m, a)
		}
	}
	local := c.LocalAddr().String()
	p.m[local] = now.Add(24 * time.Hour) // while it is open
	return &probeConn{Conn: c, done: func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.m[local] = time.Now().Add(probeMemory)
	}}, nil
}

// probeConn is a probe's connection; closing it starts the short while
// its address is still known.
type probeConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *probeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// Own reports whether a connection from remote is one of the probes'.
func (p *Probes) Own(remote string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.m[remote]
	return ok && time.Now().Before(until)
}
