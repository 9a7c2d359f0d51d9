package hub_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toyhub/toyhub/wire"
)

// TestNothingPersonalAtRest: after a full exchange, the bytes of the
// recordings and the devices' names appear nowhere in hub.db, its WAL or
// its shared-memory file, and nowhere in the hub's log.
func TestNothingPersonalAtRest(t *testing.T) {
	th := startHub(t)
	names := []string{"Bunny Whiskerton", "Grandma Rosalind", "Teddy Fitzgerald"}
	bunny, gran := th.device(names[0], "toy"), th.device(names[1], "family")
	th.device(names[2], "toy")
	th.link(names[0], names[1])
	th.link(names[2], names[1])
	a, g := th.dial(bunny), th.dial(gran)
	ctx := context.Background()
	msg, reply := recording(10, 11), recording(6, 12)
	if err := a.Send(ctx, wire.NewMessageID(), msg, []string{names[1]}); err != nil {
		t.Fatal(err)
	}
	receive(t, g, 1)
	if err := g.Send(ctx, wire.NewMessageID(), reply, []string{names[0]}); err != nil {
		t.Fatal(err)
	}
	receive(t, a, 1)

	var needles [][]byte
	for _, n := range names {
		needles = append(needles, []byte(n), []byte(strings.ToLower(n)))
		first, _, _ := strings.Cut(n, " ")
		needles = append(needles, []byte(first))
	}
	// Windows of the samples, and the WAV header every recording starts with.
	for _, rec := range [][]byte{msg, reply} {
		for _, off := range []int{44, 1000, len(rec) / 2, len(rec) - 64} {
			needles = append(needles, rec[off:off+32])
		}
		needles = append(needles, rec[:36])
	}
	needles = append(needles, []byte("WAVEfmt "))

	scan := func(when string) {
		files, _ := filepath.Glob(filepath.Join(th.cfg.DataDir, "hub.db*"))
		if len(files) < 3 {
			t.Fatalf("%s: expected hub.db, -wal and -shm, found %v", when, files)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s contains %q", when, filepath.Base(f), n[:min(len(n), 16)])
				}
			}
		}
	}
	scan("while running")
	th.stop() // closing checkpoints the WAL into hub.db
	files, _ := filepath.Glob(filepath.Join(th.cfg.DataDir, "hub.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("after stop: %s contains %q", filepath.Base(f), n[:min(len(n), 16)])
			}
		}
	}
	log := th.logs.String()
	for _, n := range names {
		first, _, _ := strings.Cut(n, " ")
		if strings.Contains(log, first) {
			t.Errorf("the hub's log contains the name %q", first)
		}
	}
	if !strings.Contains(log, "Message committed") || !strings.Contains(log, bunny.Info.DeviceID) {
		t.Fatal("the log does not show the exchange by ID; is the test looking at the right log?")
	}
}
