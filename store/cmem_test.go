//go:build memory.counters

package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/libc"
	"modernc.org/sqlite"
)

// TestCMemoryPlateau runs the message path 21,000 times, as a toy and its
// partner do (upload, list, fetch, mark delivered and played, then the
// sender's sync), and checks that SQLite's memory, which lives outside the
// Go heap in modernc's C allocator, stops growing. It needs the
// allocator's counters, so it runs only under `make soak-store`
// (-tags memory.counters), for a few minutes.
//
// One cache may still be filling at the end, and rightly: the writer's
// page cache keeps the pages it writes (every new index and table leaf)
// until it reaches cache_size, SQLite's own bound, or a checkpoint resets
// it. Its pages are read from the connection itself and discounted; any
// other growth fails.
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
	type reading struct{ allocs, mapped, writer int }
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
		if _, _, err := s.MarkPlayed(ctx, pair[1], id); err != nil {
			t.Fatal(err)
		}
		sts, err := s.Untold(ctx, pair[0])
		if err != nil {
			t.Fatal(err)
		}
		s.Told(sts)
		if i%every == 0 {
			m := libc.MemStat()
			wc := writerCache(t, s)
			at[i] = reading{m.Allocs, m.Bytes, wc}
			t.Logf("%6d messages: %d live C allocations, %.1f MiB mapped in %d regions; writer's page cache %d KiB",
				i, m.Allocs, float64(m.Bytes)/(1<<20), m.Mmaps, wc>>10)
		}
	}
	// Over the last 6,000 messages, allocations may wobble (a connection's
	// scratch space, the pool closing a reader) but not climb, beyond the
	// pages the writer's cache took (one allocation each, 4 KiB and
	// SQLite's header); mapped memory likewise, beyond their bytes and the
	// allocator's 1 MiB unit of mapping.
	from, to := at[total-2*every], at[total]
	pages := (to.writer - from.writer) / 4096
	if to.allocs-from.allocs-pages > 50 || to.mapped-from.mapped-(to.writer-from.writer) > 1<<20 {
		t.Errorf("SQLite's C memory still growing: %d allocations in %d bytes at %d messages, %d in %d at %d; the writer's cache grew %d bytes",
			from.allocs, from.mapped, total-2*every, to.allocs, to.mapped, total, to.writer-from.writer)
	}
}

// writerCache is the bytes in the writer connection's page cache.
func writerCache(t *testing.T, s *Store) int {
	t.Helper()
	var used int
	err := s.w.conn.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return errors.New("the driver's connection has no DBStatus")
		}
		var err error
		used, _, err = st.Status(sqlite.DBStatusCacheUsed, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return used
}
