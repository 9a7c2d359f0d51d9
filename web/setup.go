package web

import (
	"errors"
	"fmt"
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
	// A setup token is a secret like an invite's: wrong ones count per
	// address, in their own limiter.
	src := source(r)
	if wait, ok := s.limits.setup.Reserve(src, s.cfg.Now(), false); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+1)))
		s.message(w, http.StatusTooManyRequests, "Too many attempts", "Wait a few minutes, then try the setup link again.")
		return
	}
	u, err := s.hh.Setup(r.Context(), Actor{Remote: remoteIP(r)}, Owner{Token: f.Token, Login: f.Login, Email: f.Email, Household: f.Household, Password: pw})
	switch {
	case errors.Is(err, store.ErrSetupDone):
		// Another setup won while this one was checked.
		s.limits.setup.Refund(src)
		s.message(w, http.StatusGone, "This hub is set up", "The setup link has been used. Log in instead.")
		return
	case errors.Is(err, store.ErrNotFound):
		// A wrong token: the attempt stays counted.
	case err == nil:
		s.limits.setup.Succeeded(src)
	default:
		s.limits.setup.Refund(src)
	}
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
	s.remember(w, r, u)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
