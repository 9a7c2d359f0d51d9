package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// webClient is one person's browser: its own cookies, trusting the
// household CA, not following redirects.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

// caPool trusts the household CA, as a browser that followed the trust
// page does.
func (th *testHub) caPool(t *testing.T) *x509.CertPool {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(th.cfg.DataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return pool
}

func (th *testHub) webClient(t *testing.T) *webClient {
	t.Helper()
	pool := th.caPool(t)
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &webClient{t: t, base: "https://" + th.h.WebAddr(), c: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webClient) do(method, path, contentType string, body []byte) (*http.Response, string) {
	w.t.Helper()
	req, _ := http.NewRequest(method, w.base+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin") // as a browser sends for the app's own forms
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (w *webClient) get(path string) (int, string) {
	w.t.Helper()
	resp, body := w.do("GET", path, "", nil)
	return resp.StatusCode, body
}

func (w *webClient) post(path string, form url.Values) (int, string) {
	w.t.Helper()
	resp, body := w.do("POST", path, "application/x-www-form-urlencoded", []byte(form.Encode()))
	return resp.StatusCode, body
}

const ownerPassword = "violet tractor umbrella geology"

// setupOwner creates the owner account "Mum" through the setup link.
func (th *testHub) setupOwner(t *testing.T) *webClient {
	t.Helper()
	th.waitLog(t, "Setup link")
	m := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(th.logs.String())
	w := th.webClient(t)
	if code, body := w.post("/setup", url.Values{"token": {m[1]}, "login": {"Mum"}, "password": {ownerPassword}, "password2": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", code, body)
	}
	return w
}

var (
	audioURL  = regexp.MustCompile(`src="(/toys/[a-z0-9]+/messages/[0-9a-f]+/audio)"`)
	playedURL = regexp.MustCompile(`data-played="(/toys/[a-z0-9]+/messages/[0-9a-f]+/played)"`)
	joinLink  = regexp.MustCompile(`value="(https://[^"]+/join\?s=[^"]+)"`)
)

// TestWebMessagePath: what a toy sends is listed and played in the web
// app, with delivery and play reported back to the toy; what a parent
// records in the browser reaches the toy like any message.
func TestWebMessagePath(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy := th.device("Teddy", "toy") // linked to the parents on enrollment
	toy := th.dial(teddy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	wav := recording(1.5, 7)
	id := wire.NewMessageID()
	if err := toy.Send(ctx, id, wav, nil); err != nil {
		t.Fatalf("toy to Mum: %v", err)
	}
	page := "/toys/" + teddy.Info.DeviceID
	code, body := mum.get(page)
	if code != 200 || !strings.Contains(body, id.String()) || !strings.Contains(body, `<span class="unread">new</span>`) {
		t.Fatalf("conversation: %d\n%s", code, body)
	}
	audio := audioURL.FindStringSubmatch(body)[1]
	resp, got := mum.do("GET", audio, "", nil)
	if resp.StatusCode != 200 || got != string(wav) || resp.Header.Get("Content-Type") != "audio/wav" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("audio: %d, %d bytes, %v", resp.StatusCode, len(got), resp.Header)
	}
	status := func(want string) {
		t.Helper()
		for {
			select {
			case st := <-toy.Statuses():
				if st.ID == id && st.State == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("the toy was never told %q", want)
			}
		}
	}
	status("delivered")
	played := playedURL.FindStringSubmatch(body)[1]
	if code, _ := mum.post(played, nil); code != http.StatusNoContent {
		t.Fatalf("played: %d", code)
	}
	status("played")
	if _, body := mum.get(page); strings.Contains(body, `class="unread"`) {
		t.Fatalf("conversation after playing:\n%s", body)
	}

	// Mum records in the browser; the toy receives it.
	reply := recording(2, 9)
	resp, msgID := mum.do("POST", page+"/messages", "audio/wav", reply)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("send from the web: %d %s", resp.StatusCode, msgID)
	}
	msgs := receive(t, toy, 1)
	mid, _ := wire.ParseMessageID(msgID)
	if !bytes.Equal(msgs[mid], reply) {
		t.Fatalf("the toy got %d messages, not the recording", len(msgs))
	}
	// What the toys cannot play is refused, and nothing is stored.
	for _, bad := range []struct {
		name, ct string
		body     []byte
		want     int
	}{
		{"not WAV", "audio/wav", []byte("OggS not a wav at all, but long enough to be looked at"), 400},
		{"stereo", "audio/wav", stereo(reply), 400},
		{"wrong type", "text/plain", reply, http.StatusUnsupportedMediaType},
		{"too long", "audio/wav", make([]byte, 3<<20), http.StatusRequestEntityTooLarge},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if resp, body := mum.do("POST", page+"/messages", bad.ct, bad.body); resp.StatusCode != bad.want {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	if _, body := mum.get(page); strings.Count(body, "<audio controls preload") != 2 {
		t.Fatalf("refused recordings were stored:\n%s", body)
	}
	// A cross-site page cannot make the browser send one.
	req, _ := http.NewRequest("POST", mum.base+page+"/messages", bytes.NewReader(reply))
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := mum.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site send: %v %v", resp.StatusCode, err)
	}
}

// TestWebFamilyScope: a grandparent who joins by invite in the browser
// sees and talks to only the invite's toy; no URL, guessed or copied,
// reaches anything else; parents' pages refuse them.
func TestWebFamilyScope(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy, bunny := th.device("Teddy", "toy"), th.device("Bunny", "toy")
	teddyC, bunnyC := th.dial(teddy), th.dial(bunny)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Messages of both toys to Mum.
	for _, c := range []interface {
		Send(context.Context, wire.MessageID, []byte, []string) error
	}{teddyC, bunnyC} {
		if err := c.Send(ctx, wire.NewMessageID(), recording(1, 3), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, teddyPage := mum.get("/toys/" + teddy.Info.DeviceID)
	_, bunnyPage := mum.get("/toys/" + bunny.Info.DeviceID)
	mumsTeddyAudio := audioURL.FindStringSubmatch(teddyPage)[1]
	mumsBunnyAudio := audioURL.FindStringSubmatch(bunnyPage)[1]

	// Mum invites Gran for Teddy only.
	code, body := mum.post("/family/invites", url.Values{"name": {"Gran"}, "toy": {teddy.Info.DeviceID}})
	if code != 200 || !strings.Contains(body, "data:image/png;base64,") {
		t.Fatalf("invite: %d\n%s", code, body)
	}
	link := html.UnescapeString(joinLink.FindStringSubmatch(body)[1])
	u, _ := url.Parse(link)
	secret := u.Query().Get("s")

	gran := th.webClient(t)
	if code, body := gran.get("/join?s=" + url.QueryEscape(secret)); code != 200 || !strings.Contains(body, "Welcome, Gran") {
		t.Fatalf("join page: %d", code)
	}
	for _, weak := range []string{"cloudpets", "Cloudpets2017!", "123456789012", "gran loves her grandchildren"} {
		if code, body := gran.post("/join", url.Values{"secret": {secret}, "password": {weak}, "password2": {weak}}); code != 400 || !strings.Contains(body, "choose another password") {
			t.Fatalf("weak password %q at join: %d", weak, code)
		}
	}
	const granPassword = "marmalade orbit pelican thimble"
	if code, body := gran.post("/join", url.Values{"secret": {secret}, "password": {granPassword}, "password2": {granPassword}}); code != http.StatusOK || !strings.Contains(body, "passphrase") {
		t.Fatalf("join: %d", code)
	}
	// The invite works once.
	if code, _ := th.webClient(t).post("/join", url.Values{"secret": {secret}, "password": {granPassword}, "password2": {granPassword}}); code != http.StatusForbidden {
		t.Fatalf("second join: %d", code)
	}
	th.waitAudit(t, "join.refused")

	// Until a parent approves her, she reaches nothing.
	_, home := gran.get("/")
	if !strings.Contains(home, "A parent has still to approve you") || strings.Contains(home, `data-toy="Teddy"`) {
		t.Fatalf("Gran before approval:\n%s", home)
	}
	if code, _ := gran.get("/toys/" + teddy.Info.DeviceID); code != http.StatusNotFound {
		t.Fatalf("Teddy's page before approval: %d", code)
	}
	mum.approveAll(t)
	_, home = gran.get("/")
	if !strings.Contains(home, `data-toy="Teddy"`) || strings.Contains(home, "Bunny") {
		t.Fatalf("Gran's home should list Teddy only:\n%s", home)
	}
	// Teddy sends to all its contacts, Gran now among them.
	if err := teddyC.Send(ctx, wire.NewMessageID(), recording(1, 4), nil); err != nil {
		t.Fatal(err)
	}
	// Her home counts it as new, as it does for a parent.
	if _, home := gran.get("/"); !strings.Contains(home, `<span class="unread" aria-label="1 new">1 new</span>`) {
		t.Fatalf("Gran's home has no unread count:\n%s", home)
	}
	_, granTeddy := gran.get("/toys/" + teddy.Info.DeviceID)
	granAudio := audioURL.FindAllStringSubmatch(granTeddy, -1)
	if len(granAudio) != 1 || !strings.Contains(granTeddy, `<span class="unread">new</span>`) {
		t.Fatalf("Gran sees %d of Teddy's messages, want only the one to her, marked new", len(granAudio))
	}
	if code, _ := gran.get(granAudio[0][1]); code != 200 {
		t.Fatalf("Gran's own message: %d", code)
	}
	if code, _ := gran.post(playedURL.FindStringSubmatch(granTeddy)[1], nil); code != http.StatusNoContent {
		t.Fatalf("Gran played it: %d", code)
	}
	if _, home := gran.get("/"); strings.Contains(home, `class="unread"`) {
		t.Fatalf("Gran's home after playing still counts it:\n%s", home)
	}

	refused := []struct{ method, path string }{
		{"GET", "/toys/" + bunny.Info.DeviceID}, // another toy
		{"GET", mumsTeddyAudio},                 // her toy, but a message not hers
		{"GET", mumsBunnyAudio},                 // another toy's message
		{"GET", strings.Replace(mumsBunnyAudio, bunny.Info.DeviceID, teddy.Info.DeviceID, 1)}, // another toy's message under her toy
		{"POST", "/toys/" + bunny.Info.DeviceID + "/messages"},                                // sending to another toy
		{"GET", "/toys"}, {"GET", "/family"}, {"GET", "/audit"}, {"GET", "/security"},
		{"POST", "/toys/" + teddy.Info.DeviceID + "/revoke"},
		{"POST", "/family/invites"},
	}
	for _, r := range refused {
		t.Run(r.method+r.path, func(t *testing.T) {
			ct := "application/x-www-form-urlencoded"
			var body []byte
			if strings.HasSuffix(r.path, "/messages") {
				ct, body = "audio/wav", recording(1, 5)
			}
			resp, _ := gran.do(r.method, r.path, ct, body)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
				t.Fatalf("%s %s: %d", r.method, r.path, resp.StatusCode)
			}
		})
	}
	th.waitAudit(t, "web.refused")
	if _, err := os.Stat(filepath.Join(th.cfg.DataDir, "hub.db")); err != nil {
		t.Fatal(err)
	}
	// Gran talks to Teddy from the browser.
	if resp, _ := gran.do("POST", "/toys/"+teddy.Info.DeviceID+"/messages", "audio/wav", recording(1, 6)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("Gran to Teddy: %d", resp.StatusCode)
	}
	// The parent takes Teddy away from Gran: her pages and audio go at once.
	_, fam := mum.get("/family")
	dev := regexp.MustCompile(`action="/family/people/([a-z0-9]+)/toys"`).FindStringSubmatch(fam)[1]
	if code, _ := mum.post("/family/people/"+dev+"/toys", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("unlink: %d", code)
	}
	if code, _ := gran.get(granAudio[0][1]); code != http.StatusNotFound {
		t.Fatalf("audio after unlinking: %d", code)
	}
	// Removing Gran ends her session.
	if code, _ := mum.post("/family/people/"+dev+"/remove", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if code, _ := gran.get("/"); code != http.StatusSeeOther {
		t.Fatalf("Gran after removal: %d", code)
	}
}

// TestWebTOTPAndSessions: a second factor, its replay refused, the owner
// requiring it, and ending another session.
func TestWebTOTPAndSessions(t *testing.T) {
	now := time.Now()
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	_, page := mum.get("/account/totp")
	secret := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(page)[1]
	if code, _ := mum.post("/account/totp", url.Values{"secret": {secret}, "code": {"000000"}}); code != 400 {
		t.Fatalf("wrong code accepted at enrolment: %d", code)
	}
	c0, _ := totp.GenerateCode(secret, now)
	if code, _ := mum.post("/account/totp", url.Values{"secret": {secret}, "code": {c0}}); code != http.StatusUnauthorized {
		t.Fatalf("enable without the password: %d", code)
	}
	if code, _ := mum.post("/account/totp", url.Values{"secret": {secret}, "code": {c0}, "current": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("enable: %d", code)
	}
	// A second browser: password, then code.
	other := th.webClient(t)
	login := func(w *webClient) {
		t.Helper()
		resp, _ := w.do("POST", "/login", "application/x-www-form-urlencoded", []byte(url.Values{"login": {"Mum"}, "password": {ownerPassword}}.Encode()))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/code" {
			t.Fatalf("password step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	login(other)
	if code, _ := other.get("/"); code != http.StatusSeeOther {
		t.Fatalf("a password alone opened a session: %d", code)
	}
	if code, _ := other.post("/login/code", url.Values{"code": {"123456"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", code)
	}
	// The code used to enable it is spent: a replay is refused.
	if code, _ := other.post("/login/code", url.Values{"code": {c0}}); code != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d", code)
	}
	c1, _ := totp.GenerateCode(secret, now.Add(30*time.Second))
	if code, _ := other.post("/login/code", url.Values{"code": {c1}}); code != http.StatusSeeOther {
		t.Fatalf("next code: %d", code)
	}
	if code, _ := other.get("/"); code != 200 {
		t.Fatalf("after the code: %d", code)
	}
	th.waitAudit(t, "wrong code")

	// Mum sees both sessions and ends the other one.
	_, acct := mum.get("/account")
	ids := regexp.MustCompile(`name="session" value="([0-9a-f]+)"`).FindAllStringSubmatch(acct, -1)
	if len(ids) != 1 || !strings.Contains(acct, "this browser") {
		t.Fatalf("sessions on the account page: %d\n%s", len(ids), acct)
	}
	if code, _ := other.post("/account/sessions/end", url.Values{"session": {"00" + ids[0][1][2:]}}); code != http.StatusNotFound {
		t.Fatalf("ending an unknown session: %d", code)
	}
	if code, _ := mum.post("/account/sessions/end", url.Values{"session": {ids[0][1]}}); code != http.StatusSeeOther {
		t.Fatalf("end: %d", code)
	}
	if code, _ := other.get("/"); code != http.StatusSeeOther {
		t.Fatalf("the ended session still works: %d", code)
	}

	// The owner requires a code app: an account without one can do
	// nothing but add it.
	if code, _ := mum.post("/security/totp-required", url.Values{"required": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("require: %d", code)
	}
	teddy := th.device("Teddy", "toy")
	_, body := mum.post("/family/invites", url.Values{"name": {"Gran"}, "toy": {teddy.Info.DeviceID}})
	u, _ := url.Parse(html.UnescapeString(joinLink.FindStringSubmatch(body)[1]))
	gran := th.webClient(t)
	const granPassword = "marmalade orbit pelican thimble"
	gran.post("/join", url.Values{"secret": {u.Query().Get("s")}, "password": {granPassword}, "password2": {granPassword}})
	resp, _ := gran.do("GET", "/", "", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/totp" {
		t.Fatalf("without a code app under the requirement: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := gran.get("/account/totp"); code != 200 {
		t.Fatalf("the code app page: %d", code)
	}
}

// TestWebLiveUpdates: a page's event stream says "changed" when a message
// for what it shows arrives, and carries nothing else.
func TestWebLiveUpdates(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy := th.device("Teddy", "toy")
	toy := th.dial(teddy)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", mum.base+"/events", nil)
	resp, err := mum.c.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if err := toy.Send(ctx, wire.NewMessageID(), recording(1, 8), nil); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			if strings.HasPrefix(l, "data:") && l != "data: {}" {
				t.Fatalf("the stream carries content: %q", l)
			}
			if l == "event: change" {
				return
			}
		case <-ctx.Done():
			t.Fatal("no change event for a new message")
		}
	}
}

// TestHTTPOnlyRedirects: the optional plain-HTTP port answers every
// request with a redirect to HTTPS and nothing else: no page, no cookie,
// whatever the method or path.
func TestHTTPOnlyRedirects(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr, c.HTTPRedirectAddr = "127.0.0.1:0", "127.0.0.1:0" })
	th.setupOwner(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	want := "https://127.0.0.1:" + portOnly(th.h.WebAddr()) + "/"
	for _, r := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/login"}, {"POST", "/login"}, {"GET", "/setup?token=x"}, {"GET", "/ca.pem"},
		{"GET", "/toys/abc/messages/def/audio"}, {"GET", "/events"},
	} {
		req, _ := http.NewRequest(r.method, "http://"+th.h.RedirectAddr()+r.path, strings.NewReader("login=Mum&password=x"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want ||
			len(resp.Cookies()) > 0 || strings.Contains(string(body), "<form") || strings.Contains(string(body), "CERTIFICATE") {
			t.Fatalf("%s %s: %d %q %q", r.method, r.path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
}

// TestWebToysAndInvites: renaming and removing a toy, a mistyped label
// code, and a withdrawn invite, from the parents' pages.
func TestWebToysAndInvites(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy := th.device("Teddy", "toy")
	th.device("Bunny", "toy")
	toy := th.dial(teddy)
	id := teddy.Info.DeviceID

	steps := []struct {
		name, path string
		form       url.Values
		want       int
		says       string
	}{
		{"rename", "/toys/" + id + "/rename", url.Values{"name": {"Mr Bear"}}, http.StatusSeeOther, ""},
		{"rename to a taken name", "/toys/" + id + "/rename", url.Values{"name": {"bunny"}}, 400, "already has that name"},
		{"rename to nothing", "/toys/" + id + "/rename", url.Values{"name": {"  "}}, 400, "cannot be used"},
		{"rename a missing toy", "/toys/nosuchtoy/rename", url.Values{"name": {"X"}}, 404, ""},
		{"mistyped code", "/toys/pair", url.Values{"code": {"ABCDE-12345"}, "name": {"Kitty"}}, 400, "Check each letter and number"},
		{"code without a name", "/toys/pair", url.Values{"code": {wire.NewPairingCode().String()}, "name": {""}}, 400, "cannot be paired"},
		{"invite without toys", "/family/invites", url.Values{"name": {"Grandpa"}}, 400, "Choose at least one toy"},
		{"invite with a name in use", "/family/invites", url.Values{"name": {"Mum"}, "toy": {id}}, 400, "already has that name"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, body := mum.post(s.path, s.form)
			if code != s.want || !strings.Contains(body, s.says) {
				t.Fatalf("%d, page lacks %q", code, s.says)
			}
		})
	}
	if _, body := mum.get("/"); !strings.Contains(body, `data-toy="Mr Bear"`) {
		t.Fatal("the renamed toy is not on the dashboard")
	}
	// Withdrawing an invite closes its link.
	_, body := mum.post("/family/invites", url.Values{"name": {"Grandpa"}, "toy": {id}})
	u, _ := url.Parse(html.UnescapeString(joinLink.FindStringSubmatch(body)[1]))
	_, fam := mum.get("/family")
	inv := regexp.MustCompile(`href="/family/invites/([a-z0-9]+)/revoke"`).FindStringSubmatch(fam)[1]
	if code, _ := mum.post("/family/invites/"+inv+"/revoke", nil); code != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", code)
	}
	if code, _ := th.webClient(t).get("/join?s=" + u.Query().Get("s")); code != http.StatusForbidden {
		t.Fatalf("a withdrawn invite's link: %d", code)
	}
	// Removing a toy drops its connection at once.
	if code, _ := mum.post("/toys/"+id+"/revoke", nil); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	select {
	case <-toy.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the removed toy is still connected")
	}
	if _, body := mum.get("/"); strings.Contains(body, "Mr Bear") {
		t.Fatal("the removed toy is still on the dashboard")
	}
	th.waitAudit(t, "device.revoked")
}

// TestWebPasswordChange: the current password is needed, the new one
// follows the rules (including the household's name given at setup), and
// every other session ends.
func TestWebPasswordChange(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.waitLog(t, "Setup link")
	token := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(th.logs.String())[1]
	mum := th.webClient(t)
	if code, body := mum.post("/setup", url.Values{"token": {token}, "login": {"Mum"}, "household": {"The Wilkinsons"},
		"password": {ownerPassword}, "password2": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", code, body)
	}
	other := th.webClient(t)
	if code, _ := other.post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("second login: %d", code)
	}
	const newPassword = "copper lantern meadow finch"
	for _, tt := range []struct {
		name, current, password string
		want                    int
		says                    string
	}{
		{"wrong current password", "not my password at all", newPassword, 401, "not right"},
		{"the household's name", ownerPassword, "wilkinsons forever and always", 400, "wilkinsons"},
		{"too easy", ownerPassword, "123456789012", 400, "too easy"},
		{"right", ownerPassword, newPassword, http.StatusSeeOther, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := mum.post("/account/password", url.Values{"current": {tt.current}, "password": {tt.password}, "password2": {tt.password}})
			if code != tt.want || !strings.Contains(strings.ToLower(body), tt.says) {
				t.Fatalf("%d, page lacks %q", code, tt.says)
			}
		})
	}
	if code, _ := mum.get("/"); code != 200 {
		t.Fatalf("this browser after the change: %d", code)
	}
	if code, _ := other.get("/"); code != http.StatusSeeOther {
		t.Fatalf("the other session survived the change: %d", code)
	}
	if code, _ := th.webClient(t).post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}}); code != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", code)
	}
	th.waitAudit(t, "password.changed")
}

// TestWebParentInvite: a parent's invite makes a web account that can do
// everything; a device cannot use it.
func TestWebParentInvite(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy, bunny := th.device("Teddy", "toy"), th.device("Bunny", "toy")
	code, body := mum.post("/family/invites", url.Values{"name": {"Dad"}, "role": {"parent"}})
	if code != 200 || !strings.Contains(body, "parent's account") || strings.Contains(body, "toyhub://") {
		t.Fatalf("parent invite: %d\n%s", code, body)
	}
	u, _ := url.Parse(html.UnescapeString(joinLink.FindStringSubmatch(body)[1]))
	dad := th.webClient(t)
	const dadPassword = "saffron glacier kettle ribbon"
	if code, _ := dad.post("/join", url.Values{"secret": {u.Query().Get("s")}, "password": {dadPassword}, "password2": {dadPassword}}); code != http.StatusOK {
		t.Fatalf("join: %d", code)
	}
	if code, _ := dad.get("/toys"); code != 200 {
		t.Fatalf("a parent's toys page: %d", code)
	}
	_, home := dad.get("/")
	for _, toy := range []string{"Teddy", "Bunny"} {
		if !strings.Contains(home, `data-toy="`+toy+`"`) {
			t.Fatalf("Dad does not see %s", toy)
		}
	}
	// A toy paired later, and the toys already there, can message him.
	for _, b := range []string{teddy.Info.DeviceID, bunny.Info.DeviceID} {
		if resp, _ := dad.do("POST", "/toys/"+b+"/messages", "audio/wav", recording(1, 2)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("Dad to a toy: %d", resp.StatusCode)
		}
	}
	// The same kind of invite, taken by a device, is refused.
	var res control.InviteResult
	if err := call(th.cfg.DataDir, control.InviteCreate, control.InviteArgs{Name: "Uncle", Role: "parent"}, &res); err != nil {
		t.Fatal(err)
	}
	if res.WebLink == "" || !strings.Contains(res.WebLink, "/join?s=") {
		t.Fatalf("no web link for a parent's invite: %+v", res)
	}
	inv, err := wire.ParseInvite(res.Link)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := certs.NewKey()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inv.Hub = []string{th.h.EnrollAddr()}
	if _, err := devices.Join(ctx, inv, key); err == nil || !strings.Contains(err.Error(), "web browser") {
		t.Fatalf("a device took a parent's invite: %v", err)
	}
}

// approveAll approves, as a parent, every contact waiting on the family page.
func (w *webClient) approveAll(t *testing.T) {
	t.Helper()
	_, fam := w.get("/family")
	forms := regexp.MustCompile(`action="/family/approve" class="inline"><input type="hidden" name="person" value="([a-z0-9]+)"><input type="hidden" name="toy" value="([a-z0-9]+)">`).FindAllStringSubmatch(fam, -1)
	if len(forms) == 0 {
		t.Fatalf("nothing waits for approval:\n%s", fam)
	}
	for _, f := range forms {
		if code, _ := w.post("/family/approve", url.Values{"person": {f[1]}, "toy": {f[2]}}); code != http.StatusSeeOther {
			t.Fatalf("approve: %d", code)
		}
	}
}
