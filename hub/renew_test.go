package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
)

// TestRenewal: with short-lived certificates, the agent renews over its
// mTLS connection after two thirds of the life, before expiry, and keeps
// working afterwards; the old certificate, once expired, is refused.
func TestRenewal(t *testing.T) {
	const life = 9 * time.Second
	th := startHub(t, func(c *hub.Config) { c.DeviceCertValidity = life })
	b := th.device("Bunny", "toy")
	old := b.Cert
	oldCopy := filepath.Join(t.TempDir(), "old")
	os.CopyFS(oldCopy, os.DirFS(b.Dir))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &devices.Agent{Bundle: b, Options: th.opts(), Outbox: filepath.Join(t.TempDir(), "out"), Inbox: filepath.Join(t.TempDir(), "in"),
		RenewCheck: 200 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var renewed *certs.Bundle
	for time.Now().Before(old.Leaf.NotAfter) {
		nb, err := certs.LoadBundle(b.Dir)
		if err == nil && nb.Cert.Leaf.SerialNumber.Cmp(old.Leaf.SerialNumber) != 0 {
			renewed = nb
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if renewed == nil {
		t.Fatal("the certificate was not renewed before it expired")
	}
	if due := devices.RenewalDue(b); time.Now().Before(due.Add(-time.Second)) {
		t.Fatalf("renewed before two thirds of its life (due %v)", due)
	}
	if !renewed.Cert.Leaf.NotAfter.After(old.Leaf.NotAfter) {
		t.Fatal("the new certificate does not outlive the old")
	}
	th.waitLog(t, "Certificate renewed")
	th.waitAudit(t, "cert.renewed "+b.Info.DeviceID)

	// Past the old certificate's expiry, the device still connects.
	time.Sleep(time.Until(old.Leaf.NotAfter) + time.Second)
	cancel()
	<-done
	c, err := devices.Dial(context.Background(), renewed, th.opts())
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	c.Close()
	// The expired one cannot, and the client says what to do.
	stale, err := certs.LoadBundle(oldCopy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devices.Dial(context.Background(), stale, th.opts()); err == nil {
		t.Fatal("an expired certificate connected")
	}
	// Nor when the client does not check: the hub refuses it.
	if r, err := th.rawDial(certs.ClientTLS(stale.Pool(), stale.Cert, ""), stale.Info.DeviceID); err == nil {
		if tok := r.c.Subscribe("toyhub/v1/"+stale.Info.DeviceID+"/down/#", 1, nil); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			t.Fatal("the hub accepted an expired certificate")
		}
	}
}
