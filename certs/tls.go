package certs

import (
	"crypto/tls"
	"crypto/x509"
)

// cipherSuites are the TLS 1.2 suites both ends accept: ECDHE key exchange
// (forward secrecy) with AEAD encryption only. TLS 1.3 suites are always
// AEAD and are not configurable in Go.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 suites of the policy.
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }

// ServerTLS is the hub's mutual-TLS policy: TLS 1.2 at least (1.3 is
// negotiated whenever the client offers it), ECDHE AEAD suites only, and a
// client certificate from clientCAs required and verified. verify runs after
// chain verification, at every handshake, and decides whether the verified
// certificate is still allowed.
func ServerTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), clientCAs *x509.CertPool, verify func(tls.ConnectionState) error) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   CipherSuites(),
		GetCertificate: getCert,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      clientCAs,
		// VerifyConnection also runs on resumed sessions, with the
		// certificate from the original handshake, so session tickets
		// (which make a reconnect storm cheaper) do not bypass it.
		VerifyConnection: verify,
	}
}

// ClientTLS is a device's policy: the hub must present a certificate from
// the pinned household CA (the system roots are never consulted), and the
// device presents its own certificate.
func ClientTLS(ca *x509.CertPool, cert tls.Certificate, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
		RootCAs:      ca,
		Certificates: []tls.Certificate{cert},
		ServerName:   serverName,
	}
}

// WebTLS is the web app's policy: TLS 1.2 at least with the same AEAD
// suites, the hub's server certificate, and no client certificates
// (people log in with passwords).
func WebTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   CipherSuites(),
		GetCertificate: getCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
