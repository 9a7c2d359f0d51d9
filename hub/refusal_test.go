package hub_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// foreignBundle is a device certificate for the same device ID, issued by
// some other CA: what an attacker with their own CA could make.
func foreignBundle(t *testing.T, b *certs.Bundle) tls.Certificate {
	t.Helper()
	other, _, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := certs.NewKey()
	iss, err := other.IssueClient(&key.PublicKey, b.Info.DeviceID, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert}
}

// TestConnectRefused: every way of connecting without being an enrolled,
// unrevoked device, under the device's own client ID, is refused, and
// each refusal is logged.
func TestConnectRefused(t *testing.T) {
	th := startHub(t)
	bunny := th.device("Bunny", "toy")
	bear := th.device("Bear", "toy")
	me := bunny.Info.DeviceID
	tests := []struct {
		name     string
		tls      func() *tls.Config
		clientID string
		log      string
	}{
		{"no client certificate", func() *tls.Config {
			return &tls.Config{RootCAs: bunny.Pool(), MinVersion: tls.VersionTLS12}
		}, me, "TLS handshake refused"},
		{"certificate from another CA", func() *tls.Config {
			cfg := certs.ClientTLS(bunny.Pool(), foreignBundle(t, bunny), "")
			// Go's client withholds a certificate the server's CA list
			// does not name; an attacker's client would send it anyway.
			foreign := cfg.Certificates[0]
			cfg.Certificates = nil
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
			return cfg
		}, me, "certificate signed by unknown authority"},
		{"client ID of another device", func() *tls.Config { return th.rawTLS(bunny) }, bear.Info.DeviceID, "client ID is not the device ID"},
		{"made-up client ID", func() *tls.Config { return th.rawTLS(bunny) }, "anything", "client ID is not the device ID"},
		{"empty client ID", func() *tls.Config { return th.rawTLS(bunny) }, "", "client ID is not the device ID"},
	}
	willTest := func(t *testing.T) {
		o := paho.NewClientOptions().AddBroker("tls://"+th.cfg.MQTTAddr).SetClientID(me).
			SetTLSConfig(th.rawTLS(bunny)).SetAutoReconnect(false).SetWill(wire.UpTopic(me, wire.UpSync), "{}", 1, false)
		c := paho.NewClient(o)
		if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			c.Disconnect(0)
			t.Fatal("connected with a will message")
		}
		th.waitLog(t, "will messages are not supported")
	}
	t.Run("will message", willTest)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := th.rawDial(tt.tls(), tt.clientID)
			if err == nil {
				// TLS 1.3 lets a client finish its side before the
				// server checks the certificate; the refusal arrives next.
				if tok := r.c.Subscribe(wire.DownFilter(me), 1, nil); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
					t.Fatal("connected and subscribed")
				}
			}
			th.waitLog(t, tt.log)
		})
	}
}

// TestTLSPolicy: TLS below 1.2 and non-AEAD suites are refused.
func TestTLSPolicy(t *testing.T) {
	th := startHub(t)
	bunny := th.device("Bunny", "toy")
	tests := []struct {
		name string
		mod  func(*tls.Config)
		ok   bool
	}{
		{"TLS 1.3", func(c *tls.Config) {}, true},
		{"TLS 1.2 AEAD", func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, true},
		{"TLS 1.1", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }, false},
		{"TLS 1.2 CBC", func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := th.rawTLS(bunny)
			tt.mod(cfg)
			c, err := tls.Dial("tcp", th.cfg.MQTTAddr, cfg)
			if err == nil {
				c.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("handshake error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestRevoked: revoking a connected device disconnects it at once, and it
// cannot connect again.
func TestRevoked(t *testing.T) {
	th := startHub(t)
	bunny := th.device("Bunny", "toy")
	th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	c := th.dial(bunny)
	th.revoke("bunny")
	select {
	case <-c.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a revoked device is still connected")
	}
	th.waitLog(t, "Device revoked")
	_, err := devices.Dial(context.Background(), bunny, th.opts())
	if !errors.Is(err, devices.ErrRefused) {
		t.Fatalf("revoked device reconnecting: %v", err)
	}
	th.waitLog(t, "device revoked")
	// Revocation cannot be undone by linking: the hub refuses.
	if err := call(th.cfg.DataDir, control.Link, control.LinkArgs{A: "Bunny", B: "Bear"}, nil); err == nil {
		t.Fatal("linked a revoked device")
	}
}

// TestTopicACL: a device may subscribe only under its own down/ prefix.
func TestTopicACL(t *testing.T) {
	th := startHub(t)
	bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
	me, other := bunny.Info.DeviceID, bear.Info.DeviceID
	r, err := th.rawDial(th.rawTLS(bunny), me)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		filter string
		ok     bool
	}{
		{wire.DownFilter(me), true},
		{wire.DownTopic(me, wire.DownAck), true},
		{"#", false},
		{"$SYS/#", false},
		{"$SYS/broker/clients/connected", false},
		{wire.DownFilter(other), false},
		{wire.DownTopic(other, wire.DownData), false},
		{wire.Prefix + "+/down/#", false},
		{wire.Prefix + "#", false},
		{wire.Prefix + me + "/up/#", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			code := r.subscribe(t, tt.filter)
			if (code < 0x80) != tt.ok {
				t.Fatalf("SUBACK %#x, want allowed=%v", code, tt.ok)
			}
		})
	}
	th.waitLog(t, "Topic refused")
}

// TestPublishRefused: a device that publishes under another device's
// topics is disconnected, and the other device sees nothing.
func TestPublishRefused(t *testing.T) {
	tests := []struct {
		name  string
		topic func(victim string) string
		body  []byte
	}{
		{"another device's upload", func(v string) string { return wire.UpTopic(v, wire.UpSync) }, []byte("{}")},
		{"another device's delivery", func(v string) string { return wire.DownTopic(v, wire.DownNotify) }, []byte(`{"id":"00000000000000000000000000000000"}`)},
		{"outside toyhub", func(string) string { return "home/lights" }, []byte("on")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := startHub(t)
			bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
			victim := th.dial(bear)
			r, err := th.rawDial(th.rawTLS(bunny), bunny.Info.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			tok := r.c.Publish(tt.topic(bear.Info.DeviceID), 1, false, tt.body)
			tok.WaitTimeout(5 * time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for r.c.IsConnectionOpen() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if r.c.IsConnectionOpen() {
				t.Fatal("still connected after publishing to a forbidden topic")
			}
			th.waitLog(t, "Topic refused")
			select {
			case n := <-victim.Notifications():
				t.Fatalf("the other device received %+v", n)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}

// TestUploadRefused: messages the hub must not accept, each with the
// error the sender sees.
func TestUploadRefused(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.MaxDuration = 5 * time.Second })
	bunny := th.device("Bunny", "toy")
	th.device("Bear", "toy")
	th.device("Stranger", "toy")
	th.link("Bunny", "Bear")
	a := th.dial(bunny)
	notWAV := make([]byte, 50_000)
	copy(notWAV, "OggS")
	tests := []struct {
		name string
		data []byte
		to   []string
		code string
	}{
		{"unlinked recipient", recording(1, 1), []string{"Stranger"}, wire.CodeNotContact},
		{"unknown recipient", recording(1, 1), []string{"Nobody"}, wire.CodeNotContact},
		{"not WAV", notWAV, nil, wire.CodeNotWAV},
		{"stereo", stereo(recording(1, 1)), nil, wire.CodeNotWAV},
		{"too large", wire.Tone(48000, 23*time.Second, 440, 1), nil, wire.CodeTooLarge},
		{"too long", wire.Tone(8000, 6*time.Second, 440, 1), nil, wire.CodeTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Send(context.Background(), wire.NewMessageID(), tt.data, tt.to)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tt.code {
				t.Fatalf("Send error = %v, want code %s", err, tt.code)
			}
			if we.Message == "" {
				t.Error("no explanation for people")
			}
		})
	}
	th.waitLog(t, "Request refused")
	if n, _ := th.dial(th.device("Observer", "family")).Sync(context.Background()); n != 0 {
		t.Fatalf("refused messages reached someone: %d", n)
	}
}

func stereo(wav []byte) []byte {
	b := append([]byte(nil), wav...)
	b[22] = 2
	return b
}

// TestChunkRefused: chunks that do not fit the header.
func TestChunkRefused(t *testing.T) {
	_, r, me := bunnyRaw(t)
	msg := recording(1, 3) // 32,044 bytes
	tests := []struct {
		name  string
		sum   []byte
		chunk func(id wire.MessageID) wire.Chunk
		code  string
	}{
		{"chunk beyond the declared size", nil, func(id wire.MessageID) wire.Chunk {
			return wire.Chunk{ID: id, Seq: 4, Offset: 4 * 8192, Data: msg[:100]}
		}, wire.CodeBeyondSize},
		{"chunk reaching past the end", nil, func(id wire.MessageID) wire.Chunk {
			return wire.Chunk{ID: id, Seq: 3, Offset: 3 * 8192, Data: make([]byte, 8192)}
		}, wire.CodeBeyondSize},
		{"chunk at the wrong offset", nil, func(id wire.MessageID) wire.Chunk {
			return wire.Chunk{ID: id, Seq: 0, Offset: 100, Data: msg[:8192]}
		}, wire.CodeBadChunk},
		{"short chunk", nil, func(id wire.MessageID) wire.Chunk {
			return wire.Chunk{ID: id, Seq: 0, Offset: 0, Data: msg[:100]}
		}, wire.CodeBadChunk},
		{"chunk of an unknown upload", nil, func(wire.MessageID) wire.Chunk {
			return wire.Chunk{ID: wire.NewMessageID(), Data: msg[:8192]}
		}, wire.CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)), SHA256: sha256.Sum256(msg), Chunk: 8192}
			r.publish(t, wire.UpTopic(me, wire.UpHeader), wire.Encode(h))
			if a := r.ack(t); a.Status != wire.StatusAccepted {
				t.Fatalf("header: %+v", a)
			}
			r.publish(t, wire.UpTopic(me, wire.UpChunk), wire.AppendChunk(nil, tt.chunk(h.ID)))
			a := r.ack(t)
			if a.Status != wire.StatusRejected || a.Error == nil || a.Error.Code != tt.code {
				t.Fatalf("ack %+v, want rejected %s", a, tt.code)
			}
			// The upload itself survives a bad chunk: it can still finish.
			if tt.code != wire.CodeUnknown {
				for seq := 0; seq < h.Chunks(); seq++ {
					end := min((seq+1)*8192, len(msg))
					r.publish(t, wire.UpTopic(me, wire.UpChunk), wire.AppendChunk(nil, wire.Chunk{ID: h.ID, Seq: uint32(seq), Offset: uint32(seq * 8192), Data: msg[seq*8192 : end]}))
					if a := r.ack(t); a.Status == wire.StatusRejected {
						t.Fatalf("good chunk %d after a bad one: %+v", seq, a)
					}
				}
			}
		})
	}

	// A whole message whose bytes differ from the declared hash.
	h := wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)), Chunk: wire.MaxChunk}
	r.publish(t, wire.UpTopic(me, wire.UpHeader), wire.Encode(h))
	r.ack(t)
	r.publish(t, wire.UpTopic(me, wire.UpChunk), wire.AppendChunk(nil, wire.Chunk{ID: h.ID, Data: msg}))
	if a := r.ack(t); a.Error == nil || a.Error.Code != wire.CodeHashMismatch {
		t.Fatalf("hash mismatch: %+v", a)
	}
	// Malformed requests get a clear error, not a disconnect.
	r.publish(t, wire.UpTopic(me, wire.UpHeader), []byte(`{"v":1,"surprise":true}`))
	if a := r.ack(t); a.Error == nil || a.Error.Code != wire.CodeBadRequest || !strings.Contains(a.Error.Message, "surprise") {
		t.Fatalf("bad JSON: %+v", a)
	}
	r.publish(t, wire.UpTopic(me, wire.UpChunk), []byte{9, 9, 9})
	if a := r.ack(t); a.Error == nil || a.Error.Code != wire.CodeBadRequest {
		t.Fatalf("bad frame: %+v", a)
	}
}

// TestReadAuthorization: only a message's recipients may fetch it or
// confirm it, decided on every request; knowing the message ID is not
// enough.
func TestReadAuthorization(t *testing.T) {
	th := startHub(t)
	bunny, bear, eve := th.device("Bunny", "toy"), th.device("Bear", "toy"), th.device("Eve", "family")
	th.link("Bunny", "Bear")
	th.link("Eve", "Bunny")
	id := wire.NewMessageID()
	msg := recording(2, 5)
	if err := th.dial(bunny).Send(context.Background(), id, msg, []string{"Bear"}); err != nil {
		t.Fatal(err)
	}
	e := th.dial(eve)
	ctx := context.Background()
	n := wire.Notify{ID: id, Size: int64(len(msg)), Chunk: wire.MaxChunk, SHA256: sha256.Sum256(msg)}
	_, err := e.Fetch(ctx, n)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeUnknown {
		t.Fatalf("Eve fetching Bear's message: %v", err)
	}
	if err := e.Played(ctx, id); !errors.As(err, &we) || we.Code != wire.CodeUnknown {
		t.Fatalf("Eve confirming Bear's message: %v", err)
	}
	// The sender cannot read it back either.
	if _, err := th.dial(bunny).Fetch(ctx, n); !errors.As(err, &we) {
		t.Fatalf("sender fetching its own message: %v", err)
	}
	th.waitLog(t, `request=fetch device=`+eve.Info.DeviceID)
	if got := receive(t, th.dial(bear), 1); len(got[id]) != len(msg) {
		t.Fatal("the recipient did not get the message")
	}
}
