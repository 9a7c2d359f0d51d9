// Package backup writes and reads the hub's encrypted backups.
//
// A backup is a tar archive of the hub's files (a consistent snapshot of
// the database, and the master and CA keys unless left out), encrypted
// with a key derived from a passphrase by Argon2id. The file is:
//
//	"TOYHUB-BACKUP\n"  magic
//	uint32 big-endian  length of the header
//	header             JSON: format version, KDF parameters and salt,
//	                   nonce prefix, creation time, what it holds
//	records            uint32 length, then XChaCha20-Poly1305 ciphertext
//	                   of up to 64 KiB of the tar stream
//
// Each record's nonce is the header's 16-byte prefix and the record's
// number; its associated data binds the SHA-256 of the header, the
// number, and whether it is the last record. So a backup cannot be cut
// short, reordered, spliced with another, or have its header changed,
// without the restore noticing. Without the passphrase, the header tells
// only when the backup was made and what kind of files it holds.
package backup

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	magic      = "TOYHUB-BACKUP\n"
	recordSize = 64 << 10
	maxHeader  = 64 << 10
)

// Argon2id parameters for the passphrase: 64 MiB, 3 passes. A Pi with
// 1 GB of memory derives a key in a few seconds; a guesser pays the same.
const (
	kdfTime    = 3
	kdfMemory  = 64 << 10 // KiB
	kdfThreads = 1
)

// ErrPassphrase means the passphrase does not open the backup.
var ErrPassphrase = errors.New("backup: wrong passphrase, or the file was changed")

// ErrCorrupt means the backup is damaged, cut short or not a backup.
var ErrCorrupt = errors.New("backup: the file is damaged or cut short")

// Header is what a backup says about itself, in clear.
type Header struct {
	Format     int       `json:"format"`
	Created    time.Time `json:"created"`
	KDF        string    `json:"kdf"`
	Salt       []byte    `json:"salt"`
	Time       uint32    `json:"time"`
	Memory     uint32    `json:"memory_kib"`
	Threads    uint8     `json:"threads"`
	Nonce      []byte    `json:"nonce_prefix"`
	Schema     int       `json:"schema"`
	HubVersion string    `json:"hub_version"`
	Kind       string    `json:"kind,omitempty"` // "" for a backup, "export" for an export
	MasterKey  bool      `json:"master_key"`     // whether the master key is inside
	Bytes      int64     `json:"bytes"`          // of the files inside, for progress
}

// File is a file to put in a backup, under Name.
type File struct {
	Name string // a slash-separated relative path
	Path string
}

// Progress is told how many of the total bytes are done.
type Progress func(done, total int64)

func key(pass []byte, h Header) []byte {
	return argon2.IDKey(pass, h.Salt, h.Time, h.Memory, h.Threads, chacha20poly1305.KeySize)
}

func ad(hsum [32]byte, n uint64, last bool) []byte {
	b := make([]byte, 0, 41)
	b = append(b, hsum[:]...)
	b = binary.BigEndian.AppendUint64(b, n)
	if last {
		return append(b, 1)
	}
	return append(b, 0)
}

func nonce(prefix []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), n)
}

// Encrypter is an encrypted stream being written; Close writes its last
// record and must be called.
type Encrypter struct {
	bw *bufio.Writer
	sw *sealer
}

func (e *Encrypter) Write(p []byte) (int, error) { return e.sw.Write(p) }

// Close seals the last record and flushes.
func (e *Encrypter) Close() error {
	if err := e.sw.close(); err != nil {
		return err
	}
	return e.bw.Flush()
}

// NewEncrypter starts an encrypted stream on w under passphrase, in the
// backup format; what is written to it is the plaintext.
func NewEncrypter(w io.Writer, passphrase []byte, h Header) (*Encrypter, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("backup: empty passphrase")
	}
	h.Format, h.KDF, h.Time, h.Memory, h.Threads = 1, "argon2id", kdfTime, kdfMemory, kdfThreads
	h.Salt, h.Nonce = make([]byte, 16), make([]byte, 16)
	rand.Read(h.Salt)
	rand.Read(h.Nonce)
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key(passphrase, h))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(magic)
	binary.Write(bw, binary.BigEndian, uint32(len(hdr)))
	bw.Write(hdr)
	return &Encrypter{bw: bw, sw: &sealer{w: bw, aead: aead, hsum: sha256.Sum256(hdr), prefix: h.Nonce}}, nil
}

// Decrypter reads an encrypted stream; reading to EOF verifies that it
// ended where its writer ended it.
type Decrypter struct {
	op     *opener
	Header Header
}

func (d *Decrypter) Read(p []byte) (int, error) { return d.op.Read(p) }

// NewDecrypter opens an encrypted stream.
func NewDecrypter(r io.Reader, passphrase []byte) (*Decrypter, error) {
	br := bufio.NewReader(r)
	h, hdr, err := ReadHeader(br)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key(passphrase, h))
	if err != nil {
		return nil, err
	}
	return &Decrypter{op: &opener{r: br, aead: aead, hsum: sha256.Sum256(hdr), prefix: h.Nonce}, Header: h}, nil
}

// Write writes a backup of files to w, encrypted under passphrase.
func Write(w io.Writer, files []File, passphrase []byte, h Header, progress Progress) error {
	h.Bytes = 0
	for _, f := range files {
		st, err := os.Stat(f.Path)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		h.Bytes += st.Size()
	}
	enc, err := NewEncrypter(w, passphrase, h)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(enc)
	var done int64
	for _, f := range files {
		if err := addFile(tw, f, func(n int64) {
			done += n
			if progress != nil {
				progress(done, h.Bytes)
			}
		}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return enc.Close()
}

func addFile(tw *tar.Writer, f File, advance func(int64)) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	buf := make([]byte, recordSize)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, err := tw.Write(buf[:n]); err != nil {
				return err
			}
			advance(int64(n))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: %s: %w", f.Path, err)
		}
	}
}

// sealer encrypts a stream in records; the last record is marked so.
type sealer struct {
	w    io.Writer
	aead interface {
		Seal(dst, nonce, plain, ad []byte) []byte
	}
	hsum   [32]byte
	prefix []byte
	buf    []byte
	n      uint64
}

func (s *sealer) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(recordSize-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		// A full buffer is written only once more data follows, so that
		// the last record is always the one close writes.
		if len(s.buf) == recordSize && len(p) > 0 {
			if err := s.flush(false); err != nil {
				return 0, err
			}
		}
	}
	return total, nil
}

func (s *sealer) flush(last bool) error {
	ct := s.aead.Seal(nil, nonce(s.prefix, s.n), s.buf, ad(s.hsum, s.n, last))
	if err := binary.Write(s.w, binary.BigEndian, uint32(len(ct))); err != nil {
		return err
	}
	if _, err := s.w.Write(ct); err != nil {
		return err
	}
	s.n++
	s.buf = s.buf[:0]
	return nil
}

func (s *sealer) close() error { return s.flush(true) }

// ReadHeader reads a backup's header, which needs no passphrase.
func ReadHeader(r io.Reader) (Header, []byte, error) {
	var h Header
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(r, m); err != nil || string(m) != magic {
		return h, nil, fmt.Errorf("%w: not a toyhub backup", ErrCorrupt)
	}
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil || n == 0 || n > maxHeader {
		return h, nil, ErrCorrupt
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return h, nil, ErrCorrupt
	}
	if err := json.Unmarshal(hdr, &h); err != nil || h.Format != 1 || h.KDF != "argon2id" || len(h.Salt) < 16 || len(h.Nonce) != 16 ||
		h.Memory < 8<<10 || h.Memory > 1<<20 || h.Time < 1 || h.Time > 16 || h.Threads < 1 {
		return h, nil, fmt.Errorf("%w: unknown header", ErrCorrupt)
	}
	return h, hdr, nil
}

// opener decrypts the records and refuses a stream that ends before its
// last record, or goes on after it.
type opener struct {
	r    io.Reader
	aead interface {
		Open(dst, nonce, ct, ad []byte) ([]byte, error)
	}
	hsum   [32]byte
	prefix []byte
	buf    []byte
	n      uint64
	done   bool
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.buf) == 0 {
		if o.done {
			return 0, io.EOF
		}
		var l uint32
		if err := binary.Read(o.r, binary.BigEndian, &l); err != nil {
			return 0, fmt.Errorf("%w: it ends early", ErrCorrupt)
		}
		if l > recordSize+64 {
			return 0, ErrCorrupt
		}
		ct := make([]byte, l)
		if _, err := io.ReadFull(o.r, ct); err != nil {
			return 0, fmt.Errorf("%w: it ends early", ErrCorrupt)
		}
		plain, err := o.aead.Open(nil, nonce(o.prefix, o.n), ct, ad(o.hsum, o.n, false))
		if err != nil {
			if plain, err = o.aead.Open(nil, nonce(o.prefix, o.n), ct, ad(o.hsum, o.n, true)); err != nil {
				if o.n == 0 {
					return 0, ErrPassphrase
				}
				return 0, fmt.Errorf("%w: record %d does not authenticate", ErrCorrupt, o.n)
			}
			o.done = true
			if _, err := o.r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("%w: data after the end", ErrCorrupt)
			}
		}
		o.buf = plain
		o.n++
	}
	k := copy(p, o.buf)
	o.buf = o.buf[k:]
	return k, nil
}

// Extract decrypts a backup into dir (which must exist and be empty),
// checking every record, and returns its header and the files it wrote.
// On any error, whatever was written is left for the caller to remove.
func Extract(r io.Reader, passphrase []byte, dir string, progress Progress) (Header, []string, error) {
	dec, err := NewDecrypter(r, passphrase)
	if err != nil {
		return Header{}, nil, err
	}
	h, op := dec.Header, dec.op
	tr := tar.NewReader(op)
	var names []string
	var done int64
	for {
		th, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrPassphrase) || errors.Is(err, ErrCorrupt) {
				return h, names, err
			}
			return h, names, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		name := filepath.FromSlash(th.Name)
		if th.Typeflag != tar.TypeReg || !filepath.IsLocal(name) || strings.Contains(th.Name, "\\") {
			return h, names, fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, th.Name)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return h, names, err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return h, names, err
		}
		n, err := io.Copy(f, tr)
		done += n
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return h, names, err
		}
		if progress != nil {
			progress(done, h.Bytes)
		}
		names = append(names, th.Name)
	}
	// The tar stream ends before the record stream does; read the records
	// to the last one, so that truncation and trailing data are noticed.
	if _, err := io.Copy(io.Discard, op); err != nil {
		return h, names, err
	}
	if !op.done {
		return h, names, fmt.Errorf("%w: it ends early", ErrCorrupt)
	}
	return h, names, nil
}
