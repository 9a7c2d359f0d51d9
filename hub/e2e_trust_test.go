package hub_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/datadir"
)

// trustingBrowser is Chromium with a home of its own whose certificate
// store (NSS, as on a Linux desktop) trusts caPEM, or nothing when it is
// nil; no certificate error is ignored.
func trustingBrowser(t *testing.T, caPEM []byte) context.Context {
	t.Helper()
	certutil := needTool(t, "certutil")
	home := t.TempDir()
	db := "sql:" + filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700)
	if out, err := exec.Command(certutil, "-d", db, "-N", "--empty-password").CombinedOutput(); err != nil {
		t.Fatalf("certutil -N: %v\n%s", err, out)
	}
	if caPEM != nil {
		path := filepath.Join(home, "ca.pem")
		os.WriteFile(path, caPEM, 0o644)
		if out, err := exec.Command(certutil, "-d", db, "-A", "-t", "C,,", "-n", "toyhub household CA", "-i", path).CombinedOutput(); err != nil {
			t.Fatalf("certutil -A: %v\n%s", err, out)
		}
	}
	return chromium(t, chromedp.Env("HOME="+home),
		chromedp.Flag("host-resolver-rules", "MAP bank.example 127.0.0.1"))
}

// navigateErr opens url and returns the browser's error, if the page did
// not load (a certificate it refuses is an error).
func navigateErr(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// TestBrowserTrustWithoutWall: once the household CA is installed, the hub's
// pages load with no warning at all; without it, the browser refuses the
// hub; and a certificate the CA signs for any other name (a bank) is
// refused even where the CA is trusted, because its certificate limits it
// to the hub's names and home addresses. A CA without those limits, the
// way it was before, would let the bank's through: the test would see it.
func TestBrowserTrustWithoutWall(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	d := datadir.Dir{Path: th.cfg.DataDir}
	ca, err := certs.LoadCA(d.CACert(), d.CAKey())
	if err != nil {
		t.Fatal(err)
	}
	hubURL := th.webURL("/trust")
	unconstrained, _, err := certs.NewScopedCA(time.Now(), certs.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		trust     []byte
		signer    *certs.CA
		hubLoads  bool
		bankLoads bool
	}{
		{"nothing installed", nil, ca, false, false},
		{"the household CA installed", ca.PEM, ca, true, false},
		{"a CA without name constraints installed", unconstrained.PEM, unconstrained, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := trustingBrowser(t, tt.trust)
			err := navigateErr(ctx, hubURL)
			if (err == nil) != tt.hubLoads {
				t.Fatalf("the hub's page: %v, want loaded %v", err, tt.hubLoads)
			}
			if tt.name == "the household CA installed" {
				screenshot(t, ctx, "trust") // with no warning on the way
			}
			if err == nil {
				if code := read(t, ctx, chromedp.Text(chromedp.CSS(`#ca-code`))); code != ca.Code() {
					t.Fatalf("the page shows code %q, the hub %q", code, ca.Code())
				}
			}
			bank := serveAs(t, tt.signer, "bank.example")
			err = navigateErr(ctx, "https://bank.example:"+portOnly(bank)+"/")
			if (err == nil) != tt.bankLoads {
				t.Fatalf("a bank's certificate signed by the CA: %v, want loaded %v", err, tt.bankLoads)
			}
			if err != nil && !strings.Contains(err.Error(), "ERR_CERT") {
				t.Fatalf("the bank's page failed otherwise than on its certificate: %v", err)
			}
		})
	}
}

// serveAs serves HTTPS on loopback with a certificate for name, signed by
// ca, and returns its address.
func serveAs(t *testing.T, ca *certs.CA, name string) string {
	t.Helper()
	cert, _, _, err := ca.IssueServer([]string{name}, nil, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("your bank")) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return net.JoinHostPort("127.0.0.1", port)
}
