package store

import (
	"errors"
	"testing"
	"time"
)

// TestBrowserCerts: a browser certificate is valid for its account only,
// until it is revoked or expires; removing the account removes it.
func TestBrowserCerts(t *testing.T) {
	f := newFixture(t)
	f.s.SetSetupToken(f.ctx, "tok")
	u, err := f.s.CreateOwner(f.ctx, "tok", NewUser{ID: "u1", DeviceID: "dev-u1", Login: "Mum", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	gran, err := f.s.AddUser(f.ctx, NewUser{ID: "u2", DeviceID: "dev-u2", Login: "Gran", PasswordHash: "x", Role: RoleFamily})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddBrowserCert(f.ctx, gran.ID, "s1", f.clock().Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.s.AddBrowserCert(f.ctx, gran.ID, "s2", f.clock().Add(time.Hour))
	steps := []struct {
		name   string
		serial string
		user   string
		do     func()
		want   error
	}{
		{"valid", "s1", gran.ID, nil, nil},
		{"another account", "s1", u.ID, nil, ErrNotFound},
		{"unknown", "nope", gran.ID, nil, ErrNotFound},
		{"expired", "s2", gran.ID, func() { f.advance(2 * time.Hour) }, ErrRevoked},
		{"revoked", "s1", gran.ID, func() {
			if who, err := f.s.RevokeBrowserCert(f.ctx, "s1"); err != nil || who != gran.ID {
				t.Fatalf("revoke: %q %v", who, err)
			}
		}, ErrRevoked},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		if err := f.s.CheckBrowserCert(f.ctx, s.serial, s.user); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	list, err := f.s.BrowserCerts(f.ctx, gran.ID)
	if err != nil || len(list) != 2 || list[0].RevokedAt.IsZero() == list[1].RevokedAt.IsZero() {
		t.Fatalf("the list: %+v %v", list, err)
	}
	if _, err := f.s.RevokeBrowserCert(f.ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown serial: %v", err)
	}
}
