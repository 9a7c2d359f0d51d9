package certs

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"
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
		// The remote port tells devices from browsers by ALPN; on the
		// LAN, the broker ignores it.
		NextProtos: []string{"mqtt"},
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

// LimitTickets makes cfg's TLS session tickets last at most life (Go's
// own keys live 7 days, whatever the application's sessions): the keys
// that seal tickets are made anew every life/2 and forgotten once life
// old, so a ticket is resumed for life at most, and a copy of the hub's
// memory opens no ticket older than that. Keys change at the next
// handshake after they are due, without a goroutine of their own.
func LimitTickets(cfg *tls.Config, life time.Duration, now func() time.Time) *tls.Config {
	k := &ticketKeys{cfg: cfg, life: life, now: now}
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		k.rotate()
		return cfg.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		k.rotate()
		return cfg.DecryptTicket(identity, cs)
	}
	return cfg
}

type ticketKeys struct {
	cfg  *tls.Config
	life time.Duration
	now  func() time.Time

	mu   sync.Mutex
	keys []ticketKey // newest first
}

type ticketKey struct {
	key  [32]byte
	made time.Time
}

// rotate makes a new key when the newest is life/2 old, and forgets keys
// life old.
func (k *ticketKeys) rotate() {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if len(k.keys) > 0 && now.Sub(k.keys[0].made) < k.life/2 {
		return
	}
	fresh := ticketKey{made: now}
	rand.Read(fresh.key[:])
	keys := []ticketKey{fresh}
	for _, old := range k.keys {
		if now.Sub(old.made) < k.life {
			keys = append(keys, old)
		}
	}
	k.keys = keys
	raw := make([][32]byte, len(keys))
	for i, key := range keys {
		raw[i] = key.key
	}
	k.cfg.SetSessionTicketKeys(raw)
}
