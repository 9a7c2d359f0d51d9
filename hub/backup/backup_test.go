package backup

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func files(t *testing.T) ([]File, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	want := map[string][]byte{"hub.db": make([]byte, 200_000), "keys/master.key": []byte("toyhub master key\nAAAA\n"), "ca.pem": []byte("-----BEGIN")}
	rand.Read(want["hub.db"])
	var fs []File
	for name, b := range want {
		p := filepath.Join(dir, filepath.Base(name))
		os.WriteFile(p, b, 0o600)
		fs = append(fs, File{Name: name, Path: p})
	}
	return fs, want
}

func TestRoundTrip(t *testing.T) {
	fs, want := files(t)
	var buf bytes.Buffer
	var last int64
	if err := Write(&buf, fs, []byte("correct horse battery staple"), Header{Schema: 6, HubVersion: "test", MasterKey: true},
		func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	if last == 0 {
		t.Fatal("no progress reported")
	}
	for name, b := range want {
		if bytes.Contains(buf.Bytes(), b[:min(len(b), 64)]) {
			t.Fatalf("%s is in the backup in clear", name)
		}
	}
	h, _, err := ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil || h.Schema != 6 || !h.MasterKey || h.Bytes != int64(len(want["hub.db"])+len(want["keys/master.key"])+len(want["ca.pem"])) {
		t.Fatalf("header %+v %v", h, err)
	}
	dir := t.TempDir()
	_, names, err := Extract(bytes.NewReader(buf.Bytes()), []byte("correct horse battery staple"), dir, nil)
	if err != nil || len(names) != 3 {
		t.Fatalf("extract: %v %v", names, err)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s differs after the round trip: %v", name, err)
		}
		if st, _ := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s restored with mode %v", name, st.Mode())
		}
	}
}

// TestTampering: every way of damaging a backup is refused, with the
// error saying which.
func TestTampering(t *testing.T) {
	fs, _ := files(t)
	var buf bytes.Buffer
	pass := []byte("correct horse battery staple")
	if err := Write(&buf, fs, pass, Header{Created: time.Unix(1, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	hdrEnd := len(magic) + 4 + int(uint32(good[len(magic)])<<24|uint32(good[len(magic)+1])<<16|uint32(good[len(magic)+2])<<8|uint32(good[len(magic)+3]))
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	var other bytes.Buffer
	Write(&other, fs, pass, Header{}, nil)
	tests := []struct {
		name string
		data []byte
		pass string
		want error
	}{
		{"wrong passphrase", good, "not the passphrase", ErrPassphrase},
		{"not a backup", []byte("PK\x03\x04 a zip file"), string(pass), ErrCorrupt},
		{"header changed", bytes.Replace(good, []byte(`"schema":0`), []byte(`"schema":9`), 1), string(pass), ErrPassphrase},
		{"a bit flipped in the middle", flip(len(good) / 2), string(pass), ErrCorrupt},
		{"a bit flipped at the end", flip(len(good) - 2), string(pass), ErrCorrupt},
		{"cut short by a record", good[:len(good)-100], string(pass), ErrCorrupt},
		{"records of another backup", append(bytes.Clone(good[:hdrEnd]), other.Bytes()[hdrEnd:]...), string(pass), nil}, // either error
		{"data after the end", append(bytes.Clone(good), 0, 0, 0, 1, 7), string(pass), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Extract(bytes.NewReader(tt.data), []byte(tt.pass), t.TempDir(), nil)
			if tt.want == nil && (errors.Is(err, ErrCorrupt) || errors.Is(err, ErrPassphrase)) {
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// BenchmarkBackup writes and reads back a 32 MiB file, beside the baseline
// of copying the same file; the passphrase's key derivation (Argon2id,
// 64 MiB) is part of each backup, so it is part of each op.
func BenchmarkBackup(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "hub.db")
	data := make([]byte, 32<<20)
	rand.Read(data)
	os.WriteFile(p, data, 0o600)
	fs := []File{{Name: "hub.db", Path: p}}
	pass := []byte("correct horse battery staple")
	b.Run("baseline: copy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			in, _ := os.Open(p)
			out, _ := os.Create(filepath.Join(dir, "copy"))
			io.Copy(out, in)
			out.Sync()
			in.Close()
			out.Close()
		}
	})
	var backup bytes.Buffer
	b.Run("backup", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			backup.Reset()
			if err := Write(&backup, fs, pass, Header{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			out := b.TempDir()
			if _, _, err := Extract(bytes.NewReader(backup.Bytes()), pass, out, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
