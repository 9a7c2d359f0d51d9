package store

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// sealedOf returns what a message leaves at rest: its wrapped data key
// and its sealed chunks, as they are in the database.
func (f *fixture) sealedOf(id string) [][]byte {
	f.t.Helper()
	var out [][]byte
	var dek []byte
	if err := f.s.db.QueryRow("SELECT dek FROM messages WHERE id = ?", id).Scan(&dek); err != nil {
		f.t.Fatal(err)
	}
	out = append(out, dek)
	rows, err := f.s.db.Query("SELECT data FROM chunks WHERE message_id = ?", id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		out = append(out, b[:64], b[len(b)-64:])
	}
	return out
}

// scanFiles fails if any needle is in the database, WAL or shm.
func (f *fixture) scanFiles(when string, needles [][]byte) {
	f.t.Helper()
	for _, p := range []string{f.opt.Path, f.opt.Path + "-wal", f.opt.Path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				f.t.Errorf("%s: %s still holds %x…", when, p, n[:8])
			}
		}
	}
}

// TestDeletionIsReal: once a message is deleted, neither its key nor its
// audio (as stored) is anywhere in the database files; the other message
// is untouched.
func TestDeletionIsReal(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("Teddy", KindToy), f.device("Gran", KindFamily)
	f.link(a, b)
	gone, kept := randBytes(50_000), randBytes(50_000)
	for id, data := range map[string][]byte{"m-gone": gone, "m-kept": kept} {
		u, err := f.s.StartUpload(f.ctx, spec(id, a, data, 16384, b))
		if err != nil {
			t.Fatal(err)
		}
		for seq := range u.Chunks() {
			put(t, f.s, u, seq, piece(data, 16384, seq), seq == u.Chunks()-1)
		}
	}
	needles := f.sealedOf("m-gone")
	keptNeedles := f.sealedOf("m-kept")
	f.s.Checkpoint(f.ctx)
	if n, err := f.s.DeleteMessages(f.ctx, []string{"m-gone", "missing"}); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v", n, err)
	}
	f.scanFiles("after deletion", needles)
	f.s.Close()
	f.scanFiles("after closing", needles)
	f.open()
	if _, err := f.s.ReadFor(f.ctx, b.ID, "m-gone", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the deleted message reads: %v", err)
	}
	if p, err := f.s.ReadFor(f.ctx, b.ID, "m-kept", 0); err != nil || !bytes.Equal(p.Data, kept[:16384]) {
		t.Fatalf("the other message: %v", err)
	}
	all, _ := os.ReadFile(f.opt.Path)
	if !bytes.Contains(all, keptNeedles[0]) {
		t.Fatal("the scan would not have seen the deleted key: the kept message's key is not found either")
	}
}

func TestRetention(t *testing.T) {
	f := newFixture(t)
	keepDays, played, forever := f.device("Teddy", KindToy), f.device("Bunny", KindToy), f.device("Kitty", KindToy)
	gran := f.device("Gran", KindFamily)
	for _, d := range []Device{keepDays, played, forever} {
		f.link(d, gran)
	}
	f.s.SetDeviceSettings(f.ctx, keepDays.ID, Settings{RetentionDays: 30})
	f.s.SetDeviceSettings(f.ctx, played.ID, Settings{RetentionDays: RetainOncePlayed})
	f.s.SetDeviceSettings(f.ctx, forever.ID, Settings{RetentionDays: RetainForever})
	f.send("old-teddy", keepDays, []byte("a"), gran)
	f.send("old-kitty", forever, []byte("b"), gran)
	f.send("bunny-to-gran", played, []byte("c"), gran)
	f.send("gran-to-bunny", gran, []byte("d"), played)
	f.advance(20 * 24 * time.Hour)
	f.send("new-teddy", keepDays, []byte("e"), gran)
	expired := func() []string {
		ids, err := f.s.ExpiredMessages(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	if got := expired(); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if ds, _ := f.s.NextDeletions(f.ctx, keepDays.ID, 5); len(ds) != 2 || !ds[0].At.Equal(ds[0].SentAt.Add(30*24*time.Hour)) {
		t.Fatalf("next deletions %+v", ds)
	}
	f.s.MarkPlayed(f.ctx, played.ID, "gran-to-bunny")
	f.s.MarkPlayed(f.ctx, gran.ID, "bunny-to-gran")
	f.advance(11 * 24 * time.Hour)
	want := []string{"bunny-to-gran", "gran-to-bunny", "old-teddy"}
	if got := expired(); !slices.Equal(got, want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
	f.s.DeleteMessages(f.ctx, expired())
	if got := expired(); len(got) != 0 {
		t.Fatalf("still expired: %v", got)
	}
	f.advance(3650 * 24 * time.Hour)
	if got := expired(); !slices.Equal(got, []string{"new-teddy"}) {
		t.Fatalf("kitty keeps hers forever; got %v", got)
	}
}

func TestDailyLimitAndMute(t *testing.T) {
	f := newFixture(t)
	toy, gran := f.device("Teddy", KindToy), f.device("Gran", KindFamily)
	f.link(toy, gran)
	f.s.SetDeviceSettings(f.ctx, gran.ID, Settings{RetentionDays: 90, DailyLimit: 2})
	f.send("m1", gran, []byte("1"), toy)
	f.send("m2", gran, []byte("2"), toy)
	if _, err := f.s.StartUpload(f.ctx, spec("m3", gran, []byte("3"), 1, toy)); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("third message: %v", err)
	}
	f.advance(25 * time.Hour)
	f.send("m4", gran, []byte("4"), toy)
	if err := f.s.SetMuted(f.ctx, toy.ID, gran.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.StartUpload(f.ctx, spec("m5", toy, []byte("5"), 1, gran)); !errors.Is(err, ErrNotContact) {
		t.Fatalf("to a muted contact: %v", err)
	}
	f.s.SetMuted(f.ctx, toy.ID, gran.ID, false)
	f.send("m6", toy, []byte("6"), gran)
}

func TestRemoveDevice(t *testing.T) {
	f := newFixture(t)
	toy := f.device("Teddy", KindToy)
	keep, drop := f.device("Grandma Rosalind", KindFamily), f.device("Uncle Bartholomew", KindFamily)
	f.link(toy, keep)
	f.link(toy, drop)
	f.send("from-keep", keep, randBytes(2000), toy)
	f.send("from-drop", drop, randBytes(2000), toy)
	dropSealed := f.sealedOf("from-drop")
	var keepName, dropName []byte
	f.s.db.QueryRow("SELECT name FROM devices WHERE id = ?", keep.ID).Scan(&keepName)
	f.s.db.QueryRow("SELECT name FROM devices WHERE id = ?", drop.ID).Scan(&dropName)
	if err := f.s.RemoveDevice(f.ctx, keep.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := f.s.RemoveDevice(f.ctx, drop.ID, false); err != nil {
		t.Fatal(err)
	}
	d, err := f.s.Device(f.ctx, keep.ID)
	if err != nil || !d.Revoked() || d.Name == "Grandma Rosalind" {
		t.Fatalf("kept device: %+v %v", d, err)
	}
	if err := f.s.CheckCertificate(f.ctx, "serial-"+keep.ID, keep.ID); err == nil {
		t.Fatal("the removed device's certificate still passes")
	}
	if _, err := f.s.Device(f.ctx, drop.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped device: %v", err)
	}
	ms, _ := f.s.CommittedMessages(f.ctx)
	if len(ms) != 1 || ms[0][0] != "from-keep" {
		t.Fatalf("messages left %v", ms)
	}
	if _, err := f.s.DeviceByName(f.ctx, "Grandma Rosalind"); !errors.Is(err, ErrNotFound) {
		t.Fatal("the removed name still finds the device")
	}
	f.scanFiles("after removal", append(dropSealed, keepName[:32], dropName[:32]))
}

func TestQuietHours(t *testing.T) {
	tests := []struct {
		name       string
		start, end int
		at         string
		quiet      bool
	}{
		{"evening in", 20 * 60, 7 * 60, "21:30", true},
		{"past midnight", 20 * 60, 7 * 60, "03:00", true},
		{"morning out", 20 * 60, 7 * 60, "07:00", false},
		{"day", 20 * 60, 7 * 60, "12:00", false},
		{"nap in", 13 * 60, 15 * 60, "14:59", true},
		{"nap out", 13 * 60, 15 * 60, "15:00", false},
	}
	for _, tt := range tests {
		at, _ := time.Parse("15:04", tt.at)
		if got := (Settings{Quiet: true, QuietStart: tt.start, QuietEnd: tt.end}).InQuiet(at); got != tt.quiet {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
	if (Settings{}).InQuiet(time.Now()) {
		t.Error("no quiet hours, yet quiet")
	}
}

// TestRetentionWords: what parents are told about how long messages are
// kept and when one goes, for every setting, a message a toy sent and one
// it received, played or not.
func TestRetentionWords(t *testing.T) {
	sent := time.Date(2026, 3, 1, 9, 30, 0, 0, time.Local)
	msg := func(sender string, played bool) MessageInfo {
		d := Delivery{Recipient: "gran"}
		if sender == "gran" {
			d.Recipient = "teddy"
		}
		if played {
			d.PlayedAt = sent.Add(time.Hour)
		}
		return MessageInfo{ID: "m", Sender: sender, SentAt: sent, Deliveries: []Delivery{d}}
	}
	tests := []struct {
		days   int
		kept   string
		sender string
		played bool
		when   string
	}{
		{7, "for 7 days", "teddy", false, "on 2026-03-08 09:30"},
		{30, "for 30 days", "gran", true, "on 2026-03-31 09:30"},
		{1, "for 1 day", "gran", false, "on 2026-03-02 09:30"},
		{RetainForever, "forever", "teddy", true, "never"},
		{RetainOncePlayed, "until played", "teddy", false, "once it has been played"},
		{RetainOncePlayed, "until played", "teddy", true, "soon: it has been played"},
		{RetainOncePlayed, "until played", "gran", false, "once it has been played"},
		{RetainOncePlayed, "until played", "gran", true, "soon: it has been played"},
	}
	for _, tt := range tests {
		if got := KeptText(tt.days); got != tt.kept {
			t.Errorf("KeptText(%d) = %q, want %q", tt.days, got, tt.kept)
		}
		if got := DeletionText(tt.days, msg(tt.sender, tt.played), "teddy", "2006-01-02 15:04"); got != tt.when {
			t.Errorf("DeletionText(%d, from %s, played %v) = %q, want %q", tt.days, tt.sender, tt.played, got, tt.when)
		}
	}
}

// TestSettingsRead checks that settings read back are the ones written
// last, however often they were read before (the store keeps them in
// memory between writes), and that a removed device has none.
func TestSettingsRead(t *testing.T) {
	f := newFixture(t)
	d := f.device("Teddy", KindToy)
	steps := []struct {
		name string
		set  *Settings
		want Settings
	}{
		{"defaults", nil, Settings{RetentionDays: DefaultRetentionDays}},
		{"quiet hours set", &Settings{RetentionDays: 30, Quiet: true, QuietStart: 19 * 60, QuietEnd: 7 * 60}, Settings{RetentionDays: 30, Quiet: true, QuietStart: 19 * 60, QuietEnd: 7 * 60}},
		{"quiet hours cleared", &Settings{RetentionDays: 30, DailyLimit: 5}, Settings{RetentionDays: 30, DailyLimit: 5}},
		{"kept once played", &Settings{RetentionDays: RetainOncePlayed}, Settings{RetentionDays: RetainOncePlayed}},
	}
	for _, s := range steps {
		if s.set != nil {
			if err := f.s.SetDeviceSettings(f.ctx, d.ID, *s.set); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		for range 2 {
			got, err := f.s.DeviceSettings(f.ctx, d.ID)
			if err != nil || got != s.want {
				t.Fatalf("%s: read %+v, %v; want %+v", s.name, got, err, s.want)
			}
		}
	}
	if err := f.s.SetDeviceSettings(f.ctx, d.ID, Settings{RetentionDays: -7}); err == nil {
		t.Fatal("a retention of -7 days was accepted")
	}
	if got, _ := f.s.DeviceSettings(f.ctx, d.ID); got != steps[len(steps)-1].want {
		t.Fatalf("a refused change was read back: %+v", got)
	}
	if err := f.s.DeleteDevice(f.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DeviceSettings(f.ctx, d.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settings of a removed device: %v, want ErrNotFound", err)
	}
}

// TestSettingsKnownFromOpen: the store reads every device's settings when
// it opens, and all again at the first it does not know, so that an idle
// hub's look at quiet hours never asks SQLite (whose code the start's
// pageout hands back).
func TestSettingsKnownFromOpen(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("Teddy", KindToy), f.device("Bunny", KindToy)
	want := Settings{RetentionDays: 30, Quiet: true, QuietStart: 19 * 60, QuietEnd: 7 * 60}
	if err := f.s.SetDeviceSettings(f.ctx, a.ID, want); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	closed, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close() // any read through it fails
	readers := f.s.db
	fromMemory := func(when string, ids []string, wants []Settings) {
		t.Helper()
		f.s.db = closed
		defer func() { f.s.db = readers }()
		for i, id := range ids {
			if got, err := f.s.DeviceSettings(f.ctx, id); err != nil || got != wants[i] {
				t.Errorf("%s, device %d: %+v, %v; want %+v from memory", when, i, got, err, wants[i])
			}
		}
	}
	def := Settings{RetentionDays: DefaultRetentionDays}
	fromMemory("just opened", []string{a.ID, b.ID}, []Settings{want, def})
	c := f.device("Owl", KindToy)
	if _, err := f.s.DeviceSettings(f.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	fromMemory("after a device was added and read", []string{a.ID, b.ID, c.ID}, []Settings{want, def, def})
}
