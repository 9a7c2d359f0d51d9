package hub_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/internal/rawmqtt"
	"github.com/toyhub/toyhub/wire"
)

// The attacks of issue 8, each against a hub with its default limits,
// while a toy and a grandparent exchange messages. What must hold: the
// exchange goes on, the attacker is slowed, refused or cut off, and the
// log stays readable. How long the victim's round trip takes under each
// attack is measured by 'toybench --mode abuse', not asserted here.

// victim is a toy and a family device that exchange messages.
type victim struct {
	th            *testHub
	teddy, gran   *devices.Client
	teddyB, granB *certs.Bundle
}

func newVictim(th *testHub) *victim {
	v := &victim{th: th, teddyB: th.device("Teddy", "toy"), granB: th.device("Grandma", "family")}
	th.link("Teddy", "Grandma")
	v.teddy, v.gran = th.dial(v.teddyB), th.dial(v.granB)
	return v
}

// roundTrip sends a message from the toy and waits until Grandma holds it.
func (v *victim) roundTrip(t *testing.T, seed uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, wav := wire.NewMessageID(), recording(1, seed)
	if err := v.teddy.Send(ctx, id, wav, nil); err != nil {
		t.Fatalf("the toy could not send during the attack: %v", err)
	}
	for {
		select {
		case n := <-v.gran.Notifications():
			if n.ID != id {
				continue
			}
			got, err := v.gran.Fetch(ctx, n)
			if err != nil || !bytes.Equal(got, wav) {
				t.Fatalf("Grandma could not fetch during the attack: %v", err)
			}
			return
		case <-ctx.Done():
			t.Fatal("Grandma was not told of the message during the attack")
		}
	}
}

// rawMQTT opens a TLS connection with a device's certificate, from src (a
// loopback address, so that each attacker has an address of its own).
func rawMQTT(t *testing.T, th *testHub, b *certs.Bundle, src string) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := tls.DialWithDialer(d, "tcp", th.cfg.MQTTAddr, certs.ClientTLS(b.Pool(), b.Cert, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByHub reports whether the hub closes c within d.
func closedByHub(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func withDefaultLimits(c *hub.Config) {
	d := hub.Defaults()
	c.MaxConnBytesPerSecond, c.MaxConnPacketsPerSecond, c.MaxPerSource = d.MaxConnBytesPerSecond, d.MaxConnPacketsPerSecond, d.MaxPerSource
}

// TestChunkFlood: a toy that floods chunks as fast as its connection goes
// is read at the per-connection rate, and everyone else carries on.
func TestChunkFlood(t *testing.T) {
	th := startHub(t, withDefaultLimits)
	v := newVictim(th)
	mallory := th.device("Mallory", "toy")
	c := rawMQTT(t, th, mallory, "127.0.0.2")
	if _, err := c.Write(rawmqtt.Connect(mallory.Info.DeviceID)); err != nil {
		t.Fatal(err)
	}
	// Chunks of an upload that was never started: the hub must read,
	// parse and refuse each one.
	frame := wire.AppendChunk(nil, wire.Chunk{ID: wire.NewMessageID(), Data: make([]byte, 16<<10)})
	pkt := rawmqtt.Publish(wire.UpTopic(mallory.Info.DeviceID, wire.UpChunk), frame)
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			n, err := c.Write(pkt)
			sent.Add(int64(n))
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
				return
			}
		}
	})
	flood := 4 * time.Second
	start := time.Now()
	for i := uint32(0); time.Since(start) < flood; i++ {
		v.roundTrip(t, i)
	}
	close(stop)
	c.Close()
	wg.Wait()
	// At 1 MiB/s with 4 MiB at once, the hub reads about 8 MiB in 4 s;
	// the rest waits in the sockets' buffers (a few MiB on loopback).
	// Unthrottled, a loopback connection carries hundreds of MiB.
	if mb := sent.Load() >> 20; mb > 40 {
		t.Fatalf("the flooding toy sent %d MiB in %v: not slowed down", mb, flood)
	}
	t.Logf("the flooding toy got %d MiB out in %v", sent.Load()>>20, flood)
}

// TestHandshakeFlood: connections that never finish their TLS handshake
// hold at most one address's share of the hub's handshake slots, are cut
// off at the deadline, and do not flood the log; toys still connect.
func TestHandshakeFlood(t *testing.T) {
	th := startHub(t, withDefaultLimits)
	v := newVictim(th)
	var conns []net.Conn
	for range 200 {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
		c, err := d.Dial("tcp", th.cfg.MQTTAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0x16, 0x03, 0x01}) // the start of a ClientHello, and no more
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// A toy reconnecting now gets in.
	v.teddy.Close()
	v.teddy = th.dial(v.teddyB)
	v.roundTrip(t, 1)
	// Those beyond the address's share were refused at once; the rest are
	// cut off at the handshake deadline.
	open := 0
	for _, c := range conns {
		if !closedByHub(c, th.cfg.HandshakeTimeout+3*time.Second) {
			open++
		}
	}
	if open > 0 {
		t.Fatalf("%d half-open connections outlived the handshake deadline", open)
	}
	if n := strings.Count(th.logs.String(), "TLS handshake refused"); n > 25 {
		t.Fatalf("%d refusals logged one by one; a flood must not flood the log", n)
	}
}

// TestMalformedMQTT: a device with a valid certificate that then sends
// packets no client should is disconnected, and nothing else is
// disturbed.
func TestMalformedMQTT(t *testing.T) {
	th := startHub(t, withDefaultLimits)
	v := newVictim(th)
	mallory := th.device("Mallory", "toy")
	id := mallory.Info.DeviceID
	connect := rawmqtt.Connect(id)
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"garbage", []byte("\xff\xff\xff\xff\xff\xff")},
		{"publish before connect", rawmqtt.Publish(wire.UpTopic(id, wire.UpHeader), []byte("{}"))},
		{"wrong protocol name", rawmqtt.Packet(0x10, append(append(rawmqtt.String("MQIsdp!"), 4, 0x02, 0, 30), rawmqtt.String(id)...))},
		{"length varint too long", append([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 64)...)},
		{"packet above the size limit", append(connect, 0x30, 0xff, 0xff, 0xff, 0x7f)},
		{"connect twice", append(connect, connect...)},
		{"subscribe with a bad UTF-8 filter", append(connect, rawmqtt.Packet(0x82, append([]byte{0, 1}, append(rawmqtt.String("toyhub/\xff\xfe/#"), 1)...))...)},
		{"subscribe with no filter", append(connect, rawmqtt.Packet(0x82, []byte{0, 1})...)},
		{"publish with a truncated topic", append(connect, rawmqtt.Packet(0x30, []byte{0xff, 0xff, 'a'})...)},
		{"reserved packet type", append(connect, rawmqtt.Packet(0xf0, nil)...)},
		{"client ID not the certificate's", rawmqtt.Connect("someone-else")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawMQTT(t, th, mallory, "127.0.0.4")
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if !closedByHub(c, 10*time.Second) {
				t.Fatal("the hub kept the connection open")
			}
		})
	}
	v.roundTrip(t, 1)
	if strings.Contains(th.logs.String(), "panic") {
		t.Fatal("the hub logged a panic")
	}
}

// TestWebSlowloris: connections that send a request's headers a byte at
// a time hold at most one address's share of the web app, are cut off at
// the header timeout, and the parents' pages load meanwhile.
func TestWebSlowloris(t *testing.T) {
	th := startHub(t, withDefaultLimits, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	// A hundred at once: those beyond the address's share are held unread
	// until they give up.
	var (
		mu      sync.Mutex
		held    []net.Conn
		refused int
		wg      sync.WaitGroup
	)
	for range 100 {
		wg.Go(func() {
			d := &net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
			d.Deadline = time.Now().Add(3 * time.Second)
			c, err := tls.DialWithDialer(d, "tcp", th.h.WebAddr(), &tls.Config{InsecureSkipVerify: true}) // the attacker trusts anything
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused++
				return
			}
			c.Write([]byte("GET / HTTP/1.1\r\nHost: toyhub\r\nX-a: "))
			held = append(held, c)
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	if want := hub.Defaults().MaxPerSource; len(held) > want {
		t.Fatalf("one address holds %d web connections; its share is %d", len(held), want)
	}
	if code, body := mum.get("/"); code != 200 || !strings.Contains(body, "Toys") {
		t.Fatalf("the parents' page during the attack: %d", code)
	}
	for _, c := range held {
		c.Write([]byte("b")) // another byte, as a slowloris does
	}
	open := 0
	for _, c := range held {
		if !closedByHub(c, 15*time.Second) {
			open++
		}
	}
	if open > 0 {
		t.Fatalf("%d slow connections outlived the header timeout", open)
	}
	t.Logf("%d connections held until the header timeout, %d refused", len(held), refused)
}

// TestCloseWhileConnecting: the hub stops cleanly, fifteen times, while
// toys keep connecting and leaving. It found Close's Wait racing a
// connection's Add. The rarer hang that stopped a CI run, mochi's
// GetByListener taking its read lock twice while a client connects or
// leaves in between (mochi-mqtt/server#488), has a window of nanoseconds
// that this test does not reliably hit; the hub avoids it by ending its
// clients itself (tlsListener.disconnectAll).
func TestCloseWhileConnecting(t *testing.T) {
	th := startHub(t)
	var bundles []*certs.Bundle
	for i := range 8 {
		bundles = append(bundles, th.device("Toy "+string(rune('A'+i)), "toy"))
	}
	for round := range 15 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, b := range bundles {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					d := &net.Dialer{Timeout: time.Second}
					c, err := tls.DialWithDialer(d, "tcp", th.cfg.MQTTAddr, certs.ClientTLS(b.Pool(), b.Cert, "localhost"))
					if err != nil {
						continue
					}
					c.Write(rawmqtt.Connect(b.Info.DeviceID))
					c.SetReadDeadline(time.Now().Add(time.Second))
					c.Read(make([]byte, 4))
					c.Close()
				}
			})
		}
		time.Sleep(time.Duration(20+round*7) * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- th.h.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the hub did not stop while toys were connecting", round)
		}
		th.h = nil
		close(stop)
		wg.Wait()
		th.start()
	}
}
