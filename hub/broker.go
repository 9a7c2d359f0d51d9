package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// newBroker builds the embedded MQTT broker with explicit limits instead of
// mochi's defaults, which are sized for a data centre (8,192 queued writes
// and 8,192 inflight messages per client, no packet size limit, sessions
// kept forever).
func newBroker(cfg Config, log *slog.Logger) *mqtt.Server {
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

// authHook decides, for every connection, subscription and publish, what
// a device may do. Identity comes only from the verified client
// certificate; the database decides whether that identity is still
// allowed.
type authHook struct {
	mqtt.HookBase
	h *Hub
}

func (k *authHook) ID() string { return "toyhub-auth" }

func (k *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPacketRead,
	}, []byte{b})
}

// peer returns the device ID and certificate serial of a client.
func peer(cl *mqtt.Client) (id, serial string, ok bool) {
	tc, isTLS := cl.Net.Conn.(interface{ ConnectionState() tls.ConnectionState })
	if !isTLS {
		return "", "", false
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return "", "", false
	}
	leaf := st.PeerCertificates[0]
	return leaf.Subject.CommonName, certs.SerialString(leaf.SerialNumber), true
}

// OnPacketRead applies the per-connection packet rate: a device sending
// more packets than any toy would (a flood of tiny ones costs CPU out of
// proportion to its bytes) is read more slowly. It runs on the device's
// own reading goroutine, so no one else waits.
func (k *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if ac, ok := cl.Net.Conn.(*attachedConn); ok {
		ac.packets.Wait(1)
	}
	return pk, nil
}

// OnConnect bounds the keepalive: a client asking for none (or hours)
// would otherwise hold its socket with no deadline at all.
func (k *authHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	max := uint16(k.h.cfg.MaxKeepalive / time.Second)
	if cl.State.Keepalive == 0 || cl.State.Keepalive > max {
		cl.State.Keepalive = max
		cl.State.ServerKeepalive = true
	}
	return nil
}

func (k *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	remote := cl.Net.Remote
	id, serial, ok := peer(cl)
	if !ok {
		k.h.refused(remote)
		k.h.metrics.HandshakeRefused()
		k.h.log.Warn("Connection refused", "reason", "no client certificate", "remote", remote)
		return false
	}
	if pk.Connect.ClientIdentifier != id {
		k.h.log.Warn("Connection refused", "reason", "client ID is not the device ID", "device", id, "remote", remote)
		return false
	}
	if pk.Connect.WillFlag {
		k.h.log.Warn("Connection refused", "reason", "will messages are not supported", "device", id, "remote", remote)
		return false
	}
	ctx, cancel := context.WithTimeout(k.h.ctx, 10*time.Second)
	defer cancel()
	// The query runs on a goroutine of its own. This one reads the toy's
	// connection for as long as it is connected, and a goroutine keeps the
	// stack it grew: SQLite's (transpiled C) would leave every idle toy
	// with tens of kilobytes.
	checked := make(chan error, 1)
	go func() { checked <- k.h.store.CheckCertificate(ctx, serial, id) }()
	if err := <-checked; err != nil {
		k.h.refused(remote)
		k.h.metrics.HandshakeRefused()
		k.h.log.Warn("Connection refused", "reason", err.Error(), "device", id, "remote", remote)
		return false
	}
	return true
}

func (k *authHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	k.h.log.Info("Device connected", "device", cl.ID, "remote", cl.Net.Remote)
	k.h.store.Seen(cl.ID, k.h.cfg.Now())
	k.h.changes.Publish(cl.ID)
}

func (k *authHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if cl.Net.Inline {
		return
	}
	k.h.router.disconnected(cl.ID)
	k.h.changes.Publish(cl.ID)
	attrs := []any{"device", cl.ID}
	if err != nil && !errors.Is(err, packets.CodeDisconnect) {
		attrs = append(attrs, "reason", err.Error())
	}
	k.h.log.Info("Device disconnected", attrs...)
}

// OnACLCheck enforces the topic rules of package wire: a device publishes
// only under its own up/ prefix and subscribes only under its own down/
// prefix. mochi calls it for every publish, every subscription filter,
// and every delivery to a subscriber.
func (k *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write && wire.MayPublish(cl.ID, topic) || !write && wire.MaySubscribe(cl.ID, topic) {
		return true
	}
	k.h.log.Warn("Topic refused", "device", cl.ID, "publish", write, "target", describeTopic(topic))
	return false
}

// describeTopic summarises a refused topic for the log without copying
// arbitrary client-supplied text into it.
func describeTopic(topic string) string {
	switch topic {
	case "#", "+", "$SYS/#":
		return topic
	}
	if len(topic) > 0 && topic[0] == '$' {
		return "$-topic"
	}
	if rest, ok := bytes.CutPrefix([]byte(topic), []byte(wire.Prefix)); ok {
		if len(rest) >= wire.DeviceIDLen && wire.ValidDeviceID(string(rest[:wire.DeviceIDLen])) {
			return "device " + string(rest[:wire.DeviceIDLen])
		}
		return "toyhub wildcard or malformed"
	}
	return "outside toyhub"
}

// OnPublish hands device requests to the router. The packet is then
// acknowledged (PUBACK) but not routed to any subscriber: requests are for
// the hub alone.
func (k *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	dev, kind, ok := wire.ParseUpTopic(pk.TopicName)
	if !ok || dev != cl.ID {
		// OnACLCheck has refused these already; this is a second fence.
		return pk, packets.ErrRejectPacket
	}
	k.h.router.handle(cl, dev, kind, pk.Payload)
	return pk, packets.CodeSuccessIgnore
}
