package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// keyVersion is bound into every ciphertext's associated data, so that a
// future master-key rotation can tell old records from new.
const keyVersion = 1

const masterKeyHeader = "TOYHUB-MASTER-KEY-1"

// Errors about the master key. Each means the hub must not start: it would
// either fail to read every record or, worse, start writing under a key that
// cannot read the old ones.
var (
	ErrMasterKeyMissing = errors.New("store: master key missing")
	ErrWrongMasterKey   = errors.New("store: master key does not open this database")
	ErrMasterKeyExposed = errors.New("store: master key file is readable by other users")
)

// keyring holds the keys derived from the master key. The master key itself
// is used only as HKDF input.
type keyring struct {
	wrap   cipher.AEAD // wraps per-record data keys
	lookup []byte      // HMAC key for name look-ups
	check  []byte      // proves which master key a database was written with
	audit  []byte      // HMAC key of the audit log's chain
}

func newKeyring(master []byte) (*keyring, error) {
	derive := func(label string) []byte {
		k, err := hkdf.Key(sha256.New, master, nil, "toyhub/v1/"+label, 32)
		if err != nil {
			panic(err) // only fails for lengths HKDF cannot produce
		}
		return k
	}
	wrap, err := newAEAD(derive("wrap"))
	if err != nil {
		return nil, err
	}
	return &keyring{wrap: wrap, lookup: derive("lookup"), check: derive("check"), audit: derive("audit")}, nil
}

// loadMasterKey reads the master key file, or creates it when create is
// true and it does not exist.
func loadMasterKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("%w: %s does not exist, but the database does; restore the key from your backup (a new key cannot read the existing messages)", ErrMasterKeyMissing, path)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("store: master key: %w", err)
		}
		text := masterKeyHeader + "\n" + base64.StdEncoding.EncodeToString(key) + "\n"
		if err := writeFileExclusive(path, []byte(text)); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o; run: chmod 600 %s", ErrMasterKeyExposed, path, st.Mode().Perm(), path)
	}
	return parseMasterKey(path, b)
}

func parseMasterKey(path string, b []byte) ([]byte, error) {
	head, body, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(body))
	if head != masterKeyHeader || err != nil || len(key) != 32 {
		return nil, fmt.Errorf("store: master key %s is not a toyhub master key file", path)
	}
	return key, nil
}

// writeFileExclusive writes a new file atomically and never over an
// existing one: the content goes to a temporary file (0600) that is synced
// and then hard-linked into place, which fails if path exists. A crash
// leaves either no key or a whole one; the master key is written once.
func writeFileExclusive(path string, data []byte) error {
	dir := dirOf(path)
	f, err := os.CreateTemp(dir, ".master.key.tmp*")
	if err != nil {
		return fmt.Errorf("store: create master key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("store: write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store: sync master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: close master key: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("store: create master key: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync key directory: %w", err)
	}
	defer d.Close()
	return d.Sync()
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return cipher.NewGCM(blk)
}

// ad builds associated data: a version byte, then table, record ID and
// column, each with a 16-bit length prefix, then the key version. Binding
// all four means a ciphertext copied to another row, column or table fails
// to open. It never uses the rowid, which VACUUM may renumber.
func ad(table, record, column string) []byte {
	b := make([]byte, 0, 1+6+len(table)+len(record)+len(column)+4)
	b = append(b, 1)
	for _, s := range []string{table, record, column} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return binary.BigEndian.AppendUint32(b, keyVersion)
}

// seal encrypts plaintext under aead with a random nonce, prepended.
func seal(aead cipher.AEAD, plaintext, adata []byte) []byte {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(err)
	}
	return aead.Seal(out, out, plaintext, adata)
}

// ErrCorrupt means a ciphertext failed to authenticate: the database was
// changed outside the hub, or a record was moved.
var ErrCorrupt = errors.New("store: record does not authenticate")

func open(aead cipher.AEAD, sealed, adata []byte) ([]byte, error) {
	return openAppend(nil, aead, sealed, adata)
}

// openAppend is open appending the plaintext to dst.
func openAppend(dst []byte, aead cipher.AEAD, sealed, adata []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, ErrCorrupt
	}
	pt, err := aead.Open(dst, sealed[:n], sealed[n:], adata)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// newDataKey makes a per-record data key and returns it wrapped for storage
// in record's dek column, with the AEAD that uses it.
func (k *keyring) newDataKey(table, record string) (wrapped []byte, aead cipher.AEAD, err error) {
	dk := make([]byte, 32)
	if _, err := rand.Read(dk); err != nil {
		return nil, nil, fmt.Errorf("store: data key: %w", err)
	}
	aead, err = newAEAD(dk)
	if err != nil {
		return nil, nil, err
	}
	return seal(k.wrap, dk, ad(table, record, "dek")), aead, nil
}

// dataKey unwraps a record's data key.
func (k *keyring) dataKey(table, record string, wrapped []byte) (cipher.AEAD, error) {
	dk, err := open(k.wrap, wrapped, ad(table, record, "dek"))
	if err != nil {
		return nil, fmt.Errorf("store: data key of %s %s: %w", table, record, err)
	}
	return newAEAD(dk)
}

// nameHash is the keyed hash used to find a record by name without storing
// the name in clear. Names are compared case-insensitively.
func (k *keyring) nameHash(kind, name string) []byte {
	return k.hashNormalized(kind, NormalizeName(name))
}

// hashNormalized is nameHash of a name normalised already.
func (k *keyring) hashNormalized(kind, normalized string) []byte {
	m := hmac.New(sha256.New, k.lookup)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(normalized))
	return m.Sum(nil)
}

// lookHash is the keyed hash of what a name looks like (lookAlike), to
// refuse a new name that imitates another.
func (k *keyring) lookHash(kind, name string) []byte {
	m := hmac.New(sha256.New, k.lookup)
	m.Write([]byte("look\x00" + kind + "\x00"))
	m.Write([]byte(lookAlike(name)))
	return m.Sum(nil)
}

// checkValue is stored in the database when it is created; a different
// master key yields a different value.
func (k *keyring) checkValue() []byte {
	m := hmac.New(sha256.New, k.check)
	m.Write([]byte("toyhub key check"))
	return m.Sum(nil)
}

func (k *keyring) matches(stored []byte) bool {
	return hmac.Equal(stored, k.checkValue())
}

// MasterKeyForms reads the master key file and returns the key in each
// form a copy of it could take: raw, base64 and hex.
func MasterKeyForms(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: master key: %w", err)
	}
	key, err := parseMasterKey(path, b)
	if err != nil {
		return nil, err
	}
	return [][]byte{key, []byte(base64.StdEncoding.EncodeToString(key)), []byte(base64.RawURLEncoding.EncodeToString(key)),
		[]byte(hex.EncodeToString(key))}, nil
}
