package servercert

import (
	"crypto/x509"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
)

func TestServerCertRenewal(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	clock := func() time.Time { return now }
	ca, _, err := certs.NewScopedCA(now, certs.HomeScope("pi", "toyhub"))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"pi", "pi.local", "localhost"}
	ips := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("127.0.0.1")}
	opt := Options{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key"), Validity: 90 * 24 * time.Hour,
		CA: ca, Log: slog.New(slog.DiscardHandler), Now: clock, Names: func() ([]string, []netip.Addr) { return names, ips }}
	sc := &Cert{o: opt}
	serial := func() string { return sc.cur.Load().Leaf.SerialNumber.String() }

	tests := []struct {
		name   string
		change func()
		renew  bool
	}{
		{"first start", func() {}, true},
		{"nothing changed", func() {}, false},
		{"two thirds of its life left", func() { now = now.Add(59 * 24 * time.Hour) }, false},
		{"less than a third left", func() { now = now.Add(2 * 24 * time.Hour) }, true},
		{"new LAN address", func() { ips = []netip.Addr{netip.MustParseAddr("192.168.1.99"), netip.MustParseAddr("127.0.0.1")} }, true},
		{"new host name", func() { names = []string{"toyhub", "toyhub.local", "localhost"} }, true},
		{"a global address and a name outside the CA's scope", func() {
			ips = append(ips, netip.MustParseAddr("2001:db8::5"))
			names = append(names, "kitchen")
		}, false},
		{"steady again", func() {}, false},
	}
	last := ""
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			if err := sc.Renew(); err != nil {
				t.Fatal(err)
			}
			if renewed := serial() != last; renewed != tt.renew {
				t.Fatalf("renewed = %v, want %v", renewed, tt.renew)
			}
			last = serial()
			leaf := sc.cur.Load().Leaf
			for _, bad := range []string{"kitchen", "2001:db8::5"} {
				if leaf.VerifyHostname(bad) == nil {
					t.Errorf("the certificate covers %s, outside the CA's scope", bad)
				}
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now}); err != nil {
				t.Errorf("the certificate does not verify: %v", err)
			}
			for _, n := range names {
				if !ca.Scope().Permits(n) {
					continue
				}
				if leaf.VerifyHostname(n) != nil {
					t.Errorf("certificate does not cover %s", n)
				}
			}
			for _, ip := range ips {
				if !ca.Scope().Permits(ip.String()) {
					continue
				}
				if leaf.VerifyHostname(ip.String()) != nil {
					t.Errorf("certificate does not cover %s", ip)
				}
			}
		})
	}
	// The renewed certificate is on disk, so a restart keeps it.
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.cur.Load().Leaf.SerialNumber.String(); got != last {
		t.Fatalf("after a restart the hub issued %s instead of keeping %s", got, last)
	}
}
