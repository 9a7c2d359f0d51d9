package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/toyhub/toyhub/store"
)

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
	New     bool   // for the viewer, and not played yet
	States  []State
}

// State is what became of a message for one recipient, in a sentence,
// with a time where there is one.
type State struct {
	Text  string
	Until time.Time // zero: none
	After string    // the end of the sentence, after the time
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
	At     time.Time // when, for a number of days; zero: see When
	When   string    // otherwise, in words
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
		d.Retention = store.KeptText(st.RetentionDays)
		ds, err := s.st.NextDeletions(r.Context(), toy.ID, 3)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		byID := map[string]store.MessageInfo{}
		for _, m := range ms {
			byID[m.ID] = m
		}
		for _, x := range ds {
			row := DeletionRow{From: displayName(x.SenderName), SentAt: x.SentAt, At: x.At}
			if x.At.IsZero() {
				row.When = store.DeletionText(st.RetentionDays, byID[x.MessageID], toy.ID, "")
			}
			d.Deletions = append(d.Deletions, row)
		}
	}
	held := s.quietUntil(r, toy)
	for _, m := range ms {
		base := "/toys/" + toy.ID + "/messages/" + m.ID
		row := MessageRow{ID: m.ID, From: displayName(m.SenderName), Mine: m.Sender == cur.user.DeviceID, FromToy: m.Sender == toy.ID,
			SentAt: m.SentAt, Seconds: int((m.Duration + time.Second/2) / time.Second), Audio: base + "/audio", Delete: base + "/delete"}
		for _, dl := range m.Deliveries {
			if dl.Recipient == cur.user.DeviceID {
				if dl.PlayedAt.IsZero() {
					row.Played, row.New = base+"/played", true
				}
				continue // the viewer knows what they heard
			}
			row.States = append(row.States, deliveryState(dl, toy, d.Toy.Online, held))
		}
		d.Messages = append(d.Messages, row)
	}
	s.render(w, http.StatusOK, "toy", d)
}

// deliveryState says what became of a message for one recipient: heard,
// received, held by the toy's quiet hours (until when), or waiting for
// the recipient to come on.
func deliveryState(dl store.Delivery, toy store.Device, toyOnline bool, quietUntil time.Time) State {
	name := displayName(dl.RecipientName)
	switch {
	case !dl.PlayedAt.IsZero():
		return State{Text: name + " has heard it."}
	case !dl.DeliveredAt.IsZero():
		return State{Text: name + " has it, not heard yet."}
	case dl.Recipient == toy.ID && !quietUntil.IsZero():
		return State{Text: name + " is in its quiet hours: it gets this at", Until: quietUntil, After: "."}
	case dl.Recipient == toy.ID && toyOnline:
		return State{Text: "On its way to " + name + "."}
	case dl.Recipient == toy.ID:
		return State{Text: name + " gets it when it is next on."}
	}
	return State{Text: name + " has not heard it yet."}
}

// quietUntil is when the toy's quiet hours end, if they are on now.
func (s *Server) quietUntil(r *http.Request, toy store.Device) time.Time {
	st, err := s.st.DeviceSettings(r.Context(), toy.ID)
	if err != nil {
		return time.Time{}
	}
	return st.QuietEnds(s.cfg.Now())
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
		s.hh.Fetched(v.Device, a.ID)
	}
}

func (s *Server) played(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	if _, _, ok := s.toyFor(w, r); !ok {
		return
	}
	err := s.hh.Played(r.Context(), cur.user.DeviceID, r.PathValue("msg"))
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
	toy, _, ok := s.toyFor(w, r)
	if !ok {
		return
	}
	if toy.Revoked() {
		http.Error(w, "This toy was removed.", http.StatusGone)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "audio/wav" {
		http.Error(w, "The recording was not in a form the hub reads.", http.StatusUnsupportedMediaType)
		return
	}
	wav, err := io.ReadAll(r.Body) // bounded by the guard (RecordingBody)
	if err != nil || int64(len(wav)) > s.cfg.MaxRecording {
		http.Error(w, "The recording is too long.", http.StatusRequestEntityTooLarge)
		return
	}
	id, err := s.hh.Send(r.Context(), actor(r), toy.ID, wav)
	switch {
	case errors.Is(err, ErrBadAudio):
		http.Error(w, sentence("the hub could not use this recording: "+err.Error()), http.StatusBadRequest)
		return
	case errors.Is(err, store.ErrFull):
		http.Error(w, fullMessage, http.StatusInsufficientStorage)
		return
	case errors.Is(err, store.ErrDailyLimit):
		http.Error(w, "You have sent your messages for today: a parent set a daily limit.", http.StatusTooManyRequests)
		return
	case errors.Is(err, store.ErrRateLimit):
		http.Error(w, "Too many messages in a short time. Wait a minute, then try again.", http.StatusTooManyRequests)
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
	if _, err := s.hh.DeleteMessages(r.Context(), actor(r), []string{id}); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/toys/"+toy.ID, "deleted", "")
}
