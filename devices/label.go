package devices

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/skip2/go-qrcode"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// Label files a simulated toy gets from 'toy label'.
const (
	LabelText = "label.txt"
	LabelPNG  = "label.png"
)

// MakeLabel creates a simulated toy in dir: its private key (which never
// leaves the toy) and the label a factory would print, as text and as a QR
// code of the same text.
func MakeLabel(dir string) (wire.PairingCode, error) {
	if _, err := os.Stat(filepath.Join(dir, certs.BundleKey)); err == nil {
		return "", fmt.Errorf("%s already holds a toy; choose an empty directory", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	key, err := certs.NewKey()
	if err != nil {
		return "", err
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return "", err
	}
	code := wire.NewPairingCode()
	png, err := qrcode.Encode(code.String(), qrcode.Medium, 384)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	text := "toyhub pairing code (keep it private until the toy is paired):\n" + code.String() + "\n"
	for name, data := range map[string][]byte{certs.BundleKey: keyPEM, LabelText: []byte(text), LabelPNG: png} {
		if err := certs.WriteFileAtomic(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return code, nil
}
