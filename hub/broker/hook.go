package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// authHook decides, for every connection, subscription and publish, what
// a device may do. Identity comes only from the verified client
// certificate; the database decides whether that identity is still
// allowed.
type authHook struct {
	mqtt.HookBase
	b *Broker
}

func (k *authHook) ID() string { return "toyhub-auth" }

func (k *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPacketRead, mqtt.OnSubscribed,
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
	max := uint16(k.b.cfg.MaxKeepalive / time.Second)
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
		k.b.refused(remote)
		k.b.log.Warn("Connection refused", "reason", "no client certificate", "remote", remote)
		return false
	}
	if pk.Connect.ClientIdentifier != id {
		k.b.log.Warn("Connection refused", "reason", "client ID is not the device ID", "device", id, "remote", remote)
		return false
	}
	if pk.Connect.WillFlag {
		k.b.log.Warn("Connection refused", "reason", "will messages are not supported", "device", id, "remote", remote)
		return false
	}
	ctx, cancel := context.WithTimeout(k.b.ctx, 10*time.Second)
	defer cancel()
	// The query runs on a goroutine of its own. This one reads the toy's
	// connection for as long as it is connected, and a goroutine keeps the
	// stack it grew: SQLite's (transpiled C) would leave every idle toy
	// with tens of kilobytes.
	checked := make(chan error, 1)
	go func() { checked <- k.b.d.Store.CheckCertificate(ctx, serial, id) }()
	if err := <-checked; err != nil {
		k.b.refused(remote)
		k.b.log.Warn("Connection refused", "reason", err.Error(), "device", id, "remote", remote)
		return false
	}
	return true
}

func (k *authHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	k.b.log.Info("Device connected", "device", cl.ID, "remote", cl.Net.Remote)
	k.b.d.Store.Seen(cl.ID, k.b.cfg.Now())
	k.b.d.Live.Publish(cl.ID)
}

// OnSubscribed tells a device its limits once it listens on its down/
// prefix (wire.Limits).
func (k *authHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if cl.Net.Inline {
		return
	}
	for i, f := range pk.Filters {
		if f.Filter == wire.DownFilter(cl.ID) && i < len(codes) && codes[i] < 0x80 {
			k.b.router.send(cl.ID, wire.DownLimits, wire.Encode(k.b.router.limits()))
			return
		}
	}
}

func (k *authHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if cl.Net.Inline {
		return
	}
	k.b.router.disconnected(cl.ID)
	k.b.d.Live.Publish(cl.ID)
	attrs := []any{"device", cl.ID}
	if err != nil && !errors.Is(err, packets.CodeDisconnect) {
		attrs = append(attrs, "reason", err.Error())
	}
	k.b.log.Info("Device disconnected", attrs...)
}

// OnACLCheck enforces the topic rules of package wire: a device publishes
// only under its own up/ prefix and subscribes only under its own down/
// prefix. mochi calls it for every publish, every subscription filter,
// and every delivery to a subscriber.
func (k *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write && wire.MayPublish(cl.ID, topic) || !write && wire.MaySubscribe(cl.ID, topic) {
		return true
	}
	k.b.log.Warn("Topic refused", "device", cl.ID, "publish", write, "target", describeTopic(topic))
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
	k.b.router.handle(cl, dev, kind, pk.Payload)
	return pk, packets.CodeSuccessIgnore
}
