package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
)

// The parent's page for remote access (on, off, the router, the last
// connection from outside) and the browsers' certificates that reach the
// hub from far away.

type remoteData struct {
	Page
	R     RemoteView
	Certs []CertRow
	Error string
}

// CertRow is a browser's certificate as the pages list it.
type CertRow struct {
	Serial   string
	User     string
	Person   string
	Issued   time.Time
	NotAfter time.Time
	// Renew says two thirds of its life have passed: its person is
	// offered the renewal.
	Renew bool
}

// renewAt is when a certificate's renewal is offered: once two thirds of
// its life have passed.
func renewAt(issued, notAfter time.Time) time.Time {
	return issued.Add(notAfter.Sub(issued) * 2 / 3)
}

// certRows lists the valid certificates of user ("" for everyone's).
func (s *Server) certRows(r *http.Request, user string) ([]CertRow, error) {
	cs, err := s.st.BrowserCerts(r.Context(), user)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	if users, err := s.st.Users(r.Context()); err == nil {
		for _, u := range users {
			names[u.ID] = u.Login
		}
	}
	now := s.cfg.Now()
	var out []CertRow
	for _, c := range cs {
		if !c.RevokedAt.IsZero() || !now.Before(c.NotAfter) {
			continue
		}
		out = append(out, CertRow{Serial: c.Serial, User: c.User, Person: names[c.User], Issued: c.IssuedAt, NotAfter: c.NotAfter,
			Renew: !now.Before(renewAt(c.IssuedAt, c.NotAfter))})
	}
	return out, nil
}

func (s *Server) remotePage(w http.ResponseWriter, r *http.Request) {
	s.renderRemote(w, r, http.StatusOK, remoteData{}, nil)
}

// renderRemote shows the page; form, when set, is what the parent typed,
// kept after a refusal.
func (s *Server) renderRemote(w http.ResponseWriter, r *http.Request, status int, d remoteData, form *RemoteView) {
	if d.R == (RemoteView{}) {
		v, err := s.hh.RemoteStatus(r.Context(), actor(r))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.R = v
	}
	if form != nil {
		d.R.Host, d.R.Port, d.R.Map = form.Host, form.Port, form.Map
	}
	certs, err := s.certRows(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Certs = certs
	d.Page = s.page(r, "security")
	s.render(w, status, "remote", d)
}

func (s *Server) enableRemote(w http.ResponseWriter, r *http.Request) {
	form := RemoteView{Host: strings.TrimSpace(r.PostFormValue("host")), Map: r.PostFormValue("map") == "1"}
	if p := strings.TrimSpace(r.PostFormValue("port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			s.renderRemote(w, r, http.StatusBadRequest, remoteData{Error: "The port is a number, such as 8885."}, &form)
			return
		}
		form.Port = n
	}
	if msg, status, ok := s.reauth(r, store.EvReauthRefused); !ok {
		s.renderRemote(w, r, status, remoteData{Error: msg}, &form)
		return
	}
	v, err := s.hh.EnableRemote(r.Context(), actor(r), form.Host, form.Port, form.Map)
	if err != nil {
		s.refused(w, r, err, func(msg string) {
			s.renderRemote(w, r, http.StatusBadRequest, remoteData{Error: "Remote access is still off. " + msg}, &form)
		})
		return
	}
	if v.Problem != "" {
		// The hub starts again (to vouch for the name): show why here,
		// rather than a redirect the restart might miss.
		s.renderRemote(w, r, http.StatusOK, remoteData{R: v}, nil)
		return
	}
	done(w, r, "/remote", "remote-on", "")
}

func (s *Server) disableRemote(w http.ResponseWriter, r *http.Request) {
	if err := s.hh.DisableRemote(r.Context(), actor(r)); err != nil {
		s.refused(w, r, err, func(msg string) { s.renderRemote(w, r, http.StatusBadRequest, remoteData{Error: msg}, nil) })
		return
	}
	done(w, r, "/remote", "remote-off", "")
}

// validCert finds a valid certificate by the path's serial.
func (s *Server) validCert(w http.ResponseWriter, r *http.Request) (CertRow, bool) {
	rows, err := s.certRows(r, "")
	if err != nil {
		s.fail(w, r, err)
		return CertRow{}, false
	}
	for _, c := range rows {
		if c.Serial == r.PathValue("serial") {
			return c, true
		}
	}
	cur, _ := current(r)
	s.refuse(w, r, cur.user, http.StatusNotFound, "no such browser certificate")
	return CertRow{}, false
}

func (s *Server) confirmRevokeCert(w http.ResponseWriter, r *http.Request) {
	c, ok := s.validCert(w, r)
	if !ok {
		return
	}
	s.confirm(w, r, "security", confirmData{Title: "Withdraw " + c.Person + "'s browser certificate?",
		Lost: "That browser will no longer reach the hub from far away, and " + c.Person + " is logged out everywhere at once. " +
			"A new invite, or " + c.Person + "'s account page at home, gives a new certificate.",
		Confirm: "Withdraw it", Back: "/remote"})
}

func (s *Server) revokeCert(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.validCert(w, r); !ok {
		return
	}
	if err := s.hh.RevokeBrowserCert(r.Context(), actor(r), r.PathValue("serial")); err != nil {
		s.refused(w, r, err, func(msg string) { s.renderRemote(w, r, http.StatusBadRequest, remoteData{Error: msg}, nil) })
		return
	}
	done(w, r, "/remote", "cert-withdrawn", "")
}

// newCertificate gives a logged-in person a certificate for another
// browser, or this one's renewal, once they prove again who they are.
func (s *Server) newCertificate(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if msg, status, ok := s.reauth(r, store.EvReauthRefused); !ok {
		s.accountError(w, r, status, msg)
		return
	}
	s.giveCertificate(w, r, cur.user, true)
}
