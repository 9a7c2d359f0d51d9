package certs

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// BrowserUnit marks a certificate as a browser's, in its subject: the
// remote door serves the web app only to these, and a browser's
// certificate is never a device's (the broker knows none of them).
const BrowserUnit = "toyhub browser"

// BrowserCert is a browser's certificate with its key, as a PKCS#12 file
// under a passphrase that is shown once.
type BrowserCert struct {
	Issued
	P12        []byte
	Passphrase string
}

// IssueBrowser makes a key and a certificate for a person's browser,
// naming their account, valid for validity (MaxClientValidity at most),
// and packs them with the CA in a PKCS#12 file under a new passphrase of
// 100 random bits, written for a person to type.
func (ca *CA) IssueBrowser(account string, validity time.Duration, now time.Time) (BrowserCert, error) {
	if validity <= 0 || validity > MaxClientValidity {
		return BrowserCert{}, fmt.Errorf("certs: browser certificate validity %v is outside (0, %v]", validity, MaxClientValidity)
	}
	if account == "" {
		return BrowserCert{}, errors.New("certs: empty account")
	}
	key, err := NewKey()
	if err != nil {
		return BrowserCert{}, err
	}
	iss, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: account, OrganizationalUnit: []string{BrowserUnit}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, &key.PublicKey, validity, now)
	if err != nil {
		return BrowserCert{}, err
	}
	pass := newPassphrase()
	p12, err := pkcs12.Modern2023.Encode(key, iss.Cert, []*x509.Certificate{ca.Cert}, pass)
	if err != nil {
		return BrowserCert{}, fmt.Errorf("certs: PKCS#12: %w", err)
	}
	return BrowserCert{Issued: iss, P12: p12, Passphrase: pass}, nil
}

// IsBrowser reports whether a verified certificate is a browser's, and
// for which account.
func IsBrowser(c *x509.Certificate) (account string, ok bool) {
	for _, ou := range c.Subject.OrganizationalUnit {
		if ou == BrowserUnit {
			return c.Subject.CommonName, true
		}
	}
	return "", false
}

// newPassphrase is 100 random bits as five groups of four letters and
// digits (no 0, 1, 8 or 9, which read like letters), easy to type.
func newPassphrase() string {
	b := make([]byte, 13)
	rand.Read(b)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:20]
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20]
}
