package backup

import (
	"bytes"
	"testing"
)

// FuzzExtract: any file offered as a backup is refused with an error
// (or, being a real backup, read), never a crash, and nothing outside the
// directory is written.
func FuzzExtract(f *testing.F) {
	var good bytes.Buffer
	enc, _ := NewEncrypter(&good, []byte("pass"), Header{})
	enc.Write([]byte("not a tar, but encrypted"))
	enc.Close()
	f.Add(good.Bytes())
	f.Add([]byte(magic + "\x00\x00\x00\x02{}"))
	f.Add([]byte(magic + "\x00\x00\x01\x00" + `{"format":1,"kdf":"argon2id","salt":"AAAAAAAAAAAAAAAAAAAAAA==","time":1,"memory_kib":8192,"threads":1,"nonce_prefix":"AAAAAAAAAAAAAAAAAAAAAA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := ReadHeader(bytes.NewReader(b)); err != nil {
			return
		}
		dir := t.TempDir()
		_, _, _ = Extract(bytes.NewReader(b), []byte("pass"), dir, nil)
	})
}
