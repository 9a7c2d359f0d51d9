package hub_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// smallDisk mounts a tmpfs of size bytes for the test: a disk that fills.
// It needs root, which CI has.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "mounting a small disk needs root"
	}
	if why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; required under CI", why)
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	return dir
}

// fill writes a file in dir until only leave bytes are free (0: until the
// disk is full), and returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	block := make([]byte, 64<<10)
	for free > leave {
		n := min(int64(len(block)), free-leave)
		w, err := f.Write(block[:n])
		free -= int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestDiskFull: a full disk refuses new messages with a clear error to the
// toy, corrupts nothing, loses nothing that was acknowledged, and the hub
// carries on by itself once there is space again.
//
// First with no reserve, so that SQLite itself meets the full disk in the
// middle of a message; then with the default behaviour, a reserve that
// new messages may not use, so that parents can still delete.
func TestDiskFull(t *testing.T) {
	mnt := smallDisk(t, "64m")
	th := startHub(t, func(c *hub.Config) {
		c.DataDir = filepath.Join(mnt, "data")
		c.MinFreeBytes = 0
	})
	teddyB := th.device("Teddy", "toy")
	grandma := th.dial(th.device("Grandma", "family"))
	th.link("Teddy", "Grandma")
	teddy := th.dial(teddyB)
	send := func(id wire.MessageID, wav []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return teddy.Send(ctx, id, wav, nil)
	}
	refusedFull := func(err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "storage is full") {
			t.Fatalf("a message on a full disk: %v; want the hub to say its storage is full", err)
		}
	}
	sent := map[wire.MessageID][]byte{}
	first := wire.NewMessageID()
	sent[first] = recording(3, 1)
	if err := send(first, sent[first]); err != nil {
		t.Fatal(err)
	}

	// Something else fills the disk: SQLite meets it in the middle of a
	// 10-second message.
	filler := fill(t, mnt, 100<<10)
	second, wav2 := wire.NewMessageID(), recording(10, 2)
	refusedFull(send(second, wav2))
	if err := call(th.cfg.DataDir, control.Status, control.None{}, nil); err != nil {
		t.Fatalf("the hub stopped answering on a full disk: %v", err)
	}
	// Space returns: the same message goes through, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := send(second, wav2); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	sent[second] = wav2
	for id, b := range receive(t, grandma, 2) {
		if !bytes.Equal(b, sent[id]) {
			t.Errorf("message %s differs from what was sent", id)
		}
	}

	// The default: a reserve that new messages may not use.
	th.stop()
	th.cfg.MinFreeBytes = 8 << 20
	th.cfg.WebAddr = "127.0.0.1:0"
	th.start()
	mum := th.setupOwner(t)
	teddy = th.dial(teddyB)
	filler = fill(t, mnt, 8<<20+200<<10)
	third, wav3 := wire.NewMessageID(), recording(10, 3)
	refusedFull(send(third, wav3))
	// The parents see it on the first page, and a recording made in the
	// browser is refused with the same plain words.
	if code, body := mum.get("/"); code != 200 || !strings.Contains(body, "storage is full") {
		t.Fatalf("dashboard on a full disk: %d, no warning:\n%s", code, body)
	}
	resp, body := mum.do("POST", "/toys/"+teddyB.Info.DeviceID+"/messages", "audio/wav", wav3)
	if resp.StatusCode != 507 || !strings.Contains(body, "storage is full") {
		t.Fatalf("recording on a full disk: %d %s", resp.StatusCode, body)
	}
	// Above the reserve a parent can still delete: here, the first message.
	if err := call(th.cfg.DataDir, control.MessagesDelete, control.IDsArgs{IDs: []string{first.String()}}, nil); err != nil {
		t.Fatalf("deleting on a nearly full disk: %v", err)
	}
	// The self-check tells the parents too, as a high-severity finding.
	if f, _ := finding(th.check(t), "rest.space"); f.Severity != audit.High || !strings.Contains(f.Title, "full") {
		t.Fatalf("self-check on a full disk: %+v", f)
	}
	// A toy's agent keeps what the hub cannot take for now, and sends it
	// once there is room.
	out := filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(out, "hello.wav")
	if err := os.WriteFile(kept, recording(10, 4), 0o600); err != nil {
		t.Fatal(err)
	}
	settled := time.Now().Add(-time.Minute)
	os.Chtimes(kept, settled, settled)
	teddy.Close()
	ctx, cancel := context.WithCancel(context.Background())
	agent := &devices.Agent{Bundle: teddyB, Options: th.opts(), Outbox: out, Inbox: filepath.Join(t.TempDir(), "in"),
		Poll: 100 * time.Millisecond, Hold: 300 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	th.waitLog(t, "Message kept for later")
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the agent gave up a message the hub could not take for now: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(out, "sent", "hello.wav")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not send the kept message once there was room")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	if f, _ := finding(th.check(t), "rest.space"); f.Severity != audit.Info {
		t.Fatalf("self-check once there is room: %+v", f)
	}
	teddy = th.dial(teddyB)
	if err := send(third, wav3); err != nil {
		t.Fatalf("after space returned: %v", err)
	}

	// Nothing is corrupted, and exactly the messages kept are there.
	th.stop()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(th.cfg.DataDir, "hub.db"), MasterKeyPath: filepath.Join(th.cfg.DataDir, "keys", "master.key")})
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
	// The second, the agent's and the third; the first was deleted.
	want := map[string]bool{second.String(): true, third.String(): true}
	if len(ms) != 3 {
		t.Fatalf("%d messages stored, want 3", len(ms))
	}
	for _, m := range ms {
		delete(want, m[0])
	}
	if len(want) > 0 {
		t.Errorf("messages %v missing", want)
	}
}

// TestClockJumps: a hub whose clock jumped back (a Raspberry Pi has no
// battery-backed clock) or forward says so, a toy is told that a date is
// wrong rather than that it was refused, and all is well again, with
// nothing to pair again, once the date is right.
func TestClockJumps(t *testing.T) {
	th := startHub(t)
	teddyB := th.device("Teddy", "toy")
	th.dial(teddyB).Close()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name  string
		shift time.Duration
		logs  []string
	}{
		{"hub 30 days behind", -30 * day, []string{"Clock is behind", "the device's certificate is not valid at the hub's time"}},
		{"hub 120 days ahead", 120 * day, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th.stop()
			th.cfg.Now = func() time.Time { return time.Now().Add(tc.shift) }
			th.start()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := devices.Dial(ctx, teddyB, th.opts())
			if err == nil {
				c.Close()
				t.Fatal("connected although the dates disagree by months")
			}
			var ce *devices.ClockError
			if !errors.As(err, &ce) || errors.Is(err, devices.ErrRefused) || !strings.Contains(err.Error(), "date") {
				t.Fatalf("the toy was not told a date is wrong: %v", err)
			}
			t.Logf("the toy was told: %v", err)
			for _, l := range tc.logs {
				th.waitLog(t, l)
			}
		})
	}
	th.stop()
	th.cfg.Now = time.Now
	th.start()
	th.dial(teddyB).Close()
}
