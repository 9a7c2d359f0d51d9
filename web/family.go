package web

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
)

// Person is a family member's device or account, with the toys it may
// talk to.
type Person struct {
	DeviceRow
	Toys       []DeviceRow
	DailyLimit int
	Certs      []CertRow // their browsers' certificates, for far away
}

type familyData struct {
	Page
	Pending []PendingRow
	People  []Person
	Invites []InviteRow
	Toys    []DeviceRow
	Error   string
	New     *newInvite
}

type newInvite struct {
	Name       string
	Link       string
	QR         template.URL
	DeviceLink string
	Expires    time.Time
	Parent     bool
}

func (s *Server) familyPage(w http.ResponseWriter, r *http.Request) {
	s.renderFamily(w, r, http.StatusOK, familyData{})
}

func (s *Server) renderFamily(w http.ResponseWriter, r *http.Request, status int, d familyData) {
	ctx := r.Context()
	d.Page = s.page(r, "family")
	ds, err := s.st.Devices(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	users, err := s.st.Users(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	parents := map[string]bool{}
	certs, err := s.certRows(r, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	certsOf := map[string][]CertRow{} // by device
	for _, u := range users {
		if isParent(u) {
			parents[u.DeviceID] = true
		}
		for _, c := range certs {
			if c.User == u.ID {
				certsOf[u.DeviceID] = append(certsOf[u.DeviceID], c)
			}
		}
	}
	var toys []store.Device
	for _, x := range ds {
		if x.Kind == store.KindToy && !x.Revoked() {
			toys = append(toys, x)
			d.Toys = append(d.Toys, s.row(x))
		}
	}
	for _, x := range ds {
		if x.Kind != store.KindFamily || x.Revoked() || parents[x.ID] {
			continue
		}
		ls, err := s.st.LinksOf(ctx, x.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := Person{DeviceRow: s.row(x), Certs: certsOf[x.ID]}
		if st, err := s.st.DeviceSettings(ctx, x.ID); err == nil {
			p.DailyLimit = st.DailyLimit
		}
		for _, t := range toys {
			tr := s.row(t)
			for _, l := range ls {
				if l.A == t.ID || l.B == t.ID {
					tr.Linked, tr.Pending, tr.Muted = true, !l.Approved, l.Muted
				}
			}
			p.Toys = append(p.Toys, tr)
		}
		d.People = append(d.People, p)
	}
	if d.Pending, err = s.hh.Pending(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Invites, err = s.hh.Invites(ctx); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, status, "family", d)
}

func (s *Server) createInvite(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The form could not be read."})
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	toys := r.PostForm["toy"]
	parent := r.PostFormValue("role") == store.RoleParent
	if parent {
		toys = nil
	} else if len(toys) == 0 {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "Choose at least one toy they may talk to."})
		return
	}
	inv, err := s.hh.Invite(r.Context(), actor(r), name, parent, toys)
	if err != nil {
		s.refused(w, r, err, func(msg string) {
			s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The invite was not made. " + msg})
		})
		return
	}
	// The link is on the hub's configured name, never on the Host the
	// request named: a page reached as evil.example must not make links
	// there.
	link := inv.WebLink
	qr, err := qrDataURL(link)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ni := &newInvite{Name: name, Link: link, QR: qr, Expires: inv.Expires, Parent: parent}
	if !parent {
		ni.DeviceLink = inv.DeviceLink // a parent's invite makes a web account only
	}
	s.renderFamily(w, r, http.StatusOK, familyData{New: ni})
}

func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request) {
	if err := s.hh.RevokeInvite(r.Context(), actor(r), r.PathValue("invite")); err != nil {
		s.refused(w, r, err, func(msg string) { s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: msg}) })
		return
	}
	done(w, r, "/family", "withdrawn", "")
}

// person finds a family member's device (not a parent's) for the family
// page's actions.
func (s *Server) person(w http.ResponseWriter, r *http.Request) (store.Device, bool) {
	cur, _ := current(r)
	d, err := s.st.Device(r.Context(), r.PathValue("device"))
	if err == nil && d.Kind == store.KindFamily && !d.Revoked() {
		if d.Account == "" {
			return d, true
		}
		if u, err := s.st.User(r.Context(), d.Account); err == nil && !isParent(u) {
			return d, true
		}
	}
	s.refuse(w, r, cur.user, http.StatusNotFound, "no such family member")
	return store.Device{}, false
}

func (s *Server) setToys(w http.ResponseWriter, r *http.Request) {
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The form could not be read."})
		return
	}
	if err := s.hh.SetToys(r.Context(), actor(r), p.ID, r.PostForm["toy"]); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/family", "toys", p.ID)
}

// removePerson removes a family member for good: their account and
// device, their name, and, as the parent chooses, their messages.
func (s *Server) removePerson(w http.ResponseWriter, r *http.Request) {
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	keep := r.PostFormValue("messages") != "delete"
	if err := s.hh.Remove(r.Context(), actor(r), p.ID, keep); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/family", "removed", "")
}

// pendingPair reads a person and a toy from a form and checks that a link
// between them waits for approval.
func (s *Server) pendingPair(w http.ResponseWriter, r *http.Request) (PendingRow, bool) {
	cur, _ := current(r)
	rows, err := s.hh.Pending(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return PendingRow{}, false
	}
	for _, p := range rows {
		if p.PersonID == r.PostFormValue("person") && p.ToyID == r.PostFormValue("toy") {
			return p, true
		}
	}
	s.refuse(w, r, cur.user, http.StatusNotFound, "no such waiting contact")
	return PendingRow{}, false
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pendingPair(w, r)
	if !ok {
		return
	}
	if err := s.hh.Link(r.Context(), actor(r), p.PersonID, p.ToyID); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/family", "approved", p.PersonID)
}

func (s *Server) refuseContact(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pendingPair(w, r)
	if !ok {
		return
	}
	if err := s.hh.Unlink(r.Context(), actor(r), p.PersonID, p.ToyID); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/family", "refused", p.PersonID)
}

func (s *Server) mutePerson(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	muted := r.PostFormValue("muted") == "1"
	if err := s.hh.Mute(r.Context(), actor(r), p.ID, r.PostFormValue("toy"), muted); err != nil {
		if _, ok := refusal(err); ok {
			s.refuse(w, r, cur.user, http.StatusNotFound, "not linked")
			return
		}
		s.fail(w, r, err)
		return
	}
	done(w, r, "/family", map[bool]string{true: "muted", false: "unmuted"}[muted], p.ID)
}

func (s *Server) personLimit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	limit := strings.TrimSpace(r.PostFormValue("daily_limit"))
	err := s.hh.SetSettings(r.Context(), actor(r), p.ID, Settings{DailyLimit: &limit})
	if err != nil {
		s.refused(w, r, err, func(msg string) { s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: msg}) })
		return
	}
	done(w, r, "/family", "limit", p.ID)
}
