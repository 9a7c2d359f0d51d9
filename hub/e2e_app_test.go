package hub_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/wire"
)

// browserOwner sets up the hub as its owner in the browser, and returns
// the logged-in browser.
func (th *testHub) browserOwner(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	th.waitLog(t, "Setup link")
	m := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(th.logs.String())
	ctx := th.browser(t, extra...)
	step(t, ctx, chromedp.Navigate(th.webURL("/setup?token="+m[1])),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/setup"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name=login]`), "Mum"),
		chromedp.SetValue(chromedp.CSS(`input[name=password]`), ownerPassword),
		chromedp.SetValue(chromedp.CSS(`input[name=password2]`), ownerPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)))
	return ctx
}

func (th *testHub) webURL(path string) string {
	return "https://127.0.0.1:" + portOnly(th.h.WebAddr()) + path
}

// liveOpen waits until the page's event stream is connected.
func liveOpen(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, chromedp.WaitReady(chromedp.CSS(`body[data-live=open]`)))
}

// TestBrowserPlaysToyMessage: a message a toy sends appears on the open
// conversation page without a reload, plays from the encrypted store, and
// the toy hears that it was played.
func TestBrowserPlaysToyMessage(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	ctx := th.browserOwner(t, chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	teddy := th.device("Teddy", "toy")
	toy := th.dial(teddy)

	step(t, ctx, chromedp.Navigate(th.webURL("/toys/"+teddy.Info.DeviceID)), chromedp.WaitVisible(chromedp.CSS(`#recorder`)))
	liveOpen(t, ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := wire.NewMessageID()
	if err := toy.Send(sctx, id, recording(1.2, 11), nil); err != nil {
		t.Fatal(err)
	}
	// It arrives by the live update: the page was not reloaded.
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`li[data-message="`+id.String()+`"] audio[data-played]`)))
	if n := read(t, ctx, chromedp.Evaluate[string](`document.body.dataset.refreshed || ""`)); n == "" {
		t.Fatal("the message appeared without a live update")
	}
	screenshot(t, ctx, "conversation")
	duration := read(t, ctx, chromedp.Evaluate[float64](`new Promise((ok, fail) => {
		const a = document.querySelector('li[data-message="`+id.String()+`"] audio');
		a.addEventListener('ended', () => ok(a.duration));
		a.addEventListener('error', () => fail(new Error('audio error ' + (a.error && a.error.code))));
		a.play().catch(fail);
	})`, chromedp.EvalAwaitPromise))
	if math.Abs(duration-1.2) > 0.05 {
		t.Fatalf("the browser played %.2f s, the toy sent 1.2 s", duration)
	}
	for {
		select {
		case st := <-toy.Statuses():
			if st.ID == id && st.State == "played" {
				step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`li[data-message="`+id.String()+`"] audio:not([data-played])`)))
				return
			}
		case <-sctx.Done():
			t.Fatal("the toy never heard that its message was played")
		}
	}
}

var (
	toyBinOnce sync.Once
	toyBin     string
	toyBinErr  error
)

// toyCommand builds the toy simulator once, as it ships.
func toyCommand(t *testing.T) string {
	t.Helper()
	toyBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "toyhub-e2e")
		if err != nil {
			toyBinErr = err
			return
		}
		toyBin = filepath.Join(dir, "toy")
		cmd := exec.Command("go", "build", "-trimpath", "-o", toyBin, "github.com/toyhub/toyhub/devices/cmd/toy")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			toyBinErr = err
			t.Logf("%s", out)
		}
	})
	if toyBinErr != nil {
		t.Fatalf("build toy: %v", toyBinErr)
	}
	return toyBin
}

// fakeMicrophone is what Chromium's fake capture device plays: a 660 Hz
// tone at 48 kHz, the rate browsers usually capture at.
func fakeMicrophone(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mic.wav")
	if err := os.WriteFile(path, wire.Tone(48000, 4*time.Second, 660, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBrowserRecordsMessage: a parent records in the browser (Chromium's
// fake microphone), previews it, and sends it; 'toy listen' receives a WAV
// of the kind toys play, holding the tone the microphone heard.
func TestBrowserRecordsMessage(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	toyCmd := toyCommand(t)
	ctx := th.browserOwner(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", fakeMicrophone(t)),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	th.device("Teddy", "toy")
	bundle := filepath.Join(th.dir, "bundles", "teddy")
	out := t.TempDir()
	lctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	listen := exec.CommandContext(lctx, toyCmd, "listen", "--mdns=false", "--bundle", bundle, "--out", out, "--count", "1", "--timeout", "80s")
	var lout bytes.Buffer
	listen.Stdout, listen.Stderr = &lout, &lout
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}

	step(t, ctx, chromedp.Navigate(th.webURL("/")), chromedp.WaitVisible(chromedp.CSS(`a[data-toy="Teddy"]`)),
		chromedp.Click(chromedp.CSS(`a[data-toy="Teddy"]`)), chromedp.WaitVisible(chromedp.CSS(`#rec-start`)),
		chromedp.Click(chromedp.CSS(`#rec-start`)),
		chromedp.WaitReady(chromedp.CSS(`#recorder[data-state=recording]`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('rec-level').value > 0.05`))
	screenshot(t, ctx, "recording")
	step(t, ctx, chromedp.Sleep(1500*time.Millisecond), chromedp.Click(chromedp.CSS(`#rec-stop`)),
		chromedp.WaitReady(chromedp.CSS(`#recorder[data-state=ready]`)), chromedp.WaitVisible(chromedp.CSS(`#rec-preview`)))
	preview := read(t, ctx, chromedp.Evaluate[float64](`new Promise((ok, fail) => {
		const a = document.getElementById('rec-preview');
		if (a.readyState >= 1) { ok(a.duration); return; }
		a.addEventListener('loadedmetadata', () => ok(a.duration));
		a.addEventListener('error', () => fail(new Error('preview does not play')));
	})`, chromedp.EvalAwaitPromise))
	if preview < 1 {
		t.Fatalf("the preview lasts %.2f s", preview)
	}
	step(t, ctx, chromedp.Click(chromedp.CSS(`#rec-send`)), chromedp.WaitReady(chromedp.CSS(`#recorder[data-sent]`)))
	sent := read(t, ctx, chromedp.Evaluate[string](`document.getElementById('recorder').dataset.sent`))

	if err := listen.Wait(); err != nil {
		t.Fatalf("toy listen: %v\n%s", err, lout.String())
	}
	wav, err := os.ReadFile(filepath.Join(out, sent+".wav"))
	if err != nil {
		t.Fatalf("toy listen did not write message %s: %v\n%s", sent, err, lout.String())
	}
	info, err := wire.ParseWAV(wav, int64(len(wav)))
	if err != nil || info.SampleRate != 16000 {
		t.Fatalf("the toy got %+v, %v", info, err)
	}
	if d := info.Duration(); d < time.Second || math.Abs(d.Seconds()-preview) > 0.1 {
		t.Fatalf("the toy got %v, the preview was %.2f s", d, preview)
	}
	if f := dominantFrequency(wav[len(wav)-int(info.DataLen):], 16000); math.Abs(f-660) > 30 {
		t.Fatalf("the recording's pitch is %.0f Hz; the microphone played 660 Hz", f)
	}
	// The conversation shows it, sent by Mum.
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`li.mine[data-message="`+sent+`"]`)))
	screenshot(t, ctx, "conversation-sent")
}

// dominantFrequency estimates the pitch of 16-bit PCM by counting
// rising zero crossings.
func dominantFrequency(pcm []byte, rate int) float64 {
	n := len(pcm) / 2
	crossings, prev := 0, int16(0)
	for i := range n {
		s := int16(binary.LittleEndian.Uint16(pcm[2*i:]))
		if prev < 0 && s >= 0 {
			crossings++
		}
		prev = s
	}
	return float64(crossings) * float64(rate) / float64(n)
}

// TestBrowserInviteGrandparent: a parent pairs nothing by hand but
// invites Gran for one toy; Gran opens the link in her own browser, is
// refused a weak password, makes her account, and sees only her toy.
func TestBrowserInviteGrandparent(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	ctx := th.browserOwner(t)
	teddy := th.device("Teddy", "toy")
	th.device("Bunny", "toy")
	step(t, ctx, chromedp.Navigate(th.webURL("/")), chromedp.WaitVisible(chromedp.CSS(`a[data-toy="Bunny"]`)))
	screenshot(t, ctx, "dashboard")
	step(t, ctx, chromedp.Navigate(th.webURL("/toys")), chromedp.WaitVisible(chromedp.CSS(`form[action="/toys/pair"]`)))
	screenshot(t, ctx, "toys")

	step(t, ctx, chromedp.Navigate(th.webURL("/family")),
		chromedp.SetValue(chromedp.CSS(`form[action="/family/invites"] input[name=name]`), "Gran"),
		chromedp.Click(chromedp.CSS(`input[name=toy][value="`+teddy.Info.DeviceID+`"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/family/invites"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-invite img`)))
	screenshot(t, ctx, "family-invite")
	link := read(t, ctx, chromedp.Value(chromedp.CSS(`#invite-link`)))
	if !strings.Contains(link, "/join?s=") {
		t.Fatalf("invite link %q", link)
	}

	// Gran's own browser: a separate profile, no cookies of Mum's.
	gctx := newTab(t, ctx)
	step(t, gctx, chromedp.Navigate(link))
	fill := func(password string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.CSS(`form[action="/join"]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=password]`), password),
			chromedp.SetValue(chromedp.CSS(`input[name=password2]`), password),
			chromedp.Click(chromedp.CSS(`form[action="/join"] button`)))
	}
	step(t, gctx, fill("123456789012"), chromedp.WaitVisible(chromedp.CSS(`.error`)))
	if why := read(t, gctx, chromedp.Text(chromedp.CSS(`.error`))); !strings.Contains(why, "choose another password") {
		t.Fatalf("weak password refusal: %q", why)
	}
	screenshot(t, gctx, "join-refused")
	step(t, gctx, fill("marmalade orbit pelican thimble"), chromedp.WaitVisible(chromedp.CSS(`#passphrase`)),
		chromedp.Click(chromedp.CSS(`a[href="/"].button`)), chromedp.WaitVisible(chromedp.CSS(`#pending-notice`)))
	if n := read(t, gctx, chromedp.Evaluate[int](`document.querySelectorAll('a[data-toy]').length`)); n != 0 {
		t.Fatalf("Gran sees %d toys before a parent approved her", n)
	}
	// Mum approves her on the family page.
	step(t, ctx, chromedp.Navigate(th.webURL("/family")), chromedp.WaitVisible(chromedp.CSS(`#pending`)))
	screenshot(t, ctx, "family-approve")
	step(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/family/approve"] button`)), chromedp.WaitNotPresent(chromedp.CSS(`#pending`)))
	step(t, gctx, chromedp.Navigate(th.webURL("/")), chromedp.WaitVisible(chromedp.CSS(`a[data-toy="Teddy"]`)))
	toys := read(t, gctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a[data-toy]')].map(a => a.dataset.toy)`))
	if len(toys) != 1 || toys[0] != "Teddy" {
		t.Fatalf("Gran sees toys %v, want only Teddy", toys)
	}
	if nav := read(t, gctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))`)); strings.Contains(strings.Join(nav, " "), "/family") {
		t.Fatalf("Gran's menu offers parents' pages: %v", nav)
	}
	screenshot(t, gctx, "grandparent-home")
	// Mum's family page now lists her, with her toy.
	step(t, ctx, chromedp.Navigate(th.webURL("/family")), chromedp.WaitVisible(chromedp.CSS(`.person`)))
	if checked := read(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.person input[name=toy]:checked')].map(i => i.value)`)); len(checked) != 1 || checked[0] != teddy.Info.DeviceID {
		t.Fatalf("Gran's toys on the family page: %v", checked)
	}
	step(t, ctx, chromedp.Navigate(th.webURL("/audit")), chromedp.WaitVisible(chromedp.CSS(`table.audit`)))
	screenshot(t, ctx, "audit")
	step(t, ctx, chromedp.Navigate(th.webURL("/account/totp")), chromedp.WaitVisible(chromedp.CSS(`#totp-secret`)))
	screenshot(t, ctx, "totp")
	// The security page: run the checks from it; the results arrive live.
	step(t, ctx, chromedp.Navigate(th.webURL("/security")), chromedp.WaitVisible(chromedp.CSS(`form[action="/security/run"]`)))
	liveOpen(t, ctx)
	step(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/security/run"] button[value="0"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary`)), chromedp.WaitNotPresent(chromedp.CSS(`#running`)))
	if n := read(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('.finding').length`)); n == 0 {
		t.Fatal("the security page shows no findings (an open invite and the owner's missing code app are two)")
	}
	screenshot(t, ctx, "security")
}

// TestBrowserPairsToy: a parent photographs a toy's label, the hub reads
// the code from the photo, the parent names the toy and starts pairing;
// the toy pairs, and the open dashboard shows it without a reload.
func TestBrowserPairsToy(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	ctx := th.browserOwner(t)
	toyDir := filepath.Join(t.TempDir(), "toy")
	code, err := devices.MakeLabel(toyDir)
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, chromedp.Navigate(th.webURL("/toys")),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=photo]`), []string{filepath.Join(toyDir, devices.LabelPNG)}),
		chromedp.Click(chromedp.CSS(`form[action="/toys/scan"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := read(t, ctx, chromedp.Value(chromedp.CSS(`input[name=code]`))); got != code.String() {
		t.Fatalf("the code read from the photo is %q, the label says %q", got, code)
	}
	step(t, ctx, chromedp.SetValue(chromedp.CSS(`input[name=name]`), "Teddy"),
		chromedp.Click(chromedp.CSS(`form[action="/toys/pair"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#pair-waiting`)))
	if notice := read(t, ctx, chromedp.Text(chromedp.CSS(`#pair-waiting`))); !strings.Contains(notice, "waiting for Teddy") {
		t.Fatalf("after Pair: %q", notice)
	}
	screenshot(t, ctx, "pairing")
	// A reload asks nothing again: the page is a plain GET.
	if u := read(t, ctx, chromedp.Evaluate[string](`location.pathname + location.search`)); u != "/toys?pairing=Teddy" {
		t.Fatalf("after Pair the page is %s", u)
	}
	liveOpen(t, ctx)
	keyPEM, err := os.ReadFile(filepath.Join(toyDir, certs.BundleKey))
	if err != nil {
		t.Fatal(err)
	}
	key, err := certs.ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := devices.Pair(pctx, th.h.EnrollAddr(), code, key); err != nil {
		t.Fatalf("the toy did not pair: %v", err)
	}
	// The open page says so by itself, and the dashboard lists the toy.
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#pair-done`)))
	if done := read(t, ctx, chromedp.Text(chromedp.CSS(`#pair-done`))); !strings.Contains(done, "Teddy is paired") {
		t.Fatalf("once paired: %q", done)
	}
	screenshot(t, ctx, "paired")
	step(t, ctx, chromedp.Navigate(th.webURL("/")), chromedp.WaitVisible(chromedp.CSS(`a[data-toy="Teddy"]`)))
}
