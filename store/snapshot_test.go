package store

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSnapshotWhileWriting: a snapshot taken while messages are being
// committed opens as a whole, consistent database: every message in it is
// complete.
func TestSnapshotWhileWriting(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("Teddy", KindToy), f.device("Gran", KindFamily)
	f.link(a, b)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			data := randBytes(40_000)
			u, err := f.s.StartUpload(f.ctx, spec("m"+time.Now().Format("150405.000000000"), a, data, 16384, b))
			if err != nil {
				t.Error(err)
				return
			}
			for seq := range u.Chunks() {
				put(t, f.s, u, seq, piece(data, 16384, seq), seq == u.Chunks()-1)
			}
		}
	})
	time.Sleep(50 * time.Millisecond)
	snap := filepath.Join(f.dir, "snap.db")
	if err := f.s.Snapshot(f.ctx, snap); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if err := f.s.Snapshot(f.ctx, snap); err == nil {
		t.Fatal("a snapshot overwrote an existing file")
	}
	if st, _ := os.Stat(snap); st.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot mode %v", st.Mode())
	}
	s2, err := Open(f.ctx, Options{Path: snap, MasterKeyPath: f.opt.MasterKeyPath, Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.IntegrityCheck(f.ctx); err != nil {
		t.Fatal(err)
	}
	ws, err := s2.WaitingFor(f.ctx, b.ID)
	if err != nil || len(ws) == 0 {
		t.Fatalf("no messages in the snapshot: %v", err)
	}
	for _, w := range ws {
		if _, err := s2.ReadFor(f.ctx, b.ID, w.MessageID, w.Size-1); err != nil {
			t.Fatalf("message %s is incomplete in the snapshot: %v", w.MessageID, err)
		}
	}
}

// TestPreMigrationCopy: before a migration changes an existing database,
// the hub keeps a copy of it as it was; a wrong master key changes nothing.
func TestPreMigrationCopy(t *testing.T) {
	f := newFixture(t)
	f.s.Close()
	os.Remove(f.opt.Path)
	os.Remove(f.opt.Path + "-wal")
	os.Remove(f.opt.Path + "-shm")
	old := f.opt
	old.SchemaLimit = 3
	s, err := Open(f.ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if copies, _ := filepath.Glob(f.opt.Path + ".pre-migration-*"); len(copies) != 0 {
		t.Fatalf("a new database was copied: %v", copies)
	}
	// A wrong key: refused before anything changes.
	wrong := filepath.Join(f.dir, "other.key")
	if _, err := loadMasterKey(wrong, true); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f.ctx, Options{Path: f.opt.Path, MasterKeyPath: wrong}); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if copies, _ := filepath.Glob(f.opt.Path + ".pre-migration-*"); len(copies) != 0 {
		t.Fatalf("a wrong key led to a migration copy: %v", copies)
	}
	f.open() // the newest schema
	f.s.Checkpoint(f.ctx)
	if got := schemaOf(t, f.opt.Path); got != SchemaVersion() {
		t.Fatalf("migrated to %d", got)
	}
	copies, _ := filepath.Glob(f.opt.Path + ".pre-migration-v3-to-v*")
	if len(copies) != 1 {
		t.Fatalf("pre-migration copies: %v", copies)
	}
	if st, _ := os.Stat(copies[0]); st.Mode().Perm() != 0o600 {
		t.Fatalf("copy mode %v", st.Mode())
	}
	if got := schemaOf(t, copies[0]); got != 3 {
		t.Fatalf("the copy is at schema %d, want 3", got)
	}
}

func schemaOf(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 64 {
		t.Fatalf("read %s: %v", path, err)
	}
	return int(b[60])<<24 | int(b[61])<<16 | int(b[62])<<8 | int(b[63]) // SQLite's user_version
}
