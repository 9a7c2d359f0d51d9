package certs

import (
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestScopePermits: the home scope covers the hub's names, mDNS names,
// loopback and the private ranges, and nothing else.
func TestScopePermits(t *testing.T) {
	s := HomeScope("raspberrypi", "toyhub.example.org", "203.0.113.7")
	tests := []struct {
		name string
		ok   bool
	}{
		{"raspberrypi", true},
		{"raspberrypi.local", true},
		{"kitchen-pi.local", true},
		{"localhost", true},
		{"toyhub.example.org", true},
		{"grandma.toyhub.example.org", true},
		{"192.168.1.20", true},
		{"10.1.2.3", true},
		{"172.20.0.1", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"fd12:3456::1", true},
		{"fe80::1", true},
		{"203.0.113.7", true},
		{"203.0.113.8", false},
		{"8.8.8.8", false},
		{"2001:db8::1", false},
		{"example.org", false},
		{"bank.example", false},
		{"notraspberrypi", false},
		{"google.com", false},
	}
	for _, tt := range tests {
		if got := s.Permits(tt.name); got != tt.ok {
			t.Errorf("Permits(%s) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

// TestRescope: a CA made before name constraints is re-issued with them
// and the same key: its pin and code stay, what it signed before still
// verifies, a certificate it signs for a name outside the scope does not,
// and re-issuing for the same scope changes nothing.
func TestRescope(t *testing.T) {
	ca, keyPEM, err := NewScopedCA(now, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ca.Cert.PermittedDNSDomains) != 0 {
		t.Fatal("a CA without a scope has constraints")
	}
	pin, code := Pin(ca.Cert), ca.Code()
	_, before, _, err := ca.IssueServer([]string{"pi.local"}, []net.IP{net.ParseIP("192.168.1.20")}, 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	WriteFileAtomic(certPath, ca.PEM, 0o644)
	WriteFileAtomic(keyPath, keyPEM, 0o600)
	scoped, created, err := LoadOrCreateCA(certPath, keyPath, HomeScope("pi"), now.Add(time.Hour))
	if err != nil || created {
		t.Fatalf("load: %v, created %v", err, created)
	}
	if Pin(scoped.Cert) != pin || scoped.Code() != code || scoped.Cert.Subject.String() != ca.Cert.Subject.String() {
		t.Fatal("the re-issued CA has another key, code or name")
	}
	if !scoped.Cert.PermittedDNSDomainsCritical || !scoped.Scope().equal(HomeScope("pi")) {
		t.Fatalf("the re-issued CA's scope: %+v", scoped.Scope())
	}
	onDisk, err := LoadCA(certPath, keyPath)
	if err != nil || !onDisk.Scope().equal(HomeScope("pi")) {
		t.Fatalf("the re-issued certificate was not written: %v", err)
	}
	verify := func(c *x509.Certificate, host string) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: scoped.Pool(), DNSName: host, CurrentTime: now.Add(2 * time.Hour)})
		return err
	}
	if err := verify(before.Cert, "pi.local"); err != nil {
		t.Fatalf("a certificate signed before the re-issue: %v", err)
	}
	tests := []struct {
		dns  string
		ip   string
		want bool
	}{
		{"pi", "192.168.1.20", true},
		{"toyhub.local", "fd00::5", true},
		{"bank.example", "192.168.1.20", false},
		{"pi.local", "8.8.8.8", false},
	}
	for _, tt := range tests {
		_, iss, _, err := scoped.IssueServer([]string{tt.dns}, []net.IP{net.ParseIP(tt.ip)}, 24*time.Hour, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(iss.Cert, tt.dns); (err == nil) != tt.want {
			t.Errorf("a certificate for %s, %s: %v, want valid %v", tt.dns, tt.ip, err, tt.want)
		}
	}
	if changed, err := scoped.Rescope(HomeScope("pi"), now); err != nil || changed {
		t.Fatalf("re-issuing for the same scope: %v, %v", changed, err)
	}
	if len(Code(scoped.Cert)) != 19 {
		t.Fatalf("code %q", scoped.Code())
	}
}
