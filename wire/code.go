package wire

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// Crockford's base32: no I, L, O or U, so a code read off a label is hard
// to mistype; decoding accepts lower case and reads I and L as 1, O as 0.
const (
	crockford      = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	crockfordCheck = crockford + "*~$=U" // check symbols 32..36
)

// PairingCodeLen is the number of data symbols in a pairing code: 26
// symbols of 5 bits carry 130 random bits.
const PairingCodeLen = 26

// PairingCode is the secret printed on a toy's label, in canonical form:
// 26 upper-case Crockford symbols, without the check symbol or dashes.
type PairingCode string

// ErrPairingCode is wrapped by every pairing code parsing error.
var ErrPairingCode = errors.New("wire: bad pairing code")

// NewPairingCode returns a random code of 130 bits.
func NewPairingCode() PairingCode {
	var b [PairingCodeLen]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return PairingCode(b[:])
}

func checkSymbol(code string) byte {
	m := 0
	for i := 0; i < len(code); i++ {
		m = (m*32 + strings.IndexByte(crockford, code[i])) % 37
	}
	return crockfordCheck[m]
}

// ParsePairingCode reads a code as a person types it: dashes and spaces
// anywhere, any case, I or L for 1, O for 0. The check symbol at the end
// catches a mistyped or swapped symbol.
func ParsePairingCode(s string) (PairingCode, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'I' || r == 'L':
			r = '1'
		case r == 'O':
			r = '0'
		}
		if r > 0x7f || !strings.ContainsRune(crockfordCheck, r) {
			return "", fmt.Errorf("%w: %q is not a code symbol", ErrPairingCode, r)
		}
		b.WriteRune(r)
	}
	t := b.String()
	if len(t) != PairingCodeLen+1 {
		return "", fmt.Errorf("%w: %d symbols, want %d", ErrPairingCode, len(t), PairingCodeLen+1)
	}
	data, check := t[:PairingCodeLen], t[PairingCodeLen]
	if strings.ContainsAny(data, "*~$=U") {
		return "", fmt.Errorf("%w: check symbols inside the code", ErrPairingCode)
	}
	if checkSymbol(data) != check {
		return "", fmt.Errorf("%w: the check symbol does not match; is a symbol mistyped?", ErrPairingCode)
	}
	return PairingCode(data), nil
}

// String is the printed form: groups of five symbols with the check
// symbol at the end, e.g. 7ZQ4M-...-K3.
func (c PairingCode) String() string {
	s := string(c) + string(checkSymbol(string(c)))
	var parts []string
	for len(s) > 5 {
		parts = append(parts, s[:5])
		s = s[5:]
	}
	return strings.Join(append(parts, s), "-")
}

// key is the HMAC key both sides derive proofs from.
func (c PairingCode) key() []byte { return []byte("toyhub pairing code v1\x00" + string(c)) }
