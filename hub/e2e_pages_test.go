package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/wire"
)

// axeJS is axe-core, the npm package, which .ci/run installs here.
const axeJS = "/usr/local/share/axe-core/axe.min.js"

// pageProblems is what a page must not have on a phone, checked in the
// page: scrolling sideways, a control smaller than 44×44 CSS pixels (a
// control inside a label counts the label), and input text under 16
// pixels, which makes a phone zoom in.
const pageProblems = `(() => {
  const out = [];
  const describe = el => el.tagName.toLowerCase() + (el.name ? '[name=' + el.name + ']' : '') +
    (el.id ? '#' + el.id : '') + ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30) + '"';
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width + 1) {
    let widest = null;
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right > width + 1 && (!widest || r.right > widest.getBoundingClientRect().right)) widest = el;
    }
    out.push('scrolls sideways: ' + document.documentElement.scrollWidth + ' px wide, widest ' + (widest ? describe(widest) : '?'));
  }
  const controls = 'button, input:not([type=hidden]), select, textarea, summary, nav a, header a, a.button, a.card, footer a';
  for (const el of document.querySelectorAll(controls)) {
    if (el.getClientRects().length === 0) continue; // not shown
    const target = el.closest('label') || el;
    const r = target.getBoundingClientRect();
    if (r.width < 44 - 0.5 || r.height < 44 - 0.5) out.push('control under 44×44: ' + describe(el) + ' ' + Math.round(r.width) + '×' + Math.round(r.height));
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && parseFloat(getComputedStyle(el).fontSize) < 16) {
      out.push('input text under 16 px: ' + describe(el));
    }
  }
  return out;
})()`

// jargon is what no page may show a parent or a grandparent: internal
// error prefixes, raw IDs, event codes, protocol terms and Go's own
// spellings of durations and plurals.
var jargon = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`\b(wire|store|certs|household|enroll|broker|control|devices): |\b(hub|web|password): [^.\n]*: `), "an internal error prefix"},
	{regexp.MustCompile(`\b[a-z2-7]{26}\b`), "a device or account ID"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "a message ID"},
	{regexp.MustCompile(`\bremoved [a-z2-7]{8}\b`), "a removed device's ID"},
	{regexp.MustCompile(`\b(device|link|invite|setup|login|session|password|totp|setting|settings|web|reauth|messages|check|clock|backup|pair|join|cert|wipe)\.[a-z_]+\b`), "an event code"},
	{regexp.MustCompile(`\b(CONNACK|MQTT|AEAD|CSR|ECDHE|ECDSA|QoS|PUBLISH|SUBSCRIBE|X\.509|mTLS|SHA-256|TLS handshake)\b`), "a protocol term"},
	{regexp.MustCompile(`\b\d+h\d+m\d+s\b|\b\d+m\d+s\b`), "a Go duration"},
	{regexp.MustCompile(`\b1 (toys|messages|people|things|devices|contacts|minutes|days)\b`), "a plural for one"},
	{regexp.MustCompile(`%!|<nil>|context deadline exceeded|Requested device not found`), "a program's own text"},
	{regexp.MustCompile(`[a-z] [.,:]`), "a word left out"},
	{regexp.MustCompile(`\bwaiting for the toy\b.*\bis paired\b|you: waiting`), "a state in code words"},
}

// checkPage runs every check on the page the browser shows: the phone
// layout, the words, and axe-core's serious and critical findings.
func checkPage(t *testing.T, ctx context.Context, name, axe string) {
	t.Helper()
	for _, p := range read(t, ctx, chromedp.Evaluate[[]string](pageProblems)) {
		t.Errorf("%s: %s", name, p)
	}
	// Folded parts count too: open them before reading.
	text := read(t, ctx, chromedp.Evaluate[string](`document.querySelectorAll('details').forEach(d => d.open = true), document.body.innerText`))
	for _, j := range jargon {
		if m := j.re.FindString(text); m != "" {
			t.Errorf("%s: shows %s: %q", name, j.what, m)
		}
	}
	if axe == "" {
		return
	}
	read(t, ctx, chromedp.Evaluate[bool](axe+"; true"))
	raw := read(t, ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise))
	var violations []struct {
		ID, Help string
		Nodes    []string
	}
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("%s: axe: %s (%s) at %v", name, v.ID, v.Help, v.Nodes)
	}
}

// loadAxe reads axe-core, or skips (fails under CI) when it is missing.
func loadAxe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axeJS)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("axe-core is missing (%v); .ci/run installs it", err)
		}
		t.Skipf("axe-core is missing: %v", err)
	}
	return string(b)
}

// TestBrowserEveryPageOnAPhone: every page, as the owner, as a grandparent and
// before logging in, on a 360×740 screen: nothing scrolls sideways, every
// control is big enough for a finger, no input makes the phone zoom, no
// word is the program's own, and axe-core finds nothing serious.
func TestBrowserEveryPageOnAPhone(t *testing.T) {
	axe := loadAxe(t)
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	ctx := th.browserOwner(t)

	// A household: two toys, messages, grandma by invite with one toy.
	teddy := th.device("Teddy", "toy")
	th.device("Bunny", "toy")
	toy := th.dial(teddy)
	sendCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := toy.Send(sendCtx, wire.NewMessageID(), recording(1, 7), nil); err != nil {
		t.Fatal(err)
	}
	mum := th.webClient(t)
	if code, _ := mum.post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}}); code != 303 {
		t.Fatalf("login: %d", code)
	}
	_, body := mum.post("/family/invites", url.Values{"name": {"Grandma Rose"}, "toy": {teddy.Info.DeviceID}})
	link := html.UnescapeString(joinLink.FindStringSubmatch(body)[1])
	gctx := newTab(t, ctx)
	step(t, gctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action="/join"]`)))
	checkPage(t, gctx, "the invite, before joining", axe)
	step(t, gctx, chromedp.SetValue(chromedp.CSS(`input[name=password]`), "marmalade orbit pelican thimble"),
		chromedp.SetValue(chromedp.CSS(`input[name=password2]`), "marmalade orbit pelican thimble"),
		chromedp.Click(chromedp.CSS(`form[action="/join"] button`)), chromedp.WaitVisible(chromedp.CSS(`#passphrase`)))
	checkPage(t, gctx, "grandma's certificate, after joining", axe)
	step(t, gctx, chromedp.Click(chromedp.CSS(`a[href="/"].button`)), chromedp.WaitVisible(chromedp.CSS(`#pending-notice`)))
	checkPage(t, gctx, "grandma, waiting for approval", axe)
	_, fam := mum.get("/family")
	person := regexp.MustCompile(`name="person" value="([a-z2-7]+)"`).FindStringSubmatch(fam)
	if person == nil {
		t.Fatal("no one waits for approval")
	}
	mum.post("/family/approve", url.Values{"person": {person[1]}, "toy": {teddy.Info.DeviceID}})

	// A security check has run, an invite is open, a pairing waits.
	if code, _ := mum.post("/security/run", url.Values{"network": {"0"}}); code != 303 {
		t.Fatalf("security check: %d", code)
	}
	for i := 0; ; i++ {
		if _, page := mum.get("/security"); strings.Contains(page, `id="summary"`) && !strings.Contains(page, `id="running"`) {
			break
		}
		if i == 600 {
			t.Fatal("the security check did not end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, body = mum.post("/family/invites", url.Values{"name": {"Grandpa Joe"}, "toy": {teddy.Info.DeviceID}})
	invite := regexp.MustCompile(`/family/invites/([a-z0-9]+)/revoke`).FindStringSubmatch(body)
	if invite == nil {
		t.Fatal("no open invite to withdraw")
	}
	if code, _ := mum.post("/toys/pair", url.Values{"code": {wire.NewPairingCode().String()}, "name": {"Kitty"}}); code != 303 {
		t.Fatalf("pairing: %d", code)
	}
	_, toyPage := mum.get("/toys/" + teddy.Info.DeviceID)
	msg := regexp.MustCompile(`/messages/([0-9a-f]{32})/delete`).FindStringSubmatch(toyPage)
	if msg == nil {
		t.Fatal("no message to delete")
	}

	teddyPage := "/toys/" + teddy.Info.DeviceID
	owner := []string{"/", "/toys", "/toys?pairing=Kitty", teddyPage, "/family", "/security", "/audit", "/account", "/account/totp", "/export", "/wipe", "/trust",
		teddyPage + "/remove", teddyPage + "/messages/" + msg[1] + "/delete", "/family/people/" + person[1] + "/remove",
		"/family/invites/" + invite[1] + "/revoke", "/toys/nosuchtoy", "/remote", "/remote/certificates/" + certSerial(t, mum) + "/revoke"}
	shots := map[string]string{"/": "first-steps", teddyPage + "/messages/" + msg[1] + "/delete": "confirm-delete", "/audit": "log", "/toys": "toys-phone"}
	for _, p := range owner {
		step(t, ctx, chromedp.Navigate(th.webURL(p)), chromedp.WaitReady(chromedp.CSS(`main`)))
		checkPage(t, ctx, "the owner's "+p, axe)
		if name, ok := shots[p]; ok {
			screenshot(t, ctx, name)
		}
	}
	for _, p := range []string{"/", teddyPage, "/account", "/account/totp", "/trust", "/family"} {
		step(t, gctx, chromedp.Navigate(th.webURL(p)), chromedp.WaitReady(chromedp.CSS(`main`)))
		checkPage(t, gctx, "grandma's "+p, axe)
	}
	nobody := newTab(t, ctx)
	for _, p := range []string{"/login", "/trust"} {
		step(t, nobody, chromedp.Navigate(th.webURL(p)), chromedp.WaitReady(chromedp.CSS(`main`)))
		checkPage(t, nobody, fmt.Sprintf("before logging in, %s", p), axe)
	}
	_ = strings.TrimSpace
}

// TestBrowserTimesInTheBrowsersWay: the pages write times as the browser's own
// language does: 12 hours with AM and PM for American English, 24 hours
// for German; the hub's own writing is only the fallback.
func TestBrowserTimesInTheBrowsersWay(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.setupOwner(t)
	teddy := th.device("Teddy", "toy")
	toy := th.dial(teddy)
	sendCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := toy.Send(sendCtx, wire.NewMessageID(), recording(1, 3), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang string
		want *regexp.Regexp
	}{
		{"en-US", regexp.MustCompile(`\d{1,2}:\d{2}\s?[AP]M`)},
		// hour: 'numeric' writes the hours after midnight with one digit
		// ("1. Dez., 0:07"); the test failed from midnight to ten.
		{"de-DE", regexp.MustCompile(`^\d{1,2}\. [^ ]+,? \d{1,2}:\d{2}$`)},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			ctx := th.browser(t)
			locale := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: strings.ReplaceAll(tt.lang, "-", "_")})
				return err
			})
			step(t, ctx, locale, chromedp.Navigate(th.webURL("/login")),
				chromedp.SetValue(chromedp.CSS(`input[name=login]`), "Mum"),
				chromedp.SetValue(chromedp.CSS(`input[name=password]`), ownerPassword),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
			step(t, ctx, chromedp.Navigate(th.webURL("/toys/"+teddy.Info.DeviceID)), chromedp.WaitVisible(chromedp.CSS(`.msg time[data-when]`)))
			got := read(t, ctx, chromedp.Evaluate[string](`document.querySelector('.msg time[data-when]').textContent`))
			if !tt.want.MatchString(got) {
				t.Fatalf("a message's time reads %q in %s", got, tt.lang)
			}
		})
	}
}
