package web

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/toyhub/toyhub/store"
)

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl[name].Execute(&buf, data); err != nil {
		s.log.Error("Page not rendered", "page", name, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type messageData struct{ Title, Text string }

func (s *Server) message(w http.ResponseWriter, status int, title, text string) {
	s.render(w, status, "message", messageData{title, text})
}

// fullMessage is what anyone is told when the hub's disk is full.
const fullMessage = "The hub's storage is full, so new messages cannot be saved. A parent can delete old messages, or keep them for fewer days in each toy's settings."

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("Request failed", "path", r.URL.Path, "error", err)
	if errors.Is(err, store.ErrFull) {
		s.message(w, http.StatusInsufficientStorage, "The hub's storage is full", fullMessage)
		return
	}
	s.message(w, http.StatusInternalServerError, "Something went wrong", "The hub could not do this. Try again in a moment.")
}

// Page is what every page of a logged-in person shows around its content.
type Page struct {
	Login  string
	Parent bool
	Owner  bool
	Nav    string // the section the page belongs to
	// HasCode says the account has a code app: re-authentication asks
	// for a code as well as the password.
	HasCode bool
	// Note confirms what the person just did (see Note).
	Note Note
	// Renew is when this browser's certificate runs out, once two thirds
	// of its life have passed (at the remote door): time for a new one.
	Renew time.Time
}

func (s *Server) page(r *http.Request, nav string) Page {
	cur, _ := current(r)
	p := Page{Login: cur.user.Login, Parent: isParent(cur.user), Owner: cur.user.Role == store.RoleOwner, Nav: nav,
		HasCode: cur.user.TOTPSecret != "", Note: noteOf(r)}
	if _, ok := certAccount(r); ok {
		leaf := r.TLS.PeerCertificates[0]
		if !s.cfg.Now().Before(renewAt(leaf.NotBefore, leaf.NotAfter)) {
			p.Renew = leaf.NotAfter
		}
	}
	return p
}

// refused shows a refusal's text with show, or fails the request if err
// is the hub's own failure.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, err error, show func(msg string)) {
	if msg, ok := refusal(err); ok {
		show(msg)
		return
	}
	s.fail(w, r, err)
}

// actor is who makes the request, for the household.
func actor(r *http.Request) Actor {
	cur, _ := current(r)
	return Actor{User: cur.user.ID, Remote: remoteIP(r)}
}

// timeTag is a time as a page shows it: in the hub's local time, written
// the hub's way, and marked so that the page's script rewrites it the way
// the person's browser writes times (12 or 24 hours, day and month in
// their order).
func timeTag(t time.Time, kind, layout string) template.HTML {
	if t.IsZero() {
		return ""
	}
	t = t.Local()
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `" data-when="` + kind + `">` + template.HTMLEscapeString(t.Format(layout)) + `</time>`)
}
