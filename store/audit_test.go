package store

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestAuditChain(t *testing.T) {
	tamper := []struct {
		name string
		sql  string
		id   int64 // where the chain must break (0: the head)
	}{
		{"an entry edited", "UPDATE audit SET detail = 'nothing happened' WHERE id = 5", 5},
		{"which device was changed", "UPDATE audit SET device = 'someone-else' WHERE id = 2", 2},
		{"who was changed", "UPDATE audit SET account = 'someone-else' WHERE id = 3", 3},
		{"who was made a device", "UPDATE audit SET device = account, account = '' WHERE id = 7", 7},
		{"who was added", "UPDATE audit SET account = 'someone-else' WHERE id = 6", 6},
		{"when was changed", "UPDATE audit SET at = at - 3600 WHERE id = 8", 8},
		{"an entry removed", "DELETE FROM audit WHERE id = 4", 5},
		{"the first entry removed", "DELETE FROM audit WHERE id = 1", 2},
		{"the last entry removed", "DELETE FROM audit WHERE id = 10", 0},
		{"an entry inserted", "INSERT INTO audit (id, at, event, mac) VALUES (11, 0, 'login.ok', x'00')", 11},
		{"the head removed", "DELETE FROM meta WHERE key = 'audit_head'", 0},
	}
	for _, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for i := range 10 {
				e := Event{Kind: EvLoginFailed, Device: fmt.Sprintf("d%d", i), Remote: "192.168.1.9"}
				if i%2 == 0 {
					e.User = fmt.Sprintf("u%d", i)
				}
				if err := f.s.AuditSync(f.ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := f.s.VerifyAudit(f.ctx); err != nil || n != 10 {
				t.Fatalf("untouched log: %d %v", n, err)
			}
			if err := f.s.w.do(f.ctx, func(tx *Tx) error { _, err := tx.Exec(tt.sql); return err }, nil); err != nil {
				t.Fatal(err)
			}
			_, err := f.s.VerifyAudit(f.ctx)
			var p *AuditProblem
			if !errors.As(err, &p) || p.ID != tt.id {
				t.Fatalf("VerifyAudit = %v, want a problem at %d", err, tt.id)
			}
		})
	}
}

// TestAuditChainAcrossReopen: the chain goes on where it stopped.
func TestAuditChainAcrossReopen(t *testing.T) {
	f := newFixture(t)
	f.s.AuditSync(f.ctx, Event{Kind: EvSetup})
	f.reopen()
	f.s.AuditSync(f.ctx, Event{Kind: EvLogin})
	if n, err := f.s.VerifyAudit(f.ctx); err != nil || n != 2 {
		t.Fatalf("%d %v", n, err)
	}
}

// TestAuditChainAcrossSchema9: entries chained before the audit log had
// an account column still verify after the migration, and the chain goes
// on from them with accounts recorded.
func TestAuditChainAcrossSchema9(t *testing.T) {
	f := newFixture(t)
	f.s.Close()
	for _, p := range []string{f.opt.Path, f.opt.Path + "-wal", f.opt.Path + "-shm"} {
		os.Remove(p)
	}
	old := f.opt
	old.SchemaLimit = 8
	s, err := Open(f.ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	// Written as a schema 8 hub wrote them: no account column.
	var prev []byte
	for i := range 3 {
		e := Event{ID: int64(i + 1), At: f.clock(), Kind: EvLoginFailed, Device: fmt.Sprintf("u%d", i), Remote: "192.168.1.9"}
		mac := s.entryMAC(prev, e)
		err := s.w.do(f.ctx, func(tx *Tx) error {
			if _, err := tx.Exec("INSERT INTO audit (id, at, event, device, remote, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?)",
				e.ID, e.At.Unix(), e.Kind, e.Device, e.Remote, e.Detail, mac); err != nil {
				return err
			}
			_, err := tx.Exec("INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", s.headValue(e.ID, mac))
			return err
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		prev = mac
	}
	s.Close()
	f.open()
	if err := f.s.AuditSync(f.ctx, Event{Kind: EvLogin, User: "u1", Remote: "192.168.1.9"}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.s.VerifyAudit(f.ctx); err != nil || n != 4 {
		t.Fatalf("after the migration: %d %v", n, err)
	}
	log, err := f.s.AuditLog(f.ctx, 10)
	if err != nil || log[0].User != "u1" || log[0].Device != "" || log[3].User != "" || log[3].Device != "u0" {
		t.Fatalf("entries: %+v %v", log, err)
	}
}

// TestEventKinds: every kind the hub writes has its text, and no kind is
// declared twice.
func TestEventKinds(t *testing.T) {
	seen := map[EventKind]bool{}
	for _, e := range eventKinds {
		if seen[e.kind] {
			t.Errorf("%s declared twice", e.kind)
		}
		seen[e.kind] = true
		if e.text == "" || e.text == string(e.kind) {
			t.Errorf("%s has no plain-words text", e.kind)
		}
	}
	for _, k := range EventKinds() {
		if !k.Declared() {
			t.Errorf("%s listed but not declared", k)
		}
	}
	for _, k := range []EventKind{"mute", "no.such.kind", ""} {
		if k.Declared() {
			t.Errorf("%q may be written", k)
		}
	}
}

// TestAuditLogShowsWhatWasDone: an event recorded without waiting (as
// every household operation records its own) is in the log read right
// after; a parent who withdraws an invite and opens the Log sees it.
func TestAuditLogShowsWhatWasDone(t *testing.T) {
	f := newFixture(t)
	for i := range 200 {
		detail := fmt.Sprintf("invite %d", i)
		f.s.Audit(Event{Kind: EvInviteRevoked, Remote: "console", Detail: detail})
		evs, err := f.s.AuditLog(f.ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Detail != detail {
			t.Fatalf("read %d: the log's newest entry is %+v, want %q", i, evs, detail)
		}
	}
	// A read-only store (an export's, beside the hub) has no writer to
	// wait for, and reads the log all the same.
	ro, err := OpenReadOnly(f.ctx, f.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if evs, err := ro.AuditLog(f.ctx, 1); err != nil || len(evs) != 1 || evs[0].Detail != "invite 199" {
		t.Fatalf("read-only: %+v, %v", evs, err)
	}
}

// TestVerifyWhileRecording: the chain verifies while events are being
// recorded beside the check (a parent runs 'toyhub audit-log verify' on
// a busy hub): the entries and the head are read as of one moment, so a
// newer head never looks like entries missing at the end.
func TestVerifyWhileRecording(t *testing.T) {
	f := newFixture(t)
	done := make(chan error, 1)
	go func() {
		for i := range 1000 {
			if err := f.s.AuditSync(f.ctx, Event{Kind: EvLoginFailed, Remote: "192.168.1.9", Detail: fmt.Sprint(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for checks := 0; ; checks++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d checks while 1,000 events were recorded", checks)
			return
		default:
		}
		if _, err := f.s.VerifyAudit(f.ctx); err != nil {
			t.Fatalf("check %d: %v", checks, err)
		}
	}
}
