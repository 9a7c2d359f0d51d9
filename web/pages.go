package web

import (
	"bytes"
	"errors"
	"net/http"

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

type trustData struct {
	Fingerprint string
}

func (s *Server) trustPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "trust", trustData{Fingerprint: s.cfg.CAFingerprint})
}

func (s *Server) caPEM(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Content-Disposition", `attachment; filename="toyhub-ca.pem"`)
	w.Write(s.cfg.CAPEM)
}
