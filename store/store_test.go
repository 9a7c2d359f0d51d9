package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type fixture struct {
	t   *testing.T
	dir string
	opt Options
	s   *Store
	now time.Time
	mu  sync.Mutex
	seq int
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), ctx: context.Background()}
	f.opt = Options{
		Path:          filepath.Join(dir, "hub.db"),
		MasterKeyPath: filepath.Join(dir, "master.key"),
		Now:           f.clock,
		// The fixture's clock stands still, so every message is "in the
		// last minute"; the per-device limits are tested in hub.
		MaxMessagesPerMinute: 1 << 30,
		MaxBytesPerDay:       1 << 50,
	}
	f.open()
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) open() {
	f.t.Helper()
	s, err := Open(f.ctx, f.opt)
	if err != nil {
		f.t.Fatal(err)
	}
	f.s = s
	f.t.Cleanup(func() { s.Close() })
}

func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.s.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

// device adds a device with a certificate whose serial is "serial-<id>".
func (f *fixture) device(name string, kind Kind) Device {
	f.t.Helper()
	f.seq++
	id := fmt.Sprintf("%026d", f.seq)
	id = strings.Map(func(r rune) rune { return 'a' + (r - '0') }, id)
	d, err := f.s.AddDevice(f.ctx, NewDevice{ID: id, Name: name, Kind: kind, CertSerial: "serial-" + id, CertExpiry: f.clock().Add(24 * time.Hour)})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) link(a, b Device) {
	f.t.Helper()
	if err := f.s.Link(f.ctx, a.ID, b.ID); err != nil {
		f.t.Fatal(err)
	}
}

func TestOpenRefusals(t *testing.T) {
	f := newFixture(t)
	f.device("Bunny", KindToy)
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	keyBytes, err := os.ReadFile(f.opt.MasterKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(f.opt.MasterKeyPath); st.Mode().Perm() != 0o600 {
		t.Fatalf("master key mode %v", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f.opt.MasterKeyPath), ".master.key.tmp*")); len(left) > 0 {
		t.Fatalf("temporary key files left behind: %v", left)
	}

	other := t.TempDir()
	otherOpt := Options{Path: filepath.Join(other, "hub.db"), MasterKeyPath: filepath.Join(other, "master.key")}
	s2, err := Open(f.ctx, otherOpt)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()

	tests := []struct {
		name    string
		setup   func(t *testing.T) Options
		want    error
		wantMsg string
	}{
		{"missing key", func(t *testing.T) Options {
			o := f.opt
			o.MasterKeyPath = filepath.Join(t.TempDir(), "absent.key")
			return o
		}, ErrMasterKeyMissing, "restore the key"},
		{"wrong key", func(t *testing.T) Options {
			o := f.opt
			o.MasterKeyPath = otherOpt.MasterKeyPath
			return o
		}, ErrWrongMasterKey, ""},
		{"exposed key", func(t *testing.T) Options {
			o := f.opt
			o.MasterKeyPath = filepath.Join(t.TempDir(), "wide.key")
			if err := os.WriteFile(o.MasterKeyPath, keyBytes, 0o644); err != nil {
				t.Fatal(err)
			}
			return o
		}, ErrMasterKeyExposed, "chmod 600"},
		{"not a key", func(t *testing.T) Options {
			o := f.opt
			o.MasterKeyPath = filepath.Join(t.TempDir(), "junk.key")
			os.WriteFile(o.MasterKeyPath, []byte("hello"), 0o600)
			return o
		}, nil, "not a toyhub master key"},
		{"newer schema", func(t *testing.T) Options {
			o := copyDB(t, f.opt)
			db, _ := sql.Open("sqlite", o.Path)
			if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			return o
		}, ErrNewerSchema, "install a newer toyhub"},
		{"foreign database", func(t *testing.T) Options {
			o := copyDB(t, f.opt)
			db, _ := sql.Open("sqlite", o.Path)
			db.Exec("PRAGMA application_id = 42")
			db.Close()
			return o
		}, ErrNotToyhub, ""},
		{"garbage file", func(t *testing.T) Options {
			o := copyDB(t, f.opt)
			os.WriteFile(o.Path, bytes.Repeat([]byte("not a database "), 1000), 0o600)
			return o
		}, nil, "toyhub restore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.setup(t)
			keyBefore, _ := os.ReadFile(o.MasterKeyPath)
			s, err := Open(f.ctx, o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
			keyAfter, _ := os.ReadFile(o.MasterKeyPath)
			if !bytes.Equal(keyBefore, keyAfter) {
				t.Error("the master key file changed")
			}
		})
	}

	// The original still opens with its own key.
	f.open()
	if _, err := f.s.DeviceByName(f.ctx, "bunny"); err != nil {
		t.Fatal(err)
	}
}

func copyDB(t *testing.T, o Options) Options {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	n := Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "master.key")}
	os.WriteFile(n.Path, b, 0o600)
	k, _ := os.ReadFile(o.MasterKeyPath)
	os.WriteFile(n.MasterKeyPath, k, 0o600)
	return n
}

// TestFileModes: the database, its WAL and its shared-memory file are
// readable by the hub's user alone, whatever the umask; an existing
// database with looser modes is tightened.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	f := newFixture(t)
	f.device("Bunny", KindToy)
	check := func(when string) {
		for _, path := range []string{f.opt.Path, f.opt.Path + "-wal", f.opt.Path + "-shm"} {
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s: mode %v (%v), want 0600", when, filepath.Base(path), st.Mode().Perm(), err)
			}
		}
	}
	check("new database")
	f.s.Close()
	os.Chmod(f.opt.Path, 0o644)
	f.open()
	f.device("Bear", KindToy)
	check("reopened after chmod 644")
}

func TestPragmas(t *testing.T) {
	f := newFixture(t)
	var secure, fk, page int
	var mode string
	db := f.s.db
	for q, dst := range map[string]any{"PRAGMA secure_delete": &secure, "PRAGMA foreign_keys": &fk, "PRAGMA page_size": &page, "PRAGMA journal_mode": &mode} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(q, err)
		}
	}
	if secure != 1 || fk != 1 || page != 4096 || mode != "wal" {
		t.Fatalf("secure_delete=%d foreign_keys=%d page_size=%d journal=%s", secure, fk, page, mode)
	}
	// The writing connection too.
	err := f.s.w.do(f.ctx, nil, func(c *sql.Conn) error {
		var s, sync int
		if err := c.QueryRowContext(f.ctx, "PRAGMA secure_delete").Scan(&s); err != nil {
			return err
		}
		if err := c.QueryRowContext(f.ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			return err
		}
		if s != 1 || sync != 2 {
			return fmt.Errorf("writer: secure_delete=%d synchronous=%d", s, sync)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The read pool cannot write.
	if _, err := db.Exec("DELETE FROM devices"); err == nil {
		t.Fatal("read pool accepted a write")
	}
}

// TestLazyCommits checks the synchronous level each batch commits under:
// only a batch made wholly of lazy changes skips its fsync, and every
// other batch, and every operation on the bare connection, is back at
// FULL.
func TestLazyCommits(t *testing.T) {
	f := newFixture(t)
	w := f.s.w
	level := func(seen *int) func(*Tx) error {
		return func(tx *Tx) error { return tx.QueryRow("PRAGMA synchronous").Scan(seen) }
	}
	// batch submits ops while the writer is held, so that they commit as
	// one batch, and returns the level each saw.
	batch := func(lazy ...bool) []int {
		hold, held := make(chan struct{}), make(chan struct{})
		done := make(chan error, len(lazy)+1)
		if err := w.submit(&writeOp{tx: func(*Tx) error { close(held); <-hold; return nil }, done: func(err error) { done <- err }}); err != nil {
			t.Fatal(err)
		}
		<-held
		seen := make([]int, len(lazy))
		for i, l := range lazy {
			if err := w.submit(&writeOp{tx: level(&seen[i]), lazy: l, done: func(err error) { done <- err }}); err != nil {
				t.Fatal(err)
			}
		}
		close(hold)
		for range len(lazy) + 1 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		return seen
	}
	connLevel := func() int {
		var n int
		if err := w.do(f.ctx, nil, func(c *sql.Conn) error { return c.QueryRowContext(f.ctx, "PRAGMA synchronous").Scan(&n) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const normal, full = 1, 2
	steps := []struct {
		name string
		lazy []bool
		want int
	}{
		{"lazy alone", []bool{true}, normal},
		{"lazy together", []bool{true, true, true}, normal},
		{"one synced among lazy", []bool{true, false, true}, full},
		{"synced after lazy", []bool{false}, full},
		{"lazy again", []bool{true, true}, normal},
	}
	for _, s := range steps {
		// The holding op is not lazy, so it commits on its own first;
		// what follows is gathered into the next batch.
		for i, got := range batch(s.lazy...) {
			if got != s.want {
				t.Errorf("%s: op %d committed at synchronous=%d, want %d", s.name, i, got, s.want)
			}
		}
		if got := connLevel(); got != full {
			t.Errorf("after %s: the connection's own operations run at synchronous=%d, want %d", s.name, got, full)
		}
	}
	var n int
	if err := w.doLazy(f.ctx, level(&n)); err != nil || n != normal {
		t.Fatalf("doLazy: synchronous=%d, %v", n, err)
	}
	if err := w.do(f.ctx, level(&n), nil); err != nil || n != full {
		t.Fatalf("do after doLazy: synchronous=%d, %v", n, err)
	}
}

func TestDevices(t *testing.T) {
	f := newFixture(t)
	bunny := f.device("Bunny", KindToy)
	gran := f.device("Grandma Rose", KindFamily)

	if _, err := f.s.AddDevice(f.ctx, NewDevice{ID: "x", Name: "  BUNNY ", Kind: KindToy, CertSerial: "s"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, bad := range []string{"", " ", strings.Repeat("x", 65), "a\x00b", "a/b"} {
		if _, err := f.s.AddDevice(f.ctx, NewDevice{ID: "y", Name: bad, Kind: KindToy, CertSerial: "s2"}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	d, err := f.s.DeviceByName(f.ctx, "grandma   rose")
	if err != nil || d.ID != gran.ID || d.Name != "Grandma Rose" || d.Kind != KindFamily {
		t.Fatalf("DeviceByName = %+v, %v", d, err)
	}
	all, err := f.s.Devices(f.ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Devices = %d, %v", len(all), err)
	}

	tests := []struct {
		name   string
		serial string
		device string
		setup  func()
		want   error
	}{
		{"good", "serial-" + bunny.ID, bunny.ID, nil, nil},
		{"unknown serial", "nope", bunny.ID, nil, ErrNotFound},
		{"someone else's certificate", "serial-" + gran.ID, bunny.ID, nil, ErrNotFound},
		{"expired", "serial-" + bunny.ID, bunny.ID, func() { f.advance(25 * time.Hour) }, ErrRevoked},
		{"revoked", "serial-" + gran.ID, gran.ID, func() {
			f.advance(-25 * time.Hour)
			if err := f.s.RevokeDevice(f.ctx, gran.ID); err != nil {
				t.Fatal(err)
			}
		}, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			err := f.s.CheckCertificate(f.ctx, tt.serial, tt.device)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckCertificate = %v, want %v", err, tt.want)
			}
		})
	}
	if d, _ := f.s.Device(f.ctx, gran.ID); !d.Revoked() {
		t.Error("device not marked revoked")
	}
	if err := f.s.RevokeDevice(f.ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke missing: %v", err)
	}
}

func TestLinks(t *testing.T) {
	f := newFixture(t)
	a, b, c := f.device("a", KindToy), f.device("b", KindToy), f.device("c", KindFamily)
	f.link(a, b)
	f.link(b, a) // idempotent
	f.link(c, a)
	got, err := f.s.Contacts(f.ctx, a.ID)
	if err != nil || len(got) != 2 {
		t.Fatalf("contacts of a = %v, %v", got, err)
	}
	if err := f.s.Link(f.ctx, a.ID, a.ID); err == nil {
		t.Error("self link accepted")
	}
	if err := f.s.RevokeDevice(f.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.Contacts(f.ctx, a.ID); len(got) != 1 || got[0] != b.ID {
		t.Errorf("revoked device still a contact: %v", got)
	}
	if err := f.s.Link(f.ctx, b.ID, c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("link to revoked device: %v", err)
	}
	if err := f.s.Unlink(f.ctx, b.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Unlink(f.ctx, b.ID, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unlink: %v", err)
	}
}

// TestRateWindows: the hub's own bounds count a sender's messages of the
// last minute and bytes of the last day, each in its own window, read
// from one pass over the day's entries.
func TestRateWindows(t *testing.T) {
	data := bytes.Repeat([]byte{1}, 1000)
	for _, c := range []struct {
		name      string
		perMinute int
		perDay    int64
		ago       []time.Duration // earlier messages, before the one tried
		refused   string          // "" when the message is accepted
	}{
		{"a quiet sender", 2, 10000, nil, ""},
		{"one in the minute, under two", 2, 10000, []time.Duration{30 * time.Second}, ""},
		{"two in the minute", 2, 10000, []time.Duration{50 * time.Second, 10 * time.Second}, "2 messages in the last minute"},
		{"older than a minute count for the day only", 2, 10000, []time.Duration{2 * time.Hour, time.Hour, 61 * time.Second}, ""},
		{"the day's bytes", 100, 3500, []time.Duration{20 * time.Hour, 10 * time.Hour, time.Hour}, "0 MB in the last day"},
		{"older than a day count for nothing", 100, 3500, []time.Duration{48 * time.Hour, 25 * time.Hour, 24*time.Hour + time.Second}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.s.opt.MaxMessagesPerMinute, f.s.opt.MaxBytesPerDay = c.perMinute, c.perDay
			a, b := f.device("A", KindToy), f.device("B", KindToy)
			f.link(a, b)
			start := f.now
			for i, ago := range c.ago {
				f.mu.Lock()
				f.now = start.Add(-ago)
				f.mu.Unlock()
				f.send(fmt.Sprintf("m%d", i), a, data, b)
			}
			f.mu.Lock()
			f.now = start
			f.mu.Unlock()
			_, err := f.s.StartUpload(f.ctx, spec("tried", a, data, len(data), b))
			switch {
			case c.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.refused != "" && (!errors.Is(err, ErrRateLimit) || !strings.Contains(err.Error(), c.refused)):
				t.Fatalf("got %v, want a refusal saying %q", err, c.refused)
			}
		})
	}
}
