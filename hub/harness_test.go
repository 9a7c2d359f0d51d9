package hub_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// syncBuffer collects a hub's log for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testHub is a real hub on loopback: real TLS, real SQLite, real MQTT.
type testHub struct {
	t    testing.TB
	cfg  hub.Config
	h    *hub.Hub
	logs *syncBuffer
	dir  string
}

func startHub(t testing.TB, mods ...func(*hub.Config)) *testHub {
	t.Helper()
	dir := t.TempDir()
	cfg := hub.Defaults()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.MQTTAddr = "127.0.0.1:0"
	cfg.EnrollAddr = "127.0.0.1:0"
	cfg.WebAddr = ""
	// Never multicast on this machine's LAN: discovery is tested in
	// network namespaces only.
	cfg.Discovery = false
	cfg.HandshakeTimeout = 5 * time.Second
	// Tests run the security self-check when they mean to, not on a timer.
	cfg.AuditEvery, cfg.AuditAfterChange = 0, 0
	cfg.MetricsAddr = "127.0.0.1:0"
	// Tests send far faster than a toy; TestRateLimits sets its own.
	cfg.MaxMessagesPerMinute, cfg.MaxBytesPerDay = 100000, 1<<40
	// Nor per-connection or per-address limits: the abuse tests set them.
	cfg.MaxConnBytesPerSecond, cfg.MaxConnPacketsPerSecond, cfg.MaxPerSource, cfg.EnrollPerSource = 0, 0, 100000, 100000
	logs := &syncBuffer{}
	var out io.Writer = logs
	if testing.Verbose() {
		out = io.MultiWriter(logs, os.Stderr)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, m := range mods {
		m(&cfg)
	}
	th := &testHub{t: t, cfg: cfg, logs: logs, dir: dir}
	th.start()
	t.Cleanup(th.stop)
	return th
}

func (th *testHub) start() {
	th.t.Helper()
	h, err := hub.New(th.cfg)
	if err != nil {
		th.t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		th.t.Fatal(err)
	}
	th.h = h
	// A restart binds the same ports, so bundles and invites stay valid.
	th.cfg.MQTTAddr = h.MQTTAddr()
	th.cfg.EnrollAddr = h.EnrollAddr()
}

func (th *testHub) stop() {
	if th.h != nil {
		th.undeclaredKinds()
		if err := th.h.Close(); err != nil {
			th.t.Error(err)
		}
		th.h = nil
	}
}

// undeclaredKinds fails the test if the hub wrote an audit event whose
// kind store/events.go does not declare (TestEventKindsDeclared checks the
// code; this checks what the code did).
func (th *testHub) undeclaredKinds() {
	var events []control.Event
	if err := call(th.cfg.DataDir, control.AuditList, control.CountArgs{Count: 10000}, &events); err != nil {
		return // stopped or wiped by the test itself
	}
	for _, e := range events {
		if !store.EventKind(e.Kind).Declared() {
			th.t.Errorf("the hub wrote an audit event of kind %q, which store/events.go does not declare", e.Kind)
		}
	}
}

func (th *testHub) restart() {
	th.t.Helper()
	th.stop()
	th.start()
}

// device enrolls a device through the control socket, as the CLI does.
func (th *testHub) device(name string, kind string) *certs.Bundle {
	th.t.Helper()
	out := filepath.Join(th.dir, "bundles", strings.ReplaceAll(strings.ToLower(name), " ", "-"))
	if _, err := control.AddDeviceBundle(th.cfg.DataDir, name, kind, out); err != nil {
		th.t.Fatal(err)
	}
	b, err := certs.LoadBundle(out)
	if err != nil {
		th.t.Fatal(err)
	}
	return b
}

func (th *testHub) link(a, b string) {
	th.t.Helper()
	if err := call(th.cfg.DataDir, control.Link, control.LinkArgs{A: a, B: b}, nil); err != nil {
		th.t.Fatal(err)
	}
}

func (th *testHub) revoke(name string) {
	th.t.Helper()
	if err := call(th.cfg.DataDir, control.DeviceRevoke, control.NameArgs{Name: name}, nil); err != nil {
		th.t.Fatal(err)
	}
}

func (th *testHub) opts() devices.Options {
	return devices.Options{Timeout: 5 * time.Second, Logger: th.cfg.Logger.With("side", "device")}
}

func (th *testHub) dial(b *certs.Bundle) *devices.Client {
	th.t.Helper()
	c, err := devices.Dial(context.Background(), b, th.opts())
	if err != nil {
		th.t.Fatal(err)
	}
	th.t.Cleanup(c.Close)
	return c
}

// waitLog waits for a line in the hub's log.
func (th *testHub) waitLog(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(th.logs.String(), substr) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("hub never logged %q; log:\n%s", substr, th.logs.String())
}

// receive waits for n messages on c and returns them by message ID.
func receive(t *testing.T, c *devices.Client, n int) map[wire.MessageID][]byte {
	t.Helper()
	dir := t.TempDir()
	got := map[wire.MessageID][]byte{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Receive(ctx, devices.Inbox{Dir: dir, Resync: time.Second, Done: func(r devices.Received) bool {
		b, err := os.ReadFile(r.Path)
		if err != nil {
			t.Error(err)
		}
		got[r.ID] = b
		return len(got) >= n
	}})
	if err != nil {
		t.Fatalf("receive %d messages: %v (got %d)", n, err, len(got))
	}
	return got
}

func recording(seconds float64, seed uint32) []byte {
	return wire.Tone(16000, time.Duration(seconds*float64(time.Second)), 440, seed)
}

// rawClient is a bare paho client with a bundle's certificate, for tests
// that step outside what the device client would do.
type rawClient struct {
	c  paho.Client
	in chan paho.Message
}

func (th *testHub) rawTLS(b *certs.Bundle) *tls.Config {
	return certs.ClientTLS(b.Pool(), b.Cert, "")
}

func (th *testHub) rawDial(tlsCfg *tls.Config, clientID string) (*rawClient, error) {
	r := &rawClient{in: make(chan paho.Message, 256)}
	o := paho.NewClientOptions().AddBroker("tls://" + th.cfg.MQTTAddr).SetClientID(clientID).
		SetTLSConfig(tlsCfg).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { r.in <- m })
	r.c = paho.NewClient(o)
	tok := r.c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	th.t.Cleanup(func() { r.c.Disconnect(0) })
	return r, nil
}

func (r *rawClient) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	tok := r.c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (r *rawClient) publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	tok := r.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// next waits for the next message on a down/<kind> topic.
func (r *rawClient) next(t *testing.T, kind string) []byte {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-r.in:
			if strings.HasSuffix(m.Topic(), "/down/"+kind) {
				return m.Payload()
			}
		case <-timeout:
			t.Fatalf("no %s message", kind)
		}
	}
}

func (r *rawClient) ack(t *testing.T) wire.Ack {
	t.Helper()
	var a wire.Ack
	if err := wire.Decode(r.next(t, wire.DownAck), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// needTool skips when an external program is missing, unless CI is set.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI (install it in .ci/run): %v", name, err)
		}
		t.Skipf("%s not installed (Debian: apt-get install mosquitto-clients); skipping", name)
	}
	return p
}

// call runs a control operation against the hub serving dir, shaped as the
// tests check it: the result, if wanted, into res.
func call[A, R any](dir string, op control.Op[A, R], a A, res *R) error {
	r, err := op.Call(dir, a)
	if res != nil {
		*res = r
	}
	return err
}
