package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skip2/go-qrcode"

	"github.com/toyhub/toyhub/certs"
)

// AddDeviceBundle enrolls a device with the hub serving dataDir and writes
// its bundle to out. The device's private key is made here and written
// only to out; the hub sees the certificate request alone.
func AddDeviceBundle(dataDir, name, kind, out string) (AddDeviceResult, error) {
	if _, err := os.Stat(filepath.Join(out, certs.BundleKey)); err == nil {
		return AddDeviceResult{}, fmt.Errorf("%s already holds a device's key; choose an empty directory", out)
	}
	key, err := certs.NewKey()
	if err != nil {
		return AddDeviceResult{}, err
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		return AddDeviceResult{}, err
	}
	csr, err := certs.NewCSR(key)
	if err != nil {
		return AddDeviceResult{}, err
	}
	res, err := DeviceAdd.Call(dataDir, AddDeviceArgs{Name: name, Kind: kind, CSR: string(csr)})
	if err != nil {
		return res, err
	}
	info := certs.DeviceInfo{DeviceID: res.Device.ID, Kind: res.Device.Kind, Hub: res.Hub, CAFingerprint: res.CAFingerprint, Protocol: res.Protocol}
	if err := certs.WriteBundle(out, info, []byte(res.CAPEM), []byte(res.CertPEM), keyPEM); err != nil {
		return res, fmt.Errorf("the device was enrolled but its bundle was not written (%w); revoke it with 'toyhub device revoke' and add it again", err)
	}
	return res, nil
}

// InviteFiles asks the hub serving dataDir for an invite and writes it to
// out (JSON, with the toyhub:// link, for a device) and out+".png" (a QR
// code of the web link, which a phone's camera opens; of the toyhub://
// link when the web app is off). Both hold the secret, so both are 0600;
// the hub keeps only its hash, so these files are the only copies.
func InviteFiles(dataDir string, a InviteArgs, out string) (InviteResult, error) {
	for _, p := range []string{out, out + ".png"} {
		if _, err := os.Stat(p); err == nil {
			return InviteResult{}, fmt.Errorf("%s exists; choose another file", p)
		}
	}
	res, err := InviteCreate.Call(dataDir, a)
	if err != nil {
		return res, err
	}
	// The QR code holds the web link when there is one: a phone's camera
	// opens it (from far away with remote access on: an invite on paper is
	// mostly for someone who does not live here). The toyhub:// link stays
	// in the file, for a device.
	link := res.Link
	switch {
	case res.RemoteLink != "":
		link = res.RemoteLink
	case res.WebLink != "":
		link = res.WebLink
	case res.Role == "parent":
		return res, errors.New("a parent's invite is opened in the web app, which is off")
	}
	png, err := qrcode.Encode(link, qrcode.Medium, 512)
	if err != nil {
		return res, fmt.Errorf("QR code: %w", err)
	}
	if err := certs.WriteFileAtomic(out, []byte(res.File), 0o600); err != nil {
		return res, err
	}
	if err := certs.WriteFileAtomic(out+".png", png, 0o600); err != nil {
		return res, err
	}
	return res, nil
}
