package hub_test

import (
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/datadir"
)

// TestStartGuards: the hub refuses to start rather than damage or lock
// out a household.
func TestStartGuards(t *testing.T) {
	th := startHub(t)
	th.device("Bunny", "toy")
	if _, err := hub.New(th.cfg); err == nil || !strings.Contains(err.Error(), "another toyhub") {
		t.Fatalf("second hub on the same data: %v", err)
	}
	th.stop()

	caPath, caKey := filepath.Join(th.cfg.DataDir, "ca.pem"), filepath.Join(th.cfg.DataDir, "keys", "ca.key")
	master := filepath.Join(th.cfg.DataDir, "keys", "master.key")
	move := func(path string) func() {
		if err := os.Rename(path, path+".away"); err != nil {
			t.Fatal(err)
		}
		return func() { os.Rename(path+".away", path) }
	}
	tests := []struct {
		name  string
		setup func() (undo func())
		want  string
	}{
		{"CA missing", func() func() {
			u1, u2 := move(caPath), move(caKey)
			return func() { u1(); u2() }
		}, "household CA is missing"},
		{"CA replaced", func() func() {
			u1, u2 := move(caPath), move(caKey)
			if _, _, err := certs.LoadOrCreateCA(caPath, caKey, certs.HomeScope(), time.Now()); err != nil {
				t.Fatal(err)
			}
			return func() { os.Remove(caPath); os.Remove(caKey); u1(); u2() }
		}, "not the CA this hub's devices trust"},
		{"master key missing", func() func() { return move(master) }, "master key missing"},
		{"master key wrong", func() func() {
			undo := move(master)
			other := t.TempDir()
			if _, err := hub.New(hub.Config{}); err == nil {
				t.Fatal("empty config accepted")
			}
			cfg := th.cfg
			cfg.DataDir = other
			h, err := hub.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			h.Close()
			b, _ := os.ReadFile(filepath.Join(other, "keys", "master.key"))
			os.WriteFile(master, b, 0o600)
			return func() { os.Remove(master); undo() }
		}, "does not open this database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			undo := tt.setup()
			defer undo()
			before, _ := os.ReadFile(master)
			_, err := hub.New(th.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want %q", err, tt.want)
			}
			after, _ := os.ReadFile(master)
			if string(before) != string(after) {
				t.Fatal("the master key file changed")
			}
		})
	}
	// Everything restored: the hub starts again with its devices.
	th.start()
	var ds []control.DeviceView
	if err := call(th.cfg.DataDir, control.DeviceList, control.None{}, &ds); err != nil || len(ds) != 1 || ds[0].Name != "Bunny" {
		t.Fatalf("after restore: %v %v", ds, err)
	}
}

// TestHandshakeDeadline: a client that connects and says nothing, or
// completes TLS but never sends CONNECT, is dropped after the deadline.
func TestHandshakeDeadline(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	bunny := th.device("Bunny", "toy")
	tests := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"silent TCP", func() (net.Conn, error) { return net.Dial("tcp", th.cfg.MQTTAddr) }},
		{"TLS without CONNECT", func() (net.Conn, error) {
			c, err := tls.Dial("tcp", th.cfg.MQTTAddr, th.rawTLS(bunny))
			if err == nil {
				err = c.Handshake()
			}
			return c, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1))
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the hub kept a silent connection open")
			}
			if err == nil {
				t.Fatal("the hub sent data to a client that said nothing")
			}
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "alert") {
				t.Logf("closed with %v", err)
			}
		})
	}
}

// TestCAUpgrade: a hub from before name constraints (its database
// recorded the CA certificate's fingerprint, and the certificate has no
// constraints) starts, re-issues the certificate with them and the same
// key, records the key, and its devices keep working, those that hold the
// old certificate included; a second start changes nothing.
func TestCAUpgrade(t *testing.T) {
	th := startHub(t)
	teddy := th.device("Teddy", "toy")
	d := datadir.Dir{Path: th.cfg.DataDir}
	th.stop()
	ca, err := certs.LoadCA(d.CACert(), d.CAKey())
	if err != nil {
		t.Fatal(err)
	}
	pin := certs.Pin(ca.Cert)
	if _, err := ca.Rescope(certs.Scope{}, time.Now()); err != nil { // as it was made before
		t.Fatal(err)
	}
	old := ca.Cert
	if err := certs.WriteFileAtomic(d.CACert(), ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(th.cfg.DataDir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("DELETE FROM meta WHERE key = 'ca_pin'; INSERT OR REPLACE INTO meta (key, value) VALUES ('ca_fingerprint', ?)", []byte(certs.Fingerprint(old)))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	th.start()
	now, err := certs.LoadCA(d.CACert(), d.CAKey())
	if err != nil {
		t.Fatal(err)
	}
	if certs.Pin(now.Cert) != pin || !now.Cert.PermittedDNSDomainsCritical || !now.Scope().Permits("localhost") || now.Scope().Permits("bank.example") {
		t.Fatalf("after the upgrade: pin kept %v, scope %+v", certs.Pin(now.Cert) == pin, now.Scope())
	}
	th.dial(teddy).Close()
	server, err := os.ReadFile(d.ServerCert())
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := certs.ParseCert(server)
	pool := x509.NewCertPool()
	pool.AddCert(old)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Fatalf("a device holding the old certificate cannot verify the hub: %v", err)
	}
	before, _ := os.ReadFile(d.CACert())
	th.restart()
	if after, _ := os.ReadFile(d.CACert()); string(after) != string(before) {
		t.Fatal("a second start re-issued the CA again")
	}
}
