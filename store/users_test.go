package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

func TestSetupAndUsers(t *testing.T) {
	f := newFixture(t)
	if pending, _ := f.s.SetupPending(f.ctx); !pending {
		t.Fatal("a new hub has no setup pending")
	}
	if err := f.s.SetSetupToken(f.ctx, "first-token"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetSetupToken(f.ctx, "setup-token-value"); err != nil { // replaces the first
		t.Fatal(err)
	}
	owner := NewUser{ID: "u1", DeviceID: "dev-u1", Login: "Mum", Email: "mum.smith@example.org", PasswordHash: "$argon2id$x", PolicyVersion: 1}
	for _, bad := range []string{"first-token", "", "nope"} {
		if _, err := f.s.CreateOwner(f.ctx, bad, owner); !errors.Is(err, ErrNotFound) {
			t.Fatalf("setup with token %q: %v", bad, err)
		}
	}
	u, err := f.s.CreateOwner(f.ctx, "setup-token-value", owner)
	if err != nil || u.Role != RoleOwner {
		t.Fatalf("owner: %+v %v", u, err)
	}
	if _, err := f.s.CreateOwner(f.ctx, "setup-token-value", NewUser{ID: "u2", DeviceID: "dev-u2", Login: "Eve", PasswordHash: "x"}); !errors.Is(err, ErrSetupDone) {
		t.Fatalf("second setup: %v", err)
	}
	if err := f.s.SetSetupToken(f.ctx, "again"); !errors.Is(err, ErrSetupDone) {
		t.Fatalf("new setup token after setup: %v", err)
	}
	if pending, _ := f.s.SetupPending(f.ctx); pending {
		t.Fatal("setup still pending")
	}

	if _, err := f.s.AddUser(f.ctx, NewUser{ID: "u3", DeviceID: "dev-u3", Role: RoleFamily, Login: "Grandma", PasswordHash: "h", PolicyVersion: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddUser(f.ctx, NewUser{ID: "u4", DeviceID: "dev-u4", Role: RoleFamily, Login: " MUM ", PasswordHash: "h"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate login: %v", err)
	}
	if _, err := f.s.AddUser(f.ctx, NewUser{ID: "u5", DeviceID: "dev-u5", Role: RoleOwner, Login: "Boss", PasswordHash: "h"}); err == nil {
		t.Fatal("a second owner was added")
	}
	got, err := f.s.UserByLogin(f.ctx, "mum")
	if err != nil || got.ID != "u1" || got.Email != "mum.smith@example.org" || got.Login != "Mum" {
		t.Fatalf("by login: %+v %v", got, err)
	}
	b, _ := os.ReadFile(f.opt.Path + "-wal")
	for _, needle := range []string{"mum.smith", "Grandma", "setup-token-value"} {
		if bytes.Contains(b, []byte(needle)) {
			t.Errorf("%q is in the WAL in clear", needle)
		}
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	f.s.SetSetupToken(f.ctx, "t")
	u, _ := f.s.CreateOwner(f.ctx, "t", NewUser{ID: "u1", DeviceID: "dev-u1", Login: "Mum", PasswordHash: "h", PolicyVersion: 1})
	const idle, absolute = 30 * time.Minute, 12 * time.Hour
	tokens := []string{"session-token-aaaa", "session-token-bbbb", "session-token-cccc"}
	for _, tok := range tokens {
		if err := f.s.CreateSession(f.ctx, tok, u.ID, "192.168.1.5:5000"); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name    string
		token   string
		advance time.Duration
		want    error
	}{
		{"fresh", tokens[0], 0, nil},
		{"unknown", "forged", 0, ErrNotFound},
		{"in use within the idle time", tokens[0], 29 * time.Minute, nil},
		{"idle too long", tokens[1], 2 * time.Minute, ErrRevoked},
		{"gone once expired", tokens[1], 0, ErrNotFound},
		{"kept alive", tokens[0], 25 * time.Minute, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.advance(s.advance)
			_, got, err := f.s.SessionUser(f.ctx, s.token, idle, absolute)
			if !errors.Is(err, s.want) {
				t.Fatalf("SessionUser = %v, want %v", err, s.want)
			}
			if s.want == nil && got.ID != u.ID {
				t.Fatalf("user %+v", got)
			}
		})
	}
	// Absolute timeout, however active.
	for range 30 {
		f.advance(25 * time.Minute)
		if _, _, err := f.s.SessionUser(f.ctx, tokens[0], idle, absolute); err != nil {
			break
		}
		f.s.Checkpoint(f.ctx) // let the last-seen update land
	}
	if _, _, err := f.s.SessionUser(f.ctx, tokens[0], idle, absolute); err == nil {
		t.Fatal("a session outlived its absolute timeout")
	}
	list, _ := f.s.Sessions(f.ctx, u.ID)
	if len(list) != 1 {
		t.Fatalf("%d sessions left", len(list))
	}
	// A new password ends every session.
	if err := f.s.SetPassword(f.ctx, u.ID, "h2", 1); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.s.Sessions(f.ctx, u.ID); len(list) != 0 {
		t.Fatalf("%d sessions survive a password change", len(list))
	}
	b, _ := os.ReadFile(f.opt.Path + "-wal")
	if bytes.Contains(b, []byte("session-token")) {
		t.Error("a session token is in the WAL in clear")
	}
}
