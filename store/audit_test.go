package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestAuditChain(t *testing.T) {
	tamper := []struct {
		name string
		sql  string
		id   int64 // where the chain must break (0: the head)
	}{
		{"an entry edited", "UPDATE audit SET detail = 'nothing happened' WHERE id = 5", 5},
		{"who was changed", "UPDATE audit SET device = 'someone-else' WHERE id = 2", 2},
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
				if err := f.s.AuditSync(f.ctx, Event{Event: "login.failed", Device: fmt.Sprintf("u%d", i), Remote: "192.168.1.9"}); err != nil {
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
	f.s.AuditSync(f.ctx, Event{Event: "setup.ok"})
	f.reopen()
	f.s.AuditSync(f.ctx, Event{Event: "login.ok"})
	if n, err := f.s.VerifyAudit(f.ctx); err != nil || n != 2 {
		t.Fatalf("%d %v", n, err)
	}
}
