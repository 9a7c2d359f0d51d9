package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/toyhub/toyhub/hub/connlimit"
)

// tlsListener is the broker's only listener. Unlike mochi's TCP listener it
// completes the TLS handshake itself, before mochi sees the connection,
// under a deadline that also covers the CONNECT packet (mochi sets no
// deadline until CONNECT has been read, so a silent client would hold a
// socket forever). It also bounds concurrent handshakes, so a flood of
// half-open connections costs a bounded amount of CPU and memory.
type tlsListener struct {
	id       string
	addr     string
	cfg      *tls.Config
	deadline time.Duration
	slots    chan struct{}        // handshakes in progress
	sources  *connlimit.PerSource // connections opening, per client address
	limits   connLimits
	// disconnectAll, when set, ends the listener's clients on Close in
	// place of mochi's closeListenerClients, whose Clients.GetByListener
	// takes its read lock twice and deadlocks when a client connects or
	// leaves in between (mochi-mqtt/server#488, unfixed in v2.7.9; it hung
	// a CI run).
	disconnectAll func(listenerID string)
	// handshakes counts completed handshakes, for reclaiming memory after
	// a burst of them (see Hub.reclaim).
	handshakes atomic.Int64
	log        *slog.Logger
	refused    func(remote string, err error)

	ln     net.Listener
	ctx    context.Context // cancelled by Close: aborts handshakes
	cancel context.CancelFunc
	closed atomic.Bool
	// pending counts connections accepted but not yet read by mochi. Close
	// waits for it before mochi waits for its clients, so that mochi's
	// client WaitGroup is never incremented while it is being waited on.
	pending sync.WaitGroup
	addMu   sync.Mutex // orders pending.Add after Close's check against its Wait
}

var _ listeners.Listener = (*tlsListener)(nil)

// connLimits bound what one connected device may send; 0 is unlimited.
type connLimits struct {
	BytesPerSecond, PacketsPerSecond float64
}

func newTLSListener(id string, ln net.Listener, cfg *tls.Config, deadline time.Duration, maxHandshakes, perSource int, limits connLimits, refused func(string, error)) *tlsListener {
	ctx, cancel := context.WithCancel(context.Background())
	return &tlsListener{id: id, ln: ln, addr: ln.Addr().String(), cfg: cfg, deadline: deadline, slots: make(chan struct{}, maxHandshakes),
		sources: connlimit.NewPerSource(perSource), limits: limits, refused: refused, ctx: ctx, cancel: cancel}
}

func (l *tlsListener) ID() string       { return l.id }
func (l *tlsListener) Protocol() string { return "mqtts" }

func (l *tlsListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Init takes mochi's logger; the socket is bound already (the hub binds
// every socket before it builds its parts).
func (l *tlsListener) Init(log *slog.Logger) error {
	if log != nil {
		l.log = log
	}
	return nil
}

func (l *tlsListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		// A connection accepted as Close begins is dropped: Add must not
		// race Close's Wait.
		l.addMu.Lock()
		if l.closed.Load() {
			l.addMu.Unlock()
			conn.Close()
			return
		}
		l.pending.Add(1)
		l.addMu.Unlock()
		go l.handle(conn, establish)
	}
}

func (l *tlsListener) handle(conn net.Conn, establish listeners.EstablishFn) {
	remote := conn.RemoteAddr().String()
	drop := func(err error) {
		if err != nil {
			l.refused(remote, err)
		}
		conn.Close()
		l.pending.Done()
	}
	// The deadline covers the wait for a handshake slot, the handshake and
	// the CONNECT packet; mochi replaces it with the keepalive deadline
	// once CONNECT is read.
	if err := conn.SetDeadline(time.Now().Add(l.deadline)); err != nil {
		drop(nil)
		return
	}
	// One address may not hold every handshake slot: half-open
	// connections from one machine are refused beyond its share.
	src := connlimit.SourceOf(conn.RemoteAddr())
	if !l.sources.AllowNew(src, time.Now()) || !l.sources.Acquire(src) {
		l.refused(remote, errors.New("too many connections from this address"))
		l.sources.Refuse(conn, l.deadline)
		l.pending.Done()
		return
	}
	released := false
	release := func() {
		if !released {
			released = true
			l.sources.Release(src)
		}
	}
	defer release()
	ctx, cancel := context.WithTimeout(l.ctx, l.deadline)
	defer cancel()
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		drop(errors.New("too many handshakes in progress"))
		return
	}
	// The remote door hands over connections whose handshake is done.
	tc, ok := conn.(*tls.Conn)
	if !ok {
		tc = tls.Server(conn, l.cfg)
	}
	err := tc.HandshakeContext(ctx)
	<-l.slots
	release()
	if err != nil {
		if l.closed.Load() {
			err = nil
		}
		drop(err)
		return
	}
	if l.closed.Load() {
		drop(nil)
		return
	}
	// mochi reads the connection on a new goroutine: this one's stack has
	// grown to tens of kilobytes in the handshake's cryptography, and a
	// long-lived goroutine gives a grown stack back only slowly, half at
	// each collection. With a thousand idle toys, stacks 15 s after a
	// reconnect storm fell from 44 to 31 MB.
	l.handshakes.Add(1)
	go func() {
		ac := &attachedConn{Conn: tc, attached: l.pending.Done,
			bytes: connlimit.NewBucket(l.limits.BytesPerSecond, 4), packets: connlimit.NewBucket(l.limits.PacketsPerSecond, 4)}
		if err := establish(l.id, ac); err != nil && l.log != nil {
			l.log.Debug("Connection ended", "remote", remote, "error", err)
		}
		ac.markAttached() // in case mochi returned before reading
	}()
}

func (l *tlsListener) Close(closeClients listeners.CloseFn) {
	l.addMu.Lock()
	already := l.closed.Swap(true)
	l.addMu.Unlock()
	if already {
		return
	}
	l.cancel()
	if l.ln != nil {
		l.ln.Close()
	}
	l.pending.Wait()
	if l.disconnectAll != nil {
		l.disconnectAll(l.id)
		return
	}
	closeClients(l.id)
}

// attachedConn reports mochi's first read: by then mochi has registered
// the client in its WaitGroup.
type attachedConn struct {
	*tls.Conn
	once     sync.Once
	attached func()
	// bytes and packets bound what the device may send (Config's
	// per-connection limits); only mochi's reading goroutine uses them.
	bytes, packets *connlimit.Bucket
}

func (c *attachedConn) markAttached() { c.once.Do(c.attached) }

func (c *attachedConn) Read(b []byte) (int, error) {
	c.markAttached()
	n, err := c.Conn.Read(b)
	c.bytes.Wait(float64(n))
	return n, err
}
