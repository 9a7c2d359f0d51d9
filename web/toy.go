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
		if c.Days == days {
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
		http.Error(w, "this toy was removed", http.StatusGone)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "audio/wav" {
		http.Error(w, "send the recording as audio/wav", http.StatusUnsupportedMediaType)
		return
	}
	wav, err := io.ReadAll(r.Body) // bounded by the guard (RecordingBody)
	if err != nil || int64(len(wav)) > s.cfg.MaxRecording {
		http.Error(w, "the recording is too long", http.StatusRequestEntityTooLarge)
		return
	}
	id, err := s.hh.Send(r.Context(), actor(r), toy.ID, wav)
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
	http.Redirect(w, r, "/toys/"+toy.ID, http.StatusSeeOther)
}
