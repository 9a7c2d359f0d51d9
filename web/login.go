package web

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
)

// newToken returns 160 random bits for sessions and setup links.
func newToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	token := newToken() // a new token at every login
	if err := s.st.CreateSession(r.Context(), token, u.ID, remoteIP(r)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.AbsoluteTimeout.Seconds())})
	return nil
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", formData{})
}

// dummyHash keeps a login for an unknown name as slow as for a known one.
// It is made on first use, not at start: every toyhub command, and the
// hub's resident memory, would otherwise pay for an Argon2id hash.
var dummyHash = sync.OnceValue(func() string {
	h, _ := password.Hash("toyhub dummy password, never matches")
	return h
})

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	login := strings.TrimSpace(r.PostFormValue("login"))
	pw := r.PostFormValue("password")
	ip, now := remoteIP(r), s.cfg.Now()
	u, uerr := s.st.UserByLogin(r.Context(), login)
	if bound, ok := certAccount(r); ok && uerr == nil && u.ID != bound {
		// At the remote door, a browser's certificate is its account's:
		// another account's password does not open it, and is told so no
		// differently from a wrong one.
		u, uerr = store.User{}, store.ErrNotFound
	}
	account := "name " + store.NormalizeName(login)
	if uerr == nil {
		account = "user " + u.ID
	}
	where, keys := s.where(r)
	known := uerr == nil && s.limits.known.has(now, u.ID, keys...)
	// Attempts are taken before the password is checked: guesses sent at
	// once are counted as they come.
	if wait, ok := s.limits.loginSource.Reserve(where, now, false); !ok {
		s.tooManyLogins(w, r, login, wait)
		return
	}
	if !known {
		if wait, ok := s.limits.loginAccount.Reserve(account, now, uerr == nil); !ok {
			s.limits.loginSource.Refund(where)
			s.tooManyLogins(w, r, login, wait)
			return
		}
		// Strangers share a few places for the password check, and a
		// bounded queue for them; a family member's browser or address
		// never waits behind them.
		if !s.strangers.enter(r.Context()) {
			s.limits.loginSource.Refund(where)
			s.limits.loginAccount.Refund(account)
			w.Header().Set("Retry-After", "5")
			s.render(w, http.StatusServiceUnavailable, "login", formData{Login: login, Error: "The hub is busy. Wait a few seconds, then try again."})
			return
		}
		defer s.strangers.leave()
	}
	hash := u.PasswordHash
	if uerr != nil {
		hash = dummyHash()
	}
	ok, verr := password.Verify(pw, hash)
	if uerr != nil || verr != nil || !ok {
		s.hh.LoginFailed()
		s.st.Audit(store.Event{Kind: store.EvLoginFailed, User: u.ID, Remote: ip})
		s.log.Warn("Login failed", "user", u.ID, "remote", ip)
		s.render(w, http.StatusUnauthorized, "login", formData{Login: login, Error: "That name and password do not match."})
		return
	}
	// A right password is not a failure. The account's count stays for
	// the places it has not seen: a stranger's guesses keep costing.
	s.limits.loginSource.Succeeded(where)
	if !known {
		s.limits.loginAccount.Refund(account)
	}
	if u.TOTPSecret != "" {
		// The password was right; the session waits for the code.
		token := s.pending.add(u.ID, now)
		http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: token, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: int(pendingLife.Seconds())})
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		return
	}
	s.loggedIn(w, r, u)
}

// tooManyLogins refuses a login that must wait.
func (s *Server) tooManyLogins(w http.ResponseWriter, r *http.Request, login string, wait time.Duration) {
	secs := int(wait.Seconds() + 1)
	ok, more := s.refusals.take(s.cfg.Now())
	if more > 0 {
		s.st.Audit(store.Event{Kind: store.EvLoginRefused, Detail: fmt.Sprintf("rate limited: %d more in the last minute, not recorded one by one", more)})
	}
	if ok {
		s.st.Audit(store.Event{Kind: store.EvLoginRefused, Remote: remoteIP(r), Detail: "rate limited"})
	}
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	s.render(w, http.StatusTooManyRequests, "login", formData{Login: login,
		Error: fmt.Sprintf("Too many failed attempts. Wait %d seconds, then try again.", secs)})
}

// knownCookie names a browser that has logged in before: the limiters
// count its attempts apart from its address's, and let it skip an
// account's wait (see limits).
const knownCookie = "__Host-toyhub-known"

// where says where a login comes from, for the limiters: a browser that
// has logged in here before, or else the address (an IPv6 /64). keys are
// what known may remember of it.
func (s *Server) where(r *http.Request) (where string, keys []string) {
	src := "address " + source(r)
	keys = []string{src}
	if c, err := r.Cookie(knownCookie); err == nil && c.Value != "" && len(c.Value) <= 64 {
		b := "browser " + c.Value
		keys = append(keys, b)
		if s.limits.known.any(s.cfg.Now(), b) {
			return b, keys
		}
	}
	return src, keys
}

func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request, u store.User) {
	if s.logIn(w, r, u) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
}

// logIn starts u's session in this browser, remembers the browser, and
// records the login; false when it failed (and the page says so).
func (s *Server) logIn(w http.ResponseWriter, r *http.Request, u store.User) bool {
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return false
	}
	s.remember(w, r, u)
	s.st.Audit(store.Event{Kind: store.EvLogin, User: u.ID, Remote: remoteIP(r)})
	s.log.Info("Logged in", "user", u.ID, "remote", remoteIP(r))
	return true
}

// remember marks the browser (with a cookie) and the address as known to
// the account, after a login: see limits.
func (s *Server) remember(w http.ResponseWriter, r *http.Request, u store.User) {
	browser := newToken()
	if c, err := r.Cookie(knownCookie); err == nil && len(c.Value) == len(browser) {
		browser = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: knownCookie, Value: browser, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(knownFor.Seconds())})
	s.limits.known.add(s.cfg.Now(), u.ID, "address "+source(r), "browser "+browser)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if err := s.st.EndSession(r.Context(), cur.session.TokenHash); err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.st.Audit(store.Event{Kind: store.EvLogout, User: cur.user.ID, Remote: remoteIP(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// pendingLogins are logins whose password was right and whose code is
// still to come: in memory only, for five minutes, and five tries.
type pendingLogins struct {
	mu sync.Mutex
	m  map[string]*pendingLogin
}

type pendingLogin struct {
	user    string
	expires time.Time
	tries   int
}

const (
	pendingCookie = "__Host-toyhub-login"
	pendingLife   = 5 * time.Minute
)

func (p *pendingLogins) add(user string, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) > 1000 {
		p.m = map[string]*pendingLogin{}
	}
	for k, v := range p.m {
		if now.After(v.expires) {
			delete(p.m, k)
		}
	}
	token := newToken()
	p.m[string(store.SecretHash(token))] = &pendingLogin{user: user, expires: now.Add(pendingLife)}
	return token
}

// take returns the pending login for a token, counting a try; it is gone
// after five.
func (p *pendingLogins) take(token string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := string(store.SecretHash(token))
	v := p.m[k]
	if v == nil || now.After(v.expires) {
		delete(p.m, k)
		return "", false
	}
	v.tries++
	if v.tries > 5 {
		delete(p.m, k)
		return "", false
	}
	return v.user, true
}

func (p *pendingLogins) done(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, string(store.SecretHash(token)))
}

func (s *Server) codePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "code", formData{})
}

func (s *Server) loginCode(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(pendingCookie)
	now, ip := s.cfg.Now(), remoteIP(r)
	var userID string
	ok := false
	if err == nil {
		userID, ok = s.pending.take(c.Value, now)
	}
	if !ok {
		s.render(w, http.StatusUnauthorized, "login", formData{Error: "Please log in again: the code was asked for too long ago, or too many codes were wrong."})
		return
	}
	if wait, ok := s.limits.code.Reserve(userID, now, true); !ok {
		s.render(w, http.StatusTooManyRequests, "code", formData{Error: fmt.Sprintf("Too many wrong codes. Wait %d seconds.", int(wait.Seconds()+1))})
		return
	}
	u, err := s.st.User(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	good, err := s.verifyTOTP(r.Context(), u, r.PostFormValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !good {
		s.hh.LoginFailed()
		s.st.Audit(store.Event{Kind: store.EvLoginFailed, User: u.ID, Remote: ip, Detail: "wrong code"})
		s.log.Warn("Login failed", "user", u.ID, "remote", ip, "reason", "wrong code")
		s.render(w, http.StatusUnauthorized, "code", formData{Error: "That code is not right, or was used already. Type the newest code from your app."})
		return
	}
	s.limits.code.Succeeded(userID)
	s.pending.done(c.Value)
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.loggedIn(w, r, u)
}
