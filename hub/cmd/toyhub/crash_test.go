package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestCrashSafety: the hub is killed with SIGKILL at random moments while
// a toy uploads, 20 times, and started again each time. The toy retries
// what was not acknowledged, under the same message ID. Afterwards every
// acknowledged message is in the database exactly once, nothing else is,
// each is delivered byte for byte, some uploads were resumed part way, and
// the database passes PRAGMA integrity_check.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freePort(t)
	hubCmd, _ := startServe(t, data, addr)
	must(t, runBin(t, "toyhub", "device", "add", "--data", data, "--name", "Bunny", "--kind", "toy", "--out", filepath.Join(dir, "bunny")))
	must(t, runBin(t, "toyhub", "device", "add", "--data", data, "--name", "Teddy", "--kind", "toy", "--out", filepath.Join(dir, "teddy")))
	must(t, runBin(t, "toyhub", "link", "Bunny", "Teddy", "--data", data))
	bunny, err := certs.LoadBundle(filepath.Join(dir, "bunny"))
	if err != nil {
		t.Fatal(err)
	}
	clientLog := &syncBuf{}
	// Small chunks and one in flight: an upload takes long enough to be
	// cut in the middle.
	opt := devices.Options{Timeout: 3 * time.Second, Window: 1, Chunk: 2048,
		Logger: slog.New(slog.NewTextHandler(clientLog, &slog.HandlerOptions{Level: slog.LevelDebug}))}

	type msg struct {
		id  wire.MessageID
		wav []byte
	}
	acked := map[wire.MessageID][32]byte{}
	var pending *msg
	seed := uint32(0)
	for kill := 0; kill < 20; kill++ {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-time.After(time.Duration(200+rand.IntN(600)) * time.Millisecond):
				hubCmd.Process.Kill()
			case <-ctx.Done():
			}
		}()
		c, err := devices.Dial(ctx, bunny, opt)
		for err == nil {
			if pending == nil {
				seed++
				pending = &msg{wire.NewMessageID(), wire.Tone(8000, time.Duration(2+rand.IntN(4))*time.Second, 440, seed)}
			}
			if err = c.Send(ctx, pending.id, pending.wav, []string{"Teddy"}); err == nil {
				acked[pending.id] = sha256.Sum256(pending.wav)
				pending = nil
			}
		}
		if c != nil {
			c.Close()
		}
		cancel()
		hubCmd.Wait() // killed
		hubCmd, _ = startServe(t, data, addr)
	}
	// Finish what was cut off.
	if pending != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := devices.Dial(ctx, bunny, opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Send(ctx, pending.id, pending.wav, []string{"Teddy"}); err != nil {
			t.Fatal(err)
		}
		acked[pending.id] = sha256.Sum256(pending.wav)
		c.Close()
		cancel()
	}
	resumed := strings.Count(clientLog.String(), "Upload resumed")
	t.Logf("20 kills; %d messages acknowledged; %d uploads resumed part way", len(acked), resumed)
	if len(acked) < 5 || resumed == 0 {
		t.Fatalf("%d messages acknowledged, %d resumed: the kills did not land during uploads", len(acked), resumed)
	}

	// Delivered, each once, byte for byte.
	teddy, err := certs.LoadBundle(filepath.Join(dir, "teddy"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc, err := devices.Dial(ctx, teddy, devices.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := map[wire.MessageID]int{}
	os.MkdirAll(filepath.Join(dir, "inbox"), 0o700)
	err = rc.Receive(ctx, devices.Inbox{Dir: filepath.Join(dir, "inbox"), Resync: time.Second, Done: func(r devices.Received) bool {
		got[r.ID]++
		b, _ := os.ReadFile(r.Path)
		if sha256.Sum256(b) != acked[r.ID] {
			t.Errorf("message %s differs from what was acknowledged", r.ID)
		}
		return len(got) == len(acked)
	}})
	if err != nil {
		t.Fatalf("receive: %v (got %d of %d)", err, len(got), len(acked))
	}
	if n, err := rc.Sync(ctx); err != nil || n != 0 {
		t.Fatalf("after receiving everything, %d more offered (%v)", n, err)
	}
	rc.Close()
	for id, n := range got {
		if n != 1 {
			t.Errorf("message %s delivered %d times", id, n)
		}
	}

	// The database: intact, and holding exactly the acknowledged messages.
	hubCmd.Process.Signal(os.Interrupt)
	hubCmd.Wait()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(data, "hub.db"), MasterKeyPath: filepath.Join(data, "keys", "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms, err := st.CommittedMessages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(acked) {
		t.Fatalf("%d messages committed, %d acknowledged", len(ms), len(acked))
	}
	for _, m := range ms {
		id, _ := wire.ParseMessageID(m[0])
		if _, ok := acked[id]; !ok {
			t.Fatalf("message %s is committed but was never acknowledged", m[0])
		}
	}
}
