package hub_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub"
)

// TestBrowserRemotePages: the remote door's pages in Chromium on a phone,
// as grandma far away sees them (the invite's page, then her certificate
// and its steps, bare: no app around them), and the remote-access page
// as a parent sees it. Each is checked as every page is (no sideways
// scroll, finger-sized controls, no jargon, axe-core), and pictured.
func TestBrowserRemotePages(t *testing.T) {
	axe := loadAxe(t)
	port := freePort(t)
	th := startHub(t, func(c *hub.Config) {
		c.WebAddr = "127.0.0.1:0"
		c.RemoteListen = "127.0.0.1"
		c.Remote.Enabled, c.Remote.Host, c.Remote.Port, c.Remote.Map = true, remoteHost, port, false
	})
	waitFor(t, func() bool { return th.h.RemoteAddr() != "" })
	waitFor(t, func() bool { // the remote door's certificate names the public host
		b, err := os.ReadFile(filepath.Join(th.cfg.DataDir, "server-remote.pem"))
		if err != nil {
			return false
		}
		leaf, err := certs.ParseCert(b)
		return err == nil && slices.Contains(leaf.DNSNames, remoteHost)
	})
	// Grandma's browser is a Chromium of its own, as on her own phone: its
	// NSS database (under $HOME) trusts the household CA, as the trust
	// page's steps make it; the door asks every browser for a
	// certificate, which headless Chromium cannot answer, so a policy
	// answers it (with none, here).
	certPolicy(t, fmt.Sprintf("https://%s:%d", remoteHost, port))
	home := t.TempDir()
	nssdb := "sql:" + filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
		t.Fatal(err)
	}
	certutil := needTool(t, "certutil")
	for _, args := range [][]string{{"-N", "--empty-password"}, {"-A", "-t", "C,,", "-n", "household", "-i", filepath.Join(th.cfg.DataDir, "ca.pem")}} {
		if out, err := exec.Command(certutil, append([]string{"-d", nssdb}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v %s", args, err, out)
		}
	}
	ctx := th.browserOwner(t)
	th.device("Bunny", "toy")

	// The parent's view of remote access.
	step(t, ctx, chromedp.Navigate(th.webURL("/remote")), chromedp.WaitVisible(chromedp.CSS(`main`)))
	checkPage(t, ctx, "the remote-access page", axe)
	if text := read(t, ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText`)); !strings.Contains(text, fmt.Sprintf("%s:%d", remoteHost, port)) ||
		!strings.Contains(text, "by hand") {
		t.Errorf("the remote-access page does not say where and how:\n%s", text)
	}
	screenshot(t, ctx, "remote-access")

	// Grandma, far away, with no certificate yet.
	res := th.invite(t, "Gran", []string{"Bunny"}, "")
	gctx := chromium(t, chromedp.Env("HOME="+home), chromedp.Flag("host-resolver-rules", "MAP "+remoteHost+" 127.0.0.1"))
	step(t, gctx, chromedp.Navigate(res.RemoteLink), chromedp.WaitVisible(chromedp.CSS(`input[name=password2]`)))
	checkPage(t, gctx, "the remote invite's page", axe)
	if n := read(t, gctx, chromedp.Evaluate[int](`document.querySelectorAll('nav, link[rel=stylesheet], script[src]').length`)); n != 0 {
		t.Errorf("the remote invite's page has %d parts of the app around it", n)
	}
	screenshot(t, gctx, "remote-join")
	const pw = "pebble lantern orchard violin"
	step(t, gctx, chromedp.SetValue(chromedp.CSS(`input[name=password]`), pw),
		chromedp.SetValue(chromedp.CSS(`input[name=password2]`), pw),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#passphrase-text`)))
	checkPage(t, gctx, "the certificate page", axe)
	steps := read(t, gctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('details summary')].map(s => s.textContent.trim())`))
	for _, want := range []string{"Android", "iPhone", "Chrome", "Firefox", "Safari"} {
		if !strings.Contains(strings.Join(steps, " | "), want) {
			t.Errorf("the certificate page has no steps for %s: %v", want, steps)
		}
	}
	// Pictured with the first platform's steps open.
	step(t, gctx, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('details').forEach((d, i) => d.open = i === 0)`))
	screenshot(t, gctx, "remote-certificate")
}

// certPolicy writes a managed Chromium policy that chooses a client
// certificate for origin by itself (any that fits, or none), and removes
// it when the test ends.
func certPolicy(t *testing.T, origin string) {
	t.Helper()
	pattern, _ := json.Marshal(map[string]any{"pattern": origin, "filter": map[string]any{}})
	pol, _ := json.Marshal(map[string]any{"AutoSelectCertificateForUrls": []string{string(pattern)}})
	path := filepath.Join("/etc/chromium/policies/managed", fmt.Sprintf("toyhub-test-%d.json", os.Getpid()))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Skipf("no Chromium policy directory: %v", err)
	}
	if err := os.WriteFile(path, pol, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
}
