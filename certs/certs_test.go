package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "keys", "ca.key")
	if err := os.Mkdir(filepath.Dir(keyPath), 0o700); err != nil {
		t.Fatal(err)
	}
	ca, created, err := LoadOrCreateCA(certPath, keyPath, HomeScope(), now)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateCA = %v, %v", created, err)
	}
	if pub, ok := ca.Cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("CA key is %T, want ECDSA P-256", ca.Cert.PublicKey)
	}
	if !ca.Cert.IsCA || ca.Cert.NotAfter.Sub(now) < 19*365*24*time.Hour {
		t.Fatalf("CA: IsCA=%v NotAfter=%v", ca.Cert.IsCA, ca.Cert.NotAfter)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode = %v, %v; want 0600", st.Mode(), err)
	}
	again, created, err := LoadOrCreateCA(certPath, keyPath, HomeScope(), now)
	if err != nil || created || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("reload: created=%v err=%v same=%v", created, err, again.Fingerprint() == ca.Fingerprint())
	}

	// Only the certificate left: refuse rather than mint a new CA.
	if err := os.Rename(keyPath, keyPath+".bak"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCA(certPath, keyPath, HomeScope(), now); err == nil || !strings.Contains(err.Error(), "only one") {
		t.Fatalf("half a CA: err = %v", err)
	}
	// A key from another CA beside the certificate.
	_, otherKey, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(keyPath, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCA(certPath, keyPath, HomeScope(), now); err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Fatalf("mismatched key: err = %v", err)
	}
}

func TestIssue(t *testing.T) {
	ca, _, err := NewScopedCA(now, HomeScope("pi"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := NewKey()
	tests := []struct {
		name     string
		validity time.Duration
		id       string
		ok       bool
	}{
		{"90 days", MaxClientValidity, "abcdefghijklmnopqrstuvwxyz", true},
		{"one hour", time.Hour, "abcdefghijklmnopqrstuvwxyz", true},
		{"too long", MaxClientValidity + time.Second, "abcdefghijklmnopqrstuvwxyz", false},
		{"zero", 0, "abcdefghijklmnopqrstuvwxyz", false},
		{"no id", time.Hour, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := ca.IssueClient(&key.PublicKey, tt.id, tt.validity, now)
			if !tt.ok {
				if err == nil {
					t.Fatal("issued")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if iss.Cert.Subject.CommonName != tt.id {
				t.Errorf("CN = %q", iss.Cert.Subject.CommonName)
			}
			if got := iss.Cert.NotAfter.Sub(now); got != tt.validity {
				t.Errorf("validity = %v", got)
			}
			_, err = iss.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Errorf("verify as client: %v", err)
			}
			_, err = iss.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err == nil {
				t.Error("a device certificate verifies as a server certificate")
			}
		})
	}

	tc, iss, _, err := ca.IssueServer([]string{"pi", "pi.local", "localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, 90*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"pi.local", "localhost", "127.0.0.1"} {
		if _, err := iss.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host, CurrentTime: now}); err != nil {
			t.Errorf("server cert for %s: %v", host, err)
		}
	}
	if tc.Leaf == nil || tc.PrivateKey == nil {
		t.Error("tls.Certificate incomplete")
	}
}

func TestCSR(t *testing.T) {
	key, _ := NewKey()
	good, err := NewCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, rsaKey)
	rsaCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: rsaDER})
	blk, _ := pem.Decode(good)
	tampered := append([]byte(nil), blk.Bytes...)
	tampered[len(tampered)-3] ^= 0xff
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"good", good, true},
		{"rsa", rsaCSR, false},
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), false},
		{"not pem", []byte("hello"), false},
		{"wrong block", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseCSR(tt.in); (err == nil) != tt.ok {
				t.Fatalf("ParseCSR err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestBundle(t *testing.T) {
	ca, _, _ := NewCA(now)
	other, _, _ := NewCA(now)
	key, _ := NewKey()
	keyPEM, _ := EncodeKey(key)
	id := "abcdefghijklmnopqrstuvwxyz"
	iss, err := ca.IssueClient(&key.PublicKey, id, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.IssueClient(&key.PublicKey, id, time.Hour, now)
	info := DeviceInfo{DeviceID: id, Kind: "toy", Hub: []string{"127.0.0.1:8883"}, CAFingerprint: ca.Fingerprint(), Protocol: 1}

	tests := []struct {
		name    string
		info    DeviceInfo
		caPEM   []byte
		certPEM []byte
		wantErr string
	}{
		{"good", info, ca.PEM, iss.PEM, ""},
		{"ca swapped", info, other.PEM, iss.PEM, "fingerprint"},
		{"cert from other CA", info, ca.PEM, foreign.PEM, "not issued by the pinned CA"},
		{"wrong id", DeviceInfo{DeviceID: "zzzzzzzzzzzzzzzzzzzzzzzzzz", CAFingerprint: ca.Fingerprint()}, ca.PEM, iss.PEM, "device.json says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "bundle")
			if err := WriteBundle(dir, tt.info, tt.caPEM, tt.certPEM, keyPEM); err != nil {
				t.Fatal(err)
			}
			b, err := LoadBundle(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadBundle err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Info.DeviceID != id || b.Cert.Leaf.SerialNumber.Cmp(iss.Cert.SerialNumber) != 0 {
				t.Fatalf("bundle = %+v", b.Info)
			}
			for name, want := range map[string]os.FileMode{"": 0o700, BundleKey: 0o600, BundleCert: 0o644} {
				st, err := os.Stat(filepath.Join(dir, name))
				if err != nil || st.Mode().Perm() != want {
					t.Errorf("%q mode %v, want %v (%v)", name, st.Mode().Perm(), want, err)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 4 {
				t.Errorf("bundle holds %d files, want 4 (leftover temporaries?)", len(entries))
			}
		})
	}
}

// TestIssueBrowser: a browser's certificate names its account, is marked
// as a browser's, verifies as a client and never as a server, and its
// PKCS#12 file opens with the passphrase and with nothing else.
func TestIssueBrowser(t *testing.T) {
	ca, _, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := ca.IssueBrowser("account-1", 30*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if acct, ok := IsBrowser(bc.Cert); !ok || acct != "account-1" {
		t.Fatalf("IsBrowser = %q, %v", acct, ok)
	}
	if _, err := bc.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now}); err == nil {
		t.Fatal("a browser certificate verifies as a server's")
	}
	if !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){4}$`).MatchString(bc.Passphrase) {
		t.Fatalf("passphrase %q", bc.Passphrase)
	}
	key, cert, chain, err := pkcs12.DecodeChain(bc.P12, bc.Passphrase)
	if err != nil || cert.SerialNumber.Cmp(bc.Cert.SerialNumber) != 0 || len(chain) != 1 || !chain[0].Equal(ca.Cert) || key == nil {
		t.Fatalf("the PKCS#12 file: %v", err)
	}
	if _, _, err := pkcs12.Decode(bc.P12, "not the passphrase"); err == nil {
		t.Fatal("the PKCS#12 file opened with a wrong passphrase")
	}
	if _, err := ca.IssueBrowser("", time.Hour, now); err == nil {
		t.Fatal("a certificate for no account")
	}
	if _, err := ca.IssueBrowser("a", MaxClientValidity+time.Hour, now); err == nil {
		t.Fatal("a certificate for longer than a device's")
	}
}
