package hub

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/store"
)

func TestServerCertRenewal(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Now = func() time.Time { return now }
	if err := store.EnsureDir(cfg.keysDir()); err != nil {
		t.Fatal(err)
	}
	ca, _, err := certs.NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"pi", "pi.local", "localhost"}
	ips := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("127.0.0.1")}
	sc := &serverCert{cfg: cfg, ca: ca, log: slog.New(slog.DiscardHandler), now: cfg.Now,
		want: func() ([]string, []netip.Addr) { return names, ips }}
	serial := func() string { return sc.cur.Load().Leaf.SerialNumber.String() }

	tests := []struct {
		name   string
		change func()
		renew  bool
	}{
		{"first start", func() {}, true},
		{"nothing changed", func() {}, false},
		{"two thirds of its life left", func() { now = now.Add(59 * 24 * time.Hour) }, false},
		{"less than a third left", func() { now = now.Add(2 * 24 * time.Hour) }, true},
		{"new LAN address", func() { ips = []netip.Addr{netip.MustParseAddr("192.168.1.99"), netip.MustParseAddr("127.0.0.1")} }, true},
		{"new host name", func() { names = []string{"toyhub", "toyhub.local", "localhost"} }, true},
		{"steady again", func() {}, false},
	}
	last := ""
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			if err := sc.renewIfNeeded(); err != nil {
				t.Fatal(err)
			}
			if renewed := serial() != last; renewed != tt.renew {
				t.Fatalf("renewed = %v, want %v", renewed, tt.renew)
			}
			last = serial()
			leaf := sc.cur.Load().Leaf
			for _, n := range names {
				if leaf.VerifyHostname(n) != nil {
					t.Errorf("certificate does not cover %s", n)
				}
			}
			for _, ip := range ips {
				if leaf.VerifyHostname(ip.String()) != nil {
					t.Errorf("certificate does not cover %s", ip)
				}
			}
		})
	}
	// The renewed certificate is on disk, so a restart keeps it.
	c, err := newServerCert(cfg, ca, slog.New(slog.DiscardHandler), sc.want)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.cur.Load().Leaf.SerialNumber.String(); got != last {
		t.Fatalf("after a restart the hub issued %s instead of keeping %s", got, last)
	}
}

func TestRedactHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redactHandler{slog.NewTextHandler(&buf, nil)})
	log.Warn("error processing packet", "client", "abc", "pk", "RIFF-secret-audio", "packet", "more-audio", "error", "boom")
	out := buf.String()
	if strings.Contains(out, "secret-audio") || strings.Contains(out, "more-audio") {
		t.Fatalf("packet contents logged: %s", out)
	}
	if !strings.Contains(out, "client=abc") || !strings.Contains(out, "error=boom") {
		t.Fatalf("useful attributes dropped: %s", out)
	}
}

func TestAdvertised(t *testing.T) {
	cfg := Defaults()
	tests := []struct {
		name  string
		hosts []string
		bound string
		want  string
	}{
		{"bound to one address", nil, "127.0.0.1:8883", "127.0.0.1:8883"},
		{"configured", []string{"pi.local:8883"}, "0.0.0.0:8883", "pi.local:8883"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg.AdvertiseHosts = tt.hosts
			if got := advertised(cfg, tt.bound); strings.Join(got, ",") != tt.want {
				t.Fatalf("advertised = %v, want %s", got, tt.want)
			}
		})
	}
	cfg.AdvertiseHosts = nil
	all := advertised(cfg, "[::]:8883")
	if len(all) < 2 || all[len(all)-1] != "127.0.0.1:8883" || !strings.HasSuffix(all[len(all)-2], ".local:8883") {
		t.Fatalf("wildcard bind: %v", all)
	}
	for _, v := range []string{"docker0", "br-1234", "veth9", "wg0"} {
		if !isVirtual(v) {
			t.Errorf("%s not treated as virtual", v)
		}
	}
	if isVirtual("eth0") || isVirtual("wlan0") {
		t.Error("a LAN interface treated as virtual")
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data directory"},
		{"bad address", func(c *Config) { c.MQTTAddr = "8883" }, "mqtt address"},
		{"huge chunk", func(c *Config) { c.MaxChunk = 1 << 20 }, "max chunk"},
		{"long certificates", func(c *Config) { c.DeviceCertValidity = 365 * 24 * time.Hour }, "device certificate validity"},
		{"no keepalive", func(c *Config) { c.MaxKeepalive = 0 }, "keepalive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mod(&c)
			err := c.Check()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Check() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBrokerLimits: the limits that replace mochi's defaults.
func TestBrokerLimits(t *testing.T) {
	cfg := Defaults()
	caps := newBroker(cfg, slog.New(slog.DiscardHandler)).Options.Capabilities
	if caps.MaximumPacketSize == 0 || caps.MaximumPacketSize > 64*1024 {
		t.Errorf("maximum packet size %d", caps.MaximumPacketSize)
	}
	if caps.MaximumClientWritesPending > 1024 || caps.MaximumInflight > 1024 || caps.ReceiveMaximum > 1024 {
		t.Errorf("queues: writes %d, inflight %d, receive %d", caps.MaximumClientWritesPending, caps.MaximumInflight, caps.ReceiveMaximum)
	}
	if caps.MaximumMessageExpiryInterval == 0 || caps.MaximumSessionExpiryInterval > 3600 {
		t.Errorf("expiry: messages %d, sessions %d", caps.MaximumMessageExpiryInterval, caps.MaximumSessionExpiryInterval)
	}
	if caps.RetainAvailable != 0 || caps.MaximumQos > 1 {
		t.Errorf("retain %d, qos %d", caps.RetainAvailable, caps.MaximumQos)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Now()
	l := newLimiter(2, 3, time.Minute)
	steps := []struct {
		name    string
		source  string
		fail    bool
		at      time.Duration
		allowed bool
	}{
		{"first try", "a", true, 0, true},
		{"second try", "a", true, 0, true},
		{"per source", "a", false, 0, false},
		{"another source", "b", true, 0, true},
		{"global", "c", false, 0, false},
		{"window passed", "a", false, 2 * time.Minute, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := l.allowed(s.source, now.Add(s.at)); got != s.allowed {
				t.Fatalf("allowed = %v, want %v", got, s.allowed)
			}
			if s.fail {
				l.failed(s.source, now.Add(s.at))
			}
		})
	}
}

func TestEnrollAddresses(t *testing.T) {
	cfg := Defaults()
	if got := enrollAddresses(cfg, "127.0.0.1:8884"); strings.Join(got, ",") != "127.0.0.1:8884" {
		t.Fatalf("without a public address: %v", got)
	}
	cfg.PublicAddress = "home.example.net:8884"
	if got := enrollAddresses(cfg, "127.0.0.1:8884"); strings.Join(got, ",") != "127.0.0.1:8884,home.example.net:8884" {
		t.Fatalf("with a public address: %v", got)
	}
}
