package web

import (
	"net/http"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
)

// changePassword replaces the account's password, which needs the current
// one. Every session of the account ends, this one gets a new token.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	ip, now := remoteIP(r), s.cfg.Now()
	account := "u:" + cur.user.ID
	fail := func(status int, msg string) {
		d, err := s.accountData(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Error = msg
		s.render(w, status, "account", d)
	}
	if wait := s.logins.wait(account, ip, now); wait > 0 {
		fail(http.StatusTooManyRequests, "Too many wrong passwords. Wait a few minutes, then try again.")
		return
	}
	if ok, err := password.Verify(r.PostFormValue("current"), cur.user.PasswordHash); err != nil || !ok {
		s.logins.failed(account, ip, now)
		s.st.Audit(store.Event{Kind: store.EvPasswordRefused, User: cur.user.ID, Remote: ip, Detail: "wrong current password"})
		s.log.Warn("Password change refused", "user", cur.user.ID, "remote", ip)
		fail(http.StatusUnauthorized, "Your current password is not right.")
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		fail(http.StatusBadRequest, "The two new passwords differ.")
		return
	}
	if err := password.Check(pw, s.passwordContext(r.Context(), cur.user.Login, cur.user.Email)); err != nil {
		fail(http.StatusBadRequest, "Please choose another password: "+err.(*password.Error).Reason+".")
		return
	}
	hash, err := password.Hash(pw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.SetPassword(r.Context(), cur.user.ID, hash, password.PolicyVersion); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvPasswordChanged, User: cur.user.ID, Remote: ip})
	s.log.Info("Password changed", "user", cur.user.ID)
	s.hub.ConfigChanged()
	if err := s.startSession(w, r, cur.user); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
