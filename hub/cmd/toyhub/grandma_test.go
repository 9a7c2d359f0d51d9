package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const grandmaEnv = "TOYHUB_TEST_GRANDMA"

// grandmaBrowser runs in the far namespace as a helper: headless Chromium
// as grandma, with HOME set to a directory whose NSS database trusts the
// household CA (and, after the join, holds her certificate). It prints
// "ok" or what failed.
//
//   - GM_STEP=join opens GM_URL, the invite's remote link, chooses
//     GM_PASSWORD, and keeps what the certificate page gives:
//     GM_OUT/grandma.p12 and GM_OUT/passphrase.
//   - GM_STEP=reply logs in as GM_LOGIN, opens toy GM_TOY, plays message
//     GM_MSG (its bytes in GM_OUT/heard.wav), records a reply with the
//     fake microphone GM_MIC and sends it (GM_OUT/reply.wav, GM_OUT/sent).
func grandmaBrowser() int {
	if err := grandmaSteps(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

func grandmaSteps() error {
	out := os.Getenv("GM_OUT")
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath("chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(filepath.Join(out, "profile-"+os.Getenv("GM_STEP"))),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(390, 844),
	)
	if mic := os.Getenv("GM_MIC"); mic != "" {
		opts = append(opts, chromedp.Flag("use-file-for-fake-audio-capture", mic))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		return fmt.Errorf("start chromium: %w", err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) error {
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	// fetch reads a URL of the page's origin as the page would, and keeps
	// its bytes.
	fetch := func(what, urlExpr, file string) error {
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		b64, err := chromedp.Run(c, chromedp.Evaluate[string](`fetch(`+urlExpr+`).then(r => {
			if (!r.ok) throw new Error('status ' + r.status);
			return r.arrayBuffer();
		}).then(b => {
			const u = new Uint8Array(b);
			let s = '';
			for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
			return btoa(s);
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, file), raw, 0o600)
	}
	text := func(expr string, opts ...chromedp.EvaluateOption) (string, error) {
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		return chromedp.Run(c, chromedp.Evaluate[string](expr, opts...))
	}
	pw := os.Getenv("GM_PASSWORD")

	switch os.Getenv("GM_STEP") {
	case "join":
		if err := do("the join page", chromedp.Navigate(os.Getenv("GM_URL")), chromedp.WaitVisible(chromedp.CSS(`input[name=password2]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=password]`), pw),
			chromedp.SetValue(chromedp.CSS(`input[name=password2]`), pw),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#passphrase-text`))); err != nil {
			return err
		}
		pass, err := text(`document.getElementById('passphrase-text').value`)
		if err != nil || pass == "" {
			return fmt.Errorf("no passphrase shown: %v", err)
		}
		// Downloaded as she would: a click on the link.
		downloads := filepath.Join(out, "downloads")
		allow := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		})
		if err := do("the certificate file", allow, chromedp.Click(chromedp.CSS(`a#download`))); err != nil {
			return err
		}
		file := filepath.Join(downloads, "toyhub-browser.p12")
		for i := 0; ; i++ {
			if _, err := os.Stat(file); err == nil {
				break
			}
			if i == 300 {
				return errors.New("the certificate file was not downloaded")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := os.Rename(file, filepath.Join(out, "grandma.p12")); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, "passphrase"), []byte(pass), 0o600)

	case "reply":
		toy, msg := os.Getenv("GM_TOY"), os.Getenv("GM_MSG")
		// The test reads the recording's bytes from its blob: URL, which
		// the page's policy (connect-src 'self') rightly forbids the page.
		bypass := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
			return err
		})
		if err := do("logging in", bypass, chromedp.Navigate(os.Getenv("GM_URL")), chromedp.WaitVisible(chromedp.CSS(`input[name=login]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=login]`), os.Getenv("GM_LOGIN")),
			chromedp.SetValue(chromedp.CSS(`input[name=password]`), pw),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`))); err != nil {
			return err
		}
		audio := `li[data-message="` + msg + `"] audio`
		if err := do("the toy's page", chromedp.Navigate(strings.TrimSuffix(os.Getenv("GM_URL"), "/")+"/toys/"+toy),
			chromedp.WaitVisible(chromedp.CSS(audio)), chromedp.WaitVisible(chromedp.CSS(`#rec-start`))); err != nil {
			return err
		}
		if err := fetch("the child's message", `document.querySelector('`+audio+`').currentSrc || document.querySelector('`+audio+`').src`, "heard.wav"); err != nil {
			return err
		}
		// The page's live updates may replace the message's element while
		// it starts (its receipt changed): then play the new one.
		if _, err := text(`new Promise((ok, fail) => {
			const play = (tries) => {
				const a = document.querySelector('`+audio+`');
				a.addEventListener('ended', () => ok(String(a.duration)));
				a.addEventListener('error', () => fail(new Error('audio error ' + (a.error && a.error.code))));
				a.play().catch(e => e.name === 'AbortError' && tries > 0 ? setTimeout(() => play(tries - 1), 300) : fail(e));
			};
			play(10);
		})`, chromedp.EvalAwaitPromise); err != nil {
			return fmt.Errorf("playing the child's message: %w", err)
		}
		if err := do("recording", chromedp.Click(chromedp.CSS(`#rec-start`)),
			chromedp.WaitReady(chromedp.CSS(`#recorder[data-state=recording]`)),
			chromedp.Sleep(1500*time.Millisecond), chromedp.Click(chromedp.CSS(`#rec-stop`)),
			chromedp.WaitReady(chromedp.CSS(`#recorder[data-state=ready]`))); err != nil {
			return err
		}
		if err := fetch("the recording", `document.getElementById('rec-preview').src`, "reply.wav"); err != nil {
			return err
		}
		if err := do("sending", chromedp.Click(chromedp.CSS(`#rec-send`)), chromedp.WaitReady(chromedp.CSS(`#recorder[data-sent]`))); err != nil {
			return err
		}
		sent, err := text(`document.getElementById('recorder').dataset.sent`)
		if err != nil || sent == "" {
			return fmt.Errorf("no message ID after sending: %v", err)
		}
		return os.WriteFile(filepath.Join(out, "sent"), []byte(sent), 0o600)
	}
	return errors.New("GM_STEP is join or reply")
}
