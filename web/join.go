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
}

// joinPage opens an invite link in the browser: a family member sets a
// password and gets an account that sees only the invite's toys.
//
// An invite's secret is a guess like a password: each address has its own
// count of wrong ones (limits.join), which no login and no other address
// can spend.
func (s *Server) joinPage(w http.ResponseWriter, r *http.Request) {
	src := source(r)
	if !s.reserveJoin(w, src) {
		return
	}
	secret := r.URL.Query().Get("s")
	inv, err := s.st.InviteBySecret(r.Context(), secret)
	if err != nil {
		s.joinRefused(w, r, "bad invite", false)
		return
	}
	s.limits.join.Refund(src)
	s.render(w, http.StatusOK, "join", joinData{Secret: secret, Name: inv.Name})
}

// reserveJoin takes an attempt at an invite for src, or answers that src
// must wait.
func (s *Server) reserveJoin(w http.ResponseWriter, src string) bool {
	wait, ok := s.limits.join.Reserve(src, s.cfg.Now(), false)
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
	s.message(w, http.StatusForbidden, "This invite cannot be used",
		"It was used already, has expired or was withdrawn. Ask the parent who sent it for a new one.")
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	src := source(r)
	if !s.reserveJoin(w, src) {
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
		s.render(w, http.StatusBadRequest, "join", d)
		return
	}
	u, err := s.hh.Join(r.Context(), Actor{Remote: remoteIP(r)}, secret, pw)
	switch {
	case errors.Is(err, store.ErrBadInvite):
		s.joinRefused(w, r, "invite spent meanwhile", true)
		return
	case errors.Is(err, store.ErrExists):
		d.Error, _ = refusal(err)
		s.render(w, http.StatusConflict, "join", d)
		return
	case err != nil:
		s.refused(w, r, err, func(msg string) {
			d.Error = msg
			s.render(w, http.StatusBadRequest, "join", d)
		})
		return
	}
	s.loggedIn(w, r, u)
}
