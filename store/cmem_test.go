//go:build memory.counters

package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"modernc.org/libc"
	"modernc.org/sqlite"
)

// TestCMemoryPlateau runs the message path 21,000 times or more, as toys
// and their partners do (upload, list, fetch, mark delivered and played,
// then the sender's sync), and checks that SQLite's memory, which lives
// outside the Go heap in modernc's C allocator, stops growing. It needs
// the allocator's counters, so it runs only under `make soak-store`
// (-tags memory.counters), for about a minute.
//
// One sender at a time uses one reader connection. Twenty at once open
// the whole read pool, each reader with its own page cache and scratch
// space: that sets the plateau, which the soak of the hub reaches quickly
// at 200 messages a second and slowly at 3.
//
// One cache may still be filling at the end, and rightly: the writer's
// page cache keeps the pages it writes (every new index and table leaf)
// until it reaches cache_size, SQLite's own bound, or a checkpoint resets
// it. Its pages are read from the connection itself and discounted; any
// other growth fails.
//
// Growth is judged by what SQLite holds (its own count of live bytes, and
// the allocator's of live allocations), not by what the allocator has
// mapped: that also holds emptied regions kept for reuse and the spread of
// live slots over regions, which grow at flat allocations. A run judged by
// mapped memory failed one full run in a few for that reason alone.
func TestCMemoryPlateau(t *testing.T) {
	for _, c := range []struct {
		name           string
		senders, every int // every: messages between two readings
	}{
		{"one sender at a time", 1, 3000},
		{"twenty senders at once", 20, 3000},
	} {
		t.Run(c.name, func(t *testing.T) {
			const rounds = 7
			s := plateauStore(t)
			pairs := plateauPairs(t, s, c.senders)
			type reading struct{ allocs, used, mapped, writer int }
			at := make([]reading, rounds)
			for r := range rounds {
				var wg sync.WaitGroup
				for p, pair := range pairs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := range c.every / c.senders {
							if err := plateauMessage(s, pair, fmt.Sprintf("%08d%08d%016d", r, p, k)); err != nil {
								t.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
				if err := trimC(); err != nil {
					t.Fatal(err)
				}
				m := libc.MemStat()
				at[r] = reading{m.Allocs, cUsed(), m.Bytes, writerCache(t, s)}
				t.Logf("%6d messages: %d live C allocations of %.2f MiB, %.1f MiB mapped in %d regions; writer's page cache %d KiB; %d readers open",
					(r+1)*c.every, m.Allocs, float64(at[r].used)/(1<<20), float64(m.Bytes)/(1<<20), m.Mmaps, at[r].writer>>10, s.db.Stats().OpenConnections)
			}
			// Over the last two readings' messages (6,000), allocations may
			// wobble by what the readers' caches held at the time (up to 64
			// pages each) but not climb by more than one per 30 messages,
			// beyond the pages the writer's cache took (one allocation each,
			// 4 KiB and SQLite's header); the bytes they hold likewise by
			// no more than 1 MiB. A cache that shrank earns no credit.
			from, to := at[rounds-3], at[rounds-1]
			grew := max(0, to.writer-from.writer)
			if to.allocs-from.allocs-grew/4096 > 200 || to.used-from.used-grew > 1<<20 {
				t.Errorf("SQLite's C memory still growing: %d allocations of %d bytes at %d messages, %d of %d at %d; the writer's cache grew %d bytes",
					from.allocs, from.used, (rounds-2)*c.every, to.allocs, to.used, rounds*c.every, to.writer-from.writer)
			}
			// What is mapped is what holds live allocations (trimC), and
			// exceeds it by the allocator's rounding to power-of-two slots
			// (a 4 KiB page and its header take 8 KiB) and by regions that
			// keep a few live slots among freed ones. That spread creeps for
			// a long while at flat allocations (2.3 to 2.5 times the live
			// bytes from 6,000 to 48,000 messages at twenty senders), so it
			// is bounded rather than asked to stop; four times would be
			// more than rounding and spread.
			if to.mapped > 4*to.used {
				t.Errorf("the C allocator maps %d bytes for %d live: more than fragmentation explains", to.mapped, to.used)
			}
		})
	}
}

func plateauStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "master.key"),
		MaxUploadsPerDevice: 1 << 20, MaxMessagesPerMinute: 1 << 30, MaxBytesPerDay: 1 << 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// plateauPairs adds n linked pairs of toys.
func plateauPairs(t *testing.T, s *Store, n int) [][2]string {
	t.Helper()
	ctx := context.Background()
	pairs := make([][2]string, n)
	for p := range pairs {
		for j := range 2 {
			id := fmt.Sprintf("%026d", 2*p+j)
			if _, err := s.AddDevice(ctx, NewDevice{ID: id, Name: id, Kind: KindToy, CertSerial: id, CertExpiry: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			pairs[p][j] = id
		}
		if err := s.Link(ctx, pairs[p][0], pairs[p][1]); err != nil {
			t.Fatal(err)
		}
	}
	return pairs
}

var (
	plateauData = randBytes(2 * plateauChunk)
	plateauSum  = sha256.Sum256(plateauData)
)

const plateauChunk = 16 * 1024

// plateauMessage sends one message from pair[0] to pair[1], which lists,
// fetches, receives and plays it; then pair[0] syncs.
func plateauMessage(s *Store, pair [2]string, id string) error {
	ctx := context.Background()
	up, err := s.StartUpload(ctx, UploadSpec{ID: id, Sender: pair[0], Format: "wav", Size: int64(len(plateauData)), SHA256: plateauSum, ChunkSize: plateauChunk})
	if err != nil {
		return err
	}
	n := up.Chunks()
	done := make(chan error, n)
	for seq := range n {
		s.PutChunk(up, seq, plateauData[seq*plateauChunk:(seq+1)*plateauChunk], seq == n-1, time.Second, func(r ChunkResult) { done <- r.Err })
	}
	for range n {
		if err := <-done; err != nil {
			return err
		}
	}
	if _, err := s.WaitingFor(ctx, pair[1]); err != nil {
		return err
	}
	for off := int64(0); off < int64(len(plateauData)); off += plateauChunk {
		if _, err := s.ReadFor(ctx, pair[1], id, off); err != nil {
			return err
		}
	}
	delivered := make(chan error, 1)
	s.MarkDelivered(pair[1], id, func(_ Status, _ bool, err error) { delivered <- err })
	if err := <-delivered; err != nil {
		return err
	}
	if _, _, err := s.MarkPlayed(ctx, pair[1], id); err != nil {
		return err
	}
	sts, err := s.Untold(ctx, pair[0])
	if err != nil {
		return err
	}
	for _, st := range sts {
		if err := s.Heard(ctx, pair[0], st); err != nil {
			return err
		}
	}
	return nil
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
