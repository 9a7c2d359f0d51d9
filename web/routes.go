package web

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/toyhub/toyhub/store"
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

// Route is one entry of the route table: who may use a pattern. The table
// is the single place that says who may do what; every route goes
// through guard.
type Route struct {
	Pattern string
	Access  Access
}

// route binds a Route to its handler.
type route struct {
	Route
	handle func(*Server, http.ResponseWriter, *http.Request)
}

var routeTable = []route{
	{Route{"GET /trust", Public}, (*Server).trustPage},
	{Route{"GET /ca.pem", Public}, (*Server).caPEM},
	{Route{"GET /setup", SetupOnly}, (*Server).setupPage},
	{Route{"POST /setup", SetupOnly}, (*Server).setup},
	{Route{"GET /login", Anonymous}, (*Server).loginPage},
	{Route{"POST /login", Anonymous}, (*Server).login},
	{Route{"GET /login/code", Anonymous}, (*Server).codePage},
	{Route{"POST /login/code", Anonymous}, (*Server).loginCode},
	{Route{"GET /join", Anonymous}, (*Server).joinPage},
	{Route{"POST /join", Anonymous}, (*Server).join},
	{Route{"POST /logout", Member}, (*Server).logout},
	{Route{"GET /{$}", Member}, (*Server).home},
	{Route{"GET /events", Member}, (*Server).events},
	{Route{"GET /toys/{toy}", Member}, (*Server).toyPage},
	{Route{"POST /toys/{toy}/messages", Member}, (*Server).sendRecording},
	{Route{"GET /toys/{toy}/messages/{msg}/audio", Member}, (*Server).audio},
	{Route{"POST /toys/{toy}/messages/{msg}/played", Member}, (*Server).played},
	{Route{"GET /account", Member}, (*Server).accountPage},
	{Route{"POST /account/sessions/end", Member}, (*Server).endSession},
	{Route{"POST /account/password", Member}, (*Server).changePassword},
	{Route{"GET /account/totp", Member}, (*Server).totpPage},
	{Route{"POST /account/totp", Member}, (*Server).totpEnable},
	{Route{"POST /account/totp/remove", Member}, (*Server).totpRemove},
	{Route{"GET /toys", Parent}, (*Server).toysPage},
	{Route{"POST /toys/pair", Parent}, (*Server).pair},
	{Route{"POST /toys/scan", Parent}, (*Server).scanLabel},
	{Route{"POST /toys/{toy}/rename", Parent}, (*Server).renameToy},
	{Route{"POST /toys/{toy}/revoke", Parent}, (*Server).revokeToy},
	{Route{"POST /toys/{toy}/remove", Parent}, (*Server).removeToy},
	{Route{"POST /toys/{toy}/settings", Parent}, (*Server).toySettings},
	{Route{"POST /toys/{toy}/messages/{msg}/delete", Parent}, (*Server).deleteMessage},
	{Route{"POST /family/approve", Parent}, (*Server).approve},
	{Route{"POST /family/refuse", Parent}, (*Server).refuseContact},
	{Route{"POST /family/people/{device}/mute", Parent}, (*Server).mutePerson},
	{Route{"POST /family/people/{device}/limit", Parent}, (*Server).personLimit},
	{Route{"GET /family", Parent}, (*Server).familyPage},
	{Route{"POST /family/invites", Parent}, (*Server).createInvite},
	{Route{"POST /family/invites/{invite}/revoke", Parent}, (*Server).revokeInvite},
	{Route{"POST /family/people/{device}/toys", Parent}, (*Server).setToys},
	{Route{"POST /family/people/{device}/remove", Parent}, (*Server).removePerson},
	{Route{"GET /security", Parent}, (*Server).securityPage},
	{Route{"POST /security/totp-required", Parent}, (*Server).setTOTPRequired},
	{Route{"POST /security/run", Parent}, (*Server).runSecurity},
	{Route{"GET /audit", Parent}, (*Server).auditPage},
	{Route{"GET /export", Parent}, (*Server).exportPage},
	{Route{"GET /wipe", Parent}, (*Server).wipePage},
	{Route{"POST /wipe", Parent}, (*Server).wipe},
	{Route{"POST /export", Parent}, (*Server).export},
}

// Routes lists the route table, for checks that walk it (the self-check).
func Routes() []Route {
	out := make([]Route, len(routeTable))
	for i, r := range routeTable {
		out[i] = r.Route
	}
	return out
}

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
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Access == Public {
			rt.handle(s, w, r)
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
			rt.handle(s, w, r)
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
		rt.handle(s, w, r.WithContext(context.WithValue(r.Context(), userKey, who{u, ses})))
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
