package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/toyhub/toyhub/certs"
)

// fakeFacts is a hub that gets everything wrong, built from real parts:
// real TLS servers with bad settings, real files with bad modes.
type fakeFacts struct {
	listeners []Listener
	ca        *certs.CA
	files     Files
	secrets   [][]byte
	names     []string
	identity  Identity
	routes    []Route
	probe     func(ctx context.Context) (Probe, error)
}

func (f *fakeFacts) Listeners() []Listener                       { return f.listeners }
func (f *fakeFacts) ServerCAs() *x509.CertPool                   { return f.ca.Pool() }
func (f *fakeFacts) NewProbe(ctx context.Context) (Probe, error) { return f.probe(ctx) }
func (f *fakeFacts) WebRoutes() []Route                          { return f.routes }
func (f *fakeFacts) Files() Files                                { return f.files }
func (f *fakeFacts) Secrets() ([][]byte, error)                  { return f.secrets, nil }
func (f *fakeFacts) Names(context.Context) ([]string, error)     { return f.names, nil }
func (f *fakeFacts) Identity(context.Context) (Identity, error)  { return f.identity, nil }

// serverCert is a server certificate for localhost from ca.
func serverCert(t *testing.T, ca *certs.CA) tls.Certificate {
	t.Helper()
	c, _, _, err := ca.IssueServer([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// weakTLS is a TLS config that accepts what the hub must not: TLS 1.0 and
// CBC suites, and any client certificate or none.
func weakTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, CipherSuites: legacy,
		ClientAuth: tls.RequestClientCert}
}

// insecureMQTT is a broker over TLS that takes anyone (a mochi allow-all).
func insecureMQTT(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	srv.AddHook(new(auth.AllowHook), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l := listeners.NewTCP(listeners.Config{ID: "bad", Address: addr, TLSConfig: cfg})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return l.Address()
}

// badWeb serves every page to anyone, pprof included, over weak TLS.
func badWeb(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>welcome, anyone</html>")
	}))
	ts.TLS = cfg
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func badFacts(t *testing.T) *fakeFacts {
	t.Helper()
	ca, _, err := certs.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert := serverCert(t, ca)
	mqttAddr := insecureMQTT(t, weakTLS(cert))
	webAddr := badWeb(t, weakTLS(cert))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<form>login</form>") }))
	t.Cleanup(plain.Close)
	metrics, err := net.Listen("tcp", "0.0.0.0:0") // metrics open to the network
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metrics.Close() })

	root := t.TempDir()
	www := filepath.Join(root, "www")
	data := filepath.Join(www, "toyhub")
	keys := filepath.Join(data, "keys")
	os.MkdirAll(keys, 0o755)
	key := []byte("0123456789abcdef0123456789abcdef")
	write := func(p string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write(filepath.Join(keys, "master.key"), key, 0o600)
	write(filepath.Join(keys, "ca.key"), []byte("ca key"), 0o644)
	db := filepath.Join(data, "hub.db")
	write(db, append([]byte("SQLite format 3\x00...RIFF\x24\x00\x00\x00WAVEfmt ...Teddy Fitzgerald..."), make([]byte, 5000)...), 0o644)
	write(filepath.Join(data, "old-backup.tar"), append([]byte("backup of "), key...), 0o600)

	now := time.Now()
	return &fakeFacts{
		listeners: []Listener{{KindMQTT, mqttAddr}, {KindWeb, webAddr}, {KindRedirect, plain.Listener.Addr().String()},
			{KindMetrics, metrics.Addr().String()}},
		ca: ca,
		files: Files{DataDir: data, KeysDir: keys, Database: []string{db}, Keys: []string{filepath.Join(keys, "master.key"), filepath.Join(keys, "ca.key")},
			CAKey: filepath.Join(keys, "ca.key"), MasterKey: filepath.Join(keys, "master.key")},
		secrets: [][]byte{key},
		names:   []string{"Teddy Fitzgerald", "Bo"},
		identity: Identity{
			Certificates:   []Certificate{{"dev-expiring", now.Add(3 * 24 * time.Hour)}, {"dev-expired", now.Add(-time.Hour)}},
			Devices:        []Device{{ID: "dev-stale", Created: now.Add(-90 * 24 * time.Hour), LastSeen: now.Add(-40 * 24 * time.Hour)}},
			OpenInvites:    []Invite{{ID: "inv1", Expires: now.Add(time.Hour)}},
			Accounts:       []Account{{ID: "u1", Role: "owner", HasTOTP: false, PolicyVersion: 1}},
			PasswordPolicy: 2, FailedLogins: 57, RefusedConnections: 3,
		},
		routes: []Route{{"GET", "/secret/{id}", true}, {"GET", "/login", false}},
		probe: func(context.Context) (Probe, error) {
			key, _ := certs.NewKey()
			iss, err := ca.IssueClient(key.Public(), "probeprobeprobeprobeprobep", time.Hour, time.Now())
			return Probe{Cert: tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key}, ID: "probe",
				Revoke: func(context.Context) error { return nil }, Remove: func(context.Context) error { return nil }}, err
		},
	}
}

// TestEveryCheckFails runs every check against a hub that gets each thing
// wrong, and expects each to say so.
func TestEveryCheckFails(t *testing.T) {
	f := badFacts(t)
	extra, err := net.Listen("tcp", "127.0.0.1:0") // a socket nobody declared
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	rep, err := Run(context.Background(), f, Options{WebRoots: []string{filepath.Dir(f.files.DataDir)}, Timeout: 2 * time.Second,
		PlaintextMQTT: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		check, title string
		sev          Severity
	}{
		{"exposure.listeners", "listens on a port it does not expect", High},
		{"exposure.mqtt-auth", "accepts clients without a certificate", High},
		{"exposure.plaintext", "does more than send browsers", High},
		{"exposure.plaintext", "health figures can be read from the network", High},
		{"exposure.tls", "accepts outdated encryption", High},
		{"exposure.web-routes", "answers without a login", High},
		{"exposure.debug", "debugging endpoint is reachable", High},
		{"rest.permissions", "can be read by other users", High},
		{"rest.web-roots", "inside a web server's directory", High},
		{"rest.backups", "master key lies in clear", High},
		{"rest.plaintext", "unencrypted in the database", High},
		{"identity.certificates", "expires soon", Medium},
		{"identity.certificates", "has expired", Medium},
		{"identity.devices", "has not connected for a long time", Low},
		{"identity.invites", "still open", Low},
		{"identity.accounts", "no second factor", Medium},
		{"identity.accounts", "older password policy", Medium},
		{"identity.ca-key", "CA's key can be read", High},
		{"identity.attacks", "trying to break in", Medium},
	}
	for _, w := range want {
		i := slices.IndexFunc(rep.Findings, func(f Finding) bool { return f.Check == w.check && strings.Contains(f.Title, w.title) })
		if i < 0 {
			t.Errorf("%s: no finding %q", w.check, w.title)
			continue
		}
		got := rep.Findings[i]
		if got.Severity != w.sev || got.Checked == "" || got.Seen == "" || got.Fix == "" {
			t.Errorf("%s: %+v", w.check, got)
		}
	}
	if rep.Worst() != High {
		t.Fatalf("worst %v", rep.Worst())
	}
	// A check that found a problem does not also say it passed.
	for _, f := range rep.Findings {
		if f.Severity == Info && slices.ContainsFunc(rep.Findings, func(g Finding) bool {
			return g.Check == f.Check && g.Severity > Info && !strings.HasPrefix(g.Check, "exposure.plaintext") && !strings.HasPrefix(g.Check, "exposure.tls") && !strings.HasPrefix(g.Check, "exposure.debug")
		}) {
			t.Errorf("%s both failed and passed: %q", f.Check, f.Title)
		}
	}
	// The name found in clear is not repeated in the report.
	b, _ := rep.JSON()
	if strings.Contains(string(b), "Teddy") {
		t.Error("the report repeats a name it found")
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "HIGH: ") || !strings.Contains(text.String(), "fix:") {
		t.Errorf("text report:\n%s", text.String())
	}
}

func TestSearchFileAcrossBlocks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	b := make([]byte, 3<<20)
	copy(b[1<<20-3:], "NEEDLE") // straddles the first block's end
	os.WriteFile(p, b, 0o600)
	found, err := searchFile(p, [][]byte{[]byte("absent"), []byte("NEEDLE")})
	if err != nil || found[0] || !found[1] {
		t.Fatalf("found %v, %v", found, err)
	}
}

func TestFillPath(t *testing.T) {
	for in, want := range map[string]string{"/{$}": "/", "/toys/{toy}/messages/{msg}/audio": "/toys/aaaaaaaaaaaaaaaaaaaaaaaaaa/messages/aaaaaaaaaaaaaaaaaaaaaaaaaa/audio", "/login": "/login"} {
		if got := fillPath(in); got != want {
			t.Errorf("fillPath(%q) = %q", in, got)
		}
	}
	_ = fmt.Sprint()
}
