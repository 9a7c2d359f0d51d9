package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type app struct {
	t     *testing.T
	st    *store.Store
	srv   *Server
	ts    *httptest.Server
	clk   *clock
	token string
}

// testHousehold makes the owner's account in the real store and answers
// the few questions every page asks; it does nothing else. These tests
// cover the web app's own door (sessions, logins, the route guard, the
// security headers): every operation is tested through the real hub in
// package hub, and a call to one here fails the test (the embedded
// Household is nil).
type testHousehold struct {
	Household
	st *store.Store
}

func (h testHousehold) Setup(ctx context.Context, by Actor, o Owner) (store.User, error) {
	hash, err := password.Hash(o.Password)
	if err != nil {
		return store.User{}, err
	}
	return h.st.CreateOwner(ctx, o.Token, store.NewUser{ID: "owner", DeviceID: wire.NewDeviceID(), Login: o.Login,
		Email: o.Email, PasswordHash: hash, PolicyVersion: password.PolicyVersion})
}

func (testHousehold) Online(string) bool                           { return false }
func (testHousehold) TOTPRequired(context.Context) bool            { return false }
func (testHousehold) LoginFailed()                                 {}
func (testHousehold) Invites(context.Context) ([]InviteRow, error) { return nil, nil }
func (testHousehold) Watch() (<-chan []string, func())             { return make(chan []string), func() {} }
func (testHousehold) RemotePublic() string                         { return "" }
func (testHousehold) RemoteStatus(context.Context, Actor) (RemoteView, error) {
	return RemoteView{}, nil
}

// newApp serves the web app over real TLS with a real store.
func newApp(t *testing.T) *app {
	t.Helper()
	clk := &clock{t: time.Now()}
	dir := t.TempDir()
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(dir, "hub.db"), MasterKeyPath: filepath.Join(dir, "m.key"), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := New(Config{CAPEM: []byte("-----BEGIN CERTIFICATE-----\n"), CACode: "1234 5678 9012 3456", Logger: slog.New(slog.DiscardHandler), Now: clk.now},
		st, testHousehold{st: st})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(ts.Close)
	a := &app{t: t, st: st, srv: srv, ts: ts, clk: clk, token: newToken()}
	if err := st.SetSetupToken(context.Background(), a.token); err != nil {
		t.Fatal(err)
	}
	return a
}

// browser is a client with its own cookies that does not follow redirects.
func (a *app) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *a.ts.Client() // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (a *app) do(c *http.Client, method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, a.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const goodPassword = "violet tractor umbrella geology"

func (a *app) setupOwner(c *http.Client) {
	a.t.Helper()
	resp, body := a.do(c, "POST", "/setup", url.Values{"token": {a.token}, "login": {"Mum"}, "email": {"mum@example.org"},
		"password": {goodPassword}, "password2": {goodPassword}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		a.t.Fatalf("setup: %d %s", resp.StatusCode, body)
	}
}

// TestSetupPage: before setup, everything but the setup and trust pages
// refuses; afterwards, the setup page is gone. (What setup refuses is
// tested through the real hub, in package hub.)
func TestSetupPage(t *testing.T) {
	a := newApp(t)
	c := a.browser()
	for _, path := range []string{"/", "/login"} {
		if resp, body := a.do(c, "GET", path, nil, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not set up yet") {
			t.Fatalf("GET %s before setup: %d", path, resp.StatusCode)
		}
	}
	if resp, _ := a.do(c, "GET", "/trust", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatal("the CA page is not public")
	}
	if resp, body := a.do(c, "POST", "/setup", url.Values{"token": {a.token}, "login": {"Mum"}, "password": {goodPassword}, "password2": {goodPassword + "x"}}, nil); resp.StatusCode != 400 || !strings.Contains(body, "differ") {
		t.Fatalf("passwords that differ: %d", resp.StatusCode)
	}
	a.setupOwner(c)
	var cookie *http.Cookie
	for _, k := range c.Jar.Cookies(mustURL(a.ts.URL)) {
		if k.Name == sessionCookie {
			cookie = k
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	resp, body := a.do(c, "GET", "/", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/account">Mum</a>`) {
		t.Fatalf("home after setup: %d", resp.StatusCode)
	}
	if resp, _ := a.do(c, "GET", "/setup?token="+a.token, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("setup after setup: %d", resp.StatusCode)
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

func TestSessionCookie(t *testing.T) {
	a := newApp(t)
	c := a.browser()
	resp, _ := a.do(c, "POST", "/setup", url.Values{"token": {a.token}, "login": {"Mum"}, "password": {goodPassword}, "password2": {goodPassword}}, nil)
	raw := resp.Header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, "Domain=") {
		t.Errorf("a __Host- cookie has a Domain: %q", raw)
	}
	// The cookie holds 160 random bits.
	v := strings.TrimPrefix(strings.SplitN(raw, ";", 2)[0], sessionCookie+"=")
	if len(v) != 32 {
		t.Errorf("token %q", v)
	}
}

func TestLogin(t *testing.T) {
	a := newApp(t)
	a.setupOwner(a.browser())
	c := a.browser()
	if resp, _ := a.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("home without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	login := func(c *http.Client, name, pw string, header map[string]string) *http.Response {
		resp, _ := a.do(c, "POST", "/login", url.Values{"login": {name}, "password": {pw}}, header)
		return resp
	}
	if resp := login(c, "Mum", "wrong password!!", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp := login(c, "nobody", goodPassword, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown name: %d", resp.StatusCode)
	}
	// A cross-origin login form is refused before the handler.
	if resp := login(c, "Mum", goodPassword, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	if resp := login(c, "mum", goodPassword, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", resp.StatusCode)
	}
	if resp := login(c, "mum", goodPassword, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if resp, body := a.do(c, "GET", "/", nil, nil); resp.StatusCode != 200 || !strings.Contains(body, `href="/account">Mum</a>`) {
		t.Fatalf("home after login: %d", resp.StatusCode)
	}
	old := c.Jar.Cookies(mustURL(a.ts.URL))
	if resp, _ := a.do(c, "POST", "/logout", url.Values{}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// The old cookie opens nothing: the session ended on the hub.
	c2 := a.browser()
	c2.Jar.SetCookies(mustURL(a.ts.URL), old)
	if resp, _ := a.do(c2, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the logged-out cookie still works: %d", resp.StatusCode)
	}
	// Audit events are written in the background; the writer's queue is
	// in order, so a checkpoint waits for them.
	a.st.Checkpoint(context.Background())
	log, _ := a.st.AuditLog(context.Background(), 20)
	var events []string
	for _, e := range log {
		events = append(events, string(e.Kind))
	}
	for _, want := range []string{"login.ok", "login.failed", "logout"} {
		if !strings.Contains(strings.Join(events, " "), want) {
			t.Errorf("audit log lacks %s: %v", want, events)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	a := newApp(t)
	a.setupOwner(a.browser())
	c := a.browser()
	try := func(pw string) int {
		resp, _ := a.do(c, "POST", "/login", url.Values{"login": {"Mum"}, "password": {pw}}, nil)
		return resp.StatusCode
	}
	for range 3 {
		if got := try("wrong password!!"); got != http.StatusUnauthorized {
			t.Fatalf("failure: %d", got)
		}
	}
	// Now even the right password must wait, and the wait grows.
	if got := try(goodPassword); got != http.StatusTooManyRequests {
		t.Fatalf("right password during the delay: %d", got)
	}
	a.clk.advance(3 * time.Second)
	if got := try("wrong password!!"); got != http.StatusUnauthorized {
		t.Fatalf("after the delay: %d", got)
	}
	a.clk.advance(3 * time.Second)
	if got := try(goodPassword); got != http.StatusTooManyRequests {
		t.Fatalf("the second delay is longer: %d", got)
	}
	a.clk.advance(5 * time.Second)
	if got := try(goodPassword); got != http.StatusSeeOther {
		t.Fatalf("after the second delay: %d", got)
	}
}

// browserFrom is a browser at another address (a loopback one), as
// another machine would be.
func (a *app) browserFrom(src string) *http.Client {
	c := a.browser()
	tr := c.Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext
	c.Transport = tr
	return c
}

// TestLoginRule: the rule the README states. Each address has three free
// failures; the account has ten from places it has not seen, after which
// strangers wait, even with the right password; the owner's browser and
// address never wait for them; and a stranger is slowed, not locked out.
func TestLoginRule(t *testing.T) {
	a := newApp(t)
	mum := a.browser() // 127.0.0.1: the owner sets up from here
	a.setupOwner(mum)
	try := func(c *http.Client, pw string) int {
		resp, _ := a.do(c, "POST", "/login", url.Values{"login": {"Mum"}, "password": {pw}}, nil)
		return resp.StatusCode
	}
	got := map[int]int{}
	for i := range 4 {
		c := a.browserFrom(fmt.Sprintf("127.0.0.%d", i+2))
		for range 3 {
			got[try(c, "a stranger's guess")]++
		}
	}
	if got[http.StatusUnauthorized] != 10 || got[http.StatusTooManyRequests] != 2 {
		t.Fatalf("12 guesses from 4 addresses: %v, want the account's 10 checked", got)
	}
	steps := []struct {
		name    string
		c       *http.Client
		advance time.Duration
		want    int
	}{
		{"a stranger with the right password waits", a.browserFrom("127.0.0.9"), 0, http.StatusTooManyRequests},
		{"the owner's browser does not", mum, 0, http.StatusSeeOther},
		{"nor a new browser at her address", a.browser(), 0, http.StatusSeeOther},
		{"the stranger, after the wait", a.browserFrom("127.0.0.9"), 3 * time.Second, http.StatusSeeOther},
	}
	for _, s := range steps {
		a.clk.advance(s.advance)
		if got := try(s.c, goodPassword); got != s.want {
			t.Fatalf("%s: %d, want %d", s.name, got, s.want)
		}
	}
}

// TestRefusalsAudited: logins told to wait are in the audit log one by
// one up to 20 a minute, then as one count, so that a flood cannot fill
// the disk with them.
func TestRefusalsAudited(t *testing.T) {
	a := newApp(t)
	a.setupOwner(a.browser())
	c := a.browserFrom("127.0.0.2")
	for i := range 53 {
		a.do(c, "POST", "/login", url.Values{"login": {"Mum"}, "password": {fmt.Sprintf("guess %d", i)}}, nil)
	}
	count := func() (one, summaries int) {
		// The writer is in order: once this entry is in, so are the others.
		if err := a.st.AuditSync(context.Background(), store.Event{Kind: store.EvSessionEnded}); err != nil {
			t.Fatal(err)
		}
		log, err := a.st.AuditLog(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range log {
			switch {
			case e.Kind == store.EvLoginRefused && strings.Contains(e.Detail, "30 more"):
				summaries++
			case e.Kind == store.EvLoginRefused:
				one++
			}
		}
		return one, summaries
	}
	if one, _ := count(); one != 20 {
		t.Fatalf("%d refusals recorded one by one, want 20 of the 50", one)
	}
	a.clk.advance(time.Minute)
	for _, pw := range []string{"checked after the wait", "told to wait again"} {
		a.do(c, "POST", "/login", url.Values{"login": {"Mum"}, "password": {pw}}, nil)
	}
	if one, summaries := count(); one != 21 || summaries != 1 {
		t.Fatalf("after a minute: %d one by one, %d counts; want 21 and one count of the 30 left out", one, summaries)
	}
}

func TestSessionExpiry(t *testing.T) {
	a := newApp(t)
	c := a.browser()
	a.setupOwner(c)
	a.clk.advance(29 * time.Minute)
	if resp, _ := a.do(c, "GET", "/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("within the idle timeout: %d", resp.StatusCode)
	}
	a.clk.advance(31 * time.Minute)
	if resp, _ := a.do(c, "GET", "/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the idle timeout: %d", resp.StatusCode)
	}
}

// TestEveryRoute walks the route table: every response carries the
// security headers, and every route that is not public refuses a browser
// without a session.
func TestEveryRoute(t *testing.T) {
	a := newApp(t)
	a.setupOwner(a.browser())
	c := a.browser()
	for _, rt := range Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.ReplaceAll(path, "{$}", "")
		t.Run(rt.Pattern, func(t *testing.T) {
			var form url.Values
			if method == "POST" {
				form = url.Values{}
			}
			resp, _ := a.do(c, method, path, form, nil)
			for h, want := range map[string]string{
				"Content-Security-Policy": "default-src 'self'",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-store",
			} {
				if !strings.Contains(resp.Header.Get(h), want) {
					t.Errorf("%s: %q", h, resp.Header.Get(h))
				}
			}
			switch rt.Access {
			case Public, Anonymous:
				if resp.StatusCode >= 500 {
					t.Errorf("status %d", resp.StatusCode)
				}
			case SetupOnly:
				if resp.StatusCode != http.StatusGone {
					t.Errorf("after setup: %d", resp.StatusCode)
				}
			default:
				if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("without a session: %d", resp.StatusCode)
				}
			}
		})
	}
	resp, _ := a.do(c, "GET", a.srv.static+"app.css", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("static: %d", resp.StatusCode)
	}
}

// TestCrossOriginEveryPost walks the route table with a logged-in
// browser: every state-changing route refuses a cross-site request.
func TestCrossOriginEveryPost(t *testing.T) {
	a := newApp(t)
	c := a.browser()
	a.setupOwner(c)
	for _, rt := range Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if method != "POST" {
			continue
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			for _, h := range []map[string]string{
				{"Sec-Fetch-Site": "cross-site"},
				{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
			} {
				if resp, _ := a.do(c, method, path, url.Values{}, h); resp.StatusCode != http.StatusForbidden {
					t.Fatalf("cross-origin %v: %d", h, resp.StatusCode)
				}
			}
		})
	}
}

func TestCheckTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_800_000_000, 0)
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	step := now.Unix() / 30
	tests := []struct {
		name string
		code string
		ok   bool
		step int64
	}{
		{"now", code(now), true, step},
		{"with spaces", code(now)[:3] + " " + code(now)[3:], true, step},
		{"one step late", code(now.Add(-30 * time.Second)), true, step - 1},
		{"one step early", code(now.Add(30 * time.Second)), true, step + 1},
		{"two steps late", code(now.Add(-60 * time.Second)), false, 0},
		{"empty", "", false, 0},
		{"too long", code(now) + "1", false, 0},
		{"letters", "abcdef", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := checkTOTP(secret, tt.code, now)
			if ok != tt.ok || s != tt.step {
				t.Fatalf("checkTOTP(%q) = %d, %v; want %d, %v", tt.code, s, ok, tt.step, tt.ok)
			}
		})
	}
}

// TestKnownBounded: the browsers and addresses known to accounts stay
// within their bound however many log in, the newest kept.
func TestKnownBounded(t *testing.T) {
	k := &known{max: 100, m: map[string]time.Time{}}
	now := time.Now()
	for i := range 1000 {
		k.add(now.Add(time.Duration(i)*time.Second), fmt.Sprintf("user%d", i), fmt.Sprintf("browser %d", i), fmt.Sprintf("address %d", i))
	}
	if len(k.m) > 100 {
		t.Fatalf("%d entries, want at most 100", len(k.m))
	}
	last := now.Add(999 * time.Second)
	if !k.has(last, "user999", "browser 999") || !k.any(last, "address 999") {
		t.Fatal("the newest login was evicted")
	}
}
