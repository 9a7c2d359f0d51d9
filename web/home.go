package web

import (
	"net/http"
	"slices"
	"time"

	"github.com/toyhub/toyhub/store"
)

// DeviceRow is a toy or a family device on a page.
type DeviceRow struct {
	ID       string
	Name     string
	Kind     string
	Account  bool
	Online   bool
	LastSeen time.Time
	Revoked  bool
	Linked   bool // on the family page: linked to the person being edited
	Pending  bool // ... and waiting for a parent's approval
	Muted    bool // ... and muted
	Settings ToySettings
}

func (s *Server) online(d store.Device) bool {
	return s.hh.Online(d.ID) || s.streams.has(d.ID)
}

func (s *Server) row(d store.Device) DeviceRow {
	return DeviceRow{ID: d.ID, Name: d.Name, Kind: string(d.Kind), Account: d.Account != "", Online: s.online(d),
		LastSeen: d.LastSeen, Revoked: d.Revoked()}
}

// visibleToys are the toys among ds a person may see: every toy for a
// parent, the toys linked to their own device for anyone else.
func (s *Server) visibleToys(r *http.Request, u store.User, ds []store.Device) ([]store.Device, error) {
	var contacts []string
	if !isParent(u) {
		var err error
		if contacts, err = s.st.Contacts(r.Context(), u.DeviceID); err != nil {
			return nil, err
		}
	}
	var out []store.Device
	for _, d := range ds {
		if d.Kind != store.KindToy || d.Revoked() {
			continue
		}
		if isParent(u) || slices.Contains(contacts, d.ID) {
			out = append(out, d)
		}
	}
	return out, nil
}

type homeData struct {
	Page
	Toys    []DeviceRow
	Family  []DeviceRow
	Pending int // contacts waiting: for a parent, to approve; for anyone else, their own
	// Space warns a parent when the hub's disk is nearly full.
	Space store.Space
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	ds, err := s.st.Devices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	toys, err := s.visibleToys(r, cur.user, ds)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := homeData{Page: s.page(r, "home")}
	for _, t := range toys {
		d.Toys = append(d.Toys, s.row(t))
	}
	if isParent(cur.user) {
		ps, err := s.st.PendingLinks(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Pending = len(ps)
	} else if ls, err := s.st.LinksOf(r.Context(), cur.user.DeviceID); err == nil {
		for _, l := range ls {
			if !l.Approved {
				d.Pending++
			}
		}
	}
	if isParent(cur.user) {
		for _, x := range ds {
			if x.Kind == store.KindFamily && !x.Revoked() {
				d.Family = append(d.Family, s.row(x))
			}
		}
	}
	if isParent(cur.user) {
		if sp, err := s.st.Space(); err == nil {
			d.Space = sp
		} else {
			s.log.Warn("Free space not read", "error", err)
		}
	}
	s.render(w, http.StatusOK, "home", d)
}
