package web

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

// Access says who may use a route.
type Access int

// Access levels, from the most open.
const (
	Public    Access = iota // anyone, always: the CA page and static files
	SetupOnly               // only until the owner account exists
	Anonymous               // after setup, without a session: the login page
	Member                  // any logged-in account
	Parent                  // the owner or a parent
)

// Route is one entry of the route table. The table is the single place
// that says who may do what; every route goes through guard.
type Route struct {
	Pattern string
	Access  Access
	Handler http.HandlerFunc
}

func (s *Server) routes() []Route {
	rs := []Route{
		{Pattern: "GET /trust", Access: Public, Handler: s.trustPage},
		{Pattern: "GET /ca.pem", Access: Public, Handler: s.caPEM},
		{Pattern: "GET /setup", Access: SetupOnly, Handler: s.setupPage},
		{Pattern: "POST /setup", Access: SetupOnly, Handler: s.setup},
		{Pattern: "GET /login", Access: Anonymous, Handler: s.loginPage},
		{Pattern: "POST /login", Access: Anonymous, Handler: s.login},
		{Pattern: "GET /login/code", Access: Anonymous, Handler: s.codePage},
		{Pattern: "POST /login/code", Access: Anonymous, Handler: s.loginCode},
		{Pattern: "GET /join", Access: Anonymous, Handler: s.joinPage},
		{Pattern: "POST /join", Access: Anonymous, Handler: s.join},
		{Pattern: "POST /logout", Access: Member, Handler: s.logout},

		{Pattern: "GET /{$}", Access: Member, Handler: s.home},
		{Pattern: "GET /events", Access: Member, Handler: s.events},
		{Pattern: "GET /toys/{toy}", Access: Member, Handler: s.toyPage},
		{Pattern: "POST /toys/{toy}/messages", Access: Member, Handler: s.sendRecording},
		{Pattern: "GET /toys/{toy}/messages/{msg}/audio", Access: Member, Handler: s.audio},
		{Pattern: "POST /toys/{toy}/messages/{msg}/played", Access: Member, Handler: s.played},
		{Pattern: "GET /account", Access: Member, Handler: s.accountPage},
		{Pattern: "POST /account/sessions/end", Access: Member, Handler: s.endSession},
		{Pattern: "POST /account/password", Access: Member, Handler: s.changePassword},
		{Pattern: "GET /account/totp", Access: Member, Handler: s.totpPage},
		{Pattern: "POST /account/totp", Access: Member, Handler: s.totpEnable},
		{Pattern: "POST /account/totp/remove", Access: Member, Handler: s.totpRemove},

		{Pattern: "GET /toys", Access: Parent, Handler: s.toysPage},
		{Pattern: "POST /toys/pair", Access: Parent, Handler: s.pair},
		{Pattern: "POST /toys/scan", Access: Parent, Handler: s.scanLabel},
		{Pattern: "POST /toys/{toy}/rename", Access: Parent, Handler: s.renameToy},
		{Pattern: "POST /toys/{toy}/revoke", Access: Parent, Handler: s.revokeToy},
		{Pattern: "POST /toys/{toy}/remove", Access: Parent, Handler: s.removeToy},
		{Pattern: "POST /toys/{toy}/settings", Access: Parent, Handler: s.toySettings},
		{Pattern: "POST /toys/{toy}/messages/{msg}/delete", Access: Parent, Handler: s.deleteMessage},
		{Pattern: "POST /family/approve", Access: Parent, Handler: s.approve},
		{Pattern: "POST /family/refuse", Access: Parent, Handler: s.refuseContact},
		{Pattern: "POST /family/people/{device}/mute", Access: Parent, Handler: s.mutePerson},
		{Pattern: "POST /family/people/{device}/limit", Access: Parent, Handler: s.personLimit},
		{Pattern: "GET /family", Access: Parent, Handler: s.familyPage},
		{Pattern: "POST /family/invites", Access: Parent, Handler: s.createInvite},
		{Pattern: "POST /family/invites/{invite}/revoke", Access: Parent, Handler: s.revokeInvite},
		{Pattern: "POST /family/people/{device}/toys", Access: Parent, Handler: s.setToys},
		{Pattern: "POST /family/people/{device}/remove", Access: Parent, Handler: s.removePerson},
		{Pattern: "GET /security", Access: Parent, Handler: s.securityPage},
		{Pattern: "POST /security/totp-required", Access: Parent, Handler: s.setTOTPRequired},
		{Pattern: "POST /security/run", Access: Parent, Handler: s.runSecurity},
		{Pattern: "GET /audit", Access: Parent, Handler: s.auditPage},
		{Pattern: "GET /export", Access: Parent, Handler: s.exportPage},
		{Pattern: "GET /wipe", Access: Parent, Handler: s.wipePage},
		{Pattern: "POST /wipe", Access: Parent, Handler: s.wipe},
		{Pattern: "POST /export", Access: Parent, Handler: s.export},
	}
	return rs
}

// Routes lists the route table, for checks that walk it (the audit).
func (s *Server) Routes() []Route { return s.routes() }

type ctxKey int

const userKey ctxKey = 0

type who struct {
	user    store.User
	session store.Session
}

func current(r *http.Request) (who, bool) {
	w, ok := r.Context().Value(userKey).(who)
	return w, ok
}

const sessionCookie = "__Host-toyhub"

// guard applies a route's access level on every request, on the hub.
func (s *Server) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Access == Public {
			rt.Handler(w, r)
			return
		}
		pending, err := s.setupPending(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case pending && rt.Access != SetupOnly:
			s.message(w, http.StatusForbidden, "This hub is not set up yet",
				"Open the setup link the hub printed when it started, or run 'toyhub setup-link' on the hub to get a new one.")
			return
		case !pending && rt.Access == SetupOnly:
			s.message(w, http.StatusGone, "This hub is set up", "The setup link has been used. Log in instead.")
			return
		case rt.Access == SetupOnly || rt.Access == Anonymous:
			rt.Handler(w, r)
			return
		}
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			s.needLogin(w, r)
			return
		}
		ses, u, err := s.st.SessionUser(r.Context(), c.Value, s.cfg.IdleTimeout, s.cfg.AbsoluteTimeout)
		if err != nil {
			s.needLogin(w, r)
			return
		}
		if rt.Access == Parent && !isParent(u) {
			s.refuse(w, r, u, http.StatusForbidden, "parents only")
			return
		}
		if u.TOTPSecret == "" && !strings.HasPrefix(rt.Pattern, "GET /account") && !strings.HasPrefix(rt.Pattern, "POST /account/totp") &&
			rt.Pattern != "POST /logout" && s.totpRequired(r.Context()) {
			// The owner requires a second factor: nothing else until it is set.
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
				return
			}
			s.message(w, http.StatusForbidden, "Add a second factor first", "This hub requires a one-time code app for every account.")
			return
		}
		rt.Handler(w, r.WithContext(context.WithValue(r.Context(), userKey, who{u, ses})))
	})
}

func isParent(u store.User) bool { return u.Role == store.RoleOwner || u.Role == store.RoleParent }

// refuse answers a request the account may not make, and logs it (IDs
// only): a refusal here means a page or a person tried to reach beyond
// what their role allows.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, u store.User, status int, why string) {
	s.log.Warn("Request refused", "user", u.ID, "method", r.Method, "path", r.URL.Path, "reason", why)
	s.st.Audit(store.Event{Kind: store.EvWebRefused, User: u.ID, Remote: remoteIP(r), Detail: r.Method + " " + r.URL.Path + ": " + why})
	if status == http.StatusNotFound {
		s.message(w, status, "Not found", "There is nothing here for this account.")
		return
	}
	s.message(w, status, "Not for this account", "Only parents can do this.")
}

func (s *Server) setupPending(ctx context.Context) (bool, error) {
	if s.setUp.Load() {
		return false, nil
	}
	pending, err := s.st.SetupPending(ctx)
	if err == nil && !pending {
		s.setUp.Store(true)
	}
	return pending, err
}

func (s *Server) needLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.message(w, http.StatusUnauthorized, "Please log in", "Your session has ended.")
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newToken returns 160 random bits for sessions and setup links.
func newToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// NewSetupToken returns a token for a setup link.
func NewSetupToken() string { return newToken() }

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	token := newToken() // a new token at every login
	if err := s.st.CreateSession(r.Context(), token, u.ID, remoteIP(r)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.AbsoluteTimeout.Seconds())})
	return nil
}

func (s *Server) passwordContext(ctx context.Context, login, email string) []string {
	return append(s.cfg.PasswordContext(ctx), login, email)
}

type formData struct {
	Token     string
	Login     string
	Email     string
	Household string
	Error     string
	Fields    map[string]string
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "setup", formData{Token: r.URL.Query().Get("token")})
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request) {
	f := formData{Token: r.PostFormValue("token"), Login: strings.TrimSpace(r.PostFormValue("login")), Email: strings.TrimSpace(r.PostFormValue("email")),
		Household: strings.TrimSpace(r.PostFormValue("household"))}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		f.Error = "The two passwords differ."
		s.render(w, http.StatusBadRequest, "setup", f)
		return
	}
	if err := store.CheckName(f.Login); err != nil {
		f.Error = "Your name: " + err.Error() + "."
		s.render(w, http.StatusBadRequest, "setup", f)
		return
	}
	if f.Household != "" {
		if err := store.CheckName(f.Household); err != nil {
			f.Error = "Your family's name: " + err.Error() + "."
			s.render(w, http.StatusBadRequest, "setup", f)
			return
		}
	}
	if err := password.Check(pw, append(s.passwordContext(r.Context(), f.Login, f.Email), f.Household)); err != nil {
		f.Error = "Please choose another password: " + err.(*password.Error).Reason + "."
		s.render(w, http.StatusBadRequest, "setup", f)
		return
	}
	hash, err := password.Hash(pw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.st.CreateOwner(r.Context(), f.Token, store.NewUser{ID: newToken()[:26], DeviceID: wire.NewDeviceID(), Login: f.Login, Email: f.Email, PasswordHash: hash, PolicyVersion: password.PolicyVersion})
	if errors.Is(err, store.ErrNotFound) {
		s.st.Audit(store.Event{Kind: store.EvSetupRefused, Remote: remoteIP(r), Detail: "bad setup token"})
		s.log.Warn("Setup refused", "remote", remoteIP(r), "reason", "bad setup token")
		f.Error = "This setup link is not valid. Run 'toyhub setup-link' on the hub for a new one."
		s.render(w, http.StatusForbidden, "setup", f)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Household != "" {
		if err := s.st.SetHousehold(r.Context(), f.Household); err != nil {
			s.log.Error("Household name not saved", "error", err)
		}
	}
	// Toys enrolled from the console before setup become the owner's contacts.
	if ds, err := s.st.Devices(r.Context()); err == nil {
		for _, d := range ds {
			if d.Kind == store.KindToy && !d.Revoked() {
				_ = s.st.Link(r.Context(), d.ID, u.DeviceID)
			}
		}
	}
	s.st.Audit(store.Event{Kind: store.EvSetup, User: u.ID, Remote: remoteIP(r)})
	s.log.Info("Owner account created", "user", u.ID, "remote", remoteIP(r))
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
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
	account := store.NormalizeName(login)
	if wait := s.logins.wait(account, ip, now); wait > 0 {
		s.st.Audit(store.Event{Kind: store.EvLoginRefused, Remote: ip, Detail: "rate limited"})
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+1)))
		s.render(w, http.StatusTooManyRequests, "login", formData{Login: login,
			Error: fmt.Sprintf("Too many failed attempts. Wait %d seconds, then try again.", int(wait.Seconds()+1))})
		return
	}
	u, err := s.st.UserByLogin(r.Context(), login)
	hash := dummyHash()
	if err == nil {
		hash = u.PasswordHash
	}
	ok, verr := password.Verify(pw, hash)
	if err != nil || verr != nil || !ok {
		s.logins.failed(account, ip, now)
		s.hub.LoginFailed()
		s.st.Audit(store.Event{Kind: store.EvLoginFailed, User: u.ID, Remote: ip})
		s.log.Warn("Login failed", "user", u.ID, "remote", ip)
		s.render(w, http.StatusUnauthorized, "login", formData{Login: login, Error: "That name and password do not match."})
		return
	}
	if u.TOTPSecret != "" {
		// The password was right; the session waits for the code.
		s.logins.succeeded(account)
		token := s.pending.add(u.ID, now)
		http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: token, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, MaxAge: int(pendingLife.Seconds())})
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		return
	}
	s.logins.succeeded(account)
	s.loggedIn(w, r, u)
}

func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request, u store.User) {
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvLogin, User: u.ID, Remote: remoteIP(r)})
	s.log.Info("Logged in", "user", u.ID, "remote", remoteIP(r))
	http.Redirect(w, r, "/", http.StatusSeeOther)
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

// loginLimiter slows guessing: after three failures for an account or
// from an address, each further attempt must wait twice as long as the
// last (2 s, 4 s, … up to 15 minutes). Success clears the account's count.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{fails: map[string]*failures{}} }

func delay(n int) time.Duration {
	if n < 3 {
		return 0
	}
	return min(time.Second<<(n-2), 15*time.Minute)
}

func (l *loginLimiter) wait(account, ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, k := range []string{"a:" + account, "i:" + ip} {
		if f := l.fails[k]; f != nil {
			if now.Sub(f.last) > time.Hour {
				delete(l.fails, k)
				continue
			}
			longest = max(longest, f.last.Add(delay(f.n)).Sub(now))
		}
	}
	return longest
}

func (l *loginLimiter) failed(account, ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 10000 {
		l.fails = map[string]*failures{} // a flood of names: start over rather than grow
	}
	for _, k := range []string{"a:" + account, "i:" + ip} {
		f := l.fails[k]
		if f == nil {
			f = &failures{}
			l.fails[k] = f
		}
		f.n++
		f.last = now
	}
}

func (l *loginLimiter) succeeded(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "a:"+account)
}
