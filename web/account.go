package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/toyhub/toyhub/store"
)

// changePassword replaces the account's password, after the person
// proves again who they are (see reauth). Every session of the account ends, this one gets a new token.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	fail := func(status int, msg string) { s.accountError(w, r, status, msg) }
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		fail(http.StatusBadRequest, "The two new passwords differ.")
		return
	}
	if msg, status, ok := s.reauth(r, store.EvPasswordRefused); !ok {
		fail(status, msg)
		return
	}
	if err := s.hh.ChangePassword(r.Context(), actor(r), pw); err != nil {
		if msg, ok := refusal(err); ok {
			fail(http.StatusBadRequest, msg)
			return
		}
		s.fail(w, r, err)
		return
	}
	if err := s.startSession(w, r, cur.user); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// SessionRow is one of the person's sessions.
type SessionRow struct {
	ID       string // hex of the token's hash: names the session, opens nothing
	Created  time.Time
	LastSeen time.Time
	Remote   string
	Current  bool
}

type accountData struct {
	Page
	Sessions []SessionRow
	HasTOTP  bool
	Required bool
	Error    string
	Certs    []CertRow // this account's browsers' certificates
}

func (s *Server) accountData(r *http.Request) (accountData, error) {
	cur, _ := current(r)
	ss, err := s.st.Sessions(r.Context(), cur.user.ID)
	if err != nil {
		return accountData{}, err
	}
	d := accountData{Page: s.page(r, "account"), HasTOTP: cur.user.TOTPSecret != "", Required: s.totpRequired(r.Context())}
	if d.Certs, err = s.certRows(r, cur.user.ID); err != nil {
		return accountData{}, err
	}
	for _, x := range ss {
		d.Sessions = append(d.Sessions, SessionRow{ID: fmt.Sprintf("%x", x.TokenHash), Created: x.CreatedAt, LastSeen: x.LastSeen,
			Remote: x.Remote, Current: string(x.TokenHash) == string(cur.session.TokenHash)})
	}
	return d, nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.accountData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "account", d)
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	var hash []byte
	if _, err := fmt.Sscanf(r.PostFormValue("session"), "%x", &hash); err != nil || len(hash) == 0 {
		http.Error(w, "which session?", http.StatusBadRequest)
		return
	}
	if err := s.st.EndUserSession(r.Context(), cur.user.ID, hash); err != nil {
		s.refuse(w, r, cur.user, http.StatusNotFound, "not this account's session")
		return
	}
	s.st.Audit(store.Event{Kind: store.EvSessionEnded, User: cur.user.ID, Remote: remoteIP(r)})
	if string(hash) == string(cur.session.TokenHash) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// accountError shows the account page again with what went wrong.
func (s *Server) accountError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d, err := s.accountData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Error = msg
	s.render(w, status, "account", d)
}
