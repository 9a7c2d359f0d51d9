package web

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

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
	ch, stop := s.hh.Watch()
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
