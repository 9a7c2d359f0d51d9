package web

import (
	"net/http"
	"strings"
	"time"
)

// AuditRow is an audit event with the account and device named.
type AuditRow struct {
	At     time.Time
	Event  string // the kind, as the log stores it
	Text   string // what it means, in plain words
	Who    string
	Remote string
	Detail string
}

type auditData struct {
	Page
	Events []AuditRow
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	evs, err := s.st.AuditLog(r.Context(), 300)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := map[string]string{}
	if ds, err := s.st.Devices(r.Context()); err == nil {
		for _, d := range ds {
			names[d.ID] = d.Name
		}
	}
	if us, err := s.st.Users(r.Context()); err == nil {
		for _, u := range us {
			names[u.ID] = u.Login
		}
	}
	d := auditData{Page: s.page(r, "audit")}
	named := func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	for _, e := range evs {
		var who []string
		for _, id := range []string{e.User, e.Device} {
			if id != "" {
				who = append(who, named(id))
			}
		}
		d.Events = append(d.Events, AuditRow{At: e.At, Event: string(e.Kind), Text: e.Kind.Text(), Who: strings.Join(who, ", "), Remote: e.Remote, Detail: e.Detail})
	}
	s.render(w, http.StatusOK, "audit", d)
}
