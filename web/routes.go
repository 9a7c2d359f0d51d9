package web

import (
	"context"
	"mime"
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

// Body says what a route may read, and how much: the bound applies
// before anything reads the body, and before the route's access is
// checked.
type Body int

// Bodies, from the most common.
const (
	SmallBody     Body = iota // a URL-encoded form of at most 16 KiB, or nothing
	RecordingBody             // a recording (audio/wav) up to the hub's bound for a message
	PhotoBody                 // a photo of a toy's label, multipart, up to 12 MiB
)

// maxForm bounds every form: the largest the pages send (a list of toys)
// is a few hundred bytes.
const maxForm = 16 << 10

// Route is one entry of the route table: who may use a pattern, and what
// it may send. The table is the single place that says who may do what;
// every route goes through guard.
type Route struct {
	Pattern string
	Access  Access
	Body    Body
}

// route binds a Route to its handler.
type route struct {
	Route
	handle func(*Server, http.ResponseWriter, *http.Request)
}

var routeTable = []route{
	{Route{"GET /trust", Public, SmallBody}, (*Server).trustPage},
	{Route{"GET /ca.pem", Public, SmallBody}, (*Server).caPEM},
	{Route{"GET /ca.crt", Public, SmallBody}, (*Server).caCRT},
	{Route{"GET /ca.mobileconfig", Public, SmallBody}, (*Server).caProfile},
	{Route{"GET /setup", SetupOnly, SmallBody}, (*Server).setupPage},
	{Route{"POST /setup", SetupOnly, SmallBody}, (*Server).setup},
	{Route{"GET /login", Anonymous, SmallBody}, (*Server).loginPage},
	{Route{"POST /login", Anonymous, SmallBody}, (*Server).login},
	{Route{"GET /login/code", Anonymous, SmallBody}, (*Server).codePage},
	{Route{"POST /login/code", Anonymous, SmallBody}, (*Server).loginCode},
	{Route{"GET /join", Anonymous, SmallBody}, (*Server).joinPage},
	{Route{"POST /join", Anonymous, SmallBody}, (*Server).join},
	{Route{"POST /logout", Member, SmallBody}, (*Server).logout},
	{Route{"GET /{$}", Member, SmallBody}, (*Server).home},
	{Route{"GET /events", Member, SmallBody}, (*Server).events},
	{Route{"GET /toys/{toy}", Member, SmallBody}, (*Server).toyPage},
	{Route{"POST /toys/{toy}/messages", Member, RecordingBody}, (*Server).sendRecording},
	{Route{"GET /toys/{toy}/messages/{msg}/audio", Member, SmallBody}, (*Server).audio},
	{Route{"POST /toys/{toy}/messages/{msg}/played", Member, SmallBody}, (*Server).played},
	{Route{"GET /account", Member, SmallBody}, (*Server).accountPage},
	{Route{"POST /account/sessions/end", Member, SmallBody}, (*Server).endSession},
	{Route{"POST /account/password", Member, SmallBody}, (*Server).changePassword},
	{Route{"GET /account/totp", Member, SmallBody}, (*Server).totpPage},
	{Route{"POST /account/totp", Member, SmallBody}, (*Server).totpEnable},
	{Route{"POST /account/totp/remove", Member, SmallBody}, (*Server).totpRemove},
	{Route{"POST /account/certificate", Member, SmallBody}, (*Server).newCertificate},
	{Route{"GET /join/certificate", Public, SmallBody}, (*Server).certificateFile},
	{Route{"GET /toys", Parent, SmallBody}, (*Server).toysPage},
	{Route{"POST /toys/pair", Parent, SmallBody}, (*Server).pair},
	{Route{"POST /toys/scan", Parent, PhotoBody}, (*Server).scanLabel},
	{Route{"POST /toys/{toy}/rename", Parent, SmallBody}, (*Server).renameToy},
	{Route{"POST /toys/{toy}/revoke", Parent, SmallBody}, (*Server).revokeToy},
	{Route{"GET /toys/{toy}/remove", Parent, SmallBody}, (*Server).confirmRemoveToy},
	{Route{"POST /toys/{toy}/remove", Parent, SmallBody}, (*Server).removeToy},
	{Route{"POST /toys/{toy}/settings", Parent, SmallBody}, (*Server).toySettings},
	{Route{"GET /toys/{toy}/messages/{msg}/delete", Parent, SmallBody}, (*Server).confirmDeleteMessage},
	{Route{"POST /toys/{toy}/messages/{msg}/delete", Parent, SmallBody}, (*Server).deleteMessage},
	{Route{"POST /family/approve", Parent, SmallBody}, (*Server).approve},
	{Route{"POST /family/refuse", Parent, SmallBody}, (*Server).refuseContact},
	{Route{"POST /family/people/{device}/mute", Parent, SmallBody}, (*Server).mutePerson},
	{Route{"POST /family/people/{device}/limit", Parent, SmallBody}, (*Server).personLimit},
	{Route{"GET /family", Parent, SmallBody}, (*Server).familyPage},
	{Route{"POST /family/invites", Parent, SmallBody}, (*Server).createInvite},
	{Route{"GET /family/invites/{invite}/revoke", Parent, SmallBody}, (*Server).confirmRevokeInvite},
	{Route{"POST /family/invites/{invite}/revoke", Parent, SmallBody}, (*Server).revokeInvite},
	{Route{"POST /family/people/{device}/toys", Parent, SmallBody}, (*Server).setToys},
	{Route{"GET /family/people/{device}/remove", Parent, SmallBody}, (*Server).confirmRemovePerson},
	{Route{"POST /family/people/{device}/remove", Parent, SmallBody}, (*Server).removePerson},
	{Route{"GET /security", Parent, SmallBody}, (*Server).securityPage},
	{Route{"POST /security/totp-required", Parent, SmallBody}, (*Server).setTOTPRequired},
	{Route{"POST /security/run", Parent, SmallBody}, (*Server).runSecurity},
	{Route{"GET /audit", Parent, SmallBody}, (*Server).auditPage},
	{Route{"GET /remote", Parent, SmallBody}, (*Server).remotePage},
	{Route{"POST /remote", Parent, SmallBody}, (*Server).enableRemote},
	{Route{"POST /remote/disable", Parent, SmallBody}, (*Server).disableRemote},
	{Route{"GET /remote/certificates/{serial}/revoke", Parent, SmallBody}, (*Server).confirmRevokeCert},
	{Route{"POST /remote/certificates/{serial}/revoke", Parent, SmallBody}, (*Server).revokeCert},
	{Route{"GET /export", Parent, SmallBody}, (*Server).exportPage},
	{Route{"GET /wipe", Parent, SmallBody}, (*Server).wipePage},
	{Route{"POST /wipe", Parent, SmallBody}, (*Server).wipe},
	{Route{"POST /export", Parent, SmallBody}, (*Server).export},
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
		if !s.bound(w, r, rt.Body) {
			return
		}
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
		if bound, ok := certAccount(r); ok && err == nil && u.ID != bound {
			err = store.ErrNotFound // at the remote door, only the certificate's account
		}
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

// bound limits what the request may send, before anything reads it: a
// form is parsed here, whole, so that a handler never reads an unbounded
// body, and nothing but a label photo may be multipart (which Go spools
// to disk past its memory bound: on a Pi, the temporary directory is
// memory too).
func (s *Server) bound(w http.ResponseWriter, r *http.Request, b Body) bool {
	switch b {
	case RecordingBody:
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRecording+1)
		return true
	case PhotoBody:
		r.Body = http.MaxBytesReader(w, r.Body, maxPhotoBytes) // read part by part, never spooled (readLabel)
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if r.Method != http.MethodPost || r.ContentLength == 0 {
		return true
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		http.Error(w, "send a form (application/x-www-form-urlencoded)", http.StatusUnsupportedMediaType)
		return false
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form is too large", http.StatusRequestEntityTooLarge)
		return false
	}
	return true
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
