package web

import (
	"fmt"
	"net/http"

	"github.com/toyhub/toyhub/store"
)

// Nothing is deleted or removed on one tap: each such button leads to a
// page that says what will be lost and asks (a GET of the action's own
// URL); only the form there acts.
type confirmData struct {
	Page
	Title   string
	Lost    string   // what will be lost, in plain words
	Choices []Choice // a choice to make first, if any
	Confirm string   // the button that acts
	Back    string   // where "Keep it" goes
}

// Choice is one option of a confirmation page's choice.
type Choice struct {
	Name, Value, Label string
	Checked            bool
}

func (s *Server) confirm(w http.ResponseWriter, r *http.Request, nav string, d confirmData) {
	d.Page = s.page(r, nav)
	s.render(w, http.StatusOK, "confirm", d)
}

// keepOrDelete is the choice a removal asks: what becomes of the messages.
func keepOrDelete(whose string) []Choice {
	return []Choice{
		{Name: "messages", Value: "keep", Label: "Keep " + whose + " messages, without the name", Checked: true},
		{Name: "messages", Value: "delete", Label: "Delete " + whose + " messages too, for good"},
	}
}

func (s *Server) confirmRemoveToy(w http.ResponseWriter, r *http.Request) {
	d, ok := s.parentToy(w, r)
	if !ok {
		return
	}
	s.confirm(w, r, "toys", confirmData{Title: "Remove " + d.Name + "?",
		Lost: d.Name + " will stop working with this hub at once, and nobody can message it. To use it again, pair it again " +
			"with the code on its label.",
		Choices: keepOrDelete("its"), Confirm: "Remove " + d.Name, Back: "/toys#x-" + d.ID})
}

func (s *Server) confirmRemovePerson(w http.ResponseWriter, r *http.Request) {
	p, ok := s.person(w, r)
	if !ok {
		return
	}
	s.confirm(w, r, "family", confirmData{Title: "Remove " + p.Name + "?",
		Lost:    p.Name + " will no longer be able to log in or to send and hear messages. To have them back, invite them again.",
		Choices: keepOrDelete("their"), Confirm: "Remove " + p.Name, Back: "/family#x-" + p.ID})
}

func (s *Server) confirmRevokeInvite(w http.ResponseWriter, r *http.Request) {
	invs, err := s.hh.Invites(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, inv := range invs {
		if inv.ID == r.PathValue("invite") && inv.State == "open" {
			s.confirm(w, r, "family", confirmData{Title: "Withdraw the invite for " + inv.Name + "?",
				Lost:    "The link you sent " + inv.Name + " will no longer work. You can make a new invite at any time.",
				Confirm: "Withdraw it", Back: "/family"})
			return
		}
	}
	cur, _ := current(r)
	s.refuse(w, r, cur.user, http.StatusNotFound, "no such open invite")
}

func (s *Server) confirmDeleteMessage(w http.ResponseWriter, r *http.Request) {
	cur, _ := current(r)
	toy, v, ok := s.toyFor(w, r)
	if !ok {
		return
	}
	ms, err := s.st.Conversation(r.Context(), toy.ID, v, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, m := range ms {
		if m.ID == r.PathValue("msg") {
			s.confirm(w, r, "home", confirmData{Title: "Delete this message for good?",
				Lost: fmt.Sprintf("The message from %s, sent %s, will be deleted from the hub for good: nobody will be able to hear it again.",
					displayName(m.SenderName), m.SentAt.Local().Format("2 January at 15:04")),
				Confirm: "Delete it for good", Back: "/toys/" + toy.ID + "#x-" + m.ID})
			return
		}
	}
	s.refuse(w, r, cur.user, http.StatusNotFound, "message not visible")
}

// displayName is a device's name as a page shows it: a removed device
// keeps its messages under a placeholder, never its ID.
func displayName(name string) string {
	if store.IsRemovedName(name) {
		return "someone removed"
	}
	return name
}
