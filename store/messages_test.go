package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

func spec(id string, sender Device, data []byte, chunk int, to ...Device) UploadSpec {
	s := UploadSpec{ID: id, Sender: sender.ID, Format: "wav", Size: int64(len(data)), SHA256: sha256.Sum256(data), ChunkSize: chunk}
	for _, d := range to {
		s.To = append(s.To, d.ID)
	}
	return s
}

func put(t *testing.T, s *Store, u *Upload, seq int, data []byte, commit bool) ChunkResult {
	t.Helper()
	ch := make(chan ChunkResult, 1)
	s.PutChunk(u, seq, data, commit, time.Second, func(r ChunkResult) { ch <- r })
	return <-ch
}

// sendAll uploads a whole message and commits it.
func sendAll(t *testing.T, f *fixture, sp UploadSpec, data []byte) *Upload {
	t.Helper()
	up, err := f.s.StartUpload(f.ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range up.Chunks() {
		if r := put(t, f.s, up, seq, piece(data, sp.ChunkSize, seq), seq == up.Chunks()-1); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return up
}

func piece(data []byte, chunk, seq int) []byte {
	end := min((seq+1)*chunk, len(data))
	return data[seq*chunk : end]
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestUploadAndDelivery(t *testing.T) {
	f := newFixture(t)
	bunny, bear, stranger := f.device("Bunny", KindToy), f.device("Bear", KindToy), f.device("Stranger", KindToy)
	f.link(bunny, bear)
	data := randBytes(10_000)
	const chunk = 4096
	id := "0123456789abcdef0123456789abcdef"

	if _, err := f.s.StartUpload(f.ctx, spec(id, bunny, data, chunk, stranger)); !errors.Is(err, ErrNotContact) {
		t.Fatalf("upload to a stranger: %v", err)
	}
	up, err := f.s.StartUpload(f.ctx, spec(id, bunny, data, chunk))
	if err != nil {
		t.Fatal(err)
	}
	if up.Next != 0 || up.Committed || len(up.To) != 1 || up.To[0] != bear.ID {
		t.Fatalf("new upload = %+v", up)
	}
	if r := put(t, f.s, up, 1, piece(data, chunk, 1), false); !errors.Is(r.Err, ErrOutOfOrder) {
		t.Fatalf("chunk 1 before 0: %v", r.Err)
	}
	if r := put(t, f.s, up, 0, piece(data, chunk, 0), false); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := put(t, f.s, up, 0, piece(data, chunk, 0), false); !errors.Is(r.Err, ErrOutOfOrder) {
		t.Fatalf("chunk 0 twice: %v", r.Err)
	}

	// Resume after a "restart": same header, Next from the database.
	f.reopen()
	if _, err := f.s.StartUpload(f.ctx, spec(id, stranger, data, chunk)); !errors.Is(err, ErrIDInUse) {
		t.Fatalf("same ID from another sender: %v", err)
	}
	bad := spec(id, bunny, data, chunk)
	bad.Size++
	if _, err := f.s.StartUpload(f.ctx, bad); !errors.Is(err, ErrMismatch) {
		t.Fatalf("changed header: %v", err)
	}
	up, err = f.s.StartUpload(f.ctx, spec(id, bunny, data, chunk, bear))
	if err != nil || up.Next != 1 {
		t.Fatalf("resume = %+v, %v", up, err)
	}
	var rebuilt []byte
	if err := f.s.ReadUpload(f.ctx, up, func(seq int, b []byte) error { rebuilt = append(rebuilt, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rebuilt, piece(data, chunk, 0)) {
		t.Fatal("ReadUpload returned other bytes")
	}
	if ws, _ := f.s.WaitingFor(f.ctx, bear.ID); len(ws) != 0 {
		t.Fatalf("uncommitted message is waiting: %+v", ws)
	}
	if r := put(t, f.s, up, 1, piece(data, chunk, 1), true); r.Err == nil {
		t.Fatal("commit before the last chunk succeeded")
	}
	// The failed commit rolled back its chunk too.
	if r := put(t, f.s, up, 1, piece(data, chunk, 1), false); r.Err != nil {
		t.Fatal(r.Err)
	}
	r := put(t, f.s, up, 2, piece(data, chunk, 2), true)
	if r.Err != nil || !r.Committed || len(r.Recipients) != 1 || r.Recipients[0] != bear.ID {
		t.Fatalf("commit = %+v", r)
	}
	if again, err := f.s.StartUpload(f.ctx, spec(id, bunny, data, chunk)); err != nil || !again.Committed {
		t.Fatalf("header after commit = %+v, %v", again, err)
	}

	ws, err := f.s.WaitingFor(f.ctx, bear.ID)
	if err != nil || len(ws) != 1 || ws[0].MessageID != id || ws[0].SenderName != "Bunny" || ws[0].SHA256 != sha256.Sum256(data) {
		t.Fatalf("waiting = %+v, %v", ws, err)
	}

	// Only the recipient may read, and reads return whole stored chunks
	// from any offset.
	if _, err := f.s.ReadFor(f.ctx, stranger.ID, id, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger read: %v", err)
	}
	if _, err := f.s.ReadFor(f.ctx, bunny.ID, id, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sender read: %v", err)
	}
	var got []byte
	for off := int64(0); off < int64(len(data)); {
		p, err := f.s.ReadFor(f.ctx, bear.ID, id, off)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Data...)
		off += int64(len(p.Data))
		if p.Last() != (off == int64(len(data))) {
			t.Fatalf("Last() = %v at %d", p.Last(), off)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("delivered bytes differ")
	}
	if p, err := f.s.ReadFor(f.ctx, bear.ID, id, 5000); err != nil || !bytes.Equal(p.Data, data[5000:8192]) {
		t.Fatalf("read from the middle of a chunk: %v", err)
	}
	for _, tt := range []struct {
		off  int64
		want error
	}{{-1, ErrNotFound}, {int64(len(data)), ErrPastEnd}, {int64(len(data)) + 1, ErrPastEnd}} {
		if _, err := f.s.ReadFor(f.ctx, bear.ID, id, tt.off); !errors.Is(err, tt.want) {
			t.Errorf("offset %d: %v, want %v", tt.off, err, tt.want)
		}
	}
	if _, err := f.s.ReadFor(f.ctx, stranger.ID, id, int64(len(data))); !errors.Is(err, ErrNotFound) {
		t.Errorf("past the end, for someone not a recipient: %v", err)
	}

	// Delivered, then played; the sender hears of each until it says it heard.
	done := make(chan Status, 1)
	f.s.MarkDelivered(bear.ID, id, func(st Status, ok bool, err error) {
		if err != nil || !ok {
			t.Errorf("MarkDelivered ok=%v err=%v", ok, err)
		}
		done <- st
	})
	if st := <-done; st.State != StateDelivered || st.Sender != bunny.ID {
		t.Fatalf("delivered status = %+v", st)
	}
	if sts, _ := f.s.Untold(f.ctx, bunny.ID); len(sts) != 1 || sts[0].State != StateDelivered {
		t.Fatalf("untold = %+v", sts)
	}
	if _, _, err := f.s.MarkPlayed(f.ctx, stranger.ID, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger played: %v", err)
	}
	st, changed, err := f.s.MarkPlayed(f.ctx, bear.ID, id)
	if err != nil || !changed || st.State != StatePlayed {
		t.Fatalf("played = %+v %v %v", st, changed, err)
	}
	if _, changed, _ := f.s.MarkPlayed(f.ctx, bear.ID, id); changed {
		t.Fatal("second played changed something")
	}
	if ws, _ := f.s.WaitingFor(f.ctx, bear.ID); len(ws) != 0 {
		t.Fatal("played message still waiting")
	}
	sts, _ := f.s.Untold(f.ctx, bunny.ID)
	if len(sts) != 1 || sts[0].State != StatePlayed {
		t.Fatalf("untold after play = %+v", sts)
	}
	// Until Bunny says it heard, each sync offers the status again.
	if again, _ := f.s.Untold(f.ctx, bunny.ID); len(again) != 1 {
		t.Fatalf("status unheard but not offered again: %+v", again)
	}
	for _, c := range []struct {
		name   string
		sender string
		st     Status
		err    bool
	}{
		{"not the sender", bear.ID, sts[0], true},
		{"no such state", bunny.ID, Status{MessageID: id, Recipient: bear.ID, State: "lost"}, true},
		{"wrong recipient", bunny.ID, Status{MessageID: id, Recipient: stranger.ID, State: StatePlayed}, true},
		{"delivered only", bunny.ID, Status{MessageID: id, Recipient: bear.ID, State: StateDelivered}, false},
	} {
		if err := f.s.Heard(f.ctx, c.sender, c.st); (err != nil) != c.err || c.err && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Heard = %v", c.name, err)
		}
	}
	if again, _ := f.s.Untold(f.ctx, bunny.ID); len(again) != 1 || again[0].State != StatePlayed {
		t.Fatalf("hearing delivered hid played: %+v", again)
	}
	for range 2 { // twice: the second changes nothing and is no error
		if err := f.s.Heard(f.ctx, bunny.ID, sts[0]); err != nil {
			t.Fatalf("Heard: %v", err)
		}
	}
	if sts, _ := f.s.Untold(f.ctx, bunny.ID); len(sts) != 0 {
		t.Fatalf("heard statuses still untold: %+v", sts)
	}
}

// TestStatusKeep: a status its sender never hears is offered for
// StatusKeep, and not after.
func TestStatusKeep(t *testing.T) {
	f := newFixture(t)
	bunny, bear := f.device("Bunny", KindToy), f.device("Bear", KindToy)
	f.link(bunny, bear)
	const id = "0123456789abcdef0123456789abcdef"
	f.send(id, bunny, randBytes(100), bear)
	if _, _, err := f.s.MarkPlayed(f.ctx, bear.ID, id); err != nil {
		t.Fatal(err)
	}
	start := f.clock()
	for _, c := range []struct {
		after time.Duration
		want  int
	}{{0, 1}, {StatusKeep - time.Minute, 1}, {StatusKeep + time.Minute, 0}} {
		f.advance(start.Add(c.after).Sub(f.clock()))
		if sts, err := f.s.Untold(f.ctx, bunny.ID); err != nil || len(sts) != c.want {
			t.Errorf("after %v: %d statuses (%v), want %d", c.after, len(sts), err, c.want)
		}
	}
}

func TestUploadLimits(t *testing.T) {
	f := newFixture(t)
	f.opt.MaxUploadsPerDevice = 2
	f.reopen()
	a, b := f.device("a", KindToy), f.device("b", KindToy)
	if _, err := f.s.StartUpload(f.ctx, spec("00000000000000000000000000000001", a, randBytes(100), 50)); !errors.Is(err, ErrNotContact) {
		t.Fatalf("no contacts: %v", err)
	}
	f.link(a, b)
	specs := []UploadSpec{spec(fmt.Sprintf("%032d", 0), a, randBytes(100), 50), spec(fmt.Sprintf("%032d", 1), a, randBytes(100), 50)}
	for _, sp := range specs {
		if _, err := f.s.StartUpload(f.ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	// A third takes the place of the one untouched the longest: not the
	// one whose chunk came since.
	f.advance(time.Minute)
	up1, err := f.s.StartUpload(f.ctx, specs[1])
	if err != nil || up1.Evicted != "" {
		t.Fatalf("resuming: %v, evicted %q", err, up1.Evicted)
	}
	done := make(chan ChunkResult, 1)
	f.s.PutChunk(up1, 0, randBytes(50), false, 0, func(r ChunkResult) { done <- r })
	if r := <-done; r.Err != nil {
		t.Fatal(r.Err)
	}
	third, err := f.s.StartUpload(f.ctx, spec(fmt.Sprintf("%032d", 9), a, randBytes(100), 50))
	if err != nil || third.Evicted != specs[0].ID {
		t.Fatalf("third upload: %v, evicted %q", err, third.Evicted)
	}
	if up, err := f.s.StartUpload(f.ctx, specs[1]); err != nil || up.Evicted != "" || up.Next != 1 {
		t.Fatalf("the one touched since: %v, evicted %q, next %d", err, up.Evicted, up.Next)
	}
	if up, err := f.s.StartUpload(f.ctx, specs[0]); err != nil || up.Next != 0 || up.Evicted != specs[1].ID && up.Evicted != "00000000000000000000000000000009" {
		t.Fatalf("the evicted one starts again: %v, next %d, evicted %q", err, up.Next, up.Evicted)
	}
	f.advance(8 * 24 * time.Hour)
	if n, err := f.s.DiscardStaleUploads(f.ctx, f.clock().Add(-7*24*time.Hour)); err != nil || n != 2 {
		t.Fatalf("DiscardStaleUploads = %d, %v", n, err)
	}
	if _, err := f.s.StartUpload(f.ctx, spec(fmt.Sprintf("%032d", 9), a, randBytes(100), 50)); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommit runs many uploads at once: every chunk lands, in order,
// and a failing operation in a batch does not undo its neighbours.
func TestGroupCommit(t *testing.T) {
	f := newFixture(t)
	var devs []Device
	for i := range 8 {
		devs = append(devs, f.device(fmt.Sprintf("toy %d", i), KindToy))
	}
	for i := 0; i < len(devs); i += 2 {
		f.link(devs[i], devs[i+1])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randBytes(20 * 1000)
			up, err := f.s.StartUpload(f.ctx, spec(fmt.Sprintf("%032x", i+1), d, data, 1000))
			if err != nil {
				errs <- err
				return
			}
			results := make(chan ChunkResult, 40)
			for seq := range 20 {
				f.s.PutChunk(up, seq, piece(data, 1000, seq), seq == 19, time.Second, func(r ChunkResult) { results <- r })
				// A stray duplicate in every batch must fail alone.
				f.s.PutChunk(up, seq, piece(data, 1000, seq), false, 0, func(r ChunkResult) {
					if !errors.Is(r.Err, ErrOutOfOrder) {
						errs <- fmt.Errorf("duplicate chunk: %v", r.Err)
					}
				})
			}
			for range 20 {
				if r := <-results; r.Err != nil {
					errs <- r.Err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 0; i < len(devs); i += 2 {
		if ws, err := f.s.WaitingFor(f.ctx, devs[i+1].ID); err != nil || len(ws) != 1 {
			t.Errorf("device %d has %d waiting (%v)", i+1, len(ws), err)
		}
	}
	if err := f.s.IntegrityCheck(f.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCiphertextBinding moves a sealed chunk to another position: it must
// not open there.
func TestCiphertextBinding(t *testing.T) {
	f := newFixture(t)
	f.opt.HotCacheBytes = -1 // the database's copy is what is tampered with
	f.reopen()
	a, b := f.device("a", KindToy), f.device("b", KindToy)
	f.link(a, b)
	data := randBytes(200)
	up, _ := f.s.StartUpload(f.ctx, spec("000000000000000000000000000000aa", a, data, 100))
	put(t, f.s, up, 0, data[:100], false)
	put(t, f.s, up, 1, data[100:], true)
	err := f.s.w.do(f.ctx, func(tx *Tx) error {
		_, err := tx.Exec("UPDATE chunks SET data = (SELECT data FROM chunks WHERE seq = 1) WHERE seq = 0")
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ReadFor(f.ctx, b.ID, up.ID, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped chunk: %v", err)
	}
	// A device's sealed name copied onto another device.
	f.s.w.do(f.ctx, func(tx *Tx) error {
		_, err := tx.Exec("UPDATE devices SET name = (SELECT name FROM devices WHERE id = ?) WHERE id = ?", a.ID, b.ID)
		return err
	}, nil)
	if _, err := f.s.Device(f.ctx, b.ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved name: %v", err)
	}
}

// TestNothingInClear stores names and a recognisable recording, then scans
// the database, WAL and shared-memory files for them.
func TestNothingInClear(t *testing.T) {
	f := newFixture(t)
	names := []string{"Bunny Rabbit Fluffington", "Grandma Rosalind"}
	a := f.device(names[0], KindToy)
	b := f.device(names[1], KindFamily)
	f.link(a, b)
	// A WAV-like recording with a distinctive pattern.
	data := append([]byte("RIFF\x00\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte("child-voice-sample-"), 3000)...)
	sendAll(t, f, spec("000000000000000000000000000000bb", a, data, 8192), data)
	needles := [][]byte{[]byte("child-voice-sample-"), []byte("WAVEfmt")}
	for _, n := range names {
		needles = append(needles, []byte(n), []byte(NormalizeName(n)))
	}
	scan := func(when string) {
		files := f.s.Files()
		if len(files) < 2 {
			t.Fatalf("%s: only %v on disk", when, files)
		}
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s contains %q", when, path, n)
				}
			}
		}
	}
	scan("before checkpoint")
	if err := f.s.Checkpoint(f.ctx); err != nil {
		t.Fatal(err)
	}
	scan("after checkpoint")
}

// TestHotCache: a message read from memory right after its commit is
// authorized exactly as from the database, and returns the same bytes.
func TestHotCache(t *testing.T) {
	f := newFixture(t)
	a, b, c, eve := f.device("a", KindToy), f.device("b", KindToy), f.device("c", KindFamily), f.device("eve", KindToy)
	f.link(a, b)
	f.link(a, c)
	f.link(a, eve)
	data := randBytes(50_000)
	up := sendAll(t, f, spec("000000000000000000000000000000cc", a, data, 16384, b, c), data)
	if f.s.hot.get(up.ID) == nil {
		t.Fatal("a message committed in one go is not in the hot cache")
	}
	// The same database, read without a cache.
	cold := &Store{db: f.s.db, keys: f.s.keys, opt: f.opt, hot: newHotCache(-1)}
	for _, reader := range []string{b.ID, c.ID, a.ID, eve.ID} {
		for _, off := range []int64{0, 100, 16384, 49_999, 50_000, -1} {
			hp, herr := f.s.ReadFor(f.ctx, reader, up.ID, off)
			cp, cerr := cold.ReadFor(f.ctx, reader, up.ID, off)
			if errors.Is(herr, ErrNotFound) != errors.Is(cerr, ErrNotFound) || (herr == nil) != (cerr == nil) {
				t.Fatalf("reader %s offset %d: hot %v, database %v", reader, off, herr, cerr)
			}
			if herr == nil && (!bytes.Equal(hp.Data, cp.Data) || hp.Seq != cp.Seq || hp.Offset != cp.Offset || hp.Size != cp.Size) {
				t.Fatalf("reader %s offset %d: hot and database pieces differ", reader, off)
			}
		}
	}
	if _, _, err := f.s.MarkPlayed(f.ctx, b.ID, up.ID); err != nil {
		t.Fatal(err)
	}
	if f.s.hot.get(up.ID) == nil {
		t.Fatal("evicted before every recipient played")
	}
	if _, _, err := f.s.MarkPlayed(f.ctx, c.ID, up.ID); err != nil {
		t.Fatal(err)
	}
	if f.s.hot.get(up.ID) != nil {
		t.Fatal("still cached after every recipient played")
	}
	if p, err := f.s.ReadFor(f.ctx, c.ID, up.ID, 0); err != nil || !bytes.Equal(p.Data, data[:16384]) {
		t.Fatalf("read from the database after eviction: %v", err)
	}

	// The cache is bounded.
	hc := newHotCache(100)
	for i := range 10 {
		hc.put(&hotMessage{id: fmt.Sprint(i), bytes: 20, recipients: map[string]bool{}})
	}
	if hc.used > 100 || hc.get("0") != nil || hc.get("9") == nil {
		t.Fatalf("cache holds %d bytes; oldest kept=%v newest kept=%v", hc.used, hc.get("0") != nil, hc.get("9") != nil)
	}
}

// TestAppendFor: a fetch's bytes are opened after what the buffer already
// holds (the frame's header), into its spare room when there is enough,
// from the hot cache and from the database alike.
func TestAppendFor(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("a", KindToy), f.device("b", KindToy)
	f.link(a, b)
	data := randBytes(40_000)
	up := sendAll(t, f, spec("000000000000000000000000000000dd", a, data, 16384, b), data)
	cold := &Store{db: f.s.db, keys: f.s.keys, opt: f.opt, hot: newHotCache(-1)}
	head := []byte("header")
	tests := []struct {
		name     string
		room     int // spare capacity after the header
		off, end int64
	}{
		{"a whole chunk, room for it", 16384, 0, 16384},
		{"from inside a chunk", 16384, 5000, 16384},
		{"the short last chunk", 16384, 32768, 40_000},
		{"no room: a new buffer", 10, 16384, 32768},
	}
	for _, tt := range tests {
		for name, s := range map[string]*Store{"hot": f.s, "database": cold} {
			t.Run(tt.name+", "+name, func(t *testing.T) {
				buf := append(make([]byte, 0, len(head)+tt.room), head...)
				p, out, err := s.AppendFor(f.ctx, buf, b.ID, up.ID, tt.off)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(p.Data, data[tt.off:tt.end]) || p.Offset != tt.off {
					t.Fatalf("bytes %d to %d at %d, want %d to %d", p.Offset, p.Offset+int64(len(p.Data)), p.Offset, tt.off, tt.end)
				}
				if !bytes.Equal(out[:len(head)], head) || len(out) != len(head)+len(p.Data) || &out[len(head)] != &p.Data[0] {
					t.Fatal("the header is not kept, followed by the bytes")
				}
				if inPlace := &out[0] == &buf[:1][0]; inPlace != (tt.room >= 16384) {
					t.Fatalf("opened in the given buffer: %v, with %d bytes of room", inPlace, tt.room)
				}
			})
		}
	}
	if _, out, err := f.s.AppendFor(f.ctx, head, a.ID, up.ID, 0); !errors.Is(err, ErrNotFound) || !bytes.Equal(out, head) {
		t.Fatalf("the sender reads its own message: %v; buffer %q", err, out)
	}
}
