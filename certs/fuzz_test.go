package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"testing"
)

// FuzzParseCSR: a certificate request is the one thing a toy sends before
// the hub knows it. Whatever it holds is parsed or refused, never a
// crash, and a request that passes carries a P-256 key it proved it holds.
func FuzzParseCSR(f *testing.F) {
	key, err := NewKey()
	if err != nil {
		f.Fatal(err)
	}
	csr, err := NewCSR(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(csr)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseCSR(b)
		if err != nil {
			return
		}
		pub, ok := got.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || got.CheckSignature() != nil {
			t.Fatal("accepted a request without a proven P-256 key")
		}
	})
}
