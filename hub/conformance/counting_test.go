package conformance_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/conformance"
	"github.com/toyhub/toyhub/wire"
)

// TestConformanceCountsAnswers: a device that keeps its window by
// counting answers, rather than following the next each answer names,
// is right without batch and wrong with it, where one answer covers every
// chunk of a commit. The kit must tell the two apart: the counting device
// stalls until its retry time, sends its header again, and so finishes.
func TestConformanceCountsAnswers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		batch bool
		pass  bool
	}{
		{"without batch", false, true},
		{"asking for batch", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			k, err := conformance.New(conformance.Options{BundleDir: dir, Step: 15 * time.Second, Watch: 2 * time.Second,
				RetryMS: 500, Only: []string{"keeping to the limits"}})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			dev := &counter{dir: dir, batch: c.batch}
			defer dev.stop()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rs := k.Run(ctx, dev)
			if len(rs) != 2 || !rs[0].Pass {
				t.Fatalf("results: %+v", rs)
			}
			if r := rs[1]; r.Pass != c.pass || !c.pass && !strings.Contains(r.Detail, "sent the header") {
				t.Fatalf("%s: pass %v (%s), want pass %v", r.Name, r.Pass, r.Detail, c.pass)
			}
		})
	}
}

// counter is a device whose window counts answers: it sends a chunk for
// each answer, and its header again when its retry time passes without
// one.
type counter struct {
	runner
	link
	dir   string
	batch bool

	mu  sync.Mutex
	lim wire.Limits
	up  *counted
}

type counted struct {
	h          wire.Header
	wav        []byte
	sent, acks int
	last       time.Time // of the last answer, or of the header
}

func (d *counter) Start(context.Context) error {
	d.start(func() {}, d.loop)
	return nil
}

// loop connects, and connects again after a loss; every 100 ms it checks
// its upload's retry time.
func (d *counter) loop() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lost chan struct{}
	for {
		select {
		case <-d.quit:
			if c := d.client(); c != nil {
				c.Disconnect(0)
			}
			return
		case <-lost:
			lost = nil
		case <-tick.C:
		}
		if lost == nil {
			lost = d.connect()
			continue
		}
		d.mu.Lock()
		u, retry := d.up, time.Duration(d.lim.RetryMS)*time.Millisecond
		again := u != nil && retry > 0 && time.Since(u.last) > retry
		if again {
			u.last = time.Now()
		}
		d.mu.Unlock()
		if again {
			d.pub(wire.UpHeader, wire.Encode(u.h))
		}
	}
}

// connect returns a channel closed when the connection is lost, or nil.
func (d *counter) connect() chan struct{} {
	lost, _ := dial(d.dir, func(c paho.Client, b *certs.Bundle) {
		d.set(c, b.Info.DeviceID)
	}, func(_ *certs.Bundle, m paho.Message) { d.dispatch(m) })
	return lost
}

// Send records a message and publishes its header, once it knows its
// limits.
func (d *counter) Send(ctx context.Context) error {
	for {
		d.mu.Lock()
		if d.lim.Chunk > 0 {
			break
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	wav := wire.Tone(16000, 800*time.Millisecond, 440, 7)
	u := &counted{wav: wav, last: time.Now(), h: wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(wav)),
		SHA256: sha256.Sum256(wav), Chunk: d.lim.Chunk, Batch: d.batch}}
	d.up = u
	d.mu.Unlock()
	d.pub(wire.UpHeader, wire.Encode(u.h))
	return nil
}

func (d *counter) dispatch(m paho.Message) {
	kind := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
	switch kind {
	case wire.DownLimits:
		var l wire.Limits
		if wire.Decode(m.Payload(), &l) == nil {
			d.mu.Lock()
			d.lim = l
			d.mu.Unlock()
		}
	case wire.DownAck:
		var a wire.Ack
		if wire.Decode(m.Payload(), &a) != nil {
			return
		}
		d.mu.Lock()
		u := d.up
		if u == nil || a.ID != u.h.ID {
			d.mu.Unlock()
			return
		}
		u.last = time.Now()
		switch {
		case a.Status == wire.StatusAccepted:
			u.sent, u.acks = a.Next, a.Next // the one place it follows next
		case a.Status == wire.StatusStored:
			u.acks++
		case a.Status == wire.StatusCommitted:
			d.up = nil
			d.mu.Unlock()
			return
		}
		var seqs []int
		for u.sent < u.h.Chunks() && u.sent-u.acks < d.lim.UploadWindow {
			seqs = append(seqs, u.sent)
			u.sent++
		}
		d.mu.Unlock()
		for _, seq := range seqs {
			start := seq * u.h.Chunk
			end := min(start+u.h.Chunk, len(u.wav))
			d.pub(wire.UpChunk, wire.AppendChunk(nil, wire.Chunk{ID: u.h.ID, Seq: uint32(seq), Offset: uint32(start), Data: u.wav[start:end]}))
		}
	}
}
