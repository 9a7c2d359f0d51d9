package hub_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// TestWritersOnlyWhileWriting: the broker starts a goroutine to write to a
// device only while something is queued for it (third_party/mochi), so
// three toys sending at once to a fourth get every answer in order and
// every message intact, and once they are quiet no device has a writing
// goroutine, while each still has its reading one.
func TestWritersOnlyWhileWriting(t *testing.T) {
	th := startHub(t)
	senders := []string{"Teddy", "Bunny", "Bear"}
	owl := th.dial(th.device("Owl", "toy"))
	sent := map[wire.MessageID][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(senders)*3)
	for i, name := range senders {
		c := th.dial(th.device(name, "toy"))
		th.link(name, "Owl")
		wg.Go(func() {
			for j := range 3 {
				msg := recording(3, uint32(10*i+j))
				id := wire.NewMessageID()
				mu.Lock()
				sent[id] = msg
				mu.Unlock()
				if err := c.Send(context.Background(), id, msg, []string{"Owl"}); err != nil {
					errs <- err
				}
			}
		})
	}
	got := receive(t, owl, len(senders)*3)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id, msg := range sent {
		if !bytes.Equal(got[id], msg) {
			t.Fatalf("message %s: received %d bytes that differ from the %d sent", id, len(got[id]), len(msg))
		}
	}

	count := func(frame string) int {
		var b strings.Builder
		if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
			t.Fatal(err)
		}
		n := 0
		for g := range strings.SplitSeq(b.String(), "\n\n") {
			if strings.Contains(g, frame) {
				n++
			}
		}
		return n
	}
	const reader = "server/v2.(*Client).read("
	writers := func() int {
		return count("server/v2.(*Client).drainOutbound") + count("server/v2.(*Client).WriteLoop")
	}
	deadline := time.Now().Add(10 * time.Second)
	for writers() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d devices still have a writing goroutine with nothing to write", writers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(reader); n < len(senders)+1 {
		t.Fatalf("%d reading goroutines for %d connected devices", n, len(senders)+1)
	}
}
