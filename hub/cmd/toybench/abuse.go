package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub/internal/rawmqtt"
	"github.com/toyhub/toyhub/wire"
)

// AbuseResult is a victim toy's round trips while one attack runs, beside
// the same round trips with no attack, measured in the same run.
type AbuseResult struct {
	Attack     string  `json:"attack"`
	RoundTrips int     `json:"round_trips"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	VsQuietP50 float64 `json:"p50_vs_quiet"`
	VsQuietP99 float64 `json:"p99_vs_quiet"`
	RSSMB      float64 `json:"server_rss_mb"`
	HeapMB     float64 `json:"server_heap_mb"`
	Goroutines int     `json:"server_goroutines"`
	// Attempts counts what the attacker got through: bytes, connections.
	Attempts string `json:"attacker"`
}

// An attack runs until stop closes and says what it achieved.
type attack struct {
	name string
	run  func(stop <-chan struct{}) string
}

// abuse measures a victim pair's round trip (a 1-second recording, toy to
// grandparent) alone, then under each attack of issue 8, against a hub
// with its default limits. Each attacker dials from its own loopback
// address, as another machine on the LAN would.
func abuse(o options, work string) ([]AbuseResult, error) {
	dir := filepath.Join(work, "abuse")
	web, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The victim sends ten messages a second, above the 20 a minute a toy
	// may send; every other limit is the hub's default.
	srv, err := newHubServer(o.hubBin, dir, web, []string{"TOYHUB_LIMITS_MESSAGES_PER_MINUTE=100000"})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	bundles, err := srv.enroll(dir, 3) // toys 0 and 1 are linked; 2 is the attacker
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	var victim [2]*devices.Client
	for i := range victim {
		c, err := devices.Dial(ctx, bundles[i], devices.Options{Hubs: []string{srv.addr}, Logger: quietLog})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		victim[i] = c
	}
	mallory := bundles[2]
	wav := recording(32044) // one second
	measure := func(name string, a func(<-chan struct{}) string) (AbuseResult, error) {
		stop := make(chan struct{})
		var said string
		var wg sync.WaitGroup
		if a != nil {
			wg.Go(func() { said = a(stop) })
			time.Sleep(time.Second) // let it take hold
		}
		var lat []time.Duration
		peakRSS := 0.0
		for end := time.Now().Add(o.duration); time.Now().Before(end); {
			id := wire.NewMessageID()
			t0 := time.Now()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := victim[0].Send(cctx, id, wav, nil)
			if err == nil {
				var n wire.Notify
				if n, err = nextNotify(victim[1], id); err == nil {
					_, err = victim[1].Fetch(cctx, n)
				}
			}
			cancel()
			if err != nil {
				close(stop)
				wg.Wait()
				return AbuseResult{}, fmt.Errorf("%s: the victim's round trip failed: %w", name, err)
			}
			lat = append(lat, time.Since(t0))
			victim[1].Played(ctx, id)
			time.Sleep(time.Until(t0.Add(100 * time.Millisecond)))
			if r, err := procRSS(srv.pid()); err == nil && r > peakRSS {
				peakRSS = r
			}
		}
		heap := srv.metric("go_memstats_heap_inuse_bytes") / 1e6
		gr := srv.goroutines()
		close(stop)
		wg.Wait()
		return AbuseResult{Attack: name, RoundTrips: len(lat), P50ms: percentile(lat, .5), P99ms: percentile(lat, .99),
			RSSMB: peakRSS, HeapMB: heap, Goroutines: gr, Attempts: said}, nil
	}
	attacks := []attack{
		{"chunk flood from one toy", func(stop <-chan struct{}) string { return chunkFlood(srv.addr, mallory, stop) }},
		{"half-open TLS connections", func(stop <-chan struct{}) string { return halfOpen(srv.addr, stop) }},
		{"slowloris on the web port", func(stop <-chan struct{}) string { return slowloris(web, stop) }},
		{"malformed MQTT after the handshake", func(stop <-chan struct{}) string { return malformed(srv.addr, mallory, stop) }},
	}
	return besideNone("abuse", o.duration, len(attacks), func(i int) string { return attacks[i].name },
		func(name string, i int) (AbuseResult, error) {
			if i < 0 {
				return measure(name, nil)
			}
			return measure(name, attacks[i].run)
		})
}

func (r *AbuseResult) latencies() (p50, p99 float64) { return r.P50ms, r.P99ms }
func (r *AbuseResult) setVsNone(p50, p99 float64)    { r.VsQuietP50, r.VsQuietP99 = p50, p99 }

// ratioed is a measured result whose latencies are read against none.
type ratioed interface {
	latencies() (p50, p99 float64)
	setVsNone(p50, p99 float64)
}

// besideNone measures with no attack, then under each of n attacks in
// turn (i is its index, name(i) its name; -1 for none), then with none
// again, and sets each result's latencies against the mean of the two
// runs with none, so that warming up and drift count against no one.
func besideNone[T any, P interface {
	*T
	ratioed
}](what string, d time.Duration, n int, name func(int) string, measure func(name string, i int) (T, error)) ([]T, error) {
	var out []T
	step := func(label string, i int) error {
		fmt.Fprintf(os.Stderr, "%s: %s, %v...\n", what, label, d)
		r, err := measure(label, i)
		out = append(out, r)
		return err
	}
	if err := step("none, before", -1); err != nil {
		return nil, err
	}
	for i := range n {
		if err := step(name(i), i); err != nil {
			return nil, err
		}
	}
	if err := step("none, after", -1); err != nil {
		return nil, err
	}
	b50, b99 := P(&out[0]).latencies()
	a50, a99 := P(&out[len(out)-1]).latencies()
	for i := range out {
		p50, p99 := P(&out[i]).latencies()
		P(&out[i]).setVsNone(p50/((b50+a50)/2), p99/((b99+a99)/2))
	}
	return out, nil
}

var quietLog = slog.New(slog.DiscardHandler)

func printAbuse(rs []AbuseResult) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "attack\t round trips\t p50 ms\t p99 ms\t p50 ×quiet\t p99 ×quiet\t server RSS MB\t heap MB\t goroutines\t attacker\t\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t %d\t %.2f\t %.2f\t %.2f\t %.2f\t %.1f\t %.1f\t %d\t %s\t\n", r.Attack, r.RoundTrips, r.P50ms, r.P99ms,
			r.VsQuietP50, r.VsQuietP99, r.RSSMB, r.HeapMB, r.Goroutines, r.Attempts)
	}
	tw.Flush()
}

func from(src string) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
}

// chunkFlood: an enrolled toy sends chunk frames as fast as its
// connection carries them.
func chunkFlood(addr string, b *certs.Bundle, stop <-chan struct{}) string {
	c, err := tls.DialWithDialer(from("127.0.0.2"), "tcp", addr, certs.ClientTLS(b.Pool(), b.Cert, "localhost"))
	if err != nil {
		return "could not connect: " + err.Error()
	}
	defer c.Close()
	c.Write(rawmqtt.Connect(b.Info.DeviceID))
	frame := wire.AppendChunk(nil, wire.Chunk{ID: wire.NewMessageID(), Data: make([]byte, 16<<10)})
	pkt := rawmqtt.Packet(0x30, append(rawmqtt.String(wire.UpTopic(b.Info.DeviceID, wire.UpChunk)), frame...))
	var sent int64
	for {
		select {
		case <-stop:
			return fmt.Sprintf("%d MiB written", sent>>20)
		default:
		}
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := c.Write(pkt)
		sent += int64(n)
	}
}

// halfOpen keeps 500 connections that send the start of a ClientHello
// and nothing more, opening new ones as the hub closes them.
func halfOpen(addr string, stop <-chan struct{}) string {
	var opened atomic.Int64
	var wg sync.WaitGroup
	for range 500 {
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := from("127.0.0.3").Dial("tcp", addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				opened.Add(1)
				c.Write([]byte{0x16, 0x03, 0x01})
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				go func() { <-stop; c.Close() }()
				c.Read(buf) // until the hub hangs up
				c.Close()
			}
		})
	}
	wg.Wait()
	return fmt.Sprintf("%d connections opened", opened.Load())
}

// slowloris holds 200 web connections, each sending a header byte a
// second, reopening them as the hub closes them.
func slowloris(web string, stop <-chan struct{}) string {
	var opened atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tls.DialWithDialer(from("127.0.0.5"), "tcp", web, &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				opened.Add(1)
				c.Write([]byte("GET / HTTP/1.1\r\nHost: toyhub\r\n"))
			drip:
				for {
					select {
					case <-stop:
						c.Close()
						return
					case <-time.After(time.Second):
						if _, err := c.Write([]byte("X")); err != nil {
							break drip
						}
					}
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	return fmt.Sprintf("%d connections opened", opened.Load())
}

// malformed connects with a valid certificate, sends bytes that are not
// MQTT, and does it again, from four goroutines.
func malformed(addr string, b *certs.Bundle, stop <-chan struct{}) string {
	var n atomic.Int64
	var wg sync.WaitGroup
	cfg := certs.ClientTLS(b.Pool(), b.Cert, "localhost")
	for range 4 {
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tls.DialWithDialer(from("127.0.0.4"), "tcp", addr, cfg)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				n.Add(1)
				c.Write([]byte("\x10\xff\xff\xff\xff\x7f garbage"))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				c.Read(buf)
				c.Close()
			}
		})
	}
	wg.Wait()
	return fmt.Sprintf("%d connections with garbage", n.Load())
}
