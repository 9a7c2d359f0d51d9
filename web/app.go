package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Page is what every page of a logged-in person shows around its content.
type Page struct {
	Login  string
	Parent bool
	Owner  bool
	Nav    string // the section the page belongs to
}

func (s *Server) page(r *http.Request, nav string) Page {
	cur, _ := current(r)
	return Page{Login: cur.user.Login, Parent: isParent(cur.user), Owner: cur.user.Role == store.RoleOwner, Nav: nav}
}

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
	return s.hub.Online(d.ID) || s.streams.has(d.ID)
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

// toyFor authorizes the toy named in the path for the current person, on
// every request: a parent may see any toy, anyone else only a toy linked
// to their own device. Anything else is "not found", whether or not the
// toy exists.
func (s *Server) toyFor(w http.ResponseWriter, r *http.Request) (store.Device, store.Viewer, bool) {
	cur, _ := current(r)
	id := r.PathValue("toy")
	d, err := s.st.Device(r.Context(), id)
	if err == nil && d.Kind == store.KindToy {
		if isParent(cur.user) {
			return d, store.Viewer{Device: cur.user.DeviceID, All: true}, true
		}
		if !d.Revoked() {
			contacts, err := s.st.Contacts(r.Context(), cur.user.DeviceID)
			if err == nil && slices.Contains(contacts, d.ID) {
				return d, store.Viewer{Device: cur.user.DeviceID}, true
			}
		}
	}
	s.refuse(w, r, cur.user, http.StatusNotFound, "toy not visible")
	return store.Device{}, store.Viewer{}, false
}

// MessageRow is one message of a conversation.
type MessageRow struct {
	ID      string
	From    string
	Mine    bool // sent by the viewer
	FromToy bool
	SentAt  time.Time
	Seconds int
	Audio   string // URL, authorized again when fetched
	Played  string // URL to confirm playing, when the viewer is a recipient
	Delete  string // URL to delete it for good (parents)
	States  []string
}

type toyData struct {
	Page
	Toy       DeviceRow
	Messages  []MessageRow
	Send      string // URL to post a recording to
	MaxSecs   int
	Retention string        // for parents: how long messages are kept
	Deletions []DeletionRow // for parents: what retention deletes next
}

// DeletionRow is a message retention will delete.
type DeletionRow struct {
	From   string
	SentAt time.Time
	At     time.Time // zero: once played
}

func (s *Server) toyPage(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	toy, v, ok := s.toyFor(w, r)
	if !ok {
		return
	}
	ms, err := s.st.Conversation(r.Context(), toy.ID, v, 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := toyData{Page: s.page(r, "home"), Toy: s.row(toy), MaxSecs: 60}
	if !toy.Revoked() {
		d.Send = "/toys/" + toy.ID + "/messages"
	}
	if isParent(cur.user) {
		st, err := s.st.DeviceSettings(r.Context(), toy.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Retention = retentionText(st.RetentionDays)
		ds, err := s.st.NextDeletions(r.Context(), toy.ID, 3)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, x := range ds {
			d.Deletions = append(d.Deletions, DeletionRow{From: x.SenderName, SentAt: x.SentAt, At: x.At})
		}
	}
	for _, m := range ms {
		base := "/toys/" + toy.ID + "/messages/" + m.ID
		row := MessageRow{ID: m.ID, From: m.SenderName, Mine: m.Sender == cur.user.DeviceID, FromToy: m.Sender == toy.ID,
			SentAt: m.SentAt, Seconds: int((m.Duration + time.Second/2) / time.Second), Audio: base + "/audio", Delete: base + "/delete"}
		for _, dl := range m.Deliveries {
			state := "waiting"
			switch {
			case !dl.PlayedAt.IsZero():
				state = "played"
			case !dl.DeliveredAt.IsZero():
				state = "delivered"
			}
			name := dl.RecipientName
			if dl.Recipient == cur.user.DeviceID {
				name = "you"
				if dl.PlayedAt.IsZero() {
					row.Played = base + "/played"
				}
			}
			row.States = append(row.States, name+": "+state)
		}
		d.Messages = append(d.Messages, row)
	}
	s.render(w, http.StatusOK, "toy", d)
}

func retentionText(days int) string {
	for _, c := range retentionChoices {
		if c.Value == days {
			return c.Label
		}
	}
	return fmt.Sprintf("%d days", days)
}

// audio streams a message from the encrypted store, authorized twice: the
// toy for this person (toyFor), then the message for this toy and person
// (OpenAudio). An ID alone grants nothing.
func (s *Server) audio(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	toy, v, ok := s.toyFor(w, r)
	if !ok {
		return
	}
	a, err := s.st.OpenAudio(r.Context(), r.PathValue("msg"), toy.ID, v)
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, cur.user, http.StatusNotFound, "message not visible")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Content-Length", fmt.Sprint(a.Size))
	h.Set("Content-Disposition", "inline")
	if r.Method == http.MethodHead {
		return
	}
	if err := s.st.WriteAudio(r.Context(), a, w); err != nil {
		s.log.Warn("Audio not sent in full", "user", cur.user.ID, "message", a.ID, "error", err)
		return
	}
	if a.Recipient {
		s.hub.Fetched(v.Device, a.ID)
	}
}

func (s *Server) played(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if _, _, ok := s.toyFor(w, r); !ok {
		return
	}
	err := s.hub.Played(r.Context(), cur.user.DeviceID, r.PathValue("msg"))
	if errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, cur.user, http.StatusNotFound, "message not for this account")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sendRecording takes a WAV recorded in the browser and sends it to the
// toy through the message path.
func (s *Server) sendRecording(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	toy, _, ok := s.toyFor(w, r)
	if !ok {
		return
	}
	if toy.Revoked() {
		http.Error(w, "this toy was removed", http.StatusGone)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "audio/wav" {
		http.Error(w, "send the recording as audio/wav", http.StatusUnsupportedMediaType)
		return
	}
	wav, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRecording+1))
	if err != nil || int64(len(wav)) > s.cfg.MaxRecording {
		http.Error(w, "the recording is too long", http.StatusRequestEntityTooLarge)
		return
	}
	if isParent(cur.user) {
		// A parent may talk to any toy: the link is made, as a parent could.
		if err := s.st.Link(r.Context(), toy.ID, cur.user.DeviceID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	id, err := s.hub.Send(r.Context(), cur.user.DeviceID, []string{toy.ID}, wav)
	switch {
	case errors.Is(err, ErrBadAudio):
		http.Error(w, "the hub could not use this recording: "+err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, store.ErrFull):
		http.Error(w, fullMessage, http.StatusInsufficientStorage)
		return
	case errors.Is(err, store.ErrDailyLimit):
		http.Error(w, "you have sent your messages for today: a parent set a daily limit", http.StatusTooManyRequests)
		return
	case errors.Is(err, store.ErrRateLimit):
		http.Error(w, "too many messages in a short time: wait a minute, then try again", http.StatusTooManyRequests)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, id)
}

// events streams "something changed" to a live page (server-sent events).
// It carries no content: the page fetches itself again, authorized like
// any request. Each stream ends after a few minutes and the browser opens
// a new one, so an ended session stops getting even these.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	ch, stop := s.hub.Watch()
	defer stop()
	s.streams.add(cur.user.DeviceID)
	defer s.streams.remove(cur.user.DeviceID)

	visible := map[string]bool{cur.user.DeviceID: true}
	if !isParent(cur.user) {
		cs, _ := s.st.Contacts(r.Context(), cur.user.DeviceID)
		for _, c := range cs {
			visible[c] = true
		}
	}
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	end := time.NewTimer(s.cfg.EventStreamLife)
	defer end.Stop()
	for {
		select {
		case c := <-ch:
			if !isParent(cur.user) && !slices.ContainsFunc(c, func(id string) bool { return visible[id] }) {
				continue
			}
			fmt.Fprint(w, "event: change\ndata: {}\n\n")
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
		case <-end.C:
			return
		case <-s.quit:
			return
		case <-r.Context().Done():
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

type toysData struct {
	Page
	Choices []struct {
		Value int
		Label string
	}
	Toys    []DeviceRow
	Error   string
	Notice  string
	Code    string
	Name    string
	Waiting time.Time
}

func (s *Server) toysPage(w http.ResponseWriter, r *http.Request) {
	s.renderToys(w, r, http.StatusOK, toysData{})
}

func (s *Server) renderToys(w http.ResponseWriter, r *http.Request, status int, d toysData) {
	d.Page = s.page(r, "toys")
	ds, err := s.st.Devices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, x := range ds {
		if x.Kind == store.KindToy {
			row := s.row(x)
			if st, err := s.st.DeviceSettings(r.Context(), x.ID); err == nil {
				row.Settings = toySettings(st)
			}
			d.Toys = append(d.Toys, row)
		}
	}
	d.Choices = retentionChoices
	s.render(w, status, "toys", d)
}

func (s *Server) pair(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	code, name := strings.TrimSpace(r.PostFormValue("code")), strings.TrimSpace(r.PostFormValue("name"))
	if _, err := wire.ParsePairingCode(code); err != nil {
		s.renderToys(w, r, http.StatusBadRequest, toysData{Code: code, Name: name,
			Error: "That is not the code of a toy's label. Check each character: " + err.Error() + "."})
		return
	}
	until, err := s.hub.Pair(r.Context(), Actor{cur.user.ID, remoteIP(r)}, code, name)
	if err != nil {
		s.renderToys(w, r, http.StatusBadRequest, toysData{Code: code, Name: name, Error: "The toy cannot be paired: " + err.Error() + "."})
		return
	}
	s.renderToys(w, r, http.StatusOK, toysData{Waiting: until,
		Notice: "The hub is waiting for the toy. Switch it on near the hub (or press its pairing button) before " + until.Local().Format("15:04") + "."})
}

func (s *Server) parentToy(w http.ResponseWriter, r *http.Request) (store.Device, bool) {
	cur, _ := current(r)
	d, err := s.st.Device(r.Context(), r.PathValue("toy"))
	if err != nil || d.Kind != store.KindToy {
		s.refuse(w, r, cur.user, http.StatusNotFound, "no such toy")
		return store.Device{}, false
	}
	return d, true
}

func (s *Server) renameToy(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	err := s.st.RenameDevice(r.Context(), d.ID, r.PostFormValue("name"))
	if errors.Is(err, store.ErrExists) {
		s.renderToys(w, r, http.StatusBadRequest, toysData{Error: "Another toy or person already has that name."})
		return
	}
	if err != nil {
		s.renderToys(w, r, http.StatusBadRequest, toysData{Error: "That name cannot be used: " + strings.TrimPrefix(err.Error(), "store: ") + "."})
		return
	}
	s.st.Audit(store.Event{Kind: store.EvDeviceRenamed, User: cur.user.ID, Device: d.ID, Remote: remoteIP(r)})
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

func (s *Server) revokeToy(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	if err := s.hub.Revoke(r.Context(), d.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvDeviceRevoked, User: cur.user.ID, Device: d.ID, Remote: remoteIP(r)})
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

// Person is a family member's device or account, with the toys it may
// talk to.
type Person struct {
	DeviceRow
	Toys       []DeviceRow
	DailyLimit int
}

// InviteRow is an invite on the family page.
type InviteRow struct {
	ID      string
	Name    string
	Parent  bool
	Toys    []string
	State   string
	Expires time.Time
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
	for _, u := range users {
		if isParent(u) {
			parents[u.DeviceID] = true
		}
	}
	names := map[string]string{}
	var toys []store.Device
	for _, x := range ds {
		names[x.ID] = x.Name
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
		p := Person{DeviceRow: s.row(x)}
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
	if d.Pending, err = s.pendingRows(r); err != nil {
		s.fail(w, r, err)
		return
	}
	invs, err := s.st.Invites(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	for _, inv := range invs {
		row := InviteRow{ID: inv.ID, Name: inv.Name, Expires: inv.Expires, Parent: inv.Role == store.RoleParent}
		switch {
		case !inv.RedeemedAt.IsZero():
			row.State = "used"
		case !inv.RevokedAt.IsZero():
			row.State = "withdrawn"
		case !now.Before(inv.Expires):
			row.State = "expired"
		default:
			row.State = "open"
		}
		for _, t := range inv.Toys {
			row.Toys = append(row.Toys, names[t])
		}
		d.Invites = append(d.Invites, row)
	}
	s.render(w, status, "family", d)
}

func (s *Server) createInvite(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if err := r.ParseForm(); err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The form could not be read."})
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err := store.CheckName(name); err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "Their name: " + strings.TrimPrefix(err.Error(), "store: ") + "."})
		return
	}
	toys := r.PostForm["toy"]
	parent := r.PostFormValue("role") == store.RoleParent
	if parent {
		toys = nil
	} else if len(toys) == 0 {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "Choose at least one toy they may talk to."})
		return
	}
	inv, err := s.hub.Invite(r.Context(), Actor{cur.user.ID, remoteIP(r)}, name, parent, toys)
	if err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The invite was not made: " + err.Error() + "."})
		return
	}
	link := "https://" + r.Host + "/join?s=" + inv.Secret
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
	cur, _ := current(r)
	id := r.PathValue("invite")
	if err := s.st.RevokeInvite(r.Context(), id); err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "That invite is used or withdrawn already."})
		return
	}
	s.st.Audit(store.Event{Kind: store.EvInviteRevoked, User: cur.user.ID, Remote: remoteIP(r), Detail: id})
	s.hub.ConfigChanged()
	http.Redirect(w, r, "/family", http.StatusSeeOther)
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
	cur, _ := current(r)
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The form could not be read."})
		return
	}
	want := r.PostForm["toy"]
	ds, err := s.st.Devices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ls, err := s.st.LinksOf(r.Context(), p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var have []string // every link, waiting or muted too
	for _, l := range ls {
		have = append(have, l.A, l.B)
	}
	for _, t := range ds {
		if t.Kind != store.KindToy || t.Revoked() {
			continue
		}
		on, was := slices.Contains(want, t.ID), slices.Contains(have, t.ID)
		if on == was {
			continue
		}
		kind := store.EvLinkAdded
		if on {
			err = s.st.Link(r.Context(), p.ID, t.ID)
		} else {
			err, kind = s.st.Unlink(r.Context(), p.ID, t.ID), store.EvLinkRemoved
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.st.Audit(store.Event{Kind: kind, User: cur.user.ID, Device: p.ID, Remote: remoteIP(r), Detail: t.ID})
	}
	s.hub.ConfigChanged()
	http.Redirect(w, r, "/family", http.StatusSeeOther)
}

// removePerson removes a family member for good: their account and
// device, their name, and, as the parent chooses, their messages.
func (s *Server) removePerson(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	keep := r.PostFormValue("messages") != "delete"
	if err := s.hub.Remove(r.Context(), Actor{cur.user.ID, remoteIP(r)}, p.ID, keep); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/family", http.StatusSeeOther)
}

type securityData struct {
	Page
	TOTPRequired bool
	HasTOTP      bool
	SecurityState
	Error string
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) {
	s.renderSecurity(w, r, http.StatusOK, securityData{})
}

func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, status int, d securityData) {
	cur, _ := current(r)
	st, err := s.hub.Security(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Page, d.TOTPRequired, d.HasTOTP = s.page(r, "security"), s.totpRequired(r.Context()), cur.user.TOTPSecret != ""
	d.SecurityState = st
	s.render(w, status, "security", d)
}

// runSecurity starts the self-check; the page updates itself when it ends.
func (s *Server) runSecurity(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	network := r.PostFormValue("network") == "1"
	if err := s.hub.RunSecurity(network); err != nil {
		s.renderSecurity(w, r, http.StatusConflict, securityData{Error: err.Error() + "."})
		return
	}
	detail := "hub"
	if network {
		detail = "hub and home network"
	}
	s.st.Audit(store.Event{Kind: store.EvCheckStarted, User: cur.user.ID, Remote: remoteIP(r), Detail: detail})
	http.Redirect(w, r, "/security", http.StatusSeeOther) // the page updates itself when the check ends
}

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

// SessionRow is one of the person's sessions.
type SessionRow struct {
	ID       string // hex of the token's hash: names the session, opens nothing
	Created  time.Time
	LastSeen time.Time
	Remote   string
	Current  bool
}

type accountData struct {
	Page
	Sessions []SessionRow
	HasTOTP  bool
	Required bool
	Error    string
}

func (s *Server) accountData(r *http.Request) (accountData, error) {
	cur, _ := current(r)
	ss, err := s.st.Sessions(r.Context(), cur.user.ID)
	if err != nil {
		return accountData{}, err
	}
	d := accountData{Page: s.page(r, "account"), HasTOTP: cur.user.TOTPSecret != "", Required: s.totpRequired(r.Context())}
	for _, x := range ss {
		d.Sessions = append(d.Sessions, SessionRow{ID: fmt.Sprintf("%x", x.TokenHash), Created: x.CreatedAt, LastSeen: x.LastSeen,
			Remote: x.Remote, Current: string(x.TokenHash) == string(cur.session.TokenHash)})
	}
	return d, nil
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.accountData(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "account", d)
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	var hash []byte
	if _, err := fmt.Sscanf(r.PostFormValue("session"), "%x", &hash); err != nil || len(hash) == 0 {
		http.Error(w, "which session?", http.StatusBadRequest)
		return
	}
	if err := s.st.EndUserSession(r.Context(), cur.user.ID, hash); err != nil {
		s.refuse(w, r, cur.user, http.StatusNotFound, "not this account's session")
		return
	}
	s.st.Audit(store.Event{Kind: store.EvSessionEnded, User: cur.user.ID, Remote: remoteIP(r)})
	if string(hash) == string(cur.session.TokenHash) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}
