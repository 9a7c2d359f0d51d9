package hub_test

import (
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/internal/webflood"
)

// The breaches of issue 15, each reproduced against the real hub with its
// default limits; each attacker sends from a loopback address of its own,
// as another machine on the LAN would. The owner, Mum, set the hub up
// from 127.0.0.1 (th.webClient's address), so the hub knows it.

// webTarget is the hub's web app, trusted by the household CA, with a
// session cache shared by every client made from it.
func (th *testHub) webTarget(t *testing.T) webflood.Target {
	t.Helper()
	pool := th.caPool(t)
	return webflood.Target{Addr: th.h.WebAddr(), TLS: &tls.Config{RootCAs: pool, ServerName: "localhost",
		ClientSessionCache: tls.NewLRUClientSessionCache(64)}}
}

// guessAtOnce sends n wrong logins for login at once from each of srcs
// and counts the answers by status.
func guessAtOnce(t *testing.T, target webflood.Target, srcs []string, login string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for _, src := range srcs {
		c := webflood.NewClient(target, src)
		t.Cleanup(c.Close)
		for i := range n {
			wg.Go(func() {
				status, err := c.Post("/login", url.Values{"login": {login}, "password": {fmt.Sprintf("guess %d from %s", i, src)}})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got[status]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return got
}

// TestGuessesCountedAtOnce: guesses sent at once are counted as they
// come: 31 at once from one address get its 3 free checks, and 120 at
// once from four addresses for one name get the name's 10, however they
// interleave. Every other guess waits (429) without a password check.
func TestGuessesCountedAtOnce(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.setupOwner(t)
	target := th.webTarget(t)
	tests := []struct {
		name    string
		srcs    []string
		login   string
		each    int
		checked int
	}{
		{"31 from one address", []string{"127.0.0.2"}, "Mum", 31, 3},
		{"120 from four addresses", []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}, "Grandpa", 30, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := guessAtOnce(t, target, tt.srcs, tt.login, tt.each)
			if got[http.StatusUnauthorized] != tt.checked || got[http.StatusTooManyRequests] != len(tt.srcs)*tt.each-tt.checked {
				t.Fatalf("answers %v: want %d checked (401), the rest told to wait (429)", got, tt.checked)
			}
		})
	}
}

// TestFloodKeepsTheLimits: nine thousand addresses, more than the login
// limiter keeps, each trying the owner's account once, evict nobody who
// counts: the address that guessed still waits, the account still makes
// strangers wait, and the owner still logs in from her own browser.
func TestFloodKeepsTheLimits(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	target := th.webTarget(t)
	if got := guessAtOnce(t, target, []string{"127.0.0.2"}, "Mum", 4); got[http.StatusTooManyRequests] != 1 {
		t.Fatalf("the guessing address is not waiting: %v", got)
	}
	// The flood: each address once, eight at a time.
	const n = 9000
	work := make(chan int)
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				src := fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
				status, err := webflood.Post(target, src, "/login", url.Values{"login": {"Mum"}, "password": {"flood " + src}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[status]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("the flood's answers: %v", got)
	// The account's ten free guesses, then one after each wait of 2, 4,
	// 8, 16 and 32 s: a flood of a minute gets 15 at most.
	if got[http.StatusUnauthorized] > 15 {
		t.Fatalf("%d of the flood's guesses were checked", got[http.StatusUnauthorized])
	}
	// Both counts survived the flood: two guesses at once, from the
	// address or from a stranger at the account, get one check at most
	// (forgotten, the address would get both).
	for _, src := range []string{"127.0.0.2", "127.0.0.77"} {
		if got := guessAtOnce(t, target, []string{src}, "Mum", 2); got[http.StatusUnauthorized] > 1 || got[http.StatusTooManyRequests] < 1 {
			t.Fatalf("after the flood, two guesses from %s: %v", src, got)
		}
	}
	if code, _ := mum.post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}}); code != http.StatusSeeOther {
		t.Fatalf("the owner, from her own browser: %d", code)
	}
}

// TestOwnerLogsInDuringAttack: while strangers keep guessing the owner's
// password from twelve addresses, she logs in from her browser, from a
// new browser at her own address, and with her browser from an address
// the hub has never seen (her phone on another network).
func TestOwnerLogsInDuringAttack(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	target := th.webTarget(t)
	var srcs []string
	for i := range 12 {
		srcs = append(srcs, fmt.Sprintf("127.0.1.%d", i+1))
	}
	stop := make(chan struct{})
	var attack *webflood.Result
	var wg sync.WaitGroup
	wg.Go(func() { attack = webflood.Guesses(target, srcs, webflood.WrongPassword("Mum"), 2, stop) })
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(3 * time.Second) // the account's ten free guesses are spent
	// Her cookie, as her own browser keeps it, on another address.
	var known *http.Cookie
	for _, c := range mum.c.Jar.Cookies(&url.URL{Scheme: "https", Host: th.h.WebAddr()}) {
		if c.Name == "__Host-toyhub-known" {
			known = c
		}
	}
	if known == nil {
		t.Fatal("setting up did not mark the owner's browser as known")
	}
	phone := webflood.NewClient(webflood.Target{Addr: target.Addr, TLS: target.TLS}, "127.0.2.1")
	defer phone.Close()
	ways := []struct {
		name  string
		login func() int
	}{
		{"her browser", func() int {
			code, _ := mum.post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}})
			return code
		}},
		{"a new browser at her address", func() int {
			code, _ := th.webClient(t).post("/login", url.Values{"login": {"Mum"}, "password": {ownerPassword}})
			return code
		}},
		{"her browser on a new network", func() int {
			req, _ := http.NewRequest("POST", "https://"+target.Addr+"/login",
				strings.NewReader(url.Values{"login": {"Mum"}, "password": {ownerPassword}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.AddCookie(&http.Cookie{Name: known.Name, Value: known.Value})
			tr := &http.Transport{TLSClientConfig: target.TLS.Clone(), DialContext: webflood.Dialer("127.0.2.1").DialContext}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			for i := range 3 {
				if code := w.login(); code != http.StatusSeeOther {
					t.Fatalf("login %d during the attack: %d", i+1, code)
				}
			}
		})
	}
	if attack != nil && attack.Count(http.StatusTooManyRequests) == 0 {
		t.Fatal("the attack was never told to wait")
	}
}

// TestInvitesDuringLoginFlood: logins with an empty name, and wrong
// passwords, from an address do not stop an invite opened from it; wrong
// invite links slow only the address that sends them.
func TestInvitesDuringLoginFlood(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy := th.device("Teddy", "toy")
	target := th.webTarget(t)
	newInvite := func(name string) string {
		_, body := mum.post("/family/invites", url.Values{"name": {name}, "toy": {teddy.Info.DeviceID}})
		m := joinLink.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no invite link for %s", name)
		}
		u, _ := url.Parse(html.UnescapeString(m[1]))
		return u.Query().Get("s")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { webflood.Guesses(target, []string{"127.0.0.3"}, webflood.WrongPassword(""), 2, stop) })
	wg.Go(func() { webflood.Guesses(target, []string{"127.0.0.3"}, webflood.WrongPassword("Mum"), 2, stop) })
	time.Sleep(2 * time.Second)
	secret := newInvite("Grandma Rose")
	gran := webflood.NewClient(target, "127.0.0.3") // the flooding address
	defer gran.Close()
	const granPassword = "marmalade orbit pelican thimble"
	code, err := gran.Post("/join", url.Values{"secret": {secret}, "password": {granPassword}, "password2": {granPassword}})
	close(stop)
	wg.Wait()
	if err != nil || code != http.StatusOK {
		t.Fatalf("an invite during a login flood from its address: %d %v", code, err)
	}
	// Wrong links: five free, then the address waits; another does not.
	for i := range 6 {
		status, _ := webflood.Post(target, "127.0.0.4", "/join", url.Values{"secret": {fmt.Sprintf("not-a-secret-%d", i)}})
		want := http.StatusForbidden
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if status != want {
			t.Fatalf("wrong invite %d: %d, want %d", i+1, status, want)
		}
	}
	if status, _ := webflood.Post(target, "127.0.0.5", "/join", url.Values{"secret": {newInvite("Grandpa Joe")}, "password": {granPassword + " two"},
		"password2": {granPassword + " two"}}); status != http.StatusOK {
		t.Fatalf("an invite from another address after wrong links: %d", status)
	}
	th.waitAudit(t, "join.refused")
}

// TestReauthentication: a new password, a code app added or removed, an
// export and a wipe each need the password again, and the code where the
// account has one; wrong answers are audited, and after three the next
// waits.
func TestReauthentication(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	_, page := mum.get("/account/totp")
	secret := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(page)[1]
	codeAt := func(step int) string {
		c, _ := totp.GenerateCode(secret, time.Now().Add(time.Duration(step)*30*time.Second))
		return c
	}
	const newPassword = "saffron lighthouse quartz meadow"
	steps := []struct {
		name string
		path string
		form url.Values
		want int
	}{
		{"a code app without the password", "/account/totp", url.Values{"secret": {secret}, "code": {codeAt(0)}}, http.StatusUnauthorized},
		{"a code app with it", "/account/totp", url.Values{"secret": {secret}, "code": {codeAt(0)}, "current": {ownerPassword}}, http.StatusSeeOther},
		{"a new password without the code", "/account/password", url.Values{"current": {ownerPassword}, "password": {newPassword}, "password2": {newPassword}}, http.StatusUnauthorized},
		{"a plain export without the code", "/export", url.Values{"plain": {"1"}, "current": {ownerPassword}}, http.StatusUnauthorized},
		{"a wrong password to delete everything", "/wipe", url.Values{"confirm": {"delete everything"}, "current": {"not it at all"}, "reauth_code": {codeAt(1)}}, http.StatusUnauthorized},
		{"removing the code app with a wrong code", "/account/totp/remove", url.Values{"current": {ownerPassword}, "reauth_code": {"000000"}}, http.StatusTooManyRequests},
	}
	for _, s := range steps {
		if code, _ := mum.post(s.path, s.form); code != s.want {
			t.Fatalf("%s: %d, want %d", s.name, code, s.want)
		}
	}
	for _, kind := range []string{"reauth.refused", "password.change_refused", "wipe.refused"} {
		th.waitAudit(t, kind)
	}
	// The console removes the code app for a lost phone; the password
	// alone logs in again.
	if err := call(th.cfg.DataDir, control.RemoveCode, control.LoginArgs{Login: "Mum"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := call(th.cfg.DataDir, control.RemoveCode, control.LoginArgs{Login: "Mum"}, nil); err == nil || !strings.Contains(err.Error(), "no code app") {
		t.Fatalf("removing a code app twice: %v", err)
	}
	th.waitAudit(t, "totp.removed")
	if code, _ := mum.get("/"); code != http.StatusSeeOther {
		t.Fatalf("a session survived the code app's removal: %d", code)
	}
	resp, _ := mum.do("POST", "/login", "application/x-www-form-urlencoded", []byte(url.Values{"login": {"Mum"}, "password": {ownerPassword}}.Encode()))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("the password alone after the removal: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestSetupRace: of setups sent at once with the right link, one creates
// the owner and every other is told the hub is set up (410).
func TestSetupRace(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	th.waitLog(t, "Setup link")
	token := regexp.MustCompile(`token=([a-z0-9]+)`).FindStringSubmatch(th.logs.String())[1]
	target := th.webTarget(t)
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			code, err := webflood.Post(target, fmt.Sprintf("127.0.3.%d", i+1), "/setup", url.Values{"token": {token},
				"login": {fmt.Sprintf("Owner %c", 'A'+i)}, "password": {ownerPassword}, "password2": {ownerPassword}})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[http.StatusSeeOther] != 1 || got[http.StatusGone] != 7 {
		t.Fatalf("answers to 8 setups at once: %v, want one 303 and seven 410", got)
	}
}

// TestWebLeftovers: no directory is listed, and invite links use the
// hub's configured name, whatever Host the request named.
func TestWebLeftovers(t *testing.T) {
	th := startHub(t, func(c *hub.Config) {
		c.WebAddr = "127.0.0.1:0"
		c.AdvertiseHosts = []string{"toyhub.example:8883"}
	})
	mum := th.setupOwner(t)
	_, home := mum.get("/")
	static := regexp.MustCompile(`(/static/[0-9a-f]+/)app\.js`).FindStringSubmatch(home)
	if static == nil {
		t.Fatal("no static files on the home page")
	}
	for path, want := range map[string]int{static[1]: 404, static[1] + "app.js": 200} {
		if code, _ := mum.get(path); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	teddy := th.device("Teddy", "toy")
	req, _ := http.NewRequest("POST", mum.base+"/family/invites", strings.NewReader(url.Values{"name": {"Gran"}, "toy": {teddy.Info.DeviceID}}.Encode()))
	req.Host = "evil.example"
	for _, c := range mum.c.Jar.Cookies(req.URL) { // Go's client picks cookies by req.Host
		req.AddCookie(c)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := mum.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := joinLink.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("no invite link (%d): %s", resp.StatusCode, page)
	}
	if link := html.UnescapeString(m[1]); strings.Contains(link, "evil.example") || !strings.HasPrefix(link, "https://toyhub.example:") {
		t.Fatalf("the invite link is %s", link)
	}
	// Names that hide what they say, or imitate another's, are refused.
	for _, name := range []string{"Gran\u202eydder", "Gr\u200ban", "Grаn"} {
		code, body := mum.post("/family/invites", url.Values{"name": {name}, "toy": {teddy.Info.DeviceID}})
		if code != http.StatusBadRequest || joinLink.MatchString(body) {
			t.Errorf("invite for %q: %d", name, code)
		}
	}
}
