package store

import (
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"
)

// walFrames is how many frames the WAL holds, asked on a connection of
// the test's own (whose passive checkpoint copies what it can).
func walFrames(t *testing.T, db *sql.DB) int {
	t.Helper()
	for range 100 {
		r, err := passive(db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)"))
		if err != nil {
			t.Fatal(err)
		}
		if r.busy == 0 {
			return r.log
		}
		time.Sleep(10 * time.Millisecond) // the store's own pass runs
	}
	t.Fatal("checkpoints stayed busy")
	return 0
}

// TestCheckpointsBesideTheWriter: the WAL is copied into the database file
// by passes beside the writer, and stays bounded under steady writing.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("Bunny", KindToy), f.device("Bear", KindToy)
	f.link(a, b)
	const messages = 40 // MiB, ten passes' worth
	for i := range messages {
		data := randBytes(1 << 20)
		sendAll(t, f, spec(fmt.Sprintf("%032x", i+1), a, data, 32<<10, b), data)
	}
	ck := f.s.w.ck
	if n := ck.passes.Load(); n < 5 {
		t.Errorf("%d checkpoints ran beside the writer for %d MiB committed; want 5 or more", n, messages)
	}
	db, err := os.Stat(f.opt.Path)
	if err != nil {
		t.Fatal(err)
	}
	if db.Size() < (messages-8)<<20 {
		t.Errorf("database file %d bytes after %d MiB committed: the WAL was not copied into it", db.Size(), messages)
	}
	wal, err := os.Stat(f.opt.Path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if bound := int64(2*walBound) * 4120; wal.Size() > bound {
		t.Errorf("WAL %d bytes after %d MiB committed; want it started again before %d", wal.Size(), messages, bound)
	}
	for i := range messages {
		if _, err := f.s.ReadFor(f.ctx, b.ID, fmt.Sprintf("%032x", i+1), 1<<20-1); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
}

// TestWALRestartsAfterAHeldReader: a reader holding an old snapshot keeps
// every pass from copying the WAL whole, so it grows; once the reader has
// gone, the writer's own pass between two commits lets it start again,
// without waiting for another 4 MiB of commits to ask for a pass.
func TestWALRestartsAfterAHeldReader(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("Bunny", KindToy), f.device("Bear", KindToy)
	f.link(a, b)
	raw, err := sql.Open("sqlite", "file:"+f.opt.Path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(2)
	reader, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.QueryRow("SELECT count(*) FROM messages").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	for i := range 24 {
		data := randBytes(1 << 20)
		sendAll(t, f, spec(fmt.Sprintf("%032x", i+1), a, data, 32<<10, b), data)
	}
	if n := walFrames(t, raw); n <= walBound {
		t.Fatalf("the WAL holds %d frames behind a held reader after 24 MiB; want more than %d", n, walBound)
	}
	reader.Rollback()
	// Two small commits: the first after the writer's own pass, the
	// second starting the WAL again.
	f.device("Grandma", KindFamily)
	f.device("Grandpa", KindFamily)
	if n := walFrames(t, raw); n > walBound {
		t.Errorf("the WAL holds %d frames after the reader went and two commits; want it started again (at most %d)", n, walBound)
	}
}
