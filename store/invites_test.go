package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPairingCodeSingleUse(t *testing.T) {
	f := newFixture(t)
	code := "ABCDEFGHJKMNPQRSTVWXYZ0123"
	if used, err := f.s.PairingCodeUsed(f.ctx, code); err != nil || used {
		t.Fatalf("fresh code used=%v %v", used, err)
	}
	d, err := f.s.PairDevice(f.ctx, code, NewDevice{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Name: "Bunny", Kind: KindToy, CertSerial: "s1", CertExpiry: f.clock().Add(time.Hour)})
	if err != nil || d.Name != "Bunny" {
		t.Fatalf("pair: %+v %v", d, err)
	}
	if used, _ := f.s.PairingCodeUsed(f.ctx, code); !used {
		t.Fatal("code not recorded as used")
	}
	_, err = f.s.PairDevice(f.ctx, code, NewDevice{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbb", Name: "Bear", Kind: KindToy, CertSerial: "s2", CertExpiry: f.clock().Add(time.Hour)})
	if !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("second pairing with the code: %v", err)
	}
	if _, err := f.s.DeviceByName(f.ctx, "Bear"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused pairing created a device: %v", err)
	}
	// A name clash rolls the code back: it can still be used.
	other := "ABCDEFGHJKMNPQRSTVWXYZ0124"
	if _, err := f.s.PairDevice(f.ctx, other, NewDevice{ID: "cccccccccccccccccccccccccc", Name: "bunny", Kind: KindToy, CertSerial: "s3"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if used, _ := f.s.PairingCodeUsed(f.ctx, other); used {
		t.Fatal("a failed pairing spent the code")
	}
}

func TestInvites(t *testing.T) {
	f := newFixture(t)
	bunny := f.device("Bunny", KindToy)
	bear := f.device("Bear", KindToy)
	fam := f.device("Uncle", KindFamily)
	inv := func(id, name string, toys []string, exp time.Duration) NewInvite {
		return NewInvite{ID: id, Secret: "secret-" + id, Name: name, Role: "family", Toys: toys, Expires: f.clock().Add(exp)}
	}
	tests := []struct {
		name string
		in   NewInvite
		want error
	}{
		{"good", inv("i1", "Grandma", []string{bunny.ID, bear.ID}, time.Hour), nil},
		{"name of a device", inv("i2", "bunny", nil, time.Hour), ErrExists},
		{"name of an open invite", inv("i3", "GRANDMA", nil, time.Hour), ErrExists},
		{"unknown toy", inv("i4", "Grandpa", []string{"nope"}, time.Hour), ErrNotFound},
		{"family device as a toy", inv("i5", "Grandpa", []string{fam.ID}, time.Hour), ErrNotFound},
		{"short-lived", inv("i6", "Aunt", nil, time.Minute), nil},
		{"to revoke", inv("i7", "Cousin", nil, time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.s.AddInvite(f.ctx, tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("AddInvite = %v, want %v", err, tt.want)
			}
		})
	}
	if err := f.s.RevokeInvite(f.ctx, "i7"); err != nil {
		t.Fatal(err)
	}
	nd := func(n int) NewDevice {
		return NewDevice{ID: fmt.Sprintf("%026d", n), CertSerial: fmt.Sprint("inv-", n), CertExpiry: f.clock().Add(time.Hour)}
	}
	d, toys, err := f.s.RedeemInvite(f.ctx, "secret-i1", nd(1))
	if err != nil || d.Name != "Grandma" || d.Kind != KindFamily || len(toys) != 2 {
		t.Fatalf("redeem: %+v %v %v", d, toys, err)
	}
	// Its links wait for a parent's approval.
	if c, _ := f.s.Contacts(f.ctx, d.ID); len(c) != 0 {
		t.Fatalf("the new device has contacts %v before a parent approved them", c)
	}
	pending, _ := f.s.PendingLinks(f.ctx)
	if len(pending) != 2 {
		t.Fatalf("pending links %v", pending)
	}
	for _, l := range pending {
		if err := f.s.Link(f.ctx, l.A, l.B); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := f.s.Contacts(f.ctx, d.ID); len(c) != 2 {
		t.Fatalf("the new device has contacts %v", c)
	}
	for name, secret := range map[string]string{"twice": "secret-i1", "revoked": "secret-i7", "unknown": "nope"} {
		if _, _, err := f.s.RedeemInvite(f.ctx, secret, nd(2)); !errors.Is(err, ErrBadInvite) {
			t.Errorf("%s: %v", name, err)
		}
	}
	f.advance(2 * time.Minute)
	if _, _, err := f.s.RedeemInvite(f.ctx, "secret-i6", nd(3)); !errors.Is(err, ErrBadInvite) {
		t.Errorf("expired: %v", err)
	}
	list, err := f.s.Invites(f.ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("invites: %d %v", len(list), err)
	}
	open := 0
	for _, i := range list {
		if i.Open(f.clock()) {
			open++
		}
		if i.ID == "i1" && (i.DeviceID != d.ID || i.RedeemedAt.IsZero() || i.Name != "Grandma") {
			t.Errorf("redeemed invite listed as %+v", i)
		}
	}
	if open != 0 {
		t.Errorf("%d invites still open", open)
	}
	b, _ := os.ReadFile(f.opt.Path + "-wal")
	if bytes.Contains(b, []byte("Grandma")) || bytes.Contains(b, []byte("secret-i1")) {
		t.Error("an invite's name or secret is in the WAL in clear")
	}
}

// TestInviteRaces: of many concurrent redemptions of one invite, exactly
// one wins.
func TestInviteRaces(t *testing.T) {
	f := newFixture(t)
	if err := f.s.AddInvite(f.ctx, NewInvite{ID: "race", Secret: "s", Name: "Grandma", Role: "family", Expires: f.clock().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var wins, losses atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.s.RedeemInvite(f.ctx, "s", NewDevice{ID: fmt.Sprintf("%026d", i), CertSerial: fmt.Sprint(i), CertExpiry: f.clock().Add(time.Hour)})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrBadInvite):
				losses.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 19 {
		t.Fatalf("%d wins, %d losses", wins.Load(), losses.Load())
	}
	ds, _ := f.s.Devices(f.ctx)
	if len(ds) != 1 {
		t.Fatalf("%d devices enrolled", len(ds))
	}
}

func TestRenewalAndAudit(t *testing.T) {
	f := newFixture(t)
	d := f.device("Bunny", KindToy)
	if err := f.s.AddCertificate(f.ctx, d.ID, "renewed", f.clock().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.CheckCertificate(f.ctx, "renewed", d.ID); err != nil {
		t.Fatal(err)
	}
	f.s.RevokeDevice(f.ctx, d.ID)
	if err := f.s.AddCertificate(f.ctx, d.ID, "after-revoke", f.clock().Add(time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("renewal of a revoked device: %v", err)
	}
	f.s.Audit(Event{Kind: EvPairRefused, Remote: "10.0.0.9:1234", Detail: "bad_proof"})
	f.s.Audit(Event{Kind: EvPaired, Device: d.ID})
	f.s.Checkpoint(f.ctx) // waits for the queued writes
	log, err := f.s.AuditLog(f.ctx, 10)
	if err != nil || len(log) != 2 || log[0].Kind != EvPaired || log[1].Remote != "10.0.0.9:1234" {
		t.Fatalf("audit log: %+v %v", log, err)
	}
}
