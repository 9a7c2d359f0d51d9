package hub_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// clock is a hub clock a test can move forward.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time            { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration)   { c.off.Add(int64(d)) }
func withClock(c *clock) func(*hub.Config) { return func(cfg *hub.Config) { cfg.Now = c.now } }

func (th *testHub) openPairing(t *testing.T, code wire.PairingCode, name string) error {
	t.Helper()
	return call(th.cfg.DataDir, control.PairOpen, control.PairArgs{Code: code.String(), Name: name}, nil)
}

func (th *testHub) audit(t *testing.T) string {
	t.Helper()
	var events []control.Event
	if err := call(th.cfg.DataDir, control.AuditList, control.CountArgs{Count: 100}, &events); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Kind + " " + e.Device + " " + e.Remote + " " + e.Detail + " " + e.User + "\n")
	}
	return b.String()
}

func (th *testHub) waitAudit(t *testing.T, substr string) {
	t.Helper()
	for range 200 {
		if strings.Contains(th.audit(t), substr) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("audit log lacks %q:\n%s", substr, th.audit(t))
}

func code(t *testing.T, err error) string {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v is not from the hub", err)
	}
	return we.Code
}

func TestPairing(t *testing.T) {
	t.Run("right code", func(t *testing.T) {
		th := startHub(t)
		c := wire.NewPairingCode()
		if err := th.openPairing(t, c, "Bunny"); err != nil {
			t.Fatal(err)
		}
		key, _ := certs.NewKey()
		e, err := devices.Pair(context.Background(), th.h.EnrollAddr(), c, key)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "bunny")
		if err := e.Save(dir, key); err != nil {
			t.Fatal(err)
		}
		b, err := certs.LoadBundle(dir)
		if err != nil {
			t.Fatal(err)
		}
		if certs.Pin(b.CA) != certs.Pin(mustCA(t, th)) {
			t.Fatal("the toy pinned another CA")
		}
		th.device("Grandma", "family")
		th.link("bunny", "grandma")
		if err := th.dial(b).Send(context.Background(), wire.NewMessageID(), recording(1, 1), []string{"Grandma"}); err != nil {
			t.Fatalf("the paired toy cannot send: %v", err)
		}
		th.waitAudit(t, "pair.ok "+b.Info.DeviceID)
		// The code is spent.
		if err := th.openPairing(t, c, "Bunny Again"); err == nil || !strings.Contains(err.Error(), "already paired") {
			t.Fatalf("reopening a used code: %v", err)
		}
	})

	refusals := []struct {
		name  string
		setup func(t *testing.T, th *testHub, clk *clock) wire.PairingCode // returns the code the toy uses
		code  string
		audit string
	}{
		{"wrong code", func(t *testing.T, th *testHub, _ *clock) wire.PairingCode {
			th.openPairing(t, wire.NewPairingCode(), "Bunny")
			return wire.NewPairingCode()
		}, wire.CodeBadProof, "wrong code"},
		{"no pairing started", func(t *testing.T, th *testHub, _ *clock) wire.PairingCode {
			return wire.NewPairingCode()
		}, wire.CodeBadProof, "wrong code"},
		{"window expired", func(t *testing.T, th *testHub, clk *clock) wire.PairingCode {
			c := wire.NewPairingCode()
			th.openPairing(t, c, "Bunny")
			clk.advance(11 * time.Minute)
			return c
		}, wire.CodeBadProof, "pairing window expired"},
		{"code reused", func(t *testing.T, th *testHub, _ *clock) wire.PairingCode {
			c := wire.NewPairingCode()
			th.openPairing(t, c, "Bunny")
			key, _ := certs.NewKey()
			if _, err := devices.Pair(context.Background(), th.h.EnrollAddr(), c, key); err != nil {
				t.Fatal(err)
			}
			return c
		}, wire.CodeBadProof, "code already used"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{}
			th := startHub(t, withClock(clk))
			c := tt.setup(t, th, clk)
			key, _ := certs.NewKey()
			_, err := devices.Pair(context.Background(), th.h.EnrollAddr(), c, key)
			if got := code(t, err); got != tt.code {
				t.Fatalf("refusal code %s, want %s", got, tt.code)
			}
			th.waitAudit(t, "pair.refused  127.0.0.1")
			th.waitAudit(t, tt.audit)
			th.waitLog(t, "Enrollment refused")
		})
	}

	t.Run("rate limited", func(t *testing.T) {
		th := startHub(t, func(c *hub.Config) { c.EnrollFailuresPerSource = 3 })
		key, _ := certs.NewKey()
		for range 3 {
			devices.Pair(context.Background(), th.h.EnrollAddr(), wire.NewPairingCode(), key)
		}
		// Even the right code is refused now, from this address.
		c := wire.NewPairingCode()
		th.openPairing(t, c, "Bunny")
		_, err := devices.Pair(context.Background(), th.h.EnrollAddr(), c, key)
		if got := code(t, err); got != wire.CodeRateLimited {
			t.Fatalf("after three failures: %s", got)
		}
		th.waitAudit(t, "rate limited")
	})
}

func mustCA(t *testing.T, th *testHub) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(th.cfg.DataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := certs.ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPairingManInTheMiddle: a relay that terminates TLS on both legs can
// neither get a toy paired nor pass itself off as the hub.
func TestPairingManInTheMiddle(t *testing.T) {
	th := startHub(t)
	c := wire.NewPairingCode()
	if err := th.openPairing(t, c, "Bunny"); err != nil {
		t.Fatal(err)
	}
	// The attacker's own certificate, from its own CA.
	evilCA, _, _ := certs.NewCA(time.Now())
	evilTLS, _, _, err := evilCA.IssueServer([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mitm := func(t *testing.T, relay bool) string {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{evilTLS}, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer conn.Close()
					line, err := bufio.NewReader(conn).ReadSlice('\n')
					if err != nil {
						return
					}
					if !relay {
						// Answer as a fake hub: it has no code, so its
						// proof is made up.
						conn.Write(append(wire.Encode(wire.EnrollResponse{DeviceID: wire.NewDeviceID(), CA: string(evilCA.PEM), Proof: make([]byte, 32)}), '\n'))
						return
					}
					up, err := tls.Dial("tcp", th.h.EnrollAddr(), certs.PairingTLS())
					if err != nil {
						return
					}
					defer up.Close()
					up.Write(line)
					answer, err := bufio.NewReader(up).ReadSlice('\n')
					if err != nil {
						return
					}
					conn.Write(answer)
				}()
			}
		}()
		return ln.Addr().String()
	}
	key, _ := certs.NewKey()
	_, err = devices.Pair(context.Background(), mitm(t, true), c, key)
	if got := code(t, err); got != wire.CodeBadProof {
		t.Fatalf("through a relay: %s", got)
	}
	th.waitAudit(t, "pair.refused")
	_, err = devices.Pair(context.Background(), mitm(t, false), c, key)
	if !errors.Is(err, devices.ErrNotOurHub) {
		t.Fatalf("from a fake hub: %v", err)
	}
	// The window is still open for the real toy.
	if _, err := devices.Pair(context.Background(), th.h.EnrollAddr(), c, key); err != nil {
		t.Fatalf("the real pairing after the attacks: %v", err)
	}
}

func (th *testHub) invite(t *testing.T, name string, toys []string, expires string) control.InviteResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "invite")
	res, err := control.InviteFiles(th.cfg.DataDir, control.InviteArgs{Name: name, Toys: toys, Expires: expires}, out)
	if err != nil {
		t.Fatal(err)
	}
	// The file and its QR code hold the secret: readable by their owner only.
	for path, head := range map[string]string{out: "{", out + ".png": "\x89PNG"} {
		b, err := os.ReadFile(path)
		st, _ := os.Stat(path)
		if err != nil || !strings.HasPrefix(string(b), head) || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", path, err, st.Mode().Perm())
		}
	}
	if fromFile, err := wire.ParseInvite(res.File); err != nil || fromFile.Link() != res.Link {
		t.Fatalf("the file and the link disagree: %v", err)
	}
	return res
}

func join(t *testing.T, res control.InviteResult) (devices.Enrolled, error) {
	t.Helper()
	inv, err := wire.ParseInvite(res.Link)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := certs.NewKey()
	return devices.Join(context.Background(), inv, key)
}

func TestInvite(t *testing.T) {
	clk := &clock{}
	th := startHub(t, withClock(clk))
	th.device("Bunny", "toy")
	th.device("Bear", "toy")
	res := th.invite(t, "Grandma", []string{"bunny", "Bear"}, "")
	inv, _ := wire.ParseInvite(res.Link)
	if inv.Pin != certs.Pin(mustCA(t, th)) || len(inv.Hub) == 0 || inv.Hub[0] != th.h.EnrollAddr() {
		t.Fatalf("invite: %+v", inv)
	}
	if strings.Contains(res.Link, "Grandma") || strings.Contains(res.File, "Grandma") {
		t.Fatal("the invite carries the name")
	}

	e, err := join(t, res)
	if err != nil {
		t.Fatal(err)
	}
	if e.Info.Kind != "family" {
		t.Fatalf("joined as %q", e.Info.Kind)
	}
	th.waitAudit(t, "join.ok "+e.Info.DeviceID)
	var ds []control.DeviceView
	call(th.cfg.DataDir, control.DeviceList, control.None{}, &ds)
	found := false
	for _, d := range ds {
		found = found || d.ID == e.Info.DeviceID && d.Name == "Grandma" && d.Kind == "family"
	}
	if !found {
		t.Fatalf("devices: %+v", ds)
	}
	// Linked to the toys the invite named, once a parent approves.
	inv3, _ := wire.ParseInvite(th.invite(t, "Grandpa Joe", []string{"bunny"}, "").Link)
	key, _ := certs.NewKey()
	e2, err := devices.Join(context.Background(), inv3, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "joe")
	if err := e2.Save(dir, key); err != nil {
		t.Fatal(err)
	}
	joe, err := certs.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := th.dial(joe).Send(context.Background(), wire.NewMessageID(), recording(1, 3), []string{"Bunny"}); code(t, err) != wire.CodeNotContact {
		t.Fatalf("the joined device messaged the toy before a parent approved it: %v", err)
	}
	var pending []control.PendingView
	if err := call(th.cfg.DataDir, control.Pending, control.None{}, &pending); err != nil || !slices.Contains(pending, control.PendingView{Person: "Grandpa Joe", Toy: "Bunny"}) {
		t.Fatalf("pending: %+v %v", pending, err)
	}
	th.link("Grandpa Joe", "Bunny") // the parent approves
	if err := th.dial(joe).Send(context.Background(), wire.NewMessageID(), recording(1, 3), []string{"Bunny"}); err != nil {
		t.Fatalf("the joined device cannot message the invite's toy: %v", err)
	}
	if err := th.dial(joe).Send(context.Background(), wire.NewMessageID(), recording(1, 4), []string{"Bear"}); code(t, err) != wire.CodeNotContact {
		t.Fatal("the joined device can message a toy the invite did not name")
	}

	if _, err := join(t, res); code(t, err) != wire.CodeBadInvite {
		t.Fatal("an invite worked twice")
	}
	th.waitAudit(t, "join.refused")

	revoked := th.invite(t, "Grandpa", nil, "")
	if err := call(th.cfg.DataDir, control.InviteRevoke, control.IDArgs{ID: revoked.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := join(t, revoked); code(t, err) != wire.CodeBadInvite {
		t.Fatal("a revoked invite worked")
	}

	expiring := th.invite(t, "Aunt", nil, "1h")
	clk.advance(2 * time.Hour)
	if _, err := join(t, expiring); code(t, err) != wire.CodeBadInvite {
		t.Fatal("an expired invite worked")
	}

	var list []control.InviteView
	call(th.cfg.DataDir, control.InviteList, control.None{}, &list)
	states := map[string]string{}
	for _, i := range list {
		states[i.Name] = i.State
	}
	if states["Grandma"] != "used" || states["Grandpa"] != "withdrawn" || states["Aunt"] != "expired" {
		t.Fatalf("invite states: %v", states)
	}

	// The pin protects the secret: a hub with another CA is not talked to.
	inv2 := th.invite(t, "Cousin", nil, "")
	other, _ := wire.ParseInvite(inv2.Link)
	other.Pin = strings.Repeat("00", 32)
	key2, _ := certs.NewKey()
	if _, err := devices.Join(context.Background(), other, key2); err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("joining with a wrong pin: %v", err)
	}
}

// TestInviteRace: of concurrent redemptions of one invite, exactly one
// enrolls a device.
func TestInviteRace(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.EnrollFailuresPerSource = 100 })
	res := th.invite(t, "Grandma", nil, "")
	var wins, losses atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := join(t, res)
			var we *wire.Error
			switch {
			case err == nil:
				wins.Add(1)
			case errors.As(err, &we) && we.Code == wire.CodeBadInvite:
				losses.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 9 {
		t.Fatalf("%d wins, %d losses", wins.Load(), losses.Load())
	}
}

// wrongProof sends a pairing request with a proof made from no code, from
// src, and returns the hub's refusal code.
func wrongProof(t *testing.T, addr, src string) string {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}, Config: certs.PairingTLS()}
	nc, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	key, _ := certs.NewKey()
	csr, _ := certs.NewCSR(key)
	b, _ := json.Marshal(wire.EnrollRequest{V: wire.Version, Kind: wire.EnrollPair, CSR: string(csr), Proof: make([]byte, 32)})
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write(append(b, '\n'))
	line, err := bufio.NewReader(nc).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var resp wire.EnrollResponse
	if err := json.Unmarshal(line, &resp); err != nil || resp.Error == nil {
		t.Fatalf("a wrong proof got %s (%v)", line, err)
	}
	return resp.Error.Code
}

// TestEnrollmentUnderSiege: with the hub's default limits, a stranger
// holding twenty idle connections, and wrong proofs from seven addresses
// (19 in all, more than any per-address limit), neither stops the
// family's toy from pairing inside its window nor an invited device from
// joining; the stranger's own address is told to wait.
func TestEnrollmentUnderSiege(t *testing.T) {
	th := startHub(t, func(c *hub.Config) {
		d := hub.Defaults()
		c.EnrollPerSource, c.EnrollFailuresPerSource = d.EnrollPerSource, d.EnrollFailuresPerSource
	})
	var held []net.Conn
	for range 20 {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).Dial("tcp", th.h.EnrollAddr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	codes := map[string]int{}
	for i := range 19 {
		codes[wrongProof(t, th.h.EnrollAddr(), fmt.Sprintf("127.0.0.%d", 3+i%7))]++
	}
	if codes[wire.CodeBadProof] != 19 {
		t.Fatalf("19 wrong proofs from 7 addresses: %v, want each refused as a wrong proof", codes)
	}
	for range 5 {
		wrongProof(t, th.h.EnrollAddr(), "127.0.0.3")
	}
	if got := wrongProof(t, th.h.EnrollAddr(), "127.0.0.3"); got != wire.CodeRateLimited {
		t.Fatalf("the guessing address after its failures: %s", got)
	}
	// Meanwhile the family's toy pairs, and Grandma's device joins.
	c := wire.NewPairingCode()
	if err := th.openPairing(t, c, "Bunny"); err != nil {
		t.Fatal(err)
	}
	key, _ := certs.NewKey()
	if _, err := devices.Pair(context.Background(), th.h.EnrollAddr(), c, key); err != nil {
		t.Fatalf("the family's toy during the siege: %v", err)
	}
	if _, err := join(t, th.invite(t, "Grandma", []string{"Bunny"}, "")); err != nil {
		t.Fatalf("an invited device during the siege: %v", err)
	}
	th.waitLog(t, "Enrollment connection refused")
}
