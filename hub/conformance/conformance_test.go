package conformance_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub/conformance"
	"github.com/toyhub/toyhub/wire"
)

// kit starts a conformance kit with short waits, for tests.
func kit(t *testing.T) (*conformance.Kit, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	k, err := conformance.New(conformance.Options{BundleDir: dir, Step: 15 * time.Second, Watch: 2 * time.Second,
		RetryMS: 1000, CertLife: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return k, dir
}

// agent is the project's own device, the toy agent, under test.
type agent struct {
	t             *testing.T
	bundle, inbox string
	outbox        string
	mu            sync.Mutex
	done          chan struct{} // closed when the running agent stops
	cancel        context.CancelFunc
	sent          int
}

func (a *agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil {
		select {
		case <-a.done:
		default:
			return nil // running
		}
	}
	b, err := certs.LoadBundle(a.bundle)
	if err != nil {
		return err
	}
	ctx, a.cancel = context.WithCancel(context.Background())
	done := make(chan struct{})
	a.done = done
	ag := &devices.Agent{Bundle: b, Outbox: a.outbox, Inbox: a.inbox, Poll: 200 * time.Millisecond, Resync: 2 * time.Second,
		Hold: 10 * time.Second, Options: devices.Options{Logger: logger(a.t)}}
	go func() {
		defer close(done)
		err := ag.Run(ctx)
		a.t.Logf("agent stopped: %v", err)
	}()
	return nil
}

// Send drops a recording into the outbox, as a child pressing the paw.
func (a *agent) Send(context.Context) error {
	a.mu.Lock()
	a.sent++
	name := filepath.Join(a.outbox, fmt.Sprintf("%03d.wav", a.sent))
	a.mu.Unlock()
	if err := os.WriteFile(name, wire.Tone(16000, 1200*time.Millisecond, 440, uint32(a.sent)), 0o600); err != nil {
		return err
	}
	old := time.Now().Add(-5 * time.Second) // settled: the agent sends it at once
	return os.Chtimes(name, old, old)
}

func (a *agent) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		a.cancel()
		<-a.done
	}
}

// TestConformanceAgent: the project's own device gets every behaviour
// right.
func TestConformanceAgent(t *testing.T) {
	t.Parallel()
	k, dir := kit(t)
	defer k.Close()
	dev := &agent{t: t, bundle: dir, inbox: t.TempDir(), outbox: t.TempDir()}
	defer dev.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rs := k.Run(ctx, dev)
	var b strings.Builder
	failed := conformance.Report(&b, rs)
	t.Log("\n" + b.String())
	if failed > 0 || len(rs) != len(conformance.Names()) {
		t.Fatalf("%d of %d behaviours wrong, %d checked", failed, len(conformance.Names()), len(rs))
	}
}

// TestConformanceFirstTry: a device written as a hurried first try is
// caught at each thing it gets wrong, and passes what it gets right.
func TestConformanceFirstTry(t *testing.T) {
	t.Parallel()
	k, dir := kit(t)
	defer k.Close()
	dev := &firstTry{t: t, dir: dir}
	defer dev.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rs := k.Run(ctx, dev)
	var b strings.Builder
	conformance.Report(&b, rs)
	t.Log("\n" + b.String())
	verdict := map[string]bool{}
	for _, r := range rs {
		verdict[r.Name] = r.Pass
	}
	for name, want := range map[string]bool{
		"connects and subscribes":                            true,
		"renews its certificate in time":                     true,
		"receives, ignoring a field it does not know":        false, // strict decoding drops the Notify
		"refuses bytes that do not match the SHA-256":        false, // plays without checking
		"waits out quiet hours without polling":              false, // polls
		"says it heard each receipt":                         false, // never says heard
		"sends, keeping to the limits it was told":           false, // 16 KiB chunks, all at once
		"ignores an answer to an earlier attempt":            false, // trusts any Next
		"refusal not_contact: gives the message up":          false, // retries everything at once
		"refusal bad_header: gives the message up":           false,
		"refusal out_of_order: goes on from next":            false, // stalls: it knows only hash_mismatch
		"refusal unknown: forgets a message it cannot fetch": true,
		"refusal limit: keeps the message for later":         false,
		"stops when its certificate has expired":             false, // reconnects in a loop
		"stops when it is revoked":                           false,
		"resumes an upload after a dropped connection":       false, // forgets the upload
		"refusal id_in_use: sends again under a new ID":      false,
		"resumes a fetch after a dropped connection":         true,
		"refusal hash_mismatch: starts again from chunk 0":   true,
	} {
		got, ran := verdict[name]
		if !ran {
			t.Errorf("%q was not checked", name)
		} else if got != want {
			t.Errorf("%q: pass = %v, want %v", name, got, want)
		}
	}
}

// firstTry is a device as a hurried firmware author might first write it:
// it reads every message strictly, sends 16 KiB chunks all at once and
// trusts any answer's next, plays what it fetched without checking it,
// never says it heard a receipt, repeats every refused header at once,
// polls during quiet hours, and reconnects in a tight loop whatever the
// hub said. It does renew its certificate, so that it stays connected.
type firstTry struct {
	runner
	link
	t   *testing.T
	dir string

	mu   sync.Mutex
	up   map[wire.MessageID]*naiveUpload
	in   map[wire.MessageID]*naiveFetch
	seed uint32
}

type naiveUpload struct {
	h       wire.Header
	wav     []byte
	retries int
}

type naiveFetch struct {
	n    wire.Notify
	data []byte
	have int64
}

func (f *firstTry) Start(context.Context) error {
	f.start(func() {
		f.mu.Lock()
		f.up, f.in = map[wire.MessageID]*naiveUpload{}, map[wire.MessageID]*naiveFetch{}
		f.mu.Unlock()
	}, f.loop)
	return nil
}

// runner runs a hand-written device's loop from its first Start until
// stop.
type runner struct {
	mu            sync.Mutex
	running       bool
	quit, stopped chan struct{}
}

// start runs first, then loop in a goroutine, unless it runs already.
func (r *runner) start(first, loop func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return
	}
	r.running = true
	r.quit, r.stopped = make(chan struct{}), make(chan struct{})
	first()
	go func() {
		defer close(r.stopped)
		loop()
	}()
}

func (r *runner) stop() {
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	if running {
		close(r.quit)
		<-r.stopped
	}
}

// loop connects, and connects again 50 ms after any failure or loss.
func (f *firstTry) loop() {
	for {
		select {
		case <-f.quit:
			return
		case <-time.After(50 * time.Millisecond):
		}
		var (
			b *certs.Bundle
			c paho.Client
		)
		lost, ok := dial(f.dir, func(pc paho.Client, pb *certs.Bundle) {
			b, c = pb, pc
			f.set(c, b.Info.DeviceID)
		}, f.dispatch)
		if !ok {
			continue
		}
		f.pub(wire.UpSync, []byte("{}"))
		renewed := false
		tick := time.NewTicker(500 * time.Millisecond)
	serve:
		for {
			select {
			case <-tick.C:
				if !renewed && time.Now().After(devices.RenewalDue(b)) {
					renewed = true
					csr, _ := certs.NewCSR(b.Cert.PrivateKey.(*ecdsa.PrivateKey))
					f.pub(wire.UpRenew, wire.Encode(wire.Renew{CSR: string(csr)}))
				}
			case <-lost:
				break serve
			case <-f.quit:
				tick.Stop()
				c.Disconnect(0)
				return
			}
		}
		tick.Stop()
	}
}

// dial connects a hand-written device with the bundle in dir, without
// paho's own reconnection, calls connected, and subscribes the device to
// its down topics, each message to handle. lost is closed when the
// connection ends. Handlers publish, and paho handles a lost connection
// only once the handler returns: with paho's default write timeout, a
// publish caught by the kit's drop held the handler, and so the
// reconnection, for 30 s (under -race in a full run: "0 connection
// attempts" where firstTry hammers); so a publish gives up after 200 ms.
func dial(dir string, connected func(paho.Client, *certs.Bundle), handle func(*certs.Bundle, paho.Message)) (lost chan struct{}, ok bool) {
	b, err := certs.LoadBundle(dir)
	if err != nil {
		return nil, false
	}
	lost = make(chan struct{})
	o := paho.NewClientOptions().AddBroker("tls://" + b.Info.Hub[0]).SetClientID(b.Info.DeviceID).
		SetTLSConfig(certs.ClientTLS(b.Pool(), b.Cert, "")).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second).
		SetWriteTimeout(200 * time.Millisecond).
		SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		return nil, false
	}
	connected(c, b)
	c.Subscribe(wire.DownFilter(b.Info.DeviceID), 1, func(_ paho.Client, m paho.Message) { handle(b, m) }).WaitTimeout(3 * time.Second)
	return lost, true
}

// link is a hand-written device's connection, once dial has made it.
type link struct {
	mu sync.Mutex
	c  paho.Client
	id string
}

func (l *link) set(c paho.Client, id string) {
	l.mu.Lock()
	l.c, l.id = c, id
	l.mu.Unlock()
}

func (l *link) client() paho.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c
}

// pub publishes to the device's up topic kind, once connected.
func (l *link) pub(kind string, payload []byte) {
	l.mu.Lock()
	c, id := l.c, l.id
	l.mu.Unlock()
	if c != nil {
		c.Publish(wire.UpTopic(id, kind), 1, false, payload)
	}
}

// Send records a message and publishes its header.
func (f *firstTry) Send(context.Context) error {
	f.mu.Lock()
	f.seed++
	wav := wire.Tone(16000, 1200*time.Millisecond, 440, 100+f.seed)
	u := &naiveUpload{wav: wav, h: wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(wav)),
		SHA256: sha256.Sum256(wav), Chunk: 16384}}
	f.up[u.h.ID] = u
	f.mu.Unlock()
	f.pub(wire.UpHeader, wire.Encode(u.h))
	return nil
}

func (f *firstTry) chunk(u *naiveUpload, seq int) {
	start := seq * u.h.Chunk
	if seq < 0 || start >= len(u.wav) {
		return
	}
	end := min(start+u.h.Chunk, len(u.wav))
	f.pub(wire.UpChunk, wire.AppendChunk(nil, wire.Chunk{ID: u.h.ID, Seq: uint32(seq), Offset: uint32(start), Data: u.wav[start:end]}))
}

func (f *firstTry) dispatch(b *certs.Bundle, m paho.Message) {
	kind := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
	p := m.Payload()
	switch kind {
	case wire.DownAck:
		var a wire.Ack
		if wire.Decode(p, &a) != nil {
			return
		}
		f.mu.Lock()
		u := f.up[a.ID]
		fe := f.in[a.ID]
		f.mu.Unlock()
		switch {
		case u != nil && a.Status == wire.StatusAccepted:
			f.chunk(u, a.Next)
		case u != nil && a.Op == wire.OpHeader && a.Status == wire.StatusRejected && u.retries < 3:
			u.retries++
			f.pub(wire.UpHeader, wire.Encode(u.h)) // at once, same ID
		case u != nil && a.Op == wire.OpChunk && a.Status == wire.StatusStored:
			f.chunk(u, a.Next) // trusts whatever next it is told
		case u != nil && a.Op == wire.OpChunk && a.Status == wire.StatusRejected && a.Error.Code == wire.CodeHashMismatch:
			f.pub(wire.UpHeader, wire.Encode(u.h))
		case fe != nil && a.Status == wire.StatusRejected && a.Error.Code == wire.CodeQuiet:
			time.AfterFunc(100*time.Millisecond, func() { f.pub(wire.UpFetch, wire.Encode(wire.Fetch{ID: a.ID, Offset: 0})) })
		}
	case wire.DownNotify:
		var n wire.Notify
		if wire.Decode(p, &n) != nil { // strict: a field it does not know drops the Notify
			return
		}
		f.mu.Lock()
		f.in[n.ID] = &naiveFetch{n: n, data: make([]byte, n.Size)}
		f.mu.Unlock()
		for off := int64(0); off < n.Size; off += int64(n.Chunk) {
			f.pub(wire.UpFetch, wire.Encode(wire.Fetch{ID: n.ID, Offset: off}))
		}
	case wire.DownData:
		c, err := wire.DecodeChunk(p)
		if err != nil {
			return
		}
		f.mu.Lock()
		fe := f.in[c.ID]
		done := false
		if fe != nil && int64(c.Offset)+int64(len(c.Data)) <= fe.n.Size {
			copy(fe.data[c.Offset:], c.Data)
			fe.have += int64(len(c.Data))
			done = fe.have >= fe.n.Size
		}
		f.mu.Unlock()
		if done { // no SHA-256 check
			f.pub(wire.UpPlayed, wire.Encode(wire.Played{ID: c.ID}))
		}
	case wire.DownCert:
		var cert wire.Certificate
		if wire.Decode(p, &cert) == nil {
			_ = certs.WriteFileAtomic(filepath.Join(b.Dir, certs.BundleCert), []byte(cert.Cert), 0o644)
		}
	}
}

// logger writes to the test's log when CONFORMANCE_LOG is set.
func logger(t *testing.T) *slog.Logger {
	if os.Getenv("CONFORMANCE_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
