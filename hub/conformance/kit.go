// Package conformance checks a device against protocol v1
// (docs/protocol.md) by playing its hub, one that misbehaves on purpose.
//
// A toy maker loads the bundle the kit writes into the device, points it
// at the kit, and runs the scenarios: the kit delays and reorders its
// answers, sends a stale one, drops the connection in the middle of an
// upload and of a fetch, sends corrupt bytes, holds a message for quiet
// hours, answers with each refusal, asks for a renewal, and finally
// treats the device's certificate as expired and as revoked. For each it
// reports whether the device did what the document says.
//
// The kit is not the hub. The hub's own code has no switch that makes it
// misbehave, so that no such path can run in a family's home; the kit
// speaks the same protocol through the same package, wire, and holds
// everything in memory. It knows nothing of the hub's internals.
package conformance

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// Device is the device under test, as the kit asks it to act.
type Device interface {
	// Send makes the device send one new message, as a child pressing a
	// paw does. It returns once asked; the kit watches what follows.
	Send(ctx context.Context) error
	// Start starts the device if it is not running; a device may stop
	// after the hub refused its certificate.
	Start(ctx context.Context) error
}

// Options configure a Kit. Zero values take the defaults given.
type Options struct {
	// Addr is where the kit listens; default 127.0.0.1:0.
	Addr string
	// Hubs are the addresses written into device.json; default the
	// listener's own address.
	Hubs []string
	// BundleDir receives the device's bundle.
	BundleDir string
	// Step bounds each wait for the device to act; default 2 minutes.
	Step time.Duration
	// Watch is how long the kit watches that a device does not do
	// something (retry a refused message, reconnect in a loop); default
	// 10 seconds.
	Watch time.Duration
	// RetryMS is the retry time told to the device; default 3000.
	RetryMS int
	// CertLife is the life of the bundle's first certificate, which the
	// device must renew; default 3 minutes.
	CertLife time.Duration
	// Only, if set, runs only the behaviours whose names contain one of
	// these words, after the first (connecting), which always runs.
	Only []string
	Log  *slog.Logger
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Step <= 0 {
		o.Step = 2 * time.Minute
	}
	if o.Watch <= 0 {
		o.Watch = 10 * time.Second
	}
	if o.RetryMS <= 0 {
		o.RetryMS = 3000
	}
	if o.CertLife <= 0 {
		o.CertLife = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Limits are what the kit tells the device: small, so that keeping to
// them shows.
func (k *Kit) limits() wire.Limits {
	return wire.Limits{Chunk: 4096, UploadWindow: 2, FetchWindow: 2, RetryMS: k.opt.RetryMS,
		MaxBytes: 2 << 20, MaxSeconds: 120, KeepaliveS: 30, Batch: true}
}

// Kit is a running conformance hub.
type Kit struct {
	opt    Options
	ca     *certs.CA
	device string // the device's ID
	key    any    // the bundle's public key, which a renewal must keep
	srv    *mqtt.Server
	ln     *listener
	events chan event

	hellos  atomic.Int64 // TLS handshakes begun
	expired atomic.Bool  // the kit's clock is past every certificate
	revoked atomic.Bool  // connections are refused after the handshake

	mu      sync.Mutex
	serials map[string]bool // certificates issued to the device
	serial  string          // the certificate of the device's connection
}

// event is one thing the device did.
type event struct {
	kind    string // an up/ kind, or connect, subscribe, disconnect
	payload []byte
	at      time.Time
}

const (
	evConnect    = "+connect"
	evSubscribe  = "+subscribe"
	evDisconnect = "+disconnect"
)

// New creates a household CA, writes the device's bundle, and starts
// listening.
func New(opt Options) (*Kit, error) {
	opt.defaults()
	now := time.Now()
	ca, _, err := certs.NewCA(now)
	if err != nil {
		return nil, err
	}
	k := &Kit{opt: opt, ca: ca, events: make(chan event, 4096), serials: map[string]bool{}}
	tcp, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("conformance: listen: %w", err)
	}
	if len(k.opt.Hubs) == 0 {
		k.opt.Hubs = []string{tcp.Addr().String()}
	}
	var names []string
	var ips []net.IP
	for _, h := range k.opt.Hubs {
		host, _, err := net.SplitHostPort(h)
		if err != nil {
			tcp.Close()
			return nil, fmt.Errorf("conformance: hub address %q: %w", h, err)
		}
		if ip := net.ParseIP(host); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, host)
		}
	}
	server, _, _, err := ca.IssueServer(names, ips, 24*time.Hour, now)
	if err != nil {
		tcp.Close()
		return nil, err
	}
	if err := k.writeBundle(now); err != nil {
		tcp.Close()
		return nil, err
	}
	cfg := certs.ServerTLS(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &server, nil }, ca.Pool(), nil)
	cfg.Time = k.clock
	cfg.SessionTicketsDisabled = true // every connection shows its certificate
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		k.hellos.Add(1)
		return nil, nil
	}
	k.srv = mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := k.srv.AddHook(&hook{k: k}, nil); err != nil {
		tcp.Close()
		return nil, err
	}
	k.ln = &listener{ln: tcp, cfg: cfg, srv: k.srv}
	if err := k.srv.AddListener(k.ln); err != nil {
		tcp.Close()
		return nil, err
	}
	if err := k.srv.Serve(); err != nil {
		tcp.Close()
		return nil, err
	}
	return k, nil
}

// writeBundle writes the device's bundle, with a certificate that lives
// CertLife.
func (k *Kit) writeBundle(now time.Time) error {
	key, err := certs.NewKey()
	if err != nil {
		return err
	}
	k.device = wire.NewDeviceID()
	k.key = &key.PublicKey
	iss, err := k.ca.IssueClient(&key.PublicKey, k.device, k.opt.CertLife, now)
	if err != nil {
		return err
	}
	k.serials[iss.Serial] = true
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return err
	}
	info := certs.DeviceInfo{DeviceID: k.device, Kind: "toy", Hub: k.opt.Hubs, CAFingerprint: k.ca.Fingerprint(), Protocol: wire.Version}
	return certs.WriteBundle(k.opt.BundleDir, info, k.ca.PEM, iss.PEM, keyPEM)
}

// Addr is the address the kit listens on.
func (k *Kit) Addr() string { return k.ln.ln.Addr().String() }

// DeviceID is the ID in the bundle.
func (k *Kit) DeviceID() string { return k.device }

// currentSerial is the certificate of the device's latest connection.
func (k *Kit) currentSerial() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.serial
}

// Close stops the kit.
func (k *Kit) Close() {
	_ = k.srv.Close()
}

// clock is the time the kit checks certificates at: now, or, once the
// certificates are to look expired, a year on.
func (k *Kit) clock() time.Time {
	if k.expired.Load() {
		return time.Now().Add(365 * 24 * time.Hour)
	}
	return time.Now()
}

// publish sends a message to the device's down/ topic.
func (k *Kit) publish(kind string, payload []byte) {
	_ = k.srv.Publish(wire.DownTopic(k.device, kind), payload, false, 0)
}

// drop ends the device's connection, as a lost network would.
func (k *Kit) drop() {
	if cl, ok := k.srv.Clients.Get(k.device); ok && !cl.Closed() {
		cl.Stop(errors.New("conformance: the kit dropped the connection"))
	}
}

func (k *Kit) record(kind string, payload []byte) {
	select {
	case k.events <- event{kind: kind, payload: payload, at: time.Now()}:
	default:
		k.opt.Log.Warn("Conformance event dropped", "kind", kind)
	}
}

// hook admits only the bundle's device, refuses it while revoked, and
// hands its requests to the kit.
type hook struct {
	mqtt.HookBase
	k *Kit
}

func (h *hook) ID() string { return "toyhub-conformance" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnSubscribed, mqtt.OnDisconnect:
		return true
	}
	return false
}

func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok || len(tc.ConnectionState().PeerCertificates) == 0 {
		return false
	}
	leaf := tc.ConnectionState().PeerCertificates[0]
	serial := certs.SerialString(leaf.SerialNumber)
	h.k.mu.Lock()
	known := h.k.serials[serial]
	if known {
		h.k.serial = serial
	}
	h.k.mu.Unlock()
	if !known || leaf.Subject.CommonName != h.k.device || pk.Connect.ClientIdentifier != h.k.device || h.k.revoked.Load() {
		h.k.opt.Log.Info("Conformance connection refused", "revoked", h.k.revoked.Load())
		return false
	}
	h.k.record(evConnect, []byte(serial))
	return true
}

func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	if write {
		return wire.MayPublish(cl.ID, topic)
	}
	return wire.MaySubscribe(cl.ID, topic)
}

func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if cl.Net.Inline {
		return
	}
	for _, f := range pk.Filters {
		if f.Filter == wire.DownFilter(cl.ID) {
			h.k.publish(wire.DownLimits, wire.Encode(h.k.limits()))
			h.k.record(evSubscribe, nil)
		}
	}
}

func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	dev, kind, ok := wire.ParseUpTopic(pk.TopicName)
	if !ok || dev != cl.ID {
		return pk, packets.ErrRejectPacket
	}
	h.k.record(kind, append([]byte(nil), pk.Payload...))
	return pk, packets.CodeSuccessIgnore
}

func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if !cl.Net.Inline {
		h.k.record(evDisconnect, nil)
	}
}

// listener completes each TLS handshake itself, under a deadline, before
// mochi sees the connection.
type listener struct {
	ln      net.Listener
	cfg     *tls.Config
	srv     *mqtt.Server
	closed  atomic.Bool
	mu      sync.Mutex // orders pending.Add against Close's Wait
	pending sync.WaitGroup
}

var _ listeners.Listener = (*listener)(nil)

func (l *listener) ID() string              { return "conformance" }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "mqtts" }
func (l *listener) Init(*slog.Logger) error { return nil }
func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed.Load() {
			l.mu.Unlock()
			conn.Close()
			return
		}
		l.pending.Add(1)
		l.mu.Unlock()
		go func() {
			tc := tls.Server(conn, l.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := tc.HandshakeContext(ctx)
			cancel()
			l.pending.Done()
			if err != nil {
				conn.Close()
				return
			}
			_ = establish(l.ID(), tc)
		}()
	}
}

// Close stops accepting, waits for handshakes in progress, and ends every
// client itself: mochi's own way (Clients.GetByListener) can deadlock when
// a client comes or goes meanwhile (mochi-mqtt/server#488).
func (l *listener) Close(listeners.CloseFn) {
	l.mu.Lock()
	l.closed.Store(true)
	l.mu.Unlock()
	l.ln.Close()
	l.pending.Wait()
	for _, cl := range l.srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			cl.Stop(errors.New("conformance: kit closing"))
		}
	}
}

// sameKey reports whether a renewal's CSR is for the bundle's key.
func (k *Kit) sameKey(csr *x509.CertificateRequest) bool {
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	pub, ok := csr.PublicKey.(equaler)
	return ok && pub.Equal(k.key)
}
