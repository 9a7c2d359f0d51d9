package broker

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// TestAbandonedUploads: an upload a device never finishes does not keep
// its chunks in memory after the device goes away, and its bookkeeping is
// dropped after the stale-upload age.
func TestAbandonedUploads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "m.key"), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := wire.NewDeviceID(), wire.NewDeviceID()
	for i, id := range []string{a, b} {
		if _, err := st.AddDevice(ctx, store.NewDevice{ID: id, Name: []string{"a", "b"}[i], Kind: store.KindToy, CertSerial: id, CertExpiry: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Link(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Now: func() time.Time { return now }, MaxChunk: wire.MaxChunk, MaxMessageBytes: 2 << 20, MaxDuration: time.Minute}
	r := newRouter(ctx, cfg, st, nil, slog.New(slog.DiscardHandler), nil, nil, nil)

	msg := wire.Tone(16000, 3*time.Second, 440, 1)
	h := wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)), SHA256: sha256.Sum256(msg), Chunk: 8192}
	up, err := st.StartUpload(ctx, store.UploadSpec{ID: h.ID.String(), Sender: a, Format: h.Format, Size: h.Size, SHA256: h.SHA256, ChunkSize: h.Chunk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.prepare(ctx, a, h, up); err != nil {
		t.Fatal(err)
	}
	done := make(chan store.ChunkResult, 4)
	for seq := range 4 {
		st.PutChunk(up, seq, msg[seq*8192:(seq+1)*8192], false, 0, func(res store.ChunkResult) { done <- res })
		if res := <-done; res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if up.Buffered() < 4*8192 {
		t.Fatalf("buffered %d bytes before the disconnect", up.Buffered())
	}
	r.disconnected(b) // another device: nothing happens
	if up.Buffered() == 0 {
		t.Fatal("another device's disconnect released this upload")
	}
	r.disconnected(a)
	if n := up.Buffered(); n != 0 {
		t.Fatalf("%d bytes still held after the sender disconnected", n)
	}
	// The upload still finishes, from the database.
	for seq := 4; seq < h.Chunks(); seq++ {
		end := min((seq+1)*8192, len(msg))
		st.PutChunk(up, seq, msg[seq*8192:end], seq == h.Chunks()-1, 3*time.Second, func(res store.ChunkResult) { done <- res })
		if res := <-done; res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if p, err := st.ReadFor(ctx, b, h.ID.String(), 0); err != nil || len(p.Data) != 8192 {
		t.Fatalf("read after commit: %v", err)
	}

	if n := r.sweep(now.Add(-time.Hour)); n != 0 {
		t.Fatalf("swept %d fresh uploads", n)
	}
	if n := r.sweep(now.Add(time.Hour)); n != 1 || r.lookup(a, h.ID) != nil {
		t.Fatalf("swept %d stale uploads", n)
	}
}
