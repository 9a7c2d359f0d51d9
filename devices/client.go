package devices

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// ErrRefused means the hub refused this device: its certificate is
// unknown, revoked or expired, or it does not trust the hub. Retrying does
// not help; a parent must look at the hub.
var ErrRefused = errors.New("devices: the hub refused this device")

// ErrConnectionLost means the connection to the hub dropped; reconnect and
// repeat the request (uploads then resume where the hub stopped).
var ErrConnectionLost = errors.New("devices: connection to the hub lost")

// Options tune a Client. The zero value works.
type Options struct {
	// Hubs overrides the hub addresses from the bundle (host:port).
	Hubs []string
	// Timeout bounds each wait for an answer from the hub, after which a
	// request is repeated. Default: the retry time the hub tells
	// (retry_ms), or 10s until it has.
	Timeout time.Duration
	// Window is how many chunks or fetches may be in flight. Default 16:
	// a 10-second recording in one round trip. A toy with little memory
	// uses fewer (and smaller chunks).
	Window int
	// Chunk is the upload chunk size. Default wire.MaxChunk.
	Chunk  int
	Logger *slog.Logger
	// Discover, when the remembered hub addresses do not answer, browses
	// mDNS (on DiscoverIfaces, or every multicast interface) for the hub
	// whose CA the bundle pins, and remembers its new addresses.
	Discover       bool
	DiscoverIfaces []net.Interface

	timeoutDefault bool // Timeout was not given: the hub's retry_ms may set it
}

func (o *Options) defaults() {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
		o.timeoutDefault = true
	}
	if o.Window == 0 {
		o.Window = 16
	}
	if o.Chunk == 0 {
		o.Chunk = wire.MaxChunk
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Client is one device's connection to its hub.
type Client struct {
	b   *certs.Bundle
	opt Options
	mc  paho.Client
	log *slog.Logger

	lost     chan struct{}
	lostOnce sync.Once

	mu       sync.Mutex
	uploads  map[wire.MessageID]chan wire.Ack // header and chunk acks
	fetches  map[wire.MessageID]chan fetched  // data frames and fetch refusals
	played   map[wire.MessageID]chan wire.Ack
	syncs    chan wire.Ack
	renewals chan wire.Ack // refusals of renewal
	certs    chan string   // renewed certificates (PEM)

	notify chan wire.Notify
	status chan wire.Status

	limitsIn chan wire.Limits // the hub's, once
	limits   wire.Limits      // in force (under mu)
}

type fetched struct {
	chunk wire.Chunk
	err   *wire.Error
}

// Dial connects to the hub (trying each address in order), subscribes to
// the device's delivery topics, and returns once both are done. With
// Options.Discover it falls back to mDNS when no remembered address
// answers.
func Dial(ctx context.Context, b *certs.Bundle, opt Options) (*Client, error) {
	c, err := dial(ctx, b, opt)
	if err == nil || !opt.Discover || len(opt.Hubs) > 0 || errors.Is(err, ErrRefused) || ctx.Err() != nil {
		return c, err
	}
	found, derr := Discover(ctx, 3*time.Second, opt.DiscoverIfaces)
	if derr != nil {
		return nil, err
	}
	pin := certs.Pin(b.CA)[:16]
	for _, f := range found {
		if f.CA != pin || len(f.MQTT) == 0 {
			continue
		}
		o := opt
		o.Hubs = f.MQTT
		if c, derr := dial(ctx, b, o); derr == nil {
			if uerr := certs.UpdateBundleHubs(b.Dir, f.MQTT); uerr != nil {
				c.log.Warn("New hub addresses not remembered", "error", uerr)
			}
			b.Info.Hub = f.MQTT
			return c, nil
		}
	}
	return nil, err
}

func dial(ctx context.Context, b *certs.Bundle, opt Options) (*Client, error) {
	opt.defaults()
	now := time.Now()
	if now.After(b.Cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("devices: this device's certificate expired on %s; if this device's date (%s) is right, pair it with the hub again",
			b.Cert.Leaf.NotAfter.Format(time.DateOnly), now.Format(time.DateOnly))
	}
	if now.Before(b.Cert.Leaf.NotBefore) {
		return nil, fmt.Errorf("devices: this device's certificate is valid only from %s, and this device's date is %s; set its clock",
			b.Cert.Leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	c := &Client{
		b: b, opt: opt, log: opt.Logger,
		lost:     make(chan struct{}),
		uploads:  map[wire.MessageID]chan wire.Ack{},
		fetches:  map[wire.MessageID]chan fetched{},
		played:   map[wire.MessageID]chan wire.Ack{},
		syncs:    make(chan wire.Ack, 4),
		renewals: make(chan wire.Ack, 4),
		certs:    make(chan string, 4),
		notify:   make(chan wire.Notify, 256),
		status:   make(chan wire.Status, 256),
		limitsIn: make(chan wire.Limits, 1),
	}
	hubs := opt.Hubs
	if len(hubs) == 0 {
		hubs = b.Info.Hub
	}
	if len(hubs) == 0 {
		return nil, errors.New("devices: no hub address in the bundle; give one with --hub")
	}
	mo := paho.NewClientOptions()
	// One broker for paho; the connection is to whichever of the hub's
	// addresses answers first (see raceDial).
	mo.AddBroker("tls://" + hubs[0])
	tlsCfg := certs.ClientTLS(b.Pool(), b.Cert, "")
	mo.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
		return raceDial(ctx, hubs, tlsCfg, opt.Timeout)
	})
	mo.SetClientID(b.Info.DeviceID)
	mo.SetCleanSession(true)
	mo.SetAutoReconnect(false)
	mo.SetConnectRetry(false)
	mo.SetKeepAlive(30 * time.Second)
	mo.SetPingTimeout(10 * time.Second)
	mo.SetConnectTimeout(opt.Timeout)
	mo.SetWriteTimeout(opt.Timeout)
	mo.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.log.Debug("Connection lost", "error", err)
		c.lostOnce.Do(func() { close(c.lost) })
	})
	c.mc = paho.NewClient(mo)
	tok := c.mc.Connect()
	if err := wait(ctx, tok, 2*opt.Timeout); err != nil {
		err = clockHint(err, now)
		if refused(err) {
			return nil, fmt.Errorf("%w (%v); ask a parent to check it with 'toyhub device list'", ErrRefused, err)
		}
		return nil, fmt.Errorf("devices: connect to %s: %w", strings.Join(hubs, ", "), err)
	}
	tok = c.mc.Subscribe(wire.DownFilter(b.Info.DeviceID), 1, c.dispatch)
	if err := wait(ctx, tok, opt.Timeout); err != nil {
		c.mc.Disconnect(0)
		return nil, fmt.Errorf("devices: subscribe: %w", err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for _, code := range st.Result() {
			if code >= 0x80 {
				c.mc.Disconnect(0)
				return nil, errors.New("devices: the hub refused the subscription")
			}
		}
	}
	// The hub says its limits once the subscription stands; until then,
	// or from a hub that does not, the protocol's defaults hold.
	l := wire.DefaultLimits
	select {
	case l = <-c.limitsIn:
	case <-time.After(min(opt.Timeout, 2*time.Second)):
		c.log.Debug("No limits from the hub; using the defaults")
	}
	c.mu.Lock()
	c.limits = l
	if retry := time.Duration(l.RetryMS) * time.Millisecond; retry > 0 && opt.timeoutDefault {
		c.opt.Timeout = retry
	}
	c.opt.Chunk = min(c.opt.Chunk, l.Chunk)
	c.opt.Window = min(c.opt.Window, l.UploadWindow, l.FetchWindow)
	c.mu.Unlock()
	return c, nil
}

// Limits are the hub's limits in force for this connection.
func (c *Client) Limits() wire.Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// refused tells a refusal (retrying is pointless) from a network failure.
func refused(err error) bool {
	var ce *ClockError
	if errors.As(err, &ce) {
		return false // until the date is set
	}
	if errors.Is(err, packets.ErrorRefusedNotAuthorised) || errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) ||
		errors.Is(err, packets.ErrorRefusedIDRejected) {
		return true
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return true
	}
	// A TLS alert from the hub (for instance "bad certificate", "certificate
	// revoked") arrives as a remote error string.
	return strings.Contains(err.Error(), "remote error: tls:")
}

// wait waits for a paho token with a timeout (paho's Wait can hang forever).
func wait(ctx context.Context, tok paho.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return errors.New("timed out")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close disconnects.
func (c *Client) Close() {
	c.mc.Disconnect(250)
	c.lostOnce.Do(func() { close(c.lost) })
}

// Lost is closed when the connection drops.
func (c *Client) Lost() <-chan struct{} { return c.lost }

// ID is the device's ID.
func (c *Client) ID() string { return c.b.Info.DeviceID }

// Notifications delivers the hub's notices of waiting messages.
func (c *Client) Notifications() <-chan wire.Notify { return c.notify }

// Statuses delivers what happened to messages this device sent. A status
// may come twice: the hub repeats one until it hears it was handed on here.
func (c *Client) Statuses() <-chan wire.Status { return c.status }

func (c *Client) publish(ctx context.Context, kind string, payload []byte) error {
	tok := c.mc.Publish(wire.UpTopic(c.ID(), kind), 1, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%w: %v", ErrConnectionLost, err)
		}
		return nil
	case <-c.lost:
		return ErrConnectionLost
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post publishes a request that the protocol answers itself (a chunk, a
// fetch) at QoS 0, without waiting: so a window of them is in flight at
// once rather than one per round trip, and no PUBACK is written for each.
// The answer is the request's acknowledgement; one lost on the way is
// repeated after the protocol's timeout, or resumed after a reconnect.
// paho may still hold payload after post returns, so the caller must not
// reuse it.
func (c *Client) post(kind string, payload []byte) error { return c.postQoS(0, kind, payload) }

// postQoS is post at the QoS given: the request's answer, not the
// PUBACK, tells that it arrived.
func (c *Client) postQoS(qos byte, kind string, payload []byte) error {
	tok := c.mc.Publish(wire.UpTopic(c.ID(), kind), qos, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%w: %v", ErrConnectionLost, err)
		}
	case <-c.lost:
		return ErrConnectionLost
	default:
	}
	return nil
}

// dispatch runs on paho's router goroutine and must not block: every send
// is non-blocking, and whatever does not fit is dropped and recovered by
// the protocol's retries.
func (c *Client) dispatch(_ paho.Client, m paho.Message) {
	kind := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
	p := m.Payload()
	switch kind {
	case wire.DownAck:
		var a wire.Ack
		if wire.DecodeDown(p, &a) != nil {
			return
		}
		c.mu.Lock()
		var ch chan wire.Ack
		switch a.Op {
		case wire.OpHeader, wire.OpChunk:
			ch = c.uploads[a.ID]
		case wire.OpPlayed:
			ch = c.played[a.ID]
		case wire.OpSync:
			ch = c.syncs
		case wire.OpRenew:
			ch = c.renewals
		case wire.OpFetch:
			if f := c.fetches[a.ID]; f != nil && a.Error != nil {
				offer(f, fetched{err: a.Error})
			}
		}
		c.mu.Unlock()
		if ch != nil {
			offer(ch, a)
		}
	case wire.DownLimits:
		var l wire.Limits
		if wire.DecodeDown(p, &l) == nil && l.Chunk > 0 && l.UploadWindow > 0 && l.FetchWindow > 0 {
			offer(c.limitsIn, l)
		}
	case wire.DownData:
		ch, err := wire.DecodeChunk(p)
		if err != nil {
			return
		}
		ch.Data = append([]byte(nil), ch.Data...)
		c.mu.Lock()
		if f := c.fetches[ch.ID]; f != nil {
			offer(f, fetched{chunk: ch})
		}
		c.mu.Unlock()
	case wire.DownCert:
		var cert wire.Certificate
		if wire.DecodeDown(p, &cert) == nil {
			offer(c.certs, cert.Cert)
		}
	case wire.DownNotify:
		var n wire.Notify
		if wire.DecodeDown(p, &n) == nil {
			offer(c.notify, n)
		}
	case wire.DownStatus:
		// A status that is handed on is heard, and the hub may stop
		// repeating it. Only this goroutine fills c.status, so room now is
		// room below; the heard is queued first, so that it goes ahead of
		// anything the receiver of the status publishes next. It is not
		// waited for: if it is lost, the next sync brings the status again.
		var s wire.Status
		if wire.DecodeDown(p, &s) == nil && len(c.status) < cap(c.status) {
			c.mc.Publish(wire.UpTopic(c.ID(), wire.UpHeard), 1, false, wire.Encode(wire.Heard{ID: s.ID, To: s.To, State: s.State}))
			c.status <- s
		}
	}
}

// track routes a message's answers to ch until the returned function is
// called.
func track[T any](c *Client, routes map[wire.MessageID]chan T, id wire.MessageID, ch chan T) (untrack func()) {
	c.mu.Lock()
	routes[id] = ch
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(routes, id)
		c.mu.Unlock()
	}
}

func offer[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// Sync asks the hub to resend every pending notification and status, and
// returns how many messages wait for this device.
func (c *Client) Sync(ctx context.Context) (int, error) {
	for {
		if err := c.publish(ctx, wire.UpSync, []byte("{}")); err != nil {
			return 0, err
		}
		select {
		case a := <-c.syncs:
			if a.Error != nil {
				return 0, a.Error
			}
			return a.Pending, nil
		case <-time.After(c.opt.Timeout):
		case <-c.lost:
			return 0, ErrConnectionLost
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// raceDial connects to whichever of the hub's addresses completes a TLS
// handshake first. At home a LAN address answers at once (the public name,
// if the router loops it back at all, answers later, through the router);
// far away only the public name does, and the LAN addresses (which the
// Internet drops) must not each cost a timeout first, nor a head start.
// Each handshake verifies the hub, so a stranger at one of the addresses
// on grandma's own network gets nowhere. The server name is each
// address's own host.
func raceDial(ctx context.Context, hubs []string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		conn net.Conn
		err  error
	}
	results := make(chan result, len(hubs))
	for _, addr := range hubs {
		go func() {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				results <- result{err: err}
				return
			}
			c := cfg.Clone()
			c.ServerName = host
			d := tls.Dialer{Config: c}
			conn, err := d.DialContext(ctx, "tcp", addr)
			results <- result{conn, err}
		}()
	}
	var errs []error
	for range hubs {
		r := <-results
		if r.err == nil {
			cancel()
			go func(left int) { // close the slower ones
				for ; left > 0; left-- {
					if r := <-results; r.conn != nil {
						r.conn.Close()
					}
				}
			}(len(hubs) - len(errs) - 1)
			return r.conn, nil
		}
		errs = append(errs, r.err)
	}
	return nil, errors.Join(errs...)
}
