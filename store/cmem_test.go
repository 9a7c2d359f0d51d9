//go:build memory.counters

package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/libc"
)

// TestCMemoryPlateau runs the message path (upload, list, fetch, mark
// delivered) 21,000 times and checks that SQLite's memory, which lives
// outside the Go heap in modernc's C allocator, stops growing once its
// page caches are full. It needs the allocator's counters, so it runs
// only under `make soak-store` (-tags memory.counters), for about 17
// minutes.
func TestCMemoryPlateau(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "master.key"),
		MaxUploadsPerDevice: 1 << 20, MaxMessagesPerMinute: 1 << 30, MaxBytesPerDay: 1 << 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const chunk = 16 * 1024
	const perMessage = 2
	data := randBytes(chunk * perMessage)
	sum := sha256.Sum256(data)
	var pair [2]string
	for j := range 2 {
		id := fmt.Sprintf("%025d%d", 0, j)
		if _, err := s.AddDevice(ctx, NewDevice{ID: id, Name: id, Kind: KindToy, CertSerial: id, CertExpiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		pair[j] = id
	}
	if err := s.Link(ctx, pair[0], pair[1]); err != nil {
		t.Fatal(err)
	}
	const total, every = 21000, 3000
	type reading struct{ allocs, mapped int }
	at := map[int]reading{}
	for i := 1; i <= total; i++ {
		id := fmt.Sprintf("%032x", i)
		up, err := s.StartUpload(ctx, UploadSpec{ID: id, Sender: pair[0], Format: "wav", Size: int64(len(data)), SHA256: sum, ChunkSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, perMessage)
		for seq := range perMessage {
			s.PutChunk(up, seq, data[seq*chunk:(seq+1)*chunk], seq == perMessage-1, time.Second, func(r ChunkResult) { done <- r.Err })
		}
		for range perMessage {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.WaitingFor(ctx, pair[1]); err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < int64(len(data)); off += chunk {
			if _, err := s.ReadFor(ctx, pair[1], id, off); err != nil {
				t.Fatal(err)
			}
		}
		delivered := make(chan error, 1)
		s.MarkDelivered(pair[1], id, func(_ Status, _ bool, err error) { delivered <- err })
		if err := <-delivered; err != nil {
			t.Fatal(err)
		}
		if i%every == 0 {
			m := libc.MemStat()
			at[i] = reading{m.Allocs, m.Bytes}
			t.Logf("%6d messages: %d live C allocations, %.1f MiB mapped in %d regions", i, m.Allocs, float64(m.Bytes)/(1<<20), m.Mmaps)
		}
	}
	// Page caches fill within the first 15,000 messages; after that the
	// counts may wobble (a connection's scratch space, the pool closing a
	// reader), not climb.
	from, to := at[total-2*every], at[total]
	if to.allocs-from.allocs > 50 || to.mapped-from.mapped > 1<<20 {
		t.Errorf("SQLite's C memory still growing: %d allocations in %d bytes at %d messages, %d in %d at %d",
			from.allocs, from.mapped, total-2*every, to.allocs, to.mapped, total)
	}
}
