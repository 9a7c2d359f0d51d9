package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
)

// Pin is the hex SHA-256 of a certificate's public key (SPKI). Invites
// carry the CA's pin; mDNS advertises its first 16 digits.
func Pin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// EnrollServerTLS is the enrollment endpoint's policy: TLS 1.3 only, no
// client certificate (the device has none yet), and the CA sent with the
// server certificate so that a device holding only the CA's pin can check
// the chain.
func EnrollServerTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), ca *x509.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := getCert(hello)
			if err != nil || c == nil {
				return c, err
			}
			chain := *c
			chain.Certificate = append(append([][]byte(nil), c.Certificate...), ca.Raw)
			return &chain, nil
		},
		ClientAuth: tls.NoClientCert,
		// Each device enrolls once: nothing to resume.
		SessionTicketsDisabled: true,
	}
}

// EnrollProto is the ALPN name of enrollment, by which the remote port
// tells an invited device from a browser; on the LAN it is ignored.
const EnrollProto = "toyhub-enroll"

// PairingTLS is a toy's policy while pairing: TLS 1.3, and no verification
// of the server during the handshake, because the toy does not know the
// CA yet. The hub's proof over the channel authenticates the CA afterwards
// (VerifyServerChain), so nothing is trusted before that.
func PairingTLS() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified after the handshake; see above
		NextProtos:         []string{EnrollProto},
	}
}

// VerifyServerChain checks that the server's leaf certificate was issued by
// ca for server authentication.
func VerifyServerChain(peer []*x509.Certificate, ca *x509.Certificate) error {
	if len(peer) == 0 {
		return errors.New("certs: the server sent no certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := peer[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("certs: the server certificate is not from the hub's CA: %w", err)
	}
	return nil
}

// PinnedTLS accepts only a server whose certificate chains to a CA with
// the given public-key pin; the CA certificate comes with the chain.
func PinnedTLS(pin string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the pin check below
		NextProtos:         []string{EnrollProto},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) < 2 {
				return errors.New("certs: the server did not send its CA")
			}
			for _, c := range cs.PeerCertificates[1:] {
				if c.IsCA && Pin(c) == pin {
					return VerifyServerChain(cs.PeerCertificates, c)
				}
			}
			return errors.New("certs: the server does not present the pinned household CA")
		},
	}
}
