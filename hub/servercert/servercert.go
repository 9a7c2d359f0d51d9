// Package servercert keeps the hub's TLS server certificate current:
// issued by the household CA for the hub's names and addresses, and
// reissued when a third of its life remains or when the names or
// addresses change (a new DHCP lease, a renamed Pi). Handshakes read it
// through an atomic pointer, so renewal needs no restart. Every TLS
// listener of the hub serves it.
package servercert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/toyhub/toyhub/certs"
)

// Options say where the certificate lives and what it must cover.
type Options struct {
	CertFile, KeyFile string
	Validity          time.Duration
	CA                *certs.CA
	// Names says which DNS names and addresses the certificate must
	// cover now (lan.ServerNames).
	Names func() ([]string, []netip.Addr)
	Log   *slog.Logger
	Now   func() time.Time
}

// Cert is the hub's current server certificate.
type Cert struct {
	o   Options
	cur atomic.Pointer[tls.Certificate]
}

// New loads the certificate on disk and renews it if needed.
func New(o Options) (*Cert, error) {
	sc := &Cert{o: o}
	if c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile); err == nil {
		sc.cur.Store(&c)
	}
	if err := sc.Renew(); err != nil {
		return nil, err
	}
	return sc, nil
}

// Get serves the certificate in a handshake (tls.Config.GetCertificate).
func (sc *Cert) Get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return sc.cur.Load(), nil
}

// names are the names and addresses to cover, those the CA may vouch for:
// a name outside its scope (a global IPv6 address, a host name given
// since the hub started) would make every client refuse the whole
// certificate.
func (sc *Cert) names() (dns []string, ips []netip.Addr) {
	all, addrs := sc.o.Names()
	scope := sc.o.CA.Scope()
	permits := func(n string) bool { return len(scope.DNS) == 0 && len(scope.IPs) == 0 || scope.Permits(n) }
	for _, n := range all {
		if permits(n) {
			dns = append(dns, n)
		}
	}
	for _, a := range addrs {
		if permits(a.String()) {
			ips = append(ips, a)
		}
	}
	return dns, ips
}

// reason says why the current certificate must be replaced, or "".
func (sc *Cert) reason() string {
	c := sc.cur.Load()
	if c == nil || c.Leaf == nil {
		return "no certificate yet"
	}
	leaf, now := c.Leaf, sc.o.Now()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: sc.o.CA.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return "not valid for this CA now"
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if leaf.NotAfter.Sub(now) < life/3 {
		return "expiring"
	}
	dns, ips := sc.names()
	if !slices.Equal(sorted(leaf.DNSNames), sorted(dns)) {
		return "host names changed"
	}
	var have []string
	for _, ip := range leaf.IPAddresses {
		have = append(have, ip.String())
	}
	var need []string
	for _, ip := range ips {
		need = append(need, ip.String())
	}
	if !slices.Equal(sorted(have), sorted(need)) {
		return "addresses changed"
	}
	return ""
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Renew reissues the certificate if it must be: it is missing, not valid
// for the CA now, in the last third of its life, or does not cover the
// names and addresses wanted now.
func (sc *Cert) Renew() error {
	why := sc.reason()
	if why == "" {
		return nil
	}
	dns, addrs := sc.names()
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = net.IP(a.AsSlice())
	}
	c, iss, keyPEM, err := sc.o.CA.IssueServer(dns, ips, sc.o.Validity, sc.o.Now())
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	if err := certs.WriteFileAtomic(sc.o.KeyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(sc.o.CertFile, iss.PEM, 0o644); err != nil {
		return err
	}
	sc.cur.Store(&c)
	sc.o.Log.Info("Server certificate issued", "reason", why, "serial", iss.Serial, "not_after", iss.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}
