package hub_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub"
)

// browser starts Debian's headless Chromium, trusting exactly the hub's
// server key, with every background service off: it talks to the hub on
// loopback and nothing else.
func (th *testHub) browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(th.cfg.DataDir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.ParseCert(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return chromium(t, append([]chromedp.ExecAllocatorOption{
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:]))}, extra...)...)
}

// chromium starts Debian's headless Chromium at a phone's size, with
// every background service off: it talks to the hub on loopback and
// nothing else.
func chromium(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	bin := needTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first call starts the browser, and must have no timeout: it
	// would stop the browser with it. Later calls are bounded by step.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step(t, ctx, phone)
	return ctx
}

// phone is the screen of every browser test: a small phone's, 360×740 CSS
// pixels at twice the density. (Headless Chromium's window is never
// narrower than 500 pixels, so the window size alone is not a phone.)
var phone = chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2))

// newTab opens a tab in a browser context of its own (another person's
// browser: no cookies shared), on the same phone screen.
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first call opens the tab, and must have no deadline: it would
	// close the tab with it.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	step(t, tab, phone)
	return tab
}

// step runs browser steps with a deadline.
func step(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// read runs one browser action that returns a value, with a deadline.
func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := read(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSetupAndLogin drives the first-run setup in real headless
// Chromium: a refused weak password with its reason, the owner account,
// logging out, and logging in again.
func TestBrowserSetupAndLogin(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.waitLog(t, "Setup link")
	m := regexp.MustCompile(`link="?(https://[^"\s]+)`).FindStringSubmatch(th.logs.String())
	// The link names the hub's LAN address; the browser reaches it on
	// loopback, which the server certificate also covers.
	link := regexp.MustCompile(`https://[^/]+`).ReplaceAllString(m[1], "https://127.0.0.1:"+portOnly(th.h.WebAddr()))
	ctx := th.browser(t)

	fill := func(password string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SetValue(chromedp.CSS(`input[name=login]`), "Mum"),
			chromedp.SetValue(chromedp.CSS(`input[name=password]`), password),
			chromedp.SetValue(chromedp.CSS(`input[name=password2]`), password),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		)
	}
	step(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action="/setup"]`)), fill("Cloudpets2017!"),
		chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if refusal := read(t, ctx, chromedp.Text(chromedp.CSS(`.error`))); !strings.Contains(refusal, "cloudpets") {
		t.Fatalf("the refusal says %q", refusal)
	}
	screenshot(t, ctx, "setup-refused")

	step(t, ctx, fill("violet tractor umbrella geology"), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
	if me := read(t, ctx, chromedp.Text(chromedp.CSS(`nav a[href="/account"]`))); me != "Mum" {
		t.Fatalf("after setup, logged in as %q", me)
	}
	screenshot(t, ctx, "home")

	step(t, ctx,
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name=login]`), "mum"),
		chromedp.SetValue(chromedp.CSS(`input[name=password]`), "violet tractor umbrella geology"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
	)
	if title := read(t, ctx, chromedp.Title()); !strings.Contains(title, "Messages") {
		t.Fatalf("login again: title %q", title)
	}
	th.waitAudit(t, "login.ok")
}

func portOnly(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
