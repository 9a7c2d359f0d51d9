// Package broker is the hub's MQTT side: the embedded mochi broker behind
// a mutual-TLS listener, the hook that decides for every connection,
// subscription and publish what a device may do, and the router that
// serves the wire protocol (package wire) and carries messages from
// sender to recipients.
//
// # Authorization
//
// Every decision is taken here, for every request: at the TLS handshake
// (the certificate must be known to the store and not revoked), at
// CONNECT (the client ID must equal the certificate's device ID), for
// every topic (wire.MayPublish, wire.MaySubscribe), and in the router for
// every message ID (only a message's recipients may read it).
//
// # The message path
//
// A message reaches the store from a toy's chunks (the router) or whole
// from the web app (Send); either way it is committed, announced and
// counted by one implementation, and its delivered and played receipts
// reach its sender the same way (Delivered, Played).
//
// # Concurrency
//
// A Broker is started once and closed once; its methods are safe for
// concurrent use. The router serves each device's requests on that
// device's connection goroutine; the store serialises writes.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/connlimit"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Config is the broker's slice of the hub's configuration.
type Config struct {
	HandshakeTimeout time.Duration // TLS handshake plus the CONNECT packet
	MaxHandshakes    int           // concurrent TLS handshakes
	MaxPerSource     int           // connections opening per address
	MaxConnections   int64
	// BytesPerSecond and PacketsPerSecond bound what one connected device
	// may send, four seconds' worth at once; 0 is unlimited.
	BytesPerSecond   int64
	PacketsPerSecond int
	MaxKeepalive     time.Duration

	MaxMessageBytes int64
	MaxDuration     time.Duration
	MaxChunk        int
	StaleUploadAge  time.Duration // unfinished uploads are dropped after this
	QuietEvery      time.Duration // how often the end of quiet hours is noticed
	Now             func() time.Time
}

// Renewer issues a new certificate to a connected device, for the key it
// is connected with (the connection is its authentication).
type Renewer interface {
	Renew(ctx context.Context, device string, connected any, csrPEM string) (certPEM string, err error)
}

// Metrics counts what the broker does.
type Metrics interface {
	MessageStored(size int64)
	MessageDelivered()
	HandshakeRefused()
}

// Refusals hears of every refused handshake and connection, for the
// self-check's count of them.
type Refusals interface{ Refused(remote string) }

// Live tells the web app's open pages which devices changed.
type Live interface{ Publish(ids ...string) }

// Deps are what the broker needs from the rest of the hub.
type Deps struct {
	Store *store.Store
	// Cert serves the hub's server certificate; CAs verify devices'.
	Cert     func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	CAs      *x509.CertPool
	Renewer  Renewer
	Metrics  Metrics
	Refusals Refusals
	// Probes recognises the hub's own self-check: its refused
	// connections are neither logged nor counted.
	Probes Probes
	Live   Live
	Log    *slog.Logger
}

// Probes recognises the self-check's own connections by their address.
type Probes interface{ Own(remote string) bool }

// Broker is the running MQTT side of the hub.
type Broker struct {
	cfg        Config
	d          Deps
	log        *slog.Logger
	srv        *mqtt.Server
	lis        *tlsListener
	router     *router
	refusalLog *connlimit.LogLimiter // a flood logs a count, not a line each

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	tlsCfg *tls.Config
}

// New builds the broker on a bound socket; Start serves it.
func New(cfg Config, ln net.Listener, d Deps) (*Broker, error) {
	b := &Broker{cfg: cfg, d: d, log: d.Log, refusalLog: connlimit.NewLogLimiter(d.Log, 20, time.Minute)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.srv = newServer(cfg, d.Log)
	b.router = newRouter(b.ctx, cfg, d.Store, b.srv, d.Log, d.Renewer, d.Live, d.Metrics)
	if err := b.srv.AddHook(&authHook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// A device's TLS session is resumed for half a day at most; each
	// resumption still checks its certificate (verifyConnection).
	tlsCfg := certs.LimitTickets(certs.ServerTLS(d.Cert, d.CAs, b.verifyConnection), 12*time.Hour, time.Now)
	tlsCfg.Time = cfg.Now // certificates are judged by the hub's clock, as everything else
	b.tlsCfg = tlsCfg
	b.lis = b.listener("mqtts", ln)
	return b, nil
}

// listener makes a listener of the broker's on ln.
func (b *Broker) listener(id string, ln net.Listener) *tlsListener {
	l := newTLSListener(id, ln, b.tlsCfg, b.cfg.HandshakeTimeout, b.cfg.MaxHandshakes, b.cfg.MaxPerSource,
		connLimits{BytesPerSecond: float64(b.cfg.BytesPerSecond), PacketsPerSecond: float64(b.cfg.PacketsPerSecond)}, b.handshakeRefused)
	l.disconnectAll = func(id string) {
		for _, cl := range b.srv.Clients.GetAll() { // one read lock, unlike GetByListener
			if cl.Net.Listener == id && !cl.Closed() {
				_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	}
	return l
}

// TLSConfig is the broker's TLS policy (mutual TLS, each certificate
// checked against the store at handshake), for the remote door to use
// for devices.
func (b *Broker) TLSConfig() *tls.Config { return b.tlsCfg }

// Remote serves devices that the remote door hands over, their handshake
// done under TLSConfig, on a listener of their own ("mqtts-remote"),
// until the broker closes. ln yields those connections.
func (b *Broker) Remote(ln net.Listener) error {
	if err := b.srv.AddListener(b.listener("mqtts-remote", ln)); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// Start serves connections and runs the broker's upkeep until Close.
func (b *Broker) Start() error {
	if err := b.srv.AddListener(b.lis); err != nil {
		b.lis.ln.Close()
		return fmt.Errorf("broker: %w", err)
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.wg.Go(b.upkeep)
	b.wg.Go(b.reclaim)
	return nil
}

// Close disconnects every device and stops serving.
func (b *Broker) Close() {
	if b.srv.Listeners.Len() > 0 {
		b.srv.Close()
	} else {
		b.lis.ln.Close() // never started
	}
	b.cancel()
	b.wg.Wait()
}

// Addr is the address the broker is bound to.
func (b *Broker) Addr() string { return b.lis.Address() }

// Listening reports whether the listener is open (for the health check).
func (b *Broker) Listening() bool { return !b.lis.closed.Load() }

// Online reports whether a device is connected now.
func (b *Broker) Online(id string) bool { return b.router.online(id) }

// Connected counts the devices connected now.
func (b *Broker) Connected() int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			n++
		}
	}
	return n
}

// Disconnect closes a device's connection at once, if it has one.
func (b *Broker) Disconnect(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	if !ok || cl.Net.Inline || cl.Closed() {
		return false
	}
	_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
	return true
}

// verifyConnection runs at every TLS handshake, after the chain has been
// verified against the household CA: the store must know the certificate
// and neither it nor its device may be revoked. Revocation therefore
// applies from the next handshake on.
func (b *Broker) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return b.d.Store.CheckCertificate(ctx, certs.SerialString(leaf.SerialNumber), leaf.Subject.CommonName)
}

// refused counts a refused handshake or connection.
func (b *Broker) refused(remote string) {
	if b.d.Probes != nil && b.d.Probes.Own(remote) {
		return // the self-check's own probe, meant to be refused
	}
	b.d.Refusals.Refused(remote)
	b.d.Metrics.HandshakeRefused()
}

func (b *Broker) handshakeRefused(remote string, err error) {
	if b.d.Probes != nil && b.d.Probes.Own(remote) {
		return
	}
	b.refused(remote)
	if !b.refusalLog.Allow(time.Now()) {
		return
	}
	attrs := []any{"remote", remote, "error", err.Error()}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		attrs = append(attrs, "reason", "the device's certificate is not valid at the hub's time "+b.cfg.Now().UTC().Format(time.RFC3339),
			"fix", "if the hub's date is right, pair the device again; if not, set the hub's date")
	}
	b.log.Warn("TLS handshake refused", attrs...)
}

// upkeep notices the end of quiet hours (every QuietEvery) and drops
// stale uploads (hourly).
func (b *Broker) upkeep() {
	quiet := time.NewTicker(b.cfg.QuietEvery)
	defer quiet.Stop()
	stale := time.NewTicker(time.Hour)
	defer stale.Stop()
	for {
		b.dropStale()
		for done := false; !done; {
			select {
			case <-b.ctx.Done():
				return
			case <-quiet.C:
				b.router.releaseQuiet(b.ctx)
			case <-stale.C:
				done = true
			}
		}
	}
}

// dropStale forgets uploads untouched for StaleUploadAge, in memory and
// in the store.
func (b *Broker) dropStale() {
	before := b.cfg.Now().Add(-b.cfg.StaleUploadAge)
	b.router.sweep(before)
	if n, err := b.d.Store.DiscardStaleUploads(b.ctx, before); err != nil {
		if b.ctx.Err() == nil {
			b.log.Error("Stale uploads not discarded", "error", err)
		}
	} else if n > 0 {
		b.log.Info("Stale uploads discarded", "count", n)
	}
}

// newServer builds the embedded MQTT broker with explicit limits instead
// of mochi's defaults, which are sized for a data centre (8,192 queued
// writes and 8,192 inflight messages per client, no packet size limit,
// sessions kept forever).
func newServer(cfg Config, log *slog.Logger) *mqtt.Server {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = cfg.MaxConnections
	// A chunk frame plus topic and MQTT headers.
	caps.MaximumPacketSize = uint32(wire.ChunkHeaderLen + cfg.MaxChunk + 1024)
	// Per-client queue for messages from other goroutines; replies to a
	// device's own requests are written directly. The queue is allocated up
	// front for every client, so it stays small.
	caps.MaximumClientWritesPending = 64
	caps.ReceiveMaximum = 64  // QoS 1 messages a device may have unacknowledged
	caps.MaximumInflight = 64 // QoS 1 messages kept for a device
	// Messages wait in the hub's store, not in the broker: a toy that is
	// offline for a week gets them from the store when it comes back.
	caps.MaximumMessageExpiryInterval = 60
	caps.MaximumSessionExpiryInterval = 60
	caps.MaximumQos = 1
	caps.RetainAvailable = 0
	caps.SharedSubAvailable = 0
	caps.TopicAliasMaximum = 0
	caps.MinimumProtocolVersion = 4 // 3.1.1: device IDs are longer than 3.1's 23 characters
	return mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true,
		Logger:                 slog.New(redactHandler{log.Handler()}),
		SysTopicResendInterval: 3600,
		// The read buffer is allocated for every client and kept while it
		// is connected. tls.Conn already holds each decrypted record, and
		// bufio reads a packet larger than its buffer straight into the
		// packet, so 512 bytes cost nothing per message and save 3.5 KiB
		// per idle toy (3.6 MB of live heap with 1,000 toys).
		ClientNetReadBufferSize: 512,
		// The write buffer is allocated only while writes are queued.
		ClientNetWriteBufferSize: 4096,
	})
}

// redactHandler drops the attributes with which mochi logs whole packets:
// a packet's payload may be a child's voice.
type redactHandler struct{ slog.Handler }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "pk", "packet", "payload", "will":
		default:
			clean.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, clean)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return redactHandler{h.Handler.WithAttrs(as)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.Handler.WithGroup(name)}
}
