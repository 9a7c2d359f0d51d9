// Package remote is remote access for a family spread over two homes: one
// TCP port that answers from beyond the LAN (the door), the port mapping
// the hub asks the home router for (portmap), and the settings and state a
// parent sees.
//
// The door tells devices, invited devices and browsers apart by TLS ALPN,
// in the handshake, and refuses every other protocol there. Nothing is
// served without a household certificate, except redeeming an open
// invite: MQTT needs a device's certificate, as on the LAN; the web app
// needs a browser's certificate naming an account (and then still the
// account's password, and its code where set); a browser with no
// certificate may only redeem an open invite, and when none is open its
// handshake is refused. The hub opens no connection beyond the LAN: it
// only answers.
package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/connlimit"
)

// The ALPN protocols the door serves.
const (
	ProtoMQTT   = "mqtt"            // devices, over mutual TLS
	ProtoEnroll = certs.EnrollProto // an invited device's enrollment
	ProtoH2     = "h2"              // browsers
	ProtoHTTP   = "http/1.1"
)

// Kinds of connection, as the door reports them.
const (
	KindDevice  = "device"
	KindEnroll  = "enrollment"
	KindBrowser = "browser"
)

// Configs are the door's TLS configurations, one for each kind of client;
// the door sets their NextProtos.
type Configs struct {
	MQTT, Enroll, Web *tls.Config
	// WebCheck, when set, checks each browser's handshake (resumed ones
	// too) knowing its address: Web's VerifyConnection for that
	// connection.
	WebCheck func(remote netip.Addr, cs tls.ConnectionState) error
}

// Handlers take the connections the door accepted, after their handshake.
type Handlers struct {
	MQTT, Enroll, Web func(*tls.Conn)
}

// Options bound the door.
type Options struct {
	Deadline  time.Duration // for the handshake (10 s when 0)
	Slots     int           // handshakes at once (64 when 0)
	PerSource int           // connections one address may hold (16 when 0)
	// Refused hears of each refused connection, with why, in words
	// (never names).
	Refused func(remote, why string)
	// Accepted hears of each connection that passed its handshake.
	Accepted func(remote, kind string)
	Log      *slog.Logger
}

// Door is the remote port.
type Door struct {
	cfgs  Configs
	h     Handlers
	o     Options
	slots chan struct{}
	src   *connlimit.PerSource

	mu     sync.Mutex
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewDoor makes the door; Serve serves it.
func NewDoor(cfgs Configs, h Handlers, o Options) *Door {
	if o.Deadline == 0 {
		o.Deadline = 10 * time.Second
	}
	if o.Slots == 0 {
		o.Slots = 64
	}
	if o.PerSource == 0 {
		o.PerSource = 16
	}
	if o.Refused == nil {
		o.Refused = func(string, string) {}
	}
	if o.Accepted == nil {
		o.Accepted = func(string, string) {}
	}
	cfgs.MQTT = withProtos(cfgs.MQTT, ProtoMQTT)
	cfgs.Enroll = withProtos(cfgs.Enroll, ProtoEnroll)
	cfgs.Web = withProtos(cfgs.Web, ProtoH2, ProtoHTTP)
	d := &Door{cfgs: cfgs, h: h, o: o, slots: make(chan struct{}, o.Slots), src: connlimit.NewPerSource(o.PerSource)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

func withProtos(c *tls.Config, protos ...string) *tls.Config {
	c = c.Clone()
	c.NextProtos = protos
	return c
}

// config chooses the TLS configuration by the protocols the client
// offers; a client that offers none the door serves is refused in the
// handshake.
func (d *Door) config(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	offered := hello.SupportedProtos
	switch {
	case slices.Contains(offered, ProtoMQTT):
		return d.cfgs.MQTT, nil
	case slices.Contains(offered, ProtoEnroll):
		return d.cfgs.Enroll, nil
	case slices.Contains(offered, ProtoH2), slices.Contains(offered, ProtoHTTP):
		if d.cfgs.WebCheck == nil {
			return d.cfgs.Web, nil
		}
		c := d.cfgs.Web.Clone()
		ap, _ := netip.ParseAddrPort(hello.Conn.RemoteAddr().String())
		c.VerifyConnection = func(cs tls.ConnectionState) error { return d.cfgs.WebCheck(ap.Addr().Unmap(), cs) }
		return c, nil
	case len(offered) > 0:
		// TLS refuses it itself: no protocol in common.
		return d.cfgs.Enroll, nil
	}
	return nil, errors.New("no protocol this port serves")
}

// Serve accepts on ln until Close.
func (d *Door) Serve(ln net.Listener) error {
	d.mu.Lock()
	if d.ctx.Err() != nil {
		d.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	d.ln = connlimit.NewListener(ln, d.src, func(remote string) { d.o.Refused(remote, "too many connections from this address") })
	d.mu.Unlock()
	outer := &tls.Config{GetConfigForClient: d.config}
	for {
		c, err := d.ln.Accept()
		if err != nil {
			if d.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.handle(tls.Server(c, outer))
		}()
	}
}

func (d *Door) handle(c *tls.Conn) {
	remote := c.RemoteAddr().String()
	ctx, cancel := context.WithTimeout(d.ctx, d.o.Deadline)
	defer cancel()
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		d.o.Refused(remote, "too many handshakes at once")
		c.Close()
		return
	}
	c.SetDeadline(time.Now().Add(d.o.Deadline))
	err := c.HandshakeContext(ctx)
	<-d.slots
	if err != nil {
		d.o.Refused(remote, handshakeWhy(err))
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	switch c.ConnectionState().NegotiatedProtocol {
	case ProtoMQTT:
		d.o.Accepted(remote, KindDevice)
		d.h.MQTT(c)
	case ProtoEnroll:
		d.o.Accepted(remote, KindEnroll)
		d.h.Enroll(c)
	case ProtoH2, ProtoHTTP:
		d.o.Accepted(remote, KindBrowser)
		d.h.Web(c)
	default: // a client that did not take the protocol it offered
		d.o.Refused(remote, "no protocol agreed")
		c.Close()
	}
}

// handshakeWhy says why a handshake failed, in words for the audit log.
func handshakeWhy(err error) string {
	var ce *CertError
	switch {
	case errors.As(err, &ce):
		return ce.Why
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "the handshake took too long"
	}
	return "the TLS handshake failed"
}

// CertError is a refusal of a certificate (or of its absence) that the
// door's configurations give, with why in words.
type CertError struct{ Why string }

func (e *CertError) Error() string { return e.Why }

// Close stops serving and ends the handshakes under way; the connections
// already handed on belong to their handlers.
func (d *Door) Close() {
	d.mu.Lock()
	d.cancel()
	if d.ln != nil {
		d.ln.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}
