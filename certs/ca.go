package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"
)

// Validity periods.
const (
	CAValidity = 20 * 365 * 24 * time.Hour
	// MaxClientValidity bounds device certificates: a lost or stolen toy
	// stops working on its own within this time even if nobody revokes it.
	MaxClientValidity = 90 * 24 * time.Hour
	// clockSkew back-dates NotBefore so that a device whose clock runs a
	// little behind the hub's still accepts a fresh certificate.
	clockSkew = 5 * time.Minute
)

// ErrKeyMismatch means a certificate and the key beside it do not belong
// together, for instance after a partial restore.
var ErrKeyMismatch = errors.New("certs: certificate and key do not match")

// CA is the household certificate authority.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte
	key  *ecdsa.PrivateKey
}

// LoadOrCreateCA loads the CA from certPath and keyPath, or creates both if
// neither exists, for scope. If only one of them exists it refuses, rather
// than replacing a CA that devices have pinned. A loaded CA whose
// certificate has another scope is re-issued for this one, with the same
// key, and written back (see Rescope).
func LoadOrCreateCA(certPath, keyPath string, scope Scope, now time.Time) (ca *CA, created bool, err error) {
	haveCert, err := exists(certPath)
	if err != nil {
		return nil, false, err
	}
	haveKey, err := exists(keyPath)
	if err != nil {
		return nil, false, err
	}
	switch {
	case haveCert && haveKey:
		ca, err := LoadCA(certPath, keyPath)
		if err != nil {
			return nil, false, err
		}
		return ca, false, ca.RescopeFile(certPath, scope, now)
	case haveCert != haveKey:
		return nil, false, fmt.Errorf("certs: only one of %s and %s exists; restore the other from a backup (a new CA would lock out every device)", certPath, keyPath)
	}
	ca, keyPEM, err := NewScopedCA(now, scope)
	if err != nil {
		return nil, false, err
	}
	if err := WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, false, err
	}
	if err := WriteFileAtomic(certPath, ca.PEM, 0o644); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// LoadCA reads an existing CA.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := readFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(keyPath)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s, %s: %w", certPath, keyPath, ErrKeyMismatch)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certs: %s is not a CA certificate", certPath)
	}
	return &CA{Cert: cert, PEM: certPEM, key: key}, nil
}

// RescopeFile re-issues the CA's certificate for scope if its scope
// differs (see Rescope), and writes it to certPath.
func (ca *CA) RescopeFile(certPath string, scope Scope, now time.Time) error {
	changed, err := ca.Rescope(scope, now)
	if err != nil || !changed {
		return err
	}
	return WriteFileAtomic(certPath, ca.PEM, 0o644)
}

// NewCA creates a CA for a hub on a home network (HomeScope) in memory and
// returns it with its key in PEM form.
func NewCA(now time.Time) (*CA, []byte, error) { return NewScopedCA(now, HomeScope()) }

// NewScopedCA creates a CA that may vouch for scope alone.
func NewScopedCA(now time.Time, scope Scope) (*CA, []byte, error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	ski := sha256.Sum256(spki)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// No household or child names: anyone who connects sees this.
		Subject:               pkix.Name{CommonName: "toyhub household CA " + hex.EncodeToString(ski[:4])},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:20],
	}
	constrain(tmpl, scope)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, PEM: EncodeCert(der), key: key}, keyPEM, nil
}

// Fingerprint is the CA certificate's SHA-256 fingerprint.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.Cert) }

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issued is a certificate the CA signed.
type Issued struct {
	Cert   *x509.Certificate
	PEM    []byte
	Serial string
}

// IssueServer signs a server certificate for the given names and
// addresses, with a new key, and returns it ready for a tls.Config.
func (ca *CA) IssueServer(dnsNames []string, ips []net.IP, validity time.Duration, now time.Time) (tls.Certificate, Issued, []byte, error) {
	key, err := NewKey()
	if err != nil {
		return tls.Certificate{}, Issued{}, nil, err
	}
	iss, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "toyhub hub"},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, &key.PublicKey, validity, now)
	if err != nil {
		return tls.Certificate{}, Issued{}, nil, err
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return tls.Certificate{}, Issued{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert}, iss, keyPEM, nil
}

// IssueClient signs a device certificate whose common name is the device
// ID, for the public key of a verified CSR. validity may not exceed
// MaxClientValidity.
func (ca *CA) IssueClient(pub crypto.PublicKey, deviceID string, validity time.Duration, now time.Time) (Issued, error) {
	if validity <= 0 || validity > MaxClientValidity {
		return Issued{}, fmt.Errorf("certs: device certificate validity %v is outside (0, %v]", validity, MaxClientValidity)
	}
	if deviceID == "" {
		return Issued{}, errors.New("certs: empty device ID")
	}
	return ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: deviceID},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, pub, validity, now)
}

func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration, now time.Time) (Issued, error) {
	serial, err := newSerial()
	if err != nil {
		return Issued{}, err
	}
	tmpl.SerialNumber = serial
	// Back-dated a little for clocks that run behind, but by no more than a
	// tenth of the validity, so that "two thirds of its life" stays close
	// to two thirds of the validity asked for.
	tmpl.NotBefore = now.Add(-min(clockSkew, validity/10))
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	tmpl.AuthorityKeyId = ca.Cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return Issued{}, fmt.Errorf("certs: sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Issued{}, fmt.Errorf("certs: %w", err)
	}
	return Issued{Cert: cert, PEM: EncodeCert(der), Serial: SerialString(serial)}, nil
}
