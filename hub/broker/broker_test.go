package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/toyhub/toyhub/wire"
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

// TestBrokerLimits: the limits that replace mochi's defaults.
func TestBrokerLimits(t *testing.T) {
	cfg := Config{MaxConnections: 2000, MaxChunk: wire.MaxChunk}
	caps := newServer(cfg, slog.New(slog.DiscardHandler)).Options.Capabilities
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
