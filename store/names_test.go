package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"
)

// TestCheckNameWords: each refusal says what is wrong with "it", for the
// household service to put after which name ("toy name: it holds a
// slash"), with no word of its own for the name.
func TestCheckNameWords(t *testing.T) {
	tests := []struct{ name, want string }{
		{"", "it is empty"},
		{strings.Repeat("x", 65), "it is too long"},
		{"a\tb", "it holds characters that cannot be shown"},
		{"Mum\u202egnp.exe", "it holds invisible or direction-changing characters"},
		{"a/b", "it holds a slash"},
	}
	for _, tt := range tests {
		if err := CheckName(tt.name); err == nil || err.Error() != tt.want {
			t.Errorf("CheckName(%q) = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestCheckName: a name shows what it says: no control characters, no
// invisible or direction-changing ones; a name in any Unicode form is
// accepted and kept in NFC.
func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"Grandma Rose", true},
		{"José", true},
		{norm.NFD.String("Zoë"), true},
		{"Ömer 🐻", true},
		{"", false},
		{"   ", false},
		{strings.Repeat("x", 65), false},
		{"a\x00b", false},
		{"a\tb", false},
		{"a\u0085b", false},         // next line, a C1 control
		{"a\u2028b", false},         // line separator
		{"Mum\u202egnp.exe", false}, // right-to-left override
		{"\u2066Mum\u2069", false},  // an isolate
		{"Mu\u200bm", false},        // zero-width space
		{"Mu\u200dm", false},        // zero-width joiner
		{"\ufeffMum", false},        // byte order mark
		{"Mum\u200f", false},        // right-to-left mark
		{"Mum\ue000", false},        // private use
		{"Mum\ufffe", false},        // a non-character
		{"Mum\xff", false},          // not UTF-8
		{"a/b", false},
		{`a\b`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckName(tt.name); (err == nil) != tt.ok {
				t.Fatalf("CheckName(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
		})
	}
}

// TestLookAlikes: a new device, person or invite may not take a name
// that looks like one the household has, in any Unicode form or case; a
// different name that merely shares letters is fine.
func TestLookAlikes(t *testing.T) {
	f := newFixture(t)
	f.device("Grandma", KindFamily)
	f.device("Bob", KindToy)
	f.device(norm.NFD.String("José"), KindToy)
	tests := []struct {
		name string
		ok   bool
	}{
		{"GRANDMA", false},
		{"Grаndma", false}, // a Cyrillic а
		{"Grandrna", false},
		{"B0b", false},
		{"Βοb", false},        // Greek capital beta, omicron
		{"José", false},       // the NFC of the NFD name
		{"Jose\u0301", false}, // the NFD again
		{"Grandpa", true},
		{"Bobby", true},
		{"Jos", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.s.AddDevice(f.ctx, NewDevice{ID: "n-" + tt.name, Name: tt.name, Kind: KindToy, CertSerial: "s-" + tt.name})
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrExists)) {
				t.Fatalf("AddDevice(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
			if err == nil {
				d, _ := f.s.DeviceByName(f.ctx, tt.name)
				f.s.RemoveDevice(f.ctx, d.ID, false)
			}
			err = f.s.AddInvite(f.ctx, NewInvite{ID: "i-" + tt.name, Secret: "secret " + tt.name, Name: tt.name, Role: RoleParent, Expires: f.clock().Add(time.Hour)})
			if tt.ok != (err == nil) {
				t.Fatalf("AddInvite(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
		})
	}
	// A rename to a look-alike of another is refused; of itself, not.
	gran, _ := f.s.DeviceByName(f.ctx, "grandma")
	bob, _ := f.s.DeviceByName(f.ctx, "bob")
	if err := f.s.RenameDevice(f.ctx, bob.ID, "Grаndma"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename to a look-alike: %v", err)
	}
	if err := f.s.RenameDevice(f.ctx, gran.ID, "GRANDMA"); err != nil {
		t.Fatalf("rename to its own look: %v", err)
	}
	// A name typed in NFD finds the device named in NFC, and is stored in NFC.
	if d, err := f.s.DeviceByName(f.ctx, "jose\u0301"); err != nil || d.Name != "José" {
		t.Fatalf("DeviceByName(NFD) = %q, %v", d.Name, err)
	}
}

// TestFoldNames: a database from before schema 10 gets the hash of what
// each name looks like when it opens, once; a removed device, whose hash
// is not of its name, keeps its own.
func TestFoldNames(t *testing.T) {
	f := newFixture(t)
	gran := f.device("Grandma", KindFamily)
	gone := f.device("Bunny", KindToy)
	if err := f.s.RemoveDevice(f.ctx, gone.ID, true); err != nil {
		t.Fatal(err)
	}
	var goneHash []byte
	f.s.db.QueryRowContext(f.ctx, "SELECT name_hash FROM devices WHERE id = ?", gone.ID).Scan(&goneHash)
	// As schema 9 left it.
	err := f.s.w.do(f.ctx, func(tx *Tx) error {
		if _, err := tx.Exec("UPDATE devices SET look_hash = NULL"); err != nil {
			return err
		}
		_, err := tx.Exec("DELETE FROM meta WHERE key = 'names_folded'")
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.reopen()
	looks := map[string][]byte{}
	rows, err := f.s.db.QueryContext(f.ctx, "SELECT id, look_hash FROM devices")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var look []byte
		rows.Scan(&id, &look)
		looks[id] = look
	}
	rows.Close()
	if len(looks[gran.ID]) == 0 || looks[gone.ID] != nil {
		t.Fatalf("look hashes after the upgrade: %x", looks)
	}
	var hash []byte
	f.s.db.QueryRowContext(f.ctx, "SELECT name_hash FROM devices WHERE id = ?", gone.ID).Scan(&hash)
	if string(hash) != string(goneHash) {
		t.Fatal("the removed device's hash changed")
	}
	if _, err := f.s.DeviceByName(f.ctx, "grandma"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddDevice(f.ctx, NewDevice{ID: "n2", Name: "Grаndma", Kind: KindToy, CertSerial: "s2"}); !errors.Is(err, ErrExists) {
		t.Fatalf("look-alike after the upgrade: %v", err)
	}
}
