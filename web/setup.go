package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/toyhub/toyhub/store"
)

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
	u, err := s.hh.Setup(r.Context(), Actor{Remote: remoteIP(r)}, Owner{Token: f.Token, Login: f.Login, Email: f.Email, Household: f.Household, Password: pw})
	if err != nil {
		s.refused(w, r, err, func(msg string) {
			f.Error = msg
			status := http.StatusBadRequest
			if errors.Is(err, store.ErrNotFound) {
				status = http.StatusForbidden // the token
			}
			s.render(w, status, "setup", f)
		})
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
