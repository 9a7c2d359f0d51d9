package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Bundle file names inside a device bundle directory.
const (
	BundleCA   = "ca.pem"
	BundleCert = "cert.pem"
	BundleKey  = "key.pem"
	BundleInfo = "device.json"
)

// DeviceInfo is device.json: what a device needs to find and trust its hub.
// It holds no names: a bundle may be copied around, and the hub knows who
// the device is.
type DeviceInfo struct {
	DeviceID      string   `json:"device_id"`
	Kind          string   `json:"kind"`
	Hub           []string `json:"hub"` // host:port, tried in order
	CAFingerprint string   `json:"ca_fingerprint"`
	Protocol      int      `json:"protocol"`
}

// Bundle is a device's identity as loaded from its directory.
type Bundle struct {
	Dir  string
	Info DeviceInfo
	CA   *x509.Certificate
	Cert tls.Certificate
}

// WriteBundle writes a bundle directory (0700): the CA certificate, the
// device certificate, its key (0600) and device.json.
func WriteBundle(dir string, info DeviceInfo, caPEM, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: bundle %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("certs: bundle %s: %w", dir, err)
	}
	infoJSON, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("certs: bundle: %w", err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{BundleKey, keyPEM, 0o600},
		{BundleCA, caPEM, 0o644},
		{BundleCert, certPEM, 0o644},
		{BundleInfo, append(infoJSON, '\n'), 0o644},
	}
	for _, f := range files {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// LoadBundle reads and checks a bundle: the CA matches the pinned
// fingerprint, the certificate chains to it, and the key matches.
func LoadBundle(dir string) (*Bundle, error) {
	infoJSON, err := readFile(filepath.Join(dir, BundleInfo))
	if err != nil {
		return nil, err
	}
	var info DeviceInfo
	if err := json.Unmarshal(infoJSON, &info); err != nil {
		return nil, fmt.Errorf("certs: %s: %w", filepath.Join(dir, BundleInfo), err)
	}
	caPEM, err := readFile(filepath.Join(dir, BundleCA))
	if err != nil {
		return nil, err
	}
	ca, err := ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, BundleCA), err)
	}
	if got := Fingerprint(ca); got != info.CAFingerprint {
		return nil, fmt.Errorf("certs: bundle %s: ca.pem fingerprint %s does not match the pinned %s", dir, got, info.CAFingerprint)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, BundleCert), filepath.Join(dir, BundleKey))
	if err != nil {
		return nil, fmt.Errorf("certs: bundle %s: %w", dir, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		return nil, errors.New("certs: bundle certificate has no leaf")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	// Checked as of the middle of its validity: an expired bundle still
	// loads, so that the device can say it must enroll again.
	mid := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: mid}); err != nil {
		return nil, fmt.Errorf("certs: bundle %s: certificate not issued by the pinned CA: %w", dir, err)
	}
	if leaf.Subject.CommonName != info.DeviceID {
		return nil, fmt.Errorf("certs: bundle %s: certificate is for %q, device.json says %q", dir, leaf.Subject.CommonName, info.DeviceID)
	}
	return &Bundle{Dir: dir, Info: info, CA: ca, Cert: cert}, nil
}

// Pool returns a pool holding only the pinned CA.
func (b *Bundle) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return b, nil
}

// UpdateBundleHubs remembers new hub addresses in a bundle's device.json.
func UpdateBundleHubs(dir string, hubs []string) error {
	path := filepath.Join(dir, BundleInfo)
	b, err := readFile(path)
	if err != nil {
		return err
	}
	var info DeviceInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("certs: %s: %w", path, err)
	}
	info.Hub = hubs
	out, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(out, '\n'), 0o644)
}
