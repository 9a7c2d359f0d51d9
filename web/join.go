package web

import (
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/web/password"
	"github.com/toyhub/toyhub/wire"
)

type joinData struct {
	Secret string
	Name   string
	Error  string
}

// joinPage opens an invite link in the browser: a family member sets a
// password and gets an account that sees only the invite's toys.
func (s *Server) joinPage(w http.ResponseWriter, r *http.Request) {
	secret := r.URL.Query().Get("s")
	inv, err := s.st.InviteBySecret(r.Context(), secret)
	if err != nil {
		s.joinRefused(w, r, "bad invite")
		return
	}
	s.render(w, http.StatusOK, "join", joinData{Secret: secret, Name: inv.Name})
}

func (s *Server) joinRefused(w http.ResponseWriter, r *http.Request, why string) {
	ip, now := remoteIP(r), s.cfg.Now()
	s.logins.failed("join", ip, now)
	s.st.Audit(store.Event{Kind: store.EvJoinRefused, Remote: ip, Detail: why})
	s.log.Warn("Invite refused", "remote", ip, "reason", why)
	s.message(w, http.StatusForbidden, "This invite cannot be used",
		"It was used already, has expired or was withdrawn. Ask the parent who sent it for a new one.")
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	ip, now := remoteIP(r), s.cfg.Now()
	if wait := s.logins.wait("", ip, now); wait > 0 {
		s.message(w, http.StatusTooManyRequests, "Too many attempts", "Wait a few minutes, then open the invite link again.")
		return
	}
	secret := r.PostFormValue("secret")
	inv, err := s.st.InviteBySecret(r.Context(), secret)
	if err != nil {
		s.joinRefused(w, r, "bad invite")
		return
	}
	d := joinData{Secret: secret, Name: inv.Name}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		d.Error = "The two passwords differ."
		s.render(w, http.StatusBadRequest, "join", d)
		return
	}
	if err := password.Check(pw, s.passwordContext(r.Context(), inv.Name, "")); err != nil {
		d.Error = "Please choose another password: " + err.(*password.Error).Reason + "."
		s.render(w, http.StatusBadRequest, "join", d)
		return
	}
	hash, err := password.Hash(pw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, toys, err := s.st.RedeemInviteAccount(r.Context(), secret, store.NewUser{ID: newToken()[:26], DeviceID: wire.NewDeviceID(),
		PasswordHash: hash, PolicyVersion: password.PolicyVersion})
	switch {
	case errors.Is(err, store.ErrBadInvite):
		s.joinRefused(w, r, "invite spent meanwhile")
		return
	case errors.Is(err, store.ErrExists):
		d.Error = "Someone here already has the name on this invite. Ask the parent who sent it for a new invite with another name."
		s.render(w, http.StatusConflict, "join", d)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.st.Audit(store.Event{Kind: store.EvJoined, User: u.ID, Device: u.DeviceID, Remote: ip, Detail: "web account, " + strconv.Itoa(len(toys)) + " toys"})
	s.log.Info("Invite redeemed", "user", u.ID, "remote", ip, "linked", len(toys))
	s.hub.ConfigChanged()
	s.loggedIn(w, r, u)
}

// streams counts the live pages open per account device: an account is
// "online" while one of its pages is.
type streams struct {
	mu sync.Mutex
	n  map[string]int
}

func (st *streams) add(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.n == nil {
		st.n = map[string]int{}
	}
	st.n[id]++
}

func (st *streams) remove(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.n[id]--; st.n[id] <= 0 {
		delete(st.n, id)
	}
}

func (st *streams) has(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.n[id] > 0
}
