package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPairingCode(t *testing.T) {
	c := NewPairingCode()
	if len(c) != PairingCodeLen {
		t.Fatalf("code %q", c)
	}
	printed := c.String()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"printed", printed, true},
		{"lower case, no dashes", strings.ToLower(strings.ReplaceAll(printed, "-", "")), true},
		{"spaces", strings.ReplaceAll(printed, "-", " "), true},
		{"one symbol changed", swapSymbol(printed, 3), false},
		{"two symbols swapped", swapAdjacent(printed), false},
		{"too short", printed[:len(printed)-3], false},
		{"too long", printed + "0", false},
		{"letter U", "U" + printed[1:], false},
		{"not ASCII", "é" + printed[1:], false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePairingCode(tt.in)
			if tt.ok {
				if err != nil || got != c {
					t.Fatalf("ParsePairingCode(%q) = %q, %v", tt.in, got, err)
				}
				return
			}
			if !errors.Is(err, ErrPairingCode) {
				t.Fatalf("ParsePairingCode(%q) = %q, %v; want an error", tt.in, got, err)
			}
		})
	}
	// I, L and O read as 1, 1 and 0.
	withOnes := PairingCode(strings.Repeat("1", 13) + strings.Repeat("0", 13))
	typed := strings.NewReplacer("1", "l", "0", "o").Replace(withOnes.String())
	if got, err := ParsePairingCode(typed); err != nil || got != withOnes {
		t.Fatalf("typed with letters: %q, %v", got, err)
	}
}

func swapSymbol(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func swapAdjacent(s string) string {
	b := []byte(s)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '-' && b[i+1] != '-' && b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			return string(b)
		}
	}
	return s
}

func TestProofs(t *testing.T) {
	code, other := NewPairingCode(), NewPairingCode()
	exp := bytes.Repeat([]byte{7}, ExporterLen)
	exp2 := bytes.Repeat([]byte{8}, ExporterLen)
	csr, ca := []byte("csr"), []byte("ca")
	base := ToyProof(code, exp, csr)
	for name, p := range map[string][]byte{
		"other code":     ToyProof(other, exp, csr),
		"other channel":  ToyProof(code, exp2, csr),
		"other CSR":      ToyProof(code, exp, []byte("csr2")),
		"the hub's role": HubProof(code, exp, csr),
	} {
		if bytes.Equal(p, base) {
			t.Errorf("%s gives the same proof", name)
		}
	}
	if !bytes.Equal(HubProof(code, exp, ca), HubProof(code, exp, ca)) {
		t.Error("proofs are not deterministic")
	}
	if CheckExporter(make([]byte, ExporterLen)) == nil || CheckExporter(exp[:16]) == nil || CheckExporter(exp) != nil {
		t.Error("CheckExporter")
	}
}

func TestInvite(t *testing.T) {
	inv := Invite{Secret: NewInviteSecret(), Pin: strings.Repeat("ab", 32), Hub: []string{"192.168.1.20:8884", "pi.local:8884"}, Expires: time.Unix(1900000000, 0)}
	for name, form := range map[string]string{"link": inv.Link(), "file": string(inv.File())} {
		got, err := ParseInvite(form)
		if err != nil || got.Secret != inv.Secret || got.Pin != inv.Pin || strings.Join(got.Hub, ",") != strings.Join(inv.Hub, ",") || !got.Expires.Equal(inv.Expires) {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	bad := []string{
		"", "https://join?v=1", "toyhub://pair?v=1",
		strings.Replace(inv.Link(), "v=1", "v=2", 1),
		strings.Replace(inv.Link(), "pin="+inv.Pin, "pin=abc", 1),
		strings.Replace(inv.Link(), "s="+inv.Secret, "s=short", 1),
		strings.Replace(inv.Link(), "exp=1900000000", "exp=soon", 1),
		"toyhub://join?v=1&s=" + inv.Secret + "&pin=" + inv.Pin + "&exp=1900000000",
		"toyhub://join?v=1&s=" + inv.Secret + "&pin=" + inv.Pin + "&exp=1900000000&hub=evil.example/x:1",
		`{"v":1,"secret":"x"}`,
		`{"v":1,"unexpected":true}`,
	}
	for _, b := range bad {
		if _, err := ParseInvite(b); !errors.Is(err, ErrInvite) {
			t.Errorf("ParseInvite(%q) = %v, want ErrInvite", b, err)
		}
	}
}

func FuzzParsePairingCode(f *testing.F) {
	f.Add(NewPairingCode().String())
	f.Add("7zq4m-aaaaa-00000-11111-22222-3*")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParsePairingCode(s)
		if err != nil {
			return
		}
		if len(c) != PairingCodeLen {
			t.Fatalf("accepted a code of %d symbols", len(c))
		}
		if again, err := ParsePairingCode(c.String()); err != nil || again != c {
			t.Fatalf("printed form does not parse back: %v", err)
		}
	})
}

func FuzzParseInvite(f *testing.F) {
	inv := Invite{Secret: NewInviteSecret(), Pin: strings.Repeat("0f", 32), Hub: []string{"10.0.0.1:8884"}, Expires: time.Unix(1900000000, 0)}
	f.Add(inv.Link())
	f.Add(string(inv.File()))
	f.Add("toyhub://join?v=1")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseInvite(s)
		if err != nil {
			return
		}
		if len(got.Secret) != 26 || len(got.Pin) != 64 || len(got.Hub) == 0 {
			t.Fatalf("accepted %+v", got)
		}
		if again, err := ParseInvite(got.Link()); err != nil || again.Secret != got.Secret {
			t.Fatalf("link does not parse back: %v", err)
		}
	})
}
