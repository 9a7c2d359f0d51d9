package web

import (
	"net/http"
)

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
