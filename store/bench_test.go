package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkJournal measures what the journal mode and page size cost on
// the message path: 32 KiB chunks written through the group-commit writer
// by 1 or 25 concurrent uploaders, while, as on a live hub, recipients
// read committed messages. Run with:
//
//	go test ./store -run '^$' -bench Journal -benchtime 2000x
//
// The chunks/s of each variant are comparable within one run.
func BenchmarkJournal(b *testing.B) {
	for _, journal := range []string{"wal", "delete"} {
		for _, page := range []int{4096, 16384, 65536} {
			for _, writers := range []int{1, 25} {
				b.Run(fmt.Sprintf("%s/page=%d/writers=%d", journal, page, writers), func(b *testing.B) {
					benchJournal(b, journal, page, writers)
				})
			}
		}
	}
}

func benchJournal(b *testing.B, journal string, page, writers int) {
	dir := b.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "master.key"),
		Journal: journal, PageSize: page, MaxUploadsPerDevice: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const chunk = 32 * 1024
	const perMessage = 10 // 320 KB messages, as in the benchmark of DESIGN.md
	data := randBytes(chunk * perMessage)
	sum := sha256.Sum256(data)
	var devs [][2]string
	for i := range writers {
		var pair [2]string
		for j := range 2 {
			id := fmt.Sprintf("%025d%d", i, j)
			if _, err := s.AddDevice(ctx, NewDevice{ID: id, Name: id, Kind: KindToy, CertSerial: id, CertExpiry: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			pair[j] = id
		}
		if err := s.Link(ctx, pair[0], pair[1]); err != nil {
			b.Fatal(err)
		}
		devs = append(devs, pair)
	}

	var next atomic.Int64
	var msgSeq atomic.Int64
	var reads atomic.Int64
	b.SetBytes(chunk)
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pair := devs[w]
			for next.Load() < int64(b.N) {
				id := fmt.Sprintf("%032x", msgSeq.Add(1))
				up, err := s.StartUpload(ctx, UploadSpec{ID: id, Sender: pair[0], Format: "wav", Size: int64(len(data)), SHA256: sum, ChunkSize: chunk})
				if err != nil {
					b.Error(err)
					return
				}
				// Chunks pipelined, as the device client sends them.
				done := make(chan error, perMessage)
				for seq := range perMessage {
					s.PutChunk(up, seq, data[seq*chunk:(seq+1)*chunk], seq == perMessage-1, time.Second,
						func(r ChunkResult) { done <- r.Err })
				}
				for range perMessage {
					if err := <-done; err != nil {
						b.Error(err)
						return
					}
				}
				next.Add(perMessage)
				// The recipient reads it back while others write.
				for off := int64(0); off < int64(len(data)); off += chunk {
					if _, err := s.ReadFor(ctx, pair[1], id, off); err != nil {
						b.Error(err)
						return
					}
					reads.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "chunks/s")
	// Space: what each stored chunk costs on disk once checkpointed.
	if err := s.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "hub.db")); err == nil {
		b.ReportMetric(float64(st.Size())/float64(next.Load()), "disk-B/chunk")
	}
}

// BenchmarkAudio is what playing a message in the web app costs the
// store: authorize, then decrypt and stream it chunk by chunk. The
// baseline is what a plain file server does (what leaked CloudPets'
// recordings): read the same bytes from a file, unencrypted, unchecked.
func BenchmarkAudio(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(context.Background(), Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "m.key")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var devs []Device
	for i, name := range []string{"Teddy", "Gran"} {
		d, err := s.AddDevice(ctx, NewDevice{ID: fmt.Sprintf("dev%d", i), Name: name, Kind: KindToy, CertSerial: fmt.Sprint(i), CertExpiry: time.Now().Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		devs = append(devs, d)
	}
	if err := s.Link(ctx, devs[0].ID, devs[1].ID); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 320_000)
	rand.Read(data)
	const chunk = 32 << 10
	u, err := s.StartUpload(ctx, UploadSpec{ID: "m", Sender: devs[0].ID, To: []string{devs[1].ID}, Format: "wav",
		Size: int64(len(data)), SHA256: sha256.Sum256(data), ChunkSize: chunk})
	if err != nil {
		b.Fatal(err)
	}
	n := u.Chunks()
	done := make(chan ChunkResult, n)
	for seq := range n {
		s.PutChunk(u, seq, data[seq*chunk:min((seq+1)*chunk, len(data))], seq == n-1, time.Second, func(r ChunkResult) { done <- r })
	}
	for range n {
		if r := <-done; r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	plain := filepath.Join(dir, "plain.wav")
	if err := os.WriteFile(plain, data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline: read a plain file", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := os.Open(plain)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, struct{ io.Reader }{f}) // no WriterTo shortcut: read it
			f.Close()
		}
	})
	b.Run("store: authorize, decrypt, stream", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			a, err := s.OpenAudio(ctx, "m", devs[0].ID, Viewer{Device: devs[1].ID})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.WriteAudio(ctx, a, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeleteMessage is what deleting a message for good costs
// (rows, then a WAL checkpoint and truncation), beside deleting its rows
// alone.
func BenchmarkDeleteMessage(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(context.Background(), Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "m.key")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	a, _ := s.AddDevice(ctx, NewDevice{ID: "dev0", Name: "Teddy", Kind: KindToy, CertSerial: "0", CertExpiry: time.Now().Add(time.Hour)})
	r, _ := s.AddDevice(ctx, NewDevice{ID: "dev1", Name: "Gran", Kind: KindFamily, CertSerial: "1", CertExpiry: time.Now().Add(time.Hour)})
	s.Link(ctx, a.ID, r.ID)
	data := make([]byte, 320_000)
	rand.Read(data)
	n := 0
	store := func() string {
		n++
		id := fmt.Sprintf("m%d", n)
		u, err := s.StartUpload(ctx, UploadSpec{ID: id, Sender: a.ID, To: []string{r.ID}, Format: "wav", Size: int64(len(data)), SHA256: sha256.Sum256(data), ChunkSize: 32 << 10})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan ChunkResult, u.Chunks())
		for seq := range u.Chunks() {
			s.PutChunk(u, seq, data[seq*(32<<10):min((seq+1)*(32<<10), len(data))], seq == u.Chunks()-1, time.Second, func(r ChunkResult) { done <- r })
		}
		for range u.Chunks() {
			<-done
		}
		return id
	}
	b.Run("baseline: delete the rows", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			id := store()
			b.StartTimer()
			if err := s.w.do(ctx, func(tx *Tx) error { _, err := tx.Exec("DELETE FROM messages WHERE id = ?", id); return err }, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("delete for good", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			id := store()
			b.StartTimer()
			if _, err := s.DeleteMessages(ctx, []string{id}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSenderHistory is what sending one message costs (the upload
// with its limit checks, the commit, its delivery, then the sync's untold
// status and the sender's Heard of it) for
// a sender who has kept 20,000 messages, beside a sender with none in the
// same database. The two should cost the same.
//
//	go test ./store -run '^$' -bench SenderHistory
func BenchmarkSenderHistory(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "m.key"),
		MaxMessagesPerMinute: 1 << 30, MaxBytesPerDay: 1 << 50})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	dev := func(id string, kind Kind) string {
		d, err := s.AddDevice(ctx, NewDevice{ID: id, Name: id, Kind: kind, CertSerial: id, CertExpiry: time.Now().Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		return d.ID
	}
	fresh, kept, gran := dev("fresh", KindToy), dev("kept", KindToy), dev("gran", KindFamily)
	for _, d := range []string{fresh, kept} {
		if err := s.Link(ctx, d, gran); err != nil {
			b.Fatal(err)
		}
	}
	// Two to ninety days old: outside every window the checks look at,
	// delivered, played and told, as a family's history is.
	const history = 20000
	now := time.Now().Unix()
	err = s.w.do(ctx, func(tx *Tx) error {
		for i := range history {
			at := now - 2*86400 - int64(i)*(88*86400/history)
			id := fmt.Sprintf("old%06d", i)
			if _, err := tx.Exec(`INSERT INTO messages (id, sender_id, state, format, size, sha256, chunk_size, dek, created_at, updated_at, committed_at)
				VALUES (?, ?, 'committed', 'wav', 320044, zeroblob(32), 32768, zeroblob(60), ?, ?, ?)`, id, kept, at, at, at); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO deliveries (message_id, recipient_id, delivered_at, played_at, told) VALUES (?, ?, ?, ?, 2)`, id, gran, at, at); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4096)
	rand.Read(data)
	sum := sha256.Sum256(data)
	n := 0
	send := func(b *testing.B, sender string) {
		n++
		u, err := s.StartUpload(ctx, UploadSpec{ID: fmt.Sprintf("new%06d", n), Sender: sender, To: []string{gran}, Format: "wav", Size: int64(len(data)), SHA256: sum, ChunkSize: len(data)})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan ChunkResult, 1)
		s.PutChunk(u, 0, data, true, time.Second, func(r ChunkResult) { done <- r })
		if r := <-done; r.Err != nil {
			b.Fatal(r.Err)
		}
		delivered := make(chan error, 1)
		s.MarkDelivered(gran, u.ID, func(_ Status, _ bool, err error) { delivered <- err })
		if err := <-delivered; err != nil {
			b.Fatal(err)
		}
		sts, err := s.Untold(ctx, sender)
		if err != nil || len(sts) != 1 {
			b.Fatalf("untold: %v %v", sts, err)
		}
		if err := s.Heard(ctx, sender, sts[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline: a sender with no history", func(b *testing.B) {
		for b.Loop() {
			send(b, fresh)
		}
	})
	b.Run("a sender with 20,000 messages kept", func(b *testing.B) {
		for b.Loop() {
			send(b, kept)
		}
	})
}
