package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
)

// Parental controls: approving new contacts, muting, limits, retention,
// quiet hours, and deleting for good.

// PendingRow is a contact waiting for a parent's approval.
type PendingRow struct {
	PersonID, PersonName, ToyID, ToyName string
}

func (s *Server) pendingRows(r *http.Request) ([]PendingRow, error) {
	ls, err := s.st.PendingLinks(r.Context())
	if err != nil {
		return nil, err
	}
	var out []PendingRow
	for _, l := range ls {
		a, errA := s.st.Device(r.Context(), l.A)
		b, errB := s.st.Device(r.Context(), l.B)
		if errA != nil || errB != nil {
			continue
		}
		if a.Kind == store.KindToy {
			a, b = b, a
		}
		out = append(out, PendingRow{PersonID: a.ID, PersonName: a.Name, ToyID: b.ID, ToyName: b.Name})
	}
	return out, nil
}

// pendingPair reads a person and a toy from a form and checks that a link
// between them waits for approval.
func (s *Server) pendingPair(w http.ResponseWriter, r *http.Request) (PendingRow, bool) {
	cur, _ := current(r)
	rows, err := s.pendingRows(r)
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
	cur, _ := current(r)
	p, ok := s.pendingPair(w, r)
	if !ok {
		return
	}
	if err := s.st.Link(r.Context(), p.PersonID, p.ToyID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvLinkApproved, User: cur.user.ID, Device: p.PersonID, Remote: remoteIP(r), Detail: p.ToyID})
	s.hub.ConfigChanged(p.PersonID, p.ToyID)
	http.Redirect(w, r, "/family", http.StatusSeeOther)
}

func (s *Server) refuseContact(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	p, ok := s.pendingPair(w, r)
	if !ok {
		return
	}
	if err := s.st.Unlink(r.Context(), p.PersonID, p.ToyID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvLinkRefused, User: cur.user.ID, Device: p.PersonID, Remote: remoteIP(r), Detail: p.ToyID})
	s.hub.ConfigChanged()
	http.Redirect(w, r, "/family", http.StatusSeeOther)
}

func (s *Server) mutePerson(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	toy := r.PostFormValue("toy")
	muted := r.PostFormValue("muted") == "1"
	if err := s.st.SetMuted(r.Context(), p.ID, toy, muted); err != nil {
		s.refuse(w, r, cur.user, http.StatusNotFound, "not linked")
		return
	}
	s.st.Audit(store.Event{Kind: map[bool]store.EventKind{true: store.EvLinkMuted, false: store.EvLinkUnmuted}[muted], User: cur.user.ID, Device: p.ID, Remote: remoteIP(r), Detail: toy})
	s.hub.ConfigChanged()
	http.Redirect(w, r, "/family", http.StatusSeeOther)
}

func (s *Server) personLimit(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("daily_limit")))
	if err != nil || n < 0 || n > 10000 {
		s.renderFamily(w, r, http.StatusBadRequest, familyData{Error: "The daily limit is a number of messages, 0 for none."})
		return
	}
	st, err := s.st.DeviceSettings(r.Context(), p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st.DailyLimit = n
	if err := s.hub.SetSettings(r.Context(), Actor{cur.user.ID, remoteIP(r)}, p.ID, st); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/family", http.StatusSeeOther)
}

// retentionChoices are what the toys page offers.
var retentionChoices = []struct {
	Value int
	Label string
}{
	{7, "a week"}, {30, "a month"}, {90, "three months"}, {365, "a year"},
	{store.RetainForever, "forever"}, {store.RetainOncePlayed, "until played"},
}

// ToySettings is a toy's settings as its form shows them.
type ToySettings struct {
	Retention  int
	QuietStart string // "20:00", or "" for none
	QuietEnd   string
	DailyLimit int
}

func toySettings(st store.Settings) ToySettings {
	ts := ToySettings{Retention: st.RetentionDays, DailyLimit: st.DailyLimit}
	if st.Quiet {
		ts.QuietStart = fmt.Sprintf("%02d:%02d", st.QuietStart/60, st.QuietStart%60)
		ts.QuietEnd = fmt.Sprintf("%02d:%02d", st.QuietEnd/60, st.QuietEnd%60)
	}
	return ts
}

func minutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (s *Server) toySettings(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	var st store.Settings
	var errs []string
	days, err := strconv.Atoi(r.PostFormValue("retention"))
	if err != nil || days < store.RetainOncePlayed || days > 36500 {
		errs = append(errs, "choose how long messages are kept")
	}
	st.RetentionDays = days
	qs, qe := strings.TrimSpace(r.PostFormValue("quiet_start")), strings.TrimSpace(r.PostFormValue("quiet_end"))
	if qs != "" || qe != "" {
		a, errA := minutes(qs)
		b, errB := minutes(qe)
		if errA != nil || errB != nil || a == b {
			errs = append(errs, "quiet hours need a start and an end, such as 20:00 and 07:00")
		}
		st.Quiet, st.QuietStart, st.QuietEnd = true, a, b
	}
	if st.DailyLimit, err = strconv.Atoi(strings.TrimSpace(r.PostFormValue("daily_limit"))); err != nil || st.DailyLimit < 0 {
		errs = append(errs, "the daily limit is a number of messages, 0 for none")
	}
	if len(errs) > 0 {
		s.renderToys(w, r, http.StatusBadRequest, toysData{Error: "The settings were not saved: " + strings.Join(errs, "; ") + "."})
		return
	}
	if err := s.hub.SetSettings(r.Context(), Actor{cur.user.ID, remoteIP(r)}, d.ID, st); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

func (s *Server) removeToy(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	if err := s.hub.Remove(r.Context(), Actor{cur.user.ID, remoteIP(r)}, d.ID, r.PostFormValue("messages") != "delete"); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

// deleteMessage deletes one message for good (parents only), after the
// same authorization as playing it.
func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	toy, v, ok := s.toyFor(w, r)
	if !ok {
		return
	}
	id := r.PathValue("msg")
	if _, err := s.st.OpenAudio(r.Context(), id, toy.ID, v); errors.Is(err, store.ErrNotFound) {
		s.refuse(w, r, cur.user, http.StatusNotFound, "message not visible")
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.hub.DeleteMessages(r.Context(), Actor{cur.user.ID, remoteIP(r)}, []string{id}); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/toys/"+toy.ID, http.StatusSeeOther)
}

type exportData struct {
	Page
	Error string
}

func (s *Server) exportPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "export", exportData{Page: s.page(r, "audit")})
}

// export streams the household's archive to the browser.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	pass := r.PostFormValue("passphrase")
	plain := r.PostFormValue("plain") == "1"
	if !plain {
		if pass != r.PostFormValue("passphrase2") {
			s.render(w, http.StatusBadRequest, "export", exportData{Page: s.page(r, "audit"), Error: "The two passphrases differ."})
			return
		}
		if err := password.Check(pass, s.passwordContext(r.Context(), cur.user.Login, cur.user.Email)); err != nil {
			s.render(w, http.StatusBadRequest, "export", exportData{Page: s.page(r, "audit"), Error: "Please choose another passphrase: " + err.(*password.Error).Reason + "."})
			return
		}
	} else {
		pass = ""
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
	if _, err := s.hub.Export(r.Context(), Actor{cur.user.ID, remoteIP(r)}, w, []byte(pass)); err != nil {
		s.log.Error("Export failed", "user", cur.user.ID, "error", err)
	}
}

type wipeData struct {
	Page
	Error string
}

func (s *Server) wipePage(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if cur.user.Role != store.RoleOwner {
		s.refuse(w, r, cur.user, http.StatusForbidden, "owner only")
		return
	}
	s.render(w, http.StatusOK, "wipe", wipeData{Page: s.page(r, "security")})
}

// wipe deletes the whole household, once the owner confirms with the
// password.
func (s *Server) wipe(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if cur.user.Role != store.RoleOwner {
		s.refuse(w, r, cur.user, http.StatusForbidden, "owner only")
		return
	}
	if r.PostFormValue("confirm") != "delete everything" {
		s.render(w, http.StatusBadRequest, "wipe", wipeData{Page: s.page(r, "security"), Error: "Type the words delete everything to confirm."})
		return
	}
	if err := s.hub.Wipe(r.Context(), Actor{cur.user.ID, remoteIP(r)}, cur.user.Login, r.PostFormValue("password")); err != nil {
		s.render(w, http.StatusForbidden, "wipe", wipeData{Page: s.page(r, "security"), Error: "That password is not right; nothing was deleted."})
		return
	}
	s.message(w, http.StatusOK, "Everything is being deleted", "The hub deletes every message, name and key, and then starts again as a new hub with a new setup link. The devices and accounts you had will not work any more.")
}
