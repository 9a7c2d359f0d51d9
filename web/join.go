package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/toyhub/toyhub/store"
)

type joinData struct {
	Secret string
	Name   string
	Error  string
	Nonce  string // for the page's own style, at the remote door
}

// stranger says the request came to the remote door without a
// certificate: it may only redeem an open invite, and anything else
// (a wrong secret, too many attempts) gets the bare refusal.
func (s *Server) stranger(r *http.Request) bool {
	return s.cfg.Remote && browserAccount(r) == ""
}

func (s *Server) renderJoin(w http.ResponseWriter, r *http.Request, status int, d joinData) {
	s.renderBare(w, r, status, "join", &d.Nonce, &d)
}

// joinPage opens an invite link in the browser: a family member sets a
// password and gets an account that sees only the invite's toys.
//
// An invite's secret is a guess like a password: each address has its own
// count of wrong ones (limits.join), which no login and no other address
// can spend.
func (s *Server) joinPage(w http.ResponseWriter, r *http.Request) {
	src := source(r)
	if !s.reserveJoin(w, r, src) {
		return
	}
	secret := r.URL.Query().Get("s")
	inv, err := s.st.InviteBySecret(r.Context(), secret)
	if err != nil {
		s.joinRefused(w, r, "bad invite", false)
		return
	}
	s.limits.join.Refund(src)
	s.renderJoin(w, r, http.StatusOK, joinData{Secret: secret, Name: inv.Name})
}

// reserveJoin takes an attempt at an invite for src, or answers that src
// must wait.
func (s *Server) reserveJoin(w http.ResponseWriter, r *http.Request, src string) bool {
	wait, ok := s.limits.join.Reserve(src, s.cfg.Now(), false)
	if !ok && s.stranger(r) {
		s.remoteRefused(r, "too many invite attempts")
		bare(w)
		return false
	}
	if !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+1)))
		s.message(w, http.StatusTooManyRequests, "Too many attempts", "Wait a few minutes, then open the invite link again.")
	}
	return ok
}

// joinRefused refuses an invite's link; audited says whether the refusal
// is in the audit log already (the household wrote it). The attempt
// stays counted.
func (s *Server) joinRefused(w http.ResponseWriter, r *http.Request, why string, audited bool) {
	ip := remoteIP(r)
	if !audited {
		s.st.Audit(store.Event{Kind: store.EvJoinRefused, Remote: ip, Detail: why})
		s.log.Warn("Invite refused", "remote", ip, "reason", why)
	}
	if s.stranger(r) {
		bare(w)
		return
	}
	s.message(w, http.StatusForbidden, "This invite cannot be used",
		"It was used already, has expired or was withdrawn. Ask the parent who sent it for a new one.")
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	src := source(r)
	if !s.reserveJoin(w, r, src) {
		return
	}
	secret := r.PostFormValue("secret")
	inv, err := s.st.InviteBySecret(r.Context(), secret)
	if err != nil {
		s.joinRefused(w, r, "bad invite", false)
		return
	}
	// The secret is right: what goes wrong from here is not a guess.
	s.limits.join.Refund(src)
	d := joinData{Secret: secret, Name: inv.Name}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		d.Error = "The two passwords differ."
		s.renderJoin(w, r, http.StatusBadRequest, d)
		return
	}
	u, err := s.hh.Join(r.Context(), Actor{Remote: remoteIP(r)}, secret, pw)
	switch {
	case errors.Is(err, store.ErrBadInvite):
		s.joinRefused(w, r, "invite spent meanwhile", true)
		return
	case errors.Is(err, store.ErrExists):
		d.Error, _ = refusal(err)
		s.renderJoin(w, r, http.StatusConflict, d)
		return
	case err != nil:
		s.refused(w, r, err, func(msg string) {
			d.Error = msg
			s.renderJoin(w, r, http.StatusBadRequest, d)
		})
		return
	}
	// Her account is made; this browser gets its certificate, for the
	// remote door. On the LAN she is logged in too. At the remote door
	// she logs in once the certificate is installed: the browser must
	// show it from now on.
	loggedIn := !s.stranger(r)
	if loggedIn && !s.logIn(w, r, u) {
		return
	}
	s.giveCertificate(w, r, u, loggedIn)
}

// remoteRefused records a request the remote door refused (addresses
// only), bounded for a flood by the server's refusal quota.
func (s *Server) remoteRefused(r *http.Request, why string) {
	ok, more := s.refusals.take(s.cfg.Now())
	if more > 0 {
		s.st.Audit(store.Event{Kind: store.EvRemoteRefused, Detail: fmt.Sprintf("%d more in the last minute, not recorded one by one", more)})
	}
	if !ok {
		return
	}
	ip := remoteIP(r)
	s.st.Audit(store.Event{Kind: store.EvRemoteRefused, Remote: ip, Detail: why})
	s.log.Warn("Remote request refused", "remote", ip, "reason", why)
}
