package web

import (
	"net/http"
	"time"
)

// AuditRow is an entry of the log, as a sentence with names.
type AuditRow struct {
	At     time.Time
	Event  string // the kind, as the log stores it (for the page's markup)
	Text   string // what happened, in a sentence
	Remote string // where it came from
}

type auditData struct {
	Page
	Events []AuditRow
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	evs, err := s.st.AuditLog(ctx, 300)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := namer{}
	if ds, err := s.st.Devices(ctx); err == nil {
		for _, d := range ds {
			names[d.ID] = d.Name
		}
	}
	if us, err := s.st.Users(ctx); err == nil {
		for _, u := range us {
			names[u.ID] = u.Login
		}
	}
	if invs, err := s.hh.Invites(ctx); err == nil {
		for _, i := range invs {
			names[i.ID] = i.Name
		}
	}
	d := auditData{Page: s.page(r, "audit")}
	for _, e := range evs {
		remote := e.Remote
		if remote == "console" {
			remote = "the hub"
		}
		d.Events = append(d.Events, AuditRow{At: e.At, Event: string(e.Kind), Text: names.entry(e).say(), Remote: remote})
	}
	s.render(w, http.StatusOK, "audit", d)
}
