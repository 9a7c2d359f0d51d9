package hub

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/toyhub/toyhub/certs"
)

// AddDevice enrolls a device with the hub serving dataDir and writes its
// bundle to out. The device's private key is made here and written only to
// out; the hub sees the certificate request alone.
func AddDevice(dataDir, name, kind, out string) (AddDeviceResult, error) {
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
	var res AddDeviceResult
	if err := Call(dataDir, OpDeviceAdd, AddDeviceArgs{Name: name, Kind: kind, CSR: string(csr)}, &res); err != nil {
		return res, err
	}
	info := certs.DeviceInfo{DeviceID: res.Device.ID, Kind: res.Device.Kind, Hub: res.Hub, CAFingerprint: res.CAFingerprint, Protocol: res.Protocol}
	if err := certs.WriteBundle(out, info, []byte(res.CAPEM), []byte(res.CertPEM), keyPEM); err != nil {
		return res, fmt.Errorf("the device was enrolled but its bundle was not written (%w); revoke it with 'toyhub device revoke' and add it again", err)
	}
	return res, nil
}
