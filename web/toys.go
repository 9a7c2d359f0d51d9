package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
)

type toysData struct {
	Page
	Choices []struct {
		Value string
		Days  int
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
	code, name := strings.TrimSpace(r.PostFormValue("code")), strings.TrimSpace(r.PostFormValue("name"))
	until, err := s.hh.Pair(r.Context(), actor(r), code, name)
	if err != nil {
		s.refused(w, r, err, func(msg string) {
			s.renderToys(w, r, http.StatusBadRequest, toysData{Code: code, Name: name, Error: "The toy cannot be paired. " + msg})
		})
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
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	if err := s.hh.Rename(r.Context(), actor(r), d.ID, r.PostFormValue("name")); err != nil {
		s.refused(w, r, err, func(msg string) { s.renderToys(w, r, http.StatusBadRequest, toysData{Error: msg}) })
		return
	}
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

func (s *Server) revokeToy(w http.ResponseWriter, r *http.Request) {
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	if err := s.hh.Revoke(r.Context(), actor(r), d.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

// retentionChoices are what the toys page offers: the value the form
// posts, the days it means, and its label.
var retentionChoices = []struct {
	Value string
	Days  int
	Label string
}{
	{"7d", 7, "a week"}, {"30d", 30, "a month"}, {"90d", 90, "three months"}, {"365d", 365, "a year"},
	{"forever", store.RetainForever, "forever"}, {"played", store.RetainOncePlayed, "until played"},
}

// ToySettings is a toy's settings as its form shows them.
type ToySettings struct {
	Retention  int    // days, store.RetainForever or store.RetainOncePlayed
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

func (s *Server) toySettings(w http.ResponseWriter, r *http.Request) {
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	retention := r.PostFormValue("retention")
	quiet := "none"
	if qs, qe := strings.TrimSpace(r.PostFormValue("quiet_start")), strings.TrimSpace(r.PostFormValue("quiet_end")); qs != "" || qe != "" {
		quiet = qs + "-" + qe
	}
	limit := strings.TrimSpace(r.PostFormValue("daily_limit"))
	if err := s.hh.SetSettings(r.Context(), actor(r), d.ID, Settings{Retention: &retention, Quiet: &quiet, DailyLimit: &limit}); err != nil {
		s.refused(w, r, err, func(msg string) {
			s.renderToys(w, r, http.StatusBadRequest, toysData{Error: "The settings were not saved: " + msg})
		})
		return
	}
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}

func (s *Server) removeToy(w http.ResponseWriter, r *http.Request) {
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	if err := s.hh.Remove(r.Context(), actor(r), d.ID, r.PostFormValue("messages") != "delete"); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/toys", http.StatusSeeOther)
}
