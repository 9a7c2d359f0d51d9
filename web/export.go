package web

import (
	"net/http"
	"time"

	"github.com/toyhub/toyhub/store"
)

type exportData struct {
	Page
	Error string
}

func (s *Server) exportPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "export", exportData{Page: s.page(r, "audit")})
}

// export streams the household's archive to the browser, after the parent
// proves again who they are: an export carries every recording, and the
// one who holds the session chooses its passphrase (or none), so an
// encrypted export needs it as much as a plain one.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	pass := r.PostFormValue("passphrase")
	plain := r.PostFormValue("plain") == "1"
	if !plain {
		if pass != r.PostFormValue("passphrase2") {
			s.render(w, http.StatusBadRequest, "export", exportData{Page: s.page(r, "audit"), Error: "The two passphrases differ."})
			return
		}
		if pass == "" {
			s.render(w, http.StatusBadRequest, "export", exportData{Page: s.page(r, "audit"), Error: "Choose a passphrase, or a plain archive."})
			return
		}
	} else {
		pass = ""
	}
	if msg, status, ok := s.reauth(r, store.EvReauthRefused); !ok {
		s.render(w, status, "export", exportData{Page: s.page(r, "audit"), Error: msg})
		return
	}
	name := "toyhub-export-" + s.cfg.Now().Format("2006-01-02")
	if plain {
		name += ".zip"
		w.Header().Set("Content-Type", "application/zip")
	} else {
		name += ".toyhub-export"
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(30 * time.Minute))
	out := &startedWriter{ResponseWriter: w}
	if _, err := s.hh.Export(r.Context(), actor(r), out, []byte(pass)); err != nil {
		if msg, ok := refusal(err); ok && !out.started {
			w.Header().Del("Content-Disposition")
			s.render(w, http.StatusBadRequest, "export", exportData{Page: s.page(r, "audit"), Error: msg})
			return
		}
		s.log.Error("Export failed", "user", cur.user.ID, "error", err)
	}
}

// startedWriter knows whether anything was written: until then, an error
// can still be shown as a page.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}
