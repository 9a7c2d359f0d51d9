package web

import (
	"fmt"
	"net/http"
	"net/url"
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
	Pairing *PairingRow
}

// PairingRow is what became of the pairing a parent started from this
// page: the toy waits (until when), paired, or did not come in time.
type PairingRow struct {
	Name  string
	ID    string // the toy, once paired
	State string // "waiting", "paired" or "expired"
	Until time.Time
}

func (s *Server) toysPage(w http.ResponseWriter, r *http.Request) {
	d := toysData{}
	if name := r.URL.Query().Get("pairing"); name != "" {
		if state, until := s.hh.PairingState(name); state != "" {
			d.Pairing = &PairingRow{Name: name, State: state, Until: until}
			if dev, err := s.st.DeviceByName(r.Context(), name); err == nil && state == "paired" {
				d.Pairing.ID, d.Pairing.Name = dev.ID, dev.Name
			}
		}
	}
	s.renderToys(w, r, http.StatusOK, d)
}

func (s *Server) renderToys(w http.ResponseWriter, r *http.Request, status int, d toysData) {
	d.Page = s.page(r, "toys")
	ds, err := s.st.Devices(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, x := range ds {
		if x.Kind == store.KindToy && !x.Revoked() {
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
	if _, err := s.hh.Pair(r.Context(), actor(r), code, name); err != nil {
		s.refused(w, r, err, func(msg string) {
			s.renderToys(w, r, http.StatusBadRequest, toysData{Code: code, Name: name, Error: "The toy cannot be paired. " + msg})
		})
		return
	}
	// The page then follows the pairing by itself, and a reload posts
	// nothing again.
	http.Redirect(w, r, "/toys?pairing="+url.QueryEscape(name)+"#pairing", http.StatusSeeOther)
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
	done(w, r, "/toys", "renamed", d.ID)
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
	done(w, r, "/toys", "removed", "")
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
	done(w, r, "/toys", "saved", d.ID)
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
	done(w, r, "/toys", "removed", "")
}
