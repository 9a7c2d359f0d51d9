package web

import (
	"net/http"

	"github.com/toyhub/toyhub/store"
)

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

// wipe deletes the whole household, once the owner confirms it and proves
// again who they are (see reauth), behind the re-authentication limiter.
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
	if msg, status, ok := s.reauth(r, store.EvWipeRefused); !ok {
		s.render(w, status, "wipe", wipeData{Page: s.page(r, "security"), Error: msg + " Nothing was deleted."})
		return
	}
	if err := s.hh.Wipe(r.Context(), actor(r), cur.user.Login, r.PostFormValue("current")); err != nil {
		s.render(w, http.StatusForbidden, "wipe", wipeData{Page: s.page(r, "security"), Error: "That password is not right; nothing was deleted."})
		return
	}
	s.message(w, http.StatusOK, "Everything is being deleted", "The hub deletes every message, name and key, and then starts again as a new hub with a new setup link. The devices and accounts you had will not work any more.")
}
