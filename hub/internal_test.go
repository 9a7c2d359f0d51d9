package hub

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

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
