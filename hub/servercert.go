package hub

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

// serverCert keeps the hub's TLS server certificate current: issued by the
// household CA for the hub's names and addresses, and reissued when a third
// of its life remains or when the names or addresses change. Handshakes
// read it through an atomic pointer, so renewal needs no restart.
type serverCert struct {
	cfg  Config
	ca   *certs.CA
	log  *slog.Logger
	cur  atomic.Pointer[tls.Certificate]
	now  func() time.Time
	want func() ([]string, []netip.Addr)
}

// newServerCert loads the certificate on disk and renews it if needed;
// want says which names and addresses it must cover (serverNames).
func newServerCert(cfg Config, ca *certs.CA, log *slog.Logger, want func() ([]string, []netip.Addr)) (*serverCert, error) {
	sc := &serverCert{cfg: cfg, ca: ca, log: log, now: cfg.Now, want: want}
	if c, err := tls.LoadX509KeyPair(cfg.serverCert(), cfg.serverKey()); err == nil {
		sc.cur.Store(&c)
	}
	if err := sc.renewIfNeeded(); err != nil {
		return nil, err
	}
	return sc, nil
}

func (sc *serverCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return sc.cur.Load(), nil
}

// reason says why the current certificate must be replaced, or "".
func (sc *serverCert) reason() string {
	c := sc.cur.Load()
	if c == nil || c.Leaf == nil {
		return "no certificate yet"
	}
	leaf, now := c.Leaf, sc.now()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: sc.ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return "not valid for this CA now"
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if leaf.NotAfter.Sub(now) < life/3 {
		return "expiring"
	}
	dns, ips := sc.want()
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

func (sc *serverCert) renewIfNeeded() error {
	why := sc.reason()
	if why == "" {
		return nil
	}
	dns, addrs := sc.want()
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = net.IP(a.AsSlice())
	}
	c, iss, keyPEM, err := sc.ca.IssueServer(dns, ips, sc.cfg.ServerCertValidity, sc.now())
	if err != nil {
		return fmt.Errorf("hub: server certificate: %w", err)
	}
	if err := certs.WriteFileAtomic(sc.cfg.serverKey(), keyPEM, 0o600); err != nil {
		return err
	}
	if err := certs.WriteFileAtomic(sc.cfg.serverCert(), iss.PEM, 0o644); err != nil {
		return err
	}
	sc.cur.Store(&c)
	sc.log.Info("Server certificate issued", "reason", why, "serial", iss.Serial, "not_after", iss.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}
