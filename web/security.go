package web

import (
	"net/http"

	"github.com/toyhub/toyhub/store"
)

type securityData struct {
	Page
	TOTPRequired bool
	HasTOTP      bool
	SecurityState
	Error  string
	Remote string // https://NAME:PORT/ while remote access is on
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) {
	s.renderSecurity(w, r, http.StatusOK, securityData{})
}

func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, status int, d securityData) {
	cur, _ := current(r)
	st, err := s.hh.Security(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Page, d.TOTPRequired, d.HasTOTP = s.page(r, "security"), s.totpRequired(r.Context()), cur.user.TOTPSecret != ""
	d.SecurityState = st
	if p := s.hh.RemotePublic(); p != "" {
		d.Remote = "https://" + p + "/"
	}
	s.render(w, status, "security", d)
}

// runSecurity starts the self-check; the page updates itself when it ends.
func (s *Server) runSecurity(w http.ResponseWriter, r *http.Request) {
	if err := s.hh.StartCheck(r.Context(), actor(r), r.PostFormValue("network") == "1"); err != nil {
		s.refused(w, r, err, func(msg string) { s.renderSecurity(w, r, http.StatusConflict, securityData{Error: msg}) })
		return
	}
	http.Redirect(w, r, "/security", http.StatusSeeOther) // the page updates itself when the check ends
}

func (s *Server) setTOTPRequired(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if cur.user.Role != store.RoleOwner {
		s.refuse(w, r, cur.user, http.StatusForbidden, "owner only")
		return
	}
	if err := s.hh.RequireTOTP(r.Context(), actor(r), r.PostFormValue("required") == "1"); err != nil {
		s.refused(w, r, err, func(msg string) { s.message(w, http.StatusBadRequest, "The setting was not changed", msg) })
		return
	}
	http.Redirect(w, r, "/security", http.StatusSeeOther)
}
