package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// send stores a committed one-chunk message from one device to others.
func (f *fixture) send(id string, from Device, data []byte, to ...Device) {
	f.t.Helper()
	u, err := f.s.StartUpload(f.ctx, spec(id, from, data, len(data), to...))
	if err != nil {
		f.t.Fatal(err)
	}
	if r := put(f.t, f.s, u, 0, data, true); r.Err != nil || !r.Committed {
		f.t.Fatalf("commit %s: %+v", id, r)
	}
}

func TestAccountsHaveDevices(t *testing.T) {
	f := newFixture(t)
	f.s.SetSetupToken(f.ctx, "t")
	owner, err := f.s.CreateOwner(f.ctx, "t", NewUser{ID: "u1", DeviceID: "owner-device", Login: "Mum", PasswordHash: "h", PolicyVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.s.Device(f.ctx, owner.DeviceID)
	if err != nil || d.Name != "Mum" || d.Kind != KindFamily || d.Account != owner.ID {
		t.Fatalf("owner's device: %+v %v", d, err)
	}
	// The account's device has no certificate: nothing can connect as it.
	if err := f.s.CheckCertificate(f.ctx, "", owner.DeviceID); err == nil {
		t.Fatal("an account's device passes a certificate check")
	}
	// A device name and an account name cannot clash.
	f.device("Teddy", KindToy)
	if _, err := f.s.AddUser(f.ctx, NewUser{ID: "u2", DeviceID: "d2", Role: RoleFamily, Login: "teddy", PasswordHash: "h"}); !errors.Is(err, ErrExists) {
		t.Fatalf("account named like a toy: %v", err)
	}
	if _, err := f.s.User(f.ctx, "u2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused account was half made: %v", err)
	}
	if err := f.s.DeleteUser(f.ctx, owner.ID); err == nil {
		t.Fatal("the owner was deleted")
	}
	gran, err := f.s.AddUser(f.ctx, NewUser{ID: "u3", DeviceID: "d3", Role: RoleFamily, Login: "Gran", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	f.s.CreateSession(f.ctx, "gran-session-token", gran.ID, "")
	if err := f.s.DeleteUser(f.ctx, gran.ID); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.s.Device(f.ctx, "d3"); !d.Revoked() {
		t.Fatal("a deleted account's device is not revoked")
	}
	if _, _, err := f.s.SessionUser(f.ctx, "gran-session-token", time.Hour, time.Hour); err == nil {
		t.Fatal("a deleted account's session still works")
	}
}

func TestRenameDevice(t *testing.T) {
	f := newFixture(t)
	a, b := f.device("Teddy", KindToy), f.device("Bunny", KindToy)
	tests := []struct {
		name, to string
		want     error
	}{
		{"free name", "Mr Bear", nil},
		{"own name in other case", "MR BEAR", nil},
		{"taken", "bunny", ErrExists},
		{"empty", " ", errAny},
		{"missing device", "x", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := a.ID
			if tt.want == ErrNotFound {
				id = "no-such-device"
			}
			err := f.s.RenameDevice(f.ctx, id, tt.to)
			switch {
			case tt.want == nil && err != nil, tt.want == errAny && err == nil,
				tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("rename to %q: %v, want %v", tt.to, err, tt.want)
			}
		})
	}
	if d, _ := f.s.DeviceByName(f.ctx, "mr bear"); d.ID != a.ID || d.Name != "MR BEAR" {
		t.Fatalf("renamed: %+v", d)
	}
	if d, _ := f.s.Device(f.ctx, b.ID); d.Name != "Bunny" {
		t.Fatalf("other device: %+v", d)
	}
}

var errAny = errors.New("any error")

func TestRedeemInviteAccount(t *testing.T) {
	f := newFixture(t)
	toy, other := f.device("Teddy", KindToy), f.device("Bunny", KindToy)
	if err := f.s.AddInvite(f.ctx, NewInvite{ID: "i1", Secret: "invite-secret-1", Name: "Grandma", Role: "family",
		Toys: []string{toy.ID}, Expires: f.clock().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if inv, err := f.s.InviteBySecret(f.ctx, "invite-secret-1"); err != nil || inv.Name != "Grandma" {
		t.Fatalf("invite by secret: %+v %v", inv, err)
	}
	u, toys, err := f.s.RedeemInviteAccount(f.ctx, "invite-secret-1", NewUser{ID: "u1", DeviceID: "gran-dev", Login: "ignored", PasswordHash: "h"})
	if err != nil || u.Login != "Grandma" || u.Role != RoleFamily || !slices.Equal(toys, []string{toy.ID}) {
		t.Fatalf("redeem: %+v %v %v", u, toys, err)
	}
	if cs, _ := f.s.Contacts(f.ctx, "gran-dev"); len(cs) != 0 {
		t.Fatalf("contacts %v before a parent approved them", cs)
	}
	if err := f.s.Link(f.ctx, "gran-dev", toy.ID); err != nil {
		t.Fatal(err)
	}
	if cs, _ := f.s.Contacts(f.ctx, "gran-dev"); !slices.Equal(cs, []string{toy.ID}) {
		t.Fatalf("contacts %v, want only the invite's toy (not %s)", cs, other.ID)
	}
	for _, secret := range []string{"invite-secret-1", "wrong"} {
		if _, _, err := f.s.RedeemInviteAccount(f.ctx, secret, NewUser{ID: "u2", DeviceID: "d2", PasswordHash: "h"}); !errors.Is(err, ErrBadInvite) {
			t.Fatalf("redeem %q again: %v", secret, err)
		}
	}
	invs, _ := f.s.Invites(f.ctx)
	if len(invs) != 1 || invs[0].DeviceID != "gran-dev" || invs[0].RedeemedAt.IsZero() {
		t.Fatalf("invite after redemption: %+v", invs)
	}
}

func TestConversationVisibility(t *testing.T) {
	f := newFixture(t)
	toy, other := f.device("Teddy", KindToy), f.device("Bunny", KindToy)
	gran, grandpa := f.device("Gran", KindFamily), f.device("Grandpa", KindFamily)
	f.link(toy, gran)
	f.link(toy, grandpa)
	f.link(other, gran)
	wav := func(s string) []byte { return []byte("RIFF-" + s) }
	f.send("m-toy-to-gran", toy, wav("a"), gran)
	f.send("m-gran-to-toy", gran, wav("b"), toy)
	f.send("m-toy-to-grandpa", toy, wav("c"), grandpa)
	f.send("m-other-to-gran", other, wav("d"), gran)
	f.send("m-toy-to-both", toy, wav("e"), gran, grandpa)

	ids := func(ms []MessageInfo) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name  string
		toy   Device
		v     Viewer
		want  []string
		recps map[string]int // deliveries shown per message
	}{
		{"parent sees everything of the toy", toy, Viewer{All: true},
			[]string{"m-gran-to-toy", "m-toy-to-both", "m-toy-to-gran", "m-toy-to-grandpa"}, map[string]int{"m-toy-to-both": 2}},
		{"gran sees only her side", toy, Viewer{Device: gran.ID},
			[]string{"m-gran-to-toy", "m-toy-to-both", "m-toy-to-gran"}, map[string]int{"m-toy-to-both": 1}},
		{"grandpa", toy, Viewer{Device: grandpa.ID}, []string{"m-toy-to-both", "m-toy-to-grandpa"}, nil},
		{"gran, the other toy", other, Viewer{Device: gran.ID}, []string{"m-other-to-gran"}, nil},
		{"grandpa, the other toy", other, Viewer{Device: grandpa.ID}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := f.s.Conversation(f.ctx, tt.toy.ID, tt.v, 50)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(ms); !slices.Equal(got, tt.want) {
				t.Fatalf("messages %v, want %v", got, tt.want)
			}
			for _, m := range ms {
				if n, ok := tt.recps[m.ID]; ok && len(m.Deliveries) != n {
					t.Errorf("%s shows %d deliveries, want %d", m.ID, len(m.Deliveries), n)
				}
				if m.SenderName == "" {
					t.Errorf("%s has no sender name", m.ID)
				}
			}
			// Exactly the listed messages open for this viewer.
			for _, id := range []string{"m-toy-to-gran", "m-gran-to-toy", "m-toy-to-grandpa", "m-other-to-gran", "m-toy-to-both", "missing"} {
				a, err := f.s.OpenAudio(f.ctx, id, tt.toy.ID, tt.v)
				if slices.Contains(tt.want, id) != (err == nil) {
					t.Errorf("open %s: %v", id, err)
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("open %s: %v, want ErrNotFound", id, err)
				}
				if err == nil {
					var buf bytes.Buffer
					if err := f.s.WriteAudio(f.ctx, a, &buf); err != nil || !bytes.HasPrefix(buf.Bytes(), []byte("RIFF-")) {
						t.Errorf("audio %s: %q %v", id, buf.Bytes(), err)
					}
				}
			}
		})
	}
}

func TestAudioStreamsManyChunks(t *testing.T) {
	f := newFixture(t)
	toy, gran := f.device("Teddy", KindToy), f.device("Gran", KindFamily)
	f.link(toy, gran)
	data := randBytes(100_000)
	u, err := f.s.StartUpload(f.ctx, spec("m1", toy, data, 16384, gran))
	if err != nil {
		t.Fatal(err)
	}
	n := u.Chunks()
	for seq := range n {
		put(t, f.s, u, seq, piece(data, 16384, seq), seq == n-1)
	}
	f.s.hot = newHotCache(0) // read from the database, not the cache
	a, err := f.s.OpenAudio(f.ctx, "m1", toy.ID, Viewer{Device: gran.ID})
	if err != nil || !a.Recipient || a.Size != int64(len(data)) {
		t.Fatalf("open: %+v %v", a, err)
	}
	var buf bytes.Buffer
	if err := f.s.WriteAudio(f.ctx, a, &buf); err != nil || sha256.Sum256(buf.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("streamed %d bytes, %v", buf.Len(), err)
	}
}

func TestTOTPStepsAndSessions(t *testing.T) {
	f := newFixture(t)
	f.s.SetSetupToken(f.ctx, "t")
	u, _ := f.s.CreateOwner(f.ctx, "t", NewUser{ID: "u1", DeviceID: "d1", Login: "Mum", PasswordHash: "h", PolicyVersion: 1})
	if err := f.s.SetTOTP(f.ctx, u.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.s.User(f.ctx, u.ID); got.TOTPSecret != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("secret %q", got.TOTPSecret)
	}
	for _, s := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if ok, err := f.s.UseTOTPStep(f.ctx, u.ID, s.step); ok != s.ok || err != nil {
			t.Fatalf("step %d: %v %v, want %v", s.step, ok, err, s.ok)
		}
	}
	f.s.CreateSession(f.ctx, "mine-aaaaaaaaaaaa", u.ID, "")
	f.s.AddUser(f.ctx, NewUser{ID: "u2", DeviceID: "d2", Role: RoleFamily, Login: "Gran", PasswordHash: "h"})
	f.s.CreateSession(f.ctx, "hers-aaaaaaaaaaaa", "u2", "")
	if err := f.s.EndUserSession(f.ctx, u.ID, SecretHash("hers-aaaaaaaaaaaa")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ended another user's session: %v", err)
	}
	if err := f.s.EndUserSession(f.ctx, u.ID, SecretHash("mine-aaaaaaaaaaaa")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.SessionUser(f.ctx, "hers-aaaaaaaaaaaa", time.Hour, time.Hour); err != nil {
		t.Fatalf("her session: %v", err)
	}
}

func TestHouseholdName(t *testing.T) {
	f := newFixture(t)
	if n, err := f.s.Household(f.ctx); n != "" || err != nil {
		t.Fatalf("no household yet: %q %v", n, err)
	}
	for _, name := range []string{"The Wilkinsons", "Les Dupont-Martin"} {
		if err := f.s.SetHousehold(f.ctx, name); err != nil {
			t.Fatal(err)
		}
		if n, err := f.s.Household(f.ctx); n != name || err != nil {
			t.Fatalf("household %q %v, want %q", n, err, name)
		}
	}
	f.s.Checkpoint(f.ctx)
	for _, file := range f.s.Files() {
		b, _ := os.ReadFile(file)
		if bytes.Contains(b, []byte("Wilkinsons")) || bytes.Contains(b, []byte("Dupont")) {
			t.Fatalf("the household name is in %s in clear", file)
		}
	}
	if err := f.s.SetHousehold(f.ctx, ""); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.s.Household(f.ctx); n != "" {
		t.Fatalf("removed household name reads %q", n)
	}
}

func TestEnsureDevices(t *testing.T) {
	f := newFixture(t)
	toy := f.device("Teddy", KindToy)
	f.s.SetSetupToken(f.ctx, "t")
	owner, _ := f.s.CreateOwner(f.ctx, "t", NewUser{ID: "u1", DeviceID: "owner-dev", Login: "Mum", PasswordHash: "h"})
	gran, _ := f.s.AddUser(f.ctx, NewUser{ID: "u2", DeviceID: "gran-dev", Role: RoleFamily, Login: "Gran", PasswordHash: "h"})
	// As accounts made before schema 4 were: no device identity.
	err := f.s.w.do(f.ctx, func(tx *Tx) error {
		if _, err := tx.Exec("UPDATE users SET device_id = NULL"); err != nil {
			return err
		}
		_, err := tx.Exec("DELETE FROM devices WHERE id IN ('owner-dev', 'gran-dev')")
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ids := []string{"new-owner-dev", "new-gran-dev"}
	if got, err := f.s.EnsureDevices(f.ctx, func() string { n++; return ids[n-1] }); got != 2 || err != nil {
		t.Fatalf("EnsureDevices = %d, %v", got, err)
	}
	if got, err := f.s.EnsureDevices(f.ctx, func() string { return "again" }); got != 0 || err != nil {
		t.Fatalf("second EnsureDevices = %d, %v", got, err)
	}
	for _, tt := range []struct {
		user     User
		contacts []string
	}{{owner, []string{toy.ID}}, {gran, nil}} {
		u, _ := f.s.User(f.ctx, tt.user.ID)
		d, err := f.s.Device(f.ctx, u.DeviceID)
		if err != nil || d.Name != u.Login || d.Account != u.ID {
			t.Fatalf("%s's device: %+v %v", u.Login, d, err)
		}
		if cs, _ := f.s.Contacts(f.ctx, u.DeviceID); !slices.Equal(cs, tt.contacts) {
			t.Fatalf("%s's contacts %v, want %v", u.Login, cs, tt.contacts)
		}
	}
}
