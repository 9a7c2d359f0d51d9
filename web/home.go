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
	Unread   int  // messages the viewer has not played
	You      bool // the viewer's own account
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
	Pending int // contacts waiting: for a parent, to approve
	// Waiting are the toys a parent has still to approve the viewer for
	// (anyone but a parent).
	Waiting []string
	// Space warns a parent when the hub's disk is nearly full.
	Space store.Space
	// Steps are the first things to do, for a parent, until all are done.
	Steps []Step
	// Remote is remote access, for a parent while it is on.
	Remote *RemoteView
}

// Step is one of the first things a parent does with a new hub; it ticks
// itself once done.
type Step struct {
	Text, Link string
	Done       bool
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
		row := s.row(t)
		row.Unread = s.unread(r, t.ID, cur.user)
		d.Toys = append(d.Toys, row)
	}
	names := map[string]string{}
	for _, x := range ds {
		names[x.ID] = x.Name
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
				other := l.A
				if other == cur.user.DeviceID {
					other = l.B
				}
				d.Waiting = append(d.Waiting, names[other])
			}
		}
	}
	if isParent(cur.user) {
		for _, x := range ds {
			if x.Kind == store.KindFamily && !x.Revoked() {
				row := s.row(x)
				row.You = x.ID == cur.user.DeviceID
				d.Family = append(d.Family, row)
			}
		}
		d.Steps = s.firstSteps(r, cur.user, ds)
		if v, err := s.hh.RemoteStatus(r.Context(), actor(r)); err == nil && v.Enabled {
			d.Remote = &v
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

// unread counts the messages of a toy's conversation for u that u has not
// played.
func (s *Server) unread(r *http.Request, toy string, u store.User) int {
	ms, err := s.st.Conversation(r.Context(), toy, store.Viewer{Device: u.DeviceID, All: isParent(u)}, 100)
	if err != nil {
		return 0
	}
	n := 0
	for _, m := range ms {
		for _, dl := range m.Deliveries {
			if dl.Recipient == u.DeviceID && dl.PlayedAt.IsZero() {
				n++
			}
		}
	}
	return n
}

// trustedKey marks an account that has fetched the household CA.
func trustedKey(user string) string { return "web.ca_fetched." + user }

// firstSteps are a new hub's first things to do, each ticked once done;
// none once all are.
func (s *Server) firstSteps(r *http.Request, u store.User, ds []store.Device) []Step {
	trusted, _ := s.st.Meta(r.Context(), trustedKey(u.ID))
	toys, family := false, false
	for _, d := range ds {
		toys = toys || d.Kind == store.KindToy
		family = family || (d.Kind == store.KindFamily && d.ID != u.DeviceID)
	}
	if invs, err := s.hh.Invites(r.Context()); err == nil && len(invs) > 0 {
		family = true
	}
	steps := []Step{
		{Text: "Make this phone trust the hub, so that it stops warning", Link: "/trust", Done: len(trusted) > 0},
		{Text: "Pair your first toy", Link: "/toys", Done: toys},
		{Text: "Invite the family", Link: "/family", Done: family},
		{Text: "Add a code app, so that a password alone cannot open your account", Link: "/account/totp", Done: u.TOTPSecret != ""},
	}
	for _, st := range steps {
		if !st.Done {
			return steps
		}
	}
	return nil
}
