package web

import (
	"bytes"
	"testing"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/toyhub/toyhub/wire"
)

// FuzzTOTP: any code typed at login is checked or refused, never a crash.
func FuzzTOTP(f *testing.F) {
	f.Add("123456")
	f.Add(" 12 34 56 ")
	f.Fuzz(func(t *testing.T, code string) {
		_, _ = checkTOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, time.Unix(1_800_000_000, 0))
	})
}

// FuzzDecodeLabel: any picture uploaded as a label photo is read or
// refused, never a crash; a code it reads is a valid pairing code.
func FuzzDecodeLabel(f *testing.F) {
	code := wire.NewPairingCode()
	q, err := qrcode.Encode(string(code), qrcode.Low, 64)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(q)
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeLabel(bytes.NewReader(b))
		if err != nil {
			return
		}
		if _, err := wire.ParsePairingCode(string(got)); err != nil {
			t.Fatalf("read %q, not a pairing code", got)
		}
	})
}
