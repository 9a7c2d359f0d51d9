package remote

import (
	"net"
	"sync"
)

// Handoff is a net.Listener that yields the connections given to it: the
// door hands each accepted connection, its handshake done, to the part
// that serves its kind (the broker, the web app) through one.
type Handoff struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

// NewHandoff makes a handoff named by addr.
func NewHandoff(addr net.Addr) *Handoff {
	return &Handoff{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// Give hands c over, waiting until it is taken; once the listener is
// closed, c is closed instead.
func (h *Handoff) Give(c net.Conn) {
	select {
	case h.ch <- c:
	case <-h.done:
		c.Close()
	}
}

// Accept takes the next connection given.
func (h *Handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close stops the handoff.
func (h *Handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

// Addr is the address it was named by.
func (h *Handoff) Addr() net.Addr { return h.addr }
